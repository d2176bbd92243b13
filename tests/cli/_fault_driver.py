"""Run jobs in forked children and kill or interrupt them at chosen points (fault tests).

Usage: ``python _fault_driver.py PLAN.json RESULTS.json``. The parent imports
labelaudit and the libraries a run needs once, without using them (a child
forked after polars or OpenMP ran could hang), then forks one child per job.

A job is a JSON object:

``kind``
    ``"cli"`` (``args``: the command line, run by :func:`labelaudit.cli.run`) or
    ``"publish"`` (``files``: ``[name, path]`` pairs whose bytes form the set,
    ``extra``: ``[path, text_path]`` pairs, ``out``: the folder).
``cwd``
    Folder the child works in.
``kill_at`` / ``interrupt_at`` / ``fail_at``
    1-based index of the file-system step of publishing (labelaudit's fault
    hook) at which the child sends itself SIGKILL, sends itself SIGINT, or
    raises ``OSError(ENOSPC)``.
``kill_after``
    Seconds after the run folder is created at which the parent sends SIGKILL.
``no_exchange``
    Use the two-rename fallback instead of ``renameat2``.

The result of each job: ``signal`` (the signal that ended the child, or
None), ``code`` (its exit code), ``steps`` (the labels of the steps it went
through, when it was not killed), ``published`` (how many sets it published),
``publish_seconds`` (from the run folder's creation to the child's end) and
``stderr``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time

sys.path[:] = [os.path.abspath(p) for p in sys.path]

import labelaudit.cli as cli  # noqa: E402
import labelaudit.io.writers as writers  # noqa: E402

for _module in ("numpy", "polars", "sklearn.linear_model", "scipy.stats", "matplotlib.pyplot",
                "jinja2", "rich.console", "labelaudit.audit", "labelaudit.report",
                "labelaudit.slices", "labelaudit.gate", "labelaudit.summary"):
    __import__(_module)

TIMEOUT = 300.0
PUBLISH_STARTS = "create run folder"


def _child(job: dict, pipe: int) -> int:
    steps: list[str] = []

    def hook(label: str) -> None:
        steps.append(label)
        if label == PUBLISH_STARTS:
            os.write(pipe, b"S")
        n = len(steps)
        if job.get("kill_at") == n:
            os.kill(os.getpid(), signal.SIGKILL)
        if job.get("interrupt_at") == n:
            os.kill(os.getpid(), signal.SIGINT)
        if job.get("fail_at") == n:
            raise OSError(28, "No space left on device")

    writers._FAULT_HOOK = hook
    if job.get("no_exchange"):
        writers._RENAMEAT2 = None
    os.chdir(job["cwd"])
    err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(err, 2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    code = 0
    try:
        if job["kind"] == "cli":
            code = cli.run(job["args"])
        else:
            files = []
            for name, source in job["files"]:
                with open(source, "rb") as fh:
                    data = fh.read()
                files.append((name, lambda p, data=data: _write_bytes(p, data)))
            extra = []
            for path, source in job.get("extra", []):
                with open(source, encoding="utf-8") as fh:
                    extra.append((path, fh.read()))
            writers.publish(job["out"], files, extra=extra)
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # noqa: BLE001 - reported to the test through stderr
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        code = 3
    sys.stderr.flush()
    os.write(pipe, b"R" + json.dumps({"steps": steps, "published": len(writers.PUBLISHED)}).encode())
    return code


def _write_bytes(path, data: bytes) -> None:
    with writers.atomic_write(path, "wb") as fh:
        fh.write(data)


def _run(job: dict) -> dict:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into the loop
        code = 99
        try:
            os.close(read_end)
            code = _child(job, write_end)
        finally:
            os._exit(code)
    os.close(write_end)
    received = b""
    started = None
    deadline = time.monotonic() + TIMEOUT
    killed_by_parent = False
    status = None
    while status is None:
        wait = max(0.0, deadline - time.monotonic())
        if started is not None and job.get("kill_after") is not None and not killed_by_parent:
            wait = max(0.0, min(wait, started + job["kill_after"] - time.monotonic()))
        ready, _, _ = select.select([read_end], [], [], min(wait, 0.05))
        if ready:
            chunk = os.read(read_end, 1 << 16)
            if chunk:
                received += chunk
                if started is None and b"S" in received.split(b"R", 1)[0]:
                    started = time.monotonic()
        now = time.monotonic()
        if (started is not None and job.get("kill_after") is not None and not killed_by_parent
                and now >= started + job["kill_after"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed_by_parent = True
        if now >= deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise RuntimeError(f"job timed out after {TIMEOUT} s: {job}")
        done, status_ = os.waitpid(pid, os.WNOHANG)
        if done:
            status = status_
    with contextlib.suppress(OSError):
        while chunk := os.read(read_end, 1 << 16):
            received += chunk
    os.close(read_end)
    end = time.monotonic()
    report = {}
    if b"R" in received:
        report = json.loads(received.split(b"R", 1)[1])
    with open(job["stderr"], encoding="utf-8", errors="replace") as fh:
        stderr = fh.read()
    return {
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "steps": report.get("steps"),
        "published": report.get("published"),
        "publish_seconds": None if started is None else end - started,
        "stderr": stderr,
    }


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        plan = json.load(fh)
    results = [_run(job) for job in plan["jobs"]]
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main()
