"""The demo report in a real browser: headless Chromium driven by Playwright.

Chromium is Debian's ``chromium`` package (CI installs it); these tests fail,
never skip, when it is missing. A full-page screenshot of the demo report is
saved under ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from _browser import open_page as _open

from labelaudit.audit import audit
from labelaudit.report import write_html
from labelaudit.summary import to_summary_dict

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail(
            "headless Chromium is required for the report browser tests and was not found on "
            "PATH (install the Debian package: apt-get install chromium)",
            pytrace=False,
        )
    return exe


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory, demo_audit):
    result, demo = demo_audit
    out = tmp_path_factory.mktemp("demo")
    summary = to_summary_dict(result, parameters={"command": "demo"},
                              outputs={"directory": str(out)})
    path = write_html(result, out / "report.html", summary=summary, items=demo.items,
                      attribute_cols=["annotator", "source"], date="2026-01-15")
    return path, result


def _visible_rows(page) -> list[dict]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#issues-table tbody tr'))
            .filter(r => r.offsetParent !== null)
            .map(r => ({rank: +r.cells[0].textContent, given: r.cells[3].textContent.trim(),
                        id: r.cells[2].textContent.trim(),
                        quality: parseFloat(r.cells[5].dataset.sort)}))"""
    )


def test_demo_report_loads_cleanly_and_offline(browser, demo_report):
    path, result = demo_report
    ctx, page, watch = _open(browser, path)
    try:
        assert watch.errors == []
        assert watch.dialogs == []
        assert watch.foreign() == []
        for section in ("#gate", "#summary", "#noise", "#issues", "#annotators", "#bias",
                        "#methodology"):
            if section == "#gate":
                continue  # no policy in this report
            assert page.locator(section).is_visible(), section
        assert page.locator("#noise svg.chart").first.is_visible()
        assert page.locator("#annotators svg.chart").first.is_visible()
        assert page.locator("#bias svg.chart").first.is_visible()
        assert page.locator("#issue-controls").is_visible()
        rows = _visible_rows(page)
        assert len(rows) == min(50, result.n_issues)
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#issues").scroll_into_view_if_needed()
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#issues-table tbody tr'))"
            ".filter(r => r.offsetParent !== null).slice(0, 10)"
            ".every(r => { const i = r.querySelector('img'); return i && i.complete && i.naturalWidth > 0; })"
        )
        page.evaluate("() => window.scrollTo(0, 0)")
        shot = ARTIFACTS / "report-demo.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
    finally:
        ctx.close()


def test_thumbnails_render(browser, demo_report):
    path, _ = demo_report
    ctx, page, _ = _open(browser, path)
    try:
        first = page.locator("#issues-table tbody tr").first.locator("img")
        first.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => { const i = document.querySelector('#issues-table tbody tr img');"
            " return i.complete && i.naturalWidth > 0; }"
        )
        size = first.evaluate("i => [i.naturalWidth, i.naturalHeight, i.width, i.height]")
        assert size == [8, 8, 48, 48]
        assert first.get_attribute("alt").startswith("image of item ")
    finally:
        ctx.close()


