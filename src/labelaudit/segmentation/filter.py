"""Find mislabelled pixels in semantic segmentation masks (cleanlab's ``segmentation.filter``).

The answer is cleanlab 2.9's: every pixel is treated as one classification
example, the number of issues is the number of pixels whose predicted class is
confidently (above its class threshold) not the given one, that many pixels
with the lowest self-confidence ``p[label]`` are selected, and of those the
pixels whose argmax already equals the label are dropped again.

It is computed without materialising the ``(N*H*W, K)`` pixel table: a few
sequential passes stream blocks of whole images through the Cython kernels,
so a read-only memory map of probabilities larger than RAM works with O(N)
extra memory plus the (N, H, W) boolean output (which can itself be a memory
map, see ``out``).

Ties. Where several pixels share the self-confidence at the cut, cleanlab's
unstable sort picks an arbitrary subset; labelaudit picks the pixels with the
smallest flat index ``(image * H + row) * W + column``.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from .._validation import (
    check_positive_int,
    check_segmentation_masks,
    check_segmentation_probs,
)
from ..exceptions import LabelAuditError, LabelAuditWarning
from ._stream import label_issue_mask

__all__ = ["find_label_issues"]

#: cleanlab's default ``batch_size`` (probability values per batch).
DEFAULT_BATCH_SIZE = 10000


def _batch_size(batch_size) -> int:
    if batch_size is None:
        return DEFAULT_BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise LabelAuditError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    if batch_size <= 0:
        raise LabelAuditError(f"`batch_size` must be greater than 0, got {batch_size}.")
    return int(batch_size)


def _say(verbose: bool):
    if not verbose:
        return None
    return lambda line: print(line, file=sys.stdout)


def _extra_kwargs(kwargs: dict, known: tuple[str, ...], func: str) -> None:
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        warnings.warn(f"{func} ignores the keyword argument(s) {', '.join(unknown)} "
                      "(cleanlab ignores them too).", LabelAuditWarning, stacklevel=3)


def find_label_issues(labels, pred_probs, *, batch_size=None, n_jobs=None, verbose=True,
                      **kwargs) -> np.ndarray:
    """Boolean mask of the pixels whose given label is likely wrong.

    Parameters
    ----------
    labels : array-like or dask array of shape (N, H, W)
        Given class index of every pixel, integers in ``0 .. K-1`` (integer,
        boolean or whole-valued float dtype; a memory map is read block by block).
    pred_probs : numpy.ndarray or dask array of shape (N, K, H, W)
        Predicted class probabilities per pixel, float32 or float64, C order.
        A read-only ``np.memmap`` is streamed from disk, never copied; a dask
        array is computed one block of images at a time, once per pass.
    batch_size : int, optional
        cleanlab's batch size in probability values (default 10000). It sets
        how many images each partial mean of the confident thresholds covers
        (``max(batch_size // (K*H*W), 1)``), exactly as cleanlab groups them;
        it changes the thresholds only by float rounding. Must be positive.
    n_jobs : int, optional
        Threads of the kernels (``None``: every available core). Results do not
        depend on it.
    verbose : bool, default True
        Print one line with the pixel count, block layout and number of issues.
    **kwargs
        ``downsample`` (int, default 1): find issues on images averaged over
        ``downsample x downsample`` squares (labels rounded, probabilities
        renormalised), then flag every pixel of a flagged square whose
        argmax is not its label; it must divide H and W.
        ``out`` (numpy.ndarray of bool, shape (N, H, W), optional; labelaudit
        only): write the mask there (for instance a writable ``np.memmap``)
        instead of allocating it. Other keywords are ignored with a warning.

    Returns
    -------
    numpy.ndarray of bool, shape (N, H, W)
        True where the pixel is flagged. This is the one allocation of size
        N*H*W (one byte per pixel) unless ``out`` is given.

    Raises
    ------
    LabelAuditError
        On shapes that do not match, labels outside ``0 .. K-1``, non-finite
        probabilities, a non-positive ``batch_size`` or a ``downsample`` that
        does not divide the image size.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.segmentation.filter import find_label_issues
    >>> pred_probs = np.array([[[[0.9, 0.8], [0.1, 0.2]],
    ...                         [[0.1, 0.2], [0.9, 0.8]]]])   # 1 image, 2 classes, 2 x 2
    >>> labels = np.array([[[0, 1], [0, 1]]])   # pixels (0, 1) and (1, 0) look swapped
    >>> find_label_issues(labels, pred_probs, verbose=False).astype(int).tolist()
    [[[0, 1], [1, 0]]]
    """
    _extra_kwargs(kwargs, ("downsample", "out"), "find_label_issues")
    size = _batch_size(batch_size)
    pred_probs = check_segmentation_probs(pred_probs)
    labels = check_segmentation_masks(labels, pred_probs)
    factor = check_positive_int(kwargs.get("downsample", 1), name="downsample")
    out = kwargs.get("out")
    if out is not None:
        n, _, h, w = pred_probs.shape
        if (not isinstance(out, np.ndarray) or out.dtype != np.bool_ or out.shape != (n, h, w)
                or not out.flags.c_contiguous or not out.flags.writeable):
            raise LabelAuditError(
                f"`out` must be a writable C-contiguous bool array of shape {(n, h, w)}, got "
                f"{type(out).__name__} {getattr(out, 'dtype', '')} {getattr(out, 'shape', '')}.")
    return label_issue_mask(labels, pred_probs, batch_size=size, n_jobs=n_jobs, factor=factor,
                            out=out, say=_say(verbose))
