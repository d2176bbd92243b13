"""Benchmark: peak anonymous memory of ``labelaudit audit`` on a large read-only ``.npy`` memory map.

Writes an ``(n, K)`` float64 ``.npy`` (default 2,000,000 x 125, 2 GB) of
out-of-sample-like probabilities with 10% label noise, a data CSV with the
ids (in order, or shuffled with ``--shuffle`` so that the rows must be put in
id order), then runs ``python -m labelaudit audit DATA --pred-probs FILE`` in a
child process and samples its ``RssAnon`` (anonymous resident memory: pages of
the mapped file are file-backed and do not count) from ``/proc`` every
millisecond. Reports the peak and the wall time. The code measured is whatever ``labelaudit``
the child imports (``PYTHONPATH`` selects a source tree).

Usage::

    PYTHONPATH=src python benchmarks/bench_memmap.py --rows 2000000 --classes 125
    PYTHONPATH=src python benchmarks/bench_memmap.py --rows 2000000 --classes 125 --shuffle
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl


def rss_anon(pid: int) -> int | None:
    """Anonymous resident memory of a process, in bytes (None once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def write_inputs(folder: Path, n: int, k: int, shuffle: bool, seed: int = 0) -> tuple[Path, Path]:
    """The probabilities .npy (drawn from a pool of rows, cheap to write) and the data CSV."""
    rng = np.random.default_rng(seed)
    pool_n = 8192
    z = rng.standard_normal((pool_n, k))
    top = rng.integers(0, k, pool_n)
    z[np.arange(pool_n), top] += rng.gamma(2.0, 1.5, pool_n) + np.log(k)
    pool = np.exp(z - z.max(axis=1, keepdims=True))
    pool /= pool.sum(axis=1, keepdims=True)
    probs = folder / "probs.npy"
    out = np.lib.format.open_memmap(probs, mode="w+", dtype=np.float64, shape=(n, k))
    labels = np.empty(n, dtype=np.int64)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        pick = rng.integers(0, pool_n, stop - start)
        out[start:stop] = pool[pick]
        flip = rng.random(stop - start) < 0.1
        labels[start:stop] = np.where(flip, (top[pick] + rng.integers(1, k, stop - start)) % k,
                                      top[pick])
    out.flush()
    del out
    order = rng.permutation(n) if shuffle else np.arange(n)
    data = folder / "data.csv"
    pl.DataFrame({"id": "i" + pl.Series(order).cast(pl.String).str.zfill(9),
                  "label": "c" + pl.Series(labels).cast(pl.String).str.zfill(4)}).write_csv(data)
    return probs, data


def measure(probs: Path, data: Path, k: int, out: Path, n_bootstrap: int) -> dict[str, float]:
    classes = ",".join(f"c{c:04d}" for c in range(k))
    cmd = [sys.executable, "-m", "labelaudit", "audit", str(data), "--id-col", "id",
           "--label-col", "label", "--pred-probs", str(probs), "--classes", classes,
           "--out", str(out), "--n-bootstrap", str(n_bootstrap)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples: list[int] = []

    def sample() -> None:
        while True:
            value = rss_anon(proc.pid)
            if value is None or proc.poll() is not None:
                return
            samples.append(value)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"audit failed ({proc.returncode}): {err.strip()[-500:]}")
    return {"peak": max(samples), "wall": wall, "samples": len(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--classes", type=int, default=125)
    parser.add_argument("--shuffle", action="store_true", help="ids out of order in the data")
    parser.add_argument("--n-bootstrap", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        probs, data = write_inputs(folder, args.rows, args.classes, args.shuffle)
        size = probs.stat().st_size
        result = measure(probs, data, args.classes, folder / "out", args.n_bootstrap)
    import labelaudit

    print(f"labelaudit {labelaudit.__version__} from {Path(labelaudit.__file__).parent}")
    print(f"matrix: {args.rows:,} x {args.classes} float64, {size / 1e9:.2f} GB, ids "
          f"{'shuffled' if args.shuffle else 'in order'}; --n-bootstrap {args.n_bootstrap}")
    print(f"peak RssAnon {result['peak'] / 1e9:.2f} GB ({result['samples']:,} samples), "
          f"wall {result['wall']:.1f} s")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
