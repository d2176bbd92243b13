"""Benchmark: Dawid-Skene in labelaudit vs crowd-kit on a simulated crowd.

A crowd with known truth: 200,000 items x 5 labels = 1,000,000 annotations
from 500 annotators over K=10 classes. Each annotator has an accuracy drawn
from U(0.3, 0.95); a wrong answer goes to that annotator's own "favourite"
confusion of the true class with probability 0.5 and to a uniformly random
other class otherwise, and 5% of annotators are spammers answering at random.

Both implementations run in this process on the same data:

* labelaudit: ``encode_annotations`` (from a polars DataFrame) + ``dawid_skene``;
* crowd-kit: ``crowdkit.aggregation.DawidSkene().fit_predict`` (from pandas).

Both use ``max_iter=100`` and stop when the mean evidence lower bound per
annotation (after each M-step) rises by less than ``tol=1e-5``, and both
start from majority-vote shares. The iterations each ran are reported.
labelaudit uses its defaults otherwise (no smoothing, every answer possible
in every confusion row; ``--n-jobs``, default 1). A second pair of rows fixes
the number of iterations (``tol`` disabled) so per-iteration speed is
compared like for like.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_dawid_skene.py --repeats 3

The markdown table is printed and written to ``reports/bench_dawid_skene.md``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from labelaudit import annotators
from labelaudit._threads import effective_n_threads


def simulate(n_items: int, per_item: int, n_annotators: int, n_classes: int, seed: int):
    """Return (polars annotations, truth, annotator accuracies)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    accuracy = rng.uniform(0.3, 0.95, n_annotators)
    spammer = rng.random(n_annotators) < 0.05
    favourite = (np.arange(n_classes)[None, :] + rng.integers(1, n_classes, (n_annotators, n_classes))) % n_classes
    chosen = np.empty((n_items, per_item), dtype=np.int64)
    chunk = 10_000
    for start in range(0, n_items, chunk):
        stop = min(start + chunk, n_items)
        keys = rng.random((stop - start, n_annotators))
        chosen[start:stop] = np.argpartition(keys, per_item, axis=1)[:, :per_item]
    item = np.repeat(np.arange(n_items), per_item)
    worker = chosen.ravel()
    true = truth[item]
    correct = rng.random(item.size) < accuracy[worker]
    use_favourite = rng.random(item.size) < 0.5
    other = (true + rng.integers(1, n_classes, item.size)) % n_classes
    wrong = np.where(use_favourite, favourite[worker, true], other)
    label = np.where(correct, true, wrong)
    rand = rng.integers(0, n_classes, item.size)
    label = np.where(spammer[worker], rand, label)
    frame = pl.DataFrame({"task": item, "worker": worker, "label": label})
    return frame, truth, accuracy


def run_labelaudit(frame: pl.DataFrame, *, max_iter: int, tol: float, n_jobs: int | None):
    enc = annotators.encode_annotations(frame, item_col="task", annotator_col="worker", label_col="label")
    res = annotators.dawid_skene(enc, max_iter=max_iter, tol=tol, n_jobs=n_jobs)
    return res.labels, res.n_iter


def run_crowdkit(pdframe, *, max_iter: int, tol: float, n_items: int):
    from crowdkit.aggregation import DawidSkene

    model = DawidSkene(n_iter=max_iter, tol=tol)
    labels = model.fit_predict(pdframe)
    out = np.full(n_items, -1, dtype=np.int64)
    out[labels.index.to_numpy()] = labels.to_numpy().astype(np.int64)
    return out, len(model.loss_history_)


