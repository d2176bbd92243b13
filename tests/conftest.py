"""Fixtures shared by several test modules."""

from __future__ import annotations

import polars as pl
import pytest

from labelaudit.annotators import review_annotators
from labelaudit.audit import audit
from labelaudit.datasets import load_demo
from labelaudit.slices import analyze_slices


@pytest.fixture(scope="session")
def demo_audit():
    """The shipped demo audited with every report section attached: ``(result, demo)``.

    Built once per test run: the report tests and the browser tests read the
    same (frozen) result.
    """
    demo = load_demo()
    items = demo.items
    features = items.select(pl.col(r"^px_\d+$")).to_numpy().astype("float64")
    result = audit(items.get_column("label"), features=features, ids=items.get_column("id"),
                   seed=0, n_bootstrap=100)
    issues = result.issues
    review = review_annotators(
        demo.annotations, item_col="item_id", annotator_col="annotator", label_col="label",
        time_col="timestamp", classes=list(result.class_names),
        item_ids=issues.get_column("id"),
        issue_mask=issues.get_column("is_issue").to_numpy(),
        label_quality=issues.get_column("label_quality").to_numpy(),
    )
    frame = issues.join(items.select("id", "source", "annotator"), on="id", how="left")
    slices = analyze_slices(frame, attributes=["source", "annotator"])
    return result.with_section("annotators", review).with_section("slices", slices), demo
