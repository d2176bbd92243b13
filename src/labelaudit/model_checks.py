"""What a model's probabilities can and cannot say about label noise.

Two tools for an audit that has no reviewed labels:

* :func:`model_noise_interval` keeps confident learning's noise estimate as
  the point, and widens its interval by what the model cannot tell apart.
  The row bootstrap of :func:`labelaudit.noise_rate_intervals` measures only
  sampling noise; it says nothing about errors the model learned (it agrees
  with them) or about the model's own mistakes (counted as label errors).
  The interval here brackets both with two bounds computed from the model's
  probabilities after calibrating them to the given labels, each with its own
  interval (a row bootstrap, or a normal interval on large data), and, when
  several models' probabilities are given, spans all of them. It costs a few
  passes over the probabilities, so :func:`labelaudit.audit` runs it every
  time.
* :func:`check_model` looks for probabilities that should not be trusted at
  all: no better than the class prior, class columns in the wrong order,
  classes the model cannot separate, badly calibrated probabilities.

Both take the same inputs as the confident-learning functions: given labels
``0..K-1`` and out-of-sample probabilities of shape ``(n, K)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import check_labels, check_pred_probs
from .confident import get_confident_thresholds, noise_rate_intervals
from .exceptions import LabelAuditError

__all__ = [
    "MODEL_LABEL",
    "ModelFinding",
    "ModelNoiseInterval",
    "calibrate_temperature",
    "check_model",
    "model_noise_interval",
]

#: What every output calls a noise figure that rests on the model alone, checked by no review.
MODEL_LABEL = "model-based, unverified"
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
        intervals of the model bounds, over every model given.
    confidence : float
        Coverage asked of every bootstrap interval that goes into it.
    bootstrap_low, bootstrap_high : float
        Row bootstrap interval of the point estimate (sampling noise only).
    lower_bound, upper_bound : float
        The main model's bounds on the noise rate (see
        :func:`model_noise_interval`), at the full data.
    lower_bound_ci_low, upper_bound_ci_high : float
        The low end of the lower bound's interval and the high end of the
        upper bound's (main model): bootstrap percentiles up to 5,000 rows,
        normal intervals beyond.
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

#: The temperature is fitted on at most this many rows (a fixed-seed subsample beyond) ...
_FIT_ROWS = 100_000
#: ... and at most this many probabilities (rows x classes), but never fewer than 10,000 rows.
_FIT_CELLS = 1_000_000
#: Up to this many rows the bounds are bootstrapped; beyond, their means get normal intervals.
_BOOT_ROWS = 5_000
#: Rows per chunk of the full passes over the probabilities (bounds memory).
_CHUNK_ROWS = 16_384
#: Most probabilities (rows x classes) in one chunk of those passes: memory stays
#: bounded whatever the number of classes.
_CHUNK_CELLS = 1 << 20


def _chunk_rows(k: int) -> int:
    """Rows per chunk of a full pass over a matrix with ``k`` columns."""
    return max(1, min(_CHUNK_ROWS, _CHUNK_CELLS // max(k, 1)))


def _subsample(n: int, m: int, seed: int, stream: int) -> np.ndarray | None:
    """Sorted fixed-seed sample of ``m`` of ``n`` rows, or None when ``n <= m`` (use them all)."""
    if n <= m:
        return None
    rng = np.random.default_rng([seed, stream])
    return np.sort(rng.choice(n, m, replace=False))


def _tempered(log_p: np.ndarray, t: float) -> np.ndarray:
    z = log_p * t
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _fit_temperature(y: np.ndarray, p: np.ndarray, seed: int = 0) -> float:
    """The sharpening factor of :func:`calibrate_temperature` (on a bounded subsample)."""
    n, k = p.shape
    rows = _subsample(n, min(_FIT_ROWS, max(_FIT_CELLS // k, 10_000)), seed, 2)
    if rows is not None:
        y, p = y[rows], p[rows]
    log_p = np.log(np.clip(np.asarray(p, dtype=np.float64), _LOG_FLOOR, None))
    log_given = log_p[np.arange(y.shape[0]), y]

    def slope_and_curvature(t: float) -> tuple[float, float]:
        # loss(t) = mean(logsumexp(t l) - t l_y) is convex in t: its slope is
        # mean(E_w[l] - l_y) and its curvature mean(Var_w[l]), w = softmax(t l).
        w = _tempered(log_p, t)
        mean_l = np.einsum("ij,ij->i", w, log_p)
        dev = log_p - mean_l[:, None]
        var_l = np.einsum("ij,ij,ij->i", w, dev, dev)
        return float(np.mean(mean_l - log_given)), float(np.mean(var_l))

    # Safeguarded Newton on the (increasing) slope within [exp(-4), exp(4)].
    lo, hi = float(np.exp(-4.0)), float(np.exp(4.0))
    t = 1.0
    for _ in range(100):
        g, h = slope_and_curvature(t)
        if g == 0.0:
            break
        if g > 0.0:
            hi = t
        else:
            lo = t
        step = t - g / h if h > 0.0 else float("nan")
        if not lo < step < hi:
            step = float(np.sqrt(lo * hi))
        done = abs(np.log(step) - np.log(t)) < 1e-7
        t = step
        if done:
            break
    return float(t)


def calibrate_temperature(labels, pred_probs, *, seed: int = 0) -> tuple[float, np.ndarray]:
    """Fit one sharpening factor ``t`` so that ``p ** t`` (renormalised) best predicts the given labels.

    The factor minimises the mean log-loss on the given labels (temperature
    scaling with the log-probabilities as logits, ``t = 1 / temperature``);
    the loss is convex in ``t``, so a safeguarded Newton search finds it in a
    few passes. Beyond 100,000 rows (or 1,000,000 probabilities, but never
    fewer than 10,000 rows) it is fitted on a fixed-seed random subsample of
    that size: one scalar needs no more, and the fit stays cheap on large
    data. Fitted to noisy labels it calibrates the model to the *noisy*
    labels, which makes the probabilities, if anything, flatter than the
    truth warrants; the bounds that use it lean wide, never narrow.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample probabilities.
    seed : int, default 0
        Seed of the subsample on large data; the same seed gives the same factor.

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
    y = np.asarray(labels, dtype=np.intp)
    p = np.asarray(pred_probs)
    t = _fit_temperature(y, p, seed)
    log_p = np.log(np.clip(np.asarray(p, dtype=np.float64), _LOG_FLOOR, None))
    return t, _tempered(log_p, t)


