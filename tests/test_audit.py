"""Tests for labelaudit.audit: the pipeline, its result, interval coverage and the report."""

from __future__ import annotations

import json

import cleanlab.count
import cleanlab.filter
import cleanlab.rank
import html5lib
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sklearn.datasets import load_wine

from labelaudit import gate, io
from labelaudit.audit import AuditResult, audit, check_probabilities
from labelaudit.exceptions import InputError, LabelAuditError
from labelaudit.report import render_html
from labelaudit.summary import to_summary_dict


@pytest.fixture(scope="module")
def noisy_probs(planted):
    """Labels with 15% flips and imperfect, out-of-sample-like probabilities."""
    return planted(600, 4, seed=11, rate=0.15)


# --------------------------------------------------------------------------- cleanlab oracle


def test_audit_matches_cleanlab(noisy_probs):
    s, pp, _ = noisy_probs
    res = audit(s, pp)
    by_row = res.issues.sort("id")
    mask = cleanlab.filter.find_label_issues(s, pp)
    np.testing.assert_array_equal(by_row.get_column("is_issue").to_numpy(), mask)
    np.testing.assert_allclose(
        by_row.get_column("label_quality").to_numpy(),
        cleanlab.rank.get_label_quality_scores(s, pp),
        rtol=0,
        atol=1e-12,
    )
    _, nm, inv, cj = cleanlab.count.estimate_py_and_noise_matrices_from_probabilities(s, pp)
    np.testing.assert_allclose(res.noise_matrix, nm, atol=1e-12)
    np.testing.assert_allclose(res.inverse_noise_matrix, inv, atol=1e-12)
    np.testing.assert_array_equal(res.confident_joint, cj)
    names = [str(c) for c in np.argmax(pp, axis=1)]
    assert by_row.get_column("suggested_label").to_list() == names
    assert res.n_issues == int(mask.sum())
    assert res.label_health_score == pytest.approx(1 - mask.sum() / len(s))
    assert res.n_items == len(s) and res.n_classes == 4


def test_issue_ranking_and_table_shape(noisy_probs):
    s, pp, _ = noisy_probs
    res = audit(s, pp)
    t = res.issues
    assert t.columns == ["id", "given_label", "suggested_label", "label_quality", "is_issue",
                         "issue_rank"]
    issues = t.filter(pl.col("is_issue"))
    assert issues.get_column("issue_rank").to_list() == list(range(1, res.n_issues + 1))
    q = issues.get_column("label_quality").to_numpy()
    assert np.all(np.diff(q) >= 0)  # least trustworthy first
    rest = t.filter(~pl.col("is_issue"))
    assert rest.get_column("issue_rank").null_count() == rest.height
    assert t.head(res.n_issues).get_column("is_issue").all()


def test_per_class_table(noisy_probs):
    s, pp, _ = noisy_probs
    res = audit(s, pp)
    pc = res.per_class
    assert pc.get_column("count").to_list() == np.bincount(s, minlength=4).tolist()
    assert pc.get_column("n_issues").sum() == res.n_issues
    lo, rate, hi = (pc.get_column(c).to_numpy() for c in ("ci_low", "estimated_noise_rate",
                                                          "ci_high"))
    assert np.all(lo <= rate) and np.all(rate <= hi)
    q = cleanlab.rank.get_label_quality_scores(s, pp)
    expected = [q[s == k].mean() for k in range(4)]
    np.testing.assert_allclose(pc.get_column("mean_label_quality").to_numpy(), expected)
    assert res.ci_low <= res.estimated_noise_rate <= res.ci_high


def test_string_labels_and_class_order(noisy_probs):
    s, pp, _ = noisy_probs
    names = np.array(["d", "c", "b", "a"])  # code k is names[k]
    res = audit(names[s], pp, class_names=list(names))
    base = audit(s, pp)
    assert res.class_names == ("d", "c", "b", "a")
    np.testing.assert_array_equal(
        res.issues.sort("id").get_column("is_issue").to_numpy(),
        base.issues.sort("id").get_column("is_issue").to_numpy(),
    )
    with pytest.raises(InputError, match="not one of"):
        audit(names[s], pp, class_names=["d", "c", "b"])


