"""Summaries of pixel label issues (cleanlab's ``segmentation.summary``)."""

from __future__ import annotations

import sys

import numpy as np

from .._core import seg_confusion_pass
from .._threads import effective_n_threads
from .._validation import (
    check_segmentation_issues,
    check_segmentation_masks,
    check_segmentation_probs,
    segmentation_flag_block,
)
from ..exceptions import InputError, LabelAuditError
from ._stream import make_source

__all__ = ["common_label_issues", "issue_confusion"]

#: cleanlab's default number of rows.
DEFAULT_TOP = 20


def issue_confusion(issues, labels, pred_probs, *, n_jobs=None) -> np.ndarray:
    """Count flagged pixels by (given label, predicted class).

    Parameters
    ----------
    issues : array-like of bool, shape (N, H, W)
        Pixel issue mask, e.g. from ``find_label_issues``.
    labels : array-like or dask array of shape (N, H, W)
        Given labels in ``0 .. K-1``.
    pred_probs : numpy.ndarray or dask array of shape (N, K, H, W)
        Predicted probabilities (streamed; the argmax is computed only on rows
        with a flagged pixel).
    n_jobs : int, optional
        Kernel threads.

    Returns
    -------
    numpy.ndarray of int64, shape (K, K)
        ``counts[given, predicted]``.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.segmentation.summary import issue_confusion
    >>> p = np.array([[[[0.9, 0.2]], [[0.1, 0.8]]]])
    >>> issue_confusion(np.array([[[True, True]]]), np.array([[[1, 1]]]), p).tolist()
    [[0, 0], [1, 1]]
    """
    pred_probs = check_segmentation_probs(pred_probs)
    labels = check_segmentation_masks(labels, pred_probs)
    n, k, h, w = pred_probs.shape
    issues = check_segmentation_issues(issues, (n, h, w))
    n_threads = effective_n_threads(n_jobs)
    source = make_source(labels, pred_probs)
    counts = np.zeros((n_threads, k, k), dtype=np.int64)
    vbuf = np.empty((n_threads, w), dtype=pred_probs.dtype)
    abuf = np.empty((n_threads, w), dtype=np.int32)
    bad = np.zeros(n_threads, dtype=np.int64)
    for start, stop in source.ranges():
        probs, lab = source.full(start, stop)
        seg_confusion_pass(probs, lab, segmentation_flag_block(issues[start:stop]), counts,
                           vbuf, abuf, bad, n_threads)
    if bad.any():
        raise InputError("pred_probs hold non-finite values (NaN or inf) on flagged pixels; "
                         "every probability must be finite.")
    return counts.sum(axis=0)


def _top(top) -> int:
    if top is None:
        return DEFAULT_TOP
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)):
        raise LabelAuditError(f"`top` must be an integer or None, got {top!r}.")
    return int(top)


def common_label_issues(issues, labels, pred_probs, *, class_names=None, exclude=None, top=None,
                        verbose=True):
    """The most common (given label, predicted class) pairs among flagged pixels.

    Parameters
    ----------
    issues : array-like of bool, shape (N, H, W)
        Pixel issue mask, e.g. from ``find_label_issues``.
    labels : array-like or dask array of shape (N, H, W)
        Given labels in ``0 .. K-1``.
    pred_probs : numpy.ndarray or dask array of shape (N, K, H, W)
        Predicted probabilities; the predicted class is the argmax.
    class_names : list of str, optional
        Names of classes ``0 .. len(class_names) - 1`` (default ``"0" .. "K-1"``).
        Pixels whose given label has no name are left out, as in cleanlab.
    exclude : list of int, optional
        Predicted classes whose pixels are not counted.
    top : int, optional
        Rows to keep (default 20); the list is cut with Python slicing, so a
        negative value drops rows from the end, as in cleanlab.
    verbose : bool, default True
        Print one sentence per row.

    Returns
    -------
    pandas.DataFrame
        Columns ``given_label``, ``predicted_label``, ``num_pixel_issues``, by
        decreasing count; equal counts keep (given, predicted) index order.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.segmentation.summary import common_label_issues
    >>> p = np.array([[[[0.9, 0.2, 0.3]], [[0.1, 0.8, 0.7]]]])   # 1 image, 2 classes, 1 x 3
    >>> df = common_label_issues(np.array([[[True, True, True]]]), np.array([[[1, 0, 0]]]), p,
    ...                          class_names=["sky", "road"], verbose=False)
    >>> df.values.tolist()
    [['sky', 'road', 2], ['road', 'sky', 1]]
    """
    import pandas as pd

    shape = getattr(pred_probs, "shape", None)
    if shape is None or len(shape) != 4:
        raise LabelAuditError(f"`pred_probs` must have shape (N, K, H, W), got {shape}.")
    exclude = [] if exclude is None else list(exclude)
    keep = _top(top)
    counts = issue_confusion(issues, labels, pred_probs)
    k = counts.shape[0]
    for c in range(k):
        if c in exclude:
            counts[:, c] = 0
    names = [str(i) for i in range(k)] if class_names is None else list(class_names)
    rows = []
    for given, name in enumerate(names[:k]):
        for pred in np.flatnonzero(counts[given]):
            if pred >= len(names):
                raise LabelAuditError(
                    f"`class_names` has {len(names)} names but flagged pixels are predicted as "
                    f"class {pred}; give a name to every class.")
            rows.append([name, names[pred], counts[given, pred]])
    rows = sorted(rows, key=lambda row: row[2], reverse=True)[:keep]
    frame = pd.DataFrame(rows, columns=["given_label", "predicted_label", "num_pixel_issues"])
    if verbose:
        for given, pred, num in rows:
            print(f"{num} pixels labelled '{given}' look like '{pred}'.", file=sys.stdout)
    return frame
