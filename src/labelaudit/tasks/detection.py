"""``labelaudit audit --task detection``: bounding boxes per image.

DATA is a COCO annotations JSON (``images``, ``annotations``, ``categories``) or
a Label Studio JSON export of rectangles; ``--predictions`` is a COCO results
JSON (``image_id``, ``category_id``, ``bbox``, ``score``), optional for a Label
Studio export whose tasks carry predictions. Issues are found with
:func:`labelaudit.object_detection.filter.find_label_issues` (the same passes)
and every box gets its overlooked / badly located / swapped verdict.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .._threads import effective_n_threads  # noqa: F401 - resolves n_jobs errors early
from .._validation import check_detection_inputs
from ..exceptions import InputError, LabelAuditWarning
from ..io import (
    file_fingerprint,
    read_coco_annotations,
    read_coco_predictions,
    read_label_studio_rectangles,
)
from ..object_detection import _engine
from ..object_detection.filter import _issue_flags
from ..object_detection.rank import DEFAULT_AGGREGATION_WEIGHTS, _quality_scores
from ..stats import wilson_interval
from . import Task, TaskRequest, register_task, task_result

__all__ = ["BOX_SCHEMA", "DetectionReview", "run_detection"]

#: Columns and dtypes of :attr:`DetectionReview.boxes`.
BOX_SCHEMA = {
    "image_id": pl.String, "source": pl.String, "class": pl.String,
    "x1": pl.Float64, "y1": pl.Float64, "x2": pl.Float64, "y2": pl.Float64,
    "score": pl.Float64, "box_quality": pl.Float64, "issue": pl.String,
    "predicted_class": pl.String,
}


@dataclass(frozen=True)
class DetectionReview:
    """The detection audit's own analysis (attached to the result as ``"detection"``).

    Attributes
    ----------
    images : polars.DataFrame
        One row per image: id, file name, size, score, flags, counts.
    boxes : polars.DataFrame
        One row per box (``source`` "given" or "predicted"): image id, class,
        corners, score, issue type (``overlooked``, ``swapped``,
        ``badly_located`` or empty) and, for a swapped given box,
        ``predicted_class``: the class of the other-class predicted box of
        its image that overlaps it most (null otherwise).
    per_class : polars.DataFrame
        Per class: boxes, issues, issue rate with interval, detector precision,
        recall and F1 (averaged over IoU 0.5 to 0.95).
    headline : dict
        Image issue rate with interval and box issue counts.
    image_dir : str
        Folder the image files are read from (and the only one).
    """

    images: pl.DataFrame
    boxes: pl.DataFrame
    per_class: pl.DataFrame
    headline: dict = field(default_factory=dict)
    image_dir: str = "."

    def figures(self) -> dict[str, Any]:
        """Gate figures."""
        return dict(self.headline)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``summary.json``."""
        return {**self.headline, "per_class": self.per_class.to_dicts()}


def _read(request: TaskRequest):
    data = Path(request.data)
    if data.suffix.lower() != ".json":
        raise InputError(f"DATA '{data}' must be a COCO annotations JSON or a Label Studio JSON "
                         "export for --task detection")
    head = data.read_text(encoding="utf-8", errors="replace").lstrip()[:1]
    inputs = []
    if head == "[":
        dataset, predictions = read_label_studio_rectangles(data, classes=request.classes)
        if request.predictions is not None:
            predictions = read_coco_predictions(request.predictions, dataset)
    else:
        dataset = read_coco_annotations(data)
        predictions = None
        if request.predictions is not None:
            predictions = read_coco_predictions(request.predictions, dataset)
    if predictions is None:
        raise InputError(f"--task detection needs --predictions (a COCO results JSON) for "
                         f"'{data}'")
    inputs.append({"role": "detection_annotations", **file_fingerprint(data, n_rows=len(dataset.image_ids))})
    if request.predictions is not None:
        inputs.append({"role": "predictions", **file_fingerprint(request.predictions)})
    return dataset, predictions, inputs


