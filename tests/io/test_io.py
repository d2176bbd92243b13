"""Tests for labelaudit.io: loaders, id alignment, error messages and atomic writers."""

from __future__ import annotations

import json
import os
import re
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from labelaudit import io
from labelaudit.exceptions import InputError, LabelAuditError, LabelAuditWarning
from labelaudit.io import _common, probs


@pytest.fixture
def table():
    return pl.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "label": ["cat", "dog", "cat", "bird"],
            "score": [0.5, 1.5, -2.0, 3.25],
        }
    )


# --------------------------------------------------------------------------- read_table


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson"])
def test_read_table_round_trips_every_format(tmp_path, table, suffix):
    path = tmp_path / f"labels{suffix}"
    if suffix == ".csv":
        table.write_csv(path)
    elif suffix == ".tsv":
        table.write_csv(path, separator="\t")
    elif suffix in (".parquet", ".pq"):
        table.write_parquet(path)
    else:
        table.write_ndjson(path)
    assert_frame_equal(io.read_table(path), table)


def test_read_table_accepts_utf8_bom(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfid,label\n1,x\n")
    assert io.read_table(path).columns == ["id", "label"]


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"labels file '.*nope\.csv' does not exist"):
        io.read_table(tmp_path / "nope.csv", what="labels")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".json"])
def test_empty_file(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=rf"file '.*empty\{suffix}' is empty \(0 bytes\)"):
        io.read_table(path)


