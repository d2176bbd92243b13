"""Tests for the command line: outputs, exit codes, one-line errors, atomicity, JUnit."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sklearn.datasets import load_wine

from labelaudit.cli import run

CLASSES = ["barolo", "grignolino", "barbera"]


@pytest.fixture(scope="module")
def wine_frame():
    """Wine with string ids, string labels, 12% flipped labels and 13 numeric features."""
    X, y = load_wine(return_X_y=True)
    rng = np.random.default_rng(5)
    s = y.copy()
    flip = rng.choice(len(y), 21, replace=False)
    s[flip] = (y[flip] + 1) % 3
    frame = pl.DataFrame(X, schema=[f"f{i:02d}" for i in range(X.shape[1])], orient="row")
    return frame.with_columns(
        pl.Series("item", [f"w{i:03d}" for i in range(len(y))]),
        pl.Series("label", [CLASSES[k] for k in s]),
        pl.Series("cellar", ["north", "south"] * (len(y) // 2)),
    )


@pytest.fixture
def data_csv(tmp_path, wine_frame):
    path = tmp_path / "data.csv"
    wine_frame.write_csv(path)
    return path


@pytest.fixture
def probs_csv(tmp_path, wine_frame):
    """Probabilities table with an id column, rows in a different order than the data."""
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(3) * 2, size=wine_frame.height)
    table = pl.DataFrame({"item": wine_frame.get_column("item")}).with_columns(
        pl.Series(c, p[:, j]) for j, c in enumerate(CLASSES)
    )
    path = tmp_path / "probs.csv"
    table.reverse().write_csv(path)
    return path


def _run(capsys, *args):
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _audit_args(data, out, *extra):
    return ["audit", data, "--label-col", "label", "--id-col", "item", "--out", out, *extra]


# --------------------------------------------------------------------------- success


def test_audit_with_default_features_writes_outputs(capsys, tmp_path, data_csv, wine_frame):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, *_audit_args(data_csv, out, "--csv"))
    assert code == 0, err
    assert err == ""
    assert sorted(p.name for p in out.iterdir()) == [
        "issues.csv", "issues.parquet", "report.html", "summary.json"
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["feature_cols"] == [f"f{i:02d}" for i in range(13)]
    assert summary["parameters"]["seed"] == 0
    assert summary["gate"] is None
    data_input = summary["inputs"][0]
    assert data_input["role"] == "data"
    assert data_input["n_rows"] == wine_frame.height
    assert data_input["size_bytes"] == data_csv.stat().st_size
    assert data_input["sha256"] == hashlib.sha256(data_csv.read_bytes()).hexdigest()
    assert summary["out_of_fold"]["n_splits"] == 5
    assert len(summary["out_of_fold"]["fold_noise_rates"]) == 5
    issues = pl.read_parquet(out / "issues.parquet")
    assert issues.height == wine_frame.height
    assert issues.get_column("is_issue").sum() == summary["figures"]["n_issues"]
    assert pl.read_csv(out / "issues.csv").height == wine_frame.height
    assert "Audited 178 items in 3 classes" in stdout


def test_audit_with_pred_probs_aligns_by_id(capsys, tmp_path, data_csv, probs_csv):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_audit_args(data_csv, out, "--pred-probs", probs_csv))
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["pred_probs"] == "given"
    assert [i["role"] for i in summary["inputs"]] == ["data", "pred_probs"]
    # The probabilities file is reversed; alignment by id must undo that.
    probs = pl.read_csv(probs_csv)
    issues = pl.read_parquet(out / "issues.parquet").join(
        probs, left_on="id", right_on="item", how="left"
    )
    suggested = issues.select(pl.concat_list(CLASSES).list.arg_max()).to_series()
    assert issues.get_column("suggested_label").to_list() == [CLASSES[i] for i in suggested]


def test_shuffled_rows_give_identical_outputs(capsys, tmp_path, wine_frame):
    paths = []
    for seed in (0, 1):
        frame = wine_frame.sample(fraction=1.0, shuffle=True, seed=seed)
        path = tmp_path / f"data{seed}.parquet"
        frame.write_parquet(path)
        out = tmp_path / f"out{seed}"
        code, _, err = _run(capsys, *_audit_args(path, out))
        assert code == 0, err
        paths.append(out)
    a, b = (pl.read_parquet(p / "issues.parquet") for p in paths)
    assert_frame_equal(a, b)
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in paths)
    assert sa["figures"] == sb["figures"]
    assert sa["per_class"] == sb["per_class"]


def test_renormalize_accepts_rows_that_do_not_sum_to_one(capsys, tmp_path, data_csv, probs_csv):
    table = pl.read_csv(probs_csv).with_columns(pl.col(c) * 0.5 for c in CLASSES)
    scaled = tmp_path / "scaled.parquet"
    table.write_parquet(scaled)
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_audit_args(data_csv, out, "--pred-probs", scaled))
    assert code == 2 and "sums to" in err
    code, _, err = _run(capsys, *_audit_args(data_csv, out, "--pred-probs", scaled,
                                             "--renormalize"))
    assert code == 0, err


def test_classes_option_sets_the_class_order(capsys, tmp_path, data_csv):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_audit_args(data_csv, out, "--classes", ",".join(CLASSES)))
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"] == CLASSES


# --------------------------------------------------------------------------- gate


def _policy(tmp_path, text):
    path = tmp_path / "gate.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "code", "failures"),
    [
        ("[gate]\nmax_noise_rate = 0.9\nmin_label_health_score = 0.5\n", 0, 0),
        ('[gate]\nmax_noise_rate = 0.001\nnoise_rate_statistic = "ci_low"\n'
         "[gate.warn]\nmax_issues = 0\n", 1, 1),
    ],
)
def test_gate_exit_code_summary_block_and_junit(capsys, tmp_path, data_csv, text, code, failures):
    out, junit = tmp_path / "out", tmp_path / "reports" / "gate.xml"
    policy = _policy(tmp_path, text)
    rc, stdout, err = _run(capsys, *_audit_args(data_csv, out, "--policy", policy,
                                                "--junit", junit))
    assert rc == code, err
    summary = json.loads((out / "summary.json").read_text())
    block = summary["gate"]
    assert block["passed"] is (code == 0)
    for check in block["checks"]:
        assert {"name", "value", "threshold", "level", "passed"} <= set(check)
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == len(block["checks"])
    assert int(suite.get("failures")) == failures
    assert len(suite.findall("testcase/failure")) == failures
    assert ("Gate passed" if code == 0 else "Gate FAILED") in stdout
    assert summary["inputs"][-1]["role"] == "policy"


# --------------------------------------------------------------------------- exit code 2


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _probs_with_header(tmp_path, header):
    rows = "\n".join(f"w{i:03d},0.2,0.3,0.5" for i in range(178))
    return _write(tmp_path / "p.csv", f"item,{header}\n{rows}\n")


def _with_feature_value(tmp_path, data, value, row=17, column="f00"):
    """A copy of the data file whose feature ``column`` holds ``value`` at ``row``."""
    frame = pl.read_csv(data)
    values = frame[column].to_list()
    values[row] = value
    path = tmp_path / "huge.csv"
    frame.with_columns(pl.Series(column, values)).write_csv(path)
    return path


BAD_INPUTS = {
    "missing column": (
        lambda t, d: _audit_args(d, t / "out", "--feature-cols", "f00,nope"),
        ["data file", "'nope'"],
    ),
    "missing label column": (
        lambda t, d: ["audit", d, "--label-col", "klass", "--out", t / "out"],
        ["missing column(s) 'klass'"],
    ),
    "unknown class in probabilities header": (
        lambda t, d: _audit_args(d, t / "out", "--pred-probs",
                                 _probs_with_header(t, "barolo,grignolino,merlot")),
        ["p.csv", "unknown class 'merlot'"],
    ),
    "duplicate ids": (
        lambda t, d: _audit_args(_write(t / "dup.csv", d.read_text().replace("w005", "w004")),
                                 t / "out"),
        ["dup.csv", "duplicate id 'w004'"],
    ),
    "ids absent from the probabilities": (
        lambda t, d: _audit_args(d, t / "out", "--pred-probs", _write(
            t / "p.csv",
            "item,barolo,grignolino,barbera\n"
            + "\n".join(f"x{i:03d},0.2,0.3,0.5" for i in range(178)) + "\n",
        )),
        ["absent from", "p.csv"],
    ),
    "empty file": (
        lambda t, d: _audit_args(_write(t / "empty.csv", ""), t / "out"),
        ["empty.csv", "empty"],
    ),
    "unreadable file": (
        lambda t, d: _audit_args(_write(t / "junk.parquet", b"\x00\x01not parquet"), t / "out"),
        ["junk.parquet", "not a readable Parquet"],
    ),
    "wrong delimiter": (
        lambda t, d: _audit_args(_write(t / "semi.csv", d.read_text().replace(",", ";")),
                                 t / "out"),
        ["semi.csv", "';'-delimited"],
    ),
    "wrong encoding": (
        lambda t, d: _audit_args(
            _write(t / "latin.csv", d.read_text().replace("barbera", "barbèra").encode("latin-1")),
            t / "out",
        ),
        ["latin.csv", "not valid UTF-8"],
    ),
    "probabilities do not sum to 1": (
        lambda t, d: _audit_args(d, t / "out", "--pred-probs", _write(
            t / "p.csv",
            "item,barolo,grignolino,barbera\n"
            + "\n".join(f"w{i:03d},0.2,0.3,{0.5 if i != 17 else 0.9}" for i in range(178)) + "\n",
        )),
        ["p.csv", "row 17 (id 'w017') sums to 1.4"],
    ),
    "missing file": (
        lambda t, d: _audit_args(t / "nowhere.csv", t / "out"),
        ["nowhere.csv", "does not exist"],
    ),
    "unknown label with --classes": (
        lambda t, d: _audit_args(d, t / "out", "--classes", "barolo,grignolino"),
        ["'barbera'", "not one of"],
    ),
    "both probabilities and features": (
        lambda t, d: _audit_args(d, t / "out", "--pred-probs", t / "p.npy",
                                 "--feature-cols", "f00"),
        ["either --pred-probs or --feature-cols"],
    ),
    "malformed policy": (
        lambda t, d: _audit_args(d, t / "out", "--policy",
                                 _write(t / "gate.toml", "[gate]\nmax_noise = 0.1\n")),
        ["gate.toml", "unknown key 'max_noise'"],
    ),
    "feature too large to standardise": (
        lambda t, d: _audit_args(_with_feature_value(t, d, 1e160), t / "out"),
        ["huge.csv", "feature column 'f00' is 1e+160 at row 17", "within +-1e+150",
         "overflow"],
    ),
    "largest float as a feature": (
        lambda t, d: _audit_args(_with_feature_value(t, d, -1.7e308), t / "out"),
        ["huge.csv", "feature column 'f00' is -1.7e+308 at row 17", "within +-1e+150"],
    ),
    "non-numeric feature": (
        lambda t, d: _audit_args(d, t / "out", "--feature-cols", "f00,cellar"),
        ["feature column 'cellar'", "not numeric"],
    ),
    "usage: missing --label-col": (
        lambda t, d: ["audit", d, "--out", t / "out"],
        ["--label-col is required for --task classification"],
    ),
    "usage: unknown task": (
        lambda t, d: _audit_args(d, t / "out", "--task", "sculpture"),
        ["--task: unknown task 'sculpture'", "classification"],
    ),
    "usage: --predictions without a task": (
        lambda t, d: _audit_args(d, t / "out", "--predictions", d),
        ["--predictions applies to a --task other than classification"],
    ),
    "usage: unknown option": (
        lambda t, d: ["audit", d, "--label-col", "label", "--out", t / "out", "--frobnicate"],
        ["usage error", "--frobnicate"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(capsys, tmp_path, data_csv, case):
    make_args, fragments = BAD_INPUTS[case]
    args = make_args(tmp_path, data_csv)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, stdout, err = _run(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("labelaudit: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_bad_input_keeps_the_previous_good_outputs(capsys, tmp_path, data_csv):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_audit_args(data_csv, out))
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, _ = _run(capsys, *_audit_args(data_csv, out, "--feature-cols", "missing"))
    assert code == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_debug_shows_the_traceback(capsys, tmp_path, data_csv):
    code, _, err = _run(capsys, *_audit_args(data_csv, tmp_path / "out", "--feature-cols",
                                             "missing", "--debug"))
    assert code == 2
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("labelaudit: error: ")


def test_outputs_are_deterministic(capsys, tmp_path, data_csv, monkeypatch):
    # The run's date is the only clock reading; SOURCE_DATE_EPOCH fixes it for reruns.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert _run(capsys, *_audit_args(data_csv, out))[0] == 0
    a, b = (json.loads((o / "summary.json").read_text()) for o in outs)
    a.pop("outputs"), b.pop("outputs")
    assert a["date"] == b["date"] == "2026-01-01T00:00:00Z"
    # The reproducing commands differ only by the output directory they name.
    a["reproduce"] = a["reproduce"].replace(str(outs[0]), "OUT")
    b["reproduce"] = b["reproduce"].replace(str(outs[1]), "OUT")
    assert a == b
    assert (outs[0] / "report.html").read_text().replace(str(outs[0]), "") == (
        outs[1] / "report.html"
    ).read_text().replace(str(outs[1]), "")


# --------------------------------------------------------------------------- entry points


def test_module_entry_point_and_demo(tmp_path):
    """``python -m labelaudit demo`` works in a fresh process and writes all outputs."""
    out = tmp_path / "demo"
    # The same interpreter and environment as the tests: the installed package
    # (or the in-place build when PYTHONPATH points at the source tree).
    proc = subprocess.run(
        [sys.executable, "-m", "labelaudit", "demo", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert {"summary.json", "issues.parquet", "report.html"} <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["command"] == "demo"
    check = summary["extras"]["demo_truth_check"]
    assert check["precision"] > 0.5 and check["recall"] > 0.5
    proc = subprocess.run(
        [sys.executable, "-m", "labelaudit", "audit"], capture_output=True, text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".parquet", ".jsonl", ".tsv"])
def test_every_probability_format_gives_the_same_audit(capsys, tmp_path, data_csv, probs_csv,
                                                        suffix):
    table = pl.read_csv(probs_csv).reverse()  # back in data order, for the array formats
    matrix = table.select(CLASSES).to_numpy()
    path = tmp_path / f"probs{suffix}"
    if suffix == ".npy":
        np.save(path, matrix)
    elif suffix == ".npz":
        np.savez(path, pred_probs=matrix)
    elif suffix == ".parquet":
        table.sample(fraction=1.0, shuffle=True, seed=3).write_parquet(path)
    elif suffix == ".jsonl":
        table.write_ndjson(path)
    else:
        table.write_csv(path, separator="\t")
    outs = []
    # Arrays carry no class names: their columns follow the class order, set by --classes.
    classes = ",".join(CLASSES)
    for name, probs in (("ref", probs_csv), ("new", path)):
        out = tmp_path / name
        code, _, err = _run(capsys, *_audit_args(data_csv, out, "--pred-probs", probs,
                                                 "--classes", classes))
        assert code == 0, err
        outs.append(pl.read_parquet(out / "issues.parquet"))
    assert_frame_equal(outs[0], outs[1])


def test_interrupted_run_exits_130_and_writes_nothing(capsys, tmp_path, data_csv, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sys.modules["labelaudit.audit"], "audit", interrupted)
    code, _, err = _run(capsys, *_audit_args(data_csv, tmp_path / "out"))
    assert code == 130
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_failure_while_writing_keeps_every_previous_output(capsys, tmp_path, data_csv,
                                                            monkeypatch):
    out = tmp_path / "out"
    assert _run(capsys, *_audit_args(data_csv, out))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def disk_full(path, obj):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(sys.modules["labelaudit.io.writers"], "write_json", disk_full)
    code, _, err = _run(capsys, *_audit_args(data_csv, out, "--seed", "1"))
    assert code == 2
    assert "No space left on device" in err and len(err.strip().splitlines()) == 1
    # Nothing was replaced (issues.parquet was staged before the failure) and no
    # staging directory is left behind.
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
