"""Input checks and dtype handling for the confident-learning wrappers.

Only this module coerces dtypes. Probabilities are never up- or down-cast:
float32 and float64 are used as given (memory maps included) and anything else
is refused. Messages name the parameter, the rule and the offending value.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .exceptions import InputError, LabelAuditError, LabelAuditWarning

__all__ = [
    "ROW_SUM_TOLERANCE",
    "Float16Probabilities",
    "check_labels",
    "check_matrix_layout",
    "check_pred_probs",
    "check_probabilities",
    "check_probability_vectors",
    "coerce_features",
    "check_scalar_column",
    "check_feature_column",
    "check_seed",
    "check_time_window",
    "integers_if_canonical",
    "is_float16",
    "raise_for_bad_rows",
]

#: Largest accepted ``|sum(row) - 1|``. Softmax outputs stored as float32 with
#: thousands of classes stay well inside it; anything larger is not a
#: probability vector.
ROW_SUM_TOLERANCE = 1e-3

#: cleanlab accepts values down to ``-1e-6`` and up to ``1 + 1e-6``.
RANGE_TOLERANCE = 1e-6

_RENORMALIZE_HINT = "divide each row by its sum first, e.g. `pred_probs = labelaudit.renormalize(pred_probs)`"
_CLI_RENORMALIZE_HINT = (
    "pass --renormalize (or use labelaudit.renormalize) to divide rows by their sums"
)

#: Rows per kernel call when a whole matrix is only validated (bounds the
#: placeholder labels the row pass reads; a memory map stays on disk).
_SCAN_ROWS = 1 << 20


class Float16Probabilities(np.ndarray):
    """A float32 copy of float16 probabilities (exact: every float16 is a float32).

    The kernels read it as float32; the steps whose result depends on the
    precision of the arithmetic (the per-class thresholds, the ``1e-6`` bump
    of the given label, the scores) recognise this type and round as numpy
    does on float16, so the drop-in functions give cleanlab's float16 answer.
    """


def is_float16(pred_probs) -> bool:
    """Whether ``pred_probs`` came from a float16 matrix (see :class:`Float16Probabilities`)."""
    return isinstance(pred_probs, Float16Probabilities)


def _as_float_array(values: Any, name: str, *, dask: str) -> np.ndarray:
    """``values`` as an ndarray of probabilities, refusing dask arrays and integer input.

    An ndarray is returned as is (its dtype is checked by the caller); other
    array-likes are converted with ``np.asarray``. ``dask`` is the advice given
    when a dask array is passed.
    """
    if isinstance(values, np.ndarray):
        return values
    if hasattr(values, "__dask_graph__"):
        raise LabelAuditError(f"`{name}` is a dask array; {dask}.")
    try:
        values = np.asarray(values)
    except Exception as exc:  # noqa: BLE001 - report any conversion failure
        raise LabelAuditError(f"`{name}` cannot be read as an array: {exc}") from None
    if values.dtype.kind in "iub":
        raise LabelAuditError(
            f"`{name}` must hold float32 or float64 probabilities, got dtype={values.dtype}."
        )
    return values


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
    pred_probs = _as_float_array(pred_probs, name,
                                 dask="compute it or use the dask entry points")
    if pred_probs.dtype == np.float16 and not is_float16(pred_probs):
        warnings.warn(
            f"`{name}` is float16: computed on an exact float32 copy with float16 rounding "
            "where cleanlab rounds, which gives cleanlab's answer; pass float32 (e.g. "
            f"`{name}.astype(np.float32)`) to skip the copy.",
            LabelAuditWarning, stacklevel=4,
        )
        if pred_probs.ndim == 2:
            pred_probs = np.ascontiguousarray(pred_probs, dtype=np.float32).view(
                Float16Probabilities)
    check_matrix_layout(pred_probs.shape, pred_probs.dtype, name=name)
    if not pred_probs.flags.c_contiguous:
        pred_probs = np.ascontiguousarray(pred_probs)
    return pred_probs


def check_matrix_layout(shape: tuple, dtype, *, name: str = "pred_probs", source: str | None = None,
                        sizes: bool = True) -> None:
    """Refuse a probability matrix that is not 2-D float32/float64 with rows and >= 2 columns.

    Shared by the in-memory and the dask paths (it needs only shape and dtype).
    With ``source`` (an input file, e.g. ``"probabilities file 'p.npy'"``) the
    error is an :class:`~labelaudit.InputError` that starts with it; with
    ``sizes=False`` an empty matrix or a single column is not refused here.
    """
    if source is not None:
        if len(shape) != 2:
            raise InputError(f"{source}: expected a 2-D array (items x classes), got shape {shape}")
        if dtype not in (np.float32, np.float64):
            raise InputError(f"{source}: dtype must be float32 or float64, got {dtype}")
        if sizes and (shape[0] == 0 or shape[1] < 2):
            raise InputError(
                f"{source}: expected a 2-D matrix with at least one row and two class columns, "
                f"got shape {shape}"
            )
        return
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


def check_probabilities(pred_probs, *, ids=None, source: str = "pred_probs",
                        n_jobs: int | None = None) -> np.ndarray:
    """Check that every row of an input matrix is a probability vector, in one kernel pass.

    Parameters
    ----------
    pred_probs : array-like of shape (n_samples, K)
        Float32 or float64 probabilities (other float widths are widened to
        float64); a C-contiguous array or read-only memory map is scanned in
        place, never copied.
    ids : polars.Series or sequence, optional
        Item ids in row order, so the message can name the item.
    source : str, default "pred_probs"
        Name of the input (for instance ``"probabilities file 'p.csv'"``).
    n_jobs : int, optional
        Threads of the scan.

    Returns
    -------
    numpy.ndarray
        ``pred_probs`` as a C-contiguous 2-D float32/float64 array.

    Raises
    ------
    InputError
        Naming the first row (and id) with a non-finite value, a value outside
        [0, 1], or a sum that differs from 1 by more than 1e-3.
    """
    from ._core import n_bad_kinds, row_pass
    from ._threads import DEFAULT_CHUNK_ROWS, effective_n_threads

    arr = np.asarray(pred_probs)
    if arr.dtype.kind == "f" and arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    check_matrix_layout(arr.shape, arr.dtype, source=source)
    arr = np.ascontiguousarray(arr)
    n_threads = effective_n_threads(n_jobs)
    empty = np.empty(0, dtype=arr.dtype)
    labels = np.zeros(min(arr.shape[0], _SCAN_ROWS), dtype=np.intp)  # read, never used
    for start in range(0, arr.shape[0], _SCAN_ROWS):
        block = arr[start:start + _SCAN_ROWS]
        bad = np.full((n_threads, n_bad_kinds()), block.shape[0], dtype=np.int64)
        row_pass(block, labels[:block.shape[0]], empty, np.zeros((0, 0, 0), dtype=np.int64),
                       np.empty(0, dtype=np.int32), np.empty(0, dtype=np.uint8), empty, empty,
                       empty, np.empty(0), 0, np.empty(0), bad, ROW_SUM_TOLERANCE,
                       RANGE_TOLERANCE, DEFAULT_CHUNK_ROWS, n_threads)
        raise_for_bad_rows(bad, block, row_offset=start, source=source, ids=ids)
    return arr


def check_labels(labels, n_rows: int, n_classes: int | None, *, name: str = "labels",
                 offset: int = 0, rows_of: str | None = None,
                 classes_from: str | None = None) -> np.ndarray:
    """Return ``labels`` as a C-contiguous ``intp`` array with values in ``0..K-1``.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Integer class indices (integral floats are accepted, as in cleanlab).
    n_rows : int
        Number of rows of ``pred_probs`` (or of the features).
    n_classes : int or None
        Number of columns of ``pred_probs``; None: labels only need to be
        ``>= 0`` (the caller infers ``K = max + 1``).
    name : str
        Parameter name used in messages.
    offset : int
        Added to positions in messages (labels of a chunk of a larger array).
    rows_of : str, optional
        What the rows belong to, for the count message (e.g. ``"X"``);
        default: the rows of ``pred_probs``.
    classes_from : str, optional
        Where ``n_classes`` comes from, for the range message; default
        ``"pred_probs has K columns"``.

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
        if rows_of is None:
            raise LabelAuditError(
                f"`pred_probs` must have one row per label: got {arr.shape[0]} labels and "
                f"{n_rows} rows."
            )
        raise LabelAuditError(
            f"`{name}` must have one entry per row of `{rows_of}`: got {arr.shape[0]} labels "
            f"and {n_rows} rows."
        )
    upper = "K-1" if n_classes is None else str(n_classes - 1)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        sample = arr[0] if arr.size else None
        raise LabelAuditError(
            f"`{name}` must be integer class indices 0..{upper}, got dtype={arr.dtype} "
            f"(first value {sample!r}); map class names to indices first."
        )
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.argmax(bad))
            raise LabelAuditError(
                f"`{name}` must be integer class indices, got {arr[i].item()!r} at position "
                f"{i + offset}."
            )
    out = np.ascontiguousarray(arr, dtype=np.intp)
    if out.size:
        lo, hi = int(out.min()), int(out.max())
        if n_classes is None:
            if lo < 0:
                i = int(np.argmax(out < 0))
                raise LabelAuditError(
                    f"`{name}` must be >= 0, got {out[i]} at position {i + offset}."
                )
        elif lo < 0 or hi >= n_classes:
            bad_mask = (out < 0) | (out >= n_classes)
            i = int(np.argmax(bad_mask))
            note = classes_from or f"pred_probs has {n_classes} columns"
            raise LabelAuditError(
                f"`{name}` must be class indices in 0..{n_classes - 1} ({note}), "
                f"got {out[i]} at position {i + offset}."
            )
    return out


