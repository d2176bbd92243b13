"""Command line: ``labelaudit annotators`` and ``labelaudit audit --annotations``."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET

import krippendorff
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import cohen_kappa_score

from labelaudit.cli import run

CLASSES = ["ant", "bee", "cat"]
ANNOTATORS = ["a1", "a2", "a3", "a4", "a5"]
ACCURACY = [0.95, 0.95, 0.9, 0.9, 0.45]  # a5 is poor
REVIEW_FILES = {"annotators.parquet", "consensus.parquet", "agreement.json",
                "agreement_pairs.parquet", "relabel_queue.parquet"}


@pytest.fixture(scope="module")
def crowd():
    """120 items, 3 labels each by 3 of 5 annotators, truth known; items table with features."""
    rng = np.random.default_rng(11)
    n = 120
    truth = rng.integers(0, 3, n)
    rows = []
    for i in range(n):
        for a in rng.choice(len(ANNOTATORS), 3, replace=False):
            label = truth[i] if rng.random() < ACCURACY[a] else (truth[i] + rng.integers(1, 3)) % 3
            rows.append({
                "item_id": f"it{i:03d}",
                "annotator": ANNOTATORS[a],
                "label": CLASSES[label],
                "when": f"2024-03-{1 + i % 28:02d}T10:{a:02d}:00",
            })
    annotations = pl.DataFrame(rows)
    given = [annotations.filter(pl.col("item_id") == f"it{i:03d}")["label"][0] for i in range(n)]
    centers = rng.normal(0, 3, (3, 4))
    features = centers[truth] + rng.normal(0, 1, (n, 4))
    items = pl.DataFrame({
        "item": [f"it{i:03d}" for i in range(n)],
        "label": given,
        **{f"f{j}": features[:, j] for j in range(4)},
    })
    return annotations, items


@pytest.fixture
def ann_csv(tmp_path, crowd):
    path = tmp_path / "annotations.csv"
    crowd[0].write_csv(path)
    return path


@pytest.fixture
def items_csv(tmp_path, crowd):
    path = tmp_path / "items.csv"
    crowd[1].write_csv(path)
    return path


def _run(capsys, *args):
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _policy(tmp_path, text, name="policy.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _alpha_oracle(annotations: pl.DataFrame) -> float:
    """Krippendorff's nominal alpha from the reference package."""
    wide = annotations.with_columns(
        pl.col("label").replace_strict(CLASSES, list(range(3)), return_dtype=pl.Float64)
    ).pivot(on="annotator", index="item_id", values="label")
    matrix = wide.select(ANNOTATORS).to_numpy().T.astype(float)
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))


# --------------------------------------------------------------------------- annotators command


