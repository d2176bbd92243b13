"""The command line and the model-only figure: model checks in every output, several models."""

from __future__ import annotations

import json
import re
from html import unescape

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labelaudit import audit
from labelaudit.cli import run
from labelaudit.model_checks import MODEL_LABEL

CLASSES = ["barolo", "grignolino", "barbera"]


@pytest.fixture(scope="module")
def wine():
    """Wine with 12% flipped labels and two models' out-of-fold probabilities."""
    X, y = load_wine(return_X_y=True)
    rng = np.random.default_rng(5)
    s = y.copy()
    flip = rng.choice(len(y), 21, replace=False)
    s[flip] = (y[flip] + 1) % 3
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    a = cross_val_predict(logistic, X, s, cv=5, method="predict_proba")
    b = cross_val_predict(RandomForestClassifier(200, random_state=0), X, s, cv=5,
                          method="predict_proba")
    frame = pl.DataFrame({
        "item": [f"w{i:03d}" for i in range(len(y))],
        "label": [CLASSES[k] for k in s],
    })
    return frame, s, a, b


@pytest.fixture
def files(tmp_path, wine):
    frame, s, a, b = wine
    data = tmp_path / "data.csv"
    frame.write_csv(data)
    paths = {"data": data}
    rng = np.random.default_rng(0)
    for name, matrix in {
        "a": a, "b": b,
        "random": rng.dirichlet(np.ones(3), len(s)),
        "permuted": a[:, [1, 2, 0]],
    }.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], matrix)
    return paths


def _audit(capsys, out, data, *probs, extra=()):
    args = ["audit", str(data), "--label-col", "label", "--id-col", "item",
            "--classes", ",".join(CLASSES), "--out", str(out), *extra]
    for p in probs:
        args += ["--pred-probs", str(p)]
    code = run(args)
    captured = capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text()) if code in (0, 1) else None
    html = (out / "report.html").read_text() if code in (0, 1) else None
    return code, captured.out, captured.err, summary, html