def raise_for_bad_rows(bad_rows: np.ndarray, pred_probs: np.ndarray, *, check_sums: bool = True,
                       strict_unit_interval: bool = False, name: str = "pred_probs",
                       row_offset: int = 0, source: str | None = None, ids=None) -> None:
    """Raise for the first invalid row reported by a kernel pass.

    ``bad_rows`` holds, per kind, the first offending row index (``n`` when
    none), merged over threads: 0 non-finite, 1 below range, 2 above range,
    3 row sum, 4 outside [0, 1] exactly. ``row_offset`` is added to the row
    numbers in messages (for a chunk of a larger matrix).

    Without ``source`` (library calls) the kinds are reported in that order
    and the error is a :class:`~labelaudit.LabelAuditError` naming ``name``.
    With ``source`` (an input file) the first bad row of any kind is reported
    as an :class:`~labelaudit.InputError` that starts with ``source`` and
    names the row's id from ``ids`` when given.
    """
    n = pred_probs.shape[0]
    first = bad_rows.min(axis=0) if bad_rows.ndim == 2 else bad_rows
    if source is not None:
        _raise_for_input_row(first, pred_probs, row_offset, source, ids)
        return
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
        # cleanlab computes on such rows as given; so do the drop-in functions, and say so.
        i = int(first[3])
        total = float(np.asarray(pred_probs[i], dtype=np.float64).sum())
        warnings.warn(
            f"`{name}` rows should sum to 1: row {i + row_offset} sums to {total:.6g} "
            f"(off by {total - 1:+.3g}, tolerance {ROW_SUM_TOLERANCE:g}); computed on the rows "
            f"as given, as cleanlab does; {_RENORMALIZE_HINT}. labelaudit.audit() and the "
            "command line refuse such rows.",
            LabelAuditWarning, stacklevel=4,
        )


def _bad_probability(vector: np.ndarray) -> tuple[int, str] | None:
    """The first value of a probability vector that is not finite or not in [0, 1]
    (with :data:`RANGE_TOLERANCE`): its index and what it is, in words; None if none."""
    if not np.isfinite(vector).all():
        j = int(np.argmax(~np.isfinite(vector)))
        return j, f"{float(vector[j])!r}, not a finite probability"
    outside = (vector < -RANGE_TOLERANCE) | (vector > 1 + RANGE_TOLERANCE)
    if outside.any():
        j = int(np.argmax(outside))
        return j, f"{vector[j]:.6g}, outside [0, 1]"
    return None


def _raise_for_input_row(first: np.ndarray, pred_probs: np.ndarray, row_offset: int, source: str,
                         ids) -> None:
    """The input-file message for the first bad row of any kind (non-finite, range, sum)."""
    i = int(first[:4].min())
    if i >= pred_probs.shape[0]:
        return
    row = np.asarray(pred_probs[i], dtype=np.float64)
    at = i + row_offset
    where = f"row {at}" + ("" if ids is None else f" (id {ids[at]!r})")
    bad = _bad_probability(row)
    if bad is not None:
        raise InputError(f"{source}: {where} column {bad[0]} is {bad[1]}")
    total = float(row.sum())
    raise InputError(
        f"{source}: {where} sums to {total:.6g}, not 1 (tolerance {ROW_SUM_TOLERANCE:g}); "
        f"probabilities must sum to 1; {_CLI_RENORMALIZE_HINT}"
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

    annotations = as_polars_frame(annotations, name=source)
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
    for role, col in (("item", item_col), ("annotator", annotator_col), ("label", label_col)):
        check_scalar_column(annotations.get_column(col), source=source, role=role)
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


# --------------------------------------------------------------------------- tables


def as_polars_frame(frame, *, name: str):
    """Return a table as a polars DataFrame: polars as is, lazy frames collected, pandas converted.

    Parameters
    ----------
    frame : polars.DataFrame, polars.LazyFrame or pandas.DataFrame
        The table.
    name : str
        How messages name it, e.g. ``"annotations file 'a.csv'"``.

    Returns
    -------
    polars.DataFrame

    Raises
    ------
    InputError
        When ``frame`` is none of these.

    Examples
    --------
    >>> import pandas as pd
    >>> as_polars_frame(pd.DataFrame({"a": [1, 2]}), name="table").shape
    (2, 1)
    """
    import polars as pl

    from .exceptions import InputError

    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, pl.DataFrame):
        return frame
    if type(frame).__module__.split(".")[0] == "pandas" and hasattr(frame, "columns"):
        try:
            return pl.from_pandas(frame)
        except Exception as exc:  # noqa: BLE001 - any conversion failure is the user's table
            raise InputError(f"{name}: cannot convert the pandas DataFrame to polars: {exc}") from exc
    raise InputError(
        f"{name} must be a polars or pandas DataFrame; got {type(frame).__name__}"
    )


# --------------------------------------------------------------------------- options

#: Largest seed: numpy's legacy seeding and scikit-learn take 32-bit unsigned integers.
MAX_SEED = 2**32 - 1


def check_seed(seed, *, name: str = "seed") -> int:
    """Return ``seed`` when it is an integer in ``0 .. 2**32 - 1``.

    Parameters
    ----------
    seed : int
        The seed.
    name : str, default "seed"
        Parameter name for the message.

    Returns
    -------
    int

    Raises
    ------
    LabelAuditError
        Otherwise, naming the parameter, the range and the value.

    Examples
    --------
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    labelaudit.exceptions.LabelAuditError: `seed` must be an integer from 0 to 4294967295, got -1.
    """
    import numbers

    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not (
        0 <= seed <= MAX_SEED
    ):
        raise LabelAuditError(f"`{name}` must be an integer from 0 to {MAX_SEED}, got {seed!r}.")
    return int(seed)


#: Length of each unit of a time window in nanoseconds. A month counts a twelfth of a
#: year of 365.25 days; only the bound below uses these lengths of the calendar units.
_DURATION_NS = {
    "ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
    "d": 86_400 * 10**9, "w": 7 * 86_400 * 10**9, "mo": 2_629_800 * 10**9,
    "q": 3 * 2_629_800 * 10**9, "y": 12 * 2_629_800 * 10**9,
}

#: Longest time window accepted: 100 years (36,525 days). Longer windows hold every
#: timestamp anyway, and lengths past about 290 years do not fit the 64-bit
#: nanosecond counts that truncating a timestamp computes.
MAX_TIME_WINDOW_YEARS = 100

_DURATION_PART = r"([0-9]+)(ns|us|ms|mo|s|m|h|d|w|q|y)"


def check_time_window(value, *, name: str = "time_window") -> str:
    """Return ``value`` when it is a positive time duration that can cut timestamps into windows.

    A duration is one or more whole numbers each followed by a unit: ``ns``,
    ``us``, ``ms``, ``s``, ``m`` (minutes), ``h``, ``d``, ``w``, ``mo``, ``q``
    or ``y``, as in ``"1d"``, ``"2w"``, ``"1mo"``, ``"6h"`` or ``"1h30m"`` (the
    polars duration syntax without signs and without the index unit ``i``,
    which counts rows rather than time). Its total length must be above zero
    and at most :data:`MAX_TIME_WINDOW_YEARS` years, and its units must come
    from one group: months (``y``, ``q``, ``mo``), weeks, days or the
    sub-daily units, which are the lengths timestamps can be truncated to.

    Parameters
    ----------
    value : str
        The window length.
    name : str, default "time_window"
        Parameter (or command-line option) named in the message.

    Returns
    -------
    str
        ``value``, unchanged.

    Raises
    ------
    LabelAuditError
        Otherwise, naming the parameter, the value and what is wrong with it.

    Examples
    --------
    >>> check_time_window("2w")
    '2w'
    >>> check_time_window("0d")
    Traceback (most recent call last):
    ...
    labelaudit.exceptions.LabelAuditError: time_window must be a positive polars duration string such as '1d', '2w', '1mo' or '6h'; got '0d' (its length is zero)
    """
    import re

    def refuse(reason: str) -> LabelAuditError:
        return LabelAuditError(
            f"{name} must be a positive polars duration string such as '1d', '2w', '1mo' or "
            f"'6h'; got {value!r} ({reason})"
        )

    if not isinstance(value, str):
        raise refuse(f"of type {type(value).__name__}, not text")
    if not re.fullmatch(f"(?:{_DURATION_PART})+", value):
        if re.fullmatch(r"[0-9]+i", value):
            raise refuse("the unit 'i' counts rows, not time")
        raise refuse("expected whole numbers, each followed by one of the units ns, us, ms, s, "
                     "m, h, d, w, mo, q, y")
    parts = [(int(number), unit) for number, unit in re.findall(_DURATION_PART, value)]
    length = sum(number * _DURATION_NS[unit] for number, unit in parts)
    if length == 0:
        raise refuse("its length is zero")
    if length > MAX_TIME_WINDOW_YEARS * _DURATION_NS["y"]:
        raise refuse(f"longer than {MAX_TIME_WINDOW_YEARS} years")
    groups = {
        "months" if unit in ("mo", "q", "y") else "weeks" if unit == "w"
        else "days" if unit == "d" else "sub-daily units"
        for number, unit in parts if number
    }
    if len(groups) > 1:
        raise refuse(f"it mixes {' and '.join(sorted(groups))}; use units of one of months, "
                     "weeks, days or sub-daily units")
    return value


