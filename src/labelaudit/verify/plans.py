"""Acceptance sampling: accept or reject a delivery with stated producer and consumer risks.

A buyer writes two quality levels into a contract: the acceptable quality
level (AQL), a share of wrong labels the producer may deliver and expect to
see accepted, and the limiting quality (LQ), a share the buyer must see
rejected. A plan fixes how many items to review and the decision rule so
that a lot exactly at the AQL is rejected with probability at most the
producer's risk, and a lot exactly at the LQ is accepted with probability at
most the consumer's risk (worse lots are accepted less often, better lots
rejected less often).

- :func:`single_sampling_plan` is the classical plan (ISO 2859-2 style,
  computed exactly rather than read from tables): review a simple random
  sample of ``n`` items and accept when at most ``c`` are wrong. Risks are
  exact hypergeometric probabilities (finite lot, no replacement).
- :func:`stratified_plan` is model-assisted: it draws the review sample from
  the audit's strata and decides on the stratified estimate of the number of
  wrong labels. When the audit's scores rank errors well, far fewer reviews
  reach the same two risks. Its risks are exact for the stratified design
  (a convolution of per-stratum hypergeometric distributions) given how the
  wrong labels spread over the strata; that spread is anticipated from the
  audit's scores, conservatively (see :func:`stratified_plan`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError, LabelAuditError, PolicyError
from .sampling import (
    DEFAULT_STRATA,
    _issues_frame,
    allocate,
    anticipated_error_probabilities,
    make_strata,
    prior_shift_error_probabilities,
)

__all__ = [
    "ACCEPTANCE_KEYS",
    "AcceptancePlan",
    "acceptance_gate",
    "StratifiedPlan",
    "load_acceptance",
    "oc_curve",
    "plan_from_policy",
    "single_sampling_plan",
    "stratified_plan",
]

#: Keys of a policy's ``[gate.acceptance]`` table and their defaults (None: required).
ACCEPTANCE_KEYS: Mapping[str, Any] = {
    "aql": None,
    "lq": None,
    "producer_risk": 0.05,
    "consumer_risk": 0.10,
    "plan": "stratified",
}
PLAN_KINDS = ("stratified", "single")

#: The spreads of wrong labels a stratified plan reports its risks under.
SPREAD_NAMES = ("calibrated", "prior_shift", "raw")

#: A stratified plan is used only while its consumer's risk under every spread of
#: :data:`SPREAD_NAMES` stays below this many times the consumer's risk asked for
#: (see :meth:`StratifiedPlan.robustness_problem`).
MAX_RISK_FACTOR = 2.0

#: Share of the anticipated spread of wrong labels taken from the prior-shift
#: anticipation (the model's odds of a wrong label rescaled to the issue count,
#: :func:`~labelaudit.verify.prior_shift_error_probabilities`) rather than from
#: the power one (:func:`~labelaudit.verify.anticipated_error_probabilities`).
#: The power one puts almost no wrong labels among the confident items, where
#: the stratified design reviews least; models learn some wrong labels and are
#: confidently wrong about them, which the prior-shift one allows for. Neither
#: is preferred: they are mixed half and half.
ROBUSTNESS = 0.5


def _check_levels(lot_size: Any, aql: Any, lq: Any, producer_risk: Any, consumer_risk: Any) -> None:
    if not isinstance(lot_size, int | np.integer) or isinstance(lot_size, bool) or lot_size < 2:
        raise LabelAuditError(f"lot_size: must be an integer >= 2, got {lot_size!r}")
    for name, value in (("aql", aql), ("lq", lq)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise LabelAuditError(f"{name}: must be a share in [0, 1], got {value!r}")
    if not aql < lq:
        raise LabelAuditError(f"aql ({aql!r}) must be below lq ({lq!r})")
    for name, value in (("producer_risk", producer_risk), ("consumer_risk", consumer_risk)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 0.5:
            raise LabelAuditError(f"{name}: must be in (0, 0.5), got {value!r}")


def _defect_levels(lot_size: int, aql: float, lq: float) -> tuple[int, int]:
    """Wrong labels in a lot exactly at the AQL (rounded down) and at the LQ (rounded up)."""
    d_aql = int(math.floor(aql * lot_size + 1e-9))
    d_lq = int(math.ceil(lq * lot_size - 1e-9))
    if d_lq <= d_aql:
        raise LabelAuditError(
            f"aql {aql!r} and lq {lq!r} give the same number of wrong labels in a lot of "
            f"{lot_size}; widen them"
        )
    return d_aql, d_lq


# --------------------------------------------------------------------------- single sampling


@dataclass(frozen=True)
class AcceptancePlan:
    """A single sampling plan: review ``n`` random items, accept when at most ``c`` are wrong.

    Attributes
    ----------
    lot_size, n, c : int
    aql, lq : float
        Quality levels (shares of wrong labels).
    defects_at_aql, defects_at_lq : int
        Wrong labels in a lot exactly at those levels.
    producer_risk, consumer_risk : float
        The plan's exact risks: P(reject | lot at AQL), P(accept | lot at LQ).
    producer_risk_target, consumer_risk_target : float
        The risks asked for.
    note : str or None
        Why this plan is used where a policy asked for the model-assisted one
        (see :func:`plan_from_policy`), or None.
    """

    lot_size: int
    n: int
    c: int
    aql: float
    lq: float
    defects_at_aql: int
    defects_at_lq: int
    producer_risk: float
    consumer_risk: float
    producer_risk_target: float
    consumer_risk_target: float
    note: str | None = None

    kind = "single"

    def accept_probability(self, defects: Any) -> np.ndarray:
        """P(accept) for lots with these numbers of wrong labels (exact hypergeometric)."""
        from scipy.stats import hypergeom

        d = np.asarray(defects, dtype=np.int64)
        return np.asarray(hypergeom.cdf(self.c, self.lot_size, d, self.n), dtype=np.float64)

    def decide(
        self, *, sizes: np.ndarray, n: np.ndarray, x: np.ndarray, partial: bool = False
    ) -> dict[str, Any]:
        """ACCEPT or REJECT from a reviewed simple random sample of the plan's size.

        Parameters
        ----------
        sizes, n, x : arrays of int
            Items, reviewed items and wrong labels per stratum of the sample's
            design (a single stratum for this plan).
        partial : bool, default False
            Whether some sampled items were left unreviewed (not allowed).

        Returns
        -------
        dict
            ``decision``, ``n_wrong``, ``acceptance_number`` and the plan.
        """
        sizes, n, x = (np.asarray(a, dtype=np.int64) for a in (sizes, n, x))
        if sizes.size != 1 or int(sizes.sum()) != self.lot_size:
            raise InputError(
                f"acceptance: the single sampling plan needs a simple random sample of the lot "
                f"of {self.lot_size} items (one stratum); this sample has {sizes.size} strata "
                f"over {int(sizes.sum())} items; draw it with the same policy ('labelaudit sample "
                "--policy')"
            )
        _check_drawn_by_plan([int(n.sum())], [self.n], "single sampling")
        _check_complete(partial, int(n.sum()), self.n)
        wrong = int(x.sum())
        return {
            "decision": "ACCEPT" if wrong <= self.c else "REJECT",
            "n_wrong": wrong,
            "rule": f"accept when at most {self.c} of the {self.n} reviewed items are wrong",
            "plan": self.to_dict(),
        }

    def oc(self) -> list[dict[str, float]]:
        """The plan's operating-characteristic curve (see :func:`oc_curve`)."""
        return oc_curve(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for ``summary.json``)."""
        return _plan_dict(self)


def _plan_dict(plan: Any, **extra: Any) -> dict[str, Any]:
    """A plan's fields as plain data: its kind, every field (tuples as lists), ``parameters`` inlined."""
    out: dict[str, Any] = {"kind": plan.kind, **extra}
    for f in fields(plan):
        value = getattr(plan, f.name)
        if f.name == "parameters":
            out.update(value)
        else:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _check_drawn_by_plan(
    reviewed: Sequence[int], planned: Sequence[int], kind: str, *, complete: bool = False
) -> None:
    """Another sample than the plan's: more reviewed items than it draws in some stratum,
    or, for a review said to be ``complete``, any other count."""
    pairs = list(zip(reviewed, planned, strict=True))
    if any(r > p for r, p in pairs) or (complete and any(r != p for r, p in pairs)):
        raise InputError(
            f"acceptance: this sample was not drawn by the {kind} plan (reviewed: {reviewed}; "
            f"the plan draws {planned}); draw the sample to decide on with the same policy "
            "('labelaudit sample --policy')"
        )


