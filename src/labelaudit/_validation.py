"""Input checks and dtype handling for the confident-learning wrappers.

Only this module coerces dtypes. Probabilities are never up- or down-cast:
float32 and float64 are used as given (memory maps included) and anything else
is refused. Messages name the parameter, the rule and the offending value.
"""

from __future__ import annotations

import numpy as np

from .exceptions import LabelAuditError

__all__ = [
    "ROW_SUM_TOLERANCE",
    "check_labels",
    "check_matrix_layout",
    "check_pred_probs",
    "raise_for_bad_rows",
]

#: Largest accepted ``|sum(row) - 1|``. Softmax outputs stored as float32 with
#: thousands of classes stay well inside it; anything larger is not a
#: probability vector.
ROW_SUM_TOLERANCE = 1e-3

#: cleanlab accepts values down to ``-1e-6`` and up to ``1 + 1e-6``.
RANGE_TOLERANCE = 1e-6

_RENORMALIZE_HINT = "divide each row by its sum first, e.g. `pred_probs = labelaudit.renormalize(pred_probs)`"


def check_pred_probs(pred_probs, *, name: str = "pred_probs") -> np.ndarray:
    """Return ``pred_probs`` as a C-contiguous float32/float64 2-D array.

    Parameters
    ----------
    pred_probs : array-like of shape (n_samples, n_classes)
        Predicted class probabilities. A C-contiguous float32 or float64
        ndarray (including a read-only ``np.memmap``) is returned as is; a
        non-contiguous one is copied into C order, never into another dtype.
    name : str
        Parameter name used in messages.

    Returns
    -------
    ndarray
        The validated matrix.

    Raises
    ------
    LabelAuditError
        If the input is not 2-D, has no rows, fewer than 2 columns, or an
        unsupported dtype.
    """
    if not isinstance(pred_probs, np.ndarray):
        if hasattr(pred_probs, "__dask_graph__"):
            raise LabelAuditError(
                f"`{name}` is a dask array; compute it or use the dask entry points."
            )
        try:
            pred_probs = np.asarray(pred_probs)
        except Exception as exc:  # noqa: BLE001 - report any conversion failure
            raise LabelAuditError(f"`{name}` cannot be read as an array: {exc}") from None
        if pred_probs.dtype.kind in "iub":
            raise LabelAuditError(
                f"`{name}` must hold float32 or float64 probabilities, got dtype={pred_probs.dtype}."
            )
        if pred_probs.dtype.kind == "f" and pred_probs.dtype.itemsize < 4:
            pred_probs = pred_probs.astype(np.float32)
    check_matrix_layout(pred_probs.shape, pred_probs.dtype, name=name)
    if not pred_probs.flags.c_contiguous:
        pred_probs = np.ascontiguousarray(pred_probs)
    return pred_probs


def check_matrix_layout(shape: tuple, dtype, *, name: str = "pred_probs") -> None:
    """Refuse a probability matrix that is not 2-D float32/float64 with rows and >= 2 columns.

    Shared by the in-memory and the dask paths (it needs only shape and dtype).
    """
    if len(shape) != 2:
        raise LabelAuditError(
            f"`{name}` must be 2-D (n_samples, n_classes), got {len(shape)}-D with shape {shape}."
        )
    if dtype not in (np.float32, np.float64):
        raise LabelAuditError(
            f"Only float32 or float64 `{name}` are supported, got dtype={dtype}."
        )
    n, k = shape
    if n == 0:
        raise LabelAuditError(f"`{name}` has no rows (shape {shape}); need at least one item.")
    if k < 2:
        raise LabelAuditError(
            f"`{name}` must have at least 2 columns (classes), got shape {shape}."
        )