def test_annotators_command_writes_every_output(capsys, tmp_path, ann_csv, crowd):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "annotators", ann_csv, "--time-col", "when", "--out", out)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == REVIEW_FILES | {
        "report.html", "summary.json", "annotators_by_window.parquet"}
    annotators = pl.read_parquet(out / "annotators.parquet")
    assert annotators["annotator"].to_list() == ANNOTATORS
    for col in ("n_labels", "accuracy", "accuracy_low", "accuracy_high", "kappa_vs_consensus",
                "p_value", "q_value", "flagged"):
        assert col in annotators.columns
    assert annotators.filter(pl.col("flagged"))["annotator"].to_list() == ["a5"]
    consensus = pl.read_parquet(out / "consensus.parquet")
    assert consensus.height == 120 and consensus["item_id"].n_unique() == 120
    assert {"consensus_label", "consensus_class", "consensus_quality"} <= set(consensus.columns)
    queue = pl.read_parquet(out / "relabel_queue.parquet")
    # Only items with a reason to look again are queued, ranked without gaps.
    assert 0 < queue.height < 120
    assert queue["rank"].to_list() == list(range(1, queue.height + 1))
    assert {"priority", "reason"} <= set(queue.columns)
    assert queue["reason"].null_count() == 0 and (queue["reason"].str.len_chars() > 0).all()
    assert queue["priority"].is_sorted(descending=True)
    # Every item whose annotators disagree is in it; unanimous confident items are not.
    disagree = consensus.filter(pl.col("majority_share") < 1)["item_id"].to_list()
    assert set(disagree) <= set(queue["item_id"].to_list())
    calm = consensus.filter((pl.col("majority_share") == 1) & (pl.col("n_annotations") > 1)
                            & (pl.col("ds_posterior") >= 0.9))["item_id"].to_list()
    assert calm and not set(calm) & set(queue["item_id"].to_list())
    agreement = json.loads((out / "agreement.json").read_text())
    alpha = _alpha_oracle(crowd[0])
    assert agreement["krippendorff_alpha"] == pytest.approx(alpha, abs=1e-9)
    assert agreement["classes"] == CLASSES
    # Every pair is a row of agreement_pairs.parquet; agreement.json only points at it.
    assert "pairwise" not in agreement
    assert agreement["pairwise_file"] == "agreement_pairs.parquet"
    pairs = pl.read_parquet(out / "agreement_pairs.parquet")
    assert pairs.height == agreement["n_pairs"] == 10  # 5 annotators share > 10 items pairwise
    wide = crowd[0].pivot(on="annotator", index="item_id", values="label")
    for row in pairs.iter_rows(named=True):
        both = wide.select(row["annotator_a"], row["annotator_b"]).drop_nulls()
        a, b = both.get_column(row["annotator_a"]), both.get_column(row["annotator_b"])
        assert row["n_shared"] == both.height
        assert row["percent_agreement"] == pytest.approx(float((a == b).mean()), abs=1e-12)
        assert row["cohen_kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    summary = json.loads((out / "summary.json").read_text())
    figures = summary["figures"]
    assert figures["krippendorff_alpha"] == pytest.approx(alpha, abs=1e-9)
    assert figures["annotators"]["flagged_annotators"] == ["a5"]
    assert figures["annotators"]["fleiss_kappa"] == pytest.approx(agreement["fleiss_kappa"])
    assert figures["estimated_noise_rate"] is None  # no confident learning ran
    assert summary["parameters"]["command"] == "annotators"
    assert summary["parameters"]["time_col"] == "when"
    assert "Krippendorff's alpha" in stdout


@pytest.mark.parametrize(
    ("text", "code", "failed"),
    [
        ("[gate]\nmin_krippendorff_alpha = 0.99\n", 1, {"min_krippendorff_alpha"}),
        ("[gate]\nmin_krippendorff_alpha = 0.1\nmin_annotator_accuracy = 0.3\n", 0, set()),
        ("[gate]\nmin_annotator_accuracy = 0.8\n", 1, {"min_annotator_accuracy"}),
        # Confident-learning figures are not computed by this command: the check fails.
        ("[gate]\nmax_noise_rate = 0.5\n", 1, {"max_noise_rate"}),
        ("[gate]\nmin_krippendorff_alpha = 0.1\n[gate.warn]\nmin_annotator_accuracy = 0.8\n",
         0, set()),
    ],
)
def test_annotators_gate_exit_codes_and_junit(capsys, tmp_path, ann_csv, text, code, failed):
    out, junit = tmp_path / "out", tmp_path / "junit.xml"
    policy = _policy(tmp_path, text)
    rc, _, err = _run(capsys, "annotators", ann_csv, "--out", out, "--policy", policy,
                      "--junit", junit)
    assert rc == code, err
    gate = json.loads((out / "summary.json").read_text())["gate"]
    assert {c["name"] for c in gate["checks"] if c["level"] == "fail" and not c["passed"]} == failed
    cases = ET.parse(junit).getroot().findall(".//testcase")
    names = {c.get("name") for c in cases}
    assert names == {c["name"] for c in gate["checks"]}
    assert {c.get("name") for c in cases if c.find("failure") is not None} == failed


def test_annotator_accuracy_gate_names_the_worst_annotator(capsys, tmp_path, ann_csv):
    out = tmp_path / "out"
    policy = _policy(tmp_path, "[gate]\nmin_annotator_accuracy = 0.8\n")
    assert _run(capsys, "annotators", ann_csv, "--out", out, "--policy", policy)[0] == 1
    check = json.loads((out / "summary.json").read_text())["gate"]["checks"][0]
    worst = pl.read_parquet(out / "annotators.parquet").sort("accuracy")["accuracy"][0]
    assert check["value"] == pytest.approx(worst)
    assert "'a5'" in check["message"]


def test_label_studio_export_end_to_end(capsys, tmp_path, crowd):
    """A Label Studio export works for both commands (task ids are the item ids)."""
    annotations, items = crowd
    ids = {f"it{i:03d}": i + 1 for i in range(items.height)}
    users = {a: k + 1 for k, a in enumerate(ANNOTATORS)}
    tasks = []
    for item, group in annotations.group_by("item_id", maintain_order=True):
        tasks.append({
            "id": ids[item[0]],
            "data": {"text": item[0]},
            "annotations": [
                {"id": 1000 * ids[item[0]] + users[r["annotator"]],
                 "completed_by": users[r["annotator"]],
                 "created_at": r["when"] + "Z",
                 "result": [{"type": "choices", "value": {"choices": [r["label"]]}}]}
                for r in group.iter_rows(named=True)
            ],
        })
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    out = tmp_path / "ls"
    code, _, err = _run(capsys, "annotators", export, "--time-col", "created_at", "--out", out)
    assert code == 0, err
    consensus = pl.read_parquet(out / "consensus.parquet")
    assert sorted(consensus["item_id"].to_list()) == list(range(1, items.height + 1))
    alpha = json.loads((out / "agreement.json").read_text())["krippendorff_alpha"]
    assert alpha == pytest.approx(_alpha_oracle(annotations), abs=1e-9)
    # The same export inside an audit whose data ids are the task ids.
    data = tmp_path / "items.csv"
    items.with_columns(pl.col("item").replace_strict(ids, return_dtype=pl.Int64)).write_csv(data)
    out2 = tmp_path / "audit"
    code, _, err = _run(capsys, "audit", data, "--label-col", "label", "--id-col", "item",
                        "--annotations", export, "--cv", "3", "--n-bootstrap", "50",
                        "--out", out2)
    assert code == 0, err
    assert REVIEW_FILES <= {p.name for p in out2.iterdir()}


def test_pred_probs_enable_crowdlab(capsys, tmp_path, ann_csv, crowd):
    annotations, items = crowd
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), size=items.height)
    table = pl.DataFrame({"item_id": items["item"]}).with_columns(
        pl.Series(c, probs[:, j]) for j, c in enumerate(CLASSES)
    ).reverse()  # aligned by id, not by position
    path = tmp_path / "probs.parquet"
    table.write_parquet(path)
    out = tmp_path / "out"
    code, _, err = _run(capsys, "annotators", ann_csv, "--pred-probs", path, "--out", out)
    assert code == 0, err
    consensus = pl.read_parquet(out / "consensus.parquet")
    assert set(consensus["consensus_method"].to_list()) == {"crowdlab"}
    assert "crowdlab_quality" in consensus.columns