def test_header_only_csv(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("id,label\n")
    with pytest.raises(InputError, match="header.csv' has no data rows"):
        io.read_table(path)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "labels.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(InputError, match=r"unsupported extension '\.xlsx'"):
        io.read_table(path)


def test_not_parquet(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("id,label\n1,2\n")
    with pytest.raises(InputError, match="fake.parquet' is not a readable Parquet file: "):
        io.read_table(path)


def test_broken_jsonl(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"a": 1}\n{oops\n')
    with pytest.raises(InputError, match="broken.jsonl' is not a readable JSON Lines file: "
                       "line 2 is not valid JSON"):
        io.read_table(path)


@pytest.mark.parametrize("name, text, line", [
    ("ragged.csv", "id,label\n1,a\n2,b\n3,c,extra\n", "line 4 has 3 fields, the header 2"),
    ("long.tsv", "id\tlabel\n1\ta\n2\tb\t0\n", "line 3 has 3 fields, the header 2"),
    ("list.jsonl", '{"id": 1}\n[1, 2]\n', "line 2 is not a JSON object"),
])
def test_an_unreadable_line_is_named(tmp_path, name, text, line):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as info:
        io.read_table(path)
    message = str(info.value)
    assert message.endswith(line) and name in message and "\n" not in message


def test_non_utf8_csv_names_offset_and_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,label\n1,cat\n2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError) as info:
        io.read_table(path)
    msg = str(info.value)
    assert "latin1.csv' is not valid UTF-8" in msg
    assert "invalid byte 0xe9 at byte offset 20 (line 3)" in msg
    assert "\n" not in msg


def test_non_utf8_offset_across_block_boundary(tmp_path, monkeypatch):
    # A 2-byte character split across blocks is valid; the bad byte comes later.
    monkeypatch.setattr(_common, "BLOCK_SIZE", 4)
    data = "a,b\né,x\n".encode() + b"\xff\n"
    path = tmp_path / "split.csv"
    path.write_bytes(data)
    bad = data.index(b"\xff")
    assert _common._first_invalid_utf8(path) == f"invalid byte 0xff at byte offset {bad} (line 3)"


def test_utf16_file_is_recognised(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("id,label\n1,x\n".encode("utf-16"))
    with pytest.raises(
        InputError,
        match="excel.csv' is not valid UTF-8: it starts with a UTF-16/UTF-32 byte-order mark",
    ):
        io.read_table(path)


def test_non_utf8_jsonl(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "\xff"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl' is not valid UTF-8: .*offset 19 \(line 2\)"):
        io.read_table(path)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_wrong_delimiter_csv(tmp_path, sep):
    path = tmp_path / "semi.csv"
    path.write_text(f"id{sep}label\n1{sep}a\n2{sep}b\n")
    with pytest.raises(InputError, match=rf"semi.csv' .* looks {re.escape(repr(sep))}-delimited"):
        io.read_table(path)


def test_comma_separated_tsv(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text("id,label\n1,a\n")
    with pytest.raises(InputError, match="looks ','-delimited; expected '\\\\t'-delimited"):
        io.read_table(path)


def test_single_column_csv_is_fine(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("label\na\nb\n")
    assert io.read_table(path)["label"].to_list() == ["a", "b"]


# --------------------------------------------------------------------------- Label Studio


def _ls_annotation(ann_id, user, choices, *, cancelled=False, created="2024-03-01T10:00:00.5Z"):
    return {
        "id": ann_id,
        "completed_by": user,
        "result": [
            {
                "value": {"choices": choices},
                "id": f"r{ann_id}",
                "from_name": "sentiment",
                "to_name": "text",
                "type": "choices",
                "origin": "manual",
            }
        ],
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": created,
        "updated_at": created,
        "lead_time": 4.2,
        "prediction": {},
        "result_count": 0,
        "task": ann_id // 10,
        "project": 3,
        "parent_prediction": None,
        "parent_annotation": None,
    }


def _ls_task(task_id, text, annotations):
    return {
        "id": task_id,
        "annotations": annotations,
        "file_upload": "upload.json",
        "drafts": [],
        "predictions": [],
        "data": {"text": text, "label": "collides"},
        "meta": {},
        "created_at": "2024-02-28T09:00:00.000000Z",
        "updated_at": "2024-03-01T10:00:00.000000Z",
        "inner_id": task_id,
        "total_annotations": len(annotations),
        "cancelled_annotations": 0,
        "total_predictions": 0,
        "comment_count": 0,
        "unresolved_comment_count": 0,
        "last_comment_updated_at": None,
        "project": 3,
        "updated_by": 1,
        "comment_authors": [],
    }


@pytest.fixture
def ls_export(tmp_path):
    tasks = [
        _ls_task(
            1,
            "great product",
            [
                _ls_annotation(11, 1, ["Positive"]),
                _ls_annotation(12, {"id": 2, "email": "b@example.org"}, ["Positive"]),
                _ls_annotation(13, 3, ["Negative"], cancelled=True),
            ],
        ),
        _ls_task(
            2,
            "awful",
            [
                _ls_annotation(21, {"email": "c@example.org"}, ["Negative"]),
                _ls_annotation(22, 1, ["Neutral"], created="2024-03-02T11:30:00Z"),
            ],
        ),
        _ls_task(3, "no one labeled me", []),
    ]
    path = tmp_path / "project-3-at-2024.json"
    path.write_text(json.dumps(tasks, indent=1))
    return path


def test_label_studio_export_becomes_long_table(ls_export):
    df = io.read_table(ls_export, what="annotations")
    assert df.columns == ["item_id", "annotator", "label", "created_at", "text", "data_label"]
    assert df["item_id"].to_list() == [1, 1, 2, 2]
    # the email when the export carries it, the user id otherwise
    assert df["annotator"].to_list() == ["1", "b@example.org", "c@example.org", "1"]
    assert df["label"].to_list() == ["Positive", "Positive", "Negative", "Neutral"]
    assert df["text"].to_list() == ["great product", "great product", "awful", "awful"]
    assert df.schema["created_at"] == pl.Datetime("us", "UTC")
    assert df["created_at"][3].isoformat() == "2024-03-02T11:30:00+00:00"


def test_label_studio_several_choices_names_task(tmp_path):
    tasks = [_ls_task(7, "x", [_ls_annotation(71, 1, ["A", "B"])])]
    path = tmp_path / "multi.json"
    path.write_text(json.dumps(tasks))
    with pytest.raises(InputError, match=r"multi.json': task 7 annotation 71 has 2 choices"):
        io.read_table(path)


def test_label_studio_annotation_without_choice_warns(tmp_path):
    empty = _ls_annotation(82, 2, [])
    tasks = [_ls_task(8, "x", [_ls_annotation(81, 1, ["A"]), empty])]
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(tasks))
    with pytest.warns(LabelAuditWarning, match="skipped 1 annotation"):
        df = io.read_table(path)
    assert df.height == 1


def test_label_studio_not_a_task_list(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"a": 1}')
    with pytest.raises(InputError, match="config.json' is not a Label Studio export"):
        io.read_table(path)


def test_label_studio_invalid_json(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"id": 1, ')
    with pytest.raises(InputError, match=r"cut.json' is not valid JSON: .* line 1 column"):
        io.read_table(path)


def test_label_studio_non_utf8(tmp_path):
    path = tmp_path / "ls.json"
    data = b'[{"id": 1, "data": {"t": "\xe9"}}]'
    path.write_bytes(data)
    with pytest.raises(
        InputError, match=rf"ls.json' is not valid UTF-8: .*offset {data.index(233)}"
    ):
        io.read_table(path)


# --------------------------------------------------------------------------- schema helpers


def test_require_columns_lists_missing_and_available(table):
    with pytest.raises(InputError) as info:
        io.require_columns(table, ["id", "given", "prob"], source="labels.csv")
    assert str(info.value) == (
        "labels.csv: missing column(s) 'given', 'prob'; available columns: 'id', 'label', 'score'"
    )
    io.require_columns(table, ["id", "label"], source="labels.csv")


def test_encode_labels_sorted_strings(table):
    codes, names = io.encode_labels(table["label"], source="labels.csv", column="label")
    assert names == ["bird", "cat", "dog"]
    assert codes.tolist() == [1, 2, 1, 0]
    assert codes.dtype == np.intp


def test_encode_labels_ints_sorted_numerically():
    codes, names = io.encode_labels(pl.Series([10, 2, 1, 2]), source="s", column="y")
    assert names == ["1", "2", "10"]
    assert codes.tolist() == [2, 1, 0, 1]


def test_encode_labels_integral_floats_are_ints():
    codes, names = io.encode_labels(pl.Series([1.0, 0.0]), source="s", column="y")
    assert names == ["0", "1"] and codes.tolist() == [1, 0]


def test_encode_labels_rejects_fractional_float():
    with pytest.raises(InputError, match="column 'y' has non-integer label 0.5"):
        io.encode_labels(pl.Series([1.0, 0.5]), source="s", column="y")


def test_encode_labels_given_classes_order():
    codes, names = io.encode_labels(
        pl.Series([0, 1, 1]), classes=["1", "0"], source="s", column="y"
    )
    assert names == ["1", "0"] and codes.tolist() == [1, 0, 0]


def test_encode_labels_unknown_value_names_row():
    with pytest.raises(InputError) as info:
        io.encode_labels(
            pl.Series(["a", "b", "zz", "q"]), classes=["a", "b"], source="labels.csv", column="y"
        )
    assert "labels.csv: column 'y' row 2 has label 'zz'" in str(info.value)


def test_encode_labels_null_names_row():
    with pytest.raises(InputError, match="labels.csv: column 'y' has a null label at row 1"):
        io.encode_labels(pl.Series(["a", None, "b"]), source="labels.csv", column="y")


def test_encode_labels_duplicate_classes():
    with pytest.raises(InputError, match="duplicate class 'a'"):
        io.encode_labels(pl.Series(["a"]), classes=["a", "a"], source="s", column="y")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-5, 50), min_size=1, max_size=40))
def test_encode_labels_matches_numpy_unique(values):
    codes, names = io.encode_labels(pl.Series(values), source="s", column="y")
    uniq, inverse = np.unique(values, return_inverse=True)
    assert names == [str(v) for v in uniq]
    np.testing.assert_array_equal(codes, inverse)


def test_item_ids_default_is_row_number(table):
    ids = io.item_ids(table, source="labels.csv")
    assert ids.name == "id" and ids.to_list() == [0, 1, 2, 3]


def test_item_ids_duplicate_names_id_and_both_rows():
    df = pl.DataFrame({"key": ["x", "y", "z", "y"]})
    with pytest.raises(InputError) as info:
        io.item_ids(df, "key", source="labels.csv")
    assert str(info.value) == "labels.csv: duplicate id 'y' in column 'key' at rows 1 and 3"


def test_item_ids_null():
    df = pl.DataFrame({"key": [1, None]})
    with pytest.raises(InputError, match="labels.csv: id column 'key' is null at row 1"):
        io.item_ids(df, "key", source="labels.csv")


def test_item_ids_missing_column(table):
    with pytest.raises(InputError, match="missing column\\(s\\) 'key'"):
        io.item_ids(table, "key", source="labels.csv")


# --------------------------------------------------------------------------- align_by_id


@settings(max_examples=50, deadline=None)
@given(st.permutations(list(range(30))))
def test_align_by_id_is_inverse_permutation(order):
    left = [f"id{i}" for i in range(30)]
    right = [left[i] for i in order]
    perm = io.align_by_id(left, right, left_source="L", right_source="R")
    assert [right[i] for i in perm] == left


def test_align_by_id_mixed_types_compared_as_strings():
    perm = io.align_by_id([1, 2, 3], ["3", "1", "2"], left_source="L", right_source="R")
    assert perm.tolist() == [1, 2, 0]


def test_align_by_id_missing_counts():
    with pytest.raises(InputError) as info:
        io.align_by_id(
            ["a", "b", "c", "d"], ["c", "a", "x"], left_source="labels", right_source="probs"
        )
    assert str(info.value) == (
        "id 'b' of labels is absent from probs (2 of 4 ids of labels are missing there)"
    )


def test_align_by_id_extra_right_ids():
    with pytest.raises(InputError, match="id 'z' of probs is absent from labels \\(1 of 3"):
        io.align_by_id(["a", "b"], ["b", "z", "a"], left_source="labels", right_source="probs")


def test_align_by_id_duplicates():
    with pytest.raises(InputError, match="probs: duplicate id 'a'"):
        io.align_by_id(["a", "b"], ["a", "a"], left_source="labels", right_source="probs")


# --------------------------------------------------------------------------- load_pred_probs


@pytest.fixture
def probs_setup():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=50)
    ids = pl.Series("id", [f"item-{i:03d}" for i in range(50)])
    return probs, ids, ["ant", "bee", "cow"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npy_is_memory_mapped_not_copied(tmp_path, probs_setup, dtype):
    probs, ids, names = probs_setup
    path = tmp_path / "p.npy"
    np.save(path, probs.astype(dtype))
    out = io.load_pred_probs(path, class_names=names, ids=ids)
    assert isinstance(out, np.memmap)
    assert out.dtype == dtype and out.flags.c_contiguous and not out.flags.writeable
    np.testing.assert_array_equal(out, probs.astype(dtype))


def test_npy_fortran_order_is_made_c_contiguous(tmp_path, probs_setup):
    probs, ids, names = probs_setup
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(probs))
    out = io.load_pred_probs(path, class_names=names, ids=ids)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, probs)


def test_npz_single_and_named(tmp_path, probs_setup):
    probs, ids, names = probs_setup
    np.savez(tmp_path / "one.npz", probs.astype(np.float32))
    np.savez(tmp_path / "named.npz", pred_probs=probs, other=np.zeros(3))
    one = io.load_pred_probs(tmp_path / "one.npz", class_names=names, ids=ids)
    assert one.dtype == np.float32
    named = io.load_pred_probs(tmp_path / "named.npz", class_names=names, ids=ids)
    np.testing.assert_array_equal(named, probs)


def test_npz_ambiguous(tmp_path, probs_setup):
    probs, ids, names = probs_setup
    np.savez(tmp_path / "two.npz", a=probs, b=probs)
    with pytest.raises(InputError, match="two.npz' holds arrays 'a', 'b'"):
        io.load_pred_probs(tmp_path / "two.npz", class_names=names)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("dtype", [pl.Float32, pl.Float64])
def test_shuffled_table_is_aligned_by_id(tmp_path, probs_setup, suffix, dtype):
    probs, ids, names = probs_setup
    df = pl.DataFrame(probs, schema={n: dtype for n in names}).insert_column(0, ids)
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=3).select(["cow", "id", "ant", "bee"])
    assert shuffled["id"].to_list() != ids.to_list()
    path = tmp_path / f"probs{suffix}"
    shuffled.write_parquet(path) if suffix == ".parquet" else shuffled.write_csv(path)
    out = io.load_pred_probs(path, class_names=names, ids=ids)
    expected = df.select(names).to_numpy()
    if suffix == ".parquet":
        np.testing.assert_array_equal(out, expected)
        assert out.dtype == (np.float32 if dtype == pl.Float32 else np.float64)
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.flags.c_contiguous
    # Same answer as aligning an unshuffled file.
    df.write_parquet(tmp_path / "ordered.parquet")
    ordered = io.load_pred_probs(tmp_path / "ordered.parquet", class_names=names, ids=ids)
    np.testing.assert_allclose(out, ordered, rtol=1e-6)


