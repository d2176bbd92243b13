"""Streaming passes over a detection dataset (shared by the public modules and the audit).

The dataset is read in chunks of images: each chunk is packed by
:func:`labelaudit._validation.pack_detection_chunk`, handed to the kernels in
``labelaudit._core`` and dropped, so the extra memory is one chunk plus a few
numbers per image and two per predicted box (its score and 16 bits of matches).

Two passes are needed because two quantities are global: the smallest non-zero
box similarity over the whole dataset (it sets the score of a prediction no
annotation explains), and the per-class average precision (it sets the score
under which a box is an issue). The first pass finds both, the second scores.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._core import OD_BADLOC, OD_OVERLOOKED, OD_SWAP, od_box_scores, od_match
from .._threads import effective_n_threads
from .._validation import DetectionInputs, pack_detection_chunk
from ..exceptions import LabelAuditWarning

#: IoU thresholds at which the average precision is averaged (0.5, 0.55, ..., 0.95).
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
#: Scale from a class's mean average precision to its box threshold.
AP_SCALE_FACTOR = 0.25
#: Factor applied to the class threshold for each of the three issue kinds.
BOX_THRESHOLD_FACTOR = 0.8
#: Images packed and scored at a time.
DEFAULT_CHUNK_IMAGES = 1024
#: Images handed to one thread at a time inside a chunk.
KERNEL_CHUNK_IMAGES = 64
#: Share of emptied per-class prediction arrays above which pruning warns.
MAX_ALLOWED_PRUNE = 0.97
#: Floor added before taking logarithms of the subtype scores.
TINY_VALUE = 1e-100

OVERLOOKED, BADLOC, SWAP = OD_OVERLOOKED, OD_BADLOC, OD_SWAP


@dataclass
class Engine:
    """How to run the passes: threads and chunk sizes (results never depend on them)."""

    n_threads: int = 1
    chunk_images: int = DEFAULT_CHUNK_IMAGES
    kernel_chunk: int = KERNEL_CHUNK_IMAGES

    @classmethod
    def for_jobs(cls, n_jobs=None, *, chunk_images: int = DEFAULT_CHUNK_IMAGES,
                 kernel_chunk: int = KERNEL_CHUNK_IMAGES) -> Engine:
        """An engine with ``n_jobs`` threads (see :func:`labelaudit._threads.resolve_n_jobs`)."""
        return cls(effective_n_threads(n_jobs), max(1, int(chunk_images)), max(1, int(kernel_chunk)))

    def chunks(self, n: int):
        """Yield ``(start, stop)`` image ranges."""
        for start in range(0, n, self.chunk_images):
            yield start, min(n, start + self.chunk_images)


@dataclass
class MatchPass:
    """What the first pass learns about the whole dataset."""

    min_similarity: float
    #: Per class: scores of its predicted boxes (dataset order) and their match bits.
    scores: list
    matches: list
    #: Annotated boxes per class.
    n_labels: np.ndarray
    n_segments: int = 0
    n_pruned_segments: int = 0


def match_pass(inputs: DetectionInputs, engine: Engine, *, match: bool = True,
               min_score: float | None = None) -> MatchPass:
    """Smallest non-zero similarity, and (with ``match``) the greedy matches per IoU threshold."""
    K = inputs.n_classes
    thresholds = IOU_THRESHOLDS if match else np.empty(0, dtype=np.float64)
    lowest = 1.0
    # Filled in place, chunk by chunk (no per-chunk pieces to concatenate): sized for every
    # predicted box of the class, cut to the boxes ``min_score`` keeps at the end.
    size = inputs.n_pred_boxes.sum(axis=0) if match else np.zeros(K, dtype=np.intp)
    scores = [np.empty(int(size[k]), dtype=np.float64) for k in range(K)]
    matches = [np.empty(int(size[k]), dtype=np.uint16) for k in range(K)]
    filled = np.zeros(K, dtype=np.intp)
    n_labels = np.zeros(K, dtype=np.int64)
    n_seg = n_pruned = 0
    for start, stop in engine.chunks(len(inputs)):
        chunk = pack_detection_chunk(inputs, start, stop, min_score=min_score)
        n_seg += chunk.n_segments
        n_pruned += chunk.n_pruned_segments
        per_image = np.empty(stop - start, dtype=np.float64)
        tp = np.zeros(chunk.pred_boxes.shape[0] if match else 0, dtype=np.uint16)
        od_match(chunk.lab_ptr, chunk.lab_boxes, chunk.lab_cls, chunk.pred_ptr,
                       chunk.pred_boxes, chunk.pred_cls, chunk.order, thresholds, per_image, tp,
                       chunk.max_labels, engine.kernel_chunk, engine.n_threads)
        lowest = min(lowest, float(per_image.min()))
        if match:
            known = chunk.lab_cls[(chunk.lab_cls >= 0) & (chunk.lab_cls < K)]
            n_labels += np.bincount(known, minlength=K)[:K]
            for k in range(K):
                sel = np.flatnonzero(chunk.pred_cls == k)
                at = filled[k]
                scores[k][at:at + sel.shape[0]] = chunk.pred_boxes[sel, 4]
                matches[k][at:at + sel.shape[0]] = tp[sel]
                filled[k] += sel.shape[0]
        del chunk, tp
    scores = [s[:f] for s, f in zip(scores, filled, strict=True)]
    matches = [m[:f] for m, f in zip(matches, filled, strict=True)]
    return MatchPass(lowest, scores, matches, n_labels, n_seg, n_pruned)


def _average_precision_dense(hits: np.ndarray, n_gt: int) -> np.float32:
    # Area under the interpolated precision/recall curve of one class at one
    # IoU threshold, with the reference's dtypes: running counts in float32,
    # recall in float64, precision in float32, the area rounded to float32.
    # Kept as the definition :func:`_average_precision` is tested against.
    hits32 = hits.astype(np.float32)
    tp = np.cumsum(hits32)
    fp = np.cumsum(np.float32(1) - hits32)
    eps = np.finfo(np.float32).eps
    recall = tp.astype(np.float64) / max(float(n_gt), float(eps))
    precision = tp / np.maximum(tp + fp, eps)
    rec = np.concatenate(([0.0], recall, [1.0]))
    prec = np.concatenate(([0.0], precision.astype(np.float64), [0.0]))
    # Precision envelope: the best precision at any recall at least this one.
    prec = np.maximum.accumulate(prec[::-1])[::-1]
    steps = np.flatnonzero(rec[1:] != rec[:-1])
    area = np.zeros(1, dtype=np.float32)
    area[0] = np.sum((rec[steps + 1] - rec[steps]) * prec[steps + 1])
    return area


def _average_precision(hit_at: np.ndarray, n: int, n_gt: int) -> np.float32:
    # The same area from the positions of the hits only (memory per hit, not per box).
    # Recall changes exactly at a hit, so the curve's steps are the hits (plus the
    # final step to recall 1 when it is not reached, whose precision is 0); between
    # hits precision only falls, so its envelope at a hit is the running maximum
    # over the later hits. Every term is computed with the dense form's operations
    # and dtypes and summed in the same order, so the result is the same to the bit.
    # Exact while n < 2**24 (float32 counts); larger classes use the dense form.
    if n == 0 or n >= 2**24:
        hits = np.zeros(n, dtype=np.uint8)
        hits[hit_at] = 1
        return _average_precision_dense(hits, n_gt)
    eps = np.finfo(np.float32).eps
    count = np.arange(1, hit_at.shape[0] + 1, dtype=np.float32)           # tp at each hit
    precision = count / (hit_at + 1).astype(np.float32)                    # tp / (tp + fp)
    envelope = np.maximum.accumulate(precision[::-1].astype(np.float64))[::-1]
    recall = count.astype(np.float64) / max(float(n_gt), float(eps))
    last = recall[-1] if recall.shape[0] else 0.0
    final = last != 1.0
    terms = np.empty(recall.shape[0] + final, dtype=np.float64)
    np.multiply(np.diff(recall, prepend=0.0), envelope, out=terms[:recall.shape[0]])
    if final:
        terms[-1] = (1.0 - last) * 0.0
    area = np.zeros(1, dtype=np.float32)
    area[0] = np.sum(terms)
    return area


def class_average_precision(found: MatchPass, *, consume: bool = False) -> np.ndarray:
    """Mean average precision over :data:`IOU_THRESHOLDS` per class, scaled by 0.25 (float32).

    With ``consume`` each class's scores and matches are dropped from ``found`` once used
    (for callers that need nothing else from it), so they are freed as the loop goes.
    """
    K = len(found.scores)
    out = np.empty(K, dtype=np.float32)
    for k in range(K):
        # Decreasing score, ties by position in the dataset.
        order = np.argsort(-found.scores[k], kind="stable")
        bits = found.matches[k][order]
        del order
        if consume:
            found.scores[k] = found.matches[k] = None
        n = bits.shape[0]
        per_threshold = np.array([
            _average_precision(np.flatnonzero((bits >> t) & 1), n, int(found.n_labels[k]))
            for t in range(len(IOU_THRESHOLDS))
        ])
        del bits
        out[k] = np.mean(per_threshold) * AP_SCALE_FACTOR
    return out


def box_thresholds(class_ap: np.ndarray) -> np.ndarray:
    """Per-class box threshold (float32 product, as float64 for the kernel)."""
    return np.array([np.float32(v) * BOX_THRESHOLD_FACTOR for v in class_ap], dtype=np.float64)


@dataclass
class ScorePass:
    """Per-image subtype scores and issue flags, and (on request) the per-box scores."""

    #: (N, 3): softmin-pooled overlooked, badly located and swapped scores.
    pooled: np.ndarray
    #: (N,) OD_* bits, zeros when no thresholds were given.
    flags: np.ndarray
    #: Per-box scores and their image pointers, when ``keep_boxes``.
    boxes: dict | None = None


def score_pass(inputs: DetectionInputs, engine: Engine, *, min_similarity: float,
               overlapping_label_check: bool, thresholds: np.ndarray | None = None,
               min_score: float | None = None, keep_boxes: bool = False) -> ScorePass:
    """Score every box and pool per image (second pass)."""
    n = len(inputs)
    pooled = np.empty((n, 3), dtype=np.float64)
    flags = np.zeros(n, dtype=np.uint8)
    thr = (np.ascontiguousarray(thresholds, dtype=np.float64) if thresholds is not None
           else np.empty(0, dtype=np.float64))
    kept: dict | None = {"overlooked": [], "badloc": [], "swap": [], "pred_cls": [],
                         "pred_boxes": [], "lab_cls": [], "lab_boxes": [], "lab_ptr": [],
                         "pred_ptr": []} if keep_boxes else None
    lab_base = pred_base = 0
    for start, stop in engine.chunks(n):
        chunk = pack_detection_chunk(inputs, start, stop, min_score=min_score)
        n_pred, n_lab = chunk.pred_boxes.shape[0], chunk.lab_boxes.shape[0]
        overlooked = np.empty(n_pred, dtype=np.float64)
        badloc = np.empty(n_lab, dtype=np.float64)
        swap = np.empty(n_lab, dtype=np.float64)
        od_box_scores(chunk.lab_ptr, chunk.lab_boxes, chunk.lab_cls, chunk.pred_ptr,
                            chunk.pred_boxes, chunk.pred_cls, float(min_similarity),
                            bool(overlapping_label_check), thr, overlooked, badloc, swap,
                            pooled[start:stop], flags[start:stop] if thr.size else flags[:0],
                            engine.kernel_chunk, engine.n_threads)
        if kept is not None:
            kept["overlooked"].append(overlooked)
            kept["badloc"].append(badloc)
            kept["swap"].append(swap)
            kept["pred_cls"].append(chunk.pred_cls)
            kept["pred_boxes"].append(chunk.pred_boxes.astype(np.float64))
            kept["lab_cls"].append(chunk.lab_cls)
            kept["lab_boxes"].append(chunk.lab_boxes.astype(np.float64))
            kept["lab_ptr"].append(chunk.lab_ptr[:-1] + lab_base)
            kept["pred_ptr"].append(chunk.pred_ptr[:-1] + pred_base)
            lab_base += n_lab
            pred_base += n_pred
    boxes = None
    if kept is not None:
        boxes = {key: np.concatenate(parts) if parts else np.empty(0) for key, parts in kept.items()}
        boxes["lab_ptr"] = np.append(boxes["lab_ptr"], lab_base).astype(np.intp)
        boxes["pred_ptr"] = np.append(boxes["pred_ptr"], pred_base).astype(np.intp)
    return ScorePass(pooled, flags, boxes)


def combine_subtypes(pooled: np.ndarray, weights: dict) -> np.ndarray:
    """Weighted geometric mean of the three pooled subtype scores per image."""
    with np.errstate(divide="ignore"):
        logs = (weights["overlooked"] * np.log(TINY_VALUE + pooled[:, 0])
                + weights["badloc"] * np.log(TINY_VALUE + pooled[:, 1])
                + weights["swap"] * np.log(TINY_VALUE + pooled[:, 2]))
    return np.exp(logs)


def warn_if_pruned_most(found: MatchPass, threshold: float) -> None:
    """Warn when the score cut emptied almost every per-class prediction array."""
    share = found.n_pruned_segments / found.n_segments if found.n_segments else 0.0
    if share > MAX_ALLOWED_PRUNE:
        warnings.warn(
            f"scores below {threshold} emptied {share:.1%} of the per-class prediction arrays; "
            "few predicted boxes are left to compare with the annotations",
            LabelAuditWarning, stacklevel=3,
        )
