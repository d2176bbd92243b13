"""Agreement among annotators: percent agreement, Cohen's kappa per pair, Fleiss, Krippendorff.

Dataset-level statistics are computed from the items x classes count table of
:func:`labelaudit.annotators.encode.label_counts`; pairwise statistics from the
pairs of annotations that share an item, so no annotators x annotators or items x
annotators matrix is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from labelaudit.annotators.encode import EncodedAnnotations, label_counts
from labelaudit.exceptions import LabelAuditError

__all__ = [
    "agreement_summary",
    "fleiss_kappa",
    "krippendorff_alpha_nominal",
    "pairwise_agreement",
    "percent_agreement",
]


def percent_agreement(counts: np.ndarray) -> float:
    """Mean pairwise percent agreement over items with at least two labels.

    For an item with ``n`` labels and class counts ``c``, the share of
    agreeing annotator pairs is ``sum_k c_k (c_k - 1) / (n (n - 1))``; the
    result is its mean over items (Fleiss' ``P-bar`` for unequal rater counts).

    Parameters
    ----------
    counts : ndarray of shape (n_items, n_classes)
        Label counts per item.

    Returns
    -------
    float
        Mean agreement in [0, 1]; NaN if no item has two labels.
    """
    return _percent(_RowStats.of(counts))


class _RowStats:
    """Per-item quantities every dataset-level figure is built from, computed once.

    ``c`` is the count table as float64, ``n`` each item's label count and ``s2``
    the sum of its squared class counts. Counts are whole numbers, so every sum
    of them below is exact, and a figure computed from these equals the same
    figure computed from the table directly, bit for bit.
    """

    __slots__ = ("c", "n", "s2")

    def __init__(self, c: np.ndarray, n: np.ndarray, s2: np.ndarray) -> None:
        self.c, self.n, self.s2 = c, n, s2

    @classmethod
    def of(cls, counts: np.ndarray) -> _RowStats:
        c = np.asarray(counts, dtype=np.float64)
        return cls(c, c.sum(axis=1), np.einsum("ik,ik->i", c, c))


def _percent(stats: _RowStats) -> float:
    keep = stats.n >= 2
    if not keep.any():
        return float("nan")
    n = stats.n[keep]
    # sum_k c_k (c_k - 1) is s2 - n.
    return float(np.mean((stats.s2[keep] - n) / (n * (n - 1))))


def _modal_raters(n: np.ndarray) -> int:
    """Most common label count among items with two or more (the largest on a tie), or 0."""
    multi = n[n >= 2]
    if multi.size == 0:
        return 0
    values, freq = np.unique(multi, return_counts=True)
    return int(values[np.flatnonzero(freq == freq.max())[-1]])


def _fleiss(stats: _RowStats, m: int) -> tuple[float, int]:
    """Fleiss' kappa on the items with exactly ``m`` labels, and how many there are."""
    rows = stats.n == m
    n_rows = int(rows.sum())
    if n_rows == 0 or m < 2:
        return float("nan"), n_rows
    column_totals = stats.c[rows].sum(axis=0)
    p_cat = column_totals / column_totals.sum()
    p_rat = (stats.s2[rows] - m) / (m * (m - 1.0))
    p_exp = (p_cat * p_cat).sum()
    if p_exp == 1.0:
        return float("nan"), n_rows
    return float((p_rat.mean() - p_exp) / (1 - p_exp)), n_rows


def _krippendorff(stats: _RowStats) -> float:
    keep = stats.n >= 2
    if not keep.any():
        return float("nan")
    c, m = stats.c[keep], stats.n[keep]
    w = c / (m - 1.0)[:, None]
    coincidence = w.T @ c
    coincidence[np.diag_indices_from(coincidence)] -= w.sum(axis=0)
    n_c = coincidence.sum(axis=0)
    n_total = n_c.sum()
    observed = coincidence.sum() - np.trace(coincidence)
    expected = (n_total * n_total - (n_c * n_c).sum()) / (n_total - 1.0)
    if expected == 0:
        return float("nan")
    return float(1.0 - observed / expected)


def fleiss_kappa(counts: np.ndarray, *, n_raters: int | None = None) -> float:
    """Fleiss' kappa on the items rated by exactly ``n_raters`` annotators.

    Fleiss' kappa assumes every item has the same number of ratings.
    Crowd data rarely does, so only the items whose rating count equals
    ``n_raters`` (by default the most common count among items with at least
    two ratings; the largest such count on a tie) enter the statistic. The
    result equals ``statsmodels.stats.inter_rater.fleiss_kappa`` on that
    sub-table.

    Parameters
    ----------
    counts : ndarray of shape (n_items, n_classes)
        Label counts per item.
    n_raters : int, optional
        Rating count of the items to use.

    Returns
    -------
    float
        Kappa; NaN when undefined (no eligible item, ``n_raters < 2``, or a
        single category used throughout, where chance agreement is 1).
    """
    stats = _RowStats.of(counts)
    m = _modal_raters(stats.n) if n_raters is None else int(n_raters)
    return _fleiss(stats, m)[0]


def krippendorff_alpha_nominal(counts: np.ndarray) -> float:
    """Krippendorff's alpha for nominal data with missing ratings.

    Computed from the coincidence matrix of the items x classes count table;
    items with fewer than two labels are not pairable and drop out. Equals
    ``krippendorff.alpha(..., level_of_measurement="nominal")``.

    Parameters
    ----------
    counts : ndarray of shape (n_items, n_classes)
        Label counts per item.

    Returns
    -------
    float
        Alpha; NaN when undefined (no pairable item, or a single value among
        the pairable labels). The ``krippendorff`` package raises in the
        first case and returns NaN in the second.
    """
    return _krippendorff(_RowStats.of(counts))


#: Up to this many (group, class) cells or pair keys, counts are taken densely.
_DENSE_CELLS = 1 << 22


def _grouped_kappa(
    group: np.ndarray, a: np.ndarray, b: np.ndarray, n_groups: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cohen's kappa between label arrays ``a`` and ``b`` within each group.

    Sparse in (group, class), so it never allocates ``n_groups x n_classes``
    per side. Returns (n, n_agree, kappa) per group; kappa follows
    scikit-learn's ``1 - sum(w * observed) / sum(w * expected)`` and is NaN
    when the expected disagreement is zero.
    """
    n = np.bincount(group, minlength=n_groups).astype(np.float64)
    agree = np.bincount(group, weights=(a == b).astype(np.float64), minlength=n_groups)
    if n_groups * n_classes <= max(_DENSE_CELLS, 2 * group.size):
        # Few enough cells to count densely: the same integer sums, no sorting.
        cells = n_groups * n_classes
        ca = np.bincount(group * n_classes + a, minlength=cells).reshape(n_groups, n_classes)
        cb = np.bincount(group * n_classes + b, minlength=cells).reshape(n_groups, n_classes)
        same = np.einsum("gc,gc->g", ca, cb).astype(np.float64)  # exact: integer counts
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = n - same / n
            kappa = np.where((n > 0) & (expected != 0), 1.0 - (n - agree) / expected, np.nan)
        return n, agree, kappa
    key_a = group.astype(np.int64) * n_classes + a
    key_b = group.astype(np.int64) * n_classes + b
    ua, ca = np.unique(key_a, return_counts=True)
    ub, cb = np.unique(key_b, return_counts=True)
    common, ia, ib = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    same = np.bincount(
        common // n_classes, weights=ca[ia].astype(np.float64) * cb[ib], minlength=n_groups
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = n - same / n
        kappa = np.where((n > 0) & (expected != 0), 1.0 - (n - agree) / expected, np.nan)
    return n, agree, kappa


def _csr(index: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable sort order and CSR offsets of ``index`` into ``n_groups`` groups."""
    order = np.argsort(index, kind="stable")
    ptr = np.zeros(n_groups + 1, dtype=np.intp)
    np.cumsum(np.bincount(index, minlength=n_groups), out=ptr[1:])
    return order, ptr


def _annotation_pairs(encoded: EncodedAnnotations) -> tuple[np.ndarray, ...]:
    """All pairs of annotations that share an item, annotator_a <= annotator_b.

    The number of pairs is ``sum_i n_i (n_i - 1) / 2``; a compiled kernel
    writes each item's pairs into its own slots.
    """
    from labelaudit.annotators.consensus import _kernels

    order, item_ptr = _csr(encoded.item, encoded.n_items)
    per_item = np.diff(item_ptr)
    pair_ptr = np.zeros(encoded.n_items + 1, dtype=np.intp)
    np.cumsum(per_item * (per_item - 1) // 2, out=pair_ptr[1:])
    n_pairs = int(pair_ptr[-1])
    out = [np.empty(n_pairs, dtype=np.intp) for _ in range(4)]
    if n_pairs:
        _kernels().annotation_pairs(
            item_ptr, pair_ptr, np.ascontiguousarray(encoded.annotator[order], dtype=np.intp),
            np.ascontiguousarray(encoded.label[order], dtype=np.intp), *out, n_threads=1,
        )
    return tuple(out)


def pairwise_agreement(encoded: EncodedAnnotations, *, min_overlap: int = 10) -> pl.DataFrame:
    """Percent agreement and Cohen's kappa for every annotator pair.

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.
    min_overlap : int, default=10
        Pairs sharing fewer items are left out.

    Returns
    -------
    polars.DataFrame
        Columns ``<annotator_col>_a``, ``<annotator_col>_b`` (a < b in sort
        order), ``n_shared``, ``percent_agreement``, ``cohen_kappa`` (NaN when
        undefined, as scikit-learn's ``cohen_kappa_score`` default), sorted by
        the pair.

    Notes
    -----
    Pairs are enumerated item by item (in a compiled kernel), so the cost is
    ``sum_i n_i (n_i - 1) / 2`` for ``n_i`` labels on item ``i``; no
    annotators x annotators or items x annotators matrix is built.
    """
    if not isinstance(min_overlap, int | np.integer) or min_overlap < 1:
        raise LabelAuditError(f"min_overlap must be a positive integer; got {min_overlap!r}")
    a, b, la, lb = _annotation_pairs(encoded)
    col = encoded.annotator_col
    schema_ids = encoded.annotator_ids.dtype
    if a.size == 0:
        return pl.DataFrame(schema={f"{col}_a": schema_ids, f"{col}_b": schema_ids,
                                    "n_shared": pl.Int64, "percent_agreement": pl.Float64,
                                    "cohen_kappa": pl.Float64})
    pair_key = a.astype(np.int64) * encoded.n_annotators + b
    n_keys = encoded.n_annotators * encoded.n_annotators
    if n_keys <= max(_DENSE_CELLS, 2 * pair_key.size):
        # Dense key space: sorted distinct keys and each pair's index without a sort.
        seen = np.bincount(pair_key, minlength=n_keys) > 0
        keys = np.flatnonzero(seen)
        index = np.cumsum(seen, dtype=np.intp) - 1
        pair = index[pair_key]
    else:
        keys, pair = np.unique(pair_key, return_inverse=True)
    n, agree, kappa = _grouped_kappa(pair, la, lb, keys.size, encoded.n_classes)
    keep = n >= min_overlap
    ids = encoded.annotator_ids
    return pl.DataFrame({
        f"{col}_a": ids.gather(keys[keep] // encoded.n_annotators),
        f"{col}_b": ids.gather(keys[keep] % encoded.n_annotators),
        "n_shared": n[keep].astype(np.int64),
        "percent_agreement": agree[keep] / n[keep],
        "cohen_kappa": kappa[keep],
    })


def agreement_summary(
    encoded: EncodedAnnotations,
    *,
    min_overlap: int = 10,
    counts: np.ndarray | None = None,
    pairwise: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Dataset-level agreement figures.

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.
    min_overlap : int, default=10
        Minimum shared items for a pair's Cohen's kappa to count.
    counts : ndarray, optional
        Precomputed :func:`label_counts`.
    pairwise : polars.DataFrame, optional
        Precomputed :func:`pairwise_agreement` with the same ``min_overlap``.

    Returns
    -------
    dict
        Plain Python numbers (NaN where undefined):

        - ``n_items``, ``n_annotations``, ``n_annotators``, ``n_items_multi``
          (items with >= 2 labels);
        - ``percent_agreement``: mean per-item pairwise agreement;
        - ``pairwise_agreement_pooled``: agreeing pairs / all pairs;
        - ``fleiss_kappa`` with ``fleiss_n_raters`` and ``fleiss_n_items``
          (the items used, see :func:`fleiss_kappa`);
        - ``krippendorff_alpha`` (nominal, all items);
        - ``cohen_kappa_mean`` / ``cohen_kappa_median`` over pairs with at
          least ``min_overlap`` shared items, ``n_pairs``, ``min_overlap``.
    """
    if counts is None:
        counts = label_counts(encoded)
    if pairwise is None:
        pairwise = pairwise_agreement(encoded, min_overlap=min_overlap)
    stats = _RowStats.of(counts)
    n = stats.n
    total_pairs = float((n * (n - 1) / 2).sum())
    agree_pairs = float(((stats.s2 - n) / 2).sum())  # sum of c_k (c_k - 1) / 2: exact
    m = _modal_raters(n)
    fleiss, fleiss_items = _fleiss(stats, m)
    kappas = pairwise["cohen_kappa"].to_numpy()
    finite = kappas[np.isfinite(kappas)]
    return {
        "n_items": int(encoded.n_items),
        "n_annotations": int(encoded.n_annotations),
        "n_annotators": int(encoded.n_annotators),
        "n_items_multi": int((n >= 2).sum()),
        "percent_agreement": _percent(stats),
        "pairwise_agreement_pooled": agree_pairs / total_pairs if total_pairs else float("nan"),
        "fleiss_kappa": fleiss,
        "fleiss_n_raters": int(m),
        "fleiss_n_items": fleiss_items if m >= 2 else 0,
        "krippendorff_alpha": _krippendorff(stats),
        "cohen_kappa_mean": float(finite.mean()) if finite.size else float("nan"),
        "cohen_kappa_median": float(np.median(finite)) if finite.size else float("nan"),
        "n_pairs": int(pairwise.height),
        "min_overlap": int(min_overlap),
    }
