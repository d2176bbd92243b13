"""Token issues of cleanlab's nested input without concatenating the sentences.

The nested form (one ``(T_i, K)`` array per sentence) would otherwise be
copied into one flat matrix. Here the sentences are read in groups into a
bounded buffer, and every statistic of the pruning filters is merged from the
groups, as the chunked backend merges its chunks (:mod:`labelaudit.confident._dask`):

1. label counts, and the flat labels kept in the narrowest integer type;
2. cleanlab's thresholds, bit for bit, from pairwise-sum pieces of each
   group (:mod:`labelaudit.confident._pairwise`);
3. the confident counts (which also validate every row);
4. the selection kernel's heaps of every slot's best ``m`` rows (larger key,
   then smaller row), carried from group to group, so the kept rows are those
   of one streamed pass over the flat matrix;
5. the un-flag step and the ranking score of the selected rows only.

:func:`find_issues` returns None when the input or the options are outside
what it handles (the caller then takes the flat route, which also reports
any bad input with its usual message).
"""

from __future__ import annotations

import warnings
from itertools import chain
from operator import attrgetter

import numpy as np

from .._core import gather_by_label
from .._validation import check_labels
from ..confident import _pairwise
from ..confident import _passes as ps
from ..confident._latent import calibrate_counts, keep_at_least_n_per_class
from ..exceptions import LabelAuditError, LabelAuditWarning

__all__ = ["find_issues"]

#: Tokens per group (the buffer is this many rows of the token matrix).
GROUP_TOKENS = 1 << 17

#: Groups between two folds of the threshold sums (the pieces kept in between
#: are at most two partial leaves per class and group).
FOLD_EVERY = 16

#: Label sequence types the grouped route reads (any other goes the flat route).
_SEQUENCES = {list, tuple, np.ndarray}

_PRUNING = ("prune_by_noise_rate", "prune_by_class", "both")


