"""Dataset-level summaries of multi-label label quality (cleanlab's ``multilabel_classification.dataset``).

Each class has two ways to be wrong: given but absent ("In Given Label") and
present but not given ("In Suggested Label"). These functions count both per
class from the per-class issues of
:func:`~labelaudit.multilabel_classification.filter.find_multilabel_issues_per_class`.
The tables are pandas DataFrames with cleanlab's columns; pandas is needed
(``pip install labelaudit[pandas]``).

Row order: rows are sorted with pandas' default ``sort_values``, exactly as
cleanlab sorts them, so tables are identical row for row (the sort is
deterministic; rows with equal keys keep the order that sort gives them).

Examples
--------
>>> import numpy as np
>>> from labelaudit.multilabel_classification import dataset
>>> labels = [[0], [0], [0], [1], [1], [1], [0, 1], []]
>>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.9],
...               [0.1, 0.8], [0.1, 0.2], [0.9, 0.8], [0.1, 0.1]])
>>> float(dataset.overall_multilabel_health_score(labels, p))
0.75
"""

from __future__ import annotations

import numpy as np

from ..exceptions import LabelAuditError
from . import _onevsrest as ovr
from .filter import class_flags
from .filter import find_label_issues as _find_label_issues

__all__ = [
    "common_multilabel_issues",
    "multilabel_health_summary",
    "overall_multilabel_health_score",
    "rank_classes_by_multilabel_quality",
]


def _pandas():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a declared extra
        raise LabelAuditError(
            "the multi-label dataset summaries return pandas DataFrames: install pandas "
            "(pip install labelaudit[pandas])."
        ) from None
    return pd


def _num_examples(labels, confident_joint=None) -> int:
    if labels is None and confident_joint is None:
        raise LabelAuditError("`labels` is required (or a `confident_joint` to count items from).")
    if labels is not None:
        return len(labels)
    return int(np.sum(np.asarray(confident_joint)[0]))


def _check_class_names(class_names, k: int):
    if class_names is None:
        return None
    names = list(class_names)
    if len(names) < k:
        raise LabelAuditError(
            f"`class_names` needs one name per class ({k}), got {len(names)}."
        )
    return names


def common_multilabel_issues(labels=None, pred_probs=None, *, class_names=None,
                             confident_joint=None, n_jobs=None, chunk_size=None):
    """How often each class is wrongly given, and wrongly missed, sorted most frequent first.

    Parameters
    ----------
    labels : list of list of int
        The classes each item carries.
    pred_probs : ndarray or dask array of shape (n_samples, K)
        Out-of-sample probability that each item carries each class.
    class_names : sequence of str, optional
        Adds a ``Class Name`` column.
    confident_joint : ndarray of shape (K, 2, 2), optional
        One-vs-rest confident joint used instead of the estimated one.
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    pandas.DataFrame
        Two rows per class: ``Class Index``, ``In Given Label``, ``In Suggested
        Label``, ``Num Examples`` (items flagged that way) and ``Issue
        Probability`` (that count over all items); sorted by ``Issue
        Probability``, highest first.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.multilabel_classification import dataset
    >>> labels = [[0], [0], [0], [1], [1], [1], [0, 1], []]
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.9],
    ...               [0.1, 0.8], [0.1, 0.2], [0.9, 0.8], [0.1, 0.1]])
    >>> dataset.common_multilabel_issues(labels, p)[["Class Index", "In Given Label",
    ...                                              "Num Examples"]].values.tolist()
    [[0, True, 1], [1, True, 1], [1, False, 1], [0, False, 0]]
    """
    pd = _pandas()
    num_examples = _num_examples(labels, confident_joint)
    problem = ovr.validate(labels, pred_probs, n_jobs=n_jobs, chunk_size=chunk_size)
    k = problem.k
    names = _check_class_names(class_names, k)
    wrongly_given = np.zeros(k, dtype=np.int64)
    wrongly_missed = np.zeros(k, dtype=np.int64)
    for c, _, y, flags in class_flags(problem, confident_joint=confident_joint):
        given = y.view(bool)
        wrongly_given[c] = np.count_nonzero(given & flags)
        wrongly_missed[c] = np.count_nonzero(~given & flags)
    columns: dict[str, list] = {}
    if names is not None:
        columns["Class Name"] = [names[c] for c in range(k) for _ in (0, 1)]
    columns["Class Index"] = [c for c in range(k) for _ in (0, 1)]
    columns["In Given Label"] = [side for _ in range(k) for side in (True, False)]
    columns["In Suggested Label"] = [not side for _ in range(k) for side in (True, False)]
    counts = np.column_stack([wrongly_given, wrongly_missed]).ravel()
    columns["Num Examples"] = counts
    columns["Issue Probability"] = counts / num_examples
    frame = pd.DataFrame(columns)
    return frame.sort_values(by=["Issue Probability"], ascending=False).reset_index(drop=True)


