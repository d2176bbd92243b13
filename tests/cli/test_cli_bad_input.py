"""Bad input at the command line: exit 2, one line on stderr naming what is wrong, nothing written."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from labelaudit.cli import MAX_SEED, run


@pytest.fixture
def data(tmp_path):
    """120 rows, 3 classes (the largest has 44 rows), three features, string ids."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [44, 40, 36])
    features = rng.normal(size=(120, 3)) + labels[:, None]
    frame = pl.DataFrame({"id": [f"i{i:03d}" for i in range(120)], "label": labels,
                          "f1": features[:, 0], "f2": features[:, 1], "f3": features[:, 2]})
    path = tmp_path / "data.csv"
    frame.write_csv(path)
    probs = rng.dirichlet(np.ones(3), 120)
    np.save(tmp_path / "p.npy", probs)
    return path


def _bad(capsys, tmp_path, *args, expect: str):
    out = tmp_path / "out"
    code = run([str(a) for a in args] + ["--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert expect in lines[0], lines[0]
    assert not out.exists()
    return lines[0]


@pytest.mark.parametrize(
    ("option", "expect"),
    [
        (["--seed", "-1"], "'--seed'"),
        (["--seed", str(MAX_SEED + 1)], "4294967295"),
        (["--n-jobs", "0"], "--n-jobs must not be 0"),
        (["--n-jobs", "-100"], "--n-jobs must be at least -"),
    ],
)
def test_out_of_range_options_are_named(capsys, tmp_path, data, option, expect):
    _bad(capsys, tmp_path, "audit", data, "--label-col", "label", *option, expect=expect)


def test_the_largest_seed_is_accepted(capsys, tmp_path, data):
    code = run(["audit", str(data), "--label-col", "label", "--id-col", "id", "--pred-probs",
                str(tmp_path / "p.npy"), "--seed", str(MAX_SEED), "--n-bootstrap", "10",
                "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["parameters"]["seed"] == MAX_SEED


def test_more_folds_than_the_largest_class_names_cv_and_the_largest_allowed(capsys, tmp_path,
                                                                          data):
    line = _bad(capsys, tmp_path, "audit", data, "--label-col", "label", "--cv", "500",
                expect="--cv 500")
    assert "largest --cv allowed here is 44" in line and "data.csv" in line


def test_the_largest_allowed_cv_runs(capsys, tmp_path, data):
    code = run(["audit", str(data), "--label-col", "label", "--cv", "44", "--n-bootstrap", "10",
                "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["parameters"]["cv"] == 44


def test_a_single_class_names_the_file_and_column(capsys, tmp_path):
    path = tmp_path / "one.csv"
    pl.DataFrame({"label": ["cat"] * 30, "f1": np.arange(30.0)}).write_csv(path)
    line = _bad(capsys, tmp_path, "audit", path, "--label-col", "label",
                expect="holds a single class 'cat'")
    assert "one.csv" in line and "'label'" in line


def test_n_jobs_zero_is_named_by_the_annotators_command(capsys, tmp_path):
    path = tmp_path / "a.csv"
    pl.DataFrame({"item_id": [1, 1, 2, 2], "annotator": ["a", "b", "a", "b"],
                  "label": ["x", "y", "x", "x"]}).write_csv(path)
    _bad(capsys, tmp_path, "annotators", path, "--n-jobs", "0", expect="--n-jobs")


@pytest.mark.parametrize(
    ("name", "write", "expect"),
    [
        ("dup.csv", lambda p: p.write_text("id,label,label,f1\n1,a,a,0.5\n2,b,b,0.1\n"),
         "names column 'label' twice"),
        ("mixed.jsonl", lambda p: p.write_text(
            '{"id": 1, "label": "1", "f1": 0.1}\n{"id": 2, "label": 2, "f1": 0.3}\n'),
         "mixes JSON numbers and strings"),
        ("nested.parquet", lambda p: pl.DataFrame(
            {"id": [1, 2], "label": [[0], [1]], "f1": [0.1, 0.2]}).write_parquet(p),
         "label' holds list values"),
        ("struct.parquet", lambda p: pl.DataFrame(
            {"id": [{"a": 1}, {"a": 2}], "label": [0, 1], "f1": [0.1, 0.2]}).write_parquet(p),
         "'id' holds struct values"),
    ],
)
def test_unreadable_tables_get_one_line(capsys, tmp_path, name, write, expect):
    path = tmp_path / name
    write(path)
    line = _bad(capsys, tmp_path, "audit", path, "--label-col", "label", "--id-col", "id",
                expect=expect)
    assert name in line


@pytest.mark.parametrize(
    ("tasks", "expect"),
    [
        ([{"id": 1, "data": {}, "annotations": ["oops"]}], "annotation at position 0 is a string"),
        ([{"id": 1, "data": "text", "annotations": []}], "'data' is a string"),
        ([{"id": 1, "annotations": [{"id": 5, "result": ["oops"]}]}],
         "result at position 0 is a string"),
        ([{"id": 1, "annotations": [{"id": 5, "result": [{"value": {"choices": "cat"}}]}]}],
         "'choices' is the string 'cat'"),
    ],
)
def test_malformed_label_studio_exports_get_one_line(capsys, tmp_path, tasks, expect):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    line = _bad(capsys, tmp_path, "annotators", path, expect=expect)
    assert "export.json" in line and "task 1" in line


def test_leading_zeros_keep_three_classes(capsys, tmp_path):
    path = tmp_path / "codes.csv"
    rng = np.random.default_rng(2)
    codes = ["01", "1", "02"] * 40
    pl.DataFrame({"id": [f"{i:04d}" for i in range(120)], "label": codes,
                  "f1": rng.normal(size=120), "f2": rng.normal(size=120)}).write_csv(path)
    out = tmp_path / "out"
    code = run(["audit", str(path), "--label-col", "label", "--id-col", "id",
                "--n-bootstrap", "10", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["classes"] == ["01", "02", "1"]
    issues = pl.read_parquet(out / "issues.parquet")
    assert issues.get_column("id").dtype == pl.String
    assert issues.get_column("id").str.starts_with("0").all()  # ids keep their zeros


def test_zero_padded_ids_survive_audit_sample_and_verify(capsys, tmp_path):
    """Ids such as 00161 are read as written by every command that reads a CSV of them."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    features = rng.normal(size=(200, 2)) + labels[:, None]
    data = tmp_path / "zp.csv"
    pl.DataFrame({"id": [f"{i:05d}" for i in range(200)], "label": labels,
                  "note": [f"n{i}" for i in range(200)], "f1": features[:, 0],
                  "f2": features[:, 1]}).write_csv(data)
    audit, sample, verified = tmp_path / "audit", tmp_path / "sample", tmp_path / "verified"
    assert run(["audit", str(data), "--label-col", "label", "--id-col", "id", "--feature-cols",
                "f1,f2", "--n-bootstrap", "10", "--out", str(audit)]) == 0
    assert run(["sample", str(audit), "--size", "20", "--out", str(sample)]) == 0
    drawn = pl.read_csv(sample / "review_sample.csv", infer_schema_length=0)
    assert drawn.get_column("id").str.len_chars().eq(5).all()
    # The data columns were found for every drawn id.
    assert drawn.get_column("note").to_list() == [f"n{int(i)}" for i in drawn["id"]]
    reviews = sample / "reviews.csv"
    drawn.with_columns(pl.col("given_label").alias("reviewed_label")).write_csv(reviews)
    code = run(["verify", str(audit), str(reviews), "--out", str(verified)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((verified / "summary.json").read_text())
    assert summary["verified"]["n_reviewed"] == 20
