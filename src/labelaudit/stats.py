"""Closed-form statistics shared by the analyses: one copy of each rule.

Every function is vectorised over many proportions or tables at once and works on
plain NumPy arrays. scipy is imported inside the functions that need it, so
importing this module stays cheap.

* :func:`wilson_interval` -- Wilson score interval of binomial proportions;
* :func:`benjamini_hochberg` -- Benjamini-Hochberg adjusted p-values (q-values);
* :func:`two_proportion_test` -- two-sided comparison of two proportions per 2x2 table
  (Yates chi-square for large counts, Fisher's exact test otherwise);
* :func:`fisher_exact_two_sided` -- two-sided Fisher exact p-values of many 2x2 tables;
* :func:`two_proportion_z_less` -- one-sided pooled two-proportion z-test;
* :func:`chi_square_homogeneity` -- row-wise chi-square homogeneity test of 2 x K tables;
* :func:`normal_cdf`, :func:`chi2_sf` -- the two tail functions those tests need, from the
  standard library's ``math``, so the annotator review never imports scipy.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = [
    "benjamini_hochberg",
    "chi2_sf",
    "chi_square_homogeneity",
    "fisher_exact_two_sided",
    "normal_cdf",
    "normal_quantile",
    "two_proportion_test",
    "two_proportion_z_less",
    "wilson_interval",
]

# Below this smallest expected cell count a 2x2 table is tested with Fisher's exact test.
# The textbook rule (5) only makes the chi-square accurate near p = 0.05; Benjamini-Hochberg
# decides in the far tail (p ~ fdr / number of tests), where simulated null data showed the
# rule of 5 giving two to four times too many small p-values and about twice the nominal
# false-flag rate. From 100 expected counts up, the continuity-corrected chi-square matched.
MIN_EXPECTED_FOR_CHI2 = 100.0

# Largest flat array of hypergeometric log-probabilities the Fisher path evaluates at once.
_FISHER_CHUNK = 1 << 21


@lru_cache(maxsize=32)
def normal_quantile(alpha: float) -> float:
    """Two-sided standard normal quantile ``z`` with ``P(|Z| > z) = alpha``.

    Parameters
    ----------
    alpha : float
        Two-sided tail probability, in (0, 1).

    Returns
    -------
    float
        ``scipy.stats.norm.isf(alpha / 2)`` to within a few units in the last
        place (the standard library's ``NormalDist.inv_cdf``, Wichura's AS241,
        which costs no import); 1.959963984540054 for ``alpha = 0.05``.

    Examples
    --------
    >>> round(normal_quantile(0.05), 6)
    1.959964
    """
    from statistics import NormalDist

    return -NormalDist().inv_cdf(alpha / 2)


def wilson_interval(count: Any, nobs: Any, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for binomial proportions, vectorised.

    Parameters
    ----------
    count : array_like of int
        Number of successes.
    nobs : array_like of int
        Number of trials (broadcast with ``count``).
    alpha : float, default 0.05
        ``1 - alpha`` is the two-sided coverage.

    Returns
    -------
    low, high : ndarray of float64
        Interval limits, equal to statsmodels
        ``proportion_confint(count, nobs, alpha=alpha, method="wilson")`` and clipped to
        [0, 1] (which only removes rounding below 0 or above 1); exactly 0 (1) when there
        is no success (failure). NaN where ``nobs == 0``: an empty sample says nothing
        about its proportion.

    Notes
    -----
    The interval is the set of proportions ``p`` whose score test does not reject:
    centre ``(p_hat + z^2 / 2n) / (1 + z^2 / n)``, half-width
    ``z * sqrt(p_hat (1 - p_hat) / n + z^2 / 4n^2) / (1 + z^2 / n)``. Unlike the Wald
    interval it stays inside [0, 1] and keeps its coverage for small samples and rates near
    zero, which is where label-error rates live.

    Examples
    --------
    >>> low, high = wilson_interval(5, 50)
    >>> round(float(low), 4), round(float(high), 4)
    (0.0435, 0.2136)
    """
    x = np.asarray(count, dtype=np.float64)
    n = np.asarray(nobs, dtype=np.float64)
    z = normal_quantile(float(alpha))
    z2 = z * z
    with np.errstate(invalid="ignore", divide="ignore"):
        p_hat = x / n
        denom = 1.0 + z2 / n
        centre = (p_hat + z2 / (2.0 * n)) / denom
        half = z * np.sqrt(p_hat * (1.0 - p_hat) / n + z2 / (4.0 * n * n)) / denom
        # With no successes (or no failures) the limit is exactly 0 (or 1); the formula
        # leaves a rounding residue there, such as 8.7e-19.
        low = np.where(n > 0, np.where(x == 0, 0.0, np.clip(centre - half, 0.0, 1.0)), np.nan)
        high = np.where(n > 0, np.where(x == n, 1.0, np.clip(centre + half, 0.0, 1.0)), np.nan)
    return low, high


