"""The built-in pruning filters keep no per-row probabilities; their results do not change.

They read ``p[label]`` and the best other class from the matrix during the
selection and score only the flagged rows for the ranking. A filter
registered with ``pruning=True`` still gets ``other`` and ``selfc`` from the
row pass; both routes must flag and rank the same rows, and the selection
must keep the same rows whether it gets those arrays or not, in any order.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labelaudit as la
from labelaudit.confident import FILTERS, _passes, register_filter
from labelaudit.confident import filter as cl_filter
from labelaudit.confident._latent import keep_at_least_n_per_class


def _data(seed, n, k, dtype, decimals):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[labels]
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    if decimals is not None:  # many exact ties
        probs = np.round(probs, decimals) + 1e-9
        probs /= probs.sum(axis=1, keepdims=True)
    flip = rng.random(n) < 0.25
    labels[flip] = rng.integers(0, k, flip.sum())
    return np.ascontiguousarray(labels, dtype=np.intp), np.ascontiguousarray(probs, dtype=dtype)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    k=st.integers(2, 8),
    decimals=st.sampled_from([None, 1, 2]),
    filter_by=st.sampled_from(["prune_by_noise_rate", "prune_by_class", "both"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    dense=st.booleans(),
)
def test_selection_without_row_arrays_keeps_the_same_rows(seed, k, decimals, filter_by, dtype,
                                                          dense, monkeypatch_module):
    labels, probs = _data(seed, 300, k, dtype, decimals)
    counts = np.bincount(labels, minlength=k)
    prune = keep_at_least_n_per_class(np.asarray(la.compute_confident_joint(labels, probs)).T, 1,
                                      frac_noise=1.0)
    plan = _passes.prune_plan(prune, counts, 1, filter_by)
    monkeypatch_module.setattr(_passes, "_DENSE_PAIRS_MAX", 1 << 22 if dense else 0)
    res = _passes.row_pass(labels, probs, want_other=True, want_keep=True, n_jobs=1)
    with_rows = _passes.select_candidates(labels, probs, plan, res.extra["other"],
                                          res.extra["selfc"], n_jobs=1, chunk_size=None,
                                          first=np.flatnonzero(~res.keep), best_first=True)
    none = np.empty(0, dtype=dtype)
    for n_jobs, chunk in [(1, None), (2, 29)]:
        lean = _passes.select_candidates(labels, probs, plan, none, none, n_jobs=n_jobs,
                                         chunk_size=chunk, best_first=True)
        for a, b in zip(lean, with_rows, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def with_row_arrays():
    """The built-in pruning filters registered again without the lean route."""
    names = {}
    for name in ("prune_by_noise_rate", "prune_by_class", "both"):
        copy = f"{name}_with_rows"
        register_filter(copy, FILTERS[name].select, pruning=True)
        names[name] = copy
    yield names
    for copy in names.values():
        del FILTERS[copy]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    k=st.integers(2, 8),
    decimals=st.sampled_from([None, 1, 2]),
    filter_by=st.sampled_from(["prune_by_noise_rate", "prune_by_class", "both"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    ranked_by=st.sampled_from([None, "self_confidence", "normalized_margin",
                               "confidence_weighted_entropy"]),
    adjust=st.booleans(),
    frac_noise=st.sampled_from([1.0, 0.5]),
)
def test_lean_route_flags_and_ranks_as_the_row_array_route(seed, k, decimals, filter_by, dtype,
                                                           ranked_by, adjust, frac_noise,
                                                           with_row_arrays):
    labels, probs = _data(seed, 400, k, dtype, decimals)
    if ranked_by == "confidence_weighted_entropy":
        adjust = False
    kwargs = {"return_indices_ranked_by": ranked_by, "frac_noise": frac_noise,
              "rank_by_kwargs": {"adjust_pred_probs": adjust} if ranked_by else None}
    lean = la.find_label_issues(labels, probs, filter_by=filter_by, **kwargs)
    rows = la.find_label_issues(labels, probs, filter_by=with_row_arrays[filter_by], **kwargs)
    np.testing.assert_array_equal(lean, rows)
    assert lean.dtype == rows.dtype


def test_lean_scoring_blocks_give_the_whole_ranking(monkeypatch):
    """Flagged rows scored in several blocks rank as in one block."""
    labels, probs = _data(3, 2000, 5, np.float32, 2)
    whole = la.find_label_issues(labels, probs, return_indices_ranked_by="normalized_margin")
    monkeypatch.setattr(cl_filter, "_SCORE_BLOCK", 7)
    blocks = la.find_label_issues(labels, probs, return_indices_ranked_by="normalized_margin")
    assert whole.size > 14
    np.testing.assert_array_equal(blocks, whole)
