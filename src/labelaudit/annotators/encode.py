"""Annotations as integer codes: the long table checked once and encoded for the kernels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from labelaudit._validation import check_annotations
from labelaudit.exceptions import InputError

__all__ = ["EncodedAnnotations", "encode_annotations", "label_counts"]


@dataclass(frozen=True)
class EncodedAnnotations:
    """Annotations as integer codes, in long form.

    Attributes
    ----------
    item : ndarray of shape (n_annotations,), dtype=intp
        Row of each annotation's item in ``item_ids``.
    annotator : ndarray of shape (n_annotations,), dtype=intp
        Row of each annotation's annotator in ``annotator_ids``.
    label : ndarray of shape (n_annotations,), dtype=intp
        Class index (0 .. n_classes - 1) of each annotation.
    item_ids : polars.Series
        Item identifiers; row ``i`` of every per-item output refers to ``item_ids[i]``.
    annotator_ids : polars.Series
        Annotator identifiers, sorted.
    classes : tuple
        Class names (or raw label values) indexed by class code.
    time : polars.Series or None
        Timestamp of each annotation (input row order), if a time column was given.
    item_col, annotator_col : str
        Column names used for identifiers in every output table.
    """

    item: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    item_ids: pl.Series
    annotator_ids: pl.Series
    classes: tuple
    time: pl.Series | None = None
    item_col: str = "item_id"
    annotator_col: str = "annotator_id"

    @property
    def n_annotations(self) -> int:
        """Number of annotations."""
        return int(self.item.shape[0])

    @property
    def n_items(self) -> int:
        """Number of items (including items without annotations)."""
        return int(self.item_ids.len())

    @property
    def n_annotators(self) -> int:
        """Number of distinct annotators."""
        return int(self.annotator_ids.len())

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def class_names(self) -> list[str]:
        """Class names as strings."""
        return [str(c) for c in self.classes]


def _first_null_row(series: pl.Series) -> int | None:
    if series.null_count() == 0:
        return None
    return int(series.is_null().arg_true()[0])


def _positions(values: pl.Series, keys: pl.Series) -> tuple[np.ndarray, int | None]:
    """Position of each value in ``keys`` (unique), and the first row not found (or None)."""
    lookup = pl.DataFrame({"__key": keys, "__pos": np.arange(keys.len(), dtype=np.int64)})
    joined = values.alias("__key").to_frame().join(
        lookup, on="__key", how="left", maintain_order="left"
    )
    row = _first_null_row(joined["__pos"])
    if row is not None:
        return np.zeros(0, dtype=np.intp), row
    return joined["__pos"].to_numpy().astype(np.intp), None


def _dense_codes(series: pl.Series) -> np.ndarray:
    """0-based codes that follow the sort order of the unique values."""
    if series.dtype.is_integer() and series.len() and series.null_count() == 0:
        lo, hi = series.min(), series.max()
        if lo >= 0 and hi <= 4 * series.len() + 1024:
            # Small non-negative integer ids: a presence table avoids a sort.
            values = series.to_numpy()
            present = np.zeros(int(hi) + 1, dtype=np.intp)
            present[values] = 1
            return (np.cumsum(present) - 1)[values].astype(np.intp, copy=False)
    return (series.rank("dense").cast(pl.Int64) - 1).to_numpy().astype(np.intp, copy=False)


def encode_annotations(
    annotations: pl.DataFrame,
    *,
    item_col: str,
    annotator_col: str,
    label_col: str,
    time_col: str | None = None,
    classes: Sequence[Any] | None = None,
    item_ids: Sequence[Any] | pl.Series | np.ndarray | None = None,
    source: str = "annotations",
) -> EncodedAnnotations:
    """Validate a long annotation table and encode it as integer arrays.

    Parameters
    ----------
    annotations : polars.DataFrame
        One row per annotation.
    item_col, annotator_col, label_col : str
        Columns holding the item id, the annotator id and the label.
    time_col : str, optional
        Column holding a ``Date`` or ``Datetime`` timestamp per annotation.
    classes : sequence, optional
        Class names. When given, labels must either be integers in
        ``0 .. len(classes) - 1`` or values found in ``classes``. When omitted,
        the sorted distinct label values become the classes.
    item_ids : sequence, optional
        Item ids in the order of per-item inputs (``pred_probs``,
        ``issue_mask``). Must be unique and contain every annotated item; items
        without annotations are allowed. Defaults to the sorted distinct
        annotated items.
    source : str, default "annotations"
        Name of the table at the front of error messages, e.g. ``"annotations file
        'a.csv'"``.

    Returns
    -------
    EncodedAnnotations
        Integer-coded annotations.

    Raises
    ------
    InputError
        On a missing column, a null id or label, an unknown label, a duplicate
        (item, annotator) pair, or an annotated item missing from ``item_ids``
        (the table checks are :func:`labelaudit._validation.check_annotations`).
    """
    annotations = check_annotations(
        annotations, item_col=item_col, annotator_col=annotator_col, label_col=label_col,
        time_col=time_col, source=source,
    )

    # Items.
    if item_ids is None:
        ids = annotations[item_col].unique().sort()
        item = _dense_codes(annotations[item_col])
    else:
        ids = pl.Series(item_col, item_ids) if not isinstance(item_ids, pl.Series) else item_ids
        ids = ids.alias(item_col)
        if ids.null_count():
            raise InputError(f"item_ids must not contain nulls; position {_first_null_row(ids)} is null")
        if ids.is_duplicated().any():
            dup = ids.filter(ids.is_duplicated())[0]
            raise InputError(f"item_ids must be unique; {dup!r} appears more than once")
        try:
            item, row = _positions(annotations[item_col], ids)
        except pl.exceptions.PolarsError as exc:
            raise InputError(
                f"item_ids dtype {ids.dtype} does not match annotations column {item_col!r} "
                f"dtype {annotations[item_col].dtype}"
            ) from exc
        if row is not None:
            raise InputError(
                f"{source}: item {annotations[item_col][row]!r} in column {item_col!r} "
                f"(row {row}) is not in item_ids"
            )

    # Annotators.
    annotator_ids = annotations[annotator_col].unique().sort()
    annotator = _dense_codes(annotations[annotator_col])

    # Labels.
    raw = annotations[label_col]
    if classes is None:
        class_values = tuple(raw.unique().sort().to_list())
        label = _dense_codes(raw)
    else:
        class_values = tuple(classes)
        if len(class_values) == 0:
            raise InputError("classes must not be empty")
        if len(set(map(str, class_values))) != len(class_values):
            raise InputError(f"classes must be distinct; got {list(class_values)}")
        if raw.dtype.is_integer():
            label = raw.to_numpy().astype(np.intp)
            bad = np.flatnonzero((label < 0) | (label >= len(class_values)))
            if bad.size:
                raise InputError(
                    f"{source}: column {label_col!r} must hold class codes in "
                    f"[0, {len(class_values) - 1}] when classes is given; row {int(bad[0])} has "
                    f"{int(label[bad[0]])} (cast labels to strings to match them by class name)"
                )
        else:
            names = pl.Series([str(c) for c in class_values], dtype=pl.String)
            label, row = _positions(raw.cast(pl.String), names)
            if row is not None:
                raise InputError(
                    f"{source}: label {raw[row]!r} in column {label_col!r} (row {row}) "
                    f"is not one of classes {list(class_values)}"
                )

    time = annotations[time_col] if time_col is not None else None

    return EncodedAnnotations(
        item=np.ascontiguousarray(item, dtype=np.intp),
        annotator=np.ascontiguousarray(annotator, dtype=np.intp),
        label=np.ascontiguousarray(label, dtype=np.intp),
        item_ids=ids.alias(item_col),
        annotator_ids=annotator_ids.alias(annotator_col),
        classes=class_values,
        time=time,
        item_col=item_col,
        annotator_col=annotator_col,
    )


def label_counts(encoded: EncodedAnnotations) -> np.ndarray:
    """Items x classes table of label counts.

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.

    Returns
    -------
    ndarray of shape (n_items, n_classes), dtype=int64
        ``counts[i, k]`` is the number of annotators who gave item ``i`` class ``k``.
    """
    k = encoded.n_classes
    flat = np.bincount(
        encoded.item.astype(np.int64) * k + encoded.label, minlength=encoded.n_items * k
    )
    return flat.reshape(encoded.n_items, k).astype(np.int64, copy=False)
