"""The whole audit streams a read-only memory map: ``audit()`` and the CLI under a memory limit.

A child process first runs a small audit (so that every module is imported
and every thread pool started), then caps its private writable memory with
``RLIMIT_DATA`` (the heap, anonymous mappings and thread stacks count; pages
of a file mapped read-only do not; Linux 4.7 or later) at what it uses then
plus ``ALLOWANCE``, half the size of a float64 ``.npy`` of probabilities, and
audits that file opened with ``mmap_mode="r"``: through
:func:`labelaudit.audit` and through ``labelaudit audit --pred-probs``, with
the ids in shuffled order so that the rows are put in id order too. A
positive control under the same limit shows that it bites: a copy of the
matrix is refused. The results must equal an unlimited in-memory run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import labelaudit

N_ROWS = 400_000
N_CLASSES = 125            # float64: 400 MB of probabilities
ALLOWANCE = 200_000_000    # half the matrix

PRELUDE = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np

    def limit_growth(allowance):
        with open("/proc/self/status") as fh:
            used = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmData:"))
        resource.setrlimit(resource.RLIMIT_DATA, (used + allowance, used + allowance))

    def warm_up():
        import labelaudit
        rng = np.random.default_rng(0)
        p = rng.dirichlet(np.ones(5), 3000)
        labelaudit.audit(rng.integers(0, 5, 3000), p, ids=[f"w{i}" for i in range(3000)],
                         n_bootstrap=20, n_jobs=1)
    """
)

AUDIT_CHILD = PRELUDE + textwrap.dedent(
    """
    import labelaudit
    warm_up()
    limit_growth(int(sys.argv[1]))
    probs = np.load(sys.argv[2], mmap_mode="r")
    labels = np.load(sys.argv[3])
    ids = np.load(sys.argv[4])
    result = labelaudit.audit(labels, probs, ids=ids, n_bootstrap=20, n_jobs=1)
    result.issues.write_parquet(sys.argv[5])
    print(json.dumps({"noise": result.estimated_noise_rate, "ci": [result.ci_low, result.ci_high],
                      "n_issues": result.n_issues}))
    """
)

CLI_CHILD = PRELUDE + textwrap.dedent(
    """
    import os
    from labelaudit.cli import run
    argv = sys.argv[2:]
    # Warm-up: the same command on the first rows, into another folder.
    import polars as pl
    data, probs = argv[1], argv[argv.index("--pred-probs") + 1]
    head = os.path.join(os.path.dirname(data), "warm")
    os.makedirs(head, exist_ok=True)
    pl.read_csv(data, n_rows=3000).write_csv(os.path.join(head, "data.csv"))
    np.save(os.path.join(head, "probs.npy"), np.load(probs, mmap_mode="r")[:3000])
    warm = list(argv)
    warm[1] = os.path.join(head, "data.csv")
    warm[warm.index("--pred-probs") + 1] = os.path.join(head, "probs.npy")
    warm[warm.index("--out") + 1] = os.path.join(head, "out")
    assert run(warm) in (0, 1)
    limit_growth(int(sys.argv[1]))
    sys.exit(run(argv))
    """
)

CONTROL_CHILD = PRELUDE + textwrap.dedent(
    """
    warm_up()
    limit_growth(int(sys.argv[1]))
    probs = np.load(sys.argv[2], mmap_mode="r")
    try:
        copy = np.array(probs)
    except MemoryError:
        print("refused")
    else:
        print("copied", copy.nbytes)
    """
)


def _child(script: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # Each thread's stack is private writable memory too: keep the pools small.
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               POLARS_MAX_THREADS="1")
    return subprocess.run([sys.executable, "-c", script, str(ALLOWANCE), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)


def _write_inputs(tmp_path: Path):
    """A noisy (N_ROWS, N_CLASSES) float64 .npy, its labels and shuffled string ids."""
    rng = np.random.default_rng(5)
    pool_n = 4096
    z = rng.standard_normal((pool_n, N_CLASSES))
    top = rng.integers(0, N_CLASSES, pool_n)
    z[np.arange(pool_n), top] += rng.gamma(2.0, 1.5, pool_n) + np.log(N_CLASSES)
    pool = np.exp(z - z.max(axis=1, keepdims=True))
    pool /= pool.sum(axis=1, keepdims=True)
    path = tmp_path / "probs.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64,
                                    shape=(N_ROWS, N_CLASSES))
    labels = np.empty(N_ROWS, dtype=np.intp)
    for start in range(0, N_ROWS, 50_000):
        stop = min(N_ROWS, start + 50_000)
        pick = rng.integers(0, pool_n, stop - start)
        out[start:stop] = pool[pick]
        flip = rng.random(stop - start) < 0.1
        shift = rng.integers(1, N_CLASSES, stop - start)
        labels[start:stop] = np.where(flip, (top[pick] + shift) % N_CLASSES, top[pick])
    out.flush()
    del out
    ids = np.array([f"item-{i:07d}" for i in rng.permutation(N_ROWS)])
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "ids.npy", ids)
    return path, labels, ids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA semantics of Linux")
