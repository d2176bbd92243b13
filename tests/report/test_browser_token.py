"""The ``--task token`` report section in a real browser (headless Chromium, Playwright).

Renders the report of the shipped token example through the command line and
checks that the section shows, that flagged tokens are highlighted in their
sentences with the given and suggested tags, that the per-tag table is
there, and that the page is clean: no console errors, no dialogs, no network.
A screenshot of the section is saved under ``test-artifacts/``. Chromium is
Debian's ``chromium`` package; these tests fail, never skip, when it is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _browser import open_page as _open

from labelaudit.cli import run
from labelaudit.datasets import example_dir

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CLASSES = "B-LOC,B-ORG,B-PER,I-LOC,I-ORG,I-PER,O"
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def _audit(data: Path, probs: Path, out: Path, classes: str = CLASSES) -> Path:
    code = run(["audit", str(data), "--task", "token", "--pred-probs", str(probs),
                "--classes", classes, "--out", str(out)])
    assert code == 0
    return out / "report.html"


@pytest.fixture(scope="module")
def example_report(tmp_path_factory):
    ex = example_dir("token")
    return _audit(ex / "tokens.conll", ex / "token_probs.npy", tmp_path_factory.mktemp("tok"))


def test_token_section_shows_highlighted_tokens(browser, example_report):
    ctx, page, watch = _open(browser, example_report)
    try:
        assert watch.errors == [] and watch.dialogs == [] and watch.foreign() == []
        section = page.locator("#token")
        assert section.is_visible()
        # The one-class sections do not apply to tokens and stay hidden.
        assert page.locator("#noise").count() == 0 and page.locator("#issues").count() == 0
        assert page.locator("#token-rate-card .value").inner_text().endswith("%")
        assert "interval" in page.locator("#token-sentence-card .sub").inner_text()
        sentences = page.locator("#token li.token-sentence")
        assert 10 <= sentences.count() <= 50
        marks = page.locator("#token mark.tok-issue")
        assert marks.count() >= sentences.count()
        first = marks.first
        assert first.is_visible()
        given, suggested = first.get_attribute("data-given"), first.get_attribute("data-suggested")
        assert given != suggested
        assert first.locator(".given").inner_text() == given
        assert first.locator(".suggested").inner_text() == suggested
        # Highlighted tokens are painted differently from the others.
        colours = page.evaluate("""() => [
            getComputedStyle(document.querySelector('#token mark.tok-issue')).backgroundColor,
            getComputedStyle(document.querySelector('#token span.tok')).backgroundColor]""")
        assert colours[0] != colours[1]
        rows = page.locator("#token-class-table tbody tr")
        assert rows.count() == 7
        assert rows.first.locator("th").inner_text() == "B-LOC"
        assert page.locator("nav a[href='#token']").count() == 1
        ARTIFACTS.mkdir(exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / "report-token-section.png"))
    finally:
        ctx.close()


def test_hostile_tokens_are_shown_as_text(browser, tmp_path):
    data = tmp_path / "hostile.conll"
    data.write_text(f"{HOSTILE.replace(' ', '_')} B-PER\nsaid O\n\nOslo B-LOC\nis O\n")
    probs = np.array([[0.05, 0.9, 0.05], [0.05, 0.9, 0.05], [0.9, 0.05, 0.05],
                      [0.05, 0.05, 0.9]], dtype=np.float32)
    np.save(tmp_path / "p.npy", probs)
    path = _audit(data, tmp_path / "p.npy", tmp_path / "out", classes="B-LOC,B-PER,O")
    ctx, page, watch = _open(browser, path)
    try:
        assert watch.dialogs == [] and watch.foreign() == [] and watch.errors == []
        text = page.locator("#token").inner_text()
        assert "<script>alert(2)</script>" in text
        assert page.locator("#token img").count() == 0
    finally:
        ctx.close()
