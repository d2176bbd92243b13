"""Label Studio both ways: classification exports in, import tasks out.

Exports read (see :func:`read_label_studio` and
:func:`labelaudit.io.read_annotation_table`):

- **JSON**: a list of tasks, each with ``data`` and ``annotations``;
- **JSON_MIN**: a list of flat records, one per annotation, holding the task
  data fields, the task ``id``, one field per control (``label`` for the
  tasks labelaudit writes), ``annotator``, ``annotation_id``,
  ``created_at``, ``updated_at`` and ``lead_time``;
- **CSV**: the same records as columns.

All three become the same long table: ``item_id``, ``annotator``,
``label``, ``created_at`` and the task's data fields. Tasks written by
:func:`label_studio_tasks` carry the audit's item id in the data field
:data:`ITEM_ID_FIELD`, which survives every export format (JSON_MIN and
CSV overwrite a data field called ``id`` with the task id), so it becomes
``item_id``.
"""

from __future__ import annotations

import ast
import contextlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import polars as pl

from .._validation import _short
from ..exceptions import InputError, LabelAuditWarning
from ._common import _first_invalid_utf8

__all__ = [
    "CHOICES_NAME",
    "ITEM_ID_FIELD",
    "OBJECT_NAME",
    "label_studio_config",
    "label_studio_tasks",
    "flat_export_frame",
    "is_flat_export",
    "read_label_studio",
]

#: Column names of the long table; task data fields with these names get a ``data_`` prefix.
_LS_RESERVED = ("item_id", "annotator", "label", "created_at")

#: Task data field holding the audit's item id in the tasks labelaudit writes.
ITEM_ID_FIELD = "labelaudit_id"

#: Name of the Choices control of the labeling config labelaudit writes (the
#: field of a JSON_MIN or CSV export that holds the chosen class).
CHOICES_NAME = "label"

#: Name of the object tag (text or image) the choices refer to.
OBJECT_NAME = "item"