def test_table_without_id_column_keeps_order(tmp_path, probs_setup):
    probs, ids, names = probs_setup
    pl.DataFrame(probs, schema=names).write_parquet(tmp_path / "p.parquet")
    out = io.load_pred_probs(tmp_path / "p.parquet", class_names=names, ids=ids)
    np.testing.assert_array_equal(out, probs)


def test_table_unknown_class(tmp_path, probs_setup):
    probs, ids, names = probs_setup
    df = pl.DataFrame(probs, schema=["ant", "bee", "cat"]).insert_column(0, ids)
    df.write_parquet(tmp_path / "p.parquet")
    with pytest.raises(InputError, match="p.parquet': unknown class 'cat' in probabilities header"):
        io.load_pred_probs(tmp_path / "p.parquet", class_names=names, ids=ids)


def test_table_missing_class(tmp_path, probs_setup):
    probs, ids, names = probs_setup
    pl.DataFrame(probs[:, :2], schema=["ant", "bee"]).write_parquet(tmp_path / "p.parquet")
    with pytest.raises(
        InputError, match="missing probability column\\(s\\) for class\\(es\\) 'cow'"
    ):
        io.load_pred_probs(tmp_path / "p.parquet", class_names=names)


def test_table_id_missing_from_labels(tmp_path, probs_setup):
    probs, ids, names = probs_setup
    other = ids.to_list()
    other[7] = "stranger"
    df = pl.DataFrame(probs, schema=names).insert_column(0, pl.Series("id", other))
    df.write_parquet(tmp_path / "p.parquet")
    with pytest.raises(InputError) as info:
        io.load_pred_probs(tmp_path / "p.parquet", class_names=names, ids=ids)
    assert "id 'item-007' of the labels is absent from probabilities file" in str(info.value)
    assert "(1 of 50 ids of the labels are missing there)" in str(info.value)


