"""Benchmark: ``labelaudit annotators`` end to end against crowd-kit's DawidSkene alone.

Two parts, in one run:

1. **Speed at a million annotations.** The simulated crowd of
   ``bench_dawid_skene.py`` (200,000 items x 5 labels = 1,000,000 annotations,
   500 annotators, K=10, seed 0) is written to a Parquet file. Each repeat
   fits ``crowdkit.aggregation.DawidSkene()`` (its defaults) on the pandas
   frame in this process (the conversion from polars is left out, in
   crowd-kit's favour), then runs the whole ``labelaudit annotators`` command
   in a fresh interpreter (reading the file, consensus by majority vote and
   Dawid-Skene, leave-one-out annotator grading, agreement statistics over
   all 124,750 annotator pairs, report and every output written). Medians and
   the median of the per-repeat ratios are reported, with each one's accuracy
   against the truth.
2. **Accuracy over seeds.** Small simulated crowds (the same generator; 400
   items; several shapes, from 20 annotators with many answers each to 500
   annotators with a handful each) over ``--seeds`` seeds each: items right
   for crowd-kit's ``DawidSkene()``, labelaudit's default ``dawid_skene`` and
   labelaudit with crowd-kit's options (``stopping="elbo", tol=1e-5,
   smoothing=0, support="given"``), with the median iterations and how often
   the crowd-kit options ran exactly crowd-kit's number of iterations.

Usage::

    PYTHONPATH=src python benchmarks/bench_annotators.py --repeat 3 --seeds 16 \\
        --out reports/bench_annotators.md
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _installed import compile_package  # noqa: E402
from bench_dawid_skene import simulate  # noqa: E402

from labelaudit import annotators  # noqa: E402

CROWDKIT_OPTIONS = dict(stopping="elbo", tol=1e-5, smoothing=0.0, support="given", max_iter=100)
#: (items, labels per item, annotators, classes) of the accuracy part.
SHAPES = [(400, 5, 20, 10), (400, 5, 50, 3), (400, 3, 50, 5), (400, 3, 100, 10), (400, 5, 500, 10)]


def crowdkit_fit(pdframe):
    from crowdkit.aggregation import DawidSkene

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DawidSkene()
        labels = model.fit_predict(pdframe)
    return labels, len(model.loss_history_)


def speed(args, work: Path) -> list[str]:
    frame, truth, _ = simulate(200_000, 5, 500, 10, 0)
    path = work / "annotations.parquet"
    frame.write_parquet(path)
    pdframe = frame.to_pandas()
    cli = [sys.executable, "-m", "labelaudit", "annotators", str(path), "--item-col", "task",
           "--annotator-col", "worker", "--label-col", "label", "--out"]
    rows = []
    for r in range(args.repeat):
        start = time.perf_counter()
        labels, ck_iter = crowdkit_fit(pdframe)
        ck = time.perf_counter() - start
        out = work / f"out{r}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run([*cli, str(out)], check=True, stdout=subprocess.DEVNULL)
        la = time.perf_counter() - start
        rows.append((ck, la, ck_iter))
        print(f"repeat {r}: crowd-kit DawidSkene fit {ck:.2f} s ({ck_iter} iterations), "
              f"labelaudit annotators {la:.2f} s", flush=True)
    ck_acc = float((labels.sort_index().to_numpy().astype(np.int64) == truth).mean())
    consensus = pl.read_parquet(work / "out0" / "consensus.parquet").sort("task")
    la_labels = consensus.get_column("ds_label").cast(pl.Int64).to_numpy()
    la_acc = float((la_labels == truth[consensus.get_column("task").to_numpy()]).mean())
    files = sorted(p.name for p in (work / "out0").iterdir())
    sizes = {p.name: p.stat().st_size for p in (work / "out0").iterdir()}
    ck_med = statistics.median(r[0] for r in rows)
    la_med = statistics.median(r[1] for r in rows)
    ratio = statistics.median(r[0] / r[1] for r in rows)
    return [
        "## Speed: 1,000,000 annotations",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| `labelaudit annotators`, whole command (median s) | {la_med:.2f} |",
        f"| crowd-kit `DawidSkene().fit_predict` alone (median s) | {ck_med:.2f} |",
        f"| crowd-kit / labelaudit, same repeat (median) | {ratio:.1f}x |",
        f"| accuracy vs truth: labelaudit Dawid-Skene / crowd-kit | {la_acc:.4f} / {ck_acc:.4f} |",
        f"| crowd-kit iterations | {rows[0][2]} |",
        f"| `agreement.json` / `agreement_pairs.parquet` | {sizes.get('agreement.json', 0) / 1e3:.1f} kB"
        f" / {sizes.get('agreement_pairs.parquet', 0) / 1e6:.2f} MB |",
        "",
        f"Outputs: {', '.join(files)}.",
        "",
        "| target | required | measured | result |",
        "|---|---|---:|---|",
        f"| crowd-kit DS alone / whole `labelaudit annotators` | >= 3x | {ratio:.1f}x | "
        f"{'**met**' if ratio >= 3 else 'not met'} |",
        f"| accuracy at least crowd-kit's | >= {ck_acc:.4f} | {la_acc:.4f} | "
        f"{'**met**' if la_acc >= ck_acc else 'not met'} |",
        "",
        "Raw (s): " + "; ".join(f"crowd-kit {c:.2f} / labelaudit {s:.2f}" for c, s, _ in rows),
        "",
    ]


def accuracy(args) -> list[str]:
    lines = [
        "## Accuracy over seeds: small simulated crowds",
        "",
        f"Items right out of 400 x {args.seeds} (seeds 0..{args.seeds - 1}); iterations are medians.",
        "",
        "| items x labels, annotators, K | crowd-kit | labelaudit default | labelaudit, crowd-kit "
        "options | iterations: crowd-kit / default / crowd-kit options | same iterations |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    total = {"ck": 0, "default": 0, "ckopt": 0}
    at_least = []
    for shape in SHAPES:
        right = {"ck": 0, "default": 0, "ckopt": 0}
        iters = {"ck": [], "default": [], "ckopt": []}
        same = 0
        for seed in range(args.seeds):
            frame, truth, _ = simulate(*shape, seed)
            enc = annotators.encode_annotations(frame, item_col="task", annotator_col="worker",
                                                label_col="label")
            ids = enc.item_ids.to_numpy()
            classes = np.asarray(enc.class_names).astype(np.int64)
            labels, ck_iter = crowdkit_fit(frame.to_pandas())
            right["ck"] += int((labels.loc[ids].to_numpy().astype(np.int64) == truth[ids]).sum())
            iters["ck"].append(ck_iter)
            for name, kw in (("default", {}), ("ckopt", CROWDKIT_OPTIONS)):
                res = annotators.dawid_skene(enc, n_jobs=1, **kw)
                right[name] += int((classes[res.labels] == truth[ids]).sum())
                iters[name].append(res.n_iter)
            same += iters["ckopt"][-1] == ck_iter
        for key in total:
            total[key] += right[key]
        at_least.append(right["default"] >= right["ck"])
        med = {k: statistics.median(v) for k, v in iters.items()}
        lines.append(
            f"| {shape[0]} x {shape[1]}, {shape[2]}, {shape[3]} | {right['ck']:,} | "
            f"{right['default']:,} | {right['ckopt']:,} | {med['ck']:g} / {med['default']:g} / "
            f"{med['ckopt']:g} | {same}/{args.seeds} |"
        )
        print(lines[-1], flush=True)
    lines += [
        f"| **all** | **{total['ck']:,}** | **{total['default']:,}** | **{total['ckopt']:,}** | | |",
        "",
        f"labelaudit's default at least crowd-kit's on every shape: "
        f"{'yes' if all(at_least) else 'no'} ({sum(at_least)} of {len(SHAPES)} shapes).",
        "",
    ]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--out", default="reports/bench_annotators.md")
    args = parser.parse_args(argv)
    import crowdkit

    compile_package()  # as pip install leaves it (see _installed.py)
    work = Path(tempfile.mkdtemp(prefix="bench-annotators-"))
    load_start = os.getloadavg()
    try:
        body = [] if args.skip_speed else speed(args, work)
        body += accuracy(args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()
    head = [
        "# `labelaudit annotators` vs crowd-kit's DawidSkene",
        "",
        f"- Command: `PYTHONPATH=src python benchmarks/bench_annotators.py --repeat {args.repeat} "
        f"--seeds {args.seeds} --out {args.out}`",
        f"- Date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, polars {pl.__version__}, "
        f"crowd-kit {getattr(crowdkit, '__version__', '?')}, {os.cpu_count()} CPUs; load average "
        f"at start {' '.join(f'{x:.2f}' for x in load_start)}, at end "
        f"{' '.join(f'{x:.2f}' for x in load_end)}",
        "- Crowd (`bench_dawid_skene.simulate`): accuracies U(0.3, 0.95), half of the errors on "
        "a per-annotator favourite confusion, 5% spammers",
        "",
    ]
    text = "\n".join(head + body)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
