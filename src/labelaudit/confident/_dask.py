"""Confident learning over a row-chunked dask array, with single-machine answers.

Every statistic of the core is a mergeable partial result, so each dask chunk
runs the same Cython kernels and sends back only small pieces:

1. label counts per class (K integers);
2. the pairwise-sum pieces of each class's self-confidences (a few node sums
   and at most 256 boundary values per class, see :mod:`labelaudit.confident._pairwise`),
   from which the client rebuilds cleanlab's thresholds bit for bit;
3. a K x K confident-count matrix, the first invalid row of each kind, and the
   number of off-diagonal items that survive the un-flag step;
4. for the pruning filters, per selection slot at most ``m`` candidates
   ``(key, row)``, merged on the client under the same total order as on one
   machine (larger key first, then smaller row), so the chosen rows are the
   same whatever the chunking.

Per-row results (masks, scores) come back as lazy dask arrays built from those
small merged results, so a billion-row mask never has to fit on the client.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import numpy as np

from .._core import gather_by_label
from .._validation import check_labels, check_matrix_layout
from ..exceptions import LabelAuditError
from . import _pairwise
from . import _passes as ps
from ._joint import ConfidentJoint
from ._latent import calibrate_counts, keep_at_least_n_per_class
from ._latent import estimate_latent as _estimate_latent
from ._passes import is_dask_array

__all__ = ["audit_rows", "compute_parts", "is_dask_array", "reporting_progress"]

_INSTALL = "install the optional extra: pip install 'labelaudit[dask]'"


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise LabelAuditError(f"dask arrays need dask: {_INSTALL}.") from None
    return dask, da


# --------------------------------------------------------------------------- progress

#: ``callback(step, done, total)`` of the running computation, or None.
_PROGRESS: contextvars.ContextVar[Callable[[str, int, int], None] | None] = (
    contextvars.ContextVar("labelaudit_dask_progress", default=None)
)


@contextlib.contextmanager
def reporting_progress(callback: Callable[[str, int, int], None] | None) -> Iterator[None]:
    """Report every round of chunk tasks to ``callback(step, done, total)``.

    With a distributed client, ``done`` counts chunk results as the cluster
    finishes them; with dask's local schedulers, finished tasks.
    """
    token = _PROGRESS.set(callback)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def _client():
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


@contextlib.contextmanager
def _labels_in_graph() -> Iterator[None]:
    """Silence distributed's note on large graphs: labels held by the client travel in it.

    They are sent once per chunk, in the narrowest integer type (one byte per
    row for K <= 256); pass labels as a dask array to have workers read them.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        yield


def compute_parts(dask, parts: list, step: str) -> list:
    """Compute a list of dask objects (one per chunk), reporting progress per result."""
    with _labels_in_graph():
        return _compute_parts(dask, parts, step)


def _compute_parts(dask, parts: list, step: str) -> list:
    callback = _PROGRESS.get()
    if callback is None or not parts:
        return list(dask.compute(*parts))
    client = _client()
    total = len(parts)
    callback(step, 0, total)
    if client is not None:
        from distributed import as_completed

        futures = client.compute(parts)
        position = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * total
        for done, (future, value) in enumerate(as_completed(futures, with_results=True), 1):
            results[position[future.key]] = value
            callback(step, done, total)
        return results
    from dask.callbacks import Callback

    class _Tasks(Callback):
        def _start_state(self, dsk, state):
            self.total = max(1, len(state["ready"]) + len(state["waiting"]) + len(state["running"]))
            self.done = 0
            callback(step, 0, self.total)

        def _posttask(self, key, result, dsk, state, worker_id):
            self.done += 1
            callback(step, self.done, self.total)

    with _Tasks():
        return list(dask.compute(*parts, scheduler="threads"))


# --------------------------------------------------------------------------- inputs