# --------------------------------------------------------------------------- order invariance


def _ids(n):
    return [f"item-{i:04d}" for i in range(n)]


def test_shuffled_rows_give_identical_results_with_pred_probs(noisy_probs):
    s, pp, _ = noisy_probs
    ids = _ids(len(s))
    perm = np.random.default_rng(0).permutation(len(s))
    a = audit(s, pp, ids=ids)
    b = audit(s[perm], pp[perm], ids=[ids[i] for i in perm])
    assert_frame_equal(a.issues, b.issues)
    assert_frame_equal(a.per_class, b.per_class)
    assert a.figures() == b.figures()


def test_shuffled_rows_give_identical_results_with_features():
    X, y = load_wine(return_X_y=True)
    ids = _ids(len(y))
    perm = np.random.default_rng(1).permutation(len(y))
    a = audit(y, features=X, ids=ids, seed=3)
    b = audit(y[perm], features=X[perm], ids=[ids[i] for i in perm], seed=3)
    assert_frame_equal(a.issues, b.issues)
    assert a.figures() == b.figures()
    np.testing.assert_array_equal(a.out_of_fold.fold_noise_rates, b.out_of_fold.fold_noise_rates)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda p: p.__setitem__(7, p[7] * 0.8), r"row 7 \(id 'item-0007'\) sums to 0.8"),
        (lambda p: p.__setitem__((3, 1), np.nan), r"row 3 \(id 'item-0003'\) column 1 is nan"),
        (lambda p: p.__setitem__((5, 2), -0.5), r"row 5 \(id 'item-0005'\) column 2 is -0.5"),
    ],
)
def test_bad_probabilities_name_row_and_id(noisy_probs, change, match):
    s, pp, _ = noisy_probs
    bad = pp.copy()
    change(bad)
    with pytest.raises(InputError, match=match) as info:
        audit(s, bad, ids=_ids(len(s)), pred_probs_source="probabilities file 'p.npy'")
    assert str(info.value).startswith("probabilities file 'p.npy': row")
    assert "\n" not in str(info.value)


