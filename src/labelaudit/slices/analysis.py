"""The slice analysis: encode attributes once, sum per slice, test each slice against the rest.

polars encodes every attribute into dense integer codes once, per-slice sums are
integer-keyed group-bys over those codes (``numpy.bincount``), and every statistic is
closed-form and vectorised over all slices at once. The metrics summed are those of
:data:`~labelaudit.slices.metrics.SLICE_METRICS`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from labelaudit._validation import as_polars_frame
from labelaudit.exceptions import InputError, LabelAuditError, LabelAuditWarning
from labelaudit.slices.metrics import SLICE_METRICS, _first_bad_row, read_metric
from labelaudit.slices.result import COMBINATION_SEPARATOR, MISSING_GROUP, SliceReport
from labelaudit.stats import benjamini_hochberg, two_proportion_test, wilson_interval

__all__ = ["analyze_slices"]

# Intersections are encoded as mixed-radix integers; above this many possible cells the
# codes are compressed with np.unique rather than used directly as bincount bins.
_MAX_DENSE_CELLS = 1 << 24

#: Columns of the slice table before the metric columns of :data:`SLICE_METRICS`.
_TABLE_SCHEMA = {
    "attribute": pl.String,
    "group": pl.String,
    "order": pl.Int8,
    "levels": pl.List(pl.String),
    "n": pl.Int64,
    "n_issues": pl.Int64,
    "issue_rate": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "rest_rate": pl.Float64,
    "effect": pl.Float64,
    "rate_ratio": pl.Float64,
    "tested": pl.Boolean,
    "test": pl.String,
    "p_value": pl.Float64,
    "q_value": pl.Float64,
    "flagged": pl.Boolean,
}


_ANNOTATOR_SCHEMA = {
    "annotator": pl.String,
    "attribute": pl.String,
    "group": pl.String,
    "n": pl.Int64,
    "n_issues": pl.Int64,
    "issue_rate": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "rest_n": pl.Int64,
    "rest_rate": pl.Float64,
    "effect": pl.Float64,
    "rate_ratio": pl.Float64,
    "annotator_rate": pl.Float64,
    "group_rate": pl.Float64,
    "tested": pl.Boolean,
    "test": pl.String,
    "p_value": pl.Float64,
    "q_value": pl.Float64,
    "flagged": pl.Boolean,
}


@dataclass
class _Metrics:
    """Per-row metric values as float64 arrays: the issue flags, then every other metric.

    ``others[name]`` is ``(values, valid)`` with missing values zeroed and ``valid`` the
    0/1 mask of rows with a value (``None`` when all have one); ``None`` for a built-in
    metric whose column was not given.
    """

    issue: np.ndarray
    others: dict[str, tuple[np.ndarray, np.ndarray | None] | None] = field(default_factory=dict)


def _table_schema(metrics: _Metrics) -> dict[str, Any]:
    """Columns of the slice table: the issue-rate evidence, then one per other metric."""
    schema = dict(_TABLE_SCHEMA)
    for name in metrics.others:
        schema[name] = pl.Float64
        count = SLICE_METRICS[name].count_column
        if count is not None:
            schema[count] = pl.Int64
    return schema


def _compare_to_rest(
    x: np.ndarray,
    n: np.ndarray,
    rest_x: np.ndarray,
    rest_n: np.ndarray,
    min_size: int,
    min_effect: float,
    fdr: float,
) -> dict[str, Any]:
    """Issue rate with its Wilson interval, against the rest: effect, test, q-value, flag."""
    rate = x / n
    ci_low, ci_high = wilson_interval(x, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rest_rate = np.where(rest_n > 0, rest_x / np.maximum(rest_n, 1), np.nan)
        rate_ratio = rate / rest_rate
    effect = rate - rest_rate
    tested = (n >= min_size) & (rest_n >= min_size)
    p = np.full(n.size, np.nan)
    q = np.full(n.size, np.nan)
    test = np.full(n.size, None, dtype=object)
    if tested.any():
        p_t, fisher = two_proportion_test(x[tested], n[tested], rest_x[tested], rest_n[tested])
        p[tested] = p_t
        q[tested] = benjamini_hochberg(p_t)
        test[tested] = np.where(fisher, "fisher", "chi2")
    flagged = tested & (q <= fdr) & (effect >= min_effect)
    return {
        "issue_rate": rate,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "rest_rate": rest_rate,
        "effect": effect,
        "rate_ratio": rate_ratio,
        "tested": tested,
        "test": test.tolist(),
        "p_value": p,
        "q_value": q,
        "flagged": flagged,
    }


@dataclass
class _Cells:
    """Per-slice sums for a batch of slices of one attribute or combination."""

    attribute: str
    order: int
    # One (codes, labels) pair per attribute of the combination: cell i has the level
    # labels[codes[i]] of that attribute.
    levels: list[tuple[np.ndarray, list[str]]]
    sums: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.levels[0][0].size)

    def level_frame(self) -> pl.DataFrame:
        """``levels`` (list of labels) and ``group`` (labels joined) for every cell."""
        columns = [
            pl.Series(f"_{i}", labels, dtype=pl.String).gather(codes)
            for i, (codes, labels) in enumerate(self.levels)
        ]
        return pl.DataFrame(columns).select(
            pl.concat_list(pl.all()).alias("levels")
        ).with_columns(pl.col("levels").list.join(COMBINATION_SEPARATOR).alias("group"))


def analyze_slices(
    frame: pl.DataFrame,
    *,
    attributes: Sequence[str],
    issue_col: str = "is_issue",
    quality_col: str | None = "label_quality",
    error_prob_col: str | None = None,
    annotator_col: str | None = None,
    disagreement_col: str | None = None,
    min_size: int = 30,
    min_effect: float = 0.02,
    fdr: float = 0.05,
    max_order: int = 2,
    min_support: int | float | None = None,
    top_k: int = 20,
    metric_cols: Mapping[str, str] | None = None,
) -> SliceReport:
    """Slice label-issue metrics by attributes, annotator and intersections, with evidence.

    Parameters
    ----------
    frame : polars.DataFrame or pandas.DataFrame
        One row per labelled unit: an item, or one (item, annotator) annotation when the
        issue flags refer to individual annotations. Holds the attribute columns and the
        per-row metric columns named below.
    attributes : sequence of str
        Columns to slice by (any dtype polars can cast to string). Null values form an
        explicit ``"<missing>"`` group (a float NaN stays a group of its own, ``"NaN"``).
        Groups are ordered by value, ``"<missing>"`` last.
    issue_col : str, default "is_issue"
        Boolean (or 0/1) column: is the row's label flagged as a likely error. No nulls.
    quality_col : str or None, default "label_quality"
        Numeric label-quality score per row (higher is better); nulls are skipped. Pass
        ``None`` when there is no such column.
    error_prob_col : str or None, default None
        Per-row probability in [0, 1] that the given label is wrong, for example
        ``1 - label_quality`` for a self-confidence score or a confident-learning posterior
        ``1 - P(true label = given label | x)``. A slice's ``estimated_error_rate`` is the
        mean of this column over the slice: the expected share of wrong labels in it,
        which, unlike the issue rate, does not depend on a flagging threshold. Nulls are
        skipped.
    annotator_col : str or None, default None
        Column identifying who produced the row's label. When given, it is sliced like an
        attribute (the table rows with ``attribute == annotator_col``) and the
        annotator-by-attribute analysis fills :attr:`SliceReport.annotator_by_attribute`.
    disagreement_col : str or None, default None
        Per-row disagreement with the consensus label: boolean, or a share in [0, 1] (for
        example the fraction of annotators who disagree). Null where the row has no
        annotations; ``disagreement_rate`` is the mean over annotated rows.
    min_size : int, default 30
        A slice is tested (and may be flagged) only when it and the rest of the data each
        have at least this many rows. Smaller groups still get a row with their rates and
        Wilson interval.
    min_effect : float, default 0.02
        Minimum **absolute** difference of issue rates, slice minus rest of data, for a
        flag: 0.02 means two percentage points. Slices with a significantly *lower* rate
        are never flagged (they are reported, with their negative effect).
    fdr : float, default 0.05
        Target false discovery rate of the Benjamini-Hochberg procedure over all tested
        slices of the table (single attributes, annotator, intersections together).
    max_order : {1, 2, 3}, default 2
        Largest number of attributes combined by the intersection search; 1 disables it.
    min_support : int or float, optional
        Smallest intersection kept, as a row count (int >= 1) or a share of all rows
        (float in (0, 1)). Defaults to ``min_size``. The search is pruned a-priori style:
        a group (or pair) below the support cannot contain a supported intersection, so its
        rows are skipped when combining further. The pruning uses sizes only, never
        outcomes, so it does not bias the tests.
    top_k : int, default 20
        Number of intersection slices kept in :attr:`SliceReport.intersections` (the
        ranked view). The table itself holds every supported intersection, which is the
        family the q-values were computed over.
    metric_cols : mapping, optional
        Columns of metrics added with
        :func:`~labelaudit.slices.metrics.register_slice_metric`, as ``{metric name:
        column}``. Each becomes a column of the table and of ``overall``.

    Returns
    -------
    SliceReport

    Raises
    ------
    InputError
        A named column is missing, has the wrong type, or holds invalid values.
    LabelAuditError
        A parameter is out of range.

    Notes
    -----
    Each slice is compared with the rest of the data by a 2x2 table (issue / no issue,
    slice / rest). The chi-square test with Yates' continuity correction is used when every
    expected count is at least 100, Fisher's exact test otherwise. The threshold is far
    above the textbook 5 on purpose: Benjamini-Hochberg decides on the smallest p-values,
    and there the uncorrected chi-square on small expected counts was found (on simulated
    uniform noise) to produce several times too many tiny p-values. The q-values are
    Benjamini-Hochberg adjustments; flagging at ``q <= fdr`` keeps the expected share of
    false flags among all flags at or below ``fdr`` when the tests are independent or
    positively dependent (slices of the same rows are, largely, positively dependent; the
    simulation tests check the rate empirically).

    Examples
    --------
    >>> import polars as pl
    >>> from labelaudit import analyze_slices
    >>> frame = pl.DataFrame({
    ...     "source": ["web"] * 60 + ["phone"] * 60,
    ...     "is_issue": [i % 20 == 0 for i in range(60)] + [i % 3 == 0 for i in range(60)],
    ... })
    >>> report = analyze_slices(frame, attributes=["source"], quality_col=None)
    >>> report.by_group("source", "issue_rate")["issue_rate"].to_list()
    [0.3333333333333333, 0.05]
    >>> report.describe_flagged()[0]
    'source = phone: 33.3% of labels look wrong vs 5.0% elsewhere (n = 60, q < 0.001)'
    >>> report
    SliceReport(attributes=['source'], annotator_col=None, n_slices=2, n_tested=2, \
n_flagged_slices=1)
    """
    frame = as_polars_frame(frame, name="`frame`")
    columns = _metric_columns(quality_col, error_prob_col, disagreement_col, metric_cols)
    attributes = _check_parameters(
        frame, attributes, issue_col, columns, annotator_col, min_size, min_effect, fdr,
        max_order, top_k,
    )
    n_rows = frame.height
    support = _resolve_support(min_support, min_size, n_rows)
    metrics = _read_metrics(frame, issue_col, columns)

    slicing = list(attributes) + ([annotator_col] if annotator_col is not None else [])
    encoded = {name: _encode(frame.get_column(name)) for name in slicing}

    batches: list[_Cells] = []
    for name in slicing:
        codes, labels = encoded[name]
        sums = _sum_by_code(codes, len(labels), metrics)
        if not ((sums["n"] >= min_size) & (n_rows - sums["n"] >= min_size)).any():
            warnings.warn(
                f"attribute {name!r}: no group has at least min_size={min_size} rows with "
                f"min_size rows left outside it ({len(labels)} groups over {n_rows} rows), so "
                "none of its groups is tested",
                LabelAuditWarning,
                stacklevel=2,
            )
        all_codes = np.arange(len(labels), dtype=np.int64)
        batches.append(_Cells(name, 1, [(all_codes, labels)], sums))
    if max_order >= 2 and len(attributes) >= 2:
        batches.extend(_search_intersections(attributes, encoded, metrics, support, max_order))

    table = _build_table(batches, metrics, n_rows, min_size, min_effect, fdr)
    overall = _overall_table(metrics, n_rows)
    if annotator_col is not None:
        annotator_table = _annotator_by_attribute(
            encoded[annotator_col], {a: encoded[a] for a in attributes}, metrics.issue,
            min_size, min_effect, fdr,
        )
    else:
        annotator_table = pl.DataFrame(schema=_ANNOTATOR_SCHEMA)

    parameters = {
        "attributes": list(attributes),
        "issue_col": issue_col,
        "quality_col": quality_col,
        "error_prob_col": error_prob_col,
        "annotator_col": annotator_col,
        "disagreement_col": disagreement_col,
        "min_size": min_size,
        "min_effect": min_effect,
        "fdr": fdr,
        "max_order": max_order,
        "min_support": support,
        "top_k": top_k,
        "test": "two-sided Yates chi-square (Fisher exact when an expected count < 100), BH FDR",
        "interval": "Wilson 95%",
    }
    if metric_cols:
        parameters["metric_cols"] = dict(metric_cols)
    return SliceReport(
        table=table,
        overall=overall,
        annotator_by_attribute=annotator_table,
        attributes=tuple(attributes),
        parameters=parameters,
        _frame=frame,
    )



# --------------------------------------------------------------------------------------
# Validation and encoding
# --------------------------------------------------------------------------------------


def _check_parameters(
    frame: Any,
    attributes: Any,
    issue_col: str,
    columns: dict[str, str | None],
    annotator_col: str | None,
    min_size: Any,
    min_effect: Any,
    fdr: Any,
    max_order: Any,
    top_k: Any,
) -> list[str]:
    if isinstance(attributes, str):
        attributes = [attributes]
    attributes = list(attributes)
    if not attributes and annotator_col is None:
        raise LabelAuditError("`attributes` must name at least one column: got []")
    if len(set(attributes)) != len(attributes):
        raise LabelAuditError(f"`attributes` must not repeat a column: got {attributes}")
    if frame.height == 0:
        raise InputError("`frame` must have at least one row: got 0 rows")
    roles = {"issue_col": issue_col, "annotator_col": annotator_col}
    for name, column in columns.items():
        parameter = SLICE_METRICS[name].parameter
        roles[parameter if parameter is not None else f"metric_cols[{name!r}]"] = column
    for name in [*attributes, *(c for c in roles.values() if c is not None)]:
        if name not in frame.columns:
            raise InputError(
                f"column {name!r} is not in `frame` (columns: {frame.columns})"
            )
    for role, column in roles.items():
        if column is not None and column in attributes:
            raise LabelAuditError(
                f"`{role}` column {column!r} must not also be listed in `attributes`"
            )
    for name in attributes:
        if COMBINATION_SEPARATOR in name:
            raise LabelAuditError(
                f"attribute name must not contain {COMBINATION_SEPARATOR!r}, which joins "
                f"combination names: got {name!r}"
            )
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 1:
        raise LabelAuditError(f"`min_size` must be an integer >= 1: got {min_size!r}")
    if not isinstance(min_effect, (int, float, np.floating)) or not 0.0 <= min_effect < 1.0:
        raise LabelAuditError(f"`min_effect` must be a number in [0, 1): got {min_effect!r}")
    if not isinstance(fdr, (int, float, np.floating)) or not 0.0 < fdr < 1.0:
        raise LabelAuditError(f"`fdr` must be a number in (0, 1): got {fdr!r}")
    if max_order not in (1, 2, 3) or isinstance(max_order, bool):
        raise LabelAuditError(f"`max_order` must be 1, 2 or 3: got {max_order!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise LabelAuditError(f"`top_k` must be an integer >= 1: got {top_k!r}")
    return attributes


def _resolve_support(min_support: Any, min_size: int, n_rows: int) -> int:
    if min_support is None:
        return int(min_size)
    if isinstance(min_support, bool):
        raise LabelAuditError(f"`min_support` must be an int >= 1 or a float in (0, 1): got "
                              f"{min_support!r}")
    if isinstance(min_support, (int, np.integer)):
        if min_support < 1:
            raise LabelAuditError(f"`min_support` must be an int >= 1 or a float in (0, 1): "
                                  f"got {min_support!r}")
        return int(min_support)
    if isinstance(min_support, (float, np.floating)) and 0.0 < min_support < 1.0:
        return max(1, math.ceil(min_support * n_rows))
    raise LabelAuditError(f"`min_support` must be an int >= 1 or a float in (0, 1): got "
                          f"{min_support!r}")


def _read_metrics(
    frame: pl.DataFrame, issue_col: str, columns: dict[str, str | None]
) -> _Metrics:
    issue = frame.get_column(issue_col)
    if not (issue.dtype == pl.Boolean or issue.dtype.is_numeric()):
        raise InputError(
            f"column {issue_col!r} (issue_col) must be boolean or 0/1: got dtype {issue.dtype}"
        )
    if issue.null_count():
        row = _first_bad_row(issue.is_null())
        raise InputError(f"column {issue_col!r} (issue_col) must have no nulls: row {row} is null")
    issue_f = issue.cast(pl.Float64)
    bad = ~issue_f.is_in([0.0, 1.0])
    if bad.any():
        row = _first_bad_row(bad)
        raise InputError(
            f"column {issue_col!r} (issue_col) must hold only 0/1 or booleans: row {row} is "
            f"{issue[row]!r}"
        )
    others = {
        name: None if col is None else read_metric(SLICE_METRICS[name], frame, col)
        for name, col in columns.items()
    }
    return _Metrics(issue=issue_f.to_numpy(), others=others)


def _metric_columns(
    quality_col: str | None,
    error_prob_col: str | None,
    disagreement_col: str | None,
    metric_cols: Mapping[str, str] | None,
) -> dict[str, str | None]:
    """Column of each non-primary metric: the built-in keywords, then ``metric_cols``."""
    given = {"quality_col": quality_col, "error_prob_col": error_prob_col,
             "disagreement_col": disagreement_col}
    columns: dict[str, str | None] = {}
    for name, spec in SLICE_METRICS.items():
        if spec.parameter is not None and spec.parameter != "issue_col":
            columns[name] = given.get(spec.parameter)
    for name, col in (metric_cols or {}).items():
        spec = SLICE_METRICS.get(name)
        if spec is None or spec.parameter is not None:
            extra = [n for n, s in SLICE_METRICS.items() if s.parameter is None]
            raise LabelAuditError(
                f"`metric_cols` keys must be registered metrics without their own keyword "
                f"({extra}): got {name!r}"
            )
        if not isinstance(col, str):
            raise LabelAuditError(f"`metric_cols[{name!r}]` must be a column name: got {col!r}")
        columns[name] = col
    return columns


def _encode(series: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Dense integer codes in natural sort order of the values, nulls as the last code."""
    try:
        uniques = series.drop_nulls().unique().sort()
        labels = uniques.cast(pl.String).to_list()
    except Exception as exc:  # polars raises several types for uncastable dtypes
        raise InputError(
            f"attribute column {series.name!r} must hold values that can be grouped and "
            f"written as text: got dtype {series.dtype}"
        ) from exc
    k = len(uniques)
    if k:
        codes = series.replace_strict(
            uniques, pl.Series(np.arange(k, dtype=np.uint32)), return_dtype=pl.UInt32
        )
    else:
        codes = pl.Series(np.zeros(series.len(), dtype=np.uint32)).set(series.is_null(), None)
    if series.null_count():
        if MISSING_GROUP in labels:
            raise InputError(
                f"attribute column {series.name!r} holds both nulls and the literal value "
                f"{MISSING_GROUP!r}, which is reserved for nulls"
            )
        codes = codes.fill_null(k)
        labels.append(MISSING_GROUP)
    if len(set(labels)) != len(labels):
        raise InputError(
            f"attribute column {series.name!r} has distinct values that print the same "
            "text; cast it to strings first"
        )
    return codes.to_numpy().astype(np.int64, copy=False), labels


