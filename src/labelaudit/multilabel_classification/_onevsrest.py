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

from .._validation import check_multilabel_labels, check_multilabel_probs
from ..exceptions import LabelAuditError

#: Score methods of the per-class (binary) problems, as cleanlab names them.
BASE_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


def validate(labels, pred_probs, *, pred_probs_name: str = "pred_probs"):
    """``(onehot, pred_probs)``: the uint8 indicator matrix and the checked probabilities."""
    pred_probs = check_multilabel_probs(pred_probs, name=pred_probs_name)
    n, k = pred_probs.shape
    onehot = check_multilabel_labels(labels, n, k)
    return onehot, pred_probs


def binary_problem(onehot: np.ndarray, pred_probs: np.ndarray, c: int):
    """Labels (intp) and ``[1 - p_c, p_c]`` (C-contiguous) of class ``c``'s binary problem."""
    p = pred_probs[:, c]
    probs = np.empty((pred_probs.shape[0], 2), dtype=pred_probs.dtype)
    probs[:, 1] = p
    np.subtract(pred_probs.dtype.type(1), p, out=probs[:, 0])
    return onehot[:, c].astype(np.intp), probs


def base_method(method) -> str:
    """cleanlab's score method name (any letter case), checked."""
    if not isinstance(method, str) or method.lower() not in BASE_METHODS:
        raise LabelAuditError(
            f"`method` must be one of {', '.join(BASE_METHODS)}, got {method!r}."
        )
    return method.lower()


def require_both_values(onehot: np.ndarray, *, where: str = "labels") -> None:
    """cleanlab's multi-label scorer refuses indicator matrices that are not two-valued.

    It needs at least two classes, and both "carries a class" and "lacks a
    class" somewhere in the matrix.
    """
    if onehot.ndim != 2 or onehot.shape[1] < 2:
        raise LabelAuditError(
            f"`{where}`: multi-label scores need at least 2 classes, got {onehot.shape[1]}."
        )
    if onehot.size == 0 or onehot.min() == onehot.max():
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
