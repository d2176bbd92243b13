"""Readers and writers for every file format labelaudit understands.

This is the only module that knows file formats. Everything else receives
polars DataFrames or NumPy arrays.

Readers
    :func:`read_table` (CSV, TSV, Parquet, JSON Lines, Label Studio JSON),
    :func:`load_pred_probs` (``.npy`` memory map, ``.npz``, probability tables).
Schema and identity helpers
    :func:`require_columns`, :func:`encode_labels`, :func:`item_ids`,
    :func:`align_by_id`.
Writers (atomic: a reader never sees a half-written file)
    :func:`atomic_write`, :func:`write_text`, :func:`write_json`,
    :func:`write_parquet`, :func:`write_csv`.
Provenance
    :func:`file_fingerprint`.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
import secrets
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl

from .exceptions import InputError, LabelAuditWarning

__all__ = [
    "align_by_id",
    "atomic_write",
    "encode_labels",
    "file_fingerprint",
    "item_ids",
    "load_pred_probs",
    "read_table",
    "require_columns",
    "write_csv",
    "write_json",
    "write_parquet",
    "write_text",
]

_CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
_TEXT_SUFFIXES = {".csv", ".tsv", ".jsonl", ".ndjson", ".json"}
_DELIMITER_CANDIDATES = (";", "\t", "|", ",")
_BLOCK_SIZE = 1 << 20  # 1 MiB: large enough for throughput, small enough for memory
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_LS_RESERVED = ("item_id", "annotator", "label", "created_at")


# --------------------------------------------------------------------------- readers


def read_table(
    path: str | os.PathLike[str], *, what: str = "data", columns: Sequence[str] | None = None
) -> pl.DataFrame:
    """Read a table from CSV, TSV, Parquet, JSON Lines or a Label Studio export.

    The format is chosen by the file extension; a directory is a Parquet
    dataset (see :func:`parquet_dataset_files`), scanned lazily so that only
    ``columns`` are read:

    - ``.csv`` (comma) and ``.tsv`` (tab): delimited text, UTF-8, header row.
    - ``.parquet`` and ``.pq``: Apache Parquet.
    - ``.jsonl`` and ``.ndjson``: one JSON object per line.
    - ``.json``: a Label Studio export (a JSON list of tasks), flattened to a
      long table with one row per annotation (see Notes).

    Parameters
    ----------
    path : str or os.PathLike
        File to read.
    what : str, default "data"
        What the file holds (for instance ``"labels"`` or ``"annotations"``),
        used only to make error messages clearer.
    columns : sequence of str, optional
        Keep only these columns (an error names any that is missing). Parquet
        files and datasets read only these columns from storage.

    Returns
    -------
    polars.DataFrame
        The table, with at least one row.

    Raises
    ------
    InputError
        If the file is missing, empty, not UTF-8 (for text formats; the message
        gives the byte offset and line), not readable as its format, or a CSV
        whose single column header suggests another delimiter.

    Notes
    -----
    A Label Studio classification export becomes one row per non-cancelled
    annotation with the columns ``item_id`` (the task ``id``), ``annotator``
    (``completed_by``: its ``id``, else its ``email``, as a string), ``label``
    (the single choice of the annotation), ``created_at`` (UTC datetime, when
    present) and the task's ``data`` fields as extra columns (prefixed with
    ``data_`` when they collide with those names). Annotations without any
    choice are skipped with a :class:`~labelaudit.exceptions.LabelAuditWarning`;
    annotations with more than one choice are an error.

    CSV column types are inferred from the first 10 000 rows.
    """
    path = Path(path)
    if path.is_dir():
        return _read_parquet_dataset(path, what, columns)
    _check_file(path, what)
    suffix = path.suffix.lower()
    if suffix in _TEXT_SUFFIXES:
        _reject_utf16(path, what)
    if suffix in _CSV_SUFFIXES:
        df = _read_csv(path, what, _CSV_SUFFIXES[suffix])
    elif suffix in _PARQUET_SUFFIXES:
        if columns is not None:
            schema = _read_with(pl.read_parquet_schema, path, what, "Parquet")
            _require_in_schema(schema, columns, f"{what} file '{path}'")
        df = _read_with(pl.read_parquet, path, what, "Parquet", columns=columns)
    elif suffix in _JSONL_SUFFIXES:
        df = _read_with(pl.read_ndjson, path, what, "JSON Lines")
    elif suffix == ".json":
        df = _read_label_studio(path, what)
    else:
        raise InputError(
            f"{what} file '{path}': unsupported extension {path.suffix!r}; expected one of "
            ".csv, .tsv, .parquet, .pq, .jsonl, .ndjson, .json (Label Studio export)"
        )
    if df.height == 0:
        raise InputError(f"{what} file '{path}' has no data rows")
    if columns is not None:
        require_columns(df, columns, source=f"{what} file '{path}'")
        df = df.select(columns)
    return df


def parquet_dataset_files(path: str | os.PathLike[str], *, what: str = "data") -> list[Path]:
    """The Parquet files of a dataset directory, in row order.

    Files ending in ``.parquet`` or ``.pq`` anywhere below ``path`` are taken
    in sorted path order (zero-padded part numbers sort as written); partition
    values encoded in directory names are not turned into columns.

    Parameters
    ----------
    path : str or os.PathLike
        The dataset directory.
    what : str, default "data"
        What the dataset holds, for error messages.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    InputError
        If the directory holds no Parquet file.
    """
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _PARQUET_SUFFIXES)
    if not files:
        raise InputError(f"{what} directory '{path}' holds no .parquet files")
    return files


def _require_in_schema(schema: Any, columns: Sequence[str], source: str) -> None:
    require_columns(pl.DataFrame(schema=dict(schema)), columns, source=source)


def _read_parquet_dataset(path: Path, what: str, columns: Sequence[str] | None) -> pl.DataFrame:
    """A Parquet dataset directory, scanned lazily (only ``columns`` are read)."""
    files = parquet_dataset_files(path, what=what)
    source = f"{what} directory '{path}'"
    try:
        lazy = pl.scan_parquet(files, hive_partitioning=False)
        if columns is not None:
            _require_in_schema(lazy.collect_schema(), columns, source)
            lazy = lazy.select(columns)
        df = lazy.collect()
    except InputError:
        raise
    except (pl.exceptions.PolarsError, OSError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"{source}: not a readable Parquet dataset ({detail})") from exc
    if df.height == 0:
        raise InputError(f"{source} has no data rows")
    return df


def _check_file(path: Path, what: str) -> None:
    """Raise if ``path`` is not an existing, non-empty regular file."""
    if not path.exists():
        raise InputError(f"{what} file '{path}' does not exist")
    if not path.is_file():
        raise InputError(f"{what} file '{path}' is not a regular file")
    if path.stat().st_size == 0:
        raise InputError(f"{what} file '{path}' is empty (0 bytes)")


def _reject_utf16(path: Path, what: str) -> None:
    """Raise for text files that start with a UTF-16 or UTF-32 byte-order mark."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        raise InputError(
            f"{what} file '{path}' is not valid UTF-8: it starts with a UTF-16/UTF-32 "
            "byte-order mark; re-save it as UTF-8"
        )


