"""Multi-label inputs: label sets from tables and Label Studio, per-class probabilities.

Every reader returns the same long form, one row per label set:

- ``id``: the item id (``--id-col``, else the row number; for Label Studio
  the task id, or the ``labelaudit_id`` data field when present);
- ``labels``: the item's classes, a list of strings (an empty list is an
  item that carries no class);
- ``annotator`` (only when asked for, or for Label Studio): who gave the set.

Table cells (:func:`read_multilabel_table`):

- a **delimited text column** (CSV, TSV, or any string column): the classes
  separated by ``sep`` (default ``","``), spaces around each class dropped;
  an empty or null cell is the empty set. A class that is empty between two
  separators, or named twice in one cell, is an error naming the row;
- a **list column** (Parquet or JSON Lines lists of strings or integers):
  the classes as they are; a null list is the empty set.

In JSON Lines every cell that is not null is written the same way: all
lists, all text or all integers, and the elements of the lists all strings
or all integers. A cell written otherwise (a string or a nested list among
lists, a number with a decimal point, a boolean, an object, numbers mixed
with strings) is an error naming the file, the column, the row and the value.

Label Studio JSON exports (:func:`read_label_studio_multilabel`): the
``choices`` of every annotation (a ``Choices`` control with
``choice="multiple"``), one label set per annotation that was not
cancelled; an annotation whose results hold no choice is the empty set.
When the tasks carry ``predictions``, the first prediction of each task
gives per-class probabilities: every class listed in a prediction result's
``choices`` gets that result's ``score`` (else the prediction's ``score``,
else 1), every other class 0.

Classes (:func:`multilabel_classes`): ``--classes`` in its order (every
class used must be among them; a class may be used by no item), else the
sorted union of the classes used.

Examples
--------
>>> from labelaudit.io.multilabel import split_label_cell
>>> split_label_cell("cat, dog", sep=",", where="row 0")
['cat', 'dog']
>>> split_label_cell("", sep=",", where="row 1")
[]
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..exceptions import InputError, LabelAuditWarning
from ._common import _quote
from .config import read_json
from .label_studio import ITEM_ID_FIELD, _annotator_of, _choices, _expect, _json_kind
from .probs import load_pred_probs
from .tables import item_ids, read_table, require_columns

__all__ = [
    "multilabel_classes",
    "multilabel_indices",
    "read_label_studio_multilabel",
    "read_multilabel_probs",
    "read_multilabel_table",
    "split_label_cell",
]

#: Suffixes whose cells are text (the label column is read as text there).
_TEXT_SUFFIXES = (".csv", ".tsv")
#: Suffixes of JSON Lines files, whose label cells are checked as written (see the module docstring).
_JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


def split_label_cell(cell: str | None, *, sep: str, where: str) -> list[str]:
    """The classes of one delimited cell (empty or null: no class).

    Parameters
    ----------
    cell : str or None
        The cell text.
    sep : str
        Separator between classes.
    where : str
        The cell's place (file, column, row) for messages.

    Returns
    -------
    list of str

    Raises
    ------
    InputError
        An empty class between separators, or a class named twice.
    """
    if cell is None or not cell.strip():
        return []
    parts = [p.strip() for p in cell.split(sep)]
    if any(not p for p in parts):
        raise InputError(f"{where}: {cell!r} has an empty class between separators {sep!r}")
    return _no_repeats(parts, where)


def _no_repeats(parts: list[str], where: str) -> list[str]:
    seen: set[str] = set()
    for p in parts:
        if p in seen:
            raise InputError(f"{where}: class {p!r} is given twice")
        seen.add(p)
    return parts


def _list_cell(cell: Any, where: str) -> list[str]:
    if cell is None:
        return []
    parts = []
    for value in cell:
        if value is None or isinstance(value, bool) or not isinstance(value, str | int):
            raise InputError(f"{where}: element {value!r} of the list is not a class name "
                             "(a string or an integer)")
        text = str(value).strip()
        if not text:
            raise InputError(f"{where}: the list holds an empty class name")
        parts.append(text)
    return _no_repeats(parts, where)


def _json_lines_cells(path: Path, column: str) -> list[Any]:
    """The values of ``column`` in a JSON Lines file as written, one per row.

    Blank lines are no rows (as polars reads them) and a line without the
    column gives None. Reading stops at the first line that is not a JSON
    object, and gives nothing when the file cannot be read as UTF-8: the
    table reader names those faults.

    Parameters
    ----------
    path : pathlib.Path
        The JSON Lines file.
    column : str
        The column to read.

    Returns
    -------
    list
        The parsed JSON value of each row up to the first unreadable line.
    """
    cells: list[Any] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break
                if not isinstance(record, dict):
                    break
                cells.append(record.get(column))
    except (OSError, UnicodeDecodeError):
        return []
    return cells


def _json_text(value: Any, limit: int = 60) -> str:
    """A JSON value as written in the file, cut to ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _described(value: Any) -> str:
    """A JSON value with the name of its type: ``a string "c"``, ``a list [["a"]]``."""
    return "null" if value is None else f"{_json_kind(value)} {_json_text(value)}"


