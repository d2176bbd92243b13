"""Which multi-label items have a wrong label set (cleanlab's ``multilabel_classification.filter``).

An item has a label issue when *any* of its classes looks wrongly given or
wrongly missing. Each class is checked as its own binary problem (does the
item carry the class?) with the multi-class filters of
:mod:`labelaudit.confident.filter`, and the per-class flags are combined.

Ties: wherever cleanlab sorts (the per-class selections, the final ranking),
keys that are exactly equal are ordered by item index, smaller first.

Examples
--------
>>> import numpy as np
>>> from labelaudit.multilabel_classification import filter as ml_filter
>>> labels = [[0], [0], [0], [1], [1], [1], [0, 1], []]
>>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.9],
...               [0.1, 0.8], [0.1, 0.2], [0.9, 0.8], [0.1, 0.1]])
>>> np.flatnonzero(ml_filter.find_label_issues(labels, p)).tolist()
[2, 5]
"""

from __future__ import annotations

import warnings

import numpy as np

from ..confident._batched import find_issues as batched_issues
from ..confident._passes import binary_probs
from ..confident.filter import find_label_issues as core_find_label_issues
from ..confident.rank import order_label_issues
from ..exceptions import LabelAuditError, LabelAuditWarning
from . import _onevsrest as ovr
from ._binary import FAST_FILTERS, binary_flags
from .rank import class_scores

__all__ = ["find_label_issues", "find_multilabel_issues_per_class"]

_SCORE_FILTERS = ("low_normalized_margin", "low_self_confidence")


#: Defaults of the options ``low_memory=True`` does not use; cleanlab warns when
#: one is set. (cleanlab warns on ``n_jobs`` too; here it is a thread count the
#: batched estimate uses, without changing its results.)
_UNUSED_WITH_LOW_MEMORY = {"filter_by": "prune_by_noise_rate", "num_to_remove_per_class": None,
                           "confident_joint": None, "frac_noise": 1.0,
                           "min_examples_per_class": 1}


def _warn_low_memory_options(rank_by_kwargs, **options) -> None:
    """cleanlab's warnings for options that ``low_memory=True`` leaves unused."""
    if rank_by_kwargs:
        warnings.warn("`rank_by_kwargs` is not used when `low_memory=True`.",
                      LabelAuditWarning, stacklevel=3)
    for name, value in options.items():
        default = _UNUSED_WITH_LOW_MEMORY[name]
        changed = value is not None if default is None else value != default
        if changed:
            warnings.warn(f"`{name}` is not used when `low_memory=True`.", LabelAuditWarning,
                          stacklevel=3)


def _batched_per_class(problem, method):
    """Yield ``(y, probs, issues)`` per class: cleanlab's batched estimate on its yes/no problem.

    ``y`` are the class's 0/1 labels, ``probs`` its ``[1 - p, p]`` matrix and
    ``issues`` its flagged rows in row order, scored by ``method``
    (self-confidence when None, as in cleanlab).
    """
    method = "self_confidence" if method is None else method
    for c in range(problem.k):
        x, y = problem.column(c)
        probs = binary_probs(x)
        yield y, probs, batched_issues(y.astype(np.intp), probs, method,
                                       n_jobs=problem.n_threads)


def _check_joint(confident_joint, k: int):
    """The (K, 2, 2) one-vs-rest joint, or None (a K x K joint is ignored with a warning)."""
    if confident_joint is None:
        return None
    cj = np.asarray(confident_joint)
    if cj.shape == (k, k):
        warnings.warn(
            "A K x K `confident_joint` is the multi-class format; multi-label needs (K, 2, 2) "
            "(one 2 x 2 joint per class, from compute_confident_joint(multi_label=True)). "
            "It is ignored.", LabelAuditWarning, stacklevel=4,
        )
        return None
    if cj.shape != (k, 2, 2):
        raise LabelAuditError(
            f"`confident_joint` must have shape (K, 2, 2) = ({k}, 2, 2), got {cj.shape}."
        )
    return cj


def _check_removal(num_to_remove_per_class, k: int):
    if num_to_remove_per_class is None:
        return None
    counts = list(num_to_remove_per_class)
    if len(counts) < k:
        raise LabelAuditError(
            f"`num_to_remove_per_class` needs one count per class ({k}), got {len(counts)}."
        )
    return counts


