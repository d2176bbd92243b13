"""Inputs cleanlab 2.9 accepts are accepted by the drop-in functions, with cleanlab's answer.

cleanlab is the oracle: every test calls it on the same input. Where keys tie
at a selection cut, both libraries run with ``np.argsort`` made stable (see
``test_parity_cleanlab``), which fixes cleanlab's otherwise CPU-dependent pick
to labelaudit's rule, smaller index first.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from cleanlab import count as cl_count
from cleanlab import filter as cl_filter
from cleanlab import rank as cl_rank

import labelaudit as la

PRUNING = ("prune_by_noise_rate", "prune_by_class", "both")
_argsort = np.argsort


@contextlib.contextmanager
def _stable_argsort():
    np.argsort = lambda a, axis=-1, kind=None, order=None, **kw: _argsort(
        a, axis=axis, kind="stable", order=order, **kw)
    try:
        yield
    finally:
        np.argsort = _argsort


def _quiet_cleanlab(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _softmax_case(seed: int, n: int = 2000, k: int = 4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) * 2
    logits[np.arange(n), labels] += 1.5
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return labels, probs


def _no_noise_case():
    """Class 2 is perfectly separated: its prune-matrix row has no off-diagonal mass."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 300)
    probs = rng.dirichlet(np.ones(3) * 0.3, 300)
    probs[:, 2] = 1e-4
    probs[labels == 2] = [0.001, 0.001, 0.998]
    probs /= probs.sum(axis=1, keepdims=True)
    return labels, probs


# --------------------------------------------------------------------------- num_to_remove_per_class


@pytest.mark.parametrize("filter_by", PRUNING)
@pytest.mark.parametrize("remove", [3, 0, 7])
def test_one_integer_is_applied_to_every_class(filter_by, remove):
    labels, probs = _softmax_case(3, n=600)
    ours = la.find_label_issues(labels, probs, filter_by=filter_by,
                                num_to_remove_per_class=remove)
    ref = _quiet_cleanlab(cl_filter.find_label_issues, labels, probs, filter_by=filter_by,
                          num_to_remove_per_class=remove, n_jobs=1)
    np.testing.assert_array_equal(ours, ref)
    same = la.find_label_issues(labels, probs, filter_by=filter_by,
                                num_to_remove_per_class=[remove] * 4)
    np.testing.assert_array_equal(ours, same)


@pytest.mark.parametrize("filter_by", PRUNING)
@pytest.mark.parametrize("remove", [3, [2, 5, 1], [2, 5, 0], [0, 0, 0]])
def test_a_class_without_estimated_noise_gives_cleanlabs_result(filter_by, remove):
    labels, probs = _no_noise_case()
    cj = la.compute_confident_joint(labels, probs)
    assert cj[2, :2].sum() == 0 and cj[:2, 2].sum() == 0  # the case holds
    ours = la.find_label_issues(labels, probs, filter_by=filter_by,
                                num_to_remove_per_class=remove)
    ref = _quiet_cleanlab(cl_filter.find_label_issues, labels, probs, filter_by=filter_by,
                          num_to_remove_per_class=remove, n_jobs=1)
    np.testing.assert_array_equal(ours, ref)
    if filter_by == "prune_by_class":
        # Classes 0 and 1 lose exactly what was asked (class 2's rows all agree with the
        # model, so the final un-flag step keeps them, in cleanlab too).
        asked = np.broadcast_to(remove, 3)
        for k in (0, 1):
            assert ours[labels == k].sum() == asked[k]


def test_num_to_remove_per_class_of_the_wrong_length_is_named():
    labels, probs = _softmax_case(3, n=200)
    with pytest.raises(la.LabelAuditError, match="one integer or one per class \\(4\\)"):
        la.find_label_issues(labels, probs, filter_by="prune_by_class",
                             num_to_remove_per_class=[1, 2])


