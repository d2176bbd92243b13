"""Parity of ``labelaudit.multilabel_classification`` with cleanlab 2.9 (the oracle).

hypothesis generates label sets and per-class probabilities: float32 and
float64, one item to a few hundred, one class to a dozen, empty label sets,
classes nobody carries, classes everybody carries, and tie-heavy matrices
(probabilities on a coarse grid, so many items share exact values).

cleanlab breaks exact ties at a selection cut with numpy's unstable
``argsort``; for tie-heavy inputs both libraries run with ``np.argsort`` made
stable, which fixes cleanlab's pick to "smaller index first", labelaudit's
documented rule. Continuous inputs are compared without any patching.
Inputs cleanlab refuses are not compared (the test records why).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _oracle import stable_sorting
from cleanlab import filter as cl_top_filter
from cleanlab.multilabel_classification import dataset as cl_dataset
from cleanlab.multilabel_classification import filter as cl_filter
from cleanlab.multilabel_classification import rank as cl_rank
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labelaudit as la
from labelaudit.multilabel_classification import dataset, filter, rank

FILTERS = ["prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
           "predicted_neq_given", "low_normalized_margin", "low_self_confidence"]
RANKINGS = [None, "self_confidence", "normalized_margin", "confidence_weighted_entropy"]
PARITY = settings(max_examples=30, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])

_stable_if_tied = stable_sorting


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _make_case(seed, n, k, dtype, style, empty, absent, everywhere):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, k)) < rng.uniform(0.1, 0.6)
    given = truth ^ (rng.random((n, k)) < rng.uniform(0.0, 0.3))
    given[rng.random(n) < empty] = False  # items with an empty label set
    if absent and k > 1:
        given[:, rng.choice(k, size=min(absent, k - 1), replace=False)] = False
    if everywhere and k > 1:
        given[:, rng.integers(k)] = True
    if style == "ties":
        probs = rng.integers(0, 5, size=(n, k)) / 4.0
        probs = np.where(truth, np.maximum(probs, 0.5), probs)
    else:
        probs = np.clip(truth * rng.uniform(0.3, 0.9) + rng.normal(0, 0.25, (n, k)), 0, 1)
    if not given.any():
        given[0, 0] = True  # cleanlab needs one class somewhere
    labels = [np.flatnonzero(row).tolist() for row in given]
    return labels, probs.astype(dtype)


cases = st.builds(
    _make_case,
    seed=st.integers(0, 2**32 - 1),
    n=st.sampled_from([1, 2, 3, 8, 30, 120, 300]),
    k=st.sampled_from([1, 2, 3, 5, 12]),
    dtype=st.sampled_from([np.float32, np.float64]),
    style=st.sampled_from(["continuous", "ties"]),
    empty=st.sampled_from([0.0, 0.2, 0.6]),
    absent=st.sampled_from([0, 0, 1, 2]),
    everywhere=st.sampled_from([False, False, True]),
)


# cleanlab's dataset summaries rank each class's issues, which it refuses for a
# class that every item carries or none does; these cases keep every class mixed
# (the filter and rank tests above cover absent classes).
mixed_cases = st.builds(
    _make_case,
    seed=st.integers(0, 2**32 - 1),
    n=st.sampled_from([8, 30, 120, 300]),
    k=st.sampled_from([1, 2, 3, 5, 12]),
    dtype=st.sampled_from([np.float32, np.float64]),
    style=st.sampled_from(["continuous", "ties"]),
    empty=st.sampled_from([0.0, 0.2]),
    absent=st.just(0),
    everywhere=st.just(False),
)


def _oracle(fn, *args, **kwargs):
    """cleanlab's answer, or None when cleanlab refuses the input."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError, AssertionError, IndexError):
        return None


COMPARED = {"filter": 0, "rank": 0, "dataset": 0}


@PARITY
@given(case=cases, filter_by=st.sampled_from(FILTERS), ranked_by=st.sampled_from(RANKINGS))
def test_find_label_issues(case, filter_by, ranked_by):
    labels, probs = case
    with _stable_if_tied(probs):
        ref = _oracle(cl_filter.find_label_issues, labels, probs, filter_by=filter_by,
                      return_indices_ranked_by=ranked_by, n_jobs=1)
        if ref is None:
            return
        ours = filter.find_label_issues(labels, probs, filter_by=filter_by,
                                        return_indices_ranked_by=ranked_by)
        top = la.find_label_issues(labels, probs, filter_by=filter_by,
                                   return_indices_ranked_by=ranked_by, multi_label=True)
        ref_top = cl_top_filter.find_label_issues(labels, probs, filter_by=filter_by,
                                                  return_indices_ranked_by=ranked_by,
                                                  multi_label=True, n_jobs=1)
    COMPARED["filter"] += 1
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(top, ref_top)
    assert ours.dtype == (bool if ranked_by is None else np.int64)