def test_check_probabilities_streams_in_blocks():
    pp = np.full((70_000, 2), 0.5)
    pp[69_999] = [0.5, 0.6]
    with pytest.raises(InputError, match="row 69999 sums to 1.1"):
        check_probabilities(pp)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of"),
        ({"pred_probs": np.full((4, 2), 0.5), "features": np.zeros((4, 1))}, "exactly one of"),
        ({"pred_probs": np.full((3, 2), 0.5)}, "shape"),
        ({"pred_probs": np.full((4, 2), 0.5), "ids": ["a", "b", "a", "c"]}, "duplicate id 'a'"),
        ({"pred_probs": np.full((4, 2), 0.5), "filter_by": "nope"}, "filter_by"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(LabelAuditError, match=match):
        audit(np.array([0, 1, 0, 1]), **kwargs)


# --------------------------------------------------------------------------- result plumbing


def test_sections_figures_gate_and_summary(noisy_probs, tmp_path):
    s, pp, _ = noisy_probs
    res = audit(s, pp)
    assert isinstance(res, AuditResult)
    more = res.with_section("annotators", {"n": 3}, figures={"krippendorff_alpha": 0.7})
    assert res.extras == {} and more.extras["annotators"] == {"n": 3}
    figs = more.figures()
    assert figs["krippendorff_alpha"] == 0.7
    assert figs["noise_rate_ci_low"] == res.ci_low
    assert set(figs["class_noise_rates"]) == {"0", "1", "2", "3"}
    policy = gate.GatePolicy.from_dict(
        {"max_noise_rate": 0.5, "min_krippendorff_alpha": 0.8, "noise_rate_statistic": "ci_low"}
    )
    verdict = gate.evaluate(policy, figs)
    assert [c.passed for c in verdict.checks] == [True, False]
    summary = to_summary_dict(more, gate=verdict, inputs=[{"role": "data", "path": "x"}])
    io.write_json(tmp_path / "summary.json", summary)
    back = json.loads((tmp_path / "summary.json").read_text())
    assert back["figures"]["n_items"] == len(s)
    assert back["gate"]["checks"][1]["name"] == "min_krippendorff_alpha"
    assert back["extras"]["annotators"] == {"n": 3}
    assert back["versions"]["labelaudit"]
    assert back["parameters"]["seed"] == 0
    assert len(back["per_class"]) == 4


def test_report_is_valid_escaped_html(noisy_probs):
    s, pp, _ = noisy_probs
    hostile = ["<script>alert(1)</script>", "a&b", '"quoted"', "ok"]
    ids = [f"<img src=x onerror=alert({i})>" for i in range(len(s))]
    res = audit(np.array(hostile)[s], pp, class_names=hostile, ids=ids)
    policy = gate.GatePolicy.from_dict({"max_issues": 1})
    html = render_html(res, gate=gate.evaluate(policy, res.figures()))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html  # self-contained
    html5lib.HTMLParser(strict=True).parse(html)  # raises on any parse error
    assert "failed" in html


# --------------------------------------------------------------------------- interval coverage

# Simulation where confident learning is consistent. True labels y ~ PY; given labels
# s ~ NOISE[:, y] (class-conditional noise); the features reveal y, so the exact
# posterior of the noisy label is pred_probs[i] = NOISE[:, y_i]. With this diagonally
# dominant NOISE every row is counted in its (given, true) cell, so the estimator is the
# sample share of rows with s != y. The estimand is the population noise rate
# P(s != y) = sum_j PY[j] * (1 - NOISE[j, j]), and per given class k,
# P(y != k | s = k).
PY = np.array([0.5, 0.3, 0.2])
NOISE = np.array(  # NOISE[i, j] = p(s = i | y = j); columns sum to 1
    [
        [0.85, 0.08, 0.05],
        [0.10, 0.87, 0.10],
        [0.05, 0.05, 0.85],
    ]
)
N_ITEMS = 2000
N_TRIALS = 300


def test_noise_rate_interval_covers_the_true_rate():
    true_rate = float(PY @ (1 - np.diag(NOISE)))
    p_s = NOISE @ PY
    true_class = 1 - np.diag(NOISE) * PY / p_s
    hits, class_hits = 0, np.zeros(3)
    for trial in range(N_TRIALS):
        rng = np.random.default_rng(1000 + trial)
        y = rng.choice(3, size=N_ITEMS, p=PY)
        u = rng.random(N_ITEMS)[:, None]
        s = (u > np.cumsum(NOISE[:, y].T, axis=1)).sum(axis=1)
        res = audit(s, np.ascontiguousarray(NOISE[:, y].T), seed=trial, n_bootstrap=500)
        # Consistency: the estimate is the sample share of wrong labels.
        assert res.estimated_noise_rate == pytest.approx(np.mean(s != y), abs=2e-3)
        # The row bootstrap (sampling noise only) keeps its nominal coverage; the
        # model-based interval contains it.
        hits += res.sampling_ci_low <= true_rate <= res.sampling_ci_high
        assert res.ci_low <= res.sampling_ci_low and res.ci_high >= res.sampling_ci_high
        lo = res.per_class.get_column("ci_low").to_numpy()
        hi = res.per_class.get_column("ci_high").to_numpy()
        class_hits += (lo <= true_class) & (true_class <= hi)
    # With 300 independent trials the observed coverage of a correct 95% interval has
    # standard deviation sqrt(0.95 * 0.05 / 300) = 0.0126; [0.91, 0.99] is about 3 standard
    # deviations either side, so a correct interval fails this with probability < 0.5%
    # while an interval that is too narrow (e.g. 90% coverage) or far too wide (>= 99.5%)
    # fails it. The trials use fixed seeds, so the outcome is reproducible.
    coverage = hits / N_TRIALS
    assert 0.91 <= coverage <= 0.99, coverage
    class_coverage = class_hits / N_TRIALS
    assert np.all((class_coverage >= 0.91) & (class_coverage <= 0.99)), class_coverage


# --------------------------------------------------------------------------- the model-only figure


def test_the_interval_is_the_model_based_one(noisy_probs):
    from labelaudit import noise_rate_intervals
    from labelaudit.model_checks import model_noise_interval

    s, pp, _ = noisy_probs
    res = audit(s, pp, seed=3, n_bootstrap=300)
    # the audit reuses its own estimate: the same as computing everything afresh
    assert res.noise_interval == model_noise_interval(s, pp, n_bootstrap=300, seed=3)
    boot = noise_rate_intervals(s, pp, n_bootstrap=300, seed=3)
    assert (res.sampling_ci_low, res.sampling_ci_high) == (boot.ci_low, boot.ci_high)
    assert (res.ci_low, res.ci_high) == (res.noise_interval.ci_low, res.noise_interval.ci_high)
    assert res.ci_low <= res.sampling_ci_low and res.ci_high >= res.sampling_ci_high
    assert res.noise_rate_source == "model" and res.model_checks == () and res.model_names == ()
    figs = res.figures()
    assert figs["noise_rate_source"] == "model"
    assert (figs["noise_rate_ci_low"], figs["noise_rate_ci_high"]) == (res.ci_low, res.ci_high)
    summary = to_summary_dict(res)["figures"]
    assert summary["noise_rate_source"] == "model"
    assert summary["noise_rate_interval"]["lower_bound"] == res.noise_interval.lower_bound
    assert summary["noise_rate_interval"]["upper_bound"] == res.noise_interval.upper_bound
    assert summary["model_checks"] == []


def test_model_checks_run_on_every_audit(noisy_probs):
    from labelaudit.report.sections import section_lines

    s, _, _ = noisy_probs
    rng = np.random.default_rng(4)
    res = audit(s, rng.dirichlet(np.ones(4), len(s)), class_names=["a", "b", "c", "d"])
    assert [f.code for f in res.model_checks] == ["uninformative"]
    lines = section_lines(res)
    assert any(line == f"Model error: {res.model_checks[0].message}" for line in lines)
    entry = to_summary_dict(res)["figures"]["model_checks"][0]
    assert entry["code"] == "uninformative" and entry["message"] == res.model_checks[0].message
    # through features (out-of-fold probabilities) too
    X, y = load_wine(return_X_y=True)
    assert audit(y, features=X, seed=0).model_checks == ()


def test_several_models_are_audited_on_their_mean(noisy_probs):
    from labelaudit.model_checks import model_noise_interval

    s, pp, _ = noisy_probs
    rng = np.random.default_rng(2)
    other = pp * rng.uniform(0.3, 1.7, pp.shape)
    other /= other.sum(axis=1, keepdims=True)
    ids = _ids(len(s))
    res = audit(s, pp, ids=ids, extra_pred_probs=[other], extra_pred_probs_sources=["other"],
                pred_probs_source="main")
    mean = audit(s, (pp + other) / 2, ids=ids)
    assert_frame_equal(res.issues, mean.issues)
    assert res.estimated_noise_rate == mean.estimated_noise_rate
    assert res.model_names == ("main", "other")
    assert res.parameters["n_models"] == 2 and res.parameters["pred_probs"] == "mean of given"
    iv = res.noise_interval
    assert iv == model_noise_interval(s, (pp + other) / 2, extra_pred_probs=[pp, other])
    alone = [audit(s, m, ids=ids).estimated_noise_rate for m in (pp, other)]
    assert list(iv.model_rates[1:]) == alone
    block = to_summary_dict(res)["figures"]["noise_rate_interval"]
    assert [m["name"] for m in block["models"]] == ["main", "other"]
    assert (block["spread_low"], block["spread_high"]) == (min(alone), max(alone))
    # shuffled rows give the same result
    perm = np.random.default_rng(0).permutation(len(s))
    shuffled = audit(s[perm], pp[perm], ids=[ids[i] for i in perm],
                     extra_pred_probs=[other[perm]], extra_pred_probs_sources=["other"],
                     pred_probs_source="main")
    assert shuffled.noise_interval == iv
    assert shuffled.figures() == res.figures()


def test_extra_models_are_validated_like_the_first(noisy_probs):
    s, pp, _ = noisy_probs
    bad = pp.copy()
    bad[7] = [0.9, 0.9, 0.1, 0.1]
    with pytest.raises(InputError, match=r"^second: .*row 7"):
        audit(s, pp, extra_pred_probs=[bad], extra_pred_probs_sources=["second"])
    with pytest.raises(InputError, match=r"^extra_pred_probs\[0\]: has shape"):
        audit(s, pp, extra_pred_probs=[pp[:, :3]])
    X, _ = load_wine(return_X_y=True)
    with pytest.raises(InputError, match="extra_pred_probs"):
        audit(s[:178], features=X, extra_pred_probs=[pp[:178]])
    with pytest.raises(LabelAuditError, match="extra_pred_probs_sources"):
        audit(s, pp, extra_pred_probs=[pp], extra_pred_probs_sources=["a", "b"])


def test_one_job_runs_on_the_calling_thread_with_the_same_results(noisy_probs, monkeypatch):
    import sys

    audit_module = sys.modules[audit.__module__]
    labels, probs = noisy_probs[0], noisy_probs[1]
    threaded = audit(labels, probs, n_jobs=2, n_bootstrap=50)

    def no_thread(*args, **kwargs):
        raise AssertionError("n_jobs=1 started a thread")

    monkeypatch.setattr(audit_module, "ThreadPoolExecutor", no_thread)
    single = audit(labels, probs, n_jobs=1, n_bootstrap=50)
    with pytest.raises(AssertionError, match="started a thread"):
        audit(labels, probs, n_jobs=2, n_bootstrap=50)
    assert_frame_equal(single.issues, threaded.issues)
    assert single.noise_interval == threaded.noise_interval
    assert single.model_checks == threaded.model_checks
    assert single.estimated_noise_rate == threaded.estimated_noise_rate


def test_an_error_beside_the_model_checks_is_raised_without_waiting_for_them(noisy_probs,
                                                                             monkeypatch):
    import importlib
    import sys
    import threading

    audit_module = sys.modules[audit.__module__]
    labels, probs = noisy_probs[0], noisy_probs[1]
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    figures = audit_module._model_figures

    def slow_figures(*args, **kwargs):
        started.set()
        release.wait(30)
        finished.set()
        return figures(*args, **kwargs)

    def failing_search(*args, **kwargs):
        started.wait(30)
        raise LabelAuditError("the issue search failed")

    monkeypatch.setattr(audit_module, "_model_figures", slow_figures)
    monkeypatch.setattr(importlib.import_module("labelaudit.confident"), "find_label_issues",
                        failing_search)
    try:
        with pytest.raises(LabelAuditError, match="issue search failed"):
            audit(labels, probs, n_jobs=2, n_bootstrap=20)
        assert started.is_set() and not finished.is_set()  # raised while the checks still ran
    finally:
        release.set()
    assert finished.wait(30)


# --------------------------------------------------------------------------- annotator review


_COLUMNS = {"item_col": "item_id", "annotator_col": "annotator", "label_col": "label"}


def _annotations(ids, truth, names, seed):
    """Three annotators on every other item, each right 80% of the time."""
    rng = np.random.default_rng(seed)
    rows = [(ids[i], who, names[truth[i] if rng.random() < 0.8 else rng.integers(len(names))])
            for i in range(0, len(ids), 2) for who in ("p", "q", "r")]
    return pl.DataFrame(rows, schema=["item_id", "annotator", "label"], orient="row")


def _same_crowdlab(review, oracle):
    got, want = review.consensus, oracle.consensus
    assert got["item_id"].to_list() == want["item_id"].to_list()
    assert got["crowdlab_label"].to_list() == want["crowdlab_label"].to_list()
    np.testing.assert_allclose(got["crowdlab_quality"].to_numpy(),
                               want["crowdlab_quality"].to_numpy(), rtol=0, atol=1e-12)
    assert got["consensus_label"].to_list() == want["consensus_label"].to_list()


def test_annotator_review_runs_crowdlab_on_the_audited_probabilities(noisy_probs):
    from labelaudit import review_annotators
    from labelaudit.audit import add_annotator_review

    s, pp, truth = noisy_probs
    names = ["c0", "c1", "c2", "c3"]
    ids = _ids(len(s))
    ann = _annotations(ids, truth, names, seed=7)
    perm = np.random.default_rng(8).permutation(len(s))  # rows out of id order
    shuffled = [ids[i] for i in perm]
    result = audit(np.array(names)[s][perm], pp[perm], ids=shuffled, class_names=names,
                   n_bootstrap=10)
    review = add_annotator_review(result, ann, pred_probs=pp[perm], ids=shuffled,
                                  consensus_method="crowdlab").extras["annotators"]
    oracle = review_annotators(ann, classes=names, pred_probs=pp, item_ids=pl.Series(ids),
                               consensus_method="crowdlab", **_COLUMNS)
    assert set(review.consensus["consensus_method"]) == {"crowdlab"}
    _same_crowdlab(review, oracle)
    # Without a method that needs them, the probabilities are not used: the default is
    # Dawid-Skene whatever the audit had (CROWDLAB needs cleanlab, an optional library).
    default = add_annotator_review(result, ann, pred_probs=pp[perm], ids=shuffled)
    assert default.extras["annotators"].params["consensus_method"] == "dawid_skene"
    assert "crowdlab_label" not in default.extras["annotators"].consensus.columns
    plain = add_annotator_review(result, ann).extras["annotators"]
    assert plain.params["consensus_method"] == "dawid_skene"
    assert "crowdlab_label" not in plain.consensus.columns
    with pytest.raises(LabelAuditError, match="consensus_method='crowdlab' requires pred_probs"):
        add_annotator_review(result, ann, consensus_method="crowdlab")
    with pytest.raises(InputError, match=r"^pred_probs: has shape \(599, 4\) but the audit has "
                                         r"600 items and 4 classes"):
        add_annotator_review(result, ann, pred_probs=pp[perm][:-1], ids=shuffled[:-1],
                             consensus_method="crowdlab")
    with pytest.raises(InputError, match="^ids: the audit's ids have type String but ids were "
                                         "not given"):
        add_annotator_review(result, ann, pred_probs=pp[perm], consensus_method="crowdlab")
    with pytest.raises(InputError, match="^ids: the audited item 'item-0000' is not among them"):
        add_annotator_review(result, ann, pred_probs=pp, ids=["other", *ids[1:]],
                             consensus_method="crowdlab")


def test_annotator_review_of_a_feature_audit_uses_its_out_of_fold_probabilities():
    from labelaudit import review_annotators
    from labelaudit.audit import add_annotator_review

    X, y = load_wine(return_X_y=True)
    names = ["barolo", "grignolino", "barbera"]
    ids = _ids(len(y))
    ann = _annotations(ids, y, names, seed=9)
    perm = np.random.default_rng(10).permutation(len(y))
    result = audit(np.array(names)[y][perm], features=X[perm], ids=[ids[i] for i in perm],
                   class_names=names, cv=3, n_bootstrap=10)
    assert add_annotator_review(result, ann).extras["annotators"].params[
        "consensus_method"] == "dawid_skene"
    review = add_annotator_review(result, ann, consensus_method="crowdlab").extras["annotators"]
    assert review.params["consensus_method"] == "crowdlab"
    # The out-of-fold probabilities are in id order, whatever the order of the rows.
    oracle = review_annotators(ann, classes=names, pred_probs=result.out_of_fold.pred_probs,
                               item_ids=pl.Series(ids), **_COLUMNS)
    _same_crowdlab(review, oracle)
