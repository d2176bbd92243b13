"""Tests for the slice (bias) analyzers.

Reference implementations are the oracles: fairlearn's MetricFrame for per-group values,
statsmodels for Wilson intervals and Benjamini-Hochberg, scipy for the 2x2 tests, a polars
group-by for the intersection search. Simulations check power on planted noise and the
false-flag rate on uniform noise.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelaudit.exceptions import InputError, LabelAuditError, LabelAuditWarning
from labelaudit.slices import (
    MISSING_GROUP,
    SliceReport,
    analyze_slices,
    benjamini_hochberg,
    disparity,
    gate_figures,
    max_flagged_effect,
)

fairlearn_metrics = pytest.importorskip("fairlearn.metrics")
MetricFrame = fairlearn_metrics.MetricFrame


def _mean_pred(y_true, y_pred):
    return float(np.mean(y_pred))


def _planted_frame(seed: int, n: int = 20_000) -> pl.DataFrame:
    """Base noise 5%; region=EU & device=phone at 15%; annotator A at 20% on night images."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["EU", "US", "ASIA", "AF"], n)
    device = rng.choice(["phone", "tablet", "pc", "tv", "watch"], n)
    time_of_day = rng.choice(["day", "night"], n)
    annotator = rng.choice(list("ABCDEF"), n)
    rate = np.full(n, 0.05)
    rate[(region == "EU") & (device == "phone")] = 0.15
    rate[(annotator == "A") & (time_of_day == "night")] = 0.20
    quality = rng.random(n)
    return pl.DataFrame(
        {
            "region": region,
            "device": device,
            "time": time_of_day,
            "annotator": annotator,
            "is_issue": rng.random(n) < rate,
            "label_quality": quality,
            "error_prob": 1.0 - quality,
        }
    )


# --------------------------------------------------------------------------------------
# Oracle: per-group values equal fairlearn's MetricFrame
# --------------------------------------------------------------------------------------


@st.composite
def _frames(draw):
    n = draw(st.integers(min_value=1, max_value=150))
    levels_a = draw(st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=n, max_size=n))
    levels_b = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    issues = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    quality = draw(
        st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=n, max_size=n)
    )
    return pl.DataFrame(
        {"a": levels_a, "b": levels_b, "is_issue": issues, "label_quality": quality}
    )


@pytest.mark.filterwarnings("ignore::labelaudit.exceptions.LabelAuditWarning")
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frames())
def test_by_group_matches_metricframe(frame):
    report = analyze_slices(
        frame, attributes=["a", "b"], error_prob_col="label_quality", min_size=1, min_support=1
    )
    issues = frame["is_issue"].cast(pl.Float64).to_numpy()
    quality = frame["label_quality"].to_numpy()
    for attribute in ("a", "b"):
        groups = frame[attribute].cast(pl.String).to_pandas()
        for metric, values in (
            ("issue_rate", issues),
            ("mean_label_quality", quality),
            ("estimated_error_rate", quality),
        ):
            mf = MetricFrame(
                metrics=_mean_pred, y_true=values, y_pred=values, sensitive_features=groups
            )
            ours = dict(report.by_group(attribute, metric).iter_rows())
            ref = mf.by_group.to_dict()
            assert set(ours) == {str(k) for k in ref}
            for group, value in ref.items():
                assert ours[str(group)] == pytest.approx(value, abs=1e-12)
            assert report.overall.item(0, metric) == pytest.approx(mf.overall, abs=1e-12)
            assert report.group_max(attribute, metric) == pytest.approx(mf.group_max(), abs=1e-12)
            assert report.group_min(attribute, metric) == pytest.approx(mf.group_min(), abs=1e-12)
            for method in ("between_groups", "to_overall"):
                _assert_same(report.difference(attribute, method, metric),
                             mf.difference(method=method))
                _assert_same(report.ratio(attribute, method, metric), mf.ratio(method=method))


def _assert_same(ours: float, ref: float) -> None:
    if ref is None or (isinstance(ref, float) and math.isnan(ref)):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(float(ref), abs=1e-12)


@pytest.mark.filterwarnings("ignore::labelaudit.exceptions.LabelAuditWarning")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frames())
def test_intersection_by_group_matches_metricframe(frame):
    report = analyze_slices(frame, attributes=["a", "b"], min_size=1, min_support=1)
    values = frame["is_issue"].cast(pl.Float64).to_numpy()
    sensitive = frame.select(pl.col("a"), pl.col("b").cast(pl.String)).to_pandas()
    mf = MetricFrame(metrics=_mean_pred, y_true=values, y_pred=values,
                     sensitive_features=sensitive)
    ref = mf.by_group.dropna()
    ours = report.by_group("a x b")
    assert ours.height == len(ref)
    for levels, value in zip(ours["levels"].to_list(), ours["issue_rate"].to_list(), strict=True):
        assert value == pytest.approx(ref.loc[tuple(levels)], abs=1e-12)
    assert report.by_group(["a", "b"]).equals(ours)


