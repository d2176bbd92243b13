"""The annotator review: consensus, agreement, per-annotator quality, relabel queue.

:func:`review_annotators` runs the steps in order: encode the table, fit Dawid-Skene and
the majority vote (and CROWDLAB when probabilities are given), build the consensus table
with the chosen :data:`~labelaudit.annotators.consensus.CONSENSUS` method, the agreement
figures, the per-annotator table from leave-one-out grading, the per-window quality and
the relabel queue.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from labelaudit._display import ResultTables, short_repr
from labelaudit._validation import as_polars_frame, check_time_window
from labelaudit.annotators.agreement import _grouped_kappa, agreement_summary, pairwise_agreement
from labelaudit.annotators.consensus import (
    CROWDLAB_MAX_ANNOTATORS,
    CROWDLAB_MAX_CELLS,
    ConsensusInputs,
    DawidSkeneResult,
    MajorityVote,
    _check_pred_probs,
    crowdlab_consensus,
    dawid_skene,
    get_consensus,
    leave_one_out_consensus,
    majority_vote,
)
from labelaudit.annotators.encode import EncodedAnnotations, encode_annotations, label_counts
from labelaudit.exceptions import InputError, LabelAuditError, LabelAuditWarning
from labelaudit.stats import (
    benjamini_hochberg,
    chi_square_homogeneity,
    two_proportion_z_less,
    wilson_interval,
)

__all__ = ["AnnotatorReview", "review_annotators"]


@dataclass(frozen=True, repr=False)
class AnnotatorReview(ResultTables):
    """Everything :func:`review_annotators` computes. Plain data.

    ``repr()`` is one line of headline figures, :meth:`summary` the same as a
    dict; :meth:`to_polars` / :meth:`to_pandas` return the ``"annotators"``
    (default), ``"consensus"``, ``"pairwise"``, ``"relabel_queue"``,
    ``"confusions"`` and ``"time_windows"`` tables; a notebook shows a card
    with the annotators to look at first.

    Attributes
    ----------
    annotators : polars.DataFrame
        One row per annotator (see :func:`review_annotators` for columns).
    consensus : polars.DataFrame
        One row per item.
    agreement : dict
        Dataset-level agreement figures (see :func:`agreement_summary`).
    pairwise : polars.DataFrame
        Per-pair agreement and Cohen's kappa (see :func:`pairwise_agreement`).
    relabel_queue : polars.DataFrame
        Items ranked by the value of another label, most valuable first.
    confusions : polars.DataFrame
        Systematic confusions per annotator against the leave-one-out consensus.
    time_windows : polars.DataFrame or None
        Quality per annotator and time window, with each annotator's drift
        test joined on; None without a time column.
    dawid_skene : DawidSkeneResult
        The fitted Dawid-Skene model.
    classes : tuple
        Class names or values, indexed by class code.
    params : dict
        Parameters used, for the record.
    drift : polars.DataFrame or None
        One row per annotator: does their accuracy change across time
        windows? None without a time column.
    """

    annotators: pl.DataFrame
    consensus: pl.DataFrame
    agreement: dict
    pairwise: pl.DataFrame
    relabel_queue: pl.DataFrame
    confusions: pl.DataFrame
    time_windows: pl.DataFrame | None
    dawid_skene: DawidSkeneResult
    classes: tuple
    params: dict = field(default_factory=dict)
    drift: pl.DataFrame | None = None

    _TABLES = ("annotators", "consensus", "pairwise", "relabel_queue", "confusions",
               "time_windows")

    def _table(self, name: str) -> pl.DataFrame | None:
        """The table ``name`` with class names in its label columns (the attribute has codes)."""
        return with_class_names(getattr(self, name), self.classes)

    @property
    def flagged_annotators(self) -> list[Any]:
        """Annotators whose accuracy is significantly below their peers' (after FDR control)."""
        table = self.annotators
        return table.filter(table.get_column("flagged")).get_column(table.columns[0]).to_list()

    def summary(self) -> dict[str, Any]:
        """The headline figures as a dict of plain Python values (``summary.json``'s).

        Returns
        -------
        dict
            ``krippendorff_alpha``, ``fleiss_kappa``, ``cohen_kappa_mean``,
            ``percent_agreement``, ``n_annotators``, ``n_annotations``,
            ``n_flagged_annotators``, ``flagged_annotators`` (as text) and
            ``consensus_method``.

        Examples
        --------
        >>> import polars as pl
        >>> from labelaudit import review_annotators
        >>> table = pl.DataFrame({
        ...     "item": [i for i in range(40) for _ in range(3)],
        ...     "annotator": ["ann", "bob", "cy"] * 40,
        ...     "label": [["cat", "dog"][i % 2] for i in range(40) for _ in range(3)],
        ... })
        >>> review = review_annotators(table, item_col="item", annotator_col="annotator",
        ...                            label_col="label")
        >>> s = review.summary()
        >>> s["n_annotators"], s["krippendorff_alpha"], s["flagged_annotators"]
        (3, 1.0, [])
        """
        agreement = self.agreement
        flagged = self.flagged_annotators
        return {
            "krippendorff_alpha": agreement.get("krippendorff_alpha"),
            "fleiss_kappa": agreement.get("fleiss_kappa"),
            "cohen_kappa_mean": agreement.get("cohen_kappa_mean"),
            "percent_agreement": agreement.get("percent_agreement"),
            "n_annotators": agreement.get("n_annotators"),
            "n_annotations": agreement.get("n_annotations"),
            "n_flagged_annotators": len(flagged),
            "flagged_annotators": [str(a) for a in flagged],
            "consensus_method": self.params.get("consensus_method"),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return short_repr(self, {
            "n_annotators": s["n_annotators"],
            "n_items": self.consensus.height,
            "n_annotations": s["n_annotations"],
            "krippendorff_alpha": s["krippendorff_alpha"],
            "flagged_annotators": s["flagged_annotators"],
            "consensus_method": s["consensus_method"],
        })


#: Columns of the review's tables that hold class codes.
LABEL_CODE_COLUMNS = ("majority_label", "ds_label", "crowdlab_label", "consensus_label",
                      "true_label", "given_label")


def with_class_names(table: pl.DataFrame | None, classes: Sequence[Any]) -> pl.DataFrame | None:
    """``table`` with the class codes of its :data:`LABEL_CODE_COLUMNS` replaced by class names.

    The review computes with codes; the files it is written to and
    ``to_polars()`` show names, as ``issues.parquet`` does.

    Parameters
    ----------
    table : polars.DataFrame or None
        A table of :class:`AnnotatorReview`.
    classes : sequence
        Class names (or values) indexed by code; written as text.

    Returns
    -------
    polars.DataFrame or None
        The same columns in the same order; label columns as text (null stays null).
    """
    if table is None:
        return None
    names = [str(c) for c in classes]
    codes = [c for c in LABEL_CODE_COLUMNS
             if c in table.columns and table.schema[c].is_integer()]
    return table.with_columns(
        pl.col(c).replace_strict(old=list(range(len(names))), new=names, default=None,
                                 return_dtype=pl.String)
        for c in codes
    )


def _per_item_array(value: Any, encoded: EncodedAnnotations, name: str, kind: str) -> np.ndarray:
    arr = value.to_numpy() if isinstance(value, pl.Series) else np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != encoded.n_items:
        raise LabelAuditError(
            f"{name} must be 1-D with one entry per item in item_ids ({encoded.n_items}); "
            f"got shape {arr.shape}"
        )
    if kind == "bool":
        if arr.dtype != np.bool_:
            raise LabelAuditError(f"{name} must be boolean; got dtype {arr.dtype}")
        return arr
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise LabelAuditError(f"{name} must be finite; position {bad} is {arr[bad]}")
    return arr


def _issue_mask_from_column(
    annotations: pl.DataFrame, col: str, encoded: EncodedAnnotations, source: str
) -> np.ndarray:
    if col not in annotations.columns:
        raise InputError(
            f"{source}: column {col!r} (issue_mask) not found; available columns: "
            f"{annotations.columns}"
        )
    flags = annotations[col]
    if flags.dtype != pl.Boolean or flags.null_count():
        raise InputError(f"{source}: column {col!r} (issue_mask) must be Boolean without nulls; got {flags.dtype}")
    values = flags.to_numpy()
    per_item = np.bincount(encoded.item, weights=values, minlength=encoded.n_items)
    n = np.bincount(encoded.item, minlength=encoded.n_items)
    mixed = np.flatnonzero((per_item > 0) & (per_item < n))
    if mixed.size:
        raise InputError(
            f"{source}: column {col!r} (issue_mask) must be constant within an item; "
            f"item {encoded.item_ids[int(mixed[0])]!r} has both values"
        )
    return per_item > 0


#: Up to this many (annotator, true, given) cells the confusion counts are taken densely.
_DENSE_CONFUSION_CELLS = 1 << 22


def _dense_confusion_counts(
    graded: pl.DataFrame, n_annotators: int, k: int, min_count: int
) -> tuple[pl.DataFrame, ...]:
    """The four count tables of :func:`_confusion_table` from one dense count array.

    Only the cells a confusion can come from (off the diagonal, at least
    ``min_count`` answers) are listed; the others would be filtered out anyway.
    """
    annotator = graded.get_column("annotator").to_numpy()
    true = graded.get_column("loo_label").to_numpy()
    given = graded.get_column("label").to_numpy()
    counts = np.bincount((annotator * k + true) * k + given,
                         minlength=n_annotators * k * k).reshape(n_annotators, k, k)
    rows = counts.sum(axis=2)
    peers = counts.sum(axis=0)
    keep = counts >= max(min_count, 1)
    keep[:, np.arange(k), np.arange(k)] = False
    j, t, g = np.nonzero(keep)
    cells = pl.DataFrame({"annotator": j.astype(np.int64), "loo_label": t.astype(np.int64),
                          "label": g.astype(np.int64), "n": counts[j, t, g].astype(np.uint32)})
    jt = np.unique(j * k + t)
    row_tot = pl.DataFrame({"annotator": (jt // k).astype(np.int64),
                            "loo_label": (jt % k).astype(np.int64),
                            "n_true": rows[jt // k, jt % k].astype(np.uint32)})
    tg = np.arange(k * k)
    all_cells = pl.DataFrame({"loo_label": (tg // k).astype(np.int64),
                              "label": (tg % k).astype(np.int64),
                              "all_n": peers.ravel().astype(np.uint32)})
    all_rows = pl.DataFrame({"loo_label": np.arange(k, dtype=np.int64),
                             "all_true": peers.sum(axis=1).astype(np.uint32)})
    return cells, row_tot, all_cells, all_rows


def _confusion_table(
    encoded: EncodedAnnotations, loo: pl.DataFrame, *, min_count: int, top: int
) -> pl.DataFrame:
    """Top systematic confusions per annotator against the leave-one-out consensus."""
    names = encoded.class_names
    graded = loo.filter(pl.col("graded"))
    k = max(encoded.n_classes, 1)
    if encoded.n_annotators * k * k <= _DENSE_CONFUSION_CELLS:
        cells, row_tot, all_cells, all_rows = _dense_confusion_counts(graded, encoded.n_annotators,
                                                                      k, min_count)
    else:
        cells = graded.group_by(["annotator", "loo_label", "label"]).agg(pl.len().alias("n"))
        row_tot = graded.group_by(["annotator", "loo_label"]).agg(pl.len().alias("n_true"))
        all_cells = graded.group_by(["loo_label", "label"]).agg(pl.len().alias("all_n"))
        all_rows = graded.group_by("loo_label").agg(pl.len().alias("all_true"))
    table = (
        cells.join(row_tot, on=["annotator", "loo_label"])
        .join(all_cells, on=["loo_label", "label"])
        .join(all_rows, on="loo_label")
        .filter(pl.col("label") != pl.col("loo_label"))
        .with_columns(
            rate=pl.col("n") / pl.col("n_true"),
            peer_rate=pl.when(pl.col("all_true") > pl.col("n_true"))
            .then((pl.col("all_n") - pl.col("n")) / (pl.col("all_true") - pl.col("n_true")))
            .otherwise(None),
        )
        .with_columns(excess=pl.col("rate") - pl.col("peer_rate").fill_null(0.0))
        .filter((pl.col("n") >= min_count) & (pl.col("excess") > 0))
        .sort(["annotator", "excess", "n", "loo_label", "label"],
              descending=[False, True, True, False, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("annotator"))
        .filter(pl.col("rank") <= top)
    )
    true_names = [names[i] for i in table["loo_label"].to_list()]
    given_names = [names[i] for i in table["label"].to_list()]
    desc = []
    for tn, gn, rate, peer in zip(true_names, given_names, table["rate"].to_list(),
                                  table["peer_rate"].to_list(), strict=True):
        peers = "no peers" if peer is None else f"peers {peer:.0%}"
        desc.append(f"labels '{tn}' as '{gn}' {rate:.0%} of the time, {peers}")
    ids = encoded.annotator_ids.gather(table["annotator"].to_numpy())
    return pl.DataFrame({
        encoded.annotator_col: ids,
        "rank": table["rank"].cast(pl.Int64),
        "true_label": table["loo_label"].cast(pl.Int64),
        "true_class": pl.Series(true_names, dtype=pl.String),
        "given_label": table["label"].cast(pl.Int64),
        "given_class": pl.Series(given_names, dtype=pl.String),
        "n": table["n"].cast(pl.Int64),
        "n_true": table["n_true"].cast(pl.Int64),
        "rate": table["rate"].cast(pl.Float64),
        "peer_rate": table["peer_rate"].cast(pl.Float64),
        "excess": table["excess"].cast(pl.Float64),
        "description": pl.Series(desc, dtype=pl.String),
    })


def review_annotators(
    annotations: pl.DataFrame,
    *,
    item_col: str,
    annotator_col: str,
    label_col: str,
    time_col: str | None = None,
    classes: Sequence[Any] | None = None,
    pred_probs: np.ndarray | None = None,
    item_ids: Sequence[Any] | pl.Series | np.ndarray | None = None,
    issue_mask: np.ndarray | pl.Series | str | None = None,
    label_quality: np.ndarray | pl.Series | None = None,
    min_overlap: int = 10,
    alpha: float = 0.05,
    seed: int = 0,
    consensus_method: str | None = None,
    max_iter: int = 100,
    tol: float = 1e-5,
    smoothing: float = 0.0,
    stopping: str = "elbo",
    time_window: str = "1w",
    min_confusion_count: int = 5,
    n_jobs: int | None = None,
    source: str = "annotations",
) -> AnnotatorReview:
    """Review annotators: consensus, agreement, per-annotator quality, relabel queue.

    Parameters
    ----------
    annotations : polars.DataFrame or pandas.DataFrame
        Long table, one row per annotation.
    item_col, annotator_col, label_col : str
        Column names of the item id, annotator id and label.
    time_col : str, optional
        ``Date``/``Datetime`` column; enables the per-window quality table.
    classes : sequence, optional
        Class names (labels are codes into it, or values found in it). When
        omitted the sorted distinct labels are the classes.
    pred_probs : ndarray of shape (n_items, n_classes), optional
        Out-of-sample model probabilities aligned with ``item_ids``; enables
        CROWDLAB (when the annotator count allows, see
        :func:`crowdlab_consensus`).
    item_ids : sequence, optional
        Item order of ``pred_probs``, ``issue_mask`` and ``label_quality``,
        and of the consensus table. Defaults to the sorted annotated items.
    issue_mask : ndarray, polars.Series or str, optional
        Per-item boolean flag from confident learning (aligned with
        ``item_ids``), or the name of a Boolean column of ``annotations``
        that is constant within each item.
    label_quality : ndarray, optional
        Per-item label quality in [0, 1] (aligned with ``item_ids``) used by
        the relabel queue.
    min_overlap : int, default=10
        Minimum shared items for a pairwise Cohen's kappa.
    alpha : float, default=0.05
        False discovery rate for flagging annotators; Wilson intervals have
        coverage ``1 - alpha``.
    seed : int, default=0
        Recorded in ``params``. Every step is deterministic, so no random
        numbers are drawn today.
    consensus_method : str, optional
        Which consensus of :data:`~labelaudit.annotators.consensus.CONSENSUS` fills
        ``consensus_label`` and ``consensus_quality`` (built in: ``"dawid_skene"``,
        ``"majority"``, ``"crowdlab"``). Default: ``"crowdlab"``
        when ``pred_probs`` is given and CROWDLAB ran, else ``"dawid_skene"``.
    max_iter, tol, smoothing, stopping : optional
        Dawid-Skene options (see :func:`dawid_skene`).
    time_window : str, default="1w"
        Window length: a positive polars duration string such as ``"1d"``,
        ``"2w"``, ``"1mo"`` or ``"6h"`` (units of one group: months, weeks,
        days or sub-daily), at most 100 years. The index unit ``"i"`` counts
        rows, not time, and is refused, as are zero and empty lengths.
    min_confusion_count : int, default=5
        Minimum count for a confusion to be reported.
    n_jobs : int, optional
        Threads for the compiled kernels; results do not depend on it.
    source : str, default "annotations"
        Name of the table at the front of error messages, e.g. ``"annotations file
        'a.csv'"``.

    Returns
    -------
    AnnotatorReview
        ``annotators`` columns: the annotator id, ``n_labels``, ``n_graded``
        (labels graded against the leave-one-out majority), ``n_agree``,
        ``accuracy`` with ``accuracy_low``/``accuracy_high`` (Wilson),
        ``peer_accuracy`` (all other annotators pooled), ``kappa_vs_consensus``,
        ``ds_accuracy`` and ``ds_confusion`` (K x K, rows = true class),
        ``top_confusions`` (text), ``label_dist_p_value`` (chi-square of own
        labels vs other annotators' labels on the same items),
        ``n_issue_items``/``issue_rate``/``issue_share`` (with
        ``issue_mask``), and ``p_value``, ``q_value``, ``flagged``.

        ``consensus`` columns: the item id, ``n_annotations``,
        ``single_annotation``, ``majority_label``, ``majority_share``, ``tie``,
        ``ds_label``, ``ds_posterior``, optional ``crowdlab_label``/
        ``crowdlab_quality``, ``consensus_label``, ``consensus_class``,
        ``consensus_quality``, ``consensus_method``.

    Notes
    -----
    *Accuracy* is agreement with the majority of the other annotators on the
    same item (leave-one-out); items where the others tie are not graded.
    An annotator is flagged when a one-sided pooled two-proportion z-test
    says its accuracy is below that of all other annotators pooled, after
    Benjamini-Hochberg correction at ``alpha`` across annotators.

    Majority-vote ties are broken by the Dawid-Skene posterior, then by the
    lowest class index; ``tie`` marks them.

    In ``confusions`` (and ``top_confusions``), the rate is the share of the
    annotator's graded labels on items whose leave-one-out consensus is the
    true class that carry the given class; ``peer_rate`` is the same share
    over all other annotators' graded labels pooled. Only confusions seen at
    least ``min_confusion_count`` times and above the peer rate are listed
    (top three per annotator).

    ``label_dist_p_value`` is an asymptotic chi-square test (no continuity
    correction) and is approximate for annotators with few labels.

    Memory stays linear in the number of annotations except for the
    ``n_annotators x K x K`` confusion matrices, the ``n_items x K`` count and
    posterior tables, and the annotation pairs sharing an item
    (``sum_i n_i (n_i - 1) / 2``) used for pairwise kappa.

    Examples
    --------
    Four annotators label the same 200 items; one of them is wrong 40% of
    the time:

    >>> import numpy as np, polars as pl
    >>> from labelaudit import review_annotators
    >>> rng = np.random.default_rng(0)
    >>> rows = []
    >>> for item, true in enumerate(rng.integers(0, 3, 200)):
    ...     for who, error in (("ann", 0.05), ("bob", 0.05), ("cy", 0.05), ("dee", 0.4)):
    ...         label = true if rng.random() > error else (true + 1) % 3
    ...         rows.append((item, who, ["cat", "dog", "owl"][label]))
    >>> table = pl.DataFrame(rows, schema=["item", "annotator", "label"], orient="row")
    >>> review = review_annotators(table, item_col="item", annotator_col="annotator",
    ...                            label_col="label")
    >>> review
    AnnotatorReview(n_annotators=4, n_items=200, n_annotations=800, krippendorff_alpha=0.6174, \
flagged_annotators=['dee'], consensus_method='dawid_skene')
    >>> review.to_polars().select("annotator", "accuracy", "flagged").row(3)
    ('dee', 0.6, True)
    """
    _check_options(alpha, min_confusion_count, consensus_method, pred_probs)
    check_time_window(time_window, name="time_window")
    annotations = as_polars_frame(annotations, name=source)
    enc = encode_annotations(
        annotations, item_col=item_col, annotator_col=annotator_col, label_col=label_col,
        time_col=time_col, classes=classes, item_ids=item_ids, source=source,
    )
    issues = None
    if isinstance(issue_mask, str):
        issues = _issue_mask_from_column(annotations, issue_mask, enc, source)
    elif issue_mask is not None:
        issues = _per_item_array(issue_mask, enc, "issue_mask", "bool")
    quality_in = None
    if label_quality is not None:
        quality_in = _per_item_array(label_quality, enc, "label_quality", "float")
    probs = _check_pred_probs(pred_probs, enc) if pred_probs is not None else None

    counts = label_counts(enc)
    # Dawid-Skene's kernels release the GIL: fit it on a worker thread while this one
    # computes what does not depend on it. Each result is the same as run in turn.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelaudit-ds") as pool:
        fit = pool.submit(dawid_skene, enc, max_iter=max_iter, tol=tol, smoothing=smoothing,
                          stopping=stopping, n_jobs=n_jobs if n_jobs is not None else 1)
        crowd = _run_crowdlab(enc, probs, warn=consensus_method != "crowdlab")
        pairwise = pairwise_agreement(enc, min_overlap=min_overlap)
        agreement = agreement_summary(enc, min_overlap=min_overlap, counts=counts,
                                      pairwise=pairwise)
        loo = leave_one_out_consensus(enc, counts=counts, n_jobs=n_jobs)
        confusions = _confusion_table(enc, loo, min_count=min_confusion_count, top=3)
        grades = _annotator_grades(enc, counts, loo, confusions, issues, alpha=alpha)
        ds = fit.result()
    mv = majority_vote(counts, tie_break=ds.posterior)
    method = consensus_method or ("crowdlab" if crowd is not None else "dawid_skene")
    consensus = _consensus_table(enc, counts, mv, ds, crowd, probs, method, quality_in, issues)
    annotators = _annotator_table(grades, ds)
    windows = drift = None
    if enc.time is not None:
        windows = _time_windows(enc, loo["graded"].to_numpy(), loo["correct"].to_numpy(),
                                every=time_window, alpha=alpha)
        drift = _drift_table(windows, enc.annotator_col, alpha=alpha)
        windows = windows.join(drift.select(enc.annotator_col, "drift_q_value", "drifted"),
                               on=enc.annotator_col, how="left", maintain_order="left")
    queue = _relabel_queue(consensus, enc, quality_in, crowd is not None)

    params = {
        "item_col": item_col, "annotator_col": annotator_col, "label_col": label_col,
        "time_col": time_col, "min_overlap": int(min_overlap), "alpha": float(alpha),
        "seed": int(seed), "consensus_method": method, "max_iter": int(max_iter),
        "tol": float(tol), "smoothing": float(smoothing), "stopping": stopping,
        "time_window": time_window,
        "min_confusion_count": int(min_confusion_count), "ds_n_iter": ds.n_iter,
        "ds_converged": ds.converged,
    }
    return AnnotatorReview(
        annotators=annotators, consensus=consensus, agreement=agreement, pairwise=pairwise,
        relabel_queue=queue, confusions=confusions, time_windows=windows, dawid_skene=ds,
        classes=enc.classes, params=params, drift=drift,
    )


def _check_options(
    alpha: Any, min_confusion_count: Any, consensus_method: str | None, pred_probs: Any
) -> None:
    """Refuse out-of-range options before any work is done."""
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise LabelAuditError(f"alpha must be in (0, 1); got {alpha!r}")
    if not isinstance(min_confusion_count, int) or min_confusion_count < 1:
        raise LabelAuditError(f"min_confusion_count must be a positive integer; got {min_confusion_count!r}")
    if consensus_method is not None:
        spec = get_consensus(consensus_method)
        if spec.needs_pred_probs and pred_probs is None:
            raise LabelAuditError(f"consensus_method={consensus_method!r} requires pred_probs")


def _run_crowdlab(enc: EncodedAnnotations, probs: np.ndarray | None, *, warn: bool) -> pl.DataFrame | None:
    """CROWDLAB's table when probabilities are given and the crowd is small enough, else None."""
    if probs is None:
        return None
    if warn and importlib.util.find_spec("cleanlab") is None:
        # Asked for by name, CROWDLAB without cleanlab is an error (crowdlab_consensus says
        # so); as the default that probabilities switch on, it is skipped and said.
        warnings.warn("CROWDLAB skipped: it runs through cleanlab, which is not installed "
                      "(pip install cleanlab); the consensus is Dawid-Skene's",
                      LabelAuditWarning, stacklevel=3)
        return None
    m = enc.n_annotators
    if m <= CROWDLAB_MAX_ANNOTATORS and enc.n_items * m <= CROWDLAB_MAX_CELLS:
        return crowdlab_consensus(enc, probs)
    if warn:
        warnings.warn(
            f"CROWDLAB skipped: it needs a dense items x annotators matrix and allows at most "
            f"{CROWDLAB_MAX_ANNOTATORS} annotators and {CROWDLAB_MAX_CELLS} cells; got {m} "
            f"annotators x {enc.n_items} items",
            LabelAuditWarning,
            stacklevel=3,
        )
    return None


def _as_series(values: Any, dtype: Any) -> pl.Series:
    """A consensus method's per-item output as a polars Series of ``dtype``."""
    if isinstance(values, pl.Series):
        return values.cast(dtype)
    return pl.Series(np.asarray(values)).cast(dtype)


def _consensus_table(
    enc: EncodedAnnotations,
    counts: np.ndarray,
    mv: MajorityVote,
    ds: DawidSkeneResult,
    crowd: pl.DataFrame | None,
    probs: np.ndarray | None,
    method: str,
    quality_in: np.ndarray | None,
    issues: np.ndarray | None,
) -> pl.DataFrame:
    """One row per item: every consensus, then the chosen one as ``consensus_*``."""
    ds_post = ds.posterior[np.arange(enc.n_items), np.maximum(ds.labels, 0)]
    ds_post = np.where(ds.labels >= 0, ds_post, np.nan)
    table = pl.DataFrame({
        enc.item_col: enc.item_ids,
        "n_annotations": mv.n_annotations,
        "single_annotation": mv.n_annotations == 1,
        "majority_label": mv.labels.astype(np.int64),
        "majority_share": mv.share,
        "tie": mv.tie,
        "ds_label": ds.labels.astype(np.int64),
        "ds_posterior": ds_post,
    }).with_columns(
        pl.col("majority_label", "ds_label").replace(-1, None),
    )
    if crowd is not None:
        table = table.join(crowd.select(enc.item_col, "crowdlab_label", "crowdlab_quality"),
                           on=enc.item_col, how="left", maintain_order="left")
    inputs = ConsensusInputs(encoded=enc, counts=counts, majority=mv, dawid_skene=ds,
                             table=table, pred_probs=probs)
    labels, quality = get_consensus(method).compute(inputs)
    labels = _as_series(labels, pl.Int64)
    table = table.with_columns(
        consensus_label=pl.when(labels >= 0).then(labels),
        consensus_quality=_as_series(quality, pl.Float64),
        consensus_method=pl.lit(method),
    ).with_columns(
        consensus_class=pl.col("consensus_label").replace_strict(
            old=list(range(enc.n_classes)), new=enc.class_names, default=None,
            return_dtype=pl.String,
        ),
    )
    if quality_in is not None:
        table = table.with_columns(label_quality=pl.Series(quality_in))
    if issues is not None:
        table = table.with_columns(is_issue=pl.Series(issues))
    return table


def _annotator_grades(
    enc: EncodedAnnotations,
    counts: np.ndarray,
    loo: pl.DataFrame,
    confusions: pl.DataFrame,
    issues: np.ndarray | None,
    *,
    alpha: float,
) -> dict[str, Any]:
    """Everything of the annotator table that does not need Dawid-Skene, by column.

    The review computes it while Dawid-Skene runs on its worker thread;
    :func:`_annotator_table` adds the Dawid-Skene columns.
    """
    m, k = enc.n_annotators, enc.n_classes
    graded = loo["graded"].to_numpy()
    correct = loo["correct"].to_numpy()
    ann = enc.annotator
    n_labels = np.bincount(ann, minlength=m)
    n_graded = np.bincount(ann, weights=graded, minlength=m)
    n_agree = np.bincount(ann, weights=correct, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_graded > 0, n_agree / n_graded, np.nan)
        peer_accuracy = (n_agree.sum() - n_agree) / (n_graded.sum() - n_graded)
    low, high = wilson_interval(n_agree, n_graded, alpha=alpha)
    g_idx = np.flatnonzero(graded)
    _, _, kappa_cons = _grouped_kappa(ann[g_idx], enc.label[g_idx],
                                      loo["loo_label"].to_numpy()[g_idx].astype(np.intp), m, k)

    # Own labels, and all labels on the items each annotator labeled (own included).
    own = np.bincount(ann * k + enc.label, minlength=m * k).reshape(m, k).astype(np.float64)
    seen = np.empty((m, k))
    for c in range(k):
        seen[:, c] = np.bincount(ann, weights=counts[:, c][enc.item], minlength=m)
    label_p = chi_square_homogeneity(own, seen - own)

    p_value = two_proportion_z_less(n_agree, n_graded, n_agree.sum() - n_agree,
                                    n_graded.sum() - n_graded)
    q_value = benjamini_hochberg(p_value)
    columns: dict[str, Any] = {
        enc.annotator_col: enc.annotator_ids,
        "n_labels": n_labels.astype(np.int64),
        "n_graded": n_graded.astype(np.int64),
        "n_agree": n_agree.astype(np.int64),
        "accuracy": accuracy,
        "accuracy_low": low,
        "accuracy_high": high,
        "peer_accuracy": peer_accuracy,
        "kappa_vs_consensus": kappa_cons,
        "ds_accuracy": None,  # Dawid-Skene's, filled in by _annotator_table
        "ds_confusion": None,
        "label_dist_p_value": label_p,
    }
    top_text = (
        confusions.group_by(enc.annotator_col, maintain_order=True)
        .agg(pl.col("description").str.join("; ").alias("top_confusions"))
    )
    extra: dict[str, Any] = {}
    if issues is not None:
        n_issue = np.bincount(ann, weights=issues[enc.item], minlength=m)
        total_issues = float(issues[counts.sum(axis=1) > 0].sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            extra = {
                "n_issue_items": n_issue.astype(np.int64),
                "issue_rate": np.where(n_labels > 0, n_issue / n_labels, np.nan),
                "issue_share": n_issue / total_issues if total_issues else np.full(m, np.nan),
            }
    extra.update(p_value=p_value, q_value=q_value,
                 flagged=np.nan_to_num(q_value, nan=1.0) <= alpha)
    return {"columns": columns, "top_text": top_text, "extra": extra, "key": enc.annotator_col}


def _annotator_table(grades: dict[str, Any], ds: DawidSkeneResult) -> pl.DataFrame:
    """One row per annotator: leave-one-out accuracy with its interval, test and flag."""
    columns = dict(grades["columns"])
    columns["ds_accuracy"] = ds.annotator_accuracy
    columns["ds_confusion"] = pl.Series(ds.confusion)
    key = grades["key"]
    annotators = pl.DataFrame(columns).join(grades["top_text"], on=key, how="left",
                                            maintain_order="left")
    return annotators.with_columns(
        pl.Series(name, values) for name, values in grades["extra"].items()
    )


def _time_windows(
    enc: EncodedAnnotations, graded: np.ndarray, correct: np.ndarray, *, every: str, alpha: float
) -> pl.DataFrame:
    """Leave-one-out accuracy per annotator and time window (long table)."""
    frame = pl.DataFrame({
        "annotator": enc.annotator.astype(np.int64),
        "time": enc.time,
        "graded": graded,
        "correct": correct,
    })
    missing = frame.get_column("time").null_count()
    if missing:
        warnings.warn(
            f"{missing} of {frame.height} annotations have no time in column "
            f"{enc.time.name!r} (first at row {int(frame.get_column('time').is_null().arg_true()[0])}); "
            "they are left out of the time windows and the drift test",
            LabelAuditWarning, stacklevel=3,
        )
        frame = frame.drop_nulls("time")
    # ``every`` passed check_time_window, so polars can truncate to it.
    frame = frame.with_columns(window_start=pl.col("time").dt.truncate(every))
    agg = (
        frame.group_by(["annotator", "window_start"])
        .agg(
            n_labels=pl.len(),
            n_graded=pl.col("graded").sum(),
            n_agree=pl.col("correct").sum(),
        )
        .sort(["annotator", "window_start"])
    )
    x = agg["n_agree"].to_numpy().astype(np.float64)
    n = agg["n_graded"].to_numpy().astype(np.float64)
    low, high = wilson_interval(x, n, alpha=alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, x / n, np.nan)
    return pl.DataFrame({
        enc.annotator_col: enc.annotator_ids.gather(agg["annotator"].to_numpy()),
        "window_start": agg["window_start"],
        "n_labels": agg["n_labels"].cast(pl.Int64),
        "n_graded": agg["n_graded"].cast(pl.Int64),
        "n_agree": agg["n_agree"].cast(pl.Int64),
        "accuracy": acc,
        "accuracy_low": low,
        "accuracy_high": high,
    })


def _drift_table(windows: pl.DataFrame, annotator_col: str, *, alpha: float) -> pl.DataFrame:
    """Per annotator: does the leave-one-out accuracy differ between time windows?

    Each annotator's graded labels form a 2 x W table (agreeing and
    disagreeing labels in each of their W windows); a chi-square test of
    homogeneity (no continuity correction) asks whether the accuracy is the
    same in every window. The p-values are adjusted with Benjamini-Hochberg
    across the annotators tested, and an annotator has ``drifted`` when the
    q-value is at most ``alpha``. Fewer than two windows with graded labels,
    or no disagreement (or no agreement) at all: not tested (NaN).
    """
    graded = windows.filter(pl.col("n_graded") > 0)
    who = windows.get_column(annotator_col).unique(maintain_order=True)
    starts = graded.get_column("window_start").unique().sort()
    col = {v: j for j, v in enumerate(starts.to_list())}
    row = {v: i for i, v in enumerate(who.to_list())}
    agree = np.zeros((len(row), len(col)))
    wrong = np.zeros((len(row), len(col)))
    for r in graded.iter_rows(named=True):
        i, j = row[r[annotator_col]], col[r["window_start"]]
        agree[i, j] = r["n_agree"]
        wrong[i, j] = r["n_graded"] - r["n_agree"]
    p = chi_square_homogeneity(agree, wrong) if len(col) else np.full(len(row), np.nan)
    q = benjamini_hochberg(p)
    acc = graded.with_columns(acc=pl.col("n_agree") / pl.col("n_graded"))
    per = acc.group_by(annotator_col, maintain_order=True).agg(
        n_windows=pl.len(),
        first_accuracy=pl.col("acc").sort_by("window_start").first(),
        last_accuracy=pl.col("acc").sort_by("window_start").last(),
        min_accuracy=pl.col("acc").min(),
        max_accuracy=pl.col("acc").max(),
    )
    table = pl.DataFrame({annotator_col: who}).join(per, on=annotator_col, how="left",
                                                    maintain_order="left")
    return table.with_columns(
        pl.col("n_windows").fill_null(0).cast(pl.Int64),
        drift_p_value=pl.Series(p, dtype=pl.Float64),
        drift_q_value=pl.Series(q, dtype=pl.Float64),
        drifted=pl.Series(np.nan_to_num(q, nan=1.0) <= alpha),
    )


def _relabel_queue(
    consensus: pl.DataFrame, enc: EncodedAnnotations, quality_in: np.ndarray | None, has_crowdlab: bool
) -> pl.DataFrame:
    """Rank items by how much one more label would help.

    The priority is the mean of the available terms, each in [0, 1]:
    ``1 - ds_posterior`` (the model's probability that the Dawid-Skene label
    is wrong), ``1 - majority_share`` (disagreement; 0 for single labels) and
    ``1 - label_quality`` (given, else CROWDLAB's quality when it ran).
    Unannotated items get priority 1. Ties go to fewer annotations, then
    item order. Only items with a reason to look again are queued: no
    annotation, a single one, a tie, disagreement, an uncertain consensus,
    low label quality, or a confident-learning flag.
    """
    terms = [1.0 - pl.col("ds_posterior"), 1.0 - pl.col("majority_share")]
    lq = None
    if quality_in is not None:
        lq = pl.col("label_quality")
    elif has_crowdlab:
        lq = pl.col("crowdlab_quality")
    if lq is not None:
        terms.append(1.0 - lq.clip(0.0, 1.0))
    priority = pl.mean_horizontal(terms).fill_null(1.0).fill_nan(1.0)
    reasons = [
        pl.when(pl.col("n_annotations") == 0).then(pl.lit("no annotations")),
        pl.when(pl.col("n_annotations") == 1).then(pl.lit("single annotation")),
        pl.when(pl.col("tie")).then(pl.lit("tied vote")),
        pl.when((pl.col("majority_share") < 1.0) & ~pl.col("tie"))
        .then(pl.format("annotators disagree ({}% agree)",
                          (pl.col("majority_share") * 100).round(0).cast(pl.Int64))),
        pl.when(pl.col("ds_posterior") < 0.9)
        .then(pl.format("uncertain consensus (p={})", pl.col("ds_posterior").round(2))),
    ]
    if lq is not None:
        reasons.append(pl.when(lq < 0.5).then(pl.lit("low label quality")))
    if "is_issue" in consensus.columns:
        reasons.append(pl.when(pl.col("is_issue")).then(pl.lit("flagged as a label issue")))
    cols = [enc.item_col, "n_annotations", "consensus_label", "consensus_class",
            "consensus_quality", "ds_posterior", "majority_share", "tie"]
    if quality_in is not None:
        cols.append("label_quality")
    elif has_crowdlab:
        cols.append("crowdlab_quality")
    if "is_issue" in consensus.columns:
        cols.append("is_issue")
    queue = (
        consensus.with_row_index("__order")
        .with_columns(priority=priority, reason=pl.concat_str(reasons, separator="; ", ignore_nulls=True))
        .filter(pl.col("reason").fill_null("") != "")
        .sort(["priority", "n_annotations", "__order"], descending=[True, False, False])
        .with_row_index("rank", offset=1)
        .select(["rank", *cols, "priority", "reason"])
        .with_columns(pl.col("rank").cast(pl.Int64))
    )
    return queue
