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

__all__ = ["MAX_IMAGE_PIXELS", "THUMBNAIL_SIZE", "image_kind", "thumbnail"]

#: Thumbnail edge in pixels (images are shrunk to fit).
THUMBNAIL_SIZE = 64

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")


def _png_data_uri(pixels: np.ndarray, size: int = THUMBNAIL_SIZE) -> str:
    """Encode a 2-D (gray) or 3-D (RGB) uint8 array as a PNG data URI (shrunk to ``size``)."""
    from PIL import Image

    img = Image.fromarray(pixels)
    if max(img.size) > size:
        img.thumbnail((size, size))
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


#: Most pixels an image may claim before it is decoded (a larger one is refused
#: unread: a small file can claim billions of pixels, a decompression bomb).
MAX_IMAGE_PIXELS = 25_000_000


def _encoded_thumbnail(data: bytes, size: int = THUMBNAIL_SIZE) -> tuple[str | None, str | None]:
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    return None, f"claims {width:,} x {height:,} pixels (at most {MAX_IMAGE_PIXELS:,})"
                img.draft("RGB", (size, size))  # JPEG: decode shrunk
                img = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB")
                img.thumbnail((size, size))
                return _png_data_uri(np.asarray(img), size), None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, "too many pixels (a decompression bomb)"
    except Exception as exc:  # noqa: BLE001 - one bad image never stops the report
        return None, f"cannot be decoded ({type(exc).__name__})"


def thumbnail(
    value: Any, kind: str, base_dir: Path | None, root: Path | None = None,
    size: int = THUMBNAIL_SIZE,
) -> tuple[str | None, str | None]:
    """A small PNG data URI for one image cell, or None and the reason it has none.

    A path is read through :func:`labelaudit.io.images.read_image_bytes`, only
    inside ``root`` (default ``base_dir``, the data's folder). Encoded images
    are shrunk to fit ``size`` pixels (pixel arrays always to THUMBNAIL_SIZE).
    """
    if value is None:
        return None, None
    if kind == "array":
        try:
            uri = _array_thumbnail(value)
        except (TypeError, ValueError):
            uri = None
        return uri, None if uri is not None else "not a square gray or RGB pixel array"
    if kind == "bytes":
        return _encoded_thumbnail(bytes(value), size)
    from ..io.images import read_image_bytes

    data, reason = read_image_bytes(str(value), base_dir, root=root)
    if data is None:
        return None, reason
    return _encoded_thumbnail(data, size)


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
