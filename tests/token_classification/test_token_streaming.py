"""Flat token matrices, memory maps, sentence lengths and thread/chunk invariance."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelaudit.exceptions import LabelAuditError
from labelaudit.token_classification import filter as la_filter
from labelaudit.token_classification import rank as la_rank
from labelaudit.token_classification._sentences import flag_counts, reduce_sentences


def _corpus(seed=0, n_sentences=400, k=5, dtype=np.float32):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, n_sentences)
    t = int(lengths.sum())
    true = rng.integers(0, k, t)
    probs = rng.dirichlet(np.full(k, 0.5), size=t)
    probs[np.arange(t), true] += 1.0
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype(dtype)
    labels = np.where(rng.random(t) < 0.1, rng.integers(0, k, t), true)
    return labels, probs, lengths


def _nested(labels, probs, lengths):
    starts = np.concatenate([[0], np.cumsum(lengths)])
    pairs = list(zip(starts[:-1], starts[1:], strict=True))
    return [labels[a:b].tolist() for a, b in pairs], [probs[a:b] for a, b in pairs]


@pytest.fixture
def memmapped(tmp_path):
    labels, probs, lengths = _corpus()
    path = tmp_path / "token_probs.npy"
    np.save(path, probs)
    mm = np.load(path, mmap_mode="r")
    assert not mm.flags.writeable
    return labels, mm, lengths


def test_flat_memmap_equals_nested_lists(memmapped):
    labels, mm, lengths = memmapped
    nested_labels, nested_probs = _nested(labels, np.asarray(mm), lengths)
    ref = la_filter.find_label_issues(nested_labels, nested_probs)
    assert la_filter.find_label_issues(labels, mm, sentence_lengths=lengths) == ref
    assert la_filter.find_label_issues(nested_labels, mm) == ref
    ref_s, ref_t = la_rank.get_label_quality_scores(nested_labels, nested_probs,
                                                    sentence_score_method="softmin")
    ours_s, ours_t = la_rank.get_label_quality_scores(labels, mm, sentence_lengths=lengths,
                                                      sentence_score_method="softmin")
    np.testing.assert_array_equal(ours_s, ref_s)
    assert ours_s.dtype == np.float32
    assert all(a.equals(b) for a, b in zip(ours_t, ref_t, strict=True))


def test_memmap_is_not_copied(tmp_path):
    labels, probs, lengths = _corpus(n_sentences=3000, k=40)
    np.save(tmp_path / "wide.npy", probs)
    mm = np.load(tmp_path / "wide.npy", mmap_mode="r")
    labels = labels.astype(np.intp)
    tracemalloc.start()
    try:
        la_filter.find_label_issues(labels, mm, sentence_lengths=lengths)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A copy of the matrix would be mm.nbytes; the row pass keeps O(T) per-token arrays
    # (about 30 bytes a token here, against 160 bytes of probabilities).
    assert peak < 0.3 * mm.nbytes


def test_equal_length_sentences_as_one_array():
    labels, probs, _ = _corpus(n_sentences=60)
    t = (labels.size // 6) * 6
    labels3, probs3 = labels[:t].reshape(-1, 6), probs[:t].reshape(-1, 6, probs.shape[1])
    nested_labels, nested_probs = _nested(labels[:t], probs[:t], np.full(t // 6, 6))
    assert la_filter.find_label_issues(labels3, probs3) == la_filter.find_label_issues(
        nested_labels, nested_probs)


def test_results_do_not_depend_on_threads_or_chunks(memmapped):
    labels, mm, lengths = memmapped
    runs = [la_filter.find_label_issues(labels, mm, sentence_lengths=lengths, n_jobs=n,
                                        chunk_size=c)
            for n, c in [(1, None), (2, 7), (2, 100000)]]
    assert runs[0] == runs[1] == runs[2]
    scores = [la_rank.get_label_quality_scores(labels, mm, sentence_lengths=lengths, n_jobs=n,
                                               chunk_size=c)[0] for n, c in [(1, None), (2, 3)]]
    np.testing.assert_array_equal(scores[0], scores[1])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(lengths=st.lists(st.integers(1, 12), min_size=1, max_size=60),
       method=st.sampled_from(["min", "softmin", "mean"]),
       temperature=st.sampled_from([1e-6, 0.05, 3.0]),
       dtype=st.sampled_from([np.float32, np.float64]),
       chunk=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_sentence_kernel_against_numpy(lengths, method, temperature, dtype, chunk, seed):
    rng = np.random.default_rng(seed)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    scores = rng.random(int(starts[-1])).astype(dtype)
    one = reduce_sentences(scores, starts, method, temperature, n_jobs=1)
    many = reduce_sentences(scores, starts, method, temperature, n_jobs=2, chunk_size=chunk)
    np.testing.assert_array_equal(one, many)
    expected = []
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        s = scores[a:b].astype(np.float64)
        if method == "min":
            expected.append(s.min())
        elif method == "mean":
            expected.append(s.mean())
        else:
            x = (1 - s) / temperature
            w = np.exp(x - x.max())
            expected.append(float(s @ (w / w.sum())))
    tol = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(one, expected, rtol=tol, atol=tol)


def test_flag_counts_with_empty_sentences():
    starts = np.array([0, 0, 3, 3, 5], dtype=np.int64)
    mask = np.array([True, False, True, True, True])
    np.testing.assert_array_equal(flag_counts(mask, starts, chunk_size=1, n_jobs=2), [0, 2, 0, 2])


@pytest.mark.parametrize(("labels", "probs", "kwargs", "message"), [
    ([[0, 1], [1]], [np.eye(2)], {}, "one row per token: got 3 token labels and 2 rows"),
    ([[0, 1], [1]], [np.eye(2), np.ones((1, 3)) / 3], {}, r"`pred_probs\[1\]` has 3 columns"),
    (np.array([0, 1, 1]), np.eye(3)[[0, 1, 1]][:, :2], {}, "pass flat token labels with"),
    (np.array([0, 1, 1]), np.eye(2)[[0, 1, 1]], {"sentence_lengths": [2, 2]}, "sum to 4 for 3"),
    ([[0, 1], [1]], np.eye(2)[[0, 1, 1]], {"sentence_lengths": [1, 2]}, "disagrees"),
    ([[0, 1], 1], np.eye(2)[[0, 1, 1]], {}, r"`labels\[1\]` must be the sequence"),
    ([[0, 1], [2]], np.eye(2)[[0, 1, 1]], {}, "class indices in 0..1"),
    ([[0, 1], [1]], [np.eye(2), np.array([0.5, 0.5])], {}, r"`pred_probs\[1\]` must have shape"),
])
def test_bad_input_messages(labels, probs, kwargs, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(LabelAuditError, match=message):
            la_filter.find_label_issues(labels, probs, **kwargs)
