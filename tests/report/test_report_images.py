"""Image columns cannot hang, crash or leak: only regular files inside one folder are read.

A table names image files; the report reads them for thumbnails. A FIFO, a
symlink to ``/dev/zero``, a PNG whose header claims 30,000 x 30,000 pixels,
an absolute path, a ``../`` path and a symlink leading out of the data's
folder each get a placeholder with the reason, and the audit finishes with
exit 0 (run in a child process with a timeout, so a hang fails the test
instead of blocking it). ``--image-root`` widens the folder.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from labelaudit.io.images import read_image_bytes
from labelaudit.report._images import thumbnail

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")


def _png(size=(20, 16), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)).save(
        buf, format="PNG")
    return buf.getvalue()


def _bomb_png(width=30_000, height=30_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` gray pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # a few rows; the rest would be zeros
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def image_tree(tmp_path):
    """``data/`` with good and hostile image paths, and ``private/`` outside it."""
    data = tmp_path / "data"
    private = tmp_path / "private"
    data.mkdir()
    private.mkdir()
    (data / "good.png").write_bytes(_png())
    (private / "secret.png").write_bytes(_png(seed=1))
    os.mkfifo(data / "fifo.png")
    (data / "zero.png").symlink_to("/dev/zero")
    (data / "bomb.png").write_bytes(_bomb_png())
    (data / "out.png").symlink_to(private / "secret.png")
    return data, private


# --------------------------------------------------------------------------- reading


def test_regular_files_inside_the_folder_are_read(image_tree):
    data, _ = image_tree
    got = read_image_bytes("good.png", data)
    assert got.reason is None and got.data == (data / "good.png").read_bytes()
    assert read_image_bytes(str(data / "good.png"), data).data == got.data  # absolute, inside


@pytest.mark.parametrize("name, reason", [
    ("fifo.png", "a FIFO"),
    ("zero.png", "outside the image folder"),         # /dev/zero is outside
    ("out.png", "outside the image folder"),           # a symlink leading out
    ("../private/secret.png", "outside the image folder"),
    ("missing.png", "cannot be read (No such file or directory)"),
])
def test_hostile_paths_are_refused_with_a_reason(image_tree, name, reason):
    data, _ = image_tree
    assert read_image_bytes(name, data) == (None, reason)


def test_absolute_path_outside_is_refused(image_tree):
    data, private = image_tree
    assert read_image_bytes(str(private / "secret.png"), data) == (None, "outside the image folder")


def test_devices_and_fifos_are_refused_even_inside_the_root(image_tree):
    data, _ = image_tree
    # With the whole file system as the root, /dev/zero is inside: refused as a device.
    assert read_image_bytes("zero.png", data, root="/") == (None, "a character device")
    assert read_image_bytes(str(data / "fifo.png"), data, root="/") == (None, "a FIFO")
    assert read_image_bytes(".", data) == (None, "a folder")


def test_size_and_time_caps(image_tree):
    data, _ = image_tree
    size = (data / "good.png").stat().st_size
    assert read_image_bytes("good.png", data, max_bytes=size).data is not None
    assert read_image_bytes("good.png", data, max_bytes=size - 1).reason.startswith("larger than")
    assert read_image_bytes("good.png", data, max_seconds=0.0).reason == \
        "took longer than 0 s to read"


def test_root_replaces_the_data_folder(image_tree):
    data, private = image_tree
    assert read_image_bytes("out.png", data, root=data.parent).data == \
        (private / "secret.png").read_bytes()


def test_decompression_bomb_and_garbage_get_reasons(image_tree):
    data, _ = image_tree
    uri, reason = thumbnail("bomb.png", "path", data)
    assert uri is None and "pixels" in reason
    # Just under Pillow's own limit, still over ours: refused before decoding.
    uri, reason = thumbnail(_bomb_png(9_000, 9_000), "bytes", None)
    assert uri is None and reason == "claims 9,000 x 9,000 pixels (at most 25,000,000)"
    uri, reason = thumbnail(b"\x89PNG garbage", "bytes", None)
    assert uri is None and reason.startswith("cannot be decoded")
    uri, reason = thumbnail("good.png", "path", data)
    assert uri.startswith("data:image/png;base64,") and reason is None


# --------------------------------------------------------------------------- the audit


HOSTILE = ["fifo.png", "zero.png", "bomb.png", "out.png", "../private/secret.png", "ABSOLUTE"]


def _audit_inputs(data: Path, private: Path) -> tuple[Path, Path]:
    """200 items; the hostile images belong to items whose labels the model contradicts."""
    n, rng = 200, np.random.default_rng(3)
    truth = rng.integers(0, 2, n)
    labels = truth.copy()
    images = ["good.png"] * n
    for i, name in enumerate(HOSTILE + ["good.png"]):
        labels[i] = 1 - truth[i]
        images[i] = str(private / "secret.png") if name == "ABSOLUTE" else name
    p1 = np.where(truth == 1, 0.95, 0.05)
    ids = [f"item{i:03d}" for i in range(n)]
    table = data / "items.csv"
    pl.DataFrame({"id": ids, "label": np.array(["cat", "dog"])[labels], "image": images}).write_csv(
        table)
    probs = data / "probs.csv"
    pl.DataFrame({"id": ids, "cat": 1 - p1, "dog": p1}).write_csv(probs)
    return table, probs


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labelaudit", *map(str, args)],
                          capture_output=True, text=True, timeout=240)


def _cell(html: str, item: str) -> str:
    """The table row (``<tr>`` .. ``</tr>``) of one item."""
    at = html.index(f">{item}<")
    return html[html.rindex("<tr", 0, at):html.index("</tr>", at)]


def test_hostile_images_give_placeholders_and_a_finished_audit(image_tree, tmp_path):
    data, private = image_tree
    table, probs = _audit_inputs(data, private)
    out = tmp_path / "out"
    done = _cli("audit", table, "--id-col", "id", "--label-col", "label", "--pred-probs", probs,
                "--out", out, "--n-bootstrap", "20")
    assert done.returncode == 0, done.stderr
    html = (out / "report.html").read_text()
    secret = (private / "secret.png").read_bytes()
    expected = {
        "item000": "not shown: a FIFO",
        "item001": "not shown: outside the image folder",
        "item002": "not shown: too many pixels (a decompression bomb)",
        "item003": "not shown: outside the image folder",
        "item004": "not shown: outside the image folder",
        "item005": "not shown: outside the image folder",
    }
    for item, text in expected.items():
        cell = _cell(html, item)
        assert text in cell and "<img" not in cell, (item, cell[:400])
    assert "<img" in _cell(html, "item006")  # the good image is shown
    assert "6 images were not shown" in html
    thumb_of_secret = thumbnail(str(private / "secret.png"), "path", private)[0]
    assert thumb_of_secret not in html and secret[:64].hex() not in html

    # --image-root widens the folder to the parent: the private image now shows.
    wide = tmp_path / "wide"
    done = _cli("audit", table, "--id-col", "id", "--label-col", "label", "--pred-probs", probs,
                "--out", wide, "--n-bootstrap", "20", "--image-root", data.parent)
    assert done.returncode == 0, done.stderr
    html = (wide / "report.html").read_text()
    for item in ("item003", "item004", "item005"):
        assert thumb_of_secret in _cell(html, item), item
    assert "not shown: a FIFO" in _cell(html, "item000")
    assert "not shown: a character device" not in html  # /dev/zero is still outside
    assert "--image-root" in html  # the reproducing command keeps the option

    bad = _cli("audit", table, "--id-col", "id", "--label-col", "label", "--pred-probs", probs,
               "--out", tmp_path / "bad", "--image-root", data / "nowhere")
    assert bad.returncode == 2 and "--image-root" in bad.stderr
