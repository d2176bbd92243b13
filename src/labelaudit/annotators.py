"""Annotator review: consensus labels, agreement statistics and per-annotator quality.

Input is a *long* table with one row per annotation (item, annotator, label,
optionally a timestamp). Nothing here builds an items x annotators matrix,
except the optional CROWDLAB consensus, which delegates to cleanlab and is
capped in size. Agreement statistics are computed from the items x classes
count table, and pairwise statistics from the pairs of annotations that share
an item.

The entry point is :func:`review_annotators`, which returns an
:class:`AnnotatorReview`. The building blocks (:func:`encode_annotations`,
:func:`label_counts`, :func:`majority_vote`, :func:`dawid_skene`,
:func:`crowdlab_consensus`, :func:`fleiss_kappa`,
:func:`krippendorff_alpha_nominal`, :func:`percent_agreement`,
:func:`pairwise_agreement`, :func:`leave_one_out_consensus`,
:func:`wilson_interval`, :func:`benjamini_hochberg`) are public so they can
be used and tested on their own.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from labelaudit.exceptions import InputError, LabelAuditError, LabelAuditWarning

__all__ = [
    "AnnotatorReview",
    "DawidSkeneResult",
    "EncodedAnnotations",
    "MajorityVote",
    "agreement_summary",
    "benjamini_hochberg",
    "crowdlab_consensus",
    "dawid_skene",
    "encode_annotations",
    "fleiss_kappa",
    "krippendorff_alpha_nominal",
    "label_counts",
    "leave_one_out_consensus",
    "majority_vote",
    "pairwise_agreement",
    "percent_agreement",
    "review_annotators",
    "wilson_interval",
]

ConsensusMethod = Literal["dawid_skene", "majority", "crowdlab"]

#: Kernels this module needs from the compiled core.
_KERNEL_NAMES = ("ds_e_step", "ds_m_step", "ds_leave_one_out_mode")

#: CROWDLAB needs a dense items x annotators matrix; refuse beyond these sizes.
CROWDLAB_MAX_ANNOTATORS = 200
CROWDLAB_MAX_CELLS = 20_000_000


def _kernels() -> Any:
    """Return the compiled module that holds the ``ds_`` kernels.

    Returns
    -------
    module
        ``labelaudit._core``.

    Raises
    ------
    ImportError
        If the extension is not built or lacks the Dawid-Skene kernels.
    """
    try:
        from labelaudit import _core
    except ImportError as exc:
        raise ImportError(
            "labelaudit._core is not built: build the extension "
            "(pip install -e . or python setup.py build_ext --inplace) to use "
            "Dawid-Skene and leave-one-out grading"
        ) from exc
    missing = [name for name in _KERNEL_NAMES if not hasattr(_core, name)]
    if missing:
        raise ImportError(
            f"labelaudit._core lacks the Dawid-Skene kernels {missing}: rebuild the "
            "extension from a source tree whose _core.pyx includes _dawid_skene.pxi"
        )
    return _core


def _effective_n_threads(n_jobs: int | None) -> int:
    """Resolve ``n_jobs`` into a thread count (the project's shared rule).

    ``None`` uses ``OMP_NUM_THREADS`` when set, else every available core;
    ``-1`` means all cores and ``-k`` all but ``k - 1``; ``0`` is an error.
    """
    try:
        from labelaudit._threads import effective_n_threads
    except ImportError:
        effective_n_threads = None
    if effective_n_threads is not None:
        try:
            return effective_n_threads(n_jobs)
        except ImportError:
            pass  # core not importable: resolve here (the count never changes results)
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer)):
        raise LabelAuditError(f"n_jobs must be an integer or None; got {n_jobs!r}")
    if n_jobs == 0:
        raise LabelAuditError("n_jobs must not be 0: use None, a positive count or -1")
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = max(1, os.cpu_count() or 1)
    if n_jobs is None:
        env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
        return min(int(env), cores) if env.isdigit() and int(env) > 0 else cores
    if n_jobs < 0:
        return max(1, cores + 1 + int(n_jobs))
    return int(n_jobs)


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedAnnotations:
    """Annotations as integer codes, in long form.

    Attributes
    ----------
    item : ndarray of shape (n_annotations,), dtype=intp
        Row of each annotation's item in ``item_ids``.
    annotator : ndarray of shape (n_annotations,), dtype=intp
        Row of each annotation's annotator in ``annotator_ids``.
    label : ndarray of shape (n_annotations,), dtype=intp
        Class index (0 .. n_classes - 1) of each annotation.
    item_ids : polars.Series
        Item identifiers; row ``i`` of every per-item output refers to ``item_ids[i]``.
    annotator_ids : polars.Series
        Annotator identifiers, sorted.
    classes : tuple
        Class names (or raw label values) indexed by class code.
    time : polars.Series or None
        Timestamp of each annotation (input row order), if a time column was given.
    item_col, annotator_col : str
        Column names used for identifiers in every output table.
    """

    item: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    item_ids: pl.Series
    annotator_ids: pl.Series
    classes: tuple
    time: pl.Series | None = None
    item_col: str = "item_id"
    annotator_col: str = "annotator_id"

    @property
    def n_annotations(self) -> int:
        """Number of annotations."""
        return int(self.item.shape[0])

    @property
    def n_items(self) -> int:
        """Number of items (including items without annotations)."""
        return int(self.item_ids.len())

    @property
    def n_annotators(self) -> int:
        """Number of distinct annotators."""
        return int(self.annotator_ids.len())

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def class_names(self) -> list[str]:
        """Class names as strings."""
        return [str(c) for c in self.classes]


def _require_column(frame: pl.DataFrame, col: str, param: str) -> None:
    if col not in frame.columns:
        raise InputError(
            f"annotations: column {col!r} ({param}) not found; available columns: {frame.columns}"
        )


def _first_null_row(series: pl.Series) -> int | None:
    if series.null_count() == 0:
        return None
    return int(series.is_null().arg_true()[0])


def _dense_codes(series: pl.Series) -> np.ndarray:
    """0-based codes that follow the sort order of the unique values."""
    if series.dtype.is_integer() and series.len() and series.null_count() == 0:
        lo, hi = series.min(), series.max()
        if lo >= 0 and hi <= 4 * series.len() + 1024:
            # Small non-negative integer ids: a presence table avoids a sort.
            values = series.to_numpy()
            present = np.zeros(int(hi) + 1, dtype=np.intp)
            present[values] = 1
            return (np.cumsum(present) - 1)[values].astype(np.intp, copy=False)
    return (series.rank("dense").cast(pl.Int64) - 1).to_numpy().astype(np.intp, copy=False)


def encode_annotations(
    annotations: pl.DataFrame,
    *,
    item_col: str,
    annotator_col: str,
    label_col: str,
    time_col: str | None = None,
    classes: Sequence[Any] | None = None,
    item_ids: Sequence[Any] | pl.Series | np.ndarray | None = None,
) -> EncodedAnnotations:
    """Validate a long annotation table and encode it as integer arrays.

    Parameters
    ----------
    annotations : polars.DataFrame
        One row per annotation.
    item_col, annotator_col, label_col : str
        Columns holding the item id, the annotator id and the label.
    time_col : str, optional
        Column holding a ``Date`` or ``Datetime`` timestamp per annotation.
    classes : sequence, optional
        Class names. When given, labels must either be integers in
        ``0 .. len(classes) - 1`` or values found in ``classes``. When omitted,
        the sorted distinct label values become the classes.
    item_ids : sequence, optional
        Item ids in the order of per-item inputs (``pred_probs``,
        ``issue_mask``). Must be unique and contain every annotated item; items
        without annotations are allowed. Defaults to the sorted distinct
        annotated items.

    Returns
    -------
    EncodedAnnotations
        Integer-coded annotations.

    Raises
    ------
    InputError
        On a missing column, a null id or label, an unknown label, a duplicate
        (item, annotator) pair, or an annotated item missing from ``item_ids``.
    """
    if isinstance(annotations, pl.LazyFrame):
        annotations = annotations.collect()
    if not isinstance(annotations, pl.DataFrame):
        raise InputError(
            f"annotations must be a polars DataFrame; got {type(annotations).__name__}"
        )
    for col, param in ((item_col, "item_col"), (annotator_col, "annotator_col"), (label_col, "label_col")):
        _require_column(annotations, col, param)
    if time_col is not None:
        _require_column(annotations, time_col, "time_col")
    if annotations.height == 0:
        raise InputError("annotations: the table has no rows; need at least one annotation")
    for col in (item_col, annotator_col, label_col):
        row = _first_null_row(annotations[col])
        if row is not None:
            raise InputError(f"annotations: column {col!r} must not contain nulls; row {row} is null")

    # Items.
    if item_ids is None:
        ids = annotations[item_col].unique().sort()
        item = _dense_codes(annotations[item_col])
    else:
        ids = pl.Series(item_col, item_ids) if not isinstance(item_ids, pl.Series) else item_ids
        ids = ids.alias(item_col)
        if ids.null_count():
            raise InputError(f"item_ids must not contain nulls; position {_first_null_row(ids)} is null")
        if ids.is_duplicated().any():
            dup = ids.filter(ids.is_duplicated())[0]
            raise InputError(f"item_ids must be unique; {dup!r} appears more than once")
        try:
            lookup = pl.DataFrame({item_col: ids, "__idx": np.arange(ids.len(), dtype=np.int64)})
            joined = annotations.select(item_col).join(
                lookup, on=item_col, how="left", maintain_order="left"
            )
        except pl.exceptions.PolarsError as exc:
            raise InputError(
                f"item_ids dtype {ids.dtype} does not match annotations column {item_col!r} "
                f"dtype {annotations[item_col].dtype}"
            ) from exc
        row = _first_null_row(joined["__idx"])
        if row is not None:
            raise InputError(
                f"annotations: item {annotations[item_col][row]!r} in column {item_col!r} "
                f"(row {row}) is not in item_ids"
            )
        item = joined["__idx"].to_numpy().astype(np.intp)

    # Annotators.
    annotator_ids = annotations[annotator_col].unique().sort()
    annotator = _dense_codes(annotations[annotator_col])

    # Labels.
    raw = annotations[label_col]
    if classes is None:
        class_values = tuple(raw.unique().sort().to_list())
        label = _dense_codes(raw)
    else:
        class_values = tuple(classes)
        if len(class_values) == 0:
            raise InputError("classes must not be empty")
        if len(set(map(str, class_values))) != len(class_values):
            raise InputError(f"classes must be distinct; got {list(class_values)}")
        if raw.dtype.is_integer():
            label = raw.to_numpy().astype(np.intp)
            bad = np.flatnonzero((label < 0) | (label >= len(class_values)))
            if bad.size:
                raise InputError(
                    f"annotations: column {label_col!r} must hold class codes in "
                    f"[0, {len(class_values) - 1}] when classes is given; row {int(bad[0])} has "
                    f"{int(label[bad[0]])} (cast labels to strings to match them by class name)"
                )
        else:
            names = pl.Series("__name", [str(c) for c in class_values])
            lookup = pl.DataFrame({"__name": names, "__code": np.arange(len(class_values))})
            joined = (
                raw.cast(pl.String).alias("__name").to_frame()
                .join(lookup, on="__name", how="left", maintain_order="left")
            )
            row = _first_null_row(joined["__code"])
            if row is not None:
                raise InputError(
                    f"annotations: label {raw[row]!r} in column {label_col!r} (row {row}) "
                    f"is not one of classes {list(class_values)}"
                )
            label = joined["__code"].to_numpy().astype(np.intp)

    # One label per (item, annotator).
    key = item.astype(np.int64) * max(annotator_ids.len(), 1) + annotator
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(key[order][1:] == key[order][:-1])
    if dup.size:
        row = int(order[dup[0] + 1])
        raise InputError(
            f"annotations: annotator {annotations[annotator_col][row]!r} labels item "
            f"{annotations[item_col][row]!r} more than once (row {row}); keep one label "
            "per (item, annotator), e.g. the latest"
        )

    time = None
    if time_col is not None:
        time = annotations[time_col]
        if not time.dtype.is_temporal() or time.dtype == pl.Time or time.dtype == pl.Duration:
            raise InputError(
                f"annotations: column {time_col!r} (time_col) must be Date or Datetime; got {time.dtype}"
            )

    return EncodedAnnotations(
        item=np.ascontiguousarray(item, dtype=np.intp),
        annotator=np.ascontiguousarray(annotator, dtype=np.intp),
        label=np.ascontiguousarray(label, dtype=np.intp),
        item_ids=ids.alias(item_col),
        annotator_ids=annotator_ids.alias(annotator_col),
        classes=class_values,
        time=time,
        item_col=item_col,
        annotator_col=annotator_col,
    )


def label_counts(encoded: EncodedAnnotations) -> np.ndarray:
    """Items x classes table of label counts.

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.

    Returns
    -------
    ndarray of shape (n_items, n_classes), dtype=int64
        ``counts[i, k]`` is the number of annotators who gave item ``i`` class ``k``.
    """
    k = encoded.n_classes
    flat = np.bincount(
        encoded.item.astype(np.int64) * k + encoded.label, minlength=encoded.n_items * k
    )
    return flat.reshape(encoded.n_items, k).astype(np.int64, copy=False)


# ---------------------------------------------------------------------------
# Consensus
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MajorityVote:
    """Majority-vote consensus.

    Attributes
    ----------
    labels : ndarray of shape (n_items,), dtype=intp
        Modal class; -1 for items without annotations.
    share : ndarray of shape (n_items,), dtype=float64
        Fraction of the item's annotations that agree with ``labels`` (NaN if none).
    tie : ndarray of shape (n_items,), dtype=bool
        True when several classes share the maximum count.
    n_annotations : ndarray of shape (n_items,), dtype=int64
        Annotations per item.
    """

    labels: np.ndarray
    share: np.ndarray
    tie: np.ndarray
    n_annotations: np.ndarray


def majority_vote(counts: np.ndarray, *, tie_break: np.ndarray | None = None) -> MajorityVote:
    """Majority vote per item with deterministic tie-breaking.

    Parameters
    ----------
    counts : ndarray of shape (n_items, n_classes)
        Label counts per item (see :func:`label_counts`).
    tie_break : ndarray of shape (n_items, n_classes), optional
        Scores used only among tied classes (for instance Dawid-Skene
        posteriors); the tied class with the highest score wins. Remaining
        ties, and all ties when omitted, go to the lowest class index.

    Returns
    -------
    MajorityVote
        Labels, agreement share, tie flags and annotation counts.
    """
    counts = np.asarray(counts)
    n = counts.sum(axis=1).astype(np.int64)
    top = counts.max(axis=1, initial=0)
    is_top = counts == top[:, None]
    tie = (is_top.sum(axis=1) > 1) & (n > 0)
    if tie_break is None:
        labels = np.argmax(is_top, axis=1).astype(np.intp)
    else:
        scores = np.where(is_top, np.asarray(tie_break, dtype=np.float64), -np.inf)
        labels = np.argmax(scores, axis=1).astype(np.intp)
    labels[n == 0] = -1
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, top / np.maximum(n, 1), np.nan)
    return MajorityVote(labels=labels, share=share, tie=tie, n_annotations=n)


@dataclass(frozen=True)
class DawidSkeneResult:
    """Fitted Dawid-Skene model.

    Attributes
    ----------
    posterior : ndarray of shape (n_items, n_classes)
        Posterior class probabilities per item (the prior for unannotated items).
    labels : ndarray of shape (n_items,), dtype=intp
        Most probable class (lowest index on exact ties); -1 for unannotated items.
    priors : ndarray of shape (n_classes,)
        Estimated class priors.
    confusion : ndarray of shape (n_annotators, n_classes, n_classes)
        ``confusion[j, k, l]``: probability that annotator ``j`` answers ``l``
        when the true class is ``k``.
    log_likelihood : float
        Mean log marginal likelihood per annotation at the last E-step.
    history : tuple of float
        ``log_likelihood`` after every iteration.
    n_iter : int
        EM iterations run.
    converged : bool
        Whether the change in ``log_likelihood`` fell below ``tol``.
    """

    posterior: np.ndarray
    labels: np.ndarray
    priors: np.ndarray
    confusion: np.ndarray
    log_likelihood: float
    history: tuple
    n_iter: int
    converged: bool

    @property
    def annotator_accuracy(self) -> np.ndarray:
        """Model accuracy of each annotator, ``sum_k prior_k * confusion[j, k, k]``."""
        diag = np.diagonal(self.confusion, axis1=1, axis2=2)
        return diag @ self.priors


def _csr(index: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable sort order and CSR offsets of ``index`` into ``n_groups`` groups."""
    order = np.argsort(index, kind="stable")
    ptr = np.zeros(n_groups + 1, dtype=np.intp)
    np.cumsum(np.bincount(index, minlength=n_groups), out=ptr[1:])
    return order, ptr


def dawid_skene(
    encoded: EncodedAnnotations,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
    n_jobs: int | None = None,
) -> DawidSkeneResult:
    """Fit the Dawid-Skene model by expectation-maximisation.

    The E- and M-steps run in compiled, GIL-free kernels over the long
    annotation arrays sorted by item; this function only drives the loop.

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.
    max_iter : int, default=100
        Maximum number of EM iterations (one E-step plus one M-step each).
    tol : float, default=1e-6
        Stop when the mean log-likelihood per annotation changes by less than
        ``tol`` between iterations (crowd-kit uses the same per-annotation
        scale for its evidence lower bound). ``tol=0`` runs ``max_iter``
        iterations unless the likelihood stops changing exactly.
    smoothing : float, default=0.01
        Pseudo-count added to every confusion-matrix cell before normalising,
        which keeps rare annotators' matrices away from 0 and 1. Use 0 for
        plain maximum likelihood (counts are still floored at 1e-10).
    n_jobs : int, optional
        Threads for the kernels (None: all cores or ``OMP_NUM_THREADS``;
        -1: all cores). Results do not depend on it.

    Returns
    -------
    DawidSkeneResult
        Posteriors, labels, priors and confusion matrices.

    Notes
    -----
    Initialisation follows Dawid and Skene (1979) and crowd-kit: item
    posteriors start at the majority-vote shares, then an M-step estimates the
    first confusion matrices and priors. Memory is
    ``O(n_annotations + n_items * K + n_annotators * K * K)``.
    """
    if not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise LabelAuditError(f"max_iter must be a positive integer; got {max_iter!r}")
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol >= 0):
        raise LabelAuditError(f"tol must be a finite number >= 0; got {tol!r}")
    if not (isinstance(smoothing, int | float) and math.isfinite(smoothing) and smoothing >= 0):
        raise LabelAuditError(f"smoothing must be a finite number >= 0; got {smoothing!r}")
    core = _kernels()
    threads = _effective_n_threads(n_jobs)
    n_items, n_annotators, k = encoded.n_items, encoded.n_annotators, encoded.n_classes

    # Canonical order (item, then annotator): sums inside an item then do not
    # depend on the row order of the input table.
    item_order = np.argsort(encoded.item.astype(np.int64) * max(n_annotators, 1) + encoded.annotator)
    item_ptr = np.zeros(n_items + 1, dtype=np.intp)
    np.cumsum(np.bincount(encoded.item, minlength=n_items), out=item_ptr[1:])
    item_annotator = np.ascontiguousarray(encoded.annotator[item_order])
    item_label = np.ascontiguousarray(encoded.label[item_order])

    counts = label_counts(encoded).astype(np.float64)
    n = counts.sum(axis=1, keepdims=True)
    posterior = np.divide(counts, n, out=np.full_like(counts, 1.0 / k), where=n > 0)
    confusion = np.empty((n_annotators, k, k))
    log_confusion_t = np.empty_like(confusion)
    priors = np.empty(k)
    log_priors = np.empty(k)
    item_loglik = np.empty(n_items)
    csr = (item_ptr, item_annotator, item_label)
    core.ds_m_step(*csr, posterior, float(smoothing), confusion, log_confusion_t,
                   priors, log_priors, threads)

    history: list[float] = []
    converged = False
    previous = -math.inf
    n_ann = max(encoded.n_annotations, 1)
    for _ in range(int(max_iter)):
        total = core.ds_e_step(*csr, log_confusion_t, log_priors, posterior, item_loglik,
                               threads)
        core.ds_m_step(*csr, posterior, float(smoothing), confusion, log_confusion_t,
                       priors, log_priors, threads)
        current = total / n_ann
        history.append(current)
        if abs(current - previous) < tol:
            converged = True
            break
        previous = current

    labels = np.argmax(posterior, axis=1).astype(np.intp)
    labels[n[:, 0] == 0] = -1
    return DawidSkeneResult(
        posterior=posterior,
        labels=labels,
        priors=priors.copy(),
        confusion=confusion,
        log_likelihood=history[-1],
        history=tuple(history),
        n_iter=len(history),
        converged=converged,
    )