def _read_with(reader: Any, path: Path, what: str, fmt: str, **kwargs: Any) -> pl.DataFrame:
    """Call a polars reader and turn its failures into one-line InputErrors."""
    try:
        return reader(path, **kwargs)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise _read_error(path, what, fmt, exc) from exc


def _read_error(path: Path, what: str, fmt: str, exc: BaseException) -> InputError:
    """Build the error for a file that polars could not parse."""
    if path.suffix.lower() in _TEXT_SUFFIXES:
        bad = _first_invalid_utf8(path)
        if bad is not None:
            return InputError(f"{what} file '{path}' is not valid UTF-8: {bad}")
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return InputError(f"{what} file '{path}' is not a readable {fmt} file: {detail}")


def _first_invalid_utf8(path: Path) -> str | None:
    """Locate the first byte that is not valid UTF-8, streaming in 1 MiB blocks.

    Returns
    -------
    str or None
        A description such as ``"invalid byte 0xff at byte offset 12 (line 3)"``,
        or None when the whole file decodes.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes fully decoded so far
    line = 1
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK_SIZE):
            pending = decoder.getstate()[0]
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                # exc.object is the pending tail of the previous block plus this block.
                start = offset - len(pending) + exc.start
                valid = (pending + block)[: exc.start]
                line += valid.count(b"\n")
                byte = exc.object[exc.start]
                return f"invalid byte 0x{byte:02x} at byte offset {start} (line {line})"
            line += block.count(b"\n")
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return f"truncated multi-byte sequence at the end of the file (line {line})"
    return None


def _read_csv(path: Path, what: str, separator: str) -> pl.DataFrame:
    """Read delimited text and reject tables that were split on the wrong delimiter."""
    df = _read_with(
        pl.read_csv,
        path,
        what,
        "TSV" if separator == "\t" else "CSV",
        separator=separator,
        infer_schema_length=10_000,
    )
    if df.width == 1:
        header = df.columns[0]
        for cand in _DELIMITER_CANDIDATES:
            if cand != separator and cand in header:
                raise InputError(
                    f"{what} file '{path}' has a single column {header!r} and looks "
                    f"{cand!r}-delimited; expected {separator!r}-delimited "
                    f"({'.tsv' if separator == chr(9) else '.csv'})"
                )
    return df


def _read_label_studio(path: Path, what: str) -> pl.DataFrame:
    """Flatten a Label Studio classification export into one row per annotation."""
    try:
        with path.open("rb") as fh:
            tasks = json.loads(fh.read().decode("utf-8"))
    except UnicodeDecodeError as exc:
        bad = _first_invalid_utf8(path) or f"byte offset {exc.start}"
        raise InputError(f"{what} file '{path}' is not valid UTF-8: {bad}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} file '{path}' is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from exc
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise InputError(
            f"{what} file '{path}' is not a Label Studio export: expected a JSON list of "
            "task objects"
        )
    rows: list[dict[str, Any]] = []
    n_empty = 0
    for index, task in enumerate(tasks):
        task_rows, empty = _label_studio_task_rows(task, index, path, what)
        rows.extend(task_rows)
        n_empty += empty
    if n_empty:
        warnings.warn(
            f"{what} file '{path}': skipped {n_empty} annotation(s) without a choice",
            LabelAuditWarning,
            stacklevel=3,
        )
    if not rows:
        raise InputError(
            f"{what} file '{path}' has no completed classification annotations "
            "(annotations[].result[].value.choices)"
        )
    return _label_studio_frame(rows, path, what)


def _label_studio_task_rows(
    task: dict[str, Any], index: int, path: Path, what: str
) -> tuple[list[dict[str, Any]], int]:
    """Return the rows of one task and the number of annotations without a choice."""
    if "id" not in task:
        raise InputError(
            f"{what} file '{path}': task at position {index} has no 'id'; is this a "
            "Label Studio JSON export?"
        )
    task_id = task["id"]
    data = task.get("data") or {}
    extra = {(f"data_{k}" if k in _LS_RESERVED else str(k)): v for k, v in data.items()}
    rows, n_empty = [], 0
    for ann in task.get("annotations") or []:
        if ann.get("was_cancelled"):
            continue
        choices = [
            choice
            for result in ann.get("result") or []
            for choice in (result.get("value") or {}).get("choices") or []
        ]
        if not choices:
            n_empty += 1
            continue
        if len(choices) > 1:
            raise InputError(
                f"{what} file '{path}': task {task_id!r} annotation {ann.get('id')!r} has "
                f"{len(choices)} choices {choices!r}; expected exactly one"
            )
        row = {
            "item_id": task_id,
            "annotator": _annotator_id(ann.get("completed_by")),
            "label": choices[0],
        }
        if ann.get("created_at") is not None:
            row["created_at"] = ann["created_at"]
        row.update(extra)
        rows.append(row)
    return rows, n_empty


def _annotator_id(completed_by: Any) -> str | None:
    """Return an annotator id string from an int, a string or a user dict."""
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("id", completed_by.get("email"))
    return None if completed_by is None else str(completed_by)


def _label_studio_frame(rows: list[dict[str, Any]], path: Path, what: str) -> pl.DataFrame:
    """Build the long annotation table and parse ``created_at`` as UTC datetimes."""
    try:
        df = pl.DataFrame(rows, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise InputError(
            f"{what} file '{path}': task data fields have inconsistent types: {detail}"
        ) from exc
    if "created_at" in df.columns and df.schema["created_at"] == pl.String:
        with contextlib.suppress(pl.exceptions.PolarsError):
            df = df.with_columns(
                pl.col("created_at").str.to_datetime(time_unit="us", time_zone="UTC")
            )
    return df


# --------------------------------------------------------------------------- schema helpers


def require_columns(df: pl.DataFrame, columns: Sequence[str], *, source: str) -> None:
    """Raise unless every column in ``columns`` is present in ``df``.

    Parameters
    ----------
    df : polars.DataFrame
        Table to check.
    columns : sequence of str
        Required column names.
    source : str
        Name of the table or file, used in the message.

    Raises
    ------
    InputError
        Naming every missing column and listing the available ones.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {_quote(missing)}; available columns: "
            f"{_quote(df.columns)}"
        )


