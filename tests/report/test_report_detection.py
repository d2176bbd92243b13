"""The ``--task detection`` report section: context, drawn boxes, sidecars, summary, lines."""

from __future__ import annotations

import json
import re
import shutil

import polars as pl
import pytest

from labelaudit.cli import run
from labelaudit.datasets import example_dir
from labelaudit.report import _section_detection as section


def _audit(capsys, data, preds, out, *extra):
    code = run(["audit", str(data), "--task", "detection", "--predictions", str(preds),
                "--out", str(out), *[str(e) for e in extra]])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.fixture(scope="module")
def example():
    return example_dir("detection")


def _rects(html: str, flagged_only: bool = False) -> list[str]:
    cls = r"det-box det-(?:given|predicted) det-flag" if flagged_only else r"det-box det-\w+"
    return re.findall(rf'<rect class="{cls}[^"]*" data-source', html)


def test_example_section_sidecars_summary_and_line(capsys, tmp_path, example):
    out = tmp_path / "out"
    stdout = _audit(capsys, example / "annotations.json", example / "predictions.json", out,
                    "--csv")
    assert sorted(p.name for p in out.iterdir()) == [
        "boxes.parquet", "issues.csv", "issues.parquet", "report.html", "summary.json"]
    assert ("Detection: 3 of 12 images have a flagged box (25.00%, 95% interval 8.89% to 53.23%"
            in stdout)
    assert "1 overlooked, 1 swapped, 1 badly located" in stdout
    images = pl.read_parquet(out / "issues.parquet")
    boxes = pl.read_parquet(out / "boxes.parquet")
    assert images.height == 12 and {"width", "height", "n_given", "n_predicted"} <= set(images.columns)
    ann = json.loads((example / "annotations.json").read_text())
    preds = json.loads((example / "predictions.json").read_text())
    assert boxes.filter(pl.col("source") == "given").height == len(ann["annotations"])
    assert boxes.filter(pl.col("source") == "predicted").height == len(preds)
    flagged = boxes.filter(pl.col("issue") != "")
    assert sorted(flagged.get_column("issue").to_list()) == ["badly_located", "overlooked",
                                                              "swapped"]
    swap = flagged.filter(pl.col("issue") == "swapped").row(0, named=True)
    # The swapped box of img_06 is a bar-shaped object given as a square; the detector says bar.
    assert (swap["image_id"], swap["class"], swap["predicted_class"]) == ("6", "square", "bar")
    assert boxes.filter(pl.col("issue") != "swapped").get_column("predicted_class").null_count() \
        == boxes.height - 1
    summary = json.loads((out / "summary.json").read_text())
    entry = summary["extras"]["detection"]
    assert entry["detection_n_swapped"] == 1
    assert [r["class"] for r in entry["per_class"]] == ["square", "bar"]
    assert summary["figures"]["detection"]["detection_image_issue_ci_high"] == pytest.approx(
        summary["figures"]["detection_image_issue_ci_high"])
    html = (out / "report.html").read_text()
    assert 'id="detection"' in html and "href=\"#detection\"" in html
    # Every box of the three flagged images is drawn, the three flagged ones in the flag style.
    shown = boxes.filter(pl.col("image_id").is_in(["3", "6", "9"]))
    assert len(_rects(html)) == shown.height
    assert len(_rects(html, flagged_only=True)) == 3
    assert html.count("data:image/png;base64,") == 3
    assert "swapped: square \u2192 bar" in html and "overlooked: bar" in html
    assert "badly located: bar" in html
    assert html.count('class="det-missing"') == 0


def test_images_shown_and_budget_constants_change_the_page(capsys, tmp_path, example,
                                                           monkeypatch):
    monkeypatch.setattr(section, "DETECTION_IMAGES_SHOWN", 1)
    _audit(capsys, example / "annotations.json", example / "predictions.json", tmp_path / "a")
    html = (tmp_path / "a" / "report.html").read_text()
    assert html.count('<figure class="det-image"') == 1 and 'data-image="3"' in html
    assert "2 more flagged images" in html
    monkeypatch.setattr(section, "DETECTION_IMAGES_SHOWN", 24)
    monkeypatch.setattr(section, "DETECTION_IMAGE_BUDGET", 0)
    _audit(capsys, example / "annotations.json", example / "predictions.json", tmp_path / "b")
    html = (tmp_path / "b" / "report.html").read_text()
    assert html.count('<figure class="det-image"') == 3
    assert "data:image/png" not in html and html.count('class="note det-missing"') == 3
    assert "image budget is used up" in html


def test_view_size_scales_the_drawn_boxes(capsys, tmp_path, example, monkeypatch):
    monkeypatch.setattr(section, "DETECTION_VIEW_SIZE", 96)
    _audit(capsys, example / "annotations.json", example / "predictions.json", tmp_path / "a")
    html = (tmp_path / "a" / "report.html").read_text()
    # At 96 px a 96 x 96 image is drawn at scale 1: the swapped box keeps its corners.
    assert re.search(r'data-issue="swapped" x="58.0" y="68.0" width="30.0" height="10.0"', html)
    assert 'viewBox="0 0 96.0 96.0"' in html


def test_missing_image_file_gets_a_blank_canvas(capsys, tmp_path, example):
    data = tmp_path / "ex"
    shutil.copytree(example, data)
    (data / "images" / "img_06.png").unlink()
    _audit(capsys, data / "annotations.json", data / "predictions.json", tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    fig = re.search(r'<figure class="det-image" data-image="6".*?</figure>', html, re.S).group(0)
    assert "data:image/png" not in fig and 'class="det-blank"' in fig
    assert "blank canvas of the image" in fig
    assert len(_rects(fig, flagged_only=True)) == 1 and "swapped: square" in fig
    assert html.count("data:image/png;base64,") == 2
