"""The registry of report sections: what each part of an audit shows, records and writes.

A section is declared once, in :data:`SECTIONS`, with everything the outputs
need to know about it:

- its template (one per section, in ``report/templates``) and the variables it
  adds to the template context;
- its entry in ``summary.json`` (``extras[name]``) and its headline under
  ``figures[name]``;
- its sidecar files (file name -> table or JSON-able data, written by
  :func:`labelaudit.io.writers.write_output`);
- its lines in the command line's terminal summary.

*Core* sections (summary, noise, issues, methodology) describe the audit
itself and receive the :class:`~labelaudit.result.AuditResult`. *Attached*
sections describe an analysis attached with ``AuditResult.with_section(name,
obj)`` and receive ``obj``; they appear only when it is attached and
:attr:`Section.accepts` it. Attached objects no section claims are shown in
"Other analyses" and summarised as plain data.

Adding a section is one :func:`register_section` call plus its own code.

This module imports nothing heavy: the chart and template machinery load when a
report is rendered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._registry import (
    DEFAULT_TOP_N,
    SECTIONS,
    ContextBuilder,
    Section,
    present_sections,
    register_section,
    section_for,
    section_lines,
    section_sidecars,
)

__all__ = [
    "DEFAULT_TOP_N",
    "SECTIONS",
    "Section",
    "present_sections",
    "register_section",
    "section_for",
    "section_lines",
    "section_sidecars",
]


def _cl_run(result: Any) -> bool:
    """Whether the one-class confident-learning figures exist (not an annotations-only review,
    not another task, whose own section shows its figures)."""
    params = result.parameters
    return (params.get("confident_learning") != "not run"
            and params.get("task", "classification") == "classification")


def _ctx(builder: str) -> ContextBuilder:
    """A context builder of :mod:`._context`, imported when a report is rendered."""

    def build(obj: Any, result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
        from . import _context

        return getattr(_context, builder)(obj, result, options)

    build.__name__ = builder
    return build


# --------------------------------------------------------------------------- core sections


def _summary_lines(result: Any) -> list[str]:
    if not _cl_run(result):
        return []
    conf = f"{100 * result.confidence:g}%"
    from ..model_checks import MODEL_LABEL

    # The audit's own interval is the model's, also when a review verified the rate.
    source = getattr(result, "noise_rate_source", None)
    label = f", {MODEL_LABEL}" if source is not None else ""
    lines = [
        f"Audited {result.n_items} items in {result.n_classes} classes: "
        f"{result.n_issues} label issues ({100 * result.issue_fraction:.1f}%). "
        f"Estimated noise rate {100 * result.estimated_noise_rate:.2f}% "
        f"({conf} interval {100 * result.ci_low:.2f}% to {100 * result.ci_high:.2f}%{label}); "
        f"label health score {result.label_health_score:.3f}."
    ]
    lines.extend(_model_lines(result))
    return lines


def _model_lines(result: Any) -> list[str]:
    """Each model's own estimate (several models) and every model-check finding, in words."""
    lines = []
    iv = getattr(result, "noise_interval", None)
    names = getattr(result, "model_names", ())
    if iv is not None and names:
        own = ", ".join(f"{name} {100 * rate:.2f}%"
                        for name, rate in zip(names, iv.model_rates[1:], strict=True))
        spread = iv.model_rates[1:]
        lines.append(f"Models: {len(names)} models, audited on their mean; each model's own "
                     f"estimate: {own} (spread {100 * min(spread):.2f}% to "
                     f"{100 * max(spread):.2f}%).")
    for f in getattr(result, "model_checks", ()):
        word = "Model error" if f.severity == "error" else "Model warning"
        lines.append(f"{word}: {f.message}")
    return lines


