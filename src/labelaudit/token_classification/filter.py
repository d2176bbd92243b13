"""Token label issues (cleanlab's ``token_classification.filter``).

:func:`find_label_issues` treats every token as one item of a one-label
classification problem: it runs :func:`labelaudit.find_label_issues` on the
flat token matrix (so every filter, option and tie rule of the
classification core applies unchanged) and maps the flagged tokens back to
``(sentence, position)`` pairs. cleanlab's nested form with a pruning filter
is read a group of sentences at a time instead (same results, no copy into
one matrix).

Examples
--------
>>> import numpy as np
>>> from labelaudit.token_classification.filter import find_label_issues
>>> labels = [[0, 0, 1], [0, 1]]
>>> pred_probs = [np.array([[0.9, 0.1], [0.7, 0.3], [0.05, 0.95]]),
...               np.array([[0.8, 0.2], [0.8, 0.2]])]
>>> find_label_issues(labels, pred_probs)
[(1, 1)]
"""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_sentence_lengths
from ..confident._batched import find_issues as batched_issues
from ..confident.filter import find_label_issues as _find_token_issues
from ..exceptions import LabelAuditError, LabelAuditWarning
from ._grouped import find_issues
from ._sentences import as_pairs, flag_counts, flatten

__all__ = ["find_label_issues", "issues_per_sentence", "token_issue_mask"]

#: Options the grouped route for nested input takes (any other goes the flat route).
_GROUPED_KWARGS = {"filter_by", "n_jobs", "chunk_size", "verbose"}

#: Options ``low_memory=True`` uses or takes silently (cleanlab warns on every
#: option; ``n_jobs`` is a thread count here and does not change results).
_BATCHED_KWARGS = {"n_jobs"}


def find_label_issues(labels, pred_probs, *, return_indices_ranked_by="self_confidence",
                      low_memory=False, sentence_lengths=None, **kwargs):
    """Find the tokens whose given label is likely wrong, most severe first.

    Parameters
    ----------
    labels : list of sequences of int
        ``labels[i]`` holds the class index (``0..K-1``) of every token of
        sentence ``i``. With ``sentence_lengths``, a flat array of all token
        labels in file order is accepted instead.
    pred_probs : list of ndarray, or ndarray
        ``pred_probs[i]`` of shape ``(T_i, K)``: out-of-sample probabilities of
        the tokens of sentence ``i``. Also accepted: the flat ``(T, K)`` token
        matrix in file order (float32 or float64, a read-only ``np.memmap``
        included, read in row chunks without a copy), or an ``(N, L, K)``
        array of equal-length sentences.
    return_indices_ranked_by : str or None, default "self_confidence"
        Token score that orders the issues (``"self_confidence"``,
        ``"normalized_margin"``, ``"confidence_weighted_entropy"`` or any
        method registered in :data:`labelaudit.confident.rank.SCORES`). None
        returns the issues in file order (cleanlab fails on None).
    low_memory : bool, default False
        cleanlab's batched estimate instead of the confident-learning
        filters: thresholds as a running mean over batches of 10,000 tokens,
        the number of issues counted from each token's argmax, and the issues
        the tokens with that many lowest ``return_indices_ranked_by`` scores,
        returned in file order (as cleanlab's). Other options are not used
        and warned about, except ``n_jobs`` (threads). The default path
        streams a memory-mapped token matrix too.
    sentence_lengths : array-like of int, optional
        Tokens per sentence, for flat ``labels``; labelaudit only.
    **kwargs
        Passed to :func:`labelaudit.find_label_issues` on the tokens:
        ``filter_by``, ``frac_noise``, ``num_to_remove_per_class``,
        ``min_examples_per_class``, ``confident_joint``, ``rank_by_kwargs``,
        ``n_jobs``, ``verbose``, ``multi_label``, ``chunk_size``.

    Returns
    -------
    list of tuple of int
        ``(i, j)``: token ``j`` of sentence ``i`` has a likely label issue.

    Raises
    ------
    LabelAuditError
        Empty input, rows that do not match the labels, a bad option.

    Notes
    -----
    Identical to cleanlab 2.9 (which flattens the sentences and calls its
    ``filter.find_label_issues``) except where keys tie exactly, at a
    selection cut or in the ranking: cleanlab's order then follows numpy's
    unstable sort, labelaudit's always puts the smaller token index (file
    order) first. Sentences without tokens are allowed; input without any
    token is refused, as cleanlab refuses it.
    """
    if low_memory:
        for name in kwargs:
            if name not in _BATCHED_KWARGS:
                warnings.warn(f"`{name}` is not used when `low_memory=True`.",
                              LabelAuditWarning, stacklevel=2)
        flat_labels, flat_probs, starts = flatten(labels, pred_probs, sentence_lengths)
        found = batched_issues(flat_labels, flat_probs, return_indices_ranked_by,
                               n_jobs=kwargs.get("n_jobs"))
        return as_pairs(found, starts)
    if sentence_lengths is None and set(kwargs) <= _GROUPED_KWARGS:
        # cleanlab's nested form, read a group of sentences at a time (no flat copy).
        found = find_issues(labels, pred_probs, ranked_by=return_indices_ranked_by,
                            **{key: value for key, value in kwargs.items() if key != "verbose"})
        if found is not None:
            return as_pairs(*found)
    flat_labels, flat_probs, starts = flatten(labels, pred_probs, sentence_lengths)
    found = _find_token_issues(flat_labels, flat_probs,
                               return_indices_ranked_by=return_indices_ranked_by, **kwargs)
    if return_indices_ranked_by is None:
        found = found.nonzero()[0]
    return as_pairs(found, starts)


