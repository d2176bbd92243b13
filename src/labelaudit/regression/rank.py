"""Label quality scores for numeric labels (cleanlab's ``regression.rank`` module).

Replacing ``cleanlab`` by ``labelaudit`` in ``from cleanlab.regression.rank
import get_label_quality_scores`` gives the same scores (to float tolerance) on
every input cleanlab scores, computed by the kernels of :mod:`labelaudit._core`
without the ``n x ceil(n/2)`` neighbour matrices cleanlab's ``"outre"`` method
materialises.

Examples
--------
>>> import numpy as np
>>> from labelaudit.regression.rank import get_label_quality_scores
>>> labels = np.array([1.0, 2.0, 3.0, 4.0])
>>> predictions = np.array([2.0, 2.0, 5.0, 4.1])
>>> get_label_quality_scores(labels, predictions, method="residual").round(4).tolist()
[0.3679, 1.0, 0.1353, 0.9048]
"""

from __future__ import annotations

import numpy as np

from .._core import regression_knn_mean_distances, regression_residual_scores
from .._threads import effective_n_threads, resolve_chunk_size
from .._validation import (
    check_regression_inputs,
    regression_float_pair,
    regression_missing_error,
)
from ..exceptions import InputError

__all__ = ["get_label_quality_scores"]

#: Added to a standard deviation before dividing by it (a float32 deviation
#: absorbs it, so constant float32 labels cannot be standardised: an error).
_TINY = 1e-100
#: Spread of the standardised residual relative to the standardised label.
_RESIDUAL_SCALE = 5
#: Share of the items that are the neighbours of each item.
_FRAC_NEIGHBORS = 0.5
#: Floor of the distance scale and of its divisor.
_SCALE_FLOOR = 100 * np.finfo(np.float64).eps
_DIVISOR_FLOOR = 1e-6
#: Mean neighbour distances below this are rounding noise: the score is 1.
_ZERO_DISTANCE = np.sqrt(100 * np.finfo(np.float64).eps)
#: Up to this many items the reference computes float32 distances in float32
#: (and returns float32 scores); above it, float64 scores.
_SMALL_N = 100
#: Queries per scheduled chunk of the neighbour kernel.
_KNN_CHUNK = 256
#: Items per scheduled chunk of the residual kernel: a few milliseconds of
#: work, so inputs below it run on one thread, where waking a second one would
#: cost more than the whole pass.
_RESIDUAL_CHUNK = 1 << 20


def get_label_quality_scores(labels, predictions, *, method: str = "outre",
                             n_jobs: int | None = None,
                             chunk_size: int | None = None) -> np.ndarray:
    """Score how likely each numeric label is correct, in ``[0, 1]`` (higher is better).

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given numeric labels (targets). Length-1 axes are dropped, so
        ``(n, 1)`` works; at least 2 items. A dask array is computed into
        memory (two vectors, the size of the returned scores).
    predictions : array-like of shape (n_samples,)
        Out-of-sample predictions of a regression model for the same items
        (from cross-validation, for instance).
    method : {"outre", "residual"}, default "outre"
        - ``"residual"``: ``exp(-|prediction - label|)``; depends on the units
          of the label.
        - ``"outre"``: how typical the pair (label, residual) is among all
          items: labels and residuals are standardised (residuals stretched
          5 times), and each item is scored ``exp(-d / median(d))`` where ``d``
          is its mean Euclidean distance to its ``ceil(n / 2)`` nearest items
          (itself included); ``d`` below ``1.5e-7`` scores 1.
    n_jobs : int or None, default None
        Threads (:func:`labelaudit._threads.resolve_n_jobs`); results do not
        depend on it.
    chunk_size : int or None, default None
        Items per scheduled work unit; results do not depend on it.

    Returns
    -------
    numpy.ndarray of shape (n_samples,)
        Scores; lower means more likely mislabelled. The dtype is the one
        cleanlab returns: for ``"residual"`` the dtype of
        ``exp(predictions - labels)`` (float32 for float32 inputs); for
        ``"outre"`` float64, except float32 for float32 inputs of at most 100
        items.

    Raises
    ------
    labelaudit.exceptions.InputError
        Empty or non-1-D inputs, non-numeric dtypes, different lengths, an
        unknown ``method``, or NaN (the message names the first NaN row). For
        ``"outre"`` also infinities, complex numbers, and labels or residuals
        that cannot be standardised (constant float32 values); cleanlab fails
        there too, inside scikit-learn.

    Notes
    -----
    Ties need no rule here: a score depends on its own item and on the
    multiset of the nearest distances, never on which of several equidistant
    items is picked. Orderings built on these scores
    (:func:`labelaudit.tasks.regression`) break ties by item position.

    ``"outre"`` needs all ``n^2`` distances however it is computed, because
    its neighbourhood is half the data; labelaudit computes them exactly in
    float64 in ``O(n)`` memory per thread (cleanlab builds two
    ``n x ceil(n/2)`` arrays), so it runs where cleanlab runs out of memory but
    is still quadratic in time.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.regression.rank import get_label_quality_scores
    >>> labels = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    >>> predictions = np.array([1.1, 2.0, 2.9, 9.0, 5.1, 6.0])
    >>> scores = get_label_quality_scores(labels, predictions)
    >>> int(np.argmin(scores))
    3
    >>> get_label_quality_scores(labels, predictions, method="residual").round(3).tolist()
    [0.905, 1.0, 0.905, 0.007, 0.905, 1.0]
    """
    labels, predictions = check_regression_inputs(labels, predictions, method=method)
    n_threads = effective_n_threads(n_jobs)
    if method == "residual":
        return _residual_scores(labels, predictions, n_threads,
                                _RESIDUAL_CHUNK if chunk_size is None
                                else resolve_chunk_size(chunk_size))
    return _outre_scores(labels, predictions, n_threads,
                         _KNN_CHUNK if chunk_size is None else resolve_chunk_size(chunk_size))


