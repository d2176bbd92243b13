"""find_label_issues for object detection: labelaudit against cleanlab 2.9, one process.

Generated data: N images, K classes, 0-6 annotated boxes and 0-3 predictions per
class per image (most predictions jittered copies of annotations). Reports the
median wall time of each library, their ratio, and the extra memory of each run
(tracemalloc peak) relative to the size of the input (tracemalloc of building it).

Usage: PYTHONPATH=src python benchmarks/bench_detection.py --n 50000 --repeats 1
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import tracemalloc
import warnings

import numpy as np


class _SerialPool:
    """cleanlab opens a process pool per IoU threshold; the pool is kept (as shipped)
    unless --serial-cleanlab is given."""

    def __init__(self, *args, **kwargs):
        pass

    def starmap(self, func, iterable):
        return list(itertools.starmap(func, iterable))

    def close(self):
        pass


def make(n: int, K: int, seed: int):
    rng = np.random.default_rng(seed)
    labels, preds = [], []
    for _ in range(n):
        L = int(rng.integers(0, 7))
        xy = rng.uniform(0, 500, (L, 2))
        wh = rng.uniform(5, 120, (L, 2))
        boxes = np.hstack([xy, xy + wh])
        cls = rng.integers(0, K, L)
        labels.append({"bboxes": boxes, "labels": cls})
        per = []
        for k in range(K):
            own = boxes[cls == k]
            M = int(rng.integers(0, 3))
            pb = np.vstack([own + rng.normal(0, 3, own.shape),
                            np.hstack([(q := rng.uniform(0, 500, (M, 2))), q + 40])])
            s = rng.uniform(0.3, 1.0, (pb.shape[0], 1))
            per.append(np.hstack([pb, s]))
        preds.append(per)
    return labels, preds


def run(fn, repeats):
    times, peaks = [], []
    for _ in range(repeats):
        tracemalloc.start()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return out, statistics.median(times), max(peaks)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--serial-cleanlab", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    tracemalloc.start()
    labels, preds = make(args.n, args.classes, 0)
    input_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    n_lab = sum(len(x["labels"]) for x in labels)
    n_pred = sum(len(a) for p in preds for a in p)
    from cleanlab.object_detection import filter as cl_filter

    from labelaudit.object_detection import filter as la_filter
    if args.serial_cleanlab:
        cl_filter.Pool = _SerialPool
    la_mask, la_t, la_mem = run(lambda: la_filter.find_label_issues(labels, preds), args.repeats)
    cl_mask, cl_t, cl_mem = run(lambda: cl_filter.find_label_issues(labels, preds), 1)
    print(f"images {args.n}, classes {args.classes}, annotated boxes {n_lab}, predicted {n_pred}, "
          f"input {input_bytes / 2**20:.1f} MiB")
    print("| library | median s | extra memory (tracemalloc peak) | % of input |")
    print("|---|---|---|---|")
    for name, t, mem in (("labelaudit", la_t, la_mem), ("cleanlab 2.9", cl_t, cl_mem)):
        print(f"| {name} | {t:.2f} | {mem / 2**20:.1f} MiB | {100 * mem / input_bytes:.1f}% |")
    print(f"speed-up: {cl_t / la_t:.1f}x; masks equal: {bool(np.array_equal(la_mask, cl_mask))}")


if __name__ == "__main__":
    main()
