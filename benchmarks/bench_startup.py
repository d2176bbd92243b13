"""Benchmark: start-up cost of ``import labelaudit`` and ``labelaudit --help``.

Each command runs ``--repeat`` times in a fresh interpreter (wall time of the
whole process, as a user waits for it); the medians are reported next to a bare
``python -c pass`` measured in the same run, with the heavy packages each
command loads (none are expected: they load when a command needs them).

Usage::

    PYTHONPATH=src python benchmarks/bench_startup.py --out reports/bench_startup.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _installed import compile_package  # noqa: E402

HEAVY = ("sklearn", "scipy", "matplotlib", "dask", "distributed", "jinja2")
PROBE = (
    "\nimport json, sys\n"
    f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
)
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "import labelaudit": ["-c", "import labelaudit"],
    "labelaudit --help": ["-m", "labelaudit", "--help"],
}
PROBES = {
    "import labelaudit": "import labelaudit",
    "labelaudit --help": (
        "import contextlib, io\nfrom labelaudit.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    run(['--help'])"
    ),
}


def wall(args: list[str], repeat: int) -> list[float]:
    """Wall seconds of ``repeat`` fresh interpreters running ``args``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return times


def heavy_loaded(code: str) -> list[str]:
    """Heavy top-level packages in ``sys.modules`` after running ``code``."""
    out = subprocess.run([sys.executable, "-c", code + PROBE], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    compile_package()  # as pip install leaves it (see _installed.py)
    load_start = os.getloadavg()
    rows = []
    for name, argv in COMMANDS.items():
        times = wall(argv, args.repeat)
        loaded = heavy_loaded(PROBES[name]) if name in PROBES else []
        rows.append((name, statistics.median(times), min(times), max(times), loaded))
    load_end = os.getloadavg()
    lines = [
        "## Start-up: `import labelaudit` and `labelaudit --help`",
        "",
        f"- Command: `PYTHONPATH=src python benchmarks/bench_startup.py --repeat {args.repeat}`",
        f"- Date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}",
        f"- Python {platform.python_version()}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in load_start)}, at end "
        f"{' '.join(f'{x:.2f}' for x in load_end)}",
        f"- Wall time of a fresh interpreter per run, median of {args.repeat}",
        "",
        "| command | median s | min s | max s | heavy packages loaded |",
        "|---|---:|---:|---:|---|",
    ]
    for name, med, lo, hi, loaded in rows:
        shown = ", ".join(loaded) if loaded else ("none" if name in PROBES else "-")
        lines.append(f"| `{name}` | {med:.3f} | {lo:.3f} | {hi:.3f} | {shown} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
