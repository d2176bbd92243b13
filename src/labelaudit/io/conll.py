"""Token-labelled text in: CoNLL/BIO files and long tables (sentence, token, label).

Both readers return the same long table, one row per token in file order:

- ``sentence_id`` (str): the sentence the token belongs to;
- ``position`` (int64): the token's index within its sentence, from 0;
- ``token`` (str): the word;
- ``label`` (str): its given tag (``O``, ``B-PER``, ``I-PER``, ...).

The row order is the order of the model's token probabilities: row ``t`` of
the flat ``(T, K)`` matrix read by :func:`read_token_probs` belongs to the
token in row ``t`` of this table.

Examples
--------
>>> import pathlib, tempfile
>>> from labelaudit.io.conll import read_conll
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.conll"
>>> _ = path.write_text("-DOCSTART- O\\n\\nJohn B-PER\\nlives O\\n\\nParis B-LOC\\n")
>>> read_conll(path).rows()
[('1', 0, 'John', 'B-PER'), ('1', 1, 'lives', 'O'), ('2', 0, 'Paris', 'B-LOC')]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from ..exceptions import InputError
from ._common import _check_file, _first_invalid_utf8
from .probs import load_pred_probs
from .tables import read_table, require_columns

__all__ = ["CONLL_SUFFIXES", "TOKEN_COLUMNS", "read_conll", "read_token_probs", "read_token_table"]

#: File suffixes read as CoNLL/BIO text.
CONLL_SUFFIXES = (".conll", ".conllu", ".bio", ".iob", ".iob2", ".txt")

#: Columns of the long token table both readers return.
TOKEN_COLUMNS = ("sentence_id", "position", "token", "label")

_SCHEMA = {"sentence_id": pl.String, "position": pl.Int64, "token": pl.String, "label": pl.String}


def _frame(sentence_ids, positions, tokens, labels) -> pl.DataFrame:
    return pl.DataFrame({"sentence_id": sentence_ids, "position": positions, "token": tokens,
                         "label": labels}, schema=_SCHEMA)


def read_conll(path: str | os.PathLike[str], *, what: str = "tokens") -> pl.DataFrame:
    """Read a CoNLL/BIO file: one token per line, sentences separated by blank lines.

    Parameters
    ----------
    path : str or os.PathLike
        UTF-8 text. Each non-blank line is ``TOKEN [COLUMNS ...] TAG``,
        whitespace-separated: the first field is the word, the last the tag
        (as in CoNLL-2003, whose POS and chunk columns are ignored). Lines
        starting with ``-DOCSTART-`` are document markers and skipped; blank
        lines end a sentence.
    what : str, default "tokens"
        What the file holds, for messages.

    Returns
    -------
    polars.DataFrame
        The long token table (see the module docstring); sentence ids are the
        sentences' 1-based order in the file, as strings.

    Raises
    ------
    InputError
        A missing, empty or non-UTF-8 file, a line with only one field (no
        tag), or a file without tokens.
    """
    path = Path(path)
    _check_file(path, what)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = _first_invalid_utf8(path) or f"byte offset {exc.start}"
        raise InputError(f"{what} file '{path}' is not valid UTF-8: {bad}") from exc
    sentence_ids: list[str] = []
    positions: list[int] = []
    tokens: list[str] = []
    labels: list[str] = []
    sentence = 1
    position = 0
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            if position:
                sentence += 1
                position = 0
            continue
        if fields[0] == "-DOCSTART-":
            continue
        if len(fields) < 2:
            raise InputError(
                f"{what} file '{path}', line {number}: {line.strip()!r} has no tag; expected "
                "'TOKEN TAG' (whitespace-separated, tag last)"
            )
        sentence_ids.append(str(sentence))
        positions.append(position)
        tokens.append(fields[0])
        labels.append(fields[-1])
        position += 1
    if not tokens:
        raise InputError(f"{what} file '{path}' holds no tokens")
    return _frame(sentence_ids, positions, tokens, labels)


def read_token_table(path: str | os.PathLike[str], *, sentence_col: str = "sentence_id",
                     token_col: str = "token", label_col: str = "label",
                     what: str = "tokens") -> pl.DataFrame:
    """Read a long table with one row per token: sentence id, word, tag.

    Parameters
    ----------
    path : str or os.PathLike
        CSV, TSV, Parquet or JSON Lines (see :func:`labelaudit.io.read_table`).
        Rows are tokens in sentence order; the rows of one sentence must be
        consecutive.
    sentence_col, token_col, label_col : str
        Column names of the sentence id, the word and the tag.
    what : str, default "tokens"
        What the file holds, for messages.

    Returns
    -------
    polars.DataFrame
        The long token table (see the module docstring), positions counted
        in row order within each sentence.

    Raises
    ------
    InputError
        Missing columns, nulls, or a sentence whose rows are not consecutive.
    """
    path = Path(path)
    source = f"{what} file '{path}'"
    df = read_table(path, what=what, text_columns=(sentence_col, token_col, label_col))
    require_columns(df, [sentence_col, token_col, label_col], source=source)
    df = df.select(pl.col(sentence_col).cast(pl.String).alias("sentence_id"),
                   pl.col(token_col).cast(pl.String).alias("token"),
                   pl.col(label_col).cast(pl.String).alias("label"))
    for col, name in (("sentence_id", sentence_col), ("token", token_col), ("label", label_col)):
        nulls = df.get_column(col).is_null()
        if nulls.any():
            row = int(nulls.arg_max())
            raise InputError(f"{source}: column '{name}' is empty at row {row}")
    sid = df.get_column("sentence_id")
    change = np.flatnonzero(sid.ne(sid.shift(1)).fill_null(True).to_numpy())
    starts_ids = sid.gather(change)
    if starts_ids.n_unique() != starts_ids.len():
        dup = starts_ids.is_duplicated().to_numpy()
        first = int(np.argmax(dup))
        again = int(change[np.flatnonzero(starts_ids.to_numpy() == starts_ids[first])[1]])
        raise InputError(
            f"{source}: the rows of sentence {starts_ids[first]!r} are not consecutive (it "
            f"starts again at row {again}); sort the table by sentence, keeping token order"
        )
    lengths = np.diff(np.append(change, df.height))
    positions = np.arange(df.height, dtype=np.int64) - np.repeat(change, lengths)
    return df.with_columns(pl.Series("position", positions, dtype=pl.Int64)).select(
        TOKEN_COLUMNS)


def read_token_probs(path: str | os.PathLike[str], *, class_names, n_tokens: int) -> np.ndarray:
    """Read the flat token probability matrix, one row per token in file order.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy`` (opened as a read-only memory map) or ``.npz`` (the array
        ``pred_probs``, or the only array) of shape ``(T, K)``: row ``t`` holds
        the probabilities of token ``t`` of the token table (file order
        across all sentences), column ``k`` those of ``class_names[k]``.
    class_names : sequence of str
        The tags in column order.
    n_tokens : int
        Tokens of the token table (``T``).

    Returns
    -------
    numpy.ndarray of shape (T, K)
        float32 or float64, C-contiguous (a memory map for ``.npy``).

    Raises
    ------
    InputError
        A file that is not ``.npy``/``.npz``, the wrong number of rows or columns.
    """
    path = Path(path)
    if path.suffix.lower() not in (".npy", ".npz"):
        raise InputError(
            f"--pred-probs '{path}': token probabilities must be a .npy or .npz file holding "
            "the flat (tokens x classes) matrix in file order"
        )
    probs = load_pred_probs(path, class_names=list(class_names))
    if probs.shape[0] != n_tokens:
        raise InputError(
            f"--pred-probs '{path}' has {probs.shape[0]} rows for {n_tokens} tokens: it must "
            "hold one row per token, all sentences in file order"
        )
    return probs
