"""Design-based estimates from a reviewed stratified sample.

The estimator is the stratified (Horvitz-Thompson) one: with ``N_h`` items
and ``n_h`` reviewed items of which ``x_h`` are wrong in stratum ``h``, the
noise rate is ``sum_h (N_h / N) x_h / n_h``. It is unbiased whatever the true
per-stratum rates, so a model that anticipates them badly costs precision,
never validity.

The interval is a beta interval on the effective sample size (Korn and
Graubard, 1998): the design variance of the estimate is turned into the
number of simple-random reviews ``n* = p (1 - p) / v`` that would give the
same variance, and the Jeffreys interval (Brown, Cai and DasGupta, 2001) of
``x* = n* p_hat`` errors in ``n*`` reviews is reported, with the lower limit 0
when no error was seen. Details:

- the variance ``v = sum_h W_h^2 p_h (1 - p_h) / n_h (N_h - n_h) / (N_h - 1)``
  uses Jeffreys-smoothed stratum rates ``p_h = (x_h + 1/2) / (n_h + 1)``, so a
  stratum where no error was seen still contributes variance (a zero
  variance there is why Wald-type stratified intervals under-cover at low
  rates), and a stratum reviewed in full contributes none (finite
  population); ``p`` in ``n*`` is the same smoothed total;
- ``n*`` is multiplied by ``(t_{n-1} / t_{n-H})^2`` for the ``n - H``
  degrees of freedom of a stratified variance (1 for a single stratum, where
  the interval is the plain Jeffreys one);
- one prior for the total, not one per stratum: summing per-stratum
  posteriors adds a pseudo-count of every thinly reviewed stratum to the
  total, which at low rates pushes the lower bound above the truth (or, with
  a Clopper-Pearson-type lower posterior that avoids this, makes the
  interval needlessly wide at every rate, since the per-stratum shifts add
  up linearly while the spread adds up in quadrature).

The point estimate stays the unbiased stratified one. The detector's
precision and recall, which are ratios, keep per-stratum beta posteriors
with beta-binomial counts for the unreviewed items, by Monte Carlo (fixed
seed): Jeffreys ``Beta(x_h + 1/2, n_h - x_h + 1/2)`` for upper and
``Beta(x_h, n_h - x_h + 1)`` (a point mass at 0 when ``x_h = 0``) for lower
bounds.

The test suite checks its coverage by simulation (rates from 0.5% to 40%,
strata without errors, small strata); ``benchmarks/bench_review.py`` checks
it on real human label noise.
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
from ..io.label_studio import CHOICES_NAME

__all__ = [
    "MIN_CLASS_REVIEWS",
    "VerifiedEstimate",
    "reviews_frame",
    "stratified_bounds",
    "effective_sample_bounds",
    "stratified_draws",
    "stratified_interval",
    "verify_reviews",
]

#: Per-class rates are reported for classes with at least this many reviewed items.
MIN_CLASS_REVIEWS = 10

#: Monte Carlo draws of the interval (its Monte Carlo error on a 95% bound is
#: about 0.15 percentage points of the tail probability).
N_DRAWS = 20_000

_TRUE = {"true", "t", "yes", "y", "1", "correct"}
_FALSE = {"false", "f", "no", "n", "0", "wrong", "incorrect"}


# --------------------------------------------------------------------------- the interval


def stratified_draws(
    sizes: np.ndarray,
    n: np.ndarray,
    x: np.ndarray,
    *,
    n_draws: int = N_DRAWS,
    seed: int = 0,
    side: str = "upper",
) -> np.ndarray:
    """Posterior draws of the number of wrong labels in every stratum.

    Parameters
    ----------
    sizes, n, x : arrays of int, shape (S,)
        Items ``N_h``, reviewed items ``n_h`` and wrong labels ``x_h`` found
        per stratum (``0 <= x_h <= n_h <= N_h``).
    n_draws : int, default 20000
        Monte Carlo draws.
    seed : int, default 0
        Seed of the draws.
    side : {"upper", "lower"}, default "upper"
        ``"upper"``: Jeffreys posteriors ``Beta(x + 1/2, n - x + 1/2)``, for
        upper bounds; ``"lower"``: ``Beta(x, n - x + 1)`` (0 when ``x = 0``),
        for lower bounds.

    Returns
    -------
    numpy.ndarray of int64, shape (n_draws, S)
        ``x_h`` plus a draw of the wrong labels among the unreviewed items.

    Examples
    --------
    >>> d = stratified_draws(np.array([10, 100]), np.array([10, 5]), np.array([3, 0]))
    >>> bool((d[:, 0] == 3).all()), bool((d[:, 1] >= 0).all())
    (True, True)
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    x = np.asarray(x, dtype=np.int64)
    if not (sizes.shape == n.shape == x.shape) or (x < 0).any() or (x > n).any() or (
        n > sizes
    ).any():
        raise LabelAuditError(
            "stratified_draws: need 0 <= x_h <= n_h <= N_h in every stratum, got "
            f"N={sizes.tolist()}, n={n.tolist()}, x={x.tolist()}"
        )
    if side not in ("upper", "lower"):
        raise LabelAuditError(f"side: must be 'upper' or 'lower', got {side!r}")
    rng = np.random.default_rng(seed)
    if side == "upper":
        theta = rng.beta(x + 0.5, n - x + 0.5, size=(n_draws, sizes.size))
    else:
        theta = rng.beta(np.maximum(x, 1), n - x + 1, size=(n_draws, sizes.size))
        theta = np.where(x > 0, theta, 0.0)
    rest = rng.binomial(np.broadcast_to(sizes - n, theta.shape), theta)
    return x + rest