class _Inputs:
    """Row-aligned probabilities and labels as dask arrays, mapped block by block.

    Every round is a ``map_blocks`` over the probabilities and the labels, so
    dask fuses the task that loads a chunk (for instance a memory-mapped
    shard) with the task that scans it: a chunk is read where it is loaded and
    never shipped between workers.
    """

    def __init__(self, labels, pred_probs):
        dask, da = _dask()
        check_matrix_layout(tuple(pred_probs.shape), pred_probs.dtype)
        n, k = pred_probs.shape
        if len(pred_probs.chunks[1]) > 1:
            pred_probs = pred_probs.rechunk({1: -1})
        rows = pred_probs.chunks[0]
        offsets = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        n_labels = labels.shape[0] if is_dask_array(labels) else np.asarray(labels).shape[0]
        if np.ndim(labels) != 1 or n_labels != n:
            raise LabelAuditError(
                f"`pred_probs` must have one row per label: got {n_labels} labels and {n} rows."
            )
        if is_dask_array(labels):
            labels = labels.rechunk((rows,))
        else:
            # One small array per chunk, so a worker only receives its own labels,
            # in the narrowest integer type that holds them (invalid labels are
            # left as they are, for the chunk's check to report).
            arr = np.asarray(labels)
            if arr.dtype.kind in "iu" and arr.size and arr.min() >= 0 and arr.max() < k:
                arr = arr.astype(np.min_scalar_type(k - 1), copy=False)
            labels = da.concatenate([da.from_array(arr[offsets[i]:offsets[i + 1]], chunks=-1)
                                     for i in range(len(rows))])
        self.dask = dask
        self.da = da
        self.n, self.k = n, k
        self.dtype = pred_probs.dtype
        self.rows = rows
        self.offsets = offsets
        self.pred_probs, self.labels = self._pin(pred_probs, labels)

    def _pin(self, pred_probs, labels):
        """Keep the blocks on the workers that loaded them for all the passes.

        With a distributed client, the probability and label blocks are
        persisted once: every later pass runs where its block already lives
        (a memory-mapped shard costs only page cache there) instead of loading
        it again on whichever worker is free and shipping it around.
        """
        if _client() is None:  # the local schedulers read blocks in place
            return pred_probs, labels
        from distributed import wait

        with _labels_in_graph():
            pred_probs, labels = self.dask.persist(pred_probs, labels)
        wait([pred_probs, labels])
        return pred_probs, labels

    def _blocks(self, fn, out_dtype, out_chunks, args, wrap):
        # blockwise with concatenate=False: the function gets the chunk's blocks
        # as they are (a memory map stays a memory map; nothing is copied).
        # Arguments wrapped in _PerChunk travel to their own chunk's task only.
        offsets = self.da.from_array(self.offsets[:-1], chunks=1)
        n_chunks = len(self.rows)
        per_chunk = np.empty(n_chunks, dtype=object)
        for c in range(n_chunks):
            per_chunk[c] = tuple(a.values[c] for a in args if isinstance(a, _PerChunk))
        extra = self.da.from_array(per_chunk, chunks=1)

        def run(p_blocks, lab, offset, own):
            p = p_blocks[0] if isinstance(p_blocks, list) else p_blocks
            mine = iter(own[0])
            call_args = [next(mine) if isinstance(a, _PerChunk) else a for a in args]
            result = fn(p, lab, int(offset[0]), *call_args)
            if not wrap:
                return result
            box = np.empty(1, dtype=object)
            box[0] = result
            return box

        return self.da.blockwise(
            run, "i", self.pred_probs, "ij", self.labels, "i", offsets, "i", extra, "i",
            dtype=out_dtype, concatenate=False, align_arrays=False,
            adjust_chunks={"i": tuple(out_chunks)},
            meta=np.empty(0, out_dtype),
        )

    def boxed(self, fn, *args):
        """``fn(p_block, l_block, offset, *args)`` per chunk, as a lazy array of boxed results."""
        return self._blocks(fn, object, (1,) * len(self.rows), args, wrap=True)

    def gather(self, boxed, step: str = "scanning chunks"):
        """Bring every chunk's boxed result straight to the client (no worker-side concat)."""
        parts = compute_parts(self.dask, list(boxed.to_delayed().ravel()), step)
        return [part[0] for part in parts]

    def map(self, fn, *args, step: str = "scanning chunks"):
        """Run ``fn(p_block, l_block, offset, *args)`` on every chunk and gather the results."""
        return self.gather(self.boxed(fn, *args), step=step)

    def lazy_rows(self, fn, dtype, *args):
        """A lazy 1-D dask array made of ``fn(p_block, l_block, offset, *args)`` per chunk."""
        return self._blocks(fn, np.dtype(dtype), self.rows, args, wrap=False)


