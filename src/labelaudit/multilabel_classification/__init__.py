"""Label issues in multi-label data, with cleanlab's ``multilabel_classification`` names.

Replacing ``cleanlab`` by ``labelaudit`` in ``from cleanlab.multilabel_classification
import filter, rank, dataset`` gives the same results: every class is audited
as its own yes/no problem with the multi-class confident-learning core, and
the per-class findings are combined per item (:mod:`.filter`), scored
(:mod:`.rank`) and summarised per class (:mod:`.dataset`).

Labels are one list of class indices per item (``[[0, 2], [], [1]]``);
``pred_probs`` holds the probability of each class, rows need not sum to one.
"""

from . import dataset, filter, rank  # noqa: A004 - cleanlab's module name
from .dataset import (
    common_multilabel_issues,
    multilabel_health_summary,
    overall_multilabel_health_score,
    rank_classes_by_multilabel_quality,
)
from .filter import find_label_issues, find_multilabel_issues_per_class
from .rank import get_label_quality_scores, get_label_quality_scores_per_class

__all__ = [
    "common_multilabel_issues",
    "dataset",
    "filter",
    "find_label_issues",
    "find_multilabel_issues_per_class",
    "get_label_quality_scores",
    "get_label_quality_scores_per_class",
    "multilabel_health_summary",
    "overall_multilabel_health_score",
    "rank",
    "rank_classes_by_multilabel_quality",
]