def _cell_kind(value: Any) -> str | None:
    """How a JSON label cell is written: "list", "text", "integer", "other", or None (null)."""
    if value is None:
        return None
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int) and not isinstance(value, bool):
        return "integer"
    return "other"


def _check_json_lines_cells(path: Path, label_col: str, *, sep: str, where: str) -> None:
    """Refuse JSON Lines label cells that polars would read as other values, or not at all.

    polars gives a column mixing lists and strings as the JSON text of each
    cell, a list holding a number with a decimal point as a list of floats
    (so ``1`` becomes ``1.0``), and refuses a list holding a boolean without
    naming the row; this reads the cells as written and names the first
    row that is not written like the others (see the module docstring).

    Parameters
    ----------
    path : pathlib.Path
        The JSON Lines file.
    label_col : str
        The label column.
    sep : str
        Separator of a delimited text column, for messages.
    where : str
        File and column, ending in ``"row"``, for messages.

    Raises
    ------
    InputError
        The first row whose cell is not a label set written like the other rows.
    """
    cells = _json_lines_cells(path, label_col)
    first: dict[str, int] = {}
    for row, value in enumerate(cells):
        kind = _cell_kind(value)
        if kind is not None and kind != "other":
            first.setdefault(kind, row)
    # A list in any row makes the column a list column: every other cell is then the fault.
    reference = "list" if "list" in first else min(first, key=first.__getitem__, default=None)
    element: tuple[str, int, Any] | None = None  # the first list element: kind, row, value
    for row, value in enumerate(cells):
        kind = _cell_kind(value)
        if kind is None:
            continue
        at = f"{where} {row}"
        if kind == "list":
            for item in value:
                if isinstance(item, float):
                    raise InputError(f"{at}: holds {_json_text(value)}, whose element "
                                     f"{_json_text(item)} is not a class name; class codes are "
                                     "integers written without a decimal point")
                if item is None or isinstance(item, bool) or not isinstance(item, str | int):
                    kind_of = "" if item is None else f" {_json_kind(item)},"
                    raise InputError(f"{at}: holds {_json_text(value)}, whose element "
                                     f"{_json_text(item)} is{kind_of} not a class name (a "
                                     "string or an integer)")
                item_kind = "string" if isinstance(item, str) else "number"
                if element is None:
                    element = (item_kind, row, item)
                elif element[0] != item_kind:
                    raise InputError(f"{at}: holds {_json_text(value)}, whose element "
                                     f"{_json_text(item)} is a {item_kind} where row "
                                     f"{element[1]} has the {element[0]} "
                                     f"{_json_text(element[2])}; the lists of a JSON Lines "
                                     "column must not mix numbers and strings, write every "
                                     "class the same way, e.g. all as strings")
        elif reference == "list":
            raise InputError(f"{at}: holds {_described(value)} instead of a list of class "
                             f"names (row {first['list']} holds a list); write every cell of "
                             "the column as a list")
        elif kind == "other":
            raise InputError(f"{at}: holds {_described(value)}; expected a list of class "
                             f"names, text with classes separated by {sep!r} or an integer "
                             "class code")
        elif kind != reference:
            raise InputError(f"{at}: holds {_described(value)} where row {first[reference]} "
                             f"holds {_described(cells[first[reference]])}; a JSON Lines "
                             "column must not mix numbers and strings, write every cell the "
                             "same way, e.g. all as strings")


