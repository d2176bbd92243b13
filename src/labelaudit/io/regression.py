"""Numeric model predictions for a regression audit: ``.npy`` arrays or table columns."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .._validation import numeric_values
from ..exceptions import InputError
from ._common import _check_file
from .tables import align_by_id, read_table

__all__ = ["read_regression_predictions"]

#: Column read from a predictions table when none is named.
DEFAULT_PREDICTION_COLUMN = "prediction"


def read_regression_predictions(
    path: str | os.PathLike[str],
    *,
    ids: pl.Series | Sequence[Any],
    id_col: str | None = None,
    column: str | None = None,
) -> np.ndarray:
    """Read one out-of-sample prediction per item.

    Parameters
    ----------
    path : str or os.PathLike
        - ``.npy``: shape ``(n,)`` or ``(n, 1)``, rows in the order of ``ids``
          (memory-mapped; float32 stays float32).
        - a table :func:`read_table` reads (CSV, Parquet, ...): the column
          ``column`` (default ``"prediction"``); when the table has the
          column ``id_col`` its rows are matched to ``ids`` by id, otherwise
          they are taken in order.
    ids : polars.Series or sequence
        Item ids of the labels, in label order.
    id_col : str, optional
        Id column of the items table (looked for in the predictions table).
    column : str, optional
        Column of a predictions table.

    Returns
    -------
    numpy.ndarray of shape (n,), dtype float32 or float64

    Raises
    ------
    InputError
        Unreadable file, wrong length, a missing column or id, or values that
        are not finite numbers (naming the row).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(d / "pred.npy", np.array([1.5, 2.0, 2.5]))
    >>> read_regression_predictions(d / "pred.npy", ids=[0, 1, 2]).tolist()
    [1.5, 2.0, 2.5]
    """
    path = Path(path)
    n = len(ids)
    if path.suffix.lower() == ".npy":
        _check_file(path, "predictions")
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"predictions file '{path}' is not a readable .npy file: "
                             f"{exc}") from None
        values = numeric_values(arr, source=f"predictions file '{path}'", role="predictions")
        source = f"predictions file '{path}'"
    else:
        column = column or DEFAULT_PREDICTION_COLUMN
        df = read_table(path, what="predictions")
        source = f"predictions file '{path}', column '{column}'"
        if column not in df.columns:
            raise InputError(f"predictions file '{path}' has no column '{column}' (columns: "
                             f"{', '.join(df.columns[:20])}); name it with --prediction-col")
        if id_col is not None and id_col in df.columns:
            perm = align_by_id(ids, df.get_column(id_col), left_source="data",
                               right_source=f"predictions file '{path}'")
            df = df[perm]
        values = numeric_values(df.get_column(column), source=source, role="predictions")
    if values.shape[0] != n:
        raise InputError(f"{source}: {values.shape[0]} predictions for {n} items; give one "
                         f"prediction per item, in the items' order")
    return values