def _report_text(html: str) -> str:
    """The page's text: tags dropped, entities decoded, white space collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split()).replace(" :", ":")


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [("random", "uninformative", "carry no information about the labels"),
     ("permuted", "permuted_columns", "columns look out of order")],
)
def test_bad_probabilities_are_named_in_every_output(capsys, tmp_path, files, name, code, words):
    rc, stdout, err, summary, html = _audit(capsys, tmp_path / "out", files["data"], files[name])
    assert rc == 0, err
    checks = summary["figures"]["model_checks"]
    assert [c["code"] for c in checks] == [code]
    assert checks[0]["severity"] == "error"
    assert words in checks[0]["message"] and set(checks[0]) == {
        "code", "severity", "message", "figures"}
    # the terminal prints the finding in plain words, next to the model-based interval
    assert f"Model error: {checks[0]['message']}" in stdout
    assert MODEL_LABEL in stdout
    # and the report shows it prominently, in the summary section
    text = _report_text(html)
    assert f"Model error: {checks[0]['message']}" in text
    summary_part = html[html.index('id="summary"'):html.index('id="noise"')]
    assert 'class="model-check model-check-error"' in summary_part
    assert "Fix the model's probabilities first" in _report_text(summary_part)


def test_a_good_model_gets_no_warning_and_says_model_based(capsys, tmp_path, files):
    rc, stdout, err, summary, html = _audit(capsys, tmp_path / "out", files["data"], files["a"])
    assert rc == 0, err
    fig = summary["figures"]
    assert fig["noise_rate_source"] == "model"
    assert fig["model_checks"] == []
    assert "Model error" not in stdout and "Model warning" not in stdout
    assert 'class="model-check' not in html
    assert "Fix the model's probabilities first" not in html
    block = fig["noise_rate_interval"]
    assert block["label"] == MODEL_LABEL and block["n_models"] == 1 and "models" not in block
    assert (fig["ci_low"], fig["ci_high"]) == (block["ci_low"], block["ci_high"])
    assert (fig["sampling_ci_low"], fig["sampling_ci_high"]) == (
        block["bootstrap_low"], block["bootstrap_high"])
    assert fig["ci_low"] <= fig["sampling_ci_low"] <= fig["sampling_ci_high"] <= fig["ci_high"]
    assert f"interval {100 * fig['ci_low']:.2f}% to {100 * fig['ci_high']:.2f}%, {MODEL_LABEL})" \
        in stdout
    assert MODEL_LABEL in _report_text(html)


def test_one_file_runs_match_the_library_call(capsys, tmp_path, files, wine):
    _, s, a, _ = wine
    rc, _, err, summary, _ = _audit(capsys, tmp_path / "out", files["data"], files["a"])
    assert rc == 0, err
    direct = audit(s, np.load(files["a"]), ids=[f"w{i:03d}" for i in range(len(s))],
                   class_names=CLASSES)
    fig = summary["figures"]
    assert fig["estimated_noise_rate"] == direct.estimated_noise_rate
    assert (fig["ci_low"], fig["ci_high"]) == (direct.ci_low, direct.ci_high)
    assert (fig["sampling_ci_low"], fig["sampling_ci_high"]) == (
        direct.sampling_ci_low, direct.sampling_ci_high)
    assert summary["parameters"]["pred_probs"] == "given"
    assert summary["parameters"]["n_models"] == 1


def test_a_second_model_adds_its_estimate_and_the_spread(capsys, tmp_path, files, wine):
    _, s, a, b = wine
    one = _audit(capsys, tmp_path / "one", files["data"], files["a"])[3]
    rc, stdout, err, two, html = _audit(capsys, tmp_path / "two", files["data"], files["a"],
                                        files["b"])
    assert rc == 0, err
    assert [i["role"] for i in two["inputs"]] == ["data", "pred_probs", "pred_probs"]
    assert two["inputs"][2]["path"].endswith("b.npy")
    assert two["parameters"]["pred_probs"] == "mean of given"
    block = two["figures"]["noise_rate_interval"]
    assert block["n_models"] == 2
    rates = {m["name"]: m["noise_rate"] for m in block["models"]}
    assert list(rates) == [f"probabilities file '{files['a']}'",
                           f"probabilities file '{files['b']}'"]
    # each model's own estimate is the one a one-model run gives
    assert rates[f"probabilities file '{files['a']}'"] == one["figures"]["estimated_noise_rate"]
    assert (block["spread_low"], block["spread_high"]) == (min(rates.values()),
                                                          max(rates.values()))
    assert block["spread_low"] < block["spread_high"]
    # the point is the audit of the mean; the interval spans every model's
    mean = audit(s, (a + b) / 2, ids=[f"w{i:03d}" for i in range(len(s))], class_names=CLASSES)
    assert two["figures"]["estimated_noise_rate"] == mean.estimated_noise_rate
    assert two["figures"]["ci_low"] <= min(m["ci_low"] for m in block["models"])
    assert two["figures"]["ci_high"] >= max(m["ci_high"] for m in block["models"])
    assert "Models: 2 models, audited on their mean" in stdout
    assert 'id="model-table"' in html and "b.npy" in html
    assert "models" not in one["figures"]["noise_rate_interval"]


def test_a_bad_second_model_is_named(capsys, tmp_path, files):
    rc, stdout, err, summary, _ = _audit(capsys, tmp_path / "out", files["data"], files["a"],
                                         files["permuted"])
    assert rc == 0, err
    checks = summary["figures"]["model_checks"]
    assert [c["code"] for c in checks] == ["permuted_columns"]
    assert checks[0]["figures"]["model"] == f"probabilities file '{files['permuted']}'"
    assert checks[0]["message"].startswith(f"probabilities file '{files['permuted']}': ")


def test_repeated_pred_probs_must_be_whole_distinct_files(capsys, tmp_path, files):
    rc, _, err, _, _ = _audit(capsys, tmp_path / "out", files["data"], files["a"], files["a"])
    assert rc == 2 and "--pred-probs names the same file twice" in err
    assert not (tmp_path / "out").exists()
    short = tmp_path / "short.npy"
    np.save(short, np.load(files["a"])[:-1])
    rc, _, err, _, _ = _audit(capsys, tmp_path / "out", files["data"], files["a"], short)
    assert rc == 2 and "short.npy" in err and len(err.strip().splitlines()) == 1


def test_a_noise_gate_says_its_figure_is_model_based(capsys, tmp_path, files):
    policy = tmp_path / "gate.toml"
    policy.write_text('[gate]\nmax_noise_rate = 0.9\nnoise_rate_statistic = "ci_high"\n')
    rc, _, err, summary, html = _audit(capsys, tmp_path / "out", files["data"], files["a"],
                                       extra=["--policy", str(policy)])
    assert rc == 0, err
    check = summary["gate"]["checks"][0]
    assert check["value"] == summary["figures"]["ci_high"]
    assert MODEL_LABEL in check["message"]


def test_the_demo_has_no_model_warning(capsys, tmp_path):
    out = tmp_path / "demo"
    assert run(["demo", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    # the demo ships a reviewed sample: the headline source is the review, and the
    # model's own figure is still labelled model-based, unverified
    assert summary["figures"]["noise_rate_source"] == "review"
    assert summary["noise_rate_source"] == "review"
    assert summary["figures"]["model_checks"] == []
    assert "Model error" not in stdout and "Model warning" not in stdout
    assert f", {MODEL_LABEL})" in stdout
    assert 'class="model-check' not in (out / "report.html").read_text()
