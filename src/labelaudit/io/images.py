"""Image files referenced by data tables (read as bytes; decoding is the caller's)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["read_image_bytes"]


def read_image_bytes(
    path: str | os.PathLike[str], base_dir: str | os.PathLike[str] | None = None
) -> bytes | None:
    """The bytes of an image file, or None when it cannot be read.

    Parameters
    ----------
    path : str or os.PathLike
        The file; a relative path is taken relative to ``base_dir`` when given.
    base_dir : str or os.PathLike, optional
        Directory of the table that names the file.

    Returns
    -------
    bytes or None
    """
    path = Path(path)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    try:
        return path.read_bytes()
    except OSError:
        return None