def encode_labels(
    values: pl.Series,
    *,
    classes: Sequence[Any] | None = None,
    source: str,
    column: str,
) -> tuple[np.ndarray, list[str]]:
    """Map labels to integer codes ``0..K-1`` with a stable class order.

    Parameters
    ----------
    values : polars.Series
        Given labels: strings, integers (or integral floats), booleans (as
        ``"0"``/``"1"``) or categoricals. Null labels are not allowed.
    classes : sequence, optional
        The class list, in code order. Every label must be one of them
        (compared by their string form). When omitted, the classes are the
        sorted distinct labels: integers numerically, strings
        lexicographically.
    source : str
        Name of the table or file, used in messages.
    column : str
        Name of the label column, used in messages.

    Returns
    -------
    codes : numpy.ndarray of shape (n,), dtype=intp
        Code of each label.
    class_names : list of str
        ``class_names[k]`` is the label with code ``k``.

    Raises
    ------
    InputError
        On a null label, a non-integral float label, duplicate ``classes``,
        or a label not in ``classes`` (naming the first offending row, 0-based,
        and value).
    """
    names = _labels_as_strings(values, source, column)
    nulls = names.is_null()
    if nulls.any():
        row = int(nulls.arg_true()[0])
        raise InputError(f"{source}: column {column!r} has a null label at row {row}")
    if classes is None:
        class_names = _sorted_classes(values, names)
    else:
        class_names = _checked_classes(classes, names, source, column)
    codes = names.replace_strict(class_names, range(len(class_names)), return_dtype=pl.Int64)
    return codes.to_numpy().astype(np.intp, copy=False), class_names


