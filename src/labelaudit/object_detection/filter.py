"""Find object detection images with label issues (cleanlab's ``object_detection.filter``).

An image has an issue when any of its boxes does: a confident prediction no
annotation explains (*overlooked*), an annotation whose best matching prediction
sits elsewhere (*badly located*), or an annotation a confident prediction of
another class covers (*swapped*). A box is flagged when its score (see
:mod:`labelaudit.object_detection.rank`) is at most ``0.8`` times its class's
threshold, a quarter of the class's average precision over IoU thresholds 0.5 to
0.95: classes the detector finds well get stricter thresholds.

Examples
--------
>>> import numpy as np
>>> from labelaudit.object_detection import filter as od_filter
>>> box = np.array([[0., 0., 10., 10.]])
>>> labels = [{"bboxes": box, "labels": np.array([0])} for _ in range(3)]
>>> predictions = [[np.array([[0., 0., 10., 10., 0.99]]), np.zeros((0, 5))] for _ in range(3)]
>>> predictions[2][0] = np.array([[0., 0., 10., 10., 0.99],
...                               [50., 50., 70., 70., 0.98]])  # a missed object
>>> od_filter.find_label_issues(labels, predictions).tolist()
[False, False, True]
"""

from __future__ import annotations

import numpy as np

from .._validation import check_detection_inputs
from . import _engine
from .rank import DEFAULT_AGGREGATION_WEIGHTS, _quality_scores, issues_from_scores

__all__ = ["find_label_issues"]


def _issue_flags(inputs, engine, *, overlapping_label_check: bool, keep_boxes: bool = False,
                 keep_matches: bool = True):
    # Without keep_matches, the per-box scores and matches of the first pass are freed while
    # the average precision is computed (the returned MatchPass then holds None for them).
    found = _engine.match_pass(inputs, engine, match=True)
    class_ap = _engine.class_average_precision(found, consume=not keep_matches)
    scored = _engine.score_pass(inputs, engine, min_similarity=found.min_similarity,
                                overlapping_label_check=overlapping_label_check,
                                thresholds=_engine.box_thresholds(class_ap),
                                keep_boxes=keep_boxes)
    return found, class_ap, scored


def find_label_issues(
    labels,
    predictions,
    *,
    return_indices_ranked_by_score: bool | None = False,
    overlapping_label_check: bool | None = True,
) -> np.ndarray:
    """Flag the images whose annotated boxes look wrong.

    Parameters
    ----------
    labels : list of dict
        One dict per image with ``"bboxes"`` (``(L, 4)`` corners ``x1, y1, x2,
        y2``) and ``"labels"`` (``L`` integer classes in ``0..K-1``).
    predictions : list
        One entry per image: ``K`` arrays of shape ``(M_k, 5)``, the boxes
        predicted for class ``k`` and their scores in the last column.
    return_indices_ranked_by_score : bool, default False
        Return the indices of the flagged images, lowest label quality score
        (:func:`~labelaudit.object_detection.rank.get_label_quality_scores` with
        its defaults) first, instead of a mask. Flagged images scoring above 1
        (possible only with degenerate boxes) are left out, as in cleanlab.
    overlapping_label_check : bool, default True
        Treat an annotation that another annotation of a different class covers
        with IoU at least 0.95 as swapped.

    Returns
    -------
    numpy.ndarray
        A boolean mask of length ``N``, or the ranked indices of flagged images.

    Raises
    ------
    labelaudit.exceptions.InputError
        When the inputs are malformed or an annotated class is not one of the
        ``K`` predicted classes.

    Notes
    -----
    Equal scores (exact ties) are ordered by index, both when ranking images and
    when sorting predicted boxes for the average precision; cleanlab uses
    numpy's unstable sort there, whose order among ties depends on the CPU.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.object_detection.filter import find_label_issues
    >>> box = np.array([[0., 0., 10., 10.]])
    >>> labels = [{"bboxes": box, "labels": np.array([0])} for _ in range(4)]
    >>> hit = np.array([[0., 0., 10., 10., 0.99]])
    >>> predictions = [[hit], [hit], [np.vstack([hit, [[60., 0., 70., 9., 0.97]]])],
    ...                [np.vstack([hit, [[50., 50., 70., 70., 0.98]]])]]
    >>> find_label_issues(labels, predictions, return_indices_ranked_by_score=True).tolist()
    [3, 2]
    """
    inputs = check_detection_inputs(labels, predictions, known_classes=True)
    engine = _engine.Engine.for_jobs(None)
    _, _, scored = _issue_flags(inputs, engine,
                                overlapping_label_check=bool(overlapping_label_check),
                                keep_matches=False)
    is_issue = scored.flags > 0
    if not return_indices_ranked_by_score:
        return is_issue
    scores = _quality_scores(inputs, engine, weights=DEFAULT_AGGREGATION_WEIGHTS,
                             overlapping_label_check=True, verbose=False)
    ranked = issues_from_scores(scores, threshold=1.0)
    return ranked[is_issue[ranked]]
