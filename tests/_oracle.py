"""Shared set-up of the parity tests that use cleanlab as the oracle.

cleanlab sorts with numpy's default (unstable) ``argsort``, so where keys tie
exactly its order depends on the platform; labelaudit breaks ties by index.
:func:`stable_sorting` makes ``np.argsort`` stable for both libraries inside a
block, which is what labelaudit documents, so the two can be compared there.
:func:`class_probabilities` draws the three styles of probability rows the
parity tests run on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

__all__ = ["class_probabilities", "stable_sorting"]

_ORIGINAL_ARGSORT = np.argsort


def _stable_argsort(a, axis=-1, kind=None, order=None, **kwargs):
    return _ORIGINAL_ARGSORT(a, axis=axis, kind="stable", order=order, **kwargs)


def _has_ties(values) -> bool:
    if isinstance(values, list | tuple):
        parts = [np.ravel(v) for v in values if np.size(v)]
        values = np.concatenate(parts) if parts else np.empty(0)
    values = np.asarray(values)
    return np.unique(values).size < values.size


@contextlib.contextmanager
def stable_sorting(values=None, *, force: bool = False) -> Iterator[None]:
    """Make ``np.argsort`` stable inside the block when ``values`` tie (or always with ``force``).

    ``values`` is an array or a list of arrays (for example per-sentence probabilities).
    """
    if not (force or (values is not None and _has_ties(values))):
        yield
        return
    np.argsort = _stable_argsort
    try:
        yield
    finally:
        np.argsort = _ORIGINAL_ARGSORT


def class_probabilities(rng: np.random.Generator, true: np.ndarray, k: int,
                        style: str) -> np.ndarray:
    """Row-stochastic float64 probabilities (one row per entry of ``true``) of a style.

    ``"ties"``: small-integer ratios, with many exact ties within and across rows.
    ``"peaked"``: confident rows, so that several classes can pass their thresholds at once.
    Otherwise (``"dirichlet"``): Dirichlet rows with extra mass on the true class.
    """
    n = true.shape[0]
    rows = np.arange(n)
    if style == "ties":
        counts = rng.integers(0, 4, size=(n, k)).astype(np.float64)
        counts[rows, true] += rng.integers(1, 6, n)
        return counts / counts.sum(axis=1, keepdims=True)
    if style == "peaked":
        logits = rng.normal(0, 1, size=(n, k))
        logits[rows, true] += rng.uniform(0, 6)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        return probs / probs.sum(axis=1, keepdims=True)
    probs = rng.dirichlet(np.full(k, rng.uniform(0.1, 2.0)), size=n)
    probs[rows, true] += rng.uniform(0, 1)
    return probs / probs.sum(axis=1, keepdims=True)