def test_table_null_probability(tmp_path, probs_setup):
    _, _, names = probs_setup
    pl.DataFrame({"ant": [0.5, None], "bee": [0.5, 0.5], "cow": [0.0, 0.5]}).write_parquet(
        tmp_path / "p.parquet"
    )
    with pytest.raises(InputError, match="probability column 'ant' is null at row 1"):
        io.load_pred_probs(tmp_path / "p.parquet", class_names=names)


def test_probs_row_count_mismatch(tmp_path, probs_setup):
    probs, ids, names = probs_setup
    np.save(tmp_path / "p.npy", probs[:-1])
    with pytest.raises(InputError, match="p.npy' has 49 rows but there are 50 labeled items"):
        io.load_pred_probs(tmp_path / "p.npy", class_names=names, ids=ids)


def test_probs_column_count_mismatch(tmp_path, probs_setup):
    probs, ids, names = probs_setup
    np.save(tmp_path / "p.npy", probs)
    with pytest.raises(InputError, match="p.npy' has 3 columns but there are 4 classes"):
        io.load_pred_probs(tmp_path / "p.npy", class_names=[*names, "dog"], ids=ids)


def test_probs_not_2d(tmp_path):
    np.save(tmp_path / "p.npy", np.zeros(5))
    with pytest.raises(InputError, match=r"expected a 2-D array .*got shape \(5,\)"):
        io.load_pred_probs(tmp_path / "p.npy", class_names=["a"])


