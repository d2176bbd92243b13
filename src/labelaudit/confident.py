"""Confident learning: thresholds, confident joint, noise matrices, issue filters, scores.

The functions here carry cleanlab 2.9's names, parameters and defaults, so a
cleanlab user can switch one import. They give the same confident joints and
the same issue masks, computed by the single-pass kernels of
:mod:`labelaudit._core` instead of N x K temporaries:

* pass 1 reads ``p[i, labels[i]]`` only, to get the per-class thresholds;
* pass 2 reads every row once: validation, confident counts, per-row guesses,
  and (when asked) a label quality score;
* pass 3 (pruning filters only) reads the rows once more and keeps, for every
  (given class, true class) pair, the exact top-m rows in a bounded heap.

Every pass runs over row chunks with per-thread buffers that merge exactly, so
``n_jobs`` and ``chunk_size`` never change a result, and a read-only
``np.memmap`` is streamed from disk without being copied.

Determinism at ties. cleanlab selects rows with numpy's default ``argsort``,
which is not stable and whose order among *exactly equal* keys depends on the
CPU's SIMD features (so cleanlab itself can differ between machines on tied
inputs). labelaudit always breaks such ties by the smaller row index. Results
differ from cleanlab's only in which of several exactly tied rows is chosen at
a selection cut; the number of rows chosen is the same.

All of confident learning assumes ``pred_probs`` are out-of-sample (for example
from cross-validation): in-sample probabilities make a model look confident in
its own training labels and hide issues.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _core, _dask_backend
from ._latent import (
    calibrate_counts,
    keep_at_least_n_per_class,
    round_preserving_row_totals,
)
from ._latent import (
    estimate_latent as _estimate_latent,
)
from ._threads import effective_n_threads, resolve_chunk_size
from ._validation import (
    RANGE_TOLERANCE,
    ROW_SUM_TOLERANCE,
    check_labels,
    check_pred_probs,
    raise_for_bad_rows,
)
from .exceptions import LabelAuditError, LabelAuditWarning

__all__ = [
    "ConfidentJoint",
    "NoiseEstimate",
    "noise_rate_intervals",
    "calibrate_confident_joint",
    "compute_confident_joint",
    "confident_joint_result",
    "estimate_joint",
    "estimate_latent",
    "estimate_noise_matrices",
    "estimate_py_and_noise_matrices_from_probabilities",
    "find_label_issues",
    "find_predicted_neq_given",
    "get_confident_thresholds",
    "get_label_quality_scores",
    "num_label_issues",
    "order_label_issues",
    "renormalize",
]

FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)
SCORE_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
_SCORE_KIND = {"self_confidence": 1, "normalized_margin": 2, "confidence_weighted_entropy": 3}
_ADJUSTED_KIND = {"self_confidence": 4, "normalized_margin": 5}
_N_BAD = _core.n_bad_kinds()
_BIG_THRESHOLD = 2  # threshold of a class nobody is labelled with: never reached
_DENSE_PAIRS_MAX = 1 << 22  # K x K bars per thread up to K = 2048 (16-32 MiB)


# ---------------------------------------------------------------------------
# Plumbing shared by the public functions
# ---------------------------------------------------------------------------

def _prepare(labels, pred_probs):
    pred_probs = check_pred_probs(pred_probs)
    n, k = pred_probs.shape
    labels = check_labels(labels, n, k)
    return labels, pred_probs


def _label_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(labels, minlength=n_classes).astype(np.int64)


def _thresholds_from_counts(labels, pred_probs, counts) -> np.ndarray:
    """Per-class mean self-confidence, exactly as cleanlab computes it.

    The gather kernel lays out ``pred_probs[labels == k, k]`` contiguously for
    every class; ``np.mean`` over each block then reproduces cleanlab's value
    bit for bit (same values, same order, same pairwise summation). Classes
    nobody is labelled with get 2, which promotes the array to float64 as in
    cleanlab.
    """
    n_classes = pred_probs.shape[1]
    offsets = np.zeros(n_classes + 1, dtype=np.intp)
    np.cumsum(counts, out=offsets[1:])
    grouped = np.empty(pred_probs.shape[0], dtype=pred_probs.dtype)
    _core.gather_by_label(pred_probs, labels, offsets, grouped)
    values = [
        np.mean(grouped[offsets[k]:offsets[k + 1]]) if counts[k] > 0 else _BIG_THRESHOLD
        for k in range(n_classes)
    ]
    return np.clip(values, a_min=2e-6, a_max=None)


def _cut_points(thresholds, n_classes: int, dtype) -> np.ndarray:
    """``thresholds - 1e-6`` as numpy computes it, expressed in the dtype of ``pred_probs``.

    numpy compares ``pred_probs >= thresholds - 1e-6`` after type promotion.
    When the cut points are wider than the probabilities (float64 cut points,
    float32 probabilities), each is rounded *up* to the next float32: for a
    float32 ``v``, ``v >= c`` holds exactly when ``v >= ceil32(c)``, so the
    kernel compares in the probabilities' own dtype with the same outcome.
    """
    thresholds = np.asarray(thresholds)
    if thresholds.ndim != 1 or thresholds.shape[0] != n_classes:
        raise LabelAuditError(
            f"`thresholds` must have one value per class ({n_classes}), got shape {thresholds.shape}."
        )
    if thresholds.dtype.kind not in "iuf":
        raise LabelAuditError(f"`thresholds` must be numeric, got dtype={thresholds.dtype}.")
    cut = np.asarray(thresholds - 1e-6, dtype=np.float64)
    if np.dtype(dtype) == np.float64:
        return np.ascontiguousarray(cut)
    narrow = cut.astype(np.float32)
    low = narrow.astype(np.float64) < cut
    narrow[low] = np.nextafter(narrow[low], np.float32(np.inf))
    return np.ascontiguousarray(narrow)


@dataclass
class _PassResult:
    counts: np.ndarray | None = None       # (K, K) raw confident counts
    guess: np.ndarray | None = None        # (n,) int32 confident guess, -1 if none
    keep: np.ndarray | None = None         # (n,) uint8, given label wins bumped argmax
    score: np.ndarray | None = None        # (n,) label quality score
    extra: dict = field(default_factory=dict)


def _row_pass(labels, pred_probs, *, cut=None, want_guess=False, want_keep=False,
              want_other=False, score_method=None, adjust=None, check_sums=True, n_jobs=None,
              chunk_size=None, row_offset=0) -> _PassResult:
    """Run kernel pass 2 and raise for invalid rows."""
    n, k = pred_probs.shape
    n_threads = effective_n_threads(n_jobs)
    chunk = resolve_chunk_size(chunk_size)
    dtype = pred_probs.dtype
    empty_f = np.empty(0, dtype=dtype)
    empty_d = np.empty(0, dtype=np.float64)
    cut_arr = empty_f if cut is None else cut
    cj = (np.zeros((n_threads, k, k), dtype=np.int64) if cut is not None
          else np.zeros((0, 0, 0), dtype=np.int64))
    guess = np.empty(n, dtype=np.int32) if want_guess else np.empty(0, dtype=np.int32)
    other = np.empty(n, dtype=dtype) if want_other else empty_f
    selfc = np.empty(n, dtype=dtype) if want_other else empty_f
    keep = np.empty(n, dtype=np.uint8) if want_keep else np.empty(0, dtype=np.uint8)
    score_kind = 0
    score = empty_f
    score64 = empty_d
    adjust_arr = empty_d
    if score_method is not None:
        if adjust is not None:
            score_kind = _ADJUSTED_KIND[score_method]
            adjust_arr = adjust
            score64 = np.empty(n, dtype=np.float64)
        else:
            score_kind = _SCORE_KIND[score_method]
            if score_kind == 3:
                score64 = np.empty(n, dtype=np.float64)
            else:
                score = np.empty(n, dtype=dtype)
    bad = np.full((n_threads, _N_BAD), n, dtype=np.int64)
    _core.row_pass(pred_probs, labels, cut_arr, cj, guess, keep, other, selfc, score, score64,
                   score_kind,
                   adjust_arr, bad, ROW_SUM_TOLERANCE, RANGE_TOLERANCE, chunk, n_threads)
    raise_for_bad_rows(bad, pred_probs, check_sums=check_sums,
                       strict_unit_interval=score_kind == 3, row_offset=row_offset)
    out = _PassResult()
    if cut is not None:
        # Column-major like cleanlab's (a transposed confusion matrix): later
        # whole-matrix float sums visit the entries in memory order, so the
        # layout decides their last bits and thus the rounding of ties.
        out.counts = np.asfortranarray(cj.sum(axis=0) if n_threads > 1 else cj[0])
    if want_guess:
        out.guess = guess
    if want_keep:
        out.keep = keep.view(bool)
    if want_other:
        out.extra["other"] = other
        out.extra["selfc"] = selfc
    if score_method is not None:
        out.score = score64 if score64.size else score
    return out


def _given_label_wins(labels, pred_probs, rows: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(rows, dtype=np.intp)
    out = np.empty(rows.shape[0], dtype=np.uint8)
    if rows.size:
        _core.given_label_wins(pred_probs, labels, rows, out)
    return out.view(bool)


def _unflag_agreeing(mask: np.ndarray, labels, pred_probs) -> None:
    """Un-flag rows whose given label is the model's top class (with a 1e-6 bump)."""
    rows = np.flatnonzero(mask)
    mask[rows[_given_label_wins(labels, pred_probs, rows)]] = False


