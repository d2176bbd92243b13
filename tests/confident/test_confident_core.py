"""Behaviour of the confident-learning core beyond parity: validation, determinism, layout."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labelaudit as la
from labelaudit import LabelAuditError


def _data(seed=0, n=3000, k=6, dtype=np.float64, noise=0.2, decimals=None):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), true] += 2.0
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    if decimals is not None:
        probs = np.round(probs, decimals)
        probs /= probs.sum(axis=1, keepdims=True)
    labels = true.copy()
    flip = rng.random(n) < noise
    labels[flip] = rng.integers(0, k, int(flip.sum()))
    return labels, probs.astype(dtype)


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize(
    ("labels", "probs", "message"),
    [
        ([0, 1, 1], [[0.5, 0.5], [0.5, 0.5]], "got 3 labels and 2 rows"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], "got 2 at position 1"),
        ([0, -1], [[0.5, 0.5], [0.5, 0.5]], "got -1 at position 1"),
        ([0, 1.5], [[0.5, 0.5], [0.5, 0.5]], "got 1.5 at position 1"),
        (["a", "b"], [[0.5, 0.5], [0.5, 0.5]], "map class names to indices"),
        ([0, 1], [[0.5, np.nan], [0.5, 0.5]], "row 0, column 1 is nan"),
        ([0, 1], [[0.5, 0.5], [np.inf, 0.5]], "must be finite: row 1, column 0"),
        ([0, 1], [[1.2, -0.2], [0.5, 0.5]], "row 0, column 1 is -0.2"),
        ([0], [[1.0]], "at least 2 columns"),
        ([], np.zeros((0, 3)), "has no rows"),
        ([0, 1], [0.5, 0.5], "must be 2-D"),
        ([0, 1], np.array([[1, 0], [0, 1]]), "float32 or float64"),
    ],
)
def test_bad_input_messages(labels, probs, message):
    for fn in (la.find_label_issues, la.compute_confident_joint, la.get_label_quality_scores):
        with pytest.raises(LabelAuditError, match=message.replace("(", r"\(").replace(".", r"\.")):
            fn(labels, probs)


@pytest.mark.parametrize(
    ("labels", "probs", "message"),
    [
        ([0, 1, 0, 1], [[0.5, 0.5], [0.9, 0.3], [0.6, 0.4], [0.2, 0.8]], "row 1 sums to 1.2"),
        ([0, 1, 0, 1], [[0.5, 0.5], [0.5, 0.2], [0.6, 0.4], [0.2, 0.8]], "off by -0.3"),
    ],
)
def test_rows_off_one_are_used_as_given_with_a_warning(labels, probs, message):
    """cleanlab computes on rows that do not sum to 1; so do the drop-in functions, and warn."""
    from cleanlab import count as cl_count
    from cleanlab import filter as cl_filter
    from cleanlab import rank as cl_rank

    probs = np.asarray(probs)
    pattern = message.replace("(", r"\(").replace(".", r"\.").replace("+", r"\+")
    with pytest.warns(la.LabelAuditWarning, match=pattern):
        ours = la.find_label_issues(labels, probs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cl_filter.find_label_issues(np.array(labels), probs, n_jobs=1)
        ref_cj = cl_count.compute_confident_joint(np.array(labels), probs)
        ref_q = cl_rank.get_label_quality_scores(np.array(labels), probs)
    np.testing.assert_array_equal(ours, ref)
    with pytest.warns(la.LabelAuditWarning, match="renormalize"):
        np.testing.assert_array_equal(la.compute_confident_joint(labels, probs), ref_cj)
    with pytest.warns(la.LabelAuditWarning, match=pattern):
        np.testing.assert_array_equal(la.get_label_quality_scores(labels, probs), ref_q)


def test_rows_off_one_warn_once_in_one_line_that_points_to_renormalize():
    labels, probs = _data(n=50)
    probs[7] *= 0.9
    with pytest.warns(la.LabelAuditWarning) as record:
        la.find_label_issues(labels, probs)
    texts = [str(w.message) for w in record if issubclass(w.category, la.LabelAuditWarning)
             and "sum to 1" in str(w.message)]
    assert len(texts) == 1
    assert "row 7" in texts[0] and "renormalize" in texts[0] and "\n" not in texts[0]
    fixed = la.renormalize(probs)
    assert fixed.dtype == probs.dtype
    with warnings.catch_warnings():
        warnings.simplefilter("error", la.LabelAuditWarning)
        la.find_label_issues(labels, fixed)  # no warning once renormalised


def test_nan_stays_an_error_the_one_deliberate_difference():
    labels, probs = _data(n=50)
    probs[3, 1] = np.nan
    for fn in (la.find_label_issues, la.compute_confident_joint, la.get_label_quality_scores):
        with pytest.raises(LabelAuditError, match="must be finite: row 3, column 1 is nan"):
            fn(labels, probs)


def test_bad_options():
    labels, probs = _data(n=100)
    with pytest.raises(LabelAuditError, match="filter_by"):
        la.find_label_issues(labels, probs, filter_by="nope")
    with pytest.raises(LabelAuditError, match="n_jobs"):
        la.find_label_issues(labels, probs, n_jobs=0)
    with pytest.raises(LabelAuditError, match="chunk_size"):
        la.find_label_issues(labels, probs, chunk_size=0)
    with pytest.raises(LabelAuditError, match="method"):
        la.get_label_quality_scores(labels, probs, method="margin")
    with pytest.raises(LabelAuditError, match="multi_label"):
        la.find_label_issues(labels, probs, multi_label=True)
    with pytest.raises(LabelAuditError, match="confident_joint"):
        la.find_label_issues(labels, probs, confident_joint=np.ones((3, 3)))
    with pytest.raises(LabelAuditError, match="thresholds"):
        la.compute_confident_joint(labels, probs, thresholds=[0.5, 0.5])


# --------------------------------------------------------------------------- determinism

@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    n_jobs=st.sampled_from([1, 2, 3, 4]),
    chunk=st.sampled_from([1, 7, 64, 1000, 100_000]),
    dtype=st.sampled_from([np.float32, np.float64]),
    decimals=st.sampled_from([None, 1, 2]),
)
def test_results_do_not_depend_on_threads_or_chunks(seed, n_jobs, chunk, dtype, decimals):
    labels, probs = _data(seed=seed, n=1500, k=5, dtype=dtype, decimals=decimals)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for filter_by in ("prune_by_noise_rate", "prune_by_class", "both",
                          "low_self_confidence"):
            ref = la.find_label_issues(labels, probs, filter_by=filter_by, n_jobs=1,
                                       chunk_size=4096)
            got = la.find_label_issues(labels, probs, filter_by=filter_by, n_jobs=n_jobs,
                                       chunk_size=chunk)
            np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(
            la.compute_confident_joint(labels, probs, n_jobs=n_jobs, chunk_size=chunk),
            la.compute_confident_joint(labels, probs, n_jobs=1),
        )
        np.testing.assert_array_equal(
            la.get_label_quality_scores(labels, probs, method="normalized_margin",
                                        n_jobs=n_jobs, chunk_size=chunk),
            la.get_label_quality_scores(labels, probs, method="normalized_margin", n_jobs=1),
        )


def test_ties_go_to_the_smaller_index():
    # Every row labelled 0 is identical: the prune-by-class cut must take the
    # first rows, whatever the threads or chunks.
    probs = np.tile([0.6, 0.4], (200, 1))
    probs[100:] = [0.2, 0.8]
    labels = np.zeros(200, dtype=int)
    labels[150:] = 1
    for n_jobs, chunk in ((1, 4096), (2, 7), (3, 1)):
        idx = la.find_label_issues(labels, probs, filter_by="prune_by_class",
                                   return_indices_ranked_by="self_confidence",
                                   n_jobs=n_jobs, chunk_size=chunk)
        chosen = np.sort(idx)
        flagged_zero = chosen[labels[chosen] == 0]
        # Items 100..149 are labelled 0 but look like class 1: they are the issues,
        # ranked by index among equal scores.
        np.testing.assert_array_equal(flagged_zero, np.arange(100, 150))
        np.testing.assert_array_equal(idx[: flagged_zero.size], np.arange(100, 150))


# --------------------------------------------------------------------------- layouts and dtypes

def test_read_only_and_strided_inputs_give_the_same_answers():
    labels, probs = _data(n=800)
    ref = la.find_label_issues(labels, probs)
    ro = probs.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(la.find_label_issues(labels, ro), ref)
    fortran = np.asfortranarray(probs)
    np.testing.assert_array_equal(la.find_label_issues(labels, fortran), ref)
    np.testing.assert_array_equal(la.find_label_issues(labels.tolist(), probs.tolist()), ref)


def test_memmap_is_read_in_place(tmp_path):
    labels, probs = _data(n=2000, dtype=np.float32)
    path = tmp_path / "probs.npy"
    np.save(path, probs)
    mm = np.load(path, mmap_mode="r")
    assert not mm.flags.writeable
    np.testing.assert_array_equal(la.find_label_issues(labels, mm),
                                  la.find_label_issues(labels, probs))
    np.testing.assert_array_equal(la.compute_confident_joint(labels, mm),
                                  la.compute_confident_joint(labels, probs))


def test_float32_input_is_not_upcast():
    labels, probs = _data(n=500, dtype=np.float32)
    assert la.get_label_quality_scores(labels, probs).dtype == np.float32
    assert la.get_confident_thresholds(labels, probs).dtype == np.float32


def test_result_object_agrees_with_the_compatible_functions():
    labels, probs = _data(n=2000, k=4)
    cj = la.confident_joint_result(labels, probs)
    np.testing.assert_array_equal(cj.counts, la.compute_confident_joint(labels, probs))
    assert cj.num_issues == la.num_label_issues(labels, probs)
    np.testing.assert_allclose(cj.joint, la.estimate_joint(labels, probs))
    py, nm, inv = cj.latent()
    ref = la.estimate_py_and_noise_matrices_from_probabilities(labels, probs)
    for a, b in zip((py, nm, inv), ref[:3], strict=True):
        np.testing.assert_allclose(a, b)
    assert 0.0 <= cj.noise_rate <= 1.0


def test_openmp_build_reports_itself():
    from labelaudit import _core

    assert isinstance(_core.have_openmp(), bool)
    assert la.effective_n_threads(1) == 1
    assert la.effective_n_threads(None) >= 1


# --------------------------------------------------------------------------- selection floors


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    k=st.integers(2, 9),
    decimals=st.sampled_from([None, 1, 2]),
    filter_by=st.sampled_from(["prune_by_noise_rate", "prune_by_class", "both"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    slack=st.sampled_from(["exact", "below", "mixed"]),
)
def test_selection_floor_below_the_cut_keeps_the_same_rows(seed, k, decimals, filter_by, dtype,
                                                         slack):
    """Admitting only keys at or above a lower bound of each slot's cut changes nothing.

    The chunked path starts the kernel's bars at such bounds; "exact" puts the
    floor on the cut itself, so rows tied with the cut must still compete.
    """
    from labelaudit.confident import _passes
    from labelaudit.confident._latent import keep_at_least_n_per_class

    labels, probs = _data(seed=seed, n=400, k=k, dtype=dtype, noise=0.3, decimals=decimals)
    labels = np.ascontiguousarray(labels, dtype=np.intp)
    counts = np.bincount(labels, minlength=k)
    cj = la.compute_confident_joint(labels, probs)
    prune = keep_at_least_n_per_class(np.asarray(cj).T, 1, frac_noise=1.0)
    plan = _passes.prune_plan(prune, counts, 1, filter_by)
    if plan["slot_cap"].shape[0] == 0:
        return
    res = _passes.row_pass(labels, probs, want_other=True, want_keep=True, n_jobs=1)
    args = (labels, probs, plan, res.extra["other"], res.extra["selfc"])
    first = np.flatnonzero(~res.keep)
    slot, key, rows = _passes.select_candidates(*args, n_jobs=1, chunk_size=None, first=first,
                                            best_first=True)
    sizes = np.bincount(slot, minlength=plan["slot_cap"].shape[0])
    start = np.cumsum(sizes) - sizes
    cut = np.where(sizes > 0, key[np.maximum(start + sizes - 1, 0)], -np.inf)  # worst kept key
    rng = np.random.default_rng(seed)
    floors = cut.copy()
    if slack != "exact":
        lower = cut - rng.random(cut.shape) * 0.5
        floors = lower if slack == "below" else np.where(rng.random(cut.shape) < 0.5, cut, lower)
        floors = np.where(rng.random(cut.shape) < 0.2, -np.inf, floors)
    # Floors are keys of the input dtype, as the chunked path produces them.
    floors = np.where(np.isfinite(floors), floors.astype(dtype), -np.inf).astype(np.float64)
    floors = np.minimum(floors, cut)
    for n_jobs, chunk in [(1, None), (2, 37)]:
        s2, k2, r2 = _passes.select_candidates(*args, n_jobs=n_jobs, chunk_size=chunk, first=first,
                                           best_first=True, floor_keys=floors)
        np.testing.assert_array_equal(s2, slot)
        np.testing.assert_array_equal(r2, rows)
        np.testing.assert_array_equal(k2, key)
