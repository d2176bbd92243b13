"""Benchmark: labelaudit's confident-learning core against cleanlab 2.9.

Both libraries run in this process on the same matrices:

* ``find_label_issues`` with the default filter (``prune_by_noise_rate``),
  labelaudit with ``n_jobs=1`` against ``cleanlab.filter.find_label_issues``
  with ``n_jobs=1``;
* ``compute_confident_joint`` (calibrated, the default) against
  ``cleanlab.count.compute_confident_joint``;
* ``get_label_quality_scores`` (``self_confidence``) against
  ``cleanlab.rank.get_label_quality_scores``.

labelaudit's single-threaded times are also compared with one numpy pass over
the matrix, ``pred_probs.max(axis=1)``, timed alternately with it in the same
loop: a kernel that reads the matrix once cannot be much faster than that.

Data. Synthetic out-of-sample-like probabilities with planted label noise,
float32, generated deterministically in row blocks (no N x K temporaries):
true classes follow a mildly imbalanced prior; 10% of the given labels are
flipped, half to a uniformly random other class and half to a fixed
"partner" class; the model's logits are Gaussian noise plus a margin of
``log K + Gamma(2, 1.2)`` on the true class, with a share of rows partly
confused with the partner class and a share of confident model mistakes;
rows go through a softmax with a per-row temperature.

Memory. The extra peak above the loaded input is measured with
``tracemalloc`` (numpy registers every array buffer with it) as the peak
minus the level at the start of the call, and cross-checked once per
function at the target size in a fresh subprocess with the kernel's
high-water mark of the resident set (VmHWM, reset through
``/proc/self/clear_refs`` after the input is loaded), which also sees
allocations outside numpy.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_core.py --out reports/bench_core.md
    PYTHONPATH=src python benchmarks/bench_core.py --quick      # smoke run

The markdown report is printed and written to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

# Target configuration and targets.
TARGET_SHAPE = (1_000_000, 100)
TARGET_FLI_SPEEDUP = 20.0
TARGET_CL_SPEEDUP = 5.0
TARGET_NUMPY_RATIO = 3.0
TARGET_MEMORY_PCT = 10.0

FULL_CONFIGS = [(1_000_000, 100), (1_000_000, 10), (200_000, 1000)]
QUICK_CONFIGS = [(100_000, 100), (100_000, 10), (20_000, 1000)]
SEED = 20240611
NOISE_RATE = 0.10
PAIR_SHARE = 0.5


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

def make_dataset(n: int, k: int, seed: int = SEED, *, block_elems: int = 1 << 22):
    """Generate (pred_probs float32, given labels, true labels) deterministically.

    Parameters
    ----------
    n, k : int
        Rows and classes.
    seed : int
        Base seed; every row block draws from its own generator seeded with
        ``(seed, n, k, block)``, so the output does not depend on memory.
    block_elems : int
        Matrix elements generated at a time (bounds the temporaries).

    Returns
    -------
    pred_probs : ndarray of shape (n, k), float32
    given : ndarray of shape (n,), int64
    true : ndarray of shape (n,), int64
    """
    setup = np.random.default_rng([seed, n, k])
    prior = 1.0 / np.sqrt(1.0 + setup.permutation(k))
    prior /= prior.sum()
    partner = (np.arange(k) + setup.integers(1, k, k)) % k
    log_k = np.float32(np.log(k))

    pred = np.empty((n, k), dtype=np.float32)
    given = np.empty(n, dtype=np.int64)
    true = np.empty(n, dtype=np.int64)
    rows = max(1, block_elems // k)
    for b, start in enumerate(range(0, n, rows)):
        stop = min(n, start + rows)
        m = stop - start
        rng = np.random.default_rng([seed, n, k, b])
        y = rng.choice(k, size=m, p=prior)
        flip = rng.random(m) < NOISE_RATE
        to_partner = rng.random(m) < PAIR_SHARE
        other = (y + rng.integers(1, k, m)) % k
        given[start:stop] = np.where(flip, np.where(to_partner, partner[y], other), y)
        true[start:stop] = y

        z = pred[start:stop]
        rng.standard_normal(out=z, dtype=np.float32)
        idx = np.arange(m)
        margin = (log_k + rng.gamma(2.0, 1.2, m)).astype(np.float32)
        # 4% confident model mistakes: the margin goes to another class.
        mistaken = rng.random(m) < 0.04
        winner = np.where(mistaken, (y + rng.integers(1, k, m)) % k, y)
        z[idx, winner] += margin
        # 20% of rows partly confused with the partner class.
        confused = rng.random(m) < 0.20
        z[idx[confused], partner[y[confused]]] += (
            margin[confused] * rng.uniform(0.3, 1.0, int(confused.sum())).astype(np.float32)
        )
        z *= rng.uniform(0.6, 1.6, m).astype(np.float32)[:, None]
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
    return pred, given, true


# ---------------------------------------------------------------------------
# Measurement helpers
# ---------------------------------------------------------------------------

def timed(fn):
    """Return (seconds, result) of one call, after a garbage collection."""
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_time(fn, repeats: int):
    """Median seconds over ``repeats`` calls, the list of times, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t, out = timed(fn)
        times.append(t)
    return statistics.median(times), times, out


