"""Command line: ``labelaudit audit --attribute`` (slices) and the full demo."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import polars as pl
import pytest

from labelaudit.cli import run

CLASSES = ["a", "b", "c"]
SLICE_COLUMNS = ["attribute", "group", "n", "issue_rate", "ci_low", "ci_high", "p_value",
                 "q_value", "flagged", "effect", "mean_label_quality", "estimated_error_rate"]


@pytest.fixture(scope="module")
def noisy():
    """600 items; 'east' labels are flipped 35% of the time, elsewhere 3%; confident probs."""
    rng = np.random.default_rng(7)
    n = 600
    truth = rng.integers(0, 3, n)
    region = rng.choice(["east", "north", "west"], n, p=[0.3, 0.35, 0.35])
    device = rng.choice(["phone", "desk"], n)
    who = rng.choice(["u1", "u2", "u3"], n)
    flip = rng.random(n) < np.where(region == "east", 0.35, 0.03)
    given = np.where(flip, (truth + rng.integers(1, 3, n)) % 3, truth)
    probs = rng.dirichlet(np.ones(3) * 0.3, n) * 0.15
    probs[np.arange(n), truth] += 0.85
    frame = pl.DataFrame({
        "item": [f"x{i:04d}" for i in range(n)],
        "label": [CLASSES[k] for k in given],
        "region": region,
        "device": device,
        "annotator": who,
    })
    table = pl.DataFrame({"item": frame["item"]}).with_columns(
        pl.Series(c, probs[:, j]) for j, c in enumerate(CLASSES)
    )
    return frame, table


@pytest.fixture
def files(tmp_path, noisy):
    data, probs = tmp_path / "data.csv", tmp_path / "probs.parquet"
    noisy[0].write_csv(data)
    noisy[1].write_parquet(probs)
    return data, probs


def _run(capsys, *args):
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _args(files, out, *extra):
    data, probs = files
    return ["audit", data, "--label-col", "label", "--id-col", "item", "--pred-probs", probs,
            "--n-bootstrap", "50", "--out", out, *extra]


def test_attributes_write_slices_parquet(capsys, tmp_path, files, noisy):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, *_args(files, out, "--attribute", "region",
                                            "--attribute", "device"))
    assert code == 0, err
    slices = pl.read_parquet(out / "slices.parquet")
    assert set(SLICE_COLUMNS) <= set(slices.columns)
    # The data has an 'annotator' column: it is sliced too.
    assert set(slices["attribute"].unique()) >= {"region", "device", "annotator"}
    # Oracle: per-group issue rates recomputed from issues.parquet and the data.
    issues = pl.read_parquet(out / "issues.parquet")
    joined = noisy[0].join(issues.select(pl.col("id").alias("item"), "is_issue"), on="item")
    for attribute in ("region", "device", "annotator"):
        expected = joined.group_by(attribute).agg(
            pl.len().alias("n"), pl.col("is_issue").mean().alias("rate")
        ).sort(attribute)
        got = slices.filter(pl.col("attribute") == attribute).sort("group")
        assert got["group"].to_list() == expected[attribute].to_list()
        assert got["n"].to_list() == expected["n"].to_list()
        np.testing.assert_allclose(got["issue_rate"].to_numpy(), expected["rate"].to_numpy())
    flagged = slices.filter(pl.col("flagged"))
    assert ("region", "east") in set(zip(flagged["attribute"], flagged["group"], strict=True))
    summary = json.loads((out / "summary.json").read_text())
    figures = summary["figures"]
    rates = expected_rates = joined.group_by("region").agg(pl.col("is_issue").mean())
    expected_rates = rates["is_issue"].to_numpy()
    assert figures["disparity"]["region"]["difference"] == pytest.approx(
        expected_rates.max() - expected_rates.min()
    )
    assert figures["slices"]["n_flagged_slices"] == flagged.height
    assert figures["max_flagged_slice_effect"] == pytest.approx(flagged["effect"].max())
    assert summary["parameters"]["attributes"] == ["region", "device"]
    assert summary["parameters"]["slice_annotator_col"] == "annotator"
    assert "Slices:" in stdout


def test_no_slicing_without_attributes(capsys, tmp_path, files):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_args(files, out))
    assert code == 0, err
    assert not (out / "slices.parquet").exists()
    assert "disparity" not in json.loads((out / "summary.json").read_text())["figures"]


@pytest.mark.parametrize(
    ("text", "code", "failed"),
    [
        ('[gate]\nmax_disparity = 0.05\ndisparity_attribute = "region"\n', 1, {"max_disparity"}),
        ('[gate]\nmax_disparity = 0.9\ndisparity_attribute = "region"\n', 0, set()),
        ('[gate]\nmax_disparity = 1.5\ndisparity_attribute = "region"\n'
         'disparity_method = "ratio"\n', 1, {"max_disparity"}),
        ("[gate]\nmax_flagged_slice_effect = 0.05\n", 1, {"max_flagged_slice_effect"}),
        ("[gate]\nmax_flagged_slice_effect = 0.9\n", 0, set()),
        # An attribute that was not sliced cannot be checked.
        ('[gate]\nmax_disparity = 0.9\ndisparity_attribute = "device"\n', 1, {"max_disparity"}),
    ],
)
def test_slice_gate_exit_codes_and_junit(capsys, tmp_path, files, text, code, failed):
    out, junit = tmp_path / "out", tmp_path / "junit.xml"
    policy = tmp_path / "policy.toml"
    policy.write_text(text)
    rc, _, err = _run(capsys, *_args(files, out, "--attribute", "region", "--policy", policy,
                                     "--junit", junit))
    assert rc == code, err
    gate = json.loads((out / "summary.json").read_text())["gate"]
    assert {c["name"] for c in gate["checks"] if not c["passed"]} == failed
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert {c.get("name") for c in cases} == {c["name"] for c in gate["checks"]}
    assert {c.get("name") for c in cases if c.find("failure") is not None} == failed


def test_annotator_column_alone_and_min_slice_size(capsys, tmp_path, files):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_args(files, out, "--annotator-col", "annotator",
                                       "--min-slice-size", "250"))
    assert code == 0, err
    slices = pl.read_parquet(out / "slices.parquet")
    assert slices["attribute"].unique().to_list() == ["annotator"]
    # 600 rows: no group of ~200 has 250 rows, so nothing is tested (and a warning says so).
    assert not slices["tested"].any()
    assert "labelaudit: warning: attribute 'annotator'" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["min_slice_size"] == 250


BAD = {
    "missing attribute column": (["--attribute", "colour"], ["data file", "'colour'"]),
    "missing annotator column": (["--annotator-col", "rater"], ["data file", "'rater'"]),
    "attribute repeated": (["--attribute", "region", "--attribute", "region"], ["--attribute"]),
    "annotator also attribute": (
        ["--attribute", "annotator", "--annotator-col", "annotator"], ["--annotator-col"]
    ),
    "min slice size": (["--attribute", "region", "--min-slice-size", "0"], ["--min-slice-size"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_slice_input_exits_2_and_writes_nothing(capsys, tmp_path, files, case):
    extra, fragments = BAD[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = _run(capsys, *_args(files, tmp_path / "out", *extra))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("labelaudit: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_demo_writes_every_section(capsys, tmp_path):
    """The demo runs audit, annotator review and slices, and a gate on all of them."""
    out, junit = tmp_path / "demo", tmp_path / "junit.xml"
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[gate]\nmin_krippendorff_alpha = 0.99\nmax_disparity = 0.9\n"
        'disparity_attribute = "source"\n[gate.warn]\nmin_annotator_accuracy = 0.8\n'
    )
    code, stdout, err = _run(capsys, "demo", "--out", out, "--policy", policy, "--junit", junit)
    assert code == 1, err  # the demo's alpha is far below 0.99
    assert {p.name for p in out.iterdir()} == {
        "summary.json", "report.html", "issues.parquet", "annotators.parquet",
        "consensus.parquet", "agreement.json", "agreement_pairs.parquet", "relabel_queue.parquet",
        "slices.parquet",
        "annotators_by_window.parquet",  # the demo's annotations carry timestamps
    }
    summary = json.loads((out / "summary.json").read_text())
    windows = pl.read_parquet(out / "annotators_by_window.parquet")
    assert windows["annotator"].n_unique() == 8 and windows["window_start"].n_unique() >= 2
    figures = summary["figures"]
    assert 0.5 < figures["krippendorff_alpha"] < 0.99
    assert set(figures["disparity"]) == {"source", "annotator"}
    assert "ann-08" in figures["annotators"]["flagged_annotators"]
    slices = pl.read_parquet(out / "slices.parquet")
    flagged = slices.filter(pl.col("flagged"))
    assert ("source", "phone") in set(zip(flagged["attribute"], flagged["group"], strict=True))
    assert pl.read_parquet(out / "annotators.parquet").height == 8
    assert pl.read_parquet(out / "consensus.parquet").height == 1797
    checks = {c["name"]: c for c in summary["gate"]["checks"]}
    assert not checks["min_krippendorff_alpha"]["passed"]
    assert checks["max_disparity"]["passed"]
    assert not checks["min_annotator_accuracy"]["passed"]  # warn level only
    assert checks["min_annotator_accuracy"]["level"] == "warn"
    names = {c.get("name") for c in ET.parse(junit).getroot().findall(".//testcase")}
    assert names == {"min_krippendorff_alpha", "max_disparity", "min_annotator_accuracy"}
    assert set(summary["extras"]) >= {"annotators", "slices", "demo_truth_check"}
    assert summary["parameters"]["attributes"] == ["source"]


def test_numeric_attribute_is_not_a_default_feature(capsys, tmp_path):
    rng = np.random.default_rng(1)
    n = 90
    y = rng.integers(0, 2, n)
    data = tmp_path / "data.csv"
    pl.DataFrame({
        "label": y, "f1": y + rng.normal(0, 1, n), "f2": rng.normal(0, 1, n),
        "batch": rng.integers(0, 3, n),
    }).write_csv(data)
    out = tmp_path / "out"
    code, _, err = _run(capsys, "audit", data, "--label-col", "label", "--attribute", "batch",
                        "--cv", "3", "--n-bootstrap", "20", "--out", out)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["feature_cols"] == ["f1", "f2"]
    slices = pl.read_parquet(out / "slices.parquet")
    assert slices["group"].to_list() == ["0", "1", "2"]