def read_multilabel_table(path: str | os.PathLike[str], *, label_col: str = "labels",
                          id_col: str | None = None, sep: str = ",",
                          annotator_col: str | None = None, what: str = "data") -> pl.DataFrame:
    """Read the label sets of a table (CSV, TSV, Parquet, JSON Lines).

    Parameters
    ----------
    path : str or os.PathLike
        The table.
    label_col : str, default "labels"
        Column with each item's classes: delimited text or a list (see the module docstring).
    id_col : str, optional
        Column with item ids (default: row numbers). Ids must be unique unless
        ``annotator_col`` is given, in which case each (id, annotator) pair must be.
    sep : str, default ","
        Separator of a delimited text column.
    annotator_col : str, optional
        Column naming who gave each row's set (several rows per item; items
        are then in the order of their first row).
    what : str, default "data"
        What the file holds, for messages.

    Returns
    -------
    polars.DataFrame
        ``id``, ``labels`` (list of str) and, with ``annotator_col``, ``annotator``.

    Raises
    ------
    InputError
        Missing columns, a cell that is not a label set (naming file, column,
        row and value; in JSON Lines also a cell not written like the other
        rows, see the module docstring), duplicate ids.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tags.csv"
    >>> _ = path.write_text("id,labels\\na,\\"cat,dog\\"\\nb,\\nc,dog\\n")
    >>> read_multilabel_table(path, id_col="id").get_column("labels").to_list()
    [['cat', 'dog'], [], ['dog']]
    """
    path = Path(path)
    if not isinstance(sep, str) or not sep:
        raise InputError(f"--label-sep must be a non-empty string, got {sep!r}")
    text = (label_col, id_col, annotator_col) if path.suffix.lower() in _TEXT_SUFFIXES else (
        id_col, annotator_col)
    source = f"{what} file '{path}'"
    where = f"{source}, column '{label_col}', row"
    if path.suffix.lower() in _JSON_LINES_SUFFIXES and not path.is_dir():
        _check_json_lines_cells(path, label_col, sep=sep, where=where)
    df = read_table(path, what=what, text_columns=text)
    require_columns(df, [c for c in (label_col, id_col, annotator_col) if c is not None],
                    source=source)
    column = df.get_column(label_col)
    if isinstance(column.dtype, pl.List):
        sets = [_list_cell(cell, f"{where} {row}") for row, cell in enumerate(column.to_list())]
    elif column.dtype == pl.String or column.dtype == pl.Null:
        sets = [split_label_cell(cell, sep=sep, where=f"{where} {row}")
                for row, cell in enumerate(column.to_list())]
    elif column.dtype.is_integer():  # one class per cell, written as a number
        sets = [[] if cell is None else [str(cell)] for cell in column.to_list()]
    else:
        raise InputError(f"{source}: column '{label_col}' has type {column.dtype}; expected "
                         f"text with classes separated by {sep!r} or a list of class names")
    if annotator_col is None:
        ids = item_ids(df, id_col, source=source)
        return pl.DataFrame({"id": ids, "labels": pl.Series("labels", sets,
                                                            dtype=pl.List(pl.String))})
    ids = (pl.Series("id", np.arange(df.height, dtype=np.int64)) if id_col is None
           else df.get_column(id_col).alias("id"))
    annotators = df.get_column(annotator_col).cast(pl.String).alias("annotator")
    for name, values in (("id", ids), ("annotator", annotators)):
        nulls = values.is_null()
        if nulls.any():
            raise InputError(f"{source}: column '{id_col if name == 'id' else annotator_col}' "
                             f"is null at row {int(nulls.arg_true()[0])}")
    out = pl.DataFrame({"id": ids, "annotator": annotators,
                        "labels": pl.Series("labels", sets, dtype=pl.List(pl.String))})
    repeat = ~out.select(pl.struct("id", "annotator").is_first_distinct()).to_series()
    if repeat.any():
        row = int(repeat.arg_true()[0])
        raise InputError(f"{source}: item {out['id'][row]!r} has two rows from annotator "
                         f"{out['annotator'][row]!r} (row {row})")
    return out


