"""Annotator review of multi-label data: agreement per class and accuracy per annotator.

Oracles: ``krippendorff.alpha`` (nominal) on the annotators x items yes/no
matrix of each class, and ``sklearn.metrics.cohen_kappa_score`` per pair.
"""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import cohen_kappa_score

from labelaudit.annotators.multilabel import multilabel_agreement, multilabel_consensus
from labelaudit.cli import run
from labelaudit.datasets import example_dir

CLASSES = ["a", "b", "c"]


def _rows(seed=0, n=120, flips=(0.02, 0.05, 0.1, 0.3)):
    """Each item labelled by 2 or 3 of 4 annotators who flip each yes/no with their own rate."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n, 3)) < [0.4, 0.2, 0.6]
    out = {"id": [], "annotator": [], "labels": []}
    for i in range(n):
        who = rng.choice(4, size=rng.integers(2, 4), replace=False)
        for a in who:
            answer = truth[i] ^ (rng.random(3) < flips[a])
            out["id"].append(f"item-{i}")
            out["annotator"].append(f"ann-{'wxyz'[a]}")
            out["labels"].append([CLASSES[c] for c in np.flatnonzero(answer)])
    return pl.DataFrame(out, schema={"id": pl.String, "annotator": pl.String,
                                     "labels": pl.List(pl.String)}), truth


def _matrix(rows, c):
    ids = rows.get_column("id").unique(maintain_order=True).to_list()
    annotators = sorted(set(rows.get_column("annotator")))
    m = np.full((len(annotators), len(ids)), np.nan)
    for item, who, labels in rows.iter_rows():
        m[annotators.index(who), ids.index(item)] = CLASSES[c] in labels
    return annotators, m


def test_agreement_matches_krippendorff_and_sklearn():
    rows, _ = _rows()
    _, consensus = multilabel_consensus(rows, CLASSES)
    found = multilabel_agreement(rows, CLASSES, consensus)
    for c, name in enumerate(CLASSES):
        annotators, m = _matrix(rows, c)
        row = found.per_class.filter(pl.col("class") == name).row(0, named=True)
        expected = krippendorff.alpha(reliability_data=m, level_of_measurement="nominal")
        assert row["krippendorff_alpha"] == pytest.approx(expected, rel=1e-12)
        kappas = []
        for a in range(len(annotators)):
            for b in range(a + 1, len(annotators)):
                both = ~np.isnan(m[a]) & ~np.isnan(m[b])
                if both.sum() < found.min_overlap:
                    continue
                k = cohen_kappa_score(m[a, both], m[b, both])
                pair = found.pairs.filter((pl.col("class") == name)
                                          & (pl.col("annotator_a") == annotators[a])
                                          & (pl.col("annotator_b") == annotators[b]))
                assert pair.height == 1 and pair["n_shared"][0] == both.sum()
                assert pair["cohen_kappa"][0] == pytest.approx(k, rel=1e-12)
                kappas.append(k)
        assert len(kappas) == row["n_pairs"] >= 3
        assert row["mean_cohen_kappa"] == pytest.approx(np.mean(kappas))


def test_accuracy_against_the_consensus_ranks_the_careless_annotator_last():
    rows, truth = _rows(seed=1)
    ids, consensus = multilabel_consensus(rows, CLASSES)
    found = multilabel_agreement(rows, CLASSES, consensus)
    acc = found.per_annotator.sort("accuracy")
    assert acc.get_column("annotator")[0] == "ann-z"  # flips 30% of its answers
    # Hand check of one annotator and class against the consensus.
    code = {v: i for i, v in enumerate(ids.to_list())}
    sets = consensus.to_list()
    mine = rows.filter(pl.col("annotator") == "ann-w")
    right = [("b" in labels) == ("b" in sets[code[item]]) for item, _, labels in mine.iter_rows()]
    got = found.per_annotator.filter(pl.col("annotator") == "ann-w")["accuracy:b"][0]
    assert got == pytest.approx(np.mean(right))
    assert found.per_annotator.filter(pl.col("annotator") == "ann-w")["n_items"][0] == mine.height


def test_consensus_ties_go_to_the_model():
    rows = pl.DataFrame({"id": [1, 1, 2, 2], "annotator": ["p", "q", "p", "q"],
                         "labels": [["a"], [], ["a", "b"], ["b"]]})
    _, plain = multilabel_consensus(rows, ["a", "b"])
    assert plain.to_list() == [[], ["b"]]
    _, model = multilabel_consensus(rows, ["a", "b"], np.array([[0.9, 0.1], [0.2, 0.1]]))
    assert model.to_list() == [["a"], ["b"]]


def _run(capsys, *args):
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_annotator_col_end_to_end(capsys, tmp_path):
    ex = example_dir("multilabel")
    classes = (ex / "classes.txt").read_text().strip()
    given = pl.read_csv(ex / "data.csv", schema_overrides={"labels": pl.String})
    rng = np.random.default_rng(7)
    names = classes.split(",")
    rows = {"item": [], "who": [], "tags": []}
    for item, cell in given.iter_rows():
        tags = set() if cell is None else set(cell.split(","))
        for who, flip in (("careful", 0.01), ("steady", 0.03), ("hasty", 0.15)):
            answer = {c for c in names if (c in tags) ^ (rng.random() < flip)}
            rows["item"].append(item)
            rows["who"].append(who)
            rows["tags"].append(";".join(sorted(answer)))
    data = tmp_path / "long.csv"
    pl.DataFrame(rows).write_csv(data)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "audit", data, "--task", "multilabel", "--id-col", "item",
                             "--label-col", "tags", "--label-sep", ";", "--annotator-col", "who",
                             "--pred-probs", ex / "pred_probs.npy", "--classes", classes,
                             "--out", out)
    assert code == 0, err
    assert "Annotators: 3 over 960 label sets" in stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "annotator_accuracy.parquet", "annotator_pairs.parquet", "class_agreement.parquet",
        "issues.parquet", "report.html", "summary.json"]
    acc = pl.read_parquet(out / "annotator_accuracy.parquet").sort("accuracy")
    assert acc.get_column("annotator").to_list() == ["hasty", "steady", "careful"]
    issues = pl.read_parquet(out / "issues.parquet")
    assert issues.height == 320
    summary = json.loads((out / "summary.json").read_text())
    assert summary["figures"]["multilabel_min_annotator_accuracy"] == pytest.approx(
        acc["accuracy"][0])
    assert len(summary["extras"]["multilabel"]["annotators"]["per_class"]) == 9
    html = (out / "report.html").read_text()
    assert 'id="multilabel-agreement-table"' in html and ">hasty<" in html
    policy = tmp_path / "gate.toml"
    worst = acc["accuracy"][0]
    policy.write_text(f"[gate]\nmin_multilabel_annotator_accuracy = {worst + 0.01}\n")
    args = ["audit", data, "--task", "multilabel", "--id-col", "item", "--label-col", "tags",
            "--label-sep", ";", "--annotator-col", "who", "--pred-probs", ex / "pred_probs.npy",
            "--classes", classes, "--policy", policy]
    code, stdout, _ = _run(capsys, *args, "--out", tmp_path / "g1")
    assert code == 1 and "min_multilabel_annotator_accuracy" in stdout
    policy.write_text(f"[gate]\nmin_multilabel_annotator_accuracy = {worst - 0.01}\n"
                      "min_multilabel_class_alpha = -0.2\n")
    code, _, err = _run(capsys, *args, "--out", tmp_path / "g2")
    assert code == 0, err
    # 'cat', which nobody means to give, gets only stray yes answers: alpha near 0.
    policy.write_text("[gate]\nmin_multilabel_class_alpha = 0.5\n")
    code, stdout, _ = _run(capsys, *args, "--out", tmp_path / "g3")
    assert code == 1 and "min_multilabel_class_alpha" in stdout
    alpha = pl.read_parquet(out / "class_agreement.parquet").sort("krippendorff_alpha")
    assert alpha.get_column("class")[0] == "cat" and abs(alpha["krippendorff_alpha"][0]) < 0.2
    # Without --id-col the rows cannot be grouped into items.
    code, _, err = _run(capsys, "audit", data, "--task", "multilabel", "--label-col", "tags",
                        "--annotator-col", "who", "--pred-probs", ex / "pred_probs.npy",
                        "--out", tmp_path / "x")
    assert code == 2 and "--annotator-col needs --id-col" in err
    # The same (item, annotator) twice is refused with the row.
    pl.concat([pl.DataFrame(rows), pl.DataFrame(rows).head(1)]).write_csv(data)
    code, _, err = _run(capsys, "audit", data, "--task", "multilabel", "--id-col", "item",
                        "--label-col", "tags", "--label-sep", ";", "--annotator-col", "who",
                        "--pred-probs", ex / "pred_probs.npy", "--classes", classes,
                        "--out", tmp_path / "y")
    assert code == 2 and "two rows from annotator 'careful'" in err
