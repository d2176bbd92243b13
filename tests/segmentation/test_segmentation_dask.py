"""Dask arrays as segmentation inputs: the same answers as the ndarray path, block by block.

The ndarray path is checked against cleanlab in ``test_parity_segmentation.py``;
here the probabilities and masks arrive as dask arrays with arbitrary chunks
(and a bad value in one chunk), and every function must give the ndarray answer.
"""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelaudit.exceptions import LabelAuditError
from labelaudit.segmentation import _stream
from labelaudit.segmentation.filter import find_label_issues
from labelaudit.segmentation.rank import get_label_quality_scores
from labelaudit.segmentation.summary import common_label_issues


def _case(seed, n, k, h, w, dtype):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=(n, h, w))
    probs = rng.dirichlet(np.full(k, rng.uniform(0.2, 2.0)), size=(n, h, w))
    return labels, np.ascontiguousarray(probs.transpose(0, 3, 1, 2)).astype(dtype)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 7), k=st.integers(2, 5),
       h=st.sampled_from([2, 4, 6]), w=st.sampled_from([2, 4, 8]),
       dtype=st.sampled_from([np.float32, np.float64]),
       image_chunk=st.integers(1, 4), label_chunk=st.integers(1, 4),
       block_bytes=st.sampled_from([1, 1000, 1 << 30]))
def test_dask_inputs_give_the_ndarray_answers(seed, n, k, h, w, dtype, image_chunk, label_chunk,
                                              block_bytes):
    labels, probs = _case(seed, n, k, h, w, dtype)
    d_probs = da.from_array(probs, chunks=(image_chunk, k, h, w))
    d_labels = da.from_array(labels, chunks=(label_chunk, h, w))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = find_label_issues(labels, probs, verbose=False)
        ref_down = find_label_issues(labels, probs, verbose=False, downsample=2)
        ref_soft = get_label_quality_scores(labels, probs, verbose=False)
        ref_count = get_label_quality_scores(labels, probs, method="num_pixel_issues",
                                             verbose=False)
        ref_common = common_label_issues(ref, labels, probs, verbose=False)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_stream, "BLOCK_BYTES", block_bytes)
            mask = find_label_issues(d_labels, d_probs, verbose=False)
            down = find_label_issues(d_labels, d_probs, verbose=False, downsample=2)
            soft = get_label_quality_scores(d_labels, d_probs, verbose=False)
            count = get_label_quality_scores(d_labels, d_probs, method="num_pixel_issues",
                                             verbose=False)
            common = common_label_issues(mask, d_labels, d_probs, verbose=False)
    assert isinstance(mask, np.ndarray)
    np.testing.assert_array_equal(mask, ref)
    np.testing.assert_array_equal(down, ref_down)
    for ours, theirs in ((soft, ref_soft), (count, ref_count)):
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])
    assert common.equals(ref_common)


def test_a_bad_label_in_a_late_dask_chunk_names_the_pixel():
    labels, probs = _case(0, 6, 3, 4, 4, np.float32)
    labels[5, 2, 1] = 7
    with pytest.raises(LabelAuditError, match=r"`labels`\[5, 2, 1\]"):
        find_label_issues(da.from_array(labels, chunks=(2, 4, 4)),
                          da.from_array(probs, chunks=(2, 3, 4, 4)), verbose=False)


def test_a_dask_array_of_unknown_size_is_refused():
    _, probs = _case(0, 4, 3, 4, 4, np.float32)
    d = da.from_array(probs, chunks=(2, 3, 4, 4))
    unknown = d[d[:, 0, 0, 0] >= 0]  # boolean indexing: the number of images is unknown
    with pytest.raises(LabelAuditError, match="unknown dimension"):
        find_label_issues(np.zeros((4, 4, 4), dtype=int), unknown, verbose=False)
