"""The reproducing command of every run: built by the CLI, rerun, same outputs; the run's date."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import labelaudit

CLASSES = ["ant", "bee", "cat"]
ANNOTATORS = ["a1", "a2", "a3", "a4"]
#: Fields of summary.json that describe when the run happened, not what it found.
WHEN = ("date",)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Items (features, a 'source' attribute), annotations with timestamps, a failing policy."""
    root = tmp_path_factory.mktemp("reproduce")
    rng = np.random.default_rng(3)
    n = 150
    truth = rng.integers(0, 3, n)
    given = np.where(rng.random(n) < 0.12, (truth + 1) % 3, truth)
    centers = rng.normal(0, 2.5, (3, 4))
    features = centers[truth] + rng.normal(0, 1, (n, 4))
    ids = [f"it{i:03d}" for i in range(n)]
    (root / "in put").mkdir()
    pl.DataFrame({
        "item": ids,
        "label": [CLASSES[g] for g in given],
        "source": rng.choice(["web", "scan", "phone"], n).tolist(),
        **{f"f{j}": features[:, j] for j in range(4)},
    }).write_csv(root / "in put" / "items.csv")
    rows = []
    for i in range(n):
        for a in rng.choice(len(ANNOTATORS), 3, replace=False):
            label = truth[i] if rng.random() < (0.9 if a else 0.55) else (truth[i] + 1) % 3
            rows.append({"item_id": ids[i], "annotator": ANNOTATORS[a], "label": CLASSES[label],
                         "when": f"2024-05-{1 + (i * 7 + int(a)) % 30:02d}T08:00:00"})
    pl.DataFrame(rows).write_csv(root / "in put" / "ann.csv")
    (root / "gate.toml").write_text("[gate]\nmax_noise_rate = 0.02\nmin_krippendorff_alpha = 0.2\n")
    return root


def _cli(args, cwd, **env):
    """Run the command line in a fresh interpreter (``python -m labelaudit``)."""
    full_env = {**os.environ, **env}
    # The labelaudit these tests import (the installed package, or the source tree).
    src = Path(labelaudit.__file__).resolve().parents[1]
    full_env["PYTHONPATH"] = os.pathsep.join([str(src), full_env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "labelaudit", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=600)


def _outputs(out: Path, junit: Path | None) -> dict:
    """Everything a run wrote, summary.json without the fields about when it ran."""
    files = {}
    for path in sorted(out.iterdir()):
        if path.suffix == ".parquet":
            files[path.name] = pl.read_parquet(path)
        elif path.name == "summary.json":
            summary = json.loads(path.read_text())
            files[path.name] = {k: v for k, v in summary.items() if k not in WHEN}
        elif path.name != "report.html":
            files[path.name] = path.read_text()
    if junit is not None:
        files["junit"] = junit.read_text()
    return files


def _rerun(command: str, cwd: Path):
    words = shlex.split(command)
    assert words[0] == "labelaudit"
    return _cli(words[1:], cwd)


def _assert_same(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name, value in first.items():
        if isinstance(value, pl.DataFrame):
            assert_frame_equal(value, second[name], check_exact=True)
        else:
            assert value == second[name], name


CASES = {
    "audit": (
        ["audit", "in put/items.csv", "--label-col", "label", "--id-col", "item",
         "--feature-cols", "f0,f1,f2,f3", "--annotations", "in put/ann.csv",
         "--annotation-time-col", "when", "--annotation-time-window", "2w",
         "--attribute", "source", "--min-slice-size", "20", "--policy", "gate.toml",
         "--junit", "gate results.xml", "--cv", "3", "--n-bootstrap", "40", "--seed", "7",
         "--csv", "--out", "out dir"],
        ["--annotations 'in put/ann.csv'", "--attribute source", "--junit 'gate results.xml'",
         "--annotation-time-col when", "--annotation-time-window 2w", "--policy gate.toml",
         "--feature-cols f0,f1,f2,f3", "--min-slice-size 20", "--csv", "--seed 7", "--cv 3"],
        "gate results.xml",
    ),
    "annotators": (
        ["annotators", "in put/ann.csv", "--time-col", "when", "--time-window", "1d",
         "--policy", "gate.toml", "--junit", "ann.xml", "--classes", "ant,bee,cat",
         "--consensus", "majority", "--out", "review out"],
        ["labelaudit annotators 'in put/ann.csv'", "--time-col when", "--time-window 1d",
         "--consensus majority", "--classes ant,bee,cat", "--junit ann.xml",
         "--out 'review out'"],
        "ann.xml",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rerunning_the_reproducing_command_gives_the_same_outputs(workdir, case):
    args, fragments, junit_name = CASES[case]
    first = _cli(args, workdir)
    assert first.returncode in (0, 1), first.stderr
    out = workdir / args[args.index("--out") + 1]
    junit = workdir / junit_name
    summary = json.loads((out / "summary.json").read_text())
    command = summary["reproduce"]
    for fragment in fragments:
        assert fragment in command, (fragment, command)
    assert "DATA" not in command and "--debug" not in command
    assert summary["parameters"]["command"] == case
    page = (out / "report.html").read_text()
    from markupsafe import escape

    assert str(escape(command)) in page  # the report shows the same command
    before = _outputs(out, junit)
    for path in out.iterdir():
        path.unlink()
    out.rmdir()
    junit.unlink()
    again = _rerun(command, workdir)
    assert again.returncode == first.returncode, again.stderr  # the same gate result
    _assert_same(before, _outputs(out, junit))
    assert json.loads((out / "summary.json").read_text())["reproduce"] == command


def test_the_report_shows_the_run_date_and_source_date_epoch_fixes_it(workdir):
    args = ["annotators", "in put/ann.csv", "--out", "dated"]
    before = datetime.now(tz=timezone.utc).replace(microsecond=0)
    run = _cli(args, workdir)
    after = datetime.now(tz=timezone.utc)
    assert run.returncode == 0, run.stderr
    summary = json.loads((workdir / "dated" / "summary.json").read_text())
    when = datetime.fromisoformat(summary["date"].replace("Z", "+00:00"))
    assert before <= when <= after
    page = (workdir / "dated" / "report.html").read_text()
    assert "not recorded" not in page
    assert f"<dd>{when.strftime('%Y-%m-%d %H:%M')} UTC</dd>" in page

    pages = []
    for name in ("fixed1", "fixed2"):
        run = _cli(["annotators", "in put/ann.csv", "--out", name], workdir,
                   SOURCE_DATE_EPOCH="1700000000")
        assert run.returncode == 0, run.stderr
        pages.append((workdir / name / "report.html").read_text())
        assert json.loads((workdir / name / "summary.json").read_text())["date"] == (
            "2023-11-14T22:13:20Z")
    assert "<dd>2023-11-14 22:13 UTC</dd>" in pages[0]
    # Byte-identical but for the output directory named in the reproducing command.
    assert pages[0].replace("fixed1", "fixed2") == pages[1]
    bad = _cli(["annotators", "in put/ann.csv", "--out", "bad"], workdir,
               SOURCE_DATE_EPOCH="yesterday")
    assert bad.returncode == 2 and "SOURCE_DATE_EPOCH" in bad.stderr
    assert not (workdir / "bad").exists()