def _fill_diagonal_min_one(counts: np.ndarray) -> np.ndarray:
    counts = np.array(counts, dtype=np.int64, copy=True)
    np.fill_diagonal(counts, counts.diagonal().clip(min=1))
    return counts


def _check_filter_by(filter_by) -> None:
    """Raise unless ``filter_by`` names one of :data:`FILTERS`."""
    if filter_by not in FILTERS:
        raise LabelAuditError(f"`filter_by` must be one of {', '.join(FILTERS)}, got {filter_by!r}.")


def _reject_multi_label(multi_label: bool) -> None:
    if multi_label:
        raise LabelAuditError(
            "`multi_label=True` is not supported: labelaudit audits multi-class labels "
            "(one label per item)."
        )


def _score_for_adjust(labels, pred_probs, method, adjust_pred_probs, thresholds=None,
                      counts=None):
    """Return (score_method, adjust_vector or None) for a quality-score request."""
    if method not in SCORE_METHODS:
        raise LabelAuditError(
            f"`method` must be one of {', '.join(SCORE_METHODS)}, got {method!r}."
        )
    if not adjust_pred_probs:
        return method, None
    if method == "confidence_weighted_entropy":
        raise LabelAuditError(
            "`adjust_pred_probs=True` is not supported for method='confidence_weighted_entropy'."
        )
    if thresholds is None:
        if counts is None:
            counts = _label_counts(labels, pred_probs.shape[1])
        thresholds = _thresholds_from_counts(labels, pred_probs, counts)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    return method, np.ascontiguousarray(thresholds.max() - thresholds)


# ---------------------------------------------------------------------------
# Result object
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfidentJoint:
    """Confident-learning estimates for one dataset, as plain arrays.

    Attributes
    ----------
    counts : ndarray of shape (K, K)
        Calibrated confident joint (rows: given label, columns: likely true label).
    raw_counts : ndarray of shape (K, K)
        Confident counts before calibration (diagonal floored at 1).
    thresholds : ndarray of shape (K,)
        Per-class confidence thresholds.
    label_counts : ndarray of shape (K,)
        Items given each label.
    off_diagonal : ndarray of int64
        Rows whose confident guess differs from the given label.
    num_issues : int
        Off-diagonal rows left after un-flagging rows whose given label is the
        model's top class (cleanlab's ``num_label_issues``).
    """

    counts: np.ndarray
    raw_counts: np.ndarray
    thresholds: np.ndarray
    label_counts: np.ndarray
    off_diagonal: np.ndarray
    num_issues: int

    @classmethod
    def from_raw(cls, raw_counts, label_counts, thresholds, off_diagonal,
                 num_issues) -> ConfidentJoint:
        """Build the result from raw confident counts (diagonal already floored at 1).

        Parameters
        ----------
        raw_counts : ndarray of shape (K, K)
            Confident counts before calibration.
        label_counts : ndarray of shape (K,)
            Items given each label.
        thresholds : array-like of shape (K,)
            Per-class thresholds.
        off_diagonal : array-like of int
            Rows whose confident guess differs from the given label.
        num_issues : int
            Off-diagonal rows left after the un-flag step.

        Returns
        -------
        ConfidentJoint
        """
        return cls(
            counts=calibrate_counts(raw_counts, label_counts),
            raw_counts=raw_counts,
            thresholds=np.asarray(thresholds),
            label_counts=label_counts,
            off_diagonal=np.asarray(off_diagonal, dtype=np.int64),
            num_issues=int(num_issues),
        )

    @property
    def joint(self) -> np.ndarray:
        """Estimated joint ``p(given label, true label)``, summing to 1."""
        return self.counts / np.clip(float(np.sum(self.counts)), a_min=1e-100, a_max=None)

    def latent(self, *, py_method: str = "cnt", converge_latent_estimates: bool = True):
        """Return ``(py, noise_matrix, inverse_noise_matrix)``.

        ``noise_matrix[i, j]`` is ``p(given = i | true = j)``; the inverse is
        ``p(true = i | given = j)``.
        """
        return _estimate_latent(self.counts, self.label_counts, py_method=py_method,
                                converge_latent_estimates=converge_latent_estimates)

    @property
    def noise_rate(self) -> float:
        """Estimated share of items whose given label is wrong (1 - trace of the joint)."""
        return float(1.0 - np.trace(self.joint))