def _check_complete(partial: bool, reviewed: int, planned: int) -> None:
    if partial or reviewed != planned:
        raise InputError(
            f"acceptance: the plan needs all {planned} sampled items reviewed, got {reviewed}; "
            "an acceptance decision cannot be made on a partial review"
        )


def single_sampling_plan(
    lot_size: int,
    aql: float,
    lq: float,
    producer_risk: float = 0.05,
    consumer_risk: float = 0.10,
) -> AcceptancePlan:
    """The smallest single sampling plan meeting both risks, with exact hypergeometric risks.

    For each acceptance number ``c = 0, 1, ...`` the smallest ``n`` whose
    consumer's risk ``P(X <= c | D = D_LQ)`` is at most ``consumer_risk`` is
    found by bisection (it decreases with ``n``); the first ``c`` whose
    producer's risk ``P(X > c | D = D_AQL)`` at that ``n`` is at most
    ``producer_risk`` gives the plan (the producer's risk grows with ``n``,
    so no larger ``n`` helps that ``c``, and larger ``c`` need larger ``n``).
    ``X`` is hypergeometric: ``n`` items drawn without replacement from a lot
    of ``lot_size`` with ``D`` wrong labels; ``D_AQL = floor(aql * lot_size)``
    and ``D_LQ = ceil(lq * lot_size)``.

    Parameters
    ----------
    lot_size : int
        Items in the lot (the audited data).
    aql, lq : float
        Acceptable and limiting quality levels, shares of wrong labels, ``aql < lq``.
    producer_risk : float, default 0.05
        Largest P(reject) for a lot at the AQL.
    consumer_risk : float, default 0.10
        Largest P(accept) for a lot at the LQ.

    Returns
    -------
    AcceptancePlan

    Raises
    ------
    LabelAuditError
        If a parameter is out of range or no plan smaller than the lot exists.

    Examples
    --------
    >>> plan = single_sampling_plan(1000, 0.02, 0.08)
    >>> plan.n, plan.c, plan.producer_risk <= 0.05, plan.consumer_risk <= 0.10
    (96, 4, True, True)
    """
    from scipy.stats import hypergeom

    _check_levels(lot_size, aql, lq, producer_risk, consumer_risk)
    N = int(lot_size)
    d1, d2 = _defect_levels(N, aql, lq)
    for c in range(0, d2):
        lo, hi = c + 1, N  # at n = N the lot is seen whole: accepted iff d2 <= c (never here)
        if hypergeom.cdf(c, N, d2, lo) <= consumer_risk:
            hi = lo
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if hypergeom.cdf(c, N, d2, mid) <= consumer_risk:
                hi = mid
            else:
                lo = mid
        n = hi
        beta = float(hypergeom.cdf(c, N, d2, n))
        alpha = float(hypergeom.sf(c, N, d1, n))
        if alpha <= producer_risk and beta <= consumer_risk:
            return AcceptancePlan(N, n, c, float(aql), float(lq), d1, d2, alpha, beta,
                                  float(producer_risk), float(consumer_risk))
    raise LabelAuditError(
        f"no single sampling plan smaller than the lot of {N} meets producer risk "
        f"{producer_risk} at aql {aql} and consumer risk {consumer_risk} at lq {lq}"
    )


