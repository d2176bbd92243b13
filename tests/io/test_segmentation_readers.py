"""Readers of segmentation inputs: mask folders, probability memmaps, Label Studio brushes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from labelaudit.exceptions import InputError
from labelaudit.io import (
    read_label_studio_brushes,
    read_mask_array,
    read_mask_folder,
    read_segmentation_probs,
)
from labelaudit.io.label_studio_segmentation import decode_brush_rle, encode_brush_rle


def test_mask_folder_reads_png_and_npy_in_name_order(tmp_path):
    Image.fromarray(np.array([[0, 2], [1, 1]], dtype=np.uint8), mode="L").save(tmp_path / "b.png")
    np.save(tmp_path / "a.npy", np.array([[1, 1], [0, 0]]))
    got = read_mask_folder(tmp_path)
    assert got.ids == ("a", "b")
    assert got.masks.tolist() == [[[1, 1], [0, 0]], [[0, 2], [1, 1]]]


def test_mask_folder_refuses_bad_files(tmp_path):
    with pytest.raises(InputError, match="no .png or .npy"):
        read_mask_folder(tmp_path)
    np.save(tmp_path / "a.npy", np.zeros((2, 2), dtype=int))
    np.save(tmp_path / "b.npy", np.zeros((3, 2), dtype=int))
    with pytest.raises(InputError, match=r"b.npy': size 3 x 2 differs"):
        read_mask_folder(tmp_path)
    (tmp_path / "b.npy").unlink()
    Image.new("RGB", (2, 2)).save(tmp_path / "c.png")
    with pytest.raises(InputError, match="mode RGB is not a class-index mask"):
        read_mask_folder(tmp_path)


def test_probabilities_must_match_the_masks(tmp_path):
    np.save(tmp_path / "p.npy", np.full((2, 3, 4, 5), 1 / 3, dtype=np.float32))
    arr = read_segmentation_probs(tmp_path / "p.npy", 2, 4, 5)
    assert isinstance(arr, np.memmap) and not arr.flags.writeable
    with pytest.raises(InputError, match=r"does not match 3 masks of 4 x 5"):
        read_segmentation_probs(tmp_path / "p.npy", 3, 4, 5)
    np.save(tmp_path / "q.npy", np.zeros((2, 4, 5)))
    with pytest.raises(InputError, match="expected shape"):
        read_segmentation_probs(tmp_path / "q.npy", 2, 4, 5)


def test_rle_round_trip_and_hand_made_literal_block():
    rng = np.random.default_rng(1)
    for size in (0, 1, 7, 4 * 33 * 17, 70000):
        values = (rng.random(size) < 0.3).astype(np.uint8) * 255
        np.testing.assert_array_equal(decode_brush_rle(encode_brush_rle(values)), values)
    # A literal block (repeat bit 0), written bit by bit: num=3, word 8 bits,
    # widths 1,2,3,4; block: repeat 0, width #1 (2 bits) value 2 -> 3 literals 5, 6, 7.
    bits = (format(3, "032b") + format(7, "05b") + "0000" + "0001" + "0010" + "0011"
            + "0" + "01" + "10" + format(5, "08b") + format(6, "08b") + format(7, "08b"))
    bits += "0" * (-len(bits) % 8)
    rle = [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]
    assert decode_brush_rle(rle).tolist() == [5, 6, 7]
    with pytest.raises(InputError, match="ends early"):
        decode_brush_rle(rle[:6])


def _brush(mask, label, h, w):
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    rgba[..., 3] = mask * 255
    return {"type": "brushlabels", "original_height": h, "original_width": w,
            "value": {"format": "rle", "rle": encode_brush_rle(rgba.ravel()),
                      "brushlabels": [label]}}


def test_label_studio_brush_export(tmp_path):
    h, w = 3, 4
    car = np.zeros((h, w), dtype=bool)
    car[0, :2] = True
    road = np.zeros((h, w), dtype=bool)
    road[2] = True
    road[0, 1] = True          # painted after car: road wins at (0, 1)
    tasks = [{"id": 7, "data": {"image": "/data/upload/1/img_a.png"},
              "annotations": [{"was_cancelled": True, "result": []},
                              {"result": [_brush(car, "car", h, w), _brush(road, "road", h, w)]}]}]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    got = read_label_studio_brushes(tmp_path / "export.json")
    assert got.ids == ("img_a",)
    assert got.class_names == ("background", "car", "road")
    assert got.masks[0].tolist() == [[1, 2, 0, 0], [0, 0, 0, 0], [2, 2, 2, 2]]
    with pytest.raises(InputError, match=r"brush label\(s\) \['road'\] are not in"):
        read_label_studio_brushes(tmp_path / "export.json", classes=["bg", "car"])


@pytest.mark.parametrize(("reader", "what"), [
    (read_mask_array, "masks file"),
    (lambda p: read_segmentation_probs(p, 1, 2, 2), "probabilities file"),
])
def test_unreadable_npy_names_the_file(tmp_path, reader, what):
    bad = tmp_path / "broken.npy"
    bad.write_bytes(b"not an array")
    with pytest.raises(InputError, match=rf"{what} '.*broken\.npy': not a readable \.npy"):
        reader(bad)
