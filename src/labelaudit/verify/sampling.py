"""Stratified review samples drawn from a finished audit.

A model-only noise estimate cannot see the errors a model has learned, so the
honest figure comes from people reviewing a sample. This module draws that
sample: items are stratified by what the audit already knows (flagged or not,
and how low the given label's quality is), and reviews are spent where they
reduce the variance of the noise-rate estimate most (Neyman allocation with
per-stratum error rates anticipated from the audit's own scores).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from .._display import ResultTables, short_repr
from ..exceptions import InputError, LabelAuditError

__all__ = [
    "ISSUES_COLUMNS",
    "ReviewSample",
    "allocate",
    "anticipated_error_probabilities",
    "anticipated_half_width",
    "check_drawn_from",
    "make_strata",
    "prior_shift_error_probabilities",
    "review_sample",
    "size_for_half_width",
]

#: Columns of the audit's issues table the sampler reads.
ISSUES_COLUMNS = ("id", "given_label", "suggested_label", "label_quality", "is_issue")

#: Smallest number of reviewed items in every stratum (a variance needs two).
MIN_PER_STRATUM = 2

#: Anticipated per-stratum error rates are kept inside [floor, 1 - floor]: a
#: stratum the model believes spotless still gets reviews in proportion to a
#: small but non-zero rate, because the model is blind to the errors it learned.
RATE_FLOOR = 0.01

_Z95 = 1.959963984540054

#: Strata among issues, unflagged items the model suggests another class for, and the rest.
DEFAULT_STRATA = (2, 2, 3)


@dataclass(frozen=True, repr=False)
class ReviewSample(ResultTables):
    """A drawn review sample and the design that produced it.

    ``repr()`` is one line; :meth:`summary` a dict; :meth:`to_polars` /
    :meth:`to_pandas` return the ``"design"`` (default), ``"strata"`` and
    ``"class_counts"`` tables.

    Attributes
    ----------
    design : polars.DataFrame
        One row per sampled item, in the (shuffled) order shown to reviewers:
        ``id``, ``given_label``, ``suggested_label``, ``label_quality``,
        ``is_issue``, ``stratum``, ``stratum_size``, ``inclusion_probability``.
    strata : polars.DataFrame
        One row per stratum: ``stratum``, ``is_issue`` (every item of the
        stratum is flagged), ``n_issues`` (how many are: a simple random sample's
        one stratum holds both kinds), ``quality_low``, ``quality_high``,
        ``n_items``, ``n_sampled``, ``anticipated_rate``.
    class_counts : polars.DataFrame
        Items per stratum and given class (``stratum``, ``given_label``,
        ``n_items``), for per-class estimates.
    class_names : tuple of str
        Classes of the audit, in order.
    seed : int
        Seed of the draw.
    parameters : dict
        How the sample was sized and drawn.
    """

    design: pl.DataFrame
    strata: pl.DataFrame
    class_counts: pl.DataFrame
    class_names: tuple[str, ...]
    seed: int
    parameters: dict[str, Any] = field(default_factory=dict)

    _TABLES = ("design", "strata", "class_counts")

    def __repr__(self) -> str:
        return short_repr(self, {
            "size": self.size,
            "n_items": self.n_items,
            "n_strata": self.strata.height,
            "seed": self.seed,
            "anticipated_half_width": self.parameters.get("anticipated_half_width"),
        })

    def summary(self) -> dict[str, Any]:
        """The sample in brief, as a dict of plain Python values.

        Returns
        -------
        dict
            ``size``, ``n_items``, ``n_strata``, ``seed`` and
            ``anticipated_half_width`` (of the 95% interval, None when not
            computed).
        """
        return {
            "size": int(self.size),
            "n_items": int(self.n_items),
            "n_strata": int(self.strata.height),
            "seed": int(self.seed),
            "anticipated_half_width": self.parameters.get("anticipated_half_width"),
        }

    @property
    def n_items(self) -> int:
        """Items in the audited population."""
        return int(self.strata.get_column("n_items").sum())

    @property
    def size(self) -> int:
        """Items in the sample."""
        return self.design.height

    def reviewer_table(
        self,
        data: pl.DataFrame | None = None,
        *,
        show_suggestion: bool = False,
    ) -> pl.DataFrame:
        """The table reviewers fill in, free of anything that would prime them.

        Parameters
        ----------
        data : polars.DataFrame, optional
            The item's data columns (text, image path, ...) keyed by an ``id``
            column matching the audit's ids; they are added after ``id``.
        show_suggestion : bool, default False
            Add the model's ``suggested_label``. Off by default: a reviewer
            who sees the model's guess tends to agree with it.

        Returns
        -------
        polars.DataFrame
            ``id``, the data columns, ``given_label``, (``suggested_label``),
            and an empty ``reviewed_label`` column; in the design's shuffled
            order. Stratum, score and flag are never included.
        """
        table = self.design.select("id", "given_label")
        if data is not None:
            table = _add_data_columns(table, data)
        cols = [c for c in table.columns if c not in ("id", "given_label")]
        parts = [pl.col("id"), *[pl.col(c) for c in cols], pl.col("given_label")]
        if show_suggestion:
            table = table.with_columns(self.design.get_column("suggested_label"))
            parts.append(pl.col("suggested_label"))
        return table.select(parts).with_columns(
            pl.lit(None, dtype=pl.String).alias("reviewed_label")
        )

    def label_studio_tasks(
        self,
        data: pl.DataFrame | None = None,
        *,
        show_suggestion: bool = False,
    ) -> list[dict[str, Any]]:
        """A Label Studio import of the same items (one task per item).

        Each task's ``data`` holds the item ``id``, its data columns and
        ``given_label``, and the id again under
        :data:`labelaudit.io.label_studio.ITEM_ID_FIELD`, so an export of the
        reviewed tasks (JSON, JSON_MIN or CSV) carries the id back to
        :func:`verify_reviews`. With ``show_suggestion`` the model's
        suggested label is a pre-annotation (``predictions``) scored by one
        minus the given label's quality.

        Parameters
        ----------
        data, show_suggestion
            As in :meth:`reviewer_table`.

        Returns
        -------
        list of dict
            ``[{"data": {...}}, ...]`` in the reviewers' order.
        """
        from ..io import label_studio_tasks

        table = self.reviewer_table(data).drop("reviewed_label")
        if not show_suggestion:
            return label_studio_tasks(table)
        table = table.with_columns(
            self.design.get_column("suggested_label").alias("_suggested"),
            (1.0 - self.design.get_column("label_quality")).alias("_score"),
        )
        return label_studio_tasks(table, suggested_col="_suggested", score_col="_score")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description of the design (for summaries).

        Returns
        -------
        dict
            ``seed``, ``n_items``, ``size``, ``parameters`` and ``strata``.
        """
        return {
            "seed": self.seed,
            "n_items": self.n_items,
            "size": self.size,
            "parameters": dict(self.parameters),
            "strata": self.strata.to_dicts(),
        }