def _sum_by_code(codes: np.ndarray, size: int, metrics: _Metrics) -> dict[str, np.ndarray]:
    """Per-cell counts and sums of every metric: an integer-keyed group-by via bincount."""
    n = np.bincount(codes, minlength=size)[:size]
    sums = {"n": n, "x": _bincount(codes, metrics.issue, size)}
    for name, read in metrics.others.items():
        if read is None:
            continue
        values, valid = read
        sums[f"{name}_sum"] = _bincount(codes, values, size)
        sums[f"{name}_cnt"] = n.astype(np.float64) if valid is None else _bincount(
            codes, valid, size
        )
    return sums


def _bincount(codes: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(codes, weights=weights, minlength=size)[:size]


def _search_intersections(
    attributes: Sequence[str],
    encoded: dict[str, tuple[np.ndarray, list[str]]],
    metrics: _Metrics,
    support: int,
    max_order: int,
) -> list[_Cells]:
    """Enumerate supported 2-way (and 3-way) cells, pruning infrequent rows a-priori style."""
    n_rows = metrics.issue.size
    # Rows whose single group is below the support can sit in no supported intersection.
    frequent = {}
    for name in attributes:
        codes, labels = encoded[name]
        counts = np.bincount(codes, minlength=len(labels))
        frequent[name] = (counts >= support)[codes]
    batches: list[_Cells] = []
    pair_rows: dict[tuple[str, str], np.ndarray] = {}
    for a, b in combinations(attributes, 2):
        keep = frequent[a] & frequent[b]
        cells = _combine([a, b], encoded, keep, metrics, support, n_rows)
        if cells is None:
            continue
        batch, row_ok = cells
        batches.append(batch)
        if max_order >= 3:
            pair_rows[(a, b)] = row_ok
    if max_order >= 3:
        for a, b, c in combinations(attributes, 3):
            keep = pair_rows.get((a, b))
            if keep is None or (a, c) not in pair_rows or (b, c) not in pair_rows:
                continue
            keep = keep & pair_rows[(a, c)] & pair_rows[(b, c)]
            cells = _combine([a, b, c], encoded, keep, metrics, support, n_rows)
            if cells is not None:
                batches.append(cells[0])
    return batches


def _combine(
    names: list[str],
    encoded: dict[str, tuple[np.ndarray, list[str]]],
    keep: np.ndarray,
    metrics: _Metrics,
    support: int,
    n_rows: int,
) -> tuple[_Cells, np.ndarray] | None:
    """Cells of one attribute combination with at least `support` rows, or None."""
    if not keep.any():
        return None
    sizes = [len(encoded[name][1]) for name in names]
    total = math.prod(sizes)
    if total >= 1 << 62:
        # Mixed-radix codes would overflow int64; only ID-like attributes get here.
        warnings.warn(
            f"intersection {COMBINATION_SEPARATOR.join(names)!r} skipped: its attributes have "
            f"{' x '.join(map(str, sizes))} groups, too many to combine",
            LabelAuditWarning,
            stacklevel=4,
        )
        return None
    combined = np.zeros(n_rows, dtype=np.int64)
    for name, size in zip(names, sizes, strict=True):
        combined *= size
        combined += encoded[name][0]
    if total <= _MAX_DENSE_CELLS:
        cell_keys = None
        codes = np.where(keep, combined, total)  # pruned rows go to a discarded last bin
        n_cells = total
    else:
        cell_keys, inverse = np.unique(combined[keep], return_inverse=True)
        n_cells = cell_keys.size
        codes = np.full(n_rows, n_cells, dtype=np.int64)
        codes[keep] = inverse
    sums = _sum_by_code(codes, n_cells + 1, metrics)
    ok = sums["n"][:n_cells] >= support
    if not ok.any():
        return None
    selected = np.flatnonzero(ok)
    sums = {key: value[selected] for key, value in sums.items()}
    keys = selected if cell_keys is None else cell_keys[selected]
    levels: list[tuple[np.ndarray, list[str]]] = []
    remainder = keys.copy()
    for name, size in zip(reversed(names), reversed(sizes), strict=True):
        levels.insert(0, (remainder % size, encoded[name][1]))
        remainder //= size
    row_ok = np.zeros(n_cells + 1, dtype=bool)
    row_ok[selected] = True
    batch = _Cells(COMBINATION_SEPARATOR.join(names), len(names), levels, sums)
    return batch, row_ok[codes]


def _mean(total: np.ndarray | None, count: np.ndarray | None, size: int) -> np.ndarray:
    if total is None or count is None:
        return np.full(size, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1e-300), np.nan)