def _residual_scores(labels, predictions, n_threads: int, chunk_size: int) -> np.ndarray:
    pair = regression_float_pair(labels, predictions)
    if pair is None:
        # Integers, float16, complex: numpy's own arithmetic and result dtype.
        error = regression_missing_error(labels, predictions)
        if error is not None:
            raise error
        return np.exp(-np.abs(predictions - labels))
    labels, predictions = pair
    out = np.empty(labels.shape[0], dtype=labels.dtype)
    n_nan = regression_residual_scores(labels, predictions, out, chunk_size, n_threads)
    if n_nan:
        # Only now look for NaN inputs (inf - inf also gives NaN, which is a score).
        error = regression_missing_error(labels, predictions)
        if error is not None:
            raise error
    return out


def _standardized(values: np.ndarray) -> np.ndarray:
    # (x - mean) / (std + tiny) with numpy's reductions in the values' dtype,
    # so degenerate inputs (constant values) behave exactly as the reference.
    # 0 / 0 of constant float32 values is reported by the caller, not warned about.
    with np.errstate(invalid="ignore", divide="ignore"):
        return (values - values.mean()) / (values.std() + _TINY)


def _outre_scores(labels, predictions, n_threads: int, chunk_size: int) -> np.ndarray:
    error = regression_missing_error(labels, predictions)
    if error is not None:
        raise error
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.dtype.kind == "c":
            raise InputError(f"`{name}` must be real numbers for method='outre', got dtype "
                             f"{values.dtype}.")
        if values.dtype.kind == "f":
            rows = np.flatnonzero(np.isinf(values))
            if rows.size:
                raise InputError(f"`{name}` must be finite for method='outre': row "
                                 f"{int(rows[0])} is {values[rows[0]]}.")
    n = labels.shape[0]
    residual = predictions - labels
    fx = _standardized(labels)
    fy = _RESIDUAL_SCALE * _standardized(residual)
    for name, values in (("labels", fx), ("residuals (predictions - labels)", fy)):
        if not np.isfinite(values).all():
            raise InputError(f"method='outre' cannot standardise the {name}: they are constant "
                             f"and their float32 standard deviation is 0; pass float64 values "
                             f"or use method='residual'.")
    dtype = np.result_type(fx.dtype, fy.dtype)
    kernel_dtype = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
    fx = np.ascontiguousarray(fx, dtype=kernel_dtype)
    fy = np.ascontiguousarray(fy, dtype=kernel_dtype)
    k = int(np.ceil(_FRAC_NEIGHBORS * n))
    mean_dist = np.empty(n, dtype=np.float64)
    ok = regression_knn_mean_distances(fx, fy, _query_order(fx, fy), k, mean_dist,
                                             chunk_size, n_threads)
    if not ok:  # pragma: no cover - needs an allocation failure
        raise MemoryError(f"method='outre': could not allocate 2 x {n} float64 per thread")
    scale = max(float(np.median(mean_dist)), _SCALE_FLOOR)
    scores = np.exp(-mean_dist / max(scale, _DIVISOR_FLOOR))
    scores[mean_dist < _ZERO_DISTANCE] = 1.0
    if dtype == np.float32 and n <= _SMALL_N:
        return scores.astype(np.float32)
    return scores


def _query_order(fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    # Serpentine strips: consecutive queries are close in the plane, which
    # keeps the kernel's candidate annulus thin. Only speed depends on it.
    n = fx.shape[0]
    n_strips = max(1, int(np.sqrt(n) / 2))
    lo, hi = float(fx.min()), float(fx.max())
    width = (hi - lo) / n_strips or 1.0
    strip = np.minimum(((fx - lo) / width).astype(np.intp), n_strips - 1)
    along = np.where(strip % 2 == 0, fy, -fy)
    return np.lexsort((along, strip)).astype(np.intp)