def oc_curve(plan: Any, defect_rates: Sequence[float] | None = None) -> list[dict[str, float]]:
    """The operating-characteristic curve: P(accept) against the lot's share of wrong labels.

    Parameters
    ----------
    plan : AcceptancePlan or StratifiedPlan
    defect_rates : sequence of float, optional
        Shares of wrong labels to evaluate; default 0 to ``2 * lq`` in 21
        steps plus the AQL and the LQ.

    Returns
    -------
    list of dict
        ``defect_rate``, ``defects``, ``accept_probability``, sorted by rate.

    Examples
    --------
    >>> curve = oc_curve(single_sampling_plan(1000, 0.02, 0.08), [0.0, 0.5])
    >>> [round(r["accept_probability"], 3) for r in curve]
    [1.0, 0.0]
    """
    if defect_rates is None:
        grid = np.linspace(0, min(1.0, 2 * plan.lq), 21).tolist() + [plan.aql, plan.lq]
        defect_rates = sorted(set(grid))
    rates = np.asarray(defect_rates, dtype=np.float64)
    if rates.ndim != 1 or (rates < 0).any() or (rates > 1).any():
        raise LabelAuditError("defect_rates: must be shares in [0, 1]")
    defects = np.rint(rates * plan.lot_size).astype(np.int64)
    probs = plan.accept_probability(defects)
    return [
        {"defect_rate": float(r), "defects": int(d), "accept_probability": float(p)}
        for r, d, p in zip(rates, defects, probs, strict=True)
    ]