def _labels_as_strings(values: pl.Series, source: str, column: str) -> pl.Series:
    """Return the labels as a String series (integral floats become ints first)."""
    dtype = values.dtype
    if dtype.is_float():
        finite = values.drop_nulls()
        bad = finite.filter(finite != finite.round(0))
        if bad.len():
            raise InputError(
                f"{source}: column {column!r} has non-integer label {bad[0]!r}; labels must "
                "be strings or integers"
            )
        values = values.cast(pl.Int64)
    elif dtype == pl.Boolean:
        values = values.cast(pl.Int64)
    return values.cast(pl.String)


def _sorted_classes(values: pl.Series, names: pl.Series) -> list[str]:
    """Sorted distinct labels: numerically for numeric labels, else lexicographically."""
    if values.dtype.is_numeric() or values.dtype == pl.Boolean:
        uniq = names.cast(pl.Int64).unique().sort()
        return [str(v) for v in uniq.to_list()]
    return names.unique().sort().to_list()


def _checked_classes(
    classes: Sequence[Any], names: pl.Series, source: str, column: str
) -> list[str]:
    """Validate a user-given class list against the labels."""
    class_names = [str(c) for c in classes]
    seen: set[str] = set()
    for name in class_names:
        if name in seen:
            raise InputError(f"classes: duplicate class {name!r}")
        seen.add(name)
    unknown = ~names.is_in(pl.Series(class_names, dtype=pl.String).implode())
    if unknown.any():
        row = int(unknown.arg_true()[0])
        raise InputError(
            f"{source}: column {column!r} row {row} has label {names[row]!r}, which is not "
            f"one of the {len(class_names)} given classes {_quote(class_names[:10])}"
            + (" ..." if len(class_names) > 10 else "")
        )
    return class_names


def item_ids(df: pl.DataFrame, id_col: str | None = None, *, source: str) -> pl.Series:
    """Return the item identifiers of a table, checked to be unique and non-null.

    Parameters
    ----------
    df : polars.DataFrame
        The table.
    id_col : str, optional
        Id column. When omitted the ids are the row numbers ``0..n-1`` (a
        series named ``"id"``).
    source : str
        Name of the table or file, used in messages.

    Returns
    -------
    polars.Series
        One id per row, in row order.

    Raises
    ------
    InputError
        If the column is missing, holds a null, or holds a duplicate id (naming
        the id and both rows).
    """
    if id_col is None:
        return pl.Series("id", np.arange(df.height, dtype=np.int64))
    require_columns(df, [id_col], source=source)
    ids = df.get_column(id_col)
    _check_unique_ids(ids, source)
    return ids


def _check_unique_ids(ids: pl.Series, source: str) -> None:
    """Raise on the first null or duplicated id."""
    nulls = ids.is_null()
    if nulls.any():
        row = int(nulls.arg_true()[0])
        raise InputError(f"{source}: id column {ids.name!r} is null at row {row}")
    repeats = ~ids.is_first_distinct()
    if repeats.any():
        second = int(repeats.arg_true()[0])
        value = ids[second]
        first = int((ids == value).arg_true()[0])
        raise InputError(
            f"{source}: duplicate id {value!r} in column {ids.name!r} at rows {first} and {second}"
        )


