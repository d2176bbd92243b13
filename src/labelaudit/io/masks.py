"""Segmentation inputs: folders of label masks (PNG or NPY), image folders, (N, K, H, W) probabilities.

A mask folder holds one file per image, ``<id>.png`` or ``<id>.npy``; its
pixels are class indices (a PNG in mode ``L``, ``P`` (palette indices), ``I``
or ``I;16``; an NPY 2-D integer array). Images are ordered by file name, and
the probabilities' first axis follows that order. Files are read through
:func:`labelaudit.io.read_image_bytes`, so only regular files inside the
folder are read.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from .images import read_image_bytes

__all__ = ["MASK_SUFFIXES", "MaskSet", "folder_fingerprint", "read_image_folder",
           "read_mask_array", "read_mask_folder", "read_segmentation_probs",
           "stack_segmentation_probs"]

#: Suffixes of mask files.
MASK_SUFFIXES = (".png", ".npy")

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_INDEX_MODES = ("L", "P", "I", "I;16", "1")


@dataclass(frozen=True)
class MaskSet:
    """Label masks of N images of one size.

    Attributes
    ----------
    ids : tuple of str
        Image ids (file stems, or Label Studio image names), in row order.
    masks : numpy.ndarray of shape (N, H, W)
        Class index of every pixel (unsigned integers).
    sources : tuple of Path
        File each mask came from (one file for a Label Studio export).
    class_names : tuple of str or None
        Class names the source itself defines (Label Studio brush labels), else None.
    """

    ids: tuple[str, ...]
    masks: np.ndarray
    sources: tuple[Path, ...]
    class_names: tuple[str, ...] | None = None


def _decode_mask(path: Path, data: bytes) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
            raise InputError(f"mask file '{path}': not a readable .npy array ({exc})") from None
        if arr.dtype.kind not in "biu":
            raise InputError(f"mask file '{path}': dtype must be integer class indices, "
                             f"got {arr.dtype}")
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.mode not in _INDEX_MODES:
                    raise InputError(
                        f"mask file '{path}': PNG mode {img.mode} is not a class-index mask; "
                        "save one channel (mode L, P or I) whose values are class indices")
                arr = np.asarray(img)
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"mask file '{path}': not a readable PNG ({exc})") from None
    if arr.ndim != 2:
        raise InputError(f"mask file '{path}': expected a 2-D mask (H x W), got shape {arr.shape}")
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise InputError(f"mask file '{path}': negative class index {int(arr.min())}")
    return arr.astype(np.int64 if arr.dtype.itemsize > 2 else np.uint16, copy=False)


def _open_npy(path: Path, what: str) -> np.ndarray:
    """``path`` as a read-only memory map (no pickles), or an error naming ``what`` and the file."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise InputError(f"{what} '{path}': not a readable .npy ({exc})") from None


def read_mask_folder(folder: str | Path) -> MaskSet:
    """Read every ``.png`` / ``.npy`` mask of ``folder``, ordered by file name.

    Parameters
    ----------
    folder : str or Path
        The mask folder.

    Returns
    -------
    MaskSet

    Raises
    ------
    InputError
        When the folder has no mask, two masks share an id, a file is not a
        class-index mask, or masks differ in size (naming the file).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(folder / "a.npy", np.array([[0, 1], [1, 1]]))
    >>> read_mask_folder(folder).masks.tolist()
    [[[0, 1], [1, 1]]]
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"masks folder '{folder}': not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in MASK_SUFFIXES)
    if not files:
        raise InputError(f"masks folder '{folder}': no .png or .npy mask files")
    seen: dict[str, Path] = {}
    masks = []
    for path in files:
        if path.stem in seen:
            raise InputError(f"masks folder '{folder}': '{seen[path.stem].name}' and "
                             f"'{path.name}' are both masks of image '{path.stem}'")
        seen[path.stem] = path
        got = read_image_bytes(path.name, folder)
        if got.data is None:
            raise InputError(f"mask file '{path}': {got.reason}")
        arr = _decode_mask(path, got.data)
        if masks and arr.shape != masks[0].shape:
            raise InputError(f"mask file '{path}': size {arr.shape[0]} x {arr.shape[1]} differs "
                             f"from '{files[0].name}' ({masks[0].shape[0]} x {masks[0].shape[1]}); "
                             "every mask must have the same size")
        masks.append(arr)
    return MaskSet(tuple(seen), np.stack(masks), tuple(files))


def read_segmentation_probs(path: str | Path, n_images: int, height: int,
                            width: int) -> np.ndarray:
    """Open an (N, K, H, W) ``.npy`` of probabilities as a read-only memory map.

    Raises
    ------
    InputError
        When the file is not a float32/float64 4-D ``.npy`` whose N, H, W match the masks.
    """
    path = Path(path)
    if path.suffix.lower() != ".npy" or not path.is_file():
        raise InputError(f"probabilities file '{path}': expected an existing .npy file "
                         "of shape (N, K, H, W)")
    arr = _open_npy(path, "probabilities file")
    if arr.ndim != 4:
        raise InputError(f"probabilities file '{path}': expected shape (N, K, H, W), got "
                         f"{arr.shape}")
    if arr.dtype not in (np.float32, np.float64):
        raise InputError(f"probabilities file '{path}': dtype must be float32 or float64, "
                         f"got {arr.dtype}")
    if not arr.flags.c_contiguous:
        raise InputError(f"probabilities file '{path}': must be stored in C order")
    n, k, h, w = arr.shape
    if (n, h, w) != (n_images, height, width):
        raise InputError(f"probabilities file '{path}': shape {arr.shape} does not match "
                         f"{n_images} masks of {height} x {width} (need ({n_images}, K, "
                         f"{height}, {width}))")
    if k < 2:
        raise InputError(f"probabilities file '{path}': needs at least 2 classes, got K={k}")
    return arr


def read_image_folder(folder: str | Path, ids) -> dict[str, bytes]:
    """Bytes of the image of each id (``<id>.png``, ``.jpg``, ...) found in ``folder``.

    Images that are missing or refused are left out (the report then shows
    the masks without the picture).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"images folder '{folder}': not a folder")
    by_stem: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in _IMAGE_SUFFIXES:
            by_stem.setdefault(path.stem, path)
    out: dict[str, bytes] = {}
    for item in ids:
        path = by_stem.get(str(item))
        if path is None:
            continue
        got = read_image_bytes(path.name, folder)
        if got.data is not None:
            out[str(item)] = got.data
    return out


