"""Annotator review of multi-label data: every class a yes/no question, annotator by annotator.

Input is the long form of :func:`labelaudit.io.multilabel.read_multilabel_table`
with an ``annotator`` column: one label set per (item, annotator). For each
class, each annotator's answer on each item they labelled is yes (they gave
the class) or no:

- **consensus** (:func:`multilabel_consensus`): a class is in an item's
  consensus set when more than half of the item's annotators gave it; on a
  tie, when the model's probability of the class reaches 0.5 (without
  probabilities, a tie is a no);
- **agreement per class** (:func:`multilabel_agreement`): Krippendorff's
  alpha (nominal, over the items with at least two annotators; equal to
  ``krippendorff.alpha(level_of_measurement="nominal")`` of the annotators x
  items yes/no matrix), and Cohen's kappa of every annotator pair sharing at
  least ``min_overlap`` items, averaged over the pairs where it is defined
  (equal to ``sklearn.metrics.cohen_kappa_score`` per pair);
- **accuracy per annotator and class**: the share of the annotator's items on
  which their yes/no equals the consensus (the consensus includes their own
  answer).

The yes/no answers of one class are held as an annotators x items ``int8``
matrix (-1 where an annotator did not label the item) while that class is
processed, so memory is ``annotators x items`` bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .agreement import krippendorff_alpha_nominal

__all__ = ["MultilabelAgreement", "multilabel_agreement", "multilabel_consensus"]

#: Annotator pairs sharing fewer items get no kappa.
MIN_OVERLAP = 10


@dataclass(frozen=True)
class MultilabelAgreement:
    """Agreement per class and accuracy per annotator and class.

    Attributes
    ----------
    per_class : polars.DataFrame
        ``class``, ``n_items`` (items with at least two annotators),
        ``krippendorff_alpha``, ``mean_cohen_kappa``, ``n_pairs`` (annotator
        pairs the mean is over), ``n_yes`` (yes answers).
    per_annotator : polars.DataFrame
        ``annotator``, ``n_items``, ``accuracy`` (over all classes), then one
        ``accuracy:<class>`` column per class.
    pairs : polars.DataFrame
        ``class``, ``annotator_a``, ``annotator_b``, ``n_shared``, ``cohen_kappa``.
    n_annotations : int
    min_overlap : int
    """

    per_class: pl.DataFrame
    per_annotator: pl.DataFrame
    pairs: pl.DataFrame
    n_annotations: int
    min_overlap: int = MIN_OVERLAP

    def figures(self) -> dict[str, Any]:
        """Gate figures: the lowest class alpha and the lowest annotator accuracy."""
        alpha = self.per_class.get_column("krippendorff_alpha").drop_nans().drop_nulls()
        acc = self.per_annotator.get_column("accuracy")
        return {"multilabel_min_class_alpha": float(alpha.min()) if alpha.len() else None,
                "multilabel_min_annotator_accuracy": float(acc.min()) if acc.len() else None}


def _answers(rows: pl.DataFrame, item_index: dict, annotator_index: dict,
             class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per annotation: item code, annotator code, and the (annotations, K) yes matrix."""
    items = np.array([item_index[i] for i in rows.get_column("id").to_list()], dtype=np.int64)
    raters = np.array([annotator_index[a] for a in rows.get_column("annotator").to_list()],
                      dtype=np.int64)
    code = {c: k for k, c in enumerate(class_names)}
    yes = np.zeros((rows.height, len(class_names)), dtype=bool)
    for r, cell in enumerate(rows.get_column("labels").to_list()):
        yes[r, [code[c] for c in cell]] = True
    return items, raters, yes


def multilabel_consensus(rows: pl.DataFrame, class_names: Sequence[str],
                         pred_probs: np.ndarray | None = None) -> tuple[pl.Series, pl.Series]:
    """Majority-vote label sets, one per item in order of first appearance.

    Parameters
    ----------
    rows : polars.DataFrame
        ``id``, ``annotator``, ``labels`` (list of str).
    class_names : sequence of str
    pred_probs : ndarray of shape (items, K), optional
        Breaks ties (a class with probability >= 0.5 wins a tie).

    Returns
    -------
    ids : polars.Series
    sets : polars.Series of list of str

    Examples
    --------
    >>> import polars as pl
    >>> rows = pl.DataFrame({"id": [1, 1, 1, 2, 2], "annotator": list("abcab"),
    ...                      "labels": [["x"], ["x", "y"], [], ["y"], []]})
    >>> ids, sets = multilabel_consensus(rows, ["x", "y"])
    >>> sets.to_list()
    [['x'], []]
    """
    ids = rows.get_column("id").unique(maintain_order=True)
    item_index = {v: i for i, v in enumerate(ids.to_list())}
    annotators = rows.get_column("annotator").unique(maintain_order=True).to_list()
    items, _, yes = _answers(rows, item_index, {a: i for i, a in enumerate(annotators)},
                             class_names)
    n, k = ids.len(), len(class_names)
    votes = np.zeros((n, k), dtype=np.int64)
    np.add.at(votes, items, yes.astype(np.int64))
    raters = np.bincount(items, minlength=n)[:, None]
    tie = 2 * votes == raters
    model = (np.asarray(pred_probs) >= 0.5) if pred_probs is not None else np.zeros((n, k), bool)
    chosen = (2 * votes > raters) | (tie & model)
    names = np.array(list(class_names), dtype=object)
    sets = pl.Series("labels", [names[row].tolist() for row in chosen], dtype=pl.List(pl.String))
    return ids, sets