def class_flags(problem, *, filter_by="prune_by_noise_rate", frac_noise=1.0,
                num_to_remove_per_class=None, min_examples_per_class=1, confident_joint=None):
    """Yield ``(c, x, y, flags)`` for every class: its column, labels and flagged rows.

    One class at a time, so memory stays a few vectors of length n. Warns
    once, listing the classes with a side too small to prune.
    """
    if filter_by not in FAST_FILTERS + _SCORE_FILTERS:
        raise LabelAuditError(
            f"`filter_by` must be one of {', '.join(FAST_FILTERS + _SCORE_FILTERS)}, "
            f"got {filter_by!r}."
        )
    if not (0.0 <= float(frac_noise) <= 1.0):
        raise LabelAuditError(f"`frac_noise` must be in [0, 1], got {frac_noise!r}.")
    if (isinstance(min_examples_per_class, bool)
            or int(min_examples_per_class) != min_examples_per_class):
        raise LabelAuditError(
            f"`min_examples_per_class` must be an integer, got {min_examples_per_class!r}."
        )
    if num_to_remove_per_class is not None and filter_by not in FAST_FILTERS[:3]:
        raise LabelAuditError(
            f"`num_to_remove_per_class` is not supported with filter_by={filter_by!r}."
        )
    k = problem.k
    cj = _check_joint(confident_joint, k)
    removal = _check_removal(num_to_remove_per_class, k)
    thin = []
    for c in range(k):
        x, y = problem.column(c)
        if filter_by in _SCORE_FILTERS:
            # The score filters on the yes/no problem, as cleanlab runs them
            # per class (the multi-label find_label_issues scores items instead).
            flags = core_find_label_issues(
                y.astype(np.intp), binary_probs(x), filter_by=filter_by,
                frac_noise=frac_noise, min_examples_per_class=min_examples_per_class,
                confident_joint=None if cj is None else cj[c], n_jobs=problem.n_threads,
                chunk_size=problem.chunk_size)
            yield c, x, y, flags
            continue
        flags, few = binary_flags(
            x, y, filter_by=filter_by, frac_noise=frac_noise,
            num_to_remove=None if removal is None else removal[c],
            min_examples_per_class=min_examples_per_class,
            confident_joint=None if cj is None else cj[c],
            n_threads=problem.n_threads, chunk_size=problem.chunk_size)
        if few:
            thin.append(c)
        yield c, x, y, flags
    if thin and filter_by in FAST_FILTERS[:3]:
        warnings.warn(
            f"May not flag all label issues of classes {thin}: one side of their yes/no "
            f"problem has at most min_examples_per_class={min_examples_per_class} items.",
            LabelAuditWarning, stacklevel=3,
        )


def _per_class(problem, *, return_indices_ranked_by, rank_by_kwargs, **options):
    """cleanlab's per-class output: a (n, K) bool matrix, or the three ranked lists."""
    if return_indices_ranked_by is None:
        masks = np.zeros((problem.n, problem.k), dtype=bool)
        for c, _, _, flags in class_flags(problem, **options):
            masks[:, c] = flags
        return masks
    ovr.base_method(return_indices_ranked_by)
    ranked, labels_list, probs_list = [], [], []
    for _, x, y, flags in class_flags(problem, **options):
        probs = binary_probs(x)
        y = y.astype(np.int64)
        ranked.append(order_label_issues(flags, y, probs, rank_by=return_indices_ranked_by.lower(),
                                         rank_by_kwargs=rank_by_kwargs))
        labels_list.append(y)
        probs_list.append(probs)
    return ranked, labels_list, probs_list