def test_to_metricframe_returns_a_real_metricframe():
    frame = _planted_frame(3, n=3000).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("region"))
        .alias("region")
    )
    report = analyze_slices(frame, attributes=["region", "device"], error_prob_col="error_prob")
    mf = report.to_metricframe("region", ["issue_rate", "mean_label_quality"])
    assert isinstance(mf, MetricFrame)
    assert MISSING_GROUP in mf.by_group.index
    for metric in ("issue_rate", "mean_label_quality"):
        ours = dict(report.by_group("region", metric).iter_rows())
        for group, value in mf.by_group[metric].items():
            assert ours[group] == pytest.approx(value, abs=1e-12)
        assert report.difference("region", metric=metric) == pytest.approx(
            mf.difference()[metric], abs=1e-12
        )
    both = report.to_metricframe("region x device")
    cells = dict(zip(report.by_group("region x device")["group"],
                     report.by_group("region x device")["issue_rate"], strict=True))
    for (region, device), value in both.by_group["issue_rate"].dropna().items():
        key = f"{region} x {device}"
        if key in cells:
            assert cells[key] == pytest.approx(value, abs=1e-12)


def test_to_metricframe_without_fairlearn_names_the_install(monkeypatch):
    report = analyze_slices(_planted_frame(0, n=500), attributes=["region"])
    monkeypatch.setitem(sys.modules, "fairlearn.metrics", None)
    with pytest.raises(ImportError, match="pip install fairlearn"):
        report.to_metricframe("region")


# --------------------------------------------------------------------------------------
# Planted noise is found; uniform noise is not flagged beyond the nominal FDR
# --------------------------------------------------------------------------------------


def test_planted_intersection_is_found_and_ranked_first():
    found = 0
    for seed in range(20):
        report = analyze_slices(
            _planted_frame(seed), attributes=["region", "device", "time"],
            error_prob_col="error_prob",
        )
        top = report.intersections.row(0, named=True)
        if top["flagged"] and (top["attribute"], top["group"]) == ("region x device",
                                                                   "EU x phone"):
            found += 1
    # Effect 0.10 on ~1,000 rows: power is essentially 1; allow one miss in 20.
    assert found >= 19


def test_planted_single_attribute_slice_is_found():
    rng = np.random.default_rng(11)
    n = 10_000
    source = rng.choice(["web", "phone", "scan"], n, p=[0.6, 0.2, 0.2])
    rate = np.where(source == "phone", 0.18, 0.06)
    frame = pl.DataFrame({"source": source, "is_issue": rng.random(n) < rate})
    report = analyze_slices(frame, attributes=["source"], quality_col=None)
    flagged = report.flagged
    assert flagged["group"].to_list() == ["phone"]
    sentence = report.describe_flagged()[0]
    assert sentence.startswith("source = phone: ")
    assert "of labels look wrong vs" in sentence and "elsewhere" in sentence


def test_uniform_noise_flags_at_most_nominal_fdr():
    # Under uniform noise every null is true, so the FDR equals the chance of any flag.
    # 200 seeds: the binomial sd of the observed share at 0.05 is 0.0154; allowing three
    # sd (0.096) makes a false failure of a correct procedure a 1-in-700 event.
    runs, fdr = 200, 0.05
    any_flag = 0
    tested = []
    for seed in range(runs):
        rng = np.random.default_rng(10_000 + seed)
        n = 20_000
        frame = pl.DataFrame(
            {
                "a": rng.integers(0, 3, n),
                "b": rng.integers(0, 6, n),
                "c": rng.integers(0, 12, n),
                "d": rng.integers(0, 25, n),
                "is_issue": rng.random(n) < 0.1,
            }
        )
        report = analyze_slices(frame, attributes=["a", "b", "c", "d"], quality_col=None,
                                min_effect=0.0, fdr=fdr)
        any_flag += bool(report.table["flagged"].any())
        tested.append(int(report.table["tested"].sum()))
    assert min(tested) > 500  # the family really is large (singles and 2-way cells)
    assert any_flag / runs <= fdr + 3 * math.sqrt(fdr * (1 - fdr) / runs)


