"""Tests for labelaudit.oof: cleanlab's fold procedure, out-of-fold probabilities."""

from __future__ import annotations

import warnings

import cleanlab.count
import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

import labelaudit
from labelaudit.exceptions import LabelAuditError, LabelAuditWarning
from labelaudit.oof import (
    SVM_MAX_ROWS,
    _pruned,
    cross_val_pred_probs,
    default_model,
    out_of_fold_probabilities,
)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def wine_noisy():
    X, y = load_wine(return_X_y=True)
    rng = np.random.default_rng(3)
    s = y.copy()
    flip = rng.choice(len(y), 18, replace=False)
    s[flip] = (y[flip] + 1) % 3
    return X, s


def _rare_class_labels(y: np.ndarray) -> np.ndarray:
    """Iris labels with a fourth class of 3 rows (fewer than 5 folds)."""
    s = y.copy()
    s[[0, 60, 120]] = 3
    return s


# --------------------------------------------------------------------------- cleanlab oracle


@pytest.mark.parametrize("seed", [0, 7])
def test_cross_val_pred_probs_equals_cleanlab(iris, seed):
    X, y = iris
    ours = cross_val_pred_probs(X, y, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = cleanlab.count.estimate_cv_predicted_probabilities(X, y, seed=seed)
    np.testing.assert_array_equal(ours, theirs)


def test_cross_val_pred_probs_equals_cleanlab_with_a_class_rarer_than_folds(iris):
    X, y = iris
    s = y.copy()
    s[60] = 3  # one row: every fold that holds it out lacks the class in training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's rare-class and convergence notices
        ours = cross_val_pred_probs(X, s, cv_n_folds=5, seed=1)
        theirs = cleanlab.count.estimate_cv_predicted_probabilities(X, s, cv_n_folds=5, seed=1)
    np.testing.assert_array_equal(ours, theirs)
    # The copied rows are predicted as their own label with full confidence.
    assert ours[60, 3] == 1.0


def test_cross_val_pred_probs_passes_fit_kwargs_and_validation_func(iris):
    X, y = iris
    seen = []

    def validation_func(X_val, y_val):
        seen.append(len(y_val))
        return {"sample_weight": None}

    clf = DecisionTreeClassifier(random_state=0)
    ours = cross_val_pred_probs(X, y, clf=clf, seed=0, clf_kwargs={}, validation_func=validation_func)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = cleanlab.count.estimate_cv_predicted_probabilities(
            X, y, clf=clf, seed=0, validation_func=lambda a, b: {"sample_weight": None}
        )
    np.testing.assert_array_equal(ours, theirs)
    assert sorted(seen) == [30] * 5


def test_estimate_noise_matrices_equals_cleanlab(wine_noisy):
    X, s = wine_noisy
    X = X[:, :6]  # a few features keep the unscaled default model quick
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = labelaudit.estimate_noise_matrices(X, s, seed=0)
        theirs = cleanlab.count.estimate_noise_matrices(X, s, seed=0)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- labelaudit path


def test_out_of_fold_is_deterministic_and_independent_of_n_jobs(wine_noisy):
    X, s = wine_noisy
    a = out_of_fold_probabilities(X, s, random_state=4)
    b = out_of_fold_probabilities(X, s, random_state=4)
    c = out_of_fold_probabilities(X, s, random_state=4, n_jobs=2)
    np.testing.assert_array_equal(a.pred_probs, b.pred_probs)
    np.testing.assert_array_equal(a.pred_probs, c.pred_probs)
    np.testing.assert_array_equal(a.fold, c.fold)
    d = out_of_fold_probabilities(X, s, random_state=5)
    assert not np.array_equal(a.fold, d.fold)


def test_out_of_fold_rows_are_probabilities_and_folds_partition_the_rows(wine_noisy):
    X, s = wine_noisy
    res = out_of_fold_probabilities(X, s, cv=4, random_state=0)
    assert res.pred_probs.shape == (len(s), 3)
    np.testing.assert_allclose(res.pred_probs.sum(axis=1), 1.0, atol=1e-12)
    assert res.n_splits == 4
    assert sorted(np.unique(res.fold).tolist()) == [0, 1, 2, 3]
    sizes = np.bincount(res.fold)
    assert sizes.max() - sizes.min() <= 3  # stratified folds are balanced
    assert len(res.fold_confident_joints) == 4
    for f, cj in enumerate(res.fold_confident_joints):
        # A calibrated confident joint keeps each fold's per-class row counts.
        counts = np.bincount(s[res.fold == f], minlength=3)
        np.testing.assert_allclose(cj.sum(axis=1), counts, atol=1)
    assert res.fold_noise_rates.shape == (4,)
    spread = res.fold_spread()
    assert spread["min"] <= spread["mean"] <= spread["max"]
    np.testing.assert_array_equal(np.asarray(res), res.pred_probs)


def test_out_of_fold_is_out_of_sample(wine_noisy):
    """Each row is predicted by a model trained on the other folds only.

    Oracle: with a 1-nearest-neighbour model, a row's probabilities are the one-hot
    label of its nearest row among the other folds (an in-sample model would
    instead return the row's own label).
    """
    X, s = wine_noisy
    model = KNeighborsClassifier(n_neighbors=1)
    res = out_of_fold_probabilities(X, s, model=model, random_state=0)
    for i in range(len(s)):
        others = np.flatnonzero(res.fold != res.fold[i])
        nearest = others[np.argmin(((X[others] - X[i]) ** 2).sum(axis=1))]
        expected = np.zeros(3)
        expected[s[nearest]] = 1.0
        np.testing.assert_array_equal(res.pred_probs[i], expected)


def test_progress_callback_reports_each_fold(iris):
    X, y = iris
    calls = []
    model = LogisticRegression(max_iter=1000)
    out_of_fold_probabilities(X, y, cv=3, model=model, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_progress_callback_counts_both_passes(wine_noisy):
    X, s = wine_noisy
    calls = []
    res = out_of_fold_probabilities(X, s, cv=3, progress=lambda d, t: calls.append((d, t)))
    assert res.n_pruned > 0  # the planted flips are found, so the second pass runs
    assert calls == [(d, 6) for d in range(7)]


def test_progress_callback_ends_at_total_when_second_pass_is_skipped():
    X = np.r_[np.zeros((10, 2)), np.ones((10, 2)) * 10.0]
    y = np.repeat([0, 1], 10)  # perfectly separable: nothing is flagged
    calls = []
    res = out_of_fold_probabilities(X, y, cv=2, progress=lambda d, t: calls.append((d, t)))
    assert res.n_pruned == 0
    assert calls == [(0, 4), (1, 4), (2, 4), (4, 4)]


def test_rare_class_warns_and_does_not_crash(iris):
    X, y = iris
    s = _rare_class_labels(y)
    with pytest.warns(LabelAuditWarning, match="fewer rows than the 5 folds"):
        res = out_of_fold_probabilities(X, s, cv=5, random_state=0)
    assert res.rare_classes == (3,)
    assert np.isfinite(res.pred_probs).all()
    np.testing.assert_allclose(res.pred_probs.sum(axis=1), 1.0, atol=1e-12)


def test_singleton_class_row_is_predicted_as_its_own_label(iris):
    X, y = iris
    s = y.copy()
    s[5] = 3  # a class with one row: no training fold can contain it
    with pytest.warns(LabelAuditWarning):
        res = out_of_fold_probabilities(X, s, random_state=0)
    assert res.pred_probs[5, 3] == 1.0


def test_fewer_rows_than_folds_uses_fewer_folds():
    X = np.arange(12, dtype=float).reshape(6, 2)
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.warns(LabelAuditWarning, match="using 3 folds"):
        res = out_of_fold_probabilities(X, y, cv=5)
    assert res.n_splits == 3


def test_empty_class_gets_a_zero_column(iris):
    X, y = iris
    res = out_of_fold_probabilities(X, y, n_classes=4, random_state=0)
    assert res.pred_probs.shape == (150, 4)
    assert np.all(res.pred_probs[:, 3] == 0)


def test_polars_and_numpy_features_agree(iris):
    X, y = iris
    frame = pl.DataFrame(X, schema=[f"f{i}" for i in range(4)], orient="row")
    a = out_of_fold_probabilities(frame, y, random_state=0)
    b = out_of_fold_probabilities(X, y, random_state=0)
    np.testing.assert_array_equal(a.pred_probs, b.pred_probs)


def test_custom_model_is_seeded(iris):
    X, y = iris
    model = DecisionTreeClassifier(max_features=2)  # random_state left unset
    a = out_of_fold_probabilities(X, y, model=model, random_state=1)
    b = out_of_fold_probabilities(X, y, model=model, random_state=1)
    np.testing.assert_array_equal(a.pred_probs, b.pred_probs)
    assert "random_state=1" in a.model
    assert model.get_params()["random_state"] is None  # the caller's model is untouched


@pytest.mark.parametrize(
    ("labels", "kwargs", "match"),
    [
        (np.array(["a", "b"] * 75), {}, "integer class indices"),
        (np.zeros(150, dtype=int), {}, "at least 2 classes"),
        (np.r_[np.zeros(149, dtype=int), -1], {}, ">= 0"),
        (np.zeros(10, dtype=int), {}, "one entry per row"),
        (None, {"cv": 1}, "`cv` must be an integer"),
        (None, {"cv": 2.5}, "`cv` must be an integer"),
        (None, {"n_classes": 2}, "class indices in 0..1"),
    ],
)
def test_bad_inputs_raise_one_line_errors(iris, labels, kwargs, match):
    X, y = iris
    with pytest.raises(LabelAuditError, match=match) as info:
        out_of_fold_probabilities(X, y if labels is None else labels, **kwargs)
    assert "\n" not in str(info.value)


def test_all_singleton_classes_cannot_be_cross_validated():
    X = np.eye(3)
    with pytest.raises(LabelAuditError, match="single row"):
        out_of_fold_probabilities(X, np.array([0, 1, 2]))


def test_default_model_beats_unscaled_logistic_regression_on_noisy_wine():
    """Over several noise draws the default path flags flipped rows more reliably than
    cleanlab's default (unscaled logistic regression): higher precision and F1."""
    X, y = load_wine(return_X_y=True)
    totals = {"ours": np.zeros(2), "theirs": np.zeros(2)}  # correct flags, all flags
    n_flipped = 0
    for seed in range(3, 9):
        rng = np.random.default_rng(seed)
        s = y.copy()
        flip = rng.choice(len(y), 18, replace=False)
        s[flip] = (y[flip] + 1) % 3
        flipped = s != y
        n_flipped += int(flipped.sum())
        ours = out_of_fold_probabilities(X, s, random_state=0).pred_probs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = cross_val_pred_probs(X, s, clf=LogisticRegression(), seed=0)
        for name, probs in (("ours", ours), ("theirs", theirs)):
            mask = labelaudit.find_label_issues(s, probs)
            totals[name] += ((mask & flipped).sum(), mask.sum())

    def precision_f1(hits, flagged):
        return hits / flagged, 2 * hits / (flagged + n_flipped)

    p_ours, f1_ours = precision_f1(*totals["ours"])
    p_theirs, f1_theirs = precision_f1(*totals["theirs"])
    assert p_ours > p_theirs
    assert f1_ours > f1_theirs


def test_prune_and_refit_leaves_flagged_rows_out_of_training(wine_noisy):
    """Oracle: the second pass equals refitting each fold by hand on its unflagged rows."""
    X, s = wine_noisy
    first = out_of_fold_probabilities(X, s, random_state=2, prune_and_refit=False)
    flagged = np.asarray(labelaudit.find_label_issues(s, first.pred_probs))
    assert flagged.any()
    res = out_of_fold_probabilities(X, s, random_state=2)
    assert res.n_pruned == int(flagged.sum())
    np.testing.assert_array_equal(res.fold, first.fold)
    expected = np.zeros_like(first.pred_probs)
    for f in range(res.n_splits):
        hold = res.fold == f
        train = ~hold & ~flagged
        model = default_model(len(s)).set_params(svc__random_state=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X[train], s[train])
        expected[hold] = model.predict_proba(X[hold])
    np.testing.assert_allclose(res.pred_probs, expected, rtol=0, atol=1e-12)
    # A given model makes one pass unless asked; asking gives the same rule.
    knn = KNeighborsClassifier(n_neighbors=5)
    one = out_of_fold_probabilities(X, s, model=knn, random_state=2)
    two = out_of_fold_probabilities(X, s, model=knn, random_state=2, prune_and_refit=True)
    assert one.n_pruned == 0
    assert two.n_pruned > 0
    assert not np.array_equal(one.pred_probs, two.pred_probs)


def test_prune_and_refit_keeps_every_class_in_training():
    """A class whose training rows would all be flagged keeps them (no crash, no lost column)."""
    labels = np.array([0, 0, 0, 1, 1, 2, 2])
    flagged = np.array([True, False, False, False, True, True, True])
    train = np.array([0, 1, 3, 4, 5, 6])
    np.testing.assert_array_equal(_pruned(train, labels, flagged), [1, 3, 5, 6])
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (40, 2)), rng.normal(6, 1, (40, 2))]
    s = np.repeat([0, 1], 40)
    s[:5] = 2  # class 2: five rows inside class 0, all of one training fold's are flagged
    res = out_of_fold_probabilities(X, s, random_state=0)
    assert res.n_pruned > 0
    assert res.pred_probs.shape == (80, 3)
    np.testing.assert_allclose(res.pred_probs.sum(axis=1), 1.0, atol=1e-12)
    assert (res.pred_probs[:, 2] > 0).all()


def test_default_model_depends_on_size():
    small, large = default_model(500), default_model(SVM_MAX_ROWS + 1)
    assert type(small.steps[-1][1]).__name__ in ("SVC", "CalibratedClassifierCV")
    assert type(small.steps[0][1]).__name__ == "StandardScaler"
    # Beyond the small-data regime: gradient-boosted trees (no scaling needed).
    assert type(large).__name__ == "HistGradientBoostingClassifier"
    assert large.get_params()["early_stopping"] is True
    sparse = default_model(SVM_MAX_ROWS + 1, kind="sparse")
    assert isinstance(sparse.steps[-1][1], LogisticRegression)