def _add_data_columns(table: pl.DataFrame, data: pl.DataFrame) -> pl.DataFrame:
    """Join the item data on ``id`` (as text, so an int id matches a string id)."""
    if "id" not in data.columns:
        raise InputError("item data: needs an 'id' column matching the audit's ids")
    keep = [c for c in data.columns if c not in ("given_label", "reviewed_label",
                                                 "suggested_label")]
    data = data.select(keep).with_columns(pl.col("id").cast(pl.String).alias("_key"))
    if data.get_column("_key").is_duplicated().any():
        raise InputError("item data: column 'id' has duplicate values")
    keyed = table.with_columns(pl.col("id").cast(pl.String).alias("_key"))
    absent = ~keyed.get_column("_key").is_in(data.get_column("_key").implode())
    if absent.any():
        first = keyed.get_column("id").filter(absent)[0]
        raise InputError(
            f"item data: {int(absent.sum())} of {table.height} sampled ids are not in its "
            f"'id' column (first: {first!r}); give the data file the audit read (and its "
            "id column)"
        )
    return keyed.join(data.drop("id"), on="_key", how="left", maintain_order="left").drop("_key")


# --------------------------------------------------------------------------- strata


def _issues_frame(issues: Any) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """The issues table (from an AuditResult or a DataFrame) and the class names."""
    names: tuple[str, ...] | None = None
    if hasattr(issues, "issues") and hasattr(issues, "class_names"):
        names = tuple(str(c) for c in issues.class_names)
        issues = issues.issues
    if not isinstance(issues, pl.DataFrame):
        raise InputError(
            f"issues: expected an AuditResult or a polars DataFrame, got {type(issues).__name__}"
        )
    missing = [c for c in ISSUES_COLUMNS if c not in issues.columns]
    if missing:
        raise InputError(
            f"issues table: missing column(s) {', '.join(map(repr, missing))}; expected the "
            "issues.parquet of a finished audit"
        )
    if issues.height < 2:
        raise InputError(f"issues table: needs at least 2 items, got {issues.height}")
    q = issues.get_column("label_quality")
    if q.null_count() or not q.is_finite().all() or q.min() < 0 or q.max() > 1:
        raise InputError("issues table: column 'label_quality' must hold numbers in [0, 1]")
    if issues.get_column("id").is_duplicated().any():
        raise InputError("issues table: column 'id' has duplicate values")
    if names is None:
        names = tuple(sorted(issues.get_column("given_label").cast(pl.String).unique().to_list()))
    return issues, names


