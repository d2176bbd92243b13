"""The one-vs-rest reduction shared by the multi-label ``filter``, ``rank`` and ``dataset`` modules.

cleanlab treats every class ``c`` of a multi-label problem as its own binary
problem: the given label is ``1`` when the item carries ``c``, and the
two-column probability matrix is ``[1 - p_c, p_c]`` (computed in the dtype of
``pred_probs``). The multi-class machinery of :mod:`labelaudit.confident` then
runs on each binary problem. This module builds those problems one class at a
time (one column of extra memory, never a full copy), and holds the score
aggregators of cleanlab's ``MultilabelScorer``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._core import ml_column
from .._threads import effective_n_threads
from .._validation import check_multilabel_labels, check_multilabel_probs, dask_row_blocks
from ..confident._passes import is_dask_array
from ..exceptions import LabelAuditError

#: Score methods of the per-class (binary) problems, as cleanlab names them.
BASE_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")

#: Rows per kernel work unit when the caller does not say.
DEFAULT_CHUNK = 1 << 16

#: A dask ``pred_probs`` is computed a few columns at a time into a cache of
#: at most this fraction of the matrix (or :data:`LAZY_CACHE_MIN_BYTES`).
LAZY_CACHE_FRACTION = 1 / 16
LAZY_CACHE_MIN_BYTES = 16 << 20


class Problem:
    """Validated multi-label inputs: packed label bits and the probability matrix.

    ``bits`` is ``np.packbits(onehot, axis=1)`` (one bit per item-class pair),
    so the labels of a million items with a hundred classes take 13 MB.
    """

    def __init__(self, bits: np.ndarray, pred_probs: np.ndarray, *, n_jobs=None,
                 chunk_size=None):
        self.bits = bits
        self.pred_probs = pred_probs
        self.n, self.k = pred_probs.shape
        self.n_threads = effective_n_threads(n_jobs)
        if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
            raise LabelAuditError(f"`chunk_size` must be a positive integer, got {chunk_size!r}.")
        self.chunk_size = int(chunk_size) if chunk_size is not None else DEFAULT_CHUNK
        self.lazy = is_dask_array(pred_probs)
        self._cached = None  # dask input: (start, stop, first column, computed block)

    def column(self, c: int, start: int = 0, stop: int | None = None):
        """``(x, y)``: column ``c`` of ``pred_probs`` and its 0/1 labels for rows
        ``start:stop`` (default all), contiguous.

        A dask ``pred_probs`` is computed for a group of columns at once (as
        many as fit :data:`LAZY_CACHE_FRACTION` of the matrix), so the calls
        for consecutive classes read the dask graph once per group.
        """
        stop = self.n if stop is None else stop
        if self.lazy:
            return self._lazy_column(c, start, stop)
        x = np.empty(stop - start, dtype=self.pred_probs.dtype)
        y = np.empty(stop - start, dtype=np.uint8)
        ml_column(self.pred_probs[start:stop], self.bits[start:stop], c, x, y, self.n_threads,
                  self.chunk_size)
        return x, y

    def _lazy_column(self, c: int, start: int, stop: int):
        cached = self._cached
        if (cached is None or cached[:2] != (start, stop)
                or not cached[2] <= c < cached[2] + cached[3].shape[1]):
            itemsize = self.pred_probs.dtype.itemsize
            budget = max(LAZY_CACHE_MIN_BYTES,
                         int(self.n * self.k * itemsize * LAZY_CACHE_FRACTION))
            width = max(1, min(self.k - c, budget // max(1, (stop - start) * itemsize)))
            self._cached = None  # drop the old block before computing the next
            block = np.empty((stop - start, width), dtype=self.pred_probs.dtype)
            for a, part in dask_row_blocks(self.pred_probs, start, stop, slice(c, c + width)):
                block[a - start:a - start + part.shape[0]] = part
            cached = self._cached = (start, stop, c, block)
        x = np.ascontiguousarray(cached[3][:, c - cached[2]])
        y = (self.bits[start:stop, c >> 3] >> (7 - (c & 7))) & np.uint8(1)
        return x, np.ascontiguousarray(y, dtype=np.uint8)

    def class_counts(self) -> np.ndarray:
        """Items carrying each class (int64, one per class)."""
        counts = np.zeros(self.k, dtype=np.int64)
        for start in range(0, self.n, DEFAULT_CHUNK):
            counts += unpack(self.bits[start:start + DEFAULT_CHUNK], self.k).sum(
                axis=0, dtype=np.int64)
        return counts

    def subset(self, rows: np.ndarray) -> Problem:
        """The same problem restricted to ``rows`` (a boolean mask or indices)."""
        probs = self.pred_probs
        if self.lazy:  # only the chosen rows are computed
            rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else rows
            probs = probs[np.asarray(rows)].compute()
        else:
            probs = probs[rows]
        return Problem(np.ascontiguousarray(self.bits[rows]), np.ascontiguousarray(probs),
                       n_jobs=self.n_threads, chunk_size=self.chunk_size)


def unpack(bits: np.ndarray, k: int) -> np.ndarray:
    """uint8 indicator rows of packed label bits."""
    return np.unpackbits(bits, axis=1, count=k)


def validate(labels, pred_probs, *, n_jobs=None, chunk_size=None) -> Problem:
    """Check ``labels`` and ``pred_probs`` once and pack the labels."""
    pred_probs = check_multilabel_probs(pred_probs)
    n, k = pred_probs.shape
    bits = check_multilabel_labels(labels, n, k)
    return Problem(bits, pred_probs, n_jobs=n_jobs, chunk_size=chunk_size)


def base_method(method) -> str:
    """cleanlab's score method name (any letter case), checked."""
    if not isinstance(method, str) or method.lower() not in BASE_METHODS:
        raise LabelAuditError(
            f"`method` must be one of {', '.join(BASE_METHODS)}, got {method!r}."
        )
    return method.lower()


