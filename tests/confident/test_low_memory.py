"""cleanlab's ``low_memory=True`` estimate (token and multi-label ``find_label_issues``).

cleanlab then runs ``find_label_issues_batched``: thresholds as a running mean
over batches of 10,000 rows, the number of issues from each row's argmax and
the rows with that many lowest scores. labelaudit must return the same
issues; the cases cross batch boundaries (up to about 25,000 rows) and use
continuous probabilities, since cleanlab's cut of the lowest scores follows
numpy's unstable sort on ties.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
from cleanlab.multilabel_classification import filter as cl_ml
from cleanlab.token_classification import filter as cl_token
from hypothesis import given, settings
from hypothesis import strategies as st

from labelaudit.confident import _batched
from labelaudit.exceptions import LabelAuditWarning
from labelaudit.multilabel_classification import filter as la_ml
from labelaudit.token_classification import filter as la_token

SETTINGS = settings(max_examples=8, deadline=None)


@contextlib.contextmanager
def _quiet():
    # cleanlab's batched estimate draws progress bars and warns on unused options.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _sentences(seed, n_sentences, k, dtype):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 16, n_sentences)
    probs = [rng.dirichlet(np.full(k, 0.7), n).astype(dtype) for n in lengths]
    labels = [rng.integers(0, k, n).tolist() for n in lengths]
    return labels, probs


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_sentences=st.integers(1, 3000),
       k=st.integers(2, 6), dtype=st.sampled_from([np.float32, np.float64]),
       method=st.sampled_from(["self_confidence", "normalized_margin",
                               "confidence_weighted_entropy"]))
def test_token_low_memory_equals_cleanlab(seed, n_sentences, k, dtype, method):
    labels, probs = _sentences(seed, n_sentences, k, dtype)
    with _quiet():
        expected = cl_token.find_label_issues(labels, probs, low_memory=True,
                                              return_indices_ranked_by=method)
    got = la_token.find_label_issues(labels, probs, low_memory=True,
                                     return_indices_ranked_by=method)
    assert got == expected


def _multilabel(seed, n, k, dtype):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, k)) < 0.3
    given = truth ^ (rng.random((n, k)) < 0.1)
    probs = (0.15 + 0.7 * truth + rng.uniform(-0.14, 0.14, (n, k))).astype(dtype)
    return [np.flatnonzero(row).tolist() for row in given], probs


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 25_000), k=st.integers(2, 5),
       dtype=st.sampled_from([np.float32, np.float64]),
       method=st.sampled_from([None, "self_confidence", "normalized_margin"]))
def test_multilabel_low_memory_equals_cleanlab(seed, n, k, dtype, method):
    labels, probs = _multilabel(seed, n, k, dtype)
    with _quiet():
        expected = cl_ml.find_label_issues(labels, probs, return_indices_ranked_by=method,
                                           low_memory=True)
        per_class = cl_ml.find_multilabel_issues_per_class(
            labels, probs, return_indices_ranked_by=method, low_memory=True)
    got = la_ml.find_label_issues(labels, probs, return_indices_ranked_by=method,
                                  low_memory=True)
    mine = la_ml.find_multilabel_issues_per_class(labels, probs,
                                                  return_indices_ranked_by=method,
                                                  low_memory=True)
    np.testing.assert_array_equal(got, expected)
    if method is None:
        np.testing.assert_array_equal(mine, per_class)
        return
    for ours, theirs in zip(mine, per_class, strict=True):
        assert len(ours) == len(theirs) == k
        for a, b in zip(ours, theirs, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_low_memory_differs_from_the_default_filter():
    # The option changes the output: a different estimate, not a renamed default.
    labels, probs = _sentences(3, 2500, 4, np.float64)
    batched = la_token.find_label_issues(labels, probs, low_memory=True)
    default = la_token.find_label_issues(labels, probs)
    assert batched != default and batched == sorted(batched)


def test_running_thresholds_fold_batches_as_cleanlab():
    from cleanlab.experimental.label_issues_batched import LabelInspector

    rng = np.random.default_rng(5)
    n, k = 23_456, 4
    probs = rng.dirichlet(np.ones(k), n).astype(np.float32)
    labels = rng.integers(0, k, n)
    labels[:10_000][labels[:10_000] == 3] = 0  # class 3 absent from the first batch
    inspector = LabelInspector(num_class=k, verbose=False)
    for a in range(0, n, _batched.BATCH):
        inspector.update_confident_thresholds(labels[a:a + _batched.BATCH],
                                              probs[a:a + _batched.BATCH])
    got = _batched.running_thresholds(labels.astype(np.intp), probs)
    np.testing.assert_array_equal(got, inspector.get_confident_thresholds(silent=True))


def test_low_memory_warns_about_the_options_it_does_not_use():
    labels, probs = _multilabel(1, 200, 3, np.float64)
    with pytest.warns(LabelAuditWarning, match="`frac_noise` is not used"):
        la_ml.find_label_issues(labels, probs, frac_noise=0.5, low_memory=True)
    token_labels, token_probs = _sentences(1, 40, 3, np.float64)
    with pytest.warns(LabelAuditWarning, match="`filter_by` is not used"):
        la_token.find_label_issues(token_labels, token_probs, low_memory=True,
                                   filter_by="both")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        la_ml.find_label_issues(labels, probs, low_memory=True, n_jobs=2)
        la_token.find_label_issues(token_labels, token_probs, low_memory=True, n_jobs=2)


def test_low_memory_does_not_depend_on_threads():
    labels, probs = _sentences(9, 2000, 5, np.float32)
    one = la_token.find_label_issues(labels, probs, low_memory=True, n_jobs=1)
    two = la_token.find_label_issues(labels, probs, low_memory=True, n_jobs=2)
    assert one == two
