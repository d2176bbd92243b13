"""``labelaudit audit --task regression``: label issues in numeric targets.

Inputs: DATA with a numeric label column (``--label-col``) and, per item, an
out-of-sample model prediction, either ``--predictions FILE`` (a ``.npy``
array in DATA's row order, or a table with a ``prediction`` column, matched by
``--id-col`` when it has one) or ``--prediction-col COLUMN`` of DATA.

Scores come from :func:`labelaudit.regression.rank.get_label_quality_scores`
(``--regression-method``, default ``"outre"`` as in cleanlab). cleanlab's
``rank`` module has no issue filter, so the audit flags items with a rule of
its own, :func:`flag_regression_issues`, documented there:

- ``u = -log(score)`` (for ``"residual"`` the absolute residual, for
  ``"outre"`` the item's neighbour distance in units of the median one);
- an item is a label issue when ``u > median(u) + cutoff * 1.4826 * MAD(u)``
  (a robust z-score above ``cutoff``, default 3.5, the Iglewicz-Hoaglin
  outlier rule), i.e. when its score is below ``exp(-that)``.

The headline is the share of flagged items with a bootstrap percentile
interval (items resampled, the threshold recomputed in every replicate), so
it reflects how stable the rule is on this data, not the model's own errors.
Like every model-based figure it is unverified: a model that learned a
wrong label cannot flag it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .._validation import REGRESSION_METHODS, numeric_values
from ..exceptions import InputError, LabelAuditError, SlowRunWarning
from ..io import file_fingerprint, item_ids, read_regression_predictions, read_table
from ..io.tables import require_columns
from ..regression.rank import get_label_quality_scores
from ..stats import wilson_interval
from . import Task, TaskRequest, register_task, task_result

__all__ = ["RegressionAudit", "audit_regression", "flag_regression_issues"]

#: Robust z-score above which an item is flagged.
DEFAULT_CUTOFF = 3.5
#: MAD of a normal sample times this estimates its standard deviation.
_MAD_TO_SD = 1.4826
#: Mean absolute deviation of a normal sample times this estimates its standard deviation.
_MEANAD_TO_SD = 1.2533
#: Label-range bins of the per-range table (fewer when the labels take fewer values).
N_BINS = 4
#: Above this many items, method "outre" (quadratic time) warns before it starts.
OUTRE_SLOW_ITEMS = 200_000


@dataclass(frozen=True)
class RegressionAudit:
    """What ``--task regression`` found: scores, flags, headline and per-range table.

    Parameters
    ----------
    method : str
        Score method.
    cutoff : float
        Robust z-score cutoff of the flagging rule.
    score_threshold : float
        Items scoring strictly below it are flagged.
    labels, predictions, scores : numpy.ndarray
        Per item, in DATA's row order.
    is_issue : numpy.ndarray of bool
    ids : polars.Series
    issue_rate, ci_low, ci_high : float
        Share of flagged items and its bootstrap interval.
    confidence : float
    n_bootstrap : int
    r2 : float or None
        Coefficient of determination of the predictions (None when the labels are constant).
    median_abs_residual : float
    issues : polars.DataFrame
        The issues table, issues first by rank: id, given_label, suggested_label
        (the model's prediction), residual, label_quality, is_issue, issue_rank.
    bins : polars.DataFrame
        One row per label range: class, count, estimated_noise_rate, ci_low, ci_high,
        n_issues, mean_label_quality.
    label_col : str
    prediction_source : str
    """

    method: str
    cutoff: float
    score_threshold: float
    labels: np.ndarray
    predictions: np.ndarray
    scores: np.ndarray
    is_issue: np.ndarray
    ids: pl.Series
    issue_rate: float
    ci_low: float
    ci_high: float
    confidence: float
    n_bootstrap: int
    r2: float | None
    median_abs_residual: float
    issues: pl.DataFrame
    bins: pl.DataFrame
    label_col: str
    prediction_source: str

    @property
    def n_items(self) -> int:
        """Number of audited items."""
        return int(self.scores.shape[0])

    @property
    def n_issues(self) -> int:
        """Number of flagged items."""
        return int(self.is_issue.sum())

    def figures(self) -> dict[str, Any]:
        """Gate figures (``summary.json`` ``figures``)."""
        return {
            "regression_r2": self.r2,
            "regression_median_abs_residual": self.median_abs_residual,
            "regression_issue_rate_ci_high": self.ci_high,
        }

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` ``extras["regression"]`` entry."""
        return {
            "method": self.method,
            "rule": f"flagged when -log(score) exceeds median + {self.cutoff:g} x 1.4826 x MAD "
                    f"of -log(score) over all items (score < {self.score_threshold:.6g})",
            "cutoff": self.cutoff,
            "score_threshold": self.score_threshold,
            "n_items": self.n_items,
            "n_issues": self.n_issues,
            "issue_rate": self.issue_rate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "interval": f"bootstrap percentile, {self.n_bootstrap} replicates",
            "r2": self.r2,
            "median_abs_residual": self.median_abs_residual,
            "label_col": self.label_col,
            "predictions": self.prediction_source,
            "bins": self.bins.to_dicts(),
        }

    def lines(self) -> list[str]:
        """Terminal summary lines."""
        conf = f"{100 * self.confidence:g}%"
        r2 = "undefined (constant labels)" if self.r2 is None else f"{self.r2:.3f}"
        return [
            f"Audited {self.n_items} numeric labels ({self.method} scores): {self.n_issues} "
            f"label issues, {100 * self.issue_rate:.2f}% ({conf} interval "
            f"{100 * self.ci_low:.2f}% to {100 * self.ci_high:.2f}%, model-based, unverified).",
            f"Predictions: R^2 {r2}, median |prediction - label| "
            f"{self.median_abs_residual:.4g}; flagged: score below {self.score_threshold:.4g} "
            f"(robust z-score of -log(score) above {self.cutoff:g}).",
        ]


def _robust_threshold(u: np.ndarray, cutoff: float) -> float:
    # median + cutoff * robust sd; the MAD is 0 when over half the values tie,
    # then the mean absolute deviation stands in; both 0 means nothing stands out.
    med = float(np.median(u))
    dev = np.abs(u - med)
    spread = _MAD_TO_SD * float(np.median(dev))
    if not spread > 0:
        spread = _MEANAD_TO_SD * float(np.mean(dev))
    if not spread > 0 or not math.isfinite(spread):
        return math.inf
    return med + cutoff * spread


def _neg_log(scores: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -np.log(np.asarray(scores, dtype=np.float64))


def flag_regression_issues(scores, *, cutoff: float = DEFAULT_CUTOFF) -> tuple[np.ndarray, float]:
    """Flag the items whose label quality score is a robust outlier on the low side.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Scores of :func:`labelaudit.regression.rank.get_label_quality_scores`.
    cutoff : float, default 3.5
        Robust z-score cutoff: with ``u = -log(score)``, flag
        ``u > median(u) + cutoff * 1.4826 * MAD(u)``. When over half the
        ``u`` are equal (MAD 0) the mean absolute deviation times 1.2533
        replaces the scaled MAD; when every ``u`` is equal nothing is flagged.

    Returns
    -------
    is_issue : numpy.ndarray of bool
    score_threshold : float
        Items scoring strictly below it are flagged (ties at it are not).

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.exp(-np.array([0.1, 0.2, 0.15, 0.12, 3.0, 0.18]))
    >>> mask, threshold = flag_regression_issues(scores)
    >>> mask.tolist()
    [False, False, False, False, True, False]
    """
    if not (isinstance(cutoff, (int, float)) and not isinstance(cutoff, bool)
            and math.isfinite(cutoff) and cutoff > 0):
        raise LabelAuditError(f"`cutoff` must be a positive number, got {cutoff!r}")
    u = _neg_log(scores)
    limit = _robust_threshold(u, float(cutoff))
    return u > limit, float(math.exp(-limit))


def _bootstrap_rate(u: np.ndarray, cutoff: float, n_bootstrap: int, seed: int,
                    confidence: float) -> tuple[float, float]:
    # Percentile interval of the flagged share: the items are resampled and the
    # threshold recomputed in every replicate, in a fixed replicate order.
    rng = np.random.default_rng(seed)
    n = u.shape[0]
    rates = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        sample = u[rng.integers(0, n, n)]
        rates[b] = np.count_nonzero(sample > _robust_threshold(sample, cutoff)) / n
    alpha = 1.0 - confidence
    lo, hi = np.quantile(rates, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _label_bins(labels: np.ndarray, is_issue: np.ndarray, scores: np.ndarray,
                confidence: float) -> pl.DataFrame:
    """Flagged share per label range (quantile bins of the given labels)."""
    edges = np.unique(np.quantile(labels, np.linspace(0, 1, N_BINS + 1)))
    if edges.shape[0] < 2:
        codes = np.zeros(labels.shape[0], dtype=np.intp)
        names = [f"y = {_fmt(float(edges[0]))}"]
    else:
        inner = edges[1:-1]
        codes = np.searchsorted(inner, labels, side="right")
        names = [f"{_fmt(float(a))} <= y < {_fmt(float(b))}" for a, b in
                 zip(edges[:-2], edges[1:-1], strict=True)]
        names.append(f"{_fmt(float(edges[-2]))} <= y <= {_fmt(float(edges[-1]))}")
    counts = np.bincount(codes, minlength=len(names))
    flagged = np.bincount(codes, weights=is_issue.astype(np.float64),
                          minlength=len(names)).astype(np.int64)
    low, high = wilson_interval(flagged, counts, alpha=1.0 - confidence)
    rate = np.where(counts > 0, flagged / np.maximum(counts, 1), 0.0)
    quality = np.bincount(codes, weights=np.asarray(scores, dtype=np.float64),
                          minlength=len(names)) / np.maximum(counts, 1)
    return pl.DataFrame({
        "class": names,
        "count": counts.astype(np.int64),
        "estimated_noise_rate": rate,
        "ci_low": np.asarray(low, dtype=np.float64),
        "ci_high": np.asarray(high, dtype=np.float64),
        "n_issues": flagged,
        "mean_label_quality": quality,
    })


def _issues_table(ids: pl.Series, labels, predictions, scores, is_issue) -> pl.DataFrame:
    """Issues first, lowest score first, ties by row; ranks 1..n_issues, null elsewhere."""
    n = scores.shape[0]
    order = np.lexsort((np.arange(n), np.asarray(scores, dtype=np.float64), ~is_issue))
    n_issues = int(is_issue.sum())
    rank = pl.Series(np.arange(1, n_issues + 1, dtype=np.int64)).extend_constant(None,
                                                                                 n - n_issues)
    labels64 = np.asarray(labels, dtype=np.float64)
    preds64 = np.asarray(predictions, dtype=np.float64)
    return pl.DataFrame({
        "id": ids.alias("id").gather(order),
        "given_label": labels64[order],
        "suggested_label": preds64[order],  # the model's prediction
        "residual": (preds64 - labels64)[order],
        "label_quality": np.asarray(scores, dtype=np.float64)[order],
        "is_issue": is_issue[order],
        "issue_rank": rank,
    })


def audit_regression(labels, predictions, *, ids=None, method: str = "outre",
                     cutoff: float = DEFAULT_CUTOFF, seed: int = 0, n_bootstrap: int = 1000,
                     confidence: float = 0.95, n_jobs: int | None = None,
                     label_col: str = "label", prediction_source: str = "predictions"
                     ) -> RegressionAudit:
    """Score, flag and summarise numeric labels against out-of-sample predictions.

    Parameters
    ----------
    labels, predictions : array-like of shape (n,)
    ids : polars.Series, optional
        Item ids (default: row numbers).
    method : {"outre", "residual"}, default "outre"
    cutoff : float, default 3.5
        See :func:`flag_regression_issues`.
    seed : int, default 0
        Seed of the bootstrap.
    n_bootstrap : int, default 1000
    confidence : float, default 0.95
    n_jobs : int or None
    label_col, prediction_source : str
        Names recorded in the summary.

    Returns
    -------
    RegressionAudit

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=300)
    >>> pred = y + rng.normal(size=300) * 0.1
    >>> y[[5, 50]] += 4
    >>> found = audit_regression(y, pred, n_bootstrap=50)
    >>> found.issues.filter("is_issue").get_column("id").to_list()[:2]
    [50, 5]
    """
    scores = get_label_quality_scores(labels, predictions, method=method, n_jobs=n_jobs)
    is_issue, threshold = flag_regression_issues(scores, cutoff=cutoff)
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    n = scores.shape[0]
    if ids is None:
        ids = pl.Series("id", np.arange(n, dtype=np.int64))
    rate = float(is_issue.mean())
    lo, hi = _bootstrap_rate(_neg_log(scores), float(cutoff), n_bootstrap, seed, confidence)
    lo, hi = min(lo, rate), max(hi, rate)
    labels64 = labels.astype(np.float64)
    resid = predictions.astype(np.float64) - labels64
    ss_tot = float(np.sum((labels64 - labels64.mean()) ** 2))
    r2 = None if ss_tot == 0 else 1.0 - float(np.sum(resid ** 2)) / ss_tot
    return RegressionAudit(
        method=method, cutoff=float(cutoff), score_threshold=threshold, labels=labels,
        predictions=predictions, scores=scores, is_issue=is_issue, ids=ids, issue_rate=rate,
        ci_low=lo, ci_high=hi, confidence=confidence, n_bootstrap=n_bootstrap, r2=r2,
        median_abs_residual=float(np.median(np.abs(resid))),
        issues=_issues_table(ids, labels, predictions, scores, is_issue),
        bins=_label_bins(labels64, is_issue, scores, confidence), label_col=label_col,
        prediction_source=prediction_source,
    )


def _option(request: TaskRequest, name: str, default: Any) -> Any:
    value = request.options.get(name)
    return default if value is None else value


def _run(request: TaskRequest):
    if request.pred_probs:
        raise InputError("--pred-probs does not apply to --task regression: give the model's "
                         "numeric predictions with --predictions FILE or --prediction-col COLUMN")
    if request.classes:
        raise InputError("--classes does not apply to --task regression (labels are numbers)")
    if request.label_col is None:
        raise InputError("--task regression needs --label-col: the column of DATA with the "
                         "numeric labels")
    method = _option(request, "regression_method", "outre")
    if method not in REGRESSION_METHODS:
        raise InputError(f"--regression-method must be one of {', '.join(REGRESSION_METHODS)}, "
                         f"got {method!r}")
    cutoff = _option(request, "regression_cutoff", DEFAULT_CUTOFF)
    if not (math.isfinite(cutoff) and cutoff > 0):
        raise InputError(f"--regression-cutoff must be a positive number, got {cutoff!r}")
    prediction_col = request.options.get("prediction_col")
    if request.predictions is not None and prediction_col is not None and \
            request.predictions.suffix.lower() == ".npy":
        raise InputError("--prediction-col names a column of a predictions table or of DATA; "
                         f"'{request.predictions}' is a .npy array")
    if request.predictions is None and prediction_col is None:
        raise InputError("--task regression needs model predictions: --predictions FILE (.npy "
                         "or a table) or --prediction-col COLUMN of DATA")

    df = read_table(request.data, what="data")
    source = f"data file '{request.data}'"
    require_columns(df, [request.label_col], source=source)
    ids = item_ids(df, request.id_col, source=source)
    labels = numeric_values(df.get_column(request.label_col),
                            source=f"{source}, column '{request.label_col}'", role="labels")
    if labels.shape[0] < 2:
        raise InputError(f"{source}: --task regression needs at least 2 items, got "
                         f"{labels.shape[0]}")
    inputs = [{"role": "data", **file_fingerprint(request.data, n_rows=df.height)}]
    if request.predictions is not None:
        predictions = read_regression_predictions(request.predictions, ids=ids,
                                                  id_col=request.id_col, column=prediction_col)
        inputs.append({"role": "predictions",
                       **file_fingerprint(request.predictions, n_rows=labels.shape[0])})
        prediction_source = f"file '{request.predictions.name}'"
    else:
        require_columns(df, [prediction_col], source=source)
        predictions = numeric_values(df.get_column(prediction_col),
                                     source=f"{source}, column '{prediction_col}'",
                                     role="predictions")
        prediction_source = f"column '{prediction_col}' of DATA"
    if method == "outre" and labels.shape[0] > OUTRE_SLOW_ITEMS:
        warnings.warn(f"--regression-method outre compares every pair of the {labels.shape[0]} "
                      "items (its neighbourhoods are half the data): expect a long run; "
                      "--regression-method residual is linear", SlowRunWarning, stacklevel=2)
    found = audit_regression(labels, predictions, ids=ids, method=method, cutoff=cutoff,
                             seed=request.seed, n_bootstrap=request.n_bootstrap,
                             n_jobs=request.n_jobs, label_col=request.label_col,
                             prediction_source=prediction_source)
    result = task_result(
        "regression", issues=found.issues, class_names=found.bins.get_column("class").to_list(),
        per_class=found.bins, estimated_noise_rate=found.issue_rate, ci_low=found.ci_low,
        ci_high=found.ci_high, confidence=found.confidence,
        parameters={"method": method, "cutoff": cutoff, "label_col": request.label_col},
        section=found, figures=found.figures(),
    )
    return result, inputs


register_task(Task(
    name="regression",
    summary="numeric labels checked against out-of-sample model predictions",
    run=_run,
))
