"""Stratified review samples: strata, Neyman allocation, sizing, determinism, no priming."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from labelaudit import LabelAuditError
from labelaudit.verify import (
    allocate,
    anticipated_error_probabilities,
    make_strata,
    review_sample,
    size_for_half_width,
)
from labelaudit.verify.sampling import RATE_FLOOR, anticipated_half_width


def issues_table(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.beta(4, 1, size=n)
    given = rng.choice(["a", "b", "c"], size=n)
    suggested = np.where(q > 0.5, given, rng.choice(["a", "b", "c"], size=n))
    return pl.DataFrame({
        "id": [f"x{i}" for i in range(n)], "given_label": given, "suggested_label": suggested,
        "label_quality": q, "is_issue": q < 0.3,
    })


def test_strata_split_groups_by_quality():
    t = issues_table()
    s = make_strata(t, (2, 2, 3))
    q = t["label_quality"].to_numpy()
    flagged = t["is_issue"].to_numpy()
    agree = (t["suggested_label"] == t["given_label"]).to_numpy()
    assert sorted(np.unique(s)) == list(range(7))
    for h in range(7):  # each stratum lies in one group
        assert len(set(zip(flagged[s == h], agree[s == h] | flagged[s == h], strict=True))) == 1
    # inside a group, strata are ordered by quality
    assert q[s == 0].max() <= q[s == 1].min()
    assert q[s == 4].max() <= q[s == 5].min() <= q[s == 5].max() <= q[s == 6].min()
    assert (make_strata(t, 1) == 0).all()
    with pytest.raises(LabelAuditError, match="strata"):
        make_strata(t, (2, 4))


def test_neyman_allocation_matches_the_formula_and_floors():
    sizes = np.array([500, 1500, 8000])
    rates = np.array([0.6, 0.1, 0.02])
    alloc = allocate(sizes, rates, 300)
    assert alloc.sum() == 300
    w = sizes * np.sqrt(rates * (1 - rates))
    np.testing.assert_allclose(alloc, 300 * w / w.sum(), atol=1)
    tiny = allocate(np.array([5, 10000]), np.array([RATE_FLOOR, 0.5]), 20)
    assert tiny[0] == 2 and tiny.sum() == 20
    capped = allocate(np.array([3, 10000]), np.array([0.99, 0.01]), 20)
    assert capped[0] <= 3
    with pytest.raises(LabelAuditError, match="size"):
        allocate(sizes, rates, 5)


def test_neyman_allocation_minimises_the_variance():
    sizes = np.array([400, 2000, 9000])
    rates = np.array([0.7, 0.15, 0.02])
    best = allocate(sizes, rates, 200)
    w = sizes / sizes.sum()
    s2 = rates * (1 - rates)

    def var(a):
        return float(np.sum(w**2 * s2 / a))

    rng = np.random.default_rng(1)
    for _ in range(200):  # random allocations of the same total never do better
        other = np.maximum(2, rng.multinomial(200 - 6, np.ones(3) / 3) + 2)
        other[-1] += 200 - other.sum()
        assert var(best) <= var(other) + 1e-12


def test_half_width_sizing_is_the_smallest_size():
    sizes = np.array([300, 1200, 6000])
    rates = np.array([0.8, 0.2, 0.02])
    n = size_for_half_width(sizes, rates, 0.02)
    assert anticipated_half_width(sizes, rates, n) <= 0.02
    assert anticipated_half_width(sizes, rates, n - 1) > 0.02
    s = review_sample(issues_table(), half_width=0.03, seed=0)
    assert s.parameters["anticipated_half_width"] <= 0.03
    assert s.parameters["sized_by"] == "half_width"


def test_anticipation_is_calibrated_to_the_issue_count():
    q = np.random.default_rng(0).uniform(size=1000)
    p, gamma = anticipated_error_probabilities(q, 50)
    assert p.sum() == pytest.approx(50, rel=1e-6) and gamma > 1
    p1, g1 = anticipated_error_probabilities(q, 0)
    assert g1 == 1 and np.allclose(p1, 1 - q)


def test_sample_is_deterministic_given_the_seed():
    t = issues_table()
    a = review_sample(t, size=120, seed=7)
    b = review_sample(t, size=120, seed=7)
    c = review_sample(t, size=120, seed=8)
    assert a.design.equals(b.design)
    assert not a.design.get_column("id").equals(c.design.get_column("id"))
    # the same sample whatever the row order of the issues table
    shuffled = t.sample(fraction=1.0, shuffle=True, seed=3)
    assert a.strata.get_column("n_sampled").to_list() == review_sample(
        shuffled, size=120, seed=7).strata.get_column("n_sampled").to_list()


def test_design_records_probabilities_and_is_shuffled():
    t = issues_table()
    s = review_sample(t, size=150, seed=0)
    d = s.design
    assert d.height == 150 and d.get_column("id").n_unique() == 150
    strata = s.strata
    assert (strata.get_column("n_sampled") >= 2).all()
    expect = strata.select("stratum", (pl.col("n_sampled") / pl.col("n_items")).alias("p"))
    joined = d.join(expect, on="stratum")
    np.testing.assert_allclose(joined["inclusion_probability"], joined["p"])
    assert not (np.diff(d.get_column("stratum").to_numpy()) >= 0).all()  # not grouped


def test_reviewer_table_does_not_prime():
    s = review_sample(issues_table(), size=60, seed=0)
    data = pl.DataFrame({"id": [f"x{i}" for i in range(4000)], "text": ["t"] * 4000})
    table = s.reviewer_table(data)
    assert table.columns == ["id", "text", "given_label", "reviewed_label"]
    assert table.get_column("reviewed_label").null_count() == 60
    shown = s.reviewer_table(show_suggestion=True)
    assert shown.columns == ["id", "given_label", "suggested_label", "reviewed_label"]
    tasks = s.label_studio_tasks(data)
    # the id is repeated under a field no Label Studio export format overwrites
    assert set(tasks[0]["data"]) == {"id", "text", "given_label", "labelaudit_id"}
    assert [t["data"]["id"] for t in tasks] == table.get_column("id").to_list()
    assert [t["data"]["labelaudit_id"] for t in tasks] == table.get_column("id").to_list()
    assert all("predictions" not in t for t in tasks)  # no suggestion unless asked for


def test_bad_options():
    t = issues_table()
    with pytest.raises(LabelAuditError, match="exactly one"):
        review_sample(t, size=10, half_width=0.1)
    with pytest.raises(LabelAuditError, match="size"):
        review_sample(t, size=3)
    with pytest.raises(LabelAuditError, match="label_quality"):
        review_sample(t.with_columns(pl.lit(2.0).alias("label_quality")), size=20)