def test_annotator_by_attribute_finds_the_annotator_and_group():
    report = analyze_slices(
        _planted_frame(5), attributes=["region", "device", "time"], annotator_col="annotator"
    )
    table = report.annotator_by_attribute
    row = table.filter(
        (pl.col("annotator") == "A") & (pl.col("attribute") == "time")
        & (pl.col("group") == "night")
    ).row(0, named=True)
    assert row["flagged"]
    assert 2.0 < row["rate_ratio"] < 5.0  # planted 0.20 vs ~0.055 elsewhere
    assert row["rest_n"] + row["n"] == report.by_group("annotator").filter(
        pl.col("group") == "A")["n"].item()
    # Oracle for the counts: a polars group-by on the same rows.
    frame = _planted_frame(5)
    ref = frame.filter((pl.col("annotator") == "A") & (pl.col("time") == "night"))
    assert row["n"] == ref.height
    assert row["n_issues"] == ref["is_issue"].sum()
    assert any(s.startswith("annotator A: labels look wrong") and "time = night" in s
               for s in report.describe_flagged())


# --------------------------------------------------------------------------------------
# Table semantics
# --------------------------------------------------------------------------------------


def test_table_columns_and_flag_rule():
    report = analyze_slices(_planted_frame(1), attributes=["region", "device", "time"],
                            error_prob_col="error_prob", min_effect=0.03)
    table = report.table
    for column in ("attribute", "group", "n", "issue_rate", "ci_low", "ci_high", "p_value",
                   "q_value", "flagged", "mean_label_quality", "estimated_error_rate",
                   "disagreement_rate", "effect"):
        assert column in table.columns
    tested = table.filter("tested")
    assert (tested["q_value"] >= tested["p_value"] - 1e-15).all()
    assert (table["ci_low"] <= table["issue_rate"] + 1e-15).all()
    assert (table["ci_high"] >= table["issue_rate"] - 1e-15).all()
    flagged = table.filter("flagged")
    assert flagged.height > 0
    assert (flagged["q_value"] <= 0.05).all() and (flagged["effect"] >= 0.03).all()
    unflagged_significant = tested.filter(~pl.col("flagged") & (pl.col("q_value") <= 0.05))
    assert (unflagged_significant["effect"] < 0.03).all()
    # q-values are BH over every tested slice of the table.
    np.testing.assert_allclose(tested["q_value"].to_numpy(),
                               benjamini_hochberg(tested["p_value"].to_numpy()), rtol=1e-12)
    # issue_rate and effect are what their definitions say.
    total_n, total_x = report.overall.item(0, "n"), report.overall.item(0, "n_issues")
    rest = (total_x - table["n_issues"]) / (total_n - table["n"])
    np.testing.assert_allclose(table["effect"].to_numpy(),
                               (table["issue_rate"] - rest).to_numpy(), rtol=1e-12)


def test_nulls_become_missing_group_and_small_groups_are_untested():
    frame = pl.DataFrame(
        {
            "lang": ["en"] * 100 + ["fr"] * 100 + [None] * 50 + ["de"] * 5,
            "is_issue": [0, 1] * 125 + [1] * 5,
        }
    )
    report = analyze_slices(frame, attributes=["lang"], quality_col=None, min_size=30)
    groups = report.by_group("lang")
    assert groups["group"].to_list() == ["de", "en", "fr", MISSING_GROUP]
    assert groups.filter(pl.col("group") == MISSING_GROUP)["n"].item() == 50
    small = groups.filter(pl.col("group") == "de").row(0, named=True)
    assert small["n"] == 5 and not small["tested"] and small["p_value"] is None
    assert small["ci_low"] is not None  # every slice gets its interval


def test_intersection_search_keeps_exactly_the_supported_cells():
    frame = _planted_frame(2, n=5000)
    report = analyze_slices(frame, attributes=["region", "device", "time"], max_order=3,
                            min_support=60)
    for names in (["region", "device"], ["region", "time"], ["device", "time"],
                  ["region", "device", "time"]):
        ref = (frame.group_by(names).agg(pl.len().alias("n"), pl.col("is_issue").sum())
               .filter(pl.col("n") >= 60))
        ours = report.by_group(names)
        assert ours.height == ref.height
        lookup = {tuple(r[:-2]): r[-2:] for r in ref.iter_rows()}
        for levels, n, x in ours.select("levels", "n", "n_issues").iter_rows():
            assert lookup[tuple(levels)] == (n, x)


