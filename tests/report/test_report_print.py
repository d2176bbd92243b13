"""Full-page screenshots and PDF prints of the reports the command line writes.

Headless Chromium (Debian's ``chromium``, through Playwright) opens the demo
report and an annotator-only report as written by ``labelaudit demo`` and
``labelaudit annotators``, takes a full-page screenshot straight after loading
(nothing scrolled into view first) and prints the page to PDF; poppler's
``pdfimages`` and ``pdftotext`` read the PDF back. Both are checked for what a
reader sees: the run's date, no raw machine keys, no dash or empty cell where
a number belongs, and thumbnails that show the image rather than a black box.
The screenshots and PDFs are kept under ``test-artifacts/``. These tests fail,
never skip, when a tool is missing.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from labelaudit.cli import run
from labelaudit.datasets import load_demo

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

#: A snake_case word (two or more parts), not part of a file name such as ``a_b.csv``.
RAW_KEY = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b(?!\.\w)")
#: A dash with a number on both sides is a range ("85.5% – 98.8%"); anything else is a blank.
RANGE = re.compile(r"[\d%]\s*\u2013\s*-?\d")

#: Visible text of the page: no code, preformatted, script, style or SVG text; the
#: summary line only of a closed <details>.
VISIBLE_TEXT = """() => {
  const skip = new Set(['CODE', 'PRE', 'SCRIPT', 'STYLE']);
  const out = [];
  const walk = (n) => {
    if (n.nodeType === Node.TEXT_NODE) {
      const el = n.parentElement;
      if (el && el.getClientRects().length) out.push(n.textContent);
      return;
    }
    if (n.nodeType !== Node.ELEMENT_NODE || skip.has(n.tagName)) return;
    if (n.namespaceURI === 'http://www.w3.org/2000/svg') return;
    if (n.tagName === 'DETAILS' && !n.open) {
      const s = n.querySelector('summary');
      if (s) walk(s);
      return;
    }
    n.childNodes.forEach(walk);
  };
  walk(document.body);
  return out.join(' ');
}"""


def _tool(name: str, package: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is required for the report print tests and was not found on PATH "
                    f"(install the Debian package: apt-get install {package})", pytrace=False)
    return exe


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is required for the browser tests: pip install playwright",
                    pytrace=False)
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        _tool("chromium", "chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """``{name: directory}`` of the demo and an annotator-only run of the command line."""
    root = tmp_path_factory.mktemp("print")
    demo = load_demo()
    runs = {
        "demo": ["demo", "--out", root / "demo"],
        "annotators": ["annotators", demo.path_annotations, "--time-col", "timestamp",
                       "--out", root / "annotators"],
    }
    for name, args in runs.items():
        assert run([str(a) for a in args]) == 0, name
    return {name: root / name for name in runs}


def _date_shown(summary: dict) -> str:
    stamp = summary["date"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", stamp), stamp
    return f"{stamp[:10]} {stamp[11:16]} UTC"


def _check_text(text: str, where: str) -> None:
    """No raw keys and no dash standing in for a number."""
    text = " ".join(text.split())
    keys = sorted(set(RAW_KEY.findall(text)))
    assert keys == [], f"{where}: raw keys in the visible text: {keys}"
    blanks = [text[max(m.start() - 40, 0):m.end() + 40] for m in re.finditer("\u2013", text)
              if not RANGE.search(text[max(m.start() - 12, 0):m.end() + 12])]
    assert blanks == [], f"{where}: a dash where a number belongs: {blanks[:5]}"
    assert "not recorded" not in text and "None" not in text and "nan" not in text.split()


def _check_cells(page, where: str) -> None:
    """Every visible table cell has content; every number column holds a number."""
    empty = page.evaluate("""() => Array.from(document.querySelectorAll('td'))
        .filter(td => td.getClientRects().length && !td.textContent.trim()
                      && !td.querySelector('img'))
        .map(td => (td.closest('table').id || td.closest('section').id) + ' row '
                   + td.parentElement.rowIndex + ' col ' + td.cellIndex)""")
    assert empty == [], f"{where}: empty cells {empty[:5]}"
    wordy = page.evaluate("""() => Array.from(document.querySelectorAll('td.num'))
        .filter(td => td.getClientRects().length && !/\\d/.test(td.textContent))
        .map(td => td.textContent.trim())""")
    assert set(wordy) <= {"not tested", "not computed", "n/a"}, f"{where}: {sorted(set(wordy))}"


def _non_black(pixels: np.ndarray) -> bool:
    """An image with light strokes and contrast, not a black (or flat) box."""
    gray = pixels[..., :3].astype(float).mean(axis=-1)
    return gray.max() > 100 and gray.std() > 20


def _shot_and_pdf(browser, path: Path, name: str):
    from PIL import Image

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri(), wait_until="load")
    ARTIFACTS.mkdir(exist_ok=True)
    png = page.screenshot(full_page=True)  # straight after loading: nothing scrolled into view
    (ARTIFACTS / f"print-{name}.png").write_bytes(png)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    pdf = page.pdf(print_background=True)
    (ARTIFACTS / f"print-{name}.pdf").write_bytes(pdf)
    assert errors == []
    return ctx, page, shot, ARTIFACTS / f"print-{name}.pdf"


def _pdf_text(pdf: Path) -> str:
    exe = _tool("pdftotext", "poppler-utils")
    return subprocess.run([exe, "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=120).stdout


def _pdf_images(pdf: Path, tmp: Path) -> list[np.ndarray]:
    from PIL import Image

    exe = _tool("pdfimages", "poppler-utils")
    subprocess.run([exe, "-png", str(pdf), str(tmp / "img")], check=True, timeout=120)
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(tmp.glob("img-*.png"))]


def test_demo_report_screenshot_and_print(browser, reports, tmp_path):
    out = reports["demo"]
    summary = json.loads((out / "summary.json").read_text())
    date = _date_shown(summary)
    ctx, page, shot, pdf = _shot_and_pdf(browser, out / "report.html", "demo")
    try:
        header = page.locator("header dl.meta").inner_text()
        assert f"Date\n{date}" in header
        _check_text(page.evaluate(VISIBLE_TEXT), "demo report")
        _check_cells(page, "demo report")
        # Thumbnails in the screenshot: the first page of the issue list, none black.
        boxes = page.evaluate("""() => Array.from(document.querySelectorAll('#issues-table img'))
            .filter(i => i.getClientRects().length).slice(0, 20).map(i => {
              const r = i.getBoundingClientRect();
              return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; })""")
        assert len(boxes) == 20
        for x, y, w, h in boxes:
            crop = shot[int(y) + 2:int(y + h) - 2, int(x) + 2:int(x + w) - 2]
            assert crop.size and _non_black(crop), (x, y)
        # Quality in fixed notation with at most 3 significant digits, never scientific.
        quality = page.eval_on_selector_all("#issues-table tbody tr td:nth-child(6)",
                                            "tds => tds.map(t => t.textContent.trim())")
        assert quality and all(re.fullmatch(r"(< )?0(\.\d+)?|1", q) for q in quality), quality[:5]
        assert all(len(q.lstrip("< 0.").rstrip()) <= 3 for q in quality if q.startswith("0."))
        width = page.evaluate("""() => [document.querySelector('#issues-table').offsetWidth,
                                       document.querySelector('main').clientWidth]""")
        assert width[0] >= 0.95 * width[1] - 40, width  # the issue table uses the page width
    finally:
        ctx.close()
    text = _pdf_text(pdf)
    assert date in text and "Issue list" in text and "Relabel queue" in text
    thumbs = [img for img in _pdf_images(pdf, tmp_path) if img.shape[0] <= 64]
    assert len(thumbs) >= 20, len(thumbs)
    assert all(_non_black(img) for img in thumbs[:20])


def test_annotator_only_report_screenshot_and_print(browser, reports):
    out = reports["annotators"]
    summary = json.loads((out / "summary.json").read_text())
    date = _date_shown(summary)
    ctx, page, shot, pdf = _shot_and_pdf(browser, out / "report.html", "annotators")
    try:
        assert page.title() == "Annotator review: demo_annotations.parquet"
        assert f"Date\n{date}" in page.locator("header dl.meta").inner_text()
        text = page.evaluate(VISIBLE_TEXT)
        _check_text(text, "annotator report")
        _check_cells(page, "annotator report")
        for section in ("#summary", "#annotators", "#relabel-queue", "#methodology"):
            assert page.locator(section).is_visible(), section
        for absent in ("#noise", "#issues"):
            assert page.locator(absent).count() == 0
        assert page.locator("#annotators svg.chart[aria-label^='Accuracy of each annotator in "
                            "each time window']").is_visible()
        assert "bootstrap" not in text and "Confident learning compares" not in text
        assert shot.shape[0] > 1500 and _non_black(shot)
    finally:
        ctx.close()
    text = _pdf_text(pdf)
    assert date in text and "Relabel queue" in text and "Accuracy over time" in text
