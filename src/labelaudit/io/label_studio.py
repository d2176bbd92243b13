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
    where = f"{what} file '{path}': task at position {index}"
    if "id" not in task:
        raise InputError(f"{where} has no 'id'; is this a Label Studio JSON export?")
    task_id = task["id"]
    if isinstance(task_id, bool) or not isinstance(task_id, str | int):
        raise InputError(f"{where} has id {_short(task_id)}; expected a string or an integer")
    where = f"{what} file '{path}': task {task_id!r}"
    data = _expect(task.get("data"), dict, f"{where}: 'data'", "an object of fields")
    extra = {(f"data_{k}" if k in _LS_RESERVED else str(k)): v for k, v in data.items()}
    annotations = _expect(task.get("annotations"), list, f"{where}: 'annotations'", "a list")
    rows, n_empty = [], 0
    for position, ann in enumerate(annotations):
        ann = _expect(ann, dict, f"{where}: annotation at position {position}", "an object",
                      missing_ok=False)
        if ann.get("was_cancelled"):
            continue
        at = f"{where} annotation {ann.get('id', position)!r}"
        choices = _choices(ann, at)
        if not choices:
            n_empty += 1
            continue
        if len(choices) > 1:
            raise InputError(f"{at} has {len(choices)} choices {choices!r}; expected exactly one")
        row = {
            "item_id": task_id,
            "annotator": _annotator_id(ann.get("completed_by"), at),
            "label": choices[0],
        }
        if ann.get("created_at") is not None:
            row["created_at"] = ann["created_at"]
        row.update(extra)
        rows.append(row)
    return rows, n_empty


def _expect(value: Any, kind: type, what: str, expected: str, *, missing_ok: bool = True) -> Any:
    """``value`` when it has the JSON type ``kind`` (null gives an empty one), else an error."""
    if value is None and missing_ok:
        return kind()
    if not isinstance(value, kind):
        raise InputError(f"{what} is {_json_kind(value)} {_short(value)}; expected {expected}")
    return value


def _choices(ann: dict[str, Any], at: str) -> list[Any]:
    """The choices of every result of one annotation, each checked to be one string."""
    choices = []
    results = _expect(ann.get("result"), list, f"{at}: 'result'", "a list of result objects")
    for position, result in enumerate(results):
        here = f"{at}: result at position {position}"
        result = _expect(result, dict, here, "an object", missing_ok=False)
        value = _expect(result.get("value"), dict, f"{here}: 'value'", "an object")
        picked = value.get("choices")
        if isinstance(picked, str):
            raise InputError(
                f"{here}: 'choices' is the string {_short(picked)}; expected a list of choices "
                f"such as [{picked!r}]"
            )
        picked = _expect(picked, list, f"{here}: 'choices'", "a list of choices")
        for choice in picked:
            if isinstance(choice, bool) or not isinstance(choice, str | int | float):
                raise InputError(
                    f"{here}: choice {_short(choice)} is {_json_kind(choice)}; expected a string"
                )
        choices.extend(picked)
    return choices


def _json_kind(value: Any) -> str:
    """The JSON name of a parsed value's type, with its article."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {str: "a string", int: "a number", float: "a number", list: "a list",
            dict: "an object"}.get(type(value), f"a {type(value).__name__}")


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _annotator_id(completed_by: Any, at: str) -> str | None:
    """Return an annotator id string from an int, a string or a user object."""
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("id", completed_by.get("email"))
    if completed_by is None:
        return None
    if isinstance(completed_by, bool) or not isinstance(completed_by, str | int | float):
        raise InputError(
            f"{at}: 'completed_by' is {_json_kind(completed_by)} {_short(completed_by)}; "
            "expected a user id, an email or a user object"
        )
    return str(completed_by)


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
