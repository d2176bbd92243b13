"""Parity of labelaudit.segmentation with cleanlab 2.9's segmentation modules (the oracle).

Inputs come from hypothesis: float32 and float64, one image or several, 1 x 1
images up to 8 x 8, K from 2 to 5, classes absent from the labels, sharp and
flat predictions, downsampling, and tie-heavy probabilities (multiples of 0.1,
so many pixels share their self-confidence exactly).

Where pixels tie exactly at the selection cut, cleanlab's choice comes from
numpy's unstable ``ndarray.argsort`` (and depends on the CPU). For tie-heavy
inputs cleanlab's ranking helper is therefore swapped for a stable sort, which
fixes its choice to "smaller pixel index first", labelaudit's documented rule.
Continuous inputs are compared with cleanlab untouched. Masks and rankings
must be equal exactly, scores to float tolerance.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd
import pytest
from cleanlab.experimental import label_issues_batched as cl_batched
from cleanlab.segmentation import filter as cl_filter
from cleanlab.segmentation import rank as cl_rank
from cleanlab.segmentation import summary as cl_summary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelaudit.segmentation import filter as la_filter
from labelaudit.segmentation import rank as la_rank
from labelaudit.segmentation import summary as la_summary

PARITY = settings(max_examples=40, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def stable_cleanlab_ranking(active: bool):
    """Make cleanlab break exact ties by index (only for tie-heavy inputs)."""
    if not active:
        yield
        return
    original = cl_batched.find_top_issues
    original_argsort = np.argsort

    def stable_top(quality_scores, top=None, **_):
        top = len(quality_scores) if top is None or top > len(quality_scores) else top
        return np.argsort(quality_scores, kind="stable")[:top]

    cl_batched.find_top_issues = stable_top
    np.argsort = lambda a, axis=-1, kind=None, order=None: original_argsort(
        a, axis=axis, kind="stable", order=order)
    try:
        yield
    finally:
        cl_batched.find_top_issues = original
        np.argsort = original_argsort


def make_case(seed, n, k, h, w, dtype, style, n_absent):
    rng = np.random.default_rng(seed)
    present = k - min(n_absent, k - 1)
    classes = rng.permutation(k)[:present]
    labels = classes[rng.integers(0, present, size=(n, h, w))]
    alpha = {"sharp": 0.2, "flat": 3.0, "coarse": 1.0}[style]
    probs = rng.dirichlet(np.full(k, alpha), size=(n, h, w))
    # Make the model agree with most labels so that issues are a minority.
    agree = rng.random((n, h, w)) < 0.7
    boost = np.zeros_like(probs)
    np.put_along_axis(boost, labels[..., None], 1.0, axis=-1)
    probs = np.where(agree[..., None], 0.5 * probs + 0.5 * boost, probs)
    if style == "coarse":
        probs = np.round(probs * 10)
        probs[probs.sum(-1) == 0, 0] = 1
        probs = probs / probs.sum(-1, keepdims=True)
    probs = np.ascontiguousarray(probs.transpose(0, 3, 1, 2)).astype(dtype)
    return labels, probs


cases = st.tuples(
    st.integers(0, 2**31 - 1),                 # seed
    st.integers(1, 4),                          # images
    st.integers(2, 5),                          # classes
    st.sampled_from([1, 2, 3, 4, 6, 8]),        # height
    st.sampled_from([1, 2, 4, 5, 8]),           # width
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from(["sharp", "flat", "coarse"]),
    st.integers(0, 2),                          # classes absent from the labels
)


@PARITY
@given(case=cases, batch_size=st.sampled_from([None, 1, 37, 10**6]),
       label_dtype=st.sampled_from([np.int64, np.uint8, np.int32]))
def test_find_label_issues_matches_cleanlab(case, batch_size, label_dtype):
    labels, probs = make_case(*case)
    labels = labels.astype(label_dtype)
    with stable_cleanlab_ranking(case[6] == "coarse"):
        expected = cl_filter.find_label_issues(labels, probs, batch_size=batch_size, n_jobs=1,
                                               verbose=False)
    got = la_filter.find_label_issues(labels, probs, batch_size=batch_size, verbose=False)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@PARITY
@given(case=cases, factor=st.sampled_from([1, 2, 4]))
def test_find_label_issues_downsample_matches_cleanlab(case, factor):
    labels, probs = make_case(*case)
    h, w = labels.shape[1:]
    if h % factor or w % factor:
        factor = 1
    with stable_cleanlab_ranking(case[6] == "coarse"):
        expected = cl_filter.find_label_issues(labels, probs, n_jobs=1, verbose=False,
                                               downsample=factor)
    got = la_filter.find_label_issues(labels, probs, verbose=False, downsample=factor)
    np.testing.assert_array_equal(got, expected)


@PARITY
@given(case=cases, temperature=st.sampled_from([0.1, 0.5, 1.0, 0.01]))
def test_softmin_scores_match_cleanlab(case, temperature):
    labels, probs = make_case(*case)
    exp_img, exp_pix = cl_rank.get_label_quality_scores(labels, probs, verbose=False,
                                                        temperature=temperature, n_jobs=1)
    img, pix = la_rank.get_label_quality_scores(labels, probs, verbose=False,
                                                temperature=temperature)
    assert pix.dtype == exp_pix.dtype and img.dtype == exp_img.dtype
    np.testing.assert_array_equal(pix, exp_pix)
    np.testing.assert_allclose(img, exp_img, rtol=1e-12, atol=1e-15)


@PARITY
@given(case=cases)
def test_num_pixel_issues_scores_match_cleanlab(case):
    labels, probs = make_case(*case)
    with stable_cleanlab_ranking(case[6] == "coarse"):
        exp_img, exp_pix = cl_rank.get_label_quality_scores(
            labels, probs, method="num_pixel_issues", verbose=False, n_jobs=1)
    img, pix = la_rank.get_label_quality_scores(labels, probs, method="num_pixel_issues",
                                                verbose=False)
    assert pix.dtype == exp_pix.dtype
    np.testing.assert_array_equal(pix, exp_pix)
    np.testing.assert_array_equal(img, exp_img)


@PARITY
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 60),
       coarse=st.booleans(), threshold=st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0]),
       with_pixels=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_issues_from_scores_matches_cleanlab(seed, n, coarse, threshold, with_pixels, dtype):
    rng = np.random.default_rng(seed)
    scores = rng.random(n).astype(dtype)
    if coarse:
        scores = np.round(scores * 5) / 5
    pixels = rng.random((n, 3, 2)).astype(dtype) if with_pixels else None
    with stable_cleanlab_ranking(coarse):
        expected = cl_rank.issues_from_scores(scores, pixels, threshold=threshold)
    got = la_rank.issues_from_scores(scores, pixels, threshold=threshold)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype


@PARITY
@given(case=cases, share=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
       names=st.booleans(), exclude=st.sampled_from([None, [], [0], [1, 2]]),
       top=st.sampled_from([None, 0, 1, 3, 100]))
def test_common_label_issues_matches_cleanlab(case, share, names, exclude, top):
    labels, probs = make_case(*case)
    k = probs.shape[1]
    rng = np.random.default_rng(case[0] + 1)
    issues = rng.random(labels.shape) < share
    class_names = [f"class {c}" for c in range(k)] if names else None
    expected = cl_summary.common_label_issues(issues, labels, probs, class_names=class_names,
                                              exclude=exclude, top=top, verbose=False)
    got = la_summary.common_label_issues(issues, labels, probs, class_names=class_names,
                                         exclude=exclude, top=top, verbose=False)
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_edge_cases_match_cleanlab(dtype):
    # one 1 x 1 image; all pixels one class (others absent); all pixels wrong.
    cases = [
        (np.array([[[1]]]), np.array([[[[0.9]], [[0.1]]]])),
        (np.zeros((1, 3, 3), dtype=int), np.tile(np.array([0.2, 0.8])[None, :, None, None],
                                                 (1, 1, 3, 3))),
        (np.ones((2, 1, 1), dtype=int), np.array([[[[0.7]], [[0.3]]], [[[0.4]], [[0.6]]]])),
    ]
    for labels, probs in cases:
        probs = probs.astype(dtype)
        expected = cl_filter.find_label_issues(labels, probs, n_jobs=1, verbose=False)
        got = la_filter.find_label_issues(labels, probs, verbose=False)
        np.testing.assert_array_equal(got, expected)
        exp_img, exp_pix = cl_rank.get_label_quality_scores(labels, probs, verbose=False)
        img, pix = la_rank.get_label_quality_scores(labels, probs, verbose=False)
        np.testing.assert_array_equal(pix, exp_pix)
        np.testing.assert_allclose(img, exp_img, rtol=1e-12)
