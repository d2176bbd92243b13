"""``labelaudit audit --task regression`` end to end: the shipped example, options, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest

from labelaudit.cli import run
from labelaudit.datasets import example_dir
from labelaudit.exceptions import LabelAuditError
from labelaudit.regression.rank import get_label_quality_scores
from labelaudit.tasks import get_task, task_names
from labelaudit.tasks.regression import audit_regression, flag_regression_issues


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    src = example_dir("regression")
    dst = tmp_path_factory.mktemp("regression-example")
    for name in ("data.csv", "predictions.npy", "truth.csv", "README.txt"):
        shutil.copy(src / name, dst / name)
    return dst


def _audit(example, out, *extra, n_bootstrap="200"):
    return run(["audit", str(example / "data.csv"), "--task", "regression", "--label-col", "minutes",
                "--id-col", "id", "--predictions", str(example / "predictions.npy"),
                "--out", str(out), "--n-bootstrap", n_bootstrap, *extra])


@pytest.fixture(scope="module")
def audited(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "audit"
    assert _audit(example, out) == 0
    return out


def test_registered():
    assert "regression" in task_names()
    assert get_task("regression").name == "regression"


def test_readme_command_runs_on_the_example(audited, example):
    readme = (example / "README.txt").read_text()
    assert "labelaudit audit data.csv --task regression --label-col minutes --id-col id" in readme
    assert {p.name for p in audited.iterdir()} == {"summary.json", "report.html",
                                                    "issues.parquet"}
    summary = json.loads((audited / "summary.json").read_text())
    fig = summary["figures"]
    assert fig["ci_low"] <= fig["estimated_noise_rate"] <= fig["ci_high"]
    assert fig["regression_issue_rate_ci_high"] == fig["ci_high"]
    assert 0.0 < fig["estimated_noise_rate"] < 0.25
    assert 0.3 < fig["regression_r2"] <= 1.0
    extra = summary["extras"]["regression"]
    assert extra["method"] == "outre" and extra["cutoff"] == 3.5
    assert sum(b["count"] for b in extra["bins"]) == 600


def test_issues_table_finds_the_planted_errors(audited, example):
    issues = pl.read_parquet(audited / "issues.parquet")
    assert issues.columns[:7] == ["id", "given_label", "suggested_label", "residual",
                                  "label_quality", "is_issue", "issue_rank"]
    assert issues.height == 600
    flagged = issues.filter("is_issue")
    assert flagged.get_column("issue_rank").to_list() == list(range(1, flagged.height + 1))
    assert (flagged.get_column("label_quality").diff().drop_nulls() >= 0).all()
    truth = pl.read_csv(example / "truth.csv")
    planted = set(truth.filter("planted_error").get_column("id"))
    found = set(flagged.get_column("id"))
    assert len(planted & found) / len(planted) >= 0.9          # recall on the planted errors
    # The scores are the drop-in function's, item by item.
    data = pl.read_csv(example / "data.csv")
    scores = get_label_quality_scores(data.get_column("minutes").to_numpy(),
                                      np.load(example / "predictions.npy"))
    by_id = dict(zip(data.get_column("id"), scores, strict=True))
    got = dict(zip(issues.get_column("id"), issues.get_column("label_quality"), strict=True))
    assert all(got[k] == by_id[k] for k in by_id)


def test_same_seed_same_figures_other_seed_other_interval(example, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert _audit(example, a, "--seed", "3", "--n-jobs", "1") == 0
    assert _audit(example, b, "--seed", "3", "--n-jobs", "2") == 0
    assert _audit(example, c, "--seed", "4") == 0
    fa, fb, fc = (json.loads((d / "summary.json").read_text())["figures"] for d in (a, b, c))
    assert json.dumps(fa, sort_keys=True) == json.dumps(fb, sort_keys=True)
    assert (a / "issues.parquet").read_bytes() == (b / "issues.parquet").read_bytes()
    assert fa["estimated_noise_rate"] == fc["estimated_noise_rate"]
    assert (fa["ci_low"], fa["ci_high"]) != (fc["ci_low"], fc["ci_high"])


def test_method_and_cutoff_options_change_the_outputs(example, tmp_path):
    base, resid, strict = tmp_path / "base", tmp_path / "resid", tmp_path / "strict"
    assert _audit(example, base) == 0
    assert _audit(example, resid, "--regression-method", "residual") == 0
    assert _audit(example, strict, "--regression-cutoff", "8") == 0
    s = {d.name: json.loads((d / "summary.json").read_text()) for d in (base, resid, strict)}
    assert s["resid"]["extras"]["regression"]["method"] == "residual"
    assert s["resid"]["figures"]["n_issues"] != s["base"]["figures"]["n_issues"]
    assert s["strict"]["figures"]["n_issues"] < s["base"]["figures"]["n_issues"]


def test_predictions_from_a_column_or_a_table(example, tmp_path):
    data = pl.read_csv(example / "data.csv")
    preds = np.load(example / "predictions.npy")
    with_col = tmp_path / "with_col.parquet"
    data.with_columns(pl.Series("pred", preds)).write_parquet(with_col)
    table = tmp_path / "preds.csv"
    # Shuffled rows with ids: matched by id, not by position.
    pl.DataFrame({"id": data.get_column("id"), "prediction": preds}).reverse().write_csv(table)
    ref, a, b = tmp_path / "ref", tmp_path / "a", tmp_path / "b"
    assert _audit(example, ref) == 0
    assert run(["audit", str(with_col), "--task", "regression", "--label-col", "minutes", "--id-col", "id",
                "--prediction-col", "pred", "--out", str(a), "--n-bootstrap", "200"]) == 0
    assert run(["audit", str(example / "data.csv"), "--task", "regression", "--label-col",
                "minutes", "--id-col", "id", "--predictions", str(table), "--out", str(b),
                "--n-bootstrap", "200"]) == 0
    ref_issues = pl.read_parquet(ref / "issues.parquet")
    for d in (a, b):
        assert pl.read_parquet(d / "issues.parquet").equals(ref_issues)


def test_gate_keys(example, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[gate]\nmin_regression_r2 = 0.99\n")
    assert _audit(example, tmp_path / "fail", "--policy", str(policy)) == 1
    policy.write_text("[gate]\nmin_regression_r2 = 0.1\nmax_regression_issue_rate = 0.5\n")
    assert _audit(example, tmp_path / "pass", "--policy", str(policy)) == 0
    gate = json.loads((tmp_path / "pass" / "summary.json").read_text())["gate"]
    keys = {c["name"] for c in gate["checks"]}
    assert {"min_regression_r2", "max_regression_issue_rate"} <= keys


def _bad(capsys, tmp_path, args, expect):
    out = tmp_path / "bad-out"
    code = run(["audit", *(str(a) for a in args)] + ["--out", str(out), "--n-bootstrap", "50"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert expect in err, err
    assert not out.exists()


def test_bad_input_exits_2_and_writes_nothing(example, tmp_path, capsys):
    data, preds = example / "data.csv", example / "predictions.npy"
    base = [data, "--task", "regression", "--id-col", "id"]
    _bad(capsys, tmp_path, [*base, "--predictions", preds], "needs --label-col")
    _bad(capsys, tmp_path, [*base, "--label-col", "minutes"], "needs model predictions")
    _bad(capsys, tmp_path, [*base, "--label-col", "id", "--predictions", preds],
         "labels must be numbers, got type String")
    _bad(capsys, tmp_path, [*base, "--label-col", "minutes", "--predictions", preds,
                            "--regression-method", "knn"], "--regression-method must be one of")
    _bad(capsys, tmp_path, [*base, "--label-col", "minutes", "--predictions", preds,
                            "--regression-cutoff", "0"], "--regression-cutoff must be a positive")
    _bad(capsys, tmp_path, [*base, "--label-col", "minutes", "--prediction-col", "nope"],
         "nope")
    short = tmp_path / "short.npy"
    np.save(short, np.load(preds)[:10])
    _bad(capsys, tmp_path, [*base, "--label-col", "minutes", "--predictions", short],
         "10 predictions for 600 items")
    holes = tmp_path / "holes.npy"
    arr = np.load(preds).copy()
    arr[42] = np.nan
    np.save(holes, arr)
    _bad(capsys, tmp_path, [*base, "--label-col", "minutes", "--predictions", holes],
         "row 42 is missing (NaN)")
    gaps = tmp_path / "gaps.csv"
    pl.read_csv(data).with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col("minutes"))
        .alias("minutes")).write_csv(gaps)
    _bad(capsys, tmp_path, [gaps, "--task", "regression", "--label-col", "minutes",
                            "--predictions", preds], "column 'minutes': labels must be numbers, "
                                                     "row 7 is missing")
    _bad(capsys, tmp_path, [data, "--label-col", "minutes", "--prediction-col", "x"],
         "applies to --task regression only")


def test_flagging_rule():
    u = np.array([0.1, 0.2, 0.15, 0.12, 3.0, 0.18])
    mask, threshold = flag_regression_issues(np.exp(-u))
    med = np.median(u)
    limit = med + 3.5 * 1.4826 * np.median(np.abs(u - med))
    assert mask.tolist() == (u > limit).tolist()
    assert threshold == pytest.approx(np.exp(-limit))
    # Over half tied: the mean absolute deviation stands in; all tied: nothing flagged.
    tied = np.exp(-np.array([1.0] * 6 + [1.5, 9.0]))
    assert flag_regression_issues(tied)[0].tolist() == [False] * 7 + [True]
    assert not flag_regression_issues(np.full(5, 0.3))[0].any()
    with pytest.raises(LabelAuditError, match="`cutoff` must be a positive number"):
        flag_regression_issues(np.ones(3), cutoff=-1)


def test_ties_rank_by_row():
    labels = np.array([0.0, 0.0, 10.0, 10.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    predictions = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    found = audit_regression(labels, predictions, method="residual", n_bootstrap=20)
    flagged = found.issues.filter("is_issue").get_column("id").to_list()
    assert flagged == [2, 3]
