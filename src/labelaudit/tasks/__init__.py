"""Audits of label shapes beyond one class per item: the ``TASKS`` registry.

``labelaudit audit --task NAME`` runs the task registered under ``NAME``:
it reads the task's inputs (through :mod:`labelaudit.io`), finds label
issues with the task's drop-in module (for example
:mod:`labelaudit.multilabel_classification`) and returns an
:class:`~labelaudit.result.AuditResult` whose headline is the task's own
estimate and whose shape-specific analysis is attached as a report section
named after the task. The one-class-per-item audit is task
``"classification"`` (:func:`labelaudit.audit`), which is not in this
registry.

Each task lives in its own module of this package and registers itself with
:func:`register_task`; the modules are imported on first use, so
``labelaudit --help`` stays fast.

Examples
--------
>>> from labelaudit.tasks import task_names
>>> "classification" in task_names()
True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..exceptions import LabelAuditError
from ..result import AuditResult

__all__ = [
    "TASKS",
    "Task",
    "TaskRequest",
    "get_task",
    "register_task",
    "task_names",
    "task_result",
]

#: The built-in task modules, by task name (imported when the task is first asked for).
_BUILTIN: Mapping[str, str] = {
    # --- one entry per task: "name": ".module", in task order
    "detection": ".detection",
    "token": ".token",
    "regression": ".regression",
    "segmentation": ".segmentation",
    "multilabel": ".multilabel",
    # --- end of built-in tasks
}


@dataclass(frozen=True)
class TaskRequest:
    """What the command line hands a task: paths and options, not yet read.

    Parameters
    ----------
    data : Path
        DATA: the items table, file or folder the task reads.
    out : Path
        The output folder (the task writes nothing itself; it is named in messages).
    label_col, id_col : str or None
        Columns of DATA with the given labels and the item ids, where the task has them.
    pred_probs : sequence of Path
        ``--pred-probs`` files, in order.
    predictions : Path or None
        ``--predictions``: model outputs that are not one probability row per
        item (for example COCO detections, or predicted numbers).
    classes : sequence of str or None
        ``--classes``, in order.
    seed : int
        Seed of every random step.
    n_bootstrap : int
        Bootstrap replicates for intervals.
    n_jobs : int or None
        Threads (results do not depend on it).
    options : Mapping
        Task-specific options, by name, as the command line parsed them.
    """

    data: Path
    out: Path
    label_col: str | None = None
    id_col: str | None = None
    pred_probs: Sequence[Path] = ()
    predictions: Path | None = None
    classes: Sequence[str] | None = None
    seed: int = 0
    n_bootstrap: int = 1000
    n_jobs: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """One label shape ``labelaudit audit --task`` can audit.

    Parameters
    ----------
    name : str
        The value of ``--task``.
    summary : str
        One line for the command line's help.
    run : callable
        ``run(request) -> (AuditResult, inputs)``: read, audit, attach the
        task's section; ``inputs`` are the provenance records of the files read
        (as :func:`labelaudit.io.file_fingerprint` returns them, with a ``role``).
    """

    name: str
    summary: str
    run: Callable[[TaskRequest], tuple[AuditResult, list[dict[str, Any]]]]


#: Registered tasks by name (the built-in ones appear once imported: use :func:`get_task`).
TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task`` to :data:`TASKS` (replacing one of the same name) and return it."""
    if not isinstance(task.name, str) or not task.name or task.name == "classification":
        raise LabelAuditError(f"task name must be a non-empty string other than "
                              f"'classification', got {task.name!r}")
    TASKS[task.name] = task
    return task


def task_names() -> list[str]:
    """Every value ``--task`` accepts: ``"classification"`` and the registered tasks."""
    return ["classification", *sorted({*_BUILTIN, *TASKS})]


def get_task(name: str) -> Task:
    """The task registered under ``name`` (importing a built-in task's module on first use)."""
    if name not in TASKS and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name], __name__)
    task = TASKS.get(name)
    if task is None:
        raise LabelAuditError(f"--task: unknown task {name!r}; choose one of "
                              f"{', '.join(task_names())}")
    return task


def task_result(
    task: str,
    *,
    issues: pl.DataFrame,
    class_names: Sequence[str],
    per_class: pl.DataFrame,
    estimated_noise_rate: float,
    ci_low: float,
    ci_high: float,
    confidence: float = 0.95,
    parameters: Mapping[str, Any] | None = None,
    section: Any = None,
    figures: Mapping[str, Any] | None = None,
) -> AuditResult:
    """An :class:`AuditResult` for a non-classification task.

    The confident-learning fields of a one-class audit (noise matrices,
    confident joint, prior) do not apply and are NaN; the issues table, the
    per-class table and the headline estimate with its interval are the
    task's own. ``section`` is attached under the task's name with
    ``figures`` as its gate figures.

    Parameters
    ----------
    task : str
        Task name (recorded as ``parameters["task"]``).
    issues : polars.DataFrame
        One row per audited item with at least ``id``, ``label_quality``,
        ``is_issue`` and ``issue_rank``, issues first.
    class_names : sequence of str
    per_class : polars.DataFrame
        One row per class with at least ``class``, ``count``,
        ``estimated_noise_rate``, ``ci_low``, ``ci_high``, ``n_issues``.
    estimated_noise_rate, ci_low, ci_high : float
        The task's headline: share of items whose labels are wrong, with its interval.
    confidence : float, default 0.95
    parameters : Mapping, optional
    section : object, optional
    figures : Mapping, optional

    Returns
    -------
    AuditResult
    """
    for col in ("id", "label_quality", "is_issue", "issue_rank"):
        if col not in issues.columns:
            raise LabelAuditError(f"task {task!r}: issues table lacks column {col!r}")
    k = len(class_names)
    n = issues.height
    n_issues = int(issues.get_column("is_issue").sum())
    result = AuditResult(
        issues=issues,
        class_names=tuple(str(c) for c in class_names),
        per_class=per_class,
        noise_matrix=np.full((k, k), np.nan),
        inverse_noise_matrix=np.full((k, k), np.nan),
        confident_joint=np.zeros((k, k), dtype=np.int64),
        py=np.full(k, np.nan),
        n_items=n,
        n_classes=k,
        n_issues=n_issues,
        estimated_noise_rate=float(estimated_noise_rate),
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        confidence=float(confidence),
        label_health_score=(1.0 - n_issues / n) if n else float("nan"),
        parameters={**(parameters or {}), "task": task},
        sampling_ci_low=float(ci_low),
        sampling_ci_high=float(ci_high),
    )
    if section is not None:
        result = result.with_section(task, section, figures=figures)
    return result