def align_by_id(
    left_ids: pl.Series | Sequence[Any],
    right_ids: pl.Series | Sequence[Any],
    *,
    left_source: str,
    right_source: str,
) -> np.ndarray:
    """Permutation that puts rows of the right input in the order of the left ids.

    Parameters
    ----------
    left_ids, right_ids : polars.Series or sequence
        Unique, non-null item ids of each input. When their types differ
        (say integers read from CSV and strings from Parquet) both are compared
        as strings.
    left_source, right_source : str
        Names of the inputs, used in messages.

    Returns
    -------
    numpy.ndarray of shape (n,), dtype=intp
        ``perm`` such that ``right[perm]`` lists the right rows in left order,
        i.e. ``right_ids[perm[i]] == left_ids[i]``.

    Raises
    ------
    InputError
        On null or duplicate ids, or when an id of one input is absent from the
        other (naming the first such id and how many there are).
    """
    left, right = pl.Series("id", left_ids), pl.Series("id", right_ids)
    _check_unique_ids(left, left_source)
    _check_unique_ids(right, right_source)
    if left.dtype != right.dtype:
        left, right = left.cast(pl.String), right.cast(pl.String)
    _check_same_ids(left, right, left_source, right_source)
    _check_same_ids(right, left, right_source, left_source)
    joined = (
        left.to_frame()
        .with_row_index("left_row")
        .join(right.to_frame().with_row_index("right_row"), on="id", how="left")
        .sort("left_row")
    )
    return joined.get_column("right_row").to_numpy().astype(np.intp, copy=False)


def _check_same_ids(ids: pl.Series, other: pl.Series, source: str, other_source: str) -> None:
    """Raise if some id of ``ids`` is absent from ``other``."""
    absent = ~ids.is_in(other.implode())
    n_absent = int(absent.sum())
    if n_absent:
        first = ids.filter(absent)[0]
        raise InputError(
            f"id {first!r} of {source} is absent from {other_source} "
            f"({n_absent} of {ids.len()} ids of {source} are missing there)"
        )


# --------------------------------------------------------------------------- probabilities


def load_pred_probs(
    path: str | os.PathLike[str],
    *,
    class_names: Sequence[str],
    ids: pl.Series | Sequence[Any] | None = None,
    id_col: str = "id",
) -> np.ndarray:
    """Load predicted class probabilities, one row per item and one column per class.

    Parameters
    ----------
    path : str or os.PathLike
        One of

        - ``.npy``: a 2-D array, opened as a read-only memory map (never
          copied unless it is stored in Fortran order).
        - ``.npz``: the array under key ``"pred_probs"``, or the only array.
        - a table readable by :func:`read_table` (Parquet, CSV, ...) with one
          numeric column per class, named exactly as ``class_names``, plus
          optionally the id column ``id_col``.
    class_names : sequence of str
        Class names in code order (as returned by :func:`encode_labels`).
    ids : polars.Series or sequence, optional
        Item ids of the labels, in label order. When given, the number of rows
        must match; a table with an ``id_col`` column is aligned to these ids
        by id, never by position.
    id_col : str, default "id"
        Name of the id column of probability tables.

    Returns
    -------
    numpy.ndarray of shape (n_items, n_classes), dtype float32 or float64
        C-contiguous. float32 storage stays float32. Row sums are *not*
        validated here.

    Raises
    ------
    InputError
        On a wrong shape, a non-float dtype, unknown or missing class columns,
        nulls, or ids absent from one side.

    Notes
    -----
    ``.npy`` and ``.npz`` files, and tables without an ``id_col`` column,
    carry no ids: their rows are assumed to be in the order of ``ids``.
    """
    path = Path(path)
    class_names = [str(c) for c in class_names]
    suffix = path.suffix.lower()
    if suffix == ".npy":
        _check_file(path, "probabilities")
        probs = _load_npy(path)
    elif suffix == ".npz":
        _check_file(path, "probabilities")
        probs = _load_npz(path)
    else:
        probs = _load_prob_table(path, class_names, ids, id_col)
    return _checked_probs(probs, path, class_names, ids)


def _load_npy(path: Path) -> np.ndarray:
    """Memory-map a ``.npy`` file read-only."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"probabilities file '{path}' is not a readable .npy file: {exc}") from exc


def _load_npz(path: Path) -> np.ndarray:
    """Return the ``pred_probs`` array (or the single array) of an ``.npz`` file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            if "pred_probs" in keys:
                return npz["pred_probs"]
            if len(keys) == 1:
                return npz[keys[0]]
    except (OSError, ValueError) as exc:
        raise InputError(f"probabilities file '{path}' is not a readable .npz file: {exc}") from exc
    raise InputError(
        f"probabilities file '{path}' holds arrays {_quote(keys)}; expected a single array "
        "or one named 'pred_probs'"
    )


