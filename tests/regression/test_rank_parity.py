"""``labelaudit.regression.rank`` against cleanlab 2.9's ``cleanlab.regression.rank``.

The oracle is cleanlab itself. Hypothesis draws float32 and float64 labels
and predictions (sizes on both sides of cleanlab's 100-item switch between
scipy and scikit-learn distances, repeated values for ties), and each draw
checks the promise both ways: where cleanlab returns scores ours equal them to
float tolerance with the same dtype; where cleanlab raises, ours raises an
``InputError``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from cleanlab.regression import rank as cl_rank
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelaudit.exceptions import InputError
from labelaudit.regression import rank

METHODS = ("residual", "outre")
PARITY = settings(max_examples=40, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if np.dtype(dtype) == np.float32 else dict(rtol=1e-9,
                                                                                  atol=1e-10)


def _cleanlab(labels, predictions, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cl_rank.get_label_quality_scores(labels, predictions, method=method)


def assert_parity(labels, predictions, method, **kwargs):
    """Ours equals cleanlab where cleanlab scores, and raises InputError where it fails."""
    try:
        expected = _cleanlab(labels, predictions, method)
    except (ValueError, AssertionError):
        with pytest.raises(InputError):
            rank.get_label_quality_scores(labels, predictions, method=method, **kwargs)
        return None
    got = rank.get_label_quality_scores(labels, predictions, method=method, **kwargs)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    tol = _tol(np.result_type(np.asarray(labels).dtype, np.asarray(predictions).dtype))
    np.testing.assert_allclose(got, expected, equal_nan=True, **tol)
    return got


@st.composite
def regression_inputs(draw, max_n=260):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(2, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["gaussian", "ties", "scaled", "outliers"]))
    if kind == "ties":
        # Few distinct values: many exactly equidistant neighbours.
        labels = rng.integers(0, draw(st.integers(1, 5)), n).astype(dtype)
        predictions = labels + rng.integers(-1, 2, n).astype(dtype)
    else:
        scale = 10.0 ** draw(st.integers(-3, 4)) if kind == "scaled" else 1.0
        labels = (rng.normal(size=n) * scale).astype(dtype)
        predictions = (labels + rng.normal(size=n) * 0.3 * scale).astype(dtype)
        if kind == "outliers":
            flip = rng.random(n) < 0.1
            labels[flip] += rng.normal(size=int(flip.sum())).astype(dtype) * 10
    return labels, predictions


@PARITY
@given(data=regression_inputs(), method=st.sampled_from(METHODS))
def test_scores_match_cleanlab(data, method):
    labels, predictions = data
    assert_parity(labels, predictions, method)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(n=st.integers(2, 40), seed=st.integers(0, 2**32 - 1),
       values=st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False,
                                 width=32), min_size=1, max_size=6),
       dtype=st.sampled_from([np.float32, np.float64]), method=st.sampled_from(METHODS))
def test_arbitrary_values_match_cleanlab(n, seed, values, dtype, method):
    # Labels and predictions drawn from a handful of arbitrary floats:
    # repeated points, constant columns, wide magnitudes.
    rng = np.random.default_rng(seed)
    pool = np.asarray(values, dtype=dtype)
    assert_parity(rng.choice(pool, n), rng.choice(pool, n), method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_larger_sizes_match_cleanlab(method, dtype):
    rng = np.random.default_rng(7)
    labels = rng.normal(size=1500).astype(dtype)
    predictions = (labels + rng.standard_t(3, size=1500) * 0.2).astype(dtype)
    assert_parity(labels, predictions, method)


# ---------------------------------------------------------------- edge cases

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [1.0, 0.1, -3.5])
@pytest.mark.parametrize("n", [2, 3, 50, 150])
def test_constant_labels(method, dtype, value, n):
    rng = np.random.default_rng(n)
    labels = np.full(n, value, dtype=dtype)
    predictions = (value + rng.normal(size=n)).astype(dtype)
    assert_parity(labels, predictions, method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_residuals_and_identical_points(method, dtype):
    labels = np.arange(30, dtype=dtype)
    assert_parity(labels, labels + 2, method)                  # residual constant
    same = np.full(30, 4.0, dtype=dtype)
    assert_parity(same, same, method)                          # every point identical
    half = np.r_[np.zeros(16), np.arange(1, 15)].astype(dtype)  # most points identical
    assert_parity(half, half * 0.5, method)


def test_float32_constant_labels_are_a_clear_error():
    # cleanlab divides 0 by 0 there (float32 absorbs its 1e-100) and fails in scikit-learn.
    labels = np.ones(10, dtype=np.float32)
    with pytest.raises(ValueError):
        _cleanlab(labels, np.arange(10, dtype=np.float32), "outre")
    with pytest.raises(InputError, match="constant.*float32"):
        rank.get_label_quality_scores(labels, np.arange(10, dtype=np.float32))


@pytest.mark.parametrize("method", METHODS)
def test_one_item_is_refused_two_are_scored(method):
    with pytest.raises(InputError, match="at least 2 items"):
        rank.get_label_quality_scores([1.0], [2.0], method=method)
    with pytest.raises(ValueError):
        _cleanlab([1.0], [2.0], method)
    for n in (2, 3, 4):
        got = assert_parity(np.arange(n, dtype=float), np.arange(n) * 1.5, method)
        assert got is not None


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("where", ["labels", "predictions"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_is_an_error_naming_the_row(method, where, dtype):
    labels = np.arange(8, dtype=dtype)
    predictions = labels + 0.5
    (labels if where == "labels" else predictions)[5] = np.nan
    with pytest.raises(ValueError):
        _cleanlab(labels, predictions, method)
    with pytest.raises(InputError, match=rf"`{where}` cannot contain missing values: row 5"):
        rank.get_label_quality_scores(labels, predictions, method=method)


def test_infinities():
    labels = np.array([1.0, 2.0, np.inf, np.inf])
    predictions = np.array([1.0, np.inf, 3.0, np.inf])
    got = assert_parity(labels, predictions, "residual")      # inf - inf is a NaN score
    assert np.isnan(got[3])
    with pytest.raises(InputError, match="`labels` must be finite.*row 2"):
        rank.get_label_quality_scores(labels, predictions, method="outre")


@pytest.mark.parametrize("method", METHODS)
def test_other_dtypes_and_containers(method):
    rng = np.random.default_rng(3)
    ints = rng.integers(-20, 20, 40)
    assert_parity(ints, ints + rng.integers(-3, 4, 40), method)
    small = ints.astype(np.int8)
    assert_parity(small, (small + 1).astype(np.int8), method)   # cleanlab returns float16
    f32 = rng.normal(size=40).astype(np.float32)
    assert_parity(f32, f32.astype(np.float64) + 0.1, method)     # mixed: float64
    assert_parity(list(map(float, f32)), list(map(float, f32 * 2)), method)
    assert_parity(f32.reshape(-1, 1), f32 + 1, method)           # (n, 1) is squeezed
    assert_parity(pd.Series(f32), pd.Series(f32 * 0.5), method)
    strided = np.random.default_rng(4).normal(size=(40, 2))[:, 1]
    assert_parity(strided, strided[::-1], method)


@pytest.mark.parametrize("method", METHODS)
def test_dask_vectors_give_the_ndarray_scores(method):
    import dask.array as da

    rng = np.random.default_rng(5)
    labels = rng.normal(size=300)
    predictions = labels + rng.normal(0, 0.3, 300)
    ours = rank.get_label_quality_scores(da.from_array(labels, chunks=37),
                                         da.from_array(predictions, chunks=64), method=method)
    assert isinstance(ours, np.ndarray)
    np.testing.assert_array_equal(ours, rank.get_label_quality_scores(labels, predictions,
                                                                      method=method))


def test_bad_inputs_are_clear_errors():
    f = rank.get_label_quality_scores
    with pytest.raises(InputError, match="`labels` is empty"):
        f([], [])
    with pytest.raises(InputError, match="one value per item each: got 3 labels and 2"):
        f([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(InputError, match="`predictions` must be numeric, got dtype <U1"):
        f([1.0, 2.0], ["a", "b"])
    with pytest.raises(InputError, match="got shape \\(2, 2\\)"):
        f(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(InputError, match="`method` must be one of 'residual', 'outre', got 'knn'"):
        f([1.0, 2.0], [1.0, 2.0], method="knn")
    with pytest.raises(InputError, match="real numbers"):
        f(np.array([1, 2, 3], dtype=complex), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):                   # cleanlab refuses the same inputs
        _cleanlab([1.0, 2.0], [1.0, 2.0], "knn")


def test_cleanlab_documented_example():
    labels = np.array([1, 2, 3, 4])
    predictions = np.array([2, 2, 5, 4.1])
    assert_parity(labels, predictions, "outre")
    assert_parity(labels, predictions, "residual")


# ---------------------------------------------------------------- determinism and layout

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_whatever_threads_and_chunks(method, dtype):
    rng = np.random.default_rng(11)
    labels = rng.normal(size=700).astype(dtype)
    labels[::7] = labels[0]                                   # plenty of ties
    predictions = (labels + rng.normal(size=700)).astype(dtype)
    ref = rank.get_label_quality_scores(labels, predictions, method=method, n_jobs=1)
    for n_jobs in (1, 2, 3):
        for chunk_size in (1, 7, 64, 4096):
            got = rank.get_label_quality_scores(labels, predictions, method=method,
                                                n_jobs=n_jobs, chunk_size=chunk_size)
            assert got.tobytes() == ref.tobytes()


@pytest.mark.parametrize("method", METHODS)
def test_read_only_and_memmap_inputs(method, tmp_path):
    rng = np.random.default_rng(5)
    labels = rng.normal(size=300)
    predictions = labels + rng.normal(size=300)
    np.save(tmp_path / "l.npy", labels)
    np.save(tmp_path / "p.npy", predictions)
    ml = np.load(tmp_path / "l.npy", mmap_mode="r")
    mp = np.load(tmp_path / "p.npy", mmap_mode="r")
    ref = rank.get_label_quality_scores(labels, predictions, method=method)
    np.testing.assert_array_equal(rank.get_label_quality_scores(ml, mp, method=method), ref)
    assert_parity(ml, mp, method)


def test_outre_flags_the_planted_error():
    rng = np.random.default_rng(0)
    labels = rng.normal(size=400)
    predictions = labels + rng.normal(size=400) * 0.1
    labels[[17, 230]] += 3.0
    scores = rank.get_label_quality_scores(labels, predictions)
    assert set(np.argsort(scores, kind="stable")[:2]) == {17, 230}
