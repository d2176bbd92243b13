"""The ``--task segmentation`` report section in a real browser (headless Chromium, Playwright).

Renders the report of the shipped segmentation example through the command
line and checks that the section shows its headline cards, that every worst
image is drawn (decoded PNGs, flagged pixels in the flag colour where the
audit flagged them), that the legend and the per-class table are there, and
that the page is clean: no console errors, no dialogs, no network. Hostile
class and image names are shown as text. A screenshot of the section is
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
CLASSES = "background,road,vehicle,pedestrian"
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def _audit(data: Path, probs: Path, out: Path, classes: str = CLASSES, *extra) -> Path:
    code = run(["audit", str(data), "--task", "segmentation", "--pred-probs", str(probs),
                "--classes", classes, "--out", str(out), *map(str, extra)])
    assert code == 0
    return out / "report.html"


@pytest.fixture(scope="module")
def example_report(tmp_path_factory):
    ex = example_dir("segmentation")
    return _audit(ex / "masks", ex / "probs.npy", tmp_path_factory.mktemp("seg"), CLASSES,
                  "--segmentation-image-dir", ex / "images")


#: Share of magenta pixels in an <img>, read back through a canvas.
_MAGENTA_SHARE = """(img) => {
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data; let m = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] === 255 && d[i+1] === 0 && d[i+2] === 255) m++;
  return m / (c.width * c.height);
}"""


def test_segmentation_section_draws_the_overlays(browser, example_report):
    issues = pl.read_parquet(example_report.parent / "issues.parquet")
    ctx, page, watch = _open(browser, example_report)
    try:
        section = page.locator("#segmentation")
        assert section.is_visible()
        assert page.locator("#noise").count() == 0 and page.locator("#issues").count() == 0
        assert page.locator("#segmentation-pixel-card .value").inner_text().endswith("%")
        assert "interval" in page.locator("#segmentation-pixel-card .sub").inner_text()
        assert "interval" in page.locator("#segmentation-image-card .sub").inner_text()
        items = page.locator("#segmentation li.seg-image")
        worst = issues.filter("is_issue").head(12)
        assert items.count() == worst.height
        assert [items.nth(i).get_attribute("data-image") for i in range(items.count())] == \
            worst.get_column("id").to_list()
        # Every drawing decoded; the flag panel is magenta in proportion to the flagged pixels.
        for i in range(items.count()):
            for cls in ("seg-flags", "seg-given", "seg-suggested"):
                img = items.nth(i).locator(f"img.{cls}")
                assert img.evaluate("im => im.complete && im.naturalWidth") == 128
            share = items.nth(i).locator("img.seg-flags").evaluate(_MAGENTA_SHARE)
            assert share == pytest.approx(worst.get_column("issue_share")[i], abs=1e-9)
            assert items.nth(i).locator("img.seg-given").evaluate(_MAGENTA_SHARE) == 0
        legend = page.locator("#segmentation-legend li")
        assert legend.first.inner_text() == "flagged pixel"
        assert {legend.nth(i).get_attribute("data-class") for i in range(1, legend.count())} <= \
            set(CLASSES.split(","))
        rows = page.locator("#segmentation-class-table tbody tr")
        assert rows.count() == 4
        assert rows.nth(3).locator("th").inner_text() == "pedestrian"
        assert rows.nth(3).locator("td").nth(3).inner_text() == "n/a"
        assert "\u2192" in rows.nth(1).locator("td").nth(5).inner_text()
        assert "pedestrian" in page.locator("#segmentation-absent").inner_text()
        assert page.locator("nav a[href='#segmentation']").count() == 1
        assert watch.errors == [] and watch.dialogs == [] and watch.foreign() == []
        ARTIFACTS.mkdir(exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / "report-segmentation-section.png"))
    finally:
        ctx.close()


def test_hostile_class_and_image_names_are_shown_as_text(browser, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    hostile_id = HOSTILE.replace("/", "_")
    labels = np.zeros((2, 4, 4), dtype=np.uint8)
    labels[0, :2] = 1
    np.save(masks / f"{hostile_id}.npy", labels[0])
    np.save(masks / "plain.npy", labels[1])
    probs = np.full((2, 2, 4, 4), 0.1, dtype=np.float32)
    probs[:, 0] = 0.9                       # the model says class 0 everywhere
    np.save(tmp_path / "p.npy", probs)
    path = _audit(masks, tmp_path / "p.npy", tmp_path / "out", f"calm,{HOSTILE.replace(',', ';')}")
    ctx, page, watch = _open(browser, path)
    try:
        assert watch.dialogs == [] and watch.foreign() == [] and watch.errors == []
        text = page.locator("#segmentation").inner_text()
        assert "<script>alert(2)</script>" in text
        assert page.locator(f"#segmentation li.seg-image[data-image='{hostile_id}']").count() == 1
        # Only the three drawings per shown image are images; the hostile <img> is text.
        assert page.locator("#segmentation img").count() == 3 * \
            page.locator("#segmentation li.seg-image").count()
    finally:
        ctx.close()
