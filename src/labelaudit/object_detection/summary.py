"""Dataset-level summaries of object detection labels (cleanlab's ``object_detection.summary``).

Counts of boxes per image, box sizes per class, and the detector's per-class
precision, recall and F1 averaged over IoU thresholds 0.5 to 0.95.

Examples
--------
>>> import numpy as np
>>> from labelaudit.object_detection import summary
>>> labels = [{"bboxes": np.array([[0., 0., 10., 10.], [20., 20., 30., 40.]]),
...            "labels": np.array([0, 1])}]
>>> predictions = [[np.array([[0., 0., 10., 10., 0.9]]), np.zeros((0, 5))]]
>>> summary.object_counts_per_image(labels, predictions)
([2], [1])
>>> lab_sizes, pred_sizes = summary.bounding_box_size_distribution(labels, predictions)
>>> {int(c): [float(a) for a in areas] for c, areas in lab_sizes.items()}
{0: [100.0], 1: [200.0]}
"""

from __future__ import annotations

import collections

import numpy as np

from .._validation import check_detection_inputs
from ..exceptions import InputError
from . import _engine

__all__ = ["bounding_box_size_distribution", "calculate_per_class_metrics",
           "object_counts_per_image"]

#: Added to denominators so that empty classes give 0/0 (NaN), as in cleanlab.
_TINY = 1e-100


def _per_image(labels, predictions, auxiliary_inputs):
    # (label classes, label boxes, predicted classes, predicted boxes) per image.
    if auxiliary_inputs is not None:
        try:
            return [(np.asarray(a["lab_labels"]), np.asarray(a["lab_bboxes"]),
                     np.asarray(a["pred_labels"]), np.asarray(a["pred_bboxes"]))
                    for a in auxiliary_inputs]
        except (KeyError, TypeError) as err:
            raise InputError("`auxiliary_inputs` must be dicts with 'lab_labels', 'lab_bboxes', "
                             f"'pred_labels' and 'pred_bboxes' (missing {err})") from None
    inputs = check_detection_inputs(labels, predictions, known_classes=False)
    out = []
    for i in range(len(inputs)):
        per_class = inputs.predictions[i]
        pred_cls = np.repeat(np.arange(inputs.n_classes), inputs.n_pred_boxes[i])
        pred_boxes = (np.concatenate(per_class, axis=0, dtype=np.float64)[:, :4]
                      if pred_cls.size else np.empty((0, 4)))
        out.append((inputs.label_classes[i], inputs.label_boxes[i], pred_cls, pred_boxes))
    return out


def object_counts_per_image(labels=None, predictions=None, *, auxiliary_inputs=None):
    """Number of annotated and of predicted boxes in each image.

    Parameters
    ----------
    labels : list of dict, optional
        As in :func:`labelaudit.object_detection.filter.find_label_issues`.
    predictions : list, optional
        As in :func:`labelaudit.object_detection.filter.find_label_issues`.
    auxiliary_inputs : list of dict, optional
        Per-image dicts with ``"lab_bboxes"`` and ``"pred_bboxes"`` (and
        ``"lab_labels"``, ``"pred_labels"``), used instead of the two inputs.

    Returns
    -------
    tuple of (list of int, list of int)
        Annotated and predicted box counts, one entry per image.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.object_detection.summary import object_counts_per_image
    >>> labels = [{"bboxes": np.zeros((0, 4)), "labels": np.zeros(0, dtype=int)}]
    >>> object_counts_per_image(labels, [[np.array([[0., 0., 1., 1., 0.5]])]])
    ([0], [1])
    """
    if auxiliary_inputs is None:
        inputs = check_detection_inputs(labels, predictions, known_classes=False)
        return (inputs.n_label_boxes.tolist(), inputs.n_pred_boxes.sum(axis=1).tolist())
    per_image = _per_image(None, None, auxiliary_inputs)
    return ([len(lb) for _, lb, _, _ in per_image], [len(pb) for _, _, _, pb in per_image])


def _areas_by_class(classes: np.ndarray, areas: np.ndarray, class_names) -> dict:
    # Group areas by class (or class name), keys in order of first appearance,
    # values in box order.
    grouped: dict = collections.defaultdict(list)
    if classes.size == 0:
        return grouped
    if class_names is not None:
        names = {}
        for c in np.unique(classes).tolist():
            if str(c) in class_names:
                names[c] = class_names[str(c)]
        keep = np.isin(classes, np.array(list(names), dtype=classes.dtype))
        classes, areas = classes[keep], areas[keep]
        keys = [names[c] for c in classes.tolist()]
        for key, area in zip(keys, areas, strict=True):
            grouped[key].append(area)
        return grouped
    # numpy scalars, as cleanlab's: class keys in the labels' integer type and
    # areas in the boxes' float type.
    uniq, first, inverse = np.unique(classes, return_index=True, return_inverse=True)
    for j in np.argsort(first, kind="stable"):
        grouped[uniq[j]] = list(areas[inverse == j])
    return grouped


