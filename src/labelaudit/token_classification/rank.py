"""Sentence and token label quality scores (cleanlab's ``token_classification.rank``).

Token scores come from :func:`labelaudit.get_label_quality_scores` on the
flat token matrix; the per-sentence reduction (``"min"`` or ``"softmin"``)
runs in the Cython core over the flat score array, one sentence per output
slot, so it needs no per-sentence Python loop and no copy of the matrix.

Examples
--------
>>> import numpy as np
>>> from labelaudit.token_classification.rank import get_label_quality_scores
>>> labels = [[0, 0, 1], [0, 1]]
>>> pred_probs = [np.array([[0.9, 0.1], [0.7, 0.3], [0.05, 0.95]]),
...               np.array([[0.8, 0.2], [0.8, 0.2]])]
>>> sentence_scores, token_scores = get_label_quality_scores(labels, pred_probs)
>>> sentence_scores
array([0.7, 0.2])
>>> token_scores[1].tolist()
[0.8, 0.2]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from ..confident.rank import get_label_quality_scores as _token_scores
from ..exceptions import LabelAuditError
from ._sentences import flatten, reduce_sentences

__all__ = [
    "SENTENCE_SCORE_METHODS",
    "get_label_quality_scores",
    "get_sentence_scores",
    "issues_from_scores",
]

#: ``sentence_score_method`` choices.
SENTENCE_SCORE_METHODS = ("min", "softmin")

_NO_OPTIONS: Mapping = MappingProxyType({})


def _temperature(sentence_score_kwargs) -> float:
    options = dict(sentence_score_kwargs or {})
    unknown = sorted(set(options) - {"temperature"})
    if unknown:
        raise LabelAuditError(
            f"`sentence_score_kwargs` accepts only 'temperature', got {unknown}."
        )
    temperature = options.get("temperature", 0.05)
    try:
        temperature = float(temperature)
    except (TypeError, ValueError):
        raise LabelAuditError(
            f"`sentence_score_kwargs['temperature']` must be a number, got {temperature!r}."
        ) from None
    if math.isnan(temperature):
        raise LabelAuditError("`sentence_score_kwargs['temperature']` must not be NaN.")
    return temperature


def get_label_quality_scores(labels, pred_probs, *, tokens=None,
                             token_score_method="self_confidence", sentence_score_method="min",
                             sentence_score_kwargs=_NO_OPTIONS, sentence_lengths=None,
                             n_jobs=None, chunk_size=None):
    """Score every sentence and every token label (higher means more likely right).

    Parameters
    ----------
    labels : list of sequences of int
        ``labels[i]`` holds the class index of every token of sentence ``i``
        (or, with ``sentence_lengths``, a flat array of all token labels).
    pred_probs : list of ndarray, or ndarray
        One ``(T_i, K)`` array per sentence, the flat ``(T, K)`` token matrix
        (a read-only memory map included) or an ``(N, L, K)`` array.
    tokens : list of list of str, optional
        Words of each sentence, used as the index of its token score series
        (paired with the sentences in order, as :func:`zip` pairs them).
    token_score_method : str, default "self_confidence"
        Token score: ``"self_confidence"``, ``"normalized_margin"``,
        ``"confidence_weighted_entropy"`` (or a registered method).
    sentence_score_method : {"min", "softmin"}, default "min"
        - ``"min"``: the lowest token score of the sentence;
        - ``"softmin"``: ``sum_j s_j w_j`` with ``w = softmax((1 - s) / t)``,
          which tends to ``"min"`` as ``t -> 0`` and to the mean as
          ``t -> inf`` (``t = 0`` is exactly the minimum, ``t = inf`` the mean;
          other temperatures are floored at ``1e-6``).
    sentence_score_kwargs : Mapping, default {}
        ``{"temperature": t}`` for ``"softmin"`` (default 0.05). Unknown keys
        are refused (cleanlab ignores them).
    sentence_lengths : array-like of int, optional
        Tokens per sentence, for flat ``labels``; labelaudit only.
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    sentence_scores : ndarray of shape (N,)
        In the dtype of the token scores.
    token_scores : list of pandas.Series
        One series per sentence with its token scores.

    Raises
    ------
    LabelAuditError
        A sentence without tokens (it has no score; cleanlab fails on it
        too), an unknown method or option.

    Notes
    -----
    Scores equal cleanlab 2.9's to float rounding: the softmin weights are
    formed in the scores' precision, as cleanlab forms them, and summed in
    double precision.
    """
    sentence_scores, scores, starts = get_sentence_scores(
        labels, pred_probs, token_score_method=token_score_method,
        sentence_score_method=sentence_score_method, sentence_score_kwargs=sentence_score_kwargs,
        sentence_lengths=sentence_lengths, n_jobs=n_jobs, chunk_size=chunk_size)
    return sentence_scores, _token_series(scores, starts, tokens)


def get_sentence_scores(labels, pred_probs, *, token_score_method="self_confidence",
                        sentence_score_method="min", sentence_score_kwargs=_NO_OPTIONS,
                        sentence_lengths=None, n_jobs=None, chunk_size=None):
    """Sentence scores and the flat token scores, without one pandas series per sentence.

    The same computation as :func:`get_label_quality_scores` (labelaudit
    only), for large corpora: token scores stay one flat array in file order.

    Parameters
    ----------
    labels, pred_probs, token_score_method, sentence_score_method, sentence_score_kwargs
        As in :func:`get_label_quality_scores`.
    sentence_lengths : array-like of int, optional
        Tokens per sentence, for flat ``labels``.
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    sentence_scores : ndarray of shape (N,)
    token_scores : ndarray of shape (T,)
        Token scores in file order.
    starts : ndarray of int64, shape (N + 1,)
        Sentence ``s`` owns ``token_scores[starts[s]:starts[s + 1]]``.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.token_classification.rank import get_sentence_scores
    >>> p = np.array([[0.9, 0.1], [0.7, 0.3], [0.05, 0.95], [0.8, 0.2], [0.8, 0.2]])
    >>> s, t, starts = get_sentence_scores([0, 0, 1, 0, 1], p, sentence_lengths=[3, 2])
    >>> s.tolist(), starts.tolist()
    ([0.7, 0.2], [0, 3, 5])
    """
    if sentence_score_method not in SENTENCE_SCORE_METHODS:
        raise LabelAuditError(
            f"`sentence_score_method` must be one of {', '.join(SENTENCE_SCORE_METHODS)}, got "
            f"{sentence_score_method!r}."
        )
    temperature = _temperature(sentence_score_kwargs)
    flat_labels, flat_probs, starts = flatten(labels, pred_probs, sentence_lengths)
    lengths = np.diff(starts)
    if lengths.size and int(lengths.min()) == 0:
        empty = int(np.argmin(lengths))
        raise LabelAuditError(
            f"`labels[{empty}]` has no tokens: every sentence needs at least one token to be "
            "scored."
        )
    scores = _token_scores(flat_labels, flat_probs, method=token_score_method, n_jobs=n_jobs,
                           chunk_size=chunk_size)
    if sentence_score_method == "min" or temperature == 0:
        method = "min"
    elif temperature == math.inf:
        method = "mean"
    else:
        method = "softmin"
    return reduce_sentences(scores, starts, method, temperature, n_jobs=n_jobs), scores, starts


def _token_series(scores: np.ndarray, starts: np.ndarray, tokens) -> list:
    import pandas as pd

    pieces = np.split(scores, starts[1:-1])
    if tokens is not None and len(tokens):
        return [pd.Series(piece.copy(), index=words)
                for piece, words in zip(pieces, tokens)]  # noqa: B905 - zip pairs as cleanlab does
    return [pd.Series(piece.copy()) for piece in pieces]


def issues_from_scores(sentence_scores, *, token_scores=None, threshold=0.1):
    """Issues as the items scoring below a threshold, lowest first.

    Parameters
    ----------
    sentence_scores : ndarray of shape (N,)
        As returned by :func:`get_label_quality_scores`.
    token_scores : list of sequences of float, optional
        Per-sentence token scores; given, the result is token pairs.
    threshold : float, default 0.1
        Items scoring at or above it are left out.

    Returns
    -------
    list of tuple of int, or ndarray of int
        ``(i, j)`` pairs ordered by token score (ties in file order) when
        ``token_scores`` is given, else the indices of the sentences ordered
        by score (ties by index).

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.token_classification.rank import issues_from_scores
    >>> issues_from_scores(np.array([0.1, 0.3, 0.05, 0.9]), threshold=0.2).tolist()
    [2, 0]
    >>> issues_from_scores(np.array([0.1, 0.9]), token_scores=[[0.5, 0.05], [0.9]])
    [(0, 1)]

    Notes
    -----
    cleanlab 2.9 raises ``IndexError`` when every sentence scores below the
    threshold; this returns them all.
    """
    if token_scores is not None and len(token_scores):
        found = []
        for i, row in enumerate(token_scores):
            values = np.asarray(row, dtype=np.float64)
            for j in np.flatnonzero(values < threshold).tolist():
                found.append((float(values[j]), i, j))
        found.sort(key=lambda item: item[0])  # stable: ties stay in file order
        return [(i, j) for _, i, j in found]
    scores = np.asarray(sentence_scores)
    ranking = np.argsort(scores, kind="stable")
    cutoff = int(np.count_nonzero(scores < threshold))
    return ranking[:cutoff]
