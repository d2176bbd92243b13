"""COCO detection files: annotations (the data) and results (the predictions).

- **Annotations** (``instances_*.json``): a dict with ``images`` (``id``,
  ``file_name``, optional ``width``/``height``), ``annotations`` (``image_id``,
  ``category_id``, ``bbox`` as ``[x, y, width, height]``) and ``categories``
  (``id``, ``name``).
- **Results** (what ``pycocotools``' ``loadRes`` reads): a list of
  ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``, each score a
  confidence in [0, 1].

Both become the per-image layout of :mod:`labelaudit.object_detection`:
corner boxes ``x1, y1, x2, y2`` and classes numbered by increasing category id.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import _short
from ..exceptions import InputError
from ._common import _check_file

__all__ = ["DetectionDataset", "read_coco_annotations", "read_coco_predictions"]


@dataclass(frozen=True)
class DetectionDataset:
    """Annotated boxes per image, as read from a detection export.

    Attributes
    ----------
    image_ids : list of str
        Image ids, in file order.
    file_names : list of str
        Image file per image (relative paths are relative to the images folder).
    widths, heights : numpy.ndarray of float
        Image sizes in pixels (NaN where the file does not say).
    boxes : list of numpy.ndarray of shape (L_i, 4)
        Annotated boxes per image, corners ``x1, y1, x2, y2``.
    classes : list of numpy.ndarray of shape (L_i,)
        Class index of each box.
    class_names : list of str
        Name of each class index.
    category_ids : list
        The source's category id of each class index (COCO ids, or the names).
    source : str
        The file read, for messages.
    """

    image_ids: list[str]
    file_names: list[str]
    widths: np.ndarray
    heights: np.ndarray
    boxes: list[np.ndarray]
    classes: list[np.ndarray]
    class_names: list[str]
    category_ids: list[Any]
    source: str

    def labels(self) -> list[dict[str, Any]]:
        """The per-image ``{"bboxes", "labels", "image_name"}`` dicts of the drop-in API."""
        return [{"bboxes": b, "labels": c, "image_name": f}
                for b, c, f in zip(self.boxes, self.classes, self.file_names, strict=True)]


def _load_json(path: Path, what: str) -> Any:
    _check_file(path, what)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except UnicodeDecodeError:
        raise InputError(f"{what} file '{path}' is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{what} file '{path}' is not valid JSON (line {err.lineno}, column "
                         f"{err.colno}: {err.msg})") from None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {_short(value)}")
    return float(value)


def _size(value: Any, where: str) -> float:
    size = _number(value, where)
    if size <= 0:
        raise InputError(f"{where} must be a positive number of pixels, got {_short(value)}")
    return size


def _score(value: Any, where: str) -> float:
    score = _number(value, where)
    if not 0.0 <= score <= 1.0:
        raise InputError(f"{where} must be a confidence in [0, 1], got {_short(value)}")
    return score


def _xywh(value: Any, where: str) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise InputError(f"{where} must be [x, y, width, height], got {_short(value)}")
    x, y, w, h = (_number(v, where) for v in value)
    if w < 0 or h < 0:
        raise InputError(f"{where} has a negative width or height: {_short(value)}")
    return [x, y, x + w, y + h]


def _records(doc: Any, key: str, where: str) -> list:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, list):
        raise InputError(f"{where} has no {key!r} list (a COCO annotations file has 'images', "
                         "'annotations' and 'categories')")
    return value


def _field(record: Any, key: str, where: str) -> Any:
    if not isinstance(record, dict) or key not in record:
        raise InputError(f"{where} has no {key!r} field")
    return record[key]


def read_coco_annotations(path: str | Path) -> DetectionDataset:
    """Read a COCO annotations file.

    Parameters
    ----------
    path : str or Path
        The JSON file.

    Returns
    -------
    DetectionDataset
        Images in file order; classes by increasing category id. Crowd
        annotations (``iscrowd: 1``) are skipped, as COCO evaluation does. An
        empty ``annotations`` list is valid: every image then has no boxes.

    Raises
    ------
    InputError
        Naming the file, the record and the field that is wrong: a repeated
        image id, category id or category name, an image width or height that
        is not positive, a box with a negative size, or an id no list holds.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> doc = {"images": [{"id": 7, "file_name": "a.png", "width": 32, "height": 32}],
    ...        "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [2, 2, 10, 5]}],
    ...        "categories": [{"id": 3, "name": "cat"}]}
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "instances.json"
    >>> _ = p.write_text(json.dumps(doc))
    >>> ds = read_coco_annotations(p)
    >>> ds.class_names, ds.boxes[0].tolist()
    (['cat'], [[2.0, 2.0, 12.0, 7.0]])
    """
    path = Path(path)
    doc = _load_json(path, "COCO annotations")
    src = f"COCO annotations file '{path}'"
    images = _records(doc, "images", src)
    anns = _records(doc, "annotations", src)
    cats = _records(doc, "categories", src)
    if not images:
        raise InputError(f"{src} lists no images")
    if not cats:
        raise InputError(f"{src} lists no categories")
    cat_ids, cat_names, named = [], {}, set()
    for j, cat in enumerate(cats):
        cid = _field(cat, "id", f"{src}: categories[{j}]")
        if cid in cat_names:
            raise InputError(f"{src}: categories[{j}] repeats category id {cid!r}")
        name = str(cat.get("name", cid))
        if name in named:
            raise InputError(f"{src}: categories[{j}].name repeats category name {name!r}; "
                             "each category needs its own name")
        named.add(name)
        cat_names[cid] = name
        cat_ids.append(cid)
    try:
        cat_ids = sorted(cat_ids)
    except TypeError:
        raise InputError(f"{src}: category ids mix numbers and strings") from None
    class_of = {cid: k for k, cid in enumerate(cat_ids)}
    index, ids, names, widths, heights = {}, [], [], [], []
    for i, img in enumerate(images):
        where = f"{src}: images[{i}]"
        iid = _field(img, "id", where)
        if iid in index:
            raise InputError(f"{where} repeats image id {iid!r}")
        index[iid] = i
        ids.append(str(iid))
        names.append(str(img.get("file_name", iid)))
        widths.append(_size(img["width"], f"{where}.width") if "width" in img else math.nan)
        heights.append(_size(img["height"], f"{where}.height") if "height" in img else math.nan)
    per_boxes: list[list] = [[] for _ in images]
    per_cls: list[list] = [[] for _ in images]
    for j, ann in enumerate(anns):
        where = f"{src}: annotations[{j}]"
        iid = _field(ann, "image_id", where)
        cid = _field(ann, "category_id", where)
        if ann.get("iscrowd"):
            continue
        if iid not in index:
            raise InputError(f"{where} refers to image id {iid!r}, which 'images' does not list")
        if cid not in class_of:
            raise InputError(f"{where} refers to category id {cid!r}, which 'categories' does not "
                             "list")
        per_boxes[index[iid]].append(_xywh(_field(ann, "bbox", where), f"{where}.bbox"))
        per_cls[index[iid]].append(class_of[cid])
    return DetectionDataset(
        image_ids=ids, file_names=names, widths=np.array(widths), heights=np.array(heights),
        boxes=[np.array(b, dtype=np.float64).reshape(-1, 4) for b in per_boxes],
        classes=[np.array(c, dtype=np.intp) for c in per_cls],
        class_names=[cat_names[c] for c in cat_ids], category_ids=cat_ids, source=str(path),
    )


def read_coco_predictions(path: str | Path, dataset: DetectionDataset) -> list[list[np.ndarray]]:
    """Read a COCO results file into per-image, per-class arrays for ``dataset``.

    Parameters
    ----------
    path : str or Path
        The JSON list of detections.
    dataset : DetectionDataset
        The annotations the detections refer to (image and category ids).

    Returns
    -------
    list of list of numpy.ndarray of shape (M, 5)
        Per image, per class: ``x1, y1, x2, y2, score`` in file order. Images
        without detections get empty arrays.

    Raises
    ------
    InputError
        Naming the file, the detection and the field that is wrong (for
        instance a score outside [0, 1]).
    """
    path = Path(path)
    doc = _load_json(path, "COCO results")
    src = f"COCO results file '{path}'"
    if isinstance(doc, dict) and isinstance(doc.get("annotations"), list):
        doc = doc["annotations"]  # an annotations-shaped file with scores
    if not isinstance(doc, list):
        raise InputError(f"{src} must be a JSON list of detections (image_id, category_id, bbox, "
                         "score)")
    index = {}
    for i, iid in enumerate(dataset.image_ids):
        index[iid] = i
    class_of = {str(cid): k for k, cid in enumerate(dataset.category_ids)}
    K = len(dataset.class_names)
    rows: list[list[list]] = [[[] for _ in range(K)] for _ in dataset.image_ids]
    for j, det in enumerate(doc):
        where = f"{src}: detection {j}"
        iid = str(_field(det, "image_id", where))
        cid = str(_field(det, "category_id", where))
        if iid not in index:
            raise InputError(f"{where} refers to image id {iid!r}, which {dataset.source!r} does "
                             "not list")
        if cid not in class_of:
            raise InputError(f"{where} refers to category id {cid!r}, which {dataset.source!r} "
                             "does not list")
        box = _xywh(_field(det, "bbox", where), f"{where}.bbox")
        score = _score(_field(det, "score", where), f"{where}.score")
        rows[index[iid]][class_of[cid]].append([*box, score])
    return [[np.array(r, dtype=np.float64).reshape(-1, 5) for r in per] for per in rows]
