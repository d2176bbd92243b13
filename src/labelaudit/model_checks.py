"""What a model's probabilities can and cannot say about label noise.

Two tools for an audit that has no reviewed labels:

* :func:`model_noise_interval` keeps confident learning's noise estimate as
  the point, and widens its interval by what the model cannot tell apart.
  The row bootstrap of :func:`labelaudit.noise_rate_intervals` measures only
  sampling noise; it says nothing about errors the model learned (it agrees
  with them) or about the model's own mistakes (counted as label errors).
  The interval here brackets both with two bounds computed from the model's
  probabilities after calibrating them to the given labels, each with its own
  row bootstrap, and, when several models' probabilities are given, spans all
  of them.
* :func:`check_model` looks for probabilities that should not be trusted at
  all: no better than the class prior, class columns in the wrong order,
  classes the model cannot separate, badly calibrated probabilities.

Both take the same inputs as the confident-learning functions: given labels
``0..K-1`` and out-of-sample probabilities of shape ``(n, K)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .confident import get_confident_thresholds, noise_rate_intervals
from .exceptions import LabelAuditError

__all__ = [
    "ModelFinding",
    "ModelNoiseInterval",
    "calibrate_temperature",
    "check_model",
    "model_noise_interval",
]

#: Smallest probability used inside a logarithm.
_LOG_FLOOR = 1e-12
#: Bootstrap replicates drawn at a time (bounds memory to ~chunk x n floats).
_BOOT_CHUNK = 50


@dataclass(frozen=True)
class ModelNoiseInterval:
    """A model-based, unverified noise rate with an interval that includes the model's blind spots.

    Attributes
    ----------
    noise_rate : float
        Point estimate: confident learning's ``noise_rate`` for the main
        model (:func:`labelaudit.noise_rate_intervals`).
    ci_low, ci_high : float
        The interval: the widest of the row bootstrap interval and the
        bootstrapped model bounds, over every model given.
    confidence : float
        Coverage asked of every bootstrap interval that goes into it.
    bootstrap_low, bootstrap_high : float
        Row bootstrap interval of the point estimate (sampling noise only).
    lower_bound, upper_bound : float
        The main model's bounds on the noise rate (see
        :func:`model_noise_interval`), at the full data.
    lower_bound_ci_low, upper_bound_ci_high : float
        The lower bound's bootstrap low end and the upper bound's bootstrap
        high end (main model).
    temperature : float
        Sharpening factor that calibrates the main model to the given labels
        (``p ** t`` renormalised; above 1 the raw probabilities were too soft).
    model_rates : tuple of float
        Point estimate of every model, main model first.
    model_intervals : tuple of (float, float)
        Each model's own ``(ci_low, ci_high)``, main model first.
    spread_low, spread_high : float
        Smallest and largest point estimate over the models.
    n_models : int
        Number of models the interval covers.
    source : str
        Always ``"model"``: nothing here was checked against reviewed labels.
    """

    noise_rate: float
    ci_low: float
    ci_high: float
    confidence: float
    bootstrap_low: float
    bootstrap_high: float
    lower_bound: float
    upper_bound: float
    lower_bound_ci_low: float
    upper_bound_ci_high: float
    temperature: float
    model_rates: tuple = ()
    model_intervals: tuple = ()
    spread_low: float = float("nan")
    spread_high: float = float("nan")
    n_models: int = 1
    source: str = "model"

    @property
    def width(self) -> float:
        """``ci_high - ci_low``."""
        return self.ci_high - self.ci_low


@dataclass(frozen=True)
class ModelFinding:
    """One problem found in a model's probabilities.

    Attributes
    ----------
    code : str
        Stable identifier: ``"uninformative"``, ``"permuted_columns"``,
        ``"inseparable_classes"``, ``"overconfident"`` or ``"underconfident"``.
    severity : str
        ``"error"`` (the noise figures from these probabilities mean nothing)
        or ``"warning"`` (read them with care).
    message : str
        One plain-words sentence naming the classes concerned.
    figures : dict
        The numbers the finding rests on.
    """

    code: str
    severity: str
    message: str
    figures: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Calibration against the given labels
# ---------------------------------------------------------------------------


def _tempered(log_p: np.ndarray, t: float) -> np.ndarray:
    z = log_p * t
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def calibrate_temperature(labels, pred_probs) -> tuple[float, np.ndarray]:
    """Fit one sharpening factor ``t`` so that ``p ** t`` (renormalised) best predicts the given labels.

    The factor minimises the mean log-loss on the given labels (temperature
    scaling with the log-probabilities as logits, ``t = 1 / temperature``).
    Fitted to noisy labels it calibrates the model to the *noisy* labels,
    which makes the probabilities, if anything, flatter than the truth
    warrants; the bounds that use it lean wide, never narrow.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample probabilities.

    Returns
    -------
    t : float
        The factor, in ``[exp(-4), exp(4)]``.
    calibrated : ndarray of shape (n_samples, K), float64
        ``p ** t`` renormalised per row.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.model_checks import calibrate_temperature
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 3000)
    >>> sharp = np.full((3000, 3), 0.1); sharp[np.arange(3000), labels] = 0.8
    >>> soft = sharp ** 0.3; soft /= soft.sum(1, keepdims=True)   # too soft
    >>> t, cal = calibrate_temperature(labels, soft)
    >>> bool(t > 2)
    True
    """
    from scipy.optimize import minimize_scalar

    y = np.asarray(labels, dtype=np.intp)
    log_p = np.log(np.clip(np.asarray(pred_probs, dtype=np.float64), _LOG_FLOOR, None))
    rows = np.arange(y.shape[0])

    def loss(log_t: float) -> float:
        z = log_p * np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        return float(np.mean(lse - z[rows, y]))

    res = minimize_scalar(loss, bounds=(-4.0, 4.0), method="bounded",
                          options={"xatol": 1e-4})
    t = float(np.exp(res.x))
    return t, _tempered(log_p, t)


# ---------------------------------------------------------------------------
# Bounds and the interval
# ---------------------------------------------------------------------------


def _row_terms(y: np.ndarray, p: np.ndarray, cal: np.ndarray, thresholds: np.ndarray):
    """Per-row contributions to the lower bound and the two upper bounds."""
    rows = np.arange(y.shape[0])
    p_given = cal[rows, y]
    others = cal.copy()
    others[rows, y] = -1.0
    best_other = others.max(axis=1)
    # Lower: the calibrated preference for another class over the given one, less the
    # model's own calibrated doubt about that other class (its chance of being wrong).
    lower = np.maximum(2.0 * best_other - 1.0 - p_given, 0.0)
    # Upper 1: all of the calibrated doubt about the given label is noise.
    upper_doubt = 1.0 - p_given
    # Upper 2: every row the model does not confidently put in its given class.
    upper_unvouched = (np.asarray(p, dtype=np.float64)[rows, y] < thresholds[y]).astype(np.float64)
    return lower, upper_doubt, upper_unvouched


def _poisson_means(columns: np.ndarray, n_bootstrap: int, rng) -> np.ndarray:
    """Poisson-bootstrap replicates of column means; ``columns`` is (n, m) -> (n_bootstrap, m)."""
    n = columns.shape[0]
    out = np.empty((n_bootstrap, columns.shape[1]))
    for start in range(0, n_bootstrap, _BOOT_CHUNK):
        stop = min(start + _BOOT_CHUNK, n_bootstrap)
        w = rng.poisson(1.0, size=(stop - start, n)).astype(np.float64)
        tot = np.maximum(w.sum(axis=1, keepdims=True), 1.0)
        out[start:stop] = (w @ columns) / tot
    return out


def _one_model(y, p, *, n_bootstrap, confidence, seed):
    est = noise_rate_intervals(y, p, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
    thresholds = get_confident_thresholds(y, p)
    t, cal = calibrate_temperature(y, p)
    lower, doubt, unvouched = _row_terms(y, p, cal, np.asarray(thresholds, dtype=np.float64))
    cols = np.column_stack([lower, doubt, unvouched])
    point = cols.mean(axis=0)
    reps = _poisson_means(cols, n_bootstrap, np.random.default_rng([seed, 1]))
    alpha = (1.0 - confidence) / 2.0
    lb = float(point[0])
    ub = float(min(point[1], point[2]))
    lb_lo = float(min(np.quantile(reps[:, 0], alpha), lb))
    ub_hi = float(max(np.quantile(np.minimum(reps[:, 1], reps[:, 2]), 1.0 - alpha), ub))
    lo = float(min(est.ci_low, lb_lo))
    hi = float(max(est.ci_high, ub_hi))
    return est, t, lb, ub, lb_lo, ub_hi, lo, hi


def model_noise_interval(labels, pred_probs, *, extra_pred_probs=(), n_bootstrap: int = 1000,
                         confidence: float = 0.95, seed: int = 0) -> ModelNoiseInterval:
    """The noise rate from the model alone, with an interval honest about the model.

    The point is confident learning's estimate (unchanged). The interval is the
    union of three intervals, each a ``confidence`` row bootstrap:

    1. the bootstrap of the point estimate itself (sampling noise);
    2. a **lower bound**, the mean over rows of
       ``max(0, (c_o - c_y) - (1 - c_o))`` with ``c`` the probabilities
       calibrated to the given labels (:func:`calibrate_temperature`) and
       ``o`` the most probable class other than the given ``y``: the margin
       by which the model prefers another class, less the model's own
       calibrated chance of being wrong about that class. This is the
       triangle inequality ``P(label wrong) >= P(model disagrees) -
       P(model wrong)`` taken row by row, so a model's own confusion (rows
       at ``0.6 / 0.4`` between overlapping classes add nothing) does not
       count as label noise, and a weak model pulls the bound down instead
       of inflating it. No model-only figure can do better in general: a
       model calibrated to noisy labels expects exactly the disagreement it
       sees, so the bound is only as high as the model is sure;
    3. an **upper bound**, the smaller of two figures that each count every
       error the model can see: ``mean(1 - c_y)``, all the calibrated doubt
       about the given labels taken as noise (a label is wrong with
       probability ``1 - P(true = y | x, y)``, and as long as a class is
       given at least as often to items that are in it as to items that are
       not, seeing the label can only raise ``P(true = y)`` above the model's
       ``c_y``; calibrating to noisy labels flattens ``c``, which only raises
       the figure), and the share of rows whose raw probability of the given
       class is below that class's confident threshold (the rows confident
       learning does not vouch for: its own count of clean rows).

    Errors the model has learned so well that it confidently agrees with them
    are invisible to every model-only figure, this one included; only a
    reviewed sample can see them.

    With ``extra_pred_probs`` (other models' out-of-sample probabilities for
    the same rows), every model gets the same three intervals and the result
    spans all of them; ``model_rates`` and ``spread_low``/``spread_high`` show
    how far the models' point estimates disagree.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        The main model's out-of-sample probabilities; its estimate is the point.
    extra_pred_probs : sequence of ndarray, optional
        Other models' probabilities, each of shape ``(n_samples, K)``.
    n_bootstrap : int, default 1000
        Replicates of every bootstrap.
    confidence : float, default 0.95
        Coverage asked of each bootstrap interval.
    seed : int, default 0
        Seed; the same seed gives the same interval.

    Returns
    -------
    ModelNoiseInterval

    Raises
    ------
    LabelAuditError
        Bad labels or probabilities (as :func:`labelaudit.noise_rate_intervals`),
        or an extra model whose shape differs from ``pred_probs``.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.model_checks import model_noise_interval
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.integers(0, 3, 2000)
    >>> probs = rng.dirichlet([0.3, 0.3, 0.3], 2000) * 0.4
    >>> probs[np.arange(2000), truth] += 0.6
    >>> labels = truth.copy(); flip = rng.random(2000) < 0.1
    >>> labels[flip] = (truth[flip] + 1) % 3
    >>> r = model_noise_interval(labels, probs, n_bootstrap=200)
    >>> r.source
    'model'
    >>> bool(r.ci_low <= (labels != truth).mean() <= r.ci_high)
    True
    """
    extras = list(extra_pred_probs) if extra_pred_probs is not None else []
    y = np.asarray(labels)
    main = _one_model(y, pred_probs, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
    shape = np.shape(pred_probs)
    results = [main]
    for i, extra in enumerate(extras):
        if np.shape(extra) != shape:
            raise LabelAuditError(
                f"`extra_pred_probs[{i}]` must have the shape of `pred_probs` {shape}, "
                f"got {np.shape(extra)}."
            )
        results.append(_one_model(y, extra, n_bootstrap=n_bootstrap, confidence=confidence,
                                  seed=seed + 1 + i))
    est, t, lb, ub, lb_lo, ub_hi, _, _ = main
    rates = tuple(float(r[0].noise_rate) for r in results)
    intervals = tuple((r[6], r[7]) for r in results)
    return ModelNoiseInterval(
        noise_rate=float(est.noise_rate),
        ci_low=float(min(iv[0] for iv in intervals)),
        ci_high=float(max(iv[1] for iv in intervals)),
        confidence=float(confidence),
        bootstrap_low=float(est.ci_low),
        bootstrap_high=float(est.ci_high),
        lower_bound=lb,
        upper_bound=ub,
        lower_bound_ci_low=lb_lo,
        upper_bound_ci_high=ub_hi,
        temperature=t,
        model_rates=rates,
        model_intervals=intervals,
        spread_low=float(min(rates)),
        spread_high=float(max(rates)),
        n_models=len(results),
    )


# ---------------------------------------------------------------------------
# Model checks
# ---------------------------------------------------------------------------

#: A check needs the model to beat chance by this many standard errors.
_Z_MARGIN = 4.0
#: ... and by at least this much mean probability of the given class.
_MIN_LIFT = 0.02
#: Columns count as permuted when another assignment agrees this much better.
_PERMUTE_GAIN = 0.10
#: A pair of classes is inseparable below this pairwise AUC.
_PAIR_AUC = 0.6
#: Rows each class of a pair needs before its AUC is judged.
_PAIR_MIN_ROWS = 30
#: Calibration gap (mean confidence vs. agreement) judged bad beyond this.
_CALIBRATION_GAP = 0.15


def _names(class_names, k):
    if class_names is None:
        return [str(i) for i in range(k)]
    names = [str(c) for c in class_names]
    if len(names) != k:
        raise LabelAuditError(
            f"`class_names` must name each of the {k} probability columns, got {len(names)} names."
        )
    return names


def _lift(y, p):
    """Per-row ``p[i, y_i] - mean_j p[j, y_i]``: zero on average when ``p`` ignores the labels."""
    rows = np.arange(y.shape[0])
    col_means = p.mean(axis=0)
    d = p[rows, y] - col_means[y]
    mean = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(d.shape[0])) if d.shape[0] > 1 else float("inf")
    return mean, se


def _pair_auc(a: np.ndarray, b: np.ndarray) -> float:
    """AUC of scores ``a`` (positives) against ``b`` (negatives), ties counted half."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([a, b]))
    na, nb = a.shape[0], b.shape[0]
    return float((ranks[:na].sum() - na * (na + 1) / 2.0) / (na * nb))