# --------------------------------------------------------------------------- stratified plan


#: Monte Carlo draws per lot when a stratified plan's risks are computed (the
#: Monte Carlo error of a 5% or 10% risk is then about 0.2 percentage points).
PLAN_DRAWS = 20_000

#: Seed of those draws: a plan is a deterministic function of the audit.
PLAN_SEED = 20_261_202


@dataclass(frozen=True)
class StratifiedPlan:
    """A model-assisted stratified acceptance plan.

    Review ``allocation[h]`` random items of stratum ``h``. With ``x_h``
    wrong, the statistic is ``U``, the upper bound at level ``1 - bound_tail``
    of the stratified noise-rate estimate on the effective sample size (the
    bound ``labelaudit verify`` reports, see
    :func:`labelaudit.verify.estimate.effective_sample_bounds`); accept when
    ``U < threshold``.

    Attributes
    ----------
    lot_size : int
    sizes, allocation : tuple of int
        Stratum sizes and reviews per stratum.
    spread : tuple of float
        Anticipated share of the lot's wrong labels in each stratum, used
        for the risks.
    threshold : float
        Acceptance threshold on ``U`` (a share of wrong labels).
    bound_tail : float
        One-sided tail of the bound ``U`` (the consumer's risk asked for).
    aql, lq, defects_at_aql, defects_at_lq : as in :class:`AcceptancePlan`
    producer_risk, consumer_risk : float
        Risks of the design under the anticipated spread (Monte Carlo with
        :data:`PLAN_DRAWS` draws of the stratified sample, fixed seed).
    producer_risk_target, consumer_risk_target : float
    single_plan_n : int
        Reviews the single sampling plan needs for the same levels and risks.
    """

    lot_size: int
    sizes: tuple[int, ...]
    allocation: tuple[int, ...]
    spread: tuple[float, ...]
    threshold: float
    bound_tail: float
    aql: float
    lq: float
    defects_at_aql: int
    defects_at_lq: int
    producer_risk: float
    consumer_risk: float
    producer_risk_target: float
    consumer_risk_target: float
    single_plan_n: int
    parameters: dict[str, Any] = field(default_factory=dict)

    kind = "stratified"

    @property
    def n(self) -> int:
        """Total reviews."""
        return int(sum(self.allocation))

    def defects_by_stratum(self, defects: int) -> np.ndarray:
        """How a lot with ``defects`` wrong labels is assumed to spread them over the strata."""
        return _apportion(int(defects), np.asarray(self.spread), np.asarray(self.sizes))

    def statistic(self, sizes: np.ndarray, n: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``U`` for reviewed samples: ``x`` of shape (S,) or (R, S) wrong labels per stratum."""
        return _upper(np.asarray(sizes), np.asarray(n), np.asarray(x), self.bound_tail)

    def accept_probability(self, defects: Any, spread: Sequence[float] | None = None) -> np.ndarray:
        """P(accept) for lots with these numbers of wrong labels (Monte Carlo, fixed seed).

        Parameters
        ----------
        defects : int or array of int
            Wrong labels in the lot.
        spread : sequence of float, optional
            Share of the wrong labels in each stratum (default: the plan's
            anticipated spread); another spread shows how the risks move when
            the wrong labels sit elsewhere.

        Returns
        -------
        numpy.ndarray
        """
        share = np.asarray(self.spread if spread is None else spread, dtype=np.float64)
        sizes = np.asarray(self.sizes, dtype=np.int64)
        alloc = np.asarray(self.allocation, dtype=np.int64)
        out = [
            float(np.mean(_simulated_statistic(sizes, alloc, _apportion(int(d), share, sizes),
                                               self.bound_tail, int(d)) < self.threshold))
            for d in np.atleast_1d(np.asarray(defects, dtype=np.int64))
        ]
        return np.clip(np.asarray(out), 0.0, 1.0)

    def decide(
        self, *, sizes: np.ndarray, n: np.ndarray, x: np.ndarray, partial: bool = False
    ) -> dict[str, Any]:
        """ACCEPT or REJECT from the reviewed stratified sample drawn by this plan."""
        sizes, n, x = (np.asarray(a, dtype=np.int64) for a in (sizes, n, x))
        if tuple(sizes.tolist()) != self.sizes:
            raise InputError(
                "acceptance: the sample's strata do not match the plan's; draw the sample with "
                "the same policy ('labelaudit sample --policy')"
            )
        _check_drawn_by_plan(n.tolist(), list(self.allocation), "stratified",
                             complete=not partial)
        _check_complete(partial or tuple(n.tolist()) != self.allocation, int(n.sum()), self.n)
        u = float(self.statistic(sizes, n, x))
        level = f"{100 * (1 - self.bound_tail):g}%"
        return {
            "decision": "ACCEPT" if u < self.threshold else "REJECT",
            "estimated_wrong_labels": int(np.rint(sizes * x / n).sum()),
            "upper_bound": u,
            "rule": (f"accept when the upper {level} bound on the share of wrong labels is "
                     f"below {self.threshold:.4f}"),
            "plan": self.to_dict(),
        }

    def risks_under(self, spread: Sequence[float]) -> tuple[float, float]:
        """(producer's risk, consumer's risk) if the wrong labels spread as ``spread``."""
        p = self.accept_probability([self.defects_at_aql, self.defects_at_lq], spread)
        return float(1 - p[0]), float(p[1])

    @functools.cached_property
    def spread_risks(self) -> dict[str, tuple[float, float]]:
        """``(producer's risk, consumer's risk)`` under each spread the plan considers.

        The spreads are the two anticipations the plan mixes (``calibrated``:
        the power one; ``prior_shift``) and the raw scores (``raw``); see
        :func:`stratified_plan`. Computed once (each is a simulation).
        """
        return {name: self.risks_under(self.parameters[f"spread_{name}"])
                for name in SPREAD_NAMES if f"spread_{name}" in self.parameters}

    def worst_consumer_risk(self) -> tuple[float, str]:
        """The highest consumer's risk under the spreads the plan considers, and which spread
        (see :attr:`spread_risks`)."""
        worst = max((risks[1], name) for name, risks in self.spread_risks.items())
        return float(worst[0]), worst[1]

    def robustness_problem(self) -> str | None:
        """Why this plan's stated consumer's risk cannot be relied on here, or None.

        The risks a plan states hold under the anticipated spread of wrong
        labels. When another spread the plan considers would put the consumer's
        risk above :data:`MAX_RISK_FACTOR` times the target, where the wrong
        labels are decides the verdict more than the review does (typically a
        small lot with two reviews per stratum), and a plan that cannot tell
        the buyer its risk is not used: :func:`plan_from_policy` takes the
        single sampling plan instead.
        """
        worst, name = self.worst_consumer_risk()
        if worst <= MAX_RISK_FACTOR * self.consumer_risk_target:
            return None
        spread = {"calibrated": "the power anticipation", "prior_shift":
                  "the prior-shift anticipation", "raw": "the raw scores"}[name]
        return (f"if the wrong labels were spread as in {spread}, its consumer's risk would be "
                f"{worst:.2f}, more than "
                f"{MAX_RISK_FACTOR:g} times the {self.consumer_risk_target:g} asked for")

    def oc(self) -> list[dict[str, float]]:
        """The plan's operating-characteristic curve (see :func:`oc_curve`)."""
        return oc_curve(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for ``summary.json``)."""
        return _plan_dict(self, n=self.n)


def _upper(sizes: np.ndarray, n: np.ndarray, x: np.ndarray, tail: float) -> np.ndarray:
    """Upper one-sided bound at level ``1 - tail`` of the stratified rate (``verify``'s bound)."""
    from .estimate import effective_sample_bounds

    _, _, hi = effective_sample_bounds(sizes, n, x, confidence=1 - 2 * tail)
    return np.asarray(hi, dtype=np.float64)


def _simulated_statistic(
    sizes: np.ndarray, alloc: np.ndarray, defects: np.ndarray, tail: float, salt: int
) -> np.ndarray:
    """``U`` for :data:`PLAN_DRAWS` stratified samples of a lot with ``defects[h]`` wrong labels."""
    rng = np.random.default_rng([PLAN_SEED, int(salt)])
    x = rng.hypergeometric(defects, sizes - defects, alloc, size=(PLAN_DRAWS, sizes.size))
    return _upper(sizes, alloc, x, tail)


def _apportion(total: int, share: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Split ``total`` wrong labels over strata in proportion to ``share`` (capped at N_h)."""
    share = share / share.sum()
    out = np.zeros(sizes.size, dtype=np.int64)
    left = total
    active = np.ones(sizes.size, dtype=bool)
    for _ in range(sizes.size + 1):
        if left <= 0 or not active.any():
            break
        w = share * active
        if w.sum() <= 0:
            w = active.astype(float)
        target = out + left * w / w.sum()
        capped = np.minimum(np.floor(target).astype(np.int64), sizes)
        left = total - capped.sum()
        out = capped
        active = out < sizes
        if left > 0:
            frac = np.where(active, target - np.floor(target), -1.0)
            for h in np.argsort(-frac, kind="stable")[:left]:
                if out[h] < sizes[h]:
                    out[h] += 1
            left = total - out.sum()
    return out


def _spread(
    issues: Any, strata: Any, robustness: float
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Stratum of every item, the anticipated share of wrong labels per stratum, and its parts.

    The parts (each a share per stratum): ``calibrated`` (power anticipation),
    ``prior_shift`` and ``raw`` (``1 - label_quality`` as the model gives it,
    the least concentrated); the plan uses ``(1 - robustness) * calibrated +
    robustness * prior_shift``.
    """
    table, _ = _issues_frame(issues)
    stratum = make_strata(table, strata)
    quality = table.get_column("label_quality").to_numpy().astype(np.float64)
    n_issues = int(table.get_column("is_issue").sum())
    calibrated, _ = anticipated_error_probabilities(quality, n_issues)
    S = int(stratum.max()) + 1
    sizes = np.bincount(stratum, minlength=S)

    def share(per_item: np.ndarray) -> np.ndarray:
        total = np.bincount(stratum, weights=per_item, minlength=S)
        return total / total.sum() if total.sum() > 0 else sizes / sizes.sum()

    parts = {"calibrated": share(calibrated),
             "prior_shift": share(prior_shift_error_probabilities(quality, n_issues)),
             "raw": share(1.0 - quality)}
    mixed = (1 - robustness) * parts["calibrated"] + robustness * parts["prior_shift"]
    return stratum, mixed, parts


def stratified_plan(
    issues: Any,
    *,
    aql: float,
    lq: float,
    producer_risk: float = 0.05,
    consumer_risk: float = 0.10,
    strata: int | Sequence[int] = DEFAULT_STRATA,
    robustness: float = ROBUSTNESS,
) -> StratifiedPlan:
    """The smallest model-assisted stratified plan meeting both risks.

    The lot is the audited data, stratified as for :func:`review_sample`.
    How a lot's wrong labels spread over the strata is anticipated from the
    audit's scores: a mixture of two anticipations calibrated to the audit's
    issue count, the power one (see
    :func:`labelaudit.verify.anticipated_error_probabilities`) and, with
    weight ``robustness``, the prior-shift one (see
    :func:`labelaudit.verify.prior_shift_error_probabilities`), which puts
    more wrong labels among the confident items the design reviews least.
    For a total of ``n`` reviews, allocated by Neyman's rule under the
    anticipated rates at the LQ, the plan decides on ``U``, the upper
    one-sided bound at level ``1 - consumer_risk`` of the stratified
    noise-rate estimate (the bound ``labelaudit verify`` reports). Because
    ``U`` carries the sample's own variance, a review that finds wrong labels
    where the design reviews least raises it: the consumer's risk depends
    much less on where the wrong labels really are than a decision on the
    estimate alone. Its distribution is simulated (:data:`PLAN_DRAWS`
    stratified samples, fixed seed) for a lot at the LQ and one at the AQL;
    the threshold is the largest with P(U < threshold | LQ) at most
    ``consumer_risk``; the plan is feasible when P(U >= threshold | AQL) is
    at most ``producer_risk``. The smallest feasible ``n`` is found by
    bisection.

    Parameters
    ----------
    issues : AuditResult or polars.DataFrame
        A finished audit of the lot (or its issues table).
    aql, lq, producer_risk, consumer_risk
        As in :func:`single_sampling_plan`.
    strata : 1 or (int, int, int), default (2, 2, 3)
        As in :func:`labelaudit.verify.review_sample`.
    robustness : float, default 0.5
        Weight of the prior-shift anticipation in the spread, in [0, 1]; 1
        assumes the less concentrated of the two.

    Returns
    -------
    StratifiedPlan

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> rng = np.random.default_rng(0)
    >>> q = rng.beta(5, 1, size=5000)
    >>> t = pl.DataFrame({"id": np.arange(5000), "given_label": ["a"] * 5000,
    ...                   "suggested_label": np.where(q > 0.5, "a", "b"),
    ...                   "label_quality": q, "is_issue": q < 0.3})
    >>> plan = stratified_plan(t, aql=0.02, lq=0.05)
    >>> plan.n < plan.single_plan_n, plan.consumer_risk <= 0.10
    (True, True)
    """
    table, _ = _issues_frame(issues)
    N = table.height
    _check_levels(N, aql, lq, producer_risk, consumer_risk)
    if not isinstance(robustness, int | float) or not 0 <= robustness <= 1:
        raise LabelAuditError(f"robustness: must be in [0, 1], got {robustness!r}")
    single = single_sampling_plan(N, aql, lq, producer_risk, consumer_risk)
    d1, d2 = single.defects_at_aql, single.defects_at_lq
    stratum, share, parts = _spread(table, strata, robustness)
    sizes = np.bincount(stratum).astype(np.int64)
    at_lq_counts = _apportion(d2, share, sizes)
    at_lq = np.minimum(at_lq_counts / sizes, 1.0)
    at_aql = _apportion(d1, share, sizes)

    tail = float(consumer_risk)

    def evaluate(n: int) -> tuple[bool, np.ndarray, float, float, float]:
        alloc = allocate(sizes, at_lq, n)
        u_lq = np.sort(_simulated_statistic(sizes, alloc, at_lq_counts, tail, d2))
        # The largest threshold with P(U < threshold | lot at the LQ) <= consumer_risk.
        threshold = float(u_lq[int(math.floor(consumer_risk * u_lq.size + 1e-9))])
        beta = float(np.mean(u_lq < threshold))
        alpha = float(np.mean(_simulated_statistic(sizes, alloc, at_aql, tail, d1) >= threshold))
        return alpha <= producer_risk, alloc, threshold, alpha, beta

    lo = int(np.minimum(2, sizes).sum())
    hi = min(N, single.n)
    best = evaluate(hi)
    if not best[0]:
        hi = N
        best = evaluate(hi)
        if not best[0]:
            raise LabelAuditError("no stratified plan meets the risks; use the single plan")
    if evaluate(lo)[0]:
        hi, best = lo, evaluate(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        trial = evaluate(mid)
        if trial[0]:
            hi, best = mid, trial
        else:
            lo = mid
    _, alloc, threshold, alpha, beta = best
    return StratifiedPlan(
        lot_size=N, sizes=tuple(int(s) for s in sizes), allocation=tuple(int(a) for a in alloc),
        spread=tuple(float(s) for s in share), threshold=threshold, bound_tail=tail,
        aql=float(aql), lq=float(lq),
        defects_at_aql=d1, defects_at_lq=d2, producer_risk=alpha, consumer_risk=beta,
        producer_risk_target=float(producer_risk), consumer_risk_target=float(consumer_risk),
        single_plan_n=single.n,
        parameters={"strata": list(strata) if not isinstance(strata, int) else strata,
                    "robustness": float(robustness),
                    **{f"spread_{name}": [float(v) for v in part]
                       for name, part in parts.items()}},
    )


# --------------------------------------------------------------------------- policy


def load_acceptance(path: str | Path) -> dict[str, Any] | None:
    """The ``[gate.acceptance]`` table of a policy file, validated, or None when absent.

    Also read from ``[tool.labelaudit.gate.acceptance]`` in ``pyproject.toml``.
    Keys: ``aql`` and ``lq`` (required), ``producer_risk`` (default 0.05),
    ``consumer_risk`` (default 0.10), ``plan`` (``"stratified"``, the
    model-assisted plan, or ``"single"``).

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    dict or None

    Raises
    ------
    PolicyError
        On a missing file, invalid TOML, an unknown key or a bad value.
    """
    from ..io.config import read_toml

    doc = read_toml(path)
    gate = doc.get("gate")
    where = "gate.acceptance"
    if gate is None:
        gate = (doc.get("tool") or {}).get("labelaudit", {}).get("gate")
        where = "tool.labelaudit.gate.acceptance"
    if not isinstance(gate, dict) or "acceptance" not in gate:
        return None
    table = gate["acceptance"]
    if not isinstance(table, dict):
        raise PolicyError(f"policy '{path}' [{where}]: expected a table")
    unknown = [k for k in table if k not in ACCEPTANCE_KEYS]
    if unknown:
        raise PolicyError(
            f"policy '{path}' [{where}]: unknown key {unknown[0]!r}; allowed keys: "
            + ", ".join(map(repr, ACCEPTANCE_KEYS))
        )
    out = {k: table.get(k, d) for k, d in ACCEPTANCE_KEYS.items()}
    for key in ("aql", "lq"):
        if out[key] is None:
            raise PolicyError(f"policy '{path}' [{where}]: key {key!r} is required")
    if out["plan"] not in PLAN_KINDS:
        raise PolicyError(
            f"policy '{path}' [{where}]: key 'plan' must be one of "
            f"{', '.join(map(repr, PLAN_KINDS))}, got {out['plan']!r}"
        )
    try:
        _check_levels(2, out["aql"], out["lq"], out["producer_risk"], out["consumer_risk"])
    except LabelAuditError as exc:
        raise PolicyError(f"policy '{path}' [{where}]: {exc}") from None
    out["source"] = str(path)
    return out


def plan_from_policy(acceptance: Mapping[str, Any], issues: Any) -> Any:
    """The plan a validated ``[gate.acceptance]`` table asks for, for this audit.

    Parameters
    ----------
    acceptance : Mapping
        Output of :func:`load_acceptance`.
    issues : AuditResult or polars.DataFrame
        The audit of the lot.

    Returns
    -------
    AcceptancePlan or StratifiedPlan
        The model-assisted plan, unless the policy asks for the single one or
        the model-assisted plan's consumer's risk cannot be relied on for this
        audit (:meth:`StratifiedPlan.robustness_problem`): then the single
        sampling plan, with the reason in its ``note``.
    """
    table, _ = _issues_frame(issues)
    levels = {k: acceptance[k] for k in ("aql", "lq", "producer_risk", "consumer_risk")}
    if acceptance.get("plan", "stratified") == "single":
        return single_sampling_plan(table.height, **levels)
    plan = stratified_plan(table, **levels)
    problem = plan.robustness_problem()
    if problem is not None:
        single = single_sampling_plan(table.height, **levels)
        return replace(single, note=(
            f"the model-assisted plan ({plan.n} reviews) was not used: {problem}"))
    return plan


def acceptance_gate(decision: Mapping[str, Any], source: str = "<plan>") -> Any:
    """The ACCEPT/REJECT decision as a one-check gate verdict (exit code, JUnit).

    Parameters
    ----------
    decision : Mapping
        Output of a plan's ``decide``.
    source : str
        The policy file, for messages.

    Returns
    -------
    labelaudit.gate.GateResult
    """
    from ..gate import GateCheck, GateResult

    plan = decision["plan"]
    accepted = decision["decision"] == "ACCEPT"
    if plan["kind"] == "single":
        value, threshold = decision["n_wrong"], plan["c"]
        what = f"{value} wrong of {plan['n']} reviewed, acceptance number {threshold}"
    else:
        value, threshold = decision["upper_bound"], plan["threshold"]
        level = f"{100 * (1 - plan['bound_tail']):g}%"
        what = (f"upper {level} bound on the share of wrong labels {value:.4f} from "
                f"{plan['n']} reviewed, threshold {threshold:.4f}")
    message = (
        f"acceptance: {decision['decision']} ({plan['kind']} plan, {what}; AQL {plan['aql']:g} "
        f"with producer's risk {plan['producer_risk']:.4f}, LQ {plan['lq']:g} with consumer's "
        f"risk {plan['consumer_risk']:.4f})"
    )
    check = GateCheck("acceptance", value, threshold, "fail", accepted, message)
    return GateResult((check,), source)
