"""Tests for labelaudit.stats: every closed-form statistic against its reference.

The Wilson interval and Benjamini-Hochberg were once written twice (for slices and for
annotators); both sets of checks now run against the one copy, and through both old
import paths, with statsmodels and scipy as oracles.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

import labelaudit.annotators
import labelaudit.slices
from labelaudit import stats

WILSON = [stats.wilson_interval, labelaudit.slices.wilson_interval,
          labelaudit.annotators.wilson_interval]
BH = [stats.benjamini_hochberg, labelaudit.slices.benjamini_hochberg,
      labelaudit.annotators.benjamini_hochberg]


def test_old_import_paths_are_the_one_copy():
    assert all(f is stats.wilson_interval for f in WILSON)
    assert all(f is stats.benjamini_hochberg for f in BH)


# --------------------------------------------------------------------------------------
# Wilson
# --------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    nobs=st.integers(min_value=1, max_value=10**7),
    share=st.floats(min_value=0.0, max_value=1.0),
)
def test_wilson_interval_matches_statsmodels(nobs, share):
    from statsmodels.stats.proportion import proportion_confint

    count = int(round(share * nobs))
    low, high = stats.wilson_interval(count, nobs)
    ref_low, ref_high = proportion_confint(count, nobs, alpha=0.05, method="wilson")
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_wilson_interval_arrays_match_statsmodels(alpha):
    from statsmodels.stats.proportion import proportion_confint

    x = np.array([0, 1, 5, 17, 40])
    n = np.array([10, 3, 5, 60, 41])
    low, high = stats.wilson_interval(x, n, alpha=alpha)
    ref_low, ref_high = proportion_confint(x, n, alpha=alpha, method="wilson")
    np.testing.assert_allclose(low, ref_low, atol=1e-12)
    np.testing.assert_allclose(high, ref_high, atol=1e-12)


def test_wilson_interval_is_nan_for_empty_samples_and_inside_unit_interval():
    assert np.isnan(stats.wilson_interval(0, 0)[0])
    low, high = stats.wilson_interval([0, 0, 3, 7], [0, 5, 3, 9])
    assert np.isnan(low[0]) and np.isnan(high[0])
    assert (low[1:] >= 0).all() and (high[1:] <= 1).all() and (low[1:] <= high[1:]).all()
    # no successes: the lower limit is 0 itself, not a rounding residue; all successes: 1
    for n in (1, 7, 50, 1797, 10**6):
        for alpha in (0.05, 1 - 0.95, 0.1):
            low, _ = stats.wilson_interval(0, n, alpha=alpha)
            _, high = stats.wilson_interval(n, n, alpha=alpha)
            assert low == 0.0 and high == 1.0


# --------------------------------------------------------------------------------------
# Benjamini-Hochberg
# --------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.lists(st.floats(0, 1), min_size=1, max_size=40),
        st.lists(
            st.one_of(st.floats(min_value=0.0, max_value=1.0),
                      st.sampled_from([0.0, 1.0, 0.01])),
            min_size=1,
            max_size=60,
        ),
    )
)
def test_benjamini_hochberg_matches_statsmodels(p_values):
    from statsmodels.stats.multitest import multipletests

    ours = stats.benjamini_hochberg(p_values)
    ref = multipletests(p_values, method="fdr_bh")[1]
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=40)
)
def test_benjamini_hochberg_nan_rule(p_values):
    """NaN is a test not run: left out of the family, and its q-value stays NaN."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values)
    ours = stats.benjamini_hochberg(p)
    finite = np.isfinite(p)
    assert np.isnan(ours[~finite]).all()
    if finite.any():
        ref = multipletests(p[finite], method="fdr_bh")[1]
        np.testing.assert_allclose(ours[finite], ref, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------------------
# Two-proportion tests, Fisher, chi-square
# --------------------------------------------------------------------------------------


def test_two_proportion_test_matches_scipy():
    rng = np.random.default_rng(7)
    n1 = np.concatenate([rng.integers(1, 60, 150), rng.integers(500, 5000, 150)])
    n2 = np.concatenate([rng.integers(30, 3000, 150), rng.integers(2000, 20000, 150)])
    rate = rng.random(300) * 0.4
    x1 = rng.binomial(n1, rate * rng.choice([1.0, 1.6], 300).clip(0, 1))
    x2 = rng.binomial(n2, rate)
    p, used_fisher = stats.two_proportion_test(x1, n1, x2, n2)
    assert used_fisher.any() and (~used_fisher).any()
    for i in range(300):
        table = [[x1[i], n1[i] - x1[i]], [x2[i], n2[i] - x2[i]]]
        if used_fisher[i]:
            ref = scipy_stats.fisher_exact(table).pvalue
        else:
            ref = scipy_stats.chi2_contingency(table).pvalue  # Yates-corrected, scipy's default
        assert p[i] == pytest.approx(ref, rel=1e-8, abs=1e-300), (i, table)


def test_two_proportion_test_degenerate_tables_give_p_one():
    p, _ = stats.two_proportion_test([0, 5, 10], [10, 5, 10], [0, 7, 0], [20, 7, 0])
    np.testing.assert_array_equal(p, [1.0, 1.0, 1.0])


def test_fisher_exact_two_sided_matches_scipy():
    rng = np.random.default_rng(3)
    n1 = rng.integers(1, 400, 200)
    n2 = rng.integers(1, 400, 200)
    x1 = rng.binomial(n1, 0.2)
    x2 = rng.binomial(n2, 0.3)
    keep = ((x1 + x2) > 0) & ((n1 - x1 + n2 - x2) > 0)
    x1, n1, x2, n2 = x1[keep], n1[keep], x2[keep], n2[keep]
    got = stats.fisher_exact_two_sided(x1, n1, x2, n2)
    for i in range(x1.size):
        ref = scipy_stats.fisher_exact([[x1[i], n1[i] - x1[i]], [x2[i], n2[i] - x2[i]]]).pvalue
        assert got[i] == pytest.approx(ref, rel=1e-8, abs=1e-300)


def test_one_sided_two_proportion_matches_statsmodels():
    from statsmodels.stats.proportion import proportions_ztest

    for x1, n1, x2, n2 in [(30, 50, 400, 500), (45, 50, 400, 500), (3, 10, 9, 10)]:
        _, expected = proportions_ztest([x1, x2], [n1, n2], alternative="smaller")
        got = stats.two_proportion_z_less(x1, n1, x2, n2)
        assert got == pytest.approx(expected, abs=1e-12)


def test_chi_square_matches_scipy():
    from scipy.stats import chi2_contingency

    own = np.array([[5, 0, 3, 0], [10, 2, 0, 1]])
    peers = np.array([[20, 0, 4, 6], [8, 9, 0, 3]])
    got = stats.chi_square_homogeneity(own, peers)
    for r in range(2):
        table = np.stack([own[r], peers[r]])
        table = table[:, table.sum(axis=0) > 0]
        assert got[r] == pytest.approx(chi2_contingency(table, correction=False).pvalue, abs=1e-12)


# --------------------------------------------------------------------------------------
# Heavy imports on demand
# --------------------------------------------------------------------------------------


def test_stats_slices_annotators_import_no_heavy_modules():
    """Beyond what the package root loads, these modules pull in no heavy dependency."""
    code = (
        "import sys\n"
        "import labelaudit\n"
        "before = set(sys.modules)\n"
        "import labelaudit.stats, labelaudit.annotators, labelaudit.slices\n"
        "new = set(sys.modules) - before\n"
        "heavy = ('scipy', 'sklearn', 'matplotlib', 'dask')\n"
        "print(sorted(m for m in new if m.split('.')[0] in heavy))\n"
    )
    assert _fresh_interpreter_prints(code) == "[]"


def test_no_module_level_heavy_imports():
    """No module of stats, annotators or slices imports a heavy dependency at import time."""
    import ast
    from pathlib import Path

    root = Path(stats.__file__).parent
    files = [root / "stats.py", *sorted((root / "annotators").glob("*.py")),
             *sorted((root / "slices").glob("*.py"))]
    heavy = {"scipy", "sklearn", "matplotlib", "dask", "fairlearn", "pandas", "cleanlab"}
    found = []
    for path in files:
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            found += [(path.name, n) for n in names if n.split(".")[0] in heavy]
    assert len(files) > 5 and found == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5000, allow_nan=False), st.integers(1, 400)),
                min_size=1, max_size=30))
