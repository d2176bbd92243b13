"""``labelaudit audit`` over probability shards, locally and on dask clusters.

The oracle is the same audit from one ``.npy`` file holding every row: the
issues table, the estimates and the gate verdict must be identical whether the
shards are a glob of ``.npy`` files or a Parquet directory, whether DATA is a
file or a Parquet dataset directory, and whether the work runs on dask's local
scheduler, on worker processes started with ``--workers`` or on a running
cluster reached with ``--scheduler``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

distributed = pytest.importorskip("distributed", reason="the dask extra is part of the test extras")
da = pytest.importorskip("dask.array")

from labelaudit import audit  # noqa: E402
from labelaudit.cli import run  # noqa: E402

CLASSES = ["ant", "bee", "cat", "dog", "eel", "fox"]
N = 3000


@pytest.fixture(scope="module")
def cluster():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Labels table (file and dataset directory), all probabilities, and shards of them."""
    root = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(11)
    k = len(CLASSES)
    true = rng.integers(0, k, N)
    given = true.copy()
    flip = rng.random(N) < 0.15
    given[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    logits = rng.normal(size=(N, k)) + 2.5 * np.eye(k)[true]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probs = probs.astype(np.float32)
    frame = pl.DataFrame({
        "item": [f"i{i:05d}" for i in range(N)],
        "label": [CLASSES[c] for c in given],
        "site": rng.choice(["north", "south", "east"], N).tolist(),
    })
    paths = {"data": root / "data.parquet", "all": root / "all.npy",
             "dataset": root / "dataset", "npy": root / "npy", "pq": root / "pq"}
    frame.write_parquet(paths["data"])
    np.save(paths["all"], probs)
    for key in ("dataset", "npy", "pq"):
        paths[key].mkdir()
    cuts = [0, 700, 1400, 1401, 2500, N]  # uneven shards, one of a single row
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        np.save(paths["npy"] / f"part-{i:03d}.npy", probs[a:b])
        pl.DataFrame(probs[a:b], schema=CLASSES, orient="row").write_parquet(
            paths["pq"] / f"part-{i:03d}.parquet")
    for i, (a, b) in enumerate([(0, 1000), (1000, 2200), (2200, N)]):
        frame[a:b].write_parquet(paths["dataset"] / f"part-{i:03d}.parquet")
    paths["probs"] = probs
    return paths


def _run(capsys, *args):
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _args(data, out, pred_probs, *extra):
    return ["audit", data, "--label-col", "label", "--id-col", "item", "--out", out,
            "--pred-probs", pred_probs, "--attribute", "site", *extra]


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def reference(files, tmp_path_factory):
    """The audit from the single .npy file: the oracle of every sharded run."""
    out = tmp_path_factory.mktemp("reference") / "out"
    code = run([str(a) for a in _args(files["data"], out, files["all"])])
    assert code == 0
    return out


def _assert_same_audit(out: Path, reference: Path) -> None:
    assert_frame_equal(pl.read_parquet(out / "issues.parquet"),
                       pl.read_parquet(reference / "issues.parquet"))
    assert_frame_equal(pl.read_parquet(out / "slices.parquet"),
                       pl.read_parquet(reference / "slices.parquet"))
    got, want = _summary(out), _summary(reference)
    assert got["figures"] == want["figures"]
    for key in ("classes", "per_class", "noise_matrix"):
        assert got[key] == want[key], key


# --------------------------------------------------------------------------- same answers


def test_npy_glob_on_the_local_scheduler(capsys, tmp_path, files, reference):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_args(files["data"], out, files["npy"] / "part-*.npy"))
    assert code == 0, err
    _assert_same_audit(out, reference)
    summary = _summary(out)
    shards = [i for i in summary["inputs"] if i["role"] == "pred_probs_shard"]
    assert [Path(s["path"]).name for s in shards] == [f"part-{i:03d}.npy" for i in range(5)]
    assert [s["n_rows"] for s in shards] == [700, 700, 1, 1099, 500]
    for s in shards:
        assert s["sha256"] == hashlib.sha256(Path(s["path"]).read_bytes()).hexdigest()
    assert summary["parameters"]["sharded_pred_probs"] is True


def test_workers_with_parquet_shards_and_dataset_directory(capsys, tmp_path, files, reference):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_args(files["dataset"], out, files["pq"], "--workers", "2"))
    assert code == 0, err
    _assert_same_audit(out, reference)
    summary = _summary(out)
    assert summary["parameters"]["workers"] == 2
    data_inputs = [i for i in summary["inputs"] if i["role"] == "data"]
    assert [Path(i["path"]).name for i in data_inputs] == [f"part-{i:03d}.parquet"
                                                           for i in range(3)]


