"""``labelaudit audit --task segmentation``: mislabelled pixels in semantic segmentation masks.

Inputs:

- DATA: the given label masks, a folder with one ``<id>.png`` or ``<id>.npy``
  class-index mask per image (ordered by file name), one ``(N, H, W)``
  ``.npy`` of class indices (ids ``"0" .. "N-1"``), or a Label Studio JSON
  export of brush labels (``.json``, see
  :func:`labelaudit.io.read_label_studio_brushes`; its classes are
  ``background`` and the sorted brush labels unless ``--classes`` names them).
- ``--pred-probs``: the out-of-sample probabilities, one ``(N, K, H, W)``
  float32/float64 ``.npy`` (opened as a read-only memory map, never copied)
  or a folder of per-image ``<id>.npy`` arrays of shape ``(K, H, W)``
  (stacked one image at a time into a temporary on-disk ``.npy`` that is
  deleted after the run). Every value must be finite and in [0, 1] and the
  K values of every pixel must sum to 1; the message names the file, the
  image, the pixel, the class and the value.
- ``--classes``: the K class names (default ``"0" .. "K-1"``).
- ``--segmentation-image-dir``: optional folder with the pictures
  (``<id>.png``, ``.jpg``, ...) drawn under the report's overlays.

Every pixel is checked with
:func:`labelaudit.segmentation.filter.find_label_issues` (cleanlab's
semantics, streamed); every image is scored with
:func:`~labelaudit.segmentation.rank.get_label_quality_scores` (softmin of
its pixels' self-confidences), and the most common given -> suggested pair
of each class comes from :func:`~labelaudit.segmentation.summary.common_label_issues`.
An image is an issue when at least one of its pixels is flagged
(``--segmentation-min-pixels`` raises that count); issues are ranked by
increasing image score.

Intervals: pixels of one image are not independent, so the share of pixels
flagged, the share of images with an issue and every class's share of
flagged pixels come with percentile intervals of a bootstrap that resamples
whole images (``--n-bootstrap`` replicates, ``--seed``).

Memory: the probabilities are only streamed; besides the (N, H, W) masks and
the (N, H, W) boolean issue mask, the audit keeps O(N K) counts and buffers
of a block of images.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .._validation import check_probability_vectors
from ..exceptions import InputError
from ..io import (
    file_fingerprint,
    folder_fingerprint,
    read_image_folder,
    read_label_studio_brushes,
    read_mask_array,
    read_mask_folder,
    read_segmentation_probs,
    stack_segmentation_probs,
)
from ..io.masks import MASK_SUFFIXES
from ..result import AuditResult
from ..segmentation._stream import BLOCK_BYTES
from ..segmentation.filter import find_label_issues
from ..segmentation.rank import get_label_quality_scores
from ..segmentation.summary import common_label_issues
from . import Task, TaskRequest, register_task, task_result

__all__ = ["SEGMENTATION_IMAGES_KEPT", "SegmentationAudit", "ShownImage", "audit_segmentation"]

#: Worst images whose masks are kept for the report's overlays.
SEGMENTATION_IMAGES_KEPT = 12

#: Images x replicates drawn at a time by the bootstrap.
_BOOTSTRAP_BLOCK = 1 << 22


@dataclass(frozen=True)
class ShownImage:
    """One image drawn in the report: its masks (and picture, when given).

    Attributes
    ----------
    id : str
    given : numpy.ndarray of shape (H, W)
        Given class per pixel.
    suggested : numpy.ndarray of shape (H, W)
        The model's top class per pixel.
    flagged : numpy.ndarray of bool, shape (H, W)
        Pixels flagged as label issues.
    image : bytes or None
        The encoded picture from ``--segmentation-image-dir``.
    label_quality : float
    n_issue_pixels : int
    issue_rank : int
    """

    id: str
    given: np.ndarray
    suggested: np.ndarray
    flagged: np.ndarray
    image: bytes | None
    label_quality: float
    n_issue_pixels: int
    issue_rank: int


@dataclass(frozen=True)
class SegmentationAudit:
    """What ``--task segmentation`` found (the report section renders it).

    Attributes
    ----------
    images : polars.DataFrame
        One row per image, issues first by rank, then by increasing score:
        ``id``, ``label_quality`` (softmin image score), ``n_pixels``,
        ``n_issue_pixels``, ``issue_share`` (share of its pixels flagged),
        ``is_issue`` (at least ``min_issue_pixels`` flagged), ``issue_rank`` (1 = lowest score; null
        for the others).
    per_class : polars.DataFrame
        One row per class: ``class``, ``count`` (pixels given it),
        ``n_issues`` (of those, flagged), ``estimated_noise_rate`` (share
        flagged; NaN when no pixel has it), ``ci_low``, ``ci_high`` (image
        bootstrap), ``n_images`` (images with a pixel of it),
        ``top_suggested`` and ``top_suggested_pixels`` (the most common
        suggested class among its flagged pixels).
    class_names : tuple of str
    pixel_rate, pixel_ci_low, pixel_ci_high : float
        Share of pixels flagged and its interval.
    image_rate, image_ci_low, image_ci_high : float
        Share of images with a flagged pixel and its interval.
    shown : tuple of ShownImage
        The worst images (at most :data:`SEGMENTATION_IMAGES_KEPT`).
    height, width : int
    confidence : float
    source : str
        How DATA was read (``"mask_folder"``, ``"mask_array"`` or ``"label_studio"``).
    min_issue_pixels : int
        Flagged pixels an image needs to count as an issue.
    """

    images: pl.DataFrame
    per_class: pl.DataFrame
    class_names: tuple[str, ...]
    pixel_rate: float
    pixel_ci_low: float
    pixel_ci_high: float
    image_rate: float
    image_ci_low: float
    image_ci_high: float
    shown: tuple[ShownImage, ...]
    height: int
    width: int
    confidence: float = 0.95
    source: str = "mask_folder"
    min_issue_pixels: int = 1
    kind: str = field(default="segmentation_audit", repr=False)

    @property
    def n_images(self) -> int:
        """Images audited."""
        return self.images.height

    @property
    def n_pixels(self) -> int:
        """Pixels audited."""
        return self.n_images * self.height * self.width

    @property
    def n_issue_pixels(self) -> int:
        """Pixels flagged."""
        return int(self.images.get_column("n_issue_pixels").sum())

    @property
    def n_issue_images(self) -> int:
        """Images with at least one flagged pixel."""
        return int(self.images.get_column("is_issue").sum())

    def figures(self) -> dict[str, Any]:
        """Gate figures: pixel and image issue rates with their intervals, and counts."""
        return {
            "segmentation_pixel_issue_rate": self.pixel_rate,
            "segmentation_pixel_issue_rate_ci_low": self.pixel_ci_low,
            "segmentation_pixel_issue_rate_ci_high": self.pixel_ci_high,
            "segmentation_image_issue_rate": self.image_rate,
            "segmentation_image_issue_rate_ci_low": self.image_ci_low,
            "segmentation_image_issue_rate_ci_high": self.image_ci_high,
            "n_issue_pixels": self.n_issue_pixels,
            "n_pixels": self.n_pixels,
            "n_issue_images": self.n_issue_images,
            "n_images": self.n_images,
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` entry: figures, source, image size and the per-class table."""
        return {**self.figures(), "confidence": self.confidence, "source": self.source,
                "min_issue_pixels": self.min_issue_pixels,
                "height": self.height, "width": self.width,
                "per_class": self.per_class.to_dicts()}


