"""Image files referenced by data tables (read as bytes; decoding is the caller's).

A table can name any path, so reading is fenced: only regular files inside
one folder (the data's folder, or an explicit image root) are read, at most
:data:`MAX_IMAGE_BYTES` of them and for at most :data:`MAX_IMAGE_SECONDS`.
Paths are resolved (symlinks followed) before the check, so an absolute path,
a ``../`` path or a symlink that leads out of the folder is refused; a FIFO,
a device such as ``/dev/zero`` or a directory is refused before it is opened,
and the file is opened non-blocking, so nothing here can hang. Every refusal
comes back as a short reason, never as an exception.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import NamedTuple

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_SECONDS", "ImageBytes", "read_image_bytes"]

#: Largest image file read (bytes); a bigger one is refused.
MAX_IMAGE_BYTES = 16 * 2**20
#: Longest time spent reading one image file (seconds).
MAX_IMAGE_SECONDS = 2.0

_READ_BLOCK = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class ImageBytes(NamedTuple):
    """The outcome of reading one image file.

    Attributes
    ----------
    data : bytes or None
        The file's bytes, or None when it was not read.
    reason : str or None
        Why it was not read (short, without the path), or None when it was.
    """

    data: bytes | None
    reason: str | None


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


def read_image_bytes(
    path: str | os.PathLike[str],
    base_dir: str | os.PathLike[str] | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_seconds: float = MAX_IMAGE_SECONDS,
) -> ImageBytes:
    """The bytes of an image file inside an allowed folder, or the reason it was not read.

    Parameters
    ----------
    path : str or os.PathLike
        The file as the table names it; a relative path is taken relative to
        ``base_dir`` (or to ``root`` when ``base_dir`` is not given).
    base_dir : str or os.PathLike, optional
        Directory of the table that names the file.
    root : str or os.PathLike, optional
        The only folder files are read from (after resolving symlinks);
        default ``base_dir``, or the current directory when neither is given.
    max_bytes : int, default MAX_IMAGE_BYTES
        Larger files are refused.
    max_seconds : float, default MAX_IMAGE_SECONDS
        A read taking longer is abandoned.

    Returns
    -------
    ImageBytes
        ``(data, None)`` when read, ``(None, reason)`` otherwise.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.png").write_bytes(b"\\x89PNG...")
    >>> read_image_bytes("a.png", folder).data[:4]
    b'\\x89PNG'
    >>> read_image_bytes("../a.png", folder / "sub").reason
    'outside the image folder'
    """
    base = Path(base_dir) if base_dir is not None else None
    fence = Path(root) if root is not None else (base if base is not None else Path.cwd())
    try:
        fence_real = os.path.realpath(fence)
        target = Path(path)
        if not target.is_absolute():
            target = (base if base is not None else fence) / target
        real = os.path.realpath(target)
    except (OSError, ValueError):
        return ImageBytes(None, "not a usable path")
    if not _inside(real, fence_real):
        return ImageBytes(None, "outside the image folder")
    try:
        info = os.stat(real)
    except OSError as exc:
        return ImageBytes(None, f"cannot be read ({exc.strerror or 'error'})")
    except ValueError:
        return ImageBytes(None, "not a usable path")
    if not stat.S_ISREG(info.st_mode):
        return ImageBytes(None, _kind(info.st_mode))
    if info.st_size > max_bytes:
        return ImageBytes(None, f"larger than {max_bytes // 2**20} MB")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        return ImageBytes(None, f"cannot be read ({exc.strerror or 'error'})")
    try:
        opened = os.fstat(fd)
        # Swapped for something else between the checks and the open.
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (
            info.st_dev, info.st_ino
        ):
            return ImageBytes(None, "changed while being read")
        deadline = time.monotonic() + max_seconds
        chunks: list[bytes] = []
        total = 0
        while True:
            block = os.read(fd, _READ_BLOCK)
            if not block:
                break
            total += len(block)
            if total > max_bytes:
                return ImageBytes(None, f"larger than {max_bytes // 2**20} MB")
            chunks.append(block)
            if time.monotonic() > deadline:
                return ImageBytes(None, f"took longer than {max_seconds:g} s to read")
        return ImageBytes(b"".join(chunks), None)
    except OSError as exc:
        return ImageBytes(None, f"cannot be read ({exc.strerror or 'error'})")
    finally:
        os.close(fd)