def traced_extra_bytes(fn) -> int:
    """Peak bytes traced by tracemalloc during ``fn()`` above the level at its start."""
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak - base


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


# ---------------------------------------------------------------------------
# Library calls
# ---------------------------------------------------------------------------

def call(lib: str, op: str, labels, pred, **kw):
    """Run one operation of one library; ``kw`` goes to labelaudit only."""
    if lib == "labelaudit":
        import labelaudit

        if op == "fli":
            return labelaudit.find_label_issues(labels, pred, n_jobs=kw.pop("n_jobs", 1), **kw)
        if op == "cj":
            return labelaudit.compute_confident_joint(labels, pred, n_jobs=kw.pop("n_jobs", 1), **kw)
        if op == "scores":
            return labelaudit.get_label_quality_scores(labels, pred, method="self_confidence",
                                                       n_jobs=kw.pop("n_jobs", 1), **kw)
    elif lib == "cleanlab":
        import cleanlab.count
        import cleanlab.filter
        import cleanlab.rank

        if op == "fli":
            return cleanlab.filter.find_label_issues(labels, pred, n_jobs=1)
        if op == "cj":
            return cleanlab.count.compute_confident_joint(labels, pred)
        if op == "scores":
            return cleanlab.rank.get_label_quality_scores(labels, pred, method="self_confidence")
    raise ValueError(f"unknown library/operation {lib}/{op}")


