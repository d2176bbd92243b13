"""A read-only memory map is streamed by the confident-learning functions, never copied.

The large test writes a float32 ``.npy`` several times larger than the
allowed growth of anonymous memory, runs ``find_label_issues`` and
``compute_confident_joint`` on ``np.load(path, mmap_mode="r")`` in a child
process, and samples the child's anonymous resident memory (``RssAnon`` in
``/proc/<pid>/status``; pages of the mapped file are file-backed and do not
count) from this process while it runs. The allowed growth is what the
per-row outputs and the K x K work need, far below the file size. A positive
control in the same child (copying a quarter of the map into memory) shows
the sampler does see a materialised matrix.

The small test checks that results on the map equal those on the same matrix
loaded into memory, and the raw confident joint equals cleanlab's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import labelaudit

N_BIG = 3_000_000
K_BIG = 100
BYTES_PER_ROW_BOUND = 40
FIXED_BOUND = 64 * 2**20

CHILD = r"""
import json, sys
import numpy as np
import labelaudit

path, labels_path = sys.argv[1], sys.argv[2]
labels = np.load(labels_path)
mm = np.load(path, mmap_mode="r")
# Warm-up on a few rows so lazily created objects exist before the baseline.
labelaudit.find_label_issues(labels[:2000], np.array(mm[:2000]), n_jobs=1)
labelaudit.compute_confident_joint(labels[:2000], np.array(mm[:2000]), n_jobs=1)
print("READY", flush=True)
sys.stdin.readline()
mask = labelaudit.find_label_issues(labels, mm, n_jobs=1)
cj = labelaudit.compute_confident_joint(labels, mm, n_jobs=1)
print(json.dumps({
    "shape": list(mask.shape), "dtype": str(mask.dtype), "n_issues": int(mask.sum()),
    "cj_row_sums": cj.sum(axis=1).tolist(), "is_memmap": isinstance(mm, np.memmap),
}), flush=True)
sys.stdin.readline()
control = np.array(mm[: mm.shape[0] // 4])  # deliberately materialise a quarter
print("CONTROL", float(control[:, 0].sum()), flush=True)
sys.stdin.readline()
"""


def _rss_anon_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class _Sampler(threading.Thread):
    """Poll a process's RssAnon and keep the peak since the last reset."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.samples = 0
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._halt.is_set():
            value = _rss_anon_bytes(self.pid)
            if value is None:
                return
            with self._lock:
                self.peak = max(self.peak, value)
                self.samples += 1
            time.sleep(0.001)

    def take_peak(self) -> int:
        """Return the peak since the last call (after one more sample) and reset it."""
        value = _rss_anon_bytes(self.pid) or 0
        with self._lock:
            peak = max(self.peak, value)
            self.peak = 0
        return peak

    def stop(self) -> None:
        self._halt.set()


def _softmax_rows(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Random probability rows (float32) and their argmax classes."""
    z = rng.standard_normal((n, k), dtype=np.float32)
    top = rng.integers(0, k, n)
    z[np.arange(n), top] += rng.gamma(2.0, 1.5, n).astype(np.float32) + np.float32(np.log(k))
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z, top


def _noisy(rng: np.random.Generator, labels: np.ndarray, k: int, rate: float = 0.1) -> np.ndarray:
    flip = rng.random(labels.size) < rate
    return np.where(flip, (labels + rng.integers(1, k, labels.size)) % k, labels).astype(np.intp)


def _write_big(path: Path, labels_path: Path, n: int, k: int, seed: int = 7) -> None:
    """Write an (n, k) float32 .npy by drawing rows from a pool (cheap, file-backed writes)."""
    rng = np.random.default_rng(seed)
    pool, pool_top = _softmax_rows(rng, 8192, k)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, k))
    labels = np.empty(n, dtype=np.intp)
    block = 250_000
    for start in range(0, n, block):
        stop = min(n, start + block)
        pick = rng.integers(0, pool.shape[0], stop - start)
        out[start:stop] = pool[pick]
        labels[start:stop] = _noisy(rng, pool_top[pick], k)
    out.flush()
    del out
    np.save(labels_path, labels)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc (Linux)")
def test_memmap_streams_without_materialising(tmp_path):
    """Anonymous memory grows by O(N) small outputs + O(K^2), not by the file size."""
    path = tmp_path / "big_probs.npy"
    labels_path = tmp_path / "big_labels.npy"
    try:
        _write_big(path, labels_path, N_BIG, K_BIG)
        file_bytes = path.stat().st_size
        bound = BYTES_PER_ROW_BOUND * N_BIG + FIXED_BOUND
        assert file_bytes > 5 * bound  # the bound is far below the file size

        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = "1"
        err_path = tmp_path / "child_stderr.txt"
        err = open(err_path, "w")  # closed in the finally below
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(labels_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, env=env,
        )
        sampler = None
        try:
            assert proc.stdout.readline().strip() == "READY", err_path.read_text()
            baseline = _rss_anon_bytes(proc.pid)
            assert baseline is not None
            sampler = _Sampler(proc.pid)
            sampler.start()
            sampler.take_peak()

            proc.stdin.write("go\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            assert line, err_path.read_text()
            result = json.loads(line)
            growth = sampler.take_peak() - baseline

            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline().startswith("CONTROL"), err_path.read_text()
            control_growth = sampler.take_peak() - baseline
            proc.stdin.write("go\n")
            proc.stdin.flush()
            proc.wait(timeout=60)
        finally:
            if sampler is not None:
                sampler.stop()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err.close()
        assert proc.returncode == 0

        assert result["is_memmap"]
        assert result["shape"] == [N_BIG] and result["dtype"] == "bool"
        labels = np.load(labels_path)
        np.testing.assert_array_equal(result["cj_row_sums"], np.bincount(labels, minlength=K_BIG))
        # About 10% of labels were flipped; the filter must find a comparable number.
        assert 0.05 * N_BIG < result["n_issues"] < 0.2 * N_BIG
        assert sampler.samples > 10
        # The measurement sees a materialised quarter of the file ...
        assert control_growth > 0.8 * file_bytes / 4, (control_growth, file_bytes)
        # ... and the confident-learning calls stay within the streaming bound.
        assert growth < bound, (
            f"RssAnon grew by {growth / 2**20:.0f} MiB on a {file_bytes / 2**20:.0f} MiB map "
            f"(bound {bound / 2**20:.0f} MiB)"
        )
    finally:
        for p in (path, labels_path):
            if p.exists():
                p.unlink()


def test_memmap_results_equal_in_memory(tmp_path):
    """Every function gives identical results on the map and on np.array(map)."""
    import cleanlab.count

    rng = np.random.default_rng(11)
    n, k = 120_000, 50
    probs, top = _softmax_rows(rng, n, k)
    labels = _noisy(rng, top, k)
    path = tmp_path / "small_probs.npy"
    np.save(path, probs)
    del probs
    mm = np.load(path, mmap_mode="r")
    assert isinstance(mm, np.memmap) and not mm.flags.writeable
    arr = np.array(mm)

    ref_mask = labelaudit.find_label_issues(labels, arr, n_jobs=1)
    ref_cj = labelaudit.compute_confident_joint(labels, arr, n_jobs=1)
    ref_scores = labelaudit.get_label_quality_scores(labels, arr, n_jobs=1)
    ref_ranked = labelaudit.find_label_issues(labels, arr, n_jobs=1,
                                              return_indices_ranked_by="normalized_margin")
    assert 0 < ref_mask.sum() < n
    for n_jobs in (1, 2):
        np.testing.assert_array_equal(labelaudit.find_label_issues(labels, mm, n_jobs=n_jobs),
                                      ref_mask)
        np.testing.assert_array_equal(labelaudit.compute_confident_joint(labels, mm, n_jobs=n_jobs),
                                      ref_cj)
        np.testing.assert_array_equal(
            labelaudit.get_label_quality_scores(labels, mm, n_jobs=n_jobs), ref_scores)
        np.testing.assert_array_equal(
            labelaudit.find_label_issues(labels, mm, n_jobs=n_jobs,
                                         return_indices_ranked_by="normalized_margin"),
            ref_ranked)
    # Oracle: the raw confident counts (integer counting, no rounding) match cleanlab's.
    np.testing.assert_array_equal(
        labelaudit.compute_confident_joint(labels, mm, calibrate=False, n_jobs=1),
        cleanlab.count.compute_confident_joint(labels, arr, calibrate=False),
    )
    del mm
    path.unlink()
