"""Tables: a registry of readers by file suffix, and the schema and identity helpers.

:data:`READERS` maps a file suffix to its :class:`Reader`; :func:`read_table`
picks the reader by suffix (a directory is a Parquet dataset). Adding a format
is one :func:`register_reader` call; the "unsupported extension" message lists
what is registered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .._validation import check_scalar_column, integers_if_canonical
from ..exceptions import InputError
from ._common import _check_file, _first_invalid_utf8, _quote, file_fingerprint
from .label_studio import (
    CHOICES_NAME,
    ITEM_ID_FIELD,
    flat_export_frame,
    is_flat_export,
    read_label_studio,
)

__all__ = [
    "DIRECTORY",
    "READERS",
    "Reader",
    "align_by_id",
    "encode_labels",
    "input_fingerprints",
    "item_ids",
    "parquet_dataset_files",
    "read_annotation_table",
    "read_rows",
    "read_table",
    "register_reader",
    "require_columns",
]

_DELIMITER_CANDIDATES = (";", "\t", "|", ",")

#: ``read(path, what, columns) -> polars.DataFrame``.
ReadFunction = Callable[[Path, str, "Sequence[str] | None"], pl.DataFrame]


@dataclass(frozen=True)
class Reader:
    """How to read one table format.

    Parameters
    ----------
    name : str
        Format name for messages (``"CSV"``).
    suffixes : tuple of str
        File suffixes it reads, lower case with the dot (``(".csv",)``).
    read : callable
        ``read(path, what, columns) -> polars.DataFrame``; may read only
        ``columns`` (None: all); :func:`read_table` checks and selects them
        afterwards, and rejects empty tables.
    text : bool, default False
        Whether the format is UTF-8 text: files starting with a UTF-16/UTF-32
        byte-order mark are rejected, and parse errors locate the first byte
        that is not UTF-8.
    note : str, optional
        Shown after the last suffix in the list of supported formats.
    infers_types : bool, default False
        Whether the format guesses column types from text (CSV): ``read``
        then takes a keyword ``text_columns``, the columns to read as text
        instead (see :func:`read_table`).
    """

    name: str
    suffixes: tuple[str, ...]
    read: ReadFunction
    text: bool = False
    note: str | None = None
    infers_types: bool = False


#: File suffix -> reader, in registration order. Extend with :func:`register_reader`.
READERS: dict[str, Reader] = {}

#: The key of :data:`READERS` used for directories (a Parquet dataset by default).
DIRECTORY = "/"


def register_reader(reader: Reader) -> Reader:
    """Register ``reader`` for each of its suffixes (replacing earlier ones).

    Parameters
    ----------
    reader : Reader
        The format. Use the suffix :data:`DIRECTORY` to read directories.

    Returns
    -------
    Reader
        ``reader``.
    """
    for suffix in reader.suffixes:
        READERS[suffix.lower()] = reader
    return reader


def _supported() -> str:
    """The registered suffixes, as the "expected one of" list of messages."""
    names = []
    for suffix, reader in READERS.items():
        if suffix == DIRECTORY:
            continue
        last = suffix == reader.suffixes[-1] and reader.note
        names.append(f"{suffix} ({reader.note})" if last else suffix)
    return ", ".join(names)


def read_table(
    path: str | os.PathLike[str],
    *,
    what: str = "data",
    columns: Sequence[str] | None = None,
    text_columns: Sequence[str | None] = (),
) -> pl.DataFrame:
    """Read a table from CSV, TSV, Parquet, JSON Lines or a Label Studio export.

    The format is chosen by the file extension among :data:`READERS`; a
    directory is a Parquet dataset (see :func:`parquet_dataset_files`), scanned
    lazily so that only ``columns`` are read. Registered by default:

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
    text_columns : sequence of str, optional
        Columns that name things (labels, ids, annotators): formats that guess
        types from text (CSV, TSV) read them as text, so ``01``, ``1`` and
        ``02`` stay three values; a column of plain decimal integers (written
        as ``str(int)`` writes them) becomes integers, which loses nothing.
        In every format they must hold single values (not lists or structs),
        and in JSON Lines not a mix of numbers and strings. Names absent from
        the file (or None) are ignored here.

    Returns
    -------
    polars.DataFrame
        The table, with at least one row.

    Raises
    ------
    InputError
        If the file is missing, empty, not UTF-8 (for text formats; the message
        gives the byte offset and line), not readable as its format, a CSV
        whose header names a column twice or whose single column header
        suggests another delimiter, or when a text column holds nested values
        or (JSON Lines) mixes numbers and strings.

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

    CSV column types are inferred from the first 10 000 rows, except for
    ``text_columns``. Labels are class names: ``1.0`` and ``1`` in a CSV
    label column are two classes; write each label the same way.
    """
    path = Path(path)
    text = [c for c in dict.fromkeys(text_columns) if c is not None]
    if path.is_dir() and DIRECTORY in READERS:
        df = READERS[DIRECTORY].read(path, what, columns)
        _check_text_columns(df, text, f"{what} directory '{path}'")
        return df
    _check_file(path, what)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            f"{what} file '{path}': unsupported extension {path.suffix!r}; expected one of "
            f"{_supported()}"
        )
    if reader.text:
        _reject_utf16(path, what)
    if reader.infers_types:
        df = reader.read(path, what, columns, text_columns=text)
    else:
        df = reader.read(path, what, columns)
    if df.height == 0:
        raise InputError(f"{what} file '{path}' has no data rows")
    if columns is not None:
        require_columns(df, columns, source=f"{what} file '{path}'")
        df = df.select(columns)
    _check_text_columns(df, text, f"{what} file '{path}'")
    return df


def _check_text_columns(df: pl.DataFrame, text: Sequence[str], source: str) -> None:
    """Refuse nested values in the columns that name things."""
    for col in text:
        if col in df.columns:
            check_scalar_column(df.get_column(col), source=source)


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
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".pq"))
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
    reader = READERS.get(path.suffix.lower())
    if reader is not None and reader.text:
        bad = _first_invalid_utf8(path)
        if bad is not None:
            return InputError(f"{what} file '{path}' is not valid UTF-8: {bad}")
    detail = " ".join(str(exc).split()) or type(exc).__name__
    where = _first_unreadable_line(path, fmt)
    if where is not None:  # the line, in words, rather than the parser's advice to its caller
        detail = where
    return InputError(f"{what} file '{path}' is not a readable {fmt} file: {detail}")


def _first_unreadable_line(path: Path, fmt: str) -> str | None:
    """The first line of a text table that cannot be read, in words; None if none is found.

    Only called once polars has refused the file, to name the line: for CSV
    and TSV, the first row whose field count differs from the header's; for
    JSON Lines, the first line that is not a JSON object.
    """
    import csv
    import json

    try:
        with open(path, encoding="utf-8", newline="") as fh:
            if fmt in ("CSV", "TSV"):
                rows = csv.reader(fh, delimiter="\t" if fmt == "TSV" else ",")
                header = next(rows, None)
                for row in rows:
                    if row and len(row) != len(header or ()):
                        return (f"line {rows.line_num} has {len(row)} fields, the header "
                                f"{len(header or ())}")
            elif fmt == "JSON Lines":
                for number, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        value = json.loads(line.rstrip("\r\n"))
                    except json.JSONDecodeError as exc:
                        return f"line {number} is not valid JSON: {exc.msg} at column {exc.colno}"
                    if not isinstance(value, dict):
                        return f"line {number} is not a JSON object"
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None


def _read_csv(path: Path, what: str, separator: str,
              text_columns: Sequence[str] = ()) -> pl.DataFrame:
    """Read delimited text and reject tables that were split on the wrong delimiter.

    ``text_columns`` are read as text, then as integers when every value is a
    plain decimal integer (:func:`~labelaudit._validation.integers_if_canonical`).
    """
    fmt = "TSV" if separator == "\t" else "CSV"
    df = _read_with(
        pl.read_csv,
        path,
        what,
        fmt,
        separator=separator,
        infer_schema_length=10_000,
        schema_overrides={c: pl.String for c in text_columns} or None,
    )
    _reject_repeated_header(path, what, fmt, separator, df.width)
    present = [c for c in text_columns if c in df.columns]
    if present:
        df = df.with_columns(integers_if_canonical(df.get_column(c)) for c in present)
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


def _reject_repeated_header(path: Path, what: str, fmt: str, separator: str,
                            width: int) -> None:
    """Refuse a header that names a column twice (polars would rename the second copy)."""
    import csv

    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        header = next(csv.reader(fh, delimiter=separator), [])
    if len(header) != width:
        return  # quoting polars reads differently: its own column names stand
    seen: dict[str, int] = {}
    for position, name in enumerate(header):
        if name in seen:
            raise InputError(
                f"{what} file '{path}': the {fmt} header names column {name!r} twice "
                f"(columns {seen[name]} and {position}, 0-based); every column needs its "
                "own name"
            )
        seen[name] = position


def _read_delimited(separator: str) -> ReadFunction:
    def read(path: Path, what: str, columns: Sequence[str] | None,
             text_columns: Sequence[str] = ()) -> pl.DataFrame:
        return _read_csv(path, what, separator, text_columns)

    return read


def _read_parquet(path: Path, what: str, columns: Sequence[str] | None) -> pl.DataFrame:
    if columns is not None:
        schema = _read_with(pl.read_parquet_schema, path, what, "Parquet")
        _require_in_schema(schema, columns, f"{what} file '{path}'")
    return _read_with(pl.read_parquet, path, what, "Parquet", columns=columns)


def _read_ndjson(path: Path, what: str, columns: Sequence[str] | None,
                 text_columns: Sequence[str] = ()) -> pl.DataFrame:
    """JSON Lines; a text column whose lines mix JSON numbers and strings is refused.

    polars would turn the numbers into text (``1`` and ``"1"`` the same value,
    ``2.0`` read as ``"2"``), so those columns are checked line by line.
    """
    df = _read_with(pl.read_ndjson, path, what, "JSON Lines")
    mixed = [c for c in text_columns if c in df.columns and df.schema[c] == pl.String]
    if mixed:
        _reject_mixed_json_types(path, what, mixed)
    return df


def _reject_mixed_json_types(path: Path, what: str, columns: Sequence[str]) -> None:
    """Raise for the first column whose values are JSON numbers on some lines, strings on others."""
    import json

    first: dict[str, tuple[str, int, Any]] = {}
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # polars read it; its reading stands
            if not isinstance(record, dict):
                continue
            for col in columns:
                value = record.get(col)
                if value is None or isinstance(value, bool):
                    continue
                kind = ("string" if isinstance(value, str)
                        else "number" if isinstance(value, int | float) else None)
                if kind is None:
                    continue
                seen = first.setdefault(col, (kind, line_no, value))
                if seen[0] != kind:
                    raise InputError(
                        f"{what} file '{path}': column {col!r} mixes JSON numbers and strings "
                        f"(line {seen[1]} has the {seen[0]} {seen[2]!r}, line {line_no} the "
                        f"{kind} {value!r}); write every value of the column the same way, "
                        "e.g. all as strings"
                    )


register_reader(Reader("CSV", (".csv",), _read_delimited(","), text=True, infers_types=True))
register_reader(Reader("TSV", (".tsv",), _read_delimited("\t"), text=True, infers_types=True))
register_reader(Reader("Parquet", (".parquet", ".pq"), _read_parquet))
register_reader(Reader("JSON Lines", (".jsonl", ".ndjson"), _read_ndjson, text=True,
                       infers_types=True))
register_reader(Reader("Label Studio JSON", (".json",), read_label_studio, text=True,
                       note="Label Studio export"))
register_reader(Reader("Parquet dataset", (DIRECTORY,), _read_parquet_dataset))


def read_annotation_table(
    path: str | Path, what: str = "annotations", text_columns: Sequence[str | None] = ()
) -> pl.DataFrame:
    """Read an annotation table; a Label Studio export in any format becomes the long table.

    Label Studio JSON and JSON_MIN exports are recognised by
    :func:`labelaudit.io.read_table`; a CSV (or Parquet) whose columns are
    those of a Label Studio export (``id``, ``annotator``,
    ``annotation_id``, ...) is turned into the same long table here. Any
    other table is returned as read.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    what : str, default "annotations"
        What the file is, for messages.
    text_columns : sequence of str, optional
        Columns read as text (see :func:`read_table`); a Label Studio CSV
        export's id, annotator and label columns always are.

    Returns
    -------
    polars.DataFrame
        For a Label Studio export: ``item_id``, ``annotator``, ``label``
        (when the export's choices field is
        :data:`~labelaudit.io.label_studio.CHOICES_NAME`),
        ``created_at`` and the task data fields.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "export.csv").write_text(
    ...     "annotation_id,annotator,created_at,id,label,labelaudit_id,lead_time,text\\n"
    ...     "7,ann@example.org,2024-03-01T10:00:00Z,51,cat,item-1,3.5,a cat\\n")
    >>> read_annotation_table(d / "export.csv").select("item_id", "annotator", "label").row(0)
    ('item-1', 'ann@example.org', 'cat')
    """
    path = Path(path)
    text = (*text_columns, "id", ITEM_ID_FIELD, "annotator", "annotation_id", CHOICES_NAME)
    frame = read_table(path, what=what, text_columns=text)
    if is_flat_export(frame.columns):
        frame = flat_export_frame(frame.to_dicts(), f"{what} file '{path}'", "CSV")
    return frame



def read_reviews(path: str | Path) -> pl.DataFrame:
    """Read reviewers' answers to a review sample: a table, or a Label Studio export.

    As :func:`read_annotation_table`, with ``id``, ``given_label`` and
    ``reviewed_label`` read as text. From a CSV file the formula guard that
    ``review_sample.csv`` was written with is removed (see
    :func:`~labelaudit.io.writers.remove_formula_guard`), so an id such as
    ``@ann`` or a label such as ``-1`` reads back as itself.

    Parameters
    ----------
    path : str or pathlib.Path
        The reviews file.

    Returns
    -------
    polars.DataFrame

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "reviewed.csv").write_text("id,given_label,reviewed_label\\n'@ann,'-1,'+1\\n")
    >>> read_reviews(d / "reviewed.csv").row(0)
    ('@ann', '-1', '+1')
    """
    from .writers import remove_formula_guard

    path = Path(path)
    frame = read_annotation_table(path, what="reviews",
                                  text_columns=("id", "given_label", "reviewed_label"))
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        frame = remove_formula_guard(frame)
    return frame


def input_fingerprints(
    role: str, path: str | os.PathLike[str], *, n_rows: int | None
) -> list[dict[str, Any]]:
    """Provenance records of an input: the file's, or each file's of a Parquet dataset directory.

    Parameters
    ----------
    role : str
        What the input is (``"data"``, ...), recorded as ``role``.
    path : str or os.PathLike
        The file or dataset directory.
    n_rows : int or None
        Rows of the input (of the whole dataset for a directory, recorded as
        ``dataset_rows``).

    Returns
    -------
    list of dict
        :func:`~labelaudit.io.file_fingerprint` records with ``role`` (and
        ``dataset`` for directories).
    """
    path = Path(path)
    if not path.is_dir():
        return [{"role": role, **file_fingerprint(path, n_rows=n_rows)}]
    files = parquet_dataset_files(path, what=role)
    return [
        {"role": role, "dataset": str(path), "dataset_rows": n_rows, **file_fingerprint(f)}
        for f in files
    ]


def read_rows(
    path: str | os.PathLike[str], *, id_col: str | None, ids: pl.Series
) -> pl.DataFrame | None:
    """Rows of a data file for display: those whose id is in ``ids`` when it can filter on read.

    Parameters
    ----------
    path : str or os.PathLike
        The data file.
    id_col : str or None
        Its id column. A Parquet file with an id column is filtered while it
        is scanned; other files are read whole (see :func:`read_table`).
    ids : polars.Series
        Wanted ids (compared as strings).

    Returns
    -------
    polars.DataFrame or None
        None when ``path`` is not an existing file.
    """
    path = Path(path)
    if not path.is_file():
        return None
    if path.suffix.lower() in (".parquet", ".pq") and id_col:
        return pl.scan_parquet(path).filter(
            pl.col(id_col).cast(pl.String).is_in(ids.cast(pl.String).implode())
        ).collect()
    return read_table(path, what="data", text_columns=(id_col,))


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
    check_scalar_column(values, source=source, role="label")
    fast = _integer_codes(values, classes)
    if fast is not None:
        return fast
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


#: Integer labels spanning at most this many values are coded through a lookup table.
_LOOKUP_SPAN = 1 << 22


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _integer_codes(values: pl.Series, classes: Sequence[Any] | None):
    """Codes and class names of integer (or boolean) labels without a detour through strings.

    The same result as the string path: classes sorted numerically, or the
    given ``classes`` matched by their string form. Returns None whenever
    that path has something to say (nulls, a label outside ``classes``,
    duplicate classes) or the labels are not integers, so its messages stay
    the only ones.
    """
    dtype = values.dtype
    if not (dtype.is_integer() or dtype == pl.Boolean) or values.null_count():
        return None
    # Values beyond the int64 range (UInt64, Int128) become nulls here: the string path.
    ints = values.cast(pl.Int64, strict=False) if dtype != pl.Int64 else values
    if ints.null_count():
        return None
    arr = ints.to_numpy()
    if arr.shape[0] == 0:
        return None
    low, high = int(arr.min()), int(arr.max())
    small = high - low < _LOOKUP_SPAN
    shifted = (arr if low == 0 else arr - low) if small else None
    if classes is None:
        if small:
            keys = np.flatnonzero(np.bincount(shifted, minlength=high - low + 1)) + low
        else:
            keys = np.sort(ints.unique().to_numpy())
        class_names = [str(v) for v in keys.tolist()]
        position = np.arange(keys.shape[0], dtype=np.intp)
    else:
        class_names = [str(c) for c in classes]
        if len(set(class_names)) != len(class_names):
            return None
        pairs = []
        for code, name in enumerate(class_names):
            try:
                key = int(name)
            except ValueError:
                continue
            # A key beyond int64 matches no label (the labels fit int64): it has no rows.
            if str(key) == name and _INT64_MIN <= key <= _INT64_MAX:
                pairs.append((key, code))
        if not pairs:
            return None
        keys = np.array([k for k, _ in pairs], dtype=np.int64)
        position = np.array([c for _, c in pairs], dtype=np.intp)
    if small:
        table = np.full(high - low + 1, -1, dtype=np.intp)
        inside = (keys >= low) & (keys <= high)
        table[keys[inside] - low] = position[inside]
        codes = table[shifted]
    else:
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        at = np.minimum(np.searchsorted(sorted_keys, arr), sorted_keys.shape[0] - 1)
        codes = np.where(sorted_keys[at] == arr, position[order][at], -1).astype(np.intp)
    if codes.min() < 0:
        return None  # a label outside the classes: the string path names it
    return codes, class_names


def _labels_as_strings(values: pl.Series, source: str, column: str) -> pl.Series:
    """Return the labels as a String series (integral floats become ints first)."""
    dtype = values.dtype
    if dtype.is_float():
        finite = values.drop_nulls()
        bad = finite.filter((finite != finite.round(0)) | (finite.abs() >= 2.0**63))
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
    ids = check_scalar_column(df.get_column(id_col), source=source, role="id")
    _check_unique_ids(ids, source)
    return ids


def _check_unique_ids(ids: pl.Series, source: str) -> None:
    """Raise on the first null or duplicated id."""
    nulls = ids.is_null()
    if nulls.any():
        row = int(nulls.arg_true()[0])
        raise InputError(f"{source}: id column {ids.name!r} is null at row {row}")
    if ids.dtype.is_integer() and ids.len() > 1:
        values = ids.to_numpy()
        if bool((values[1:] > values[:-1]).all()):
            return  # strictly increasing: unique without hashing
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