def bounding_box_size_distribution(labels=None, predictions=None, *, auxiliary_inputs=None,
                                   class_names: dict | None = None, sort: bool = False):
    """Areas of the annotated and of the predicted boxes, per class.

    Parameters
    ----------
    labels, predictions, auxiliary_inputs
        As in :func:`object_counts_per_image`.
    class_names : dict, optional
        ``{"0": "car", ...}``: report these classes only, under these names.
    sort : bool, default False
        Order the classes by decreasing number of boxes.

    Returns
    -------
    tuple of (dict, dict)
        Class (or name) to the list of box areas ``(x2 - x1) * (y2 - y1)``,
        for the annotated and the predicted boxes. Classes appear in order of
        first appearance unless ``sort``.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.object_detection.summary import bounding_box_size_distribution
    >>> labels = [{"bboxes": np.array([[0., 0., 2., 3.]]), "labels": np.array([1])}]
    >>> lab, pred = bounding_box_size_distribution(labels, [[np.zeros((0, 5))] * 2],
    ...                                            class_names={"1": "dog"})
    >>> dict(lab), dict(pred)
    ({'dog': [np.float64(6.0)]}, {})
    """
    per_image = _per_image(labels, predictions, auxiliary_inputs)
    sides = []
    for cls_at, box_at in ((0, 1), (2, 3)):
        classes = [np.asarray(item[cls_at]).reshape(-1) for item in per_image]
        # Images without boxes add nothing (and no float64 of their own: the
        # areas keep the boxes' dtype, as cleanlab's per-image arithmetic does).
        boxes = [np.asarray(item[box_at]).reshape(-1, 4) for item in per_image
                 if np.asarray(item[box_at]).size]
        cls_all = np.concatenate(classes) if classes else np.empty(0, dtype=np.intp)
        box_all = np.concatenate(boxes) if boxes else np.empty((0, 4))
        if cls_at == 2:
            box_all = box_all.astype(np.float64)
        areas = (box_all[:, 2] - box_all[:, 0]) * (box_all[:, 3] - box_all[:, 1])
        sides.append(_areas_by_class(cls_all, areas, class_names))
    lab_area, pred_area = sides
    if sort:
        lab_area = dict(sorted(lab_area.items(), key=lambda item: -len(item[1])))
        pred_area = dict(sorted(pred_area.items(), key=lambda item: -len(item[1])))
    return lab_area, pred_area


def calculate_per_class_metrics(labels, predictions, num_procs: int = 1, class_names=None):
    """The detector's precision, recall and F1 per class, averaged over IoU thresholds.

    At each IoU threshold 0.5, 0.55, ..., 0.95, predicted boxes are matched
    greedily to annotated boxes of their class by decreasing score (ties by
    index); a prediction is a true positive when it covers a still unmatched
    annotation at that IoU, and an annotation never matched is a false negative.

    Parameters
    ----------
    labels, predictions
        As in :func:`labelaudit.object_detection.filter.find_label_issues`
        (annotated classes outside ``0..K-1`` are ignored).
    num_procs : int, default 1
        Threads for the matching (results do not depend on it).
    class_names : dict, optional
        ``{"0": "car", ...}`` naming classes ``0..K-1``; names order the result.

    Returns
    -------
    dict
        Class (or name) to ``{"average precision", "average recall",
        "average f1"}`` (float32; NaN for a class with no boxes at all).

    Raises
    ------
    labelaudit.exceptions.InputError
        When ``num_procs`` is not a positive integer or ``class_names`` names
        fewer than ``K`` classes.

    Notes
    -----
    Like cleanlab, the averaged counts are divided by ten times the number of
    classes (not by ten); the ratios, hence the returned metrics, do not change.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.object_detection.summary import calculate_per_class_metrics
    >>> labels = [{"bboxes": np.array([[0., 0., 10., 10.]]), "labels": np.array([0])}]
    >>> predictions = [[np.array([[0., 0., 10., 10., 0.9], [50., 50., 60., 60., 0.8]])]]
    >>> metrics = calculate_per_class_metrics(labels, predictions)
    >>> {k: round(float(v), 3) for k, v in metrics[0].items()}
    {'average precision': 0.5, 'average recall': 1.0, 'average f1': 0.667}
    """
    if isinstance(num_procs, bool) or not isinstance(num_procs, (int, np.integer)) or num_procs < 1:
        raise InputError(f"`num_procs` must be a positive integer, got {num_procs!r}")
    inputs = check_detection_inputs(labels, predictions, known_classes=False)
    K = inputs.n_classes
    if class_names is None:
        class_names = {str(k): k for k in range(K)}
    try:
        names = [value for _, value in sorted(class_names.items(), key=lambda item: int(item[0]))]
    except (AttributeError, TypeError, ValueError):
        raise InputError("`class_names` must map class indices ('0', '1', ...) to names, got "
                         f"{class_names!r}") from None
    if len(names) < K:
        raise InputError(f"`class_names` names {len(names)} classes but `predictions` has {K}")
    engine = _engine.Engine.for_jobs(int(num_procs))
    found = _engine.match_pass(inputs, engine, match=True)
    return _metrics_from_matches(found, names, K)


def _metrics_from_matches(found, names: list, K: int) -> dict:
    # Averaged TP / FP / FN counts per class (float32 sums, as the reference
    # accumulates them) and the precision, recall and F1 they give.
    n_thr = len(_engine.IOU_THRESHOLDS)
    totals = {name: [np.float32(0), np.float32(0), np.float32(0)] for name in names}
    for k in range(K):
        bits = found.matches[k]
        n_pred, n_gt = bits.shape[0], int(found.n_labels[k])
        for t in range(n_thr):
            tp = int(np.count_nonzero((bits >> t) & 1))
            acc = totals[names[k]]
            acc[0] = acc[0] + np.float32(tp)
            acc[1] = acc[1] + np.float32(n_pred - tp)
            acc[2] = acc[2] + np.float32(n_gt - tp)
    scale = n_thr * K
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, (tp, fp, fn) in totals.items():
            tp, fp, fn = tp / scale, fp / scale, fn / scale
            precision = tp / (tp + fp + _TINY)
            recall = tp / (tp + fn + _TINY)
            f1 = 2 * (precision * recall) / (precision + recall + _TINY)
            out[name] = {"average precision": precision, "average recall": recall,
                         "average f1": f1}
    return out
