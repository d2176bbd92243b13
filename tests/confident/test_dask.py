"""The confident-learning functions on dask arrays, on a multi-process local cluster.

The single-machine path is the oracle: every statistic must be identical,
whatever the chunking (including chunk boundaries that split every class and
tie-heavy data with ties at the selection cuts) and the number of workers.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="the dask extra is part of the test extras")
distributed = pytest.importorskip("distributed")

import labelaudit as la  # noqa: E402
from labelaudit import LabelAuditError  # noqa: E402
from labelaudit.confident import _dask as _dask_backend  # noqa: E402

FILTERS = ["prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
           "predicted_neq_given", "low_normalized_margin", "low_self_confidence"]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=3, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _case(seed, n, k, dtype, ties):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    if ties:
        counts = rng.integers(0, 3, size=(n, k)).astype(float)
        counts[np.arange(n), true] += rng.integers(1, 4, n)
        probs = counts / counts.sum(axis=1, keepdims=True)
    else:
        logits = rng.normal(size=(n, k))
        logits[np.arange(n), true] += 2.0
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
    labels = true.copy()
    flip = rng.random(n) < 0.2
    labels[flip] = rng.integers(0, k, int(flip.sum()))
    return labels, probs.astype(dtype)


CASES = [
    # (seed, n, k, dtype, ties, row chunks)
    (0, 5000, 4, np.float32, False, 997),
    (1, 5000, 10, np.float64, True, 1300),
    (2, 4000, 3, np.float32, True, (1, 2, 500, 3497)),
    (3, 3000, 25, np.float64, False, 3000),
    (4, 6000, 7, np.float32, True, 250),
]


@pytest.mark.parametrize(("seed", "n", "k", "dtype", "ties", "chunks"), CASES)
def test_identical_to_single_machine(client, seed, n, k, dtype, ties, chunks):
    labels, probs = _case(seed, n, k, dtype, ties)
    big = da.from_array(probs, chunks=(chunks, -1))
    lab = da.from_array(labels, chunks=(chunks,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(la.get_confident_thresholds(labels, big),
                                      la.get_confident_thresholds(labels, probs))
        cj_d, off_d = la.compute_confident_joint(lab, big, return_indices_of_off_diagonals=True)
        cj_s, off_s = la.compute_confident_joint(labels, probs,
                                                 return_indices_of_off_diagonals=True)
        assert isinstance(cj_d, np.ndarray)
        np.testing.assert_array_equal(cj_d, cj_s)
        np.testing.assert_array_equal(off_d, off_s)
        for method in ("off_diagonal", "off_diagonal_calibrated"):
            assert la.num_label_issues(labels, big, estimation_method=method) == (
                la.num_label_issues(labels, probs, estimation_method=method))
        for filter_by in FILTERS:
            mask = la.find_label_issues(lab, big, filter_by=filter_by)
            assert isinstance(mask, da.Array)  # lazy: computed by the workers on demand
            np.testing.assert_array_equal(mask.compute(),
                                          la.find_label_issues(labels, probs, filter_by=filter_by))
        np.testing.assert_array_equal(
            la.find_label_issues(labels, big, return_indices_ranked_by="self_confidence"),
            la.find_label_issues(labels, probs, return_indices_ranked_by="self_confidence"),
        )
        for method in ("self_confidence", "normalized_margin", "confidence_weighted_entropy"):
            scores = la.get_label_quality_scores(labels, big, method=method)
            assert isinstance(scores, da.Array)
            np.testing.assert_array_equal(scores.compute(),
                                          la.get_label_quality_scores(labels, probs, method=method))
        for got, want in zip(la.estimate_py_and_noise_matrices_from_probabilities(labels, big),
                             la.estimate_py_and_noise_matrices_from_probabilities(labels, probs),
                             strict=True):
            np.testing.assert_array_equal(got, want)


def test_chunking_never_changes_the_mask(client):
    labels, probs = _case(9, 4000, 5, np.float32, True)
    want = la.find_label_issues(labels, probs)
    for chunks in (4000, 2000, 333, 64, (3, 3997)):
        got = la.find_label_issues(labels, da.from_array(probs, chunks=(chunks, -1))).compute()
        np.testing.assert_array_equal(got, want)


def test_errors_name_the_global_row(client):
    labels, probs = _case(5, 1000, 3, np.float64, False)
    probs[731] *= 0.5
    with pytest.warns(la.LabelAuditWarning, match="row 731 sums to"):
        want = la.find_label_issues(labels, probs)  # used as given, as cleanlab does
    got = la.find_label_issues(labels, da.from_array(probs, chunks=(100, -1)))
    np.testing.assert_array_equal(np.asarray(got.compute() if hasattr(got, "compute") else got),
                                  want)
    probs[845, 2] = np.inf
    with pytest.raises(LabelAuditError, match="row 845, column 2 is inf"):
        la.find_label_issues(labels, da.from_array(probs, chunks=(100, -1))).compute()
    labels, probs = _case(5, 1000, 3, np.float64, False)
    labels[612] = 7
    with pytest.raises(LabelAuditError, match="got 7 at position 612"):
        la.compute_confident_joint(labels, da.from_array(probs, chunks=(100, -1)))


def test_missing_dask_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(LabelAuditError, match=r"pip install 'labelaudit\[dask\]'"):
        _dask_backend._dask()