def effective_sample_bounds(
    sizes: np.ndarray,
    n: np.ndarray,
    x: np.ndarray,
    *,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified estimate and interval on the effective sample size (see the module notes).

    Vectorised over reviewed samples of one design.

    Parameters
    ----------
    sizes, n : arrays of int, shape (S,)
        Stratum sizes ``N_h`` and reviewed items ``n_h``.
    x : array of int, shape (R, S) or (S,)
        Wrong labels found per stratum, one row per reviewed sample.
    confidence : float, default 0.95

    Returns
    -------
    (estimate, low, high) : arrays of shape (R,) (or floats for a 1-d ``x``)

    Examples
    --------
    >>> est, lo, hi = effective_sample_bounds(np.array([1000]), np.array([100]), np.array([10]))
    >>> round(float(est), 3), bool(lo < 0.1 < hi)
    (0.1, True)
    """
    from scipy import stats

    _check_confidence(confidence)
    sizes = np.asarray(sizes, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    x = np.asarray(x, dtype=np.int64)
    one = x.ndim == 1
    x2 = x[None, :] if one else x
    if (
        x2.ndim != 2 or sizes.shape != n.shape or x2.shape[1] != sizes.size
        or (x2 < 0).any() or (x2 > n).any() or (n > sizes).any()
    ):
        raise LabelAuditError(
            "effective_sample_bounds: need 0 <= x_h <= n_h <= N_h in every stratum, got "
            f"N={sizes.tolist()}, n={n.tolist()}, x shape {x.shape}"
        )
    total = sizes.sum()
    w = sizes / total
    seen = n > 0
    rate = np.where(seen, x2 / np.maximum(n, 1), 0.5)
    est = (w * rate).sum(axis=1)
    # Jeffreys-smoothed stratum rates: a stratum where no error was seen still has variance.
    smooth = (x2 + 0.5) / (n + 1)
    fpc = np.where(sizes > 1, (sizes - n) / np.maximum(sizes - 1, 1), 0.0)
    var_h = np.where(seen, smooth * (1 - smooth) / np.maximum(n, 1) * fpc, 0.125)
    var = (w**2 * var_h).sum(axis=1)
    centre = (w * np.where(seen, smooth, 0.5)).sum(axis=1)
    tail = (1 - confidence) / 2
    # Korn-Graubard degrees-of-freedom factor: (t_{n-1} / t_{n-H})^2, 1 for a single stratum.
    reviewed = int(n.sum())
    dof = max(reviewed - int(seen.sum()), 1)
    shrink = (stats.t.ppf(1 - tail, max(reviewed - 1, 1)) / stats.t.ppf(1 - tail, dof)) ** 2
    exact = var <= 0
    n_eff = np.where(exact, 1.0, centre * (1 - centre) / np.where(exact, 1.0, var) * shrink)
    x_eff = n_eff * est
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(x_eff > 0, stats.beta.ppf(tail, x_eff + 0.5, n_eff - x_eff + 0.5), 0.0)
        hi = np.where(x_eff < n_eff, stats.beta.ppf(1 - tail, x_eff + 0.5,
                                                    n_eff - x_eff + 0.5), 1.0)
    lo = np.where(exact, est, np.minimum(lo, est))
    hi = np.where(exact, est, np.maximum(hi, est))
    if one:
        return float(est[0]), float(lo[0]), float(hi[0])
    return est, lo, hi


def stratified_interval(
    sizes: np.ndarray,
    n: np.ndarray,
    x: np.ndarray,
    *,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Stratified noise-rate estimate and its interval for one reviewed sample.

    Parameters
    ----------
    sizes, n, x : arrays of int, shape (S,)
        Items, reviewed items and wrong labels found per stratum. Strata
        with ``n_h = 0`` count at the prior mean 1/2 with the Jeffreys prior's
        variance (wide, honest).
    confidence : float, default 0.95

    Returns
    -------
    (estimate, low, high) : tuple of float
        Estimate ``sum_h W_h x_h / n_h`` and the interval on the effective
        sample size (see the module notes).

    Examples
    --------
    >>> est, lo, hi = stratified_interval(np.array([1000]), np.array([100]), np.array([10]))
    >>> round(est, 3), lo < 0.1 < hi
    (0.1, True)
    """
    return effective_sample_bounds(sizes, n, np.asarray(x).reshape(-1), confidence=confidence)


def stratified_bounds(
    sizes: np.ndarray,
    n: np.ndarray,
    x: np.ndarray,
    *,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`stratified_interval` for many reviewed samples of one design at once.

    Parameters
    ----------
    sizes, n : arrays of int, shape (S,)
        Stratum sizes and reviews per stratum.
    x : array of int, shape (R, S)
        Wrong labels found per stratum, one row per reviewed sample.
    confidence : float, default 0.95

    Returns
    -------
    (estimate, low, high) : arrays of shape (R,)

    Examples
    --------
    >>> est, lo, hi = stratified_bounds(np.array([500, 5000]), np.array([20, 40]),
    ...                                 np.array([[10, 1], [12, 0]]))
    >>> bool((lo <= est).all() and (est <= hi).all())
    True
    """
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2:
        raise LabelAuditError("stratified_bounds: x must have shape (R, S) with 0 <= x <= n")
    return effective_sample_bounds(sizes, n, x, confidence=confidence)


def _point(sizes: np.ndarray, n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Estimated wrong labels per stratum, ``N_h x_h / n_h`` (every ``n_h`` at least 1)."""
    return sizes * (x / np.maximum(n, 1))


def _check_every_stratum_reviewed(
    sizes: np.ndarray, n: np.ndarray, sampled: np.ndarray, n_sampled: int, source: str
) -> None:
    """Refuse a review that leaves a whole stratum unreviewed.

    The design-based estimate weights each stratum's reviewed share by its
    size; a stratum without one reviewed item has no share to weight, and any
    figure put in its place would be an assumption presented as a review.
    """
    if not n.any():
        raise InputError(
            f"{source}: none of the {n_sampled} sampled items is reviewed; fill reviewed_label "
            "(or is_correct) before verifying"
        )
    empty = np.flatnonzero((n == 0) & (sizes > 0))
    if empty.size:
        h = int(empty[0])
        raise InputError(
            f"{source}: no item of stratum {h} ({int(sizes[h])} items, {int(sampled[h])} "
            f"sampled) is reviewed; a partial review needs at least one reviewed item in "
            f"every stratum ({empty.size} of {sizes.size} have none)"
        )


def _detector(
    strata: pl.DataFrame,
    stratum: np.ndarray,
    item_flag: np.ndarray,
    rev: np.ndarray,
    bad: np.ndarray,
    *,
    n_draws: int,
    seed: int,
    confidence: float,
) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """The detector's precision and recall measured on the sample, with their bounds.

    Each stratum splits into its flagged and its unflagged items (a stratum of
    the default design holds one kind only; a simple random sample's holds
    both), with cell sizes from the audit. Each cell gets beta-binomial draws
    of its wrong labels. Returns both figures and, when they cannot be
    measured, the reason (the figures are then None).
    """
    empty = {"estimate": None, "ci_low": None, "ci_high": None}
    if "n_issues" not in strata.columns or strata.get_column("n_issues").null_count():
        return empty, empty, ("the sample does not record how many flagged items each "
                              "stratum holds")
    n_strata = strata.height
    sizes = strata.get_column("n_items").to_numpy().astype(np.int64)
    n_issues = strata.get_column("n_issues").to_numpy().astype(np.int64)
    # Cell 2h: flagged items of stratum h; cell 2h + 1: the others.
    cell_sizes = np.stack([n_issues, sizes - n_issues], axis=1).ravel()
    cell = 2 * stratum + (~item_flag).astype(np.int64)
    n_c = np.bincount(cell[rev], minlength=2 * n_strata).astype(np.int64)
    x_c = np.bincount(cell[rev & bad], minlength=2 * n_strata).astype(np.int64)
    unseen = np.flatnonzero((n_c == 0) & (cell_sizes > 0))
    if unseen.size:
        h, kind = divmod(int(unseen[0]), 2)
        return empty, empty, (f"no reviewed item among the {'unflagged' if kind else 'flagged'} "
                              f"items of stratum {h}")
    # Only the cells that hold items: for strata of one kind each, these are the strata
    # themselves, in order.
    keep = cell_sizes > 0
    is_flag = np.tile([True, False], n_strata)[keep]
    cell_sizes, n_c, x_c = cell_sizes[keep], n_c[keep], x_c[keep]
    up = stratified_draws(cell_sizes, n_c, x_c, n_draws=n_draws, seed=seed)
    down = stratified_draws(cell_sizes, n_c, x_c, n_draws=n_draws, seed=seed + 1, side="lower")
    point = _point(cell_sizes, n_c, x_c)
    n_flagged = int(cell_sizes[is_flag].sum())
    precision = _ratio_block(
        point[is_flag].sum(), n_flagged, down[:, is_flag].sum(axis=1) / max(n_flagged, 1),
        up[:, is_flag].sum(axis=1) / max(n_flagged, 1), confidence,
    )
    # recall = flagged wrong / all wrong: low when few flagged and many unflagged are wrong
    hit_lo, hit_hi = down[:, is_flag].sum(axis=1), up[:, is_flag].sum(axis=1)
    miss_lo, miss_hi = down[:, ~is_flag].sum(axis=1), up[:, ~is_flag].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = _ratio_block(
            point[is_flag].sum(), point.sum(),
            np.where(hit_lo + miss_hi > 0, hit_lo / (hit_lo + miss_hi), np.nan),
            np.where(hit_hi + miss_lo > 0, hit_hi / (hit_hi + miss_lo), np.nan), confidence,
        )
    return precision, recall, None


def _check_confidence(confidence: float) -> None:
    if not (isinstance(confidence, int | float) and 0 < confidence < 1):
        raise LabelAuditError(f"confidence: must be in (0, 1), got {confidence!r}")


def _bounds(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(finite, [tail, 1 - tail])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- reviews


def reviews_frame(raw: pl.DataFrame, *, class_names: Sequence[str], source: str) -> pl.DataFrame:
    """Normalise a reviewers' file to one row per reviewed item.

    Three layouts are understood:

    - the review sample with ``reviewed_label`` filled (``id`` and
      ``reviewed_label`` columns; empty cells are unreviewed items);
    - an ``id`` and an ``is_correct`` column (true/false, yes/no, 1/0;
      empty cells are unreviewed); with both columns, a filled
      ``reviewed_label`` wins over ``is_correct``;
    - a Label Studio export of the review tasks as read by
      :func:`labelaudit.io.read_table` (one row per annotation: ``label``,
      and the task data's ``id``). Several annotations of one item must agree.

    Parameters
    ----------
    raw : polars.DataFrame
        The file as read.
    class_names : sequence of str
        The audit's classes (reviewed labels must be among them).
    source : str
        Name of the file, for messages.

    Returns
    -------
    polars.DataFrame
        ``id`` (string), ``reviewed_label`` (string or null when the layout
        gives only correctness), ``is_correct`` (boolean; null = unreviewed).

    Raises
    ------
    InputError
        On a missing column, a duplicated id, a label outside the class list
        or an unreadable correctness value, naming the row.
    """
    names = [str(c) for c in class_names]
    cols = raw.columns
    if "item_id" in cols and "label" in cols and "annotator" in cols:
        if "id" not in cols:
            raise InputError(
                f"{source}: Label Studio export without the item 'id' in the task data; "
                "import the review_tasks.json written by 'labelaudit sample'"
            )
        frame = raw.select(
            pl.col("id").cast(pl.String), pl.col("label").cast(pl.String).alias("reviewed_label")
        )
        frame = frame.unique(maintain_order=True)
        dup = frame.get_column("id").is_duplicated()
        if dup.any():
            bad = frame.filter(dup).get_column("id")[0]
            raise InputError(
                f"{source}: item id {bad!r} has annotations with different choices; "
                "resolve them to one reviewed label"
            )
        layout = "label_studio"
    elif "reviewed_label" in cols:
        if "id" not in cols:
            raise InputError(f"{source}: missing column 'id' (found {', '.join(map(repr, cols))})")
        frame = raw.select(
            pl.col("id").cast(pl.String),
            pl.col("reviewed_label").cast(pl.String).str.strip_chars()
            .replace("", None).alias("reviewed_label"),
        )
        if "is_correct" in cols:  # both given: a reviewed label wins, else the correctness
            frame = frame.with_columns(_correctness(raw, source))
        layout = "reviewed_label"
    elif "is_correct" in cols:
        if "id" not in cols:
            raise InputError(f"{source}: missing column 'id' (found {', '.join(map(repr, cols))})")
        frame = raw.select(pl.col("id").cast(pl.String), _correctness(raw, source))
        layout = "is_correct"
    else:
        raise InputError(
            f"{source}: expected a 'reviewed_label' or an 'is_correct' column, or a Label "
            f"Studio export; found {', '.join(map(repr, cols))}"
        )
    ids = frame.get_column("id")
    if ids.null_count():
        row = int(ids.is_null().arg_true()[0])
        raise InputError(f"{source}: column 'id' is empty at row {row}")
    dup = ids.is_duplicated()
    if dup.any():
        row = int(dup.arg_true()[1])
        raise InputError(f"{source}: item id {ids[row]!r} appears more than once (row {row})")
    if layout != "is_correct":
        labels = frame.get_column("reviewed_label")
        bad = labels.is_not_null() & ~labels.is_in(names)
        if bad.any():
            row = int(bad.arg_true()[0])
            if layout == "label_studio":
                # the rows here are merged annotations, not rows of the export: name the item
                # and the Label Studio field of the choice instead
                shown = "[" + ", ".join(map(repr, names[:20])) + (", ..." if len(names) > 20
                                                                    else "") + "]"
                raise InputError(
                    f"{source}: item {ids[row]!r} chose {labels[row]!r} (Label Studio "
                    f"annotations[].result[].value.choices, or the {CHOICES_NAME!r} field of a "
                    f"JSON_MIN or CSV export), which is not one of the audit's classes {shown}"
                )
            shown = ", ".join(map(repr, names[:20])) + (" ..." if len(names) > 20 else "")
            raise InputError(
                f"{source}: reviewed_label {labels[row]!r} at row {row} (id {ids[row]!r}) is "
                f"not one of the audit's classes: {shown}"
            )
        if "is_correct" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Boolean).alias("is_correct"))
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("reviewed_label"))
    return frame.select("id", "reviewed_label", "is_correct")