# --------------------------------------------------------------------------- audit --annotations


def test_audit_with_annotations_reports_issue_shares(capsys, tmp_path, items_csv, ann_csv):
    out = tmp_path / "out"
    code, stdout, err = _run(
        capsys, "audit", items_csv, "--label-col", "label", "--id-col", "item",
        "--annotations", ann_csv, "--annotation-time-col", "when", "--cv", "3",
        "--n-bootstrap", "50", "--out", out,
    )
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert REVIEW_FILES | {"issues.parquet", "report.html", "summary.json"} <= names
    issues = pl.read_parquet(out / "issues.parquet")
    annotators = pl.read_parquet(out / "annotators.parquet")
    assert {"n_issue_items", "issue_rate", "issue_share"} <= set(annotators.columns)
    # Oracle: count, for each annotator, the items it labeled that the audit flagged.
    ann = pl.read_csv(ann_csv).join(
        issues.select(pl.col("id").alias("item_id"), "is_issue"), on="item_id"
    )
    expected = ann.group_by("annotator").agg(pl.col("is_issue").sum().alias("n")).sort("annotator")
    assert annotators["n_issue_items"].to_list() == expected["n"].to_list()
    consensus = pl.read_parquet(out / "consensus.parquet")
    assert consensus.height == issues.height
    assert {"is_issue", "label_quality"} <= set(consensus.columns)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["annotations"] == str(ann_csv)
    assert summary["parameters"]["annotation_item_col"] == "item_id"
    assert summary["figures"]["annotators"]["n_annotators"] == 5
    assert summary["figures"]["n_issues"] == int(issues["is_issue"].sum())
    assert [i["role"] for i in summary["inputs"]] == ["data", "annotations"]


# --------------------------------------------------------------------------- bad input


def _bad_annotations(tmp_path, crowd, mutate, name="bad.csv"):
    path = tmp_path / name
    mutate(crowd[0]).write_csv(path)
    return path


