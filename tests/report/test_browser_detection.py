"""The ``--task detection`` report section in a real browser (headless Chromium, Playwright).

Renders the report of the shipped detection example through the command line
and checks that the section shows, that every box of the shown images is drawn
over its image (flagged ones in their own style, labelled with issue type and
class), that the per-class table is there, and that the page is clean: no
console errors, no dialogs, no network. Hostile class and file names are shown
as text. A screenshot of the section is saved under ``test-artifacts/``.
Chromium is Debian's ``chromium`` package; these tests fail, never skip, when
it is missing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from _browser import open_page as _open

from labelaudit.cli import run
from labelaudit.datasets import example_dir

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def _audit(folder: Path, out: Path) -> Path:
    code = run(["audit", str(folder / "annotations.json"), "--task", "detection",
                "--predictions", str(folder / "predictions.json"), "--out", str(out)])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def example_out(tmp_path_factory):
    return _audit(example_dir("detection"), tmp_path_factory.mktemp("det"))


def test_detection_section_draws_boxes_on_the_images(browser, example_out):
    path = example_out / "report.html"
    boxes = pl.read_parquet(example_out / "boxes.parquet")
    images = pl.read_parquet(example_out / "issues.parquet")
    ctx, page, watch = _open(browser, path)
    try:
        assert watch.errors == [] and watch.dialogs == [] and watch.foreign() == []
        section = page.locator("#detection")
        assert section.is_visible()
        assert page.locator("nav a[href='#detection']").count() == 1
        assert page.locator("#detection-rate-card .value").inner_text() == "25.0%"
        assert "interval 8.9% to 53.2%" in page.locator("#detection-rate-card .sub").inner_text()
        for card in ("overlooked", "swapped", "badloc"):
            assert page.locator(f"#detection-{card}-card .value").inner_text() == "1"
        figures = page.locator("#detection figure.det-image")
        shown = images.filter("is_issue").get_column("id").to_list()
        assert [figures.nth(i).get_attribute("data-image") for i in range(figures.count())] \
            == shown
        for i, image_id in enumerate(shown):
            fig = figures.nth(i)
            mine = boxes.filter(pl.col("image_id") == image_id)
            # Every box of the image is a rect over the (loaded, visible) image.
            assert fig.locator("rect.det-box").count() == mine.height
            assert fig.locator("rect.det-given").count() == (mine["source"] == "given").sum()
            assert fig.locator("rect.det-predicted").count() == \
                (mine["source"] == "predicted").sum()
            flagged = mine.filter(pl.col("issue") != "")
            assert fig.locator("rect.det-flag").count() == flagged.height == 1
            assert fig.locator("image").count() == 1
            assert fig.locator("text.det-label").get_attribute("data-issue") == flagged["issue"][0]
        labels = page.locator("#detection text.det-label").all_text_contents()
        assert labels == ["overlooked: bar", "swapped: square \u2192 bar", "badly located: bar"]
        # Given boxes are solid, predicted ones dashed, flagged ones painted differently.
        styles = page.evaluate("""() => ['rect.det-given:not(.det-flag)',
            'rect.det-predicted:not(.det-flag)', 'rect.det-flag'].map(s => {
              const c = getComputedStyle(document.querySelector('#detection figure ' + s));
              return [c.strokeDasharray, c.stroke, c.strokeWidth]; })""")
        assert styles[0][0] == "none" and styles[1][0] != "none"
        assert styles[2][1] not in (styles[0][1], styles[1][1])
        # The drawn image is the thumbnail of the file, at the SVG's full size.
        box = page.locator("#detection figure.det-image svg").first.bounding_box()
        assert box["width"] == pytest.approx(240, abs=1) and box["height"] == pytest.approx(240,
                                                                                          abs=1)
        assert page.locator("#detection-legend").is_visible()
        rows = page.locator("#detection-class-table tbody tr")
        assert rows.count() == 2
        assert rows.nth(0).locator("th").inner_text() == "square"
        cells = rows.nth(1).locator("td").all_inner_texts()
        assert cells[:3] == ["11", "2", "16.7%"] and cells[-1] == "0.8"
        ARTIFACTS.mkdir(exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / "report-detection-section.png"))
    finally:
        ctx.close()


def test_hostile_names_are_text_and_a_missing_image_gets_a_canvas(browser, tmp_path):
    folder = tmp_path / "ex"
    shutil.copytree(example_dir("detection"), folder)
    ann = json.loads((folder / "annotations.json").read_text())
    ann["categories"][1]["name"] = HOSTILE  # "bar"
    for image in ann["images"]:
        if image["id"] == 3:
            image["file_name"] = f"images/{HOSTILE}.png"  # no such file
    (folder / "annotations.json").write_text(json.dumps(ann))
    out = _audit(folder, tmp_path / "out")
    ctx, page, watch = _open(browser, out / "report.html")
    try:
        assert watch.dialogs == [] and watch.foreign() == [] and watch.errors == []
        text = page.locator("#detection").inner_text()
        assert "<script>alert(2)</script>" in text
        assert page.locator("#detection img").count() == 0
        assert page.locator("#detection script").count() == 0
        fig = page.locator("#detection figure[data-image='3']")
        assert fig.locator("image").count() == 0 and fig.locator("rect.det-blank").count() == 1
        assert "blank canvas" in fig.locator(".det-missing").inner_text()
        assert fig.locator("rect.det-flag").count() == 1
        assert fig.locator("rect.det-flag").get_attribute("data-class") == HOSTILE
        assert page.locator("#detection-class-table tbody tr").nth(1).locator("th") \
            .inner_text().startswith('"><img src=x')
        ARTIFACTS.mkdir(exist_ok=True)
        fig.screenshot(path=str(ARTIFACTS / "report-detection-missing-image.png"))
    finally:
        ctx.close()
