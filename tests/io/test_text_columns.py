"""Columns that name things (labels, ids, annotators) are read as written."""

from __future__ import annotations

import json

import polars as pl
import pytest

from labelaudit import InputError
from labelaudit.io import encode_labels, read_table


def test_csv_codes_with_leading_zeros_stay_three_classes(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id,label,x\n001,01,1\n002,1,2\n003,02,3\n")
    df = read_table(path, text_columns=("label", "id"))
    assert df.schema["label"] == pl.String and df.schema["id"] == pl.String
    assert df.get_column("id").to_list() == ["001", "002", "003"]
    codes, names = encode_labels(df.get_column("label"), source="d", column="label")
    assert names == ["01", "02", "1"] and codes.tolist() == [0, 2, 1]
    assert df.schema["x"] == pl.Int64  # other columns keep type inference
    # Without text columns the old inference merges them: the reason for the rule.
    merged = read_table(path).get_column("label")
    assert merged.dtype == pl.Int64 and merged.n_unique() == 2


def test_plain_integers_stay_integers(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("id\tlabel\n10\t0\n2\t12\n-3\t0\n")
    df = read_table(path, text_columns=("label", "id", "annotator"))
    assert df.schema["label"] == pl.Int64 and df.schema["id"] == pl.Int64
    _, names = encode_labels(df.get_column("label"), source="d", column="label")
    assert names == ["0", "12"]  # numeric order, as before


@pytest.mark.parametrize("cells", [["1.0", "1"], [" 1", "1"], ["+1", "1"]])
def test_other_spellings_are_other_classes(tmp_path, cells):
    path = tmp_path / "d.csv"
    path.write_text("label\n" + "\n".join(cells) + "\n")
    df = read_table(path, text_columns=("label",))
    _, names = encode_labels(df.get_column("label"), source="d", column="label")
    assert len(names) == 2


def test_duplicated_csv_header_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id,label,x,label\n1,a,2,b\n")
    with pytest.raises(InputError, match=r"names column 'label' twice \(columns 1 and 3"):
        read_table(path)


def test_jsonl_mixing_numbers_and_strings_is_refused(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"label": 1}, {"label": "1"}]) + "\n")
    with pytest.raises(InputError, match=r"'label' mixes JSON numbers and strings \(line 1 has "
                                         r"the number 1, line 2 the string '1'\)"):
        read_table(path, text_columns=("label",))
    path.write_text("\n".join(json.dumps(r) for r in [{"label": "1"}, {"label": "01"}]) + "\n")
    assert read_table(path, text_columns=("label",)).get_column("label").to_list() == ["1", "01"]


def test_nested_columns_are_refused_in_every_reader(tmp_path):
    path = tmp_path / "d.parquet"
    pl.DataFrame({"id": [[1], [2]], "label": ["a", "b"]}).write_parquet(path)
    with pytest.raises(InputError, match=r"column 'id' holds list values \(row 0 is \[1\]\)"):
        read_table(path, text_columns=("id",))
    directory = tmp_path / "ds"
    directory.mkdir()
    pl.DataFrame({"id": [{"a": 1}], "label": ["a"]}).write_parquet(directory / "part-0.parquet")
    with pytest.raises(InputError, match="'id' holds struct values"):
        read_table(directory, text_columns=("id",))
