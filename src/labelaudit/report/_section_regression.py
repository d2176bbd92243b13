"""Report section of ``--task regression``: given vs predicted, residuals, top issues.

Registered on import (one line at the end of :mod:`labelaudit.report.sections`).
Charts are inline SVG from :mod:`._charts`; a scatter of more than
:data:`MAX_POINTS` items draws every flagged item and an evenly spaced share of
the others (by row), so the page stays small at any size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from markupsafe import Markup

from ..tasks.regression import RegressionAudit
from ._format import fmt_num, fmt_pct
from ._registry import Section, register_section

__all__ = ["MAX_POINTS", "TOP_ISSUES", "regression_context"]

#: Largest number of points drawn in the scatter.
MAX_POINTS = 4000
#: Issues listed in the page (all are in issues.parquet).
TOP_ISSUES = 25


def _drawn(audit: RegressionAudit) -> np.ndarray:
    """Rows drawn in the scatter: every issue, and evenly spaced others up to MAX_POINTS."""
    n = audit.n_items
    issues = np.flatnonzero(audit.is_issue)
    others = np.flatnonzero(~audit.is_issue)
    room = max(MAX_POINTS - issues.shape[0], 0)
    if others.shape[0] > room:
        others = others[np.linspace(0, others.shape[0] - 1, room).astype(np.intp)] if room else \
            others[:0]
    return np.sort(np.concatenate([issues, others])) if n else issues


def _scatter(audit: RegressionAudit) -> Markup:
    rows = _drawn(audit)
    y = np.asarray(audit.labels, dtype=np.float64)[rows]
    p = np.asarray(audit.predictions, dtype=np.float64)[rows]
    flag = audit.is_issue[rows]
    from ._charts import _ACCENT, _ALERT, _MUTED, _new_figure, to_svg  # matplotlib: on render
    fig = _new_figure(5.6, 4.6)
    ax = fig.add_subplot()
    ax.scatter(p[~flag], y[~flag], s=7, color=_ACCENT, alpha=0.45, linewidths=0,
               label="not flagged", gid="la-reg-ok")
    ax.scatter(p[flag], y[flag], s=22, color=_ALERT, marker="D", linewidths=0,
               label="label issue", gid="la-reg-flagged")
    lo = float(min(y.min(), p.min())) if rows.size else 0.0
    hi = float(max(y.max(), p.max())) if rows.size else 1.0
    ax.plot([lo, hi], [lo, hi], color=_MUTED, linestyle="--", linewidth=1,
            label="given = predicted")
    ax.set_xlabel("predicted (out of sample)")
    ax.set_ylabel(f"given label ({audit.label_col})")
    ax.grid(color="#d0d7de", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=3, fontsize=7.5, frameon=False)
    return to_svg(fig, "regression-scatter",
                  f"Given label against prediction for {rows.size} items; "
                  f"{int(flag.sum())} label issues in red")


def _residuals(audit: RegressionAudit) -> Markup:
    resid = (np.asarray(audit.predictions, dtype=np.float64)
             - np.asarray(audit.labels, dtype=np.float64))
    flag = audit.is_issue
    from ._charts import _ACCENT, _ALERT, _new_figure, to_svg  # matplotlib: on render
    fig = _new_figure(5.6, 3.0)
    ax = fig.add_subplot()
    edges = np.histogram_bin_edges(resid, bins=60)
    ax.hist([resid[~flag], resid[flag]], bins=edges, stacked=True, color=[_ACCENT, _ALERT],
            label=["not flagged", "label issue"])
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel("residual: prediction - given label")
    ax.set_ylabel("items")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2, fontsize=7.5, frameon=False)
    return to_svg(fig, "regression-residuals",
                  f"Histogram of residuals of {audit.n_items} items, flagged items in red")


def regression_context(audit: RegressionAudit, result: Any,
                       options: Mapping[str, Any]) -> dict[str, Any]:
    """Template variables of the section (plain strings and the inline charts)."""
    top = audit.issues.filter("is_issue").head(TOP_ISSUES)
    issues = [
        {"rank": r["issue_rank"], "id": str(r["id"]), "given": fmt_num(r["given_label"], 4),
         "predicted": fmt_num(r["suggested_label"], 4), "residual": fmt_num(r["residual"], 4),
         "residual_key": repr(abs(float(r["residual"]))),
         "score": fmt_num(r["label_quality"], 4), "score_key": repr(float(r["label_quality"]))}
        for r in top.iter_rows(named=True)
    ]
    bins = [
        {"range": b["class"], "count": b["count"], "n_issues": b["n_issues"],
         "rate": fmt_pct(b["estimated_noise_rate"]), "rate_key": repr(b["estimated_noise_rate"]),
         "ci": f"{fmt_pct(b['ci_low'])} to {fmt_pct(b['ci_high'])}"}
        for b in audit.bins.iter_rows(named=True)
    ]
    conf = f"{100 * audit.confidence:g}%"
    return {"regression": {
        "method": audit.method,
        "n": audit.n_items,
        "n_issues": audit.n_issues,
        "rate": fmt_pct(audit.issue_rate, 2),
        "ci": f"{conf} interval {fmt_pct(audit.ci_low, 2)} to {fmt_pct(audit.ci_high, 2)}",
        "n_bootstrap": audit.n_bootstrap,
        "cutoff": f"{audit.cutoff:g}",
        "threshold": fmt_num(audit.score_threshold, 4),
        "r2": "undefined (constant labels)" if audit.r2 is None else fmt_num(audit.r2, 3),
        "mae": fmt_num(audit.median_abs_residual, 4),
        "label_col": audit.label_col,
        "predictions": audit.prediction_source,
        "scatter": _scatter(audit),
        "residuals": _residuals(audit),
        "drawn": int(_drawn(audit).shape[0]),
        "issues": issues,
        "more": max(audit.n_issues - len(issues), 0),
        "bins": bins,
    }}


def _sidecars(audit: RegressionAudit, options: Mapping[str, Any]) -> dict[str, Any]:
    files: dict[str, Any] = {"issues.parquet": audit.issues}
    if options.get("csv"):
        files["issues.csv"] = audit.issues
    return files


register_section(Section(
    "regression", "_regression.html.j2", regression_context, attached=True,
    accepts=lambda obj: isinstance(obj, RegressionAudit), absent={"regression": None},
    nav="Numeric labels", summary=lambda a: a.summary(), figures=lambda a: a.figures(),
    sidecars=_sidecars, lines=lambda a: a.lines(),
), before="others")
