"""Every registered method under the invariances labelaudit promises.

Each registry (issue filters, label quality scores, consensus methods, slice
metrics) is iterated at collection time, so a method someone registers in the
package is checked here without writing a test for it:

* threads and chunk sizes never change a result;
* float32 and float64 inputs give cleanlab 2.9's answer for that dtype (for the
  methods cleanlab has);
* shuffling the rows permutes the answer and changes nothing else;
* polars and pandas inputs give the same answer.
"""

from __future__ import annotations

import warnings

import cleanlab.filter
import cleanlab.rank
import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from labelaudit.annotators import CONSENSUS, review_annotators
from labelaudit.confident import FILTERS, SCORES, find_label_issues, get_label_quality_scores
from labelaudit.slices import SLICE_METRICS, analyze_slices

CLEANLAB_FILTERS = {
    "prune_by_class", "prune_by_noise_rate", "both", "confident_learning",
    "predicted_neq_given", "low_normalized_margin", "low_self_confidence",
}
CLEANLAB_SCORES = {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
DTYPES = [np.float32, np.float64]


@pytest.fixture(scope="module")
def case(planted):
    """3,000 rows, 6 classes, 15% planted flips; continuous probabilities (no ties)."""
    given, probs, truth = planted(3000, 6, seed=20261201, rate=0.15)
    return given, probs, truth


def _permutation(n: int) -> np.ndarray:
    return np.random.default_rng(5).permutation(n)


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_ignores_threads_and_chunks(case, name):
    given, probs, _ = case
    masks = [
        find_label_issues(given, probs, filter_by=name, n_jobs=n_jobs, chunk_size=chunk)
        for n_jobs in (1, 2) for chunk in (97, 4096)
    ]
    assert masks[0].any()
    for mask in masks[1:]:
        np.testing.assert_array_equal(mask, masks[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CLEANLAB_FILTERS & set(FILTERS)))
def test_filter_matches_cleanlab_in_each_dtype(case, name, dtype):
    given, probs, _ = case
    p = probs.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = cleanlab.filter.find_label_issues(given, p, filter_by=name)
    np.testing.assert_array_equal(find_label_issues(given, p, filter_by=name), expected)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_follows_shuffled_rows(case, name):
    given, probs, _ = case
    perm = _permutation(given.size)
    mask = find_label_issues(given, probs, filter_by=name)
    shuffled = find_label_issues(given[perm], probs[perm], filter_by=name)
    np.testing.assert_array_equal(shuffled, mask[perm])


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_takes_polars_and_pandas_labels(case, name):
    given, probs, _ = case
    mask = find_label_issues(given, probs, filter_by=name)
    for labels in (pl.Series("label", given), pd.Series(given, name="label")):
        np.testing.assert_array_equal(find_label_issues(labels, probs, filter_by=name), mask)


# --------------------------------------------------------------------------- scores


@pytest.mark.parametrize("name", sorted(SCORES))
def test_score_ignores_threads_and_chunks(case, name):
    given, probs, _ = case
    scores = [
        get_label_quality_scores(given, probs, method=name, n_jobs=n_jobs, chunk_size=chunk)
        for n_jobs in (1, 2) for chunk in (97, 4096)
    ]
    for s in scores[1:]:
        np.testing.assert_array_equal(s, scores[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CLEANLAB_SCORES & set(SCORES)))
def test_score_matches_cleanlab_in_each_dtype(case, name, dtype):
    given, probs, _ = case
    p = probs.astype(dtype)
    expected = cleanlab.rank.get_label_quality_scores(given, p, method=name)
    got = get_label_quality_scores(given, p, method=name)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(SCORES))
def test_score_follows_shuffled_rows(case, name):
    given, probs, _ = case
    perm = _permutation(given.size)
    scores = get_label_quality_scores(given, probs, method=name)
    np.testing.assert_array_equal(
        get_label_quality_scores(given[perm], probs[perm], method=name), scores[perm]
    )


@pytest.mark.parametrize("name", sorted(SCORES))
def test_score_takes_polars_and_pandas_labels(case, name):
    given, probs, _ = case
    scores = get_label_quality_scores(given, probs, method=name)
    for labels in (pl.Series("label", given), pd.Series(given, name="label")):
        np.testing.assert_array_equal(get_label_quality_scores(labels, probs, method=name), scores)


# --------------------------------------------------------------------------- consensus


@pytest.fixture(scope="module")
def crowd():
    """400 items, 3 labels each from 8 annotators of mixed skill, and model probabilities."""
    rng = np.random.default_rng(11)
    n_items, k, per_item = 400, 4, 3
    truth = rng.integers(0, k, n_items)
    skill = np.linspace(0.95, 0.55, 8)
    rows = []
    for item in range(n_items):
        for who in rng.choice(8, per_item, replace=False):
            right = rng.random() < skill[who]
            label = truth[item] if right else (truth[item] + rng.integers(1, k)) % k
            rows.append((f"item-{item:03d}", f"ann-{who}", f"c{label}"))
    table = pl.DataFrame(rows, schema=["item", "annotator", "label"], orient="row")
    logits = rng.normal(0.0, 1.0, (n_items, k))
    logits[np.arange(n_items), truth] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return table, probs