#: Fields Label Studio adds to every JSON_MIN / CSV record (not task data).
_FLAT_META = ("id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time",
              "agreement")


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
    if tasks and all(_is_flat_record(t) for t in tasks):
        return flat_export_frame(tasks, f"{what} file '{path}'", "JSON_MIN")
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
    _resolve_annotator_names(rows)
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
    if data.get(ITEM_ID_FIELD) is not None:
        task_id = data[ITEM_ID_FIELD]
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
        uid, name = _annotator_of(ann, at)
        row = {
            "item_id": task_id,
            "annotator": name if name is not None else uid,
            "label": choices[0],
            "_annotator_uid": uid,
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


# --------------------------------------------------------------------------- annotator names


def _annotator_of(ann: dict[str, Any], at: str) -> tuple[str | None, str | None]:
    """Return the annotator's user id and, when the export carries one, their email or name.

    Label Studio writes ``completed_by`` as a user id, or as a user object
    (``id``, ``email``, ``username``); recent versions add
    ``created_username`` (``"first last email, id"``).
    """
    completed_by = ann.get("completed_by")
    name = None
    if isinstance(completed_by, dict):
        for key in ("email", "username"):
            value = completed_by.get(key)
            if isinstance(value, str) and value.strip():
                name = value.strip()
                break
        uid = completed_by.get("id")
        uid = None if uid is None else _annotator_id(uid, at)
    else:
        uid = _annotator_id(completed_by, at)
    if name is None:
        name = _created_username(ann.get("created_username"), uid)
    if uid is None and name is None:
        return None, None
    return uid, name


def _created_username(text: Any, uid: str | None) -> str | None:
    """The email (or else the name) in ``created_username``; None when it holds nothing more."""
    if not isinstance(text, str) or not text.strip():
        return None
    head, sep, tail = text.rpartition(",")
    if not sep:
        head = text
    elif uid is not None and tail.strip() != uid:
        head = text
    head = head.strip()
    if not head:
        return None
    emails = [w for w in head.split() if "@" in w]
    return emails[-1] if emails else head


def _resolve_annotator_names(rows: list[dict[str, Any]]) -> None:
    """Name every annotation by its annotator's email or name when any annotation gives it.

    One user may appear with a full user object in one annotation and a bare
    id in another; each is named the same. Users never named keep their id.
    """
    names: dict[str, str] = {}
    for row in rows:
        uid, name = row.get("_annotator_uid"), row.get("annotator")
        if uid is not None and name is not None and name != uid:
            names.setdefault(uid, name)
    for row in rows:
        uid = row.pop("_annotator_uid", None)
        if uid is not None and row.get("annotator") == uid and uid in names:
            row["annotator"] = names[uid]


# --------------------------------------------------------------------------- JSON_MIN and CSV


def _is_flat_record(record: dict[str, Any]) -> bool:
    """True for a JSON_MIN / CSV record (one annotation, task data flattened)."""
    return (
        "annotations" not in record
        and "data" not in record
        and "annotator" in record
        and "annotation_id" in record
    )


def is_flat_export(columns: Sequence[str]) -> bool:
    """True for the columns of a Label Studio CSV export (not yet normalised)."""
    cols = set(columns)
    return {"id", "annotator", "annotation_id"} <= cols and "item_id" not in cols


def _unwrap_choice(value: Any, where: str) -> Any:
    """The chosen class of a flat export cell: a string, ``{"choices": [...]}`` or its JSON text."""
    parsed = value
    if isinstance(value, str) and value.lstrip().startswith("{") and "choices" in value:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            try:
                parsed = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return value
    if isinstance(parsed, dict) and "choices" in parsed:
        choices = parsed.get("choices") or []
        if not isinstance(choices, list):
            choices = [choices]
        if len(choices) > 1:
            raise InputError(f"{where} has {len(choices)} choices {choices!r}; expected exactly one")
        return choices[0] if choices else None
    return parsed


def flat_export_frame(records: list[dict[str, Any]], source: str, kind: str) -> pl.DataFrame:
    """Turn JSON_MIN / CSV records (one per annotation) into the long annotation table.

    ``label`` is the :data:`CHOICES_NAME` field when present; an export of
    another project keeps its control's field under its own name (pass it as
    the label column). Records without a choice are skipped with a warning.
    """
    rows: list[dict[str, Any]] = []
    n_empty = 0
    # an annotation without a choice has no field (JSON_MIN) or an empty cell (CSV)
    labelled = any(record.get(CHOICES_NAME) is not None for record in records)
    for index, record in enumerate(records):
        if "id" not in record:
            raise InputError(f"{source}: {kind} record at position {index} has no 'id'")
        where = (f"{source}: task {record['id']!r} annotation "
                 f"{record.get('annotation_id')!r}")
        label = _unwrap_choice(record.get(CHOICES_NAME), where)
        if labelled and (label is None or label == ""):
            n_empty += 1
            continue
        item_id = record.get(ITEM_ID_FIELD)
        annotator = record.get("annotator")
        row: dict[str, Any] = {
            "item_id": record["id"] if item_id is None else item_id,
            "annotator": None if annotator is None else str(annotator),
        }
        if labelled:
            row["label"] = label
        if record.get("created_at") is not None:
            row["created_at"] = record["created_at"]
        for key, value in record.items():
            if key in _FLAT_META or key == CHOICES_NAME:
                continue
            name = f"data_{key}" if key in _LS_RESERVED else str(key)
            row[name] = _unwrap_choice(value, where)
        if item_id is not None:  # the data field 'id' was overwritten by the task id
            row["id"] = item_id
        rows.append(row)
    if n_empty:
        warnings.warn(
            f"{source}: skipped {n_empty} annotation(s) without a choice",
            LabelAuditWarning,
            stacklevel=4,
        )
    if not rows:
        raise InputError(f"{source} has no completed classification annotations ({kind} export)")
    try:
        df = pl.DataFrame(rows, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise InputError(f"{source}: {kind} fields have inconsistent types: {detail}") from exc
    if "label" in df.columns:
        df = df.with_columns(pl.col("label").cast(pl.String))
    if "created_at" in df.columns and df.schema["created_at"] == pl.String:
        with contextlib.suppress(pl.exceptions.PolarsError):
            df = df.with_columns(
                pl.col("created_at").str.to_datetime(time_unit="us", time_zone="UTC")
            )
    return df


# --------------------------------------------------------------------------- tasks out


def label_studio_tasks(
    table: pl.DataFrame,
    *,
    id_col: str = "id",
    suggested_col: str | None = None,
    score_col: str | None = None,
    model_version: str = "labelaudit",
) -> list[dict[str, Any]]:
    """Label Studio import tasks, one per row of ``table``.

    Every column except the suggestion and its score goes into the task's
    ``data`` (the item id, its data columns, ``given_label``, ...), and the
    item id is repeated under :data:`ITEM_ID_FIELD` so that it comes back
    from a JSON, JSON_MIN or CSV export. A suggested label becomes a
    pre-annotation (``predictions``) of the :data:`CHOICES_NAME` control, so
    annotators see it as a proposal they accept or change.

    Parameters
    ----------
    table : polars.DataFrame
        One row per item.
    id_col : str, default "id"
        The item id column.
    suggested_col : str, optional
        Column with the suggested class; rows where it is empty get no
        prediction.
    score_col : str, optional
        Column with the prediction's score in [0, 1] (Label Studio sorts and
        filters tasks by it).
    model_version : str, default "labelaudit"
        Recorded on every prediction.

    Returns
    -------
    list of dict
        ``[{"data": {...}, "predictions": [...]}, ...]`` in the table's order.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"id": ["a"], "text": ["hi"], "given_label": ["cat"],
    ...                   "suggested_label": ["dog"], "score": [0.9]})
    >>> task = label_studio_tasks(t, suggested_col="suggested_label", score_col="score")[0]
    >>> task["data"]
    {'id': 'a', 'text': 'hi', 'given_label': 'cat', 'labelaudit_id': 'a'}
    >>> task["predictions"][0]["result"][0]["value"], task["predictions"][0]["score"]
    ({'choices': ['dog']}, 0.9)
    """
    if id_col not in table.columns:
        raise InputError(f"tasks: missing id column {id_col!r}")
    for name, col in (("suggested_col", suggested_col), ("score_col", score_col)):
        if col is not None and col not in table.columns:
            raise InputError(f"tasks: {name} {col!r} is not a column")
    hidden = {c for c in (suggested_col, score_col) if c is not None}
    data_cols = [c for c in table.columns if c not in hidden and c != ITEM_ID_FIELD]
    tasks: list[dict[str, Any]] = []
    for row in table.iter_rows(named=True):
        data = {c: row[c] for c in data_cols}
        data[ITEM_ID_FIELD] = row[id_col]
        task: dict[str, Any] = {"data": data}
        suggestion = None if suggested_col is None else row[suggested_col]
        if suggestion is not None:
            prediction: dict[str, Any] = {
                "model_version": model_version,
                "result": [{
                    "from_name": CHOICES_NAME,
                    "to_name": OBJECT_NAME,
                    "type": "choices",
                    "value": {"choices": [str(suggestion)]},
                }],
            }
            if score_col is not None and row[score_col] is not None:
                prediction["score"] = float(row[score_col])
            task["predictions"] = [prediction]
        tasks.append(task)
    return tasks


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def label_studio_config(
    classes: Sequence[str], tasks: Sequence[dict[str, Any]], *, show_given: bool = True
) -> str:
    """The labeling config (XML) for tasks written by :func:`label_studio_tasks`.

    The item is shown as an image when its first text data field holds an
    image path or URL, else as text; ``given_label`` is shown in a header
    (unless ``show_given`` is False), and one single-choice control named
    :data:`CHOICES_NAME` offers the classes.

    Parameters
    ----------
    classes : sequence of str
        The classes to choose from, in order.
    tasks : sequence of dict
        The tasks (their first ``data`` decides what the item is shown as).
    show_given : bool, default True
        Show the given label.

    Returns
    -------
    str
        The XML to paste into the project's Labeling Interface.

    Examples
    --------
    >>> xml = label_studio_config(["cat", "dog"], [{"data": {"id": 1, "text": "hi"}}])
    >>> '<Text name="item" value="$text"/>' in xml, '<Choice value="dog"/>' in xml
    (True, True)
    """
    data = dict(tasks[0]["data"]) if tasks else {}
    skip = {"id", ITEM_ID_FIELD, "given_label", "suggested_label"}
    shown = next((k for k, v in data.items() if k not in skip and isinstance(v, str)), None)
    if shown is None:
        shown = ITEM_ID_FIELD
    value = str(data.get(shown, ""))
    is_image = value.lower().split("?")[0].endswith(_IMAGE_SUFFIXES)
    tag = "Image" if is_image else "Text"
    lines = ["<View>", f"  <{tag} name={quoteattr(OBJECT_NAME)} value={quoteattr('$' + shown)}/>"]
    if show_given and "given_label" in data:
        lines.append(f"  <Header value={quoteattr('Given label: $given_label')}/>")
    lines.append(f"  <Choices name={quoteattr(CHOICES_NAME)} toName={quoteattr(OBJECT_NAME)} "
                 'choice="single" showInline="true">')
    lines.extend(f"    <Choice value={quoteattr(str(c))}/>" for c in classes)
    lines.extend(["  </Choices>", "</View>", ""])
    return "\n".join(lines)