# ---------------------------------------------------------------------------
# Bounds and the interval
# ---------------------------------------------------------------------------


class _Moments:
    """Count, mean and sum of squared deviations of a stream of chunks (Chan et al.'s merge).

    The chunks are fixed by the data's shape, never by the thread count, so
    the figures are the same on every run.
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add(self, x: np.ndarray) -> None:
        m = x.shape[0]
        if m == 0:
            return
        x = np.asarray(x, dtype=np.float64)
        mean = float(x.mean())
        m2 = float(np.square(x - mean).sum())
        total = self.n + m
        delta = mean - self.mean
        self.mean += delta * m / total
        self.m2 += m2 + delta * delta * self.n * m / total
        self.n = total

    def std(self) -> float:
        """Standard deviation with one degree of freedom taken (``ddof=1``)."""
        return float(np.sqrt(self.m2 / (self.n - 1))) if self.n > 1 else float("inf")


def _row_terms(y: np.ndarray, p: np.ndarray, t: float, thresholds: np.ndarray):
    """Per-row contributions to the lower bound and the two upper bounds.

    One chunked pass over ``p`` (in its own float dtype): the probabilities
    tempered by ``t`` are never held whole.
    """
    n = y.shape[0]
    lower = np.empty(n)
    upper_doubt = np.empty(n)
    upper_unvouched = np.empty(n)
    for start, stop, terms in _row_term_chunks(y, p, t, thresholds):
        lower[start:stop], upper_doubt[start:stop], upper_unvouched[start:stop] = terms
    return lower, upper_doubt, upper_unvouched


def _row_term_moments(y: np.ndarray, p: np.ndarray, t: float, thresholds: np.ndarray):
    """Mean and standard deviation of each of :func:`_row_terms`' vectors, none held whole."""
    moments = [_Moments(), _Moments(), _Moments()]
    for _, _, terms in _row_term_chunks(y, p, t, thresholds):
        for acc, term in zip(moments, terms, strict=True):
            acc.add(term)
    return [(acc.mean, acc.std()) for acc in moments]


def _lower_bound(y: np.ndarray, p: np.ndarray, t: float, thresholds: np.ndarray) -> float:
    """The lower bound's point, computed as :func:`model_noise_interval` computes it."""
    if y.shape[0] <= _BOOT_ROWS:
        return float(_row_terms(y, p, t, thresholds)[0].mean())
    return float(_row_term_moments(y, p, t, thresholds)[0][0])


