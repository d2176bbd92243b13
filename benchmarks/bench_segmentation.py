"""find_label_issues for segmentation: labelaudit vs cleanlab 2.9 in one process.

Generates float32 probabilities (N, K, H, W) as a .npy memory map with a fixed
seed, runs both libraries on the read-only map, and reports median wall
times, their ratio, each library's peak memory relative to the input size
(probabilities + labels), and whether the masks agree.

Memory is measured two ways. ``tracemalloc`` (peak traced allocation, which
sees numpy buffers) is exact but tracing cleanlab's one Python float per
pixel multiplies its memory and time at large N, so ``--memory rss`` samples
the process's anonymous resident memory (``RssAnon`` in /proc/self/status,
every 20 ms) above its level before the call instead; pages of the memory map
are file-backed and not counted.

    PYTHONPATH=src python benchmarks/bench_segmentation.py --n 100 --k 20 --size 256

``--probs FILE`` keeps the generated file (and ``FILE.labels.npy``) or reuses
it when it exists; ``--only labelaudit`` or ``--only cleanlab`` runs one
library (for a run under a memory limit); ``--evict`` drops the file's pages
from the page cache first (posix_fadvise), so a memory-limited run has to
fault them in itself.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import threading
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
        if i % 64 == 63:
            probs.flush()
    probs.flush()
    del probs
    return labels


def rss_anon() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """Peak of RssAnon above its value at start, sampled in a thread."""

    def __enter__(self):
        self.base = rss_anon()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_anon())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon())
        self.extra = self.peak - self.base


def run(fn, repeats, memory):
    times, peaks, out = [], [], None
    for _ in range(repeats):
        out = None
        if memory == "tracemalloc":
            tracemalloc.start()
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        else:
            with Sampler() as s:
                t = time.perf_counter()
                out = fn()
                times.append(time.perf_counter() - t)
            peaks.append(s.extra)
    return statistics.median(times), max(peaks), out


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cleanlab-repeats", type=int, default=1)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--probs", default=None, help="keep / reuse the probabilities here")
    ap.add_argument("--only", choices=("both", "labelaudit", "cleanlab"), default="both")
    ap.add_argument("--memory", choices=("tracemalloc", "rss"), default="tracemalloc")
    ap.add_argument("--evict", action="store_true")
    args = ap.parse_args()
    from cleanlab.segmentation.filter import find_label_issues as cl_find

    from labelaudit.segmentation.filter import find_label_issues as la_find

    tmp = Path(tempfile.mkdtemp(dir=args.dir))
    path = Path(args.probs) if args.probs else tmp / "p.npy"
    lab_path = path.with_name(path.name + ".labels.npy")
    try:
        if path.exists() and lab_path.exists():
            labels = np.load(lab_path)
        else:
            t = time.perf_counter()
            labels = make(path, args.n, args.k, args.size, 0)
            np.save(lab_path, labels)
            print(f"generated {path} in {time.perf_counter() - t:.0f} s", flush=True)
        if args.evict:
            evict(path)
        probs = np.load(path, mmap_mode="r")
        n, k, h, w = probs.shape
        input_bytes = probs.nbytes + labels.nbytes
        la = cl = (float("nan"), float("nan"), None)
        if args.only in ("both", "labelaudit"):
            la = run(lambda: la_find(labels, probs, verbose=False), args.repeats, args.memory)
            print(f"labelaudit: {la[0]:.2f} s, peak {la[1] / 2**20:.0f} MiB, "
                  f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB, "
                  f"{int(la[2].sum())} pixels flagged", flush=True)
        if args.only in ("both", "cleanlab"):
            cl = run(lambda: cl_find(labels, probs, verbose=False, n_jobs=1),
                     args.cleanlab_repeats, args.memory)
            print(f"cleanlab: {cl[0]:.2f} s, peak {cl[1] / 2**20:.0f} MiB, "
                  f"{int(cl[2].sum())} pixels flagged", flush=True)
        same = (bool(np.array_equal(la[2], cl[2])) if la[2] is not None and cl[2] is not None
                else "n/a")
        if same is False:
            # Ties at the cut: both select the same number of pixels; report where they differ.
            where = np.nonzero(la[2] != cl[2])
            scores = probs[where[0], labels[where].astype(np.intp), where[1], where[2]]
            print(f"masks differ at {where[0].size} pixels; their self-confidences take "
                  f"{np.unique(scores).size} distinct value(s): {np.unique(scores)[:5]}")
        print(f"memory measured with {args.memory}")
        print("| N x K x H x W | input | cleanlab s | labelaudit s | speed-up | "
              "cleanlab peak / input | labelaudit peak / input | masks equal |")
        print("|---|---|---|---|---|---|---|---|")
        print(f"| {n} x {k} x {h} x {w} | {input_bytes / 2**20:.0f} MiB | "
              f"{cl[0]:.2f} | {la[0]:.2f} | {cl[0] / la[0]:.1f}x | {cl[1] / input_bytes:.1%} | "
              f"{la[1] / input_bytes:.1%} | {same} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
