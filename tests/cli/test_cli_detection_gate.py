"""Gate keys of ``--task detection`` through the command line, on the shipped example."""

from __future__ import annotations

import json

import pytest

from labelaudit.cli import run
from labelaudit.datasets import example_dir


def _gate(capsys, tmp_path, policy_text: str, name: str):
    ex = example_dir("detection")
    policy = tmp_path / f"{name}.toml"
    policy.write_text(policy_text)
    out = tmp_path / name
    code = run(["audit", str(ex / "annotations.json"), "--task", "detection", "--predictions",
                str(ex / "predictions.json"), "--out", str(out), "--policy", str(policy)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err, out


# The example: 3 of 12 images flagged, Wilson upper bound 0.5323; one overlooked box.
@pytest.mark.parametrize(("policy", "code"), [
    ("[gate]\nmax_detection_image_issue_rate = 0.6\n", 0),
    ("[gate]\nmax_detection_image_issue_rate = 0.5\n", 1),  # the rate 0.25 passes, its bound not
    ("[gate]\nmax_detection_overlooked = 1\n", 0),
    ("[gate]\nmax_detection_overlooked = 0\n", 1),
    ("[gate]\nmax_detection_image_issue_rate = 0.6\nmax_detection_overlooked = 0\n", 1),
])
def test_detection_gate_keys_pass_and_fail(capsys, tmp_path, policy, code):
    got, text, out = _gate(capsys, tmp_path, policy, f"p{code}")
    assert got == code, text
    gate = json.loads((out / "summary.json").read_text())["gate"]
    checks = {c["name"]: c for c in gate["checks"]}
    if "max_detection_image_issue_rate" in policy:
        assert checks["max_detection_image_issue_rate"]["value"] == pytest.approx(0.5323, abs=1e-4)
    if "max_detection_overlooked" in policy:
        assert checks["max_detection_overlooked"]["value"] == 1
    if code == 1:
        assert "max_detection_" in text


def test_overlooked_threshold_must_be_an_integer(capsys, tmp_path):
    code, text, out = _gate(capsys, tmp_path, "[gate]\nmax_detection_overlooked = 0.5\n", "bad")
    assert code == 2 and "max_detection_overlooked" in text and not out.exists()