def _row_term_chunks(y: np.ndarray, p: np.ndarray, t: float, thresholds: np.ndarray):
    """``(start, stop, (lower, doubt, unvouched))`` for each chunk of rows, in order."""
    n = y.shape[0]
    dtype = p.dtype if p.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    thr = np.asarray(thresholds, dtype=np.float64)
    scale = dtype.type(t)
    # Every row's largest probability is at least 1/K, so p ** t never underflows
    # when t * log(K) is moderate; only then can the max-shift be left out.
    shift = t * np.log(max(p.shape[1], 2)) > 30.0
    step = _chunk_rows(p.shape[1])
    buf = np.empty((min(step, n), p.shape[1]), dtype=dtype)
    for start in range(0, n, step):
        stop = min(start + step, n)
        chunk = np.asarray(p[start:stop], dtype=dtype)
        yy = y[start:stop]
        rows = np.arange(stop - start)
        raw_given = chunk[rows, yy].astype(np.float64)
        z = buf[: stop - start]
        with np.errstate(divide="ignore"):
            np.log(chunk, out=z)   # log(0) = -inf: exp gives back 0, as the floor would
        z *= scale
        if shift:
            z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        total = z.sum(axis=1).astype(np.float64)
        given = z[rows, yy].astype(np.float64) / total
        z[rows, yy] = -1.0
        best_other = z.max(axis=1).astype(np.float64) / total
        yield start, stop, (
            # Lower: the calibrated preference for another class over the given one, less
            # the model's own calibrated doubt about that other class (its chance of being
            # wrong).
            np.maximum(2.0 * best_other - 1.0 - given, 0.0),
            # Upper 1: all of the calibrated doubt about the given label is noise.
            1.0 - given,
            # Upper 2: every row the model does not confidently put in its given class.
            (raw_given < thr[yy]).astype(np.float64),
        )


def _resampled_means(columns: np.ndarray, n_bootstrap: int, rng) -> np.ndarray:
    """Bootstrap replicates of column means (rows drawn with replacement); (n, m) -> (n_bootstrap, m)."""
    n = columns.shape[0]
    out = np.empty((n_bootstrap, columns.shape[1]))
    for start in range(0, n_bootstrap, _BOOT_CHUNK):
        stop = min(start + _BOOT_CHUNK, n_bootstrap)
        draw = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = columns[draw].mean(axis=1)
    return out


def _bound_limits(columns, n_bootstrap: int, confidence: float, seed: int):
    """Low end of the lower bound's interval and high end of the upper bound's.

    ``columns`` holds the per-row terms (lower, doubt, unvouched), three
    vectors; the interval is the percentile bootstrap of every row. The
    upper bound is a minimum of two means; its high end is taken as the
    smaller of the two means' high ends, which is never below the high end
    of the minimum.
    """
    alpha = (1.0 - confidence) / 2.0
    reps = _resampled_means(np.column_stack(columns), n_bootstrap,
                            np.random.default_rng([seed, 1]))
    low = float(np.quantile(reps[:, 0], alpha))
    high = float(np.quantile(np.minimum(reps[:, 1], reps[:, 2]), 1.0 - alpha))
    return low, high