def _load_prob_table(
    path: Path,
    class_names: list[str],
    ids: pl.Series | Sequence[Any] | None,
    id_col: str,
) -> np.ndarray:
    """Read a probability table, check its header, and align it to ``ids`` by id."""
    df = read_table(path, what="probabilities")
    source = f"probabilities file '{path}'"
    for col in df.columns:
        if col != id_col and col not in class_names:
            raise InputError(
                f"{source}: unknown class {col!r} in probabilities header; expected the "
                f"classes {_quote(class_names)} and optionally the id column {id_col!r}"
            )
    missing = [c for c in class_names if c not in df.columns]
    if missing:
        raise InputError(f"{source}: missing probability column(s) for class(es) {_quote(missing)}")
    if id_col in df.columns:
        table_ids = item_ids(df, id_col, source=source)
        if ids is not None:
            perm = align_by_id(ids, table_ids, left_source="the labels", right_source=source)
            df = df[perm]
    return _prob_columns_to_numpy(df.select(class_names), source)


def _prob_columns_to_numpy(df: pl.DataFrame, source: str) -> np.ndarray:
    """Convert probability columns to one C-ordered float32 or float64 matrix."""
    for col, dtype in df.schema.items():
        if not dtype.is_numeric():
            raise InputError(f"{source}: probability column {col!r} has type {dtype}, not numeric")
        nulls = df.get_column(col).is_null()
        if nulls.any():
            raise InputError(
                f"{source}: probability column {col!r} is null at row {int(nulls.arg_true()[0])}"
            )
    all_f32 = all(dtype == pl.Float32 for dtype in df.schema.values())
    target = pl.Float32 if all_f32 else pl.Float64
    return df.select(pl.all().cast(target)).to_numpy(order="c")


def _check_row_count(n_rows: int, ids: pl.Series | Sequence[Any], path: Path) -> None:
    """Raise unless there is one probability row per id."""
    if n_rows != len(ids):
        raise InputError(
            f"probabilities file '{path}' has {n_rows} rows but there are {len(ids)} labeled "
            "items; expected one row per item"
        )


def _checked_probs(
    probs: np.ndarray,
    path: Path,
    class_names: list[str],
    ids: pl.Series | Sequence[Any] | None,
) -> np.ndarray:
    """Check shape and dtype; return a C-contiguous float32/float64 array."""
    from ._validation import check_matrix_layout

    source = f"probabilities file '{path}'"
    check_matrix_layout(probs.shape, probs.dtype, source=source, sizes=False)
    if ids is not None:
        _check_row_count(probs.shape[0], ids, path)
    if probs.shape[1] != len(class_names):
        raise InputError(
            f"{source} has {probs.shape[1]} columns but there are {len(class_names)} classes "
            f"{_quote(class_names[:10])}"
        )
    if not probs.flags.c_contiguous:
        probs = np.ascontiguousarray(probs)
    return probs


