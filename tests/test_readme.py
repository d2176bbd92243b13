"""The README's Python example runs as written and shows what its comments say."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_python_example(), str(README), "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out
    assert printed.startswith("AuditResult(n_items=1797, n_classes=10, n_issues=")
    result = namespace["result"]
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert len(namespace["issues"]) == result.n_items
    assert "ann-08" in namespace["review"].flagged_annotators
    assert isinstance(namespace["slices"].flagged, pl.DataFrame)
    verdict = namespace["verdict"]
    assert verdict.passed == (result.estimated_noise_rate <= 0.05)
    assert verdict.to_polars()["name"].to_list() == ["max_noise_rate"]