def read_mask_array(path: str | Path) -> MaskSet:
    """Read an (N, H, W) ``.npy`` of class indices; image ids are the row numbers ``"0" .. "N-1"``.

    Raises
    ------
    InputError
        When the file is not a 3-D, non-negative integer ``.npy`` (naming the file).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "masks.npy"
    >>> np.save(path, np.zeros((2, 3, 4), dtype=np.uint8))
    >>> got = read_mask_array(path)
    >>> got.ids, got.masks.shape
    (('0', '1'), (2, 3, 4))
    """
    path = Path(path)
    if path.suffix.lower() != ".npy" or not path.is_file():
        raise InputError(f"masks file '{path}': expected a folder of masks or an existing .npy "
                         "of shape (N, H, W)")
    arr = _open_npy(path, "masks file")
    if arr.ndim != 3 or 0 in arr.shape:
        raise InputError(f"masks file '{path}': expected shape (N, H, W), got {arr.shape}")
    if arr.dtype.kind not in "biu":
        raise InputError(f"masks file '{path}': dtype must be integer class indices, "
                         f"got {arr.dtype}")
    masks = np.array(arr)
    if masks.dtype.kind == "i" and masks.min() < 0:
        row = int(np.flatnonzero((masks < 0).any(axis=(1, 2)))[0])
        raise InputError(f"masks file '{path}': negative class index in row {row}")
    return MaskSet(tuple(str(i) for i in range(masks.shape[0])), masks, (path,))


def _load_probs_file(path: Path, shape: tuple[int, int, int] | None,
                     height: int, width: int) -> np.ndarray:
    arr = _open_npy(path, "probabilities file")
    if arr.ndim != 3 or arr.dtype not in (np.float32, np.float64):
        raise InputError(f"probabilities file '{path}': expected a float32/float64 array of "
                         f"shape (K, {height}, {width}), got {arr.dtype} {arr.shape}")
    if arr.shape[1:] != (height, width):
        raise InputError(f"probabilities file '{path}': shape {arr.shape} does not match its "
                         f"mask of {height} x {width} (need (K, {height}, {width}))")
    if shape is not None and arr.shape != shape:
        raise InputError(f"probabilities file '{path}': shape {arr.shape} differs from the "
                         f"first image's {shape}; every image needs the same K")
    if arr.shape[0] < 2:
        raise InputError(f"probabilities file '{path}': needs at least 2 classes, got "
                         f"K={arr.shape[0]}")
    return arr


def stack_segmentation_probs(folder: str | Path, ids, height: int, width: int,
                             dest: str | Path) -> np.ndarray:
    """Stack a folder of per-image ``<id>.npy`` (K, H, W) probabilities into one on-disk ``.npy``.

    The files are copied one at a time into the memory map ``dest`` (in the
    images' order ``ids``), which is returned opened read-only, so memory
    stays at one image whatever N is.

    Raises
    ------
    InputError
        When an id has no file, a file is left over, or a file is not a
        (K, H, W) float array with the first file's K and dtype.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("a", "b"):
    ...     np.save(folder / f"{name}.npy", np.full((2, 1, 3), 0.5, dtype=np.float32))
    >>> stack_segmentation_probs(folder, ["a", "b"], 1, 3, folder.parent / "stacked.npy").shape
    (2, 2, 1, 3)
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"probabilities folder '{folder}': not a folder")
    files = {p.stem: p for p in folder.iterdir() if p.suffix.lower() == ".npy" and p.is_file()}
    ids = [str(i) for i in ids]
    missing = [i for i in ids if i not in files]
    if missing:
        raise InputError(f"probabilities folder '{folder}': no '{missing[0]}.npy' for image "
                         f"'{missing[0]}' ({len(missing)} image(s) without probabilities)")
    extra = sorted(set(files) - set(ids))
    if extra:
        raise InputError(f"probabilities folder '{folder}': '{files[extra[0]].name}' matches "
                         "no mask (every file must be named after an image of DATA)")
    first = _load_probs_file(files[ids[0]], None, height, width)
    out = np.lib.format.open_memmap(Path(dest), mode="w+", dtype=first.dtype,
                                    shape=(len(ids), *first.shape))
    for row, image_id in enumerate(ids):
        arr = _load_probs_file(files[image_id], first.shape, height, width)
        if arr.dtype != first.dtype:
            raise InputError(f"probabilities file '{files[image_id]}': dtype {arr.dtype} differs "
                             f"from the first image's {first.dtype}")
        out[row] = arr
    out.flush()
    del out
    return np.load(Path(dest), mmap_mode="r")


def folder_fingerprint(folder: str | Path, files, *, n_rows: int | None = None) -> dict:
    """Provenance of a folder input: total size and a SHA-256 over its files' names and bytes."""
    files = sorted(Path(f) for f in files)
    digest = hashlib.sha256()
    size = 0
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        size += path.stat().st_size
    return {"path": str(folder), "size_bytes": size, "sha256": digest.hexdigest(),
            "n_rows": n_rows, "n_files": len(files)}
