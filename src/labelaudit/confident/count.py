"""Thresholds, the confident joint and its calibration (cleanlab's ``count`` module).

An item counts toward class ``j`` when ``p(j) >= t_j - 1e-6`` with ``t_j``
the mean self-confidence of class ``j``; the counts are computed by one fused
kernel pass (see :mod:`._passes`), on a whole matrix or chunk by chunk on a
dask array (see :mod:`._dask`).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_labels, check_multilabel_labels, check_multilabel_probs
from ..exceptions import LabelAuditError
from . import _dask
from ._joint import ConfidentJoint
from ._latent import calibrate_counts
from ._passes import (
    binary_probs,
    check_square,
    class_counts,
    cut_points,
    fill_diagonal_min_one,
    is_dask_array,
    prepare,
    row_pass,
    thresholds_from_counts,
)

__all__ = [
    "ConfidentJoint",
    "calibrate_confident_joint",
    "compute_confident_joint",
    "confident_joint_result",
    "get_confident_thresholds",
    "renormalize",
]


def confident_joint_result(labels, pred_probs, *, thresholds=None, n_jobs=None,
                           chunk_size=None, _validated=False) -> ConfidentJoint:
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
    if is_dask_array(pred_probs):
        return _dask.confident_joint_result(labels, pred_probs, thresholds=thresholds)
    labels, pred_probs = prepare(labels, pred_probs, validated=_validated)
    k = pred_probs.shape[1]
    counts = class_counts(labels, k)
    if thresholds is None:
        thresholds = thresholds_from_counts(labels, pred_probs, counts)
    res = row_pass(labels, pred_probs, cut=cut_points(thresholds, k, pred_probs.dtype),
                   want_guess=True, want_keep=True, n_jobs=n_jobs, chunk_size=chunk_size,
                   check=not _validated)
    raw = fill_diagonal_min_one(res.counts)
    off_mask = (res.guess >= 0) & (res.guess != labels)
    return ConfidentJoint.from_raw(raw, counts, thresholds, np.flatnonzero(off_mask),
                                   np.count_nonzero(off_mask & ~res.keep))



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
    multi_label : bool, default False
        ``labels`` is a list of lists of class indices (several classes per
        item): each class is then its own one-vs-rest problem (see
        :func:`_one_vs_rest`).

    Returns
    -------
    ndarray of shape (K,)
        In the dtype of ``pred_probs``, or float64 when some class has no
        items (its threshold is 2, unreachable). Clipped below at 2e-6. With
        ``multi_label=True``, float64 of shape (K, 2): the thresholds of
        "not k" and "k" in class ``k``'s one-vs-rest problem, as cleanlab.
    """
    if multi_label:
        return np.stack([get_confident_thresholds(y, p).astype(np.float64)
                         for y, p in _one_vs_rest(labels, pred_probs)])
    if is_dask_array(pred_probs):
        return _dask.get_confident_thresholds(labels, pred_probs)
    labels, pred_probs = prepare(labels, pred_probs)
    counts = class_counts(labels, pred_probs.shape[1])
    return thresholds_from_counts(labels, pred_probs, counts)


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
    multi_label : bool, default False
        ``labels`` is a list of lists of class indices: the joint of each
        class's one-vs-rest problem, shape (K, 2, 2) (``thresholds``, when
        given, applies to every one of them, as in cleanlab).
    return_indices_of_off_diagonals : bool, default False
        Also return the rows counted off the diagonal (with ``multi_label``,
        a list of such arrays, one per class).
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
    if multi_label:
        parts = [compute_confident_joint(
                     y, p, thresholds=thresholds, calibrate=calibrate,
                     return_indices_of_off_diagonals=return_indices_of_off_diagonals,
                     n_jobs=n_jobs, chunk_size=chunk_size)
                 for y, p in _one_vs_rest(labels, pred_probs)]
        if return_indices_of_off_diagonals:
            return np.stack([cj for cj, _ in parts]), [off for _, off in parts]
        return np.stack(parts)
    if is_dask_array(pred_probs):
        return _dask.compute_confident_joint(
            labels, pred_probs, thresholds=thresholds, calibrate=calibrate,
            return_indices_of_off_diagonals=return_indices_of_off_diagonals)
    labels, pred_probs = prepare(labels, pred_probs)
    k = pred_probs.shape[1]
    counts = class_counts(labels, k)
    if thresholds is None:
        thresholds = thresholds_from_counts(labels, pred_probs, counts)
    res = row_pass(labels, pred_probs, cut=cut_points(thresholds, k, pred_probs.dtype),
                   want_guess=return_indices_of_off_diagonals, n_jobs=n_jobs,
                   chunk_size=chunk_size)
    cj = fill_diagonal_min_one(res.counts)
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
    multi_label : bool, default False
        ``confident_joint`` has shape (K, 2, 2) and ``labels`` is a list of
        lists of class indices: each class's one-vs-rest joint is calibrated
        to that class's labels.

    Returns
    -------
    ndarray of shape (K, K), int64
        Row ``k`` sums to the number of items labelled ``k`` (with
        ``multi_label``, shape (K, 2, 2)).
    """
    if multi_label:
        joint = np.asarray(confident_joint)
        if joint.ndim != 3 or joint.shape[1:] != (2, 2):
            raise LabelAuditError(
                "`confident_joint` must have shape (K, 2, 2) when `multi_label=True`, got "
                f"{joint.shape}.")
        onehot = _multilabel_onehot(labels, len(labels), joint.shape[0])
        return np.stack([calibrate_confident_joint(joint[k], onehot[:, k])
                         for k in range(joint.shape[0])])
    cj = check_square(confident_joint)
    labels = check_labels(labels, len(np.asarray(labels)), cj.shape[0])
    return calibrate_counts(cj, class_counts(labels, cj.shape[0]))


def _multilabel_onehot(labels, n_rows: int, n_classes: int) -> np.ndarray:
    """Multi-label ``labels`` (lists of class indices) as an (n_rows, K) 0/1 matrix."""
    if not isinstance(labels, list):
        raise LabelAuditError(
            "`labels` must be a list of lists of class indices when `multi_label=True`, "
            f"got {type(labels).__name__}.")
    bits = check_multilabel_labels(labels, n_rows, n_classes)
    return np.unpackbits(bits, axis=1, count=n_classes).astype(np.intp)


def _one_vs_rest(labels, pred_probs):
    """Each class's one-vs-rest problem: labels 1 where an item carries the class, else 0,
    and probabilities ``[1 - p_k, p_k]`` (cleanlab's reduction of multi-label data)."""
    probs = check_multilabel_probs(pred_probs)
    if is_dask_array(probs):
        probs = probs.compute()
    onehot = _multilabel_onehot(labels, probs.shape[0], probs.shape[1])
    for k in range(probs.shape[1]):
        yield onehot[:, k], binary_probs(probs[:, k])