def rank_classes_by_multilabel_quality(labels=None, pred_probs=None, *, class_names=None,
                                       joint=None, confident_joint=None, n_jobs=None,
                                       chunk_size=None):
    """Classes from worst to best label quality (1 minus the rate of wrongly given labels).

    Parameters
    ----------
    labels : list of list of int
        The classes each item carries.
    pred_probs : ndarray or dask array of shape (n_samples, K)
        Out-of-sample probability that each item carries each class.
    class_names : sequence of str, optional
        Adds a ``Class Name`` column.
    joint : ndarray of shape (K, 2, 2), optional
        One-vs-rest confident joint used for the issue counts (cleanlab's
        parameter name for it here).
    confident_joint : ndarray of shape (K, 2, 2), optional
        Only used to count the items when ``labels`` is None (as in cleanlab).
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    pandas.DataFrame
        One row per class: ``Class Index``, ``Label Issues`` and ``Label
        Noise`` (wrongly given: count and rate), ``Inverse Label Issues`` and
        ``Inverse Label Noise`` (wrongly missed), ``Label Quality Score`` =
        1 - ``Label Noise``; lowest quality first.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.multilabel_classification import dataset
    >>> labels = [[0], [0], [0], [1], [1], [1], [0, 1], []]
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.9],
    ...               [0.1, 0.8], [0.1, 0.2], [0.9, 0.8], [0.1, 0.1]])
    >>> dataset.rank_classes_by_multilabel_quality(labels, p)["Label Quality Score"].tolist()
    [0.875, 0.875]
    """
    pd = _pandas()
    issues = common_multilabel_issues(labels=labels, pred_probs=pred_probs,
                                      class_names=class_names, confident_joint=joint,
                                      n_jobs=n_jobs, chunk_size=chunk_size)
    num_examples = _num_examples(labels, confident_joint)
    named = class_names is not None
    per_class: dict = {}  # class index -> its figures, in order of first appearance
    for row in issues.to_dict("records"):
        entry = per_class.setdefault(row["Class Index"], {})
        if named:
            entry["Class Name"] = row["Class Name"]
        rate = row["Issue Probability"]
        if row["In Given Label"]:
            entry["Label Issues"] = int(rate * num_examples)
            entry["Label Noise"] = rate
            entry["Label Quality Score"] = 1 - rate
        else:
            entry["Inverse Label Issues"] = int(rate * num_examples)
            entry["Inverse Label Noise"] = rate
    columns = ["Class Name"] if named else []
    columns += ["Class Index", "Label Issues", "Inverse Label Issues", "Label Noise",
                "Inverse Label Noise", "Label Quality Score"]
    frame = pd.DataFrame([{"Class Index": c, **entry} for c, entry in per_class.items()])
    frame = frame.sort_values(by="Label Quality Score", ascending=True).reset_index(drop=True)
    return frame[columns]


def overall_multilabel_health_score(labels=None, pred_probs=None, *, confident_joint=None,
                                    n_jobs=None, chunk_size=None) -> np.float64:
    """Share of items whose label set looks right: ``1 - issues / items``.

    Parameters
    ----------
    labels : list of list of int
        The classes each item carries.
    pred_probs : ndarray or dask array of shape (n_samples, K)
        Out-of-sample probability that each item carries each class.
    confident_joint : ndarray of shape (K, 2, 2), optional
        One-vs-rest confident joint used instead of the estimated one.
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    numpy.float64
        As cleanlab's.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.multilabel_classification import dataset
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.9]])
    >>> float(dataset.overall_multilabel_health_score([[0], [0], [0, 1], [1]], p))
    0.75
    """
    num_examples = _num_examples(labels)
    issues = _find_label_issues(labels, pred_probs, confident_joint=confident_joint,
                                n_jobs=n_jobs, chunk_size=chunk_size)
    return np.float64(1.0 - np.int64(np.count_nonzero(issues)) / num_examples)  # as cleanlab's


def multilabel_health_summary(labels=None, pred_probs=None, *, class_names=None,
                              num_examples=None, confident_joint=None, verbose=True,
                              n_jobs=None, chunk_size=None) -> dict:
    """The three multi-label summaries at once (and printed when ``verbose``).

    Parameters
    ----------
    labels : list of list of int
        The classes each item carries.
    pred_probs : ndarray or dask array of shape (n_samples, K)
        Out-of-sample probability that each item carries each class.
    class_names : sequence of str, optional
        Adds a ``Class Name`` column to the tables.
    num_examples : int, optional
        Item count shown in the printed header (default: ``len(labels)``).
    confident_joint : ndarray of shape (K, 2, 2), optional
        Used by the issue table and the health score (the class table, as in
        cleanlab, estimates its own).
    verbose : bool, default True
        Print the tables.
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    dict
        ``overall_multilabel_health_score`` (float),
        ``classes_by_multilabel_quality`` and ``common_multilabel_issues``
        (DataFrames).

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.multilabel_classification import dataset
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.9]])
    >>> summary = dataset.multilabel_health_summary([[0], [0], [0, 1], [1]], p, verbose=False)
    >>> sorted(summary)
    ['classes_by_multilabel_quality', 'common_multilabel_issues', 'overall_multilabel_health_score']
    """
    if num_examples is None:
        num_examples = _num_examples(labels)
    classes = rank_classes_by_multilabel_quality(labels=labels, pred_probs=pred_probs,
                                                 class_names=class_names,
                                                 confident_joint=confident_joint,
                                                 n_jobs=n_jobs, chunk_size=chunk_size)
    common = common_multilabel_issues(labels=labels, pred_probs=pred_probs,
                                      class_names=class_names, confident_joint=confident_joint,
                                      n_jobs=n_jobs, chunk_size=chunk_size)
    health = overall_multilabel_health_score(labels=labels, pred_probs=pred_probs,
                                             confident_joint=confident_joint, n_jobs=n_jobs,
                                             chunk_size=chunk_size)
    if verbose:
        print(f"Multi-label health summary for {num_examples:,} items")
        print("\nClasses by label quality (worst first):")
        print(classes.to_string())
        print("\nCommon multi-label issues:")
        print(common.to_string())
        print(f"\nOverall health score: {health:.4f}")
    return {
        "overall_multilabel_health_score": health,
        "classes_by_multilabel_quality": classes,
        "common_multilabel_issues": common,
    }

