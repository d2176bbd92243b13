"""Fault injection: outputs stay one whole set under kill -9, Ctrl-C, full or read-only disks
and concurrent runs.

Each case starts from the complete outputs of run A (``--csv --attribute``, a failing gate,
JUnit) in a folder and publishes run B (no CSV, no slices, a passing gate) over them, then
checks that the folder holds exactly A's files or exactly B's, byte for byte, that the JUnit
file never reports on a set that was not published, and that the next run leaves nothing
behind. Runs are killed at every file-system step of publishing (labelaudit's test-only
fault hook) and at random instants, in forked children (``_fault_driver.py``) so that each
kill costs a run, not an interpreter start.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import labelaudit
from labelaudit.cli import run
from labelaudit.exceptions import OutputError
from labelaudit.io import output_lock, publish
from labelaudit.io import writers as writers_module

DRIVER = Path(__file__).with_name("_fault_driver.py")
SRC = Path(labelaudit.__file__).resolve().parents[1]
N_RANDOM_PUBLISH = 20  # per publishing scenario
N_RANDOM_CLI = 6
SEP = os.sep


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _fixed_date():
    """Runs record their date; fix it so that two runs of one command write the same bytes."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1767225600")
        yield


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small dataset, its probabilities, a failing and a passing gate."""
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    n = 90
    truth = rng.integers(0, 3, n)
    given = np.where(rng.random(n) < 0.15, (truth + 1) % 3, truth)
    logits = rng.normal(0.0, 1.0, (n, 3))
    logits[np.arange(n), truth] += 2.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    ids = [f"i{i:03d}" for i in range(n)]
    pl.DataFrame({"id": ids, "label": np.array(["a", "b", "c"])[given],
                  "grp": ["x", "y", "z"] * (n // 3)}).write_csv(root / "data.csv")
    pl.DataFrame({"id": ids, **{c: probs[:, j] for j, c in enumerate("abc")}}).write_csv(
        root / "probs.csv")
    (root / "fail.toml").write_text("[gate]\nmax_noise_rate = 0.01\n")
    (root / "pass.toml").write_text("[gate]\nmax_noise_rate = 0.99\n")
    return root


def _args(inputs: Path, which: str, out: str = "out", junit: str = "gate.xml") -> list[str]:
    common = ["audit", str(inputs / "data.csv"), "--label-col", "label", "--id-col", "id",
              "--pred-probs", str(inputs / "probs.csv"), "--n-bootstrap", "20",
              "--out", out, "--junit", junit]
    if which == "A":
        return [*common, "--policy", str(inputs / "fail.toml"), "--csv", "--attribute", "grp"]
    return [*common, "--policy", str(inputs / "pass.toml"), "--seed", "1"]


@pytest.fixture(scope="module")
def refs(inputs, tmp_path_factory):
    """The outputs of run A and of run B, each made in a folder of its own as ``out``."""
    refs = {}
    for which, code in (("A", 1), ("B", 0)):
        work = tmp_path_factory.mktemp(f"ref{which}")
        with contextlib.chdir(work):
            assert run(_args(inputs, which)) == code
        refs[which] = {"dir": work, **_state(work)}
    a, b = refs["A"], refs["B"]
    assert {"issues.csv", "slices.parquet"} <= set(a["out"]) - set(b["out"])
    assert a["junit"] != b["junit"] and a["out"]["summary.json"] != b["out"]["summary.json"]
    return refs


def _state(work: Path) -> dict:
    out, junit = work / "out", work / "gate.xml"
    return {
        "out": {p.name: p.read_bytes() for p in out.iterdir()} if out.exists() else None,
        "junit": junit.read_bytes() if junit.exists() else None,
        "others": sorted(set(os.listdir(work)) - {"out", "gate.xml"}),
    }


def _prepare(work: Path, ref: dict | None) -> Path:
    work.mkdir(parents=True)
    if ref is not None:
        shutil.copytree(ref["dir"] / "out", work / "out")
        shutil.copy2(ref["dir"] / "gate.xml", work / "gate.xml")
    return work


def _drive(jobs: list[dict], tmp: Path, name: str) -> list[dict]:
    plan, results = tmp / f"{name}-plan.json", tmp / f"{name}-results.json"
    plan.write_text(json.dumps({"jobs": jobs}))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, str(DRIVER), str(plan), str(results)], env=env,
                   check=True, timeout=1500)
    return json.loads(results.read_text())


def _publish_job(refs: dict, new: str, work: Path, **fault) -> dict:
    out = refs[new]["dir"] / "out"
    names = sorted(refs[new]["out"], key=lambda n: (n == "summary.json", n))  # summary last
    return {"kind": "publish", "cwd": str(work), "out": "out",
            "files": [[n, str(out / n)] for n in names],
            "extra": [["gate.xml", str(refs[new]["dir"] / "gate.xml")]],
            "stderr": str(work.with_suffix(".err")), **fault}


def _cli_job(inputs: Path, new: str, work: Path, **fault) -> dict:
    return {"kind": "cli", "cwd": str(work), "args": _args(inputs, new),
            "stderr": str(work.with_suffix(".err")), **fault}


def _commit_index(steps: list[str]) -> int:
    """1-based index of the last step before which the previous set is still in place."""
    return max(i for i, s in enumerate(steps, 1) if s in ("swap", "swap second rename"))


# Scenarios: (name, previous set, new set, kind, use the two-rename fallback)
SCENARIOS = [
    ("exchange A->B", "A", "B", "publish", False),
    ("exchange B->A", "B", "A", "publish", False),
    ("fresh ->A", None, "A", "publish", False),
    ("fallback A->B", "A", "B", "publish", True),
    ("cli A->B", "A", "B", "cli", False),
]


@pytest.fixture(scope="module")
def faults(inputs, refs, tmp_path_factory):
    """Every kill and interrupt, run once for the module: a list of case records."""
    tmp = tmp_path_factory.mktemp("faults")

    def job(kind, old, new, work, **fault):
        _prepare(work, None if old is None else refs[old])
        if kind == "cli":
            return _cli_job(inputs, new, work, **fault)
        return _publish_job(refs, new, work, **fault)

    # 1. A clean run of each scenario: its steps and how long publishing takes.
    counts = _drive([job(kind, old, new, tmp / f"count{i}", no_exchange=fb)
                     for i, (_, old, new, kind, fb) in enumerate(SCENARIOS)], tmp, "count")
    cases, jobs = [], []
    rng = random.Random(15)
    for i, ((name, old, new, kind, fb), count) in enumerate(zip(SCENARIOS, counts, strict=True)):
        assert count["signal"] is None and count["code"] in (0, 1), count["stderr"]
        assert _state(tmp / f"count{i}")["out"] == refs[new]["out"]
        steps = count["steps"]
        first = steps.index("create run folder") + 1 if kind == "cli" else 1
        for n in range(first, len(steps) + 1):  # 2. kill -9 at every step of publishing
            cases.append({"scenario": name, "old": old, "new": new, "fault": "kill_at", "n": n,
                          "label": steps[n - 1], "commit": _commit_index(steps), "steps": steps})
            jobs.append(job(kind, old, new, tmp / f"k{len(jobs)}", kill_at=n, no_exchange=fb))
        n_random = N_RANDOM_CLI if kind == "cli" else N_RANDOM_PUBLISH
        for _ in range(n_random):  # 3. kill -9 at random instants while publishing
            delay = rng.uniform(0.0, count["publish_seconds"])
            cases.append({"scenario": name, "old": old, "new": new, "fault": "kill_after",
                          "delay": delay, "steps": steps})
            jobs.append(job(kind, old, new, tmp / f"k{len(jobs)}", kill_after=delay,
                            no_exchange=fb))
        if i == 0:  # 4. Ctrl-C at every step of publishing
            for n in range(1, len(steps) + 1):
                cases.append({"scenario": name, "old": old, "new": new, "fault": "interrupt_at",
                              "n": n, "label": steps[n - 1], "commit": _commit_index(steps)})
                jobs.append(job(kind, old, new, tmp / f"k{len(jobs)}", interrupt_at=n))
        if kind == "cli":  # 5. Ctrl-C of the command line while staging, at the swap, after
            staging = steps.index("create run folder") + 3
            for n in (staging, steps.index("swap") + 1, len(steps)):
                cases.append({"scenario": name, "old": old, "new": new, "fault": "cli_interrupt",
                              "n": n, "label": steps[n - 1], "commit": _commit_index(steps)})
                jobs.append(job(kind, old, new, tmp / f"k{len(jobs)}", interrupt_at=n))
    results = _drive(jobs, tmp, "faults")
    for case, job_, result in zip(cases, jobs, results, strict=True):
        work = Path(job_["cwd"])
        case["result"] = result
        case["after_kill"] = _state(work)
        with output_lock(work / "out"):  # what the next run does first
            pass
        case["after_next_run"] = _state(work)
    return cases


def _desc(case: dict) -> str:
    """A short description of a case for assertion messages."""
    result = case.get("result") or {}
    where = case.get("label", f"{case.get('delay', 0):.4f} s")
    return (f"{case['scenario']}: {case['fault']} {case.get('n', '')} ({where}); "
            f"signal {result.get('signal')}, code {result.get('code')}, "
            f"stderr {result.get('stderr', '')[-300:]!r}; after: {case['after_kill']['others']}")


def _expected(case: dict, refs: dict, published: bool) -> tuple:
    ref = refs[case["new"]] if published else (refs[case["old"]] if case["old"] else None)
    return (None, None) if ref is None else (ref["out"], ref["junit"])


def _between_fallback_renames(case: dict) -> bool:
    """Whether a kill fell between the two renames of the fallback swap.

    There, and only there, the folder is briefly absent: the previous set has moved aside and
    the new one is not yet in place; both stand beside it, and the next run restores one.
    """
    state = case["after_kill"]
    if state["out"] is not None or case["scenario"] != "fallback A->B":
        return False
    if case["fault"] == "kill_at":
        return case["label"] == "swap second rename"
    others = state["others"]
    return (any(o.startswith(".out.labelaudit-old-") for o in others)
            and any(o.startswith(".out.labelaudit-run-") for o in others))


def _check_never_mixed(case: dict, refs: dict) -> bool:
    """Assert the invariants after a kill; returns whether the new set was published."""
    state, later = case["after_kill"], case["after_next_run"]
    old = _expected(case, refs, False)
    new = _expected(case, refs, True)
    assert state["out"] in (old[0], new[0]) or _between_fallback_renames(case), _desc(case)
    assert state["junit"] in (old[1], new[1]), _desc(case)
    # The JUnit file never reports on a set that is not the folder's.
    if state["junit"] == new[1] and new[1] != old[1]:
        assert state["out"] == new[0], _desc(case)
    # The next run on the folder finishes or undoes the killed one and leaves nothing behind.
    published = later["out"] == new[0]
    assert (later["out"], later["junit"]) == (new if published else old), _desc(case)
    assert later["others"] == [], _desc(case)
    return published


def test_kill_9_at_every_step_never_leaves_a_mixed_or_partial_set(faults, refs):
    kills = [c for c in faults if c["fault"] == "kill_at"]
    assert len(kills) >= 120
    for case in kills:
        assert case["result"]["signal"] == signal.SIGKILL, _desc(case)
        published = _check_never_mixed(case, refs)
        # Killed before the swap: the previous set; after it: the new one.
        assert published == (case["n"] > case["commit"]), _desc(case)
        if case["n"] <= case["commit"] and case["label"] != "swap second rename":
            assert _expected(case, refs, False) == (case["after_kill"]["out"],
                                                    case["after_kill"]["junit"]), _desc(case)


def test_only_the_step_between_the_swap_and_the_junit_rename_leaves_the_junit_behind(
        faults, refs):
    lagging = [c for c in faults if c["fault"] == "kill_at"
               and c["after_kill"]["out"] == _expected(c, refs, True)[0]
               and c["after_kill"]["junit"] != _expected(c, refs, True)[1]]
    assert lagging, "no kill point fell between the swap and the JUnit rename"
    for case in lagging:
        assert case["label"] == "rename gate.xml", _desc(case)
        assert case["after_next_run"]["junit"] == _expected(case, refs, True)[1]


def test_the_fallback_swap_leaves_no_folder_only_between_its_two_renames(faults, refs):
    fallback = [c for c in faults if c["scenario"] == "fallback A->B" and c["fault"] == "kill_at"]
    assert "swap second rename" in fallback[0]["steps"]
    missing = [c["label"] for c in fallback if c["after_kill"]["out"] is None]
    assert missing == ["swap second rename"]


def test_kill_9_at_random_instants_never_leaves_a_mixed_or_partial_set(faults, refs):
    randoms = [c for c in faults if c["fault"] == "kill_after"]
    assert len(randoms) == 4 * N_RANDOM_PUBLISH + N_RANDOM_CLI
    outcomes = {True: 0, False: 0}
    for case in randoms:
        assert case["result"]["signal"] in (signal.SIGKILL, None), _desc(case)
        outcomes[_check_never_mixed(case, refs)] += 1
    assert outcomes[False] > 0  # some kills did land before the swap


def test_two_hundred_kill_points_over_runs(faults):
    kills = [c for c in faults if c["fault"] in ("kill_at", "kill_after")]
    by_kind = {k: sum(c["fault"] == k for c in faults) for k in
               ("kill_at", "kill_after", "interrupt_at", "cli_interrupt")}
    print(f"fault cases: {by_kind}")
    assert len(kills) >= 200
    assert {c["scenario"] for c in kills} == {s[0] for s in SCENARIOS}


def test_ctrl_c_at_every_step_gives_the_previous_set_or_the_whole_new_one(faults, refs):
    interrupts = [c for c in faults if c["fault"] == "interrupt_at"]
    assert len(interrupts) >= 25
    for case in interrupts:
        assert case["result"]["code"] == 130, _desc(case)
        published = case["result"]["published"] == 1
        # Ctrl-C is held back from the swap to the JUnit rename: never a mix, even before
        # the next run tidies up.
        assert published == (case["n"] >= case["commit"]), _desc(case)
        state = case["after_kill"]
        assert (state["out"], state["junit"]) == _expected(case, refs, published), _desc(case)
        assert _check_never_mixed(case, refs) == published


def test_ctrl_c_of_the_command_line_says_truly_what_was_written(faults, refs):
    interrupts = [c for c in faults if c["fault"] == "cli_interrupt"]
    assert [c["n"] > c["commit"] or c["label"] == "swap" for c in interrupts] == [
        False, True, True]
    for case in interrupts:
        result, state = case["result"], case["after_kill"]
        assert result["code"] == 130, _desc(case)
        lines = result["stderr"].strip().splitlines()
        assert len(lines) == 1, result["stderr"]
        published = case["n"] >= case["commit"]
        expected = ("labelaudit: interrupted after the new outputs were published in full"
                    if published else "labelaudit: interrupted; no output was replaced")
        assert lines[0] == expected
        assert (state["out"], state["junit"]) == _expected(case, refs, published)
        if not published:
            assert state["others"] == []  # an interrupted run cleans up after itself


# --------------------------------------------------------------------------- failures


def _publish_steps(refs: dict, work: Path) -> list[str]:
    steps: list[str] = []
    with _hook(steps.append), contextlib.chdir(work):
        _publish_b(refs)
    return steps


@contextlib.contextmanager
def _hook(fn):
    writers_module._FAULT_HOOK = fn
    try:
        yield
    finally:
        writers_module._FAULT_HOOK = None


def _publish_b(refs: dict) -> None:
    b = refs["B"]
    names = sorted(b["out"], key=lambda n: (n == "summary.json", n))
    files = [(n, lambda p, d=b["out"][n]: p.write_bytes(d)) for n in names]
    publish("out", files, extra=[("gate.xml", b["junit"].decode())])


def test_a_failure_at_any_step_names_the_path_and_keeps_the_previous_set(refs, tmp_path):
    steps = _publish_steps(refs, _prepare(tmp_path / "count", refs["A"]))
    commit = _commit_index(steps)
    for n in range(1, len(steps) + 1):
        work = _prepare(tmp_path / f"f{n}", refs["A"])
        calls = []

        def fail(label, n=n, calls=calls):
            calls.append(label)
            if len(calls) == n:
                raise OSError(errno.ENOSPC, "No space left on device")

        with _hook(fail), contextlib.chdir(work):
            if n <= commit:
                with pytest.raises(OutputError) as info:
                    _publish_b(refs)
                message = str(info.value)
                assert "No space left on device" in message and "\n" not in message
                assert re.search(r"'(out(/[^']+)?|gate\.xml)'", message), message
                # Nothing changed, nothing left behind (not even the lock file).
                assert _state(work) == {**_state(refs["A"]["dir"]), "others": []}, steps[n - 1]
            elif steps[n - 1] == "rename gate.xml":
                with pytest.raises(OutputError, match=r"published 'out', but cannot replace "
                                                      r"'gate.xml': No space left on device"):
                    _publish_b(refs)
                assert _state(work)["out"] == refs["B"]["out"]
                with output_lock("out"):  # the next run completes the rename
                    pass
                assert _state(work) == {**_state(refs["B"]["dir"]), "others": []}
            else:  # tidying up after the swap: the new set stands, leftovers go next run
                _publish_b(refs)
                assert _state(work)["out"] == refs["B"]["out"], steps[n - 1]
                with output_lock("out"):
                    pass
                assert _state(work) == {**_state(refs["B"]["dir"]), "others": []}


def test_a_junit_target_that_is_a_folder_changes_nothing(refs, tmp_path):
    work = _prepare(tmp_path / "w", refs["A"])
    (work / "gate.xml").unlink()
    (work / "gate.xml").mkdir()
    with contextlib.chdir(work), pytest.raises(OutputError,
                                               match=r"^cannot write 'gate.xml': it is a folder$"):
        _publish_b(refs)
    assert {p.name: p.read_bytes() for p in (work / "out").iterdir()} == refs["A"]["out"]
    assert sorted(os.listdir(work)) == ["gate.xml", "out"] and not os.listdir(work / "gate.xml")


@contextlib.contextmanager
def _tmpfs(path: Path, size: str):
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def _fill(disk: Path, leave: int) -> None:
    """Fill the file system of ``disk``, leaving about ``leave`` bytes free."""
    with open(disk / "filler", "wb", buffering=0) as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    if leave:
        with open(disk / "filler", "r+b") as fh:
            fh.truncate(max(0, (disk / "filler").stat().st_size - leave))


def _run_cli(capsys, args):
    code = run(args)
    captured = capsys.readouterr()
    return code, captured.err


def test_disk_full_names_the_path_and_keeps_the_previous_outputs(inputs, capsys, tmp_path):
    with _tmpfs(tmp_path / "disk", "1m") as disk, contextlib.chdir(disk):
        assert _run_cli(capsys, _args(inputs, "A"))[0] == 1
        before = _state(disk)
        for leave in (0, 24 * 1024):  # full, then room for some files of the set but not all
            _fill(disk, leave)
            code, err = _run_cli(capsys, _args(inputs, "B"))
            assert code == 2
            assert len(err.strip().splitlines()) == 1, err
            found = re.fullmatch(r"labelaudit: error: (?:cannot write '([^']+)'|cannot lock "
                                 r"output folder '(out)'): No space left on device"
                                 r"(?: \('[^']+\.out\.labelaudit-lock'\))?\n", err)
            assert found, err
            named = found.group(1) or found.group(2)
            assert named == "out" or named.startswith(f"out{SEP}") or named == "gate.xml"
            if leave:
                assert named != "out", err  # some files fitted: the one that did not is named
            assert _state(disk) == {**before, "others": ["filler"]}
            # A fresh folder is not created on a full disk.
            code, err = _run_cli(capsys, _args(inputs, "B", out="fresh", junit="fresh.xml"))
            assert code == 2 and "No space left on device" in err
            assert sorted(os.listdir(disk)) == ["filler", "gate.xml", "out"]
            (disk / "filler").unlink()


def test_read_only_file_system_names_the_path_and_keeps_the_previous_outputs(inputs, capsys,
                                                                            tmp_path):
    with _tmpfs(tmp_path / "disk", "4m") as disk:
        with contextlib.chdir(disk):
            assert _run_cli(capsys, _args(inputs, "A"))[0] == 1
        before = _state(disk)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with contextlib.chdir(disk):
            code, err = _run_cli(capsys, _args(inputs, "B"))
        assert code == 2
        assert re.fullmatch(r"labelaudit: error: cannot lock output folder 'out': Read-only "
                            r"file system \('[^']+\.out\.labelaudit-lock'\)\n", err), err
        assert _state(disk) == before


# --------------------------------------------------------------------------- concurrent runs


def _cli_process(inputs, which, cwd):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen([sys.executable, "-m", "labelaudit", *_args(inputs, which)],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def test_a_second_run_into_a_locked_folder_stops_with_one_line(inputs, refs, tmp_path):
    work = _prepare(tmp_path / "w", refs["A"])
    with output_lock(work / "out"):
        proc = _cli_process(inputs, "B", work)
        _, err = proc.communicate(timeout=600)
    assert proc.returncode == 2
    assert err == (f"labelaudit: error: output folder 'out' is being written by another "
                   f"labelaudit run (pid {os.getpid()}); wait for it to finish or give another "
                   "folder\n")
    assert _state(work) == {**_state(refs["A"]["dir"]), "others": []}


def test_concurrent_runs_never_mix(inputs, refs, tmp_path):
    work = _prepare(tmp_path / "w", refs["A"])
    procs = {which: _cli_process(inputs, which, work) for which in ("A", "B")}
    errs = {which: p.communicate(timeout=600)[1] for which, p in procs.items()}
    codes = {which: p.returncode for which, p in procs.items()}
    assert sorted(codes.values()) in ([0, 1], [0, 2], [1, 2]), errs
    for which, code in codes.items():
        if code == 2:
            # The pid is named unless the holder had not written it yet.
            assert re.fullmatch(r"labelaudit: error: output folder 'out' is being written by "
                                r"another labelaudit run(?: \(pid \d+\))?; wait for it to "
                                r"finish or give another folder\n", errs[which]), errs[which]
    state = _state(work)
    assert state["others"] == []
    # One whole set, the JUnit file with it: the last run to publish.
    assert (state["out"], state["junit"]) in [(r["out"], r["junit"]) for r in refs.values()]


# --------------------------------------------------------------------------- what is replaced


def test_foreign_files_are_refused_and_kept(inputs, refs, tmp_path, capsys):
    work = _prepare(tmp_path / "w", refs["A"])
    (work / "out" / "notes.txt").write_text("mine")
    with contextlib.chdir(work):
        code, err = _run_cli(capsys, _args(inputs, "B"))
    assert code == 2
    assert err == ("labelaudit: error: output folder 'out' holds 'notes.txt', which is not part "
                   "of a labelaudit output set there (its summary.json does not list it); "
                   "labelaudit replaces the whole folder, so give a new or empty folder\n")
    assert _state(work)["out"] == {**refs["A"]["out"], "notes.txt": b"mine"}


def test_a_rerun_drops_the_files_the_new_run_does_not_write(inputs, refs, tmp_path, capsys):
    work = _prepare(tmp_path / "w", refs["A"])
    with contextlib.chdir(work):
        assert _run_cli(capsys, _args(inputs, "B"))[0] == 0
    state = _state(work)
    assert state == {**_state(refs["B"]["dir"]), "others": []}
    listed = json.loads(state["out"]["summary.json"])["outputs"]["files"]
    assert sorted(listed) == sorted(state["out"])


def test_a_symlinked_output_folder_is_published_where_it_points(inputs, refs, tmp_path, capsys):
    work = _prepare(tmp_path / "w", refs["A"])
    (work / "real").mkdir()
    os.rename(work / "out", work / "real" / "out")
    (work / "out").symlink_to(work / "real" / "out")
    with contextlib.chdir(work):
        assert _run_cli(capsys, _args(inputs, "B"))[0] == 0
    assert (work / "out").is_symlink()
    assert _state(work)["out"] == refs["B"]["out"]
    assert os.listdir(work / "real") == ["out"]


@pytest.mark.parametrize("command", ["sample", "verify"])
def test_review_commands_refuse_to_replace_the_audit_they_read(refs, tmp_path, capsys, command):
    work = _prepare(tmp_path / "w", refs["A"])
    audit_dir = work / "out"
    args = ([command, audit_dir, "--out", audit_dir, "--size", "5"] if command == "sample" else
            [command, audit_dir, work / "reviews.csv", "--out", audit_dir])
    code, err = _run_cli(capsys, [str(a) for a in args])
    assert code == 2
    assert err == (f"labelaudit: error: --out '{audit_dir}' is the audit directory, whose "
                   "outputs it would replace; give another folder\n")
    assert _state(work) == {**_state(refs["A"]["dir"]), "others": []}


def test_leftovers_of_the_previous_file_by_file_publishing_are_removed(inputs, refs, tmp_path,
                                                                       capsys):
    work = _prepare(tmp_path / "w", refs["A"])
    (work / "out" / ".labelaudit-staging-k3j2").mkdir()
    (work / "out" / ".labelaudit-staging-k3j2" / "issues.parquet").write_bytes(b"PAR1")
    (work / "out" / ".summary.json.0123456789ab.tmp").write_text("{")
    with contextlib.chdir(work):
        assert _run_cli(capsys, _args(inputs, "B"))[0] == 0
    assert _state(work) == {**_state(refs["B"]["dir"]), "others": []}


def test_the_fault_hook_is_unset_in_normal_use():
    assert writers_module._FAULT_HOOK is None


def test_a_folder_named_like_an_output_is_refused_and_kept(inputs, refs, tmp_path, capsys):
    work = _prepare(tmp_path / "w", refs["A"])
    (work / "out" / "issues.parquet").unlink()
    (work / "out" / "issues.parquet").mkdir()
    (work / "out" / "issues.parquet" / "part-0.parquet").write_bytes(b"PAR1")
    with contextlib.chdir(work):
        code, err = _run_cli(capsys, _args(inputs, "B"))
    assert code == 2
    assert err == ("labelaudit: error: output folder 'out' holds a folder 'issues.parquet' where "
                   "labelaudit writes a file; move it, or give a new or empty folder\n")
    assert (work / "out" / "issues.parquet" / "part-0.parquet").read_bytes() == b"PAR1"
    assert sorted(os.listdir(work / "out")) == sorted(refs["A"]["out"])
    assert (work / "gate.xml").read_bytes() == refs["A"]["junit"]
    assert sorted(os.listdir(work)) == ["gate.xml", "out"]


def test_a_failed_run_into_a_new_nested_folder_leaves_no_folder_behind(refs, tmp_path):
    def fail(label):
        if label == "create run folder":
            raise OSError(errno.ENOSPC, "No space left on device")

    with _hook(fail), contextlib.chdir(tmp_path), pytest.raises(
            OutputError, match=r"^cannot write 'a/b/out': No space left on device$"):
        publish("a/b/out", {"notes.txt": "x"})
    assert os.listdir(tmp_path) == []
    with contextlib.chdir(tmp_path):
        publish("a/b/out", {"notes.txt": "x"})
    assert os.listdir(tmp_path / "a" / "b") == ["out"]
