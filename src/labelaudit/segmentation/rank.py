"""Label quality scores for segmentation masks (cleanlab's ``segmentation.rank``).

Per pixel the score is the self-confidence ``p[label]``; per image it is
either the softmin of the pixel scores (``method="softmin"``) or one minus the
share of pixels :func:`labelaudit.segmentation.filter.find_label_issues` flags
(``method="num_pixel_issues"``). Images are scored one at a time in the Cython
core, so a memory map of probabilities is streamed, never copied.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from .._core import seg_gather_pass, seg_softmin_pass
from .._threads import effective_n_threads
from .._validation import check_segmentation_masks, check_segmentation_probs
from ..exceptions import InputError, LabelAuditError
from ._stream import make_source
from .filter import _batch_size, _extra_kwargs, find_label_issues

__all__ = ["get_label_quality_scores", "issues_from_scores"]

#: Smallest temperature cleanlab divides by.
_MIN_TEMPERATURE = 1e-6

METHODS = ("softmin", "num_pixel_issues")


def get_label_quality_scores(labels, pred_probs, *, method="softmin", batch_size=None,
                             n_jobs=None, verbose=True, **kwargs):
    """Score every image and every pixel by how likely its given label is correct.

    Parameters
    ----------
    labels : array-like or dask array of shape (N, H, W)
        Given class index per pixel, integers in ``0 .. K-1``.
    pred_probs : numpy.ndarray or dask array of shape (N, K, H, W)
        Predicted probabilities, float32 or float64 (a memory map is streamed).
    method : {"softmin", "num_pixel_issues"}, default "softmin"
        ``"softmin"``: image score ``sum(s * w) / sum(w)`` over its pixel
        scores ``s`` with ``w = exp((1 - s) / temperature)``, which leans towards
        the worst pixels. ``"num_pixel_issues"``: one minus the fraction of the
        image's pixels that ``find_label_issues`` flags.
    batch_size : int, optional
        Passed to ``find_label_issues`` for ``"num_pixel_issues"`` (must be positive).
    n_jobs : int, optional
        Threads of the kernels; results do not depend on it.
    verbose : bool, default True
        Print one line per call (and ``find_label_issues``' line).
    **kwargs
        ``temperature`` (float, default 0.1) for softmin; it may not be 0, and
        values below 1e-6 are raised to 1e-6 as in cleanlab. ``downsample``
        (int, default 1) for ``"num_pixel_issues"`` (other methods warn and
        ignore it).

    Returns
    -------
    image_scores : numpy.ndarray of float64, shape (N,)
        Between 0 and 1, lower means more likely mislabelled.
    pixel_scores : numpy.ndarray of shape (N, H, W)
        ``p[label]`` per pixel: float64 for ``"softmin"``, the probabilities'
        dtype for ``"num_pixel_issues"`` (as cleanlab returns them).

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.segmentation.rank import get_label_quality_scores
    >>> p = np.array([[[[0.9, 0.8]], [[0.1, 0.2]]]])        # 1 image, 2 classes, 1 x 2
    >>> image, pixel = get_label_quality_scores(np.array([[[0, 1]]]), p, verbose=False)
    >>> pixel.round(2).tolist()
    [[[0.9, 0.2]]]
    >>> round(float(image[0]), 4)
    0.2006
    """
    _extra_kwargs(kwargs, ("temperature", "downsample"), "get_label_quality_scores")
    size = _batch_size(batch_size)
    pred_probs = check_segmentation_probs(pred_probs)
    labels = check_segmentation_masks(labels, pred_probs)
    temperature = kwargs.get("temperature", 0.1)
    downsample = kwargs.get("downsample", 1)
    if method not in METHODS:
        raise LabelAuditError(
            f"`method` must be one of {', '.join(METHODS)}, got {method!r}.")
    n_threads = effective_n_threads(n_jobs)
    source = make_source(labels, pred_probs)
    n, _, h, w = pred_probs.shape
    if method == "num_pixel_issues":
        pixel_scores = np.empty((n, h, w), dtype=pred_probs.dtype)
        for start, stop in source.ranges():
            probs, lab = source.full(start, stop)
            seg_gather_pass(probs, lab, pixel_scores[start:stop], n_threads)
        issues = find_label_issues(labels, pred_probs, downsample=downsample, n_jobs=n_jobs,
                                   verbose=verbose, batch_size=size)
        image_scores = 1 - np.mean(issues, axis=(1, 2))
        return image_scores, pixel_scores
    if downsample != 1:
        warnings.warn(f"downsample={downsample} is ignored: only method='num_pixel_issues' "
                      "downsamples.", UserWarning, stacklevel=2)
    if temperature is None or isinstance(temperature, bool) or not isinstance(
            temperature, (int, float, np.integer, np.floating)) or temperature == 0:
        raise LabelAuditError(
            f"`temperature` must be a non-zero number, got {temperature!r}.")
    temp = max(float(temperature), _MIN_TEMPERATURE)
    pixel_scores = np.empty((n, h, w), dtype=np.float64)
    image_scores = np.empty(n, dtype=np.float64)
    bad = np.zeros(n, dtype=np.int64)
    for start, stop in source.ranges():
        probs, lab = source.full(start, stop)
        seg_softmin_pass(probs, lab, temp, pixel_scores[start:stop], image_scores[start:stop],
                         bad[start:stop], n_threads)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"pred_probs of image {first} hold non-finite self-confidences "
                         "(NaN or inf); every probability must be finite.")
    if verbose:
        print(f"Scored {n} images with {method} (temperature {temp:g}).", file=sys.stdout)
    return image_scores, pixel_scores


def issues_from_scores(image_scores, pixel_scores=None, threshold=0.1):
    """Turn scores into issues: a pixel mask, or the images ranked worst first.

    Parameters
    ----------
    image_scores : array-like of shape (N,)
        Image scores from :func:`get_label_quality_scores`.
    pixel_scores : array-like of shape (N, H, W), optional
        Pixel scores; when given the result is the mask ``pixel_scores < threshold``.
    threshold : float, default 0.1
        Between 0 and 1.

    Returns
    -------
    numpy.ndarray
        With ``pixel_scores``: the boolean mask. Without: indices of the images
        sorted by score (ties by index), up to and including the first image
        whose score is not below ``threshold`` (cleanlab keeps that one too).

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.segmentation.rank import issues_from_scores
    >>> issues_from_scores(np.array([0.5, 0.05, 0.01, 0.05]), threshold=0.1).tolist()
    [2, 1, 3, 0]
    >>> issues_from_scores(np.array([0.3]), np.array([[[0.05, 0.5]]])).tolist()
    [[[True, False]]]
    """
    if image_scores is None:
        raise LabelAuditError("`image_scores` must be provided.")
    if threshold is None or isinstance(threshold, bool) or not isinstance(
            threshold, (int, float, np.integer, np.floating)) or not 0 <= threshold <= 1:
        raise LabelAuditError(f"`threshold` must be between 0 and 1, got {threshold!r}.")
    if pixel_scores is not None:
        return np.asarray(pixel_scores) < threshold
    scores = np.asarray(image_scores)
    if scores.ndim != 1:
        raise LabelAuditError(f"`image_scores` must be 1-D, got shape {scores.shape}.")
    ranking = np.argsort(scores, kind="stable")
    cutoff = np.searchsorted(scores[ranking], threshold)
    return ranking[:cutoff + 1]
