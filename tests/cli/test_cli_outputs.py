"""What the output files carry: the columns the audit used, kept columns, class names."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from labelaudit import InputError
from labelaudit.cli import run

CLASSES = ["cat", "dog", "owl"]
ANNOTATORS = ["a1", "a2", "a3", "a4"]


@pytest.fixture(scope="module")
def dataset():
    """300 items (some unannotated), 2-3 annotations each, a region, a batch and a note column."""
    rng = np.random.default_rng(5)
    n = 300
    truth = rng.integers(0, 3, n)
    flip = rng.random(n) < 0.12
    given = np.where(flip, (truth + 1) % 3, truth)
    probs = rng.dirichlet(np.ones(3) * 0.3, n) * 0.2
    probs[np.arange(n), truth] += 0.8
    ids = [f"p{i:03d}" for i in range(n)]
    data = pl.DataFrame({
        "item": ids,
        "label": [CLASSES[k] for k in given],
        "region": rng.choice(["north", "south"], n),
        "batch": rng.integers(1, 4, n),
        "note": [f"note {i}" for i in range(n)],
        "annotator": rng.choice(ANNOTATORS, n),
    })
    table = pl.DataFrame({"item": ids}).with_columns(
        pl.Series(c, probs[:, j]) for j, c in enumerate(CLASSES)
    )
    rows = []
    for i in range(n - 10):  # the last 10 items have no annotations
        for a in rng.choice(len(ANNOTATORS), 2 + i % 2, replace=False):
            label = truth[i] if rng.random() < 0.85 else (truth[i] + 2) % 3
            rows.append({"item_id": ids[i], "annotator": ANNOTATORS[a], "label": CLASSES[label]})
    return data, table, pl.DataFrame(rows)


@pytest.fixture
def files(tmp_path, dataset):
    data, probs, annotations = tmp_path / "data.csv", tmp_path / "probs.parquet", tmp_path / "a.csv"
    dataset[0].write_csv(data)
    dataset[1].write_parquet(probs)
    dataset[2].write_csv(annotations)
    return data, probs, annotations


def _audit(capsys, files, out, *extra):
    data, probs, _ = files
    code = run([str(a) for a in ("audit", data, "--label-col", "label", "--id-col", "item",
                                 "--pred-probs", probs, "--n-bootstrap", "30", "--out", out,
                                 *extra)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_issues_parquet_carries_attributes_and_annotator_figures(capsys, tmp_path, files, dataset):
    out = tmp_path / "out"
    code, _, err = _audit(capsys, files, out, "--attribute", "region",
                          "--annotations", files[2])
    assert code == 0, err
    issues = pl.read_parquet(out / "issues.parquet")
    assert issues.columns[:6] == ["id", "given_label", "suggested_label", "label_quality",
                                  "is_issue", "issue_rank"]
    assert {"region", "annotator", "n_annotations", "annotators", "consensus_label",
            "consensus_quality", "annotator_agreement"} <= set(issues.columns)
    assert "batch" not in issues.columns and "note" not in issues.columns
    data, _, annotations = dataset
    # Data columns: the audited item's own value.
    joined = issues.join(data.rename({"item": "id"}), on="id", suffix="_data")
    assert joined.height == 300
    assert joined["region"].to_list() == joined["region_data"].to_list()
    assert joined["annotator"].to_list() == joined["annotator_data"].to_list()
    # Annotation columns, recomputed from the annotation table.
    per_item = annotations.group_by("item_id").agg(
        pl.len().alias("n"),
        pl.col("annotator").sort().str.join(", ").alias("who"),
        (pl.col("label").value_counts().struct.field("count").max() / pl.len()).alias("share"),
    )
    check = issues.join(per_item.rename({"item_id": "id"}), on="id", how="left")
    assert check["n_annotations"].to_list() == check["n"].fill_null(0).to_list()
    assert check["annotators"].to_list() == check["who"].to_list()
    np.testing.assert_allclose(check["annotator_agreement"].to_numpy().astype(float),
                               check["share"].to_numpy().astype(float), equal_nan=True)
    unannotated = issues.filter(pl.col("n_annotations") == 0)
    assert unannotated.height == 10
    assert unannotated["consensus_label"].null_count() == 10
    # The consensus label is a class name and agrees with consensus.parquet.
    consensus = pl.read_parquet(out / "consensus.parquet")
    both = issues.join(consensus.select(pl.col("item_id").alias("id"),
                                        pl.col("consensus_label").alias("c")), on="id")
    assert set(issues["consensus_label"].drop_nulls()) <= set(CLASSES)
    assert both["consensus_label"].to_list() == both["c"].to_list()


def test_label_columns_of_review_files_hold_class_names(capsys, tmp_path, files):
    out = tmp_path / "out"
    code, _, err = _audit(capsys, files, out, "--annotations", files[2])
    assert code == 0, err
    consensus = pl.read_parquet(out / "consensus.parquet")
    for col in ("majority_label", "ds_label", "consensus_label"):
        assert consensus.schema[col] == pl.String, col
        assert set(consensus[col].drop_nulls()) <= set(CLASSES), col
    assert consensus["consensus_label"].to_list() == consensus["consensus_class"].to_list()
    queue = pl.read_parquet(out / "relabel_queue.parquet")
    assert queue.schema["consensus_label"] == pl.String
    assert set(queue["consensus_label"].drop_nulls()) <= set(CLASSES)
    issues = pl.read_parquet(out / "issues.parquet")
    assert set(issues["given_label"]) <= set(CLASSES)


def test_annotators_command_files_hold_class_names(capsys, tmp_path, files):
    out = tmp_path / "out"
    code = run(["annotators", str(files[2]), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    consensus = pl.read_parquet(out / "consensus.parquet")
    assert set(consensus["majority_label"].drop_nulls()) <= set(CLASSES)
    assert consensus.schema["ds_label"] == pl.String


def test_keep_cols_adds_data_columns_to_issues(capsys, tmp_path, files, dataset):
    out = tmp_path / "out"
    code, _, err = _audit(capsys, files, out, "--keep-cols", "batch, note", "--csv")
    assert code == 0, err
    issues = pl.read_parquet(out / "issues.parquet")
    assert issues.columns[-2:] == ["batch", "note"]
    joined = issues.join(dataset[0].rename({"item": "id"}), on="id", suffix="_data")
    assert joined["batch"].to_list() == joined["batch_data"].to_list()
    assert joined["note"].to_list() == joined["note_data"].to_list()
    assert issues.schema["batch"] == pl.Int64
    assert pl.read_csv(out / "issues.csv").columns[-2:] == ["batch", "note"]
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["keep_cols"] == ["batch", "note"]


def test_keep_cols_with_an_attribute_keeps_one_copy(capsys, tmp_path, files):
    out = tmp_path / "out"
    code, _, err = _audit(capsys, files, out, "--attribute", "region", "--keep-cols", "region")
    assert code == 0, err
    issues = pl.read_parquet(out / "issues.parquet")
    assert issues.columns.count("region") == 1


@pytest.mark.parametrize(
    ("value", "fragments"),
    [("batch,nope", ["missing column(s) 'nope'", "data file"]),
     ("suggested_label", ["--keep-cols", "'suggested_label'", "issues.parquet"]),
     ("batch,batch", ["--keep-cols repeats a column"]),
     (",", ["--keep-cols is empty"])],
)
def test_keep_cols_bad_names_are_one_line_errors(capsys, tmp_path, files, dataset, value,
                                                 fragments):
    # The data has a column named like one the audit writes.
    dataset[0].with_columns(suggested_label=pl.lit("x")).write_csv(files[0])
    out = tmp_path / "out"
    code, _, err = _audit(capsys, files, out, "--keep-cols", value)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0]
    assert not out.exists()


def test_add_item_columns_rejects_a_reserved_name(dataset):
    from labelaudit.audit import add_item_columns, audit

    data, probs, _ = dataset
    result = audit(data["label"], probs.drop("item").to_numpy(), ids=data["item"],
                   class_names=CLASSES, n_bootstrap=20)
    clash = data.with_columns(pl.col("batch").alias("is_issue"))
    with pytest.raises(InputError, match="column 'is_issue' is named like a column"):
        add_item_columns(result, clash, ["is_issue"], ids=data["item"])
    kept = add_item_columns(result, data, ["note"], ids=data["item"])
    assert kept.issues.select("id", "note").sort("id")["note"].to_list() == \
        data.sort("item")["note"].to_list()
    assert result.issues.columns == kept.issues.columns[:-1]  # the original is unchanged


def test_kept_numeric_column_is_not_a_default_feature(capsys, tmp_path):
    import json

    rng = np.random.default_rng(2)
    n = 90
    y = rng.integers(0, 2, n)
    data = tmp_path / "data.csv"
    pl.DataFrame({"label": y, "f1": y + rng.normal(0, 1, n), "f2": rng.normal(0, 1, n),
                  "batch": rng.integers(0, 3, n)}).write_csv(data)
    out = tmp_path / "out"
    code = run(["audit", str(data), "--label-col", "label", "--keep-cols", "batch", "--cv", "3",
                "--n-bootstrap", "20", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["parameters"]["feature_cols"] == \
        ["f1", "f2"]
    issues = pl.read_parquet(out / "issues.parquet").sort("id")
    assert issues["batch"].to_list() == pl.read_csv(data)["batch"].to_list()
