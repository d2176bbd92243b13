"""Benchmark: slice analysis of 1,000,000 rows x 5 attributes, labelaudit vs fairlearn MetricFrame.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_slices.py [--rows 1000000] [--out reports/bench_slices.md]

Both sides run in this one process on the same polars frame.

* **labelaudit**: :func:`labelaudit.slices.analyze_slices` with all four metrics (issue
  rate, mean label quality, estimated error rate, disagreement rate), Wilson intervals and
  a slice-versus-rest test for every slice, Benjamini-Hochberg q-values, and the 2-way
  intersection search over all 10 attribute pairs. Median of ``--repeat`` runs after one
  warm-up run.
* **fairlearn**: ``MetricFrame`` doing the by-group part of that work: the same four metrics
  (each the mean of its per-row column) per attribute, one attribute at a time; one 2-way
  intersection; and bootstrap intervals for one attribute. Bootstrap with the reference
  number of resamples (100) would take minutes, so it is run with ``--boot-sample``
  resamples and extrapolated linearly: ``t(base) + 100 * (t(sample) - t(base)) / sample``.
  fairlearn has no significance tests, FDR control or intersection search, so those are
  labelaudit-only.

The script also checks that labelaudit's per-group values equal MetricFrame's.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from labelaudit.slices import analyze_slices

ATTRIBUTES = {"split": 3, "source": 5, "language": 12, "device": 25, "site": 50}
METRIC_COLUMNS = {
    "issue_rate": "is_issue",
    "mean_label_quality": "label_quality",
    "estimated_error_rate": "error_prob",
    "disagreement_rate": "disagreement",
}
BOOT_REFERENCE = 100


def make_frame(n_rows: int, seed: int = 0) -> pl.DataFrame:
    """Synthetic audit table: 5 attributes (3..50 groups), a planted noisy intersection."""
    rng = np.random.default_rng(seed)
    columns = {}
    for name, k in ATTRIBUTES.items():
        labels = np.array([f"{name[:2]}{i:02d}" for i in range(k)])
        # Skewed group sizes, as real attributes have.
        weights = rng.dirichlet(np.full(k, 2.0))
        columns[name] = labels[rng.choice(k, size=n_rows, p=weights)]
    rate = np.full(n_rows, 0.06)
    rate[(columns["source"] == "so01") & (columns["device"] == "de03")] = 0.15
    quality = np.clip(rng.beta(8, 2, n_rows) - 0.3 * (rng.random(n_rows) < rate), 0, 1)
    disagreement = rng.random(n_rows)
    disagreement[rng.random(n_rows) < 0.3] = np.nan  # rows without annotations
    return pl.DataFrame(
        {
            **columns,
            "is_issue": rng.random(n_rows) < rate,
            "label_quality": quality,
            "error_prob": 1.0 - quality,
            "disagreement": disagreement,
        }
    ).with_columns(pl.col("disagreement").fill_nan(None))


def _mean_values(y_true, y_pred, values):
    return float(np.nanmean(values))


def metricframe(frame_pd, names, *, n_boot=None):
    """One MetricFrame over the four metrics for one attribute or combination."""
    from fairlearn.metrics import MetricFrame

    y = frame_pd["is_issue"].to_numpy(dtype=float)
    params = {m: {"values": frame_pd[c].to_numpy(dtype=float)} for m, c in METRIC_COLUMNS.items()}
    sensitive = frame_pd[names[0]] if len(names) == 1 else frame_pd[list(names)]
    kwargs = {}
    if n_boot:
        kwargs = {"n_boot": n_boot, "ci_quantiles": [0.025, 0.975], "random_state": 0}
    return MetricFrame(
        metrics=dict.fromkeys(METRIC_COLUMNS, _mean_values),
        y_true=y,
        y_pred=y,
        sensitive_features=sensitive,
        sample_params=params,
        **kwargs,
    )


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--boot-sample", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("reports/bench_slices.md"))
    args = parser.parse_args(argv)

    import fairlearn

    frame = make_frame(args.rows)
    names = list(ATTRIBUTES)
    pair = ("source", "device")
    kwargs = {
        "attributes": names,
        "issue_col": "is_issue",
        "quality_col": "label_quality",
        "error_prob_col": "error_prob",
        "disagreement_col": "disagreement",
        "max_order": 2,
    }

    # labelaudit: warm-up, then the median of `repeat` full analyses.
    analyze_slices(frame, **kwargs)
    la_times = []
    for _ in range(args.repeat):
        t, report = timed(lambda: analyze_slices(frame, **kwargs))
        la_times.append(t)
    la_total = statistics.median(la_times)
    la_single_t = statistics.median(
        timed(lambda: analyze_slices(frame, **{**kwargs, "max_order": 1}))[0]
        for _ in range(args.repeat)
    )

    # fairlearn MetricFrame on the same columns (pandas conversion timed separately).
    t_convert, frame_pd = timed(lambda: frame.to_pandas())
    metricframe(frame_pd.head(1000), [names[0]])  # warm-up: imports and first-call costs
    mf_per_attr = {}
    max_diff = 0.0
    for name in names:
        t, mf = timed(lambda name=name: metricframe(frame_pd, [name]))
        mf_per_attr[name] = t
        for metric in METRIC_COLUMNS:
            ours = dict(report.by_group(name, metric).iter_rows())
            for group, value in mf.by_group[metric].items():
                max_diff = max(max_diff, abs(ours[group] - value))
    mf_singles = sum(mf_per_attr.values())
    t_pair, mf_pair = timed(lambda: metricframe(frame_pd, list(pair)))
    cells = dict(report.by_group(list(pair), "issue_rate").iter_rows())
    for (a, b), value in mf_pair.by_group["issue_rate"].dropna().items():
        key = f"{a} x {b}"
        if key in cells:
            max_diff = max(max_diff, abs(cells[key] - value))
    boot_attr = "language"
    t_boot_sample, _ = timed(lambda: metricframe(frame_pd, [boot_attr], n_boot=args.boot_sample))
    per_resample = max(t_boot_sample - mf_per_attr[boot_attr], 0.0) / args.boot_sample
    t_boot_ref = mf_per_attr[boot_attr] + BOOT_REFERENCE * per_resample
    mf_total = mf_singles + t_pair + t_boot_ref

    n_slices = report.table.height
    n_pairs = report.table.filter(pl.col("order") == 2).height
    rows = [
        ("5 attributes one at a time, 4 metrics, by group",
         f"{mf_singles:.2f}", f"{la_single_t:.3f} (with Wilson intervals, tests, BH)",
         f"{mf_singles / la_single_t:.0f}x"),
        (f"one 2-way intersection ({pair[0]} x {pair[1]})", f"{t_pair:.2f}",
         "included below (all 10 pairs searched)", ""),
        (f"bootstrap intervals, one attribute ({boot_attr}), {BOOT_REFERENCE} resamples",
         f"{t_boot_ref:.1f} (extrapolated from {args.boot_sample})",
         "Wilson intervals, closed form, included", ""),
        ("**total**", f"**{mf_total:.1f}**",
         f"**{la_total:.3f}** (all slices, intervals, tests, 2-way search)",
         f"**{mf_total / la_total:.0f}x**"),
    ]
    lines = [
        "# Slice analysis benchmark: labelaudit vs fairlearn MetricFrame",
        "",
        "Command (from the repository root):",
        "",
        "```",
        " ".join(["PYTHONPATH=src python benchmarks/bench_slices.py",
                  *(argv if argv is not None else sys.argv[1:])]),
        "```",
        "",
        f"Data: {args.rows:,} rows x {len(names)} attributes "
        f"({', '.join(f'{k}: {v} groups' for k, v in ATTRIBUTES.items())}), "
        "metrics issue rate, mean label quality, estimated error rate, disagreement rate "
        "(30% of rows without annotations).",
        f"labelaudit result: {n_slices:,} slices ({n_pairs:,} 2-way cells with at least "
        f"{report.parameters['min_support']} rows), {report.flagged.height} flagged; "
        f"largest |labelaudit - MetricFrame| per-group difference: {max_diff:.1e}.",
        "",
        "| work | fairlearn MetricFrame (s) | labelaudit (s) | speed-up |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        f"labelaudit times are the median of {args.repeat} runs after a warm-up "
        f"(full runs: {', '.join(f'{t:.3f}' for t in la_times)} s). MetricFrame times are "
        f"single runs and exclude the polars-to-pandas conversion ({t_convert:.2f} s). "
        f"MetricFrame per attribute: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in mf_per_attr.items())
        + f". Bootstrap: {args.boot_sample} resamples took {t_boot_sample:.2f} s in total, "
        f"extrapolated as base + {BOOT_REFERENCE} x per-resample time.",
        "",
        f"Environment: Python {platform.python_version()}, polars {pl.__version__}, "
        f"numpy {np.__version__}, fairlearn {fairlearn.__version__}, "
        f"{os.cpu_count()} CPUs, load average at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
