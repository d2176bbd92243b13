"""Label quality scores for object detection images (cleanlab's ``object_detection.rank``).

An image's score is the weighted geometric mean of three subtype scores, each a
softmin over its boxes:

- *overlooked*: a confident prediction (score at least 0.95) that overlaps no
  annotated box scores its similarity to the nearest annotation of its class (or
  the dataset's smallest similarity times ``1 - score`` when there is none);
- *badly located*: an annotated box scores its best similarity to an
  overlapping prediction of its class with score above 0.5 (1 when none);
- *swapped*: an annotated box scores ``1 -`` its best similarity to a prediction
  of another class with score above 0.95 (1 when none), floored at the dataset's
  smallest similarity; a box that another annotation of a different class covers
  with IoU at least 0.95 scores that floor directly.

The similarity of two boxes is ``0.9 * IoU + 0.1 * exp(-0.1 * d)``, ``d`` being
the distance between their centres. Scores lie in [0, 1] for well-formed boxes;
lower means more likely mislabelled.

Examples
--------
>>> import numpy as np
>>> from labelaudit.object_detection import rank
>>> labels = [{"bboxes": np.array([[0., 0., 10., 10.]]), "labels": np.array([0])},
...           {"bboxes": np.array([[0., 0., 10., 10.]]), "labels": np.array([0])}]
>>> predictions = [[np.array([[0., 0., 10., 10., 0.99]]), np.zeros((0, 5))],
...                [np.array([[0., 0., 10., 10., 0.99]]), np.array([[40., 40., 60., 60., 0.99]])]]
>>> scores = rank.get_label_quality_scores(labels, predictions, verbose=False)
>>> scores.round(3).tolist()
[1.0, 0.012]
>>> rank.issues_from_scores(scores, threshold=0.5).tolist()
[1]
"""

from __future__ import annotations

import numpy as np

from .._validation import check_detection_inputs
from ..exceptions import InputError
from . import _engine

__all__ = ["get_label_quality_scores", "issues_from_scores"]

#: Default weights of the three subtype scores.
DEFAULT_AGGREGATION_WEIGHTS = {"overlooked": 1 / 3, "swap": 1 / 3, "badloc": 1 / 3}

#: Predicted boxes scoring below this are dropped before scoring (cleanlab's
#: fixed ``probability_threshold``: only negative scores are affected).
_SCORE_FLOOR = 0.0