@PARITY
@given(case=cases, filter_by=st.sampled_from(FILTERS), ranked_by=st.sampled_from(RANKINGS),
       frac_noise=st.sampled_from([1.0, 0.5]), min_examples=st.sampled_from([1, 3]))
def test_per_class_issues_and_options(case, filter_by, ranked_by, frac_noise, min_examples):
    labels, probs = case
    kwargs = dict(filter_by=filter_by, return_indices_ranked_by=ranked_by,
                  frac_noise=frac_noise, min_examples_per_class=min_examples)
    with _stable_if_tied(probs):
        ref = _oracle(cl_filter.find_multilabel_issues_per_class, labels, probs, n_jobs=1,
                      **kwargs)
        if ref is None:
            return
        ours = filter.find_multilabel_issues_per_class(labels, probs, **kwargs)
    COMPARED["filter"] += 1
    if ranked_by is None:
        np.testing.assert_array_equal(ours, ref)
        return
    for mine, theirs in zip(ours, ref, strict=True):
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(a, b)


@PARITY
@given(case=cases, seed=st.integers(0, 1000))
def test_supplied_joint_and_removal_counts(case, seed):
    labels, probs = case
    k = probs.shape[1]
    rng = np.random.default_rng(seed)
    joint = rng.integers(0, 20, size=(k, 2, 2))
    remove = rng.integers(0, 4, size=k).tolist()
    with _stable_if_tied(probs):
        for kwargs in ({"confident_joint": joint}, {"num_to_remove_per_class": remove},
                       {"confident_joint": joint, "filter_by": "prune_by_class"}):
            ref = _oracle(cl_filter.find_label_issues, labels, probs, n_jobs=1, **kwargs)
            if ref is None:
                continue
            COMPARED["filter"] += 1
            np.testing.assert_array_equal(filter.find_label_issues(labels, probs, **kwargs), ref)


@PARITY
@given(case=cases, method=st.sampled_from(RANKINGS[1:]), adjust=st.booleans(),
       aggregator=st.sampled_from([None, {"method": "softmin"},
                                   {"method": "exponential_moving_average", "alpha": None},
                                   {"method": "softmin", "temperature": 0.5}]))
def test_label_quality_scores(case, method, adjust, aggregator):
    labels, probs = case
    kwargs = dict(method=method, adjust_pred_probs=adjust)
    agg = {} if aggregator is None else {"aggregator_kwargs": aggregator}
    ref = _oracle(cl_rank.get_label_quality_scores, labels, probs, **kwargs, **agg)
    if ref is not None:
        COMPARED["rank"] += 1
        ours = rank.get_label_quality_scores(labels, probs, **kwargs, **agg)
        assert ours.dtype == ref.dtype
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)
    ref = _oracle(cl_rank.get_label_quality_scores_per_class, labels, probs, **kwargs)
    if ref is not None:
        COMPARED["rank"] += 1
        ours = rank.get_label_quality_scores_per_class(labels, probs, **kwargs)
        assert ours.shape == ref.shape and ours.dtype == ref.dtype
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)


@PARITY
@given(case=mixed_cases, named=st.booleans(), with_joint=st.booleans())
def test_dataset_summaries(case, named, with_joint):
    labels, probs = case
    k = probs.shape[1]
    names = [f"class {c}" for c in range(k)] if named else None
    joint = np.full((k, 2, 2), 5) if with_joint else None
    with _stable_if_tied(probs):
        ref = _oracle(cl_dataset.common_multilabel_issues, labels, probs, class_names=names,
                      confident_joint=joint)
        if ref is None:
            return
        COMPARED["dataset"] += 1
        pd.testing.assert_frame_equal(
            dataset.common_multilabel_issues(labels, probs, class_names=names,
                                             confident_joint=joint), ref)
        pd.testing.assert_frame_equal(
            dataset.rank_classes_by_multilabel_quality(labels, probs, class_names=names,
                                                       joint=joint),
            cl_dataset.rank_classes_by_multilabel_quality(labels, probs, class_names=names,
                                                          joint=joint))
        assert dataset.overall_multilabel_health_score(
            labels, probs, confident_joint=joint) == cl_dataset.overall_multilabel_health_score(
            labels, probs, confident_joint=joint)
        ours = dataset.multilabel_health_summary(labels, probs, class_names=names,
                                                 confident_joint=joint, verbose=False)
        theirs = cl_dataset.multilabel_health_summary(labels, probs, class_names=names,
                                                      confident_joint=joint, verbose=False)
    assert ours.keys() == theirs.keys()
    assert ours["overall_multilabel_health_score"] == theirs["overall_multilabel_health_score"]
    assert (type(ours["overall_multilabel_health_score"])
            is type(theirs["overall_multilabel_health_score"]))
    for key in ("classes_by_multilabel_quality", "common_multilabel_issues"):
        pd.testing.assert_frame_equal(ours[key], theirs[key])