def benjamini_hochberg(p_values: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values).

    Parameters
    ----------
    p_values : array_like of float
        Raw p-values of one family of tests, in [0, 1].

    Returns
    -------
    ndarray of float64
        Adjusted values in the input order, monotone in ``p`` and capped at 1. On the
        finite entries they equal statsmodels ``multipletests(p, method="fdr_bh")[1]``
        over those entries alone. Rejecting every test whose value is at most ``alpha``
        controls the false discovery rate at ``alpha`` for independent or positively
        dependent tests.

    Notes
    -----
    NaN rule: a NaN p-value is a test that was not run. It is left out of the family
    (it does not count in the number of tests) and its adjusted value stays NaN.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, np.nan, 0.03]).round(3).tolist()
    [0.03, 0.04, nan, 0.04]
    """
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    scaled = p[order] * (m / np.arange(1, m + 1, dtype=np.float64))
    # Step-up: the adjusted value of rank i is the smallest scaled value at rank >= i.
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    q[order] = np.minimum(adjusted, 1.0)
    return q


def two_proportion_test(x1: Any, n1: Any, x2: Any, n2: Any) -> tuple[np.ndarray, np.ndarray]:
    """Test, for many 2x2 tables at once, whether two proportions differ.

    Each table is ``[[x1, n1 - x1], [x2, n2 - x2]]``. Tables whose smallest expected cell
    count is at least 100 get Pearson's chi-square test with Yates' continuity correction,
    in closed form for all tables at once; the others get Fisher's exact test (two-sided),
    also vectorised. Tables with an empty row or column carry no evidence and get p = 1.

    Parameters
    ----------
    x1, n1 : array_like of int
        Successes and trials in the first group.
    x2, n2 : array_like of int
        Successes and trials in the second group.

    Returns
    -------
    p_values : ndarray of float64
        Two-sided p-values; equal to ``scipy.stats.chi2_contingency(table).pvalue``
        (Yates-corrected, scipy's default for 2x2) or ``scipy.stats.fisher_exact(table)``
        respectively.
    used_fisher : ndarray of bool
        True where Fisher's exact test was used.

    Examples
    --------
    >>> p, fisher = two_proportion_test([2], [20], [10], [20])
    >>> bool(fisher[0]), round(float(p[0]), 4)
    (True, 0.0138)
    """
    from scipy import stats

    x1 = np.asarray(x1, dtype=np.int64)
    n1 = np.asarray(n1, dtype=np.int64)
    x2 = np.asarray(x2, dtype=np.int64)
    n2 = np.asarray(n2, dtype=np.int64)
    a = x1.astype(np.float64)
    b = (n1 - x1).astype(np.float64)
    c = x2.astype(np.float64)
    d = (n2 - x2).astype(np.float64)
    r1, r2 = a + b, c + d
    c1, c2 = a + c, b + d
    total = r1 + r2
    p = np.ones(a.shape, dtype=np.float64)
    degenerate = (r1 == 0) | (r2 == 0) | (c1 == 0) | (c2 == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        min_expected = np.minimum(r1, r2) * np.minimum(c1, c2) / total
        # Yates' continuity correction, as scipy's chi2_contingency applies to 2x2 tables.
        gap = np.maximum(np.abs(a * d - b * c) - total / 2.0, 0.0)
        chi2 = total * gap**2 / (r1 * r2 * c1 * c2)
    use_fisher = ~degenerate & (min_expected < MIN_EXPECTED_FOR_CHI2)
    use_chi2 = ~degenerate & ~use_fisher
    p[use_chi2] = stats.chi2.sf(chi2[use_chi2], 1)
    if use_fisher.any():
        p[use_fisher] = fisher_exact_two_sided(x1[use_fisher], n1[use_fisher], x2[use_fisher],
                                               n2[use_fisher])
    return np.clip(p, 0.0, 1.0), use_fisher


def fisher_exact_two_sided(x1: Any, n1: Any, x2: Any, n2: Any) -> np.ndarray:
    """Two-sided Fisher exact p-values for many 2x2 tables, vectorised.

    Parameters
    ----------
    x1, n1, x2, n2 : array_like of int
        Successes and trials of the two groups of each table; every table must have
        non-empty rows and columns.

    Returns
    -------
    ndarray of float64
        ``scipy.stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue`` per table.

    Notes
    -----
    Given the margins, the first group's success count ``k`` is hypergeometric; the
    two-sided p-value is the total probability of the tables no more likely than the
    observed one (the definition scipy and R use). All tables' supports are laid end to end
    in one flat array (in bounded chunks) and the log-pmf is evaluated there with the
    ``betaln`` form scipy's ``hypergeom.logpmf`` uses, which is accurate for large margins
    and far faster than one ``fisher_exact`` call per table.

    Each support is cut to ``mode +/- (2 |x - mode| + 12 sd + 50)``: beyond that window the
    terms are below about 1e-30 of the largest one, far under any p-value that could matter
    to a decision.
    """
    from scipy import special

    x1 = np.asarray(x1).astype(np.int64)
    n1 = np.asarray(n1)
    n2 = np.asarray(n2)
    x2 = np.asarray(x2)
    total = (n1 + n2).astype(np.int64)
    good = (x1 + x2).astype(np.int64)  # successes in the whole table
    draws = n1.astype(np.int64)
    bad = total - good
    lo = np.maximum(0, draws - bad)
    hi = np.minimum(draws, good)
    mode = ((draws + 1) * (good + 1)) // (total + 2)
    frac_good = good / total
    var = draws * frac_good * (1.0 - frac_good) * (total - draws) / np.maximum(total - 1, 1)
    reach = np.ceil(2.0 * np.abs(x1 - mode) + 12.0 * np.sqrt(var) + 50.0).astype(np.int64)
    start = np.maximum(lo, mode - reach)
    stop = np.minimum(hi, mode + reach)
    lengths = stop - start + 1
    constant = (
        special.betaln(good + 1, 1) + special.betaln(bad + 1, 1)
        + special.betaln(total - draws + 1, draws + 1) - special.betaln(total + 1, 1)
    )

    def logpmf(k: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        g, b, d = good[rows], bad[rows], draws[rows]
        return (constant[rows] - special.betaln(k + 1, g - k + 1)
                - special.betaln(d - k + 1, b - d + k + 1))

    # Probabilities equal up to rounding count as "as extreme" (R's tolerance).
    log_threshold = logpmf(x1, slice(None)) + math.log1p(1e-7)
    out = np.empty(x1.size, dtype=np.float64)
    first = 0
    while first < x1.size:
        cum = np.cumsum(lengths[first:])
        last = first + max(1, int(np.searchsorted(cum, _FISHER_CHUNK, side="right")))
        rows = np.repeat(np.arange(first, last), lengths[first:last])
        offsets = np.repeat(cum[: last - first] - lengths[first:last], lengths[first:last])
        k = start[rows] + (np.arange(rows.size) - offsets)
        logp = logpmf(k, rows)
        weights = np.where(logp <= log_threshold[rows], np.exp(logp), 0.0)
        out[first:last] = np.bincount(rows - first, weights=weights, minlength=last - first)
        first = last
    return np.minimum(out, 1.0)


_erfc = np.frompyfunc(math.erfc, 1, 1)


def normal_cdf(z: Any) -> np.ndarray:
    """Standard normal distribution function, elementwise.

    The standard library's ``math.erfc`` (``Phi(z) = erfc(-z / sqrt 2) / 2``),
    accurate to a few units in the last place, also deep in the lower tail; it
    equals ``scipy.stats.norm.cdf`` to that precision. The annotator review
    tests a few hundred annotators, where importing ``scipy.special`` would
    cost far more than the arithmetic (a fifth of the whole command at a
    million annotations).

    Parameters
    ----------
    z : array_like of float
        NaN gives NaN.

    Returns
    -------
    numpy.ndarray of float64

    Examples
    --------
    >>> normal_cdf([0.0, -1.959963984540054]).round(6).tolist()
    [0.5, 0.025]
    """
    z = np.asarray(z, dtype=np.float64)
    return np.asarray(0.5 * _erfc(-z / math.sqrt(2.0)), dtype=np.float64)


def chi2_sf(x: Any, df: Any) -> np.ndarray:
    """Upper tail ``P(X >= x)`` of the chi-square distribution with whole degrees of freedom.

    For whole ``df`` the regularised upper incomplete gamma function has a
    finite series: with ``y = x / 2``, ``exp(-y) * sum_{i < df/2} y**i / i!``
    for even ``df``, and ``erfc(sqrt(y)) + exp(-y) * sum_{i < (df-1)/2}
    y**(i + 1/2) / Gamma(i + 3/2)`` for odd ``df``. Every term is positive, so
    the sum loses no precision in the tail, where p-values are decided; each
    term is formed in logarithms so that large ``x`` does not overflow. It
    equals ``scipy.stats.chi2.sf(x, df)`` (tested to a relative 1e-10) without
    importing scipy (see :func:`normal_cdf`).

    Parameters
    ----------
    x : array_like of float
        Statistics (non-negative; NaN gives NaN).
    df : array_like of int
        Degrees of freedom, at least 1; broadcast with ``x``.

    Returns
    -------
    numpy.ndarray of float64

    Examples
    --------
    >>> chi2_sf([3.841458820694124, 5.991464547107979], [1, 2]).round(6).tolist()
    [0.05, 0.05]
    """
    x, df = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(df))
    if df.size and (np.any(df < 1) or np.any(df != np.round(df))):
        raise ValueError("chi2_sf needs whole degrees of freedom of at least 1")
    shape = x.shape
    x = x.ravel()
    df = df.ravel().astype(np.int64)
    y = np.maximum(x, 0.0) / 2.0
    odd = df % 2 == 1
    shift = np.where(odd, 0.5, 0.0)
    n_terms = df // 2  # terms of the finite sum (odd df: beside the erfc part)
    out = np.where(odd, np.asarray(_erfc(np.sqrt(y)), dtype=np.float64), 0.0)
    width = int(n_terms.max()) if n_terms.size else 0
    if width:
        i = np.arange(width, dtype=np.float64)
        power = i[None, :] + shift[:, None]
        # log Gamma(power + 1) takes one of two rows of values (whole or half powers).
        lgamma = np.vectorize(math.lgamma, otypes=[np.float64])
        lgam = np.where(odd[:, None], lgamma(i + 1.5)[None, :], lgamma(i + 1.0)[None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            log_y = np.log(y)[:, None]
            log_terms = -y[:, None] + np.where(power > 0, power * log_y, 0.0) - lgam
        terms = np.where(i[None, :] < n_terms[:, None], np.exp(log_terms), 0.0)
        out = out + terms.sum(axis=1)
    out = np.where(x <= 0, 1.0, np.minimum(out, 1.0))
    return np.where(np.isnan(x), np.nan, out).reshape(shape)


def two_proportion_z_less(x1: Any, n1: Any, x2: Any, n2: Any) -> np.ndarray:
    """One-sided pooled two-proportion z-test of H1: ``p1 < p2``.

    Parameters
    ----------
    x1, n1, x2, n2 : array_like
        Successes and trials of the two groups (broadcast together).

    Returns
    -------
    ndarray of float64
        P-values, equal to statsmodels
        ``proportions_ztest([x1, x2], [n1, n2], alternative="smaller")[1]`` (the pooled
        z-test). 1 when both groups have the same extreme rate (zero
        variance); NaN when a group is empty.

    Examples
    --------
    >>> round(float(two_proportion_z_less(10, 100, 30, 100)), 6)
    0.000203
    """
    x1, n1, x2, n2 = (np.asarray(v, dtype=np.float64) for v in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (x1 / n1 - x2 / n2) / se
        p = normal_cdf(z)
    p = np.where((n1 > 0) & (n2 > 0) & (se == 0), 1.0, p)
    return np.where((n1 > 0) & (n2 > 0), p, np.nan)


def chi_square_homogeneity(own: np.ndarray, peers: np.ndarray) -> np.ndarray:
    """Row-wise chi-square homogeneity p-value of 2 x K tables (``own`` vs ``peers``).

    Parameters
    ----------
    own, peers : ndarray of shape (n_tables, K)
        The two rows of each table (counts).

    Returns
    -------
    ndarray of shape (n_tables,)
        ``scipy.stats.chi2_contingency([own[i], peers[i]], correction=False).pvalue`` with
        the columns that are empty in both rows dropped; NaN when a row is empty or fewer
        than two columns remain.
    """
    own = np.asarray(own, dtype=np.float64)
    peers = np.asarray(peers, dtype=np.float64)
    col = own + peers
    used = col > 0
    n_own, n_peers = own.sum(axis=1), peers.sum(axis=1)
    total = n_own + n_peers
    with np.errstate(invalid="ignore", divide="ignore"):
        e_own = n_own[:, None] * col / total[:, None]
        e_peers = n_peers[:, None] * col / total[:, None]
        terms = np.where(used, (own - e_own) ** 2 / e_own + (peers - e_peers) ** 2 / e_peers, 0.0)
    stat = terms.sum(axis=1)
    dof = used.sum(axis=1) - 1
    p = chi2_sf(stat, np.maximum(dof, 1))
    return np.where((dof >= 1) & (n_own > 0) & (n_peers > 0), p, np.nan)
