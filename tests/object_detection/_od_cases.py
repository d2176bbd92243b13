"""Hypothesis strategies and oracle helpers for the object detection tests."""

from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import strategies as st

_original_argsort = np.argsort


@contextlib.contextmanager
def stable_argsort():
    """Make ``np.argsort`` stable, which pins cleanlab's order among tied scores to index order."""
    def _stable(a, axis=-1, kind=None, order=None, **kwargs):
        return _original_argsort(a, axis=axis, kind="stable", order=order, **kwargs)

    np.argsort = _stable
    try:
        yield
    finally:
        np.argsort = _original_argsort


#: Scores drawn from this list tie often (saturated detectors output exact 1.0).
_TIED_SCORES = [0.3, 0.55, 0.9, 0.96, 0.99, 1.0]


@st.composite
def detection_case(draw, *, max_images: int = 10, max_classes: int = 4, known_classes: bool = True,
                   allow_negative_scores: bool = True):
    """A small detection dataset: ``(labels, predictions, dtype)``.

    Coordinates sit on a half-pixel grid (exact in float32 and float64); some
    images have no annotations, some no predictions, some classes are never
    annotated; predictions are often jittered copies of annotations so that
    matches, swaps and misplacements all occur.
    """
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, max_images))
    K = draw(st.integers(1, max_classes))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    p_empty_labels = draw(st.sampled_from([0.0, 0.25, 0.6]))
    p_empty_preds = draw(st.sampled_from([0.0, 0.25]))
    tied = draw(st.booleans())
    absent = draw(st.integers(0, K - 1)) if K > 1 and draw(st.booleans()) else None
    label_classes = [k for k in range(K) if k != absent]
    if not known_classes:
        label_classes = label_classes + [K, K + 1]

    def boxes(m):
        xy = rng.integers(0, 80, (m, 2)) / 2
        wh = rng.integers(-2, 50, (m, 2)) / 2
        return np.hstack([xy, xy + wh])

    labels, predictions = [], []
    for _ in range(n):
        L = 0 if rng.random() < p_empty_labels else int(rng.integers(1, 5))
        lab_boxes = boxes(L)
        if L > 1 and rng.random() < 0.3:  # near-duplicate annotation, maybe another class
            lab_boxes[1] = lab_boxes[0] + rng.integers(-1, 2, 4) / 2
        labels.append({"bboxes": lab_boxes.astype(dtype),
                       "labels": rng.choice(label_classes, L).astype(np.int64),
                       "image_name": f"img_{len(labels)}.png"})
        per_class = []
        no_preds = rng.random() < p_empty_preds
        for _k in range(K):
            M = 0 if no_preds else int(rng.integers(0, 4))
            pb = boxes(M)
            for j in range(M):
                if L and rng.random() < 0.7:
                    pb[j] = lab_boxes[rng.integers(0, L)] + rng.integers(-3, 4, 4) / 2
            if tied:
                s = rng.choice(_TIED_SCORES, M)
            else:
                s = rng.random(M)
                s = np.where(s > 0.5, 0.9 + s / 10, s)
            if allow_negative_scores and M and rng.random() < 0.1:
                s[0] = -0.25
            per_class.append(np.hstack([pb, s[:, None]]).astype(dtype))
        predictions.append(per_class)
    return labels, predictions, dtype