def multilabel_classes(sets: pl.Series, classes: Sequence[str] | None, *,
                       source: str) -> list[str]:
    """The class names: ``classes`` checked against every set, else the sorted union.

    Parameters
    ----------
    sets : polars.Series of list of str
    classes : sequence of str, optional
        ``--classes``, in order; must be unique and hold every class used.
    source : str
        For messages.

    Returns
    -------
    list of str

    Raises
    ------
    InputError
        A repeated name in ``classes``, a used class not among them, or fewer than 2 classes.
    """
    used = sets.explode().drop_nulls()
    if classes is None:
        names = sorted(set(used.to_list()))
    else:
        names = [str(c) for c in classes]
        repeated = [c for c in dict.fromkeys(names) if names.count(c) > 1]
        if repeated:
            raise InputError(f"--classes names {repeated[0]!r} twice")
        known = set(names)
        for row, cell in enumerate(sets.to_list()):
            unknown = [c for c in cell if c not in known]
            if unknown:
                raise InputError(f"{source}: row {row} has class {unknown[0]!r}, not one of "
                                 f"--classes {_quote(names[:10])}")
    if len(names) < 2:
        raise InputError(f"{source}: a multi-label audit needs at least 2 classes, got "
                         f"{len(names)} ({_quote(names)}); name absent ones with --classes")
    return names


def multilabel_indices(sets: pl.Series, class_names: Sequence[str]) -> list[list[int]]:
    """Each label set as the sorted class indices ``labelaudit.multilabel_classification`` takes.

    Examples
    --------
    >>> import polars as pl
    >>> multilabel_indices(pl.Series([["dog", "cat"], []]), ["cat", "dog"])
    [[0, 1], []]
    """
    code = {c: i for i, c in enumerate(class_names)}
    return [sorted(code[c] for c in cell) for cell in sets.to_list()]


def read_multilabel_probs(path: str | os.PathLike[str], *, class_names: Sequence[str],
                          ids: pl.Series) -> np.ndarray:
    """Per-class probabilities, one row per item (``.npy``, ``.npz`` or a table).

    A ``.npy``/``.npz`` holds the ``(N, K)`` matrix in the row order of the
    items, columns in class order; a table (CSV, Parquet, ...) has one column
    per class named as the class, and an ``id`` column to match rows by id.
    Each entry is the probability that the item carries that class, in
    [0, 1]; rows need not sum to 1.

    Raises
    ------
    InputError
        Wrong shape, missing class columns, a value outside [0, 1] or not finite
        (naming the row and class).
    """
    path = Path(path)
    probs = load_pred_probs(path, class_names=list(class_names), ids=ids, id_col="id")
    bad = ~((probs >= 0) & (probs <= 1))  # NaN is bad too
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise InputError(f"probabilities file '{path}': row {row}, class "
                         f"{class_names[col]!r} is {float(probs[row, col])!r}; expected a "
                         "probability in [0, 1]")
    return probs


def _annotation_choices(ann: dict[str, Any], at: str) -> list[str]:
    picked = [str(c).strip() for c in _choices(ann, at)]
    if any(not c for c in picked):
        raise InputError(f"{at}: an empty choice")
    return _no_repeats(picked, at)


def _prediction_scores(task: dict[str, Any], at: str) -> dict[str, float] | None:
    predictions = _expect(task.get("predictions"), list, f"{at}: 'predictions'",
                          "a list of predictions")
    if not predictions:
        return None
    pred = _expect(predictions[0], dict, f"{at}: prediction at position 0", "an object",
                   missing_ok=False)
    default = pred.get("score", 1.0)
    scores: dict[str, float] = {}
    results = _expect(pred.get("result"), list, f"{at}: prediction 'result'", "a list")
    for position, result in enumerate(results):
        here = f"{at}: prediction result at position {position}"
        result = _expect(result, dict, here, "an object", missing_ok=False)
        value = _expect(result.get("value"), dict, f"{here}: 'value'", "an object")
        choices = _expect(value.get("choices"), list, f"{here}: 'choices'", "a list of choices")
        score = result.get("score", default)
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise InputError(f"{here}: 'score' is {_json_kind(score)} {score!r}; expected a "
                             "probability in [0, 1]")
        for choice in choices:
            scores[str(choice).strip()] = float(score)
    return scores