def confident_joint_result(labels, pred_probs, *, thresholds=None, n_jobs=None,
                           chunk_size=None) -> ConfidentJoint:
    """Compute every confident-joint statistic in one pass and return them together.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities, float32 or float64 (or a
        row-chunked ``dask.array.Array``: same result, merged from its chunks).
    thresholds : array-like of shape (K,), optional
        Per-class thresholds; default: mean self-confidence per class.
    n_jobs : int, optional
        Threads (see :func:`labelaudit.effective_n_threads`).
    chunk_size : int, optional
        Rows per work unit. Results do not depend on it.

    Returns
    -------
    ConfidentJoint
    """
    if _dask_backend.is_dask_array(pred_probs):
        return _dask_backend.confident_joint_result(labels, pred_probs, thresholds=thresholds)
    labels, pred_probs = _prepare(labels, pred_probs)
    k = pred_probs.shape[1]
    counts = _label_counts(labels, k)
    if thresholds is None:
        thresholds = _thresholds_from_counts(labels, pred_probs, counts)
    res = _row_pass(labels, pred_probs, cut=_cut_points(thresholds, k, pred_probs.dtype),
                    want_guess=True, want_keep=True, n_jobs=n_jobs, chunk_size=chunk_size)
    raw = _fill_diagonal_min_one(res.counts)
    off_mask = (res.guess >= 0) & (res.guess != labels)
    return ConfidentJoint.from_raw(raw, counts, thresholds, np.flatnonzero(off_mask),
                                   np.count_nonzero(off_mask & ~res.keep))


# ---------------------------------------------------------------------------
# cleanlab-compatible API
# ---------------------------------------------------------------------------

def renormalize(pred_probs) -> np.ndarray:
    """Return a copy of ``pred_probs`` with every row divided by its sum.

    Parameters
    ----------
    pred_probs : array-like of shape (n_samples, K)
        Non-negative scores (for example probabilities saved with rounding).

    Returns
    -------
    ndarray
        Same dtype (float32 or float64), rows summing to 1.
    """
    arr = np.array(pred_probs, copy=True)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise LabelAuditError(f"`pred_probs` must be 2-D, got shape {arr.shape}.")
    sums = arr.sum(axis=1, keepdims=True)
    if np.any(sums <= 0) or not np.all(np.isfinite(sums)):
        i = int(np.argmax((sums[:, 0] <= 0) | ~np.isfinite(sums[:, 0])))
        raise LabelAuditError(
            f"`pred_probs` row {i} sums to {float(sums[i, 0])!r}; cannot renormalise it."
        )
    arr /= sums
    return arr


def get_confident_thresholds(labels, pred_probs, multi_label: bool = False) -> np.ndarray:
    """Per-class confidence thresholds: the mean ``p(k)`` over items labelled ``k``.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Predicted probabilities.
    multi_label : bool
        Not supported; must be False.

    Returns
    -------
    ndarray of shape (K,)
        In the dtype of ``pred_probs``, or float64 when some class has no
        items (its threshold is 2, unreachable). Clipped below at 2e-6.
    """
    _reject_multi_label(multi_label)
    if _dask_backend.is_dask_array(pred_probs):
        return _dask_backend.get_confident_thresholds(labels, pred_probs)
    labels, pred_probs = _prepare(labels, pred_probs)
    counts = _label_counts(labels, pred_probs.shape[1])
    return _thresholds_from_counts(labels, pred_probs, counts)


def compute_confident_joint(labels, pred_probs, *, thresholds=None, calibrate=True,
                            multi_label=False, return_indices_of_off_diagonals=False,
                            n_jobs=None, chunk_size=None):
    """Count items by (given label, confidently predicted true label).

    An item counts toward class ``j`` when ``p(j) >= t_j - 1e-6``; with several
    such classes it counts toward the row's argmax (cleanlab's rule, even when
    that argmax is not itself confident); with none it is not counted. The
    diagonal is floored at 1, then (``calibrate=True``) each row is rescaled to
    the number of items given that label and rounded preserving row totals.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities, float32 or float64; a read-only
        memory map is streamed without copying.
    thresholds : array-like of shape (K,), optional
        Per-class thresholds; default :func:`get_confident_thresholds`.
    calibrate : bool, default True
        Calibrate the counts to the label marginals.
    multi_label : bool
        Not supported; must be False.
    return_indices_of_off_diagonals : bool, default False
        Also return the rows counted off the diagonal.
    n_jobs : int, optional
        Threads; results do not depend on it.
    chunk_size : int, optional
        Rows per work unit; results do not depend on it.

    Returns
    -------
    confident_joint : ndarray of shape (K, K), int64
    indices : ndarray of int64
        Only with ``return_indices_of_off_diagonals=True``.

    Notes
    -----
    Reference loop (slow, for reading)::

        for p, s in zip(pred_probs, labels):
            confident = p >= thresholds - 1e-6
            if confident.sum() == 1:
                cj[s, confident.argmax()] += 1
            elif confident.sum() > 1:
                cj[s, p.argmax()] += 1
    """
    _reject_multi_label(multi_label)
    if _dask_backend.is_dask_array(pred_probs):
        return _dask_backend.compute_confident_joint(
            labels, pred_probs, thresholds=thresholds, calibrate=calibrate,
            return_indices_of_off_diagonals=return_indices_of_off_diagonals)
    labels, pred_probs = _prepare(labels, pred_probs)
    k = pred_probs.shape[1]
    counts = _label_counts(labels, k)
    if thresholds is None:
        thresholds = _thresholds_from_counts(labels, pred_probs, counts)
    res = _row_pass(labels, pred_probs, cut=_cut_points(thresholds, k, pred_probs.dtype),
                    want_guess=return_indices_of_off_diagonals, n_jobs=n_jobs,
                    chunk_size=chunk_size)
    cj = _fill_diagonal_min_one(res.counts)
    if calibrate:
        cj = calibrate_counts(cj, counts)
    if return_indices_of_off_diagonals:
        off = np.flatnonzero((res.guess >= 0) & (res.guess != labels)).astype(np.int64)
        return cj, off
    return cj


def calibrate_confident_joint(confident_joint, labels, *, multi_label=False) -> np.ndarray:
    """Rescale a confident joint to the label counts and round preserving row totals.

    Parameters
    ----------
    confident_joint : ndarray of shape (K, K)
        Confident counts.
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    multi_label : bool
        Not supported; must be False.

    Returns
    -------
    ndarray of shape (K, K), int64
        Row ``k`` sums to the number of items labelled ``k``.
    """
    _reject_multi_label(multi_label)
    cj = _check_square(confident_joint)
    labels = check_labels(labels, len(np.asarray(labels)), cj.shape[0])
    return calibrate_counts(cj, _label_counts(labels, cj.shape[0]))


def _check_square(confident_joint, n_classes=None) -> np.ndarray:
    cj = np.asarray(confident_joint)
    if cj.ndim != 2 or cj.shape[0] != cj.shape[1]:
        raise LabelAuditError(f"`confident_joint` must be K x K, got shape {cj.shape}.")
    if n_classes is not None and cj.shape[0] != n_classes:
        raise LabelAuditError(
            f"`confident_joint` must be {n_classes} x {n_classes} to match pred_probs, got {cj.shape}."
        )
    if cj.dtype.kind not in "iuf" or not np.all(np.isfinite(cj)) or np.any(cj < 0):
        raise LabelAuditError("`confident_joint` must hold finite, non-negative counts.")
    return cj


