"""Helpers shared by the readers and writers of :mod:`labelaudit.io`."""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..exceptions import InputError

__all__ = ["file_fingerprint"]

#: Bytes per read when streaming a file: large enough for throughput, small enough for memory.
BLOCK_SIZE = 1 << 20


def _check_file(path: Path, what: str) -> None:
    """Raise if ``path`` is not an existing, non-empty regular file."""
    if not path.exists():
        raise InputError(f"{what} file '{path}' does not exist")
    if not path.is_file():
        raise InputError(f"{what} file '{path}' is not a regular file")
    if path.stat().st_size == 0:
        raise InputError(f"{what} file '{path}' is empty (0 bytes)")


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
        while block := fh.read(BLOCK_SIZE):
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
        while block := fh.read(BLOCK_SIZE):
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
