"""Regression label quality scores: labelaudit vs cleanlab 2.9 in one process.

Generated data (fixed seed): a smooth target of two features plus noise,
predictions from a slightly biased fit of it, and 5% of the labels corrupted by
a large offset. For each ``(method, n)`` pair it reports the median untraced
wall seconds of each library, the speed-up, the peak traced allocation of one
more call (tracemalloc, which sees numpy buffers) relative to the input
(labels plus predictions), and the largest absolute score difference.

cleanlab's default method is ``"outre"`` (the mean distance to the
``ceil(n / 2)`` nearest (label, residual) pairs), which is quadratic in both
libraries; ``"residual"`` is linear. Sizes are given per method:

    PYTHONPATH=src python benchmarks/bench_regression.py --residual 100000 1000000 \
        --outre 5000 10000 20000
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np


def make(n: int, dtype, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=(n, 2))
    target = np.sin(x[:, 0]) * 3 + x[:, 1] ** 2
    labels = target + rng.normal(0, 0.3, n)
    corrupt = rng.random(n) < 0.05
    labels[corrupt] += rng.choice([-1, 1], int(corrupt.sum())) * rng.uniform(3, 8, int(corrupt.sum()))
    predictions = 0.95 * target + 0.1 + rng.normal(0, 0.2, n)
    return labels.astype(dtype), predictions.astype(dtype)


def run(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        out = None
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    out = None
    tracemalloc.start()
    out = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residual", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--outre", type=int, nargs="*", default=[5_000, 10_000, 20_000])
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cleanlab-repeats", type=int, default=1)
    args = ap.parse_args()
    from cleanlab.regression.rank import get_label_quality_scores as cl_scores

    from labelaudit.regression.rank import get_label_quality_scores as la_scores

    warm_l, warm_p = make(500, np.dtype(args.dtype), 1)
    for method in ("residual", "outre"):  # imports and thread pools outside the timings
        la_scores(warm_l, warm_p, method=method)
        cl_scores(warm_l, warm_p, method=method)
    print("| method | n | cleanlab s | labelaudit s | speed-up | cleanlab peak / input | "
          "labelaudit peak / input | max abs score difference |")
    print("|---|---|---|---|---|---|---|---|")
    for method, sizes in (("residual", args.residual), ("outre", args.outre)):
        for n in sizes:
            labels, predictions = make(n, np.dtype(args.dtype), 0)
            input_bytes = labels.nbytes + predictions.nbytes
            la_t, la_peak, la_out = run(
                lambda m=method, y=labels, p=predictions: la_scores(y, p, method=m), args.repeats)
            cl_t, cl_peak, cl_out = run(
                lambda m=method, y=labels, p=predictions: cl_scores(y, p, method=m), args.cleanlab_repeats)
            assert la_out.dtype == cl_out.dtype, (la_out.dtype, cl_out.dtype)
            diff = float(np.max(np.abs(la_out.astype(np.float64) - cl_out)))
            print(f"| {method} | {n:,} | {cl_t:.3f} | {la_t:.3f} | {cl_t / la_t:.1f}x | "
                  f"{cl_peak / input_bytes:.0%} | {la_peak / input_bytes:.0%} | {diff:.1e} |",
                  flush=True)
    print(f"\n{args.dtype}; labelaudit medians of {args.repeats} runs, cleanlab of "
          f"{args.cleanlab_repeats}.")


if __name__ == "__main__":
    main()
