"""Every SIMD code path of the row scans gives the same answers.

The kernels pick AVX-512, AVX2 or SSE2 row scans at run time; CI machines run
only the best one their CPU has. Here the lower levels are forced in turn and
compared with the best level on generated matrices: confident joints, issue
masks, scores and the errors raised for invalid rows must be identical.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labelaudit as la
from labelaudit import _core

pytestmark = pytest.mark.filterwarnings("ignore::labelaudit.LabelAuditWarning")

BEST = _core.simd_level()
ORDER = ["sse2", "avx2", "avx512"]
LOWER = ORDER[: ORDER.index(BEST)] if BEST in ORDER else []


def at_level(level, fn):
    """Run ``fn`` at a forced SIMD level, restoring the best level afterwards."""
    _core._cap_simd_level(level)
    try:
        return fn()
    finally:
        _core._cap_simd_level(BEST)


def _results(labels, probs):
    out = {
        "cj": la.compute_confident_joint(labels, probs),
        "thresholds": la.get_confident_thresholds(labels, probs),
        "n_issues": la.num_label_issues(labels, probs),
    }
    for method in ("self_confidence", "normalized_margin", "confidence_weighted_entropy"):
        out[f"score_{method}"] = la.get_label_quality_scores(labels, probs, method=method)
    out["score_adjusted"] = la.get_label_quality_scores(labels, probs, adjust_pred_probs=True)
    for filter_by in ("prune_by_noise_rate", "both", "confident_learning",
                      "low_self_confidence"):
        out[f"mask_{filter_by}"] = la.find_label_issues(labels, probs, filter_by=filter_by)
    return out


def _error(labels, probs):
    """The error, or else the warning about rows that do not sum to 1 (used as given)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", la.LabelAuditWarning)
        try:
            la.get_label_quality_scores(labels, probs)
            la.compute_confident_joint(labels, probs)
        except la.LabelAuditError as exc:
            return str(exc)
    sums = [str(w.message) for w in caught if "should sum to 1" in str(w.message)]
    return sums[0] if sums else None


@st.composite
def problems(draw):
    k = draw(st.integers(2, 70))  # covers every tail length of 4-, 8-, 16- and 32-wide steps
    n = draw(st.integers(k, 160))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    logits = rng.normal(size=(n, k)) + 3.0 * np.eye(k)[labels] * rng.random((n, 1))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    if draw(st.booleans()):  # exact ties at the thresholds and between classes
        probs = np.round(probs * 8) / 8 + 1 / 64
        probs /= probs.sum(axis=1, keepdims=True)
    return labels, probs.astype(dtype)


@pytest.mark.skipif(not LOWER, reason="no lower SIMD level than the CPU's best")
@settings(max_examples=60, deadline=None)
@given(problems())
def test_lower_levels_give_identical_results(problem):
    labels, probs = problem
    best = _results(labels, probs)
    for level in LOWER:
        got = at_level(level, lambda: _results(labels, probs))
        for name, value in best.items():
            np.testing.assert_array_equal(got[name], value, err_msg=f"{name} at {level}")


@pytest.mark.skipif(not LOWER, reason="no lower SIMD level than the CPU's best")
@pytest.mark.parametrize("k", [2, 7, 16, 33, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "poison",
    ["nan", "inf", "negative", "above_one", "huge_pair", "row_sum"],
)
def test_lower_levels_report_the_same_bad_row(k, dtype, poison):
    rng = np.random.default_rng(k)
    n = 50
    probs = rng.dirichlet(np.ones(k), size=n).astype(dtype)
    labels = np.arange(n) % k
    row, col = 31, k - 1  # the last column sits in the masked or scalar tail
    if poison == "nan":
        probs[row, col] = np.nan
    elif poison == "inf":
        probs[row, col] = np.inf
    elif poison == "negative":
        probs[row, col] = -0.25
    elif poison == "above_one":
        probs[row, col] = 1.5
    elif poison == "huge_pair":
        # Finite values whose float32 sum overflows: out of range, not non-finite.
        probs[row, 0] = probs[row, col] = np.finfo(dtype).max
    else:
        probs[row] *= 1.01
    expected = _error(labels, probs)
    assert expected is not None and "31" in expected
    if poison == "huge_pair":
        assert "[0, 1]" in expected, expected  # not reported as non-finite
    for level in LOWER:
        assert at_level(level, lambda: _error(labels, probs)) == expected, level
