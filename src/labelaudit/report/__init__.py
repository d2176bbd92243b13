"""HTML report of an audit: the only place labelaudit emits HTML.

:func:`render_html` builds a plain context (strings and numbers) from an
:class:`~labelaudit.audit.AuditResult` and renders it with a Jinja2 template
that escapes every value (``autoescape=True``) and refuses undefined names
(``StrictUndefined``). The page is one self-contained file: inline CSS, no
scripts, no network requests. It embeds only the top issues; the full list is
the ``issues.parquet`` sidecar.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jinja2

__all__ = ["render_html"]

_TOP_N = 100

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("labelaudit.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _num(value: Any, digits: int = 4) -> str:
    """Format a number for display; missing and NaN values become an en dash."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "\u2013"
    return f"{value:.{digits}g}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    return f"{100.0 * float(value):.2f}%"


def _context(result: Any, gate: Any, summary: Mapping[str, Any] | None, top_n: int) -> dict:
    """Plain strings and numbers for the template (no objects cross into it)."""
    names = list(result.class_names)
    per_class = [
        {
            "name": row["class"],
            "count": _num(row["count"]),
            "rate": _pct(row["estimated_noise_rate"]),
            "ci": f"{_pct(row['ci_low'])} \u2013 {_pct(row['ci_high'])}",
            "issues": _num(row["n_issues"]),
            "quality": _num(row["mean_label_quality"], 3),
        }
        for row in result.per_class.iter_rows(named=True)
    ]
    top = result.issues.filter(result.issues.get_column("is_issue")).head(top_n)
    issues = [
        {
            "rank": _num(row["issue_rank"]),
            "id": str(row["id"]),
            "given": row["given_label"],
            "suggested": row["suggested_label"],
            "quality": _num(row["label_quality"], 3),
        }
        for row in top.iter_rows(named=True)
    ]
    matrix = [
        {"given": names[i], "cells": [_num(v, 3) for v in result.noise_matrix[i]]}
        for i in range(len(names))
    ]
    checks = []
    verdict = None
    if gate is not None:
        verdict = "passed" if gate.passed else "failed"
        checks = [
            {
                "name": c.name,
                "level": c.level,
                "value": _num(c.value),
                "threshold": _num(c.threshold),
                "status": "pass" if c.passed else ("FAIL" if c.level == "fail" else "WARN"),
                "message": c.message,
            }
            for c in gate.checks
        ]
    inputs = []
    params: list[tuple[str, str]] = []
    version = ""
    if summary is not None:
        inputs = [
            {
                "role": str(i.get("role", "")),
                "path": str(i.get("path", "")),
                "rows": _num(i.get("n_rows")),
                "sha256": str(i.get("sha256", "")),
            }
            for i in summary.get("inputs", [])
        ]
        params = [(str(k), str(v)) for k, v in summary.get("parameters", {}).items()]
        version = str(summary.get("versions", {}).get("labelaudit", ""))
    else:
        params = [(str(k), str(v)) for k, v in result.parameters.items()]
    oof = result.out_of_fold
    folds = None
    if oof is not None:
        spread = oof.fold_spread()
        folds = {
            "n": _num(oof.n_splits),
            "low": _pct(spread["min"]),
            "high": _pct(spread["max"]),
            "model": oof.model,
        }
    return {
        "folds": folds,
        "version": version,
        "n_items": _num(result.n_items),
        "n_classes": _num(result.n_classes),
        "n_issues": _num(result.n_issues),
        "noise_rate": _pct(result.estimated_noise_rate),
        "ci": f"{_pct(result.ci_low)} \u2013 {_pct(result.ci_high)}",
        "confidence": f"{100 * result.confidence:g}%",
        "health": _num(result.label_health_score, 4),
        "per_class": per_class,
        "class_names": names,
        "matrix": matrix,
        "issues": issues,
        "top_n": top_n,
        "more_issues": max(result.n_issues - len(issues), 0),
        "verdict": verdict,
        "checks": checks,
        "inputs": inputs,
        "params": params,
        "sections": sorted(str(k) for k in result.extras),
    }


def render_html(
    result: Any,
    *,
    gate: Any = None,
    summary: Mapping[str, Any] | None = None,
    top_n: int = _TOP_N,
) -> str:
    """Render an audit as one self-contained HTML page.

    Parameters
    ----------
    result : AuditResult
        The audit to show.
    gate : GateResult, optional
        Gate verdict, shown as a table when given.
    summary : Mapping, optional
        The ``summary.json`` content, for the provenance section (inputs with
        hashes, parameters, version).
    top_n : int, default 100
        Issues embedded in the page (the full list is ``issues.parquet``).

    Returns
    -------
    str
        An HTML5 document. Every value from the data (ids, class names, file
        paths) is escaped.
    """
    template = _ENV.get_template("report.html.j2")
    return template.render(**_context(result, gate, summary, int(top_n)))
