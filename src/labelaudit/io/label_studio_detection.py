"""Label Studio JSON exports of rectangles (``RectangleLabels``) as detection data.

Each task of the export is one image: its first string data field (``image``
when present) names the file, its first annotation that was not cancelled holds
the annotated rectangles, and its ``predictions`` (if any) the model's
rectangles with their ``score``. Label Studio stores rectangles in percent of
the image (``x``, ``y``, ``width``, ``height`` with ``original_width`` and
``original_height``, which must be positive); they are converted to pixel
corners. Prediction scores must be confidences in [0, 1]. Rotated rectangles
are refused: an axis-aligned box cannot represent them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import _short
from ..exceptions import InputError
from .coco import DetectionDataset, _load_json, _number, _score, _size

__all__ = ["read_label_studio_rectangles"]


def _image_field(data: Any, where: str) -> str:
    if not isinstance(data, dict):
        raise InputError(f"{where} has no 'data' dict naming the image")
    if isinstance(data.get("image"), str):
        return data["image"]
    for value in data.values():
        if isinstance(value, str):
            return value
    raise InputError(f"{where}: 'data' holds no image path")


def _rectangles(results: Any, where: str, *, scored: bool, default_score: Any):
    if not isinstance(results, list):
        raise InputError(f"{where} has no 'result' list")
    out = []
    size = (np.nan, np.nan)
    for r, region in enumerate(results):
        at = f"{where}.result[{r}]"
        if not isinstance(region, dict) or region.get("type") != "rectanglelabels":
            continue
        value = region.get("value")
        if not isinstance(value, dict):
            raise InputError(f"{at} has no 'value' dict")
        names = value.get("rectanglelabels")
        if not isinstance(names, list) or len(names) != 1:
            raise InputError(f"{at}.value.rectanglelabels must hold one label, got {_short(names)}")
        if value.get("rotation", 0) not in (0, 0.0, None):
            raise InputError(f"{at} is rotated by {value['rotation']} degrees; only axis-aligned "
                             "rectangles can be audited")
        W = _size(region.get("original_width"), f"{at}.original_width")
        H = _size(region.get("original_height"), f"{at}.original_height")
        size = (W, H)
        x, y = _number(value.get("x"), f"{at}.value.x"), _number(value.get("y"), f"{at}.value.y")
        w = _number(value.get("width"), f"{at}.value.width")
        h = _number(value.get("height"), f"{at}.value.height")
        if w < 0 or h < 0:
            raise InputError(f"{at} has a negative width or height")
        box = [x * W / 100, y * H / 100, (x + w) * W / 100, (y + h) * H / 100]
        score = None
        if scored:
            raw = region.get("score", default_score)
            if raw is None:
                raise InputError(f"{at} has no 'score' (nor does its prediction)")
            score = _score(raw, f"{at}.score")
        out.append((str(names[0]), box, score))
    return out, size


def read_label_studio_rectangles(
    path: str | Path, *, classes: Sequence[str] | None = None
) -> tuple[DetectionDataset, list[list[np.ndarray]] | None]:
    """Read a Label Studio JSON export of rectangles.

    Parameters
    ----------
    path : str or Path
        The JSON export (a list of tasks).
    classes : sequence of str, optional
        Class names in index order; default the names seen, sorted.

    Returns
    -------
    (DetectionDataset, predictions or None)
        The annotated boxes, and per image, per class ``(M, 5)`` arrays of the
        tasks' predictions (None when no task has predictions).

    Raises
    ------
    InputError
        Naming the file, the task and the field that is wrong.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> region = {"type": "rectanglelabels", "original_width": 200, "original_height": 100,
    ...           "value": {"x": 10, "y": 20, "width": 50, "height": 30,
    ...                     "rectanglelabels": ["car"]}}
    >>> export = [{"id": 1, "data": {"image": "a.png"}, "annotations": [{"result": [region]}],
    ...            "predictions": [{"score": 0.9, "result": [region]}]}]
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "export.json"
    >>> _ = p.write_text(json.dumps(export))
    >>> ds, preds = read_label_studio_rectangles(p)
    >>> ds.boxes[0].tolist(), preds[0][0].tolist()
    ([[20.0, 20.0, 120.0, 50.0]], [[20.0, 20.0, 120.0, 50.0, 0.9]])
    """
    path = Path(path)
    doc = _load_json(path, "Label Studio export")
    src = f"Label Studio export '{path}'"
    if not isinstance(doc, list) or not doc:
        raise InputError(f"{src} must be a non-empty JSON list of tasks (the 'JSON' export)")
    ids, files, sizes, labelled, predicted = [], [], [], [], []
    any_predictions = False
    for t, task in enumerate(doc):
        where = f"{src}: task {t}"
        if not isinstance(task, dict):
            raise InputError(f"{where} is not a JSON object")
        ids.append(str(task.get("id", t)))
        files.append(_image_field(task.get("data"), where))
        anns = [a for a in task.get("annotations") or []
                if isinstance(a, dict) and not a.get("was_cancelled")]
        rects, size = (_rectangles(anns[0].get("result"), f"{where}.annotations[0]", scored=False,
                                   default_score=None) if anns else ([], (np.nan, np.nan)))
        preds = []
        for p, pred in enumerate(task.get("predictions") or []):
            if not isinstance(pred, dict):
                raise InputError(f"{where}.predictions[{p}] is not a JSON object")
            found, psize = _rectangles(pred.get("result"), f"{where}.predictions[{p}]", scored=True,
                                       default_score=pred.get("score"))
            preds.extend(found)
            if np.isnan(size[0]):
                size = psize
        any_predictions = any_predictions or bool(task.get("predictions"))
        labelled.append(rects)
        predicted.append(preds)
        sizes.append(size)
    seen = sorted({name for rects in (*labelled, *predicted) for name, _, _ in rects})
    names = list(classes) if classes else seen
    class_of = {name: k for k, name in enumerate(names)}
    for name in seen:
        if name not in class_of:
            raise InputError(f"{src} uses label {name!r}, which --classes does not list")
    K = len(names)
    if K == 0:
        raise InputError(f"{src} holds no rectangle labels")
    boxes = [np.array([b for _, b, _ in rects], dtype=np.float64).reshape(-1, 4)
             for rects in labelled]
    cls = [np.array([class_of[n] for n, _, _ in rects], dtype=np.intp) for rects in labelled]
    dataset = DetectionDataset(
        image_ids=ids, file_names=files, widths=np.array([s[0] for s in sizes]),
        heights=np.array([s[1] for s in sizes]), boxes=boxes, classes=cls, class_names=names,
        category_ids=names, source=str(path),
    )
    if not any_predictions:
        return dataset, None
    per_image = []
    for preds in predicted:
        rows: list[list] = [[] for _ in range(K)]
        for name, box, score in preds:
            rows[class_of[name]].append([*box, score])
        per_image.append([np.array(r, dtype=np.float64).reshape(-1, 5) for r in rows])
    return dataset, per_image