# --------------------------------------------------------------------------- table columns

#: Decimal integers exactly as ``str(int)`` writes them: no sign "+", no leading zeros, no spaces.
_CANONICAL_INTEGER = r"^-?(0|[1-9][0-9]{0,17})$"


def check_scalar_column(series, *, source: str, role: str | None = None):
    """Refuse a label, id or annotator column whose values are not single scalars.

    Parameters
    ----------
    series : polars.Series
        The column as read.
    source : str
        The table, for messages (``"data file 'd.parquet'"``).
    role : str, optional
        What the column holds (``"label"``, ``"id"``, ``"annotator"``).

    Returns
    -------
    polars.Series
        ``series`` unchanged.

    Raises
    ------
    InputError
        When the column holds lists, arrays, structs, binary blobs or Python
        objects, naming the column, the first row and its value.

    Examples
    --------
    >>> import polars as pl
    >>> check_scalar_column(pl.Series("label", [[1], [2]]), source="data file 'd.parquet'",
    ...                     role="label")
    Traceback (most recent call last):
    ...
    labelaudit.exceptions.InputError: data file 'd.parquet': label column 'label' holds list values (row 0 is [1]); labels must be single strings or integers
    """
    import polars as pl

    dtype = series.dtype
    nested = isinstance(dtype, (pl.List, pl.Array, pl.Struct)) or dtype in (pl.Binary, pl.Object)
    if not nested:
        return series
    kind = {pl.List: "list", pl.Array: "array", pl.Struct: "struct"}.get(type(dtype),
                                                                         str(dtype).lower())
    present = series.is_not_null()
    row = int(present.arg_true()[0]) if present.any() else 0
    value = _short(series[row] if series.len() else None)
    what = f"{role} column" if role else "column"
    rule = f"{role}s" if role else "labels, ids and annotators"
    raise InputError(
        f"{source}: {what} {series.name!r} holds {kind} values (row {row} is {value}); "
        f"{rule} must be single strings or integers"
    )


def _short(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages."""
    if hasattr(value, "to_list"):  # a polars Series (one row of a list column)
        value = value.to_list()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def integers_if_canonical(series):
    """Text read from a CSV column as integers when that loses nothing.

    A column of decimal integers written the way ``str(int)`` writes them
    (``"0"``, ``"17"``, ``"-3"``) becomes ``Int64``, so ids sort and labels
    order numerically as before; any other text (``"01"``, ``"1.0"``,
    ``" 2"``, ``"cat"``) is kept as written, so ``"01"`` and ``"1"`` stay
    two values.

    Parameters
    ----------
    series : polars.Series
        A column read as text.

    Returns
    -------
    polars.Series
        ``Int64`` when every non-null value is a canonical decimal integer that
        fits in 64 bits, else ``series`` unchanged.

    Examples
    --------
    >>> import polars as pl
    >>> integers_if_canonical(pl.Series(["2", "10", None])).to_list()
    [2, 10, None]
    >>> integers_if_canonical(pl.Series(["01", "1", "02"])).to_list()
    ['01', '1', '02']
    """
    import polars as pl

    if series.dtype != pl.String:
        return series
    present = series.drop_nulls()
    if present.len() == 0 or not present.str.contains(_CANONICAL_INTEGER).all():
        return series
    return series.cast(pl.Int64)
def _level_codes(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Codes of the sorted distinct values (as text), NaN where ``missing``."""
    text = np.asarray(values, dtype=object)
    codes = np.full(text.shape[0], np.nan)
    present = ~missing
    if present.any():
        _, inverse = np.unique(text[present].astype(str), return_inverse=True)
        codes[present] = inverse
    return codes


#: Largest feature magnitude accepted from a table. Standardising a column sums the
#: squares of its values: ``1e150 ** 2 = 1e300`` leaves room for sums over 10**8 rows
#: below float64's largest number (about 1.8e308), while values much above ``1e154``
#: have squares that overflow to infinity and the model's fit fails on them.
MAX_FEATURE_MAGNITUDE = 1e150


def check_feature_column(values, *, source: str, column: str) -> None:
    """Refuse a feature column whose values the model cannot be fitted on.

    Parameters
    ----------
    values : polars.Series
        One numeric (or boolean) feature column, rows in table order.
    source : str
        Name of the table, for messages (``"data file 'd.csv'"``).
    column : str
        Name of the column, for messages.

    Raises
    ------
    InputError
        On the first null, NaN or infinite value, or the first value whose
        magnitude exceeds :data:`MAX_FEATURE_MAGNITUDE` (``1e150``; above
        it, the squares that standardising the column sums overflow float64),
        naming the table, the column, the row and the value.

    Examples
    --------
    >>> import polars as pl
    >>> check_feature_column(pl.Series([0.5, 2e160]), source="data file 'd.csv'", column="f1")
    Traceback (most recent call last):
    ...
    labelaudit.exceptions.InputError: data file 'd.csv': feature column 'f1' is 2e+160 at row 1; feature values must lie within +-1e+150 (standardising a column squares its values, and larger squares overflow float64); rescale the column first
    """
    nulls = values.is_null()
    if nulls.any():
        raise InputError(
            f"{source}: feature column {column!r} is null at row {int(nulls.arg_true()[0])}"
        )
    if not values.dtype.is_float():
        return  # integer, decimal and boolean values stay far below the bound
    bad = ~values.is_finite()
    if bad.any():
        row = int(bad.arg_true()[0])
        raise InputError(f"{source}: feature column {column!r} is {values[row]!r} at row {row}")
    huge = values.abs() > MAX_FEATURE_MAGNITUDE
    if huge.any():
        row = int(huge.arg_true()[0])
        raise InputError(
            f"{source}: feature column {column!r} is {values[row]!r} at row {row}; feature values "
            f"must lie within +-{MAX_FEATURE_MAGNITUDE:g} (standardising a column squares its "
            "values, and larger squares overflow float64); rescale the column first"
        )


def coerce_features(X) -> tuple[np.ndarray, tuple[int, ...], bool]:
    """Features as a float64 matrix with categorical columns as level codes.

    pandas columns of ``category``, object or string dtype and polars columns
    of ``Categorical``, ``Enum`` or ``String`` type are categorical: their
    levels, sorted as text, are coded ``0..L-1`` (null -> NaN), so the codes
    do not depend on the order rows come in. Boolean columns become 0/1,
    other columns float64. A NumPy array (or anything else) goes through
    :func:`numpy.asarray` unchanged, booleans to 0/1.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        NumPy array, pandas or polars frame (not a sparse matrix).

    Returns
    -------
    X : numpy.ndarray
    categorical : tuple of int
        Indices of the categorical columns.
    has_missing : bool
        Whether some value is NaN.
    """
    columns: list[np.ndarray] | None = None
    categorical: list[int] = []
    if hasattr(X, "iloc") and hasattr(X, "columns"):  # pandas DataFrame
        import pandas as pd

        columns = []
        for j, name in enumerate(X.columns):
            col = X[name]
            dtype = col.dtype
            if (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype)
                    or pd.api.types.is_string_dtype(dtype)):
                columns.append(_level_codes(col.to_numpy(dtype=object), col.isna().to_numpy()))
                categorical.append(j)
            else:
                columns.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
    elif hasattr(X, "to_numpy") and hasattr(X, "columns") and hasattr(X, "schema"):  # polars
        import polars as pl

        columns = []
        for j, name in enumerate(X.columns):
            col = X.get_column(name)
            if col.dtype in (pl.Categorical, pl.String) or isinstance(col.dtype, pl.Enum):
                columns.append(_level_codes(col.cast(pl.String).to_numpy(), col.is_null().to_numpy()))
                categorical.append(j)
            else:
                columns.append(col.cast(pl.Float64).to_numpy().astype(np.float64, copy=False))
    if columns is not None:
        arr = (np.column_stack(columns) if columns
               else np.empty((int(X.shape[0]), 0), dtype=np.float64))
    else:
        arr = np.asarray(X)
        if arr.dtype == bool:
            arr = arr.astype(np.float64)
    missing = arr.dtype.kind == "f" and bool(np.isnan(arr).any())
    return arr, tuple(categorical), missing