def _swap_classes(b, lab_img, lab_cls, pred_cls, swapped, names) -> list[str | None]:
    """Per given box: for a swapped one, the class of the other-class prediction overlapping it
    most (by IoU; None when none overlaps), else None. Loops over the swapped boxes only."""
    out: list[str | None] = [None] * lab_cls.shape[0]
    ptr, pred = b["pred_ptr"], b["pred_boxes"]
    for i in np.flatnonzero(swapped):
        lo, hi = ptr[lab_img[i]], ptr[lab_img[i] + 1]
        other = np.flatnonzero(pred_cls[lo:hi] != lab_cls[i]) + lo
        if other.size == 0:
            continue
        box, cand = b["lab_boxes"][i, :4], pred[other, :4]
        w = np.clip(np.minimum(box[2], cand[:, 2]) - np.maximum(box[0], cand[:, 0]), 0, None)
        h = np.clip(np.minimum(box[3], cand[:, 3]) - np.maximum(box[1], cand[:, 1]), 0, None)
        inter = w * h
        union = ((box[2] - box[0]) * (box[3] - box[1])
                 + (cand[:, 2] - cand[:, 0]) * (cand[:, 3] - cand[:, 1]) - inter)
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        if iou.max() > 0:
            out[i] = names[int(pred_cls[other[int(np.argmax(iou))]])]
    return out


def _warn_unannotated(names, n_given: np.ndarray, n_predicted: np.ndarray) -> None:
    """Warn about classes with predicted boxes but no annotated box.

    Their average precision is 0, so their box threshold is 0: a predicted box of
    theirs is flagged as overlooked only at an overlooked score of 0 (which takes a
    detector score of 1), and the audit would otherwise read as clean.
    """
    unannotated = [names[k] for k in np.flatnonzero((n_given == 0) & (n_predicted > 0))]
    if unannotated:
        warnings.warn(
            f"classes {', '.join(repr(c) for c in unannotated)} have predicted boxes but no "
            "annotated box: their average precision is 0, so their predicted boxes are flagged "
            "as overlooked only at an overlooked score of 0 (a detector score of 1); every one "
            "is listed with its score among the boxes",
            LabelAuditWarning, stacklevel=3,
        )