class _PerChunk:
    """An argument with one value per chunk (each task receives only its own)."""

    def __init__(self, values):
        self.values = list(values)


def _rows_by_chunk(rows: np.ndarray, offsets: np.ndarray) -> _PerChunk:
    """Sorted global rows split by chunk, as chunk-local positions."""
    cuts = np.searchsorted(rows, offsets)
    return _PerChunk(rows[cuts[c]:cuts[c + 1]] - offsets[c] for c in range(len(offsets) - 1))


def _block(p, labels, offset):
    """A chunk as the kernels want it: C-contiguous probabilities and intp labels."""
    p = np.ascontiguousarray(p)
    return _checked_labels(labels, offset, p.shape[1]), p


# --------------------------------------------------------------------------- round 1 and 2

def _checked_labels(labels, offset: int, k: int) -> np.ndarray:
    """A chunk's labels as intp, with errors that name the global position."""
    return check_labels(labels, np.shape(labels)[0], k, offset=offset)


def _count_chunk(p, labels, offset, k):
    return np.bincount(_checked_labels(labels, offset, k), minlength=k).astype(np.int64)


def _threshold_chunk(p, labels, offset, all_starts, totals, chunk_of):
    starts = all_starts[chunk_of[offset]]
    lab, p = _block(p, labels, offset)
    k = p.shape[1]
    counts = np.bincount(lab, minlength=k)
    offs = np.zeros(k + 1, dtype=np.intp)
    np.cumsum(counts, out=offs[1:])
    grouped = np.empty(p.shape[0], dtype=p.dtype)
    gather_by_label(p, lab, offs, grouped)
    return {c: _pairwise.partials(grouped[offs[c]:offs[c + 1]], int(starts[c]), int(totals[c]))
            for c in np.flatnonzero(counts)}


def _thresholds(inp: _Inputs, thresholds):
    """Global label counts and thresholds (cleanlab's, bit for bit)."""
    per_chunk = np.stack(inp.map(_count_chunk, inp.k, step="counting labels"))
    counts = per_chunk.sum(axis=0)
    if thresholds is not None:
        return counts, thresholds
    starts = np.cumsum(per_chunk, axis=0) - per_chunk  # class-sequence start of every chunk
    chunk_of = {int(off): i for i, off in enumerate(inp.offsets[:-1])}
    pieces = inp.map(_threshold_chunk, starts, counts, chunk_of, step="class thresholds")
    values = []
    for c in range(inp.k):
        if counts[c] == 0:
            values.append(ps.BIG_THRESHOLD)
            continue
        total = _pairwise.combine([pc[c] for pc in pieces if c in pc], int(counts[c]), inp.dtype)
        values.append(_pairwise.mean_like_numpy(total, int(counts[c])))
    return counts, np.clip(values, a_min=2e-6, a_max=None)


# --------------------------------------------------------------------------- round 3

def _joint_chunk(p, labels, offset, cut, want_off):
    lab, p = _block(p, labels, offset)
    res = ps.row_pass(lab, p, cut=cut, want_guess=True, want_keep=True, n_jobs=1,
                      row_offset=offset)
    off_mask = (res.guess >= 0) & (res.guess != lab)
    survivors = int(np.count_nonzero(off_mask & ~res.keep))
    return res.counts, survivors, (np.flatnonzero(off_mask) + offset) if want_off else None


def _confident_counts(inp: _Inputs, counts, thresholds, *, want_off=False):
    cut = ps.cut_points(thresholds, inp.k, inp.dtype)
    parts = inp.map(_joint_chunk, cut, want_off, step="confident joint")
    raw = np.asfortranarray(np.sum([p[0] for p in parts], axis=0))
    raw = ps.fill_diagonal_min_one(raw)
    survivors = sum(p[1] for p in parts)
    off = np.concatenate([p[2] for p in parts]).astype(np.int64) if want_off else None
    return raw, survivors, off, cut


# --------------------------------------------------------------------------- public entry points

