"""The table reader registry: a new format is one registration plus its reader."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from labelaudit import io
from labelaudit.exceptions import InputError
from labelaudit.io import tables


@pytest.fixture
def toy_reader():
    before = dict(io.READERS)

    def read(path, what, columns):
        # "key=value" lines, one row each
        rows = [line.split("=", 1) for line in path.read_text().splitlines() if line]
        return pl.DataFrame({"id": [int(k) for k, _ in rows], "label": [v for _, v in rows]})

    yield io.register_reader(io.Reader("key=value", (".kv",), read, text=True))
    io.READERS.clear()
    io.READERS.update(before)


def test_a_registered_reader_is_used_by_suffix(tmp_path, toy_reader):
    path = tmp_path / "labels.KV"
    path.write_text("1=cat\n2=dog\n")
    df = io.read_table(path, what="labels", columns=["label"])
    assert_frame_equal(df, pl.DataFrame({"label": ["cat", "dog"]}))
    with pytest.raises(InputError, match=r"labels file '.*labels.KV': missing column\(s\) 'x'"):
        io.read_table(path, what="labels", columns=["x"])


def test_unsupported_message_lists_registered_formats(tmp_path, toy_reader):
    path = tmp_path / "labels.xyz"
    path.write_text("x")
    with pytest.raises(InputError) as info:
        io.read_table(path, what="labels")
    assert str(info.value).endswith(
        "unsupported extension '.xyz'; expected one of .csv, .tsv, .parquet, .pq, .jsonl, "
        ".ndjson, .json (Label Studio export), .kv"
    )


def test_text_readers_reject_utf16_and_locate_bad_bytes(tmp_path, toy_reader):
    path = tmp_path / "bom.kv"
    path.write_bytes(b"\xff\xfe1\x00=\x00")
    with pytest.raises(InputError, match="UTF-16/UTF-32 byte-order mark"):
        io.read_table(path)
    assert tables.READERS[".kv"] is toy_reader


def test_default_message_without_toy(tmp_path):
    path = tmp_path / "labels.xyz"
    path.write_text("x")
    with pytest.raises(InputError, match=r"\.json \(Label Studio export\)$"):
        io.read_table(path)
