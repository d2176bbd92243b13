"""cleanlab's ``low_memory=True`` estimate: two passes over row batches.

With ``low_memory=True``, cleanlab's token and multi-label ``find_label_issues``
do not run the confident-learning filters. They call
``experimental.label_issues_batched.find_label_issues_batched`` (on the flat
token matrix, or on each class's yes/no problem), which reads batches of
10,000 rows twice:

1. **Thresholds.** Each batch's per-class mean self-confidence (2 for a class
   the batch does not label, floored at 2e-6) is folded into a running mean
   weighted by the class's token counts, floored at 2e-6 after every batch.
2. **Count and scores.** A token counts as an issue when its argmax class is
   not its label and the argmax probability reaches that class's threshold
   minus 1e-6; every row gets its label quality score (``method``).

The issues are then the rows with the ``count`` lowest scores, less those
whose given label wins ``argmax(p + 1e-6 * onehot(label))``, returned in row
order. This module reproduces those steps on a validated matrix, with the
core's per-batch means (bit for bit numpy's) and scores; ties at the cut of
the lowest scores go to the smaller row index.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import LabelAuditError
from . import _passes as ps

#: Rows per batch (``find_label_issues_batched``'s default ``batch_size``).
BATCH = 10_000

#: Floor of the thresholds after every batch (cleanlab's lower bound).
THRESHOLD_FLOOR = 2e-6

#: Slack of the confidence comparison (cleanlab's floating-point margin).
SLACK = 1e-6


def _batches(n: int):
    for a in range(0, n, BATCH):
        yield a, min(a + BATCH, n)


def fold_thresholds(thresholds: np.ndarray, seen: np.ndarray, counts: np.ndarray,
                    batch: np.ndarray) -> np.ndarray:
    """One batch folded into cleanlab's running per-class thresholds.

    ``batch`` holds the batch's per-class thresholds and ``counts`` its items
    per class. Returns the new thresholds (float64, floored at
    :data:`THRESHOLD_FLOOR`) and adds ``counts`` to ``seen`` in place, as
    ``LabelInspector.update_confident_thresholds`` does.
    """
    thresholds = (seen * thresholds + counts * batch) / np.clip(seen + counts, 1, None)
    seen += counts
    return np.clip(thresholds, THRESHOLD_FLOOR, None)


def running_thresholds(labels: np.ndarray, pred_probs) -> np.ndarray:
    """Per-class thresholds folded batch by batch (float64, one per class)."""
    k = pred_probs.shape[1]
    seen = np.zeros(k, dtype=np.float64)
    thresholds = np.zeros(k, dtype=np.float64)
    for a, b in _batches(labels.shape[0]):
        lab = labels[a:b]
        counts = ps.class_counts(lab, k)
        batch = ps.thresholds_from_counts(lab, np.ascontiguousarray(pred_probs[a:b]), counts)
        thresholds = fold_thresholds(thresholds, seen, counts, batch)
    return thresholds


def find_issues(labels: np.ndarray, pred_probs, method, *, n_jobs=None) -> np.ndarray:
    """Row indices of cleanlab's batched estimate, in row order.

    ``labels`` (intp) and ``pred_probs`` are validated; ``method`` is the
    label quality score whose lowest values are the issues (the callers'
    ``return_indices_ranked_by``, named so in the messages).
    """
    if method is None:
        raise LabelAuditError(
            "`return_indices_ranked_by` must name a score with `low_memory=True` (it is the "
            "score whose lowest values are the issues), got None.")
    spec = ps.score_spec(method, parameter="return_indices_ranked_by")
    thresholds = running_thresholds(labels, pred_probs)
    adj = thresholds - SLACK
    n = labels.shape[0]
    n_issues = 0
    scores = []
    for a, b in _batches(n):
        lab = labels[a:b]
        p = np.ascontiguousarray(pred_probs[a:b])
        top = ps.row_argmax(p, n_jobs=n_jobs)
        confident = p[np.arange(b - a), top] >= adj[top]
        n_issues += int(np.count_nonzero(confident & (top != lab)))
        scores.append(ps.score_rows(lab, p, spec, n_jobs=n_jobs, row_offset=a))
    chosen = ps.smallest(np.concatenate(scores), min(n_issues, n))
    del scores
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    ps.unflag_agreeing(mask, labels, pred_probs)
    return np.flatnonzero(mask)