def compute_confident_joint(labels, pred_probs, *, thresholds=None, calibrate=True,
                            return_indices_of_off_diagonals=False):
    inp = _Inputs(labels, pred_probs)
    counts, thresholds = _thresholds(inp, thresholds)
    raw, _, off, _ = _confident_counts(inp, counts, thresholds,
                                       want_off=return_indices_of_off_diagonals)
    cj = calibrate_counts(raw, counts) if calibrate else raw
    return (cj, off) if return_indices_of_off_diagonals else cj


def get_confident_thresholds(labels, pred_probs):
    inp = _Inputs(labels, pred_probs)
    return _thresholds(inp, None)[1]


def estimate_py_and_noise_matrices_from_probabilities(labels, pred_probs, *, thresholds=None,
                                                      converge_latent_estimates=True,
                                                      py_method="cnt", calibrate=True):
    inp = _Inputs(labels, pred_probs)
    counts, thresholds = _thresholds(inp, thresholds)
    raw, _, _, _ = _confident_counts(inp, counts, thresholds)
    cj = calibrate_counts(raw, counts) if calibrate else raw
    py, nm, inv = _estimate_latent(cj, counts, py_method=py_method,
                                   converge_latent_estimates=converge_latent_estimates)
    return py, nm, inv, cj


def num_label_issues(labels, pred_probs, *, confident_joint=None,
                     estimation_method="off_diagonal"):
    inp = _Inputs(labels, pred_probs)
    counts, thresholds = _thresholds(inp, None)
    raw, survivors, _, _ = _confident_counts(inp, counts, thresholds)
    if estimation_method == "off_diagonal":
        return int(survivors)
    if estimation_method == "off_diagonal_calibrated":
        cj = calibrate_counts(raw, counts)
    else:
        if confident_joint is None:
            raise LabelAuditError(
                "`confident_joint` is required with estimation_method='off_diagonal_custom'."
            )
        cj = ps.check_square(confident_joint, inp.k)
    cal = calibrate_counts(cj, counts)
    joint = cal / np.clip(float(np.sum(cal)), a_min=1e-100, a_max=None)
    return int(np.rint((1.0 - joint.trace()) * inp.n).astype(int))


def _score_chunk(p, labels, offset, spec, adjust):
    lab, p = _block(p, labels, offset)
    scores = ps.score_rows(lab, p, spec, adjust, n_jobs=1, row_offset=offset)
    return scores if spec.function is None else scores.astype(np.float64, copy=False)


def get_label_quality_scores(labels, pred_probs, *, spec, adjust_pred_probs=False):
    """Lazy scores of a checked score method (``spec`` from :func:`._passes.score_spec`)."""
    inp = _Inputs(labels, pred_probs)
    ps.check_adjustable(spec, adjust_pred_probs)
    if not adjust_pred_probs:
        narrow = spec.function is None and not spec.strict_unit_interval
        return inp.lazy_rows(_score_chunk, inp.dtype if narrow else np.float64, spec, None)
    counts, thresholds = _thresholds(inp, None)
    scores = inp.lazy_rows(_score_chunk, np.float64, spec, ps.adjust_vector(thresholds))
    return ps.keep_float32_adjusted(scores, inp.dtype, counts)


def _prune_chunk(p, labels, offset, plan, floor_keys, keys_only):
    lab, p = _block(p, labels, offset)
    res = ps.row_pass(lab, p, want_other=True, want_keep=True, n_jobs=1, row_offset=offset)
    slot, key, rows = ps.select_candidates(lab, p, plan, res.extra["other"],
                                           res.extra["selfc"], n_jobs=1, chunk_size=None,
                                           first=np.flatnonzero(~res.keep),
                                           floor_keys=floor_keys)
    if keys_only:
        return slot, key
    return slot, key, rows + offset


def _with_caps(plan, caps):
    """The same slots with other capacities (heap offsets follow)."""
    caps = np.asarray(caps, dtype=np.int64)
    out = dict(plan)
    out["slot_cap"] = caps
    out["slot_off"] = np.cumsum(caps) - caps
    return out