def run_detection(request: TaskRequest):
    """Audit the boxes of ``request.data`` against ``request.predictions``."""
    dataset, predictions, provenance = _read(request)
    inputs = check_detection_inputs(dataset.labels(), predictions, known_classes=True,
                                    labels_name="DATA", predictions_name="--predictions")
    engine = _engine.Engine.for_jobs(request.n_jobs)
    found, class_ap, scored = _issue_flags(inputs, engine, overlapping_label_check=True,
                                           keep_boxes=True)
    quality = _quality_scores(inputs, engine, weights=DEFAULT_AGGREGATION_WEIGHTS,
                              overlapping_label_check=True, verbose=False)
    thr = _engine.box_thresholds(class_ap)
    b = scored.boxes
    lab_img = np.repeat(np.arange(len(inputs)), np.diff(b["lab_ptr"]))
    pred_img = np.repeat(np.arange(len(inputs)), np.diff(b["pred_ptr"]))
    lab_cls, pred_cls = b["lab_cls"].astype(np.intp), b["pred_cls"].astype(np.intp)
    swapped = b["swap"] <= thr[lab_cls]
    badloc = (b["badloc"] <= thr[lab_cls]) & ~swapped
    over = np.nan_to_num(b["overlooked"], nan=1.0) <= thr[pred_cls]
    names = dataset.class_names
    ids = np.array(dataset.image_ids)
    given_kind = np.where(swapped, "swapped", np.where(badloc, "badly_located", ""))
    swap_to = _swap_classes(b, lab_img, lab_cls, pred_cls, swapped, names)
    given = pl.DataFrame({
        "image_id": ids[lab_img], "source": ["given"] * lab_cls.shape[0],
        "class": [names[c] for c in lab_cls],
        "x1": b["lab_boxes"][:, 0], "y1": b["lab_boxes"][:, 1],
        "x2": b["lab_boxes"][:, 2], "y2": b["lab_boxes"][:, 3],
        "score": np.full(lab_cls.shape[0], np.nan),
        "box_quality": np.minimum(b["badloc"], b["swap"]), "issue": given_kind,
        "predicted_class": swap_to,
    }, schema=BOX_SCHEMA)
    predicted = pl.DataFrame({
        "image_id": ids[pred_img], "source": ["predicted"] * pred_cls.shape[0],
        "class": [names[c] for c in pred_cls],
        "x1": b["pred_boxes"][:, 0], "y1": b["pred_boxes"][:, 1],
        "x2": b["pred_boxes"][:, 2], "y2": b["pred_boxes"][:, 3],
        "score": b["pred_boxes"][:, 4], "box_quality": b["overlooked"],
        "issue": np.where(over, "overlooked", ""),
        "predicted_class": [None] * pred_cls.shape[0],
    }, schema=BOX_SCHEMA)
    # Explicit dtypes: a dataset without annotations (or without predictions) gives an
    # empty half whose columns would otherwise have no type and not stack with the other.
    boxes = pl.concat([given, predicted])
    flags = scored.flags
    is_issue = flags > 0
    order = np.lexsort((np.arange(len(quality)), quality, ~is_issue))
    rank = np.empty(len(quality), dtype=np.int64)
    rank[order] = np.arange(1, len(quality) + 1)
    images = pl.DataFrame({
        "id": dataset.image_ids, "file_name": dataset.file_names,
        "width": dataset.widths, "height": dataset.heights,
        "label_quality": quality, "is_issue": is_issue, "issue_rank": rank,
        "overlooked": (flags & _engine.OVERLOOKED) > 0,
        "swapped": (flags & _engine.SWAP) > 0,
        "badly_located": (flags & _engine.BADLOC) > 0,
        "n_given": inputs.n_label_boxes.astype(np.int64),
        "n_predicted": inputs.n_pred_boxes.sum(axis=1, dtype=np.int64),
    }).sort("issue_rank")
    n = len(inputs)
    n_img = int(is_issue.sum())
    lo, hi = wilson_interval(n_img, n)
    K = len(names)
    count = np.bincount(lab_cls, minlength=K)
    n_bad = (np.bincount(lab_cls, weights=swapped | badloc, minlength=K)
             + np.bincount(pred_cls, weights=over, minlength=K)).astype(np.int64)
    n_over = np.bincount(pred_cls, weights=over, minlength=K).astype(np.int64)
    c_lo, c_hi = wilson_interval(n_bad, count + n_over)
    _warn_unannotated(names, count, np.bincount(pred_cls, minlength=K))
    from ..object_detection.summary import _metrics_from_matches

    metrics = _metrics_from_matches(found, list(range(K)), K)
    per_class = pl.DataFrame({
        "class": names, "count": count.astype(np.int64),
        "estimated_noise_rate": np.where(count + n_over > 0, n_bad / np.maximum(count + n_over, 1),
                                         0.0),
        "ci_low": np.asarray(c_lo, dtype=float), "ci_high": np.asarray(c_hi, dtype=float),
        "n_issues": n_bad,
        "mean_label_quality": np.bincount(lab_cls, weights=np.minimum(b["badloc"], b["swap"]),
                                          minlength=K) / np.maximum(count, 1),
        "n_overlooked": n_over,
        "n_swapped": np.bincount(lab_cls, weights=swapped, minlength=K).astype(np.int64),
        "n_badly_located": np.bincount(lab_cls, weights=badloc, minlength=K).astype(np.int64),
        "precision": [float(metrics[k]["average precision"]) for k in range(K)],
        "recall": [float(metrics[k]["average recall"]) for k in range(K)],
        "f1": [float(metrics[k]["average f1"]) for k in range(K)],
    })
    headline = {
        "detection_image_issue_rate": n_img / n, "detection_image_issue_ci_low": float(lo),
        "detection_image_issue_ci_high": float(hi), "detection_n_images": n,
        "detection_n_issue_images": n_img,
        "detection_n_overlooked": int(over.sum()), "detection_n_swapped": int(swapped.sum()),
        "detection_n_badly_located": int(badloc.sum()),
    }
    image_dir = Path(request.options.get("detection_image_dir") or Path(request.data).parent)
    if not image_dir.is_dir():
        raise InputError(f"--detection-image-dir '{image_dir}' is not a directory")
    review = DetectionReview(images=images, boxes=boxes, per_class=per_class, headline=headline,
                             image_dir=str(image_dir.resolve()))
    issues = images.select("id", "label_quality", "is_issue", "issue_rank", "file_name",
                           "overlooked", "swapped", "badly_located")
    result = task_result(
        "detection", issues=issues, class_names=names, per_class=per_class,
        estimated_noise_rate=n_img / n, ci_low=float(lo), ci_high=float(hi),
        parameters={"interval": "Wilson, images with an issue"},
        section=review, figures=headline,
    )
    return result, provenance


register_task(Task(
    "detection",
    "bounding boxes: COCO JSON or Label Studio rectangles, predictions as COCO results",
    run_detection,
))