def estimate_joint(labels, pred_probs, *, confident_joint=None, multi_label=False,
                   n_jobs=None) -> np.ndarray:
    """Estimate ``p(given label, true label)`` as a K x K matrix summing to 1.

    Parameters
    ----------
    labels : array-like of shape (n_samples,) or None
        Given labels. With ``confident_joint`` given and ``labels`` not None the
        joint is calibrated to the labels first (as in cleanlab).
    pred_probs : ndarray of shape (n_samples, K)
        Predicted probabilities (unused when ``confident_joint`` is given).
    confident_joint : ndarray of shape (K, K), optional
        Precomputed confident joint.
    multi_label : bool
        Not supported; must be False.
    n_jobs : int, optional
        Threads.

    Returns
    -------
    ndarray of shape (K, K), float64
    """
    _reject_multi_label(multi_label)
    if confident_joint is None:
        cal = compute_confident_joint(labels, pred_probs, calibrate=True, n_jobs=n_jobs)
    elif labels is not None:
        cal = calibrate_confident_joint(confident_joint, labels)
    else:
        cal = _check_square(confident_joint)
    return cal / np.clip(float(np.sum(cal)), a_min=1e-100, a_max=None)


def estimate_latent(confident_joint, labels, *, py_method="cnt",
                    converge_latent_estimates=False):
    """Estimate the prior and noise matrices from a confident joint.

    Parameters
    ----------
    confident_joint : ndarray of shape (K, K)
        Confident joint (rows: given label).
    labels : array-like of shape (n_samples,)
        Given labels as class indices.
    py_method : {"cnt", "eqn", "marginal", "marginal_ps"}
        How to estimate the prior.
    converge_latent_estimates : bool, default False
        Iterate the estimates into algebraic agreement.

    Returns
    -------
    py : ndarray of shape (K,)
    noise_matrix : ndarray of shape (K, K)
        ``p(given = i | true = j)``; columns sum to 1.
    inverse_noise_matrix : ndarray of shape (K, K)
        ``p(true = i | given = j)``; columns sum to 1.
    """
    cj = _check_square(confident_joint)
    labels = check_labels(labels, len(np.asarray(labels)), cj.shape[0])
    return _estimate_latent(cj, _label_counts(labels, cj.shape[0]), py_method=py_method,
                            converge_latent_estimates=converge_latent_estimates)


def estimate_py_and_noise_matrices_from_probabilities(
    labels, pred_probs, *, thresholds=None, converge_latent_estimates=True, py_method="cnt",
    calibrate=True, n_jobs=None,
):
    """Estimate the prior, noise matrix, inverse noise matrix and confident joint.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities.
    thresholds : array-like of shape (K,), optional
        Per-class thresholds.
    converge_latent_estimates : bool, default True
        Iterate the estimates into algebraic agreement.
    py_method : {"cnt", "eqn", "marginal", "marginal_ps"}
        How to estimate the prior.
    calibrate : bool, default True
        Calibrate the confident joint.
    n_jobs : int, optional
        Threads.

    Returns
    -------
    py, noise_matrix, inverse_noise_matrix, confident_joint
    """
    if _dask_backend.is_dask_array(pred_probs):
        return _dask_backend.estimate_py_and_noise_matrices_from_probabilities(
            labels, pred_probs, thresholds=thresholds,
            converge_latent_estimates=converge_latent_estimates, py_method=py_method,
            calibrate=calibrate)
    labels, pred_probs = _prepare(labels, pred_probs)
    cj = compute_confident_joint(labels, pred_probs, thresholds=thresholds, calibrate=calibrate,
                                 n_jobs=n_jobs)
    py, nm, inv = _estimate_latent(cj, _label_counts(labels, pred_probs.shape[1]),
                                   py_method=py_method,
                                   converge_latent_estimates=converge_latent_estimates)
    return py, nm, inv, cj


def estimate_noise_matrices(X, labels, clf=None, *, cv_n_folds=5, thresholds=None,
                            converge_latent_estimates=True, seed=None, clf_kwargs=None,
                            validation_func=None):
    """Estimate the noise matrices from features with cross-validated probabilities.

    The probabilities come from :func:`labelaudit.oof.cross_val_pred_probs`
    (stratified, shuffled folds seeded by ``seed``; a logistic regression by
    default), then the confident joint is computed from them.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features.
    labels : array-like of shape (n_samples,)
        Given labels as class indices; every class must be present.
    clf : scikit-learn classifier, optional
        Cloned for each fold; default ``LogisticRegression(solver="lbfgs")``.
    cv_n_folds : int, default 5
        Number of folds.
    thresholds : array-like of shape (K,), optional
        Per-class thresholds.
    converge_latent_estimates : bool, default True
        Iterate the estimates into algebraic agreement.
    seed : int, optional
        Seed of the fold shuffling.
    clf_kwargs : dict, optional
        Extra arguments to ``clf.fit``.
    validation_func : callable, optional
        ``validation_func(X_holdout, y_holdout)`` returning extra ``fit`` arguments.

    Returns
    -------
    noise_matrix, inverse_noise_matrix : ndarray of shape (K, K)
    """
    from .oof import cross_val_pred_probs

    labels_arr = np.asarray(labels)
    pred_probs = cross_val_pred_probs(X, labels_arr, clf=clf, cv_n_folds=cv_n_folds, seed=seed,
                                      clf_kwargs=clf_kwargs, validation_func=validation_func)
    cj = compute_confident_joint(labels_arr, pred_probs, thresholds=thresholds, calibrate=True)
    labels_i = check_labels(labels_arr, pred_probs.shape[0], pred_probs.shape[1])
    _, nm, inv = _estimate_latent(cj, _label_counts(labels_i, pred_probs.shape[1]),
                                  py_method="cnt",
                                  converge_latent_estimates=converge_latent_estimates)
    return nm, inv


