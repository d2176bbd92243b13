"""Thumbnails for the issue list: image cells to small PNG data URIs.

An image cell is a file path (its bytes come from :mod:`labelaudit.io.images`),
encoded image bytes, or a numeric pixel array of a square gray or RGB image.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

__all__ = ["THUMBNAIL_SIZE", "image_kind", "thumbnail"]

#: Thumbnail edge in pixels (images are shrunk to fit).
THUMBNAIL_SIZE = 64

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")


def _png_data_uri(pixels: np.ndarray) -> str:
    """Encode a 2-D (gray) or 3-D (RGB) uint8 array as a PNG data URI."""
    from PIL import Image

    img = Image.fromarray(pixels)
    if max(img.size) > THUMBNAIL_SIZE:
        img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _array_thumbnail(value: Any) -> str | None:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 1:
        n = arr.size
        side = int(round(math.sqrt(n)))
        if side * side == n and side >= 4:
            arr = arr.reshape(side, side)
        else:
            side = int(round(math.sqrt(n / 3)))
            if 3 * side * side != n or side < 4:
                return None
            arr = arr.reshape(side, side, 3)
    if arr.ndim not in (2, 3) or not np.isfinite(arr).all():
        return None
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= 1.0 and lo >= 0.0:
        scaled = arr * 255.0
    elif lo >= 0.0 and hi <= 255.0 and hi > 16.0:
        scaled = arr
    else:
        scaled = (arr - lo) / (hi - lo if hi > lo else 1.0) * 255.0
    return _png_data_uri(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _encoded_thumbnail(data: bytes) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB")
            img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            return _png_data_uri(np.asarray(img))
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def thumbnail(value: Any, kind: str, base_dir: Path | None) -> str | None:
    """A small PNG data URI for one image cell, or None when it cannot be read."""
    if value is None:
        return None
    if kind == "array":
        return _array_thumbnail(value)
    if kind == "bytes":
        return _encoded_thumbnail(bytes(value))
    from ..io.images import read_image_bytes

    data = read_image_bytes(str(value), base_dir)
    return None if data is None else _encoded_thumbnail(data)


def image_kind(series: pl.Series) -> str | None:
    dtype = series.dtype
    if isinstance(dtype, pl.Array | pl.List) and dtype.inner.is_numeric():
        return "array"
    if dtype == pl.Binary:
        sample = series.drop_nulls().head(5).to_list()
        if sample and all(bytes(b[:4]).startswith(_IMAGE_MAGIC) for b in sample):
            return "bytes"
        return None
    if dtype == pl.String:
        sample = [s for s in series.drop_nulls().head(20).to_list() if s]
        if sample and all(s.lower().endswith(_IMAGE_SUFFIXES) for s in sample):
            return "path"
    return None
