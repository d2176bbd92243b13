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


def test_seed_range_is_named():
    import labelaudit as la
    from labelaudit._validation import MAX_SEED, check_seed
    from labelaudit.cli import MAX_SEED as CLI_MAX_SEED

    assert CLI_MAX_SEED == MAX_SEED == 2**32 - 1
    assert check_seed(MAX_SEED) == MAX_SEED
    for bad in (-1, MAX_SEED + 1, 1.5, True):
        with pytest.raises(la.LabelAuditError, match=r"`seed` must be an integer from 0 to "):
            check_seed(bad)
    labels = np.array([0, 1, 0, 1])
    with pytest.raises(la.LabelAuditError, match="`seed` must be"):
        la.audit(labels, np.full((4, 2), 0.5), seed=-1)


def test_n_jobs_below_minus_the_cores_is_refused(monkeypatch):
    from labelaudit import LabelAuditError, _threads

    monkeypatch.setattr(_threads, "_available_cores", lambda: 4)
    assert _threads.resolve_n_jobs(-1) == 4
    assert _threads.resolve_n_jobs(-4) == 1
    assert _threads.resolve_n_jobs(9) == 9
    with pytest.raises(LabelAuditError, match=r"at least -4 .* got -5"):
        _threads.resolve_n_jobs(-5)
    with pytest.raises(LabelAuditError, match="must not be 0"):
        _threads.resolve_n_jobs(0)


@pytest.mark.parametrize("window", ["1d", "2w", "1mo", "6h", "1h30m", "1y6mo", "1w0d", "100y",
                                    "36525d"])
def test_time_windows_of_positive_length_are_accepted(window):
    from labelaudit._validation import check_time_window

    assert check_time_window(window) == window


@pytest.mark.parametrize(("window", "reason"), [
    ("0d", "its length is zero"),
    ("00d0h", "its length is zero"),
    ("", "expected whole numbers"),
    ("1i", "the unit 'i' counts rows, not time"),
    ("-1d", "expected whole numbers"),
    ("1D", "expected whole numbers"),
    (" 1d", "expected whole numbers"),
    ("weekly", "expected whole numbers"),
    ("1d6h", "it mixes days and sub-daily units"),
    ("1mo1w", "it mixes months and weeks"),
    ("101y", "longer than 100 years"),
    ("9223372036854775808d", "longer than 100 years"),
    (7, "of type int, not text"),
])
def test_time_windows_without_a_positive_length_are_refused(window, reason):
    from labelaudit._validation import check_time_window

    with pytest.raises(LabelAuditError) as info:
        check_time_window(window, name="--time-window")
    message = str(info.value)
    assert message.startswith("--time-window must be a positive polars duration string")
    assert f"got {window!r} ({reason}" in message and "\n" not in message


def test_feature_values_whose_squares_overflow_are_refused():
    import polars as pl

    from labelaudit._validation import MAX_FEATURE_MAGNITUDE, check_feature_column

    assert MAX_FEATURE_MAGNITUDE == 1e150
    check_feature_column(pl.Series([1.0, -1e150, 1e150]), source="data file 'd.csv'", column="f1")
    check_feature_column(pl.Series([2**62, -(2**62)]), source="data file 'd.csv'", column="f1")
    for value in (1e308, -1e160, 1.0000001e150):
        with pytest.raises(InputError) as info:
            check_feature_column(pl.Series([0.5, 2.0, value]), source="data file 'd.csv'",
                                 column="f1")
        assert str(info.value).startswith(
            f"data file 'd.csv': feature column 'f1' is {value!r} at row 2; feature values "
            "must lie within +-1e+150")
    with pytest.raises(InputError, match="feature column 'f1' is inf at row 1$"):
        check_feature_column(pl.Series([0.5, float("inf")]), source="d", column="f1")
    with pytest.raises(InputError, match="feature column 'f1' is null at row 0$"):
        check_feature_column(pl.Series([None, 1.0]), source="d", column="f1")