# --------------------------------------------------------------------------- writers


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` only when the block succeeds.

    The temporary file lives in the same directory (so the final
    :func:`os.replace` is atomic), is flushed and fsynced before the rename,
    and is created with the default permissions (``0o666`` minus the umask).
    If the block raises, the temporary file is deleted and any previous file at
    ``path`` is left untouched.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.
    mode : {"w", "wb"}, default "w"
        Text (UTF-8) or binary.

    Yields
    ------
    file object
        Writable file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        encoding = None if mode == "wb" else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Persist a rename on POSIX; a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 text.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    text : str
        Content.
    """
    with atomic_write(path, "w") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (key order kept).

    NumPy scalars and arrays, paths, dates, dataclasses and sets are converted
    to plain JSON values; NaN and infinite floats are written as ``null``
    (JSON has no representation for them).

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    obj : object
        JSON-compatible data.
    """
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    write_text(path, text + "\n")


def _jsonable(obj: Any) -> Any:
    """Recursively convert ``obj`` to JSON-safe builtins (non-finite floats -> None)."""
    if isinstance(obj, bool | str | int) or obj is None:
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {_json_key(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=str) if isinstance(obj, set | frozenset) else obj
        return [_jsonable(v) for v in items]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, _dt.date | _dt.datetime | _dt.time):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    raise TypeError(f"write_json: cannot serialise object of type {type(obj).__name__}")


def _json_key(key: Any) -> Any:
    """Make a mapping key acceptable to :mod:`json` (NumPy scalars become builtins)."""
    if isinstance(key, np.generic):
        key = key.item()
    return key if isinstance(key, str | int | float | bool) or key is None else str(key)


def write_parquet(path: str | os.PathLike[str], df: pl.DataFrame) -> None:
    """Atomically write a DataFrame as Parquet.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    df : polars.DataFrame
        Table to write.
    """
    with atomic_write(path, "wb") as fh:
        df.write_parquet(fh)


def write_csv(path: str | os.PathLike[str], df: pl.DataFrame) -> None:
    """Atomically write a DataFrame as CSV, neutralising spreadsheet formulas.

    Spreadsheet programs execute cells that start with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return (CSV/formula injection). Every string
    cell (and column name) that begins with one of these characters gets a
    leading single quote ``'``, so it is shown as text. Numeric columns are
    written unchanged, so negative numbers stay numbers.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    df : polars.DataFrame
        Table to write (nested columns are not supported by CSV).
    """
    safe = df.with_columns(
        _neutralise_expr(c)
        for c, dtype in df.schema.items()
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    )
    safe = safe.rename({c: _neutralise(c) for c in safe.columns})
    with atomic_write(path, "wb") as fh:
        safe.write_csv(fh)


def _neutralise_expr(column: str) -> pl.Expr:
    """Expression that prefixes a quote to formula-like cells of a text column."""
    text = pl.col(column).cast(pl.String)
    risky = pl.any_horizontal(text.str.starts_with(p) for p in _FORMULA_PREFIXES)
    return pl.when(risky).then(pl.lit("'") + text).otherwise(text).alias(column)


def _neutralise(text: str) -> str:
    """Prefix a quote to text a spreadsheet would evaluate as a formula."""
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


# --------------------------------------------------------------------------- provenance


def file_fingerprint(path: str | os.PathLike[str], *, n_rows: int | None = None) -> dict[str, Any]:
    """Describe an input file for provenance records such as ``summary.json``.

    Parameters
    ----------
    path : str or os.PathLike
        File to describe.
    n_rows : int, optional
        Number of rows, when the caller knows it.

    Returns
    -------
    dict
        ``{"path": str, "size_bytes": int, "sha256": str, "n_rows": int | None}``;
        the hash is computed by streaming the file in 1 MiB blocks.
    """
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK_SIZE):
            digest.update(block)
    return {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "sha256": digest.hexdigest(),
        "n_rows": n_rows,
    }


def _quote(names: Sequence[Any]) -> str:
    """Format names as a comma-separated list of quoted strings."""
    return ", ".join(repr(str(n)) for n in names)


# --------------------------------------------------------------------------- sharded probabilities


def open_npy_shard(path: str | os.PathLike[str]) -> np.ndarray:
    """Memory-map one ``.npy`` shard read-only (run inside a Dask worker).

    The result travels between Dask workers as its path, not its bytes (see
    :class:`_MappedShard`).
    """
    mapped = _load_npy(Path(path))
    shard = mapped.view(_MappedShard)
    shard._la_source = (str(path), shard.__array_interface__["data"][0], shard.shape,
                        shard.strides, shard.dtype.str)
    return shard


class _MappedShard(np.ndarray):
    """A read-only memory map of a whole ``.npy`` shard that is moved as a file reference.

    When Dask's scheduler runs a chunk's task on another worker than the one
    that opened the shard, the block would otherwise be copied over the
    network (hundreds of MB for a large shard). Workers share the storage
    the shards are read from, so the receiving worker maps the file itself.
    Views, slices and computed arrays derived from it travel by value.
    """

    _la_source: tuple | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self._la_source = getattr(obj, "_la_source", None)

    def _shard_path(self) -> str | None:
        """The file's path when this is the whole, unmodified mapping, else None."""
        source = self._la_source
        if source is None:
            return None
        path, address, shape, strides, dtype = source
        same = (self.__array_interface__["data"][0] == address and self.shape == shape
                and self.strides == strides and self.dtype.str == dtype)
        return path if same else None

    def __reduce__(self):
        path = self._shard_path()
        if path is not None:
            return (open_npy_shard, (path,))
        return (np.array, (np.asarray(self),))


def _register_dask_serializers() -> None:
    """Teach dask.distributed to move whole mapped shards as paths (idempotent)."""
    from distributed.protocol import dask_deserialize, dask_serialize, deserialize, serialize

    if _MappedShard in dask_serialize._lookup:
        return

    @dask_serialize.register(_MappedShard)
    def _serialize_shard(block: _MappedShard) -> tuple[dict, list]:
        path = block._shard_path()
        if path is not None:
            return {"mapped_npy": path}, []
        header, frames = serialize(np.asarray(block))
        return {"by_value": header}, frames

    @dask_deserialize.register(_MappedShard)
    def _deserialize_shard(header: dict, frames: list) -> np.ndarray:
        if "mapped_npy" in header:
            return open_npy_shard(header["mapped_npy"])
        return deserialize(header["by_value"], frames)


if "distributed.protocol" in sys.modules:  # a worker receiving a shard imports this module
    _register_dask_serializers()


def _read_parquet_shard(path: str, class_names: list[str]) -> np.ndarray:
    """One Parquet shard's class columns as a C-contiguous float matrix."""
    df = pl.read_parquet(path, columns=class_names)
    return _prob_columns_to_numpy(df, f"probabilities shard '{path}'")


def shard_paths(spec: str | os.PathLike[str]) -> list[Path]:
    """Resolve a glob of ``.npy``/``.parquet`` shards, or a directory of Parquet shards.

    Shards are taken in sorted path order, which is the row order.
    """
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        found = sorted(path.glob("*.parquet")) or sorted(path.glob("*.npy"))
        where = f"directory '{path}'"
    else:
        import glob as _glob

        found = sorted(Path(p) for p in _glob.glob(text))
        where = f"pattern '{text}'"
    if not found:
        raise InputError(f"probabilities {where} matches no .npy or .parquet shard")
    kinds = {p.suffix.lower() for p in found}
    if not kinds <= {".npy", ".parquet"} or len(kinds) > 1:
        raise InputError(
            f"probabilities {where} must match only .npy or only .parquet shards, "
            f"got {_quote(sorted(kinds))}"
        )
    return found


def load_pred_probs_shards(
    spec: str | os.PathLike[str] | Sequence[Path], *, class_names: Sequence[str]
):
    """Open row shards of probabilities as one lazy, row-chunked ``dask.array``.

    Parameters
    ----------
    spec : str, os.PathLike or list of pathlib.Path
        A glob such as ``'shards/part-*.npy'`` (or ``*.parquet``), or a
        directory of Parquet shards, or the shard paths as
        :func:`shard_paths` resolves them. Shards are concatenated in sorted
        path order; each becomes one chunk, read by the worker that processes
        it (``.npy`` shards are memory-mapped there).
    class_names : sequence of str
        Class names in code order: the number of columns of ``.npy`` shards,
        and the column names of Parquet shards.

    Returns
    -------
    dask.array.Array of shape (n_items, n_classes)
    """
    try:
        import dask.array as da
    except ImportError:
        raise InputError(
            "sharded probabilities need dask: pip install 'labelaudit[dask]'"
        ) from None
    class_names = [str(c) for c in class_names]
    paths = shard_paths(spec) if isinstance(spec, (str, os.PathLike)) else list(spec)
    try:
        _register_dask_serializers()
    except ImportError:  # only the local schedulers: nothing is moved between processes
        pass
    rows: list[int] = []
    dtypes = set()
    for path in paths:
        if path.suffix.lower() == ".npy":
            head = _load_npy(path)
            if head.ndim != 2 or head.shape[1] != len(class_names):
                raise InputError(
                    f"probabilities shard '{path}' has shape {head.shape}; expected "
                    f"(rows, {len(class_names)}) for classes {_quote(class_names)}"
                )
            if head.dtype not in (np.float32, np.float64):
                raise InputError(
                    f"probabilities shard '{path}' has dtype {head.dtype}; need float32 or float64"
                )
            rows.append(head.shape[0])
            dtypes.add(head.dtype)
        else:
            schema = pl.read_parquet_schema(path)
            missing = [c for c in class_names if c not in schema]
            if missing:
                raise InputError(
                    f"probabilities shard '{path}' lacks class column(s) {_quote(missing)}"
                )
            rows.append(pl.scan_parquet(path).select(pl.len()).collect().item())
            all_f32 = all(schema[c] == pl.Float32 for c in class_names)
            dtypes.add(np.dtype(np.float32 if all_f32 else np.float64))
    if len(dtypes) > 1:
        raise InputError(
            f"probabilities shards mix dtypes {_quote(sorted(str(d) for d in dtypes))}; "
            "store them all as float32 or all as float64"
        )
    dtype = dtypes.pop()
    # A blockwise layer (no separate "load" tasks): the task that scans a chunk
    # is the one that opens its shard, so shards are never shipped between workers.
    return da.map_blocks(
        _load_shard_block,
        chunks=(tuple(rows), (len(class_names),)),
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
        paths=tuple(str(p) for p in paths),
        class_names=tuple(class_names),
        out_dtype=dtype,
    )


def _load_shard_block(paths, class_names, out_dtype, block_info=None) -> np.ndarray:
    """Load the shard of one chunk (its index comes from dask's ``block_info``)."""
    path = paths[block_info[None]["chunk-location"][0]]
    if path.endswith(".npy"):
        block = open_npy_shard(path)
    else:
        block = _read_parquet_shard(path, list(class_names))
    return block if block.dtype == out_dtype else block.astype(out_dtype)
