"""``labelaudit audit --task multilabel``: label issues in sets of tags (several classes per item).

Inputs (read by :mod:`labelaudit.io.multilabel`):

- DATA: a table (CSV, TSV, Parquet, JSON Lines) whose ``--label-col``
  (default ``labels``) holds each item's classes, as text separated by
  ``--label-sep`` (default ``,``; an empty cell is the empty set) or as a
  list; or a Label Studio JSON export of a multiple-choice ``Choices``
  control (the first completed annotation of each task is its label set;
  with ``--annotator-col annotator``, every annotation, by its annotator).
- ``--pred-probs``: one ``.npy``/``.npz`` ``(N, K)`` matrix in DATA's row
  order, or a table with one column per class (and an ``id`` column to
  match rows by id): the out-of-sample probability that each item carries
  each class, every entry in [0, 1]; rows need not sum to 1. A Label Studio
  export whose tasks carry ``predictions`` needs no ``--pred-probs``.
- ``--classes``: the class names in column order (default: the sorted union
  of the classes used). A class no item carries must be named here.

Every class is its own yes/no problem (:mod:`labelaudit.multilabel_classification`,
cleanlab's semantics): :func:`~labelaudit.multilabel_classification.filter.find_multilabel_issues_per_class`
flags the (item, class) pairs that look wrong (a class *wrongly given*, or
*overlooked*: missing but present), an item is a label issue when any of
its classes is
(:func:`~labelaudit.multilabel_classification.find_label_issues`), and
items are ranked by their label quality score
(:func:`~labelaudit.multilabel_classification.get_label_quality_scores`:
self-confidence per class, exponential moving average over classes).

The suggested label set of an item is the classes whose probability
reaches a threshold: ``--multilabel-threshold`` (default ``0.5``), or
``per-class``: each class's confident-learning threshold, the mean
probability of the class over the items given it (as cleanlab's
``compute_confident_joint`` sets the "yes" threshold of each yes/no
problem; 0.5 for a class no item carries).

With ``--annotator-col`` DATA has one row per (item, annotator): the
audited label set of an item is the annotators' per-class majority (ties
broken by the model), and the section adds each class's agreement
(Krippendorff's alpha, mean pairwise Cohen's kappa) and each annotator's
accuracy per class against that consensus (see
:mod:`labelaudit.annotators.multilabel`).

The headline is the share of items with a label issue, with a Wilson
interval; each class has its share of items with a flagged yes/no (both
directions) with a Wilson interval. Model-based and unverified: a model
that learned a wrong label cannot flag it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..annotators.multilabel import (
    MultilabelAgreement,
    multilabel_agreement,
    multilabel_consensus,
)
from ..exceptions import InputError, LabelAuditWarning
from ..io import file_fingerprint
from ..io.multilabel import (
    label_studio_prediction_matrix,
    multilabel_classes,
    multilabel_indices,
    read_label_studio_multilabel,
    read_multilabel_probs,
    read_multilabel_table,
)
from ..multilabel_classification import (
    find_label_issues,
    find_multilabel_issues_per_class,
    get_label_quality_scores,
)
from ..result import AuditResult
from ..stats import wilson_interval
from . import Task, TaskRequest, register_task, task_result

__all__ = ["MultilabelAudit", "audit_multilabel", "suggestion_thresholds"]

#: ``--multilabel-threshold`` value meaning each class's confident-learning threshold.
PER_CLASS = "per-class"


@dataclass(frozen=True)
class MultilabelAudit:
    """What ``--task multilabel`` found, as plain data (the report section renders it).

    Attributes
    ----------
    issues : polars.DataFrame
        One row per item, issues first by rank, then by increasing label
        quality: ``id``, ``given_labels``, ``suggested_labels`` (classes at
        or above their threshold), ``wrongly_given`` and ``overlooked`` (the
        classes whose yes/no looks wrong, each way), ``label_quality``,
        ``is_issue``, ``issue_rank`` (1 = least trustworthy; null otherwise).
    per_class : polars.DataFrame
        One row per class: ``class``, ``count`` (items given it),
        ``n_wrongly_given``, ``n_overlooked``, ``n_issues`` (their sum),
        ``estimated_noise_rate`` (``n_issues`` over all items), ``ci_low``,
        ``ci_high`` (Wilson), ``threshold`` (of the suggested sets).
    class_names : tuple of str
    issue_rate, ci_low, ci_high : float
        Share of items with a label issue and its Wilson interval.
    confidence : float
    threshold : str
        ``"0.5"`` (or another number) or ``"per-class"``.
    source : str
        How DATA was read (``"table"`` or ``"label_studio"``).
    """

    issues: pl.DataFrame
    per_class: pl.DataFrame
    class_names: tuple[str, ...]
    issue_rate: float
    ci_low: float
    ci_high: float
    confidence: float = 0.95
    threshold: str = "0.5"
    source: str = "table"
    agreement: MultilabelAgreement | None = None
    kind: str = field(default="multilabel_audit", repr=False)

    @property
    def n_items(self) -> int:
        """Items audited."""
        return self.issues.height

    @property
    def n_issues(self) -> int:
        """Items with a label issue."""
        return int(self.issues.get_column("is_issue").sum())

    @property
    def n_empty(self) -> int:
        """Items given no class."""
        return int((self.issues.get_column("given_labels").list.len() == 0).sum())

    def figures(self) -> dict[str, Any]:
        """Gate figures: the item issue rate with its interval, the worst class's upper bound."""
        highs = self.per_class.get_column("ci_high")
        extra = {} if self.agreement is None else self.agreement.figures()
        return {**extra,
            "multilabel_issue_rate": self.issue_rate,
            "multilabel_issue_rate_ci_low": self.ci_low,
            "multilabel_issue_rate_ci_high": self.ci_high,
            "multilabel_class_issue_rate_ci_high": float(highs.max()) if highs.len() else 0.0,
            "n_multilabel_issues": self.n_issues,
            "n_multilabel_items": self.n_items,
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` entry: figures, rule and the per-class table."""
        return {**self.figures(), "confidence": self.confidence, "threshold": self.threshold,
                "source": self.source, "n_empty_label_sets": self.n_empty,
                "interval": "Wilson", "per_class": self.per_class.to_dicts(),
                **({} if self.agreement is None else {"annotators": {
                    "consensus": "majority per class; ties by the model (p >= 0.5)",
                    "n_annotations": self.agreement.n_annotations,
                    "min_overlap": self.agreement.min_overlap,
                    "per_class": self.agreement.per_class.to_dicts(),
                    "per_annotator": self.agreement.per_annotator.to_dicts()}})}

    def lines(self) -> list[str]:
        """Terminal summary lines."""
        conf = f"{100 * self.confidence:g}%"
        worst = self.per_class.sort(["estimated_noise_rate", "class"],
                                    descending=[True, False]).row(0, named=True)
        more = []
        if self.agreement is not None:
            fig = self.agreement.figures()
            alpha, acc = fig["multilabel_min_class_alpha"], fig["multilabel_min_annotator_accuracy"]
            more.append(
                f"Annotators: {self.agreement.per_annotator.height} over "
                f"{self.agreement.n_annotations} label sets; lowest class Krippendorff alpha "
                f"{'undefined' if alpha is None else f'{alpha:.3f}'}, lowest annotator accuracy "
                f"against the consensus {'undefined' if acc is None else f'{100 * acc:.1f}%'}.")
        return more + [
            f"Multi-label: {self.n_issues} of {self.n_items} items have a label issue "
            f"({100 * self.issue_rate:.2f}%, {conf} interval {100 * self.ci_low:.2f}% to "
            f"{100 * self.ci_high:.2f}%, Wilson; model-based, unverified); most affected class "
            f"{worst['class']!r}: {worst['n_wrongly_given']} wrongly given, "
            f"{worst['n_overlooked']} overlooked."
        ]


def suggestion_thresholds(onehot: np.ndarray, pred_probs: np.ndarray,
                          threshold: float | str = 0.5) -> np.ndarray:
    """Per-class probability thresholds of the suggested label sets.

    Parameters
    ----------
    onehot : ndarray of bool, shape (N, K)
        Given classes.
    pred_probs : ndarray of shape (N, K)
    threshold : float or "per-class"
        A number in (0, 1) for every class, or each class's mean probability
        over the items given it (0.5 where no item is).

    Returns
    -------
    ndarray of float64, shape (K,)

    Examples
    --------
    >>> import numpy as np
    >>> given = np.array([[True, False], [True, True], [False, False]])
    >>> p = np.array([[0.9, 0.2], [0.7, 0.6], [0.1, 0.1]])
    >>> suggestion_thresholds(given, p, "per-class").round(2).tolist()
    [0.8, 0.6]
    """
    k = onehot.shape[1]
    if threshold != PER_CLASS:
        return np.full(k, float(threshold))
    count = onehot.sum(axis=0)
    total = (np.asarray(pred_probs, dtype=np.float64) * onehot).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), 0.5)


def _warn_thin(caught, onehot: np.ndarray, class_names: Sequence[str]) -> None:
    """One warning naming the classes too thin to prune (the filters warn with indices, twice)."""
    warned = False
    for w in caught:
        if isinstance(w.message, LabelAuditWarning) and "min_examples_per_class" in str(w.message):
            warned = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if not warned:
        return
    n = onehot.shape[0]
    count = onehot.sum(axis=0)
    thin = [class_names[c] for c in np.flatnonzero((count <= 1) | (n - count <= 1))]
    if thin:
        warnings.warn(f"classes {', '.join(repr(c) for c in thin)}: at most one item is given "
                      "(or lacks) each; their issues may not all be flagged",
                      LabelAuditWarning, stacklevel=3)


def _names(mask: np.ndarray, names: Sequence[str]) -> pl.Series:
    """Per row, the names of the True columns in column order (a list column, built vectorised)."""
    n = mask.shape[0]
    rows, cols = np.nonzero(mask)  # row-major: rows ascending, columns ascending within a row
    grouped = (pl.DataFrame({"row": rows.astype(np.int64),
                             "v": pl.Series([str(c) for c in names], dtype=pl.String)
                             .gather(cols.astype(np.int64))})
               .group_by("row", maintain_order=True).agg("v"))
    full = (pl.DataFrame({"row": np.arange(n, dtype=np.int64)})
            .join(grouped, on="row", how="left").sort("row"))
    return full.get_column("v").fill_null(pl.lit([], dtype=pl.List(pl.String)))


def audit_multilabel(labels: Sequence[Sequence[int]], pred_probs: np.ndarray,
                     class_names: Sequence[str], *, ids: pl.Series | None = None,
                     threshold: float | str = 0.5, confidence: float = 0.95,
                     n_jobs: int | None = None, source: str = "table") -> MultilabelAudit:
    """Audit multi-label sets against per-class out-of-sample probabilities.

    Parameters
    ----------
    labels : sequence of sequence of int
        Each item's class indices (``[[0, 2], [], [1]]``).
    pred_probs : ndarray of shape (N, K)
        Probability that each item carries each class.
    class_names : sequence of str
        Class names in column order.
    ids : polars.Series, optional
        Item ids (default: row numbers).
    threshold : float or "per-class", default 0.5
        Of the suggested label sets (see :func:`suggestion_thresholds`).
    confidence : float, default 0.95
    n_jobs : int, optional
        Threads; results do not depend on it.
    source : str
        How the labels were read, recorded.

    Returns
    -------
    MultilabelAudit

    Examples
    --------
    >>> import numpy as np
    >>> labels = [[0], [0], [0], [1], [1], [1], [0, 1], []]
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.9],
    ...               [0.1, 0.8], [0.1, 0.2], [0.9, 0.8], [0.1, 0.1]])
    >>> audit = audit_multilabel(labels, p, ["cat", "dog"])
    >>> audit.issues.filter("is_issue").select("id", "given_labels", "suggested_labels").rows()
    [(2, ['cat'], ['dog']), (5, ['dog'], [])]
    >>> audit.per_class.select("class", "n_wrongly_given", "n_overlooked").rows()
    [('cat', 1, 0), ('dog', 1, 1)]
    """
    class_names = tuple(str(c) for c in class_names)
    probs = np.asarray(pred_probs)
    n, k = probs.shape
    labels = [list(row) for row in labels]
    onehot = np.zeros((n, k), dtype=bool)
    for i, row in enumerate(labels):
        onehot[i, row] = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LabelAuditWarning)
        pair_flags = find_multilabel_issues_per_class(labels, probs, n_jobs=n_jobs)
        ranked = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence",
                                   n_jobs=n_jobs)
    _warn_thin(caught, onehot, class_names)
    scores = get_label_quality_scores(labels, probs, n_jobs=n_jobs).astype(np.float64)
    is_issue = np.zeros(n, dtype=bool)
    is_issue[ranked] = True
    rank = np.zeros(n, dtype=np.int64)
    rank[ranked] = np.arange(1, ranked.size + 1)
    thresholds = suggestion_thresholds(onehot, probs, threshold)
    suggested = probs >= thresholds
    wrongly_given = onehot & pair_flags
    overlooked = ~onehot & pair_flags
    if ids is None:
        ids = pl.Series("id", np.arange(n, dtype=np.int64))
    rest = np.where(is_issue, -np.inf, scores)
    order = np.lexsort((np.arange(n), np.where(is_issue, rank, 0), rest))
    issues = pl.DataFrame({
        "id": ids.alias("id"),
        "given_labels": _names(onehot, class_names),
        "suggested_labels": _names(suggested, class_names),
        "wrongly_given": _names(wrongly_given, class_names),
        "overlooked": _names(overlooked, class_names),
        "label_quality": scores,
        "is_issue": is_issue,
        "issue_rank": pl.Series(rank).replace(0, None),
    })[order]
    n_given = wrongly_given.sum(axis=0).astype(np.int64)
    n_over = overlooked.sum(axis=0).astype(np.int64)
    n_pairs = n_given + n_over
    low, high = wilson_interval(n_pairs, np.full(k, n), alpha=1 - confidence)
    per_class = pl.DataFrame({
        "class": list(class_names),
        "count": onehot.sum(axis=0).astype(np.int64),
        "n_wrongly_given": n_given,
        "n_overlooked": n_over,
        "n_issues": n_pairs,
        "estimated_noise_rate": n_pairs / max(n, 1),
        "ci_low": np.asarray(low, dtype=np.float64),
        "ci_high": np.asarray(high, dtype=np.float64),
        "threshold": thresholds.astype(np.float64),
    })
    n_bad = int(is_issue.sum())
    lo, hi = wilson_interval(n_bad, n, alpha=1 - confidence)
    return MultilabelAudit(
        issues=issues, per_class=per_class, class_names=class_names,
        issue_rate=n_bad / n if n else float("nan"), ci_low=float(lo), ci_high=float(hi),
        confidence=confidence, threshold=str(threshold), source=source,
    )


def _threshold(request: TaskRequest) -> float | str:
    value = request.options.get("multilabel_threshold")
    if value is None:
        return 0.5
    if str(value).strip().lower() == PER_CLASS:
        return PER_CLASS
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number < 1:
        raise InputError(f"--multilabel-threshold must be a number between 0 and 1 "
                         f"(exclusive) or 'per-class', got {value!r}")
    return number


def _label_studio_annotations(rows: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Every annotation of a Label Studio export, checked to name its annotator once per task."""
    missing = rows.get_column("annotator").is_null()
    if missing.any():
        item = rows.get_column("id")[int(missing.arg_true()[0])]
        raise InputError(f"data file '{path}': an annotation of task {item!r} names no "
                         "annotator (completed_by); --annotator-col needs one for each")
    repeat = ~rows.select(pl.struct("id", "annotator").is_first_distinct()).to_series()
    if repeat.any():
        r = int(repeat.arg_true()[0])
        raise InputError(f"data file '{path}': task {rows['id'][r]!r} has two annotations by "
                         f"{rows['annotator'][r]!r}")
    return rows


def run(request: TaskRequest) -> tuple[AuditResult, list[dict[str, Any]]]:
    """Read DATA and the probabilities, audit the label sets, attach the ``multilabel`` section."""
    if request.predictions is not None:
        raise InputError("--predictions does not apply to --task multilabel; pass --pred-probs")
    if len(request.pred_probs) > 1:
        raise InputError(f"--pred-probs: --task multilabel reads one file (the items x classes "
                         f"matrix), got {len(request.pred_probs)}")
    threshold = _threshold(request)
    sep = request.options.get("label_sep")
    is_ls = request.data.suffix.lower() == ".json"
    annotator_col = request.options.get("annotator_col")
    predictions = None
    rows = None
    if is_ls:
        for flag, value in (("--label-col", request.label_col), ("--label-sep", sep)):
            if value is not None:
                raise InputError(f"{flag} applies to a table DATA, not to the Label Studio "
                                 f"export '{request.data}'")
        if annotator_col not in (None, "annotator"):
            raise InputError(f"--annotator-col: a Label Studio export's annotators are column "
                             f"'annotator' (who completed each annotation), got {annotator_col!r}")
        ls_rows, predictions = read_label_studio_multilabel(request.data)
        table = ls_rows.unique(subset="id", keep="first", maintain_order=True).select(
            "id", "labels")
        source = "label_studio"
        if annotator_col is not None:
            rows = _label_studio_annotations(ls_rows, request.data)
            table = table.select("id")
    elif annotator_col is not None:
        if request.id_col is None:
            raise InputError("--annotator-col needs --id-col: the column naming the item each "
                             "annotator's row is about")
        rows = read_multilabel_table(request.data, label_col=request.label_col or "labels",
                                     id_col=request.id_col, sep="," if sep is None else sep,
                                     annotator_col=annotator_col)
        table = pl.DataFrame({"id": rows.get_column("id").unique(maintain_order=True)})
        source = "table, one row per annotator"
    else:
        table = read_multilabel_table(request.data, label_col=request.label_col or "labels",
                                      id_col=request.id_col, sep="," if sep is None else sep)
        source = "table"
    where = f"data file '{request.data}'"
    class_names = multilabel_classes(
        (table if rows is None else rows).get_column("labels"), request.classes, source=where)
    ids = table.get_column("id")
    inputs = [{"role": "data", **file_fingerprint(request.data,
                                                  n_rows=(table if rows is None else rows).height)}]
    if request.pred_probs:
        probs_path = Path(request.pred_probs[0])
        probs = read_multilabel_probs(probs_path, class_names=class_names, ids=ids)
        inputs.append({"role": "pred_probs",
                       **file_fingerprint(probs_path, n_rows=table.height)})
    elif predictions is not None:
        probs = label_studio_prediction_matrix(predictions, class_names, source=where)
    else:
        raise InputError("--task multilabel needs --pred-probs: the (items x classes) matrix of "
                         "out-of-sample probabilities")
    agreement = None
    if rows is not None:
        _, consensus = multilabel_consensus(rows, class_names, probs)
        table = table.with_columns(consensus)
        agreement = multilabel_agreement(rows, class_names, consensus)
    sets = table.get_column("labels")
    if table.height < 2:
        raise InputError(f"{where}: --task multilabel needs at least 2 items, got {table.height}")
    labels = multilabel_indices(sets, class_names)
    if not any(labels):
        raise InputError(f"{where}: every item has an empty label set; nothing to audit")
    audit = audit_multilabel(labels, probs, class_names, ids=ids, threshold=threshold,
                             n_jobs=request.n_jobs, source=source)
    if agreement is not None:
        audit = replace(audit, agreement=agreement)
    result = task_result(
        "multilabel", issues=audit.issues, class_names=audit.class_names,
        per_class=audit.per_class, estimated_noise_rate=audit.issue_rate, ci_low=audit.ci_low,
        ci_high=audit.ci_high, confidence=audit.confidence,
        parameters={"unit": "item", "source": source, "filter_by": "prune_by_noise_rate",
                    "rank_by": "self_confidence", "threshold": audit.threshold},
        section=audit, figures=audit.figures(),
    )
    return result, inputs


register_task(Task("multilabel", "label issues in sets of tags (several classes per item): "
                   "delimited or list columns, or Label Studio multiple choices, with "
                   "per-class probabilities", run))
