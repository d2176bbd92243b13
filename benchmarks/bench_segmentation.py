"""find_label_issues for segmentation: labelaudit vs cleanlab 2.9 in one process.

Generates float32 probabilities (N, K, H, W) as a .npy memory map with a fixed
seed, runs both libraries on the read-only map, and reports median wall
times, their ratio, and each library's peak traced allocation (tracemalloc,
which sees numpy buffers) relative to the input size. Masks are compared.

    PYTHONPATH=src python benchmarks/bench_segmentation.py --n 100 --k 20 --size 256
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def make(path: Path, n: int, k: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    probs = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, k, size, size))
    labels = rng.integers(0, k, size=(n, size, size)).astype(np.uint8)
    for i in range(n):
        logits = rng.standard_normal((k, size, size), dtype=np.float32)
        np.put_along_axis(logits, labels[i][None].astype(np.intp),
                          np.float32(2.5) * (rng.random((1, size, size)) < 0.9), axis=0)
        e = np.exp(logits)
        probs[i] = e / e.sum(axis=0, keepdims=True)
    probs.flush()
    return labels


def run(fn, repeats):
    times, peaks, out = [], [], None
    for _ in range(repeats):
        tracemalloc.start()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return statistics.median(times), max(peaks), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cleanlab-repeats", type=int, default=1)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    from cleanlab.segmentation.filter import find_label_issues as cl_find

    from labelaudit.segmentation.filter import find_label_issues as la_find

    tmp = Path(tempfile.mkdtemp(dir=args.dir))
    try:
        labels = make(tmp / "p.npy", args.n, args.k, args.size, 0)
        probs = np.load(tmp / "p.npy", mmap_mode="r")
        input_bytes = probs.nbytes + labels.nbytes
        la_t, la_peak, la_mask = run(lambda: la_find(labels, probs, verbose=False), args.repeats)
        cl_t, cl_peak, cl_mask = run(lambda: cl_find(labels, probs, verbose=False, n_jobs=1),
                                     args.cleanlab_repeats)
        same = bool(np.array_equal(la_mask, cl_mask))
        print("| N x K x H x W | input | cleanlab s | labelaudit s | speed-up | "
              "cleanlab peak / input | labelaudit peak / input | masks equal |")
        print("|---|---|---|---|---|---|---|---|")
        print(f"| {args.n} x {args.k} x {args.size} x {args.size} | {input_bytes / 2**20:.0f} MiB | "
              f"{cl_t:.2f} | {la_t:.2f} | {cl_t / la_t:.1f}x | {cl_peak / input_bytes:.1%} | "
              f"{la_peak / input_bytes:.1%} | {same} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
