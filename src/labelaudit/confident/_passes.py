"""Kernel plumbing shared by the in-memory and the chunked (dask) backends.

Everything here works on one block of rows that is already validated for
layout (C-contiguous float32/float64 probabilities, ``intp`` labels in
``0..K-1``): the per-class thresholds, the fused row pass of
:mod:`labelaudit._core` (validation, confident counts, guesses, scores), the
exact top-m selection of the pruning filters and the small merges around
them. The public modules (:mod:`.count`, :mod:`.filter`, :mod:`.rank`,
:mod:`.noise`) call it on the whole matrix; :mod:`._dask` calls it on each
chunk and merges the pieces, so both give the same answers.

The score methods are registered here (:data:`SCORES`), since the kernel's
fused scores are part of the row pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._core import gather_by_label, merge_heaps, n_bad_kinds, select_top, sort_heaps
from .._core import given_label_wins as _given_label_wins_kernel
from .._core import row_argmax as _row_argmax_kernel
from .._core import row_pass as _row_pass_kernel
from .._threads import effective_n_threads, resolve_chunk_size
from .._validation import (
    RANGE_TOLERANCE,
    ROW_SUM_TOLERANCE,
    check_labels,
    check_pred_probs,
    is_float16,
    raise_for_bad_rows,
)
from ..exceptions import LabelAuditError
from ._latent import round_preserving_row_totals

N_BAD = n_bad_kinds()
BIG_THRESHOLD = 2  # threshold of a class nobody is labelled with: never reached
_DENSE_PAIRS_MAX = 1 << 22  # K x K bars per thread up to K = 2048 (16-32 MiB)


def is_dask_array(x) -> bool:
    """True for a ``dask.array.Array`` (checked without importing dask)."""
    return hasattr(x, "__dask_graph__") and hasattr(x, "chunks") and hasattr(x, "ndim")


# ---------------------------------------------------------------------------
# Score methods
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreSpec:
    """How one label quality score is computed.

    Attributes
    ----------
    name : str
        The ``method`` name users pass.
    function : callable or None
        ``function(labels, pred_probs) -> scores`` (one float per row, higher
        means the given label is more likely right) for a score computed in
        Python on validated inputs; None for the kernel's fused scores.
    kind : int
        Kernel score kind (0 for a Python score).
    adjusted_kind : int or None
        Kernel kind with ``adjust_pred_probs=True``; None when the score does
        not support the adjustment.
    strict_unit_interval : bool
        Values must lie in [0, 1] exactly (the entropy needs it).
    """

    name: str
    function: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    kind: int = 0
    adjusted_kind: int | None = None
    strict_unit_interval: bool = False


#: Registered score methods by name. Add one with :func:`register_score`.
SCORES: dict[str, ScoreSpec] = {}


def register_score(name: str, function=None, *, kind: int = 0, adjusted_kind: int | None = None,
                   strict_unit_interval: bool = False) -> ScoreSpec:
    """Register a label quality score under ``name`` and return its spec.

    Parameters
    ----------
    name : str
        Method name for :func:`labelaudit.get_label_quality_scores` and
        ``return_indices_ranked_by``.
    function : callable, optional
        ``function(labels, pred_probs) -> ndarray of shape (n_samples,)``,
        called on validated inputs (``intp`` labels, C-contiguous float32 or
        float64 probabilities whose rows are probability vectors). It must be
        row-wise (a row's score depends on that row only), so chunked inputs
        give the same scores. Required unless ``kind`` names a kernel score.
    kind, adjusted_kind, strict_unit_interval
        Kernel wiring of the built-in scores (see :class:`ScoreSpec`).

    Returns
    -------
    ScoreSpec
    """
    if not isinstance(name, str) or not name:
        raise LabelAuditError(f"a score needs a non-empty name, got {name!r}.")
    if name in SCORES:
        raise LabelAuditError(f"score {name!r} is already registered.")
    if function is None and kind == 0:
        raise LabelAuditError(f"score {name!r} needs a function (or a kernel kind).")
    spec = ScoreSpec(name, function, kind, adjusted_kind, strict_unit_interval)
    SCORES[name] = spec
    return spec


register_score("self_confidence", kind=1, adjusted_kind=4)
register_score("normalized_margin", kind=2, adjusted_kind=5)
register_score("confidence_weighted_entropy", kind=3, strict_unit_interval=True)


def score_spec(method, *, parameter: str = "method") -> ScoreSpec:
    """The registered :class:`ScoreSpec` of ``method``; the error lists what is registered."""
    spec = SCORES.get(method) if isinstance(method, str) else None
    if spec is None:
        choices = ", ".join(SCORES)
        if parameter == "return_indices_ranked_by":
            choices = f"None or one of {choices}"
        else:
            choices = f"one of {choices}"
        raise LabelAuditError(f"`{parameter}` must be {choices}, got {method!r}.")
    return spec


def check_adjustable(spec: ScoreSpec, adjust_pred_probs: bool) -> None:
    """Refuse ``adjust_pred_probs=True`` for a score that does not support it."""
    if adjust_pred_probs and spec.adjusted_kind is None:
        raise LabelAuditError(
            f"`adjust_pred_probs=True` is not supported for method={spec.name!r}."
        )


def adjust_vector(thresholds) -> np.ndarray:
    """The thresholds ``t`` of the threshold-adjusted scores, in their own dtype.

    The adjusted probabilities are ``(p - t) + max(t)``, row-normalised,
    computed by :func:`adjusted_scores` in the dtype numpy gives ``p - t``
    (float32 when ``p`` and ``t`` are float32, float64 when a class nobody is
    labelled with made ``t`` float64), in that order of operations, so the
    scores are cleanlab's bit for bit.
    """
    return np.ascontiguousarray(np.asarray(thresholds))


#: Rows per block of :func:`adjusted_scores` times K (bounds its temporaries to a few MiB).
_ADJUST_BLOCK = 1 << 19


def adjusted_scores(labels, pred_probs, spec: ScoreSpec, thresholds) -> np.ndarray:
    """Threshold-adjusted scores, block by block, with cleanlab's operations in its order.

    Per row: ``a = p - t; a += max(t); a /= a.sum()``; then the score
    (``self_confidence``: ``a[label]``; ``normalized_margin``:
    ``(a[label] - max_other(a) + 1) / 2``). Each row's arithmetic depends on
    that row only, so blocks (and dask chunks) give the same values.
    """
    thresholds = np.asarray(thresholds)
    n, k = pred_probs.shape
    rows_per_block = max(1, _ADJUST_BLOCK // max(k, 1))
    top = thresholds.max()
    parts = []
    for start in range(0, n, rows_per_block):
        block = np.asarray(pred_probs[start:start + rows_per_block])
        if is_float16(pred_probs):
            block = block.astype(np.float16)
        lab = labels[start:start + block.shape[0]]
        idx = np.arange(block.shape[0])
        adj = block - thresholds
        adj += top
        adj /= adj.sum(axis=1, keepdims=True)
        given = adj[idx, lab]
        if spec.name == "self_confidence":
            parts.append(given)
            continue
        adj[idx, lab] = -np.inf
        parts.append((given - adj.max(axis=1) + 1) / 2)
    if not parts:
        return np.empty(0, dtype=np.result_type(pred_probs.dtype, thresholds.dtype))
    return np.concatenate(parts)


def keep_float32_adjusted(scores, dtype, counts):
    """cleanlab keeps adjusted scores in float32 when every class has items (float32 thresholds)."""
    if scores.dtype == np.float16:  # float16 input: cleanlab's float16 arithmetic, kept
        return scores
    if dtype == np.float32 and np.all(counts > 0):
        return scores.astype(np.float32)
    return scores


def score_rows(labels, pred_probs, spec: ScoreSpec, adjust=None, *, n_jobs=None, chunk_size=None,
               row_offset: int = 0, check: bool = True) -> np.ndarray:
    """One score per row of a validated block, fused into a row pass when the kernel has it."""
    if spec.function is None:
        return row_pass(labels, pred_probs, score=spec, adjust=adjust, n_jobs=n_jobs,
                        chunk_size=chunk_size, row_offset=row_offset, check=check).score
    if check:
        row_pass(labels, pred_probs, n_jobs=n_jobs, chunk_size=chunk_size, row_offset=row_offset)
    scores = np.asarray(spec.function(labels, pred_probs))
    if scores.shape != (pred_probs.shape[0],):
        raise LabelAuditError(
            f"score {spec.name!r} returned shape {scores.shape}, expected ({pred_probs.shape[0]},)."
        )
    return scores


# ---------------------------------------------------------------------------
# Row passes
# ---------------------------------------------------------------------------

def binary_probs(x: np.ndarray) -> np.ndarray:
    """``[1 - x, x]`` as a C-contiguous (n, 2) matrix in the dtype of ``x``: the
    probabilities of one class's yes/no problem in multi-label data."""
    probs = np.empty((x.shape[0], 2), dtype=x.dtype)
    probs[:, 1] = x
    np.subtract(x.dtype.type(1), x, out=probs[:, 0])
    return probs


def prepare(labels, pred_probs, *, validated: bool = False):
    """Labels as ``intp`` and probabilities as a C-contiguous float matrix, checked.

    ``validated=True`` trusts inputs that one validation pass already checked
    (``intp`` labels in range, C-contiguous float32/float64 probabilities).
    """
    if validated:
        return labels, pred_probs
    pred_probs = check_pred_probs(pred_probs)
    n, k = pred_probs.shape
    labels = check_labels(labels, n, k)
    return labels, pred_probs


def class_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Items given each label (int64, one per class)."""
    return np.bincount(labels, minlength=n_classes).astype(np.int64)


def thresholds_from_counts(labels, pred_probs, counts) -> np.ndarray:
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
    gather_by_label(pred_probs, labels, offsets, grouped)
    if is_float16(pred_probs):
        grouped = grouped.astype(np.float16)  # exact; the means round as cleanlab's do
    values = [
        np.mean(grouped[offsets[k]:offsets[k + 1]]) if counts[k] > 0 else BIG_THRESHOLD
        for k in range(n_classes)
    ]
    return np.clip(values, a_min=2e-6, a_max=None)


def cut_points(thresholds, n_classes: int, dtype) -> np.ndarray:
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
class PassResult:
    counts: np.ndarray | None = None       # (K, K) raw confident counts
    guess: np.ndarray | None = None        # (n,) int32 confident guess, -1 if none
    keep: np.ndarray | None = None         # (n,) uint8, given label wins bumped argmax
    score: np.ndarray | None = None        # (n,) label quality score
    extra: dict = field(default_factory=dict)


def row_pass(labels, pred_probs, *, cut=None, want_guess=False, want_keep=False,
             want_other=False, score: ScoreSpec | None = None, adjust=None, n_jobs=None,
             chunk_size=None, row_offset=0, check=True) -> PassResult:
    """Run the kernel's fused row pass over a validated block.

    ``score`` must be a kernel score (``score.function is None``); ``adjust``
    (from :func:`adjust_vector`) selects its threshold-adjusted kind. With
    ``check`` (the default) the first invalid row raises; ``check=False`` is
    for probabilities already checked by one validation pass.
    """
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
    scores = empty_f
    score64 = empty_d
    adjust_arr = empty_d
    if score is not None:
        if adjust is not None:
            pass  # computed after the pass, by adjusted_scores
        else:
            score_kind = score.kind
            if score.strict_unit_interval:
                score64 = np.empty(n, dtype=np.float64)
            else:
                scores = np.empty(n, dtype=dtype)
    bad = np.full((n_threads, N_BAD), n, dtype=np.int64)
    _row_pass_kernel(pred_probs, labels, cut_arr, cj, guess, keep, other, selfc, scores, score64,
                   score_kind,
                   adjust_arr, bad, ROW_SUM_TOLERANCE, RANGE_TOLERANCE, chunk, n_threads)
    strict = score is not None and score.strict_unit_interval
    if check or strict:  # a validated matrix can still hold values a hair outside [0, 1]
        raise_for_bad_rows(bad, pred_probs, strict_unit_interval=strict, row_offset=row_offset)
    out = PassResult()
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
    if score is not None and adjust is not None:
        out.score = adjusted_scores(labels, pred_probs, score, adjust)
    elif score is not None:
        out.score = score64 if score64.size else scores
    if is_float16(pred_probs):
        _float16_rounding(out, labels, pred_probs, score, adjust)
    return out


def _float16_rounding(out: PassResult, labels, pred_probs, score, adjust) -> None:
    """Redo, in float16 arithmetic, the row results whose value depends on the precision."""
    if out.keep is not None:
        out.keep = _given_label_wins_float16(labels, pred_probs, np.arange(labels.shape[0]))
    if score is not None and adjust is None and score.name in ("self_confidence",
                                                               "normalized_margin"):
        p16 = np.asarray(pred_probs).astype(np.float16)
        rows = np.arange(labels.shape[0])
        given = p16[rows, labels]
        if score.name == "self_confidence":
            out.score = given
        else:
            others = p16.copy()
            others[rows, labels] = -np.inf
            out.score = (given - others.max(axis=1) + 1) / 2


def _given_label_wins_float16(labels, pred_probs, rows: np.ndarray) -> np.ndarray:
    """:func:`given_label_wins` with the ``1e-6`` bump added in float16, as numpy does there."""
    block = np.asarray(pred_probs)[rows].astype(np.float16)
    given = labels[rows]
    block[np.arange(rows.shape[0]), given] += 1e-6
    return block.argmax(axis=1) == given
def row_argmax(pred_probs, *, n_jobs=None, chunk_size=None) -> np.ndarray:
    """``numpy.argmax(pred_probs, axis=1)`` in one streamed kernel pass.

    numpy's argmax copies a read-only matrix whole (a memory map, say); the
    kernel reads it in row chunks and allocates only the ``(n,)`` result.
    A matrix that is not C-contiguous float32/float64 goes to numpy.
    """
    p = pred_probs
    if (not isinstance(p, np.ndarray) or p.ndim != 2 or p.dtype not in (np.float32, np.float64)
            or not p.flags.c_contiguous or p.shape[1] == 0):
        return np.argmax(np.asarray(p), axis=1)
    out = np.empty(p.shape[0], dtype=np.intp)
    _row_argmax_kernel(p, out, resolve_chunk_size(chunk_size), effective_n_threads(n_jobs))
    return out


def given_label_wins(labels, pred_probs, rows: np.ndarray) -> np.ndarray:
    """For the given rows, whether the given label wins ``argmax(p + 1e-6 * onehot(label))``."""
    rows = np.ascontiguousarray(rows, dtype=np.intp)
    if is_float16(pred_probs):
        return _given_label_wins_float16(labels, pred_probs, rows)
    out = np.empty(rows.shape[0], dtype=np.uint8)
    if rows.size:
        _given_label_wins_kernel(pred_probs, labels, rows, out)
    return out.view(bool)


def unflag_agreeing(mask: np.ndarray, labels, pred_probs) -> None:
    """Un-flag rows whose given label is the model's top class (with a 1e-6 bump)."""
    rows = np.flatnonzero(mask)
    mask[rows[given_label_wins(labels, pred_probs, rows)]] = False


def fill_diagonal_min_one(counts: np.ndarray) -> np.ndarray:
    """A copy of ``counts`` (int64) with its diagonal floored at 1."""
    counts = np.array(counts, dtype=np.int64, copy=True)
    np.fill_diagonal(counts, counts.diagonal().clip(min=1))
    return counts


def check_square(confident_joint, n_classes=None) -> np.ndarray:
    """A user confident joint as a K x K array of finite, non-negative counts."""
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

def smallest(scores: np.ndarray, m: int) -> np.ndarray:
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


def prune_plan(prune_counts: np.ndarray, label_counts: np.ndarray, min_examples_per_class,
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


def select_candidates(labels, pred_probs, plan, other, selfc, *, n_jobs, chunk_size,
                      first=None, best_first=False, floor_keys=None):
    """Kernel pass 3: every slot's kept rows as flat arrays ``(slot, key, row)``.

    ``other`` and ``selfc`` are the row pass's per-row arrays, or empty
    arrays: the kernel then reads ``p[label]`` and the best other class from
    ``pred_probs`` itself (no ``(n,)`` arrays, one more read of the matrix).
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
    pair_of, bar = _pair_bars(plan, k, n_threads, pred_probs.dtype, floor_keys)
    first = np.zeros(0, dtype=np.intp) if first is None else np.ascontiguousarray(first,
                                                                                  dtype=np.intp)
    is_first = np.zeros(n if first.size else 0, dtype=np.uint8)
    is_first[first] = 1
    select_top(pred_probs, labels, other, selfc, plan["pair_ptr"], plan["pair_j"],
                     pair_of, plan["class_slot"], plan["slot_off"], plan["slot_cap"], heap_val,
                     heap_idx, heap_size, worst, floor, bar, hits, first, is_first, chunk,
                     n_threads)
    if n_threads > 1:
        merge_heaps(plan["slot_off"], plan["slot_cap"], heap_val, heap_idx, heap_size)
    if best_first:
        sort_heaps(plan["slot_off"], heap_val[0], heap_idx[0], heap_size[0])
    sizes = heap_size[0]
    slot = np.repeat(np.arange(n_slots, dtype=np.int64), sizes)
    first = np.cumsum(sizes) - sizes
    pos = plan["slot_off"][slot] + (np.arange(slot.shape[0]) - first[slot])
    return slot, heap_val[0, pos], heap_idx[0, pos]


def _pair_bars(plan, k: int, n_threads: int, dtype, floor_keys=None):
    """``(pair_of, bar)``: the dense pair index and per-thread admission bars.

    One bar per (given, true) pair: +inf where nothing is pruned, the pair's
    floor key (or -inf, admit anything) until the pair's heap is full. Empty
    when there are no pairs or ``k * k`` is too large for a dense table.
    """
    n_pairs = plan["pair_j"].shape[0]
    if not n_pairs or k * k > _DENSE_PAIRS_MAX:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=dtype)
    cell = np.repeat(np.arange(k), np.diff(plan["pair_ptr"])) * k + plan["pair_j"]
    pair_of = np.full(k * k, -1, dtype=np.int64)
    pair_of[cell] = np.arange(n_pairs)
    bar = np.full((n_threads, k * k), np.inf, dtype=dtype)
    bar[:, cell] = -np.inf if floor_keys is None else floor_keys[:n_pairs].astype(dtype)
    return pair_of, bar


def select_candidates_in_blocks(blocks, plan, n_classes: int, dtype, *, n_jobs, chunk_size):
    """:func:`select_candidates` over row blocks fed one at a time, with the same result.

    ``blocks`` yields ``(offset, labels, pred_probs)`` for consecutive row
    blocks of one matrix (``offset`` is the block's first global row). The
    heaps, bars and floors carry over from block to block, so this is the
    kernel's one streamed pass over the whole matrix: before each block the
    kept rows are expressed relative to its offset (earlier rows become
    negative and still compare as the smaller rows) and restored after it.
    Returns ``(slot, key, row)`` with global rows, slots in increasing order.
    """
    n_slots = plan["slot_cap"].shape[0]
    if n_slots == 0:
        for _ in blocks:
            pass
        return (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64))
    n_threads = effective_n_threads(n_jobs)
    chunk = resolve_chunk_size(chunk_size)
    total = int(plan["slot_cap"].sum())
    k = n_classes
    heap_val = np.empty((n_threads, total), dtype=np.float64)
    heap_idx = np.zeros((n_threads, total), dtype=np.int64)
    heap_size = np.zeros((n_threads, n_slots), dtype=np.int64)
    worst = np.full((n_threads, n_slots), -np.inf)
    floor = np.full((n_threads, k), -np.inf)
    hits = np.empty((n_threads, k), dtype=np.intp)
    pair_of, bar = _pair_bars(plan, k, n_threads, dtype)
    none = np.empty(0, dtype=dtype)
    no_rows = np.zeros(0, dtype=np.intp)
    no_flags = np.zeros(0, dtype=np.uint8)
    for offset, labels, pred_probs in blocks:
        if pred_probs.shape[0] == 0:
            continue
        heap_idx -= offset
        select_top(pred_probs, labels, none, none, plan["pair_ptr"], plan["pair_j"], pair_of,
                   plan["class_slot"], plan["slot_off"], plan["slot_cap"], heap_val, heap_idx,
                   heap_size, worst, floor, bar, hits, no_rows, no_flags, chunk, n_threads)
        heap_idx += offset
        del labels, pred_probs  # before the next block is built
    if n_threads > 1:
        merge_heaps(plan["slot_off"], plan["slot_cap"], heap_val, heap_idx, heap_size)
    sizes = heap_size[0]
    slot = np.repeat(np.arange(n_slots, dtype=np.int64), sizes)
    first = np.cumsum(sizes) - sizes
    pos = plan["slot_off"][slot] + (np.arange(slot.shape[0]) - first[slot])
    return slot, heap_val[0, pos], heap_idx[0, pos]


def noise_rate_rows_float16(labels, pred_probs, plan) -> np.ndarray:
    """Prune-by-noise-rate rows of float16 probabilities, with float16 margins.

    cleanlab's margins ``p_j - p_k`` are float16 differences, rounded: rows
    whose float32 margins differ can tie there. Each pair ``(k, j)`` keeps its
    ``m`` largest float16 margins, ties to the smaller row, as the kernel's
    selection does on float32 and float64.
    """
    p16 = np.asarray(pred_probs).astype(np.float16)
    mask = np.zeros(labels.shape[0], dtype=bool)
    ptr = plan["pair_ptr"]
    for k in np.flatnonzero(np.diff(ptr)):
        rows = np.flatnonzero(labels == k)
        for t in range(ptr[k], ptr[k + 1]):
            j, m = plan["pair_j"][t], int(plan["slot_cap"][t])
            margin = p16[rows, j] - p16[rows, k]
            mask[rows[np.argsort(-margin, kind="stable")[:m]]] = True
    return mask


def mask_from_candidates(n: int, plan, slot: np.ndarray, rows: np.ndarray,
                         group: int) -> np.ndarray:
    """Rows kept by the slots of one group (0: prune by noise rate, 1: by class)."""
    mask = np.zeros(n, dtype=bool)
    mask[rows[plan["slot_group"][slot] == group]] = True
    return mask


def selected_rows(plan, slot: np.ndarray, rows: np.ndarray, filter_by: str) -> np.ndarray:
    """Sorted unique rows a pruning filter keeps, from the selection's ``(slot, row)`` pairs.

    ``prune_by_noise_rate`` keeps the rows of group 0's slots, ``prune_by_class``
    those of group 1, and ``both`` the rows in both.
    """
    group = plan["slot_group"][slot]
    if filter_by == "prune_by_noise_rate":
        return np.unique(rows[group == 0])
    if filter_by == "prune_by_class":
        return np.unique(rows[group == 1])
    return np.intersect1d(rows[group == 0], rows[group == 1])


def counts_for_fixed_removal(prune_counts, label_counts, num_to_remove_per_class):
    """Rescale the prune matrix so class k loses ``num_to_remove_per_class[k]`` items.

    ``num_to_remove_per_class`` is one count per class, or one integer for
    every class (as in cleanlab). Each row of the prune matrix is spread over
    its off-diagonal entries in proportion to the estimated noise; a class
    with no estimated noise has nothing to spread, so its off-diagonal entries
    prune nothing (cleanlab's division by zero gives the same), while its
    diagonal still leaves ``n_k - num_to_remove_per_class[k]`` items, which is
    what ``prune_by_class`` removes.
    """
    remove = np.asarray(num_to_remove_per_class)
    if remove.ndim == 0:
        remove = np.full(label_counts.shape, remove)
    if remove.shape != label_counts.shape:
        raise LabelAuditError(
            f"`num_to_remove_per_class` must be one integer or one per class "
            f"({label_counts.shape[0]}), got shape {remove.shape}."
        )
    if remove.dtype.kind not in "iuf" or not np.all(np.isfinite(remove)):
        raise LabelAuditError(
            f"`num_to_remove_per_class` must hold counts, got {remove.tolist()!r}."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        psy = prune_counts / np.sum(prune_counts, axis=1)
        noise_per_s = psy.sum(axis=1) - psy.diagonal()
        tmp = (psy.T * remove / noise_per_s).T
    np.fill_diagonal(tmp, label_counts - remove)
    finite = np.isfinite(tmp).all(axis=1)
    out = np.zeros(tmp.shape, dtype=int)
    if finite.any():
        out[finite] = round_preserving_row_totals(tmp[finite])
    for row in np.flatnonzero(~finite):
        # No total to preserve: round what is finite, prune nothing for the rest.
        values = tmp[row]
        out[row] = np.where(np.isfinite(values), np.round(np.nan_to_num(values)), 0).astype(int)
    return out
