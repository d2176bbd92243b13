"""Label quality scores for multi-label data (cleanlab's ``multilabel_classification.rank``).

Each class is scored as its own binary problem (does the item carry the class
or not?) and the per-class scores of an item are aggregated into one score,
by default an exponential moving average that weighs the worst classes most.

Examples
--------
>>> import numpy as np
>>> from labelaudit.multilabel_classification import rank
>>> labels = [[0], [0, 1], [1], []]
>>> p = np.array([[0.9, 0.1], [0.8, 0.7], [0.2, 0.1], [0.1, 0.2]])
>>> rank.get_label_quality_scores(labels, p).round(3).tolist()
[0.9, 0.72, 0.24, 0.82]
"""

from __future__ import annotations

import numpy as np

from ..confident._passes import binary_probs
from ..confident.rank import get_label_quality_scores as _binary_scores
from ..exceptions import LabelAuditError
from . import _onevsrest as ovr

__all__ = ["get_label_quality_scores", "get_label_quality_scores_per_class"]

_DEFAULT_AGGREGATOR = {"method": "exponential_moving_average", "alpha": 0.8}


#: Item-class pairs scored per block by :func:`item_scores` (bounds its temporaries).
BLOCK_PAIRS = 1 << 20


def _column_scores(problem, c, method, adjust_pred_probs, start=0, stop=None) -> np.ndarray:
    """Scores of class ``c``'s yes/no problem for rows ``start:stop``."""
    x, y = problem.column(c, start, stop)
    return _binary_scores(y.astype(np.intp), binary_probs(x), method=method,
                          adjust_pred_probs=adjust_pred_probs, n_jobs=problem.n_threads,
                          chunk_size=problem.chunk_size, _validated=True)


def class_scores(problem, *, method="self_confidence", adjust_pred_probs=False) -> np.ndarray:
    """float64 ``(n, K)`` scores of every (item, class) pair of a validated problem."""
    method = ovr.base_method(method)
    out = np.zeros((problem.n, problem.k), dtype=np.float64)
    for c in range(problem.k):
        out[:, c] = _column_scores(problem, c, method, adjust_pred_probs)
    return out


def item_scores(problem, aggregate, *, method="self_confidence",
                adjust_pred_probs=False, row_wise=False) -> np.ndarray:
    """One aggregated score per item.

    With ``row_wise`` (the aggregator looks at each row alone, as the named
    ones do) and no threshold adjustment (whose thresholds need whole
    columns), the pairs are scored and aggregated one block of rows at a
    time: the same numbers, with memory and cache traffic of one block
    instead of an ``(n, K)`` float64 matrix. Otherwise the whole matrix is
    handed to ``aggregate``, as cleanlab does.
    """
    if not row_wise or adjust_pred_probs:
        return aggregate(class_scores(problem, method=method,
                                      adjust_pred_probs=adjust_pred_probs))
    method = ovr.base_method(method)
    rows = max(1024, BLOCK_PAIRS // max(problem.k, 1))
    out = np.empty(problem.n, dtype=np.float64)
    block = np.empty((min(rows, problem.n), problem.k), dtype=np.float64)
    for start in range(0, problem.n, rows):
        stop = min(start + rows, problem.n)
        part = block[:stop - start]
        for c in range(problem.k):
            part[:, c] = _column_scores(problem, c, method, False, start, stop)
        out[start:stop] = aggregate(part)
    return out


def _scorer_inputs(labels, pred_probs, n_jobs, chunk_size):
    problem = ovr.validate(labels, pred_probs, n_jobs=n_jobs, chunk_size=chunk_size)
    if not problem.class_counts().any():
        raise LabelAuditError("`labels`: every item has an empty label set; at least one class "
                              "must appear somewhere.")
    return problem


def get_label_quality_scores(labels, pred_probs, *, method="self_confidence",
                             adjust_pred_probs=False, aggregator_kwargs=None, n_jobs=None,
                             chunk_size=None) -> np.ndarray:
    """One label quality score per item, between 0 and 1 (lower: more likely mislabelled).

    Parameters
    ----------
    labels : list of list of int
        The classes each item carries (``[[0, 2], [], [1], ...]``).
    pred_probs : ndarray or dask array of shape (n_samples, K)
        Out-of-sample probability that each item carries each class (rows
        need not sum to one), float32 or float64.
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
        Score of each class's binary problem.
    adjust_pred_probs : bool, default False
        Subtract each binary problem's per-class thresholds first (not with
        ``"confidence_weighted_entropy"``).
    aggregator_kwargs : dict, optional
        ``{"method": name or callable, **options}`` turning an item's K class
        scores into one. Names: ``"exponential_moving_average"`` (option
        ``alpha``) and ``"softmin"`` (option ``temperature``). Default (None or
        empty): ``{"method": "exponential_moving_average", "alpha": 0.8}``.
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    ndarray of float64, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.multilabel_classification import get_label_quality_scores
    >>> p = np.array([[0.9, 0.1], [0.8, 0.7], [0.2, 0.1], [0.1, 0.2]])
    >>> get_label_quality_scores([[0], [0, 1], [1], []], p,
    ...     aggregator_kwargs={"method": "softmin"}).round(3).tolist()
    [0.9, 0.727, 0.101, 0.827]
    """
    problem = _scorer_inputs(labels, pred_probs, n_jobs, chunk_size)
    if aggregator_kwargs is None:
        aggregator_kwargs = _DEFAULT_AGGREGATOR
    aggregate = (ovr.aggregator(**aggregator_kwargs) if aggregator_kwargs
                 else ovr.default_aggregator())
    ovr.require_both_values(problem)
    named = not aggregator_kwargs or isinstance(aggregator_kwargs.get("method"), str)
    return item_scores(problem, aggregate, method=method, adjust_pred_probs=adjust_pred_probs,
                       row_wise=named)


def get_label_quality_scores_per_class(labels, pred_probs, *, method="self_confidence",
                                       adjust_pred_probs=False, n_jobs=None,
                                       chunk_size=None) -> np.ndarray:
    """Label quality score of every (item, class) pair.

    Parameters
    ----------
    labels : list of list of int
        The classes each item carries.
    pred_probs : ndarray or dask array of shape (n_samples, K)
        Probability that each item carries each class.
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
        Score of each class's binary problem.
    adjust_pred_probs : bool, default False
        Subtract each binary problem's per-class thresholds first.
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    ndarray of float64, shape (n_samples, K)
        Column ``c`` scores whether item ``i``'s given yes/no for class ``c`` is right.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.multilabel_classification import rank
    >>> p = np.array([[0.9, 0.1], [0.8, 0.7], [0.2, 0.1], [0.1, 0.2]])
    >>> rank.get_label_quality_scores_per_class([[0], [0, 1], [1], []], p).round(2).tolist()
    [[0.9, 0.9], [0.8, 0.7], [0.8, 0.1], [0.9, 0.8]]
    """
    problem = _scorer_inputs(labels, pred_probs, n_jobs, chunk_size)
    return class_scores(problem, method=method, adjust_pred_probs=adjust_pred_probs)