# =========================================================================== object detection
# Checks and packing for bounding boxes: ``labels`` is one dict per image with
# ``bboxes`` (L, 4) and ``labels`` (L,); ``predictions`` is, per image, one
# (M_k, 5) array per class k holding x1, y1, x2, y2 and the detector's score.
# Nothing is copied at check time (only integer coordinates become float64);
# ``pack_detection_chunk`` concatenates a range of images for the kernels.


class DetectionInputs:
    """Checked boxes of a detection dataset, still held per image.

    Attributes
    ----------
    label_boxes : list of ndarray of shape (L_i, 4)
        Annotated boxes per image (float32 or float64).
    label_classes : list of ndarray of shape (L_i,), dtype=intp
        Class of each annotated box.
    predictions : list of list of ndarray of shape (M_ik, 5)
        Predicted boxes per image and class.
    n_classes : int
        ``K``, the number of per-class arrays in every image's predictions.
    dtype : numpy.dtype
        float32 when every box array is float32, float64 otherwise.
    n_label_boxes : ndarray of shape (N,), dtype=int32
    n_pred_boxes : ndarray of shape (N, K), dtype=int32
    """

    __slots__ = ("dtype", "label_boxes", "label_classes", "n_classes", "n_label_boxes",
                 "n_pred_boxes", "predictions")

    def __init__(self, label_boxes, label_classes, predictions, n_classes, dtype,
                 n_label_boxes, n_pred_boxes):
        self.label_boxes = label_boxes
        self.label_classes = label_classes
        self.predictions = predictions
        self.n_classes = n_classes
        self.dtype = dtype
        self.n_label_boxes = n_label_boxes
        self.n_pred_boxes = n_pred_boxes

    def __len__(self) -> int:
        return len(self.label_boxes)


class DetectionChunk:
    """A range of images packed CSR-style for the detection kernels.

    ``lab_ptr[i]:lab_ptr[i + 1]`` index the annotated boxes of image ``i`` in
    ``lab_boxes`` (L, 4) and ``lab_cls``; ``pred_ptr`` likewise index
    ``pred_boxes`` (P, 5) and ``pred_cls``, grouped by class within an image.
    ``order`` sorts every (image, class) segment by decreasing score, ties by
    index. ``n_pruned_segments`` and ``n_segments`` count the non-empty
    per-class arrays that ``min_score`` emptied and all non-empty ones.
    """

    __slots__ = ("lab_boxes", "lab_cls", "lab_ptr", "max_labels", "n_pruned_segments",
                 "n_segments", "order", "pred_boxes", "pred_cls", "pred_ptr", "start")

    def __init__(self, **fields):
        for key, value in fields.items():
            setattr(self, key, value)


#: One shared read-only empty box array per (width, dtype): an image without boxes costs no array.
_EMPTY_BOXES: dict = {}


def _empty_boxes(width: int, dtype) -> np.ndarray:
    key = (width, np.dtype(dtype))
    arr = _EMPTY_BOXES.get(key)
    if arr is None:
        arr = np.empty((0, width), dtype=dtype)
        arr.flags.writeable = False
        _EMPTY_BOXES[key] = arr
    return arr


def _detection_box_array(value, *, width: int, where: str, dtypes: set) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size == 0:
        if arr.shape == (0, width) and arr.dtype.kind == "f":
            return arr
        return _empty_boxes(width, arr.dtype if arr.dtype.kind == "f" else np.float64)
    if arr.ndim != 2 or arr.shape[1] != width:
        raise InputError(f"{where} must have shape (n, {width}), got shape {arr.shape}")
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float64)
    elif arr.dtype == object:
        # e.g. one row of np.array([a, b], dtype=object) when every class has
        # the same number of boxes: numpy makes it a 3-D object array.
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{where} must hold numbers, got dtype object") from None
    elif arr.dtype.kind != "f":
        raise InputError(f"{where} must hold numbers, got dtype {arr.dtype}")
    elif arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    dtypes.add(arr.dtype)
    return arr


def check_detection_inputs(labels, predictions, *, known_classes: bool = True,
                           labels_name: str = "labels",
                           predictions_name: str = "predictions") -> DetectionInputs:
    """Check detection labels and predictions and hold them per image.

    Parameters
    ----------
    labels : sequence of dict
        Per image ``{"bboxes": (L, 4), "labels": (L,)}`` (other keys ignored).
    predictions : sequence
        Per image a sequence of ``K`` arrays of shape ``(M_k, 5)``.
    known_classes : bool
        Require every annotated class to be one of the ``K`` predicted classes
        (the per-class thresholds and metrics need one); otherwise any integer.
    labels_name, predictions_name : str
        How to name the inputs in messages.

    Returns
    -------
    DetectionInputs

    Raises
    ------
    InputError
        With the image index and the field that is wrong.
    """
    try:
        n, n_pred = len(labels), len(predictions)
    except TypeError:
        raise InputError(f"`{labels_name}` and `{predictions_name}` must be sequences with one "
                         "entry per image") from None
    if n != n_pred:
        raise InputError(f"`{labels_name}` and `{predictions_name}` must have one entry per image: "
                         f"got {n} and {n_pred}")
    if n == 0:
        raise InputError(f"`{labels_name}` is empty: at least one image is needed")
    first = predictions[0]
    if not isinstance(first, (list, tuple, np.ndarray)):
        raise InputError(f"`{predictions_name}[0]` must be a list of per-class arrays, got "
                         f"{type(first).__name__}")
    n_classes = len(first)
    if n_classes == 0:
        raise InputError(f"`{predictions_name}[0]` holds no per-class arrays: K must be at least 1")
    dtypes: set = set()
    label_boxes, label_classes, preds = [], [], []
    # int32 counts (half the memory of intp; an image holds far fewer than 2**31 boxes)
    n_label = np.empty(n, dtype=np.int32)
    n_pred_boxes = np.empty((n, n_classes), dtype=np.int32)
    for i in range(n):
        lab = labels[i]
        if not isinstance(lab, dict):
            raise InputError(f"`{labels_name}[{i}]` must be a dict with 'bboxes' and 'labels', got "
                             f"{type(lab).__name__}")
        if "bboxes" not in lab or "labels" not in lab:
            missing = "bboxes" if "bboxes" not in lab else "labels"
            raise InputError(f"`{labels_name}[{i}]` has no {missing!r} key")
        boxes = _detection_box_array(lab["bboxes"], width=4, where=f"`{labels_name}[{i}]['bboxes']`",
                                     dtypes=dtypes)
        cls = np.asarray(lab["labels"])
        if cls.ndim > 1:
            raise InputError(f"`{labels_name}[{i}]['labels']` must be one-dimensional, got shape "
                             f"{cls.shape}")
        if cls.ndim != 1:
            cls = cls.reshape(-1)
        if cls.shape[0] != boxes.shape[0]:
            raise InputError(f"`{labels_name}[{i}]` has {boxes.shape[0]} boxes but {cls.shape[0]} "
                             "labels")
        if cls.size and cls.dtype.kind not in "iu":
            if cls.dtype.kind != "f" or not np.all(np.floor(cls) == cls):
                bad = cls.tolist()
                raise InputError(f"`{labels_name}[{i}]['labels']` must hold integer classes, got "
                                 f"{_short(bad)}")
        cls = cls.astype(np.intp, copy=False)
        if known_classes and cls.size and (cls.min() < 0 or cls.max() >= n_classes):
            wrong = int(cls[(cls < 0) | (cls >= n_classes)][0])
            raise InputError(f"`{labels_name}[{i}]['labels']` holds class {wrong}, outside the "
                             f"{n_classes} classes of `{predictions_name}` (0 to {n_classes - 1})")
        pred = predictions[i]
        if not isinstance(pred, (list, tuple, np.ndarray)) or len(pred) != n_classes:
            got = len(pred) if isinstance(pred, (list, tuple, np.ndarray)) else type(pred).__name__
            raise InputError(f"`{predictions_name}[{i}]` must hold {n_classes} per-class arrays "
                             f"(as `{predictions_name}[0]`), got {got}")
        per_class = None  # the caller's own sequence, unless an array had to be converted
        for k in range(n_classes):
            given = pred[k]
            arr = _detection_box_array(given, width=5,
                                       where=f"`{predictions_name}[{i}][{k}]`", dtypes=dtypes)
            if per_class is None and arr is not given:
                per_class = [pred[j] for j in range(k)]
            if per_class is not None:
                per_class.append(arr)
            n_pred_boxes[i, k] = arr.shape[0]
        label_boxes.append(boxes)
        label_classes.append(cls)
        preds.append(pred if per_class is None else per_class)
        n_label[i] = boxes.shape[0]
    dtype = np.dtype(np.float32) if dtypes == {np.dtype(np.float32)} else np.dtype(np.float64)
    return DetectionInputs(label_boxes, label_classes, preds, n_classes, dtype, n_label,
                           n_pred_boxes)


def _first_image(ptr: np.ndarray, row: int) -> int:
    return int(np.searchsorted(ptr, row, side="right") - 1)