def check_model(labels, pred_probs, class_names=None) -> list[ModelFinding]:
    """Check that a model's probabilities can support a noise audit at all.

    Four checks, each judged against the given (noisy) labels with margins
    wide enough that label noise alone does not set them off:

    ``uninformative`` (error)
        The probability of the given class is no higher than that column's
        average over all rows (what a model that ignores the items would
        reach): the mean lift is below 0.02 or within 4 standard errors of
        zero, under every assignment of columns to classes.
    ``permuted_columns`` (error)
        Matching probability columns to labels by the argmax confusion
        (Hungarian assignment) agrees with the given labels at least 10
        points more often than the columns as given: the columns are most
        likely in another class order. The message names the mapping.
    ``inseparable_classes`` (warning)
        For a pair of classes ``i, j`` (at least 30 rows each), the score
        ``p_i - p_j`` ranks rows labelled ``i`` above rows labelled ``j``
        with an AUC below 0.6: the model hardly tells them apart, so its
        noise figures for these classes mostly count its own confusion.
        (Label noise pulls the AUC towards 0.5 too, but a 0.6 cut needs very
        heavy noise in that pair to cross it.)
    ``underconfident`` / ``overconfident`` (warning)
        The mean top probability against how often the top class equals the
        given label. Noisy labels make any model look overconfident, so the
        overconfidence gap must exceed 0.15 *plus* the noise the model is
        sure of (the lower bound of :func:`model_noise_interval`, which
        calibration makes immune to the model's own overconfidence); label
        noise cannot make a model look underconfident, so that direction
        needs only the 0.15 gap.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample probabilities.
    class_names : sequence of str, optional
        Names used in messages (default: the class indices).

    Returns
    -------
    list of ModelFinding
        Empty when nothing is wrong.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit.model_checks import check_model
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 1000)
    >>> random_probs = rng.dirichlet([1, 1, 1], 1000)
    >>> [f.code for f in check_model(labels, random_probs)]
    ['uninformative']
    >>> good = np.full((1000, 3), 0.1); good[np.arange(1000), labels] = 0.8
    >>> noisy = labels.copy(); noisy[:150] = (labels[:150] + 1) % 3   # 15% label noise
    >>> check_model(noisy, good)
    []
    >>> [f.code for f in check_model(labels, good)]   # right 100% of the time, but only 80% sure
    ['underconfident']
    >>> findings = check_model(labels, good[:, [1, 2, 0]], class_names=["cat", "dog", "fox"])
    >>> findings[0].code
    'permuted_columns'
    """
    from scipy.optimize import linear_sum_assignment

    thresholds = get_confident_thresholds(labels, pred_probs)  # validates both inputs
    y = np.asarray(labels).astype(np.intp)
    p = np.asarray(pred_probs, dtype=np.float64)
    n, k = p.shape
    names = _names(class_names, k)
    findings: list[ModelFinding] = []
    prior = np.bincount(y, minlength=k) / n

    # (b) column order: label x argmax confusion, best one-to-one assignment.
    top = p.argmax(axis=1)
    confusion = np.zeros((k, k))
    np.add.at(confusion, (y, top), 1.0)
    lab_idx, col_idx = linear_sum_assignment(confusion, maximize=True)
    assign = np.empty(k, dtype=np.intp)
    assign[lab_idx] = col_idx          # label c is best predicted by column assign[c]
    agree_identity = float(np.trace(confusion) / n)
    agree_best = float(confusion[lab_idx, col_idx].sum() / n)
    permuted = agree_best - agree_identity >= _PERMUTE_GAIN and np.any(assign != np.arange(k))

    # (a) information: lift of the given class's probability over its column mean,
    # judged on the best column assignment so permuted columns are not called random.
    lift, se = _lift(y, p[:, assign] if permuted else p)
    if lift < _MIN_LIFT or lift < _Z_MARGIN * se:
        findings.append(ModelFinding(
            "uninformative", "error",
            f"The predicted probabilities carry no information about the labels: the given class "
            f"gets on average {lift:+.3f} more probability than it gets on any row (standard error "
            f"{se:.3f}), no better than guessing from the class frequencies; every noise figure "
            f"from these probabilities is meaningless.",
            {"lift": lift, "lift_se": se, "agreement": agree_identity,
             "prior_agreement": float(prior.max())}))
        return findings
    if permuted:
        moved = [c for c in range(k) if assign[c] != c]
        pairs = ", ".join(f"'{names[c]}' -> column '{names[assign[c]]}'" for c in moved[:6])
        more = f" and {len(moved) - 6} more" if len(moved) > 6 else ""
        findings.append(ModelFinding(
            "permuted_columns", "error",
            f"The probability columns look out of order: labels agree with the top class "
            f"{agree_identity:.1%} of the time as given but {agree_best:.1%} if the columns are "
            f"matched as {pairs}{more}; check the class order of the model's output.",
            {"agreement_as_given": agree_identity, "agreement_best": agree_best,
             "best_column_for_label": [int(v) for v in assign]}))
        return findings

    # (c) separability of each pair of classes.
    counts = np.bincount(y, minlength=k)
    members = [np.flatnonzero(y == c) if counts[c] >= _PAIR_MIN_ROWS else None for c in range(k)]
    weak = []
    for i in range(k):
        if members[i] is None:
            continue
        for j in range(i + 1, k):
            if members[j] is None:
                continue
            score_i = p[members[i], i] - p[members[i], j]
            score_j = p[members[j], i] - p[members[j], j]
            auc = _pair_auc(score_i, score_j)
            if auc < _PAIR_AUC:
                weak.append((auc, i, j))
    if weak:
        weak.sort()
        text = ", ".join(f"'{names[i]}' vs '{names[j]}' (AUC {auc:.2f})" for auc, i, j in weak[:8])
        more = f" and {len(weak) - 8} more pairs" if len(weak) > 8 else ""
        findings.append(ModelFinding(
            "inseparable_classes", "warning",
            f"The model can hardly tell these classes apart: {text}{more}; its noise figures for "
            f"them mostly count its own confusion.",
            {"pairs": [{"classes": [names[i], names[j]], "auc": auc} for auc, i, j in weak]}))

    # (d) calibration, judged so that label noise alone cannot trigger it.
    confidence_mean = float(p.max(axis=1).mean())
    agreement = float(np.mean(top == y))
    gap = confidence_mean - agreement
    # Credit only the noise the model is sure of (the lower bound of model_noise_interval):
    # confident learning's own estimate would grant an overconfident model all its errors.
    _, cal = calibrate_temperature(y, p)
    lower, _, _ = _row_terms(y, p, cal, np.asarray(thresholds, dtype=np.float64))
    noise_credit = float(lower.mean())
    if -gap > _CALIBRATION_GAP:
        findings.append(ModelFinding(
            "underconfident", "warning",
            f"The probabilities are too soft: the top class matches the given label "
            f"{agreement:.1%} of the time but gets only {confidence_mean:.1%} probability on "
            f"average; confidence thresholds and quality scores rest on flattened values.",
            {"mean_confidence": confidence_mean, "agreement": agreement, "gap": gap}))
    elif gap > _CALIBRATION_GAP + noise_credit:
        findings.append(ModelFinding(
            "overconfident", "warning",
            f"The probabilities are too sure of themselves: the top class gets {confidence_mean:.1%} "
            f"probability on average but matches the given label only {agreement:.1%} of the time, "
            f"more than the {noise_credit:.1%} of label noise the model is sure of can explain.",
            {"mean_confidence": confidence_mean, "agreement": agreement, "gap": gap,
             "noise_credit": noise_credit}))
    return findings
