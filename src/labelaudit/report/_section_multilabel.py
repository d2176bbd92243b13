"""The report section of ``--task multilabel``: item and class issue rates, tag-by-tag items.

Registered on import (by the task-section block at the end of
:mod:`labelaudit.report.sections`). It renders the
:class:`~labelaudit.tasks.multilabel.MultilabelAudit` attached under
``"multilabel"``: headline cards with Wilson intervals, the per-class table
(items given the class, share of items with a flagged yes/no and its
interval, wrongly given vs overlooked counts), and the least trustworthy
items with every tag marked as kept, wrongly given (struck through) or
overlooked (added). With annotators (``--annotator-col``), each class's
agreement and each annotator's accuracy per class against the consensus.
Sidecars: ``issues.parquet`` (one row per item) and, with annotators,
``class_agreement.parquet``, ``annotator_accuracy.parquet`` and
``annotator_pairs.parquet``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._registry import Section, register_section

__all__ = ["MULTILABEL_ITEMS_SHOWN"]

#: Items with issues shown in the page (all are in ``issues.parquet``).
MULTILABEL_ITEMS_SHOWN = 50


def _is_multilabel_audit(obj: Any) -> bool:
    return getattr(obj, "kind", None) == "multilabel_audit"


def _tags(row: Mapping[str, Any]) -> list[dict[str, str]]:
    """The item's tags in class order of appearance: kept, wrongly given, overlooked."""
    wrong = set(row["wrongly_given"])
    tags = [{"name": c, "state": "wrong" if c in wrong else "kept"} for c in row["given_labels"]]
    tags += [{"name": c, "state": "overlooked"} for c in row["overlooked"]]
    return tags


def _context(audit: Any, result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    from ._format import fmt_num, fmt_pct

    top = int(options.get("top_n", MULTILABEL_ITEMS_SHOWN) or MULTILABEL_ITEMS_SHOWN)
    flagged = audit.issues.filter("is_issue").head(top)
    items = [{"rank": r["issue_rank"], "id": str(r["id"]), "tags": _tags(r),
              "suggested": ", ".join(r["suggested_labels"]) or "(none)",
              "quality": fmt_num(r["label_quality"], 4),
              "quality_key": repr(float(r["label_quality"]))}
             for r in flagged.iter_rows(named=True)]
    classes = [{"name": r["class"], "count": r["count"], "n_issues": r["n_issues"],
                "n_wrong": r["n_wrongly_given"], "n_overlooked": r["n_overlooked"],
                "rate": fmt_pct(r["estimated_noise_rate"]),
                "rate_key": repr(float(r["estimated_noise_rate"])),
                "ci": f"{fmt_pct(r['ci_low'])} to {fmt_pct(r['ci_high'])}",
                "threshold": fmt_num(r["threshold"], 3)}
               for r in audit.per_class.iter_rows(named=True)]
    agreement = None
    if audit.agreement is not None:
        ag = audit.agreement
        names = list(audit.class_names)
        agreement = {
            "n_annotators": ag.per_annotator.height, "n_annotations": ag.n_annotations,
            "min_overlap": ag.min_overlap, "class_names": names,
            "classes": [{"name": r["class"], "n_items": r["n_items"], "n_yes": r["n_yes"],
                         "alpha": fmt_num(r["krippendorff_alpha"], 3),
                         "alpha_key": _key(r["krippendorff_alpha"]),
                         "kappa": fmt_num(r["mean_cohen_kappa"], 3),
                         "kappa_key": _key(r["mean_cohen_kappa"]), "n_pairs": r["n_pairs"]}
                        for r in ag.per_class.iter_rows(named=True)],
            "annotators": [{"name": str(r["annotator"]), "n_items": r["n_items"],
                            "accuracy": fmt_pct(r["accuracy"]), "accuracy_key": _key(r["accuracy"]),
                            "per_class": [{"value": fmt_pct(r[f"accuracy:{c}"]),
                                           "key": _key(r[f"accuracy:{c}"])} for c in names]}
                           for r in ag.per_annotator.iter_rows(named=True)],
        }
    return {"multilabel": {
        "agreement": agreement,
        "n_items": audit.n_items, "n_issues": audit.n_issues, "n_empty": audit.n_empty,
        "n_classes": len(audit.class_names),
        "rate": fmt_pct(audit.issue_rate),
        "ci": f"{fmt_pct(audit.ci_low)} to {fmt_pct(audit.ci_high)}",
        "n_pairs": int(audit.per_class.get_column("n_issues").sum()),
        "n_wrong": int(audit.per_class.get_column("n_wrongly_given").sum()),
        "n_overlooked": int(audit.per_class.get_column("n_overlooked").sum()),
        "confidence": f"{100 * audit.confidence:g}%", "threshold": audit.threshold,
        "source": audit.source, "worst": items, "n_shown": len(items),
        "n_more": max(audit.n_issues - len(items), 0), "classes": classes,
    }}


def _key(value: Any) -> str:
    """Sort key of a number cell (missing and NaN sort first)."""
    return "-1" if value is None or value != value else repr(float(value))


def _sidecars(audit: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    files: dict[str, Any] = {"issues.parquet": audit.issues}
    if audit.agreement is not None:
        files["class_agreement.parquet"] = audit.agreement.per_class
        files["annotator_accuracy.parquet"] = audit.agreement.per_annotator
        files["annotator_pairs.parquet"] = audit.agreement.pairs
    if options.get("csv"):
        import polars as pl

        files["issues.csv"] = audit.issues.with_columns(
            pl.col(c).list.join("|") for c in ("given_labels", "suggested_labels",
                                               "wrongly_given", "overlooked"))
    return files


register_section(Section(
    "multilabel", "_multilabel.html.j2", _context, attached=True, accepts=_is_multilabel_audit,
    absent={"multilabel": None}, nav="Multi-label issues", anchor="multilabel",
    summary=lambda audit: audit.to_dict(), figures=lambda audit: audit.figures(),
    sidecars=_sidecars, lines=lambda audit: audit.lines(),
))
