"""Acceptance plans: exact hypergeometric risks (scipy oracle), minimality, the stratified plan."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import hypergeom

from labelaudit import LabelAuditError, PolicyError
from labelaudit.verify.plans import (
    load_acceptance,
    oc_curve,
    single_sampling_plan,
    stratified_plan,
)


@pytest.mark.parametrize(
    "lot, aql, lq, alpha, beta",
    [(50_000, 0.02, 0.05, 0.05, 0.10), (1000, 0.01, 0.06, 0.05, 0.10),
     (300, 0.02, 0.10, 0.10, 0.05), (20_000, 0.005, 0.02, 0.05, 0.05)],
)
def test_single_plan_risks_equal_scipy(lot, aql, lq, alpha, beta):
    plan = single_sampling_plan(lot, aql, lq, alpha, beta)
    d1, d2 = int(np.floor(aql * lot + 1e-9)), int(np.ceil(lq * lot - 1e-9))
    assert (plan.defects_at_aql, plan.defects_at_lq) == (d1, d2)
    assert plan.producer_risk == pytest.approx(hypergeom(lot, d1, plan.n).sf(plan.c), abs=1e-12)
    assert plan.consumer_risk == pytest.approx(hypergeom(lot, d2, plan.n).cdf(plan.c), abs=1e-12)
    assert plan.producer_risk <= alpha and plan.consumer_risk <= beta


def test_single_plan_is_the_smallest():
    lot, aql, lq, alpha, beta = 400, 0.02, 0.08, 0.05, 0.10
    plan = single_sampling_plan(lot, aql, lq, alpha, beta)
    d1, d2 = 8, 32
    for n in range(1, plan.n):  # brute force: no smaller n works with any c
        c = np.arange(0, n + 1)
        ok = (hypergeom(lot, d1, n).sf(c) <= alpha) & (hypergeom(lot, d2, n).cdf(c) <= beta)
        assert not ok.any(), n


def test_oc_curve_is_the_hypergeometric_acceptance_probability():
    plan = single_sampling_plan(2000, 0.02, 0.07)
    curve = oc_curve(plan)
    rates = [r["defect_rate"] for r in curve]
    assert rates == sorted(rates) and plan.aql in rates and plan.lq in rates
    for row in curve:
        expect = hypergeom(2000, row["defects"], plan.n).cdf(plan.c)
        assert row["accept_probability"] == pytest.approx(expect, abs=1e-12)
    probs = [r["accept_probability"] for r in curve]
    assert all(a >= b - 1e-12 for a, b in zip(probs, probs[1:], strict=False))


def test_bad_levels():
    with pytest.raises(LabelAuditError, match="aql"):
        single_sampling_plan(1000, 0.05, 0.02)
    with pytest.raises(LabelAuditError, match="producer_risk"):
        single_sampling_plan(1000, 0.01, 0.05, producer_risk=0.7)
    with pytest.raises(LabelAuditError, match="lot_size"):
        single_sampling_plan(1, 0.01, 0.05)


def ranked_audit(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.beta(6, 1, size=n)
    given = np.array(["a"] * n)
    return pl.DataFrame({
        "id": np.arange(n), "given_label": given,
        "suggested_label": np.where(q > 0.5, "a", "b"), "label_quality": q, "is_issue": q < 0.35,
    })


def _upper_bounds(sizes, n, x, tail):
    """The one-sided bound verify reports, recomputed from the public interval function."""
    from labelaudit.verify.estimate import stratified_bounds

    return stratified_bounds(sizes, n, x, confidence=1 - 2 * tail)[2]


def test_stratified_plan_risks_match_simulation():
    table = ranked_audit()
    plan = stratified_plan(table, aql=0.02, lq=0.06)
    assert plan.n < plan.single_plan_n
    assert plan.producer_risk <= 0.05 and plan.consumer_risk <= 0.10
    sizes = np.array(plan.sizes)
    alloc = np.array(plan.allocation)
    rng = np.random.default_rng(0)  # independent of the plan's own draws
    for defects, risk, accept in ((plan.defects_at_aql, plan.producer_risk, False),
                                  (plan.defects_at_lq, plan.consumer_risk, True)):
        d = plan.defects_by_stratum(defects)
        assert d.sum() == defects and (d <= sizes).all()
        x = rng.hypergeometric(d, sizes - d, alloc, size=(40_000, sizes.size))
        u = _upper_bounds(sizes, alloc, x, plan.bound_tail)
        simulated = np.mean(u < plan.threshold) if accept else np.mean(u >= plan.threshold)
        exact = plan.accept_probability([defects])[0]
        assert simulated == pytest.approx(exact if accept else 1 - exact, abs=0.01)
        assert simulated == pytest.approx(risk, abs=0.01)
    # The risks are what was asked for, not far below it (the plan is not wasteful).
    assert plan.consumer_risk > 0.08


def test_stratified_plan_decisions_follow_the_bound():
    plan = stratified_plan(ranked_audit(), aql=0.02, lq=0.06)
    sizes, n = np.array(plan.sizes), np.array(plan.allocation)
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.binomial(n, 0.04)
        out = plan.decide(sizes=sizes, n=n, x=x)
        u = float(_upper_bounds(sizes, n, x[None, :], plan.bound_tail)[0])
        assert out["upper_bound"] == pytest.approx(u)
        assert out["decision"] == ("ACCEPT" if u < plan.threshold else "REJECT")


def test_stratified_plan_is_deterministic():
    a = stratified_plan(ranked_audit(), aql=0.02, lq=0.06)
    b = stratified_plan(ranked_audit(), aql=0.02, lq=0.06)
    assert a == b


def test_stratified_plan_risks_under_other_spreads():
    plan = stratified_plan(ranked_audit(), aql=0.02, lq=0.06)
    assert plan.risks_under(plan.spread) == pytest.approx(
        (plan.producer_risk, plan.consumer_risk), abs=1e-9)
    # wrong labels concentrated where the design reviews most: lower risks than spread thinly
    conc = plan.risks_under(plan.parameters["spread_calibrated"])
    thin = plan.risks_under(plan.parameters["spread_raw"])
    assert sum(conc) < sum(thin)
    stricter = stratified_plan(ranked_audit(), aql=0.02, lq=0.06, robustness=1.0)
    looser = stratified_plan(ranked_audit(), aql=0.02, lq=0.06, robustness=0.0)
    assert looser.n <= plan.n <= stricter.n


def test_a_plan_whose_risk_depends_on_the_spread_gives_way_to_the_single_plan():
    from labelaudit.verify.plans import MAX_RISK_FACTOR, plan_from_policy

    levels = {"aql": 0.02, "lq": 0.10, "producer_risk": 0.05, "consumer_risk": 0.10}
    # A small lot of 300 with 5% issues: two reviews per stratum, so the verdict depends on
    # where the wrong labels are far more than on what the review finds.
    import labelaudit

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)
    given = np.where(rng.random(300) < 0.1, rng.integers(0, 3, 300), truth)
    probs = rng.dirichlet(np.ones(3), 300) * 0.3
    probs[np.arange(300), truth] += 0.7
    small = labelaudit.audit(given, probs, n_bootstrap=10).issues
    strat = stratified_plan(small, **levels)
    worst, _ = strat.worst_consumer_risk()
    assert worst > MAX_RISK_FACTOR * 0.10 and strat.robustness_problem() is not None
    chosen = plan_from_policy({**levels, "plan": "stratified"}, small)
    assert chosen.kind == "single" and chosen.n == single_sampling_plan(300, 0.02, 0.10).n
    assert "was not used" in chosen.note and chosen.to_dict()["note"] == chosen.note
    # A lot the scores rank well keeps the model-assisted plan, within the bound everywhere.
    large = ranked_audit()
    strat = stratified_plan(large, aql=0.02, lq=0.06)
    assert strat.robustness_problem() is None
    assert strat.worst_consumer_risk()[0] <= MAX_RISK_FACTOR * 0.10
    assert plan_from_policy({**levels, "lq": 0.06, "plan": "stratified"}, large) == strat


def test_stratified_plan_decides():
    table = ranked_audit()
    plan = stratified_plan(table, aql=0.02, lq=0.06)
    sizes = np.array(plan.sizes)
    n = np.array(plan.allocation)
    clean = plan.decide(sizes=sizes, n=n, x=np.zeros_like(n))
    assert clean["decision"] == "ACCEPT" and clean["estimated_wrong_labels"] == 0
    dirty = plan.decide(sizes=sizes, n=n, x=n // 2)
    assert dirty["decision"] == "REJECT"
    with pytest.raises(LabelAuditError, match="partial"):
        plan.decide(sizes=sizes, n=n - 1, x=np.zeros_like(n), partial=True)
    # fewer items than the plan draws, all of them reviewed: another sample than the plan's
    with pytest.raises(LabelAuditError, match="not drawn by the stratified plan"):
        plan.decide(sizes=sizes, n=n - 1, x=np.zeros_like(n))


def test_load_acceptance(tmp_path):
    good = tmp_path / "gate.toml"
    good.write_text("[gate]\nmax_noise_rate = 0.1\n[gate.acceptance]\naql = 0.02\nlq = 0.05\n")
    table = load_acceptance(good)
    assert table["aql"] == 0.02 and table["consumer_risk"] == 0.10 and table["plan"] == "stratified"
    none = tmp_path / "plain.toml"
    none.write_text("[gate]\nmax_noise_rate = 0.1\n")
    assert load_acceptance(none) is None
    bad = tmp_path / "bad.toml"
    bad.write_text("[gate.acceptance]\naql = 0.02\nlq = 0.05\nrisk = 1\n")
    with pytest.raises(PolicyError, match="unknown key 'risk'"):
        load_acceptance(bad)
    inverted = tmp_path / "inv.toml"
    inverted.write_text("[gate.acceptance]\naql = 0.05\nlq = 0.02\n")
    with pytest.raises(PolicyError, match="must be below lq"):
        load_acceptance(inverted)
