"""Tests of the HTML report: structure, escaping, determinism, size bounds, sections."""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET

import html5lib
import numpy as np
import polars as pl
import pytest
from PIL import Image

from labelaudit import gate
from labelaudit.annotators import review_annotators
from labelaudit.audit import audit
from labelaudit.exceptions import InputError, LabelAuditError
from labelaudit.report import _charts, render_html, write_html
from labelaudit.slices import analyze_slices
from labelaudit.summary import to_summary_dict

NS = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


def parse(html: str) -> ET.Element:
    """Parse strictly: html5lib raises on any parse error."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(html)


def issue_rows(doc: ET.Element) -> list[ET.Element]:
    table = next(t for t in doc.iter(f"{NS}table") if t.get("id") == "issues-table")
    return list(table.find(f"{NS}tbody"))


def text_of(el: ET.Element) -> str:
    return "".join(el.itertext())


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo(demo_audit):
    return demo_audit


@pytest.fixture(scope="module")
def demo_html(demo):
    result, data = demo
    policy = gate.GatePolicy.from_dict(
        {"max_noise_rate": 0.05, "warn": {"min_label_health_score": 0.5}}
    )
    verdict = gate.evaluate(policy, result.figures())
    summary = to_summary_dict(
        result, gate=verdict, parameters={"command": "demo"},
        inputs=[{"role": "data", "path": "demo_items.parquet", "sha256": "ab" * 32,
                 "n_rows": 1797}],
        outputs={"directory": "out"},
    )
    summary["date"] = "2026-01-15"
    html = render_html(result, gate=verdict, summary=summary, items=data.items,
                       attribute_cols=["annotator", "source"])
    return html, verdict, summary


def _synthetic(n: int, k: int = 4, seed: int = 0, class_names=None, ids=None):
    from conftest import planted_noise

    labels, probs, _ = planted_noise(n, k, seed=seed, rate=0.15, flip="next")
    if class_names is not None:
        labels = np.asarray(class_names, dtype=object)[labels]
    return audit(labels, probs, class_names=class_names, ids=ids, n_bootstrap=50, seed=seed)


# --------------------------------------------------------------------------- structure


def test_demo_report_parses_and_has_every_section(demo_html):
    html, _, _ = demo_html
    doc = parse(html)
    ids = {el.get("id") for el in doc.iter() if el.get("id")}
    for section in ("gate", "summary", "noise", "issues", "annotators", "bias", "methodology"):
        assert section in ids, section
    # Charts are inline SVG with an accessible name; no raster or external image is used.
    svgs = [el for el in doc.iter(f"{SVG}svg")]
    assert len(svgs) >= 6
    assert all(s.get("role") == "img" and s.get("aria-label") for s in svgs)
    # Every table has header cells.
    for table in doc.iter(f"{NS}table"):
        assert table.find(f".//{NS}th") is not None
    # Every image has alt text.
    imgs = list(doc.iter(f"{NS}img"))
    assert imgs and all(img.get("alt") for img in imgs)


def test_header_shows_date_version_inputs_and_every_gate_check(demo_html):
    html, verdict, summary = demo_html
    doc = parse(html)
    text = text_of(doc)
    assert "2026-01-15" in text
    assert summary["versions"]["labelaudit"] in text
    assert "ab" * 32 in text
    gate_section = next(el for el in doc.iter(f"{NS}section") if el.get("id") == "gate")
    rows = gate_section.find(f".//{NS}tbody").findall(f"{NS}tr")
    assert len(rows) == len(verdict.checks) == 2
    for row, check in zip(rows, verdict.checks, strict=True):
        cells = [text_of(td).strip() for td in row]
        assert cells[0] == check.name and cells[1] == check.level
        assert cells[4] == ("pass" if check.passed else ("FAIL" if check.level == "fail" else "warn"))
    # The demo's noise rate (about 9%) fails a 5% gate.
    assert not verdict.passed and "FAILED" in text


def test_summary_cards_and_plain_sentence_match_the_result(demo):
    result, _ = demo
    doc = parse(render_html(result))
    summary = next(el for el in doc.iter(f"{NS}section") if el.get("id") == "summary")
    text = " ".join(text_of(summary).split())
    assert f"{result.n_items:,}" in text
    assert f"{100 * result.estimated_noise_rate:.1f}%" in text
    assert f"{100 * result.ci_low:.1f}% \u2013 {100 * result.ci_high:.1f}%" in text
    assert f"{result.label_health_score:.3g}" in text
    assert "labels are wrong" in text and "What to do next" in text


def test_confused_pairs_come_from_the_inverse_noise_matrix(demo):
    result, _ = demo
    doc = parse(render_html(result))
    pairs = next(el for el in doc.iter(f"{NS}ul") if el.get("class") == "pairs")
    first = " ".join(text_of(pairs.find(f"{NS}li")).split())
    # Oracle: the largest expected count share[g, t] * count[g] off the diagonal.
    share = result.inverse_noise_matrix.T
    counts = result.per_class.get_column("count").to_numpy()
    expected = share * counts[:, None]
    np.fill_diagonal(expected, 0)
    g, t = np.unravel_index(np.argmax(expected), expected.shape)
    names = result.class_names
    assert f"labeled \u2018{names[g]}\u2019 look like \u2018{names[t]}\u2019" in first
    assert f"roughly {int(round(expected[g, t])):,} of {counts[g]:,}" in first


def test_issue_table_lists_the_lowest_quality_issues_with_thumbnails_and_attributes(demo_html, demo):
    html, _, _ = demo_html
    result, data = demo
    doc = parse(html)
    rows = issue_rows(doc)
    expected = result.issues.filter(pl.col("is_issue")).sort("issue_rank")
    assert len(rows) == expected.height
    table = next(t for t in doc.iter(f"{NS}table") if t.get("id") == "issues-table")
    headers = [text_of(th).strip() for th in table.find(f"{NS}thead").iter(f"{NS}th")]
    assert headers[:6] == ["Rank", "Image", "Id", "Given", "Suggested", "Quality"]
    assert headers[6:] == ["annotator", "source"]
    lookup = {r["id"]: r for r in data.items.select("id", "annotator", "source").iter_rows(named=True)}
    for row, ref in zip(rows, expected.iter_rows(named=True), strict=True):
        cells = [" ".join(text_of(td).split()) for td in row]
        assert cells[0] == str(ref["issue_rank"]) and cells[2] == ref["id"]
        assert cells[3] == ref["given_label"] and cells[4] == ref["suggested_label"]
        assert cells[6:] == [lookup[ref["id"]]["annotator"], lookup[ref["id"]]["source"]]
        img = row.find(f".//{NS}img")
        assert img is not None and img.get("src").startswith("data:image/png;base64,")
    # Without JavaScript every embedded row is in the document and nothing is hidden by markup.
    assert all(row.get("hidden") is None for row in rows)


def test_thumbnail_reproduces_the_pixel_array(demo_html, demo):
    html, _, _ = demo_html
    _, data = demo
    doc = parse(html)
    row = issue_rows(doc)[0]
    rid = text_of(row[2]).strip()
    src = row.find(f".//{NS}img").get("src").split(",", 1)[1]
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(src))))
    pixels = np.asarray(data.items.filter(pl.col("id") == rid).get_column("pixels")[0], float)
    pixels = pixels.reshape(8, 8)
    assert img.shape == (8, 8)
    # Min-max scaled to 0..255: the order of pixel intensities is kept exactly.
    scaled = np.rint((pixels - pixels.min()) / (pixels.max() - pixels.min()) * 255)
    np.testing.assert_array_equal(img, scaled.astype(np.uint8))


# --------------------------------------------------------------------------- sections


def test_annotator_section_names_flagged_annotators_with_intervals(demo):
    result, _ = demo
    review = result.extras["annotators"]
    doc = parse(render_html(result))
    section = next(el for el in doc.iter(f"{NS}section") if el.get("id") == "annotators")
    text = " ".join(text_of(section).split())
    flagged = review.annotators.filter(pl.col("flagged"))
    assert flagged.height >= 1
    for row in flagged.iter_rows(named=True):
        assert (f"{row['annotator']} agrees with the other annotators' majority "
                f"{100 * row['accuracy']:.1f}%") in text
        assert f"{100 * row['accuracy_low']:.1f}% \u2013 {100 * row['accuracy_high']:.1f}%" in text
    table = next(t for t in section.iter(f"{NS}table") if t.get("id") == "annotator-table")
    assert len(table.find(f"{NS}tbody")) == review.annotators.height
    alpha = review.agreement["krippendorff_alpha"]
    assert f"{alpha:.3g}" in text and "Fleiss" in text
    labels = [s.get("aria-label") for s in section.iter(f"{SVG}svg")]
    assert any("Confusion matrices" in a for a in labels)
    assert any("Cohen's kappa" in a for a in labels)


def test_bias_section_uses_describe_flagged_and_lists_intersections(demo):
    result, _ = demo
    slices = result.extras["slices"]
    doc = parse(render_html(result))
    section = next(el for el in doc.iter(f"{NS}section") if el.get("id") == "bias")
    items = [" ".join(text_of(li).split())
             for ul in section.iter(f"{NS}ul") for li in ul.iter(f"{NS}li")]
    assert items == slices.describe_flagged()
    charts = [s.get("aria-label") for s in section.iter(f"{SVG}svg")]
    assert charts == [f"Issue rate of each group of {a} with its Wilson interval"
                      for a in ("source", "annotator")]
    text = text_of(section)
    for row in slices.intersections.iter_rows(named=True):
        assert row["group"] in text


def test_sections_are_absent_without_extras():
    result = _synthetic(400)
    doc = parse(render_html(result))
    ids = {el.get("id") for el in doc.iter() if el.get("id")}
    assert "annotators" not in ids and "bias" not in ids and "gate" not in ids
    assert {"summary", "noise", "issues", "methodology"} <= ids


def test_other_sections_render_as_key_value_tables():
    result = _synthetic(300).with_section("demo_truth_check", {"precision": 0.5, "n_flagged": 7})
    text = text_of(parse(render_html(result)))
    # Keys are shown as words, never as the raw snake_case keys.
    assert "Demo truth check" in text and "50.0%" in text and "7" in text
    assert "N flagged" in text
    assert "demo_truth_check" not in text and "n_flagged" not in text


# --------------------------------------------------------------------------- safety


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_strings_render_as_text(payload, tmp_path):
    names = [payload, "b", "c"]
    n = 300
    ids = [f"{payload}-{i}" for i in range(n)]
    result = _synthetic(n, k=3, class_names=names, ids=ids)
    items = pl.DataFrame({
        "id": ids,
        payload: [payload] * n,            # a column called like the payload, with it as values
        "comment": [payload + " is a long free-text comment about this item" * 2] * n,
    })
    ann = pl.DataFrame({
        "item_id": [i for i in ids for _ in range(3)],
        "annotator": [payload, "ann-b", "ann-c"] * n,
        "label": [names[(j + (k == 0)) % 3] for j, i in enumerate(ids) for k in range(3)],
    })
    review = review_annotators(ann, item_col="item_id", annotator_col="annotator",
                               label_col="label", classes=names)
    groups = pl.Series(payload, [payload if i % 2 else "other" for i in range(n)])
    frame = result.issues.with_columns(groups)
    slices = analyze_slices(frame, attributes=[payload], min_size=10)
    result = result.with_section("annotators", review).with_section("slices", slices) \
        .with_section(payload, {payload: payload})
    summary = to_summary_dict(result, inputs=[{"role": "data", "path": payload, "sha256": payload}],
                              parameters={"command": "audit", "label_col": payload, "id_col": "id"},
                              outputs={"directory": payload})
    html = render_html(result, summary=summary, items=items, dataset=payload, date=payload)
    doc = parse(html)
    # Nothing from the data became markup: only our two scripts, no image with src=x,
    # no event-handler attribute anywhere.
    scripts = list(doc.iter(f"{NS}script"))
    assert [s.get("id") for s in scripts] == ["la-early", "la-main"]
    assert "alert" not in "".join(text_of(s) for s in scripts)
    for el in doc.iter():
        assert not any(a.lower().startswith("on") for a in el.attrib), (el.tag, el.attrib)
        if el.tag == f"{NS}img":
            assert el.get("src").startswith("data:image/png;base64,")
    # The payload is shown as text where it was used.
    text = text_of(doc)
    assert text.count(payload) >= 8
    assert payload in {text_of(th).strip() for th in doc.iter(f"{NS}th")}
    # Charts carry user strings only as escaped SVG text.
    for svg in doc.iter(f"{SVG}svg"):
        assert svg.find(f".//{SVG}script") is None and svg.find(f".//{SVG}foreignObject") is None


def test_classes_differing_after_the_cut_stay_apart_and_carry_their_full_names():
    base = "very-long-class-name-" + "x" * 45
    names = [base + '-alpha"&<', base + "-beta", "short"]
    result = _synthetic(400, k=3, class_names=names)
    doc = parse(render_html(result))
    select = next(s for s in doc.iter(f"{NS}select") if s.get("id") == "issue-class")
    options = [o for o in select if o.get("value")]
    long_options = [o for o in options if o.get("title")]
    # One option per class, each its own value, its full name in the title.
    assert len(options) == len({o.get("value") for o in options}) == 3
    assert sorted(o.get("title") for o in long_options) == sorted(names[:2])
    assert all(text_of(o).endswith("\u2026") for o in long_options)
    # Each row's data-given is its class's option value; the cell titles the full name.
    value_of = {o.get("title") or text_of(o): o.get("value") for o in options}
    rows = issue_rows(doc)
    seen = set()
    for row in rows:
        given = row.find(f"{NS}td[3]")
        name = given.get("title") or text_of(given)
        assert row.get("data-given") == value_of[name]
        seen.add(name)
    assert set(names[:2]) <= seen
    # The per-class table: two distinct rows titled with the full names.
    table = next(t for t in doc.iter(f"{NS}table") if t.get("id") == "class-table")
    heads = [r.find(f"{NS}th") for r in table.find(f"{NS}tbody")]
    assert sorted(h.get("title") for h in heads if h.get("title")) == sorted(names[:2])


def test_content_security_policy_blocks_everything_but_the_page_scripts(demo_html):
    import hashlib

    html, _, _ = demo_html
    doc = parse(html)
    meta = next(m for m in doc.iter(f"{NS}meta") if m.get("http-equiv") == "Content-Security-Policy")
    csp = meta.get("content")
    assert "default-src 'none'" in csp and "img-src data:" in csp
    for script in doc.iter(f"{NS}script"):
        digest = base64.b64encode(hashlib.sha256(script.text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


def test_report_makes_no_network_references(demo_html):
    html, _, _ = demo_html
    doc = parse(html)
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert not list(doc.iter(f"{NS}link")) and not list(doc.iter(f"{NS}iframe"))
    for el in doc.iter():
        for attr in ("src", "href", "xlink:href", "{http://www.w3.org/1999/xlink}href"):
            value = el.get(attr)
            if value is not None:
                assert value.startswith(("data:image/png", "#")) or value == "issues.parquet", value
    assert not re.search(r"@import|url\(\s*['\"]?(?!#|data:)", html)


# --------------------------------------------------------------------------- size and scale


def test_top_n_bounds_the_embedded_rows_and_links_the_sidecar():
    result = _synthetic(20_000, k=5)
    assert result.n_issues > 1000
    html = render_html(result, top_n=250, issues_file="issues.parquet")
    doc = parse(html)
    rows = issue_rows(doc)
    assert len(rows) == 250
    ranks = [int(text_of(r[0])) for r in rows]
    assert ranks == list(range(1, 251))
    text = " ".join(text_of(doc).split())
    assert f"The other {result.n_issues - 250:,} issues are in issues.parquet" in text
    links = [a.get("href") for a in doc.iter(f"{NS}a")]
    assert "issues.parquet" in links
    # The default embeds 1,000; page size does not depend on the row count beyond that.
    assert len(issue_rows(parse(render_html(result)))) == 1000


def test_page_size_does_not_grow_with_the_dataset():
    small = render_html(_synthetic(20_000, k=5, seed=1))
    large = render_html(_synthetic(80_000, k=5, seed=1))
    assert len(large) < 1.1 * len(small)
    assert len(large) < 1_000_000


def test_invalid_top_n_is_rejected():
    result = _synthetic(200)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(LabelAuditError, match="top_n"):
            render_html(result, top_n=bad)


def test_thumbnails_from_bytes_and_paths_and_text_snippets(tmp_path):
    n = 300
    ids = [f"item-{i:03d}" for i in range(n)]
    result = _synthetic(n, k=3, ids=ids)
    rng = np.random.default_rng(0)
    blobs, paths = [], []
    for i in range(n):
        img = Image.fromarray(rng.integers(0, 255, size=(120, 90, 3), dtype=np.uint8))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        blobs.append(buf.getvalue())
        path = tmp_path / f"img{i}.png"
        path.write_bytes(buf.getvalue())
        paths.append(path.name)
    long_text = "word " * 100
    items = pl.DataFrame({"id": ids, "blob": blobs, "file": paths, "text": [long_text] * n})
    items.select("id", "file", "text").write_parquet(tmp_path / "items.parquet")
    pages = {
        # Encoded image bytes in a Binary column, given directly.
        "bytes": render_html(result, items=items.select("id", "blob", "text")),
        # Relative paths resolve against the folder of the data file named in the summary.
        "paths": render_html(result, summary={
            "inputs": [{"role": "data", "path": str(tmp_path / "items.parquet")}],
            "parameters": {"id_col": "id", "label_col": "label"},
        }),
    }
    for kind, html in pages.items():
        rows = issue_rows(parse(html))
        srcs = [r.find(f".//{NS}img").get("src") for r in rows]
        assert all(s.startswith("data:image/png;base64,") for s in srcs), kind
        thumb = Image.open(io.BytesIO(base64.b64decode(srcs[0].split(",", 1)[1])))
        assert thumb.size == (48, 64), kind  # shrunk to the 64-pixel box, aspect kept
        snippet = text_of(rows[0][-1])
        assert snippet.endswith("\u2026") and len(snippet) == 140, kind


def test_items_without_the_id_column_are_an_input_error():
    result = _synthetic(300)
    with pytest.raises(InputError, match="no id column 'id'"):
        render_html(result, items=pl.DataFrame({"key": [1, 2]}))


# --------------------------------------------------------------------------- determinism


def test_same_input_gives_identical_bytes(demo):
    result, data = demo
    a = render_html(result, items=data.items, date="2026-01-15")
    b = render_html(result, items=data.items, date="2026-01-15")
    assert a == b


def test_chart_svg_is_deterministic_and_inert():
    names = HOSTILE + ["plain"]
    share = np.full((3, 3), 0.1) + np.eye(3) * 0.7
    svg1, _ = _charts.noise_heatmap(names, share, np.array([10, 20, 30]))
    svg2, _ = _charts.noise_heatmap(names, share, np.array([10, 20, 30]))
    assert str(svg1) == str(svg2)
    assert "<script" not in svg1 and "<img" not in svg1 and "&lt;script&gt;" in svg1
    assert "http" not in svg1


@pytest.mark.parametrize("title", ["", "A title, long enough to widen the box", "$x^2$"])
def test_single_pass_svg_has_the_size_and_content_of_a_tight_savefig(title):
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.bar(["a", "bb", "a much longer tick label"], [1, 2, 3])
    ax.set_title(title)
    ax.set_xlabel("given label")
    fig.text(0.99, 0.01, "note", ha="right")
    with matplotlib.rc_context({"svg.hashsalt": "t"}):
        ours = _charts._draw_tight(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
        theirs = buf.getvalue()

    def size(text):
        head = re.search(r"<svg\b[^>]*>", text).group(0)
        width, height = (float(re.search(f'{k}="([0-9.]+)pt"', head).group(1))
                         for k in ("width", "height"))
        view = [float(v) for v in re.search(r'viewBox="([^"]+)"', head).group(1).split()]
        return width, height, view

    w1, h1, v1 = size(ours)
    w2, h2, v2 = size(theirs)
    assert (w1, h1) == pytest.approx((w2, h2), abs=1e-5)
    assert v1[2:] == pytest.approx(v2[2:], abs=1e-5) and v1[:2] != [0, 0]
    # The same elements in the same order; only clip-path ids (hashes of coordinates,
    # which savefig shifts by the crop offset) may differ.
    clip = re.compile(r'^p[0-9a-f]{10}$')
    tags = re.compile(r"<([a-zA-Z]+)\b")
    assert tags.findall(ours) == tags.findall(theirs)
    ids = [[i for i in re.findall(r'id="([^"]+)"', t) if not clip.match(i)] for t in (ours, theirs)]
    assert ids[0] == ids[1] and len(ids[0]) > 10


def test_write_html_writes_the_rendered_page(tmp_path, demo):
    result, _ = demo
    path = write_html(result, tmp_path / "report.html", date="2026-01-15")
    assert path.read_text(encoding="utf-8") == render_html(result, date="2026-01-15")


def test_reproducing_command_is_built_from_the_summary():
    result = _synthetic(300)
    summary = {
        "parameters": {"command": "audit", "label_col": "my label", "id_col": "id",
                       "seed": 3, "classes_given": False},
        "inputs": [{"role": "data", "path": "data/items.csv"},
                   {"role": "pred_probs", "path": "probs.npy"}],
        "outputs": {"directory": "out dir"},
    }
    doc = parse(render_html(result, summary=summary))
    pre = next(doc.iter(f"{NS}pre"))
    assert text_of(pre) == ("labelaudit audit data/items.csv --label-col 'my label' --id-col id "
                            "--pred-probs probs.npy --seed 3 --n-bootstrap 50 --out 'out dir'")


# --------------------------------------------------------------------------- polish


@pytest.mark.parametrize(
    ("value", "digits", "shown"),
    [(1.27e-05, 3, "0.0000127"), (0.000123456, 3, "0.000123"), (0.5, 3, "0.5"),
     (0.12345, 3, "0.123"), (1234567.0, 3, "1,230,000"), (99.95, 3, "100"), (3e-9, 3, "< 0.000001"),
     (0.0, 3, "0"), (-0.0123, 3, "-0.0123"), (0.98765, 4, "0.9877"), (2, 3, "2")],
)
def test_numbers_are_fixed_notation_with_significant_digits(value, digits, shown):
    from labelaudit.report._format import fmt_num

    assert fmt_num(value, digits) == shown


def test_tiny_label_quality_is_shown_without_scientific_notation():
    n, k = 300, 3
    labels = np.arange(n) % k
    probs = np.full((n, k), 0.05)
    probs[np.arange(n), labels] = 0.9
    probs[:5] = [0.99998, 0.0000127, 0.0000073]  # five items given class 1 or 2 that are 0s
    labels[:5] = [1, 2, 1, 2, 1]
    result = audit(labels, probs / probs.sum(axis=1, keepdims=True), n_bootstrap=20)
    doc = parse(render_html(result))
    cells = [text_of(r[4]) for r in issue_rows(doc)]
    assert "0.0000127" in cells and "0.0000073" in cells
    for table in doc.iter(f"{NS}table"):
        assert not re.search(r"\d[eE][-+]?\d", text_of(table)), text_of(table)[:200]


def test_counts_and_confusions_read_as_sentences(demo_html):
    html, _, _ = demo_html
    text = " ".join(text_of(parse(html)).split())
    assert "they labels" not in text
    assert re.search(r"Most often they label '\d' as '\d' \d+% of the time", text)
    assert "8 annotators gave 5,391 labels on 1,797 items" in text


def test_a_single_annotator_item_or_window_is_singular():
    import datetime as dt

    from labelaudit.audit import review_only_result

    frame = pl.DataFrame({"item": ["x", "x"], "who": ["a", "b"], "label": [0, 1],
                          "when": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)]})
    review = review_annotators(frame, item_col="item", annotator_col="who", label_col="label",
                               time_col="when", classes=["p", "q"])
    text = " ".join(text_of(parse(render_html(review_only_result(review)))).split())
    assert "2 annotators gave 2 labels on 1 item." in text
    assert "(1 window)" in text
    assert "1 item deserves another label" in text


def test_the_first_rows_thumbnails_are_decoded_eagerly(demo_html):
    from labelaudit.report._context import EAGER_THUMBNAILS

    html, _, _ = demo_html
    rows = issue_rows(parse(html))
    imgs = [r.find(f".//{NS}img") for r in rows]
    imgs = [i for i in imgs if i is not None]
    assert len(imgs) >= 20
    top = imgs[:EAGER_THUMBNAILS]
    assert all(i.get("loading") is None and i.get("decoding") == "sync" for i in top)
    assert all(i.get("loading") == "lazy" for i in imgs[EAGER_THUMBNAILS:])


def test_the_issue_table_uses_the_page_width():
    from labelaudit.report import _static

    css = _static("report.css")
    assert re.search(r"table\.issues[^{]*\{[^}]*width:\s*100%", css)


def test_the_header_shows_the_run_date_as_people_read_it():
    result = _synthetic(200)
    for stamp, shown in (("2026-12-02T00:09:20Z", "2026-12-02 00:09 UTC"),
                         ("2026-01-15", "2026-01-15")):
        summary = to_summary_dict(result, parameters={"command": "audit"})
        summary["date"] = stamp
        doc = parse(render_html(result, summary=summary))
        meta = next(d for d in doc.iter(f"{NS}dl") if d.get("class") == "meta")
        assert f"Date{shown}" in "".join(text_of(meta).split("\n"))


def test_annotator_summary_without_a_recorded_command_names_the_annotations_file():
    from labelaudit.audit import review_only_result

    frame = pl.DataFrame({"item": [1, 1, 2, 2], "who": ["a", "b", "a", "b"],
                          "label": [0, 1, 1, 1]})
    review = review_annotators(frame, item_col="item", annotator_col="who", label_col="label")
    result = review_only_result(review)
    summary = to_summary_dict(result, parameters={"command": "annotators", "item_col": "item",
                                                  "annotator_col": "who", "label_col": "label"},
                              inputs=[{"role": "annotations", "path": "labels/ann.csv"}],
                              outputs={"directory": "out"})
    pre = next(parse(render_html(result, summary=summary)).iter(f"{NS}pre"))
    assert text_of(pre) == ("labelaudit annotators labels/ann.csv --item-col item "
                            "--annotator-col who --seed 0 --out out")
