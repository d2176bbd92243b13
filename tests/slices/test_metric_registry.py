"""The SLICE_METRICS spec table: built-in entries and a toy metric registered by a test."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from labelaudit.exceptions import InputError, LabelAuditError
from labelaudit.slices import (
    METRICS,
    SLICE_METRICS,
    SliceMetric,
    analyze_slices,
    disparity,
    register_slice_metric,
)


@pytest.fixture
def frame():
    rng = np.random.default_rng(2)
    n = 3000
    quality = rng.random(n)
    quality[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame({
        "source": rng.choice(["web", "phone", "mail"], n),
        "device": rng.choice(["a", "b"], n),
        "is_issue": rng.random(n) < 0.1,
        "label_quality": quality,
    })


@pytest.fixture
def low_quality():
    spec = register_slice_metric(SliceMetric(
        "low_quality_share", "share of labels with quality below 0.3", "higher_is_worse",
        bounded=True, row_values=lambda s: s < 0.3, count_column="n_scored",
    ))
    yield spec
    del SLICE_METRICS["low_quality_share"]


def test_builtin_metrics_are_the_spec_table():
    assert METRICS == ("issue_rate", "mean_label_quality", "estimated_error_rate",
                       "disagreement_rate")
    assert tuple(SLICE_METRICS)[:4] == METRICS
    assert SLICE_METRICS["mean_label_quality"].direction == "higher_is_better"
    assert SLICE_METRICS["disagreement_rate"].count_column == "n_annotated"


def test_registered_toy_metric_appears_in_the_table(frame, low_quality):
    plain = analyze_slices(frame, attributes=["source", "device"])
    report = analyze_slices(frame, attributes=["source", "device"],
                            metric_cols={"low_quality_share": "label_quality"})
    table = report.table
    assert table.columns[-2:] == ["low_quality_share", "n_scored"]
    assert table.drop("low_quality_share", "n_scored").equals(plain.table)
    # Oracle: a polars group-by over the rows that have a quality value.
    expected = (
        frame.filter(pl.col("label_quality").is_not_nan())
        .group_by("source")
        .agg((pl.col("label_quality") < 0.3).mean().alias("share"), pl.len().alias("n"))
        .sort("source")
    )
    got = report.by_group("source").sort("group")
    np.testing.assert_allclose(got["low_quality_share"].to_numpy(), expected["share"].to_numpy(),
                               rtol=1e-12)
    assert got["n_scored"].to_list() == expected["n"].to_list()
    overall = report.overall
    valid = frame["label_quality"].is_not_nan()
    assert overall["n_scored"].item() == int(valid.sum())
    assert overall["low_quality_share"].item() == pytest.approx(
        float((frame["label_quality"].filter(valid) < 0.3).mean()))
    # The accessors accept it like a built-in metric.
    assert report.group_max("source", "low_quality_share") == pytest.approx(
        expected["share"].max())
    assert disparity(report, "source", metric="low_quality_share").value == pytest.approx(
        expected["share"].max() - expected["share"].min())
    mf = report.to_metricframe("source", "low_quality_share")
    np.testing.assert_allclose(mf.by_group["low_quality_share"].sort_index().to_numpy(),
                               expected["share"].to_numpy(), rtol=1e-12)
    assert report.parameters["metric_cols"] == {"low_quality_share": "label_quality"}
    assert "metric_cols" not in plain.parameters


def test_registered_metric_is_absent_unless_its_column_is_given(frame, low_quality):
    report = analyze_slices(frame, attributes=["source"])
    assert "low_quality_share" not in report.table.columns


def test_metric_cols_errors(frame, low_quality):
    with pytest.raises(LabelAuditError, match="`metric_cols` keys must be registered"):
        analyze_slices(frame, attributes=["source"], metric_cols={"nope": "label_quality"})
    with pytest.raises(LabelAuditError, match="`metric_cols` keys must be registered"):
        analyze_slices(frame, attributes=["source"],
                       metric_cols={"mean_label_quality": "label_quality"})
    with pytest.raises(InputError, match="column 'missing' is not in `frame`"):
        analyze_slices(frame, attributes=["source"], metric_cols={"low_quality_share": "missing"})
    bad = frame.with_columns(pl.lit(True).alias("flag"))
    with pytest.raises(LabelAuditError, match="must not also be listed in `attributes`"):
        analyze_slices(bad, attributes=["source", "flag"], metric_cols={"low_quality_share": "flag"})


def test_bad_spec_is_refused():
    with pytest.raises(LabelAuditError, match="direction"):
        register_slice_metric(SliceMetric("x", "x", "sideways"))