def _build_table(
    batches: list[_Cells],
    metrics: _Metrics,
    n_rows: int,
    min_size: int,
    min_effect: float,
    fdr: float,
) -> pl.DataFrame:
    def stack(key: str) -> np.ndarray | None:
        if key not in batches[0].sums:
            return None
        return np.concatenate([b.sums[key] for b in batches])

    n = stack("n").astype(np.int64)
    x = np.rint(stack("x")).astype(np.int64)
    total_issues = int(np.rint(metrics.issue.sum()))
    size = n.size
    level_frame = pl.concat([b.level_frame() for b in batches])
    columns = {
        "attribute": np.repeat([b.attribute for b in batches], [b.size for b in batches]),
        "group": level_frame.get_column("group"),
        "order": np.repeat([b.order for b in batches], [b.size for b in batches]),
        "levels": level_frame.get_column("levels"),
        "n": n,
        "n_issues": x,
        **_compare_to_rest(x, n, total_issues - x, n_rows - n, min_size, min_effect, fdr),
    }
    for name in metrics.others:
        count = stack(f"{name}_cnt")
        columns[name] = _mean(stack(f"{name}_sum"), count, size)
        count_column = SLICE_METRICS[name].count_column
        if count_column is not None:
            columns[count_column] = (
                np.zeros(size, dtype=np.int64) if count is None
                else np.rint(count).astype(np.int64)
            )
    table = pl.DataFrame(columns, schema=_table_schema(metrics))
    # NaN marks "not available" in the arrays; the table uses nulls for that.
    nan_to_null = ["rest_rate", "effect", "p_value", "q_value", *metrics.others]
    return table.with_columns(pl.col(c).fill_nan(None) for c in nan_to_null)


