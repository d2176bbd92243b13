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


# --------------------------------------------------------------------------- annotations


def check_annotations(
    annotations,
    *,
    item_col: str,
    annotator_col: str,
    label_col: str,
    time_col: str | None = None,
    parse_time: bool = False,
    source: str = "annotations",
):
    """Check a long annotation table (one row per annotation): the one set of rules.

    Parameters
    ----------
    annotations : polars.DataFrame or polars.LazyFrame
        One row per annotation.
    item_col, annotator_col, label_col : str
        Columns with the item id, the annotator id and the label.
    time_col : str, optional
        Column with a timestamp per annotation.
    parse_time : bool, default False
        Parse a text ``time_col`` as datetimes (as read from a CSV file); otherwise it must
        already be ``Date`` or ``Datetime``.
    source : str, default "annotations"
        Name of the table at the front of every message, e.g. ``"annotations file
        'a.csv'"``.

    Returns
    -------
    polars.DataFrame
        The table (collected), with ``time_col`` parsed when ``parse_time`` is set.

    Raises
    ------
    InputError
        On a table that is not a polars frame, a missing column, no rows, a null id or
        label, a repeated (item, annotator) pair, or a time column that is not (or does not
        parse as) dates or datetimes. Messages name the table, the column, the row and the
        value.
    LabelAuditError
        When two roles name the same column.

    Examples
    --------
    >>> import polars as pl
    >>> table = pl.DataFrame({"item": [1, 1], "who": ["a", "a"], "label": [0, 1]})
    >>> check_annotations(table, item_col="item", annotator_col="who", label_col="label",
    ...                   source="annotations file 'a.csv'")
    Traceback (most recent call last):
    ...
    labelaudit.exceptions.InputError: annotations file 'a.csv': annotator 'a' labels item 1 more than once (row 1); keep one label per (item, annotator), e.g. the latest
    """
    import polars as pl

    from .exceptions import InputError

    if isinstance(annotations, pl.LazyFrame):
        annotations = annotations.collect()
    if not isinstance(annotations, pl.DataFrame):
        raise InputError(f"{source} must be a polars DataFrame; got {type(annotations).__name__}")
    roles = {"item": item_col, "annotator": annotator_col, "label": label_col}
    if time_col is not None:
        roles["time"] = time_col
    if len(set(roles.values())) != len(roles):
        raise LabelAuditError(
            f"{source}: the item, annotator, label and time columns must differ, got "
            + ", ".join(f"{k}={v!r}" for k, v in roles.items())
        )
    for role, col in roles.items():
        if col not in annotations.columns:
            raise InputError(
                f"{source}: column {col!r} ({role}_col) not found; available columns: "
                f"{annotations.columns}"
            )
    if annotations.height == 0:
        raise InputError(f"{source}: the table has no rows; need at least one annotation")
    for col in (item_col, annotator_col, label_col):
        nulls = annotations.get_column(col).is_null()
        if nulls.any():
            raise InputError(
                f"{source}: column {col!r} must not contain nulls; row "
                f"{int(nulls.arg_true()[0])} is null"
            )
    row = _first_repeated_pair(annotations.get_column(item_col), annotations.get_column(annotator_col))
    if row is not None:
        raise InputError(
            f"{source}: annotator {annotations[annotator_col][row]!r} labels item "
            f"{annotations[item_col][row]!r} more than once (row {row}); keep one label per "
            "(item, annotator), e.g. the latest"
        )
    if time_col is not None:
        time = annotations.get_column(time_col)
        if parse_time and time.dtype == pl.String:
            time = _parse_datetimes(time, source)
            annotations = annotations.with_columns(time)
        if time.dtype != pl.Date and not isinstance(time.dtype, pl.Datetime):
            raise InputError(
                f"{source}: column {time_col!r} (time_col) must be Date or Datetime; got {time.dtype}"
            )
    return annotations


def _first_repeated_pair(first, second) -> int | None:
    """First row (in table order) whose (first, second) pair appeared in an earlier row."""
    import polars as pl

    if first.dtype.is_integer() and second.dtype.is_integer() and first.len():
        a = first.to_numpy().astype(np.int64, copy=False)
        b = second.to_numpy().astype(np.int64, copy=False)
        a_lo, b_lo = int(a.min()), int(b.min())
        span = int(b.max()) - b_lo + 1
        if (int(a.max()) - a_lo + 1) * span < 1 << 62:
            # Integer ids (the common case): one sort of a packed key instead of hashing.
            key = (a - a_lo) * span + (b - b_lo)
            order = np.argsort(key, kind="stable")
            ordered = key[order]
            later = order[1:][ordered[1:] == ordered[:-1]]
            return int(later.min()) if later.size else None
    pairs = pl.DataFrame({"first": first, "second": second})
    repeated = pairs.select(pl.struct("first", "second").is_first_distinct().not_()).to_series()
    return int(repeated.arg_true()[0]) if repeated.any() else None


def _parse_datetimes(values, source: str):
    """Text parsed as datetimes, naming the first value that does not parse."""
    import polars as pl

    from .exceptions import InputError

    try:
        parsed = values.str.to_datetime(strict=False, time_unit="us")
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"{source}: time column {values.name!r} is not in a datetime format polars "
            f"recognises (first value {values.drop_nulls().head(1).to_list()!r})"
        ) from exc
    bad = parsed.is_null() & values.is_not_null()
    if bad.any():
        row = int(bad.arg_true()[0])
        raise InputError(
            f"{source}: time column {values.name!r} has {values[row]!r} at row {row}, not a "
            "datetime like 2024-03-05T18:14:57"
        )
    return parsed