def test_the_generated_cases_were_mostly_compared():
    """The parity tests above ran (in this order) and cleanlab accepted most inputs."""
    assert COMPARED["filter"] >= 50, COMPARED
    assert COMPARED["rank"] >= 30, COMPARED
    assert COMPARED["dataset"] >= 15, COMPARED


def test_one_item_and_one_class():
    """cleanlab scores a single item with a single class; so does labelaudit."""
    labels, probs = [[0]], np.array([[0.2]], dtype=np.float32)
    np.testing.assert_allclose(rank.get_label_quality_scores_per_class(labels, probs),
                               cl_rank.get_label_quality_scores_per_class(labels, probs))
    labels, probs = [[0], []], np.array([[0.9, 0.1], [0.3, 0.4]])
    np.testing.assert_array_equal(filter.find_label_issues(labels, probs),
                                  cl_filter.find_label_issues(labels, probs, n_jobs=1))


@PARITY
@given(case=cases, calibrate=st.booleans(), indices=st.booleans())
def test_count_functions_with_multi_label(case, calibrate, indices):
    # The top-level drop-ins take multi_label=True as cleanlab's count module does: one
    # one-vs-rest problem per class, (K, 2) thresholds and (K, 2, 2) joints.
    from cleanlab import count as cl_count

    labels, probs = case
    ref = _oracle(cl_count.get_confident_thresholds, labels, probs, multi_label=True)
    if ref is not None:
        ours = la.get_confident_thresholds(labels, probs, multi_label=True)
        assert ours.shape == ref.shape == (probs.shape[1], 2) and ours.dtype == ref.dtype
        np.testing.assert_array_equal(ours, ref)
    ref = _oracle(cl_count.compute_confident_joint, labels, probs, multi_label=True,
                  calibrate=calibrate, return_indices_of_off_diagonals=indices)
    if ref is None:
        return
    COMPARED["count"] = COMPARED.get("count", 0) + 1
    ours = la.compute_confident_joint(labels, probs, multi_label=True, calibrate=calibrate,
                                      return_indices_of_off_diagonals=indices)
    if indices:
        (ours, ours_off), (ref, ref_off) = ours, ref
        assert len(ours_off) == len(ref_off)
        for a, b in zip(ours_off, ref_off, strict=True):
            np.testing.assert_array_equal(np.sort(a), np.sort(b))
    np.testing.assert_array_equal(ours, ref)
    assert ours.dtype == np.int64
    uncalibrated = la.compute_confident_joint(labels, probs, multi_label=True, calibrate=False)
    ref_cal = _oracle(cl_count.calibrate_confident_joint, uncalibrated, labels, multi_label=True)
    if ref_cal is not None and ref_cal.shape == uncalibrated.shape:
        np.testing.assert_array_equal(
            la.calibrate_confident_joint(uncalibrated, labels, multi_label=True), ref_cal)


@PARITY
@given(case=cases)
def test_joint_count_and_argmax_functions_with_multi_label(case):
    from cleanlab import count as cl_count

    labels, probs = case
    ref = _oracle(cl_count.estimate_joint, labels, probs, multi_label=True)
    if ref is not None:
        ours = la.estimate_joint(labels, probs, multi_label=True)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15)
        assert ours.shape == (probs.shape[1], 2, 2)
    with _stable_if_tied(probs):
        ref = _oracle(cl_count.num_label_issues, labels, probs, multi_label=True)
        if ref is not None:
            assert la.num_label_issues(labels, probs, multi_label=True) == ref
    ref = _oracle(cl_top_filter.find_predicted_neq_given, labels, probs, multi_label=True)
    if ref is not None:
        np.testing.assert_array_equal(
            la.find_predicted_neq_given(labels, probs, multi_label=True), ref)