def test_min_support_as_share_and_max_order_one():
    frame = _planted_frame(4, n=4000)
    report = analyze_slices(frame, attributes=["region", "device"], min_support=0.05)
    assert report.parameters["min_support"] == 200
    assert (report.table.filter(pl.col("order") == 2)["n"] >= 200).all()
    single = analyze_slices(frame, attributes=["region", "device"], max_order=1)
    assert (single.table["order"] == 1).all()
    assert single.intersections.height == 0


def test_disagreement_rate_skips_rows_without_annotations():
    frame = pl.DataFrame(
        {
            "g": ["a"] * 4 + ["b"] * 4,
            "is_issue": [True, False, False, False] * 2,
            "disagree": [1.0, None, 0.0, 0.5, None, None, float("nan"), 1.0],
        }
    )
    report = analyze_slices(frame, attributes=["g"], quality_col=None,
                            disagreement_col="disagree", min_size=1)
    rows = report.by_group("g")
    assert rows["disagreement_rate"].to_list() == pytest.approx([0.5, 1.0])
    assert rows["n_annotated"].to_list() == [3, 1]
    assert report.overall.item(0, "disagreement_rate") == pytest.approx(2.5 / 4)


def test_results_do_not_depend_on_row_order_and_are_deterministic():
    frame = _planted_frame(8, n=6000)
    kwargs = {"attributes": ["region", "device", "time"], "annotator_col": "annotator",
              "error_prob_col": "error_prob"}
    first = analyze_slices(frame, **kwargs)
    again = analyze_slices(frame, **kwargs)
    assert first.table.equals(again.table)
    assert first.annotator_by_attribute.equals(again.annotator_by_attribute)
    shuffled = analyze_slices(frame.sample(fraction=1.0, shuffle=True, seed=3), **kwargs)
    a, b = first.table, shuffled.table
    assert a.select("attribute", "group", "n", "n_issues", "flagged").equals(
        b.select("attribute", "group", "n", "n_issues", "flagged"))
    np.testing.assert_allclose(a["mean_label_quality"].to_numpy(),
                               b["mean_label_quality"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(a["p_value"].to_numpy(), b["p_value"].to_numpy(), rtol=1e-12)


# --------------------------------------------------------------------------------------
# Gate figures and sentences
# --------------------------------------------------------------------------------------


def test_disparity_and_max_flagged_effect():
    report = analyze_slices(_planted_frame(6), attributes=["region", "device"])
    diff = disparity(report, "device", "difference")
    rows = report.by_group("device").filter(pl.col("n") >= 30)
    assert diff.value == pytest.approx(rows["issue_rate"].max() - rows["issue_rate"].min())
    assert diff.value == pytest.approx(report.difference("device", min_size=30))
    assert diff.group_max == "phone"
    assert 0.0 <= diff.lower_bound <= diff.value
    ratio = disparity(report, "device", "ratio")
    assert ratio.value == pytest.approx(1.0 / report.ratio("device"))
    assert 1.0 <= ratio.lower_bound <= ratio.value
    assert max_flagged_effect(report) == pytest.approx(report.flagged["effect"].max())
    assert max_flagged_effect(report) == report.flagged.row(0, named=True)["effect"]

    rng = np.random.default_rng(0)
    quiet = analyze_slices(
        pl.DataFrame({"g": rng.integers(0, 3, 3000), "is_issue": rng.random(3000) < 0.1}),
        attributes=["g"], quality_col=None, min_effect=0.5,
    )
    assert max_flagged_effect(quiet) == 0.0
    assert quiet.describe_flagged() == []


def test_gate_figures_shape_and_values():
    report = analyze_slices(_planted_frame(6, n=5000), attributes=["region", "device"])
    figures = gate_figures(report)
    assert set(figures) == {"disparity", "max_flagged_slice_effect"}
    assert set(figures["disparity"]) == {"region", "device"}
    for name, entry in figures["disparity"].items():
        assert entry["difference"] == disparity(report, name, "difference").value
        assert entry["ratio"] == disparity(report, name, "ratio").value
    assert figures["max_flagged_slice_effect"] == max_flagged_effect(report)
    combo = gate_figures(report, attributes=[["region", "device"]], min_size=10**9)
    assert combo["disparity"] == {"region x device": {"difference": None, "ratio": None}}


def test_disparity_ignores_groups_below_min_size():
    frame = pl.DataFrame({"g": ["a"] * 100 + ["b"] * 100 + ["tiny"] * 3,
                          "is_issue": [1] * 10 + [0] * 90 + [1] * 20 + [0] * 80 + [1] * 3})
    report = analyze_slices(frame, attributes=["g"], quality_col=None)
    assert disparity(report, "g").value == pytest.approx(0.1)
    assert disparity(report, "g", min_size=1).value == pytest.approx(0.9)
    assert disparity(report, "g", "ratio").value == pytest.approx(2.0)
    one_group = disparity(report, "g", min_size=101)
    assert math.isnan(one_group.value) and one_group.n_groups == 0


def test_describe_flagged_sentence():
    frame = pl.DataFrame({
        "source": ["web"] * 60 + ["phone"] * 60,
        "is_issue": [i % 20 == 0 for i in range(60)] + [i % 3 == 0 for i in range(60)],
    })
    report = analyze_slices(frame, attributes=["source"], quality_col=None)
    assert report.describe_flagged() == [
        "source = phone: 33.3% of labels look wrong vs 5.0% elsewhere (n = 60, q < 0.001)"
    ]
    assert isinstance(report, SliceReport)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _small():
    return pl.DataFrame({"g": ["a", "b"] * 20, "is_issue": [True, False] * 20,
                         "label_quality": [0.5] * 40, "p": [0.2] * 40})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"attributes": ["nope"]}, InputError, "column 'nope' is not in `frame`"),
        ({"attributes": []}, LabelAuditError, "at least one column"),
        ({"attributes": ["g", "g"]}, LabelAuditError, "must not repeat"),
        ({"attributes": ["g"], "issue_col": "label_quality"}, InputError, "only 0/1"),
        ({"attributes": ["g"], "min_size": 0}, LabelAuditError, "`min_size` must be"),
        ({"attributes": ["g"], "min_effect": 1.5}, LabelAuditError, "`min_effect` must be"),
        ({"attributes": ["g"], "fdr": 0.0}, LabelAuditError, r"`fdr` must be a number in \(0, 1\)"),
        ({"attributes": ["g"], "max_order": 4}, LabelAuditError, "`max_order` must be"),
        ({"attributes": ["g"], "min_support": 1.5}, LabelAuditError, "`min_support` must be"),
        ({"attributes": ["g"], "top_k": 0}, LabelAuditError, "`top_k` must be"),
        ({"attributes": ["g"], "quality_col": "missing"}, InputError, "'missing' is not in"),
        ({"attributes": ["g", "p"], "error_prob_col": "p"}, LabelAuditError,
         "must not also be listed"),
    ],
)
def test_invalid_arguments_raise_named_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        analyze_slices(_small(), **kwargs)