def _bootstrap(per_image: np.ndarray, denominators: np.ndarray, n_bootstrap: int, seed: int,
               confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals of column sums ratios over images drawn with replacement.

    ``per_image`` (N, M) numerators and ``denominators`` (N, M); returns the
    low and high ends per column (NaN where a replicate's denominator is 0 in
    every replicate).
    """
    n, m = per_image.shape
    rng = np.random.default_rng(seed)
    rates = np.empty((n_bootstrap, m))
    per_block = max(1, _BOOTSTRAP_BLOCK // max(n, 1))
    even = np.full(n, 1.0 / n)
    num = per_image.astype(np.float64)
    den = denominators.astype(np.float64)
    for first in range(0, n_bootstrap, per_block):
        b = min(per_block, n_bootstrap - first)
        weights = rng.multinomial(n, even, size=b).astype(np.float64)
        top, bottom = weights @ num, weights @ den
        with np.errstate(invalid="ignore", divide="ignore"):
            rates[first:first + b] = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1),
                                              np.nan)
    tail = (1.0 - confidence) / 2.0
    low = np.full(m, np.nan)
    high = np.full(m, np.nan)
    for j in range(m):
        col = rates[:, j][~np.isnan(rates[:, j])]
        if col.size:
            low[j], high[j] = np.quantile(col, [tail, 1.0 - tail])
    return low, high


def _image_scores(labels: np.ndarray, pred_probs: np.ndarray, n_jobs) -> np.ndarray:
    """Softmin image scores, a block of images at a time (no (N, H, W) float64 array).

    Blocks hold as many images as the streaming passes' blocks
    (:data:`labelaudit.segmentation._stream.BLOCK_BYTES` of probabilities).
    """
    n, k, h, w = pred_probs.shape
    per_block = max(1, BLOCK_BYTES // (k * h * w * pred_probs.itemsize))
    scores = np.empty(n, dtype=np.float64)
    for start in range(0, n, per_block):
        stop = min(start + per_block, n)
        scores[start:stop] = get_label_quality_scores(
            labels[start:stop], pred_probs[start:stop], n_jobs=n_jobs, verbose=False)[0]
    return scores


def audit_segmentation(labels, pred_probs, class_names, ids=None, *, images=None,
                       n_bootstrap: int = 1000, seed: int = 0, n_jobs: int | None = None,
                       source: str = "mask_folder", confidence: float = 0.95,
                       min_issue_pixels: int = 1) -> SegmentationAudit:
    """Audit (N, H, W) label masks against (N, K, H, W) probabilities.

    Parameters
    ----------
    labels : numpy.ndarray of shape (N, H, W)
        Given class index per pixel.
    pred_probs : numpy.ndarray of shape (N, K, H, W)
        Probabilities (a read-only memory map is streamed).
    class_names : sequence of str
        K names, in the probabilities' class order.
    ids : sequence of str, optional
        Image ids (default ``"0" .. "N-1"``).
    images : Mapping of str to bytes, or callable, optional
        Encoded pictures by id, kept for the shown images; or a function
        ``images(ids) -> Mapping`` called with the shown images' ids only (so
        only those pictures are read).
    n_bootstrap, seed : int
        Image-bootstrap replicates and their seed.
    n_jobs : int, optional
        Threads; results do not depend on it.
    source : str
        How DATA was read, recorded.
    confidence : float, default 0.95
    min_issue_pixels : int, default 1
        Flagged pixels an image needs to be an issue (1: any flagged pixel).

    Returns
    -------
    SegmentationAudit

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.tasks.segmentation import audit_segmentation
    >>> labels = np.zeros((4, 2, 2), dtype=np.uint8)
    >>> labels[0, 0, 0] = 1                              # one pixel says "b"
    >>> p = np.zeros((4, 2, 2, 2))
    >>> p[:, 0], p[:, 1] = 0.9, 0.1                      # the model says "a" everywhere
    >>> p[1:, :, 1, 1] = [0.3, 0.7]                      # ... except one pixel per image
    >>> labels[1:, 1, 1] = 1
    >>> audit = audit_segmentation(labels, p, ["a", "b"], n_bootstrap=50)
    >>> audit.images.select("id", "n_issue_pixels", "is_issue").row(0)
    ('0', 1, True)
    >>> audit.image_rate
    0.25
    """
    n, k, h, w = pred_probs.shape
    class_names = tuple(str(c) for c in class_names)
    ids = [str(i) for i in range(n)] if ids is None else [str(i) for i in ids]
    flagged = find_label_issues(labels, pred_probs, n_jobs=n_jobs, verbose=False)
    scores = _image_scores(labels, pred_probs, n_jobs)
    n_flagged = flagged.sum(axis=(1, 2)).astype(np.int64)
    pixels_ck = np.zeros((n, k), dtype=np.int64)
    flagged_ck = np.zeros((n, k), dtype=np.int64)
    for i in range(n):
        lab = np.asarray(labels[i]).ravel()
        pixels_ck[i] = np.bincount(lab, minlength=k)
        flagged_ck[i] = np.bincount(lab[flagged[i].ravel()], minlength=k)
    is_issue = n_flagged >= min_issue_pixels
    order = np.lexsort((np.arange(n), scores))              # by score, ties by image order
    issue_order = order[is_issue[order]]
    rank = np.zeros(n, dtype=np.int64)
    rank[issue_order] = np.arange(1, issue_order.size + 1)
    rest = order[~is_issue[order]]
    rows = np.concatenate([issue_order, rest])
    table = pl.DataFrame({
        "id": [ids[i] for i in rows],
        "label_quality": scores[rows],
        "n_pixels": np.full(n, h * w, dtype=np.int64),
        "n_issue_pixels": n_flagged[rows],
        "issue_share": n_flagged[rows] / float(h * w),
        "is_issue": is_issue[rows],
        "issue_rank": pl.Series(rank[rows]).replace(0, None),
    })
    # Intervals: columns 0..K-1 per class, K the pixel share, K+1 the image share.
    num = np.column_stack([flagged_ck, n_flagged, is_issue.astype(np.int64)])
    den = np.column_stack([pixels_ck, np.full(n, h * w), np.ones(n, dtype=np.int64)])
    low, high = _bootstrap(num, den, n_bootstrap, seed, confidence)
    count = pixels_ck.sum(axis=0)
    n_issues = flagged_ck.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(count > 0, n_issues / np.maximum(count, 1), np.nan)
    confusion = common_label_issues(flagged, labels, pred_probs, class_names=list(class_names),
                                    top=k * k, verbose=False)
    top_suggested: list[str | None] = [None] * k
    top_pixels = np.zeros(k, dtype=np.int64)
    index = {name: j for j, name in enumerate(class_names)}
    for given, predicted, num_px in confusion.itertuples(index=False):
        j = index[given]
        if top_suggested[j] is None:
            top_suggested[j], top_pixels[j] = predicted, int(num_px)
    per_class = pl.DataFrame({
        "class": list(class_names), "count": count.astype(np.int64),
        "n_issues": n_issues.astype(np.int64), "estimated_noise_rate": rate,
        "ci_low": low[:k], "ci_high": high[:k],
        "n_images": (pixels_ck > 0).sum(axis=0).astype(np.int64),
        "top_suggested": pl.Series(top_suggested, dtype=pl.String),
        "top_suggested_pixels": top_pixels,
    })
    shown = []
    kept = issue_order[:SEGMENTATION_IMAGES_KEPT]
    if callable(images):
        images = images([ids[i] for i in kept])
    images = images or {}
    for i in kept:
        probs = np.asarray(pred_probs[i])
        shown.append(ShownImage(
            id=ids[i], given=np.asarray(labels[i]).copy(),
            suggested=probs.argmax(axis=0).astype(np.int32), flagged=flagged[i].copy(),
            image=images.get(ids[i]), label_quality=float(scores[i]),
            n_issue_pixels=int(n_flagged[i]), issue_rank=int(rank[i])))
    total = n * h * w
    return SegmentationAudit(
        images=table, per_class=per_class, class_names=class_names,
        pixel_rate=float(n_flagged.sum() / total), pixel_ci_low=float(low[k]),
        pixel_ci_high=float(high[k]), image_rate=float(is_issue.mean()),
        image_ci_low=float(low[k + 1]), image_ci_high=float(high[k + 1]),
        shown=tuple(shown), height=h, width=w, confidence=confidence, source=source,
        min_issue_pixels=int(min_issue_pixels),
    )


def _read_masks(data: Path, classes):
    if data.is_dir():
        return read_mask_folder(data), "mask_folder"
    if data.suffix.lower() == ".npy":
        return read_mask_array(data), "mask_array"
    if data.suffix.lower() == ".json":
        return read_label_studio_brushes(data, classes=classes), "label_studio"
    raise InputError(f"DATA '{data}': --task segmentation reads a folder of label masks "
                     "(.png or .npy, one per image), an (N, H, W) .npy or a Label Studio "
                     "brush export (.json)")


def _check_classes(masks, k: int, classes, data: Path) -> tuple[str, ...]:
    if classes is None and masks.class_names is not None:
        classes = list(masks.class_names)
        if len(classes) != k:
            raise InputError(f"Label Studio export '{data}': its {len(classes)} classes "
                             f"(background and the brush labels) do not match the "
                             f"probabilities' K={k}; name all K with --classes")
    if classes is not None and len(classes) != k:
        raise InputError(f"--classes: {len(classes)} names given but the probabilities have "
                         f"K={k} classes")
    top = masks.masks.reshape(masks.masks.shape[0], -1).max(axis=1)
    bad = np.flatnonzero(top >= k)
    if bad.size:
        i = int(bad[0])
        where = (f"mask file '{masks.sources[i]}'" if len(masks.sources) > 1
                 else f"masks file '{data}' row {i}")
        raise InputError(f"{where}: class index {int(top[i])} is not below K={k} (the "
                         "probabilities' number of classes)")
    if classes is None:
        return tuple(str(c) for c in range(k))
    if len(set(classes)) != len(classes):
        raise InputError("--classes: class names must be unique")
    return tuple(str(c) for c in classes)


def _check_pixel_probabilities(probs: np.ndarray, probs_path: Path, ids, class_names) -> None:
    """Refuse a pixel whose probabilities are not finite, not in [0, 1] or do not sum to 1.

    The command line is strict where the drop-in functions follow cleanlab:
    the message names the file (the image's own file for a folder of
    per-image arrays), the image, the pixel, the class and the value. The
    probabilities are read in chunks of about 4 MiB, never copied.
    """
    def where(index: tuple[int, int, int]) -> str:
        image, row, column = index
        image_id = str(ids[image])
        if probs_path.is_dir():
            found = [p for p in probs_path.iterdir()
                     if p.stem == image_id and p.suffix.lower() == ".npy"]
            file = f"probabilities file '{found[0] if found else probs_path / image_id}'"
        else:
            file = f"probabilities file '{probs_path}'"
        named = "" if image_id == str(image) else f" (id {image_id!r})"
        return f"{file}: image {image}{named}, pixel (row {row}, column {column})"

    check_probability_vectors(
        probs, where=where, class_names=class_names,
        sum_hint="every pixel's class probabilities must sum to 1 (a softmax over the "
                 "class axis)")


def run(request: TaskRequest) -> tuple[AuditResult, list[dict[str, Any]]]:
    """Read DATA and ``--pred-probs``, audit the pixels and attach the ``segmentation`` section."""
    if len(request.pred_probs) != 1:
        raise InputError(
            f"--pred-probs: --task segmentation reads exactly one (N, K, H, W) .npy or one "
            f"folder of per-image (K, H, W) .npy files, got {len(request.pred_probs)}")
    if request.predictions is not None:
        raise InputError("--predictions does not apply to --task segmentation; pass --pred-probs")
    for name, flag in (("label_col", "--label-col"), ("id_col", "--id-col")):
        if getattr(request, name) is not None:
            raise InputError(f"{flag} does not apply to --task segmentation (DATA is masks, "
                             "not a table)")
    min_pixels = request.options.get("segmentation_min_pixels", 1)
    if isinstance(min_pixels, bool) or not isinstance(min_pixels, int) or min_pixels < 1:
        raise InputError(f"--segmentation-min-pixels must be a positive integer, got "
                         f"{min_pixels!r}")
    data = Path(request.data)
    masks, source = _read_masks(data, [str(c) for c in request.classes]
                                if request.classes else None)
    n, h, w = masks.masks.shape
    probs_path = Path(request.pred_probs[0])
    image_dir = request.options.get("segmentation_image_dir")
    scratch = None
    probs = None
    try:
        if probs_path.is_dir():
            scratch = Path(tempfile.mkdtemp(prefix="labelaudit-seg-"))
            probs = stack_segmentation_probs(probs_path, masks.ids, h, w, scratch / "probs.npy")
        else:
            probs = read_segmentation_probs(probs_path, n, h, w)
        class_names = _check_classes(masks, probs.shape[1], request.classes, data)
        _check_pixel_probabilities(probs, probs_path, masks.ids, class_names)
        pictures = None
        if image_dir is not None:
            read_image_folder(image_dir, [])         # a bad folder fails before the passes

            def pictures(shown_ids, folder=image_dir):
                return read_image_folder(folder, shown_ids)
        audit = audit_segmentation(masks.masks, probs, class_names, masks.ids, images=pictures,
                                   n_bootstrap=request.n_bootstrap, seed=request.seed,
                                   n_jobs=request.n_jobs, source=source,
                                   min_issue_pixels=min_pixels)
    finally:
        if scratch is not None:
            probs = None
            shutil.rmtree(scratch, ignore_errors=True)
    result = task_result(
        "segmentation", issues=audit.images, class_names=audit.class_names,
        per_class=audit.per_class, estimated_noise_rate=audit.pixel_rate,
        ci_low=audit.pixel_ci_low, ci_high=audit.pixel_ci_high, confidence=audit.confidence,
        parameters={"unit": "pixel", "source": source, "image_score": "softmin",
                    "image_issue": f"at least {min_pixels} flagged pixel(s)",
                    "interval": "image bootstrap"},
        section=audit, figures=audit.figures(),
    )
    if data.is_dir():
        mask_files = [p for p in data.iterdir() if p.suffix.lower() in MASK_SUFFIXES]
        inputs = [{"role": "masks", **folder_fingerprint(data, mask_files, n_rows=n)}]
    else:
        inputs = [{"role": "masks", **file_fingerprint(data, n_rows=n)}]
    if probs_path.is_dir():
        prob_files = [p for p in probs_path.iterdir() if p.suffix.lower() == ".npy"]
        inputs.append({"role": "pred_probs", **folder_fingerprint(probs_path, prob_files,
                                                                  n_rows=n)})
    else:
        inputs.append({"role": "pred_probs", **file_fingerprint(probs_path, n_rows=n)})
    return result, inputs


register_task(Task("segmentation", "mislabelled pixels in semantic segmentation masks: a mask "
                   "folder or (N, H, W) .npy, with (N, K, H, W) probabilities", run))