def read_label_studio_multilabel(path: str | os.PathLike[str], *, what: str = "data"
                                 ) -> tuple[pl.DataFrame, list[dict[str, float] | None]]:
    """Read a Label Studio JSON export of multi-choice annotations.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON export: a list of tasks with ``annotations`` (and optionally ``predictions``).
    what : str, default "data"

    Returns
    -------
    sets : polars.DataFrame
        ``id`` (integer when every task id is one, else string), ``annotator`` (string or null), ``labels`` (list of
        str), one row per annotation that was not cancelled, in export order.
    predictions : list
        Per task kept (in the order of first appearance in ``sets``), the
        class -> probability mapping of its first prediction, or None when it has none.

    Raises
    ------
    InputError
        Not a task list, malformed results or scores, no annotation at all.
    """
    path = Path(path)
    tasks = read_json(path, what=what)
    source = f"{what} file '{path}'"
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise InputError(f"{source} is not a Label Studio export: expected a JSON list of tasks")
    rows: dict[str, list] = {"id": [], "annotator": [], "labels": []}
    predictions: list[dict[str, float] | None] = []
    skipped = 0
    for index, task in enumerate(tasks):
        at = f"{source}, task at position {index}"
        if "annotations" not in task:
            raise InputError(f"{at} has no 'annotations'; expected a Label Studio JSON export "
                             "(JSON_MIN and CSV exports do not keep multiple choices apart)")
        data = _expect(task.get("data"), dict, f"{at}: 'data'", "an object")
        task_id = data.get(ITEM_ID_FIELD, task.get("id", index))
        annotations = _expect(task.get("annotations"), list, f"{at}: 'annotations'", "a list")
        kept = 0
        for position, ann in enumerate(annotations):
            ann = _expect(ann, dict, f"{at}: annotation at position {position}", "an object",
                          missing_ok=False)
            if ann.get("was_cancelled"):
                continue
            here = f"{at}, annotation {ann.get('id', position)!r}"
            uid, name = _annotator_of(ann, here)
            rows["id"].append(task_id)
            rows["annotator"].append(name if name is not None else uid)
            rows["labels"].append(_annotation_choices(ann, here))
            kept += 1
        if kept:
            predictions.append(_prediction_scores(task, at))
        else:
            skipped += 1
    if skipped:
        warnings.warn(f"{source}: skipped {skipped} task(s) without a completed annotation",
                      LabelAuditWarning, stacklevel=2)
    if not rows["id"]:
        raise InputError(f"{source} holds no completed annotation")
    ids = rows.pop("id")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        ids = [str(i) for i in ids]
    return pl.DataFrame({"id": ids, **rows}, schema={
        "id": pl.Int64 if ids and isinstance(ids[0], int) else pl.String,
        "annotator": pl.String, "labels": pl.List(pl.String)}), predictions


def label_studio_prediction_matrix(predictions: list[dict[str, float] | None],
                                   class_names: Sequence[str], *, source: str) -> np.ndarray:
    """The ``(tasks, K)`` probability matrix of Label Studio predictions (see the module docstring).

    Raises
    ------
    InputError
        A task without a prediction, or a predicted class not among ``class_names``.
    """
    code = {c: i for i, c in enumerate(class_names)}
    out = np.zeros((len(predictions), len(class_names)), dtype=np.float64)
    for row, scores in enumerate(predictions):
        if scores is None:
            raise InputError(f"{source}: task {row} (of the annotated ones) has no prediction; "
                             "give --pred-probs or predictions for every task")
        for name, p in scores.items():
            if name not in code:
                raise InputError(f"{source}: task {row} predicts class {name!r}, not one of "
                                 f"{_quote(list(class_names)[:10])}")
            out[row, code[name]] = p
    return out