# --------------------------------------------------------------------------- rounded rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_probabilities_rounded_to_two_decimals(dtype):
    labels, probs = _softmax_case(5)
    rounded = np.round(probs, 2).astype(dtype)
    sums = rounded.sum(axis=1)
    assert np.abs(sums - 1).max() > 1e-3  # some rows sum to 0.99 or 1.01
    with _stable_argsort():
        for filter_by in (*PRUNING, "confident_learning", "predicted_neq_given",
                          "low_self_confidence", "low_normalized_margin"):
            with pytest.warns(la.LabelAuditWarning, match="renormalize"):
                ours = la.find_label_issues(labels, rounded, filter_by=filter_by)
            ref = _quiet_cleanlab(cl_filter.find_label_issues, labels, rounded,
                                  filter_by=filter_by, n_jobs=1)
            np.testing.assert_array_equal(ours, ref)
        with pytest.warns(la.LabelAuditWarning, match="should sum to 1"):
            cj = la.compute_confident_joint(labels, rounded)
        np.testing.assert_array_equal(
            cj, _quiet_cleanlab(cl_count.compute_confident_joint, labels, rounded))
        with pytest.warns(la.LabelAuditWarning):
            n_issues = la.num_label_issues(labels, rounded)
        assert n_issues == _quiet_cleanlab(cl_count.num_label_issues, labels, rounded)
        for method in ("self_confidence", "normalized_margin"):
            with pytest.warns(la.LabelAuditWarning):
                ours = la.get_label_quality_scores(labels, rounded, method=method)
            np.testing.assert_array_equal(
                ours, _quiet_cleanlab(cl_rank.get_label_quality_scores, labels, rounded,
                                      method=method))
        with pytest.warns(la.LabelAuditWarning):
            ours = la.estimate_py_and_noise_matrices_from_probabilities(labels, rounded)
        ref = _quiet_cleanlab(cl_count.estimate_py_and_noise_matrices_from_probabilities,
                              labels, rounded)
        for a, b in zip(ours, ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_the_audit_stays_strict_and_says_so():
    labels, probs = _softmax_case(5, n=300)
    rounded = np.round(probs, 2)
    bad = int(np.argmax(np.abs(rounded.sum(axis=1) - 1) > 1e-3))
    with pytest.raises(la.InputError, match=f"row {bad} sums to .*renormalize"):
        la.audit(labels, rounded, n_bootstrap=10)


# --------------------------------------------------------------------------- float16


@pytest.mark.parametrize("seed", range(12))
def test_float16_gives_cleanlabs_answer(seed):
    labels, probs = _softmax_case(seed)
    p16 = probs.astype(np.float16)
    filters = ("prune_by_class", "confident_learning", "predicted_neq_given",
               "low_self_confidence", "low_normalized_margin", "prune_by_noise_rate", "both")
    with _stable_argsort():
        for filter_by in filters:
            with pytest.warns(la.LabelAuditWarning, match="float16"):
                ours = la.find_label_issues(labels, p16, filter_by=filter_by)
            ref = _quiet_cleanlab(cl_filter.find_label_issues, labels, p16, filter_by=filter_by,
                                  n_jobs=1)
            np.testing.assert_array_equal(ours, ref, err_msg=filter_by)
    with pytest.warns(la.LabelAuditWarning, match="float32"):
        cj = la.compute_confident_joint(labels, p16)
    np.testing.assert_array_equal(cj, _quiet_cleanlab(cl_count.compute_confident_joint,
                                                      labels, p16))
    with pytest.warns(la.LabelAuditWarning):
        assert la.num_label_issues(labels, p16) == _quiet_cleanlab(
            cl_count.num_label_issues, labels, p16)
    for method in ("self_confidence", "normalized_margin"):
        for adjust in (False, True):
            with pytest.warns(la.LabelAuditWarning):
                ours = la.get_label_quality_scores(labels, p16, method=method,
                                                   adjust_pred_probs=adjust)
            ref = _quiet_cleanlab(cl_rank.get_label_quality_scores, labels, p16, method=method,
                                  adjust_pred_probs=adjust)
            assert ours.dtype == ref.dtype == np.float16
            np.testing.assert_array_equal(ours, ref)


def test_float16_thresholds_round_as_cleanlabs():
    """The per-class means are float16 values as cleanlab's; a float32 mean differs."""
    labels, probs = _softmax_case(2)
    p16 = probs.astype(np.float16)
    ref = _quiet_cleanlab(cl_count.get_confident_thresholds, labels, p16)
    with pytest.warns(la.LabelAuditWarning):
        cj = la.compute_confident_joint(labels, p16)
    np.testing.assert_array_equal(cj, _quiet_cleanlab(cl_count.compute_confident_joint,
                                                      labels, p16))
    widened = _quiet_cleanlab(cl_count.get_confident_thresholds, labels,
                              p16.astype(np.float32))
    assert not np.array_equal(ref.astype(np.float32), widened)  # the rounding matters here


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [2, 3, 9, 130])
def test_adjusted_scores_are_bit_equal(dtype, k):
    """adjust_pred_probs=True: cleanlab's value bit for bit, also when a class is unused."""
    rng = np.random.default_rng(k)
    labels = rng.integers(0, k, 3000)
    labels[labels == 1] = 0  # class 1 unused: float64 thresholds, as in cleanlab
    probs = rng.dirichlet(np.ones(k), 3000).astype(dtype)
    for method in ("self_confidence", "normalized_margin"):
        ours = la.get_label_quality_scores(labels, probs, method=method, adjust_pred_probs=True)
        ref = _quiet_cleanlab(cl_rank.get_label_quality_scores, labels, probs, method=method,
                              adjust_pred_probs=True)
        assert ours.dtype == ref.dtype
        np.testing.assert_array_equal(ours, ref)
        ranked = la.find_label_issues(labels, probs, return_indices_ranked_by=method,
                                      rank_by_kwargs={"adjust_pred_probs": True})
        ref_ranked = _quiet_cleanlab(cl_filter.find_label_issues, labels, probs,
                                     return_indices_ranked_by=method,
                                     rank_by_kwargs={"adjust_pred_probs": True}, n_jobs=1)
        np.testing.assert_array_equal(ranked, ref_ranked)