def pack_detection_chunk(inputs: DetectionInputs, start: int, stop: int, *,
                         min_score: float | None = None, labels_name: str = "labels",
                         predictions_name: str = "predictions") -> DetectionChunk:
    """Concatenate images ``start:stop`` of ``inputs`` for the detection kernels.

    Parameters
    ----------
    inputs : DetectionInputs
    start, stop : int
        Image range.
    min_score : float or None
        Drop predicted boxes whose score is not at least this value.
    labels_name, predictions_name : str
        How to name the inputs in messages.

    Returns
    -------
    DetectionChunk

    Raises
    ------
    InputError
        When a coordinate or a score is not finite (the message names the image).
    """
    dtype = inputs.dtype
    K = inputs.n_classes
    m = stop - start
    lab_list = inputs.label_boxes[start:stop]
    n_lab = inputs.n_label_boxes[start:stop]
    lab_ptr = np.zeros(m + 1, dtype=np.intp)
    np.cumsum(n_lab, out=lab_ptr[1:])
    lab_boxes = (np.concatenate(lab_list, axis=0, dtype=dtype) if lab_ptr[-1]
                 else np.empty((0, 4), dtype=dtype))
    lab_cls = (np.concatenate(inputs.label_classes[start:stop]) if lab_ptr[-1]
               else np.empty(0, dtype=np.intp))
    if not np.isfinite(lab_boxes).all():
        row = int(np.flatnonzero(~np.isfinite(lab_boxes).all(axis=1))[0])
        i = start + _first_image(lab_ptr, row)
        raise InputError(f"`{labels_name}[{i}]['bboxes']` holds a coordinate that is not finite")
    counts = inputs.n_pred_boxes[start:stop].ravel()
    total = int(counts.sum())
    if total:
        flat = [arr for per_class in inputs.predictions[start:stop] for arr in per_class]
        pred_boxes = np.concatenate(flat, axis=0, dtype=dtype)
    else:
        pred_boxes = np.empty((0, 5), dtype=dtype)
    seg = np.repeat(np.arange(m * K, dtype=np.intp), counts)
    if not np.isfinite(pred_boxes).all():
        row = int(np.flatnonzero(~np.isfinite(pred_boxes).all(axis=1))[0])
        i, k = divmod(int(seg[row]), K)
        raise InputError(f"`{predictions_name}[{start + i}][{k}]` holds a coordinate or score that is "
                         "not finite")
    n_segments = int(np.count_nonzero(counts))
    n_pruned = 0
    if min_score is not None and total:
        keep = pred_boxes[:, 4] >= min_score
        if not keep.all():
            pred_boxes = pred_boxes[keep]
            seg = seg[keep]
            kept = np.bincount(seg, minlength=m * K)
            n_pruned = int(np.count_nonzero((counts > 0) & (kept == 0)))
            counts = kept
    pred_ptr = np.zeros(m + 1, dtype=np.intp)
    np.cumsum(counts.reshape(m, K).sum(axis=1), out=pred_ptr[1:])
    pred_cls = seg % K if K > 1 else np.zeros(seg.shape[0], dtype=np.intp)
    order = (np.lexsort((-pred_boxes[:, 4], seg)).astype(np.intp, copy=False) if seg.size
             else np.empty(0, dtype=np.intp))
    return DetectionChunk(
        start=start, lab_ptr=lab_ptr, lab_boxes=np.ascontiguousarray(lab_boxes),
        lab_cls=np.ascontiguousarray(lab_cls, dtype=np.intp), pred_ptr=pred_ptr,
        pred_boxes=np.ascontiguousarray(pred_boxes), pred_cls=np.ascontiguousarray(pred_cls),
        order=order, max_labels=int(n_lab.max()) if m else 0, n_segments=n_segments,
        n_pruned_segments=n_pruned,
    )
# --------------------------------------------------------------------------- token classification
# Sentences of tokens: cleanlab's nested lists (one list of labels and one (T_i, K) array per
# sentence), or one flat (T, K) token matrix (a read-only memory map included) whose sentences
# are given by their lengths. Everything downstream works on the flat form.


def _token_label_sequences(labels) -> list:
    """``labels`` as a list of per-sentence sequences (a 2-D array gives its rows)."""
    if isinstance(labels, np.ndarray):
        if labels.ndim != 2:
            raise LabelAuditError(
                f"`labels` must be nested (one sequence of token labels per sentence), got an "
                f"array of shape {labels.shape}; pass flat token labels with `sentence_lengths`."
            )
        return list(labels)
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
        raise LabelAuditError(
            f"`labels` must be a list with one sequence of token labels per sentence, got "
            f"{type(labels).__name__}."
        )
    return list(labels)


def _is_flat(labels) -> bool:
    """Whether ``labels`` holds token labels directly (a 1-D array, series or list of scalars)."""
    if isinstance(labels, np.ndarray):
        return labels.ndim == 1
    if hasattr(labels, "to_numpy"):
        return True
    try:
        first = next(iter(labels))
    except (StopIteration, TypeError):
        return False
    return np.ndim(first) == 0 and not isinstance(first, (str, bytes))


def _sentence_lengths_of(sequences: list, name: str) -> np.ndarray:
    lengths = np.empty(len(sequences), dtype=np.int64)
    for i, seq in enumerate(sequences):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
            raise LabelAuditError(
                f"`{name}[{i}]` must be the sequence of that sentence's token labels, got "
                f"{_short(seq)!r}."
            )
        lengths[i] = len(seq)
    return lengths


def check_sentence_lengths(sentence_lengths, n_tokens: int | None = None) -> np.ndarray:
    """Validate sentence lengths and return the sentence offsets ``starts`` (int64, N + 1).

    Parameters
    ----------
    sentence_lengths : array-like of int, shape (N,)
        Tokens per sentence, in file order; zeros are allowed.
    n_tokens : int, optional
        When given, the lengths must add up to it.

    Returns
    -------
    ndarray of int64, shape (N + 1,)
        ``starts[s]:starts[s + 1]`` are sentence ``s``'s tokens.
    """
    arr = np.asarray(sentence_lengths)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise LabelAuditError(
            f"`sentence_lengths` must be a 1-D sequence of integers, got shape {arr.shape} and "
            f"dtype={arr.dtype}."
        )
    if arr.size and int(arr.min()) < 0:
        i = int(np.argmax(arr < 0))
        raise LabelAuditError(f"`sentence_lengths` must be >= 0, got {arr[i]} at sentence {i}.")
    starts = np.zeros(arr.size + 1, dtype=np.int64)
    np.cumsum(arr, out=starts[1:])
    if n_tokens is not None and int(starts[-1]) != n_tokens:
        raise LabelAuditError(
            f"`sentence_lengths` must add up to the number of tokens: they sum to "
            f"{int(starts[-1])} for {n_tokens} tokens."
        )
    return starts


def _flat_token_labels(sequences: list) -> np.ndarray:
    if sequences and all(isinstance(s, np.ndarray) for s in sequences):
        return np.concatenate([s.reshape(-1) for s in sequences])
    from itertools import chain

    return np.asarray(list(chain.from_iterable(sequences)))


def _flat_token_probs(pred_probs) -> np.ndarray:
    """The (T, K) token matrix of ``pred_probs`` (a view when it already is one)."""
    if isinstance(pred_probs, np.ndarray) or hasattr(pred_probs, "__array_interface__"):
        arr = np.asarray(pred_probs) if not isinstance(pred_probs, np.ndarray) else pred_probs
        if arr.ndim == 2:
            return arr
        if arr.ndim == 3:  # N sentences of equal length
            return arr.reshape(-1, arr.shape[2])
        raise LabelAuditError(
            f"`pred_probs` must be a list of (T_i, K) arrays, a (T, K) token matrix or an "
            f"(N, L, K) array, got an array of shape {arr.shape}."
        )
    if isinstance(pred_probs, (str, bytes)) or not hasattr(pred_probs, "__iter__"):
        raise LabelAuditError(
            f"`pred_probs` must be a list with one (T_i, K) array per sentence, got "
            f"{type(pred_probs).__name__}."
        )
    blocks = []
    n_classes = None
    for i, block in enumerate(pred_probs):
        try:
            arr = np.asarray(block)
        except Exception as exc:  # noqa: BLE001 - report any conversion failure
            raise LabelAuditError(f"`pred_probs[{i}]` cannot be read as an array: {exc}") from None
        if arr.size == 0:
            continue  # a sentence without tokens contributes no rows
        if arr.ndim != 2:
            raise LabelAuditError(
                f"`pred_probs[{i}]` must have shape (tokens, K), got {arr.shape}."
            )
        if n_classes is None:
            n_classes = arr.shape[1]
        elif arr.shape[1] != n_classes:
            raise LabelAuditError(
                f"`pred_probs[{i}]` has {arr.shape[1]} columns, the sentences before it "
                f"{n_classes}: every sentence needs the same K."
            )
        blocks.append(arr)
    if not blocks:
        raise LabelAuditError("`pred_probs` holds no tokens: at least one sentence needs tokens.")
    if len(blocks) == 1:
        return blocks[0]
    # One copy into the flat matrix; mixed dtypes promote as numpy promotes them.
    return np.concatenate(blocks, axis=0)


