"""The slice metrics: one spec table, :data:`SLICE_METRICS`.

Every metric is computed the same way from per-row values: the slice's value is the mean
of the rows that have a value (nulls and NaN are skipped). ``issue_rate`` is the primary
metric: it is read from a 0/1 issue column without nulls, and it alone carries Wilson
intervals, slice-versus-rest tests and flags. The others are reported next to it.

Adding a metric is one :func:`register_slice_metric` call: it then appears as a column
of :attr:`SliceReport.table <labelaudit.slices.SliceReport.table>` and ``overall``, is
accepted by ``by_group``, ``difference``, ``ratio``, :func:`~labelaudit.slices.disparity`
and ``to_metricframe``, and its column is passed to
:func:`~labelaudit.slices.analyze_slices` through ``metric_cols``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from labelaudit.exceptions import InputError, LabelAuditError

__all__ = [
    "METRICS",
    "SLICE_METRICS",
    "SliceMetric",
    "metric_names",
    "read_metric",
    "register_slice_metric",
]


@dataclass(frozen=True)
class SliceMetric:
    """One entry of :data:`SLICE_METRICS`.

    Attributes
    ----------
    name : str
        Column of the slice table and key for ``by_group(attribute, name)``.
    label : str
        Short human-readable name.
    direction : {"higher_is_worse", "higher_is_better"}
        Which way a slice's value is bad.
    parameter : str or None
        Keyword of :func:`~labelaudit.slices.analyze_slices` that names the per-row
        column (``"quality_col"``, ...). ``None`` for registered metrics, whose column is
        given in ``metric_cols={name: column}``.
    bounded : bool
        Per-row values must lie in [0, 1] (checked, naming the first bad row).
    row_values : callable or None
        ``row_values(series) -> series`` turns the column into the per-row values that are
        averaged (for example ``lambda s: s < 0.5``); ``None`` averages the column itself.
    count_column : str or None
        Also report, under this name, the number of rows of each slice with a value.
    description : str
        One line for the documentation.
    """

    name: str
    label: str
    direction: Literal["higher_is_worse", "higher_is_better"]
    parameter: str | None = None
    bounded: bool = False
    row_values: Callable[[pl.Series], pl.Series] | None = None
    count_column: str | None = None
    description: str = ""


#: The slice metrics by name, in the order of the table's columns. ``issue_rate`` is first.
SLICE_METRICS: dict[str, SliceMetric] = {}


def register_slice_metric(metric: SliceMetric) -> SliceMetric:
    """Add a metric to :data:`SLICE_METRICS` (replacing one of the same name).

    Parameters
    ----------
    metric : SliceMetric
        The spec.

    Returns
    -------
    SliceMetric
        ``metric``.

    Examples
    --------
    >>> import polars as pl
    >>> from labelaudit.slices import analyze_slices
    >>> _ = register_slice_metric(SliceMetric(
    ...     "low_quality_share", "share of labels with quality < 0.5", "higher_is_worse",
    ...     bounded=True, row_values=lambda s: s < 0.5))
    >>> frame = pl.DataFrame({"source": ["a", "a", "b", "b"], "is_issue": [0, 1, 0, 0],
    ...                       "q": [0.2, 0.9, 0.8, 0.7]})
    >>> report = analyze_slices(frame, attributes=["source"], quality_col=None,
    ...                         metric_cols={"low_quality_share": "q"})
    >>> report.by_group("source", "low_quality_share")["low_quality_share"].to_list()
    [0.5, 0.0]
    >>> del SLICE_METRICS["low_quality_share"]
    """
    if not isinstance(metric, SliceMetric):
        raise LabelAuditError(f"a slice metric must be a SliceMetric; got {type(metric).__name__}")
    if metric.direction not in ("higher_is_worse", "higher_is_better"):
        raise LabelAuditError(
            f"SliceMetric.direction must be 'higher_is_worse' or 'higher_is_better'; got "
            f"{metric.direction!r}"
        )
    SLICE_METRICS[metric.name] = metric
    return metric


def metric_names() -> tuple[str, ...]:
    """Names of the registered metrics, ``issue_rate`` first."""
    return tuple(SLICE_METRICS)


def _first_bad_row(mask: pl.Series) -> int:
    return int(mask.arg_true()[0])


def read_metric(
    metric: SliceMetric, frame: pl.DataFrame, column: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row values of a (non-primary) metric, checked.

    Parameters
    ----------
    metric : SliceMetric
        The spec.
    frame : polars.DataFrame
        The analysed table.
    column : str
        Column of ``frame`` holding the metric's per-row input.

    Returns
    -------
    values : ndarray of float64
        Per-row values, missing ones set to 0.
    valid : ndarray of float64 or None
        1.0 where a row has a value, 0.0 where not; ``None`` when every row has one.

    Raises
    ------
    InputError
        If the column is not numeric or boolean, or a bounded metric's value lies outside
        [0, 1].
    """
    series = frame.get_column(column)
    if not (series.dtype == pl.Boolean or series.dtype.is_numeric()):
        raise InputError(f"column {column!r} must be numeric: got dtype {series.dtype}")
    values = per_row_values(metric, series)
    if metric.bounded:
        outside = ((values < 0.0) | (values > 1.0)).fill_null(False)
        if outside.any():
            row = _first_bad_row(outside)
            raise InputError(
                f"column {column!r} must hold values in [0, 1]: row {row} is {series[row]!r}"
            )
    valid = values.is_not_null().to_numpy()
    return values.fill_null(0.0).to_numpy(), None if valid.all() else valid.astype(np.float64)


def per_row_values(metric: SliceMetric, series: pl.Series) -> pl.Series:
    """The values a metric averages, as Float64 with nulls (and NaN) as nulls."""
    if metric.row_values is not None:
        series = series.fill_nan(None) if series.dtype.is_float() else series
        series = metric.row_values(series)
    values = series.cast(pl.Float64)
    return values.fill_nan(None) if values.dtype == pl.Float64 else values


register_slice_metric(SliceMetric(
    "issue_rate", "issue rate", "higher_is_worse", parameter="issue_col", bounded=True,
    description="share of rows flagged as likely label errors (Wilson interval, tests, flags)",
))
register_slice_metric(SliceMetric(
    "mean_label_quality", "mean label quality", "higher_is_better", parameter="quality_col",
    description="mean per-row label-quality score",
))
register_slice_metric(SliceMetric(
    "estimated_error_rate", "estimated error rate", "higher_is_worse",
    parameter="error_prob_col", bounded=True,
    description="mean per-row probability that the given label is wrong",
))
register_slice_metric(SliceMetric(
    "disagreement_rate", "disagreement rate", "higher_is_worse", parameter="disagreement_col",
    bounded=True, count_column="n_annotated",
    description="mean per-row disagreement with the consensus label, over annotated rows",
))

#: The built-in metric names (the live table is :data:`SLICE_METRICS`).
METRICS = metric_names()