def test_audit_of_a_memmap_twice_the_memory_limit(tmp_path):
    path, labels, ids = _write_inputs(tmp_path)
    assert path.stat().st_size >= 2 * ALLOWANCE

    control = _child(CONTROL_CHILD, path)
    assert control.returncode == 0, control.stderr
    assert control.stdout.strip() == "refused"   # the limit stops a copy of the matrix

    # audit() on the memory map, under the limit.
    done = _child(AUDIT_CHILD, path, tmp_path / "labels.npy", tmp_path / "ids.npy",
                  tmp_path / "issues_api.parquet")
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])

    # The same audit in memory, without a limit.
    in_memory = np.array(np.load(path, mmap_mode="r"))
    ref = labelaudit.audit(labels, in_memory, ids=ids, n_bootstrap=20, n_jobs=1)
    assert 0.05 * N_ROWS < ref.n_issues < 0.2 * N_ROWS
    assert figures == {"noise": ref.estimated_noise_rate, "ci": [ref.ci_low, ref.ci_high],
                       "n_issues": ref.n_issues}
    assert pl.read_parquet(tmp_path / "issues_api.parquet").equals(ref.issues)

    # The CLI on the .npy, under the limit.
    names = [f"c{j}" for j in range(N_CLASSES)]
    data = tmp_path / "data.csv"
    pl.DataFrame({"id": ids, "label": np.asarray(names)[labels]}).write_csv(data)
    out = tmp_path / "out"
    cli = _child(CLI_CHILD, "audit", data, "--id-col", "id", "--label-col", "label",
                 "--pred-probs", path, "--classes", ",".join(names), "--out", out,
                 "--n-bootstrap", "20", "--n-jobs", "1")
    assert cli.returncode == 0, cli.stderr[-2000:]
    issues = pl.read_parquet(out / "issues.parquet")
    assert issues.get_column("id").to_list() == ref.issues.get_column("id").to_list()
    np.testing.assert_array_equal(issues.get_column("is_issue").to_numpy(),
                                  ref.issues.get_column("is_issue").to_numpy())
    np.testing.assert_array_equal(issues.get_column("label_quality").to_numpy(),
                                  ref.issues.get_column("label_quality").to_numpy())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["figures"]["n_issues"] == ref.n_issues


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_argmax_equals_numpy_with_ties_and_any_chunking(dtype):
    from labelaudit.confident._passes import row_argmax

    rng = np.random.default_rng(3)
    p = rng.integers(0, 4, size=(5003, 7)).astype(dtype)  # many exact ties
    expected = np.argmax(p, axis=1)
    for chunk, n_jobs in ((1, 1), (17, 2), (4096, 2), (None, None)):
        np.testing.assert_array_equal(row_argmax(p, chunk_size=chunk, n_jobs=n_jobs), expected)
    ro = p.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(row_argmax(ro), expected)
    np.testing.assert_array_equal(row_argmax(np.asfortranarray(p)), expected)  # numpy path


def test_reorder_rows_of_a_memmap_goes_through_a_file(tmp_path):
    from labelaudit.io.probs import is_file_backed, reorder_rows

    rng = np.random.default_rng(4)
    arr = rng.random((1000, 5))
    np.save(tmp_path / "p.npy", arr)
    mm = np.load(tmp_path / "p.npy", mmap_mode="r")
    order = rng.permutation(1000)
    out = reorder_rows(mm, order)
    assert is_file_backed(out) and not out.flags.writeable
    np.testing.assert_array_equal(out, arr[order])
    in_memory = reorder_rows(arr, order)
    assert not is_file_backed(in_memory) and in_memory.flags.c_contiguous
    np.testing.assert_array_equal(in_memory, arr[order])
    assert is_file_backed(mm[10:20]) and not is_file_backed(np.array(mm))


def test_reorder_rows_without_room_is_one_clear_error(tmp_path, monkeypatch):
    import errno
    import tempfile

    from labelaudit.exceptions import InputError
    from labelaudit.io.probs import reorder_rows

    np.save(tmp_path / "p.npy", np.eye(4))
    mm = np.load(tmp_path / "p.npy", mmap_mode="r")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", full)
    with pytest.raises(InputError, match="No space left on device.*TMPDIR"):
        reorder_rows(mm, np.array([3, 2, 1, 0]))