def _strata_counts(strata: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(strata, int | np.integer) and not isinstance(strata, bool):
        if strata == 1:
            return (1,)
        raise LabelAuditError(
            f"strata: expected 1 (a simple random sample) or three positive counts (issues, "
            f"unflagged items the model suggests another class for, the rest), got {strata!r}"
        )
    counts = tuple(int(s) for s in strata)
    if len(counts) != 3 or min(counts) < 1:
        raise LabelAuditError(
            f"strata: expected three positive counts (issues, unflagged items the model "
            f"suggests another class for, the rest), got {strata!r}"
        )
    return counts


def make_strata(issues: Any, strata: int | Sequence[int] = DEFAULT_STRATA) -> np.ndarray:
    """Stratum of every row of an issues table.

    Three groups are stratified separately: the flagged items; the unflagged
    items whose suggested label differs from the given one; and the rest
    (the model agrees with the given label). Each group is split into
    equal-count strata of increasing label quality (ties broken by row order,
    so the split is deterministic). Stratum numbers run from the
    lowest-quality issues (0) to the highest-quality agreeing items.

    Parameters
    ----------
    issues : AuditResult or polars.DataFrame
        A finished audit, or its issues table.
    strata : 1 or (int, int, int), default (2, 2, 3)
        Strata in each of the three groups; ``1`` puts every item in one
        stratum (a simple random sample). A group with fewer items than
        strata gets fewer strata; an empty group none.

    Returns
    -------
    numpy.ndarray of int64, shape (n_items,)
        Stratum numbers ``0..S-1`` (consecutive, every one non-empty).

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"id": [0, 1, 2, 3, 4], "given_label": ["a"] * 5,
    ...                   "suggested_label": ["b", "a", "a", "b", "b"],
    ...                   "label_quality": [0.1, 0.9, 0.8, 0.2, 0.4],
    ...                   "is_issue": [True, False, False, True, False]})
    >>> make_strata(t, (1, 1, 2)).tolist()
    [0, 3, 2, 0, 1]
    """
    table, _ = _issues_frame(issues)
    counts = _strata_counts(strata)
    if counts == (1,):
        return np.zeros(table.height, dtype=np.int64)
    quality = table.get_column("label_quality").to_numpy()
    flagged = table.get_column("is_issue").to_numpy().astype(bool)
    agree = (
        table.get_column("suggested_label").cast(pl.String)
        == table.get_column("given_label").cast(pl.String)
    ).to_numpy()
    out = np.empty(table.height, dtype=np.int64)
    next_id = 0
    for mask, k in zip((flagged, ~flagged & ~agree, ~flagged & agree), counts, strict=True):
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            continue
        order = rows[np.lexsort((rows, quality[rows]))]
        k = min(k, rows.size)
        for chunk in np.array_split(order, k):
            out[chunk] = next_id
            next_id += 1
    return out


def anticipated_error_probabilities(quality: np.ndarray, n_issues: int) -> tuple[np.ndarray, float]:
    """Per-item error probabilities anticipated from the label quality.

    ``1 - label_quality`` is the model's probability that the given label is
    wrong, but out-of-sample probabilities of a model trained on noisy labels
    are soft: they spread mass over other classes for items whose label is
    right, so ``1 - q`` overstates the errors among confident-looking items
    many times over. The anticipation is therefore calibrated on the audit's
    own count of issues: ``(1 - q) ** gamma`` with ``gamma`` chosen so that the
    anticipated errors add up to the number of flagged items (``gamma = 1``
    when nothing is flagged). Only the allocation uses it; the estimate stays
    design-based, so a poor anticipation costs precision, never validity.

    Parameters
    ----------
    quality : array of float
        Label quality in [0, 1].
    n_issues : int
        Items the audit flagged.

    Returns
    -------
    (probabilities, gamma) : (numpy.ndarray, float)

    Examples
    --------
    >>> p, g = anticipated_error_probabilities(np.array([0.1, 0.5, 0.9, 0.95]), 1)
    >>> round(float(p.sum()), 6), g > 1
    (1.0, True)
    """
    miss = 1.0 - np.asarray(quality, dtype=np.float64)
    if n_issues <= 0 or miss.sum() <= n_issues:
        return miss, 1.0
    lo, hi = 0.0, 7.0  # bisection on log(gamma): gamma in [1, e^7]
    if np.power(miss, math.exp(hi)).sum() > n_issues:
        gamma = math.exp(hi)
        return np.power(miss, gamma), gamma
    for _ in range(60):  # the anticipated total decreases as gamma grows
        mid = (lo + hi) / 2
        if np.power(miss, math.exp(mid)).sum() > n_issues:
            lo = mid
        else:
            hi = mid
    gamma = math.exp((lo + hi) / 2)
    return np.power(miss, gamma), gamma


def prior_shift_error_probabilities(quality: np.ndarray, n_issues: int) -> np.ndarray:
    """Per-item error probabilities: the model's odds of a wrong label, shifted to the issue count.

    A second anticipation beside :func:`anticipated_error_probabilities`,
    less concentrated. The model's odds that item ``i``'s label is wrong,
    ``(1 - q_i) / q_i``, are multiplied by one factor for all items, chosen so
    that the anticipated errors add up to the number of flagged items: the
    classical correction of a classifier's probabilities for a change of the
    base rate (Saerens, Latinne and Decaestecker, 2002). The order of the
    items is kept, and so are near-ties: an item the model splits evenly
    between its label and another class keeps a rate well above the
    confident items' (a power of ``1 - q``, the other anticipation, drives
    it towards 0). Models learn some of the wrong labels in their training
    data and are then confidently wrong about them, which this anticipation
    allows for and the power one rules out.

    Parameters
    ----------
    quality : array of float
        Label quality in [0, 1].
    n_issues : int
        Items the audit flagged. With none flagged (or all), the model's own
        ``1 - q`` is returned.

    Returns
    -------
    numpy.ndarray of float64

    Examples
    --------
    >>> p = prior_shift_error_probabilities(np.array([0.1, 0.5, 0.9, 0.95]), 1)
    >>> round(float(p.sum()), 6), bool(p[1] > p[2] > p[3])
    (1.0, True)
    """
    q = np.clip(np.asarray(quality, dtype=np.float64), 1e-12, 1 - 1e-12)
    miss = 1.0 - np.asarray(quality, dtype=np.float64)
    if n_issues <= 0 or n_issues >= q.size:
        return miss
    log_odds = np.log1p(-q) - np.log(q)

    def total(shift: float) -> float:
        return float((0.5 * (1 + np.tanh(0.5 * (log_odds + shift)))).sum())  # stable logistic

    lo, hi = -60.0, 60.0  # the anticipated total grows with the shift
    for _ in range(100):
        mid = (lo + hi) / 2
        if total(mid) > n_issues:
            hi = mid
        else:
            lo = mid
    return 0.5 * (1 + np.tanh(0.5 * (log_odds + (lo + hi) / 2)))


# --------------------------------------------------------------------------- allocation


def allocate(
    sizes: np.ndarray, rates: np.ndarray, n: int, *, minimum: int = MIN_PER_STRATUM
) -> np.ndarray:
    """Neyman allocation of ``n`` reviews over strata, at least ``minimum`` each.

    Minimises the variance of the stratified noise-rate estimate,
    ``sum_h W_h^2 p_h (1 - p_h) / n_h``, for anticipated rates ``p_h``: the
    share of stratum ``h`` is proportional to ``N_h sqrt(p_h (1 - p_h))``.
    Every stratum gets at least ``min(minimum, N_h)`` reviews and at most
    ``N_h``; integer counts by largest remainders (ties to the lower stratum).

    Parameters
    ----------
    sizes : array of int, shape (S,)
        Stratum sizes ``N_h``.
    rates : array of float, shape (S,)
        Anticipated error rates ``p_h``.
    n : int
        Total reviews; at least ``sum(min(minimum, N_h))`` and at most ``sum(N_h)``.
    minimum : int, default 2
        Floor per stratum.

    Returns
    -------
    numpy.ndarray of int64, shape (S,)

    Examples
    --------
    >>> allocate(np.array([100, 900]), np.array([0.5, 0.05]), 40).tolist()
    [8, 32]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    rates = np.clip(np.asarray(rates, dtype=np.float64), RATE_FLOOR, 1 - RATE_FLOOR)
    floor = np.minimum(minimum, sizes)
    if not floor.sum() <= n <= sizes.sum():
        raise LabelAuditError(
            f"size: must be between {int(floor.sum())} ({minimum} per stratum) and the "
            f"{int(sizes.sum())} audited items, got {n}"
        )
    weight = sizes * np.sqrt(rates * (1 - rates))
    alloc = floor.copy()
    # Water-filling: strata whose Neyman share exceeds their size are capped and
    # the rest redistributed; strata below the floor keep the floor.
    fixed = np.zeros(sizes.size, dtype=bool)
    for _ in range(sizes.size + 1):
        free = ~fixed
        budget = n - alloc[fixed].sum()
        share = np.zeros(sizes.size)
        share[free] = budget * weight[free] / max(weight[free].sum(), 1e-300)
        over = free & (share > sizes)
        under = free & (share < floor)
        if not over.any() and not under.any():
            break
        alloc[over] = sizes[over]
        alloc[under] = floor[under]
        fixed |= over | under
    target = np.where(fixed, alloc, share)
    base = np.where(fixed, alloc, np.floor(target)).astype(np.int64)
    rest = n - base.sum()
    if rest > 0:
        frac = np.where(fixed | (base >= sizes), -1.0, target - base)
        for h in np.argsort(-frac, kind="stable")[:rest]:
            base[h] += 1
    return base


def _variance(sizes: np.ndarray, rates: np.ndarray, alloc: np.ndarray) -> float:
    """Anticipated variance of the stratified rate, with finite-population correction."""
    N = sizes.sum()
    w = sizes / N
    p = np.clip(rates, RATE_FLOOR, 1 - RATE_FLOOR)
    fpc = np.where(sizes > 1, (sizes - alloc) / np.maximum(sizes - 1, 1), 0.0)
    return float(np.sum(w**2 * p * (1 - p) / np.maximum(alloc, 1) * fpc))


def anticipated_half_width(
    sizes: np.ndarray, rates: np.ndarray, n: int, *, confidence: float = 0.95
) -> float:
    """Half-width of the noise-rate interval expected with ``n`` reviews.

    Normal approximation under the anticipated rates with the Neyman
    allocation of :func:`allocate`.

    Parameters
    ----------
    sizes, rates : arrays of shape (S,)
        Stratum sizes and anticipated error rates.
    n : int
        Total reviews.
    confidence : float, default 0.95

    Returns
    -------
    float
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return z * math.sqrt(_variance(sizes, rates, allocate(sizes, rates, n)))


def size_for_half_width(
    sizes: np.ndarray, rates: np.ndarray, half_width: float, *, confidence: float = 0.95
) -> int:
    """Smallest sample whose anticipated interval half-width is at most ``half_width``.

    Parameters
    ----------
    sizes, rates : arrays of shape (S,)
        Stratum sizes and anticipated error rates.
    half_width : float
        Target half-width, in (0, 0.5].
    confidence : float, default 0.95

    Returns
    -------
    int
        Between the floor of :func:`allocate` and the number of items.
    """
    if not (isinstance(half_width, int | float) and 0 < half_width <= 0.5):
        raise LabelAuditError(f"half_width: must be in (0, 0.5], got {half_width!r}")
    sizes = np.asarray(sizes, dtype=np.int64)
    lo = int(np.minimum(MIN_PER_STRATUM, sizes).sum())
    hi = int(sizes.sum())
    if anticipated_half_width(sizes, rates, lo, confidence=confidence) <= half_width:
        return lo
    while hi - lo > 1:  # the half-width decreases with n
        mid = (lo + hi) // 2
        if anticipated_half_width(sizes, rates, mid, confidence=confidence) <= half_width:
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------- the draw


def review_sample(
    issues: Any,
    *,
    size: int | None = None,
    seed: int = 0,
    half_width: float | None = None,
    strata: int | Sequence[int] = DEFAULT_STRATA,
    confidence: float = 0.95,
    allocation: np.ndarray | Sequence[int] | None = None,
) -> ReviewSample:
    """Draw a stratified review sample from a finished audit.

    Strata come from the audit's scores (see :func:`make_strata`): flagged
    and unflagged items both, by label-quality quantiles. Each stratum's
    error rate is anticipated from its items' label quality (see
    :func:`anticipated_error_probabilities`; kept within ``[0.01, 0.99]``), and the reviews are allocated by
    Neyman's rule, which minimises the variance of the stratified noise-rate
    estimate under those rates (see :func:`allocate`); every stratum gets at
    least 2. Items are drawn without replacement inside each stratum and the
    sample is shuffled, all from one ``numpy.random.Generator`` seeded by
    ``seed``.

    A poor anticipation only costs precision: the estimate and interval of
    :func:`labelaudit.verify.verify_reviews` are design-based and stay valid
    whatever the true per-stratum rates are.

    Parameters
    ----------
    issues : AuditResult or polars.DataFrame
        A finished audit, or its issues table (``id``, ``given_label``,
        ``suggested_label``, ``label_quality``, ``is_issue``).
    size : int, optional
        Number of items to review. Give exactly one of ``size``,
        ``half_width`` and ``allocation``.
    seed : int, default 0
        Seed of the draw: the same seed gives the same sample.
    half_width : float, optional
        Size the sample so that the anticipated interval half-width (at
        ``confidence``) is at most this.
    strata : 1 or (int, int, int), default (2, 2, 3)
        Strata among the issues, the unflagged items the model suggests
        another class for, and the rest (see :func:`make_strata`); ``1`` draws
        a simple random sample.
    confidence : float, default 0.95
        Confidence used with ``half_width``.
    allocation : sequence of int, optional
        Reviews per stratum, fixed by an acceptance plan
        (:func:`labelaudit.verify.stratified_plan`).

    Returns
    -------
    ReviewSample

    Raises
    ------
    InputError
        If the issues table lacks a column or holds unusable scores.
    LabelAuditError
        If the size is out of range or the options conflict.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> rng = np.random.default_rng(0)
    >>> q = rng.uniform(size=1000)
    >>> t = pl.DataFrame({"id": np.arange(1000), "given_label": ["a"] * 1000,
    ...                   "suggested_label": np.where(q > 0.5, "a", "b"),
    ...                   "label_quality": q, "is_issue": q < 0.1})
    >>> s = review_sample(t, size=60, seed=1)
    >>> s.size, s.strata.height
    (60, 7)
    """
    table, names = _issues_frame(issues)
    given = sum(x is not None for x in (size, half_width, allocation))
    if given != 1:
        raise LabelAuditError("review_sample: give exactly one of size, half_width, allocation")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise LabelAuditError(f"seed: must be a non-negative integer, got {seed!r}")
    stratum = make_strata(table, strata)
    n_strata = int(stratum.max()) + 1
    quality = table.get_column("label_quality").to_numpy().astype(np.float64)
    flagged = table.get_column("is_issue").to_numpy().astype(bool)
    sizes = np.bincount(stratum, minlength=n_strata).astype(np.int64)
    per_item, gamma = anticipated_error_probabilities(quality, int(flagged.sum()))
    rates = np.bincount(stratum, weights=per_item, minlength=n_strata) / sizes
    if allocation is not None:
        alloc = np.asarray(allocation, dtype=np.int64)
        if alloc.shape != sizes.shape or (alloc < 1).any() or (alloc > sizes).any():
            raise LabelAuditError(
                f"allocation: expected {n_strata} counts between 1 and the stratum sizes "
                f"{sizes.tolist()}, got {list(map(int, alloc))}"
            )
        how = "plan"
    else:
        if half_width is not None:
            size = size_for_half_width(sizes, rates, half_width, confidence=confidence)
            how = "half_width"
        else:
            how = "size"
        if not isinstance(size, int | np.integer) or isinstance(size, bool):
            raise LabelAuditError(f"size: must be an integer, got {size!r}")
        alloc = allocate(sizes, rates, int(size))
    rng = np.random.default_rng(seed)
    picked = []
    for h in range(n_strata):
        rows = np.flatnonzero(stratum == h)
        picked.append(np.sort(rng.choice(rows, size=int(alloc[h]), replace=False)))
    rows = np.concatenate(picked)
    rows = rows[rng.permutation(rows.size)]
    incl = alloc / sizes
    design = table.select(list(ISSUES_COLUMNS))[rows].with_columns(
        pl.Series("stratum", stratum[rows]),
        pl.Series("stratum_size", sizes[stratum[rows]]),
        pl.Series("inclusion_probability", incl[stratum[rows]]),
    )
    low = np.array([quality[stratum == h].min() for h in range(n_strata)])
    high = np.array([quality[stratum == h].max() for h in range(n_strata)])
    n_issues = np.bincount(stratum, weights=flagged, minlength=n_strata).astype(np.int64)
    strata_table = pl.DataFrame(
        {
            "stratum": np.arange(n_strata, dtype=np.int64),
            "is_issue": n_issues == sizes,
            "n_issues": n_issues,
            "quality_low": low,
            "quality_high": high,
            "n_items": sizes,
            "n_sampled": alloc,
            "anticipated_rate": rates,
        }
    )
    class_counts = (
        pl.DataFrame({"stratum": stratum, "given_label": table.get_column("given_label")
                      .cast(pl.String)})
        .group_by("stratum", "given_label")
        .len(name="n_items")
        .sort("stratum", "given_label")
        .with_columns(pl.col("n_items").cast(pl.Int64))
    )
    params = {
        "sized_by": how,
        "size": int(alloc.sum()),
        "half_width": half_width,
        "confidence": confidence,
        "strata": list(_strata_counts(strata)),
        "allocation": "neyman" if allocation is None else "plan",
        "anticipation": "mean of (1 - label_quality) ** gamma per stratum, gamma calibrated "
        "to the audit's issue count",
        "gamma": gamma,
        "rate_floor": RATE_FLOOR,
        "min_per_stratum": MIN_PER_STRATUM,
        "anticipated_half_width": math.sqrt(_variance(sizes, rates, alloc)) * _Z95,
    }
    return ReviewSample(design, strata_table, class_counts, names, int(seed), params)


def check_drawn_from(sample: ReviewSample, issues: Any, *, source: str = "review sample") -> None:
    """Refuse a sample that was not drawn from this audit's issues table.

    A sample records, for each item it drew, the audit's given label, label
    quality and flag, and the size of every stratum. Verifying it against
    another audit (or a later run of the same one with other probabilities)
    would weight the reviews by strata that no longer exist, so any
    difference is an error (label qualities may differ by up to 1e-4, far more
    than a refit of the same model on other hardware changes and far less than
    other probabilities do).

    Parameters
    ----------
    sample : ReviewSample
        The sample (as drawn, or read back by ``load_sample``).
    issues : polars.DataFrame
        The audit's issues table (``id``, ``given_label``, ``label_quality``,
        ``is_issue``).
    source : str, default "review sample"
        Name of the sample, for the message.

    Raises
    ------
    InputError
        Naming the first item (or the item count) that differs.

    Examples
    --------
    >>> t = pl.DataFrame({"id": np.arange(200), "given_label": ["a"] * 200,
    ...                   "suggested_label": ["b"] * 200,
    ...                   "label_quality": np.linspace(0, 1, 200), "is_issue": np.arange(200) < 20})
    >>> s = review_sample(t, size=30, seed=0)
    >>> check_drawn_from(s, t)
    >>> check_drawn_from(s, t.with_columns(is_issue=~pl.col("is_issue")))
    Traceback (most recent call last):
    ...
    labelaudit.exceptions.InputError: review sample: item 69 is not flagged in the sample but flagged in this audit; ...
    """
    table, _ = _issues_frame(issues)
    advice = ("the sample was drawn from another audit, or from an earlier run of this one; "
              "draw a new sample from this audit")
    if sample.n_items != table.height:
        raise InputError(f"{source}: drawn from {sample.n_items} items, but this audit has "
                         f"{table.height}; {advice}")
    design = sample.design.select(
        pl.col("id").cast(pl.String).alias("_key"), "id", "given_label", "label_quality",
        "is_issue",
    )
    audit = table.select(
        pl.col("id").cast(pl.String).alias("_key"),
        pl.col("given_label").alias("_given"), pl.col("label_quality").alias("_quality"),
        pl.col("is_issue").alias("_flag"),
    ).unique("_key", keep="first")
    joined = design.join(audit, on="_key", how="left", maintain_order="left")
    checks = (
        (pl.col("_flag").is_null(), "{id!r} is in the sample but not in this audit"),
        (pl.col("is_issue").cast(pl.Boolean) != pl.col("_flag").cast(pl.Boolean),
         "{id!r} is {a} in the sample but {b} in this audit"),
        (pl.col("given_label").cast(pl.String) != pl.col("_given").cast(pl.String),
         "{id!r} has given label {g!r} in the sample but {h!r} in this audit"),
        ((pl.col("label_quality").cast(pl.Float64) - pl.col("_quality").cast(pl.Float64)).abs()
         > 1e-4, "{id!r} has label quality {q:.6g} in the sample but {r:.6g} in this audit"),
    )
    for condition, text in checks:
        bad = joined.filter(condition.fill_null(False))
        if bad.height:
            row = bad.row(0, named=True)
            flagged = bool(row["is_issue"])
            detail = text.format(
                id=row["id"], a="flagged" if flagged else "not flagged",
                b="not" if flagged else "flagged", g=row["given_label"], h=row["_given"],
                q=row["label_quality"] or 0.0, r=row["_quality"] or 0.0,
            )
            raise InputError(f"{source}: item {detail}; {advice}")

