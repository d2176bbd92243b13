"""The slice figures a quality gate reads: disparities and the largest flagged effect."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import polars as pl

from labelaudit.exceptions import LabelAuditError
from labelaudit.slices.result import Disparity, SliceReport

__all__ = ["disparity", "gate_figures", "max_flagged_effect"]

DisparityMethod = Literal["difference", "ratio"]




def disparity(
    report: SliceReport,
    attribute: str | Sequence[str],
    method: DisparityMethod = "difference",
    *,
    metric: str = "issue_rate",
    min_size: int | None = None,
) -> Disparity:
    """Largest disparity of a metric across the groups of one attribute, for gating.

    Parameters
    ----------
    report : SliceReport
        Result of :func:`analyze_slices`.
    attribute : str or sequence of str
        Attribute name or combination, as for :meth:`SliceReport.by_group`.
    method : {"difference", "ratio"}, default "difference"
        - ``"difference"``: highest minus lowest group value (fairlearn's
          ``difference(method="between_groups")``);
        - ``"ratio"``: highest over lowest group value, so that larger is worse and a gate
          reads "at most 2x". This is the reciprocal of fairlearn's
          ``ratio(method="between_groups")``; it is ``inf`` when the lowest group value is
          0 and the highest is not.
    metric : str, default "issue_rate"
        One of :data:`~labelaudit.slices.metrics.SLICE_METRICS`.
    min_size : int, optional
        Only groups with at least this many rows take part, so that a handful of rows
        cannot decide a gate. Defaults to the report's ``min_size``.

    Returns
    -------
    Disparity
        The value with the extreme groups and a Wilson-based lower bound.
    """
    if method not in ("difference", "ratio"):
        raise LabelAuditError(f"`method` must be 'difference' or 'ratio': got {method!r}")
    if min_size is None:
        min_size = report.parameters["min_size"]
    name = report._attribute_name(attribute)
    metric = report._check_metric(metric)
    rows = report.by_group(name).filter(pl.col("n") >= min_size)
    rows = rows.filter(pl.col(metric).is_not_null() & pl.col(metric).is_not_nan())
    n_groups = rows.height
    if n_groups < 2:
        return Disparity(name, method, metric, math.nan, None, math.nan, None, math.nan,
                         math.nan, n_groups)
    values = rows.get_column(metric).to_numpy()
    groups = rows.get_column("group").to_list()
    hi, lo = int(np.argmax(values)), int(np.argmin(values))
    v_hi, v_lo = float(values[hi]), float(values[lo])
    bound = math.nan
    if method == "difference":
        value = v_hi - v_lo
        if metric == "issue_rate":
            gap = float(rows.get_column("ci_low").max()) - float(rows.get_column("ci_high").min())
            bound = max(gap, 0.0)
    else:
        value = _safe_ratio(v_hi, v_lo)
        if metric == "issue_rate":
            bound = max(
                _safe_ratio(float(rows.get_column("ci_low").max()),
                            float(rows.get_column("ci_high").min())),
                1.0,
            )
    return Disparity(name, method, metric, value, groups[hi], v_hi, groups[lo], v_lo, bound,
                     n_groups)


def max_flagged_effect(report: SliceReport, *, include_annotators: bool = False) -> float:
    """Largest effect among flagged slices, for the "no flagged slice above X" gate check.

    Parameters
    ----------
    report : SliceReport
        Result of :func:`analyze_slices`.
    include_annotators : bool, default False
        Also consider flagged rows of :attr:`SliceReport.annotator_by_attribute` (where the
        effect is an annotator's rate on a group minus the same annotator's rate elsewhere).

    Returns
    -------
    float
        The largest ``effect`` (issue rate minus rest-of-data rate) of a flagged slice, or
        0.0 when nothing is flagged. The slice itself is ``report.flagged.row(0)``.
    """
    effects = report.table.filter(pl.col("flagged")).get_column("effect").to_list()
    if include_annotators:
        effects += (
            report.annotator_by_attribute.filter(pl.col("flagged")).get_column("effect").to_list()
        )
    return float(max(effects)) if effects else 0.0


def gate_figures(
    report: SliceReport,
    *,
    attributes: Sequence[str] | None = None,
    min_size: int | None = None,
) -> dict[str, Any]:
    """The slice figures a quality gate reads, in the shape the gate module expects.

    Parameters
    ----------
    report : SliceReport
        Result of :func:`analyze_slices`.
    attributes : sequence of str, optional
        Attributes (or ``"a x b"`` combinations) to report disparities for; defaults to
        every single attribute of the report (not the annotator column).
    min_size : int, optional
        Smallest group taking part in a disparity; defaults to the report's ``min_size``.

    Returns
    -------
    dict
        ``{"disparity": {attribute: {"difference": float, "ratio": float}},
        "max_flagged_slice_effect": float}``. The issue-rate disparities come from
        :func:`disparity` (ratio = highest over lowest, ``inf`` when the lowest rate is 0);
        an attribute with fewer than two qualifying groups gets ``None`` values, which a
        gate reports as "not computed".
    """
    names = list(report.attributes) if attributes is None else list(attributes)
    figures: dict[str, dict[str, float | None]] = {}
    for name in names:
        entry: dict[str, float | None] = {}
        for method in ("difference", "ratio"):
            value = disparity(report, name, method, min_size=min_size).value
            entry[method] = None if math.isnan(value) else value
        figures[report._attribute_name(name)] = entry
    return {"disparity": figures, "max_flagged_slice_effect": max_flagged_effect(report)}


def _safe_ratio(high: float, low: float) -> float:
    if low > 0:
        return high / low
    return math.inf if high > 0 else math.nan