def token_issue_mask(issues, sentence_lengths) -> np.ndarray:
    """Flat boolean mask of the tokens named by ``(i, j)`` pairs (labelaudit only).

    Parameters
    ----------
    issues : list of tuple of int
        ``(sentence, position)`` pairs.
    sentence_lengths : array-like of int
        Tokens per sentence.

    Returns
    -------
    ndarray of bool, shape (T,)

    Examples
    --------
    >>> from labelaudit.token_classification.filter import token_issue_mask
    >>> token_issue_mask([(1, 1), (0, 0)], [2, 3]).tolist()
    [True, False, False, True, False]
    """
    starts = check_sentence_lengths(sentence_lengths)
    mask = np.zeros(int(starts[-1]), dtype=bool)
    if len(issues):
        pairs = np.asarray(issues, dtype=np.int64).reshape(-1, 2)
        lengths = np.diff(starts)
        sentence_ok = (pairs[:, 0] >= 0) & (pairs[:, 0] < lengths.size)
        own_length = np.where(sentence_ok, lengths[np.where(sentence_ok, pairs[:, 0], 0)], 0)
        bad = ~sentence_ok | (pairs[:, 1] < 0) | (pairs[:, 1] >= own_length)
        if bad.any():
            raise LabelAuditError(f"`issues` names a token that does not exist: "
                                  f"{tuple(pairs[int(np.argmax(bad))].tolist())}.")
        mask[starts[pairs[:, 0]] + pairs[:, 1]] = True
    return mask


def issues_per_sentence(mask, sentence_lengths, *, n_jobs=None) -> np.ndarray:
    """Number of flagged tokens in every sentence (labelaudit only).

    Parameters
    ----------
    mask : array-like of bool, shape (T,)
        Flagged tokens in file order (e.g. from :func:`token_issue_mask`).
    sentence_lengths : array-like of int
        Tokens per sentence.
    n_jobs : int, optional
        Threads; results do not depend on it.

    Returns
    -------
    ndarray of int64, shape (N,)

    Examples
    --------
    >>> from labelaudit.token_classification.filter import issues_per_sentence
    >>> issues_per_sentence([True, False, False, True, True], [2, 0, 3]).tolist()
    [1, 0, 2]
    """
    mask = np.asarray(mask, dtype=bool)
    starts = check_sentence_lengths(sentence_lengths, mask.shape[0])
    return flag_counts(mask, starts, n_jobs=n_jobs)