def _pruning_candidates(inp, plan):
    """Every chunk's selection candidates that can still be among the global top m.

    A slot keeps its best ``m`` rows overall (larger key, then smaller row).
    Round 1: every chunk sends the keys of its own best ``ceil(2m / chunks)``
    rows per slot. Any ``m`` real keys of a slot are at most its global m-th
    best key, so the m-th best of that union is a lower bound of the global
    cut. Round 2: every chunk keeps its best ``m`` rows per slot among those
    at or above the bound (which starts the kernel's admission bars high, so
    most rows are skipped unread) and ships them. The merge that follows is
    exact: every global winner is among its chunk's candidates.
    """
    caps = plan["slot_cap"]
    n_chunks = len(inp.rows)
    floor_keys = None
    if caps.shape[0] and n_chunks > 1:
        sample = np.minimum(caps, -(-2 * caps // n_chunks))
        parts = inp.map(_prune_chunk, _with_caps(plan, sample), None, True,
                        step="issue candidates (bounds)")
        floor_keys = _global_floor(parts, caps)
    return inp.map(_prune_chunk, plan, floor_keys, False, step="issue candidates")


def _global_floor(parts, caps):
    """Per slot, the m-th largest of the sampled keys (-inf when fewer than m were sent)."""
    slot = np.concatenate([p[0] for p in parts])
    key = np.concatenate([p[1] for p in parts])
    by_key = np.argsort(-key, kind="stable")
    order = by_key[np.argsort(slot[by_key], kind="stable")]
    key = key[order]
    sizes = np.bincount(slot, minlength=caps.shape[0])
    start = np.cumsum(sizes) - sizes
    valid = sizes >= caps
    pos = np.where(valid, start + caps - 1, 0)
    return np.where(valid, key[pos] if key.size else -np.inf, -np.inf)


def _merge_candidates(parts, plan):
    """Exact top-m per slot over all chunks: larger key first, then smaller row."""
    slot = np.concatenate([p[0] for p in parts])
    key = np.concatenate([p[1] for p in parts])
    rows = np.concatenate([p[2] for p in parts])
    order = np.lexsort((rows, -key, slot))
    slot, rows = slot[order], rows[order]
    first = np.searchsorted(slot, slot, side="left")
    rank = np.arange(slot.shape[0]) - first
    keep = rank < plan["slot_cap"][slot]
    return slot[keep], rows[keep]


def _mask_chunk(p, labels, offset, filter_by, cut, selected):
    lab, p = _block(p, labels, offset)
    return _block_mask(lab, p, filter_by, cut, selected)


def _block_mask(lab, p, filter_by, cut, selected):
    """A prepared chunk's issue mask; ``selected`` holds its chunk-local selected rows."""
    n = p.shape[0]
    if filter_by == "confident_learning":
        res = ps.row_pass(lab, p, cut=cut, want_guess=True, n_jobs=1)
        mask = (res.guess >= 0) & (res.guess != lab)
    elif filter_by == "predicted_neq_given":
        mask = np.argmax(p, axis=1) != lab
    else:
        mask = np.zeros(n, dtype=bool)
        mask[selected] = True  # this chunk's selected rows, chunk-local
        if filter_by.startswith("low_"):
            return mask
    ps.unflag_agreeing(mask, lab, p)
    return mask


def _selected_rows(inp, counts, raw, survivors, *, filter_by, frac_noise=1.0,
                   num_to_remove_per_class=None, min_examples_per_class=1,
                   confident_joint=None):
    """Rows chosen by the selection filters (empty for the others), exactly as on one machine."""
    if confident_joint is None or filter_by == "confident_learning":
        confident_joint = calibrate_counts(raw, counts)
    else:
        confident_joint = ps.check_square(confident_joint, inp.k)
    selected = np.zeros(0, dtype=np.int64)
    if filter_by in ("prune_by_noise_rate", "prune_by_class", "both"):
        prune = keep_at_least_n_per_class(np.asarray(confident_joint).T, min_examples_per_class,
                                          frac_noise=frac_noise)
        if num_to_remove_per_class is not None:
            prune = ps.counts_for_fixed_removal(prune, counts, num_to_remove_per_class)
        plan = ps.prune_plan(prune, counts, min_examples_per_class, filter_by)
        slot, rows = _merge_candidates(_pruning_candidates(inp, plan), plan)
        selected = ps.selected_rows(plan, slot, rows, filter_by)
    elif filter_by in ("low_normalized_margin", "low_self_confidence"):
        selected = _lowest_scores(inp, filter_by[4:], survivors)
    return selected


def find_label_issues(labels, pred_probs, *, return_indices_ranked_by=None, rank_by_kwargs=None,
                      filter_by="prune_by_noise_rate", frac_noise=1.0,
                      num_to_remove_per_class=None, min_examples_per_class=1,
                      confident_joint=None):
    inp = _Inputs(labels, pred_probs)
    counts, thresholds = _thresholds(inp, None)
    raw, survivors, _, cut = _confident_counts(inp, counts, thresholds)
    selected = _selected_rows(inp, counts, raw, survivors, filter_by=filter_by,
                              frac_noise=frac_noise,
                              num_to_remove_per_class=num_to_remove_per_class,
                              min_examples_per_class=min_examples_per_class,
                              confident_joint=confident_joint)
    mask = inp.lazy_rows(_mask_chunk, bool, filter_by, cut,
                         _rows_by_chunk(selected, inp.offsets))
    if return_indices_ranked_by is None:
        return mask
    kwargs = dict(rank_by_kwargs or {})
    scores = get_label_quality_scores(labels, pred_probs,
                                      spec=ps.score_spec(return_indices_ranked_by), **kwargs)
    idx = np.flatnonzero(mask.compute())
    chosen = scores[idx].compute() if idx.size else np.zeros(0)
    return idx[np.argsort(chosen, kind="stable")].astype(np.int64)


# --------------------------------------------------------------------------- the audit

def _joint_result(inp: _Inputs, thresholds=None):
    """A :class:`~labelaudit.confident.ConfidentJoint` from merged chunk results."""
    counts, thresholds = _thresholds(inp, thresholds)
    raw, survivors, off, cut = _confident_counts(inp, counts, thresholds, want_off=True)
    return ConfidentJoint.from_raw(raw, counts, thresholds, off, survivors), cut


def confident_joint_result(labels, pred_probs, *, thresholds=None):
    """:func:`labelaudit.confident.confident_joint_result` over chunks (same result)."""
    return _joint_result(_Inputs(labels, pred_probs), thresholds)[0]


def _audit_chunk(p, labels, offset, filter_by, cut, selected):
    lab, p = _block(p, labels, offset)
    mask = _block_mask(lab, p, filter_by, cut, selected)
    quality = ps.score_rows(lab, p, ps.SCORES["self_confidence"], n_jobs=1, row_offset=offset)
    return mask, quality, np.argmax(p, axis=1)


def audit_rows(labels, pred_probs, *, filter_by="prune_by_noise_rate"):
    """Everything :func:`labelaudit.audit` needs from a dask array, in four rounds.

    Returns
    -------
    tuple
        ``(confident_joint, mask, quality, suggested)``: the
        :class:`~labelaudit.confident.ConfidentJoint` and, as numpy arrays on
        the client, the issue mask, the self-confidence of each given label
        and each row's most likely class. Identical to the single-machine
        results on the same rows.
    """
    inp = _Inputs(labels, pred_probs)
    joint, cut = _joint_result(inp)
    selected = _selected_rows(inp, joint.label_counts, joint.raw_counts, joint.num_issues,
                              filter_by=filter_by)
    parts = inp.map(_audit_chunk, filter_by, cut, _rows_by_chunk(selected, inp.offsets),
                    step="issues and scores")
    mask, quality, suggested = (np.concatenate([part[i] for part in parts]) for i in range(3))
    return joint, mask, quality, suggested


def _smallest_chunk(p, labels, offset, method, m):
    lab, p = _block(p, labels, offset)
    scores = ps.score_rows(lab, p, ps.SCORES[method], n_jobs=1, row_offset=offset)
    local = ps.smallest(scores, m)
    return scores[local], local + offset


def _lowest_scores(inp: _Inputs, method: str, m: int) -> np.ndarray:
    """Rows of the ``m`` lowest scores overall, ties by the smaller row (per-chunk candidates)."""
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    parts = inp.map(_smallest_chunk, method, m, step="lowest scores")
    values = np.concatenate([p[0] for p in parts])
    rows = np.concatenate([p[1] for p in parts])
    order = np.lexsort((rows, values))[:m]
    return np.sort(rows[order])