def find_multilabel_issues_per_class(labels, pred_probs, return_indices_ranked_by=None,
                                     rank_by_kwargs=None, filter_by="prune_by_noise_rate",
                                     frac_noise=1.0, num_to_remove_per_class=None,
                                     min_examples_per_class=1, confident_joint=None, n_jobs=None,
                                     verbose=False, low_memory=False, *, chunk_size=None):
    """Which (item, class) pairs look wrong: a class given but absent, or missing but present.

    Parameters
    ----------
    labels : list of list of int
        The classes each item carries (``[[0, 2], [], [1], ...]``).
    pred_probs : ndarray or dask array of shape (n_samples, K)
        Out-of-sample probability that each item carries each class, float32
        or float64 (a read-only memory map is read without a copy).
    return_indices_ranked_by : str, optional
        None: boolean masks. Otherwise a score method (``"self_confidence"``,
        ``"normalized_margin"``, ``"confidence_weighted_entropy"``) that orders
        each class's flagged items, worst first.
    rank_by_kwargs : dict, optional
        ``{"adjust_pred_probs": bool}`` for the ranking score.
    filter_by : str, default "prune_by_noise_rate"
        The multi-class filter run on each class's yes/no problem (see
        :func:`labelaudit.confident.filter.find_label_issues`).
    frac_noise : float, default 1.0
        Share of each class's estimated issues to flag.
    num_to_remove_per_class : sequence of int, optional
        For each class, how many items given the class to flag as not carrying it.
    min_examples_per_class : int, default 1
        A side of a yes/no problem with at most this many items is not pruned.
    confident_joint : ndarray of shape (K, 2, 2), optional
        One 2 x 2 confident joint per class, used instead of the estimated one.
        A K x K (multi-class) joint is ignored with a warning.
    n_jobs : int, optional
        Threads; results do not depend on it.
    verbose : bool
        Accepted for compatibility; nothing is printed.
    low_memory : bool, default False
        cleanlab's batched estimate on every class's yes/no problem instead
        of ``filter_by``: thresholds as a running mean over batches of 10,000
        rows, each class's issues the rows with the lowest
        ``return_indices_ranked_by`` scores (self-confidence when None).
        ``filter_by``, ``frac_noise``, ``num_to_remove_per_class``,
        ``min_examples_per_class`` and ``confident_joint`` are then not used.
    chunk_size : int, optional
        Rows per work unit; results do not depend on it.

    Returns
    -------
    ndarray of bool, shape (n_samples, K), or tuple of three lists
        Without ranking, ``mask[i, c]`` is True when class ``c`` of item ``i``
        looks wrong. With ranking, ``(issues, labels_list, pred_probs_list)``:
        for every class the flagged item indices worst first, its 0/1 labels
        and its ``[1 - p_c, p_c]`` matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.multilabel_classification.filter import find_multilabel_issues_per_class
    >>> labels = [[0], [0], [0], [1], [1], [1], [0, 1], []]
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.9],
    ...               [0.1, 0.8], [0.1, 0.2], [0.9, 0.8], [0.1, 0.1]])
    >>> find_multilabel_issues_per_class(labels, p).nonzero()
    (array([2, 2, 5]), array([0, 1, 1]))
    """
    problem = ovr.validate(labels, pred_probs, n_jobs=n_jobs, chunk_size=chunk_size)
    if low_memory:
        if return_indices_ranked_by is None:
            masks = np.zeros((problem.n, problem.k), dtype=bool)
            for c, (_, _, issues) in enumerate(_batched_per_class(problem, None)):
                masks[issues, c] = True
            return masks
        ranked, labels_list, probs_list = [], [], []
        for y, probs, issues in _batched_per_class(problem, return_indices_ranked_by):
            ranked.append(issues.astype(np.int64))
            labels_list.append(y.astype(np.int64))
            probs_list.append(probs)
        return ranked, labels_list, probs_list
    return _per_class(problem, return_indices_ranked_by=return_indices_ranked_by,
                      rank_by_kwargs=rank_by_kwargs, filter_by=filter_by, frac_noise=frac_noise,
                      num_to_remove_per_class=num_to_remove_per_class,
                      min_examples_per_class=min_examples_per_class,
                      confident_joint=confident_joint)


def _stable_order(keys: np.ndarray) -> np.ndarray:
    return np.argsort(keys, kind="stable")