def timed(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--per-item", type=int, default=5)
    parser.add_argument("--annotators", type=int, default=500)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--crowdkit-repeats", type=int, default=None,
                        help="repeats for crowd-kit (default: same as --repeats)")
    parser.add_argument("--fixed-iter", type=int, default=10,
                        help="iterations for the fixed-iteration comparison (0 to skip)")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="labelaudit kernel threads (-1 = all cores); results do not depend on it")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reports/bench_dawid_skene.md")
    args = parser.parse_args(argv)
    ck_repeats = args.crowdkit_repeats or args.repeats

    frame, truth, _ = simulate(args.items, args.per_item, args.annotators, args.classes, args.seed)
    pdframe = frame.to_pandas()
    counts = np.zeros((args.items, args.classes), dtype=np.int64)
    np.add.at(counts, (frame["task"].to_numpy(), frame["label"].to_numpy()), 1)
    mv_acc = float((annotators.majority_vote(counts).labels == truth).mean())

    rows = []
    settings = [("converged", 100, 1e-5)]
    if args.fixed_iter:
        settings.append((f"fixed {args.fixed_iter} iterations", args.fixed_iter, -1.0))
    for name, max_iter, tol in settings:
        la_tol = max(tol, 0.0)
        la_time, la_times, (la_labels, la_iter) = timed(
            lambda mi=max_iter, t=la_tol: run_labelaudit(frame, max_iter=mi, tol=t, n_jobs=args.n_jobs),
            args.repeats)
        ck_tol = tol if tol >= 0 else -np.inf
        ck_time, ck_times, (ck_labels, ck_iter) = timed(
            lambda mi=max_iter, t=ck_tol: run_crowdkit(pdframe, max_iter=mi, tol=t, n_items=args.items),
            ck_repeats)
        rows.append({
            "setting": name,
            "la_time": la_time, "la_times": la_times, "la_iter": la_iter,
            "la_acc": float((la_labels == truth).mean()),
            "ck_time": ck_time, "ck_times": ck_times, "ck_iter": ck_iter,
            "ck_acc": float((ck_labels == truth).mean()),
        })

    import crowdkit

    n_ann = frame.height
    threads = effective_n_threads(args.n_jobs)
    command = (f"PYTHONPATH=src python benchmarks/bench_dawid_skene.py --items {args.items} "
               f"--per-item {args.per_item} --annotators {args.annotators} --classes {args.classes} "
               f"--repeats {args.repeats} --crowdkit-repeats {ck_repeats} --fixed-iter {args.fixed_iter} "
               f"--n-jobs {args.n_jobs} --seed {args.seed}")
    lines = [
        "## Dawid-Skene: labelaudit vs crowd-kit",
        "",
        f"Simulated crowd: {args.items:,} items x {args.per_item} labels = {n_ann:,} annotations, "
        f"{args.annotators} annotators, K={args.classes}, seed {args.seed}; accuracies U(0.3, 0.95), "
        "half of errors on a per-annotator favourite confusion, 5% spammers. "
        f"Majority vote (lowest-index ties) accuracy vs truth: {mv_acc:.4f}.",
        "",
        f"Wall time is the median of {args.repeats} (labelaudit) / {ck_repeats} (crowd-kit) runs in one "
        "process, including encoding the table. Both: majority-vote initialisation, max_iter=100, "
        "tol=1e-5 on the mean evidence lower bound per annotation; the fixed-iteration "
        f"rows disable the tolerance. labelaudit: its defaults, {threads} thread(s).",
        "",
        "| setting | labelaudit s | crowd-kit s | speed-up | labelaudit iters | crowd-kit iters "
        "| labelaudit acc | crowd-kit acc |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['la_time']:.3f} | {r['ck_time']:.2f} | {r['ck_time'] / r['la_time']:.1f}x "
            f"| {r['la_iter']} | {r['ck_iter']} | {r['la_acc']:.4f} | {r['ck_acc']:.4f} |"
        )
    lines += [
        "",
        f"Environment: Python {platform.python_version()}, numpy {np.__version__}, polars {pl.__version__}, "
        f"crowd-kit {crowdkit.__version__}, {os.cpu_count()} CPU(s), {platform.machine()}.",
        "",
        "Individual run times (s): " + "; ".join(
            f"{r['setting']}: labelaudit {[round(t, 3) for t in r['la_times']]}, "
            f"crowd-kit {[round(t, 2) for t in r['ck_times']]}" for r in rows),
        "",
        "Command (from the repository root, with the extension built):",
        "",
        "```",
        command,
        "```",
        "",
    ]
    text = "\n".join(lines)
    sys.stdout.write(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