def _kappa(x: np.ndarray, y: np.ndarray) -> float:
    """Cohen's kappa of two yes/no vectors (NaN when chance agreement is 1)."""
    po = float(np.mean(x == y))
    px, py = float(np.mean(x)), float(np.mean(y))
    pe = px * py + (1 - px) * (1 - py)
    return float("nan") if pe == 1 else (po - pe) / (1 - pe)


def multilabel_agreement(rows: pl.DataFrame, class_names: Sequence[str], consensus: pl.Series,
                         *, min_overlap: int = MIN_OVERLAP) -> MultilabelAgreement:
    """Agreement per class and accuracy per annotator and class against ``consensus``.

    Parameters
    ----------
    rows : polars.DataFrame
        ``id``, ``annotator``, ``labels`` (list of str), one row per (item, annotator).
    class_names : sequence of str
    consensus : polars.Series of list of str
        One set per item, in order of first appearance of ``id`` (as
        :func:`multilabel_consensus` returns).
    min_overlap : int, default 10
        Annotator pairs sharing fewer items get no kappa.

    Returns
    -------
    MultilabelAgreement

    Examples
    --------
    >>> import polars as pl
    >>> rows = pl.DataFrame({"id": [1, 1, 2, 2, 3, 3], "annotator": list("ababab"),
    ...                      "labels": [["x"], ["x"], [], ["y"], ["x", "y"], ["x", "y"]]})
    >>> ids, sets = multilabel_consensus(rows, ["x", "y"])
    >>> found = multilabel_agreement(rows, ["x", "y"], sets, min_overlap=2)
    >>> [(c, round(a, 3)) for c, a in found.per_class.select("class", "krippendorff_alpha").rows()]
    [('x', 1.0), ('y', 0.444)]
    """
    ids = rows.get_column("id").unique(maintain_order=True)
    item_index = {v: i for i, v in enumerate(ids.to_list())}
    annotators = rows.get_column("annotator").unique(maintain_order=True).to_list()
    order = sorted(range(len(annotators)), key=lambda i: annotators[i])
    annotators = [annotators[i] for i in order]
    annotator_index = {a: i for i, a in enumerate(annotators)}
    items, raters, yes = _answers(rows, item_index, annotator_index, class_names)
    n, k, m = ids.len(), len(class_names), len(annotators)
    code = {c: j for j, c in enumerate(class_names)}
    truth = np.zeros((n, k), dtype=bool)
    for i, cell in enumerate(consensus.to_list()):
        truth[i, [code[c] for c in cell]] = True
    per_item = np.bincount(items, minlength=n)
    class_rows: dict[str, list] = {"class": [], "n_items": [], "krippendorff_alpha": [],
                                   "mean_cohen_kappa": [], "n_pairs": [], "n_yes": []}
    pair_rows: dict[str, list] = {"class": [], "annotator_a": [], "annotator_b": [],
                                  "n_shared": [], "cohen_kappa": []}
    right = np.zeros((m, k), dtype=np.int64)
    seen = np.bincount(raters, minlength=m)
    labelled = np.zeros((m, n), dtype=bool)
    labelled[raters, items] = True
    shared = labelled.astype(np.int64) @ labelled.T.astype(np.int64)
    for c, name in enumerate(class_names):
        answer = yes[:, c]
        counts = np.zeros((n, 2), dtype=np.int64)
        np.add.at(counts, (items, answer.astype(np.int64)), 1)
        alpha = krippendorff_alpha_nominal(counts)
        matrix = np.full((m, n), -1, dtype=np.int8)
        matrix[raters, items] = answer
        kappas = []
        for a in range(m):
            for b in range(a + 1, m):
                if shared[a, b] < min_overlap:
                    continue
                both = (matrix[a] >= 0) & (matrix[b] >= 0)
                kappa = _kappa(matrix[a, both], matrix[b, both])
                pair_rows["class"].append(name)
                pair_rows["annotator_a"].append(annotators[a])
                pair_rows["annotator_b"].append(annotators[b])
                pair_rows["n_shared"].append(int(shared[a, b]))
                pair_rows["cohen_kappa"].append(kappa)
                kappas.append(kappa)
        defined = [x for x in kappas if x == x]
        class_rows["class"].append(name)
        class_rows["n_items"].append(int((per_item >= 2).sum()))
        class_rows["krippendorff_alpha"].append(alpha)
        class_rows["mean_cohen_kappa"].append(float(np.mean(defined)) if defined else None)
        class_rows["n_pairs"].append(len(defined))
        class_rows["n_yes"].append(int(answer.sum()))
        right[:, c] = np.bincount(raters, weights=(answer == truth[items, c]).astype(np.float64),
                                  minlength=m).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = right / np.maximum(seen, 1)[:, None]
    per_annotator = pl.DataFrame({
        "annotator": annotators, "n_items": seen.astype(np.int64),
        "accuracy": right.sum(axis=1) / np.maximum(seen * k, 1),
        **{f"accuracy:{name}": accuracy[:, c] for c, name in enumerate(class_names)},
    })
    return MultilabelAgreement(
        per_class=pl.DataFrame(class_rows, schema={
            "class": pl.String, "n_items": pl.Int64, "krippendorff_alpha": pl.Float64,
            "mean_cohen_kappa": pl.Float64, "n_pairs": pl.Int64, "n_yes": pl.Int64}),
        per_annotator=per_annotator,
        pairs=pl.DataFrame(pair_rows, schema={
            "class": pl.String, "annotator_a": pl.String, "annotator_b": pl.String,
            "n_shared": pl.Int64, "cohen_kappa": pl.Float64}),
        n_annotations=rows.height, min_overlap=min_overlap,
    )
