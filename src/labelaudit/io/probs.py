"""Predicted probabilities: ``.npy`` memory maps, ``.npz``, Parquet probability columns, shards."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..exceptions import InputError
from ._common import _check_file, _quote
from .tables import align_by_id, item_ids, read_table

__all__ = [
    "is_file_backed",
    "load_pred_probs",
    "load_pred_probs_shards",
    "open_npy_shard",
    "reorder_rows",
    "shard_paths",
]


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
    df = read_table(path, what="probabilities", text_columns=(id_col,))
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
    from .._validation import check_matrix_layout

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


# --------------------------------------------------------------------------- row order of a memory map

#: Bytes of rows copied at a time when a memory-mapped matrix is put in another row order.
_REORDER_BLOCK_BYTES = 1 << 24


def is_file_backed(array: Any) -> bool:
    """Whether ``array`` (or the array it views) is a memory map of a file."""
    import mmap

    seen = 0
    while isinstance(array, np.ndarray) and seen < 64:
        if isinstance(array, np.memmap):
            return True
        array = array.base
        seen += 1
    return isinstance(array, mmap.mmap)


def reorder_rows(matrix: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``matrix[order]`` as a C-contiguous array, without a copy in memory when ``matrix`` is mapped.

    An in-memory matrix is reordered in memory. A memory-mapped one (possibly
    larger than RAM) is copied block by block into an unlinked temporary file
    in :func:`tempfile.gettempdir` (``TMPDIR``) and returned as a read-only
    memory map of it: the process holds one block of rows at a time, and the
    file's space is freed when the returned array is.

    Parameters
    ----------
    matrix : numpy.ndarray of shape (n, K)
        The rows.
    order : numpy.ndarray of shape (n,), integer
        The new row order (a permutation).

    Returns
    -------
    numpy.ndarray of shape (n, K)

    Raises
    ------
    InputError
        When the temporary file cannot be written (for example, no space left).
    """
    if not is_file_backed(matrix):
        return np.ascontiguousarray(matrix[order])
    import tempfile

    n, k = matrix.shape
    step = max(1, _REORDER_BLOCK_BYTES // max(1, k * matrix.dtype.itemsize))
    try:
        with tempfile.TemporaryFile(prefix="labelaudit-rows-") as handle:
            out = np.memmap(handle, dtype=matrix.dtype, mode="w+", shape=(n, k))
            for start in range(0, n, step):
                out[start:start + step] = matrix[order[start:start + step]]
            out.flush()
    except OSError as exc:
        raise InputError(
            f"cannot put the rows of the probabilities in id order: writing a temporary file in "
            f"'{tempfile.gettempdir()}' failed ({exc.strerror or exc}); set TMPDIR to a "
            "folder with room for a copy of the matrix"
        ) from None
    out.flags.writeable = False
    return out


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