def _layout(labels, pred_probs):
    """``(k, dtype, sentence offsets)`` of clean nested input, or None.

    Each check is one C-level sweep over the sentences (``map`` with a
    built-in), not a Python loop: the layout costs a few ms per 100,000
    sentences.
    """
    if not isinstance(pred_probs, (list, tuple)) or not isinstance(labels, (list, tuple)):
        return None
    if len(labels) != len(pred_probs) or not pred_probs:
        return None
    first = pred_probs[0]
    if not isinstance(first, np.ndarray) or first.ndim != 2:
        return None
    k, dtype = first.shape[1], first.dtype
    if dtype not in (np.float32, np.float64) or k < 2:
        return None
    if (set(map(type, pred_probs)) != {np.ndarray}
            or not set(map(type, labels)) <= _SEQUENCES
            or set(map(attrgetter("dtype"), pred_probs)) != {dtype}):
        return None
    shapes = set(map(attrgetter("shape"), pred_probs))  # a few dozen distinct ones
    if {len(shape) for shape in shapes} != {2} or {shape[1] for shape in shapes} != {k}:
        return None
    lengths = np.fromiter(map(len, pred_probs), dtype=np.int64, count=len(pred_probs))
    try:
        label_lengths = np.fromiter(map(len, labels), dtype=np.int64, count=len(labels))
    except TypeError:  # a 0-d array among the label sequences
        return None
    if not np.array_equal(lengths, label_lengths):
        return None
    starts = np.zeros(len(pred_probs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    if int(starts[-1]) == 0:
        return None
    return k, dtype, starts


def _groups(starts: np.ndarray):
    """Sentence ranges ``(a, b)`` of about :data:`GROUP_TOKENS` tokens each."""
    n = starts.shape[0] - 1
    a = 0
    while a < n:
        b = int(np.searchsorted(starts, starts[a] + GROUP_TOKENS, side="right")) - 1
        b = min(max(b, a + 1), n)
        yield a, b
        a = b


def find_issues(labels, pred_probs, *, filter_by="prune_by_noise_rate", ranked_by=None,
                n_jobs=None, chunk_size=None):
    """``(flat token indices of the issues, sentence offsets)``, or None.

    The issues are ranked when ``ranked_by`` is set, else in file order.
    """
    if filter_by not in _PRUNING:
        return None
    rank_spec = None
    if ranked_by is not None:
        rank_spec = ps.SCORES.get(ranked_by) if isinstance(ranked_by, str) else None
        if rank_spec is None or rank_spec.function is not None or rank_spec.strict_unit_interval:
            return None
    layout = _layout(labels, pred_probs)
    if layout is None:
        return None
    k, dtype, starts = layout
    groups = list(_groups(starts))
    try:
        found = _run(labels, pred_probs, k, dtype, starts, groups, filter_by, rank_spec,
                     n_jobs, chunk_size)
    except LabelAuditError:
        return None  # the flat route reports the bad input with its usual message
    # The offsets and the issues live on while the pairs are built: int32 when
    # the tokens allow it (halves the working memory next to the returned list).
    narrow = np.int32 if int(starts[-1]) < 2**31 else np.int64
    return found.astype(narrow), starts.astype(narrow)


def _block(pred_probs, a, b):
    if b - a == 1:
        return np.ascontiguousarray(pred_probs[a])
    return np.concatenate(pred_probs[a:b])  # empty sentences add no rows


def _run(labels, pred_probs, k, dtype, starts, groups, filter_by, rank_spec, n_jobs,
         chunk_size):
    n = int(starts[-1])
    narrow = np.empty(n, dtype=np.min_scalar_type(k - 1))
    per_group = np.zeros((len(groups), k), dtype=np.int64)
    for g, (a, b) in enumerate(groups):
        lab = check_labels(np.asarray(list(chain.from_iterable(labels[a:b]))),
                           int(starts[b] - starts[a]), k)
        narrow[starts[a]:starts[b]] = lab
        per_group[g] = np.bincount(lab, minlength=k)
    counts = per_group.sum(axis=0)
    seq_start = np.cumsum(per_group, axis=0) - per_group

    def blocks(numbered=True):
        # The loops below drop their block before asking for the next one, so
        # one group's buffer is alive at a time.
        for g, (a, b) in enumerate(groups):
            lab = np.ascontiguousarray(narrow[starts[a]:starts[b]], dtype=np.intp)
            item = (int(starts[a]), lab, _block(pred_probs, a, b))
            del lab
            yield (g, *item) if numbered else item
            del item

    # Thresholds: each class's self-confidences as one pairwise sum over the groups,
    # whose pieces are folded together after every group (a few dozen per class).
    merged = [({}, {}) for _ in range(k)]
    for g, _, lab, p in blocks():
        offs = np.zeros(k + 1, dtype=np.intp)
        np.cumsum(per_group[g], out=offs[1:])
        grouped = np.empty(p.shape[0], dtype=p.dtype)
        gather_by_label(p, lab, offs, grouped)
        for c in np.flatnonzero(per_group[g]):
            node_sums, node_raw = _pairwise.partials(grouped[offs[c]:offs[c + 1]],
                                                     int(seq_start[g, c]), int(counts[c]))
            merged[c][0].update(node_sums)
            merged[c][1].update(node_raw)
            if g % FOLD_EVERY == FOLD_EVERY - 1:
                _fold(*merged[c], int(counts[c]), dtype)
        del lab, p, grouped
    values = []
    for c in range(k):
        if counts[c] == 0:
            values.append(ps.BIG_THRESHOLD)
            continue
        total = _pairwise.combine([merged[c]], int(counts[c]), dtype)
        values.append(_pairwise.mean_like_numpy(total, int(counts[c])))
    thresholds = np.clip(values, a_min=2e-6, a_max=None)
    del merged

    # Confident counts; the pass also validates every row.
    cut = ps.cut_points(thresholds, k, dtype)
    raw = None
    for _, offset, lab, p in blocks():
        res = ps.row_pass(lab, p, cut=cut, n_jobs=n_jobs, chunk_size=chunk_size,
                          row_offset=offset)
        raw = res.counts if raw is None else raw + res.counts
        del lab, p
    confident_joint = calibrate_counts(ps.fill_diagonal_min_one(np.asfortranarray(raw)), counts)

    prune = keep_at_least_n_per_class(np.asarray(confident_joint).T, 1, frac_noise=1.0)
    plan = ps.prune_plan(prune, counts, 1, filter_by)
    if plan["inactive"].size:
        warnings.warn(
            "May not flag all label issues in classes "
            f"{plan['inactive'].tolist()}: they have too few examples "
            "(at most min_examples_per_class=1).",
            LabelAuditWarning, stacklevel=4,
        )
    slot, _, rows = ps.select_candidates_in_blocks(
        blocks(numbered=False), plan, k, dtype, n_jobs=n_jobs, chunk_size=chunk_size)
    selected = ps.selected_rows(plan, slot, rows, filter_by)
    del slot, rows

    # Un-flag the selected rows whose given label wins, and score the others.
    flagged, scores = [], []
    cuts = np.searchsorted(selected, starts[[a for a, _ in groups] + [len(starts) - 1]])
    for g, offset, lab, p in blocks():
        local = selected[cuts[g]:cuts[g + 1]] - offset
        if local.size:
            local = local[~ps.given_label_wins(lab, p, local)]
            flagged.append(local + offset)
        if rank_spec is not None and local.size:
            scores.append(ps.row_pass(lab[local], np.ascontiguousarray(p[local]),
                                      score=rank_spec, n_jobs=n_jobs, chunk_size=chunk_size,
                                      check=False).score)
        del lab, p
    idx = np.concatenate(flagged).astype(np.int64) if flagged else np.zeros(0, dtype=np.int64)
    if rank_spec is None:
        return idx
    chosen = np.concatenate(scores) if scores else np.zeros(0, dtype=dtype)
    return idx[np.argsort(chosen, kind="stable")]


def _path(node_start: int, n: int, total: int) -> list[tuple[int, int]]:
    """The pairwise-tree nodes from the root down to ``(node_start, n)``."""
    path = [(0, total)]
    while path[-1] != (node_start, n):
        s, m = path[-1]
        if m <= _pairwise.LEAF:
            raise AssertionError("not a node of the tree")  # pragma: no cover
        half = _pairwise._split(m)
        path.append((s, half) if node_start < s + half else (s + half, m - half))
    return path


def _leaf_of(pos: int, total: int) -> tuple[int, int]:
    """The leaf of the pairwise tree that holds position ``pos``."""
    s, m = 0, total
    while m > _pairwise.LEAF:
        half = _pairwise._split(m)
        s, m = (s, half) if pos < s + half else (s + half, m - half)
    return s, m


def _fold(sums: dict, raw: dict, total: int, dtype) -> None:
    """Replace complete leaves and sibling pairs by their sums, as the tree adds them.

    :func:`labelaudit.confident._pairwise.combine` takes a node's sum when it
    has one and computes it from its children (or, for a leaf, from its raw
    values) otherwise, in exactly these operations, so folding early leaves
    the result unchanged and keeps the pieces of a class to a few dozen.
    """
    cast = np.dtype(dtype).type
    leaves: dict = {}
    end = -1
    for pos in sorted(raw):  # runs of positions: one tree descent per leaf
        if pos >= end:
            leaf = _leaf_of(pos, total)
            leaves[leaf] = None
            end = leaf[0] + leaf[1]
    for start, n in leaves:
        if all(q in raw for q in range(start, start + n)):
            values = np.array([raw.pop(q) for q in range(start, start + n)], dtype=dtype)
            sums[(start, n)] = _pairwise._leaf_sum(values)
    changed = True
    while changed:
        changed = False
        for node in list(sums):
            if node not in sums or node == (0, total):
                continue
            parent = _path(*node, total)[-2]
            half = _pairwise._split(parent[1])
            left, right = (parent[0], half), (parent[0] + half, parent[1] - half)
            if left in sums and right in sums:
                sums[parent] = cast(cast(sums.pop(left)) + cast(sums.pop(right)))
                changed = True