def _correctness(raw: pl.DataFrame, source: str) -> pl.Series:
    col = raw.get_column("is_correct")
    if col.dtype == pl.Boolean:
        return col.alias("is_correct")
    values = []
    for row, v in enumerate(col.cast(pl.String).to_list()):
        text = None if v is None else v.strip().lower()
        if not text:
            values.append(None)
        elif text in _TRUE:
            values.append(True)
        elif text in _FALSE:
            values.append(False)
        else:
            raise InputError(
                f"{source}: is_correct {v!r} at row {row} is not true/false (or yes/no, 1/0)"
            )
    return pl.Series("is_correct", values, dtype=pl.Boolean)


# --------------------------------------------------------------------------- the verdict


@dataclass(frozen=True, repr=False)
class VerifiedEstimate(ResultTables):
    """The noise rate measured by review, with the detector's measured quality.

    ``repr()`` is one line, :meth:`summary` a dict of the headline figures;
    :meth:`to_polars` / :meth:`to_pandas` return the ``"per_class"`` (default)
    and ``"strata"`` tables.

    Attributes
    ----------
    noise_rate, ci_low, ci_high : float
        Design-based estimate of the share of wrong labels and its interval.
    confidence : float
    n_items, n_sampled, n_reviewed, n_wrong_reviewed : int
        Audited items, sampled items, reviewed items, wrong labels found.
    partial : bool
        Whether some sampled items were not reviewed (then the estimate
        assumes that, inside a stratum, unreviewed items are like reviewed ones).
    wrong_labels : dict
        Corrected count of wrong labels in the whole data: ``estimate``,
        ``ci_low``, ``ci_high``.
    precision, recall : dict
        The detector's precision (share of flagged items whose label is
        wrong) and recall (share of wrong labels that are flagged), design-
        weighted: ``estimate``, ``ci_low``, ``ci_high`` (None when undefined).
    per_class : list of dict
        Per given class: ``class``, ``n_items``, ``n_reviewed``, and for
        classes with enough reviews ``noise_rate``, ``ci_low``, ``ci_high``.
    strata : list of dict
        ``stratum``, ``is_issue``, ``n_items``, ``n_sampled``, ``n_reviewed``,
        ``n_wrong``.
    acceptance : dict or None
        ACCEPT/REJECT under an acceptance plan, with its risks.
    parameters : dict
        Method, draws and seed.
    """

    noise_rate: float
    ci_low: float
    ci_high: float
    confidence: float
    n_items: int
    n_sampled: int
    n_reviewed: int
    n_wrong_reviewed: int
    partial: bool
    wrong_labels: dict[str, Any]
    precision: dict[str, Any]
    recall: dict[str, Any]
    per_class: list[dict[str, Any]]
    strata: list[dict[str, Any]]
    acceptance: dict[str, Any] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    _TABLES = ("per_class", "strata")

    def __repr__(self) -> str:
        return short_repr(self, {
            "noise_rate": self.noise_rate,
            "ci": [self.ci_low, self.ci_high],
            "n_reviewed": self.n_reviewed,
            "n_wrong_reviewed": self.n_wrong_reviewed,
            "n_items": self.n_items,
            "partial": self.partial,
            "decision": None if self.acceptance is None else self.acceptance.get("decision"),
        })

    def summary(self) -> dict[str, Any]:
        """The headline figures as a dict of plain Python values.

        Returns
        -------
        dict
            ``noise_rate`` with ``ci_low``/``ci_high`` at ``confidence``,
            ``n_items``, ``n_sampled``, ``n_reviewed``, ``n_wrong_reviewed``,
            ``partial``, ``wrong_labels`` (estimate of the count in the whole
            data), ``precision`` and ``recall`` of the detector (None when
            undefined) and ``decision`` (ACCEPT/REJECT under an acceptance
            plan, else None).
        """
        return {
            "noise_rate": float(self.noise_rate),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "confidence": float(self.confidence),
            "n_items": int(self.n_items),
            "n_sampled": int(self.n_sampled),
            "n_reviewed": int(self.n_reviewed),
            "n_wrong_reviewed": int(self.n_wrong_reviewed),
            "partial": bool(self.partial),
            "wrong_labels": self.wrong_labels.get("estimate"),
            "precision": self.precision.get("estimate"),
            "recall": self.recall.get("estimate"),
            "decision": None if self.acceptance is None else self.acceptance.get("decision"),
        }

    def figures(self) -> dict[str, Any]:
        """Gate figures of the review (see :func:`labelaudit.gate.evaluate`).

        Returns
        -------
        dict
            ``verified_noise_rate``, ``verified_noise_rate_ci_low``,
            ``verified_noise_rate_ci_high`` and ``n_reviewed``.
        """
        return {
            "verified_noise_rate": self.noise_rate,
            "verified_noise_rate_ci_low": self.ci_low,
            "verified_noise_rate_ci_high": self.ci_high,
            "n_reviewed": self.n_reviewed,
        }

    def summary_lines(self) -> list[str]:
        """What the review found, in plain words (the terminal summary).

        Returns
        -------
        list of str
        """
        conf = f"{100 * self.confidence:g}%"
        lines = [
            f"Verified by review: noise rate {100 * self.noise_rate:.2f}% ({conf} interval "
            f"{100 * self.ci_low:.2f}% to {100 * self.ci_high:.2f}%) from {self.n_reviewed} "
            f"reviewed items ({self.n_wrong_reviewed} wrong); about "
            f"{self.wrong_labels['estimate']:.0f} wrong labels in {self.n_items}."
            + (f" Partial review: {self.n_sampled - self.n_reviewed} sampled items not reviewed."
               if self.partial else "")
        ]
        p, r = self.precision, self.recall
        if p["estimate"] is not None and r["estimate"] is not None:
            lines.append(
                f"Detector on the sample: precision {p['estimate']:.2f} ({p['ci_low']:.2f}-"
                f"{p['ci_high']:.2f}), recall {r['estimate']:.2f} ({r['ci_low']:.2f}-"
                f"{r['ci_high']:.2f})."
            )
        elif self.parameters.get("detector_note"):
            lines.append(f"Detector on the sample: not measured ({self.parameters['detector_note']}).")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The ``verified`` block of ``summary.json``.

        Returns
        -------
        dict
        """
        return {
            "noise_rate_source": "review",
            "noise_rate": self.noise_rate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "n_items": self.n_items,
            "n_sampled": self.n_sampled,
            "n_reviewed": self.n_reviewed,
            "n_wrong_reviewed": self.n_wrong_reviewed,
            "partial": self.partial,
            "n_unreviewed": self.n_sampled - self.n_reviewed,
            "wrong_labels": dict(self.wrong_labels),
            "detector": {"precision": dict(self.precision), "recall": dict(self.recall)},
            "per_class": [dict(r) for r in self.per_class],
            "strata": [dict(r) for r in self.strata],
            "acceptance": None if self.acceptance is None else dict(self.acceptance),
            "method": dict(self.parameters),
        }


def verify_reviews(
    sample: Any,
    reviews: pl.DataFrame,
    *,
    audit_ids: Sequence[Any] | pl.Series | None = None,
    allow_partial: bool = False,
    confidence: float = 0.95,
    n_draws: int = N_DRAWS,
    seed: int = 0,
    acceptance: Any = None,
    source: str = "reviews",
) -> VerifiedEstimate:
    """Turn a reviewed sample into a design-based noise estimate.

    Parameters
    ----------
    sample : ReviewSample
        The sample the reviewers saw (from :func:`review_sample` or
        :func:`load_sample`).
    reviews : polars.DataFrame
        The reviewers' answers in any layout :func:`reviews_frame` reads.
    audit_ids : sequence, optional
        Every id of the audit, so that a reviewed id outside the audit is
        reported as such (rather than as outside the sample).
    allow_partial : bool, default False
        Accept sampled items left unreviewed; the result says so
        (``partial``). Otherwise they are an error.
    confidence : float, default 0.95
    n_draws : int, default 20000
        Monte Carlo draws of the interval.
    seed : int, default 0
        Seed of those draws (the result is deterministic).
    acceptance : AcceptancePlan or StratifiedPlan, optional
        Also decide ACCEPT or REJECT under this plan.
    source : str, default "reviews"
        Name of the reviews file, for messages.

    Returns
    -------
    VerifiedEstimate

    Raises
    ------
    InputError
        On ids outside the audit or the sample, labels outside the class
        list, or unreviewed items without ``allow_partial``.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from labelaudit.verify import review_sample
    >>> rng = np.random.default_rng(0)
    >>> q = rng.uniform(size=500)
    >>> t = pl.DataFrame({"id": np.arange(500), "given_label": ["a"] * 500,
    ...                   "suggested_label": ["b"] * 500, "label_quality": q,
    ...                   "is_issue": q < 0.1})
    >>> s = review_sample(t, size=50, seed=0)
    >>> answers = s.design.select("id", (pl.col("label_quality") > 0.2).alias("is_correct"))
    >>> v = verify_reviews(s, answers)
    >>> v.n_reviewed, v.ci_low <= v.noise_rate <= v.ci_high
    (50, True)
    """
    _check_confidence(confidence)
    names = [str(c) for c in sample.class_names]
    reviews = reviews_frame(reviews, class_names=names, source=source)
    design = sample.design.with_columns(pl.col("id").cast(pl.String).alias("_key"))
    keys = set(design.get_column("_key").to_list())
    ids = reviews.get_column("id")
    outside = ~ids.is_in(list(keys))
    if outside.any():
        row = int(outside.arg_true()[0])
        where = "the review sample"
        if audit_ids is not None:
            audit_keys = pl.Series(list(audit_ids)).cast(pl.String)
            if not audit_keys.is_in([ids[row]]).any():
                where = "the audit"
        raise InputError(
            f"{source}: id {ids[row]!r} at row {row} is not in {where}; review only the items of "
            "review_sample.csv"
        )
    joined = design.join(reviews.rename({"id": "_key"}), on="_key", how="left",
                         maintain_order="left")
    given = joined.get_column("given_label").cast(pl.String)
    label = joined.get_column("reviewed_label")
    correct = joined.get_column("is_correct")
    wrong = pl.when(label.is_not_null()).then(label != given).otherwise(~correct)
    wrong = joined.select(wrong.alias("wrong")).get_column("wrong")
    reviewed = wrong.is_not_null()
    n_unreviewed = int((~reviewed).sum())
    if n_unreviewed and not allow_partial:
        first = joined.get_column("id").filter(~reviewed)[0]
        raise InputError(
            f"{source}: {n_unreviewed} of {joined.height} sampled items are not reviewed "
            f"(first: id {first!r}); fill reviewed_label (or is_correct) for every row "
            "(or pass --allow-partial)"
        )
    strata = sample.strata.sort("stratum")
    n_strata = strata.height
    stratum = joined.get_column("stratum").to_numpy()
    sizes = strata.get_column("n_items").to_numpy().astype(np.int64)
    rev = reviewed.to_numpy()
    bad = wrong.fill_null(False).to_numpy()
    n_h = np.bincount(stratum[rev], minlength=n_strata).astype(np.int64)
    x_h = np.bincount(stratum[rev & bad], minlength=n_strata).astype(np.int64)
    _check_every_stratum_reviewed(sizes, n_h, strata.get_column("n_sampled").to_numpy(),
                                  joined.height, source)
    N = int(sizes.sum())
    point = _point(sizes, n_h, x_h)
    est, lo, hi = effective_sample_bounds(sizes, n_h, x_h, confidence=confidence)
    item_flag = joined.get_column("is_issue").cast(pl.Boolean).fill_null(False).to_numpy()
    precision, recall, detector_note = _detector(
        strata, stratum, item_flag, rev, bad, n_draws=n_draws, seed=seed, confidence=confidence
    )
    flagged = strata.get_column("is_issue").to_numpy().astype(bool)
    per_class = _per_class(sample, joined, rev, bad, names, confidence, n_draws, seed)
    strata_rows = [
        {
            "stratum": int(h),
            "is_issue": bool(flagged[h]),
            "n_items": int(sizes[h]),
            "n_sampled": int(strata.get_column("n_sampled")[h]),
            "n_reviewed": int(n_h[h]),
            "n_wrong": int(x_h[h]),
        }
        for h in range(n_strata)
    ]
    decision = None
    if acceptance is not None:
        decision = acceptance.decide(sizes=sizes, n=n_h, x=x_h, partial=bool(n_unreviewed))
        decision["oc_curve"] = acceptance.oc()
    params = {
        "estimator": "stratified (Horvitz-Thompson) over the sample's strata",
        "interval": "beta interval on the effective sample size (Korn-Graubard): design "
        "variance from Jeffreys-smoothed stratum rates with finite-population correction, "
        "Jeffreys Beta(x*+1/2, n*-x*+1/2) quantiles, 0 when no error was seen",
        "detector_intervals": "beta posteriors with beta-binomial counts for the unreviewed "
        "items of each (stratum, flagged or not) cell, Monte Carlo",
        "detector_note": detector_note,
        "n_draws": n_draws,
        "seed": seed,
        "sample_seed": sample.seed,
        "partial_review_assumption": (
            "unreviewed sampled items are like the reviewed ones of their stratum"
            if n_unreviewed else None
        ),
    }
    return VerifiedEstimate(
        noise_rate=est, ci_low=lo, ci_high=hi, confidence=confidence, n_items=N,
        n_sampled=joined.height, n_reviewed=int(rev.sum()), n_wrong_reviewed=int(x_h.sum()),
        partial=bool(n_unreviewed),
        wrong_labels={"estimate": float(point.sum()), "ci_low": lo * N, "ci_high": hi * N},
        precision=precision, recall=recall, per_class=per_class, strata=strata_rows,
        acceptance=decision, parameters=params,
    )


def _ratio_block(
    num: float, den: float, low_draws: np.ndarray, high_draws: np.ndarray, confidence: float
) -> dict[str, Any]:
    """Estimate ``num / den`` with bounds from draws for the lower and the upper side."""
    if den <= 0:
        return {"estimate": None, "ci_low": None, "ci_high": None}
    lo, _ = _bounds(low_draws, confidence)
    _, hi = _bounds(high_draws, confidence)
    est = float(num / den)
    if math.isnan(lo) or math.isnan(hi):
        return {"estimate": est, "ci_low": None, "ci_high": None}
    return {"estimate": est, "ci_low": min(lo, est), "ci_high": max(hi, est)}


def _per_class(
    sample: Any,
    joined: pl.DataFrame,
    rev: np.ndarray,
    bad: np.ndarray,
    names: list[str],
    confidence: float,
    n_draws: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Per given class: post-stratified by (stratum, class) cells, with known cell sizes.

    A cell with reviews uses its own Jeffreys posterior; a cell without
    reviews borrows its stratum's pooled posterior (said in ``pooled_share``:
    the share of the class's items in such cells).
    """
    counts = sample.class_counts
    strata = sample.strata.sort("stratum")
    n_strata = strata.height
    stratum = joined.get_column("stratum").to_numpy()
    given = joined.get_column("given_label").cast(pl.String).to_numpy()
    pooled_n = np.bincount(stratum[rev], minlength=n_strata)
    pooled_x = np.bincount(stratum[rev & bad], minlength=n_strata)
    rows = []
    rng = np.random.default_rng(seed + 1)
    for cls in names:
        cell = counts.filter(pl.col("given_label") == cls)
        size_c = np.zeros(n_strata, dtype=np.int64)
        size_c[cell.get_column("stratum").to_numpy()] = cell.get_column("n_items").to_numpy()
        mine = given == cls
        n_c = np.bincount(stratum[rev & mine], minlength=n_strata)
        x_c = np.bincount(stratum[rev & mine & bad], minlength=n_strata)
        row: dict[str, Any] = {"class": cls, "n_items": int(size_c.sum()),
                               "n_reviewed": int(n_c.sum())}
        if size_c.sum() == 0 or n_c.sum() < MIN_CLASS_REVIEWS:
            row.update(noise_rate=None, ci_low=None, ci_high=None, pooled_share=None)
            rows.append(row)
            continue
        own = n_c > 0
        n_use = np.where(own, n_c, pooled_n)
        x_use = np.where(own, x_c, pooled_x)
        unseen = np.where(own, size_c - n_c, size_c)
        seen = np.where(own, x_c, 0)
        theta_up = rng.beta(x_use + 0.5, n_use - x_use + 0.5, size=(n_draws, n_strata))
        theta_lo = np.where(
            x_use > 0,
            rng.beta(np.maximum(x_use, 1), n_use - x_use + 1, size=(n_draws, n_strata)), 0.0,
        )
        up = seen + rng.binomial(np.broadcast_to(unseen, theta_up.shape), theta_up)
        down = seen + rng.binomial(np.broadcast_to(unseen, theta_lo.shape), theta_lo)
        rate_hat = np.where(n_use > 0, x_use / np.maximum(n_use, 1), 0.5)
        est = float((size_c * rate_hat).sum() / size_c.sum())
        lo, _ = _bounds(down.sum(axis=1) / size_c.sum(), confidence)
        _, hi = _bounds(up.sum(axis=1) / size_c.sum(), confidence)
        row.update(
            noise_rate=est, ci_low=min(lo, est), ci_high=max(hi, est),
            pooled_share=float(size_c[~own].sum() / size_c.sum()),
        )
        rows.append(row)
    return rows