def test_chi_square_tail_matches_scipy(cases):
    x = np.array([c[0] for c in cases])
    df = np.array([c[1] for c in cases])
    got = stats.chi2_sf(x, df)
    ref = scipy_stats.chi2.sf(x, df)
    assert got.shape == x.shape
    assert np.allclose(got, ref, rtol=1e-10, atol=1e-300)


def test_chi_square_tail_edges():
    assert stats.chi2_sf(0.0, 3) == 1.0 and stats.chi2_sf(-1.0, 1) == 1.0
    assert np.isnan(stats.chi2_sf(np.nan, 2))
    assert stats.chi2_sf(1e6, 2) == 0.0  # below the smallest double, as scipy
    assert stats.chi2_sf(np.ones((2, 3)), [1, 2, 3]).shape == (2, 3)
    for bad in (0, 1.5, -2):
        with pytest.raises(ValueError, match="whole degrees of freedom"):
            stats.chi2_sf(1.0, bad)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-38, 38, allow_nan=False), min_size=1, max_size=30))
def test_normal_distribution_function_matches_scipy(z):
    z = np.array(z)
    got = stats.normal_cdf(z)
    ref = scipy_stats.norm.cdf(z)
    assert np.allclose(got, ref, rtol=1e-12, atol=1e-300)
    assert np.isnan(stats.normal_cdf(np.nan)) and stats.normal_cdf(np.inf) == 1.0


def test_the_annotator_review_does_not_import_scipy():
    code = (
        "import sys, polars as pl\n"
        "from labelaudit.annotators import review_annotators\n"
        "rows = [(i, a, (i + (a == 'c') * (i % 3 == 0)) % 3) for i in range(60) "
        "for a in 'abc']\n"
        "t = pl.DataFrame(rows, schema=['item', 'who', 'label'], orient='row')\n"
        "r = review_annotators(t, item_col='item', annotator_col='who', label_col='label')\n"
        "assert r.annotators.height == 3\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))\n"
    )
    assert _fresh_interpreter_prints(code) == "[]"


def _fresh_interpreter_prints(code: str) -> str:
    """What ``code`` prints when run by a new interpreter (nothing imported beforehand)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()
