"""Verified estimates: the stratified interval's coverage by simulation, oracles, review parsing."""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from labelaudit import InputError
from labelaudit.verify import review_sample, reviews_frame, stratified_interval, verify_reviews
from labelaudit.verify.estimate import stratified_bounds, stratified_draws

# Finite populations with known wrong labels per stratum: (sizes, wrong, reviews per stratum).
SCENARIOS = {
    # 0.5% noise, most errors in a small flagged stratum, two strata without any error
    "rate_0.5pct": ([300, 1200, 6000, 12500], [70, 25, 5, 0], [40, 30, 30, 20]),
    # 40% noise, well separated strata
    "rate_40pct": ([6000, 4000, 5000, 5000], [5700, 1800, 400, 100], [60, 80, 80, 60]),
    # tiny strata reviewed with the floor of 2, and an error-free large stratum
    "small_strata": ([12, 25, 800, 9000], [9, 5, 40, 0], [2, 2, 40, 60]),
    # low rate spread thinly over large strata
    "rate_2pct_flat": ([2000, 8000, 10000], [200, 160, 40], [60, 90, 100]),
    # many large, thinly reviewed strata with rare errors (most reviewed strata see none)
    "many_thin": ([200] * 2 + [4000] * 12, [60, 30] + [8] * 12, [30, 30] + [20] * 12),
    # 40% noise over 16 strata of 25 reviews: per-stratum pseudo-counts would add up
    "rate_40pct_16": ([1000] * 16, [900, 800, 700, 600, 550, 500, 450, 400, 350, 300, 250,
                                    200, 150, 100, 50, 10], [25] * 16),
    # ten tiny strata reviewed with 2 each next to one large stratum
    "tiny_many": ([5] * 10 + [20000], [3] * 10 + [100], [2] * 10 + [300]),
    # errors the model missed: most wrong labels in a large, thinly reviewed stratum
    "hidden_errors": ([500, 19500], [50, 400], [100, 30]),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_interval_coverage_by_simulation(name):
    sizes, wrong, n = (np.asarray(v) for v in SCENARIOS[name])
    truth = wrong.sum() / sizes.sum()
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    reps = 600
    x = rng.hypergeometric(wrong, sizes - wrong, n, size=(reps, sizes.size))
    _, lo, hi = stratified_bounds(sizes, n, x)
    coverage = float(np.mean((lo <= truth) & (truth <= hi)))
    assert coverage >= 0.93, (name, coverage)
    # the batch form agrees with the one-sample form
    _, lo1, hi1 = stratified_interval(sizes, n, x[0])
    assert lo1 == pytest.approx(lo[0], abs=0.01) and hi1 == pytest.approx(hi[0], abs=0.01)


def test_single_stratum_matches_the_jeffreys_interval():
    # a huge population reviewed at random is a binomial sample: statsmodels' Jeffreys interval
    for x in (0, 3, 17, 60):
        est, lo, hi = stratified_interval(np.array([10**8]), np.array([120]), np.array([x]))
        ref_lo, ref_hi = proportion_confint(x, 120, alpha=0.05, method="jeffreys")
        assert est == pytest.approx(x / 120)
        assert hi == pytest.approx(ref_hi, abs=0.004)
        assert lo == pytest.approx(0.0 if x == 0 else ref_lo, abs=0.004)


def test_finite_population_correction():
    # a stratum reviewed in full contributes its exact count and no uncertainty
    d = stratified_draws(np.array([50, 1000]), np.array([50, 10]), np.array([7, 1]))
    assert (d[:, 0] == 7).all() and (d[:, 1] >= 1).all()
    est, lo, hi = stratified_interval(np.array([40]), np.array([40]), np.array([6]))
    assert est == lo == hi == pytest.approx(6 / 40)


def generated_audit(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.beta(5, 1, size=n)
    wrong = rng.random(n) < np.clip(1.2 * (1 - q) ** 2, 0, 1)
    given = rng.choice(["a", "b", "c"], size=n)
    suggested = np.where(q > 0.5, given, np.where(given == "a", "b", "a"))
    table = pl.DataFrame({
        "id": np.arange(n), "given_label": given, "suggested_label": suggested,
        "label_quality": q, "is_issue": q < 0.4,
    })
    truth = np.where(wrong, np.where(given == "c", "a", "c"), given)
    return table, wrong, truth


def test_verify_reviews_estimates_and_detector_quality():
    table, wrong, truth = generated_audit()
    sample = review_sample(table, size=300, seed=2)
    ids = sample.design.get_column("id").to_numpy()
    answers = pl.DataFrame({"id": ids, "reviewed_label": truth[ids]})
    v = verify_reviews(sample, answers)
    s = sample.strata
    N = s.get_column("n_items").to_numpy()
    st = sample.design.get_column("stratum").to_numpy()
    n = np.bincount(st, minlength=N.size)
    x = np.bincount(st[wrong[ids]], minlength=N.size)
    assert v.noise_rate == pytest.approx(float((N * x / n).sum() / N.sum()))
    assert v.n_reviewed == 300 and v.n_wrong_reviewed == int(x.sum()) and not v.partial
    flagged = s.get_column("is_issue").to_numpy()
    d_hat = N * x / n
    assert v.precision["estimate"] == pytest.approx(d_hat[flagged].sum() / N[flagged].sum())
    assert v.recall["estimate"] == pytest.approx(d_hat[flagged].sum() / d_hat.sum())
    assert v.wrong_labels["estimate"] == pytest.approx(d_hat.sum())
    assert v.ci_low <= v.noise_rate <= v.ci_high
    for block in (v.precision, v.recall):
        assert block["ci_low"] <= block["estimate"] <= block["ci_high"]
    classes = {r["class"]: r for r in v.per_class}
    assert set(classes) == {"a", "b", "c"}
    for r in classes.values():
        assert r["n_reviewed"] >= 10 and r["ci_low"] <= r["noise_rate"] <= r["ci_high"]
    # is_correct answers give the same figures
    same = verify_reviews(sample, pl.DataFrame({"id": ids, "is_correct": ~wrong[ids]}))
    assert same.noise_rate == v.noise_rate and same.ci_high == v.ci_high


def test_verified_interval_covers_on_generated_audits():
    table, wrong, truth = generated_audit(n=4000, seed=4)
    rate = wrong.mean()
    covered = 0
    reps = 60
    for r in range(reps):
        sample = review_sample(table, size=200, seed=r)
        ids = sample.design.get_column("id").to_numpy()
        v = verify_reviews(sample, pl.DataFrame({"id": ids, "is_correct": ~wrong[ids]}),
                           n_draws=4000, seed=r)
        covered += v.ci_low <= rate <= v.ci_high
    assert covered / reps >= 0.88  # 60 draws: a loose check of the end-to-end path


def _seven_unreviewed():
    """A sample of 100 with its first 7 items left unreviewed, the rest answered truly."""
    table, wrong, truth = generated_audit()
    sample = review_sample(table, size=100, seed=0)
    ids = sample.design.get_column("id").to_numpy()
    labels = [None] * 7 + [str(v) for v in truth[ids][7:]]
    return sample, pl.DataFrame({"id": ids, "reviewed_label": pl.Series(labels, dtype=pl.String)})


def test_partial_review_needs_permission():
    sample, answers = _seven_unreviewed()
    with pytest.raises(InputError, match="7 of 100 sampled items are not reviewed"):
        verify_reviews(sample, answers)
    v = verify_reviews(sample, answers, allow_partial=True)
    assert v.partial and v.n_reviewed == 93 and v.to_dict()["n_unreviewed"] == 7
    assert v.to_dict()["method"]["partial_review_assumption"]


def test_a_stratum_without_any_review_is_refused():
    # With no reviewed item a stratum has no share to weight: the review is refused rather
    # than filled in with a made-up rate (it used to be 1/2, reported as verified).
    table, wrong, truth = generated_audit()
    sample = review_sample(table, size=100, seed=0)
    design = sample.design
    ids = design.get_column("id").to_numpy()
    nothing = pl.DataFrame({"id": ids, "reviewed_label": pl.Series([None] * ids.size,
                                                                  dtype=pl.String)})
    with pytest.raises(InputError, match="none of the 100 sampled items is reviewed"):
        verify_reviews(sample, nothing, allow_partial=True)
    stratum = design.get_column("stratum").to_numpy()
    keep = stratum != 3
    labels = [str(t) if k else None for t, k in zip(truth[ids], keep, strict=True)]
    answers = pl.DataFrame({"id": ids, "reviewed_label": pl.Series(labels, dtype=pl.String)})
    with pytest.raises(InputError, match="no item of stratum 3 .* is reviewed"):
        verify_reviews(sample, answers, allow_partial=True)
    # one reviewed item in that stratum is enough for a partial review
    first = int(np.flatnonzero(~keep)[0])
    labels[first] = str(truth[ids][first])
    answers = pl.DataFrame({"id": ids, "reviewed_label": pl.Series(labels, dtype=pl.String)})
    v = verify_reviews(sample, answers, allow_partial=True)
    assert v.partial and v.n_reviewed == int(keep.sum()) + 1


def test_detector_quality_uses_each_items_own_flag_in_a_simple_random_sample():
    # A simple random sample has one stratum holding flagged and unflagged items; the
    # detector's figures must come from each item's flag, not the stratum's.
    table, wrong, truth = generated_audit()
    sample = review_sample(table, size=400, seed=1, strata=1)
    assert sample.strata.height == 1
    flagged_all = table.get_column("is_issue").to_numpy()
    assert sample.strata.get_column("n_issues")[0] == int(flagged_all.sum())
    assert not sample.strata.get_column("is_issue")[0]
    design = sample.design
    ids = design.get_column("id").to_numpy()
    flag = design.get_column("is_issue").to_numpy()
    v = verify_reviews(sample, pl.DataFrame({"id": ids, "reviewed_label": truth[ids]}))
    n_flag, n_rest = int(flagged_all.sum()), int((~flagged_all).sum())
    wrong_flag = wrong[ids][flag].mean() * n_flag
    wrong_rest = wrong[ids][~flag].mean() * n_rest
    assert v.precision["estimate"] == pytest.approx(wrong_flag / n_flag)
    assert v.recall["estimate"] == pytest.approx(wrong_flag / (wrong_flag + wrong_rest))
    assert v.precision["ci_low"] <= v.precision["estimate"] <= v.precision["ci_high"]
    # the truth of this population lies inside both intervals
    true_precision = wrong[flagged_all].mean()
    true_recall = wrong[flagged_all].sum() / wrong.sum()
    assert v.precision["ci_low"] <= true_precision <= v.precision["ci_high"]
    assert v.recall["ci_low"] <= true_recall <= v.recall["ci_high"]
    # no reviewed flagged item: the figures are not measured, and the result says why
    answers = pl.DataFrame({"id": ids, "reviewed_label": pl.Series(
        [None if f else str(t) for f, t in zip(flag, truth[ids], strict=True)], dtype=pl.String)})
    v = verify_reviews(sample, answers, allow_partial=True)
    assert v.precision["estimate"] is None and v.recall["estimate"] is None
    assert "no reviewed item among the flagged items" in v.parameters["detector_note"]
    assert any("not measured" in line for line in v.summary_lines())


def test_review_errors_name_the_problem():
    table, wrong, truth = generated_audit()
    sample = review_sample(table, size=50, seed=0)
    ids = sample.design.get_column("id").to_numpy()
    bad_class = pl.DataFrame({"id": ids, "reviewed_label": ["zebra"] + ["a"] * 49})
    with pytest.raises(InputError, match="'zebra' at row 0 .* not one of the audit's classes"):
        verify_reviews(sample, bad_class)
    stranger = pl.DataFrame({"id": [*ids[:49], 99999], "reviewed_label": ["a"] * 50})
    with pytest.raises(InputError, match="id '99999' at row 49 is not in the audit"):
        verify_reviews(sample, stranger, audit_ids=table.get_column("id"))
    unsampled = next(i for i in range(3000) if i not in set(ids))
    other = pl.DataFrame({"id": [*ids[:49], unsampled], "reviewed_label": ["a"] * 50})
    with pytest.raises(InputError, match="not in the review sample"):
        verify_reviews(sample, other, audit_ids=table.get_column("id"))
    dup = pl.DataFrame({"id": [ids[0], ids[0]], "is_correct": [True, True]})
    with pytest.raises(InputError, match="appears more than once"):
        verify_reviews(sample, dup)
    with pytest.raises(InputError, match="is_correct 'maybe'"):
        reviews_frame(pl.DataFrame({"id": [1], "is_correct": ["maybe"]}), class_names=["a"],
                      source="r")
    with pytest.raises(InputError, match="reviewed_label"):
        reviews_frame(pl.DataFrame({"id": [1], "x": [1]}), class_names=["a"], source="r")


def test_reviewed_label_wins_over_is_correct():
    raw = pl.DataFrame({"id": [1, 2, 3], "reviewed_label": ["a", None, "b"],
                        "is_correct": [False, False, None]})
    frame = reviews_frame(raw, class_names=["a", "b"], source="r")
    assert frame.get_column("reviewed_label").to_list() == ["a", None, "b"]
    assert frame.get_column("is_correct").to_list() == [False, False, None]
    with pytest.raises(InputError, match="'c' at row 0"):
        reviews_frame(raw.with_columns(pl.Series("reviewed_label", ["c", None, "b"])),
                      class_names=["a", "b"], source="r")


def test_label_studio_export_layout():
    raw = pl.DataFrame({
        "item_id": [11, 12, 12, 13], "annotator": ["1", "1", "2", "1"],
        "label": ["a", "b", "b", "c"], "id": ["x1", "x2", "x2", "x3"], "given_label": ["a"] * 4,
    })
    frame = reviews_frame(raw, class_names=["a", "b", "c"], source="ls.json")
    assert frame.get_column("id").to_list() == ["x1", "x2", "x3"]
    assert frame.get_column("reviewed_label").to_list() == ["a", "b", "c"]
    conflict = raw.with_columns(pl.Series("label", ["a", "b", "c", "c"]))
    with pytest.raises(InputError, match="'x2' has annotations with different choices"):
        reviews_frame(conflict, class_names=["a", "b", "c"], source="ls.json")


def _ls_task(task_id: int, item: str, choice: str, *, cancelled: bool = False) -> dict:
    annotation = {"id": task_id, "completed_by": 1, "was_cancelled": cancelled,
                  "result": [{"from_name": "label", "to_name": "item", "type": "choices",
                              "value": {"choices": [choice]}}]}
    return {"id": task_id, "data": {"id": item, "text": "t", "labelaudit_id": item},
            "annotations": [annotation]}


def test_label_studio_class_error_names_the_item_and_the_choice_field(tmp_path):
    import json

    from labelaudit.io import read_reviews

    tasks = [_ls_task(5000 + i, f"i{i}", "cat") for i in range(6)]
    tasks[1]["annotations"].append({**tasks[1]["annotations"][0], "id": 77})  # agreeing, merged
    tasks[3]["annotations"][0]["was_cancelled"] = True  # skipped: rows shift
    tasks[4]["annotations"][0]["result"][0]["value"]["choices"] = ["Dog"]
    path = tmp_path / "x.json"
    path.write_text(json.dumps(tasks))
    raw = read_reviews(path)
    with pytest.raises(InputError) as err:
        reviews_frame(raw, class_names=["cat", "dog"], source=f"reviews file '{path}'")
    assert str(err.value) == (
        f"reviews file '{path}': item 'i4' chose 'Dog' (Label Studio "
        "annotations[].result[].value.choices, or the 'label' field of a JSON_MIN or CSV "
        "export), which is not one of the audit's classes ['cat', 'dog']"
    )


def test_table_class_error_names_the_column_and_row():
    raw = pl.DataFrame({"id": ["a1", "a2"], "reviewed_label": ["cat", "Dog"]})
    with pytest.raises(InputError) as err:
        reviews_frame(raw, class_names=["cat", "dog"], source="reviews file 'r.csv'")
    assert str(err.value) == ("reviews file 'r.csv': reviewed_label 'Dog' at row 1 (id 'a2') is "
                              "not one of the audit's classes: 'cat', 'dog'")


def test_unreviewed_error_names_the_option():
    sample, answers = _seven_unreviewed()
    with pytest.raises(InputError) as err:
        verify_reviews(sample, answers, source="reviews file 'r.csv'")
    assert str(err.value) == (
        f"reviews file 'r.csv': 7 of 100 sampled items are not reviewed (first: id "
        f"{int(answers['id'][0])}); fill reviewed_label (or is_correct) for every row "
        "(or pass --allow-partial)"
    )


def test_a_sample_is_checked_against_its_audit():
    from labelaudit.verify import check_drawn_from

    table, wrong, truth = generated_audit()
    sample = review_sample(table, size=100, seed=0)
    check_drawn_from(sample, table)
    # last-digit differences (a refit on other hardware) pass; other qualities do not
    q = pl.col("label_quality")
    check_drawn_from(sample, table.with_columns((q * (1 - 1e-9)).alias("label_quality")))
    with pytest.raises(InputError, match="has label quality .* in the sample but .* in this "
                                         "audit; the sample was drawn from another audit"):
        check_drawn_from(sample, table.with_columns((q * 0.9).alias("label_quality")))
    with pytest.raises(InputError, match="drawn from 3000 items, but this audit has 2999"):
        check_drawn_from(sample, table.head(2999))
    first = sample.design.get_column("id")[0]
    relabelled = table.with_columns(
        pl.when(pl.col("id") == first).then(pl.lit("zz")).otherwise(pl.col("given_label"))
        .alias("given_label"))
    with pytest.raises(InputError, match=f"item {first} has given label"):
        check_drawn_from(sample, relabelled)
