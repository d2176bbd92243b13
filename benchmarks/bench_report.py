"""Benchmark: size and load time of the HTML report of a large audit.

Builds an audit of ``--rows`` items (default 1,000,000) with
``labelaudit.audit(labels, pred_probs)`` on synthetic probabilities with
planted label noise, plus an item table with two attribute columns, a text
column and an 8x8 pixel image per item, then renders the report
(``top_n`` issues embedded, thumbnails and snippets included) and opens it in
headless Chromium. Recorded: audit time, render time, HTML size, and the
browser's load time (navigation start to the end of the load event,
including the page script that sets up sorting, filtering and paging),
median of ``--repeat`` loads.

Usage::

    python benchmarks/bench_report.py --rows 1000000 --out reports/bench_report.md
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl


def synthetic(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    """Labels with 10% planted noise, out-of-sample-like probabilities, an item table."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, size=n)
    logits = rng.normal(0.0, 1.0, size=(n, k)).astype(np.float32)
    logits[np.arange(n), truth] += 3.0
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = truth.copy()
    flip = rng.random(n) < 0.10
    labels[flip] = (truth[flip] + rng.integers(1, k, size=int(flip.sum()))) % k
    regions = np.array(["north", "south", "east", "west"])
    pixels = rng.integers(0, 17, size=(n, 64), dtype=np.uint8)
    items = pl.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "region": regions[rng.integers(0, 4, size=n)],
        "device": np.where(rng.random(n) < 0.3, "phone", "scanner"),
        "note": pl.Series(["free-text remark number " + "x" * 40] * n),
        "pixels": pl.Series(pixels, dtype=pl.Array(pl.UInt8, 64)),
    })
    return labels, probs, items


def chromium_load_ms(path: Path, repeat: int) -> tuple[float, float]:
    """Median load-event end and DOMContentLoaded times (ms) of ``path`` in headless Chromium."""
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("chromium not found on PATH (apt-get install chromium)")
    loads, dcls = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        for _ in range(repeat):
            page = browser.new_page()
            page.goto(path.resolve().as_uri(), wait_until="load")
            nav = page.evaluate(
                "() => { const e = performance.getEntriesByType('navigation')[0];"
                " return [e.loadEventEnd, e.domContentLoadedEventEnd]; }"
            )
            loads.append(float(nav[0]))
            dcls.append(float(nav[1]))
            page.close()
        browser.close()
    return statistics.median(loads), statistics.median(dcls)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--top-n", type=int, default=1000)
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("reports/bench_report.md"))
    args = parser.parse_args(argv)

    from labelaudit import __version__, audit
    from labelaudit.report import render_html

    labels, probs, items = synthetic(args.rows, args.classes, args.seed)
    t0 = time.perf_counter()
    result = audit(labels, probs, seed=args.seed, n_bootstrap=args.n_bootstrap)
    t_audit = time.perf_counter() - t0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, kwargs in (
            ("issues only", {}),
            ("with items: thumbnails, snippets, attributes",
             {"items": items, "items_id_col": "id", "text_col": "note"}),
        ):
            t0 = time.perf_counter()
            html = render_html(result, top_n=args.top_n, **kwargs)
            t_render = time.perf_counter() - t0
            path = Path(tmp) / "report.html"
            path.write_text(html, encoding="utf-8")
            size = path.stat().st_size
            load_ms, dcl_ms = chromium_load_ms(path, args.repeat)
            rows.append((label, size, t_render, load_ms, dcl_ms))
            print(f"{label}: {size / 1e6:.2f} MB, render {t_render:.2f} s, "
                  f"load {load_ms:.0f} ms (DOMContentLoaded {dcl_ms:.0f} ms)", file=sys.stderr)

    lines = [
        "# Report benchmark: a 1,000,000-row audit in one HTML file",
        "",
        f"Command: `python benchmarks/bench_report.py --rows {args.rows} --top-n {args.top_n} "
        f"--n-bootstrap {args.n_bootstrap} --repeat {args.repeat} --out {args.out}`",
        "",
        f"labelaudit {__version__}, Python {platform.python_version()}, {os.cpu_count()} CPU "
        "cores (shared machine; times are indicative), Chromium headless via Playwright.",
        "",
        f"Data: {args.rows:,} items, {args.classes} classes, synthetic out-of-sample-like "
        "probabilities with 10% planted label noise; "
        f"`labelaudit.audit(labels, pred_probs, n_bootstrap={args.n_bootstrap})` took "
        f"{t_audit:.1f} s and flagged {result.n_issues:,} issues. The report embeds the top "
        f"{args.top_n:,} issues; the rest live in the sidecar issues file, so the page size "
        "does not grow with the number of rows.",
        "",
        "| report | HTML size | render (Python) | Chromium load event | DOMContentLoaded |",
        "|---|---|---|---|---|",
    ]
    for label, size, t_render, load_ms, dcl_ms in rows:
        lines.append(f"| {label} | {size / 1e6:.2f} MB ({size:,} bytes) | {t_render:.2f} s | "
                     f"{load_ms:.0f} ms | {dcl_ms:.0f} ms |")
    lines += [
        "",
        f"Chromium times are medians of {args.repeat} loads of the file from local disk "
        "(navigation start to the end of the load event, which includes the script that "
        "sets up sorting, filtering and paging).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
