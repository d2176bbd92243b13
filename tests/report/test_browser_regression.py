"""The ``--task regression`` report section in a real browser (headless Chromium, Playwright).

Renders the report of the shipped regression example through the command line
and checks, against cleanlab 2.9's scores and the section's documented rule,
that the section shows, that the scatter and residual charts render with one
mark per item, that the issue table lists the expected items and sorts, and
that the page is clean: no console errors, no dialogs, no network. Hostile ids
and a hostile label column name must show as text. A screenshot of the
section is saved under ``test-artifacts/``. Chromium is Debian's ``chromium``
package; these tests fail, never skip, when it is missing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from _browser import open_page as _open

from labelaudit.cli import run
from labelaudit.datasets import example_dir

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
CUTOFF = 3.5  # the --regression-cutoff default


def _audit(data: Path, predictions: Path, out: Path, label_col: str = "minutes") -> Path:
    code = run(["audit", str(data), "--task", "regression", "--label-col", label_col,
                "--id-col", "id", "--predictions", str(predictions), "--out", str(out)])
    assert code == 0
    return out / "report.html"


def _read_example():
    ex = example_dir("regression")
    with open(ex / "data.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ids = [r["id"] for r in rows]
    labels = np.array([float(r["minutes"]) for r in rows])
    return ids, labels, np.load(ex / "predictions.npy")


def _expected_issues(labels, predictions) -> np.ndarray:
    """Rows flagged by the documented rule on cleanlab's scores, lowest score first."""
    from cleanlab.regression.rank import get_label_quality_scores

    scores = get_label_quality_scores(labels, predictions)
    x = -np.log(scores)
    med = np.median(x)
    threshold = med + CUTOFF * 1.4826 * np.median(np.abs(x - med))
    flagged = np.flatnonzero(x > threshold)
    return flagged[np.argsort(scores[flagged], kind="stable")]


@pytest.fixture(scope="module")
def example_report(tmp_path_factory):
    ex = example_dir("regression")
    return _audit(ex / "data.csv", ex / "predictions.npy", tmp_path_factory.mktemp("reg"))


def _box(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None, "element is not rendered"
    return box


def test_regression_section_charts_and_issues(browser, example_report):
    ids, labels, predictions = _read_example()
    expected = _expected_issues(labels, predictions)
    assert 10 < expected.size < 100  # the planted errors stand out
    ctx, page, watch = _open(browser, example_report)
    try:
        assert watch.errors == [] and watch.dialogs == [] and watch.foreign() == []
        section = page.locator("#regression")
        assert section.is_visible()
        assert page.locator("nav a[href='#regression']").count() == 1
        # The one-class sections do not apply to numeric labels.
        assert page.locator("#noise").count() == 0 and page.locator("#issues").count() == 0
        headline = page.locator("#regression .headline").inner_text()
        assert headline.startswith(f"{expected.size} label issues among 600 items")

        # Scatter: one mark per item, flagged ones in their own group, inside the chart.
        scatter = page.locator("#regression-scatter svg")
        chart = _box(scatter)
        assert chart["width"] > 300 and chart["height"] > 250
        flagged = page.locator("#regression-scatter svg #la-reg-flagged use")
        assert flagged.count() == expected.size
        assert page.locator("#regression-scatter svg #la-reg-ok use").count() == 600 - expected.size
        for i in (0, expected.size - 1):
            mark = _box(flagged.nth(i))
            assert chart["x"] <= mark["x"] <= chart["x"] + chart["width"]
            assert chart["y"] <= mark["y"] <= chart["y"] + chart["height"]
        colours = page.evaluate("""() => [
            getComputedStyle(document.querySelector('#la-reg-flagged use')).fill,
            getComputedStyle(document.querySelector('#la-reg-ok use')).fill]""")
        assert colours[0] != colours[1]

        # Residual histogram: drawn, with bars.
        residuals = page.locator("#regression-residuals svg")
        assert _box(residuals)["width"] > 300
        assert page.locator("#regression-residuals svg g[id^='patch'] path").count() > 20

        # Issue table: the 25 lowest-scored flagged items, lowest first.
        rows = page.locator("#regression-issues tbody tr")
        assert rows.count() == 25
        shown = page.eval_on_selector_all("#regression-issues tbody tr th",
                                          "els => els.map(e => e.textContent)")
        assert shown == [ids[i] for i in expected[:25]]
        first = rows.first.locator("td").all_inner_texts()
        assert first[0] == "1"
        assert float(first[1]) == pytest.approx(labels[expected[0]], abs=1e-3)
        assert float(first[2]) == pytest.approx(predictions[expected[0]], rel=1e-3)
        more = page.locator("#regression .note").inner_text()
        assert more.startswith(f"{expected.size - 25} more issue")

        # The residual column sorts numerically by |residual|.
        header = page.locator("#regression-issues thead th", has_text="Residual")
        header.locator("button").click()
        header.locator("button").click()  # descending
        shown = page.eval_on_selector_all("#regression-issues tbody tr th",
                                          "els => els.map(e => e.textContent)")
        top = expected[:25]
        by_residual = top[np.argsort(-np.abs(predictions[top] - labels[top]), kind="stable")]
        assert shown == [ids[i] for i in by_residual]

        assert page.locator("#regression-bins tbody tr").count() == 4
        assert watch.errors == [] and watch.dialogs == []
        ARTIFACTS.mkdir(exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / "report-regression-section.png"))
    finally:
        ctx.close()


def test_hostile_ids_and_label_column_are_text(browser, tmp_path):
    ids, labels, predictions = _read_example()
    column = "<b onmouseover=alert(3)>minutes</b>"
    hostile_ids = list(ids)
    worst = int(_expected_issues(labels, predictions)[0])
    hostile_ids[worst] = HOSTILE
    data = tmp_path / "hostile.csv"
    with open(data, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", column])
        writer.writerows(zip(hostile_ids, labels.tolist(), strict=True))
    np.save(tmp_path / "p.npy", predictions)
    path = _audit(data, tmp_path / "p.npy", tmp_path / "out", label_col=column)
    ctx, page, watch = _open(browser, path)
    try:
        assert watch.dialogs == [] and watch.foreign() == [] and watch.errors == []
        first = page.locator("#regression-issues tbody tr th").first.inner_text()
        assert first == HOSTILE
        assert column in page.locator("#regression").inner_text()
        assert page.locator("#regression img, #regression script, #regression b").count() == 0
        page.hover("#regression-issues tbody tr th")
        assert watch.dialogs == []
    finally:
        ctx.close()
