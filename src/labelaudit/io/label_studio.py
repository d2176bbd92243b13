"""Label Studio classification exports (a JSON list of tasks) as long annotation tables."""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from typing import Any

import polars as pl

from ..exceptions import InputError, LabelAuditWarning
from ._common import _first_invalid_utf8

__all__ = ["read_label_studio"]

#: Column names of the long table; task data fields with these names get a ``data_`` prefix.
_LS_RESERVED = ("item_id", "annotator", "label", "created_at")


def read_label_studio(path: Path, what: str, columns: Any = None) -> pl.DataFrame:
    """Flatten a Label Studio classification export into one row per annotation.

    See :func:`labelaudit.io.read_table` (Notes) for the columns; ``columns``
    is applied by the caller.
    """
    try:
        with path.open("rb") as fh:
            tasks = json.loads(fh.read().decode("utf-8"))
    except UnicodeDecodeError as exc:
        bad = _first_invalid_utf8(path) or f"byte offset {exc.start}"
        raise InputError(f"{what} file '{path}' is not valid UTF-8: {bad}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} file '{path}' is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from exc
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise InputError(
            f"{what} file '{path}' is not a Label Studio export: expected a JSON list of "
            "task objects"
        )
    rows: list[dict[str, Any]] = []
    n_empty = 0
    for index, task in enumerate(tasks):
        task_rows, empty = _label_studio_task_rows(task, index, path, what)
        rows.extend(task_rows)
        n_empty += empty
    if n_empty:
        warnings.warn(
            f"{what} file '{path}': skipped {n_empty} annotation(s) without a choice",
            LabelAuditWarning,
            stacklevel=3,
        )
    if not rows:
        raise InputError(
            f"{what} file '{path}' has no completed classification annotations "
            "(annotations[].result[].value.choices)"
        )
    return _label_studio_frame(rows, path, what)


def _label_studio_task_rows(
    task: dict[str, Any], index: int, path: Path, what: str
) -> tuple[list[dict[str, Any]], int]:
    """Return the rows of one task and the number of annotations without a choice."""
    if "id" not in task:
        raise InputError(
            f"{what} file '{path}': task at position {index} has no 'id'; is this a "
            "Label Studio JSON export?"
        )
    task_id = task["id"]
    data = task.get("data") or {}
    extra = {(f"data_{k}" if k in _LS_RESERVED else str(k)): v for k, v in data.items()}
    rows, n_empty = [], 0
    for ann in task.get("annotations") or []:
        if ann.get("was_cancelled"):
            continue
        choices = [
            choice
            for result in ann.get("result") or []
            for choice in (result.get("value") or {}).get("choices") or []
        ]
        if not choices:
            n_empty += 1
            continue
        if len(choices) > 1:
            raise InputError(
                f"{what} file '{path}': task {task_id!r} annotation {ann.get('id')!r} has "
                f"{len(choices)} choices {choices!r}; expected exactly one"
            )
        row = {
            "item_id": task_id,
            "annotator": _annotator_id(ann.get("completed_by")),
            "label": choices[0],
        }
        if ann.get("created_at") is not None:
            row["created_at"] = ann["created_at"]
        row.update(extra)
        rows.append(row)
    return rows, n_empty


def _annotator_id(completed_by: Any) -> str | None:
    """Return an annotator id string from an int, a string or a user dict."""
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("id", completed_by.get("email"))
    return None if completed_by is None else str(completed_by)


def _label_studio_frame(rows: list[dict[str, Any]], path: Path, what: str) -> pl.DataFrame:
    """Build the long annotation table and parse ``created_at`` as UTC datetimes."""
    try:
        df = pl.DataFrame(rows, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise InputError(
            f"{what} file '{path}': task data fields have inconsistent types: {detail}"
        ) from exc
    if "created_at" in df.columns and df.schema["created_at"] == pl.String:
        with contextlib.suppress(pl.exceptions.PolarsError):
            df = df.with_columns(
                pl.col("created_at").str.to_datetime(time_unit="us", time_zone="UTC")
            )
    return df