def _normal_limits(moments, n: int, confidence: float):
    """The same two ends from the normal (central limit) interval of each mean.

    Beyond ``_BOOT_ROWS`` rows the bootstrap of a mean of that many bounded
    terms agrees with it, at the cost of one pass that holds no per-row
    vector.
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)
    ends = [mean + sign * z * std / np.sqrt(n)
            for (mean, std), sign in zip(moments, (-1.0, 1.0, 1.0), strict=True)]
    return float(ends[0]), float(min(ends[1], ends[2]))


def _one_model(y, p, *, n_bootstrap, confidence, seed, noise=None):
    if noise is None:
        noise = noise_rate_intervals(y, p, n_bootstrap=n_bootstrap, confidence=confidence,
                                     seed=seed)
    y = np.asarray(y, dtype=np.intp)
    p = np.asarray(p)
    thresholds = np.asarray(noise.confident_joint.thresholds, dtype=np.float64)
    t = _fit_temperature(y, p, seed)
    if y.shape[0] <= _BOOT_ROWS:
        cols = _row_terms(y, p, t, thresholds)
        low, high = _bound_limits(cols, n_bootstrap, confidence, seed)
        lb = float(cols[0].mean())
        ub = float(min(cols[1].mean(), cols[2].mean()))
    else:
        moments = _row_term_moments(y, p, t, thresholds)
        low, high = _normal_limits(moments, y.shape[0], confidence)
        lb = float(moments[0][0])
        ub = float(min(moments[1][0], moments[2][0]))
    lb_lo = min(low, lb)
    ub_hi = max(high, ub)
    lo = float(min(noise.ci_low, lb_lo))
    hi = float(max(noise.ci_high, ub_hi))
    return noise, t, lb, ub, lb_lo, ub_hi, lo, hi


def model_noise_interval(labels, pred_probs, *, extra_pred_probs=(), n_bootstrap: int = 1000,
                         confidence: float = 0.95, seed: int = 0,
                         noise=None) -> ModelNoiseInterval:
    """The noise rate from the model alone, with an interval honest about the model.

    The point is confident learning's estimate (unchanged). The interval is the
    union of three intervals, each at ``confidence`` (row bootstraps; normal
    intervals for the bounds beyond 5,000 rows, see below):

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

    The cost is a few passes over the probabilities: the temperature is
    fitted on a bounded subsample (:func:`calibrate_temperature`), the
    per-row terms of the bounds take one chunked pass, and beyond 5,000 rows
    the bounds' intervals are normal (central limit) intervals of their
    means instead of a bootstrap (which they agree with at that size). Given ``noise``, the confident-learning estimate
    already computed for ``pred_probs``, nothing of it is recomputed.

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
    noise : NoiseEstimate, optional
        :func:`labelaudit.noise_rate_intervals` of ``labels`` and
        ``pred_probs`` with the same ``n_bootstrap``, ``confidence`` and
        ``seed``, when already computed (the inputs are then trusted as
        validated). Extra models' estimates are always computed.

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
    main = _one_model(y, pred_probs, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed,
                      noise=noise)
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


def _lift(y, p, assign):
    """Per-row ``p[i, a(y_i)] - mean_j p[j, a(y_i)]``: zero on average when ``p`` ignores the labels.

    ``assign[c]`` is the column read for label ``c`` (no copy of ``p``).
    Returns the mean of the per-row lifts and its standard error, from two
    chunked passes that hold no per-row vector.
    """
    n = p.shape[0]
    step = _chunk_rows(p.shape[1])
    sums = np.zeros(p.shape[1])
    for start in range(0, n, 4096):   # float32 within a block, float64 across
        sums += p[start:start + 4096].sum(axis=0)
    col_means = (sums / n)[assign]
    moments = _Moments()
    for start in range(0, n, step):
        yy = y[start:start + step]
        given = p[start:start + yy.shape[0]][np.arange(yy.shape[0]), assign[yy]]
        moments.add(given.astype(np.float64) - col_means[yy])
    se = moments.std() / np.sqrt(n) if n > 1 else float("inf")
    return float(moments.mean), float(se)


def _top_counts(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, float]:
    """Label x most-probable-column counts (float64, K x K) and the sum of each row's top probability."""
    n, k = p.shape
    counts = np.zeros(k * k, dtype=np.int64)
    top_sum = 0.0
    step = _chunk_rows(k)
    for start in range(0, n, step):
        chunk = p[start:start + step]
        arg = chunk.argmax(axis=1)
        # Scattered adds: a bincount of K * K cells per chunk would cost K**3 per pass.
        np.add.at(counts, y[start:start + chunk.shape[0]] * k + arg, 1)
        top_sum += float(chunk[np.arange(chunk.shape[0]), arg].sum(dtype=np.float64))
    return counts.reshape(k, k).astype(np.float64), top_sum


