"""The report's size is bounded in bytes whatever the strings in the data.

Displayed data strings (ids, labels, class, attribute, annotator and column
names, text snippets) are cut with an ellipsis; the id keeps a longer, still
bounded, hover title; every other printed plain string is cut at
``FIELD_CHARS``. Full values stay in the Parquet outputs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from labelaudit.annotators import review_annotators
from labelaudit.audit import audit
from labelaudit.cli import run
from labelaudit.datasets import load_demo
from labelaudit.report import render_html
from labelaudit.report._env import environment
from labelaudit.report._format import DISPLAY_CHARS, FIELD_CHARS, TITLE_CHARS, clip
from labelaudit.slices import analyze_slices

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import planted_noise  # noqa: E402

LONG = 10_000
#: The bound the README states for the text of a page with 1,000 issues.
TEXT_BOUND = 5 * 2**20


def _longest_run(html: str, char: str) -> int:
    runs = re.findall(f"{re.escape(char)}+", html)
    return max(map(len, runs), default=0)


def test_demo_with_10000_character_strings_stays_under_2_mb():
    demo = load_demo()
    tail = {name: "-" + ch * LONG for name, ch in
            (("id", "i"), ("label", "c"), ("annotator", "a"), ("source", "s"))}

    def longer(col: str, key: str) -> pl.Expr:
        return pl.col(col).cast(pl.String) + pl.lit(tail[key])

    items = demo.items.with_columns(
        longer("id", "id"), longer("label", "label"), longer("annotator", "annotator"),
        longer("source", "source"), pl.lit("note " * (LONG // 5)).alias("note"),
    )
    annotations = demo.annotations.with_columns(
        longer("item_id", "id"), longer("label", "label"), longer("annotator", "annotator"))
    features = items.select(pl.col(r"^px_\d+$")).to_numpy().astype("float64")
    result = audit(items.get_column("label"), features=features, ids=items.get_column("id"),
                   seed=0, n_bootstrap=50)
    issues = result.issues
    review = review_annotators(
        annotations, item_col="item_id", annotator_col="annotator", label_col="label",
        time_col="timestamp", classes=list(result.class_names), item_ids=issues.get_column("id"),
        issue_mask=issues.get_column("is_issue").to_numpy(),
        label_quality=issues.get_column("label_quality").to_numpy(),
    )
    frame = issues.join(items.select("id", "source", "annotator"), on="id", how="left")
    slices = analyze_slices(frame, attributes=["source", "annotator"])
    result = result.with_section("annotators", review).with_section("slices", slices)
    assert result.n_issues > 50

    html = render_html(result, items=items, date="2026-01-15")
    assert len(html.encode("utf-8")) < 2 * 2**20
    # Every long value is cut: shown at most DISPLAY_CHARS long, the id in a bounded title.
    for ch in "icas":
        assert 0 < _longest_run(html, ch) <= FIELD_CHARS, ch
    assert _longest_run(html, "i") <= TITLE_CHARS
    first = issues.filter(pl.col("is_issue")).get_column("id")[0]
    shown = clip(first)
    assert len(shown) == DISPLAY_CHARS and shown.endswith("\u2026")
    assert f'<code title="{clip(first, TITLE_CHARS)}">{shown}</code>' in html
    # The full values stay in the issue table (the Parquet sidecar).
    assert issues.get_column("id").str.len_chars().min() > LONG


def test_hostile_strings_stay_within_the_stated_bound():
    """1,000 issues, six attribute columns and a text column, every string made of 10,000
    characters that HTML must escape or UTF-8 needs four bytes for."""
    n, k = 4000, 6
    labels, probs, _ = planted_noise(n, k, seed=1, rate=0.45, flip="next")
    names = [f"{j}" + "&<" * (LONG // 2) for j in range(k)]
    ids = [f"{i}" + "\U0001F600&" * (LONG // 2) for i in range(n)]
    result = audit(np.asarray(names, dtype=object)[labels], probs, class_names=names, ids=ids,
                   n_bootstrap=20)
    assert result.n_issues >= 1000
    items = pl.DataFrame({
        "id": ids,
        **{f"attr{j}" + '"' * LONG: [f"v{i % 50}" + "&" * LONG for i in range(n)]
           for j in range(6)},
        "text": ["t" + "<" * LONG] * n,
    })
    html = render_html(result, items=items)
    assert html.count("<tr data-given=") == 1000
    assert len(html.encode("utf-8")) < TEXT_BOUND


def test_cli_report_cuts_long_ids_and_parquet_keeps_them(tmp_path, capsys):
    n = 300
    labels, probs, _ = planted_noise(n, 3, seed=2, rate=0.2)
    ids = [f"{i:04d}-" + "x" * LONG for i in range(n)]
    data = tmp_path / "data.csv"
    pl.DataFrame({"id": ids, "label": np.array(["a", "b", "c"])[labels],
                  "region": ["r" * LONG] * n}).write_csv(data)
    pp = tmp_path / "probs.npy"
    np.save(pp, probs)
    out = tmp_path / "out"
    code = run(["audit", str(data), "--id-col", "id", "--label-col", "label", "--pred-probs",
                str(pp), "--classes", "a,b,c", "--attribute", "region", "--out", str(out),
                "--n-bootstrap", "20"])
    capsys.readouterr()
    assert code == 0
    html = (out / "report.html").read_text()
    assert _longest_run(html, "x") <= TITLE_CHARS and _longest_run(html, "r") <= FIELD_CHARS
    assert sorted(pl.read_parquet(out / "issues.parquet").get_column("id").to_list()) == sorted(ids)


def test_every_printed_plain_string_is_cut_but_markup_is_not():
    from markupsafe import Markup

    template = environment().from_string("{{ plain }}|{{ marked }}")
    page = template.render(plain="p" * (3 * FIELD_CHARS), marked=Markup("m" * (3 * FIELD_CHARS)))
    plain, marked = page.split("|")
    assert plain == "p" * (FIELD_CHARS - 1) + "\u2026"
    assert marked == "m" * (3 * FIELD_CHARS)


@pytest.mark.parametrize("value, limit, expected", [
    ("abc", 3, "abc"), ("abcd", 3, "ab\u2026"), (12345, 4, "123\u2026"), ("", 5, ""),
])
def test_clip(value, limit, expected):
    assert clip(value, limit) == expected