def crowdlab_consensus(
    encoded: EncodedAnnotations,
    pred_probs: np.ndarray,
    *,
    max_annotators: int = CROWDLAB_MAX_ANNOTATORS,
    max_cells: int = CROWDLAB_MAX_CELLS,
) -> pl.DataFrame:
    """CROWDLAB consensus and label quality via cleanlab.

    Calls ``cleanlab.multiannotator.get_label_quality_multiannotator``, which
    needs a dense items x annotators matrix; it is therefore refused above
    ``max_annotators`` annotators or ``max_cells`` matrix cells.

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.
    pred_probs : ndarray of shape (n_items, n_classes)
        Out-of-sample model probabilities, rows aligned with ``encoded.item_ids``.
    max_annotators : int, default=200
        Largest number of annotators accepted.
    max_cells : int, default=20_000_000
        Largest ``n_items * n_annotators`` accepted.

    Returns
    -------
    polars.DataFrame
        One row per annotated item: the item id column, ``crowdlab_label``
        (int), ``crowdlab_quality`` (consensus quality score) and
        ``crowdlab_agreement`` (annotator agreement with the consensus).

    Raises
    ------
    LabelAuditError
        If the matrix would be too large, ``pred_probs`` has the wrong shape,
        or cleanlab is not installed.
    """
    probs = _check_pred_probs(pred_probs, encoded)
    m = encoded.n_annotators
    annotated = np.flatnonzero(np.bincount(encoded.item, minlength=encoded.n_items) > 0)
    if m > max_annotators or annotated.size * m > max_cells:
        raise LabelAuditError(
            f"crowdlab_consensus builds a dense items x annotators matrix and allows at most "
            f"{max_annotators} annotators and {max_cells} cells; got {m} annotators x "
            f"{annotated.size} items"
        )
    try:
        from cleanlab.multiannotator import get_label_quality_multiannotator
    except ImportError as exc:  # pragma: no cover - cleanlab is a test dependency
        raise LabelAuditError("crowdlab_consensus requires cleanlab (pip install cleanlab)") from exc
    row_of = np.full(encoded.n_items, -1, dtype=np.intp)
    row_of[annotated] = np.arange(annotated.size)
    wide = np.full((annotated.size, m), np.nan)
    wide[row_of[encoded.item], encoded.annotator] = encoded.label
    try:
        out = get_label_quality_multiannotator(
            wide, probs[annotated], verbose=False, return_detailed_quality=False,
            return_annotator_stats=False,
        )
    except ValueError as exc:
        raise LabelAuditError(f"crowdlab_consensus: cleanlab rejected the input: {exc}") from exc
    quality = out["label_quality"]
    return pl.DataFrame({
        encoded.item_col: encoded.item_ids.gather(annotated),
        "crowdlab_label": quality["consensus_label"].to_numpy().astype(np.int64),
        "crowdlab_quality": quality["consensus_quality_score"].to_numpy().astype(np.float64),
        "crowdlab_agreement": quality["annotator_agreement"].to_numpy().astype(np.float64),
    })


