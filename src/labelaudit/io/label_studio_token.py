"""Label Studio named-entity exports in: character spans become token tags.

A Label Studio NER project labels character spans of a text (``Labels``
control). To audit them token by token, each task's text is split into
tokens and every token gets a BIO tag from the spans that cover it:

- **Tokenisation**: a token is a run of word characters, optionally joined
  by inner hyphens or apostrophes (``state-of-the-art``, ``O'Neil``,
  ``don't``), or one single character that is neither a word character nor
  whitespace (each punctuation mark is its own token). This is the regular
  expression :data:`TOKEN_PATTERN`; word characters are Unicode ones.
- **Tags**: a token overlapping a span labelled ``X`` (at least one shared
  character) is tagged ``B-X`` if it is the span's first such token, else
  ``I-X``; other tokens are ``O``. When spans overlap, the span starting
  first (then the longer one) keeps the tokens it covers.

Exports read:

- **JSON**: a list of tasks with ``data`` and ``annotations``; the first
  annotation that was not cancelled is used. Tasks without one are skipped
  (with a warning), so the model's token probabilities must cover only the
  kept tasks, in export order.
- **JSON_MIN**: a list of records holding the text field and a list of span
  objects (``start``, ``end``, ``labels``).

The text is the task data field ``text``, or the only text field.

Examples
--------
>>> from labelaudit.io.label_studio_token import spans_to_tags
>>> spans_to_tags("Ada Lovelace met Babbage.", [(0, 12, "PER"), (17, 24, "PER")])
[('Ada', 'B-PER'), ('Lovelace', 'I-PER'), ('met', 'O'), ('Babbage', 'B-PER'), ('.', 'O')]
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import polars as pl

from ..exceptions import InputError, LabelAuditWarning
from .config import read_json
from .label_studio import _FLAT_META, _expect, _json_kind

__all__ = ["TOKEN_PATTERN", "read_label_studio_spans", "spans_to_tags", "tokenize"]

#: How a task's text is split into tokens (see the module docstring).
TOKEN_PATTERN = re.compile(r"\w+(?:[-']\w+)*|[^\w\s]")


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Tokens of ``text`` with their character offsets ``(token, start, end)``."""
    return [(m.group(), m.start(), m.end()) for m in TOKEN_PATTERN.finditer(text)]


def spans_to_tags(text: str, spans) -> list[tuple[str, str]]:
    """BIO-tag the tokens of ``text`` from character spans ``(start, end, label)``."""
    tokens = tokenize(text)
    tags = ["O"] * len(tokens)
    taken = [False] * len(tokens)
    for start, end, label in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        first = True
        for t, (_, a, b) in enumerate(tokens):
            if a < end and b > start and not taken[t]:
                tags[t] = ("B-" if first else "I-") + label
                taken[t] = True
                first = False
    return [(tok, tag) for (tok, _, _), tag in zip(tokens, tags, strict=True)]


def _text_of(data: Any, at: str) -> str:
    data = _expect(data, dict, f"{at}: 'data'", "an object", missing_ok=False)
    if isinstance(data.get("text"), str):
        return data["text"]
    texts = [v for v in data.values() if isinstance(v, str)]
    if len(texts) != 1:
        raise InputError(f"{at}: no text field; expected data field 'text' (or one text field)")
    return texts[0]


def _spans(results: Any, at: str) -> list[tuple[int, int, str]]:
    spans = []
    for position, result in enumerate(_expect(results, list, at, "a list of spans")):
        here = f"{at} at position {position}"
        result = _expect(result, dict, here, "an object", missing_ok=False)
        value = result.get("value", result)  # JSON puts the span under 'value', JSON_MIN not
        value = _expect(value, dict, f"{here}: 'value'", "an object", missing_ok=False)
        if "labels" not in value:
            continue  # another control (a text area, a choice) of the same task
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end):
            raise InputError(
                f"{here}: 'start'/'end' are {_json_kind(start)} and {_json_kind(end)} "
                f"({start!r}, {end!r}); expected character offsets with start <= end"
            )
        labels = _expect(labels, list, f"{here}: 'labels'", "a list of labels")
        if len(labels) != 1 or not isinstance(labels[0], str):
            raise InputError(f"{here}: 'labels' is {labels!r}; expected exactly one label name")
        spans.append((start, end, labels[0]))
    return spans


def read_label_studio_spans(path: str | os.PathLike[str], *, what: str = "tokens") -> pl.DataFrame:
    """Read a Label Studio NER export as the long token table of :mod:`labelaudit.io.conll`.

    Parameters
    ----------
    path : str or os.PathLike
        JSON or JSON_MIN export of a project with a ``Labels`` control.
    what : str, default "tokens"
        What the file holds, for messages.

    Returns
    -------
    polars.DataFrame
        ``sentence_id`` (the task id, else its position), ``position``,
        ``token``, ``label`` (BIO tags), one row per token in export order.

    Raises
    ------
    InputError
        Not a list of tasks, a task without text, malformed spans, no tokens.
    """
    path = Path(path)
    tasks = read_json(path, what=what)
    source = f"{what} file '{path}'"
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise InputError(f"{source} is not a Label Studio export: expected a JSON list of tasks")
    rows: dict[str, list] = {"sentence_id": [], "position": [], "token": [], "label": []}
    skipped = 0
    for index, task in enumerate(tasks):
        at = f"{source}, task at position {index}"
        if "annotations" in task or "data" in task:
            annotations = _expect(task.get("annotations"), list, f"{at}: 'annotations'",
                                  "a list of annotations")
            done = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
            if not done:
                skipped += 1
                continue
            text = _text_of(task.get("data"), at)
            spans = _spans(done[0].get("result"), f"{at}: annotation result")
        else:  # JSON_MIN: the text field and one list of span objects per control
            text = _text_of({k: v for k, v in task.items()
                             if isinstance(v, str) and k not in _FLAT_META}, at)
            lists = [v for v in task.values()
                     if isinstance(v, list) and v and all(isinstance(s, dict) for s in v)]
            spans = [s for v in lists for s in _spans(v, f"{at}: spans")]
        sid = str(task.get("id", index))
        for position, (token, tag) in enumerate(spans_to_tags(text, spans)):
            rows["sentence_id"].append(sid)
            rows["position"].append(position)
            rows["token"].append(token)
            rows["label"].append(tag)
    if skipped:
        warnings.warn(f"{source}: skipped {skipped} task(s) without a completed annotation",
                      LabelAuditWarning, stacklevel=2)
    if not rows["token"]:
        raise InputError(f"{source} holds no annotated tokens")
    return pl.DataFrame(rows, schema={"sentence_id": pl.String, "position": pl.Int64,
                                      "token": pl.String, "label": pl.String})
