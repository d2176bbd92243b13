"""The task registry and the AuditResult it builds render and summarise without one-class fields."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from labelaudit import LabelAuditError
from labelaudit.report import render_html
from labelaudit.summary import to_summary_dict
from labelaudit.tasks import Task, get_task, register_task, task_names, task_result


def _result():
    issues = pl.DataFrame({"id": ["a", "b", "c"], "label_quality": [0.1, 0.5, 0.9],
                           "is_issue": [True, False, False], "issue_rank": [1, None, None]})
    per_class = pl.DataFrame({"class": ["x", "y"], "count": [2, 1],
                              "estimated_noise_rate": [0.5, 0.0], "ci_low": [0.1, 0.0],
                              "ci_high": [0.9, 0.8], "n_issues": [1, 0]})
    return task_result("toy", issues=issues, class_names=["x", "y"], per_class=per_class,
                       estimated_noise_rate=1 / 3, ci_low=0.05, ci_high=0.8,
                       section={"note": "toy section"}, figures={"toy_rate": 1 / 3})


def test_task_result_renders_and_summarises():
    result = _result()
    assert result.n_issues == 1 and result.parameters["task"] == "toy"
    assert result.figures()["toy_rate"] == pytest.approx(1 / 3)
    summary = to_summary_dict(result, parameters={"task": "toy"})
    assert summary["figures"]["estimated_noise_rate"] == pytest.approx(1 / 3)
    html = render_html(result, summary=summary)
    assert "Noise picture" not in html  # the one-class sections hide for another task
    assert "toy section" in html  # unclaimed attached data still shows


def test_registry_rejects_unknown_and_reserved_names():
    with pytest.raises(LabelAuditError, match="unknown task 'nope'"):
        get_task("nope")
    with pytest.raises(LabelAuditError, match="other than 'classification'"):
        register_task(Task("classification", "x", lambda r: (None, [])))
    register_task(Task("toy-task", "a toy", lambda r: (_result(), [])))
    assert "toy-task" in task_names() and get_task("toy-task").summary == "a toy"
    assert np.isfinite(get_task("toy-task").run(None)[0].ci_high)