def test_invalid_column_values_name_the_row():
    frame = _small().with_columns(pl.Series("is_issue", [True, None] + [False] * 38))
    with pytest.raises(InputError, match="row 1 is null"):
        analyze_slices(frame, attributes=["g"])
    frame = _small().with_columns(pl.Series("p", [0.2] * 5 + [1.5] + [0.2] * 34))
    with pytest.raises(InputError, match=r"column 'p' must hold values in \[0, 1\]: row 5"):
        analyze_slices(frame, attributes=["g"], error_prob_col="p")
    frame = pl.DataFrame({"g": ["<missing>", None] * 20, "is_issue": [True, False] * 20})
    with pytest.raises(InputError, match="reserved for nulls"):
        analyze_slices(frame, attributes=["g"], quality_col=None)
    with pytest.raises(InputError, match="must be a polars or pandas DataFrame; got dict"):
        analyze_slices(_small().to_dict(as_series=False), attributes=["g"])
    # pandas is converted, not refused: the same table gives the same slices
    assert analyze_slices(_small().to_pandas(), attributes=["g"]).table.equals(
        analyze_slices(_small(), attributes=["g"]).table)


def test_report_methods_validate_their_arguments():
    report = analyze_slices(_small(), attributes=["g"], min_size=5)
    with pytest.raises(LabelAuditError, match="`attribute` must be one of"):
        report.by_group("other")
    with pytest.raises(LabelAuditError, match="`metric` must be one of"):
        report.group_max("g", "accuracy")
    with pytest.raises(LabelAuditError, match="`method` must be"):
        report.difference("g", "largest")
    with pytest.raises(LabelAuditError, match="`method` must be 'difference' or 'ratio'"):
        disparity(report, "g", "between_groups")
    with pytest.raises(LabelAuditError, match="has no per-row column"):
        report.to_metricframe("g", "disagreement_rate")


def test_attribute_without_testable_group_warns():
    frame = pl.DataFrame({"id": [str(i) for i in range(100)], "is_issue": [0, 1] * 50})
    with pytest.warns(LabelAuditWarning, match="attribute 'id': no group has"):
        analyze_slices(frame, attributes=["id"], quality_col=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analyze_slices(_small(), attributes=["g"], min_size=5)