def test_sorting_filtering_and_paging_change_the_visible_rows(browser, demo_report):
    path, result = demo_report
    ctx, page, watch = _open(browser, path)
    try:
        before = _visible_rows(page)
        quality = page.locator("#issues-table thead th", has_text="Quality").locator("button")
        quality.click()  # ascending (already the order)
        quality.click()  # descending: the highest quality issues first
        rows = _visible_rows(page)
        assert rows != before
        issues = result.issues.filter(pl.col("is_issue"))
        top = issues.sort(["label_quality", "issue_rank"], descending=[True, False])
        assert rows[0]["quality"] == pytest.approx(top.get_column("label_quality")[0], rel=1e-12)
        qs = [r["quality"] for r in rows]
        assert qs == sorted(qs, reverse=True)
        assert page.locator("#issues-table thead th", has_text="Quality").get_attribute(
            "aria-sort") == "descending"

        # Filter by given label: every visible row has it, and the count matches the data.
        label = issues.get_column("given_label").mode().sort()[0]
        page.select_option("#issue-class", label)
        page.select_option("#issue-page-size", "0")  # all rows
        rows = _visible_rows(page)
        assert {r["given"] for r in rows} == {label}
        assert len(rows) == int((issues.get_column("given_label") == label).sum())

        # Free-text filter on one id.
        page.select_option("#issue-class", "")
        target = issues.get_column("id")[7]
        page.fill("#issue-filter", target)
        rows = _visible_rows(page)
        assert [r["id"] for r in rows] == [target]
        assert "of 1" in page.locator("#page-info").inner_text()

        # Paging.
        page.fill("#issue-filter", "")
        page.select_option("#issue-page-size", "25")
        first_page = _visible_rows(page)
        page.click("#next-page")
        second_page = _visible_rows(page)
        assert len(first_page) == 25 and second_page
        assert not {r["id"] for r in first_page} & {r["id"] for r in second_page}
        assert watch.errors == []
    finally:
        ctx.close()


def test_everything_is_readable_without_javascript(browser, demo_report):
    path, result = demo_report
    ctx, page, watch = _open(browser, path, java_script_enabled=False)
    try:
        rows = _visible_rows(page)
        assert len(rows) == min(result.n_issues, 1000)  # every embedded row is shown
        assert not page.locator("#issue-controls").is_visible()  # no dead controls
        for section in ("#summary", "#noise", "#issues", "#annotators", "#bias", "#methodology"):
            assert page.locator(section).is_visible()
        assert watch.foreign() == []
    finally:
        ctx.close()


def test_print_layout_shows_every_row_and_hides_controls(browser, demo_report):
    path, result = demo_report
    ctx, page, _ = _open(browser, path)
    try:
        page.emulate_media(media="print")
        assert not page.locator("#issue-controls").is_visible()
        assert len(_visible_rows(page)) == min(result.n_issues, 1000)
        pdf = page.pdf()
        assert pdf[:4] == b"%PDF" and len(pdf) > 10_000
    finally:
        ctx.close()


def test_hostile_strings_never_execute_in_the_browser(browser, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    n, names = 240, [HOSTILE, "b", "c"]
    truth = rng.integers(0, 3, size=n)
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), truth] = 0.8
    labels = truth.copy()
    labels[:30] = (labels[:30] + 1) % 3
    ids = [f"{HOSTILE}{i}" for i in range(n)]
    result = audit(np.asarray(names, dtype=object)[labels], probs, class_names=names, ids=ids,
                   n_bootstrap=20)
    items = pl.DataFrame({"id": ids, HOSTILE: [HOSTILE] * n})
    path = write_html(result, tmp_path / "report.html", items=items, dataset=HOSTILE)
    ctx, page, watch = _open(browser, path)
    try:
        assert watch.dialogs == []
        assert watch.errors == []
        assert watch.foreign() == []
        assert HOSTILE in page.locator("h1").inner_text()
        assert page.locator("#issues-table thead th", has_text="img src=x").count() == 1
        page.fill("#issue-filter", "onerror")
        assert len(_visible_rows(page)) > 0
        assert watch.dialogs == []
    finally:
        ctx.close()


def test_other_tables_sort_numerically(browser, demo_report):
    path, result = demo_report
    ctx, page, watch = _open(browser, path)
    try:
        header = page.locator("#class-table thead th", has_text="Estimated noise rate")
        header.locator("button").click()
        header.locator("button").click()  # descending
        shown = page.eval_on_selector_all("#class-table tbody tr th", "els => els.map(e => e.textContent)")
        expected = result.per_class.sort(["estimated_noise_rate", "class"],
                                         descending=[True, False]).get_column("class").to_list()
        assert shown == expected
        assert watch.errors == []
    finally:
        ctx.close()