def test_probs_integer_dtype(tmp_path):
    np.save(tmp_path / "p.npy", np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(InputError, match="dtype must be float32 or float64, got int64"):
        io.load_pred_probs(tmp_path / "p.npy", class_names=["a", "b"])


def test_probs_row_sums_not_validated(tmp_path):
    np.save(tmp_path / "p.npy", np.full((2, 2), 3.0))
    out = io.load_pred_probs(tmp_path / "p.npy", class_names=["a", "b"])
    assert out.sum() == 12.0


def test_probs_missing_file(tmp_path):
    with pytest.raises(InputError, match="probabilities file '.*p.npy' does not exist"):
        io.load_pred_probs(tmp_path / "p.npy", class_names=["a"])


# --------------------------------------------------------------------------- writers


def _no_temp_files(directory):
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")] == []


def test_atomic_write_exception_keeps_previous_file(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("previous")
    with pytest.raises(RuntimeError, match="boom"), io.atomic_write(path) as fh:
        fh.write("half a new fi")
        fh.flush()
        raise RuntimeError("boom")
    assert path.read_text() == "previous"
    assert _no_temp_files(tmp_path)


def test_writer_failure_mid_write_keeps_previous_file(tmp_path):
    path = tmp_path / "issues.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        io.write_json(path, {"ok": 1, "bad": object()})
    with pytest.raises(pl.exceptions.PolarsError):  # CSV cannot hold Python objects
        io.write_csv(path, pl.DataFrame({"o": [object()]}, schema={"o": pl.Object}))
    assert path.read_bytes() == before
    assert _no_temp_files(tmp_path)


def test_csv_writes_nested_columns_as_json_text(tmp_path):
    path = tmp_path / "sample.csv"
    io.write_csv(path, pl.DataFrame({"id": ["a", "b"], "pixels": [[1, 2], None],
                                     "box": [{"x": 1}, {"x": 2}]}))
    back = pl.read_csv(path)
    assert back.get_column("pixels").to_list() == ["[1, 2]", None]
    assert back.get_column("box").to_list() == ['{"x": 1}', '{"x": 2}']


def test_atomic_write_new_file_and_permissions(tmp_path):
    path = tmp_path / "report.html"
    io.write_text(path, "<p>é</p>")
    assert path.read_text(encoding="utf-8") == "<p>é</p>"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert _no_temp_files(tmp_path)


def test_write_json_numpy_and_nan(tmp_path):
    path = tmp_path / "s.json"
    obj = {
        "z": np.float32(0.25),
        "a": np.int64(3),
        "arr": np.array([1.0, np.nan]),
        "nan": float("nan"),
        "inf": np.float64(np.inf),
        "nested": {np.int64(2): [np.bool_(True), tmp_path.name]},
    }
    io.write_json(path, obj)
    text = path.read_text()
    assert text.startswith('{\n  "z": 0.25,\n  "a": 3,')  # indent 2, key order kept
    assert json.loads(text) == {
        "z": 0.25,
        "a": 3,
        "arr": [1.0, None],
        "nan": None,
        "inf": None,
        "nested": {"2": [True, tmp_path.name]},
    }
    assert "NaN" not in text and "Infinity" not in text


def test_write_parquet_round_trip(tmp_path, table):
    io.write_parquet(tmp_path / "t.parquet", table)
    assert_frame_equal(pl.read_parquet(tmp_path / "t.parquet"), table)
    assert _no_temp_files(tmp_path)


def test_write_csv_neutralises_formulas(tmp_path):
    df = pl.DataFrame(
        {
            "annotator": ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "ok"],
            "note": ["a=b", "safe", None, "-", "x", "y", "z"],
            "value": [-1.5, 2.0, 3.0, -4.0, 5.0, 6.0, 7.0],
        }
    ).with_columns(cat=pl.col("note").cast(pl.Categorical))
    io.write_csv(tmp_path / "q.csv", df)
    back = pl.read_csv(tmp_path / "q.csv")
    assert back["annotator"].to_list() == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "ok",
    ]
    assert back["note"].to_list() == ["a=b", "safe", None, "'-", "x", "y", "z"]
    assert back["cat"].to_list() == back["note"].to_list()
    assert back["value"].to_list() == [-1.5, 2.0, 3.0, -4.0, 5.0, 6.0, 7.0]


