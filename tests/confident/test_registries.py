"""Filters, scores and default models are registries: one registration adds one."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import labelaudit as la
from labelaudit import LabelAuditError, oof
from labelaudit.confident import FILTERS, SCORES, register_filter, register_score


def _data(seed=0, n=300, k=4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[labels]
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    flip = rng.random(n) < 0.2
    labels[flip] = rng.integers(0, k, flip.sum())
    return labels, probs


@pytest.fixture
def toy_filter():
    """Flags rows whose top probability is below 0.5 (then the usual un-flag step)."""
    register_filter("unsure", lambda inputs: inputs.pred_probs.max(axis=1) < 0.5)
    yield "unsure"
    del FILTERS["unsure"]


@pytest.fixture
def toy_score():
    """``p[label] - max(p)``: 0 when the label is the top class, negative otherwise."""
    register_score("gap_to_top",
                   lambda labels, p: p[np.arange(labels.shape[0]), labels] - p.max(axis=1))
    yield "gap_to_top"
    del SCORES["gap_to_top"]


def test_a_registered_filter_is_used_by_find_label_issues(toy_filter):
    labels, probs = _data()
    got = la.find_label_issues(labels, probs, filter_by=toy_filter)
    top = probs.max(axis=1)
    label_wins = probs[np.arange(labels.shape[0]), labels] + 1e-6 >= top
    want = (top < 0.5) & ~label_wins
    assert want.any() and not want.all()
    np.testing.assert_array_equal(got, want)


def test_a_registered_score_is_used_everywhere_a_method_is_named(toy_score):
    labels, probs = _data(1)
    want = probs[np.arange(labels.shape[0]), labels] - probs.max(axis=1)
    np.testing.assert_array_equal(la.get_label_quality_scores(labels, probs, method=toy_score),
                                  want)
    ranked = la.find_label_issues(labels, probs, return_indices_ranked_by=toy_score)
    mask = la.find_label_issues(labels, probs)
    assert sorted(ranked.tolist()) == np.flatnonzero(mask).tolist()
    assert np.all(np.diff(want[ranked]) >= 0)
    ordered = la.order_label_issues(mask, labels, probs, rank_by=toy_score)
    np.testing.assert_array_equal(ordered, ranked)
    with pytest.raises(LabelAuditError, match="not supported for method='gap_to_top'"):
        la.get_label_quality_scores(labels, probs, method=toy_score, adjust_pred_probs=True)


def test_a_registered_score_still_validates_the_rows(toy_score):
    labels, probs = _data(2)
    probs[5] *= 0.5
    with pytest.warns(la.LabelAuditWarning, match="row 5 sums to"):
        la.get_label_quality_scores(labels, probs, method=toy_score)
    probs[6, 0] = np.nan
    with pytest.raises(LabelAuditError, match="row 6, column 0 is nan"):
        la.get_label_quality_scores(labels, probs, method=toy_score)


def test_unknown_names_list_what_is_registered(toy_filter, toy_score):
    labels, probs = _data()
    with pytest.raises(LabelAuditError, match=r"`filter_by` must be one of .*both.*unsure"):
        la.find_label_issues(labels, probs, filter_by="nope")
    with pytest.raises(LabelAuditError, match=r"`method` must be one of .*gap_to_top"):
        la.get_label_quality_scores(labels, probs, method="nope")
    with pytest.raises(LabelAuditError, match="already registered"):
        register_filter(toy_filter, lambda inputs: None)


def test_removing_a_registration_removes_the_name():
    register_filter("tmp_filter", lambda inputs: np.zeros(inputs.labels.shape[0], dtype=bool))
    del FILTERS["tmp_filter"]
    labels, probs = _data()
    with pytest.raises(LabelAuditError, match="got 'tmp_filter'"):
        la.find_label_issues(labels, probs, filter_by="tmp_filter")


def test_default_models_are_chosen_by_the_registry():
    spec = oof.register_model("toy", lambda: "toy-model", applies=lambda n, kind: kind == "toy")
    try:
        assert oof.default_model(10, kind="toy") == "toy-model"
        assert spec.name in oof.MODELS
        assert type(oof.default_model(10).steps[-1][1]).__name__ in ("SVC",
                                                                     "CalibratedClassifierCV")
    finally:
        del oof.MODELS["toy"]
    with pytest.raises(LabelAuditError, match="registered: svm, hgb, lda, qda, linear"):
        oof.default_model(10, kind="toy")


def test_importing_the_core_loads_no_heavy_library():
    code = ("import sys, labelaudit, labelaudit.confident, labelaudit.oof; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'scipy', 'sklearn', 'dask', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
