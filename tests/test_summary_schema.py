"""Every summary.json the commands write is valid under the shipped JSON Schema."""

from __future__ import annotations

import copy
import json

import jsonschema
import numpy as np
import polars as pl
import pytest

from labelaudit.cli import run
from labelaudit.datasets import load_demo
from labelaudit.summary import summary_schema


@pytest.fixture(scope="module")
def validator():
    schema = summary_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(validator, document):
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    assert run(["demo", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "gate.toml"
    path.write_text("[gate]\nmax_noise_rate = 0.5\nmin_krippendorff_alpha = 0.2\n\n"
                    "[gate.warn]\nmax_issues = 1\n")
    return path


def _load(directory):
    return json.loads((directory / "summary.json").read_text())


def test_demo_summary_is_valid(validator, demo_dir):
    summary = _load(demo_dir)
    assert _errors(validator, summary) == []
    assert summary["verified"] is not None and summary["extras"]["slices"]


def test_audit_summary_with_gate_is_valid(validator, tmp_path):
    rng = np.random.default_rng(3)
    n = 240
    truth = rng.integers(0, 3, n)
    probs = rng.dirichlet(np.ones(3) * 0.3, n) * 0.2
    probs[np.arange(n), truth] += 0.8
    names = np.array(["ant", "bee", "cat"])
    data = tmp_path / "data.csv"
    pl.DataFrame({"item": [f"i{i}" for i in range(n)], "label": names[truth],
                  "site": rng.choice(["x", "y"], n), "batch": rng.integers(0, 3, n)}).write_csv(data)
    np.save(tmp_path / "probs.npy", probs)
    out = tmp_path / "out"
    code = run(["audit", str(data), "--label-col", "label", "--id-col", "item", "--pred-probs",
                str(tmp_path / "probs.npy"), "--n-bootstrap", "30", "--attribute", "site",
                "--keep-cols", "batch", "--policy", str(_audit_policy(tmp_path)),
                "--out", str(out)])
    assert code in (0, 1)
    summary = _load(out)
    assert summary["gate"] is not None and summary["gate"]["checks"]
    assert _errors(validator, summary) == []


def _audit_policy(tmp_path):
    path = tmp_path / "audit.toml"
    path.write_text("[gate]\nmax_noise_rate = 0.5\n\n[gate.warn]\nmax_issues = 1\n")
    return path


def test_annotators_summary_is_valid(validator, tmp_path, policy):
    out = tmp_path / "out"
    code = run(["annotators", str(load_demo().path_annotations), "--out", str(out),
                "--time-col", "timestamp", "--policy", str(policy)])
    assert code in (0, 1)
    summary = _load(out)
    assert summary["figures"]["estimated_noise_rate"] is None  # confident learning did not run
    assert summary["gate"] is not None
    assert _errors(validator, summary) == []


def test_verify_summary_is_valid(validator, tmp_path, demo_dir):
    demo = load_demo()
    policy = tmp_path / "accept.toml"
    policy.write_text("[gate]\nmax_noise_rate = 0.3\nrequire_review = true\n")
    out = tmp_path / "out"
    code = run(["verify", str(demo_dir), str(demo.path_reviews), "--design",
                str(demo.path_reviews.parent), "--policy", str(policy), "--out", str(out)])
    assert code in (0, 1)
    summary = _load(out)
    assert summary["noise_rate_source"] == "review" and summary["verified"]["n_reviewed"] > 0
    assert _errors(validator, summary) == []


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (lambda s: s.pop("figures"), "'figures' is a required property"),
        (lambda s: s["figures"].__setitem__("estimated_noise_rate", 1.5), "estimated_noise_rate"),
        (lambda s: s.__setitem__("noise_rate_source", "guess"), "noise_rate_source"),
        (lambda s: s["outputs"].__setitem__("files", "report.html"), "files"),
        (lambda s: s["verified"].__setitem__("partial", "no"), "partial"),
        (lambda s: s["inputs"][0].__setitem__("sha256", "xyz"), "sha256"),
    ],
)
def test_schema_rejects_a_damaged_summary(validator, demo_dir, damage, where):
    summary = copy.deepcopy(_load(demo_dir))
    damage(summary)
    errors = _errors(validator, summary)
    assert errors and any(where in e for e in errors), errors


def test_schema_rejects_a_bad_gate_check(validator, demo_dir):
    summary = copy.deepcopy(_load(demo_dir))
    summary["gate"] = {"passed": True, "exit_code": 0, "policy": "p", "n_checks": 1,
                       "n_failures": 0, "n_warnings": 0,
                       "checks": [{"name": "max_issues", "level": "severe", "passed": True,
                                   "value": 1, "threshold": 2, "message": "m"}]}
    assert any("severe" in e for e in _errors(validator, summary))
    summary["gate"]["checks"][0]["level"] = "warn"
    assert _errors(validator, summary) == []


def test_the_schema_ships_with_the_package():
    from importlib import resources

    assert resources.files("labelaudit").joinpath("data", "summary.schema.json").is_file()
