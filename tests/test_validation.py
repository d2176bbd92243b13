"""The one probability validator: a single kernel pass, messages that name the input."""

from __future__ import annotations

import numpy as np
import pytest

from labelaudit import InputError, LabelAuditError
from labelaudit._validation import check_labels, check_probabilities


def _probs(n=1000, k=4, dtype=np.float64):
    p = np.random.default_rng(0).random((n, k)).astype(dtype)
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_valid_matrix_is_returned_without_a_copy(tmp_path, dtype):
    p = _probs(dtype=dtype)
    assert np.shares_memory(check_probabilities(p), p)
    np.save(tmp_path / "p.npy", p)
    mm = np.load(tmp_path / "p.npy", mmap_mode="r")
    assert np.shares_memory(check_probabilities(mm), mm)


def test_the_first_bad_row_of_any_kind_is_named_with_its_id():
    p = _probs()
    p[40] *= 0.5            # row sum first
    p[700, 2] = np.nan      # non-finite later
    ids = [f"x{i}" for i in range(p.shape[0])]
    with pytest.raises(InputError, match=r"^src: row 40 \(id 'x40'\) sums to 0\.5"):
        check_probabilities(p, ids=ids, source="src")
    p[40] *= 2
    with pytest.raises(InputError, match=r"^src: row 700 \(id 'x700'\) column 2 is nan"):
        check_probabilities(p, ids=ids, source="src")


def test_threads_do_not_change_the_row_named():
    p = _probs(n=50_000)
    p[[123, 30_000, 49_999]] *= 1.5
    for n_jobs in (1, 2):
        with pytest.raises(InputError, match="row 123 sums to"):
            check_probabilities(p, n_jobs=n_jobs)


def test_label_messages_name_the_global_position_of_a_chunk():
    with pytest.raises(LabelAuditError, match="got 5 at position 1002"):
        check_labels(np.array([0, 1, 5]), 3, 3, offset=1000)
    with pytest.raises(LabelAuditError, match="one entry per row of `X`"):
        check_labels(np.array([0, 1]), 3, None, rows_of="X")
