"""cleanlab's nested token input, read a group of sentences at a time.

The grouped route (no flat copy of the sentences) must give the flat route's
issues exactly, whatever the group size: thresholds summed across groups,
selection heaps carried from group to group, un-flagging and ranking of the
selected rows only. Inputs it does not handle, and bad input, go the flat
route with its messages.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cleanlab.token_classification import filter as cl_filter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelaudit.exceptions import LabelAuditError
from labelaudit.token_classification import _grouped
from labelaudit.token_classification import filter as la_filter

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _case(seed, n_sentences, max_len, k, dtype, decimals):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, max_len + 1, n_sentences)
    lengths[0] = max(lengths[0], 2)
    t = int(lengths.sum())
    true = rng.integers(0, k, t)
    logits = rng.normal(size=(t, k)) + 2.5 * np.eye(k)[true]
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    if decimals is not None:  # many exact ties of margins and thresholds
        probs = np.round(probs, decimals) + 1e-3
        probs /= probs.sum(axis=1, keepdims=True)
    labels = true.copy()
    flip = rng.random(t) < 0.2
    labels[flip] = rng.integers(0, k, int(flip.sum()))
    labels[:2] = [0, 1]
    probs = probs.astype(dtype)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    nested_labels = [labels[a:b].tolist() for a, b in zip(starts[:-1], starts[1:], strict=True)]
    nested_probs = [probs[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
    return nested_labels, nested_probs, labels, probs, lengths


CASES = st.builds(_case, seed=st.integers(0, 2**32 - 1), n_sentences=st.integers(1, 120),
                  max_len=st.sampled_from([1, 4, 12, 30]), k=st.sampled_from([2, 3, 6]),
                  dtype=st.sampled_from([np.float32, np.float64]),
                  decimals=st.sampled_from([None, 1, 2]))

#: Continuous probabilities only: on rounded ones, exact ties (in the ranking, at
#: a selection cut, in the rounding of the prune counts) follow numpy's unstable
#: sort in cleanlab. The tie-heavy cases are compared with the flat route above,
#: whose own cleanlab parity on ties is tested in ``test_token_parity``.
CONTINUOUS = st.builds(_case, seed=st.integers(0, 2**32 - 1), n_sentences=st.integers(1, 120),
                       max_len=st.sampled_from([1, 4, 12, 30]), k=st.sampled_from([2, 3, 6]),
                       dtype=st.sampled_from([np.float32, np.float64]), decimals=st.none())


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@SETTINGS
@given(case=CASES, group=st.sampled_from([1, 5, 37, 1 << 15]),
       fold_every=st.sampled_from([1, 2, 16]),
       filter_by=st.sampled_from(["prune_by_noise_rate", "prune_by_class", "both"]),
       ranked_by=st.sampled_from([None, "self_confidence", "normalized_margin"]),
       n_jobs=st.sampled_from([1, 2]))
def test_grouped_route_equals_the_flat_route(case, group, fold_every, filter_by, ranked_by,
                                             n_jobs, monkeypatch):
    nested_labels, nested_probs, labels, probs, lengths = case
    monkeypatch.setattr(_grouped, "GROUP_TOKENS", group)
    monkeypatch.setattr(_grouped, "FOLD_EVERY", fold_every)
    assert _grouped.find_issues(nested_labels, nested_probs, filter_by=filter_by,
                                ranked_by=ranked_by, n_jobs=n_jobs) is not None
    grouped = la_filter.find_label_issues(nested_labels, nested_probs, filter_by=filter_by,
                                          return_indices_ranked_by=ranked_by, n_jobs=n_jobs)
    flat = la_filter.find_label_issues(labels, probs, sentence_lengths=lengths,
                                       filter_by=filter_by, return_indices_ranked_by=ranked_by,
                                       n_jobs=n_jobs)
    assert grouped == flat
    assert all(type(i) is int and type(j) is int for i, j in grouped)


@SETTINGS
@given(case=CONTINUOUS.filter(lambda c: c[4].sum() > 60))
def test_grouped_route_matches_cleanlab_across_many_groups(case, monkeypatch):
    nested_labels, nested_probs, _, _, _ = case
    monkeypatch.setattr(_grouped, "GROUP_TOKENS", 16)
    monkeypatch.setattr(_grouped, "FOLD_EVERY", 3)
    ours = la_filter.find_label_issues(nested_labels, nested_probs)
    assert ours == cl_filter.find_label_issues(nested_labels, nested_probs)


def test_default_call_does_not_flatten_the_sentences(monkeypatch):
    nested_labels, nested_probs, labels, probs, lengths = _case(1, 200, 12, 3, np.float32, None)
    expected = la_filter.find_label_issues(labels, probs, sentence_lengths=lengths)

    def refuse(*args, **kwargs):
        raise AssertionError("flattened")

    monkeypatch.setattr(la_filter, "flatten", refuse)
    monkeypatch.setattr(_grouped, "GROUP_TOKENS", 64)
    assert la_filter.find_label_issues(nested_labels, nested_probs) == expected


def test_bad_rows_and_other_options_take_the_flat_route():
    nested_labels, nested_probs, labels, probs, lengths = _case(2, 50, 6, 3, np.float64, None)
    bad = [p.copy() for p in nested_probs]
    bad[3][0, 0] = np.nan
    with pytest.raises(LabelAuditError) as grouped_error:
        la_filter.find_label_issues(nested_labels, bad)
    flat_bad = probs.copy()
    flat_bad[int(lengths[:3].sum()), 0] = np.nan
    with pytest.raises(LabelAuditError) as flat_error:
        la_filter.find_label_issues(labels, flat_bad, sentence_lengths=lengths)
    assert str(grouped_error.value) == str(flat_error.value)
    assert _grouped.find_issues(nested_labels, nested_probs,
                                filter_by="confident_learning") is None
    assert _grouped.find_issues(nested_labels, nested_probs,
                                ranked_by="confidence_weighted_entropy") is None
    mixed = list(nested_probs)
    mixed[1] = mixed[1].astype(np.float32)
    assert _grouped.find_issues(nested_labels, mixed) is None
    half = la_filter.find_label_issues(nested_labels, nested_probs, frac_noise=0.5)
    assert half == la_filter.find_label_issues(labels, probs, sentence_lengths=lengths,
                                               frac_noise=0.5)


def test_layouts_the_grouped_route_does_not_take():
    nested_labels, nested_probs, _, _, _ = _case(5, 20, 6, 3, np.float64, None)
    assert _grouped.find_issues(nested_labels, nested_probs) is not None
    as_arrays = [np.asarray(seq) for seq in nested_labels]
    assert _grouped.find_issues(as_arrays, nested_probs) is not None  # arrays are sequences too
    shapes = {
        "a list among the arrays": (nested_labels, [nested_probs[0].tolist(), *nested_probs[1:]]),
        "a 1-D array": (nested_labels, [nested_probs[0].ravel(), *nested_probs[1:]]),
        "other columns": (nested_labels, [nested_probs[0][:, :2], *nested_probs[1:]]),
        "a short label list": ([nested_labels[0][:-1], *nested_labels[1:]], nested_probs),
        "a string of labels": (["01", *nested_labels[1:]], nested_probs),
        "a 0-d label array": ([np.int64(0), *nested_labels[1:]], nested_probs),
    }
    for name, (labs, probs) in shapes.items():
        assert _grouped.find_issues(labs, probs) is None, name
