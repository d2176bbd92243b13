"""Label quality scores and the ranking of issues (cleanlab's ``rank`` module).

Score methods are a registry, :data:`SCORES`: the three cleanlab methods are
fused into the kernel's row pass, and :func:`register_score` adds a row-wise
score written in Python, usable wherever a method name is accepted
(``method=``, ``rank_by=``, ``return_indices_ranked_by=``), on a matrix or a
dask array.

Examples
--------
>>> import numpy as np
>>> import labelaudit as la
>>> from labelaudit.confident import rank
>>> spec = rank.register_score(
...     "margin_to_best", lambda labels, p: p[np.arange(len(labels)), labels] - p.max(axis=1))
>>> p = np.array([[0.9, 0.1], [0.3, 0.7]])
>>> la.get_label_quality_scores([0, 0], p, method="margin_to_best").round(2).tolist()
[0.0, -0.4]
>>> del rank.SCORES["margin_to_best"]
"""

from __future__ import annotations

import numpy as np

from ..exceptions import LabelAuditError
from . import _dask
from ._passes import (
    SCORES,
    ScoreSpec,
    adjust_vector,
    check_adjustable,
    class_counts,
    is_dask_array,
    keep_float32_adjusted,
    prepare,
    register_score,
    score_rows,
    score_spec,
    thresholds_from_counts,
)

__all__ = [
    "SCORES",
    "ScoreSpec",
    "get_label_quality_scores",
    "order_label_issues",
    "register_score",
]


def get_label_quality_scores(labels, pred_probs, *, method="self_confidence",
                             adjust_pred_probs=False, n_jobs=None, chunk_size=None,
                             _validated=False) -> np.ndarray:
    """Score how likely each given label is correct (higher is better).

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities.
    method : str, default "self_confidence"
        A name registered in :data:`SCORES`. Built in:

        - ``self_confidence``: ``p[label]``;
        - ``normalized_margin``: ``(p[label] - max_{j != label} p[j] + 1) / 2``;
        - ``confidence_weighted_entropy``: ``log(1 + H / p[label]) / (H / p[label])``
          with ``H`` the entropy normalised by ``log K`` (float64).
    adjust_pred_probs : bool, default False
        Subtract each class's threshold and renormalise before scoring
        (``self_confidence`` and ``normalized_margin`` only).
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    ndarray of shape (n_samples,)
        In the dtype of ``pred_probs`` for the first two methods without
        adjustment, float64 otherwise.
    """
    spec = score_spec(method)
    check_adjustable(spec, adjust_pred_probs)
    if is_dask_array(pred_probs):
        return _dask.get_label_quality_scores(labels, pred_probs, spec=spec,
                                              adjust_pred_probs=adjust_pred_probs)
    labels, pred_probs = prepare(labels, pred_probs, validated=_validated)
    if not adjust_pred_probs:
        return score_rows(labels, pred_probs, spec, n_jobs=n_jobs, chunk_size=chunk_size,
                          check=not _validated)
    counts = class_counts(labels, pred_probs.shape[1])
    adjust = adjust_vector(thresholds_from_counts(labels, pred_probs, counts))
    scores = score_rows(labels, pred_probs, spec, adjust, n_jobs=n_jobs, chunk_size=chunk_size,
                        check=not _validated)
    return keep_float32_adjusted(scores, pred_probs.dtype, counts)


def order_label_issues(label_issues_mask, labels, pred_probs, *, rank_by="self_confidence",
                       rank_by_kwargs=None) -> np.ndarray:
    """Indices of the flagged items, most likely mislabelled first (ties by index).

    Parameters
    ----------
    label_issues_mask : array-like of bool, shape (n_samples,)
        Items flagged as issues.
    labels : array-like of shape (n_samples,)
        Given labels as class indices.
    pred_probs : ndarray of shape (n_samples, K)
        Predicted probabilities.
    rank_by : str, default "self_confidence"
        A :func:`get_label_quality_scores` method.
    rank_by_kwargs : dict, optional
        Extra arguments of :func:`get_label_quality_scores`.

    Returns
    -------
    ndarray of int64
    """
    mask = np.asarray(label_issues_mask, dtype=bool)
    scores = get_label_quality_scores(labels, pred_probs, method=rank_by,
                                      **dict(rank_by_kwargs or {}))
    if mask.shape != scores.shape:
        raise LabelAuditError(
            f"`label_issues_mask` must have one entry per item ({scores.shape[0]}), got {mask.shape}."
        )
    idx = np.flatnonzero(mask)
    return idx[np.argsort(scores[idx], kind="stable")].astype(np.int64)

