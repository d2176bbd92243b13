"""A verified review in every output: result, summary.json, report, terminal, gate, CLI, demo."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from labelaudit import audit
from labelaudit.cli import run
from labelaudit.datasets import load_demo
from labelaudit.gate import GatePolicy, evaluate, load_policy
from labelaudit.report import render_html
from labelaudit.report.sections import section_lines
from labelaudit.verify import review_sample
from labelaudit.verify._audit_dir import load_sample

NAMES = np.array(["ant", "bee", "cow"])


@pytest.fixture(scope="module")
def case(planted):
    """1,500 items with 12% planted flips, their audit, a reviewed sample and the truth."""
    given, probs, truth = planted(1500, 3, seed=41, rate=0.12)
    ids = [f"x{i:04d}" for i in range(given.size)]
    result = audit(NAMES[given], probs, ids=ids, n_bootstrap=50, seed=0)
    sample = result.review_sample(200, seed=3)
    truth_by_id = dict(zip(ids, NAMES[truth].tolist(), strict=True))
    sampled = sample.design.get_column("id").to_list()
    answers = pl.DataFrame({"id": sampled, "reviewed_label": [truth_by_id[i] for i in sampled]})
    return result, sample, answers, given, probs, truth, ids


def test_verified_result_leads_summary_report_and_terminal(case):
    result, sample, answers, given, _, truth, _ = case
    model_summary = result.to_summary_dict()
    assert model_summary["noise_rate_source"] == "model" and model_summary["verified"] is None

    verified = result.verify(answers, sample)
    summary = verified.to_summary_dict()
    assert summary["noise_rate_source"] == "review"
    block = summary["verified"]
    assert block["n_reviewed"] == 200 and "verified" not in summary["extras"]
    true_rate = float(np.mean(given != truth))
    assert block["ci_low"] <= true_rate <= block["ci_high"]
    figures = summary["figures"]
    assert figures["verified_noise_rate"] == block["noise_rate"]
    assert figures["verified_noise_rate_ci_high"] == block["ci_high"]
    # the model's own figures are kept beside the review's
    assert figures["estimated_noise_rate"] == model_summary["figures"]["estimated_noise_rate"]

    html = render_html(verified)
    assert 'id="verified"' in html and 'id="verified"' not in render_html(result)
    assert html.index('id="verified"') < html.index('id="summary"')
    assert "Verified by review" in html and "model-based, unverified" in html
    # The summary's sentence says what the review found, not that no review checked it.
    import re

    lead = re.sub(r"<[^>]+>", "", re.search(r'id="summary".*?<p class="lead">(.*?)</p>', html,
                                            re.S).group(1))
    assert f"A review of {block['n_reviewed']} sampled items found that about" in lead
    assert f"{100 * block['noise_rate']:.1f}%" in lead
    assert "no reviewed sample has checked it" not in html
    assert "no reviewed sample has checked it" in render_html(result)

    lines = section_lines(verified)
    assert lines[0].startswith("Verified by review: noise rate ")
    assert not any(line.startswith("Verified by review") for line in section_lines(result))


def test_gate_judges_the_verified_upper_bound_and_can_require_a_review(case):
    result, sample, answers, *_ = case
    verified = result.verify(answers, sample)
    v_high = verified.figures()["verified_noise_rate_ci_high"]
    model = result.figures()["estimated_noise_rate"]
    threshold = (model + v_high) / 2  # between the model's estimate and the verified bound
    assert model < threshold < v_high
    policy = GatePolicy.from_dict({"max_noise_rate": threshold})
    assert evaluate(policy, result.figures()).passed
    after = evaluate(policy, verified.figures())
    assert not after.passed
    assert "verified_noise_rate_ci_high" in after.checks[0].message

    strict = GatePolicy.from_dict({"require_review": True})
    without = evaluate(strict, result.figures())
    assert not without.passed and "model-based, unverified" in without.checks[0].message
    assert evaluate(strict, verified.figures()).passed
    with pytest.raises(Exception, match="require_review.*true or false"):
        GatePolicy.from_dict({"require_review": 1})


def test_policy_accepts_an_acceptance_table(tmp_path):
    path = tmp_path / "gate.toml"
    path.write_text("[gate]\nmax_noise_rate = 0.1\n[gate.acceptance]\naql = 0.02\nlq = 0.05\n")
    policy = load_policy(path)
    assert policy.fail == {"max_noise_rate": 0.1}
    assert dict(policy.acceptance) == {"aql": 0.02, "lq": 0.05}
    path.write_text("[gate]\nacceptance = 3\n")
    with pytest.raises(Exception, match=r"\[gate.acceptance\].*expected a table"):
        load_policy(path)


def test_acceptance_plan_puts_its_verdict_and_oc_curve_in_the_report(case):
    from labelaudit.verify import single_sampling_plan

    result, _, _, given, _, truth, ids = case
    plan = single_sampling_plan(result.n_items, 0.02, 0.2)
    sample = review_sample(result, size=plan.n, seed=1, strata=1)
    truth_by_id = dict(zip(ids, NAMES[truth].tolist(), strict=True))
    sampled = sample.design.get_column("id").to_list()
    answers = pl.DataFrame({"id": sampled, "reviewed_label": [truth_by_id[i] for i in sampled]})
    verified = result.verify(answers, sample, acceptance=plan)
    html = render_html(verified)
    assert "Acceptance:" in html and 'aria-label="Operating characteristic' in html
    decision = verified.to_summary_dict()["verified"]["acceptance"]
    assert decision["decision"] in ("ACCEPT", "REJECT")
    assert decision["oc_curve"][0]["accept_probability"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def files(case, tmp_path_factory):
    """The case as files: data CSV, probabilities, a sample directory with reviews."""
    result, sample, answers, given, probs, truth, ids = case
    root = tmp_path_factory.mktemp("verified-cli")
    pl.DataFrame({"id": ids, "label": NAMES[given]}).write_csv(root / "data.csv")
    np.save(root / "probs.npy", probs)
    base = ["audit", str(root / "data.csv"), "--label-col", "label", "--id-col", "id",
            "--pred-probs", str(root / "probs.npy"), "--n-bootstrap", "50"]
    assert run([*base, "--out", str(root / "audit")]) == 0
    assert run(["sample", str(root / "audit"), "--size", "200", "--seed", "3",
                "--out", str(root / "sample")]) == 0
    table = pl.read_csv(root / "sample" / "review_sample.csv")
    truth_by_id = dict(zip(ids, NAMES[truth].tolist(), strict=True))
    table.with_columns(reviewed_label=pl.Series(
        [truth_by_id[i] for i in table.get_column("id")])).write_csv(root / "sample" / "done.csv")
    return root, base


def test_audit_with_reviews_and_a_gate_that_requires_one(files, tmp_path, capsys):
    root, base = files
    policy = tmp_path / "gate.toml"
    policy.write_text("[gate]\nrequire_review = true\n")
    assert run([*base, "--out", str(tmp_path / "plain"), "--policy", str(policy)]) == 1
    assert "model-based, unverified" in capsys.readouterr().out
    code = run([*base, "--out", str(tmp_path / "reviewed"), "--policy", str(policy),
                "--reviews", str(root / "sample" / "done.csv")])
    out = capsys.readouterr().out
    assert code == 0 and "Verified by review: noise rate" in out
    summary = json.loads((tmp_path / "reviewed" / "summary.json").read_text())
    assert summary["noise_rate_source"] == "review" and summary["verified"]["n_reviewed"] == 200
    assert {"reviews", "sample_design"} <= {i["role"] for i in summary["inputs"]}
    assert summary["parameters"]["reviews"] == str(root / "sample" / "done.csv")
    html = (tmp_path / "reviewed" / "report.html").read_text()
    assert html.index('id="verified"') < html.index('id="summary"')


def test_audit_with_bad_reviews_exits_2_and_writes_nothing(files, tmp_path, capsys):
    root, base = files
    bad = root / "sample" / "bad.csv"
    table = pl.read_csv(root / "sample" / "done.csv")
    table.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("whale"))
                       .otherwise(pl.col("reviewed_label")).alias("reviewed_label")).write_csv(bad)
    out = tmp_path / "never"
    assert run([*base, "--out", str(out), "--reviews", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "whale" in err and "bad.csv" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert run([*base, "--out", str(out), "--review-design", str(root)]) == 2
    assert "--review-design applies to --reviews only" in capsys.readouterr().err
    lone = tmp_path / "lone.csv"
    lone.write_text((root / "sample" / "done.csv").read_text())
    assert run([*base, "--out", str(out), "--reviews", str(lone)]) == 2
    assert "sample_design.parquet" in capsys.readouterr().err and not out.exists()
    # --review-design points at the sample's folder when the reviews live elsewhere
    assert run([*base, "--out", str(out), "--reviews", str(lone),
                "--review-design", str(root / "sample")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verified"]["n_reviewed"] == 200
    assert summary["parameters"]["review_design"] == str(root / "sample")


def test_verify_command_judges_gate_thresholds_on_the_review(files, tmp_path, capsys):
    root, _ = files
    summary = json.loads((root / "audit" / "summary.json").read_text())
    model = summary["figures"]["estimated_noise_rate"]
    policy = tmp_path / "gate.toml"
    policy.write_text(f"[gate]\nrequire_review = true\nmax_noise_rate = {model + 0.001}\n")
    code = run(["verify", str(root / "audit"), str(root / "sample" / "done.csv"),
                "--out", str(tmp_path / "v"), "--policy", str(policy),
                "--junit", str(tmp_path / "gate.xml")])
    out = capsys.readouterr().out
    verified = json.loads((tmp_path / "v" / "summary.json").read_text())
    high = verified["verified"]["ci_high"]
    assert high > model + 0.001  # the review's upper bound, not the model's estimate, decides
    assert code == 1 and "verified_noise_rate_ci_high" in out
    names = {c["name"] for c in verified["gate"]["checks"]}
    assert names == {"require_review", "max_noise_rate"}
    assert "require_review" in (tmp_path / "gate.xml").read_text()
    # the report: the audit's figures, led by the review, with the gate's verdict
    html = (tmp_path / "v" / "report.html").read_text()
    assert html.index('id="verified"') < html.index('id="summary"') < html.index('id="issues"')
    assert "verified_noise_rate_ci_high" in html and "report.html" in verified["outputs"]["files"]


def test_verify_command_names_where_it_looked_for_the_design(files, tmp_path, capsys):
    root, _ = files
    lone = tmp_path / "lone.csv"
    lone.write_text((root / "sample" / "done.csv").read_text())
    out = tmp_path / "v"
    assert run(["verify", str(root / "audit"), str(lone), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"no sample_design.parquet in '{tmp_path}' or '{root / 'audit'}'" in err
    assert "pass --design DIR" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert run(["verify", str(root / "audit"), str(lone), "--out", str(out),
                "--design", str(root / "sample")]) == 0


def test_verify_command_refuses_an_audit_summary_without_figures(files, tmp_path, capsys):
    import shutil

    root, _ = files
    broken = tmp_path / "audit"
    shutil.copytree(root / "audit", broken)
    summary = json.loads((broken / "summary.json").read_text())
    del summary["figures"]["n_items"]
    (broken / "summary.json").write_text(json.dumps(summary))
    out = tmp_path / "v"
    assert run(["verify", str(broken), str(root / "sample" / "done.csv"), "--out", str(out),
                "--design", str(root / "sample")]) == 2
    err = capsys.readouterr().err
    assert "lacks the audit's figures" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_demo_ships_a_review_that_a_fresh_draw_reproduces(demo_audit):
    result, demo = demo_audit
    shipped = load_sample(demo.path_reviews.parent, class_names=result.class_names)
    fresh = review_sample(result, size=shipped.size, seed=shipped.seed)
    assert fresh.design.get_column("id").to_list() == shipped.design.get_column("id").to_list()
    reviews = pl.read_csv(demo.path_reviews, infer_schema=False)
    truth = dict(zip(demo.truth.get_column("id"), demo.truth.get_column("true_label"),
                     strict=True))
    assert reviews.get_column("reviewed_label").to_list() == [
        truth[i] for i in reviews.get_column("id")]
    verified = result.verify(reviews, shipped)
    true_rate = float((demo.items.join(demo.truth, on="id").get_column("label")
                       != demo.items.join(demo.truth, on="id").get_column("true_label")).mean())
    assert verified.extras["verified"].ci_low <= true_rate <= verified.extras["verified"].ci_high


def test_demo_command_shows_the_verified_section(tmp_path, capsys):
    assert run(["demo", "--out", str(tmp_path / "demo")]) == 0
    assert "Verified by review: noise rate" in capsys.readouterr().out
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["noise_rate_source"] == "review"
    assert summary["verified"]["n_reviewed"] == load_demo().path_reviews.read_text().count("\n") - 1
    assert 'id="verified"' in (tmp_path / "demo" / "report.html").read_text()