def check_token_inputs(labels, pred_probs, *, sentence_lengths=None):
    """Flat token labels, the flat token matrix and the sentence offsets, checked.

    Parameters
    ----------
    labels : list of sequences of int, or array of int
        One sequence of class indices per sentence (cleanlab's form), a 2-D
        array (equal-length sentences), or, with ``sentence_lengths``, the
        flat token labels in file order.
    pred_probs : list of ndarray, or ndarray
        One ``(T_i, K)`` array per sentence (cleanlab's form), an ``(N, L,
        K)`` array, or the flat ``(T, K)`` token matrix in file order, which
        is used without a copy when it is C-contiguous float32/float64 (a
        read-only ``np.memmap`` included).
    sentence_lengths : array-like of int, optional
        Tokens per sentence; required when ``labels`` is flat, and checked
        against the nested labels otherwise.

    Returns
    -------
    labels : ndarray of intp, shape (T,)
    pred_probs : ndarray of shape (T, K)
    starts : ndarray of int64, shape (N + 1,)
    """
    if sentence_lengths is not None and _is_flat(labels):
        flat_labels = np.asarray(labels)
        starts = check_sentence_lengths(sentence_lengths, flat_labels.shape[0])
    else:
        sequences = _token_label_sequences(labels)
        lengths = _sentence_lengths_of(sequences, "labels")
        starts = check_sentence_lengths(lengths)
        if sentence_lengths is not None:
            given = np.asarray(sentence_lengths)
            if given.shape != lengths.shape or not np.array_equal(given, lengths):
                raise LabelAuditError(
                    "`sentence_lengths` disagrees with the nested `labels`: pass one or the "
                    "other."
                )
        flat_labels = _flat_token_labels(sequences) if int(starts[-1]) else np.zeros(0, np.intp)
    if int(starts[-1]) == 0:
        raise LabelAuditError("`labels` holds no tokens: at least one sentence needs tokens.")
    probs = check_pred_probs(_flat_token_probs(pred_probs))
    if probs.shape[0] != int(starts[-1]):
        raise LabelAuditError(
            f"`pred_probs` must have one row per token: got {int(starts[-1])} token labels "
            f"and {probs.shape[0]} rows."
        )
    flat_labels = check_labels(flat_labels, probs.shape[0], probs.shape[1])
    return flat_labels, probs, starts
# ---------------------------------------------------------------------------
# Multi-label classification: label sets and per-class probabilities
# ---------------------------------------------------------------------------