def rss_child(lib: str, op: str, path: str) -> None:
    """Subprocess entry: load the input, reset VmHWM, call, print extra peak RSS as JSON."""
    pred = np.load(path + "_pred.npy")
    labels = np.load(path + "_labels.npy")
    small_pred, small_labels, _ = make_dataset(2000, pred.shape[1], seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(lib, op, small_labels, small_pred)  # load lazily imported modules first
    del small_pred, small_labels
    gc.collect()
    reset = True
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        reset = False
    base_rss = _status_kib("VmRSS")
    base_hwm = _status_kib("VmHWM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = call(lib, op, labels, pred)
    hwm = _status_kib("VmHWM")
    del out
    # Without the reset, the high-water mark may predate the call: the
    # difference is then only a lower bound (reported as such).
    extra = hwm - base_rss if reset else max(0, hwm - base_hwm)
    print(json.dumps({"reset": reset, "base_rss_kib": base_rss, "base_hwm_kib": base_hwm,
                      "hwm_kib": hwm, "extra_kib": extra}))


def rss_extra(lib: str, op: str, path: str) -> dict:
    """Run :func:`rss_child` in a fresh interpreter and return its JSON."""
    cmd = [sys.executable, os.path.abspath(__file__), "--rss-child", lib, op, path]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ.copy())
    if res.returncode != 0:
        raise RuntimeError(f"RSS subprocess failed ({lib} {op}): {res.stderr.strip()[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# One configuration
# ---------------------------------------------------------------------------

def bench_config(n: int, k: int, *, repeats: int, cl_repeats: int, cl_fli_repeats: int,
                 rss_dir: str | None, log) -> dict:
    """Time, measure and check one (n, k) configuration; return a dict of results."""
    t_gen, (pred, labels, true) = timed(lambda: make_dataset(n, k))
    in_bytes = pred.nbytes
    log(f"[{n:,} x {k}] generated in {t_gen:.1f} s ({in_bytes / 2**20:.0f} MiB float32, "
        f"{int((labels != true).sum()):,} planted flips)")
    r: dict = {"n": n, "k": k, "input_bytes": in_bytes, "planted": int((labels != true).sum())}

    # Warm-up (imports, first-touch) outside the timings.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call("labelaudit", "fli", labels[:5000], pred[:5000])
        call("cleanlab", "fli", labels[:5000], pred[:5000])

    # labelaudit vs the numpy pass, alternately in one loop.
    tm = {"numpy_max": [], "la_cj": [], "la_scores": [], "la_fli": []}
    outs = {}
    for _ in range(repeats):
        t, _mx = timed(lambda: pred.max(axis=1))
        tm["numpy_max"].append(t)
        del _mx
        t, outs["la_cj"] = timed(lambda: call("labelaudit", "cj", labels, pred))
        tm["la_cj"].append(t)
        t, outs["la_scores"] = timed(lambda: call("labelaudit", "scores", labels, pred))
        tm["la_scores"].append(t)
        t, outs["la_fli"] = timed(lambda: call("labelaudit", "fli", labels, pred))
        tm["la_fli"].append(t)
    for key, vals in tm.items():
        r[key] = statistics.median(vals)
        r[key + "_all"] = vals
    log(f"  labelaudit fli {r['la_fli']:.3f} s, cj {r['la_cj']:.3f} s, scores "
        f"{r['la_scores']:.3f} s, numpy max {r['numpy_max']:.3f} s")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r["cl_cj"], r["cl_cj_all"], cl_cj = median_time(lambda: call("cleanlab", "cj", labels, pred),
                                                        cl_repeats)
        r["cl_scores"], r["cl_scores_all"], cl_scores = median_time(
            lambda: call("cleanlab", "scores", labels, pred), cl_repeats)
        r["cl_fli"], r["cl_fli_all"], cl_mask = median_time(
            lambda: call("cleanlab", "fli", labels, pred), cl_fli_repeats)
    log(f"  cleanlab   fli {r['cl_fli']:.3f} s, cj {r['cl_cj']:.3f} s, scores {r['cl_scores']:.3f} s")

    # Parity with cleanlab on the same matrices.
    la_mask = outs["la_fli"]
    r["mask_diff"] = int(np.count_nonzero(la_mask != cl_mask))
    r["la_issues"] = int(la_mask.sum())
    r["cl_issues"] = int(np.asarray(cl_mask).sum())
    r["cj_equal"] = bool(np.array_equal(outs["la_cj"], cl_cj))
    r["cj_max_abs_diff"] = int(np.abs(outs["la_cj"].astype(np.int64) - cl_cj.astype(np.int64)).max())
    r["scores_equal"] = bool(np.array_equal(outs["la_scores"], cl_scores))
    # Diagnosis: with cleanlab's calibrated joint supplied, do the masks agree?
    r["mask_diff_cl_joint"] = int(np.count_nonzero(
        call("labelaudit", "fli", labels, pred, confident_joint=cl_cj) != cl_mask))
    planted = labels != true
    hits = int(np.count_nonzero(la_mask & planted))
    r["precision"] = hits / max(1, r["la_issues"])
    r["recall"] = hits / max(1, r["planted"])
    del cl_cj, cl_scores, cl_mask

    # Threads, and masks identical across n_jobs x chunk_size.
    r["la_fli_j2"], r["la_fli_j2_all"], _ = median_time(
        lambda: call("labelaudit", "fli", labels, pred, n_jobs=2), repeats)
    identical = []
    for n_jobs in (1, 2, 3):
        for chunk in (1000, 4096, 65536):
            m = call("labelaudit", "fli", labels, pred, n_jobs=n_jobs, chunk_size=chunk)
            identical.append(bool(np.array_equal(m, la_mask)))
    r["det_runs"] = len(identical)
    r["det_identical"] = sum(identical)
    log(f"  n_jobs=2 fli {r['la_fli_j2']:.3f} s; masks identical in "
        f"{r['det_identical']}/{r['det_runs']} (n_jobs x chunk_size) runs: "
        f"{'OK' if all(identical) else 'FAIL'}")

    # Extra peak memory (tracemalloc), warnings silenced so they allocate nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lib, short in (("labelaudit", "la"), ("cleanlab", "cl")):
            for op in ("fli", "cj"):
                r[f"tm_{short}_{op}"] = traced_extra_bytes(lambda lib=lib, op=op: call(lib, op, labels, pred))
    log("  tracemalloc extra: " + ", ".join(
        f"{key[3:]} {r[key] / in_bytes * 100:.1f}%" for key in r if key.startswith("tm_")))

    if rss_dir is not None:
        path = os.path.join(rss_dir, f"input_{n}x{k}")
        np.save(path + "_pred.npy", pred)
        np.save(path + "_labels.npy", labels)
        for lib, short in (("labelaudit", "la"), ("cleanlab", "cl")):
            for op in ("fli", "cj"):
                r[f"rss_{short}_{op}"] = rss_extra(lib, op, path)
        os.remove(path + "_pred.npy")
        os.remove(path + "_labels.npy")
        log("  RSS HWM extra: " + ", ".join(
            f"{key[4:]} {r[key]['extra_kib'] * 1024 / in_bytes * 100:.1f}%"
            for key in r if key.startswith("rss_")))
    return r


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def _mib(b: float) -> str:
    return f"{b / 2**20:,.1f}"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to platform.processor())."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def simd_features() -> str:
    """SIMD extensions numpy dispatches to on this CPU (they can change tie orders)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # pragma: no cover - other numpy layouts
        return "unknown"
    wanted = ("AVX2", "AVX512F", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR")
    return ", ".join(f for f in wanted if feats.get(f)) or "none of AVX2/AVX512"


def render(results: list[dict], meta: dict) -> str:
    """Build the markdown report."""
    lines = ["## Confident-learning core: labelaudit vs cleanlab", ""]
    lines += [
        f"- Command: `{meta['command']}`",
        f"- Date (UTC): {meta['date']}",
        f"- CPU: {meta['cpu']} ({meta['cores']} cores available); load average at start "
        f"{meta['load_start']}, at end {meta['load_end']}",
        f"- Python {meta['python']}, numpy {meta['numpy']}, cleanlab {meta['cleanlab']}, "
        f"labelaudit {meta['labelaudit']} (OpenMP: {meta['openmp']})",
        f"- numpy SIMD features found: {meta['simd']}",
        f"- OPENBLAS_CORETYPE={meta['openblas_coretype']}, OPENBLAS_L2_SIZE={meta['openblas_l2']}, "
        f"OMP_NUM_THREADS={meta['omp']} (the timed operations do not call BLAS)",
        f"- Repeats: labelaudit and numpy {meta['repeats']}, cleanlab compute_confident_joint / "
        f"get_label_quality_scores {meta['cl_repeats']}, cleanlab find_label_issues "
        f"{meta['cl_fli_repeats']}; medians of runs in this process, on the same matrices",
        "- Data: float32 softmax-like rows, seed "
        f"{SEED}, {NOISE_RATE:.0%} planted label flips (half uniform, half to a partner class)",
        "- The machine is shared and noisy: compare ratios measured in the same run, not absolute times.",
        "",
        "### Time (median seconds, single thread)",
        "",
        "| N x K | operation | labelaudit | cleanlab | cleanlab / labelaudit | numpy `max(axis=1)` | labelaudit / numpy |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    names = {"fli": "find_label_issues (prune_by_noise_rate)", "cj": "compute_confident_joint",
             "scores": "get_label_quality_scores (self_confidence)"}
    for r in results:
        for op in ("fli", "cj", "scores"):
            la, cl = r[f"la_{op}"], r[f"cl_{op}"]
            lines.append(
                f"| {r['n']:,} x {r['k']} | {names[op]} | {la:.3f} | {cl:.3f} | {cl / la:.1f}x | "
                f"{r['numpy_max']:.3f} | {la / r['numpy_max']:.2f}x |"
            )
    lines += ["", "### Extra peak memory above the loaded input", "",
              "tracemalloc: peak minus level at the call's start (numpy buffers are traced). "
              "RSS: VmHWM minus VmRSS after loading the input in a fresh process (after a warm-up "
              "call on a tiny matrix), which also counts non-numpy allocations and page-granular "
              "overheads.", "",
              "| N x K | input MiB | function | labelaudit tracemalloc MiB (% input) | "
              "labelaudit RSS MiB (% input) | cleanlab tracemalloc MiB (% input) | cleanlab RSS MiB (% input) |",
              "|---|---:|---|---:|---:|---:|---:|"]
    for r in results:
        inb = r["input_bytes"]
        for op in ("fli", "cj"):
            cells = []
            for short in ("la", "cl"):
                tm = r[f"tm_{short}_{op}"]
                cells.append(f"{_mib(tm)} ({tm / inb * 100:.1f}%)")
                rss = r.get(f"rss_{short}_{op}")
                if rss is None:
                    cells.append("-")
                else:
                    b = rss["extra_kib"] * 1024
                    cells.append(f"{_mib(b)} ({b / inb * 100:.1f}%)")
            lines.append(f"| {r['n']:,} x {r['k']} | {_mib(inb)} | {names[op]} | " + " | ".join(cells) + " |")
    lines += ["", "### Threads and determinism (labelaudit find_label_issues)", "",
              "| N x K | n_jobs=1 s | n_jobs=2 s | speedup | masks identical over n_jobs {1,2,3} x chunk_size {1000,4096,65536} |",
              "|---|---:|---:|---:|---|"]
    for r in results:
        ok = r["det_identical"] == r["det_runs"]
        lines.append(
            f"| {r['n']:,} x {r['k']} | {r['la_fli']:.3f} | {r['la_fli_j2']:.3f} | "
            f"{r['la_fli'] / r['la_fli_j2']:.2f}x | {'OK' if ok else 'FAIL'} "
            f"({r['det_identical']}/{r['det_runs']}) |"
        )
    lines += ["", "### Parity with cleanlab on the same matrices", "",
              "Mask differences are also counted with cleanlab's calibrated confident joint "
              "passed to labelaudit (`confident_joint=`), which isolates the selection step.", "",
              "| N x K | mask differences | ... with cleanlab's joint | issues labelaudit / cleanlab | "
              "confident joint equal | scores equal | planted flips | precision / recall vs planted |",
              "|---|---:|---:|---:|---|---|---:|---:|"]
    for r in results:
        cj = "yes" if r["cj_equal"] else f"no (max abs diff {r['cj_max_abs_diff']})"
        lines.append(
            f"| {r['n']:,} x {r['k']} | {r['mask_diff']} | {r['mask_diff_cl_joint']} | "
            f"{r['la_issues']:,} / {r['cl_issues']:,} | "
            f"{cj} | {'yes' if r['scores_equal'] else 'no'} | {r['planted']:,} | "
            f"{r['precision']:.3f} / {r['recall']:.3f} |"
        )

    target = next((r for r in results if (r["n"], r["k"]) == TARGET_SHAPE), None)
    lines += ["", f"### Targets at {TARGET_SHAPE[0]:,} x {TARGET_SHAPE[1]} float32", ""]
    if target is None:
        lines.append("Not evaluated: the target configuration was not run (smoke run).")
    else:
        r = target
        inb = r["input_bytes"]
        rows = [
            ("find_label_issues: cleanlab / labelaudit (n_jobs=1)", f">= {TARGET_FLI_SPEEDUP:g}x",
             r["cl_fli"] / r["la_fli"], r["cl_fli"] / r["la_fli"] >= TARGET_FLI_SPEEDUP, "x"),
            ("compute_confident_joint: cleanlab / labelaudit", f">= {TARGET_CL_SPEEDUP:g}x",
             r["cl_cj"] / r["la_cj"], r["cl_cj"] / r["la_cj"] >= TARGET_CL_SPEEDUP, "x"),
            ("compute_confident_joint: labelaudit / numpy max pass", f"<= {TARGET_NUMPY_RATIO:g}x",
             r["la_cj"] / r["numpy_max"], r["la_cj"] / r["numpy_max"] <= TARGET_NUMPY_RATIO, "x"),
            ("get_label_quality_scores: cleanlab / labelaudit", f">= {TARGET_CL_SPEEDUP:g}x",
             r["cl_scores"] / r["la_scores"], r["cl_scores"] / r["la_scores"] >= TARGET_CL_SPEEDUP, "x"),
            ("get_label_quality_scores: labelaudit / numpy max pass", f"<= {TARGET_NUMPY_RATIO:g}x",
             r["la_scores"] / r["numpy_max"],
             r["la_scores"] / r["numpy_max"] <= TARGET_NUMPY_RATIO, "x"),
        ]
        for op in ("fli", "cj"):
            tm_pct = r[f"tm_la_{op}"] / inb * 100
            rows.append((f"{names[op]}: labelaudit extra peak memory (tracemalloc)",
                         f"<= {TARGET_MEMORY_PCT:g}% of input", tm_pct, tm_pct <= TARGET_MEMORY_PCT, "%"))
            rss = r.get(f"rss_la_{op}")
            if rss is not None:
                rss_pct = rss["extra_kib"] * 1024 / inb * 100
                rows.append((f"{names[op]}: labelaudit extra peak memory (RSS high-water mark)",
                             f"<= {TARGET_MEMORY_PCT:g}% of input", rss_pct,
                             rss_pct <= TARGET_MEMORY_PCT, "%"))
        lines += ["| target | required | measured | result |", "|---|---|---:|---|"]
        for name, req, val, ok, unit in rows:
            shown = f"{val:.2f}x" if unit == "x" else f"{val:.1f}%"
            lines.append(f"| {name} | {req} | {shown} | {_met(ok)} |")
        lines.append(
            f"| masks identical over n_jobs x chunk_size | all {r['det_runs']} | "
            f"{r['det_identical']}/{r['det_runs']} | {_met(r['det_identical'] == r['det_runs'])} |"
        )
        lines.append(f"| mask parity with cleanlab | 0 differences | {r['mask_diff']} | "
                     f"{_met(r['mask_diff'] == 0)} |")

    lines += ["", "### Raw timings (seconds)", ""]
    for r in results:
        parts = [f"{key[:-4]}=" + "/".join(f"{v:.3f}" for v in r[key])
                 for key in r if key.endswith("_all")]
        lines.append(f"- {r['n']:,} x {r['k']}: " + "; ".join(parts))
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse options, run the configurations, print and write the report."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--rss-child"]:
        rss_child(*argv[1:4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--out", default="reports/bench_core.md", help="markdown output file")
    parser.add_argument("--repeats", type=int, default=None, help="labelaudit and numpy repeats")
    parser.add_argument("--cl-repeats", type=int, default=None,
                        help="cleanlab repeats (confident joint, scores)")
    parser.add_argument("--cl-fli-repeats", type=int, default=None,
                        help="cleanlab find_label_issues repeats")
    parser.add_argument("--no-rss", action="store_true", help="skip the RSS subprocess cross-check")
    args = parser.parse_args(argv)

    import cleanlab

    import labelaudit
    from labelaudit import _core

    configs = QUICK_CONFIGS if args.quick else FULL_CONFIGS
    repeats = args.repeats or (3 if args.quick else 5)
    cl_repeats = args.cl_repeats or 3
    cl_fli_repeats = args.cl_fli_repeats or (1 if args.quick else 3)
    rss_shape = configs[0]

    env_prefix = " ".join(f"{v}={shlex.quote(os.environ[v])}" for v in ("PYTHONPATH",)
                          if v in os.environ)
    meta = {
        "command": (env_prefix + " " if env_prefix else "") + "python " + " ".join(
            shlex.quote(a) for a in [os.path.relpath(__file__), *argv]),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cleanlab": cleanlab.__version__,
        "labelaudit": labelaudit.__version__,
        "openmp": _core.have_openmp(),
        "simd": simd_features(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "openblas_l2": os.environ.get("OPENBLAS_L2_SIZE", "(unset)"),
        "omp": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "repeats": repeats,
        "cl_repeats": cl_repeats,
        "cl_fli_repeats": cl_fli_repeats,
    }

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    results = []
    with tempfile.TemporaryDirectory(prefix="bench_core_") as tmp:
        for n, k in configs:
            rss_dir = tmp if (n, k) == rss_shape and not args.no_rss else None
            gc.collect()  # free the previous configuration's matrices
            results.append(bench_config(n, k, repeats=repeats, cl_repeats=cl_repeats,
                                        cl_fli_repeats=cl_fli_repeats, rss_dir=rss_dir, log=log))
    meta["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report = render(results, meta)
    print(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    log(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