def num_label_issues(labels, pred_probs, *, confident_joint=None,
                     estimation_method="off_diagonal", multi_label=False, n_jobs=None,
                     chunk_size=None) -> int:
    """Estimate how many items are mislabelled.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities.
    confident_joint : ndarray of shape (K, K), optional
        Only used with ``estimation_method="off_diagonal_custom"``.
    estimation_method : {"off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom"}
        ``"off_diagonal"`` counts rows confidently counted off the diagonal,
        minus those whose given label is the model's top class;
        the other two use ``n * (1 - trace(joint))``.
    multi_label : bool
        Not supported; must be False.
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    int
    """
    _reject_multi_label(multi_label)
    valid = ("off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom")
    if estimation_method not in valid:
        raise LabelAuditError(
            f"`estimation_method` must be one of {', '.join(valid)}, got {estimation_method!r}."
        )
    if confident_joint is not None and estimation_method != "off_diagonal_custom":
        warnings.warn(
            "The supplied `confident_joint` is ignored: it is recomputed from `labels` and "
            "`pred_probs`. Use estimation_method='off_diagonal_custom' to use yours.",
            LabelAuditWarning,
            stacklevel=2,
        )
    if _dask_backend.is_dask_array(pred_probs):
        return _dask_backend.num_label_issues(labels, pred_probs, confident_joint=confident_joint,
                                              estimation_method=estimation_method)
    labels, pred_probs = _prepare(labels, pred_probs)
    n = labels.shape[0]
    if estimation_method == "off_diagonal":
        return confident_joint_result(labels, pred_probs, n_jobs=n_jobs,
                                      chunk_size=chunk_size).num_issues
    if estimation_method == "off_diagonal_calibrated":
        cj = compute_confident_joint(labels, pred_probs, calibrate=True, n_jobs=n_jobs,
                                     chunk_size=chunk_size)
    else:
        if confident_joint is None:
            raise LabelAuditError(
                "`confident_joint` is required with estimation_method='off_diagonal_custom'."
            )
        cj = _check_square(confident_joint, pred_probs.shape[1])
        _row_pass(labels, pred_probs, n_jobs=n_jobs, chunk_size=chunk_size)  # validation only
    joint = estimate_joint(labels, None, confident_joint=cj)
    return int(np.rint((1.0 - joint.trace()) * n).astype(int))


def find_predicted_neq_given(labels, pred_probs, *, multi_label=False) -> np.ndarray:
    """Boolean mask of items whose argmax prediction differs from the given label.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices.
    pred_probs : ndarray of shape (n_samples, K)
        Predicted probabilities.
    multi_label : bool
        Not supported; must be False.

    Returns
    -------
    ndarray of bool
    """
    _reject_multi_label(multi_label)
    labels, pred_probs = _prepare(labels, pred_probs)
    _row_pass(labels, pred_probs)
    return np.argmax(pred_probs, axis=1) != labels


def _smallest(scores: np.ndarray, m: int) -> np.ndarray:
    """Indices of the ``m`` smallest scores, ties broken by the smaller index."""
    n = scores.shape[0]
    if m <= 0:
        return np.empty(0, dtype=np.intp)
    if m >= n:
        return np.arange(n)
    cut = np.partition(scores, m - 1)[m - 1]
    below = np.flatnonzero(scores < cut)
    at = np.flatnonzero(scores == cut)[: m - below.shape[0]]
    return np.concatenate([below, at])


def _prune_plan(prune_counts: np.ndarray, label_counts: np.ndarray, min_examples_per_class,
                filter_by: str):
    """Lay out the selection slots of the pruning filters for the kernel."""
    k = prune_counts.shape[0]
    active = (label_counts > min_examples_per_class) & (label_counts > 1)
    pair_ptr = np.zeros(k + 1, dtype=np.int64)
    pair_j: list[np.ndarray] = []
    caps: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    class_slot = np.full(k, -1, dtype=np.int64)
    n_slots = 0
    if filter_by in ("prune_by_noise_rate", "both"):
        # Column k of the prune matrix: how many items labelled k to take per true class j.
        m = prune_counts.T.astype(np.int64, copy=True)  # m[k, j]
        np.fill_diagonal(m, 0)
        m[~active] = 0
        m = np.minimum(np.maximum(m, 0), label_counts[:, None])
        nz_k, nz_j = np.nonzero(m)
        pair_ptr[1:] = np.cumsum(np.bincount(nz_k, minlength=k))
        pair_j.append(nz_j.astype(np.intp))
        caps.append(m[nz_k, nz_j])
        groups.append(np.zeros(nz_k.shape[0], dtype=np.uint8))
        n_slots = nz_k.shape[0]
    if filter_by in ("prune_by_class", "both"):
        n_issues = label_counts - np.diagonal(prune_counts).astype(np.int64)
        n_issues = np.minimum(n_issues, label_counts)
        chosen = np.flatnonzero(active & (n_issues >= 1))
        class_slot[chosen] = n_slots + np.arange(chosen.shape[0])
        caps.append(n_issues[chosen])
        groups.append(np.ones(chosen.shape[0], dtype=np.uint8))
        n_slots += chosen.shape[0]
    cap = np.concatenate(caps).astype(np.int64) if caps else np.zeros(0, dtype=np.int64)
    off = np.zeros(cap.shape[0], dtype=np.int64)
    if cap.shape[0] > 1:
        np.cumsum(cap[:-1], out=off[1:])
    return {
        "pair_ptr": pair_ptr,
        "pair_j": np.concatenate(pair_j) if pair_j else np.zeros(0, dtype=np.intp),
        "class_slot": class_slot,
        "slot_off": off,
        "slot_cap": cap,
        "slot_group": (np.concatenate(groups) if groups else np.zeros(0, dtype=np.uint8)),
        "inactive": np.flatnonzero(~active & (label_counts > 0)),
    }


