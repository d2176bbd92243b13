"""Label Studio brush labels (semantic segmentation) in and out.

A Label Studio JSON export lists tasks; each brush region of an annotation
is a result ``{"type": "brushlabels", "original_width": W,
"original_height": H, "value": {"format": "rle", "rle": [...],
"brushlabels": ["Car"]}}``. ``rle`` is the byte list of a bit-packed
run-length code of the region's RGBA bitmap (H x W x 4, row-major; the
alpha channel is the region), the format of the thi.ng ``rle-pack`` library
that Label Studio's brush tool and label-studio-converter use:

- 32 bits: number of values ``num`` (``H * W * 4``);
- 5 bits: word size minus 1 (8 for brush bitmaps);
- 4 x 4 bits: the four run-length field widths minus 1;
- then blocks until ``num`` values are produced: 1 bit ``repeat``, 2 bits
  choosing a width ``b``, ``b`` bits ``length - 1``, then one word repeated
  ``length`` times when ``repeat`` is 1, else ``length`` literal words.

Bits are read most significant first. Regions are painted in the order of
the results (a later region wins where two overlap); pixels no region covers
get the first class (``background`` unless ``classes`` say otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError
from .masks import MaskSet

__all__ = ["BACKGROUND", "decode_brush_rle", "encode_brush_rle", "read_label_studio_brushes"]

#: Name of the class of the pixels no brush covers, when the classes are not given.
BACKGROUND = "background"

_WIDTHS = (4, 8, 12, 16)  # run-length field widths the encoder writes


class _Bits:
    """Most-significant-bit-first reader over a byte sequence."""

    def __init__(self, data: bytes, where: str):
        self.bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))
        self.pos = 0
        self.where = where

    def read(self, size: int) -> int:
        end = self.pos + size
        if end > self.bits.size:
            raise InputError(f"{self.where}: brush RLE ends early (needs {end} bits, has "
                             f"{self.bits.size})")
        value = 0
        for bit in self.bits[self.pos:end]:
            value = (value << 1) | int(bit)
        self.pos = end
        return value


def decode_brush_rle(rle: Sequence[int], *, where: str = "brush RLE") -> np.ndarray:
    """Decode Label Studio's brush RLE into the flat array of values it encodes.

    Parameters
    ----------
    rle : sequence of int
        The ``value.rle`` byte list of a ``brushlabels`` result.
    where : str
        Named in error messages.

    Returns
    -------
    numpy.ndarray of uint8 (or wider for word sizes above 8)
        ``num`` values, for a brush ``H * W * 4`` RGBA bytes.

    Examples
    --------
    >>> values = np.array([0, 0, 0, 255, 7, 7], dtype=np.uint8)
    >>> decode_brush_rle(encode_brush_rle(values)).tolist()
    [0, 0, 0, 255, 7, 7]
    """
    try:
        data = bytes(int(b) & 0xFF if 0 <= int(b) <= 255 else -1 for b in rle)
    except (TypeError, ValueError):
        raise InputError(f"{where}: rle must be a list of byte values 0..255") from None
    bits = _Bits(data, where)
    num = bits.read(32)
    word = bits.read(5) + 1
    widths = [bits.read(4) + 1 for _ in range(4)]
    out = np.zeros(num, dtype=np.uint8 if word <= 8 else np.uint32)
    i = 0
    while i < num:
        repeat = bits.read(1)
        j = i + 1 + bits.read(widths[bits.read(2)])
        if j > num:
            raise InputError(f"{where}: brush RLE run goes past the {num} values it declares")
        if repeat:
            out[i:j] = bits.read(word)
        else:
            for pos in range(i, j):
                out[pos] = bits.read(word)
        i = j
    return out


def encode_brush_rle(values: np.ndarray) -> list[int]:
    """Encode a flat uint8 array in Label Studio's brush RLE (runs only), as a byte list.

    Parameters
    ----------
    values : numpy.ndarray of uint8
        For a brush region: the H x W x 4 RGBA bitmap, flattened.

    Returns
    -------
    list of int
    """
    values = np.asarray(values, dtype=np.uint8).ravel()
    out: list[str] = [format(values.size, "032b"), format(7, "05b")]
    out += [format(w - 1, "04b") for w in _WIDTHS]
    if values.size:
        starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
        ends = np.concatenate((starts[1:], [values.size]))
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            length = end - start
            while length:
                step = min(length, 1 << _WIDTHS[-1])
                sel = next(s for s, w in enumerate(_WIDTHS) if step - 1 < (1 << w))
                out.append("1" + format(sel, "02b") + format(step - 1, f"0{_WIDTHS[sel]}b")
                           + format(int(values[start]), "08b"))
                length -= step
    bits = "".join(out)
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]


def _task_id(task: dict[str, Any], index: int) -> str:
    data = task.get("data") or {}
    image = data.get("image") if isinstance(data, dict) else None
    if isinstance(image, str) and image:
        name = image.rsplit("/", 1)[-1].split("?", 1)[0]
        return name.rsplit(".", 1)[0] if "." in name else name
    return str(task.get("id", index))


def read_label_studio_brushes(path: str | Path,
                              classes: Sequence[str] | None = None) -> MaskSet:
    """Masks from a Label Studio JSON export of brush (``brushlabels``) annotations.

    Parameters
    ----------
    path : str or Path
        The export (a JSON list of tasks).
    classes : sequence of str, optional
        Class names in index order; the first one is given to pixels no brush
        covers. Default: ``background`` followed by the brush labels in sorted order.

    Returns
    -------
    MaskSet
        One mask per task (its first annotation that was not cancelled),
        ordered as in the export; ids are the image file stems (``data.image``)
        or else the task ids.

    Raises
    ------
    InputError
        Naming the task and result that is malformed, uses a label outside
        ``classes``, or has a size other than the first task's.
    """
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"Label Studio export '{path}': not readable JSON ({exc})") from None
    if not isinstance(tasks, list) or not tasks:
        raise InputError(f"Label Studio export '{path}': expected a non-empty list of tasks")
    regions: list[tuple[str, list[tuple[str, np.ndarray]], tuple[int, int]]] = []
    names: set[str] = set()
    size: tuple[int, int] | None = None
    for t, task in enumerate(tasks):
        at = f"Label Studio export '{path}', task {t}"
        if not isinstance(task, dict):
            raise InputError(f"{at}: a task must be an object")
        anns = [a for a in task.get("annotations") or [] if isinstance(a, dict)
                and not a.get("was_cancelled")]
        if not anns:
            raise InputError(f"{at}: no annotation")
        painted = []
        task_size = size
        for r, res in enumerate(anns[0].get("result") or []):
            if not isinstance(res, dict) or res.get("type") != "brushlabels":
                continue
            where = f"{at}, result {r}"
            value = res.get("value") or {}
            labels = value.get("brushlabels")
            if value.get("format") != "rle" or not isinstance(value.get("rle"), list):
                raise InputError(f"{where}: brush value must have format 'rle' and an rle list")
            if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
                raise InputError(f"{where}: brushlabels must hold exactly one label name")
            try:
                h, w = int(res["original_height"]), int(res["original_width"])
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{where}: original_height and original_width are required"
                                 ) from None
            if task_size is None:
                task_size = (h, w)
            if (h, w) != task_size:
                raise InputError(f"{where}: size {h} x {w} differs from {task_size[0]} x "
                                 f"{task_size[1]}; every image must have the same size")
            flat = decode_brush_rle(value["rle"], where=where)
            if flat.size != h * w * 4:
                raise InputError(f"{where}: RLE holds {flat.size} values, expected "
                                 f"{h} x {w} x 4 = {h * w * 4}")
            painted.append((labels[0], flat.reshape(h, w, 4)[:, :, 3] >= 128))
            names.add(labels[0])
        if task_size is None:
            raise InputError(f"{at}: no brushlabels result (cannot tell the image size)")
        size = task_size
        regions.append((_task_id(task, t), painted, task_size))
    class_list = (list(classes) if classes is not None
                  else [BACKGROUND, *sorted(names - {BACKGROUND})])
    index = {name: i for i, name in enumerate(class_list)}
    missing = sorted(names - set(index))
    if missing:
        raise InputError(f"Label Studio export '{path}': brush label(s) {missing} are not in "
                         f"the classes {class_list}")
    assert size is not None
    masks = np.zeros((len(regions), *size), dtype=np.uint16)
    ids = []
    for m, (item, painted, _) in enumerate(regions):
        for name, region in painted:
            masks[m][region] = index[name]
        ids.append(item)
    if len(set(ids)) != len(ids):
        ids = [str(i) for i in range(len(ids))]
    return MaskSet(tuple(ids), masks, (path,), tuple(class_list))
