"""Regenerate the committed demo report under ``reports/demo/``.

Runs the audit of the shipped demo data the way ``labelaudit demo`` does
(out-of-fold probabilities from the 64 pixel features, seed 0; the annotator
review; slices by ``source`` and annotator; the shipped reviewed sample; the
ground-truth check) and
writes ``report.html``, ``issues.parquet`` and ``summary.json``. Unlike
``labelaudit demo --out DIR``, the committed copy names its inputs by
package-relative paths and shows a fixed date, so regenerating it on any
machine gives the same bytes.

Usage (from the repository root)::

    python scripts/make_demo_report.py [--out reports/demo]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from labelaudit.audit import add_annotator_review, add_slices, audit, to_summary_dict
from labelaudit.cli import _truth_check
from labelaudit.datasets import load_demo
from labelaudit.io import file_fingerprint, read_table, write_json, write_parquet
from labelaudit.report import write_html
from labelaudit.verify._audit_dir import load_sample

#: Date shown in the committed report (fixed, so regenerating changes nothing).
REPORT_DATE = "2026-01-15"


def build_demo_result(n_bootstrap: int = 1000):
    """The demo audit with the sections ``labelaudit demo`` attaches.

    Parameters
    ----------
    n_bootstrap : int, default 1000
        Bootstrap replicates for the noise-rate intervals.

    Returns
    -------
    result : AuditResult
    demo : DemoData
    """
    demo = load_demo()
    items = demo.items
    features = items.select(pl.col(r"^px_\d+$")).to_numpy().astype("float64")
    ids = items.get_column("id")
    result = audit(items.get_column("label"), features=features, ids=ids, seed=0,
                   n_bootstrap=n_bootstrap)
    result = add_annotator_review(result, demo.annotations, item_col="item_id",
                                  annotator_col="annotator", label_col="label",
                                  time_col="timestamp")
    result = add_slices(result, items, attributes=["source"], ids=ids, annotator_col="annotator")
    # The shipped reviewed sample, as ``labelaudit demo`` reads it with --reviews.
    sample = load_sample(demo.path_reviews.parent, class_names=result.class_names)
    result = result.verify(read_table(demo.path_reviews, what="reviews"), sample, seed=0,
                           source=f"reviews file '{demo.path_reviews.name}'")
    return result.with_section("demo_truth_check", _truth_check(result, demo.truth)), demo


def main(argv: list[str] | None = None) -> None:
    """Write the demo report, issue table and summary to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/demo"))
    args = parser.parse_args(argv)
    result, demo = build_demo_result()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    summary = to_summary_dict(
        result,
        inputs=[
            {"role": "data", **file_fingerprint(demo.path_items, n_rows=demo.items.height)},
            {"role": "annotations",
             **file_fingerprint(demo.path_annotations, n_rows=demo.annotations.height)},
            {"role": "reviews", **file_fingerprint(demo.path_reviews)},
        ],
        parameters={"command": "demo", "label_col": "label", "id_col": "id",
                    "attributes": ["source"], "annotator_col": "annotator"},
        outputs={"directory": str(out), "files": ["summary.json", "issues.parquet", "report.html"]},
    )
    # Repository-relative path, so the committed files do not depend on the checkout location.
    data_dir = demo.path_items.parent
    for entry in summary["inputs"]:
        entry["path"] = "labelaudit/data/" + Path(entry["path"]).relative_to(data_dir).as_posix()
    summary["date"] = REPORT_DATE
    write_parquet(out / "issues.parquet", result.issues)
    write_html(result, out / "report.html", summary=summary, items=demo.items,
               items_id_col="id", attribute_cols=["annotator", "source"])
    write_json(out / "summary.json", summary)
    size = (out / "report.html").stat().st_size
    print(f"wrote {out / 'report.html'} ({size / 1024:.0f} KiB), issues.parquet, summary.json")


if __name__ == "__main__":
    main()