def _pair_auc(a: np.ndarray, b: np.ndarray) -> float:
    """AUC of scores ``a`` (positives) against ``b`` (negatives), ties counted half."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([a, b]))
    na, nb = a.shape[0], b.shape[0]
    return float((ranks[:na].sum() - na * (na + 1) / 2.0) / (na * nb))


#: Rows of each class an exact pairwise AUC uses (a fixed-seed subsample beyond).
_PAIR_AUC_ROWS = 2_000


def _weak_pairs(y: np.ndarray, p: np.ndarray, counts: np.ndarray, seed: int = 0) -> list:
    """``(auc, i, j)`` for every pair of classes whose pairwise AUC is below ``_PAIR_AUC``.

    Each class contributes its rows, or a fixed-seed sample of
    ``_PAIR_AUC_ROWS`` of them when it has more (an AUC on that many rows
    per class is within about 0.01 of the full one). A pair is cleared
    without ranking when ``a * b >= _PAIR_AUC``, with ``a`` the share of the
    rows labelled ``i`` where ``p_i > p_j`` and ``b`` the share labelled
    ``j`` where ``p_j > p_i``: those rows are ranked right against each
    other, so the AUC is at least ``a * b``. One pass gives every ``a``;
    only the pairs left over are ranked.
    """
    k = p.shape[1]
    # Stable sort by label; 16-bit keys let numpy use a radix sort.
    order = np.argsort(y.astype(np.uint16 if k <= 65535 else np.intp), kind="stable")
    offsets = np.zeros(k + 1, dtype=np.intp)
    np.cumsum(counts, out=offsets[1:])
    wins = np.zeros((k, k))   # wins[i, j]: share of the rows labelled i with p_i > p_j
    blocks = {}
    for i in range(k):
        if counts[i] < _PAIR_MIN_ROWS:
            continue
        idx = order[offsets[i]:offsets[i + 1]]
        if idx.shape[0] > _PAIR_AUC_ROWS:
            rng = np.random.default_rng([seed, 4, i])
            idx = np.sort(rng.choice(idx, _PAIR_AUC_ROWS, replace=False))
        blocks[i] = idx
        sub = p[idx]
        wins[i] = (sub[:, i:i + 1] > sub).sum(axis=0) / idx.shape[0]
    weak = []
    for i in blocks:
        for j in blocks:
            if j <= i or wins[i, j] * wins[j, i] >= _PAIR_AUC:
                continue
            rows_i, rows_j = blocks[i], blocks[j]
            score_i = p[rows_i, i].astype(np.float64) - p[rows_i, j]
            score_j = p[rows_j, i].astype(np.float64) - p[rows_j, j]
            auc = _pair_auc(score_i, score_j)
            if auc < _PAIR_AUC:
                weak.append((auc, i, j))
    return weak


def check_model(labels, pred_probs, class_names=None, *, interval=None,
                seed: int = 0) -> list[ModelFinding]:
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
    interval : ModelNoiseInterval, optional
        :func:`model_noise_interval` of the same labels and probabilities,
        when already computed: its lower bound is the noise credit of the
        calibration check (otherwise it is computed here).
    seed : int, default 0
        Seed of the subsamples used on large data (the temperature fit, and
        the rows of each class a pairwise AUC ranks beyond 2,000).

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
    p = check_pred_probs(pred_probs)
    y = check_labels(labels, p.shape[0], p.shape[1])
    n, k = p.shape
    names = _names(class_names, k)
    findings: list[ModelFinding] = []
    counts = np.bincount(y, minlength=k)
    prior = counts / n

    # (b) column order: label x argmax confusion, best one-to-one assignment.
    confusion, top_sum = _top_counts(y, p)
    agree_identity = float(np.trace(confusion) / n)
    if confusion.max(axis=1).sum() / n - agree_identity < _PERMUTE_GAIN:
        # No assignment can beat the identity by the margin (each label's best column
        # at most): skip the assignment itself.
        assign = np.arange(k)
        agree_best = agree_identity
    else:
        from scipy.optimize import linear_sum_assignment

        lab_idx, col_idx = linear_sum_assignment(confusion, maximize=True)
        assign = np.empty(k, dtype=np.intp)
        assign[lab_idx] = col_idx          # label c is best predicted by column assign[c]
        agree_best = float(confusion[lab_idx, col_idx].sum() / n)
    permuted = agree_best - agree_identity >= _PERMUTE_GAIN and np.any(assign != np.arange(k))

    # (a) information: lift of the given class's probability over its column mean,
    # judged on the best column assignment so permuted columns are not called random.
    lift, se = _lift(y, p, assign if permuted else np.arange(k))
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
    weak = _weak_pairs(y, p, counts, seed)
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
    confidence_mean = top_sum / n
    agreement = agree_identity
    gap = confidence_mean - agreement
    # Credit only the noise the model is sure of (the lower bound of model_noise_interval):
    # confident learning's own estimate would grant an overconfident model all its errors.
    if interval is not None:
        noise_credit = float(interval.lower_bound)
    else:
        thresholds = get_confident_thresholds(y, p)
        noise_credit = _lower_bound(y, p, _fit_temperature(y, p, seed), thresholds)
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
