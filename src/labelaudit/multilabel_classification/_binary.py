"""cleanlab's multi-class filters on one class's yes/no problem, from one fused kernel pass.

For class ``c`` the given label is ``y`` (carries ``c``) and the
probabilities are ``q = [1 - x, x]`` with ``x = pred_probs[:, c]``. The
kernel ``ml_binary_pass`` returns the 2 x 2 confident counts, the rows whose
given label is the (bumped) argmax, the confidently-off-diagonal rows and the
pruning key ``q[1 - y] - q[y]``; the selections below are partial sorts over
one class's rows (``np.partition``), ties taken by the smaller row index.
"""

from __future__ import annotations

import numpy as np

from .._core import ml_binary_pass
from ..confident._latent import calibrate_counts, keep_at_least_n_per_class
from ..confident._passes import (
    BIG_THRESHOLD,
    counts_for_fixed_removal,
    cut_points,
    fill_diagonal_min_one,
    smallest,
)
from ..exceptions import LabelAuditError

#: Filters computed here (the score filters are item-level, see ``filter.py``).
FAST_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                "predicted_neq_given")


def largest(keys: np.ndarray, m: int) -> np.ndarray:
    """Positions of the ``m`` largest keys, ties to the smaller position (unordered)."""
    n = keys.shape[0]
    if m <= 0:
        return np.empty(0, dtype=np.intp)
    if m >= n:
        return np.arange(n)
    cut = np.partition(keys, n - m)[n - m]
    above = np.flatnonzero(keys > cut)
    tied = np.flatnonzero(keys == cut)[:m - above.shape[0]]
    return np.concatenate([above, tied])


def thresholds(x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean ``q[:, j]`` over the rows labelled ``j``, as numpy takes it for cleanlab.

    Boolean indexing lays the values out in row order, so ``np.mean`` sums
    them in the same pairwise order as cleanlab's ``get_confident_thresholds``
    (bit-identical, float32 included). A side nobody is on gets 2.
    """
    values = [
        np.mean((1 - x)[y == 0]) if counts[0] > 0 else BIG_THRESHOLD,
        np.mean(x[y == 1]) if counts[1] > 0 else BIG_THRESHOLD,
    ]
    return np.clip(values, a_min=2e-6, a_max=None)


def binary_flags(x, y, *, filter_by="prune_by_noise_rate", frac_noise=1.0,
                 num_to_remove=None, min_examples_per_class=1, confident_joint=None,
                 n_threads=1, chunk_size=1 << 16):
    """Flags of cleanlab's ``filter.find_label_issues`` on the yes/no problem ``(y, [1 - x, x])``.

    Parameters
    ----------
    x : ndarray of float32 or float64, shape (n,)
        Probability that each item carries the class.
    y : ndarray of uint8, shape (n,)
        1 when the item is given the class.
    filter_by : str
        One of :data:`FAST_FILTERS`.
    frac_noise, min_examples_per_class : float, int
        As in ``find_label_issues``.
    num_to_remove : int, optional
        Items given the class to flag (cleanlab's ``[n_c, 0]`` removal counts).
    confident_joint : array of shape (2, 2), optional
        Used by the pruning filters instead of the calibrated joint.
    n_threads, chunk_size : int
        Kernel threads and rows per chunk (no effect on the result).

    Returns
    -------
    flags : ndarray of bool, shape (n,)
    thin : bool
        A side of the problem had at most ``min_examples_per_class`` items
        (cleanlab warns that it may not flag all issues of the class).
    """
    if filter_by not in FAST_FILTERS:
        raise LabelAuditError(f"`filter_by` must be one of {', '.join(FAST_FILTERS)}, "
                              f"got {filter_by!r}.")
    n = x.shape[0]
    label_counts = np.array([n - int(np.count_nonzero(y)), int(np.count_nonzero(y))],
                            dtype=np.int64)
    pruning = filter_by in ("prune_by_noise_rate", "prune_by_class", "both")
    need_counts = filter_by == "confident_learning" or (pruning and confident_joint is None)
    if need_counts:
        cut = cut_points(thresholds(x, y, label_counts), 2, x.dtype)
    else:
        cut = np.full(2, np.inf, dtype=x.dtype)  # no guesses needed
    margin = np.empty(n, dtype=x.dtype)
    keep = np.empty(n, dtype=np.uint8)
    off = np.empty(n, dtype=np.uint8)
    n_chunks = max(1, -(-n // chunk_size))
    chunk_counts = np.zeros((n_chunks, 4), dtype=np.int64)
    ml_binary_pass(x, y, np.ascontiguousarray(cut, dtype=x.dtype), margin, keep, off,
                         chunk_counts, n_threads, chunk_size)
    keep = keep.view(bool)
    thin = False
    if filter_by == "confident_learning":
        flags = off.view(bool).copy()
    elif filter_by == "predicted_neq_given":
        flags = (x > (1 - x)) != y.view(bool)
    else:
        if confident_joint is None:
            counts = chunk_counts.sum(axis=0).reshape(2, 2)  # [given, guess]
            confident_joint = calibrate_counts(fill_diagonal_min_one(counts), label_counts)
        prune = keep_at_least_n_per_class(np.asarray(confident_joint).T, min_examples_per_class,
                                          frac_noise=frac_noise)
        if num_to_remove is not None:
            prune = counts_for_fixed_removal(prune, label_counts, [num_to_remove, 0])
        by_rate = np.zeros(n, dtype=bool)
        by_class = np.zeros(n, dtype=bool)
        for k in (0, 1):
            if label_counts[k] <= min_examples_per_class:
                thin = True
                continue
            if label_counts[k] <= 1:
                continue  # cleanlab drops a one-item side's mask
            rows = np.flatnonzero(y == k)
            if filter_by != "prune_by_class":
                to_prune = int(prune[1 - k, k])
                if to_prune > 0:
                    by_rate[rows[largest(margin[rows], to_prune)]] = True
            if filter_by != "prune_by_noise_rate":
                to_prune = int(label_counts[k] - prune[k, k])
                if to_prune >= 1:
                    own = x[rows] if k == 1 else (1 - x[rows])
                    by_class[rows[smallest(own, to_prune)]] = True
        flags = {"prune_by_noise_rate": by_rate, "prune_by_class": by_class,
                 "both": by_rate & by_class}[filter_by]
    flags &= ~keep
    return flags, thin
