"""numpy's pairwise summation, split across shards and reassembled exactly.

cleanlab's class thresholds are ``np.mean`` over each class's values in row
order. numpy sums a contiguous vector with a fixed pairwise tree: a node of
``n > 128`` values splits at ``n2 = n // 2 - (n // 2) % 8``; a leaf of at most
128 values is summed with eight interleaved accumulators. The tree depends only
on positions, so when a class's values are spread over several shards, every
shard can sum the tree nodes that lie wholly inside its slice (numpy's own sum
of that sub-vector *is* the node's value) and send the few raw values of the
leaves its slice boundaries cut through. The client then evaluates the tree
top-down and gets exactly the single-machine sum: a shard sends at most
``2 * log2(n)`` node sums and 256 raw values per class, never its rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LEAF", "combine", "mean_like_numpy", "partials"]

LEAF = 128  # numpy's PW_BLOCKSIZE
_UNROLL = 8


def _split(n: int) -> int:
    half = n // 2
    return half - half % _UNROLL


def partials(values: np.ndarray, start: int, total: int) -> tuple[dict, dict]:
    """Node sums and raw boundary values of one shard's slice of a class sequence.

    Parameters
    ----------
    values : ndarray
        The shard's values, positions ``start .. start + len(values)`` of the
        whole sequence, contiguous, in the dtype of the sum.
    start : int
        Global position of ``values[0]``.
    total : int
        Length of the whole sequence.

    Returns
    -------
    sums : dict
        ``{(node_start, node_len): sum}`` for maximal nodes inside the slice.
    raw : dict
        ``{position: value}`` for positions inside leaves cut by the slice.
    """
    stop = start + values.shape[0]
    sums: dict = {}
    raw: dict = {}
    if values.shape[0] == 0:
        return sums, raw
    stack = [(0, total)]
    while stack:
        node_start, n = stack.pop()
        node_stop = node_start + n
        if node_stop <= start or node_start >= stop:
            continue
        if start <= node_start and node_stop <= stop:
            sums[(node_start, n)] = np.add.reduce(values[node_start - start:node_stop - start])
            continue
        if n <= LEAF:
            lo, hi = max(node_start, start), min(node_stop, stop)
            for pos in range(lo, hi):
                raw[pos] = values[pos - start]
            continue
        n2 = _split(n)
        stack.append((node_start + n2, n - n2))
        stack.append((node_start, n2))
    return sums, raw


def _leaf_sum(x: np.ndarray):
    """numpy's leaf algorithm (eight accumulators), in the dtype of ``x``."""
    n = x.shape[0]
    cast = x.dtype.type
    if n < _UNROLL:
        res = cast(0)
        for v in x:
            res = cast(res + v)
        return res
    acc = list(x[:_UNROLL])
    i = _UNROLL
    body = n - n % _UNROLL
    while i < body:
        for j in range(_UNROLL):
            acc[j] = cast(acc[j] + x[i + j])
        i += _UNROLL
    res = cast(cast(cast(acc[0] + acc[1]) + cast(acc[2] + acc[3]))
               + cast(cast(acc[4] + acc[5]) + cast(acc[6] + acc[7])))
    while i < n:
        res = cast(res + x[i])
        i += 1
    return res


def combine(pieces: list[tuple[dict, dict]], total: int, dtype):
    """Evaluate the pairwise tree of a sequence of length ``total`` from shard pieces."""
    cast = np.dtype(dtype).type
    if total == 0:
        return cast(0)
    sums: dict = {}
    raw: dict = {}
    for node_sums, node_raw in pieces:
        sums.update(node_sums)
        raw.update(node_raw)

    def evaluate(node_start: int, n: int):
        key = (node_start, n)
        if key in sums:
            return cast(sums[key])
        if n <= LEAF:
            return _leaf_sum(np.array([raw[p] for p in range(node_start, node_start + n)],
                                      dtype=dtype))
        n2 = _split(n)
        return cast(evaluate(node_start, n2) + evaluate(node_start + n2, n - n2))

    return evaluate(0, total)


def mean_like_numpy(total_sum, count: int):
    """``np.mean``'s last step: the sum divided by the count, back in the sum's dtype."""
    return total_sum.dtype.type(total_sum / np.intp(count))
