"""Benchmark: ``labelaudit audit --pred-probs`` end to end against loading plus cleanlab.

What a user waits for: the whole command in a fresh interpreter (imports,
reading and validating the inputs, confident learning, the model checks, the
issues table, summary, report and every output written), on a 1,000,000 x 100
float32 ``.npy`` matrix with a Parquet labels table. The anchor, run in the
same benchmark and interleaved with it, is what the command replaces:
``np.load`` of the same file plus ``cleanlab.filter.find_label_issues`` with
its defaults, timed inside a fresh interpreter after cleanlab is imported (its
import time is left out, in cleanlab's favour).

Each repeat runs the anchor, then the command; medians and the median of the
per-repeat ratios are reported. Peak resident memory is the child process's
high-water mark (``ru_maxrss`` from ``wait4``); the input is the matrix file's
size. The outputs of the first and last repeats are compared (they must be
identical).

Usage::

    PYTHONPATH=src python benchmarks/bench_cli.py --rows 1000000 --classes 100 --repeat 5 \\
        --out reports/bench_cli.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _installed import compile_package  # noqa: E402
from bench_core import make_dataset  # noqa: E402

ANCHOR = """
import sys, time, numpy as np
from cleanlab.filter import find_label_issues
labels = np.load(sys.argv[2])
start = time.perf_counter()
probs = np.load(sys.argv[1])
mask = find_label_issues(labels, probs)
print(time.perf_counter() - start, int(mask.sum()))
"""


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and stdout of one child process (reaped with wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[:4]} failed ({proc.returncode}): {err.read().decode()[-2000:]}")
        return wall, int(usage.ru_maxrss), out.read().decode()


def same_outputs(a: Path, b: Path) -> bool:
    """summary.json (but paths and the run's date) and every Parquet file are equal."""
    import polars as pl

    def norm(path: Path) -> dict:
        doc = json.loads((path / "summary.json").read_text())
        doc.pop("outputs", None)
        doc.pop("date", None)  # when each run happened
        return json.loads(json.dumps(doc).replace(str(path), "<OUT>"))

    if norm(a) != norm(b):
        return False
    return all(pl.read_parquet(f).equals(pl.read_parquet(b / f.name))
               for f in sorted(a.glob("*.parquet")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="Where to write the inputs (default: a temp dir).")
    parser.add_argument("--out", default="reports/bench_cli.md")
    args = parser.parse_args(argv)

    import polars as pl

    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-cli-"))
    work.mkdir(parents=True, exist_ok=True)
    probs_path, labels_npy, table = work / "probs.npy", work / "labels.npy", work / "labels.parquet"
    probs, labels, _ = make_dataset(args.rows, args.classes)
    np.save(probs_path, probs)
    np.save(labels_npy, labels)
    pl.DataFrame({"id": np.arange(args.rows), "label": labels}).write_parquet(table)
    del probs
    input_mib = probs_path.stat().st_size / 2**20

    compile_package()  # as pip install leaves it (see _installed.py)
    env = dict(os.environ)
    cli = [sys.executable, "-m", "labelaudit", "audit", str(table), "--label-col", "label",
           "--id-col", "id", "--pred-probs", str(probs_path), "--out"]
    anchor = [sys.executable, "-c", ANCHOR, str(probs_path), str(labels_npy)]
    load_start = os.getloadavg()
    rows = []
    for r in range(args.repeat):
        a_wall, a_rss, a_out = run_measured(anchor, env)
        a_inner, cl_issues = a_out.split()
        out_dir = work / f"out{r}"
        shutil.rmtree(out_dir, ignore_errors=True)
        c_wall, c_rss, c_out = run_measured([*cli, str(out_dir)], env)
        rows.append({"anchor": float(a_inner), "anchor_process": a_wall, "anchor_rss": a_rss,
                     "cli": c_wall, "cli_rss": c_rss, "cl_issues": int(cl_issues)})
        print(f"repeat {r}: np.load + cleanlab {float(a_inner):.2f} s (process {a_wall:.2f} s), "
              f"labelaudit audit {c_wall:.2f} s, peak RSS {c_rss / 1024:.0f} MiB", flush=True)
    load_end = os.getloadavg()
    identical = same_outputs(work / "out0", work / f"out{args.repeat - 1}")
    summary = json.loads((work / "out0" / "summary.json").read_text())
    n_issues = summary["figures"].get("n_issues")

    med = {k: statistics.median(r[k] for r in rows) for k in ("anchor", "anchor_process", "cli")}
    ratio = statistics.median(r["cli"] / r["anchor"] for r in rows)
    rss = max(r["cli_rss"] for r in rows) / 1024
    extra = rss - input_mib
    lines = [
        "# `labelaudit audit` end to end vs np.load + cleanlab",
        "",
        f"- Command: `PYTHONPATH=src python benchmarks/bench_cli.py --rows {args.rows} "
        f"--classes {args.classes} --repeat {args.repeat} --out {args.out}`",
        f"- Date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs; load average at start "
        f"{' '.join(f'{x:.2f}' for x in load_start)}, at end {' '.join(f'{x:.2f}' for x in load_end)}",
        f"- Data: {args.rows:,} x {args.classes} float32 (`bench_core.make_dataset`, 10% planted "
        f"flips), {input_mib:.1f} MiB `.npy`; labels in a Parquet table with an `id` column",
        "- CLI: `labelaudit audit labels.parquet --label-col label --id-col id --pred-probs "
        "probs.npy --out DIR` in a fresh interpreter (wall time of the process)",
        "- Anchor: `np.load(probs.npy)` + `cleanlab.filter.find_label_issues(labels, probs)` "
        "(defaults), timed inside a fresh interpreter after its imports",
        f"- Repeats: {args.repeat}, anchor and CLI interleaved; medians; the ratio is the median "
        "of the per-repeat ratios",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| `labelaudit audit`, whole command (median s) | {med['cli']:.2f} |",
        f"| np.load + cleanlab `find_label_issues` (median s) | {med['anchor']:.2f} |",
        f"| ... the same as a whole process, with its imports (median s) | {med['anchor_process']:.2f} |",
        f"| labelaudit / (np.load + cleanlab), same repeat (median) | {ratio:.2f}x |",
        f"| peak RSS of `labelaudit audit` (max over repeats) | {rss:.0f} MiB |",
        f"| ... above the input ({input_mib:.0f} MiB) | {extra:.0f} MiB |",
        f"| issues: labelaudit / cleanlab | {n_issues:,} / {rows[0]['cl_issues']:,} |",
        f"| outputs of the first and last repeat identical | {'yes' if identical else 'NO'} |",
        "",
        "| target | required | measured | result |",
        "|---|---|---:|---|",
        f"| whole command | <= 3 s | {med['cli']:.2f} s | {'**met**' if med['cli'] <= 3 else 'not met'} |",
        f"| whole command / (np.load + cleanlab) | <= 0.6x | {ratio:.2f}x | "
        f"{'**met**' if ratio <= 0.6 else 'not met'} |",
        f"| peak RSS above the input | <= 300 MB ({300e6 / 2**20:.0f} MiB) | {extra:.0f} MiB | "
        f"{'**met**' if extra * 2**20 <= 300e6 else 'not met'} |",
        "",
        "Raw (s): " + "; ".join(
            f"cli {r['cli']:.2f} / anchor {r['anchor']:.2f} (process {r['anchor_process']:.2f}), "
            f"RSS {r['cli_rss'] / 1024:.0f} MiB" for r in rows),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
