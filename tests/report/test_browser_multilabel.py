"""The ``--task multilabel`` report section in a real browser (headless Chromium, Playwright).

Renders the report of the shipped multi-label example through the command
line and checks that the section shows its headline cards, that the worst
items show their tags marked kept, wrongly given or overlooked (painted
differently, and matching ``issues.parquet``), that the per-class table is
there, and that the page is clean: no console errors, no dialogs, no network.
Hostile class names and ids are shown as text. A screenshot of the section is
saved under ``test-artifacts/``. Chromium is Debian's ``chromium`` package;
these tests fail, never skip, when it is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from _browser import open_page as _open

from labelaudit.cli import run
from labelaudit.datasets import example_dir

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


@pytest.fixture(scope="module")
def example_out(tmp_path_factory):
    ex = example_dir("multilabel")
    out = tmp_path_factory.mktemp("ml") / "out"
    code = run(["audit", str(ex / "data.csv"), "--task", "multilabel", "--id-col", "id",
                "--pred-probs", str(ex / "pred_probs.npy"), "--classes",
                (ex / "classes.txt").read_text().strip(), "--out", str(out)])
    assert code == 0
    return out


def test_multilabel_section_shows_tags_and_classes(browser, example_out):
    ctx, page, watch = _open(browser, example_out / "report.html")
    try:
        assert watch.errors == [] and watch.dialogs == [] and watch.foreign() == []
        section = page.locator("#multilabel")
        assert section.is_visible()
        assert page.locator("#noise").count() == 0 and page.locator("#issues").count() == 0
        assert page.locator("#multilabel-rate-card .value").inner_text().endswith("%")
        assert "interval" in page.locator("#multilabel-rate-card .sub").inner_text()
        items = page.locator("#multilabel tr.multilabel-item")
        issues = pl.read_parquet(example_out / "issues.parquet").filter("is_issue")
        assert items.count() == min(issues.height, 50) >= 10
        # The first shown item is rank 1 and its tags match issues.parquet, state by state.
        top = issues.row(0, named=True)
        first = items.first
        assert first.get_attribute("data-id") == top["id"]
        def names(state):
            return first.locator(f".tag[data-state='{state}']").all_inner_texts()
        assert names("wrong") == top["wrongly_given"]
        assert names("overlooked") == top["overlooked"]
        assert sorted(names("kept") + names("wrong")) == sorted(top["given_labels"])
        assert page.locator("#multilabel .tag-wrong[data-state]").count() >= 5
        assert page.locator("#multilabel .tag-overlooked[data-state]").count() >= 5
        colours = page.evaluate("""() => ['kept', 'wrong', 'overlooked'].map(s =>
            getComputedStyle(document.querySelector(`#multilabel .tag-${s}[data-state]`))
            .backgroundColor)""")
        assert len(set(colours)) == 3
        line = page.evaluate("""() => getComputedStyle(
            document.querySelector('#multilabel .tag-wrong[data-state]')).textDecorationLine""")
        assert "line-through" in line
        rows = page.locator("#multilabel-class-table tbody tr")
        assert rows.count() == 9
        cat = page.locator("#multilabel-class-table tbody tr", has_text="cat").first
        assert cat.locator("td").first.inner_text() == "0"
        assert page.locator("nav a[href='#multilabel']").count() == 1
        ARTIFACTS.mkdir(exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / "report-multilabel-section.png"))
    finally:
        ctx.close()


def test_hostile_class_names_and_ids_are_shown_as_text(browser, tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    truth = rng.random((n, 2)) < 0.5
    probs = np.where(truth, 0.9, 0.1)
    given = truth.copy()
    given[:4, 0] = ~given[:4, 0]
    names = [HOSTILE, "plain"]
    data = tmp_path / "data.parquet"
    pl.DataFrame({"id": [f"{HOSTILE}-{i}" for i in range(n)],
                  "labels": [[names[c] for c in np.flatnonzero(row)] for row in given]}
                 ).write_parquet(data)
    np.save(tmp_path / "p.npy", probs)
    out = tmp_path / "out"
    code = run(["audit", str(data), "--task", "multilabel", "--id-col", "id", "--pred-probs",
                str(tmp_path / "p.npy"), "--out", str(out)])
    assert code == 0
    ctx, page, watch = _open(browser, out / "report.html")
    try:
        assert watch.dialogs == [] and watch.foreign() == [] and watch.errors == []
        text = page.locator("#multilabel").inner_text()
        assert "<script>alert(2)</script>" in text
        assert page.locator("#multilabel img").count() == 0
        assert page.locator("#multilabel .tag", has_text="<script>").count() >= 4
    finally:
        ctx.close()


def test_annotator_tables_with_a_hostile_annotator_name(browser, tmp_path):
    ex = example_dir("multilabel")
    given = pl.read_csv(ex / "data.csv", schema_overrides={"labels": pl.String})
    rng = np.random.default_rng(3)
    rows = {"id": [], "who": [], "labels": []}
    for item, cell in given.iter_rows():
        tags = [] if cell is None else cell.split(",")
        for who, drop in (("ann-1", 0.0), (HOSTILE, 0.3)):
            rows["id"].append(item)
            rows["who"].append(who)
            rows["labels"].append(",".join(t for t in tags if rng.random() >= drop))
    data = tmp_path / "long.csv"
    pl.DataFrame(rows).write_csv(data)
    out = tmp_path / "out"
    code = run(["audit", str(data), "--task", "multilabel", "--id-col", "id", "--annotator-col",
                "who", "--pred-probs", str(ex / "pred_probs.npy"), "--classes",
                (ex / "classes.txt").read_text().strip(), "--out", str(out)])
    assert code == 0
    ctx, page, watch = _open(browser, out / "report.html")
    try:
        assert watch.dialogs == [] and watch.foreign() == [] and watch.errors == []
        table = page.locator("#multilabel-annotator-table")
        assert table.is_visible()
        assert table.locator("tbody tr").count() == 2
        assert table.locator("thead th").count() == 3 + 9
        names = table.locator("tbody th").all_inner_texts()
        assert HOSTILE in names
        assert page.locator("#multilabel-agreement-table tbody tr").count() == 9
        assert page.locator("#multilabel img").count() == 0
        page.locator("#multilabel-annotators").scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#multilabel-agreement-table").screenshot(
            path=str(ARTIFACTS / "report-multilabel-annotators.png"))
    finally:
        ctx.close()