def _issue_files(result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    if not _cl_run(result):
        return {}
    files: dict[str, Any] = {"issues.parquet": result.issues}
    if options.get("csv"):
        files["issues.csv"] = result.issues
    return files


def _cl_shown(ctx: Mapping[str, Any]) -> bool:
    return bool(ctx["cl_run"])


# --------------------------------------------------------------------------- annotators


def _is_verified(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("n_reviewed", "wrong_labels", "summary_lines"))


def _is_annotator_review(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("annotators", "agreement", "pairwise", "confusions"))


def _annotator_headline(review: Any) -> dict[str, Any]:
    """Headline figures of an annotator review for ``summary.json``."""
    return {**review.summary(), "n_relabel_queue": review.relabel_queue.height,
            **_drift_headline(review)}


def _drift_headline(review: Any) -> dict[str, Any]:
    """Drift figures of an annotator review with a time column (empty without one)."""
    drift = getattr(review, "drift", None)
    if drift is None:
        return {}
    who = drift.columns[0]
    drifting = drift.filter(drift.get_column("drifted")).get_column(who).to_list()
    return {"n_drifting_annotators": len(drifting),
            "drifting_annotators": [str(a) for a in drifting]}


def _window_summary(review: Any) -> dict[str, Any] | None:
    """The ``time_windows`` block of the annotator entry: windows, drift tests, per-window rates."""
    drift = getattr(review, "drift", None)
    windows = getattr(review, "time_windows", None)
    if drift is None or windows is None:
        return None
    return {
        "time_col": review.params.get("time_col"),
        "window": review.params.get("time_window"),
        "test": "chi-square homogeneity of accuracy across windows, Benjamini-Hochberg "
                "across annotators",
        "fdr": review.params.get("alpha"),
        "n_windows": windows.get_column("window_start").n_unique(),
        **_drift_headline(review),
        "annotators": [
            {k: (str(v) if k == drift.columns[0] else v) for k, v in row.items()}
            for row in drift.iter_rows(named=True)
        ],
        "file": "annotators_by_window.parquet",
    }


def _annotator_summary(review: Any) -> dict[str, Any]:
    confusions = review.confusions
    top = confusions.filter(confusions.get_column("rank") == 1)
    return {
        "parameters": dict(review.params),
        "agreement": dict(review.agreement),
        **_annotator_headline(review),
        "top_confusions": top.select(confusions.columns[0], "description").to_dicts(),
        "time_windows": _window_summary(review),
    }


#: Pairwise agreement of every annotator pair (``review.pairwise``), beside agreement.json.
PAIRS_FILE = "agreement_pairs.parquet"


def _annotator_files(review: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    # One row per annotator pair can run to 100,000s of rows: they go to a
    # table, and agreement.json keeps the summary and points at it.
    agreement = {
        **review.agreement,
        "classes": [str(c) for c in review.classes],
        "consensus_method": review.params.get("consensus_method"),
        "pairwise_file": PAIRS_FILE,
    }
    # Class names, not codes, wherever a label appears (as in issues.parquet).
    files = {
        "annotators.parquet": review.to_polars("annotators"),
        "consensus.parquet": review.to_polars("consensus"),
        PAIRS_FILE: review.to_polars("pairwise"),
        "agreement.json": agreement,
        "relabel_queue.parquet": review.to_polars("relabel_queue"),
    }
    if getattr(review, "time_windows", None) is not None:
        files["annotators_by_window.parquet"] = review.time_windows
    return files


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _agreement_figure(value: Any) -> str:
    """An agreement statistic to three decimals, or why there is none (one annotator, ...)."""
    if value is None or not math.isfinite(float(value)):
        return "not defined (no item has two labels, or one class throughout)"
    return f"{float(value):.3f}"


def _annotator_lines(review: Any) -> list[str]:
    a = review.agreement
    flagged = review.flagged_annotators
    alpha, kappa = a["krippendorff_alpha"], a["fleiss_kappa"]
    figures = (f"Krippendorff's alpha {_agreement_figure(alpha)}, Fleiss' kappa "
               f"{_agreement_figure(kappa)}")
    if (alpha is None or not math.isfinite(float(alpha))) and (
            kappa is None or not math.isfinite(float(kappa))):
        figures = f"agreement {_agreement_figure(alpha)}"
    return [
        f"Annotators: {_count(a['n_annotators'], 'annotator')}, "
        f"{_count(a['n_annotations'], 'annotation')} on {_count(a['n_items'], 'item')}; "
        f"{figures}; {len(flagged)} flagged"
        + (f" ({', '.join(map(str, flagged[:10]))}{' ...' if len(flagged) > 10 else ''})"
           if flagged else "")
        + "."
    ] + _drift_lines(review)


def _drift_lines(review: Any) -> list[str]:
    head = _drift_headline(review)
    if not head:
        return []
    who = head["drifting_annotators"]
    return [
        f"Annotators over time ({review.params.get('time_window')} windows): "
        f"{len(who)} drifting"
        + (f" ({', '.join(who[:10])}{' ...' if len(who) > 10 else ''})" if who else "")
        + "."
    ]


def _queue_nav(ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("relabel-queue", "Relabel queue")] if ctx.get("annotators") else []


# --------------------------------------------------------------------------- slices


def _is_slice_report(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("table", "overall", "describe_flagged", "intersections"))


def _slice_headline(report: Any) -> dict[str, Any]:
    """Headline figures of a slice report for ``summary.json``."""
    return report.summary()


def _slice_figures(report: Any) -> dict[str, Any]:
    return {k: v for k, v in _slice_headline(report).items() if k != "flagged_slices"}


def _slice_summary(report: Any) -> dict[str, Any]:
    return {
        "parameters": dict(report.parameters),
        "overall": report.overall.to_dicts()[0],
        **_slice_headline(report),
        "findings": report.describe_flagged()[:20],
    }


def _slice_lines(report: Any) -> list[str]:
    findings = report.describe_flagged()
    return [
        f"Slices: {report.table.height} slices, {int(report.table.get_column('tested').sum())} "
        f"tested, {report.flagged.height} flagged"
        + (f"; worst: {findings[0]}" if findings else "")
        + "."
    ]


# --------------------------------------------------------------------------- registrations

for _section in (
    # A human review of a sample is the figure users decide on: it leads the page.
    Section("verified", "_verified.html.j2", _ctx("verified_context"), attached=True,
            accepts=_is_verified, absent={"verified": None}, nav="Verified by review",
            summary=lambda v: v.to_dict(), summary_key="verified",
            lines=lambda v: v.summary_lines()),
    Section("summary", "_summary.html.j2", _ctx("summary_context"), nav="Summary",
            lines=_summary_lines),
    Section("noise", "_noise.html.j2", _ctx("noise_context"), shown=_cl_shown,
            nav="Noise picture"),
    Section("issues", "_issues.html.j2", _ctx("issues_context"), shown=_cl_shown,
            nav="Issue list", sidecars=_issue_files),
    Section("annotators", "_annotators.html.j2", _ctx("annotators_context"),
            absent={"annotators": None}, attached=True, accepts=_is_annotator_review,
            nav="Annotators", summary=_annotator_summary, figures=_annotator_headline,
            sidecars=_annotator_files, lines=_annotator_lines, more_nav=_queue_nav),
    Section("slices", "_bias.html.j2", _ctx("bias_context"), absent={"bias": None},
            attached=True, accepts=_is_slice_report, nav="Bias", anchor="bias",
            summary=_slice_summary, figures=_slice_figures,
            sidecars=lambda report, options: {"slices.parquet": report.table},
            lines=_slice_lines),
    Section("others", "_others.html.j2", _ctx("others_context"),
            shown=lambda ctx: bool(ctx["others"])),
    Section("methodology", "_methodology.html.j2", _ctx("methodology_context"),
            nav="Methodology"),
):
    SECTIONS.append(_section)
del _section


# --------------------------------------------------------------------------- label shapes
# Each task's section lives in its own module of this package and registers itself on import.
# The issues of any task other than classification (a task's own section adds its views).

#: Issues shown in the page (the full table is the ``issues.parquet`` sidecar).
TOP_ISSUES = 200


def _task(result: Any) -> str:
    return str(result.parameters.get("task", "classification"))


def _is_task(result: Any) -> bool:
    return _task(result) != "classification"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def task_context(result: Any, _result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """Template variables: the task, its headline, per-class rows and the top issues."""
    if not _is_task(result):
        return {"task_issues": None}
    from ._format import fmt_pct

    def rows(frame: Any, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
        frame = frame if limit is None else frame.head(limit)
        return list(frame.columns), [[_cell(v) for v in row] for row in frame.iter_rows()]

    flagged = result.issues.filter(result.issues.get_column("is_issue"))
    issue_cols, issue_rows = rows(flagged, TOP_ISSUES)
    class_cols, class_rows = rows(result.per_class)
    return {"task_issues": {
        "task": _task(result),
        "n_items": result.n_items,
        "n_issues": result.n_issues,
        "rate": fmt_pct(result.estimated_noise_rate),
        "ci": f"{fmt_pct(result.ci_low)} to {fmt_pct(result.ci_high)}",
        "confidence": f"{100 * result.confidence:g}%",
        "issue_cols": issue_cols, "issue_rows": issue_rows,
        "n_more": max(flagged.height - TOP_ISSUES, 0),
        "class_cols": class_cols, "class_rows": class_rows,
    }}


def _files(result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    if not _is_task(result):
        return {}
    files: dict[str, Any] = {"issues.parquet": result.issues}
    if options.get("csv"):
        flat = [c for c, t in result.issues.schema.items() if not t.is_nested()]
        files["issues.csv"] = result.issues.select(flat)
    return files


def _lines(result: Any) -> list[str]:
    if not _is_task(result):
        return []
    conf = f"{100 * result.confidence:g}%"
    return [
        f"Audited {result.n_items} items (task {_task(result)}): {result.n_issues} with label "
        f"issues ({100 * result.n_issues / max(result.n_items, 1):.1f}%). Estimated share with "
        f"a wrong label {100 * result.estimated_noise_rate:.2f}% ({conf} interval "
        f"{100 * result.ci_low:.2f}% to {100 * result.ci_high:.2f}%, model-based, unverified)."
    ]


register_section(
    Section("task_issues", "_task_issues.html.j2", task_context, absent={"task_issues": None},
            shown=lambda ctx: ctx.get("task_issues") is not None, nav="Task issues",
            anchor="task-issues", sidecars=_files, lines=_lines),
    before="annotators",
)


# --- one import per task, in task order
from . import (  # noqa: E402,F401,I001
    _section_detection,
    _section_multilabel,
    _section_regression,
    _section_segmentation,
    _section_token,
)
# --- end of task section imports