def find_label_issues(labels, pred_probs, return_indices_ranked_by=None, rank_by_kwargs=None,
                      filter_by="prune_by_noise_rate", frac_noise=1.0,
                      num_to_remove_per_class=None, min_examples_per_class=1,
                      confident_joint=None, n_jobs=None, verbose=False, low_memory=False, *,
                      chunk_size=None):
    """Find the items whose label set is likely wrong (any class given wrongly or missed).

    Parameters
    ----------
    labels : list of list of int
        The classes each item carries (``[[0, 2], [], [1], ...]``).
    pred_probs : ndarray or dask array of shape (n_samples, K)
        Out-of-sample probability that each item carries each class, float32
        or float64; rows need not sum to one.
    return_indices_ranked_by : str, optional
        None returns a boolean mask. A score method (``"self_confidence"``,
        ``"normalized_margin"``, ``"confidence_weighted_entropy"``) returns the
        flagged indices ordered by the item's aggregated score (EMA, alpha 0.8)
        of that method, lowest first, ties by index.
    rank_by_kwargs : dict, optional
        ``{"adjust_pred_probs": bool}`` for the ranking score.
    filter_by : str, default "prune_by_noise_rate"
        ``"prune_by_noise_rate"``, ``"prune_by_class"``, ``"both"``,
        ``"confident_learning"``, ``"predicted_neq_given"``: that filter on
        every class's yes/no problem, an item flagged if any class is.
        ``"low_self_confidence"`` / ``"low_normalized_margin"``: the items with
        the lowest aggregated self-confidence (both, as in cleanlab), as many
        as ``"confident_learning"`` flags.
    frac_noise : float, default 1.0
        Share of each class's estimated issues to flag (pruning filters).
    num_to_remove_per_class : sequence of int, optional
        For each class, how many items given the class to flag as not carrying it.
    min_examples_per_class : int, default 1
        A side of a yes/no problem with at most this many items is not pruned.
    confident_joint : ndarray of shape (K, 2, 2), optional
        One 2 x 2 confident joint per class, used instead of the estimated one.
    n_jobs : int, optional
        Threads; results do not depend on it.
    verbose : bool
        Accepted for compatibility; nothing is printed.
    low_memory : bool, default False
        cleanlab's batched estimate on every class's yes/no problem instead
        of ``filter_by``: thresholds as a running mean over batches of 10,000
        rows, each class's issues the rows with the lowest
        ``return_indices_ranked_by`` scores (self-confidence when None).
        ``filter_by``, ``frac_noise``, ``num_to_remove_per_class``,
        ``min_examples_per_class`` and ``confident_joint`` are then not used.
    chunk_size : int, optional
        Rows per work unit; results do not depend on it.

    Returns
    -------
    ndarray
        Boolean mask of shape (n_samples,), or int64 indices when
        ``return_indices_ranked_by`` is set.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.multilabel_classification import find_label_issues
    >>> labels = [[0], [0], [0], [1], [1], [1], [0, 1], []]
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.9],
    ...               [0.1, 0.8], [0.1, 0.2], [0.9, 0.8], [0.1, 0.1]])
    >>> find_label_issues(labels, p, return_indices_ranked_by="self_confidence").tolist()
    [2, 5]
    """
    if low_memory:
        _warn_low_memory_options(
            rank_by_kwargs, filter_by=filter_by, num_to_remove_per_class=num_to_remove_per_class,
            confident_joint=confident_joint, frac_noise=frac_noise,
            min_examples_per_class=min_examples_per_class)
    problem = ovr.validate(labels, pred_probs, n_jobs=n_jobs, chunk_size=chunk_size)
    rank_by_kwargs = dict(rank_by_kwargs or {})
    adjust = bool(rank_by_kwargs.get("adjust_pred_probs", False))
    if return_indices_ranked_by is not None:
        rank_method = ovr.base_method(return_indices_ranked_by)
    if low_memory:
        found = [issues for _, _, issues in _batched_per_class(problem,
                                                               return_indices_ranked_by)]
        if return_indices_ranked_by is None:
            mask = np.zeros(problem.n, dtype=bool)
            for issues in found:
                mask[issues] = True
            return mask
        flagged = np.unique(np.concatenate(found)).astype(np.int64)
        ovr.require_both_values(problem)
        scores = ovr.default_aggregator()(class_scores(problem, method=rank_method,
                                                       adjust_pred_probs=adjust))
        return flagged[_stable_order(scores[flagged])].astype(np.int64)
    if filter_by in _SCORE_FILTERS:
        _check_joint(confident_joint, problem.k)  # checked, then unused (as in cleanlab)
        flagged = np.zeros(problem.n, dtype=bool)
        for _, _, _, flags in class_flags(problem, filter_by="confident_learning"):
            flagged |= flags
        n_issues = int(np.count_nonzero(flagged))
        ovr.require_both_values(problem)
        scores = ovr.default_aggregator()(class_scores(problem))
        chosen = _stable_order(scores)[:n_issues]
        mask = np.zeros(problem.n, dtype=bool)
        mask[chosen] = True
        if return_indices_ranked_by is None:
            return mask
        # cleanlab scores the flagged rows in index order and applies that
        # order to the rows taken lowest score first; kept for identical output.
        sub = problem.subset(mask)
        ovr.require_both_values(sub)
        sub_scores = ovr.default_aggregator()(class_scores(sub, method=rank_method,
                                                           adjust_pred_probs=adjust))
        return chosen[_stable_order(sub_scores)].astype(np.int64)

    options = dict(filter_by=filter_by, frac_noise=frac_noise,
                   num_to_remove_per_class=num_to_remove_per_class,
                   min_examples_per_class=min_examples_per_class, confident_joint=confident_joint)
    if return_indices_ranked_by is None:
        mask = np.zeros(problem.n, dtype=bool)
        for _, _, _, flags in class_flags(problem, **options):
            mask |= flags
        return mask
    ranked = _per_class(problem, return_indices_ranked_by=return_indices_ranked_by,
                        rank_by_kwargs=rank_by_kwargs, **options)[0]
    flagged = np.unique(np.concatenate([np.asarray(r, dtype=np.int64) for r in ranked]))
    ovr.require_both_values(problem)
    scores = ovr.default_aggregator()(class_scores(problem, method=rank_method,
                                                   adjust_pred_probs=adjust))
    return flagged[_stable_order(scores[flagged])].astype(np.int64)