def check_labels(labels, n_rows: int, n_classes: int, *, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as a C-contiguous ``intp`` array with values in ``0..K-1``.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Integer class indices (integral floats are accepted, as in cleanlab).
    n_rows : int
        Number of rows of ``pred_probs``.
    n_classes : int
        Number of columns of ``pred_probs``.
    name : str
        Parameter name used in messages.

    Returns
    -------
    ndarray of intp
    """
    if hasattr(labels, "to_numpy") and not isinstance(labels, np.ndarray):
        labels = labels.to_numpy()
    try:
        arr = np.asarray(labels)
    except Exception as exc:  # noqa: BLE001
        raise LabelAuditError(f"`{name}` cannot be read as an array: {exc}") from None
    if arr.ndim != 1:
        raise LabelAuditError(f"`{name}` must be 1-D, got shape {arr.shape}.")
    if arr.shape[0] != n_rows:
        raise LabelAuditError(
            f"`pred_probs` must have one row per label: got {arr.shape[0]} labels and {n_rows} rows."
        )
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        sample = arr[0] if arr.size else None
        raise LabelAuditError(
            f"`{name}` must be integer class indices 0..{n_classes - 1}, got dtype={arr.dtype} "
            f"(first value {sample!r}); map class names to indices first."
        )
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.argmax(bad))
            raise LabelAuditError(
                f"`{name}` must be integer class indices, got {arr[i].item()!r} at position {i}."
            )
    out = np.ascontiguousarray(arr, dtype=np.intp)
    if out.size:
        lo, hi = int(out.min()), int(out.max())
        if lo < 0 or hi >= n_classes:
            bad_mask = (out < 0) | (out >= n_classes)
            i = int(np.argmax(bad_mask))
            raise LabelAuditError(
                f"`{name}` must be class indices in 0..{n_classes - 1} (pred_probs has "
                f"{n_classes} columns), got {out[i]} at position {i}."
            )
    return out


def raise_for_bad_rows(bad_rows: np.ndarray, pred_probs: np.ndarray, *, check_sums: bool = True,
                       strict_unit_interval: bool = False, name: str = "pred_probs",
                       row_offset: int = 0) -> None:
    """Raise for the first invalid row reported by a kernel pass.

    ``bad_rows`` holds, per kind, the first offending row index (``n`` when
    none), merged over threads: 0 non-finite, 1 below range, 2 above range,
    3 row sum, 4 outside [0, 1] exactly. ``row_offset`` is added to the row
    numbers in messages (for a chunk of a larger matrix).
    """
    n = pred_probs.shape[0]
    first = bad_rows.min(axis=0) if bad_rows.ndim == 2 else bad_rows
    if first[0] < n:
        i = int(first[0])
        row = np.asarray(pred_probs[i])
        j = int(np.argmax(~np.isfinite(row)))
        raise LabelAuditError(
            f"`{name}` must be finite: row {i + row_offset}, column {j} is {row[j].item()!r}."
        )
    for kind, rule in ((1, "below 0"), (2, "above 1")):
        if first[kind] < n:
            i = int(first[kind])
            row = np.asarray(pred_probs[i])
            j = int(np.argmin(row)) if kind == 1 else int(np.argmax(row))
            raise LabelAuditError(
                f"`{name}` must be probabilities in [0, 1]: row {i + row_offset}, column {j} is {row[j].item()!r} ({rule})."
            )
    if strict_unit_interval and first[4] < n:
        i = int(first[4])
        row = np.asarray(pred_probs[i])
        j = int(np.argmin(row)) if row.min() < 0 else int(np.argmax(row))
        raise LabelAuditError(
            f"`{name}` must lie in [0, 1] exactly for this score: row {i + row_offset}, column {j} is {row[j].item()!r}."
        )
    if check_sums and first[3] < n:
        i = int(first[3])
        total = float(np.asarray(pred_probs[i], dtype=np.float64).sum())
        raise LabelAuditError(
            f"`{name}` rows must sum to 1: row {i + row_offset} sums to {total:.6g} "
            f"(off by {total - 1:+.3g}, tolerance {ROW_SUM_TOLERANCE:g}); {_RENORMALIZE_HINT}."
        )
