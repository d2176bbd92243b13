"""The slice analysis result: :class:`SliceReport` and :class:`Disparity`, plain data.

The vocabulary follows fairlearn's :class:`~fairlearn.metrics.MetricFrame` (``by_group``,
``overall``, ``difference()``, ``ratio()``, ``group_min()``, ``group_max()``) and
:meth:`SliceReport.to_metricframe` returns a real ``MetricFrame`` for any slicing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from labelaudit._display import ResultTables, short_repr
from labelaudit.exceptions import LabelAuditError
from labelaudit.slices.metrics import SLICE_METRICS, per_row_values

__all__ = ["COMBINATION_SEPARATOR", "MISSING_GROUP", "Disparity", "SliceReport"]

#: Label of the explicit group that collects null attribute values.
MISSING_GROUP = "<missing>"

#: Separator between attribute names (and between group labels) of an intersection.
COMBINATION_SEPARATOR = " x "

CompareMethod = Literal["between_groups", "to_overall"]




@dataclass(frozen=True)
class Disparity:
    """Largest gap in a metric across the groups of one attribute, with its extremes.

    Attributes
    ----------
    attribute : str
        Attribute name (or combination such as ``"region x device"``).
    method : {"difference", "ratio"}
        ``"difference"``: highest minus lowest group rate. ``"ratio"``: highest over
        lowest group rate (>= 1; ``inf`` when the lowest rate is 0 and the highest is not).
    metric : str
        The metric compared, ``"issue_rate"`` by default.
    value : float
        The disparity; NaN when fewer than two groups qualify.
    group_max, group_min : str or None
        The groups holding the highest and lowest value.
    value_max, value_min : float
        Their values.
    lower_bound : float
        The same disparity taken between the largest lower Wilson limit and the smallest
        upper Wilson limit of the compared groups, floored at 0 (difference) or 1 (ratio).
        Only defined for ``metric="issue_rate"`` (NaN otherwise). A gate on this bound
        fires only when some gap is clear of the groups' own sampling noise (each limit
        is a 95 % interval with no multiplicity adjustment).
    n_groups : int
        Number of groups compared (groups smaller than the size threshold are left out).
    """

    attribute: str
    method: str
    metric: str
    value: float
    group_max: str | None
    value_max: float
    group_min: str | None
    value_min: float
    lower_bound: float
    n_groups: int


@dataclass(frozen=True, eq=False, repr=False)
class SliceReport(ResultTables):
    """Per-slice label-noise metrics with intervals, tests and flags.

    Build it with :func:`analyze_slices`. All tables are polars DataFrames.
    ``repr()`` is one line, :meth:`summary` a dict of the headline figures;
    :meth:`to_polars` / :meth:`to_pandas` return ``"table"`` (default),
    ``"flagged"``, ``"intersections"``, ``"overall"`` and
    ``"annotator_by_attribute"``; a notebook shows the flagged slices first.

    Attributes
    ----------
    table : polars.DataFrame
        One row per slice, in a stable order: each attribute's groups (then the annotator
        column's, when given), then the intersections found by the search. Columns:

        - ``attribute`` -- attribute name, or a combination such as ``"region x device"``;
        - ``group`` -- group label (for combinations the labels joined by ``" x "``);
          null attribute values form the group ``"<missing>"``;
        - ``order`` -- 1 for single attributes, 2 or 3 for intersections;
        - ``levels`` -- the group labels as a list, one per attribute of the combination;
        - ``n``, ``n_issues`` -- rows and rows flagged as issues in the slice;
        - ``issue_rate``, ``ci_low``, ``ci_high`` -- issue rate and its Wilson 95 % interval;
        - ``rest_rate`` -- issue rate of all other rows;
        - ``effect`` -- ``issue_rate - rest_rate`` (absolute difference of rates);
        - ``rate_ratio`` -- ``issue_rate / rest_rate``;
        - ``tested`` -- whether the slice and the rest both have ``min_size`` rows;
        - ``test`` -- ``"chi2"`` or ``"fisher"`` (null when not tested);
        - ``p_value``, ``q_value`` -- slice-versus-rest p-value and its Benjamini-Hochberg
          adjustment over every tested slice of this table;
        - ``flagged`` -- ``q_value <= fdr`` and ``effect >= min_effect``;
        - ``mean_label_quality``, ``estimated_error_rate``, ``disagreement_rate`` -- the
          other slice metrics (null when the column was not given or has no values);
        - ``n_annotated`` -- rows with a disagreement value.
    overall : polars.DataFrame
        One row with ``n``, ``n_issues``, ``issue_rate``, ``ci_low``, ``ci_high`` and the
        other metrics over all rows.
    annotator_by_attribute : polars.DataFrame
        Empty unless ``annotator_col`` was given. One row per (annotator, attribute, group)
        comparing the annotator's issue rate on that group with the same annotator's rate
        on the other groups of the attribute. Columns ``annotator``, ``attribute``,
        ``group``, ``n``, ``n_issues``, ``issue_rate``, ``ci_low``, ``ci_high``, ``rest_n``,
        ``rest_rate``, ``effect``, ``rate_ratio``, ``annotator_rate`` (over all the
        annotator's rows), ``group_rate`` (all annotators on that group), ``tested``,
        ``test``, ``p_value``, ``q_value`` (BH over this table), ``flagged``.
    attributes : tuple of str
        The attribute columns analysed (without the annotator column).
    parameters : dict
        The settings used (column names, thresholds), for reproducibility records.
    """

    table: pl.DataFrame
    overall: pl.DataFrame
    annotator_by_attribute: pl.DataFrame
    attributes: tuple[str, ...]
    parameters: dict[str, Any]
    _frame: pl.DataFrame = field(repr=False)

    _TABLES = ("table", "flagged", "intersections", "overall", "annotator_by_attribute")

    def __repr__(self) -> str:
        s = self.summary()
        return short_repr(self, {
            "attributes": s["attributes"],
            "annotator_col": s["annotator_col"],
            "n_slices": s["n_slices"],
            "n_tested": s["n_tested"],
            "n_flagged_slices": s["n_flagged_slices"],
        })

    def summary(self) -> dict[str, Any]:
        """The headline figures as a dict of plain Python values (``summary.json``'s).

        Returns
        -------
        dict
            ``attributes``, ``annotator_col``, ``n_slices``, ``n_tested``,
            ``n_flagged_slices``, ``flagged_slices`` (the 20 largest effects:
            ``attribute``, ``group``, ``n``, ``issue_rate`` with ``ci_low``/
            ``ci_high``, ``effect``, ``q_value``) and
            ``n_flagged_annotator_groups``.
        """
        table = self.table
        flagged = self.flagged
        return {
            "attributes": list(self.attributes),
            "annotator_col": self.parameters.get("annotator_col"),
            "n_slices": table.height,
            "n_tested": int(table.get_column("tested").sum()),
            "n_flagged_slices": flagged.height,
            "flagged_slices": [
                {key: row[key] for key in ("attribute", "group", "n", "issue_rate", "ci_low",
                                           "ci_high", "effect", "q_value")}
                for row in flagged.head(20).iter_rows(named=True)
            ],
            "n_flagged_annotator_groups": int(
                self.annotator_by_attribute.get_column("flagged").sum()
            ),
        }

    # -- views ---------------------------------------------------------------------------

    @property
    def flagged(self) -> pl.DataFrame:
        """Flagged slices, largest effect first.

        Returns
        -------
        polars.DataFrame
            The rows of :attr:`table` with ``flagged`` true, sorted by ``effect``
            descending then ``p_value`` ascending.
        """
        return _flagged_first(self.table)

    @property
    def intersections(self) -> pl.DataFrame:
        """The worst intersection slices found by the search, at most ``top_k`` of them.

        Returns
        -------
        polars.DataFrame
            Rows of :attr:`table` with ``order >= 2``, ranked flagged first, then by
            ``effect`` descending, then ``p_value`` ascending.
        """
        return (
            self.table.filter(pl.col("order") >= 2)
            .sort(
                ["flagged", "effect", "p_value"],
                descending=[True, True, False],
                nulls_last=True,
                maintain_order=True,
            )
            .head(self.parameters["top_k"])
        )

    def by_group(self, attribute: str | Sequence[str], metric: str | None = None) -> pl.DataFrame:
        """Per-group results for one attribute or combination.

        Parameters
        ----------
        attribute : str or sequence of str
            An attribute name, the annotator column, a combination written
            ``"region x device"``, or a list of names (``["region", "device"]``).
        metric : str, optional
            When given (one of :data:`~labelaudit.slices.metrics.SLICE_METRICS`), return only ``group`` and that column,
            as fairlearn's ``MetricFrame.by_group[metric]`` would; otherwise all columns.

        Returns
        -------
        polars.DataFrame
            One row per group, in the order of :attr:`table`. For combinations only the
            cells the intersection search kept (``n >= min_support``) are present.
        """
        name = self._attribute_name(attribute)
        rows = self.table.filter(pl.col("attribute") == name)
        if metric is None:
            return rows
        return rows.select("group", self._check_metric(metric))

    def group_max(
        self,
        attribute: str | Sequence[str],
        metric: str = "issue_rate",
        *,
        min_size: int | None = None,
    ) -> float:
        """Largest per-group value of a metric (fairlearn's ``group_max``).

        Parameters
        ----------
        attribute : str or sequence of str
            Attribute name or combination, as for :meth:`by_group`.
        metric : str, default "issue_rate"
            One of :data:`~labelaudit.slices.metrics.SLICE_METRICS`.
        min_size : int, optional
            Only consider groups with at least this many rows. ``None`` considers every
            group, like ``MetricFrame``.

        Returns
        -------
        float
            NaN when no group has a value.
        """
        values = self._finite_values(attribute, metric, min_size)
        return math.nan if values is None else float(np.nanmax(values))

    def group_min(
        self,
        attribute: str | Sequence[str],
        metric: str = "issue_rate",
        *,
        min_size: int | None = None,
    ) -> float:
        """Smallest per-group value of a metric (fairlearn's ``group_min``).

        Parameters
        ----------
        attribute : str or sequence of str
            Attribute name or combination, as for :meth:`by_group`.
        metric : str, default "issue_rate"
            One of :data:`~labelaudit.slices.metrics.SLICE_METRICS`.
        min_size : int, optional
            Only consider groups with at least this many rows; ``None`` considers all.

        Returns
        -------
        float
            NaN when no group has a value.
        """
        values = self._finite_values(attribute, metric, min_size)
        return math.nan if values is None else float(np.nanmin(values))

    def difference(
        self,
        attribute: str | Sequence[str],
        method: CompareMethod = "between_groups",
        metric: str = "issue_rate",
        *,
        min_size: int | None = None,
    ) -> float:
        """Largest absolute difference of a metric, as fairlearn's ``MetricFrame.difference``.

        Parameters
        ----------
        attribute : str or sequence of str
            Attribute name or combination, as for :meth:`by_group`.
        method : {"between_groups", "to_overall"}, default "between_groups"
            - ``"between_groups"``: ``group_max - group_min``;
            - ``"to_overall"``: the largest ``|group value - overall value|``.
        metric : str, default "issue_rate"
            One of :data:`~labelaudit.slices.metrics.SLICE_METRICS`.
        min_size : int, optional
            Only consider groups with at least this many rows; ``None`` considers all.

        Returns
        -------
        float
        """
        self._check_method(method)
        values = self._finite_values(attribute, metric, min_size)
        if values is None:
            return math.nan
        if method == "between_groups":
            return float(np.nanmax(values) - np.nanmin(values))
        overall = self._overall_value(metric)
        return float(np.nanmax(np.abs(values - overall)))

    def ratio(
        self,
        attribute: str | Sequence[str],
        method: CompareMethod = "between_groups",
        metric: str = "issue_rate",
        *,
        min_size: int | None = None,
    ) -> float:
        """Smallest ratio of a metric, as fairlearn's ``MetricFrame.ratio`` (at most 1).

        Parameters
        ----------
        attribute : str or sequence of str
            Attribute name or combination, as for :meth:`by_group`.
        method : {"between_groups", "to_overall"}, default "between_groups"
            - ``"between_groups"``: ``group_min / group_max``;
            - ``"to_overall"``: the smallest of ``group / overall`` with each ratio above 1
              inverted.
        metric : str, default "issue_rate"
            One of :data:`~labelaudit.slices.metrics.SLICE_METRICS`.
        min_size : int, optional
            Only consider groups with at least this many rows; ``None`` considers all.

        Returns
        -------
        float
            NaN when undefined (for example every group rate is 0).

        See Also
        --------
        disparity : the gate-oriented form, highest over lowest (at least 1).
        """
        self._check_method(method)
        values = self._finite_values(attribute, metric, min_size)
        if values is None:
            return math.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            if method == "between_groups":
                return float(np.nanmin(values) / np.nanmax(values))
            ratios = values / self._overall_value(metric)
            ratios = np.where(ratios > 1.0, 1.0 / ratios, ratios)
        if not (~np.isnan(ratios)).any():
            return math.nan
        return float(np.nanmin(ratios))

    def to_metricframe(
        self,
        attribute: str | Sequence[str],
        metric: str | Sequence[str] = "issue_rate",
    ) -> Any:
        """Build a real fairlearn ``MetricFrame`` over the same rows and groups.

        Parameters
        ----------
        attribute : str or sequence of str
            Attribute name, annotator column, ``"a x b"`` combination or list of names.
            Null values are passed as the ``"<missing>"`` group, as in :attr:`table`.
        metric : str or sequence of str, default "issue_rate"
            One or more of :data:`~labelaudit.slices.metrics.SLICE_METRICS`. Each is computed by ``MetricFrame`` as the
            mean of its per-row column (nulls skipped), with the column passed as both
            ``y_true`` and ``y_pred``.

        Returns
        -------
        fairlearn.metrics.MetricFrame
            Its ``by_group`` equals :meth:`by_group` for single attributes; for
            combinations it holds every non-empty cell, not only those the search kept.

        Raises
        ------
        ImportError
            If fairlearn is not installed (``pip install fairlearn``).

        Notes
        -----
        This is the slow path (fairlearn groups with pandas and calls the metric once per
        group); use it to hand results to fairlearn-based tooling, not for the analysis.
        """
        try:
            from fairlearn.metrics import MetricFrame
        except ImportError as exc:
            raise ImportError(
                "SliceReport.to_metricframe needs the optional dependency fairlearn, which "
                "is not installed; run `pip install fairlearn`"
            ) from exc
        import pandas as pd

        names = self._attribute_names(attribute)
        metrics = [metric] if isinstance(metric, str) else list(metric)
        if not metrics:
            raise LabelAuditError("`metric` must name at least one metric: got an empty list")
        columns = {}
        for m in metrics:
            source = self._metric_source(self._check_metric(m))
            if source is None:
                raise LabelAuditError(
                    f"`metric` {m!r} has no per-row column: pass the matching column to "
                    "analyze_slices to compute it"
                )
            columns[m] = source
        frame = self._frame
        sensitive = pd.DataFrame(
            {name: _group_labels_series(frame.get_column(name)).to_numpy() for name in names}
        )
        # Every metric reads its own column through sample_params; y_true / y_pred only
        # carry the row count MetricFrame requires.
        values = {
            m: per_row_values(SLICE_METRICS[m], frame.get_column(columns[m]))
            .fill_null(np.nan).to_numpy()
            for m in metrics
        }
        y = values[metrics[0]]
        params = {m: {"values": values[m]} for m in metrics}
        return MetricFrame(
            metrics=dict.fromkeys(metrics, _mean_of_values),
            y_true=y,
            y_pred=y,
            sensitive_features=sensitive if len(names) > 1 else sensitive[names[0]],
            sample_params=params,
        )

    def describe_flagged(self) -> list[str]:
        """Plain-English sentences for each flagged slice and annotator-by-group finding.

        Returns
        -------
        list of str
            For example ``"source = phone: 18.2% of labels look wrong vs 6.1% elsewhere
            (n = 1,204, q = 0.001)"`` for slices (largest effect first), then sentences such
            as ``"annotator A: labels look wrong 3.0x as often on time = night (27.0%, n =
            400) as on other time values (9.0%) (q < 0.001)"``.
        """
        sentences = [_describe_slice(row) for row in self.flagged.iter_rows(named=True)]
        flagged_annotators = _flagged_first(self.annotator_by_attribute)
        sentences += [_describe_annotator(row) for row in flagged_annotators.iter_rows(named=True)]
        return sentences

    # -- helpers -------------------------------------------------------------------------

    def _attribute_names(self, attribute: str | Sequence[str]) -> list[str]:
        if isinstance(attribute, str):
            names = attribute.split(COMBINATION_SEPARATOR)
        else:
            names = [str(a) for a in attribute]
        known = set(self.attributes)
        annotator = self.parameters["annotator_col"]
        if annotator is not None:
            known.add(annotator)
        for name in names:
            if name not in known:
                raise LabelAuditError(
                    f"`attribute` must be one of the analysed columns {sorted(known)} or a "
                    f"combination of them joined by {COMBINATION_SEPARATOR!r}: got {name!r}"
                )
        return names

    def _attribute_name(self, attribute: str | Sequence[str]) -> str:
        return COMBINATION_SEPARATOR.join(self._attribute_names(attribute))

    @staticmethod
    def _check_metric(metric: str) -> str:
        if metric not in SLICE_METRICS:
            raise LabelAuditError(f"`metric` must be one of {list(SLICE_METRICS)}: got {metric!r}")
        return metric

    @staticmethod
    def _check_method(method: str) -> None:
        if method not in ("between_groups", "to_overall"):
            raise LabelAuditError(
                f"`method` must be 'between_groups' or 'to_overall': got {method!r}"
            )

    def _metric_source(self, metric: str) -> str | None:
        parameter = SLICE_METRICS[metric].parameter
        if parameter is not None:
            return self.parameters[parameter]
        return self.parameters.get("metric_cols", {}).get(metric)

    def _finite_values(
        self, attribute: str | Sequence[str], metric: str, min_size: int | None
    ) -> np.ndarray | None:
        """Per-group values (NaN for null), or None when none is finite (the figure is NaN)."""
        metric = self._check_metric(metric)
        rows = self.by_group(attribute)
        if min_size is not None:
            rows = rows.filter(pl.col("n") >= min_size)
        values = rows.get_column(metric).cast(pl.Float64).fill_null(np.nan).to_numpy()
        return values if np.isfinite(values).any() else None

    def _overall_value(self, metric: str) -> float:
        value = self.overall.item(0, metric)
        return math.nan if value is None else float(value)


def _flagged_first(table: pl.DataFrame) -> pl.DataFrame:
    """The flagged rows of a slice table, largest effect first, then smallest p-value."""
    return table.filter(pl.col("flagged")).sort(
        ["effect", "p_value"], descending=[True, False], maintain_order=True
    )


def _describe_slice(row: dict[str, Any]) -> str:
    """One sentence for a flagged slice."""
    names = row["attribute"].split(COMBINATION_SEPARATOR) if row["order"] > 1 else [
        row["attribute"]
    ]
    where = " and ".join(
        f"{name} = {level}" for name, level in zip(names, row["levels"], strict=True)
    )
    return (
        f"{where}: {row['issue_rate']:.1%} of labels look wrong vs "
        f"{row['rest_rate']:.1%} elsewhere (n = {row['n']:,}, {_fmt_q(row['q_value'])})"
    )


def _describe_annotator(row: dict[str, Any]) -> str:
    """One sentence for a flagged annotator-by-group finding."""
    ratio = row["rate_ratio"]
    where = f"{row['attribute']} = {row['group']} ({row['issue_rate']:.1%}, n = {row['n']:,})"
    if ratio is not None and math.isfinite(ratio):
        return (
            f"annotator {row['annotator']}: labels look wrong {ratio:.1f}x as often on "
            f"{where} as on other {row['attribute']} values ({row['rest_rate']:.1%}) "
            f"({_fmt_q(row['q_value'])})"
        )
    return (
        f"annotator {row['annotator']}: labels look wrong on {where} but never on "
        f"other {row['attribute']} values ({_fmt_q(row['q_value'])})"
    )


def _group_labels_series(series: pl.Series) -> pl.Series:
    """Attribute values as strings, nulls as the missing group (what MetricFrame is given)."""
    return series.cast(pl.String).fill_null(MISSING_GROUP)


def _mean_of_values(y_true: Any, y_pred: Any, values: Any) -> float:
    """MetricFrame metric: mean of a per-row column within the group, nulls skipped."""
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).all():
        return math.nan
    return float(np.nanmean(values))


def _fmt_q(q: float | None) -> str:
    if q is None or not math.isfinite(q):
        return "q = n/a"
    if q < 0.001:
        return "q < 0.001"
    return f"q = {q:.3f}"
