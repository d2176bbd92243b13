"""Streaming passes over (N, K, H, W) probabilities, one block of whole images at a time.

cleanlab turns a segmentation dataset into a classification problem with one
row per pixel: it stores a Python float per pixel, sorts all of them and then
indexes the probabilities back pixel by pixel. The same answer is computed
here in a few sequential passes over the images, each of which reads a block
of images in place (a read-only memory map stays on disk) and keeps only
per-image or per-thread partial results:

1. per image and class: pixel counts and sums of the self-confidence
   ``p[label]`` (for the confident thresholds);
2. per pixel: argmax, the confident off-label count (the number of issues) and
   the top 16 bits of the self-confidence key; the ``argmax != label`` bit is
   written straight into the output mask;
3. one more histogram pass per remaining 16-bit digit (1 for float32, 3 for
   float64) until the cut score is known exactly;
4. the mask pass, with ties at the cut taken in pixel-index order (an extra
   counting pass runs only when the cut falls inside a run of ties).

Anonymous memory is O(N K) for the per-image sums plus O(threads x 65536) for
the histograms plus one block of labels, besides the (N, H, W) output mask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .._core import (
    seg_count_pass,
    seg_radix_pass,
    seg_select_pass,
    seg_threshold_pass,
    seg_upsample_pass,
)
from .._threads import effective_n_threads
from .._validation import segmentation_label_block, segmentation_prob_block
from ..confident._batched import SLACK, THRESHOLD_FLOOR, fold_thresholds
from ..exceptions import InputError, LabelAuditError

#: Upper bound of probability bytes handed to the kernels at once. A block is
#: a view of the input, so this bounds the label block and the page-cache
#: working set, not a copy.
BLOCK_BYTES = 32 << 20

_ALL = np.iinfo(np.int64).max


@dataclass
class Source:
    """Blocks of (probabilities, labels) at the resolution the issues are found at.

    ``factor`` 1 yields views of the input; a larger factor yields each block
    averaged over ``factor x factor`` pixel squares exactly as cleanlab does
    (labels rounded half to even, probabilities renormalised per pixel).
    """

    labels: np.ndarray
    pred_probs: np.ndarray
    factor: int = 1
    block_images: int = 1

    @property
    def n_images(self) -> int:
        return self.pred_probs.shape[0]

    @property
    def n_classes(self) -> int:
        return self.pred_probs.shape[1]

    @property
    def small_shape(self) -> tuple[int, int]:
        _, _, h, w = self.pred_probs.shape
        return h // self.factor, w // self.factor

    def ranges(self) -> Iterator[tuple[int, int]]:
        n = self.n_images
        for start in range(0, n, self.block_images):
            yield start, min(start + self.block_images, n)

    def full(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Input-resolution block (probabilities view, intp labels)."""
        lab = segmentation_label_block(self.labels[start:stop], self.n_classes, start=start)
        return segmentation_prob_block(self.pred_probs[start:stop]), lab

    def block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Block at the working resolution."""
        if self.factor == 1:
            return self.full(start, stop)
        f = self.factor
        probs = np.asarray(self.pred_probs[start:stop])
        labels = np.asarray(self.labels[start:stop])
        # Validate the full-resolution labels first so messages name real pixels.
        segmentation_label_block(labels, self.n_classes, start=start)
        n, k, h, w = probs.shape
        small_labels = np.round(labels.reshape((n, h // f, f, w // f, f)).mean((4, 2)))
        small = probs.reshape((n, k, h // f, f, w // f, f)).mean((5, 3))
        small = small / np.expand_dims(small.sum(axis=1), 1)
        small_labels = np.ascontiguousarray(small_labels.astype(int), dtype=np.intp)
        return np.ascontiguousarray(small), small_labels


def make_source(labels, pred_probs, *, factor: int = 1) -> Source:
    """Wrap validated inputs; blocks hold whole images and at most :data:`BLOCK_BYTES` of probabilities."""
    n, k, h, w = pred_probs.shape
    if factor != 1 and (h % factor or w % factor):
        raise LabelAuditError(
            f"`downsample`={factor} must divide the image height {h} and width {w}; "
            "use downsample=1 to keep full resolution.")
    per_image = k * h * w * pred_probs.itemsize
    return Source(labels, pred_probs, factor, max(1, BLOCK_BYTES // max(per_image, 1)))


def _raise_nonfinite(n_bad: int) -> None:
    if n_bad:
        raise InputError(
            f"pred_probs holds {n_bad} non-finite value(s) (NaN or inf); every probability "
            "must be a finite number.")


def confident_thresholds(source: Source, batch_size: int, n_threads: int) -> np.ndarray:
    """cleanlab's streamed confident thresholds (float64, one per class).

    cleanlab averages per-batch class means into a running mean, batch by
    batch, with ``max(batch_size // (K * h * w), 1)`` images per batch, and
    clips at 2e-6 after every batch. The per-image sums computed here are
    regrouped into the same batches and combined by the same formula, so only
    the summation order inside a batch differs (float tolerance).
    """
    n, k = source.n_images, source.n_classes
    h, w = source.small_shape
    sums = np.zeros((n, k), dtype=np.float64)
    counts = np.zeros((n, k), dtype=np.int64)
    for start, stop in source.ranges():
        probs, labels = source.block(start, stop)
        seg_threshold_pass(probs, labels, sums[start:stop], counts[start:stop], n_threads)
    dtype = source.pred_probs.dtype.type
    per_batch = max(batch_size // (k * h * w), 1)
    seen = np.zeros(k, dtype=np.float64)
    thresholds = np.zeros(k, dtype=np.float64)
    for start in range(0, n, per_batch):
        c = counts[start:start + per_batch].sum(axis=0)
        s = sums[start:start + per_batch].sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            batch_mean = np.where(c > 0, (s / np.maximum(c, 1)).astype(dtype), 2.0)
        batch_mean = np.clip(batch_mean.astype(np.float64), THRESHOLD_FLOOR, None)
        thresholds = fold_thresholds(thresholds, seen, c, batch_mean)
    return thresholds


@dataclass
class Selection:
    """Outcome of the counting and radix passes."""

    n_issues: int       # pixels cleanlab ranks as issues (before the argmax check)
    cut: int            # key of the largest selected score
    quota: np.ndarray   # (N,) ties at the cut each image takes, in pixel order
    thresholds: np.ndarray


def _bits(dtype) -> int:
    return 32 if np.dtype(dtype) == np.float32 else 64


def _crossing(hist: np.ndarray, need: int) -> tuple[int, int]:
    """Digit whose bin holds the ``need``-th smallest key, and the count below it."""
    cum = np.cumsum(hist)
    digit = int(np.searchsorted(cum, need, side="left"))
    below = int(cum[digit - 1]) if digit else 0
    return digit, below


def select(source: Source, thresholds: np.ndarray, n_threads: int,
           mismatch_out: np.ndarray | None) -> Selection:
    """Passes 2 and 3: number of issues and the exact cut among the pixel scores.

    ``mismatch_out`` (an (N, H, W) uint8 view, full resolution only) receives
    ``argmax != label`` for every pixel.
    """
    n = source.n_images
    h, w = source.small_shape
    dtype = source.pred_probs.dtype
    adj = np.ascontiguousarray(thresholds - SLACK, dtype=np.float64)
    bits = _bits(dtype)
    shift = bits - 16
    hist = np.zeros((n_threads, 1 << 16), dtype=np.int64)
    tally = np.zeros((n_threads, 2), dtype=np.int64)
    vbuf = np.empty((n_threads, w), dtype=dtype)
    abuf = np.empty((n_threads, w), dtype=np.int32)
    none = np.zeros((0, 0, 0), dtype=np.uint8)
    for start, stop in source.ranges():
        probs, labels = source.block(start, stop)
        out = none if mismatch_out is None else mismatch_out[start:stop]
        seg_count_pass(probs, labels, adj, out, hist, shift, tally, vbuf, abuf, n_threads)
    _raise_nonfinite(int(tally[:, 1].sum()))
    n_issues = int(tally[:, 0].sum())
    total = n * h * w
    if n_issues == 0:
        return Selection(0, 0, np.zeros(n, dtype=np.int64), thresholds)
    if n_issues >= total:
        return Selection(n_issues, np.iinfo(np.uint64).max, np.zeros(n, dtype=np.int64),
                         thresholds)
    need = n_issues
    digit, below = _crossing(hist.sum(axis=0), need)
    prefix, n_below = digit, below
    bin_count = int(hist[:, digit].sum())
    while shift > 0:
        need -= below
        shift -= 16
        hist[:] = 0
        for start, stop in source.ranges():
            probs, labels = source.block(start, stop)
            seg_radix_pass(probs, labels, np.uint64(prefix), shift, hist, n_threads)
        merged = hist.sum(axis=0)
        digit, below = _crossing(merged, need)
        prefix = (prefix << 16) | digit
        n_below += below
        bin_count = int(merged[digit])
    take = n_issues - n_below          # ties at the cut that are selected
    if take >= bin_count:
        quota = np.full(n, _ALL, dtype=np.int64)
    else:
        ties = np.zeros(n, dtype=np.int64)
        unused = np.zeros(source.block_images, dtype=np.int64)
        for start, stop in source.ranges():
            probs, labels = source.block(start, stop)
            seg_select_pass(probs, labels, np.uint64(prefix), unused[:stop - start], none,
                            False, ties[start:stop], n_threads)
        before = np.concatenate(([0], np.cumsum(ties)[:-1]))
        quota = np.clip(take - before, 0, ties).astype(np.int64)
    return Selection(n_issues, prefix, quota, thresholds)


def write_mask(source: Source, sel: Selection, out: np.ndarray, n_threads: int) -> None:
    """Pass 4: the final (N, H, W) mask into ``out`` (uint8 view, holds argmax != label at factor 1)."""
    none_ties = np.zeros(source.block_images, dtype=np.int64)
    if sel.n_issues == 0:
        out[:] = 0
        return
    if source.factor == 1:
        for start, stop in source.ranges():
            probs, labels = source.block(start, stop)
            seg_select_pass(probs, labels, np.uint64(sel.cut), sel.quota[start:stop],
                            out[start:stop], True, none_ties[:stop - start], n_threads)
        return
    h, w = source.small_shape
    vbuf = np.empty((n_threads, source.pred_probs.shape[3]), dtype=source.pred_probs.dtype)
    abuf = np.empty((n_threads, source.pred_probs.shape[3]), dtype=np.int32)
    bad = np.zeros(n_threads, dtype=np.int64)
    for start, stop in source.ranges():
        probs, labels = source.block(start, stop)
        small = np.empty((stop - start, h, w), dtype=np.uint8)
        seg_select_pass(probs, labels, np.uint64(sel.cut), sel.quota[start:stop], small, False,
                        none_ties[:stop - start], n_threads)
        full_probs, full_labels = source.full(start, stop)
        seg_upsample_pass(full_probs, full_labels, small, source.factor, out[start:stop],
                          vbuf, abuf, bad, n_threads)
    _raise_nonfinite(int(bad.sum()))


def label_issue_mask(labels, pred_probs, *, batch_size: int, n_jobs, factor: int = 1,
                     out: np.ndarray | None = None,
                     say: Callable[[str], None] | None = None) -> np.ndarray:
    """The whole streamed computation behind ``segmentation.filter.find_label_issues``."""
    n, _, h, w = pred_probs.shape
    n_threads = effective_n_threads(n_jobs)
    source = make_source(labels, pred_probs, factor=factor)
    if out is None:
        out = np.zeros((n, h, w), dtype=bool)
    flags = out.view(np.uint8)
    thresholds = confident_thresholds(source, batch_size, n_threads)
    sel = select(source, thresholds, n_threads, flags if factor == 1 else None)
    if say is not None:
        sh, sw = source.small_shape
        say(f"Checked {n * sh * sw} pixels of {n} images in blocks of {source.block_images} "
            f"image(s) (thresholds averaged over batches of "
            f"{max(batch_size // (pred_probs.shape[1] * sh * sw), 1)} image(s)); "
            f"{sel.n_issues} pixels ranked as likely label issues.")
    write_mask(source, sel, flags, n_threads)
    return out
