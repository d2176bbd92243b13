"""Multi-label find_label_issues and quality scores: labelaudit against cleanlab 2.9, one process.

Generated data: N items, K tags, each item's true tag set drawn with per-tag
base rates between 1% and 20%, a share ``--flip`` (default 0.2%) of the (item, tag)
answers flipped, and
per-tag probabilities from a noisy logistic score (float32 or float64). Both
libraries get the same list-of-lists labels and probability matrix.

Reports for ``multilabel_classification.filter.find_label_issues`` (defaults)
and ``rank.get_label_quality_scores`` (defaults): the median wall time of each
library (labelaudit over ``--repeats`` runs, cleanlab once unless
``--cleanlab-repeats`` says more), their ratio, whether the results agree
(masks equal; scores to 1e-6 relative), and each call's extra memory: the
tracemalloc peak of the call over the size of the input (the probability
matrix plus the Python label lists, as tracemalloc counts building them).

Usage::

    PYTHONPATH=src python benchmarks/bench_multilabel_filter.py --n 1000000 --classes 100 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc
import warnings

import numpy as np


def make(n: int, k: int, dtype, flip: float = 0.002, seed: int = 0, block: int = 100_000):
    """Labels (list of lists) and an (n, k) probability matrix, built in row blocks."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.01, 0.2, k)
    probs = np.empty((n, k), dtype=dtype)
    labels: list[list[int]] = []
    for start in range(0, n, block):
        m = min(block, n - start)
        truth = rng.random((m, k)) < base
        given = truth ^ (rng.random((m, k)) < flip)
        score = np.where(truth, 3.0, -3.0) + rng.normal(0.0, 1.0, (m, k))
        probs[start:start + m] = 1.0 / (1.0 + np.exp(-score))
        rows, cols = np.nonzero(given)
        cuts = np.searchsorted(rows, np.arange(1, m))
        labels.extend(c.tolist() for c in np.split(cols, cuts))
    return labels, probs


def measure(fn, repeats: int):
    """(output, median seconds, max tracemalloc peak in bytes) over ``repeats`` runs."""
    times, peaks, out = [], [], None
    for _ in range(repeats):
        out = None
        tracemalloc.start()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return out, statistics.median(times), max(peaks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--flip", type=float, default=0.002)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cleanlab-repeats", type=int, default=1)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    tracemalloc.start()
    labels, probs = make(args.n, args.classes, np.dtype(args.dtype), args.flip)
    input_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    from cleanlab.multilabel_classification import filter as cl_filter
    from cleanlab.multilabel_classification import rank as cl_rank

    from labelaudit.multilabel_classification import filter as la_filter
    from labelaudit.multilabel_classification import rank as la_rank

    load = os.getloadavg()
    print(f"items {args.n:,}, tags {args.classes}, {args.dtype}; input {input_bytes / 2**20:.1f} MiB "
          f"(probabilities {probs.nbytes / 2**20:.1f} MiB); Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f}", flush=True)
    rows = []
    for name, la_fn, cl_fn, same in (
        ("find_label_issues",
         lambda: la_filter.find_label_issues(labels, probs),
         lambda: cl_filter.find_label_issues(labels, probs),
         lambda a, b: bool(np.array_equal(a, b))),
        ("get_label_quality_scores",
         lambda: la_rank.get_label_quality_scores(labels, probs),
         lambda: cl_rank.get_label_quality_scores(labels, probs),
         lambda a, b: bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))),
    ):
        la_out, la_t, la_mem = measure(la_fn, args.repeats)
        print(f"{name}: labelaudit {la_t:.2f} s", flush=True)
        cl_out, cl_t, cl_mem = measure(cl_fn, args.cleanlab_repeats)
        print(f"{name}: cleanlab {cl_t:.2f} s", flush=True)
        rows.append((name, la_t, cl_t, la_mem, cl_mem, same(la_out, cl_out),
                     int(np.sum(la_out)) if la_out.dtype == bool else None))
        del la_out, cl_out
    print()
    print("| function | labelaudit median s | cleanlab s | speed-up | labelaudit extra memory "
          "| cleanlab extra memory | results equal |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, la_t, cl_t, la_mem, cl_mem, equal, n_issues in rows:
        note = f" ({n_issues:,} issues)" if n_issues is not None else ""
        print(f"| `{name}` | {la_t:.2f} | {cl_t:.2f} | {cl_t / la_t:.1f}x "
              f"| {la_mem / 2**20:.1f} MiB ({100 * la_mem / input_bytes:.1f}%) "
              f"| {cl_mem / 2**20:.1f} MiB ({100 * cl_mem / input_bytes:.1f}%) | {equal}{note} |")
    end = os.getloadavg()
    print(f"\nload average at end {end[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