def _check_pred_probs(pred_probs: Any, encoded: EncodedAnnotations) -> np.ndarray:
    probs = np.asarray(pred_probs)
    if probs.ndim != 2 or probs.shape != (encoded.n_items, encoded.n_classes):
        raise LabelAuditError(
            f"pred_probs must have shape (n_items, n_classes) = "
            f"({encoded.n_items}, {encoded.n_classes}) aligned with item_ids; got {probs.shape}"
        )
    if probs.dtype.kind != "f" or not np.isfinite(probs).all():
        raise LabelAuditError(f"pred_probs must be finite floats; got dtype {probs.dtype}")
    return probs


# ---------------------------------------------------------------------------
# Agreement
# ---------------------------------------------------------------------------


def percent_agreement(counts: np.ndarray) -> float:
    """Mean pairwise percent agreement over items with at least two labels.

    For an item with ``n`` labels and class counts ``c``, the share of
    agreeing annotator pairs is ``sum_k c_k (c_k - 1) / (n (n - 1))``; the
    result is its mean over items (Fleiss' ``P-bar`` for unequal rater counts).

    Parameters
    ----------
    counts : ndarray of shape (n_items, n_classes)
        Label counts per item.

    Returns
    -------
    float
        Mean agreement in [0, 1]; NaN if no item has two labels.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum(axis=1)
    keep = n >= 2
    if not keep.any():
        return float("nan")
    c, n = counts[keep], n[keep]
    return float(np.mean((c * (c - 1)).sum(axis=1) / (n * (n - 1))))


def _fleiss_rows(counts: np.ndarray, n_raters: int | None) -> tuple[np.ndarray, int]:
    n = counts.sum(axis=1)
    if n_raters is None:
        multi = n[n >= 2]
        if multi.size == 0:
            return np.zeros((0, counts.shape[1])), 0
        values, freq = np.unique(multi, return_counts=True)
        # Modal rater count; among equally common counts take the largest.
        n_raters = int(values[np.flatnonzero(freq == freq.max())[-1]])
    return counts[n == n_raters], int(n_raters)


def fleiss_kappa(counts: np.ndarray, *, n_raters: int | None = None) -> float:
    """Fleiss' kappa on the items rated by exactly ``n_raters`` annotators.

    Fleiss' kappa assumes every item has the same number of ratings.
    Crowd data rarely does, so only the items whose rating count equals
    ``n_raters`` (by default the most common count among items with at least
    two ratings; the largest such count on a tie) enter the statistic. The
    result equals ``statsmodels.stats.inter_rater.fleiss_kappa`` on that
    sub-table.

    Parameters
    ----------
    counts : ndarray of shape (n_items, n_classes)
        Label counts per item.
    n_raters : int, optional
        Rating count of the items to use.

    Returns
    -------
    float
        Kappa; NaN when undefined (no eligible item, ``n_raters < 2``, or a
        single category used throughout, where chance agreement is 1).
    """
    table, m = _fleiss_rows(np.asarray(counts, dtype=np.float64), n_raters)
    if table.shape[0] == 0 or m < 2:
        return float("nan")
    p_cat = table.sum(axis=0) / table.sum()
    p_rat = ((table * table).sum(axis=1) - m) / (m * (m - 1.0))
    p_mean = p_rat.mean()
    p_exp = (p_cat * p_cat).sum()
    if p_exp == 1.0:
        return float("nan")
    return float((p_mean - p_exp) / (1 - p_exp))


def krippendorff_alpha_nominal(counts: np.ndarray) -> float:
    """Krippendorff's alpha for nominal data with missing ratings.

    Computed from the coincidence matrix of the items x classes count table;
    items with fewer than two labels are not pairable and drop out. Equals
    ``krippendorff.alpha(..., level_of_measurement="nominal")``.

    Parameters
    ----------
    counts : ndarray of shape (n_items, n_classes)
        Label counts per item.

    Returns
    -------
    float
        Alpha; NaN when undefined (no pairable item, or a single value among
        the pairable labels). The ``krippendorff`` package raises in the
        first case and returns NaN in the second.
    """
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.sum(axis=1)
    keep = m >= 2
    if not keep.any():
        return float("nan")
    c = counts[keep]
    w = c / (m[keep] - 1.0)[:, None]
    coincidence = w.T @ c
    coincidence[np.diag_indices_from(coincidence)] -= w.sum(axis=0)
    n_c = coincidence.sum(axis=0)
    n_total = n_c.sum()
    observed = coincidence.sum() - np.trace(coincidence)
    expected = (n_total * n_total - (n_c * n_c).sum()) / (n_total - 1.0)
    if expected == 0:
        return float("nan")
    return float(1.0 - observed / expected)


def _grouped_kappa(
    group: np.ndarray, a: np.ndarray, b: np.ndarray, n_groups: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cohen's kappa between label arrays ``a`` and ``b`` within each group.

    Sparse in (group, class), so it never allocates ``n_groups x n_classes``
    per side. Returns (n, n_agree, kappa) per group; kappa follows
    scikit-learn's ``1 - sum(w * observed) / sum(w * expected)`` and is NaN
    when the expected disagreement is zero.
    """
    n = np.bincount(group, minlength=n_groups).astype(np.float64)
    agree = np.bincount(group, weights=(a == b).astype(np.float64), minlength=n_groups)
    key_a = group.astype(np.int64) * n_classes + a
    key_b = group.astype(np.int64) * n_classes + b
    ua, ca = np.unique(key_a, return_counts=True)
    ub, cb = np.unique(key_b, return_counts=True)
    common, ia, ib = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    same = np.bincount(
        common // n_classes, weights=ca[ia].astype(np.float64) * cb[ib], minlength=n_groups
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = n - same / n
        kappa = np.where((n > 0) & (expected != 0), 1.0 - (n - agree) / expected, np.nan)
    return n, agree, kappa


def _annotation_pairs(encoded: EncodedAnnotations) -> tuple[np.ndarray, ...]:
    """All pairs of annotations that share an item, annotator_a < annotator_b.

    The number of pairs is ``sum_i n_i (n_i - 1) / 2``.
    """
    order, _ = _csr(encoded.item, encoded.n_items)
    item = encoded.item[order]
    ann = encoded.annotator[order]
    lab = encoded.label[order]
    max_per_item = int(np.bincount(encoded.item).max()) if encoded.n_annotations else 0
    parts_a, parts_b, parts_la, parts_lb = [], [], [], []
    for d in range(1, max_per_item):
        same = np.flatnonzero(item[d:] == item[:-d])
        if same.size == 0:
            continue
        a1, a2 = ann[same], ann[same + d]
        l1, l2 = lab[same], lab[same + d]
        swap = a1 > a2
        parts_a.append(np.where(swap, a2, a1))
        parts_b.append(np.where(swap, a1, a2))
        parts_la.append(np.where(swap, l2, l1))
        parts_lb.append(np.where(swap, l1, l2))
    if not parts_a:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, empty, empty
    return (np.concatenate(parts_a), np.concatenate(parts_b),
            np.concatenate(parts_la), np.concatenate(parts_lb))


def pairwise_agreement(encoded: EncodedAnnotations, *, min_overlap: int = 10) -> pl.DataFrame:
    """Percent agreement and Cohen's kappa for every annotator pair.

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.
    min_overlap : int, default=10
        Pairs sharing fewer items are left out.

    Returns
    -------
    polars.DataFrame
        Columns ``<annotator_col>_a``, ``<annotator_col>_b`` (a < b in sort
        order), ``n_shared``, ``percent_agreement``, ``cohen_kappa`` (NaN when
        undefined, as scikit-learn's ``cohen_kappa_score`` default), sorted by
        the pair.

    Notes
    -----
    Pairs are enumerated item by item, so the cost is
    ``sum_i n_i (n_i - 1) / 2`` for ``n_i`` labels on item ``i``; no
    annotators x annotators or items x annotators matrix is built.
    """
    if not isinstance(min_overlap, int | np.integer) or min_overlap < 1:
        raise LabelAuditError(f"min_overlap must be a positive integer; got {min_overlap!r}")
    a, b, la, lb = _annotation_pairs(encoded)
    col = encoded.annotator_col
    schema_ids = encoded.annotator_ids.dtype
    if a.size == 0:
        return pl.DataFrame(schema={f"{col}_a": schema_ids, f"{col}_b": schema_ids,
                                    "n_shared": pl.Int64, "percent_agreement": pl.Float64,
                                    "cohen_kappa": pl.Float64})
    pair_key = a.astype(np.int64) * encoded.n_annotators + b
    keys, pair = np.unique(pair_key, return_inverse=True)
    n, agree, kappa = _grouped_kappa(pair, la, lb, keys.size, encoded.n_classes)
    keep = n >= min_overlap
    ids = encoded.annotator_ids
    return pl.DataFrame({
        f"{col}_a": ids.gather(keys[keep] // encoded.n_annotators),
        f"{col}_b": ids.gather(keys[keep] % encoded.n_annotators),
        "n_shared": n[keep].astype(np.int64),
        "percent_agreement": agree[keep] / n[keep],
        "cohen_kappa": kappa[keep],
    })


def agreement_summary(
    encoded: EncodedAnnotations,
    *,
    min_overlap: int = 10,
    counts: np.ndarray | None = None,
    pairwise: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Dataset-level agreement figures.

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.
    min_overlap : int, default=10
        Minimum shared items for a pair's Cohen's kappa to count.
    counts : ndarray, optional
        Precomputed :func:`label_counts`.
    pairwise : polars.DataFrame, optional
        Precomputed :func:`pairwise_agreement` with the same ``min_overlap``.

    Returns
    -------
    dict
        Plain Python numbers (NaN where undefined):

        - ``n_items``, ``n_annotations``, ``n_annotators``, ``n_items_multi``
          (items with >= 2 labels);
        - ``percent_agreement``: mean per-item pairwise agreement;
        - ``pairwise_agreement_pooled``: agreeing pairs / all pairs;
        - ``fleiss_kappa`` with ``fleiss_n_raters`` and ``fleiss_n_items``
          (the items used, see :func:`fleiss_kappa`);
        - ``krippendorff_alpha`` (nominal, all items);
        - ``cohen_kappa_mean`` / ``cohen_kappa_median`` over pairs with at
          least ``min_overlap`` shared items, ``n_pairs``, ``min_overlap``.
    """
    if counts is None:
        counts = label_counts(encoded)
    if pairwise is None:
        pairwise = pairwise_agreement(encoded, min_overlap=min_overlap)
    n = counts.sum(axis=1)
    c = counts.astype(np.float64)
    total_pairs = float((n * (n - 1) / 2).sum())
    agree_pairs = float((c * (c - 1) / 2).sum())
    table, m = _fleiss_rows(c, None)
    kappas = pairwise["cohen_kappa"].to_numpy()
    finite = kappas[np.isfinite(kappas)]
    return {
        "n_items": int(encoded.n_items),
        "n_annotations": int(encoded.n_annotations),
        "n_annotators": int(encoded.n_annotators),
        "n_items_multi": int((n >= 2).sum()),
        "percent_agreement": percent_agreement(counts),
        "pairwise_agreement_pooled": agree_pairs / total_pairs if total_pairs else float("nan"),
        "fleiss_kappa": fleiss_kappa(c, n_raters=m) if m >= 2 else float("nan"),
        "fleiss_n_raters": int(m),
        "fleiss_n_items": int(table.shape[0]),
        "krippendorff_alpha": krippendorff_alpha_nominal(counts),
        "cohen_kappa_mean": float(finite.mean()) if finite.size else float("nan"),
        "cohen_kappa_median": float(np.median(finite)) if finite.size else float("nan"),
        "n_pairs": int(pairwise.height),
        "min_overlap": int(min_overlap),
    }


# ---------------------------------------------------------------------------
# Statistics helpers
# ---------------------------------------------------------------------------


def wilson_interval(
    successes: np.ndarray | float, n: np.ndarray | float, *, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for binomial proportions.

    Parameters
    ----------
    successes, n : array-like
        Success counts and trial counts (broadcast together).
    alpha : float, default=0.05
        ``1 - alpha`` is the coverage (two-sided).

    Returns
    -------
    low, high : ndarray
        Interval bounds; NaN where ``n == 0``.
    """
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = stats.norm.isf(alpha / 2)
    z2 = z * z
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1 + z2 / n
        center = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
        low = np.where(n > 0, np.clip(center - half, 0, 1), np.nan)
        high = np.where(n > 0, np.clip(center + half, 0, 1), np.nan)
    return low, high


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values).

    Parameters
    ----------
    p_values : array-like of shape (n,)
        Raw p-values; NaN entries are ignored and stay NaN.

    Returns
    -------
    ndarray of shape (n,)
        Adjusted values, monotone in ``p`` and capped at 1.
    """
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    scaled = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return q


def _one_sided_two_proportion(x1, n1, x2, n2) -> np.ndarray:
    """P-value of H1: p1 < p2 with the pooled two-proportion z-test."""
    x1, n1, x2, n2 = (np.asarray(v, dtype=np.float64) for v in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (x1 / n1 - x2 / n2) / se
        p = stats.norm.cdf(z)
    p = np.where((n1 > 0) & (n2 > 0) & (se == 0), 1.0, p)
    return np.where((n1 > 0) & (n2 > 0), p, np.nan)


def _chi_square_p(own: np.ndarray, peers: np.ndarray) -> np.ndarray:
    """Row-wise chi-square homogeneity p-value of 2 x K tables (own vs peers).

    Columns empty in both rows are dropped; NaN when a row is empty or fewer
    than two columns remain. Matches ``scipy.stats.chi2_contingency(...,
    correction=False)``.
    """
    own = own.astype(np.float64)
    peers = peers.astype(np.float64)
    col = own + peers
    used = col > 0
    n_own, n_peers = own.sum(axis=1), peers.sum(axis=1)
    total = n_own + n_peers
    with np.errstate(invalid="ignore", divide="ignore"):
        e_own = n_own[:, None] * col / total[:, None]
        e_peers = n_peers[:, None] * col / total[:, None]
        terms = np.where(used, (own - e_own) ** 2 / e_own + (peers - e_peers) ** 2 / e_peers, 0.0)
    stat = terms.sum(axis=1)
    dof = used.sum(axis=1) - 1
    p = stats.chi2.sf(stat, np.maximum(dof, 1))
    return np.where((dof >= 1) & (n_own > 0) & (n_peers > 0), p, np.nan)


# ---------------------------------------------------------------------------
# Leave-one-out grading
# ---------------------------------------------------------------------------


def leave_one_out_consensus(
    encoded: EncodedAnnotations,
    *,
    counts: np.ndarray | None = None,
    n_jobs: int | None = None,
) -> pl.DataFrame:
    """Grade every annotation against the majority of the *other* annotators.

    The annotation's own label is removed from its item's counts before the
    mode is taken, so an annotator never votes on its own grade. An
    annotation is *graded* when at least one other annotator labelled the
    item and the others' mode is unique; otherwise it is left ungraded
    (a tie among the others cannot be broken without bias).

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.
    counts : ndarray, optional
        Precomputed :func:`label_counts`.
    n_jobs : int, optional
        Threads for the kernel; results do not depend on it.

    Returns
    -------
    polars.DataFrame
        One row per annotation in input order: ``item`` and ``annotator``
        (integer codes), ``label``, ``loo_label`` (-1 if nobody else labelled
        the item), ``n_others``, ``loo_tie``, ``graded``, ``correct``.
    """
    core = _kernels()
    if counts is None:
        counts = label_counts(encoded)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    n = encoded.n_annotations
    loo = np.empty(n, dtype=np.intp)
    n_others = np.empty(n, dtype=np.int64)
    tie = np.empty(n, dtype=np.uint8)
    core.ds_leave_one_out_mode(encoded.item, encoded.label, counts, loo, n_others, tie,
                               _effective_n_threads(n_jobs))
    graded = (n_others > 0) & (tie == 0)
    return pl.DataFrame({
        "item": encoded.item.astype(np.int64),
        "annotator": encoded.annotator.astype(np.int64),
        "label": encoded.label.astype(np.int64),
        "loo_label": loo.astype(np.int64),
        "n_others": n_others,
        "loo_tie": tie.astype(bool),
        "graded": graded,
        "correct": graded & (encoded.label == loo),
    })


# ---------------------------------------------------------------------------
# Review
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnotatorReview:
    """Everything :func:`review_annotators` computes. Plain data.

    Attributes
    ----------
    annotators : polars.DataFrame
        One row per annotator (see :func:`review_annotators` for columns).
    consensus : polars.DataFrame
        One row per item.
    agreement : dict
        Dataset-level agreement figures (see :func:`agreement_summary`).
    pairwise : polars.DataFrame
        Per-pair agreement and Cohen's kappa (see :func:`pairwise_agreement`).
    relabel_queue : polars.DataFrame
        Items ranked by the value of another label, most valuable first.
    confusions : polars.DataFrame
        Systematic confusions per annotator against the leave-one-out consensus.
    time_windows : polars.DataFrame or None
        Quality per annotator and time window; None without a time column.
    dawid_skene : DawidSkeneResult
        The fitted Dawid-Skene model.
    classes : tuple
        Class names or values, indexed by class code.
    params : dict
        Parameters used, for the record.
    """

    annotators: pl.DataFrame
    consensus: pl.DataFrame
    agreement: dict
    pairwise: pl.DataFrame
    relabel_queue: pl.DataFrame
    confusions: pl.DataFrame
    time_windows: pl.DataFrame | None
    dawid_skene: DawidSkeneResult
    classes: tuple
    params: dict = field(default_factory=dict)


def _per_item_array(value: Any, encoded: EncodedAnnotations, name: str, kind: str) -> np.ndarray:
    arr = value.to_numpy() if isinstance(value, pl.Series) else np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != encoded.n_items:
        raise LabelAuditError(
            f"{name} must be 1-D with one entry per item in item_ids ({encoded.n_items}); "
            f"got shape {arr.shape}"
        )
    if kind == "bool":
        if arr.dtype != np.bool_:
            raise LabelAuditError(f"{name} must be boolean; got dtype {arr.dtype}")
        return arr
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise LabelAuditError(f"{name} must be finite; position {bad} is {arr[bad]}")
    return arr


def _issue_mask_from_column(annotations: pl.DataFrame, col: str, encoded: EncodedAnnotations) -> np.ndarray:
    _require_column(annotations, col, "issue_mask")
    flags = annotations[col]
    if flags.dtype != pl.Boolean or flags.null_count():
        raise InputError(f"annotations: column {col!r} (issue_mask) must be Boolean without nulls; got {flags.dtype}")
    values = flags.to_numpy()
    per_item = np.bincount(encoded.item, weights=values, minlength=encoded.n_items)
    n = np.bincount(encoded.item, minlength=encoded.n_items)
    mixed = np.flatnonzero((per_item > 0) & (per_item < n))
    if mixed.size:
        raise InputError(
            f"annotations: column {col!r} (issue_mask) must be constant within an item; "
            f"item {encoded.item_ids[int(mixed[0])]!r} has both values"
        )
    return per_item > 0


def _confusion_table(
    encoded: EncodedAnnotations, loo: pl.DataFrame, *, min_count: int, top: int
) -> pl.DataFrame:
    """Top systematic confusions per annotator against the leave-one-out consensus."""
    names = encoded.class_names
    graded = loo.filter(pl.col("graded"))
    cells = graded.group_by(["annotator", "loo_label", "label"]).agg(pl.len().alias("n"))
    row_tot = graded.group_by(["annotator", "loo_label"]).agg(pl.len().alias("n_true"))
    all_cells = graded.group_by(["loo_label", "label"]).agg(pl.len().alias("all_n"))
    all_rows = graded.group_by("loo_label").agg(pl.len().alias("all_true"))
    table = (
        cells.join(row_tot, on=["annotator", "loo_label"])
        .join(all_cells, on=["loo_label", "label"])
        .join(all_rows, on="loo_label")
        .filter(pl.col("label") != pl.col("loo_label"))
        .with_columns(
            rate=pl.col("n") / pl.col("n_true"),
            peer_rate=pl.when(pl.col("all_true") > pl.col("n_true"))
            .then((pl.col("all_n") - pl.col("n")) / (pl.col("all_true") - pl.col("n_true")))
            .otherwise(None),
        )
        .with_columns(excess=pl.col("rate") - pl.col("peer_rate").fill_null(0.0))
        .filter((pl.col("n") >= min_count) & (pl.col("excess") > 0))
        .sort(["annotator", "excess", "n", "loo_label", "label"],
              descending=[False, True, True, False, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("annotator"))
        .filter(pl.col("rank") <= top)
    )
    true_names = [names[i] for i in table["loo_label"].to_list()]
    given_names = [names[i] for i in table["label"].to_list()]
    desc = []
    for tn, gn, rate, peer in zip(true_names, given_names, table["rate"].to_list(),
                                  table["peer_rate"].to_list(), strict=True):
        peers = "no peers" if peer is None else f"peers {peer:.0%}"
        desc.append(f"labels '{tn}' as '{gn}' {rate:.0%} of the time, {peers}")
    ids = encoded.annotator_ids.gather(table["annotator"].to_numpy())
    return pl.DataFrame({
        encoded.annotator_col: ids,
        "rank": table["rank"].cast(pl.Int64),
        "true_label": table["loo_label"].cast(pl.Int64),
        "true_class": pl.Series(true_names, dtype=pl.String),
        "given_label": table["label"].cast(pl.Int64),
        "given_class": pl.Series(given_names, dtype=pl.String),
        "n": table["n"].cast(pl.Int64),
        "n_true": table["n_true"].cast(pl.Int64),
        "rate": table["rate"].cast(pl.Float64),
        "peer_rate": table["peer_rate"].cast(pl.Float64),
        "excess": table["excess"].cast(pl.Float64),
        "description": pl.Series(desc, dtype=pl.String),
    })


def review_annotators(
    annotations: pl.DataFrame,
    *,
    item_col: str,
    annotator_col: str,
    label_col: str,
    time_col: str | None = None,
    classes: Sequence[Any] | None = None,
    pred_probs: np.ndarray | None = None,
    item_ids: Sequence[Any] | pl.Series | np.ndarray | None = None,
    issue_mask: np.ndarray | pl.Series | str | None = None,
    label_quality: np.ndarray | pl.Series | None = None,
    min_overlap: int = 10,
    alpha: float = 0.05,
    seed: int = 0,
    consensus_method: ConsensusMethod | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
    time_window: str = "1w",
    min_confusion_count: int = 5,
    n_jobs: int | None = None,
) -> AnnotatorReview:
    """Review annotators: consensus, agreement, per-annotator quality, relabel queue.

    Parameters
    ----------
    annotations : polars.DataFrame
        Long table, one row per annotation.
    item_col, annotator_col, label_col : str
        Column names of the item id, annotator id and label.
    time_col : str, optional
        ``Date``/``Datetime`` column; enables the per-window quality table.
    classes : sequence, optional
        Class names (labels are codes into it, or values found in it). When
        omitted the sorted distinct labels are the classes.
    pred_probs : ndarray of shape (n_items, n_classes), optional
        Out-of-sample model probabilities aligned with ``item_ids``; enables
        CROWDLAB (when the annotator count allows, see
        :func:`crowdlab_consensus`).
    item_ids : sequence, optional
        Item order of ``pred_probs``, ``issue_mask`` and ``label_quality``,
        and of the consensus table. Defaults to the sorted annotated items.
    issue_mask : ndarray, polars.Series or str, optional
        Per-item boolean flag from confident learning (aligned with
        ``item_ids``), or the name of a Boolean column of ``annotations``
        that is constant within each item.
    label_quality : ndarray, optional
        Per-item label quality in [0, 1] (aligned with ``item_ids``) used by
        the relabel queue.
    min_overlap : int, default=10
        Minimum shared items for a pairwise Cohen's kappa.
    alpha : float, default=0.05
        False discovery rate for flagging annotators; Wilson intervals have
        coverage ``1 - alpha``.
    seed : int, default=0
        Recorded in ``params``. Every step is deterministic, so no random
        numbers are drawn today.
    consensus_method : {"dawid_skene", "majority", "crowdlab"}, optional
        Which consensus fills ``consensus_label``. Default: ``"crowdlab"``
        when ``pred_probs`` is given and CROWDLAB ran, else ``"dawid_skene"``.
    max_iter, tol, smoothing : optional
        Dawid-Skene options (see :func:`dawid_skene`).
    time_window : str, default="1w"
        Window length as a polars duration string (``"1d"``, ``"1w"``, ``"1mo"``).
    min_confusion_count : int, default=5
        Minimum count for a confusion to be reported.
    n_jobs : int, optional
        Threads for the compiled kernels; results do not depend on it.

    Returns
    -------
    AnnotatorReview
        ``annotators`` columns: the annotator id, ``n_labels``, ``n_graded``
        (labels graded against the leave-one-out majority), ``n_agree``,
        ``accuracy`` with ``accuracy_low``/``accuracy_high`` (Wilson),
        ``peer_accuracy`` (all other annotators pooled), ``kappa_vs_consensus``,
        ``ds_accuracy`` and ``ds_confusion`` (K x K, rows = true class),
        ``top_confusions`` (text), ``label_dist_p_value`` (chi-square of own
        labels vs other annotators' labels on the same items),
        ``n_issue_items``/``issue_rate``/``issue_share`` (with
        ``issue_mask``), and ``p_value``, ``q_value``, ``flagged``.

        ``consensus`` columns: the item id, ``n_annotations``,
        ``single_annotation``, ``majority_label``, ``majority_share``, ``tie``,
        ``ds_label``, ``ds_posterior``, optional ``crowdlab_label``/
        ``crowdlab_quality``, ``consensus_label``, ``consensus_class``,
        ``consensus_quality``, ``consensus_method``.

    Notes
    -----
    *Accuracy* is agreement with the majority of the other annotators on the
    same item (leave-one-out); items where the others tie are not graded.
    An annotator is flagged when a one-sided pooled two-proportion z-test
    says its accuracy is below that of all other annotators pooled, after
    Benjamini-Hochberg correction at ``alpha`` across annotators.

    Majority-vote ties are broken by the Dawid-Skene posterior, then by the
    lowest class index; ``tie`` marks them.

    In ``confusions`` (and ``top_confusions``), the rate is the share of the
    annotator's graded labels on items whose leave-one-out consensus is the
    true class that carry the given class; ``peer_rate`` is the same share
    over all other annotators' graded labels pooled. Only confusions seen at
    least ``min_confusion_count`` times and above the peer rate are listed
    (top three per annotator).

    ``label_dist_p_value`` is an asymptotic chi-square test (no continuity
    correction) and is approximate for annotators with few labels.

    Memory stays linear in the number of annotations except for the
    ``n_annotators x K x K`` confusion matrices, the ``n_items x K`` count and
    posterior tables, and the annotation pairs sharing an item
    (``sum_i n_i (n_i - 1) / 2``) used for pairwise kappa.
    """
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise LabelAuditError(f"alpha must be in (0, 1); got {alpha!r}")
    if not isinstance(min_confusion_count, int) or min_confusion_count < 1:
        raise LabelAuditError(f"min_confusion_count must be a positive integer; got {min_confusion_count!r}")
    if consensus_method not in (None, "dawid_skene", "majority", "crowdlab"):
        raise LabelAuditError(
            f"consensus_method must be 'dawid_skene', 'majority' or 'crowdlab'; got {consensus_method!r}"
        )
    if consensus_method == "crowdlab" and pred_probs is None:
        raise LabelAuditError("consensus_method='crowdlab' requires pred_probs")
    enc = encode_annotations(
        annotations, item_col=item_col, annotator_col=annotator_col, label_col=label_col,
        time_col=time_col, classes=classes, item_ids=item_ids,
    )
    issues = None
    if isinstance(issue_mask, str):
        issues = _issue_mask_from_column(annotations, issue_mask, enc)
    elif issue_mask is not None:
        issues = _per_item_array(issue_mask, enc, "issue_mask", "bool")
    quality_in = None
    if label_quality is not None:
        quality_in = _per_item_array(label_quality, enc, "label_quality", "float")
    probs = _check_pred_probs(pred_probs, enc) if pred_probs is not None else None

    k = enc.n_classes
    counts = label_counts(enc)
    ds = dawid_skene(enc, max_iter=max_iter, tol=tol, smoothing=smoothing, n_jobs=n_jobs)
    mv = majority_vote(counts, tie_break=ds.posterior)
    n_ann_item = mv.n_annotations

    # --- consensus table ---------------------------------------------------
    ds_post = ds.posterior[np.arange(enc.n_items), np.maximum(ds.labels, 0)]
    ds_post = np.where(ds.labels >= 0, ds_post, np.nan)
    crowd = None
    if probs is not None:
        m = enc.n_annotators
        if m <= CROWDLAB_MAX_ANNOTATORS and enc.n_items * m <= CROWDLAB_MAX_CELLS:
            crowd = crowdlab_consensus(enc, probs)
        elif consensus_method != "crowdlab":
            warnings.warn(
                f"CROWDLAB skipped: it needs a dense items x annotators matrix and allows at most "
                f"{CROWDLAB_MAX_ANNOTATORS} annotators and {CROWDLAB_MAX_CELLS} cells; got {m} "
                f"annotators x {enc.n_items} items",
                LabelAuditWarning,
                stacklevel=2,
            )
        else:
            raise LabelAuditError(
                f"consensus_method='crowdlab' allows at most {CROWDLAB_MAX_ANNOTATORS} annotators "
                f"and {CROWDLAB_MAX_CELLS} items x annotators cells; got {m} annotators x "
                f"{enc.n_items} items"
            )
    method = consensus_method or ("crowdlab" if crowd is not None else "dawid_skene")

    consensus = pl.DataFrame({
        enc.item_col: enc.item_ids,
        "n_annotations": n_ann_item,
        "single_annotation": n_ann_item == 1,
        "majority_label": mv.labels.astype(np.int64),
        "majority_share": mv.share,
        "tie": mv.tie,
        "ds_label": ds.labels.astype(np.int64),
        "ds_posterior": ds_post,
    }).with_columns(
        pl.col("majority_label", "ds_label").replace(-1, None),
    )
    if crowd is not None:
        consensus = consensus.join(crowd.select(enc.item_col, "crowdlab_label", "crowdlab_quality"),
                                   on=enc.item_col, how="left", maintain_order="left")
    label_col_name, quality_col_name = {
        "dawid_skene": ("ds_label", "ds_posterior"),
        "majority": ("majority_label", "majority_share"),
        "crowdlab": ("crowdlab_label", "crowdlab_quality"),
    }[method]
    consensus = consensus.with_columns(
        consensus_label=pl.col(label_col_name).cast(pl.Int64),
        consensus_quality=pl.col(quality_col_name).cast(pl.Float64),
        consensus_method=pl.lit(method),
    ).with_columns(
        consensus_class=pl.col("consensus_label").replace_strict(
            old=list(range(k)), new=enc.class_names, default=None, return_dtype=pl.String
        ),
    )
    if quality_in is not None:
        consensus = consensus.with_columns(label_quality=pl.Series(quality_in))
    if issues is not None:
        consensus = consensus.with_columns(is_issue=pl.Series(issues))

    # --- agreement ---------------------------------------------------------
    pairwise = pairwise_agreement(enc, min_overlap=min_overlap)
    agreement = agreement_summary(enc, min_overlap=min_overlap, counts=counts, pairwise=pairwise)

    # --- per annotator -----------------------------------------------------
    m = enc.n_annotators
    loo = leave_one_out_consensus(enc, counts=counts, n_jobs=n_jobs)
    graded = loo["graded"].to_numpy()
    correct = loo["correct"].to_numpy()
    ann = enc.annotator
    n_labels = np.bincount(ann, minlength=m)
    n_graded = np.bincount(ann, weights=graded, minlength=m)
    n_agree = np.bincount(ann, weights=correct, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_graded > 0, n_agree / n_graded, np.nan)
        peer_accuracy = (n_agree.sum() - n_agree) / (n_graded.sum() - n_graded)
    low, high = wilson_interval(n_agree, n_graded, alpha=alpha)
    g_idx = np.flatnonzero(graded)
    _, _, kappa_cons = _grouped_kappa(ann[g_idx], enc.label[g_idx],
                                      loo["loo_label"].to_numpy()[g_idx].astype(np.intp), m, k)

    own = np.zeros((m, k))
    np.add.at(own, (ann, enc.label), 1.0)
    seen = np.empty((m, k))
    for c in range(k):
        seen[:, c] = np.bincount(ann, weights=counts[enc.item, c], minlength=m)
    label_p = _chi_square_p(own, seen - own)

    p_value = _one_sided_two_proportion(n_agree, n_graded, n_agree.sum() - n_agree,
                                        n_graded.sum() - n_graded)
    q_value = benjamini_hochberg(p_value)
    flagged = np.nan_to_num(q_value, nan=1.0) <= alpha

    confusions = _confusion_table(enc, loo, min_count=min_confusion_count, top=3)
    top_text = (
        confusions.group_by(enc.annotator_col, maintain_order=True)
        .agg(pl.col("description").str.join("; ").alias("top_confusions"))
    )
    annotators = pl.DataFrame({
        enc.annotator_col: enc.annotator_ids,
        "n_labels": n_labels.astype(np.int64),
        "n_graded": n_graded.astype(np.int64),
        "n_agree": n_agree.astype(np.int64),
        "accuracy": accuracy,
        "accuracy_low": low,
        "accuracy_high": high,
        "peer_accuracy": peer_accuracy,
        "kappa_vs_consensus": kappa_cons,
        "ds_accuracy": ds.annotator_accuracy,
        "ds_confusion": pl.Series(ds.confusion),
        "label_dist_p_value": label_p,
    })
    annotators = annotators.join(top_text, on=enc.annotator_col, how="left", maintain_order="left")
    if issues is not None:
        n_issue = np.bincount(ann, weights=issues[enc.item], minlength=m)
        total_issues = float(issues[n_ann_item > 0].sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            annotators = annotators.with_columns(
                n_issue_items=pl.Series(n_issue.astype(np.int64)),
                issue_rate=pl.Series(np.where(n_labels > 0, n_issue / n_labels, np.nan)),
                issue_share=pl.Series(n_issue / total_issues if total_issues else np.full(m, np.nan)),
            )
    annotators = annotators.with_columns(
        p_value=pl.Series(p_value), q_value=pl.Series(q_value), flagged=pl.Series(flagged),
    )

    # --- time windows ------------------------------------------------------
    windows = None
    if enc.time is not None:
        windows = _time_windows(enc, graded, correct, every=time_window, alpha=alpha)

    # --- relabel queue -----------------------------------------------------
    queue = _relabel_queue(consensus, enc, quality_in, crowd is not None)

    params = {
        "item_col": item_col, "annotator_col": annotator_col, "label_col": label_col,
        "time_col": time_col, "min_overlap": int(min_overlap), "alpha": float(alpha),
        "seed": int(seed), "consensus_method": method, "max_iter": int(max_iter),
        "tol": float(tol), "smoothing": float(smoothing), "time_window": time_window,
        "min_confusion_count": int(min_confusion_count), "ds_n_iter": ds.n_iter,
        "ds_converged": ds.converged,
    }
    return AnnotatorReview(
        annotators=annotators, consensus=consensus, agreement=agreement, pairwise=pairwise,
        relabel_queue=queue, confusions=confusions, time_windows=windows, dawid_skene=ds,
        classes=enc.classes, params=params,
    )


def _time_windows(
    enc: EncodedAnnotations, graded: np.ndarray, correct: np.ndarray, *, every: str, alpha: float
) -> pl.DataFrame:
    """Leave-one-out accuracy per annotator and time window (long table)."""
    frame = pl.DataFrame({
        "annotator": enc.annotator.astype(np.int64),
        "time": enc.time,
        "graded": graded,
        "correct": correct,
    }).drop_nulls("time")
    try:
        frame = frame.with_columns(window_start=pl.col("time").dt.truncate(every))
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise LabelAuditError(
            f"time_window must be a polars duration string such as '1d', '1w' or '1mo'; got {every!r}"
        ) from exc
    agg = (
        frame.group_by(["annotator", "window_start"])
        .agg(
            n_labels=pl.len(),
            n_graded=pl.col("graded").sum(),
            n_agree=pl.col("correct").sum(),
        )
        .sort(["annotator", "window_start"])
    )
    x = agg["n_agree"].to_numpy().astype(np.float64)
    n = agg["n_graded"].to_numpy().astype(np.float64)
    low, high = wilson_interval(x, n, alpha=alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, x / n, np.nan)
    return pl.DataFrame({
        enc.annotator_col: enc.annotator_ids.gather(agg["annotator"].to_numpy()),
        "window_start": agg["window_start"],
        "n_labels": agg["n_labels"].cast(pl.Int64),
        "n_graded": agg["n_graded"].cast(pl.Int64),
        "n_agree": agg["n_agree"].cast(pl.Int64),
        "accuracy": acc,
        "accuracy_low": low,
        "accuracy_high": high,
    })


def _relabel_queue(
    consensus: pl.DataFrame, enc: EncodedAnnotations, quality_in: np.ndarray | None, has_crowdlab: bool
) -> pl.DataFrame:
    """Rank items by how much one more label would help.

    The priority is the mean of the available terms, each in [0, 1]:
    ``1 - ds_posterior`` (the model's probability that the Dawid-Skene label
    is wrong), ``1 - majority_share`` (disagreement; 0 for single labels) and
    ``1 - label_quality`` (given, else CROWDLAB's quality when it ran).
    Unannotated items get priority 1. Ties go to fewer annotations, then
    item order.
    """
    terms = [1.0 - pl.col("ds_posterior"), 1.0 - pl.col("majority_share")]
    lq = None
    if quality_in is not None:
        lq = pl.col("label_quality")
    elif has_crowdlab:
        lq = pl.col("crowdlab_quality")
    if lq is not None:
        terms.append(1.0 - lq.clip(0.0, 1.0))
    priority = pl.mean_horizontal(terms).fill_null(1.0).fill_nan(1.0)
    reasons = [
        pl.when(pl.col("n_annotations") == 0).then(pl.lit("no annotations")),
        pl.when(pl.col("n_annotations") == 1).then(pl.lit("single annotation")),
        pl.when(pl.col("tie")).then(pl.lit("tied vote")),
        pl.when((pl.col("majority_share") < 1.0) & ~pl.col("tie"))
        .then(pl.format("annotators disagree ({}% agree)", (pl.col("majority_share") * 100).round(0))),
        pl.when(pl.col("ds_posterior") < 0.9)
        .then(pl.format("uncertain consensus (p={})", pl.col("ds_posterior").round(2))),
    ]
    if lq is not None:
        reasons.append(pl.when(lq < 0.5).then(pl.lit("low label quality")))
    cols = [enc.item_col, "n_annotations", "consensus_label", "consensus_class",
            "consensus_quality", "ds_posterior", "majority_share", "tie"]
    if quality_in is not None:
        cols.append("label_quality")
    elif has_crowdlab:
        cols.append("crowdlab_quality")
    if "is_issue" in consensus.columns:
        cols.append("is_issue")
    queue = (
        consensus.with_row_index("__order")
        .with_columns(priority=priority, reason=pl.concat_str(reasons, separator="; ", ignore_nulls=True))
        .sort(["priority", "n_annotations", "__order"], descending=[True, False, False])
        .with_row_index("rank", offset=1)
        .select(["rank", *cols, "priority", "reason"])
        .with_columns(pl.col("rank").cast(pl.Int64))
    )
    return queue