def _check_weights(aggregation_weights) -> dict:
    if aggregation_weights is None:
        return dict(DEFAULT_AGGREGATION_WEIGHTS)
    if not isinstance(aggregation_weights, dict):
        raise InputError("`aggregation_weights` must be a dict with keys 'overlooked', 'swap' and "
                         f"'badloc', got {type(aggregation_weights).__name__}")
    try:
        values = np.array(list(aggregation_weights.values()), dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("`aggregation_weights` values must be numbers, got "
                         f"{aggregation_weights!r}") from None
    if values.size == 0 or not np.isclose(values.sum(), 1.0) or values.min() < 0.0:
        raise InputError("`aggregation_weights` must be non-negative and sum to 1, got "
                         f"{aggregation_weights!r}")
    for key in ("overlooked", "swap", "badloc"):
        if key not in aggregation_weights:
            raise InputError(f"`aggregation_weights` has no {key!r} weight (it needs 'overlooked', "
                             "'swap' and 'badloc')")
    return aggregation_weights


def _quality_scores(inputs, engine, *, weights, overlapping_label_check, verbose):
    found = _engine.match_pass(inputs, engine, match=False, min_score=_SCORE_FLOOR)
    _engine.warn_if_pruned_most(found, _SCORE_FLOOR)
    if verbose:
        print(f"Dropped {found.n_pruned_segments} of {found.n_segments} per-class prediction "
              f"arrays whose boxes all score below {_SCORE_FLOOR}.")
    scored = _engine.score_pass(inputs, engine, min_similarity=found.min_similarity,
                                overlapping_label_check=overlapping_label_check,
                                min_score=_SCORE_FLOOR)
    return _engine.combine_subtypes(scored.pooled, weights)


def get_label_quality_scores(
    labels,
    predictions,
    *,
    aggregation_weights: dict | None = None,
    overlapping_label_check: bool | None = True,
    verbose: bool = True,
) -> np.ndarray:
    """Score each image by how likely its boxes are annotated correctly.

    Parameters
    ----------
    labels : list of dict
        One dict per image with ``"bboxes"``, an array of shape ``(L, 4)`` of
        ``x1, y1, x2, y2`` corners (top-left, bottom-right), and ``"labels"``,
        the ``L`` integer classes. Other keys (``"image_name"``) are ignored.
    predictions : list
        One entry per image: ``K`` arrays, one per class ``k``, of shape
        ``(M_k, 5)`` holding ``x1, y1, x2, y2`` and the detector's score for
        class ``k``. Out-of-sample predictions give the most faithful scores.
    aggregation_weights : dict, optional
        Non-negative weights summing to 1 under the keys ``"overlooked"``,
        ``"swap"`` and ``"badloc"``; default one third each.
    overlapping_label_check : bool, default True
        Give the lowest swap score to an annotated box that another annotation
        of a different class covers with IoU at least 0.95.
    verbose : bool, default True
        Print how many per-class prediction arrays the score floor (0) emptied.

    Returns
    -------
    numpy.ndarray of shape (N,), dtype=float64
        Lower scores mark images more likely to hold a label issue.

    Raises
    ------
    labelaudit.exceptions.InputError
        When the inputs are malformed (the message names the image and field)
        or the weights are invalid.

    Notes
    -----
    Coordinates are compared in double precision whatever their dtype, so
    float32 and float64 inputs give the same scores; cleanlab mixes float32 and
    float64 arithmetic, which can differ from these in the last bits. Non-finite
    coordinates or scores are refused (cleanlab passes them on as NaN scores).

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.object_detection.rank import get_label_quality_scores
    >>> labels = [{"bboxes": np.array([[0., 0., 10., 10.]]), "labels": np.array([0])}]
    >>> predictions = [[np.array([[1., 1., 11., 11., 0.9]]), np.zeros((0, 5))]]
    >>> get_label_quality_scores(labels, predictions, verbose=False).round(4).tolist()
    [0.8877]
    """
    weights = _check_weights(aggregation_weights)
    inputs = check_detection_inputs(labels, predictions, known_classes=False)
    engine = _engine.Engine.for_jobs(None)
    return _quality_scores(inputs, engine, weights=weights,
                           overlapping_label_check=bool(overlapping_label_check), verbose=verbose)


def issues_from_scores(label_quality_scores: np.ndarray, *, threshold: float = 0.1) -> np.ndarray:
    """Indices of the images scoring at most ``threshold``, lowest score first.

    Parameters
    ----------
    label_quality_scores : numpy.ndarray of shape (N,)
        Per-image scores, as from :func:`get_label_quality_scores`.
    threshold : float, default 0.1
        Images scoring above it are left out; must be at most 1.

    Returns
    -------
    numpy.ndarray of int
        Image indices ordered by increasing score; equal scores keep index order.

    Raises
    ------
    labelaudit.exceptions.InputError
        When ``threshold`` exceeds 1.

    Notes
    -----
    cleanlab orders equal scores with numpy's default (unstable) sort, whose
    order among ties depends on the CPU; here ties are always broken by index.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.object_detection.rank import issues_from_scores
    >>> issues_from_scores(np.array([0.05, 0.9, 0.01, 0.05]), threshold=0.1).tolist()
    [2, 0, 3]
    """
    if threshold > 1.0:
        raise InputError(f"`threshold` is a cut on label quality scores and must be at most 1, got "
                         f"{threshold}")
    scores = np.asarray(label_quality_scores)
    picked = np.flatnonzero(scores <= threshold)
    return picked[np.argsort(scores[picked], kind="stable")]