def test_write_csv_neutralises_header(tmp_path):
    io.write_csv(tmp_path / "h.csv", pl.DataFrame({"=cmd": ["x"], "ok": ["y"]}))
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == "'=cmd,ok"


def test_atomic_write_bad_mode(tmp_path):
    with (
        pytest.raises(ValueError, match="mode must be 'w' or 'wb'"),
        io.atomic_write(tmp_path / "x", "a"),
    ):
        pass


# --------------------------------------------------------------------------- fingerprint


def test_file_fingerprint_matches_hashlib(tmp_path, monkeypatch):
    import hashlib

    monkeypatch.setattr(_common, "BLOCK_SIZE", 7)  # exercise the streaming loop
    data = os.urandom(1000)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    fp = io.file_fingerprint(path, n_rows=12)
    assert fp == {
        "path": str(path),
        "size_bytes": 1000,
        "sha256": hashlib.sha256(data).hexdigest(),
        "n_rows": 12,
    }


def test_errors_are_value_errors_with_one_line(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a;b;c\n1;2;3\n")
    with pytest.raises(ValueError) as info:
        io.read_table(path)
    assert isinstance(info.value, LabelAuditError)
    assert "\n" not in str(info.value)


def test_no_warning_for_clean_label_studio(ls_export):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = io.read_table(ls_export)
    assert df.height == 4


def test_table_with_other_row_count_reports_missing_ids(tmp_path, probs_setup):
    probs, ids, names = probs_setup
    df = pl.DataFrame(probs[:48], schema=names).insert_column(0, ids[:48])
    df.write_parquet(tmp_path / "p.parquet")
    with pytest.raises(InputError, match="id 'item-048' of the labels is absent .*\\(2 of 50"):
        io.load_pred_probs(tmp_path / "p.parquet", class_names=names, ids=ids)


# --------------------------------------------------------------------------- Parquet datasets


def test_read_table_parquet_dataset_directory_in_sorted_order(tmp_path):
    ds = tmp_path / "ds"
    (ds / "b").mkdir(parents=True)
    pl.DataFrame({"id": [3], "label": ["x"], "extra": [0.5]}).write_parquet(ds / "b" / "p0.parquet")
    pl.DataFrame({"id": [1, 2], "label": ["y", "x"], "extra": [1.0, 2.0]}).write_parquet(
        ds / "a.parquet")
    df = io.read_table(ds, columns=["label", "id"])
    assert df.columns == ["label", "id"]
    assert df.get_column("id").to_list() == [1, 2, 3]  # a.parquet sorts before b/p0.parquet
    assert io.read_table(ds).columns == ["id", "label", "extra"]


def test_read_table_columns_missing_or_empty_directory(tmp_path):
    ds = tmp_path / "ds"
    ds.mkdir()
    with pytest.raises(InputError, match=r"data directory '.*ds' holds no \.parquet files"):
        io.read_table(ds)
    pl.DataFrame({"id": [1]}).write_parquet(ds / "p.parquet")
    with pytest.raises(InputError, match=r"data directory '.*ds': missing column\(s\) 'label'"):
        io.read_table(ds, columns=["id", "label"])
    with pytest.raises(InputError, match=r"data file '.*p.parquet': missing column\(s\) 'label'"):
        io.read_table(ds / "p.parquet", columns=["label"])
    csv = tmp_path / "t.csv"
    csv.write_text("id,label\n1,a\n")
    assert io.read_table(csv, columns=["label"]).columns == ["label"]


def test_mapped_shard_travels_as_its_path_and_views_by_value(tmp_path):
    import pickle

    values = np.arange(24, dtype=np.float32).reshape(6, 4)
    np.save(tmp_path / "part-0.npy", values)
    shard = io.open_npy_shard(tmp_path / "part-0.npy")
    whole = pickle.dumps(shard)
    assert len(whole) < 200 and b"part-0.npy" in whole  # a reference, not the bytes
    np.testing.assert_array_equal(pickle.loads(whole), values)
    for derived in (shard[2:], shard[:, 1:], shard * 2):
        copied = pickle.loads(pickle.dumps(derived))
        np.testing.assert_array_equal(copied, np.asarray(derived))
    protocol = pytest.importorskip("distributed.protocol")
    probs._register_dask_serializers()
    header, frames = protocol.serialize(shard)
    assert frames == [] and header["sub-header"] == {"mapped_npy": str(tmp_path / "part-0.npy")}
    np.testing.assert_array_equal(protocol.deserialize(header, frames), values)
    header, frames = protocol.serialize(shard[3:])
    np.testing.assert_array_equal(protocol.deserialize(header, frames), values[3:])


def _assert_both_label_paths_agree(series, given_classes, describe):
    """The integer fast path of ``encode_labels`` gives what its string path gives.

    ``describe`` turns an exception into what must be equal on both paths.
    """
    from labelaudit.io import tables

    def encode():
        try:
            return io.encode_labels(series, classes=given_classes, source="t", column="label")
        except Exception as exc:  # noqa: BLE001 - both paths must fail alike
            return describe(exc)

    fast = encode()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(tables, "_integer_codes", lambda *a: None)
        slow = encode()
    if isinstance(slow, str):
        assert fast == slow
    else:
        np.testing.assert_array_equal(fast[0], slow[0])
        assert fast[0].dtype == slow[0].dtype
        assert fast[1] == slow[1]


def _message(exc):
    if not isinstance(exc, InputError):
        raise exc
    return str(exc)


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.integers(-(2**40), 2**40) | st.integers(-3, 12), min_size=1, max_size=60),
    given_classes=st.none() | st.lists(
        st.integers(-3, 12).map(str) | st.sampled_from(["05", "x", " 1", "+2"]),
        max_size=12, unique=True),
    dtype=st.sampled_from([pl.Int64, pl.Int32, pl.UInt8, pl.Boolean]),
)
def test_integer_labels_code_as_their_string_form(values, given_classes, dtype):
    if dtype == pl.UInt8:
        values = [v % 256 for v in values]
    if dtype == pl.Int32:
        values = [max(min(v, 2**31 - 1), -(2**31)) for v in values]
    if dtype == pl.Boolean:
        values = [v % 2 == 0 for v in values]
    _assert_both_label_paths_agree(pl.Series("label", values, dtype=dtype), given_classes,
                                   _message)


@pytest.mark.parametrize(("values", "dtype", "given_classes"), [
    ([2**64 - 1, 1], pl.UInt64, [str(2**64 - 1), "1"]),       # beyond int64
    ([2**63, 0, 2**63], pl.UInt64, None),
    ([1, 2], pl.Int64, ["99999999999999999999", "1", "2"]),  # a class key beyond int64
    ([1, 2], pl.Int64, [2**70, 1, 2]),
    ([-(2**63), 2**63 - 1, 0], pl.Int64, None),              # the whole int64 span
])
def test_integer_labels_beyond_int64_take_the_string_path(values, dtype, given_classes):
    _assert_both_label_paths_agree(pl.Series("label", values, dtype=dtype), given_classes,
                                   lambda exc: type(exc).__name__)
