"""The report section of ``--task token``: token and sentence issue rates, highlighted tokens.

Registered on import (by the task-section block at the end of
:mod:`labelaudit.report.sections`). It renders the
:class:`~labelaudit.tasks.token.TokenAudit` attached under ``"token"``:
headline cards with intervals, the sentences with the worst tokens, each
token shown in its sentence with flagged ones highlighted (given tag ->
suggested tag), and the per-tag table. Sidecars: ``issues.parquet`` (one
row per token) and ``sentences.parquet``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._registry import Section, register_section

__all__ = ["TOKEN_SENTENCES_SHOWN"]

#: Sentences with issues shown in the page (all are in ``issues.parquet``).
TOKEN_SENTENCES_SHOWN = 50


def _is_token_audit(obj: Any) -> bool:
    return getattr(obj, "kind", None) == "token_audit"


def _interval(low: float, high: float) -> str:
    from ._format import fmt_pct

    return f"{fmt_pct(low)} to {fmt_pct(high)}"


def _context(audit: Any, result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    import polars as pl

    from ._format import fmt_num, fmt_pct

    top = int(options.get("top_n_sentences", TOKEN_SENTENCES_SHOWN))
    worst = (audit.sentences.with_row_index("_row")
             .filter(pl.col("n_issues") > 0)
             .sort(["sentence_quality", "_row"])
             .head(top))
    shown = worst.get_column("sentence_id")
    tokens = (audit.tokens.filter(pl.col("sentence_id").is_in(shown.implode()))
              .sort(["sentence_id", "position"]))
    by_sentence: dict[str, list[dict[str, Any]]] = {}
    for row in tokens.iter_rows(named=True):
        by_sentence.setdefault(row["sentence_id"], []).append({
            "text": row["token"], "issue": bool(row["is_issue"]), "given": row["given_label"],
            "suggested": row["suggested_label"], "quality": fmt_num(row["label_quality"]),
            "rank": row["issue_rank"],
        })
    sentences = [{"id": r["sentence_id"], "n_issues": r["n_issues"], "n_tokens": r["n_tokens"],
                  "quality": fmt_num(r["sentence_quality"]), "tokens": by_sentence[r["sentence_id"]]}
                 for r in worst.iter_rows(named=True)]
    classes = [{"name": r["class"], "count": r["count"], "n_issues": r["n_issues"],
                "rate": fmt_pct(r["estimated_noise_rate"]),
                "rate_key": -1.0 if r["estimated_noise_rate"] != r["estimated_noise_rate"]
                else r["estimated_noise_rate"],
                "ci": _interval(r["ci_low"], r["ci_high"]) if r["count"] else "n/a"}
               for r in audit.per_class.iter_rows(named=True)]
    conf = f"{100 * audit.confidence:g}%"
    return {"token": {
        "n_tokens": audit.n_tokens, "n_sentences": audit.n_sentences,
        "n_token_issues": audit.n_token_issues, "n_sentence_issues": audit.n_sentence_issues,
        "token_rate": fmt_pct(audit.token_rate),
        "token_ci": _interval(audit.token_ci_low, audit.token_ci_high),
        "sentence_rate": fmt_pct(audit.sentence_rate),
        "sentence_ci": _interval(audit.sentence_ci_low, audit.sentence_ci_high),
        "confidence": conf, "source": audit.source, "sentences": sentences,
        "n_shown": len(sentences), "classes": classes,
    }}


def _sidecars(audit: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    files: dict[str, Any] = {"issues.parquet": audit.tokens, "sentences.parquet": audit.sentences}
    if options.get("csv"):
        files["issues.csv"] = audit.tokens
    return files


def _lines(audit: Any) -> list[str]:
    conf = f"{100 * audit.confidence:g}%"
    return [
        f"Tokens: {audit.n_token_issues} of {audit.n_tokens} tokens flagged "
        f"({100 * audit.token_rate:.2f}%, {conf} interval {100 * audit.token_ci_low:.2f}% to "
        f"{100 * audit.token_ci_high:.2f}%, sentence bootstrap); {audit.n_sentence_issues} of "
        f"{audit.n_sentences} sentences have a flagged token ({100 * audit.sentence_rate:.2f}%, "
        f"{100 * audit.sentence_ci_low:.2f}% to {100 * audit.sentence_ci_high:.2f}%)."
    ]


register_section(Section(
    "token", "_token.html.j2", _context, attached=True, accepts=_is_token_audit,
    absent={"token": None}, nav="Token issues", anchor="token",
    summary=lambda audit: audit.to_dict(), figures=lambda audit: audit.figures(),
    sidecars=_sidecars, lines=_lines,
))