def _overall_table(metrics: _Metrics, n_rows: int) -> pl.DataFrame:
    x = int(np.rint(metrics.issue.sum()))
    low, high = wilson_interval(x, n_rows)
    row: dict[str, list[Any]] = {
        "n": [n_rows],
        "n_issues": [x],
        "issue_rate": [x / n_rows],
        "ci_low": [float(low)],
        "ci_high": [float(high)],
    }
    schema: dict[str, Any] = {"n": pl.Int64, "n_issues": pl.Int64, "issue_rate": pl.Float64,
                              "ci_low": pl.Float64, "ci_high": pl.Float64}
    for name, read in metrics.others.items():
        count: float = 0
        mean = None
        if read is not None:
            values, valid = read
            count = n_rows if valid is None else float(valid.sum())
            mean = float(values.sum() / count) if count > 0 else None
        row[name], schema[name] = [mean], pl.Float64
        count_column = SLICE_METRICS[name].count_column
        if count_column is not None:
            row[count_column], schema[count_column] = [int(count)], pl.Int64
    return pl.DataFrame(row, schema=schema)


def _annotator_by_attribute(
    annotator: tuple[np.ndarray, list[str]],
    attributes: dict[str, tuple[np.ndarray, list[str]]],
    issue: np.ndarray,
    min_size: int,
    min_effect: float,
    fdr: float,
) -> pl.DataFrame:
    """Each annotator's issue rate on each group versus the same annotator elsewhere."""
    ann_codes, ann_labels = annotator
    n_ann = len(ann_labels)
    ann_n = np.bincount(ann_codes, minlength=n_ann)
    ann_x = np.rint(np.bincount(ann_codes, weights=issue, minlength=n_ann)).astype(np.int64)
    parts = []
    for name, (codes, labels) in attributes.items():
        k = len(labels)
        cell = ann_codes * k + codes
        n = np.bincount(cell, minlength=n_ann * k).reshape(n_ann, k)
        x = np.rint(np.bincount(cell, weights=issue, minlength=n_ann * k)).astype(np.int64)
        x = x.reshape(n_ann, k)
        group_n = n.sum(axis=0)
        group_x = x.sum(axis=0)
        a_idx, g_idx = np.nonzero(n)
        parts.append((name, labels, a_idx, g_idx, n[a_idx, g_idx], x[a_idx, g_idx],
                      (group_x / group_n)[g_idx]))
    if not parts or all(part[2].size == 0 for part in parts):
        return pl.DataFrame(schema=_ANNOTATOR_SCHEMA)
    a_idx = np.concatenate([p[2] for p in parts])
    n = np.concatenate([p[4] for p in parts]).astype(np.int64)
    x = np.concatenate([p[5] for p in parts]).astype(np.int64)
    group_rate = np.concatenate([p[6] for p in parts])
    rest_n = ann_n[a_idx] - n
    compared = _compare_to_rest(x, n, ann_x[a_idx] - x, rest_n, min_size, min_effect, fdr)
    attribute = []
    group = []
    for name, labels, _, g_idx, *_ in parts:
        attribute.extend([name] * g_idx.size)
        group.extend(labels[g] for g in g_idx.tolist())
    columns = {
        "annotator": [ann_labels[i] for i in a_idx.tolist()],
        "attribute": attribute,
        "group": group,
        "n": n,
        "n_issues": x,
        "rest_n": rest_n,
        "annotator_rate": (ann_x / np.maximum(ann_n, 1))[a_idx],
        "group_rate": group_rate,
        **compared,
    }
    table = pl.DataFrame({name: columns[name] for name in _ANNOTATOR_SCHEMA},
                         schema=_ANNOTATOR_SCHEMA)
    nan_to_null = ["rest_rate", "effect", "p_value", "q_value"]
    return table.with_columns(pl.col(c).fill_nan(None) for c in nan_to_null)
