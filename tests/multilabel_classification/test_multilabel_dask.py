"""Multi-label functions on dask ``pred_probs``: the ndarray answers, computed in bands.

hypothesis draws the cases of the parity tests, a random chunking of the
dask array (rows and columns) and the size of the column cache (down to one
column per read of the graph); every answer must equal the in-memory one
exactly. The graph is never computed whole: a counting ``map_blocks`` shows
every computed piece stays within one band of row chunks.
"""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_multilabel_parity import FILTERS, RANKINGS, cases

import labelaudit as la
from labelaudit import _validation
from labelaudit.exceptions import LabelAuditError
from labelaudit.multilabel_classification import _onevsrest, dataset, filter, rank

DASK = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _lazy(probs, row_chunk, col_chunk):
    return da.from_array(probs, chunks=(row_chunk, col_chunk))


def _same(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, tuple | list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@DASK
@given(case=cases, filter_by=st.sampled_from(FILTERS), ranked_by=st.sampled_from(RANKINGS),
       row_chunk=st.sampled_from([1, 7, 64, 1000]), col_chunk=st.sampled_from([1, 3, 50]),
       cache_bytes=st.sampled_from([0, 16 << 20]))
def test_dask_input_gives_the_ndarray_answers(case, filter_by, ranked_by, row_chunk, col_chunk,
                                              cache_bytes, monkeypatch):
    labels, probs = case
    monkeypatch.setattr(_onevsrest, "LAZY_CACHE_MIN_BYTES", cache_bytes)
    if cache_bytes == 0:
        monkeypatch.setattr(_onevsrest, "LAZY_CACHE_FRACTION", 0.0)  # one column per read
    lazy = _lazy(probs, row_chunk, col_chunk)
    calls = [
        lambda p: filter.find_label_issues(labels, p, filter_by=filter_by,
                                           return_indices_ranked_by=ranked_by),
        lambda p: la.find_label_issues(labels, p, multi_label=True, filter_by=filter_by),
        lambda p: filter.find_multilabel_issues_per_class(labels, p, filter_by=filter_by),
        lambda p: rank.get_label_quality_scores(labels, p),
        lambda p: rank.get_label_quality_scores(labels, p, method="normalized_margin",
                                                adjust_pred_probs=True),
        lambda p: rank.get_label_quality_scores_per_class(labels, p),
        lambda p: dataset.common_multilabel_issues(labels, p),
        lambda p: dataset.rank_classes_by_multilabel_quality(labels, p),
        lambda p: dataset.overall_multilabel_health_score(labels, p),
    ]
    for call in calls:
        try:
            expected = call(probs)
        except LabelAuditError as exc:
            with pytest.raises(LabelAuditError) as lazy_error:
                call(lazy)
            assert str(lazy_error.value) == str(exc)
            continue
        _same(expected, call(lazy))


def test_the_graph_is_computed_one_band_at_a_time(monkeypatch):
    rng = np.random.default_rng(3)
    n, k = 600, 6
    probs = rng.random((n, k))
    labels = [np.flatnonzero(row).tolist() for row in rng.random((n, k)) < 0.3]
    monkeypatch.setattr(_validation, "_SCAN_ROWS", 100 * k)  # bands of about 100 rows
    seen = []

    def record(block):
        seen.append(block.shape[0])
        return block

    lazy = da.from_array(probs, chunks=(25, k)).map_blocks(record, dtype=probs.dtype)
    expected = filter.find_label_issues(labels, probs, return_indices_ranked_by="self_confidence")
    assert np.array_equal(filter.find_label_issues(labels, lazy,
                                                   return_indices_ranked_by="self_confidence"),
                          expected)
    assert seen and max(seen) == 25  # chunks are computed, never the whole matrix


def test_bands_cover_the_rows_once():
    probs = np.arange(103 * 4, dtype=np.float64).reshape(103, 4)
    lazy = da.from_array(probs, chunks=((10, 1, 40, 52), (2, 2)))
    blocks = list(_validation.dask_row_blocks(lazy, 5, 100, slice(1, 3)))
    assert [a for a, _ in blocks][0] == 5
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), probs[5:100, 1:3])
    assert all(b.flags.c_contiguous for _, b in blocks)


def test_dask_errors_name_the_row_and_the_shape():
    probs = np.full((50, 3), 0.5)
    probs[41, 2] = 1.5
    labels = [[0]] * 50
    with pytest.raises(LabelAuditError, match="row 41, column 2"):
        filter.find_label_issues(labels, da.from_array(probs, chunks=(10, 3)))
    unknown = da.from_array(np.full((50, 3), 0.5), chunks=(10, 3))
    unknown = unknown[unknown[:, 0] > 0]  # rows of unknown count
    with pytest.raises(LabelAuditError, match="unknown shape"):
        filter.find_label_issues(labels, unknown)
    with pytest.raises(LabelAuditError, match="float32 or float64"):
        filter.find_label_issues(labels, da.from_array(np.ones((50, 3), dtype=np.int64)))