def test_scheduler_address_and_gate(capsys, tmp_path, files, reference, cluster):
    policy = tmp_path / "gate.toml"
    policy.write_text("[gate]\nmax_noise_rate = 0.05\n[gate.warn]\nmax_issue_fraction = 0.5\n")
    ref_out = tmp_path / "ref"
    ref_code, _, _ = _run(capsys, *_args(files["data"], ref_out, files["all"],
                                         "--policy", policy, "--junit", tmp_path / "ref.xml"))
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_args(files["data"], out, files["npy"] / "part-*.npy",
                                       "--scheduler", cluster.scheduler_address,
                                       "--policy", policy, "--junit", tmp_path / "run.xml"))
    assert ref_code == code == 1, err  # about 15% noise fails a 5% gate
    _assert_same_audit(out, reference)
    assert _summary(out)["gate"] == _summary(ref_out)["gate"]
    assert (tmp_path / "run.xml").read_text() == (tmp_path / "ref.xml").read_text()


def test_audit_reports_cluster_progress_and_matches(files, cluster):
    """The library call: a dask array under a distributed client, progress per chunk task."""
    labels = pl.read_parquet(files["data"]).get_column("label")
    local = audit(labels, files["probs"], class_names=CLASSES, seed=4)
    shards = [np.load(p) for p in sorted(files["npy"].glob("*.npy"))]
    lazy = da.concatenate([da.from_array(s, chunks=-1) for s in shards])
    seen: dict[str, list[tuple[int, int]]] = {}
    with distributed.Client(cluster):
        result = audit(labels, lazy, class_names=CLASSES, seed=4,
                       progress=lambda step, done, total: seen.setdefault(step, []).append(
                           (done, total)))
    assert_frame_equal(result.issues, local.issues)
    assert result.estimated_noise_rate == local.estimated_noise_rate
    assert (result.ci_low, result.ci_high) == (local.ci_low, local.ci_high)
    assert (result.sampling_ci_low, result.sampling_ci_high) == (
        local.sampling_ci_low, local.sampling_ci_high)
    assert result.model_checks == local.model_checks
    np.testing.assert_array_equal(result.confident_joint, local.confident_joint)
    assert {"class thresholds", "confident joint", "issues and scores"} <= set(seen)
    for step, calls in seen.items():
        dones = [d for d, _ in calls]
        assert dones == sorted(dones) and calls[-1][0] == calls[-1][1] == 5, step


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no_match", "matches no .npy or .parquet shard"),
        ("too_few_rows", "the shards hold 1400 rows but DATA has 3000"),
        ("nan", "row 1450, column 3 is nan"),
        ("workers_zero", "--workers must be at least 1, got 0"),
        ("both", "give either --scheduler ADDRESS or --workers N, not both"),
        ("no_pred_probs", "--scheduler and --workers run confident learning over probability"),
        ("missing_column", "missing column(s) 'label'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(capsys, tmp_path, files, case, expected):
    out = tmp_path / "out"
    pred = files["npy"] / "part-*.npy"
    extra: list = []
    data = files["data"]
    if case == "no_match":
        pred = tmp_path / "none-*.npy"
    elif case == "too_few_rows":
        pred = files["npy"] / "part-00[01].npy"
    elif case == "nan":
        bad = tmp_path / "bad"
        bad.mkdir()
        for path in sorted(files["npy"].glob("*.npy")):
            block = np.load(path)
            if path.name == "part-003.npy":
                block[49, 3] = np.nan  # row 1401 + 49 of DATA
            np.save(bad / path.name, block)
        pred = bad / "part-*.npy"
    elif case == "workers_zero":
        extra = ["--workers", "0"]
    elif case == "both":
        extra = ["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]
    elif case == "missing_column":
        data = tmp_path / "nolabel"
        data.mkdir()
        pl.read_parquet(files["data"]).drop("label").write_parquet(data / "part-0.parquet")
    args = _args(data, out, pred, *extra)
    if case == "no_pred_probs":
        args = ["audit", data, "--label-col", "label", "--out", out, "--workers", "2"]
    code, stdout, err = _run(capsys, *args)
    assert code == 2
    assert expected in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_unreachable_scheduler_exits_2(capsys, tmp_path, files):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_args(files["data"], out, files["npy"] / "part-*.npy",
                                       "--scheduler", "tcp://127.0.0.1:9"))
    assert code == 2
    assert "cannot reach a dask scheduler at 'tcp://127.0.0.1:9'" in err
    assert not out.exists()