def _select_candidates(labels, pred_probs, plan, other, selfc, *, n_jobs, chunk_size,
                       first=None, best_first=False, floor_keys=None):
    """Kernel pass 3: every slot's kept rows as flat arrays ``(slot, key, row)``.

    Rows are local to ``pred_probs``; the keys are the selection keys (margin,
    or minus the self-confidence), so shards can be merged exactly later.
    Slots come in increasing order; with ``best_first``, each slot's rows are
    sorted by larger key, then smaller row. ``floor_keys`` (one key per slot,
    or -inf) admits only rows whose key is at least the slot's floor: give a
    lower bound of the slot's final cut and the kept set does not change.
    """
    n = pred_probs.shape[0]
    n_slots = plan["slot_cap"].shape[0]
    if n_slots == 0 or n == 0:
        return (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64))
    n_threads = effective_n_threads(n_jobs)
    chunk = resolve_chunk_size(chunk_size)
    n_threads = max(1, min(n_threads, -(-n // chunk)))
    total = int(plan["slot_cap"].sum())
    heap_val = np.empty((n_threads, total), dtype=np.float64)
    heap_idx = np.empty((n_threads, total), dtype=np.int64)
    heap_size = np.zeros((n_threads, n_slots), dtype=np.int64)
    k = pred_probs.shape[1]
    worst = np.full((n_threads, n_slots), -np.inf)
    floor = np.full((n_threads, k), -np.inf)
    if floor_keys is not None:
        # Keys are values of the input dtype (or their negations), so the
        # dtype bars below hold them exactly.
        floor_keys = np.asarray(floor_keys, dtype=np.float64)
        worst[:] = floor_keys
        for c in np.flatnonzero(np.diff(plan["pair_ptr"])):
            a, b = plan["pair_ptr"][c], plan["pair_ptr"][c + 1]
            floor[:, c] = floor_keys[a:b].min()
    hits = np.empty((n_threads, k), dtype=np.intp)
    n_pairs = plan["pair_j"].shape[0]
    if n_pairs and k * k <= _DENSE_PAIRS_MAX:
        # One bar per (given, true) pair: +inf where nothing is pruned, -inf
        # (admit anything) until the pair's heap is full.
        pair_k = np.repeat(np.arange(k), np.diff(plan["pair_ptr"]))
        pair_of = np.full(k * k, -1, dtype=np.int64)
        pair_of[pair_k * k + plan["pair_j"]] = np.arange(n_pairs)
        bar = np.full((n_threads, k * k), np.inf, dtype=pred_probs.dtype)
        bar[:, pair_k * k + plan["pair_j"]] = (
            -np.inf if floor_keys is None else floor_keys[:n_pairs].astype(pred_probs.dtype)
        )
    else:
        pair_of = np.zeros(0, dtype=np.int64)
        bar = np.zeros((0, 0), dtype=pred_probs.dtype)
    first = np.zeros(0, dtype=np.intp) if first is None else np.ascontiguousarray(first,
                                                                                  dtype=np.intp)
    is_first = np.zeros(n if first.size else 0, dtype=np.uint8)
    is_first[first] = 1
    _core.select_top(pred_probs, labels, other, selfc, plan["pair_ptr"], plan["pair_j"],
                     pair_of, plan["class_slot"], plan["slot_off"], plan["slot_cap"], heap_val,
                     heap_idx, heap_size, worst, floor, bar, hits, first, is_first, chunk,
                     n_threads)
    if n_threads > 1:
        _core.merge_heaps(plan["slot_off"], plan["slot_cap"], heap_val, heap_idx, heap_size)
    if best_first:
        _core.sort_heaps(plan["slot_off"], heap_val[0], heap_idx[0], heap_size[0])
    sizes = heap_size[0]
    slot = np.repeat(np.arange(n_slots, dtype=np.int64), sizes)
    first = np.cumsum(sizes) - sizes
    pos = plan["slot_off"][slot] + (np.arange(slot.shape[0]) - first[slot])
    return slot, heap_val[0, pos], heap_idx[0, pos]


def _masks_from_candidates(n: int, plan, slot: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """masks[0]: prune-by-noise-rate rows, masks[1]: prune-by-class rows."""
    masks = np.zeros((2, n), dtype=bool)
    masks[plan["slot_group"][slot], rows] = True
    return masks


def find_label_issues(labels, pred_probs, *, return_indices_ranked_by=None, rank_by_kwargs=None,
                      filter_by="prune_by_noise_rate", frac_noise=1.0,
                      num_to_remove_per_class=None, min_examples_per_class=1,
                      confident_joint=None, n_jobs=None, verbose=False, multi_label=False,
                      chunk_size=None):
    """Find items whose given label is likely wrong.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities, float32 or float64; a read-only
        memory map is streamed without copying.
    return_indices_ranked_by : {None, "self_confidence", "normalized_margin", "confidence_weighted_entropy"}
        None returns a boolean mask; otherwise the indices of the issues, most
        severe first (ties by index).
    rank_by_kwargs : dict, optional
        Extra arguments of :func:`get_label_quality_scores` (``adjust_pred_probs``).
    filter_by : str, default "prune_by_noise_rate"
        - ``"prune_by_noise_rate"``: for every (given k, true j) pair, the
          ``C[k, j]`` items labelled k with the largest ``p_j - p_k``;
        - ``"prune_by_class"``: for every class k, the ``n_k - C[k, k]`` items
          labelled k with the smallest ``p_k``;
        - ``"both"``: items found by both;
        - ``"confident_learning"``: the off-diagonal items of the confident joint;
        - ``"predicted_neq_given"``: items whose argmax differs from the label;
        - ``"low_normalized_margin"`` / ``"low_self_confidence"``: the
          ``num_label_issues`` items with the lowest score.
        All but the ``low_*`` filters then un-flag items whose given label is
        the argmax of ``p + 1e-6 * onehot(label)``.
    frac_noise : float, default 1.0
        Share of the estimated issues to return per pair (pruning filters only);
        counts are truncated to integers.
    num_to_remove_per_class : array-like of shape (K,), optional
        Exact number of issues per class (pruning filters only).
    min_examples_per_class : int, default 1
        Classes with at most this many items are never pruned.
    confident_joint : ndarray of shape (K, K), optional
        Used verbatim by the pruning filters instead of the calibrated joint.
    n_jobs : int, optional
        Threads; results do not depend on it.
    verbose : bool
        Accepted for compatibility; labelaudit prints nothing.
    multi_label : bool
        Not supported; must be False.
    chunk_size : int, optional
        Rows per work unit; results do not depend on it.

    Returns
    -------
    ndarray
        Boolean mask of shape (n_samples,), or int64 indices when
        ``return_indices_ranked_by`` is set.

    Notes
    -----
    Identical to cleanlab 2.9's ``filter.find_label_issues`` except where keys
    tie exactly at a selection cut: cleanlab's choice then depends on numpy's
    unstable sort and the CPU, labelaudit always takes the smaller row index.
    """
    _reject_multi_label(multi_label)
    _check_filter_by(filter_by)
    rank_by_kwargs = dict(rank_by_kwargs or {})
    unknown = set(rank_by_kwargs) - {"adjust_pred_probs"}
    if unknown:
        raise LabelAuditError(
            f"`rank_by_kwargs` accepts only 'adjust_pred_probs', got {sorted(unknown)}."
        )
    if return_indices_ranked_by is not None and return_indices_ranked_by not in SCORE_METHODS:
        raise LabelAuditError(
            f"`return_indices_ranked_by` must be None or one of {', '.join(SCORE_METHODS)}, "
            f"got {return_indices_ranked_by!r}."
        )
    not_pruning = filter_by in ("confident_learning", "predicted_neq_given",
                                "low_normalized_margin", "low_self_confidence")
    if not_pruning and (frac_noise != 1.0 or num_to_remove_per_class is not None):
        warnings.warn(
            "frac_noise and num_to_remove_per_class only apply to filter_by "
            "'prune_by_noise_rate', 'prune_by_class' and 'both'.",
            LabelAuditWarning, stacklevel=2,
        )
        if num_to_remove_per_class is not None:
            raise LabelAuditError(
                f"`num_to_remove_per_class` is not supported with filter_by={filter_by!r}."
            )
    if filter_by == "confident_learning" and confident_joint is not None:
        warnings.warn(
            "The supplied `confident_joint` is ignored with filter_by='confident_learning': "
            "it is recomputed from the labels.", LabelAuditWarning, stacklevel=2,
        )
    if not (0.0 <= float(frac_noise) <= 1.0):
        raise LabelAuditError(f"`frac_noise` must be in [0, 1], got {frac_noise!r}.")
    if isinstance(min_examples_per_class, bool) or int(min_examples_per_class) != min_examples_per_class:
        raise LabelAuditError(
            f"`min_examples_per_class` must be an integer, got {min_examples_per_class!r}."
        )

    if _dask_backend.is_dask_array(pred_probs):
        return _dask_backend.find_label_issues(
            labels, pred_probs, return_indices_ranked_by=return_indices_ranked_by,
            rank_by_kwargs=rank_by_kwargs, filter_by=filter_by, frac_noise=frac_noise,
            num_to_remove_per_class=num_to_remove_per_class,
            min_examples_per_class=min_examples_per_class, confident_joint=confident_joint)
    labels, pred_probs = _prepare(labels, pred_probs)
    n, k = pred_probs.shape
    label_counts = _label_counts(labels, k)
    if confident_joint is not None:
        confident_joint = _check_square(confident_joint, k)

    # Which score the ranking (or the low_* filters) needs, fused into pass 2.
    rank_adjust = bool(rank_by_kwargs.get("adjust_pred_probs", False))
    rank_method = None
    fused_adjust = False
    if filter_by in ("low_normalized_margin", "low_self_confidence"):
        rank_method = filter_by[4:]
    elif return_indices_ranked_by is not None:
        rank_method = return_indices_ranked_by
        fused_adjust = rank_adjust

    need_cj = confident_joint is None or filter_by in ("confident_learning",
                                                       "low_normalized_margin",
                                                       "low_self_confidence")
    thresholds = _thresholds_from_counts(labels, pred_probs, label_counts) if (
        need_cj or fused_adjust) else None
    adjust = None
    if rank_method is not None:
        rank_method, adjust = _score_for_adjust(labels, pred_probs, rank_method, fused_adjust,
                                                thresholds=thresholds)
    res = _row_pass(labels, pred_probs,
                    cut=_cut_points(thresholds, k, pred_probs.dtype) if need_cj else None,
                    want_guess=need_cj, want_keep=True,
                    want_other=filter_by in ("prune_by_noise_rate", "prune_by_class", "both"),
                    score_method=rank_method, adjust=adjust,
                    n_jobs=n_jobs, chunk_size=chunk_size)
    if need_cj:
        off_diag = (res.guess >= 0) & (res.guess != labels)
    if confident_joint is None and need_cj:
        confident_joint = calibrate_counts(_fill_diagonal_min_one(res.counts), label_counts)

    if filter_by in ("low_normalized_margin", "low_self_confidence"):
        n_issues = int(np.count_nonzero(off_diag & ~res.keep))
        mask = np.zeros(n, dtype=bool)
        mask[_smallest(res.score, n_issues)] = True
        scores = res.score if filter_by[4:] == return_indices_ranked_by and not rank_adjust else None
    else:
        if filter_by == "confident_learning":
            mask = off_diag.copy()
        elif filter_by == "predicted_neq_given":
            mask = np.argmax(pred_probs, axis=1) != labels
        else:
            prune_counts = keep_at_least_n_per_class(
                np.asarray(confident_joint).T, min_examples_per_class, frac_noise=frac_noise
            )
            if num_to_remove_per_class is not None:
                prune_counts = _counts_for_fixed_removal(prune_counts, label_counts,
                                                         num_to_remove_per_class)
            plan = _prune_plan(prune_counts, label_counts, min_examples_per_class, filter_by)
            if plan["inactive"].size:
                warnings.warn(
                    "May not flag all label issues in classes "
                    f"{plan['inactive'].tolist()}: they have too few examples "
                    f"(at most min_examples_per_class={min_examples_per_class}).",
                    LabelAuditWarning, stacklevel=2,
                )
            slot, _, rows = _select_candidates(labels, pred_probs, plan, res.extra["other"],
                                               res.extra["selfc"], n_jobs=n_jobs,
                                               chunk_size=chunk_size,
                                               first=np.flatnonzero(~res.keep))
            masks = _masks_from_candidates(n, plan, slot, rows)
            if filter_by == "prune_by_noise_rate":
                mask = masks[0].copy()
            elif filter_by == "prune_by_class":
                mask = masks[1].copy()
            else:
                mask = masks[0] & masks[1]
        mask &= ~res.keep  # un-flag items whose given label is the bumped argmax
        scores = res.score if rank_method is not None else None

    if return_indices_ranked_by is None:
        return mask
    if scores is None:
        scores = get_label_quality_scores(labels, pred_probs, method=return_indices_ranked_by,
                                          **rank_by_kwargs)
    idx = np.flatnonzero(mask)
    return idx[np.argsort(scores[idx], kind="stable")].astype(np.int64)


def _counts_for_fixed_removal(prune_counts, label_counts, num_to_remove_per_class):
    """Rescale the prune matrix so class k loses exactly ``num_to_remove_per_class[k]`` items."""
    remove = np.asarray(num_to_remove_per_class)
    if remove.shape != label_counts.shape:
        raise LabelAuditError(
            f"`num_to_remove_per_class` must have one entry per class ({label_counts.shape[0]}), "
            f"got shape {remove.shape}."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        psy = prune_counts / np.sum(prune_counts, axis=1)
        noise_per_s = psy.sum(axis=1) - psy.diagonal()
        tmp = (psy.T * remove / noise_per_s).T
    np.fill_diagonal(tmp, label_counts - remove)
    if not np.all(np.isfinite(tmp)):
        raise LabelAuditError(
            "`num_to_remove_per_class` cannot be honoured: some class has no estimated noise."
        )
    return round_preserving_row_totals(tmp)


def get_label_quality_scores(labels, pred_probs, *, method="self_confidence",
                             adjust_pred_probs=False, n_jobs=None, chunk_size=None) -> np.ndarray:
    """Score how likely each given label is correct (higher is better).

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities.
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
        - ``self_confidence``: ``p[label]``;
        - ``normalized_margin``: ``(p[label] - max_{j != label} p[j] + 1) / 2``;
        - ``confidence_weighted_entropy``: ``log(1 + H / p[label]) / (H / p[label])``
          with ``H`` the entropy normalised by ``log K`` (float64).
    adjust_pred_probs : bool, default False
        Subtract each class's threshold and renormalise before scoring
        (not for the entropy method).
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    ndarray of shape (n_samples,)
        In the dtype of ``pred_probs`` for the first two methods without
        adjustment, float64 otherwise.
    """
    if _dask_backend.is_dask_array(pred_probs):
        return _dask_backend.get_label_quality_scores(labels, pred_probs, method=method,
                                                      adjust_pred_probs=adjust_pred_probs)
    labels, pred_probs = _prepare(labels, pred_probs)
    method, adjust = _score_for_adjust(labels, pred_probs, method, adjust_pred_probs)
    res = _row_pass(labels, pred_probs, score_method=method, adjust=adjust, n_jobs=n_jobs,
                    chunk_size=chunk_size)
    if adjust is not None and pred_probs.dtype == np.float32:
        # cleanlab keeps float32 when every class has items (float32 thresholds).
        counts = _label_counts(labels, pred_probs.shape[1])
        if np.all(counts > 0):
            return res.score.astype(np.float32)
    return res.score


def order_label_issues(label_issues_mask, labels, pred_probs, *, rank_by="self_confidence",
                       rank_by_kwargs=None) -> np.ndarray:
    """Indices of the flagged items, most likely mislabelled first (ties by index).

    Parameters
    ----------
    label_issues_mask : array-like of bool, shape (n_samples,)
        Items flagged as issues.
    labels : array-like of shape (n_samples,)
        Given labels as class indices.
    pred_probs : ndarray of shape (n_samples, K)
        Predicted probabilities.
    rank_by : str, default "self_confidence"
        A :func:`get_label_quality_scores` method.
    rank_by_kwargs : dict, optional
        Extra arguments of :func:`get_label_quality_scores`.

    Returns
    -------
    ndarray of int64
    """
    mask = np.asarray(label_issues_mask, dtype=bool)
    scores = get_label_quality_scores(labels, pred_probs, method=rank_by,
                                      **dict(rank_by_kwargs or {}))
    if mask.shape != scores.shape:
        raise LabelAuditError(
            f"`label_issues_mask` must have one entry per item ({scores.shape[0]}), got {mask.shape}."
        )
    idx = np.flatnonzero(mask)
    return idx[np.argsort(scores[idx], kind="stable")].astype(np.int64)


# ---------------------------------------------------------------------------
# Uncertainty of the noise estimate
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class NoiseEstimate:
    """Estimated label-noise rates with bootstrap intervals.

    Attributes
    ----------
    noise_rate : float
        ``1 - trace(joint)`` of the calibrated confident joint: the estimated
        share of items whose given label is wrong.
    ci_low, ci_high : float
        Percentile bootstrap interval of ``noise_rate`` at ``confidence``.
    class_noise_rates : ndarray of shape (K,)
        Per given class ``k``: estimated share of items labelled ``k`` whose
        true label is another class (``1 - C[k, k] / sum_j C[k, j]``).
    class_ci_low, class_ci_high : ndarray of shape (K,)
        Their bootstrap intervals (NaN for classes nobody is labelled with).
    confidence : float
        Coverage of the intervals.
    n_bootstrap : int
        Number of replicates.
    seed : int
        Seed of the replicates.
    confident_joint : ConfidentJoint
        The statistics the estimate came from.
    """

    noise_rate: float
    ci_low: float
    ci_high: float
    class_noise_rates: np.ndarray
    class_ci_low: np.ndarray
    class_ci_high: np.ndarray
    confidence: float
    n_bootstrap: int
    seed: int
    confident_joint: ConfidentJoint


def _noise_from_cells(diag, row_total, label_total):
    """Noise rates from per-class cell counts (works on stacked replicates).

    Calibration scales row k of the confident joint to ``n_k`` items, so the
    diagonal share of the joint is ``sum_k n_k * C_kk / C_k. / n``; rounding to
    integers is left out, which moves the rate by less than ``K / n``.
    """
    diag = np.maximum(diag, 1.0)  # the diagonal is floored at 1, as in the point estimate
    rows = np.maximum(row_total, diag)
    keep = diag / rows
    n = label_total.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = 1.0 - (label_total * keep).sum(axis=-1) / n
        per_class = np.where(label_total > 0, 1.0 - keep, np.nan)
    return overall, per_class


def noise_rate_intervals(labels, pred_probs, *, n_bootstrap: int = 1000, confidence: float = 0.95,
                         seed: int = 0, thresholds=None, n_jobs=None,
                         chunk_size=None) -> NoiseEstimate:
    """Estimate the noise rate and per-class noise rates with bootstrap intervals.

    One kernel pass classifies every item as (given class k, category) with
    category "not confidently counted", "counted on the diagonal" or "counted
    off the diagonal". The noise estimate depends on the data only through
    these 3K cell counts, so a Poisson bootstrap of the items (each item drawn
    ``Poisson(1)`` times) is exactly a draw of each cell count from
    ``Poisson(count)``: thousands of replicates cost a few milliseconds, with
    no second pass over the probabilities. Thresholds are held at their
    full-data values (they average thousands of items; their own spread is
    small next to the counts').

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities.
    n_bootstrap : int, default 1000
        Number of bootstrap replicates.
    confidence : float, default 0.95
        Coverage of the percentile intervals.
    seed : int, default 0
        Seed of the replicates; the same seed gives the same intervals.
    thresholds : array-like of shape (K,), optional
        Per-class thresholds.
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    NoiseEstimate
    """
    _check_bootstrap(n_bootstrap, confidence)
    cj = confident_joint_result(labels, pred_probs, thresholds=thresholds, n_jobs=n_jobs,
                                chunk_size=chunk_size)
    return noise_from_joint(cj, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)


def _check_bootstrap(n_bootstrap, confidence) -> None:
    if not (0.0 < confidence < 1.0):
        raise LabelAuditError(f"`confidence` must be in (0, 1), got {confidence!r}.")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 10:
        raise LabelAuditError(f"`n_bootstrap` must be an integer >= 10, got {n_bootstrap!r}.")


def noise_from_joint(cj: ConfidentJoint, *, n_bootstrap: int = 1000, confidence: float = 0.95,
                     seed: int = 0) -> NoiseEstimate:
    """The noise estimate of :func:`noise_rate_intervals` from a computed confident joint.

    Parameters
    ----------
    cj : ConfidentJoint
        From :func:`confident_joint_result` (or its chunked equivalent).
    n_bootstrap, confidence, seed
        As in :func:`noise_rate_intervals`.

    Returns
    -------
    NoiseEstimate
    """
    _check_bootstrap(n_bootstrap, confidence)
    k = cj.counts.shape[0]
    raw = cj.raw_counts
    diag_cells = np.diagonal(raw).astype(np.float64)
    offdiag_cells = raw.sum(axis=1) - np.diagonal(raw)
    counted = raw.sum(axis=1)
    # The floor to 1 may have added a phantom diagonal count; the cells hold real items only.
    real_diag = np.minimum(diag_cells, counted - offdiag_cells)
    uncounted = cj.label_counts - real_diag - offdiag_cells
    rng = np.random.default_rng(seed)
    shape = (n_bootstrap, k)
    d = rng.poisson(real_diag, size=shape).astype(np.float64)
    o = rng.poisson(offdiag_cells, size=shape).astype(np.float64)
    u = rng.poisson(np.maximum(uncounted, 0), size=shape).astype(np.float64)
    overall, per_class = _noise_from_cells(d, d + o, d + o + u)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.nanquantile(overall, [alpha, 1.0 - alpha])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: absent classes
        c_lo = np.nanquantile(per_class, alpha, axis=0)
        c_hi = np.nanquantile(per_class, 1.0 - alpha, axis=0)
    counts = cj.counts
    with np.errstate(invalid="ignore", divide="ignore"):
        class_rates = np.where(cj.label_counts > 0,
                               1.0 - np.diagonal(counts) / counts.sum(axis=1), np.nan)
    rate = cj.noise_rate
    return NoiseEstimate(
        noise_rate=rate,
        ci_low=float(min(lo, rate)),
        ci_high=float(max(hi, rate)),
        class_noise_rates=class_rates,
        class_ci_low=np.fmin(c_lo, class_rates),
        class_ci_high=np.fmax(c_hi, class_rates),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        seed=seed,
        confident_joint=cj,
    )
