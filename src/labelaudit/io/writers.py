"""Writers: every output file is written atomically, and a whole output set is published at once.

A reader never sees a half-written file: each file is written to a temporary
name in the same directory and renamed over its target (:func:`atomic_write`);
:func:`publish` writes a whole set of outputs to a staging directory first and
renames them into place only when all of them were written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import math
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl

__all__ = [
    "atomic_write",
    "publish",
    "write_csv",
    "write_json",
    "write_output",
    "write_parquet",
    "write_text",
]

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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
    if isinstance(obj, list) and _plain_numbers(obj):
        return list(obj)  # a row of a matrix: nothing to convert, element by element
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


def _plain_numbers(values: list) -> bool:
    """True when every item is a finite built-in float or a built-in int (not a bool)."""
    kinds = set(map(type, values))
    if kinds == {float}:
        return all(map(math.isfinite, values))
    return kinds == {int}


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
        Table to write. Nested columns (lists, arrays, structs), which CSV
        cannot hold, are written as JSON text.
    """
    nested = [c for c, dtype in df.schema.items() if dtype.is_nested()]
    if nested:
        df = df.with_columns(
            pl.Series(c, [None if v is None else json.dumps(v, default=str)
                          for v in df.get_column(c).to_list()], dtype=pl.String)
            for c in nested
        )
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


def write_output(path: str | os.PathLike[str], content: Any) -> None:
    """Atomically write one output, in the format its file name ends with.

    Parameters
    ----------
    path : str or os.PathLike
        Destination: ``.parquet`` and ``.csv`` take a polars DataFrame
        (:func:`write_parquet`, :func:`write_csv`), ``.json`` JSON-able data
        (:func:`write_json`), anything else text (:func:`write_text`).
    content : object
        What to write.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        write_parquet(path, content)
    elif suffix == ".csv":
        write_csv(path, content)
    elif suffix == ".json":
        write_json(path, content)
    else:
        write_text(path, content)


def publish(
    out: str | os.PathLike[str],
    files: Mapping[str, Any] | Sequence[tuple[str, Callable[[Path], None]]],
    *,
    extra: Sequence[tuple[str | os.PathLike[str], str]] = (),
) -> None:
    """Write a whole set of outputs, replacing the previous ones only when all were written.

    The files are first written to a hidden staging directory inside ``out``
    (a failure there removes it and leaves the previous outputs untouched),
    then renamed over their targets one by one, in the given order (put the
    file that vouches for the others, such as ``summary.json``, last).

    Parameters
    ----------
    out : str or os.PathLike
        Output directory (created when missing).
    files : Mapping or sequence of (name, writer)
        File name -> content (written by :func:`write_output`), or pairs of a
        file name and a function writing that file at the path it is given.
    extra : sequence of (path, text), default ()
        Text files outside ``out`` (for instance a JUnit report), written
        atomically once every output is staged.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = list(files.items()) if isinstance(files, Mapping) else list(files)
    staging = Path(tempfile.mkdtemp(prefix=".labelaudit-staging-", dir=out))
    try:
        for name, content in items:
            if isinstance(files, Mapping):
                write_output(staging / name, content)
            else:
                content(staging / name)
        for path, text in extra:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            write_text(path, text)
        for name, _ in items:
            (staging / name).replace(out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
