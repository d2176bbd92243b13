"""The notebook API: one-line reprs, HTML cards, tables as polars/pandas, summary()."""

from __future__ import annotations

import html5lib
import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import labelaudit
from labelaudit import LabelAuditError, evaluate_gate
from labelaudit.gate import GatePolicy, evaluate


@pytest.fixture(scope="module")
def results(demo_audit):
    result, _ = demo_audit
    gate = evaluate_gate(result, {"max_noise_rate": 0.05, "warn": {"max_issues": 10_000}})
    sample = result.review_sample(120, seed=1)
    ids = sample.design.get_column("id").to_list()
    answers = pl.DataFrame({"id": ids, "reviewed_label": sample.design.get_column("given_label")})
    verified = result.verify(answers, sample)
    return {
        "audit": result,
        "annotators": result.extras["annotators"],
        "slices": result.extras["slices"],
        "gate": gate,
        "sample": sample,
        "verified": verified.extras["verified"],
        "oof": result.out_of_fold,
        "dawid_skene": result.extras["annotators"].dawid_skene,
    }


KINDS = ["audit", "annotators", "slices", "gate", "sample", "verified", "oof", "dawid_skene"]


@pytest.mark.parametrize("kind", KINDS)
def test_repr_is_one_short_line(results, kind):
    obj = results[kind]
    text = repr(obj)
    assert "\n" not in text and len(text) < 300, text
    assert text.startswith(type(obj).__name__ + "(")
    assert "DataFrame" not in text and "array(" not in text and "shape:" not in text


def test_reprs_carry_the_headline_figures(results):
    result = results["audit"]
    assert f"n_issues={result.n_issues}" in repr(result)
    assert f"estimated_noise_rate={result.estimated_noise_rate:.4g}" in repr(result)
    review = results["annotators"]
    flagged = review.flagged_annotators
    assert flagged and all(repr(str(a)) in repr(review) for a in flagged[:5])
    assert f"n_flagged_slices={results['slices'].flagged.height}" in repr(results["slices"])
    assert "passed=False" in repr(results["gate"]) and "'max_noise_rate'" in repr(results["gate"])


TABLES = {
    "audit": ("issues", "per_class"),
    "annotators": ("annotators", "consensus", "pairwise", "relabel_queue", "confusions",
                   "time_windows"),
    "slices": ("table", "flagged", "intersections", "overall", "annotator_by_attribute"),
    "gate": ("checks",),
    "sample": ("design", "strata", "class_counts"),
    "verified": ("per_class", "strata"),
}


@pytest.mark.parametrize("kind", list(TABLES))
def test_every_table_as_polars_and_pandas(results, kind):
    obj = results[kind]
    assert obj.tables == TABLES[kind]
    default = obj.to_polars()
    assert_frame_equal(default, obj.to_polars(TABLES[kind][0]))
    for name in obj.tables:
        frame = obj.to_polars(name)
        assert isinstance(frame, pl.DataFrame)
        raw = obj._table(name)
        if isinstance(raw, pl.DataFrame):
            assert_frame_equal(frame, raw)
        else:
            assert frame.height == len(raw)
        as_pandas = obj.to_pandas(name)
        assert isinstance(as_pandas, pd.DataFrame)
        assert list(as_pandas.columns) == frame.columns and len(as_pandas) == frame.height
    with pytest.raises(LabelAuditError, match="table must be one of"):
        obj.to_polars("nope")


def test_gate_checks_table_matches_the_verdict(results):
    gate = results["gate"]
    checks = gate.to_polars()
    assert checks.get_column("name").to_list() == [c.name for c in gate.checks]
    assert checks.get_column("passed").to_list() == [c.passed for c in gate.checks]


def test_audit_issues_to_pandas_keeps_values(results):
    result = results["audit"]
    frame = result.to_pandas()
    assert frame["id"].tolist() == result.issues.get_column("id").to_list()
    np.testing.assert_array_equal(frame["label_quality"].to_numpy(),
                                  result.issues.get_column("label_quality").to_numpy())


def test_summaries_are_plain_data_matching_the_result(results):
    import json

    result = results["audit"]
    s = result.summary()
    assert s["n_issues"] == result.n_issues and s["n_items"] == result.n_items
    assert s["estimated_noise_rate"] == result.estimated_noise_rate
    assert s["sections"] == ["annotators", "slices"]
    review = results["annotators"]
    assert review.summary()["flagged_annotators"] == [str(a) for a in review.flagged_annotators]
    assert review.summary()["krippendorff_alpha"] == review.agreement["krippendorff_alpha"]
    assert results["slices"].summary()["n_flagged_slices"] == results["slices"].flagged.height
    g = results["gate"].summary()
    assert g["passed"] is False and g["failures"] == ["max_noise_rate"] and g["warnings"] == []
    v = results["verified"].summary()
    assert v["n_reviewed"] == 120 and v["noise_rate"] == results["verified"].noise_rate
    for obj in (result, review, results["slices"], results["gate"], results["sample"],
                results["verified"]):
        json.dumps(obj.summary(), allow_nan=True)  # plain Python values only


