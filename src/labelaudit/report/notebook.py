"""Notebook cards: the ``_repr_html_`` of every result object.

Jupyter shows a result by calling its ``_repr_html_``, which lands here (only
the report package writes HTML). A card is a small HTML fragment: a title,
the headline figures in words, and the first rows of the table a reader looks
at first (the top issues of an audit, the annotators to look at of a review,
the flagged slices, the gate's checks). Every value is escaped; nothing is
loaded from the network and no script runs.

Only the standard library and polars are used, so displaying a result does
not load Jinja2 or matplotlib.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

from ._format import DASH, fmt_num, fmt_pct, fmt_q

__all__ = ["TOP_ROWS", "notebook_html"]

#: Rows of the table shown on a card.
TOP_ROWS = 10

_STYLE = (
    "font-family:system-ui,sans-serif;font-size:13px;line-height:1.4;"
    "border:1px solid #ccc;border-radius:6px;padding:8px 12px;max-width:60em"
)
_CELL = "padding:2px 8px;text-align:left;border-bottom:1px solid #eee"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: float) -> str:
    """3 significant digits, never in scientific notation (tiny values as ``< 0.001``)."""
    if math.isnan(value):
        return DASH
    if math.isinf(value):
        return "\u221e" if value > 0 else "-\u221e"
    if value != 0 and abs(value) < 0.001:
        return "< 0.001" if value > 0 else "> -0.001"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    digits = max(0, 2 - math.floor(math.log10(abs(value)))) if value else 0
    return f"{value:.{digits}f}"


def _cell(value: Any, column: str = "") -> str:
    if column in ("p_value", "q_value"):
        return fmt_q(value)
    if isinstance(value, float):
        return _number(value)
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value[:6]) + (" ..." if len(value) > 6 else "")
    return str(value)


def _table(frame: Any, columns: Sequence[str], title: str, n_total: int | None = None) -> str:
    cols = [c for c in columns if c in frame.columns]
    if not cols or frame.height == 0:
        return ""
    shown = frame.head(TOP_ROWS)
    head = "".join(f'<th style="{_CELL}">{_esc(c)}</th>' for c in cols)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{_esc(_cell(row[c], c))}</td>' for c in cols)
        + "</tr>"
        for row in shown.select(cols).iter_rows(named=True)
    )
    total = frame.height if n_total is None else n_total
    more = (f'<p style="margin:4px 0;color:#555">{_esc(f"{total - shown.height:,}")} more rows '
            f"(use to_polars() or to_pandas()).</p>" if total > shown.height else "")
    return (f'<p style="margin:8px 0 2px"><strong>{_esc(title)}</strong></p>'
            f'<table style="border-collapse:collapse;font-size:inherit">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}")


def _card(title: str, facts: Sequence[str], table: str = "", *, verdict: str | None = None) -> str:
    items = "".join(f"<li>{_esc(f)}</li>" for f in facts)
    badge = "" if verdict is None else f" <span>{_esc(verdict)}</span>"
    return (f'<div class="labelaudit-card" style="{_STYLE}">'
            f'<p style="margin:0 0 4px"><strong>{_esc(title)}</strong>{badge}</p>'
            f'<ul style="margin:0;padding-left:1.2em">{items}</ul>{table}</div>')


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _audit(result: Any) -> str:
    s = result.summary()
    facts = []
    if _finite(s["estimated_noise_rate"]):
        conf = f"{100 * s['confidence']:g}%"
        facts.append(
            f"Estimated noise rate {fmt_pct(s['estimated_noise_rate'], 2)} ({conf} interval "
            f"{fmt_pct(s['ci_low'], 2)} to {fmt_pct(s['ci_high'], 2)}, "
            + ("model-based, unverified)" if s["noise_rate_source"] == "model"
               else f"from the {s['noise_rate_source']})")
        )
        facts.append(f"{s['n_issues']:,} label issues among {s['n_items']:,} items in "
                     f"{s['n_classes']} classes ({fmt_pct(s['issue_fraction'])}); label "
                     f"health score {fmt_num(s['label_health_score'])}")
    elif "annotators" in result.extras:  # an annotations-only review
        return _annotators(result.extras["annotators"])
    else:
        facts.append(f"{s['n_items']:,} items in {s['n_classes']} classes; confident learning "
                     "did not run")
    if "verified_noise_rate" in s:
        facts.append(f"Verified by review: noise rate {fmt_pct(s['verified_noise_rate'], 2)} "
                     f"({fmt_pct(s['verified_noise_rate_ci_low'], 2)} to "
                     f"{fmt_pct(s['verified_noise_rate_ci_high'], 2)})")
    for name in s["sections"]:
        section = result.extras[name]
        line = getattr(section, "summary", None)
        if name == "annotators" and callable(line):
            a = line()
            facts.append(f"Annotators: {a['n_annotators']} annotators, Krippendorff's alpha "
                         f"{fmt_num(a['krippendorff_alpha'])}, {a['n_flagged_annotators']} "
                         "flagged")
        elif name == "slices" and callable(line):
            b = line()
            facts.append(f"Slices: {b['n_slices']} slices, {b['n_flagged_slices']} flagged")
    if s["sections"]:
        facts.append("Attached: " + ", ".join(s["sections"]))
    issues = result.issues.filter(result.issues.get_column("is_issue"))
    core = ["issue_rank", "id", "given_label", "suggested_label", "label_quality"]
    extra = [c for c in issues.columns if c not in (*core, "is_issue")][:5]
    table = _table(issues, core + extra, "Top issues (lowest label quality first)")
    return _card("Label audit", facts, table)


def _annotators(review: Any) -> str:
    s = review.summary()
    facts = [
        f"{s['n_annotators']} annotators, {s['n_annotations']:,} annotations on "
        f"{review.consensus.height:,} items",
        f"Krippendorff's alpha {fmt_num(s['krippendorff_alpha'])}, Fleiss' kappa "
        f"{fmt_num(s['fleiss_kappa'])}, percent agreement {fmt_pct(s['percent_agreement'])}",
        f"Consensus by {s['consensus_method']}",
        (f"Flagged (accuracy below their peers'): {', '.join(s['flagged_annotators'])}"
         if s["flagged_annotators"] else "No annotator flagged"),
    ]
    board = review.annotators
    name = board.columns[0]
    board = board.sort(["flagged", "accuracy"], descending=[True, False], nulls_last=True,
                       maintain_order=True)
    cols = [name, "n_labels", "accuracy", "accuracy_low", "accuracy_high", "peer_accuracy",
            "q_value", "flagged", "top_confusions"]
    return _card("Annotator review", facts,
                 _table(board, cols, "Annotators, flagged and least accurate first"))


def _slices(report: Any) -> str:
    s = report.summary()
    facts = [f"Sliced by {', '.join(s['attributes']) or DASH}"
             + (f" and annotator column {s['annotator_col']!r}" if s["annotator_col"] else ""),
             f"{s['n_slices']} slices, {s['n_tested']} tested, {s['n_flagged_slices']} flagged"]
    cols = ["attribute", "group", "n", "issue_rate", "ci_low", "ci_high", "rest_rate", "effect",
            "q_value", "flagged"]
    flagged = report.flagged
    if flagged.height:
        table = _table(flagged, cols, "Flagged slices, largest effect first")
    else:
        table = _table(report.table.sort("effect", descending=True, nulls_last=True), cols,
                       "Slices, largest effect first (none flagged)")
    return _card("Slice analysis", facts, table)


def _gate(gate: Any) -> str:
    s = gate.summary()
    facts = [f"Policy {s['policy']}: {s['n_checks']} checks"]
    if s["failures"]:
        facts.append("Failed: " + ", ".join(s["failures"]))
    if s["warnings"]:
        facts.append("Warnings: " + ", ".join(s["warnings"]))
    frame = gate.to_polars("checks")
    table = _table(frame, ["name", "level", "value", "threshold", "passed", "message"], "Checks",
                   n_total=frame.height)
    return _card("Quality gate", facts, table, verdict="PASSED" if s["passed"] else "FAILED")


def _verified(v: Any) -> str:
    s = v.summary()
    conf = f"{100 * s['confidence']:g}%"
    facts = [
        f"Verified noise rate {fmt_pct(s['noise_rate'], 2)} ({conf} interval "
        f"{fmt_pct(s['ci_low'], 2)} to {fmt_pct(s['ci_high'], 2)})",
        f"{s['n_reviewed']:,} of {s['n_sampled']:,} sampled items reviewed, "
        f"{s['n_wrong_reviewed']:,} wrong; about {fmt_num(s['wrong_labels'])} wrong labels in "
        f"{s['n_items']:,}",
        f"Detector precision {fmt_num(s['precision'])}, recall {fmt_num(s['recall'])}",
    ]
    if s["decision"] is not None:
        facts.append(f"Acceptance plan: {s['decision']}")
    table = _table(v.to_polars("per_class"),
                   ["class", "n_items", "n_reviewed", "noise_rate", "ci_low", "ci_high"],
                   "Per class")
    return _card("Verified by review", facts, table)


def _sample(sample: Any) -> str:
    s = sample.summary()
    facts = [f"{s['size']:,} of {s['n_items']:,} items in {s['n_strata']} strata (seed "
             f"{s['seed']})"]
    if s["anticipated_half_width"] is not None:
        facts.append(f"Anticipated 95% half-width {fmt_pct(s['anticipated_half_width'], 2)}")
    return _card("Review sample", facts, _table(sample.strata, sample.strata.columns, "Strata"))


def _generic(obj: Any) -> str:
    summary = obj.summary() if callable(getattr(obj, "summary", None)) else {}
    facts = [f"{k}: {_cell(v)}" for k, v in summary.items()]
    frame = obj.to_polars()
    return _card(type(obj).__name__, facts, _table(frame, frame.columns[:8], "Table"))


_CARDS: dict[str, Callable[[Any], str]] = {
    "AuditResult": _audit,
    "AnnotatorReview": _annotators,
    "SliceReport": _slices,
    "GateResult": _gate,
    "VerifiedEstimate": _verified,
    "ReviewSample": _sample,
}


def notebook_html(obj: Any) -> str:
    """An HTML card for a result object (its ``_repr_html_``).

    Parameters
    ----------
    obj : AuditResult, AnnotatorReview, SliceReport, GateResult, VerifiedEstimate or ReviewSample
        The result; other objects with ``summary()`` and ``to_polars()`` get a
        plain card.

    Returns
    -------
    str
        A ``<div>`` fragment: a title, the headline figures in words and at
        most :data:`TOP_ROWS` rows of the result's main table, every value
        escaped.
    """
    for cls in type(obj).__mro__:
        card = _CARDS.get(cls.__name__)
        if card is not None:
            return card(obj)
    return _generic(obj)