def check_multilabel_probs(pred_probs, *, name: str = "pred_probs") -> np.ndarray:
    """Return multi-label ``pred_probs`` as a C-contiguous float32/float64 matrix.

    Rows need not sum to one (each column is its own class's probability), but
    every value must lie in ``[0, 1]`` (with cleanlab's ``1e-6`` slack). A
    C-contiguous float ndarray, including a read-only memory map, is returned
    as is; the range check streams over it in row blocks.

    Parameters
    ----------
    pred_probs : array-like of shape (n_samples, n_classes)
    name : str
        Parameter name used in messages.

    Returns
    -------
    ndarray or dask array
        A dask array is returned as is (lazy) after its range check, which
        computes it one band of row chunks at a time.
    """
    lazy = _is_dask(pred_probs)
    if not lazy:
        pred_probs = _as_float_array(pred_probs, name, dask="pass a 2-D dask array or compute it")
    if pred_probs.ndim != 2:
        raise LabelAuditError(
            f"`{name}` must be 2-D (n_samples, n_classes), got shape {pred_probs.shape}."
        )
    if pred_probs.dtype not in (np.float32, np.float64):
        raise LabelAuditError(
            f"Only float32 or float64 `{name}` are supported, got dtype={pred_probs.dtype}."
        )
    n, k = pred_probs.shape
    if any(d != d for d in pred_probs.shape):  # NaN: a dask array of unknown size
        raise LabelAuditError(
            f"`{name}` is a dask array of unknown shape {pred_probs.shape}: call "
            "`compute_chunk_sizes()` on it first."
        )
    if n == 0 or k == 0:
        raise LabelAuditError(f"`{name}` needs at least one row and one column, got shape {pred_probs.shape}.")
    if lazy:
        blocks = dask_row_blocks(pred_probs)
    else:
        if not pred_probs.flags.c_contiguous:
            pred_probs = np.ascontiguousarray(pred_probs)
        step = max(1, _SCAN_ROWS // max(k, 1))
        blocks = ((start, pred_probs[start:start + step]) for start in range(0, n, step))
    for start, block in blocks:
        bad = ~((block >= -RANGE_TOLERANCE) & (block <= 1 + RANGE_TOLERANCE))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise LabelAuditError(
                f"`{name}` row {start + row}, column {col}: values must be probabilities in [0, 1], "
                f"got {block[row, col]!r}."
            )
    return pred_probs


#: Items per block when label sets are packed into bits (bounds the temporaries).
_LABEL_BLOCK = 1 << 14


def check_multilabel_labels(labels, n_rows: int, n_classes: int, *,
                            name: str = "labels") -> np.ndarray:
    """Return multi-label ``labels`` as packed bits, ``np.packbits(onehot, axis=1)``.

    Parameters
    ----------
    labels : sequence of iterables of int
        One iterable of class indices per item (``[[0, 2], [], [1]]``), as
        cleanlab takes them; repeats within an item count once, an empty
        iterable is an item with no class. Integral floats and booleans count
        as the integers they equal (as in cleanlab).
    n_rows : int
        Rows of ``pred_probs``.
    n_classes : int
        Columns of ``pred_probs`` (the classes ``0..K-1``).
    name : str
        Parameter name used in messages.

    Returns
    -------
    ndarray of uint8, shape (n_rows, ceil(n_classes / 8))
        Bit ``7 - c % 8`` of byte ``c // 8`` is set when the item carries
        class ``c`` (one bit per pair: an eighth of a uint8 indicator matrix).

    Raises
    ------
    LabelAuditError
        For a non-sequence, a wrong length, a row that is not an iterable of
        integers, or a class index outside ``0..K-1`` (cleanlab drops those
        with a warning; here they are an error naming the row).
    """
    import itertools

    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise LabelAuditError(
            f"`{name}` must be a list with one list of class indices per item, got {type(labels).__name__}."
        )
    if isinstance(labels, np.ndarray) and labels.dtype == bool:
        raise LabelAuditError(
            f"`{name}` is a boolean matrix; pass one list of class indices per item "
            "(e.g. `[np.flatnonzero(row).tolist() for row in matrix]`)."
        )
    if len(labels) != n_rows:
        raise LabelAuditError(
            f"`{name}` must have one entry per row of pred_probs: got {len(labels)} entries "
            f"and {n_rows} rows."
        )
    bits = np.zeros((n_rows, (n_classes + 7) // 8), dtype=np.uint8)
    for start in range(0, n_rows, _LABEL_BLOCK):
        rows = labels[start:start + _LABEL_BLOCK]
        if not isinstance(rows, (list, tuple, np.ndarray)):
            rows = list(itertools.islice(labels, start, start + _LABEL_BLOCK))
        onehot = np.zeros((len(rows), n_classes), dtype=np.uint8)
        try:  # fast path: every row a sized iterable of numbers
            if any(isinstance(row, (str, bytes)) for row in rows):
                raise TypeError
            lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
            flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64,
                               count=int(lengths.sum()))
        except (TypeError, ValueError, OverflowError):
            flat = None
        if flat is not None and not (((flat < 0) | (flat >= n_classes)
                                      | (flat != np.floor(flat))).any()):
            onehot[np.repeat(np.arange(len(rows)), lengths), flat.astype(np.intp)] = 1
        else:
            for i, row in enumerate(rows):  # slow path: find the row to name
                _set_label_row(onehot, i, row, start + i, n_classes, name)
        bits[start:start + len(rows)] = np.packbits(onehot, axis=1)
    return bits


def _set_label_row(onehot, i, row, position, n_classes, name):
    """Set one item's classes in ``onehot[i]``, or raise naming ``position``."""
    if isinstance(row, (str, bytes)) or not hasattr(row, "__iter__"):
        raise LabelAuditError(
            f"`{name}` row {position}: expected a list of class indices, got {_short(row)}."
        )
    values = list(row)
    if not values:
        return
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
        raise LabelAuditError(
            f"`{name}` row {position}: class indices must be integers, got {_short(values)}."
        )
    if arr.min() < 0 or arr.max() >= n_classes:
        raise LabelAuditError(
            f"`{name}` row {position}: class indices must be in 0..{n_classes - 1} "
            f"(pred_probs has {n_classes} columns), got {_short(values)}."
        )
    onehot[i, arr.astype(np.intp)] = 1


def unpack_multilabel_labels(bits: np.ndarray, n_classes: int) -> np.ndarray:
    """The uint8 ``(n, K)`` indicator matrix of packed label bits (for small inputs)."""
    return np.unpackbits(bits, axis=1, count=n_classes)


# --------------------------------------------------------------------------- regression
# Checks of numeric labels and predictions (labelaudit.regression). cleanlab's
# rules are kept (one number per item after squeezing length-1 axes, a numeric
# dtype, no NaN) so every input it scores is accepted here; only the messages
# are sharper.

#: Label quality methods of :func:`labelaudit.regression.rank.get_label_quality_scores`.
REGRESSION_METHODS = ("residual", "outre")


def check_regression_vector(values, *, name: str) -> np.ndarray:
    """One number per item: ``values`` as a 1-D numeric array (length-1 axes squeezed).

    Parameters
    ----------
    values : array-like
        Labels or predictions.
    name : str
        Parameter name used in messages.

    Returns
    -------
    numpy.ndarray
        1-D, numeric (any numpy number dtype), not copied when it need not be.
    """
    try:
        arr = np.asarray(values)
    except Exception as exc:  # noqa: BLE001 - anything numpy cannot read
        raise InputError(f"`{name}` must be array-like numbers: {exc}") from None
    if arr.size == 0:
        raise InputError(f"`{name}` is empty: give one number per item.")
    shape = arr.shape
    arr = np.squeeze(arr)
    if arr.ndim != 1:
        raise InputError(f"`{name}` must hold one number per item for at least 2 items "
                         f"(a 1-D array once length-1 axes are dropped), got shape {shape}.")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"`{name}` must be numeric, got dtype {arr.dtype}.")
    return arr


def check_regression_inputs(labels, predictions, *, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Check labels, predictions and method of a regression label quality call.

    NaN is looked for by the callers' first pass (it costs nothing there);
    :func:`regression_missing_error` words the message.

    Parameters
    ----------
    labels, predictions : array-like
    method : str

    Returns
    -------
    labels, predictions : numpy.ndarray
        1-D numeric arrays of the same length.
    """
    labels = check_regression_vector(labels, name="labels")
    predictions = check_regression_vector(predictions, name="predictions")
    if labels.shape != predictions.shape:
        raise InputError(f"`labels` and `predictions` must have one value per item each: got "
                         f"{labels.shape[0]} labels and {predictions.shape[0]} predictions.")
    if not isinstance(method, str) or method not in REGRESSION_METHODS:
        raise InputError(f"`method` must be one of {', '.join(map(repr, REGRESSION_METHODS))}, "
                         f"got {method!r}.")
    return labels, predictions


def regression_float_pair(labels: np.ndarray, predictions: np.ndarray):
    """Both arrays as C-contiguous float32 or float64 of one dtype, or None.

    None means the pair is not float32/float64 (integers, float16, complex):
    those keep numpy's own arithmetic, as cleanlab does, so results and result
    dtypes match it exactly. A float32/float64 mix is promoted to float64
    (numpy's rule for their difference).
    """
    kinds = {labels.dtype, predictions.dtype}
    if not kinds <= {np.dtype(np.float32), np.dtype(np.float64)}:
        return None
    dtype = np.result_type(labels.dtype, predictions.dtype)
    return (np.ascontiguousarray(labels, dtype=dtype),
            np.ascontiguousarray(predictions, dtype=dtype))


def regression_missing_error(labels: np.ndarray, predictions: np.ndarray) -> InputError | None:
    """The error for the first NaN in ``labels`` (else ``predictions``), or None without NaN."""
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.dtype.kind in "fc":
            rows = np.flatnonzero(np.isnan(values))
            if rows.size:
                return InputError(f"`{name}` cannot contain missing values: row {int(rows[0])} is "
                                  f"NaN ({rows.size} NaN in all); drop or fill those items first.")
    return None


def numeric_values(values, *, source: str, role: str) -> np.ndarray:
    """Numbers read from a table column or an array file, as float32 or float64.

    Parameters
    ----------
    values : polars.Series or numpy.ndarray
        The column or the (1-D, or ``(n, 1)``) array as read.
    source : str
        Where they come from, for messages (``"data file 'd.csv', column 'y'"``).
    role : str
        What they are (``"labels"``, ``"predictions"``).

    Returns
    -------
    numpy.ndarray of shape (n,)
        float32 and float64 stay as stored (no copy for a contiguous float
        array); integers become float64.

    Raises
    ------
    InputError
        A non-numeric type, a missing value (null or NaN) or an infinity,
        naming the first such row.

    Examples
    --------
    >>> import polars as pl
    >>> numeric_values(pl.Series("y", [1.5, None]), source="data file 'd.csv', column 'y'",
    ...                role="labels")
    Traceback (most recent call last):
    ...
    labelaudit.exceptions.InputError: data file 'd.csv', column 'y': labels must be numbers, row 1 is missing
    """
    if hasattr(values, "null_count"):  # polars Series
        series = values
        if not series.dtype.is_numeric() or series.dtype.is_decimal():
            present = series.is_not_null()
            row = int(present.arg_true()[0]) if present.any() else 0
            raise InputError(f"{source}: {role} must be numbers, got type {series.dtype} (row "
                             f"{row} is {_short(series[row] if series.len() else None)})")
        if series.null_count():
            row = int(series.is_null().arg_true()[0])
            raise InputError(f"{source}: {role} must be numbers, row {row} is missing")
        arr = series.to_numpy()
    else:
        arr = np.asarray(values)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise InputError(f"{source}: {role} must be one number per item (a 1-D array), got "
                             f"shape {arr.shape}")
        if arr.dtype.kind not in "fiu":
            raise InputError(f"{source}: {role} must be numbers, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    arr = np.ascontiguousarray(arr)
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        what = "missing (NaN)" if np.isnan(arr[row]) else f"{arr[row]}"
        raise InputError(f"{source}: {role} must be finite numbers, row {row} is {what}")
    return arr


# --------------------------------------------------------------------------- segmentation
# Checks for (N, K, H, W) probabilities and (N, H, W) label masks. The arrays
# themselves are never copied whole: probabilities are used in place (memory
# maps stay on disk) and labels are coerced one block of images at a time.


def check_segmentation_probs(pred_probs, *, name: str = "pred_probs") -> np.ndarray:
    """Return ``pred_probs`` as a C-contiguous 4-D float32/float64 array, without copying.

    Parameters
    ----------
    pred_probs : array-like of shape (N, K, H, W)
        Per-pixel class probabilities. A C-contiguous float32 or float64 array
        (a read-only memory map included) is returned as is.
    name : str
        Parameter name used in messages.

    Returns
    -------
    numpy.ndarray
        The probabilities.

    Raises
    ------
    LabelAuditError
        If the array is not 4-D, has an empty dimension or an unsupported dtype.
    """
    dask = _is_dask(pred_probs)
    arr = pred_probs if isinstance(pred_probs, np.ndarray) or dask else np.asarray(pred_probs)
    if arr.ndim != 4:
        raise LabelAuditError(
            f"`{name}` must have shape (N, K, H, W), got {arr.ndim}-D with shape {arr.shape}.")
    if arr.dtype not in (np.float32, np.float64):
        raise LabelAuditError(
            f"Only float32 or float64 `{name}` are supported, got dtype={arr.dtype}.")
    if 0 in arr.shape or any(d != d for d in arr.shape):  # NaN: a dask array of unknown size
        raise LabelAuditError(f"`{name}` has an empty or unknown dimension: shape {arr.shape}.")
    if not dask and not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    return arr


def _is_dask(values) -> bool:
    return hasattr(values, "__dask_graph__") and hasattr(values, "ndim")


def dask_row_blocks(values, start: int = 0, stop: int | None = None, columns=slice(None)):
    """Yield ``(first row, ndarray)`` for the rows ``start:stop`` of a 2-D dask array.

    The rows are computed one band at a time, a band being the array's own row
    chunks merged up to about :data:`_SCAN_ROWS` values (never less than one
    chunk), so only that band is ever in memory. ``columns`` (a slice) selects
    the columns computed. Each block is C-contiguous.
    """
    stop = values.shape[0] if stop is None else stop
    width = len(range(*columns.indices(values.shape[1])))
    bounds = np.cumsum((0, *values.chunks[0]))
    a = start
    while a < stop:
        b = int(bounds[np.searchsorted(bounds, a, side="right")])  # end of a's chunk
        while b < stop and (b - a) * max(width, 1) < _SCAN_ROWS:
            b = int(bounds[np.searchsorted(bounds, b, side="right")])
        b = min(b, stop)
        yield a, np.ascontiguousarray(values[a:b, columns].compute())
        a = b


def segmentation_prob_block(block) -> np.ndarray:
    """One block of (n, K, H, W) probabilities as a C-contiguous ndarray for the kernels.

    A view of an ndarray (a memory map included) is returned as is when it is
    C-contiguous; a block of a dask array is computed (only that block).
    """
    if _is_dask(block):
        block = block.compute()
    return np.ascontiguousarray(block)


def check_segmentation_masks(labels, pred_probs: np.ndarray, *, name: str = "labels"):
    """Check that ``labels`` is an (N, H, W) mask matching ``pred_probs`` (N, K, H, W).

    Only the shape and dtype kind are checked here (values are checked block by
    block in :func:`segmentation_label_block`), so a memory-mapped mask is not read.

    Returns
    -------
    numpy.ndarray
        ``labels`` as an array (not copied when it already is one).
    """
    arr = labels if isinstance(labels, np.ndarray) or _is_dask(labels) else np.asarray(labels)
    if arr.ndim != 3:
        raise LabelAuditError(
            f"`{name}` must have shape (N, H, W), got {arr.ndim}-D with shape {arr.shape}.")
    n, _, h, w = pred_probs.shape
    if arr.shape != (n, h, w):
        raise LabelAuditError(
            f"`{name}` has shape {arr.shape} but pred_probs {pred_probs.shape} needs "
            f"({n}, {h}, {w}): N, H and W must match.")
    if arr.dtype.kind not in "biuf":
        raise LabelAuditError(f"`{name}` must hold integer class indices, got dtype={arr.dtype}.")
    return arr


def segmentation_label_block(block, n_classes: int, *, start: int = 0,
                             name: str = "labels") -> np.ndarray:
    """Coerce one block of label masks to C-contiguous intp, checking every value is a class.

    Parameters
    ----------
    block : numpy.ndarray of shape (n, H, W)
        Labels of images ``start .. start + n - 1``.
    n_classes : int
        K; every label must be an integer in ``0 .. K - 1``.
    start : int
        Index of the block's first image (for messages).
    name : str
        Parameter name used in messages.

    Returns
    -------
    numpy.ndarray of intp
    """
    arr = np.asarray(block)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.floor(arr))
        if bad.any():
            m, i, j = np.argwhere(bad)[0]
            raise LabelAuditError(
                f"`{name}`[{start + m}, {i}, {j}] = {arr[m, i, j]!r} is not a class index "
                "(labels must be whole numbers).")
    out = np.ascontiguousarray(arr, dtype=np.intp)
    bad = (out < 0) | (out >= n_classes)
    if bad.any():
        m, i, j = np.argwhere(bad)[0]
        raise LabelAuditError(
            f"`{name}`[{start + m}, {i}, {j}] = {out[m, i, j]} is outside 0 .. {n_classes - 1} "
            f"(pred_probs has {n_classes} classes).")
    return out


def check_segmentation_issues(issues, shape: tuple, *, name: str = "issues") -> np.ndarray:
    """Check a per-pixel issue mask of ``shape`` (N, H, W) and return it as an array."""
    arr = issues if isinstance(issues, np.ndarray) else np.asarray(issues)
    if arr.shape != tuple(shape):
        raise LabelAuditError(f"`{name}` must have shape {tuple(shape)}, got {arr.shape}.")
    if arr.dtype.kind not in "biuf":
        raise LabelAuditError(f"`{name}` must be a boolean mask, got dtype={arr.dtype}.")
    return arr


def segmentation_flag_block(block) -> np.ndarray:
    """One block of an issue mask as C-contiguous uint8 (1 where the pixel is flagged)."""
    arr = np.asarray(block)
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr).view(np.uint8)
    return np.ascontiguousarray(arr != 0).view(np.uint8)


# --------------------------------------------------------------------------- probability vectors
# The command line's check of token (T, K) and pixel (N, K, H, W) probabilities: every
# value finite and in [0, 1], every vector along the class axis (axis 1) summing to 1.
# The drop-in functions keep cleanlab's looser rules; this is for `labelaudit audit`.

#: Bytes of probabilities reduced at once by :func:`check_probability_vectors`: small
#: enough that the three reductions over a chunk read it from the CPU cache.
_VECTOR_CHECK_BYTES = 4 << 20


def _probability_chunks(arr: np.ndarray):
    """Yield ``(index of the chunk's first vector, chunk)`` over ``arr``, in index order.

    A chunk is a view of at most about :data:`_VECTOR_CHECK_BYTES`: whole items
    (rows of a 2-D matrix, images of a 4-D array), or, for a 4-D image larger
    than that, a band of its pixel rows. Every chunk keeps the class axis 1.
    """
    n = arr.shape[0]
    per_item = max(1, int(np.prod(arr.shape[1:])) * arr.itemsize)
    if arr.ndim != 4 or per_item <= _VECTOR_CHECK_BYTES:
        step = max(1, _VECTOR_CHECK_BYTES // per_item)
        for start in range(0, n, step):
            yield (start,) + (0,) * (arr.ndim - 2), arr[start:start + step]
        return
    _, k, h, w = arr.shape
    rows = max(1, _VECTOR_CHECK_BYTES // (k * w * arr.itemsize))
    for image in range(n):
        for row in range(0, h, rows):
            yield (image, row, 0), arr[image:image + 1, :, row:row + rows]


def check_probability_vectors(pred_probs: np.ndarray, *, where, class_names=None,
                              unit_sums: bool = True, sum_hint: str = "") -> None:
    """Refuse probabilities that are not finite, not in [0, 1] or do not sum to 1 per vector.

    The array is read in chunks of about 4 MiB (views, so a read-only memory
    map stays on disk and no full-size temporary is made): per chunk its
    minimum, its maximum and the float64 sums over the class axis. Only the
    chunk holding the first bad vector is looked at value by value, to name it.

    Parameters
    ----------
    pred_probs : numpy.ndarray of shape (T, K) or (N, K, H, W)
        float32 or float64 probabilities with the classes on axis 1: one row
        per token, or one vector per pixel of each image.
    where : callable
        ``where(index)`` returns the start of the message for the vector at
        ``index`` (``(t,)`` for a row, ``(image, row, column)`` for a pixel),
        naming the file and the position, e.g. ``"probabilities file 'p.npy':
        image 3, pixel (row 2, column 7)"``.
    class_names : sequence of str, optional
        Class names in column order, for the message.
    unit_sums : bool, default True
        Whether each vector must sum to 1 within :data:`ROW_SUM_TOLERANCE`;
        with False its sum must only be positive (the vectors are about to
        be divided by their sums).
    sum_hint : str, default ""
        Advice appended to the message about a sum.

    Raises
    ------
    InputError
        For the first bad vector in index order: its first non-finite value,
        else its first value outside [0, 1] (beyond :data:`RANGE_TOLERANCE`),
        else its sum, naming the class and the value.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.2, 0.8], [0.5, 0.6]])
    >>> check_probability_vectors(p, where=lambda i: f"file 'p.npy': row {i[0]}")
    Traceback (most recent call last):
    ...
    labelaudit.exceptions.InputError: file 'p.npy': row 1: its 2 class probabilities sum to 1.1, not 1 (tolerance 0.001)
    """
    arr = np.asarray(pred_probs)
    if arr.ndim not in (2, 4) or arr.dtype not in (np.float32, np.float64) or 0 in arr.shape:
        raise LabelAuditError(
            f"probabilities to check must be a non-empty float32/float64 (T, K) or (N, K, H, W) "
            f"array, got {arr.dtype} {arr.shape}.")
    low, high = -RANGE_TOLERANCE, 1 + RANGE_TOLERANCE
    for first, chunk in _probability_chunks(arr):
        # NaN makes min/max NaN and fails both comparisons; an infinity fails one.
        if chunk.min() >= low and chunk.max() <= high:
            sums = np.add.reduce(chunk, axis=1, dtype=np.float64)
            if (sums.min() >= 1 - ROW_SUM_TOLERANCE and sums.max() <= 1 + ROW_SUM_TOLERANCE
                    if unit_sums else sums.min() > 0):
                continue
        _raise_for_vector_chunk(chunk, first, where, class_names, unit_sums, sum_hint)


def _raise_for_vector_chunk(chunk: np.ndarray, first: tuple, where, class_names,
                            unit_sums: bool, sum_hint: str) -> None:
    """The message for the first bad vector of ``chunk`` (whose first vector is at ``first``)."""
    nonfinite = ~np.isfinite(chunk)
    outside = (chunk < -RANGE_TOLERANCE) | (chunk > 1 + RANGE_TOLERANCE)
    with np.errstate(invalid="ignore"):
        sums = np.add.reduce(chunk, axis=1, dtype=np.float64)
    # The same comparisons as the scan's, so the chunk it stopped at holds a bad vector.
    bad_sum = (~((sums >= 1 - ROW_SUM_TOLERANCE) & (sums <= 1 + ROW_SUM_TOLERANCE))
               if unit_sums else ~(sums > 0))
    bad = nonfinite.any(axis=1) | outside.any(axis=1) | bad_sum
    position = tuple(int(i) for i in np.argwhere(bad)[0])
    index = tuple(a + b for a, b in zip(first, position, strict=True))
    vector = np.asarray(chunk[(position[0], slice(None), *position[1:])], dtype=np.float64)
    prefix = where(index)

    def name(j: int) -> str:
        if class_names is None or str(class_names[j]) == str(j):
            return f"class {j}"
        return f"class {str(class_names[j])!r} (index {j})"

    bad = _bad_probability(vector)
    if bad is not None:
        raise InputError(f"{prefix}, {name(bad[0])} is {bad[1]}")
    total = float(sums[position])
    hint = f"; {sum_hint}" if sum_hint else ""
    if not unit_sums:
        raise InputError(f"{prefix}: its {vector.size} class probabilities sum to {total:.6g}; "
                         f"a vector can only be divided by a positive sum{hint}")
    raise InputError(f"{prefix}: its {vector.size} class probabilities sum to {total:.6g}, not 1 "
                     f"(tolerance {ROW_SUM_TOLERANCE:g}){hint}")


def check_positive_int(value, *, name: str) -> int:
    """Return ``value`` as an int, refusing anything that is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise LabelAuditError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)