def _review(table, probs, name, **kwargs):
    needs = CONSENSUS[name].needs_pred_probs
    return review_annotators(
        table, item_col="item", annotator_col="annotator", label_col="label",
        classes=["c0", "c1", "c2", "c3"], consensus_method=name,
        pred_probs=probs if needs else None, **kwargs,
    )


@pytest.mark.parametrize("name", sorted(CONSENSUS))
def test_consensus_ignores_threads(crowd, name):
    table, probs = crowd
    one = _review(table, probs, name, n_jobs=1)
    two = _review(table, probs, name, n_jobs=2)
    assert_frame_equal(one.consensus, two.consensus)
    assert_frame_equal(one.annotators, two.annotators)


@pytest.mark.parametrize("name", sorted(CONSENSUS))
def test_consensus_ignores_row_order(crowd, name):
    table, probs = crowd
    base = _review(table, probs, name)
    shuffled = table[_permutation(table.height).tolist()]
    again = _review(shuffled, probs, name)
    key = base.consensus.columns[0]
    assert_frame_equal(base.consensus.sort(key), again.consensus.sort(key))
    assert_frame_equal(base.annotators.sort("annotator"), again.annotators.sort("annotator"))


@pytest.mark.parametrize("name", sorted(CONSENSUS))
def test_consensus_takes_pandas(crowd, name):
    table, probs = crowd
    base = _review(table, probs, name)
    from_pandas = _review(table.to_pandas(), probs, name)
    assert_frame_equal(base.consensus, from_pandas.consensus)


# --------------------------------------------------------------------------- slice metrics


@pytest.fixture(scope="module")
def slice_frame(planted):
    """2,000 rows; region 'east' is mislabeled four times as often; every metric's column."""
    rng = np.random.default_rng(3)
    n = 2000
    region = rng.choice(["east", "north", "west"], n)
    device = rng.choice(["phone", "desk"], n)
    given, probs, truth = planted(n, 3, seed=9, rate=np.where(region == "east", 0.2, 0.05))
    quality = probs[np.arange(n), given]
    return pl.DataFrame({
        "region": region,
        "device": device,
        "is_issue": given != truth,
        "label_quality": quality,
        "error_prob": 1.0 - quality,
        "disagreement": rng.random(n) < np.where(region == "east", 0.3, 0.1),
    })


_SLICE_KW = {
    "issue_col": "is_issue", "quality_col": "label_quality",
    "error_prob_col": "error_prob", "disagreement_col": "disagreement",
}


def _slices(frame, name):
    metric = SLICE_METRICS[name]
    kwargs = {"quality_col": None}
    if metric.parameter is not None:
        kwargs[metric.parameter] = _SLICE_KW[metric.parameter]
    else:
        kwargs["metric_cols"] = {name: "label_quality"}
    return analyze_slices(frame, attributes=["region", "device"], min_size=20, **kwargs)


@pytest.mark.parametrize("name", sorted(SLICE_METRICS))
def test_slice_metric_ignores_row_order(slice_frame, name):
    base = _slices(slice_frame, name)
    shuffled = _slices(slice_frame[_permutation(slice_frame.height).tolist()], name)
    assert name in base.table.columns
    keys = ["attribute", "group"]
    assert_frame_equal(base.table.sort(keys), shuffled.table.sort(keys), check_exact=False,
                       rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("name", sorted(SLICE_METRICS))
def test_slice_metric_takes_pandas(slice_frame, name):
    base = _slices(slice_frame, name)
    assert_frame_equal(base.table, _slices(slice_frame.to_pandas(), name).table)


@pytest.mark.parametrize("name", sorted(SLICE_METRICS))
def test_slice_metric_matches_a_group_by(slice_frame, name):
    """Each metric's per-group value is the mean of its per-row values (polars as oracle)."""
    metric = SLICE_METRICS[name]
    column = _SLICE_KW.get(metric.parameter, "label_quality")
    values = slice_frame.get_column(column)
    if metric.row_values is not None:
        values = metric.row_values(values)
    oracle = (slice_frame.with_columns(values.cast(pl.Float64).alias("_v"))
              .group_by("region").agg(pl.col("_v").mean()).sort("region"))
    got = _slices(slice_frame, name).by_group("region", name).sort("group")
    np.testing.assert_allclose(got.get_column(name).to_numpy(), oracle.get_column("_v").to_numpy(),
                               rtol=1e-12)