def require_both_values(problem: Problem, *, where: str = "labels") -> None:
    """cleanlab's multi-label scorer refuses indicator matrices that are not two-valued.

    It needs at least two classes, and both "carries a class" and "lacks a
    class" somewhere in the matrix.
    """
    if problem.k < 2:
        raise LabelAuditError(
            f"`{where}`: multi-label scores need at least 2 classes, got {problem.k}."
        )
    total = int(problem.class_counts().sum()) if problem.n else 0
    if problem.n == 0 or total in (0, problem.n * problem.k):
        raise LabelAuditError(
            f"`{where}`: multi-label scores need some item-class pairs present and some absent; "
            "every item here carries the same classes (all or none)."
        )


# ---------------------------------------------------------------------------
# Aggregators: per-class scores (n, K) -> one score per item
# ---------------------------------------------------------------------------

def exponential_moving_average(scores: np.ndarray, *, alpha: float | None = None, axis: int = 1,
                               **_) -> np.ndarray:
    """EMA over each row's scores sorted from highest to lowest (the lowest weigh most).

    ``s = sorted[0]``, then ``s = alpha * next + (1 - alpha) * s`` down the
    sorted row; ``alpha=None`` means ``2 / (K + 1)``.
    """
    if axis != 1:
        raise LabelAuditError(f"`axis` must be 1 (one score per row), got {axis!r}.")
    k = scores.shape[1]
    if alpha is None:
        alpha = float(2 / (k + 1))
    if not 0 <= alpha <= 1:
        raise LabelAuditError(f"`alpha` must be in [0, 1], got {alpha!r}.")
    ordered = np.sort(scores, axis=1)  # ascending; walked from the last column down
    out = ordered[:, k - 1].copy()
    for j in range(k - 2, -1, -1):
        out = alpha * ordered[:, j] + (1 - alpha) * out
    return out


def softmin(scores: np.ndarray, *, temperature: float = 0.1, axis: int = 1, **_) -> np.ndarray:
    """Each row's scores weighted by a softmax of ``1 - score`` (a smooth minimum)."""
    if axis != 1:
        raise LabelAuditError(f"`axis` must be 1 (one score per row), got {axis!r}.")
    x = (1 - scores) / max(temperature, 1e-6)
    x = x - np.max(x, axis=1, keepdims=True)
    weights = np.exp(x)
    weights /= np.sum(weights, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", scores, weights)


AGGREGATORS: dict[str, Callable[..., np.ndarray]] = {
    "exponential_moving_average": exponential_moving_average,
    "softmin": softmin,
}


def aggregator(method, **kwargs) -> Callable[[np.ndarray], np.ndarray]:
    """A function ``(n, K) scores -> (n,)`` for an aggregator name or callable plus its options."""
    if isinstance(method, str):
        if method not in AGGREGATORS:
            raise LabelAuditError(
                f"aggregator `method` must be one of {', '.join(AGGREGATORS)} or a callable, "
                f"got {method!r}."
            )
        method = AGGREGATORS[method]
    if not callable(method):
        raise LabelAuditError(f"aggregator `method` must be a name or a callable, got {method!r}.")

    def aggregate(scores: np.ndarray) -> np.ndarray:
        return method(scores, **{**kwargs, "axis": 1})

    return aggregate


def default_aggregator() -> Callable[[np.ndarray], np.ndarray]:
    """cleanlab's default: exponential moving average with ``alpha=0.8``."""
    return aggregator("exponential_moving_average", alpha=0.8)