def _parse(fragment: str):
    parser = html5lib.HTMLParser(strict=False, namespaceHTMLElements=False)
    return parser.parseFragment(fragment)


@pytest.mark.parametrize("kind", ["audit", "annotators", "slices", "gate", "sample", "verified"])
def test_repr_html_is_a_small_card_with_top_rows(results, kind):
    obj = results[kind]
    fragment = obj._repr_html_()
    assert fragment.startswith('<div class="labelaudit-card"') and "<script" not in fragment
    tree = _parse(fragment)
    rows = tree.findall(".//tbody/tr")
    assert 1 <= len(rows) <= 10
    assert len(fragment) < 20_000


def test_audit_card_shows_the_top_issues_in_rank_order(results):
    result = results["audit"]
    tree = _parse(result._repr_html_())
    ids = [tr.findall("td")[1].text for tr in tree.findall(".//tbody/tr")]
    top = result.issues.filter(pl.col("is_issue")).head(10).get_column("id").to_list()
    assert ids == [str(i) for i in top]
    text = "".join(tree.itertext())
    assert f"{result.n_issues:,} label issues" in text and "model-based, unverified" in text
    assert f"{result.n_issues - 10:,} more rows" in text


def test_annotator_card_lists_flagged_annotators_first(results):
    review = results["annotators"]
    tree = _parse(review._repr_html_())
    first = [tr.findall("td")[0].text for tr in tree.findall(".//tbody/tr")]
    flagged = [str(a) for a in review.flagged_annotators]
    assert set(first[: len(flagged)]) == set(flagged)


def test_gate_card_says_the_verdict(results):
    assert "FAILED" in results["gate"]._repr_html_()
    passing = evaluate(GatePolicy.from_dict({"max_noise_rate": 0.9}),
                       results["audit"].figures())
    assert "PASSED" in passing._repr_html_()


def test_card_escapes_values():
    from labelaudit.gate import GateCheck, GateResult

    gate = GateResult((GateCheck("max_issues", 3, 1, "fail", False, "<b>x</b>"),), "<p>.toml")
    fragment = gate._repr_html_()
    assert "<b>x</b>" not in fragment and "&lt;b&gt;x&lt;/b&gt;" in fragment
    assert "&lt;p&gt;.toml" in fragment


def test_displaying_loads_neither_jinja2_nor_matplotlib():
    import json
    import os
    import subprocess
    import sys

    code = (
        "import sys, json, numpy as np\n"
        "from labelaudit import audit\n"
        "rng = np.random.default_rng(0)\n"
        "probs = rng.dirichlet(np.ones(3), 200)\n"
        "result = audit(rng.integers(0, 3, 200), probs, n_bootstrap=10)\n"
        "before = set(sys.modules)\n"
        "card = result._repr_html_()\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(json.dumps([sorted(new & {'jinja2', 'matplotlib'}), len(card)]))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    heavy, size = json.loads(out.stdout.strip().splitlines()[-1])
    assert heavy == [] and size > 0


def test_evaluate_gate_accepts_a_policy_file_a_table_and_summary_json(results, tmp_path):
    result = results["audit"]
    policy = tmp_path / "gate.toml"
    policy.write_text("[gate]\nmax_noise_rate = 0.05\n\n[gate.warn]\nmax_issues = 10000\n")
    from_file = evaluate_gate(result, policy)
    from_str = evaluate_gate(result, str(policy))
    from_table = evaluate_gate(result, {"max_noise_rate": 0.05, "warn": {"max_issues": 10_000}})
    direct = evaluate(labelaudit.load_policy(policy), result.figures())
    for verdict in (from_file, from_str, from_table):
        assert [c.to_dict() for c in verdict.checks] == [c.to_dict() for c in direct.checks]
    summary = result.to_summary_dict()
    from_summary = evaluate_gate(summary, policy)
    assert [c.passed for c in from_summary.checks] == [c.passed for c in direct.checks]
    with pytest.raises(LabelAuditError, match="policy must be"):
        evaluate_gate(result, 0.05)
    with pytest.raises(LabelAuditError, match="result must be"):
        evaluate_gate(object(), policy)


def test_card_numbers_are_for_people(results):
    import re

    for kind in ("audit", "annotators", "slices"):
        text = "".join(_parse(results[kind]._repr_html_()).itertext())
        assert not re.search(r"\d[eE][-+]?\d", text), kind  # no scientific notation
    assert "< 0.001" in "".join(_parse(results["audit"]._repr_html_()).itertext())


def test_annotations_only_result_shows_the_review_card(results):
    from labelaudit.audit import review_only_result

    result = review_only_result(results["annotators"])
    fragment = result._repr_html_()
    assert fragment == results["annotators"]._repr_html_()
    assert "Annotator review" in fragment


def test_to_pandas_without_pandas_says_what_to_install(results, monkeypatch):
    def missing(self, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'pandas'", name="pandas")

    monkeypatch.setattr(pl.DataFrame, "to_pandas", missing)
    with pytest.raises(LabelAuditError, match=r"to_pandas\(\) needs pandas: pip install"):
        results["gate"].to_pandas()