BAD = {
    "missing annotation column": (
        lambda t, c, d, a: ["annotators", a, "--label-col", "nope", "--out", t / "out"],
        ["annotations file", "'nope'"],
    ),
    "missing annotation column in audit": (
        lambda t, c, d, a: ["audit", d, "--label-col", "label", "--id-col", "item",
                            "--annotations", a, "--annotation-annotator-col", "who",
                            "--out", t / "out"],
        ["annotations file", "'who'"],
    ),
    "unknown item id": (
        lambda t, c, d, a: ["audit", d, "--label-col", "label", "--id-col", "item",
                            "--annotations",
                            _bad_annotations(t, c, lambda f: f.with_columns(
                                pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("zz9"))
                                .otherwise(pl.col("item_id")).alias("item_id"))),
                            "--out", t / "out"],
        ["annotations file", "row 7", "'zz9'", "item_id"],
    ),
    "unknown label": (
        lambda t, c, d, a: ["audit", d, "--label-col", "label", "--id-col", "item",
                            "--annotations",
                            _bad_annotations(t, c, lambda f: f.with_columns(
                                pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("dog"))
                                .otherwise(pl.col("label")).alias("label"))),
                            "--out", t / "out"],
        ["annotations file", "'dog'"],
    ),
    "duplicate annotation": (
        lambda t, c, d, a: ["annotators",
                            _bad_annotations(t, c, lambda f: pl.concat([f, f.head(1)])),
                            "--out", t / "out"],
        ["annotations file", "more than once"],
    ),
    "bad timestamp": (
        lambda t, c, d, a: ["annotators",
                            _bad_annotations(t, c, lambda f: f.with_columns(
                                pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("soon"))
                                .otherwise(pl.col("when")).alias("when"))),
                            "--time-col", "when", "--out", t / "out"],
        ["annotations file", "'soon'", "row 3"],
    ),
    "policy min alpha out of range": (
        lambda t, c, d, a: ["annotators", a, "--out", t / "out", "--policy",
                            _policy(t, "[gate]\nmin_krippendorff_alpha = 2\n")],
        ["min_krippendorff_alpha"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    capsys, tmp_path, crowd, items_csv, ann_csv, case
):
    make, fragments = BAD[case]
    args = make(tmp_path, crowd, items_csv, ann_csv)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = _run(capsys, *args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("labelaudit: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_item_ids_of_another_type_are_matched_as_text(capsys, tmp_path, crowd):
    """Integer data ids match annotation ids stored as text (e.g. '7')."""
    annotations, items = crowd
    number = {f"it{i:03d}": i for i in range(items.height)}
    data = tmp_path / "items.csv"
    items.with_columns(pl.col("item").replace_strict(number, return_dtype=pl.Int64)).write_csv(data)
    ann = tmp_path / "annotations.jsonl"
    annotations.with_columns(
        pl.col("item_id").replace_strict(number, return_dtype=pl.Int64).cast(pl.String)
    ).write_ndjson(ann)
    out = tmp_path / "out"
    code, _, err = _run(capsys, "audit", data, "--label-col", "label", "--id-col", "item",
                        "--annotations", ann, "--cv", "3", "--n-bootstrap", "50", "--out", out)
    assert code == 0, err
    consensus = pl.read_parquet(out / "consensus.parquet")
    assert consensus["item_id"].dtype == pl.String
    assert consensus.filter(pl.col("n_annotations") == 3).height == items.height


def test_annotation_time_col_needs_annotations(capsys, tmp_path, items_csv):
    code, _, err = _run(capsys, "audit", items_csv, "--label-col", "label", "--id-col", "item",
                        "--annotation-time-col", "when", "--out", tmp_path / "out")
    assert code == 2
    assert "--annotations" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_annotator_only_report_shows_no_confident_learning_sections(capsys, tmp_path, ann_csv):
    out = tmp_path / "out"
    code, _, err = _run(capsys, "annotators", ann_csv, "--out", out)
    assert code == 0, err
    page = (out / "report.html").read_text()
    assert 'id="annotators"' in page
    # No model outputs were audited: no empty noise or issue sections.
    assert 'id="noise"' not in page and 'id="issues"' not in page
    assert "annotator review only" in page


def test_consensus_flag_chooses_the_consensus_method(capsys, tmp_path, ann_csv):
    tables = {}
    for method in (None, "majority"):
        out = tmp_path / f"out-{method}"
        extra = [] if method is None else ["--consensus", method]
        code, _, err = _run(capsys, "annotators", ann_csv, "--out", out, *extra)
        assert code == 0, err
        tables[method] = pl.read_parquet(out / "consensus.parquet")
        summary = json.loads((out / "summary.json").read_text())
        assert summary["figures"]["annotators"]["consensus_method"] == (method or "dawid_skene")
    default, majority = tables[None], tables["majority"]
    assert set(default["consensus_method"]) == {"dawid_skene"}
    assert set(majority["consensus_method"]) == {"majority"}
    assert default["consensus_quality"].to_list() == default["ds_posterior"].to_list()
    assert majority["consensus_quality"].to_list() == majority["majority_share"].to_list()
    assert majority["consensus_label"].to_list() == majority["majority_label"].to_list()
    assert default["consensus_quality"].to_list() != majority["consensus_quality"].to_list()


def test_consensus_flag_on_audit_with_annotations(capsys, tmp_path, items_csv, ann_csv):
    out = tmp_path / "out"
    code, _, err = _run(
        capsys, "audit", items_csv, "--label-col", "label", "--id-col", "item",
        "--annotations", ann_csv, "--consensus", "majority", "--cv", "3",
        "--n-bootstrap", "50", "--out", out,
    )
    assert code == 0, err
    consensus = pl.read_parquet(out / "consensus.parquet")
    assert set(consensus["consensus_method"]) == {"majority"}
    assert consensus["consensus_quality"].to_list() == consensus["majority_share"].to_list()


def test_audit_consensus_crowdlab_uses_the_audited_probabilities(capsys, tmp_path, crowd,
                                                                ann_csv):
    """--consensus crowdlab in audit: CROWDLAB on the probabilities the audit ran on."""
    from labelaudit import review_annotators

    annotations, items = crowd
    rng = np.random.default_rng(4)
    truth = items["label"].replace_strict(CLASSES, [0, 1, 2]).to_numpy()
    probs = rng.dirichlet(np.ones(3), size=items.height) * 0.4
    probs[np.arange(items.height), truth] += 0.6
    order = rng.permutation(items.height)  # data rows out of id order
    data = tmp_path / "items.csv"
    items[order].write_csv(data)
    probs_npy = tmp_path / "probs.npy"
    np.save(probs_npy, probs[order])
    out = tmp_path / "out"
    code, _, err = _run(capsys, "audit", data, "--pred-probs", probs_npy, "--label-col", "label",
                        "--id-col", "item", "--annotations", ann_csv, "--consensus", "crowdlab",
                        "--n-bootstrap", "20", "--out", out)
    assert code == 0, err
    consensus = pl.read_parquet(out / "consensus.parquet")
    assert set(consensus["consensus_method"]) == {"crowdlab"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["figures"]["annotators"]["consensus_method"] == "crowdlab"
    # Oracle: the review of the same annotations with the probabilities aligned by item id.
    review = review_annotators(annotations, item_col="item_id", annotator_col="annotator",
                               label_col="label", classes=CLASSES, pred_probs=probs,
                               item_ids=items["item"], consensus_method="crowdlab")
    expected = review.consensus.sort("item_id")
    consensus = consensus.sort("item_id")
    assert consensus["item_id"].to_list() == expected["item_id"].to_list()
    assert consensus["consensus_label"].to_list() == expected["consensus_class"].to_list()
    np.testing.assert_allclose(consensus["consensus_quality"].to_numpy(),
                               expected["consensus_quality"].to_numpy(), rtol=0, atol=1e-12)
    # With two models, CROWDLAB gets their mean, as confident learning does.
    other = rng.dirichlet(np.ones(3), size=items.height)
    other_npy = tmp_path / "other.npy"
    np.save(other_npy, other[order])
    code, _, err = _run(capsys, "audit", data, "--pred-probs", probs_npy, "--pred-probs",
                        other_npy, "--label-col", "label", "--id-col", "item", "--annotations",
                        ann_csv, "--consensus", "crowdlab", "--n-bootstrap", "20", "--out",
                        tmp_path / "two")
    assert code == 0, err
    two = pl.read_parquet(tmp_path / "two" / "consensus.parquet").sort("item_id")
    mean = review_annotators(annotations, item_col="item_id", annotator_col="annotator",
                             label_col="label", classes=CLASSES, pred_probs=(probs + other) / 2,
                             item_ids=items["item"], consensus_method="crowdlab")
    np.testing.assert_allclose(two["consensus_quality"].to_numpy(),
                               mean.consensus.sort("item_id")["consensus_quality"].to_numpy(),
                               rtol=0, atol=1e-12)
    # Probabilities computed from the features serve as well; without --consensus the
    # default is Dawid-Skene (CROWDLAB runs through cleanlab, an optional library).
    for extra, method in ((["--consensus", "crowdlab"], "crowdlab"), ([], "dawid_skene")):
        out = tmp_path / f"features{len(extra)}"
        code, _, err = _run(capsys, "audit", data, "--label-col", "label", "--id-col", "item",
                            "--annotations", ann_csv, *extra, "--cv", "3", "--n-bootstrap",
                            "20", "--out", out)
        assert code == 0, err
        assert set(pl.read_parquet(out / "consensus.parquet")["consensus_method"]) == {method}
    # Row shards of the same probabilities give the same consensus (last: needs dask).
    pytest.importorskip("dask.array")
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "part-0.npy", probs[order][:50])
    np.save(shards / "part-1.npy", probs[order][50:])
    code, _, err = _run(capsys, "audit", data, "--pred-probs", shards / "part-*.npy",
                        "--label-col", "label", "--id-col", "item", "--annotations", ann_csv,
                        "--consensus", "crowdlab", "--n-bootstrap", "20", "--out",
                        tmp_path / "sharded")
    assert code == 0, err
    sharded = pl.read_parquet(tmp_path / "sharded" / "consensus.parquet").sort("item_id")
    assert sharded.select("item_id", "consensus_label", "consensus_quality", "consensus_method"
                          ).equals(consensus.select("item_id", "consensus_label",
                                                    "consensus_quality", "consensus_method"))


def test_consensus_crowdlab_without_probabilities_names_the_option(capsys, tmp_path, ann_csv):
    code, _, err = _run(capsys, "annotators", ann_csv, "--consensus", "crowdlab", "--out",
                        tmp_path / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.strip() == ("labelaudit: error: --consensus crowdlab needs model probabilities: "
                           "give them with --pred-probs")
    assert not (tmp_path / "out").exists()


def test_unknown_consensus_or_consensus_without_annotations_exit_2(
    capsys, tmp_path, items_csv, ann_csv
):
    code, _, err = _run(capsys, "annotators", ann_csv, "--out", tmp_path / "a",
                        "--consensus", "oracle")
    assert code == 2
    assert "consensus_method" in err and "'oracle'" in err and "'majority'" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "audit", items_csv, "--label-col", "label", "--id-col", "item",
                        "--consensus", "majority", "--out", tmp_path / "b")
    assert code == 2
    assert "--annotations" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- time windows


@pytest.fixture(scope="module")
def drifting_crowd():
    """240 items over eight weeks, 3 labels each; 'a3' is good for four weeks, then poor."""
    rng = np.random.default_rng(5)
    rows = []
    start = np.datetime64("2024-01-01T09:00")
    for i in range(240):
        truth = int(rng.integers(0, 3))
        day = int(rng.integers(0, 56))
        for a in rng.choice(len(ANNOTATORS), 3, replace=False):
            acc = 0.92 if ANNOTATORS[a] != "a3" else (0.95 if day < 28 else 0.3)
            label = truth if rng.random() < acc else (truth + int(rng.integers(1, 3))) % 3
            rows.append({"item_id": f"it{i:03d}", "annotator": ANNOTATORS[a],
                         "label": CLASSES[label],
                         "when": str(start + np.timedelta64(day * 24 + int(a), "h"))})
    return pl.DataFrame(rows)


def test_time_col_adds_accuracy_per_window_and_a_drift_test(capsys, tmp_path, drifting_crowd):
    from scipy.stats import chi2_contingency
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import proportion_confint

    path = tmp_path / "ann.csv"
    drifting_crowd.write_csv(path)
    plain, timed = tmp_path / "plain", tmp_path / "timed"
    assert _run(capsys, "annotators", path, "--out", plain)[0] == 0
    code, stdout, err = _run(capsys, "annotators", path, "--time-col", "when", "--out", timed)
    assert code == 0, err
    # Without --time-col: no per-window figures anywhere.
    assert not (plain / "annotators_by_window.parquet").exists()
    plain_summary = json.loads((plain / "summary.json").read_text())
    assert plain_summary["extras"]["annotators"]["time_windows"] is None
    assert "Accuracy over time" not in (plain / "report.html").read_text()

    windows = pl.read_parquet(timed / "annotators_by_window.parquet")
    annotators = pl.read_parquet(timed / "annotators.parquet")
    totals = windows.group_by("annotator").agg(pl.col("n_labels", "n_graded").sum()).sort("annotator")
    assert totals["n_labels"].to_list() == annotators.sort("annotator")["n_labels"].to_list()
    assert totals["n_graded"].to_list() == annotators.sort("annotator")["n_graded"].to_list()
    assert windows["window_start"].dt.weekday().unique().to_list() == [1]  # weeks start Monday
    assert windows["window_start"].n_unique() == 8
    graded = windows.filter(pl.col("n_graded") > 0)
    low, high = proportion_confint(graded["n_agree"].to_numpy(), graded["n_graded"].to_numpy(),
                                   alpha=0.05, method="wilson")
    np.testing.assert_allclose(graded["accuracy_low"].to_numpy(), low, atol=1e-12)
    np.testing.assert_allclose(graded["accuracy_high"].to_numpy(), high, atol=1e-12)

    # The drift test: chi-square homogeneity per annotator (scipy), BH across them (statsmodels).
    summary = json.loads((timed / "summary.json").read_text())
    block = summary["extras"]["annotators"]["time_windows"]
    assert block["window"] == "1w" and block["time_col"] == "when" and block["n_windows"] == 8
    tests = {row["annotator"]: row for row in block["annotators"]}
    p_oracle = []
    for who in ANNOTATORS:
        mine = graded.filter(pl.col("annotator") == who)
        table = np.vstack([mine["n_agree"].to_numpy(),
                           (mine["n_graded"] - mine["n_agree"]).to_numpy()])
        p_oracle.append(chi2_contingency(table, correction=False).pvalue)
        assert tests[who]["drift_p_value"] == pytest.approx(p_oracle[-1], rel=1e-9)
    q_oracle = multipletests(p_oracle, method="fdr_bh")[1]
    for who, q in zip(ANNOTATORS, q_oracle, strict=True):
        assert tests[who]["drift_q_value"] == pytest.approx(q, rel=1e-9)
    assert block["drifting_annotators"] == ["a3"]
    assert summary["figures"]["annotators"]["drifting_annotators"] == ["a3"]
    assert tests["a3"]["first_accuracy"] > 0.8 > 0.5 > tests["a3"]["last_accuracy"]
    assert windows.filter(pl.col("drifted"))["annotator"].unique().to_list() == ["a3"]
    assert "1 drifting (a3)" in stdout

    page = (timed / "report.html").read_text()
    assert "Accuracy over time" in page and 'aria-label="Accuracy of each annotator in each time' in page
    assert "a3&#39;s accuracy changes between windows" in page


def test_time_window_sets_the_window_length(capsys, tmp_path, drifting_crowd):
    path = tmp_path / "ann.csv"
    drifting_crowd.write_csv(path)
    counts = {}
    for every in ("1w", "1d", "1mo"):
        out = tmp_path / every
        args = ["annotators", path, "--time-col", "when", "--out", out]
        if every != "1w":
            args += ["--time-window", every]
        assert _run(capsys, *args)[0] == 0
        windows = pl.read_parquet(out / "annotators_by_window.parquet")
        counts[every] = windows["window_start"].n_unique()
        summary = json.loads((out / "summary.json").read_text())
        assert summary["parameters"]["time_window"] == every
        assert summary["extras"]["annotators"]["time_windows"]["window"] == every
    days = drifting_crowd["when"].str.slice(0, 10).n_unique()
    assert counts == {"1w": 8, "1d": days, "1mo": 2} and days > 40
    code, _, err = _run(capsys, "annotators", path, "--time-window", "1d", "--out", tmp_path / "x")
    assert code == 2 and "--time-col" in err
    code, _, err = _run(capsys, "annotators", path, "--time-col", "when", "--time-window",
                        "weekly", "--out", tmp_path / "y")
    assert code == 2 and "--time-window" in err and not (tmp_path / "y").exists()


def test_annotations_without_a_time_are_counted_out_of_the_windows_aloud(capsys, tmp_path,
                                                                        drifting_crowd):
    path = tmp_path / "ann.csv"
    crowd = drifting_crowd.with_columns(
        pl.when(pl.int_range(pl.len()) % 50 == 7).then(None).otherwise(pl.col("when"))
        .alias("when"))
    crowd.write_csv(path)
    missing = crowd.get_column("when").null_count()
    code, out, err = _run(capsys, "annotators", path, "--time-col", "when", "--out", tmp_path / "o")
    assert code == 0 and missing > 0
    assert f"{missing} of {crowd.height} annotations have no time in column 'when'" in err + out
    windows = pl.read_parquet(tmp_path / "o" / "annotators_by_window.parquet")
    assert windows.get_column("n_labels").sum() == crowd.height - missing


@pytest.mark.parametrize("window", ["0d", "", "1i"])
def test_a_time_window_without_a_positive_length_exits_2(capsys, tmp_path, drifting_crowd,
                                                          items_csv, ann_csv, window):
    """Zero, empty and row-count windows would make every timestamp a window of its own."""
    path = tmp_path / "ann.csv"
    drifting_crowd.write_csv(path)
    message = (f"must be a positive polars duration string such as '1d', '2w', '1mo' or '6h'; "
               f"got {window!r}")
    code, _, err = _run(capsys, "annotators", path, "--time-col", "when", "--time-window",
                        window, "--out", tmp_path / "a")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"labelaudit: error: --time-window {message}")
    code, _, err = _run(capsys, "audit", items_csv, "--label-col", "label", "--id-col", "item",
                        "--annotations", ann_csv, "--annotation-time-col", "when",
                        "--annotation-time-window", window, "--out", tmp_path / "b")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"labelaudit: error: --annotation-time-window {message}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann.csv", "annotations.csv",
                                                          "items.csv"]


def test_audit_annotation_time_options_add_per_window_figures(capsys, tmp_path, items_csv,
                                                               ann_csv):
    base = ["audit", items_csv, "--label-col", "label", "--id-col", "item", "--annotations",
            ann_csv, "--cv", "3", "--n-bootstrap", "20"]
    assert _run(capsys, *base, "--out", tmp_path / "none")[0] == 0
    assert not (tmp_path / "none" / "annotators_by_window.parquet").exists()
    sizes = {}
    for every in ("1w", "1d"):
        out = tmp_path / every
        extra = [] if every == "1w" else ["--annotation-time-window", every]
        code, _, err = _run(capsys, *base, "--annotation-time-col", "when", *extra, "--out", out)
        assert code == 0, err
        windows = pl.read_parquet(out / "annotators_by_window.parquet")
        sizes[every] = windows["window_start"].n_unique()
        summary = json.loads((out / "summary.json").read_text())
        assert summary["parameters"]["annotation_time_window"] == every
        assert summary["extras"]["annotators"]["time_windows"]["window"] == every
    assert sizes["1d"] == 28 and sizes["1w"] < sizes["1d"]
    code, _, err = _run(capsys, *base, "--annotation-time-window", "1d", "--out", tmp_path / "z")
    assert code == 2 and "--annotation-time-col" in err


def test_annotator_only_report_is_about_the_review(capsys, tmp_path, ann_csv):
    from html.parser import HTMLParser

    out = tmp_path / "out"
    assert _run(capsys, "annotators", ann_csv, "--out", out)[0] == 0
    page = (out / "report.html").read_text()

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("script", "style", "svg")

        def handle_endtag(self, tag):
            self.skip -= tag in ("script", "style", "svg")

        def handle_data(self, data):
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(page)
    text = " ".join(" ".join(parser.parts).split())
    assert "<title>Annotator review: annotations.csv</title>" in page
    assert "Label audit: dataset" not in text
    # No methodology of an analysis that did not run, and no blanks where it would be.
    assert "confident learning" not in text.lower().replace("not confident-learning", "")
    assert "bootstrap" not in text and "filter:" not in text and "Items flagged by the" not in text
    assert "How the annotators are reviewed" in text
    # The relabel queue has its own section, listing exactly the queued items.
    queue = pl.read_parquet(out / "relabel_queue.parquet")
    assert 'id="relabel-queue"' in page and 'href="#relabel-queue"' in page
    assert f"{queue.height} items deserve another label" in text
    first = queue.row(0, named=True)
    assert f"{first['item_id']} {first['n_annotations']} {first['consensus_class']}" in text
    assert "Reproduce this review" in text


def test_pred_probs_without_cleanlab_skip_crowdlab_aloud(capsys, tmp_path, ann_csv, crowd,
                                                         monkeypatch):
    # A plain install has no cleanlab: probabilities then leave the consensus to
    # Dawid-Skene with a warning; asking for CROWDLAB by name is an error naming cleanlab.
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "cleanlab" else real(name, *a))
    monkeypatch.setitem(sys.modules, "cleanlab.multiannotator", None)  # import fails
    _, items = crowd
    probs = np.random.default_rng(3).dirichlet(np.ones(3), size=items.height)
    pl.DataFrame({"item_id": items["item"]}).with_columns(
        pl.Series(c, probs[:, j]) for j, c in enumerate(CLASSES)
    ).write_parquet(tmp_path / "p.parquet")
    code, out, err = _run(capsys, "annotators", ann_csv, "--pred-probs", tmp_path / "p.parquet",
                          "--out", tmp_path / "o")
    assert code == 0, err
    assert "CROWDLAB skipped: it runs through cleanlab, which is not installed" in out + err
    consensus = pl.read_parquet(tmp_path / "o" / "consensus.parquet")
    assert set(consensus["consensus_method"]) == {"dawid_skene"}
    code, _, err = _run(capsys, "annotators", ann_csv, "--pred-probs", tmp_path / "p.parquet",
                        "--consensus", "crowdlab", "--out", tmp_path / "x")
    assert code == 2 and "requires cleanlab" in err and not (tmp_path / "x").exists()


def test_terminal_line_of_a_single_annotator_says_agreement_is_not_defined(capsys, tmp_path):
    path = tmp_path / "one.csv"
    pl.DataFrame({"item_id": [f"i{k}" for k in range(30)], "annotator": ["solo"] * 30,
                  "label": [CLASSES[k % 3] for k in range(30)]}).write_csv(path)
    code, out, err = _run(capsys, "annotators", path, "--out", tmp_path / "o")
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("Annotators:"))
    assert line.startswith("Annotators: 1 annotator, 30 annotations on 30 items; agreement not "
                           "defined") and "nan" not in line
