"""The default out-of-fold model: chosen by size and kind of data, deterministic, recorded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score

import labelaudit
from labelaudit.oof import (
    HGB_MAX_TRAIN_ROWS,
    SVM_MAX_ROWS,
    _subsample,
    choose_model,
    out_of_fold_probabilities,
    prepare_features,
)
from labelaudit.summary import to_summary_dict


def _mixed_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A numeric column and a categorical column whose level decides most of the class."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 6, n)
    x = rng.normal(size=n)
    y = (level % 3 + (x > 1.0)) % 3
    flip = rng.random(n) < 0.1
    y = np.where(flip, (y + 1) % 3, y)
    df = pd.DataFrame({"x": x, "shop": pd.Categorical(np.array(list("abcdef"))[level])})
    return df, y


@pytest.mark.parametrize(
    ("n", "kind", "name"),
    [
        (150, "tabular", "svm"),
        (SVM_MAX_ROWS, "tabular", "svm"),
        (SVM_MAX_ROWS + 1, "tabular", "hgb"),
        (5_000_000, "tabular", "hgb"),
        (None, "tabular", "svm"),
        (300, "mixed", "hgb"),
        (300, "missing", "hgb"),
        (SVM_MAX_ROWS + 1, "sparse", "linear"),
    ],
)
def test_model_chosen_by_size_and_kind(n, kind, name):
    assert choose_model(n, kind=kind).name == name


def test_small_numeric_data_keeps_the_svm_and_its_second_pass():
    X, y = load_iris(return_X_y=True)
    res = out_of_fold_probabilities(X, y, random_state=0)
    assert res.model_name == "svm"
    assert "SVC" in res.model
    assert choose_model(len(y)).refit is True
    assert res.n_jobs == 1  # small data: folds one after the other


def test_prepare_features_kinds_and_level_codes():
    df = pd.DataFrame({"x": [0.5, np.nan, 2.0, 1.0], "c": pd.Categorical(["b", "a", None, "b"]),
                       "s": ["z", "y", "z", "z"], "flag": [True, False, True, True]})
    prep = prepare_features(df)
    assert prep.kind == "mixed" and prep.categorical == (1, 2)
    np.testing.assert_array_equal(prep.X[:, 1], [1.0, 0.0, np.nan, 1.0])
    np.testing.assert_array_equal(prep.X[:, 2], [1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(prep.X[:, 3], [1.0, 0.0, 1.0, 1.0])
    # polars: the same codes whatever order the levels were first seen in.
    pl_df = pl.DataFrame({"x": [0.5, 1.0, 2.0], "c": pl.Series(["b", "a", "b"], dtype=pl.Categorical)})
    pl_prep = prepare_features(pl_df)
    assert pl_prep.kind == "mixed" and pl_prep.categorical == (1,)
    np.testing.assert_array_equal(pl_prep.X[:, 1], [1.0, 0.0, 1.0])
    assert prepare_features(np.array([[1.0, np.nan], [0.0, 1.0]])).kind == "missing"
    assert prepare_features(np.eye(3)).kind == "tabular"
    assert prepare_features(sp.csr_matrix(np.eye(3))).kind == "sparse"


def test_categorical_columns_are_passed_as_categorical():
    df, y = _mixed_frame(600)
    res = out_of_fold_probabilities(df, y, random_state=0)
    assert res.model_name == "hgb"
    assert "categorical_features=array([False, True])" in res.model
    # The oracle: the same trees told the same thing by hand give the same probabilities.
    by_hand = HistGradientBoostingClassifier(
        learning_rate=0.2, max_iter=300, min_samples_leaf=40, early_stopping=True,
        validation_fraction=0.1, n_iter_no_change=5, categorical_features=[False, True],
        l2_regularization=0.1, random_state=0,
    )
    codes = df.assign(shop=df["shop"].cat.codes.astype(float)).to_numpy()
    given = out_of_fold_probabilities(codes, y, model=by_hand, random_state=0)
    np.testing.assert_allclose(res.pred_probs, given.pred_probs, rtol=0, atol=1e-12)
    # Declared as numbers instead, the level codes give other probabilities.
    as_numbers = out_of_fold_probabilities(
        codes, y, model=by_hand.set_params(categorical_features=None), random_state=0
    )
    assert not np.allclose(res.pred_probs, as_numbers.pred_probs)


def test_missing_values_go_to_the_trees():
    X, y = load_iris(return_X_y=True)
    X = X.copy()
    X[::7, 2] = np.nan
    res = out_of_fold_probabilities(X, y, random_state=0)
    assert res.model_name == "hgb"
    assert np.isfinite(res.pred_probs).all()


@pytest.mark.parametrize("frame", ["mixed", "iris"])
def test_deterministic_whatever_n_jobs(frame):
    if frame == "mixed":
        X, y = _mixed_frame(500, seed=1)
    else:
        X, y = load_iris(return_X_y=True)
    runs = [out_of_fold_probabilities(X, y, random_state=3, n_jobs=j) for j in (1, 2, 3)]
    assert [r.n_jobs for r in runs] == [1, 2, 3]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].pred_probs, other.pred_probs)
        np.testing.assert_array_equal(runs[0].fold, other.fold)


def test_large_training_folds_are_subsampled_by_class():
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    train = np.arange(0, 1000, 1)
    kept = _subsample(train, labels, 500, 0, fold=2)
    assert abs(kept.size - 500) <= 3
    np.testing.assert_array_equal(np.bincount(labels[kept]), [300, 150, 50])
    assert np.all(np.diff(kept) > 0)
    np.testing.assert_array_equal(kept, _subsample(train, labels, 500, 0, fold=2))
    assert not np.array_equal(kept, _subsample(train, labels, 500, 0, fold=3))
    assert _subsample(train, labels, None, 0, 0) is train
    # A floor keeps small classes from shrinking below what a model needs.
    small = np.repeat([0, 1], [9_990, 10])
    kept = _subsample(np.arange(10_000), small, 1_000, 0, 0, floor=8)
    assert np.bincount(small[kept])[1] == 8
    assert np.bincount(small[_subsample(np.arange(10_000), small, 1_000, 0, 0)])[1] == 1
    assert HGB_MAX_TRAIN_ROWS >= 50_000


def test_summary_records_model_and_out_of_fold_accuracy():
    X, y = load_iris(return_X_y=True)
    y = y.copy()
    y[::10] = (y[::10] + 1) % 3
    result = labelaudit.audit(y, features=X, seed=0)
    summary = json.loads(json.dumps(to_summary_dict(result)))
    oof = result.out_of_fold
    expected = accuracy_score(y, np.argmax(oof.pred_probs, axis=1))
    assert summary["out_of_fold"]["model_name"] == "svm"
    assert summary["out_of_fold"]["accuracy"] == pytest.approx(expected, abs=1e-12)
    assert summary["parameters"]["model_name"] == "svm"
    assert summary["parameters"]["oof_accuracy"] == pytest.approx(expected, abs=1e-6)
    assert expected < 0.95  # the flipped rows count as misses


def test_report_methodology_names_the_model_and_its_accuracy(tmp_path):
    from labelaudit.report import render_html

    X, y = load_iris(return_X_y=True)
    result = labelaudit.audit(y, features=X, seed=0)
    html = render_html(result)
    pct = f"{100 * result.out_of_fold.accuracy:.1f}%"
    assert "Model chosen: <code>svm</code>" in html
    assert f"out-of-fold accuracy against the given labels is {pct}" in html


def test_progress_bars_show_elapsed_time_and_eta():
    import io
    import re
    import time

    from rich.console import Console

    from labelaudit import cli

    bars, progress = cli._progress_factory(True)
    progress("out-of-fold probabilities", 0, 5)
    time.sleep(0.05)
    progress("out-of-fold probabilities", 2, 5)
    out = Console(file=io.StringIO(), width=200, record=True)
    out.print(bars.make_tasks_table(bars.tasks))
    text = out.export_text()
    assert "out-of-fold probabilities" in text and "2/5" in text
    # Elapsed time, then an estimate of the time left (h:mm:ss), not a placeholder.
    assert re.search(r"elapsed\s+\d+:\d\d:\d\d\s+eta\s+\d+:\d\d:\d\d", text), text


# --------------------------------------------------------------------------- the pilot


def _noisy(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    flip = rng.random(y.shape[0]) < 0.1
    return np.where(flip, (y + rng.integers(1, k, y.shape[0])) % k, y)


def _gaussian_classes(n: int = 12_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each class one Gaussian with its own covariance: the quadratic model's home ground."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=12, n_informative=8, n_redundant=2,
                               n_classes=5, n_clusters_per_class=1, class_sep=1.5,
                               random_state=seed)
    return X, _noisy(y, 5, np.random.default_rng(seed))


def _additive_levels(n: int = 12_000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Class = arg-max of a linear score plus an effect per category level."""
    rng = np.random.default_rng(seed)
    k = 5
    num = rng.standard_normal((n, 6))
    score = num @ rng.normal(scale=0.25, size=(6, k))
    df = pd.DataFrame(num, columns=[f"x{j}" for j in range(6)])
    for j in range(6):
        codes = rng.integers(12, size=n)
        score += rng.normal(scale=0.9, size=(12, k))[codes]
        df[f"c{j}"] = pd.Categorical(codes)
    return df, _noisy(score.argmax(axis=1), k, rng)


def _ring(n: int = 12_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inside or outside a circle: neither class is Gaussian, trees win."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] ** 2 + X[:, 1] ** 2 < 1.4).astype(np.int64)
    return X, _noisy(y, 2, rng)


def test_candidates_by_size_kind_and_class_sizes():
    from labelaudit.oof import candidate_models

    def names(*args, **kw):
        return [m.name for m in candidate_models(*args, **kw)]

    assert names(SVM_MAX_ROWS) == ["svm"]
    assert names(SVM_MAX_ROWS + 1) == ["hgb", "lda", "qda", "linear"]
    assert names(300, kind="mixed") == ["hgb"]
    assert names(SVM_MAX_ROWS + 1, kind="mixed") == ["hgb", "lda"]
    assert names(SVM_MAX_ROWS + 1, kind="missing") == ["hgb", "lda"]
    assert names(SVM_MAX_ROWS + 1, kind="sparse") == ["linear"]
    # The quadratic model needs 2 x (features + 2) rows in every class: 28 for 12 features.
    prep = prepare_features(np.zeros((3, 12)))
    assert names(SVM_MAX_ROWS + 1, prepared=prep,
                 class_counts=[20_000, 27, 0]) == ["hgb", "lda", "linear"]
    assert names(SVM_MAX_ROWS + 1, prepared=prep,
                 class_counts=[20_000, 28]) == ["hgb", "lda", "qda", "linear"]
    # The linear model's level budget: at most LDA_MAX_LEVEL_COLUMNS / 2 categorical columns.
    from labelaudit.oof import LDA_MAX_LEVEL_COLUMNS, PreparedFeatures

    wide = PreparedFeatures(np.zeros((3, 400)), tuple(range(LDA_MAX_LEVEL_COLUMNS // 2 + 1)),
                            "mixed")
    assert names(SVM_MAX_ROWS + 1, kind="mixed", prepared=wide, class_counts=[9, 9]) == ["hgb"]


@pytest.mark.parametrize(
    ("make", "winner"),
    [(_gaussian_classes, "qda"), (_additive_levels, "lda"), (_ring, "hgb")],
)
def test_pilot_chooses_the_lowest_brier_score(make, winner):
    from sklearn.base import clone

    from labelaudit.oof import MODELS, _build, _pilot_rows, select_model

    X, y = make()
    choice = select_model(X, y, random_state=0)
    assert choice.spec.name == winner
    assert choice.scores[winner] == min(choice.scores.values())
    assert choice.n_rows == len(y)  # fewer rows than PILOT_ROWS: all of them
    # The oracle: the winner refitted by hand on the same pilot split, scored with
    # scikit-learn's multi-class Brier score (its mean squared distance to the one-hot
    # label, summed over classes, is twice sklearn's binary convention for 2 classes).
    prep = prepare_features(X)
    train, hold = _pilot_rows(y, 0, prep.X.shape[1])
    model = clone(_build(MODELS[winner], prep, 0)).fit(prep.X[train], y[train])
    proba = model.predict_proba(prep.X[hold])
    onehot = np.eye(proba.shape[1])[y[hold]]
    by_hand = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    assert choice.scores[winner] == pytest.approx(by_hand, rel=1e-9)
    assert len(hold) == pytest.approx(0.25 * len(y), abs=len(np.unique(y)))
    assert np.intersect1d(train, hold).size == 0


def test_pilot_draws_at_most_pilot_rows_stratified():
    from labelaudit.oof import PILOT_ROWS, _pilot_rows

    labels = np.repeat([0, 1, 2], [60_000, 30_000, 10_000])
    train, hold = _pilot_rows(labels, 5)
    rows = np.concatenate([train, hold])
    assert abs(rows.size - PILOT_ROWS) <= 3 and np.unique(rows).size == rows.size
    np.testing.assert_array_equal(np.bincount(labels[rows]), [12_000, 6_000, 2_000])
    np.testing.assert_array_equal(np.bincount(labels[hold]), [3_000, 1_500, 500])
    again = _pilot_rows(labels, 5)
    np.testing.assert_array_equal(train, again[0])
    assert not np.array_equal(train, _pilot_rows(labels, 6)[0])
    # A class of one row stays in training.
    _, hold_one = _pilot_rows(np.array([0] * 50 + [1]), 0)
    assert 50 not in hold_one
    # Small classes keep up to 2 x (features + 2) rows, so every model that suits the
    # whole data can be fitted on the pilot too.
    labels = np.repeat([0, 1, 2], [100_000, 40, 4])
    train, hold = _pilot_rows(labels, 0, n_features=12)
    counts = np.bincount(labels[np.concatenate([train, hold])])
    np.testing.assert_array_equal(counts[1:], [28, 4])
    assert np.bincount(labels[train])[2] == 3


def test_pilot_scores_do_not_depend_on_n_jobs():
    from labelaudit.oof import select_model

    X, y = _gaussian_classes(11_000, seed=2)
    one = select_model(X, y, random_state=1, n_jobs=1)
    two = select_model(X, y, random_state=1, n_jobs=2)
    assert one.scores == two.scores and one.spec is two.spec


def test_a_candidate_that_fails_on_the_pilot_drops_out():
    from labelaudit import oof
    from labelaudit.exceptions import LabelAuditWarning

    class Broken:
        def get_params(self, deep=True):
            return {}

        def set_params(self, **params):
            return self

        def fit(self, X, y):
            raise ValueError("cannot fit")

    oof.register_model("broken", Broken, applies=lambda n, kind: n is not None and n > 10_000)
    try:
        X, y = _ring(11_000)
        with pytest.warns(LabelAuditWarning,
                          match=r"left out of the choice: broken \(ValueError: cannot fit\)"):
            choice = oof.select_model(X, y)
        assert np.isnan(choice.scores["broken"]) and choice.spec.name == "hgb"
    finally:
        del oof.MODELS["broken"]


def test_large_audit_records_the_pilot_in_summary_report_and_progress(tmp_path):
    from labelaudit.report import render_html

    X, y = _gaussian_classes()
    steps = []
    result = labelaudit.audit(y, features=X, seed=0, progress=lambda *a: steps.append(a))
    oof = result.out_of_fold
    assert oof.model_name == "qda" and oof.pilot_rows == len(y)
    summary = json.loads(json.dumps(to_summary_dict(result)))
    pilot = summary["out_of_fold"]["pilot"]
    assert pilot["n_rows"] == len(y) and set(pilot["brier"]) == {"hgb", "lda", "qda", "linear"}
    assert pilot["brier"]["qda"] == pytest.approx(oof.pilot_scores["qda"])
    html = render_html(result)
    assert "Model chosen: <code>qda</code>, the lowest Brier score" in html
    assert f"qda {oof.pilot_scores['qda']:.3f}" in html
    assert ("choosing the model", 4, 4) in steps
    assert ("out-of-fold probabilities", 5, 5) in steps
    assert steps.index(("choosing the model", 4, 4)) < steps.index(("out-of-fold probabilities", 0, 5))
    # A small audit has a single candidate and no pilot.
    Xs, ys = load_iris(return_X_y=True)
    small = to_summary_dict(labelaudit.audit(ys, features=Xs, seed=0))
    assert small["out_of_fold"]["pilot"] is None


def test_the_discriminant_models_take_categories_and_missing_values():
    df, y = _additive_levels(11_000, seed=3)
    df.loc[::9, "x0"] = np.nan
    df.loc[::13, "c1"] = None
    res = out_of_fold_probabilities(df, y, random_state=0, n_jobs=1)
    assert res.model_name == "lda"
    assert np.isfinite(res.pred_probs).all()
    assert res.accuracy > 0.5


def test_many_level_columns_share_a_bounded_number_of_indicators():
    from labelaudit.oof import LDA_MAX_LEVEL_COLUMNS, MODELS, _build

    rng = np.random.default_rng(0)
    n = 2_000
    df = pd.DataFrame({f"c{j}": pd.Categorical(rng.integers(0, 300, n)) for j in range(40)})
    df["x"] = rng.normal(size=n)
    prep = prepare_features(df)
    model = _build(MODELS["lda"], prep, 0)
    width = model[:-1].fit_transform(prep.X).shape[1]
    assert width <= LDA_MAX_LEVEL_COLUMNS + 1  # plus the numeric column
    assert width >= 40 * 2


def test_a_small_class_keeps_every_candidate_in_the_pilot():
    X, y = _ring(60_000)
    y = y.copy()
    y[:4] = 2  # a class of 4 rows: a proportional pilot would keep none of it for training
    res = out_of_fold_probabilities(X, y, random_state=0)
    assert np.isfinite(res.pilot_scores["hgb"]) and res.model_name == "hgb"
    assert res.accuracy > 0.8


def test_a_model_that_fails_a_fold_gives_way_to_the_next_best():
    from labelaudit.exceptions import LabelAuditWarning

    X, y = _ring(12_000)
    y = y.copy()
    y[:2] = 2  # both rows in the pilot's training part, one in each of two folds
    with pytest.warns(LabelAuditWarning, match="'hgb' failed to fit a training fold.*using 'lda'"):
        res = out_of_fold_probabilities(X, y, random_state=0, n_jobs=1)
    assert res.pilot_scores["hgb"] < res.pilot_scores["lda"]
    assert res.model_name == "lda" and "LinearDiscriminantAnalysis" in res.model
    assert res.failed_models == ("hgb",)
    assert np.isfinite(res.pred_probs).all()
    # The record says the pilot's winner failed, not that the runner-up scored best.
    from labelaudit.report import render_html

    with pytest.warns(LabelAuditWarning):
        result = labelaudit.audit(y, features=X, seed=0, n_jobs=1)
    summary = json.loads(json.dumps(to_summary_dict(result)))
    assert summary["out_of_fold"]["pilot"]["failed_in_folds"] == ["hgb"]
    html = render_html(result)
    assert "among the models that could fit every training fold (failed: hgb)" in html
    assert "Model chosen: <code>lda</code>, the lowest Brier score" not in html


def test_a_failed_second_pass_keeps_the_first():
    from labelaudit.exceptions import LabelAuditWarning

    rng = np.random.default_rng(0)
    n = 12_000
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4)) * np.where(y == 1, 2.0, 0.5)[:, None]
    odd = rng.choice(np.flatnonzero(y == 1), 16, replace=False)
    y[odd] = 2  # 12 rows that look like class 1, labelled 2, and 4 real ones
    X[odd[:4]] = rng.normal(size=(4, 4)) * 0.5 + 6
    first = out_of_fold_probabilities(X, y, random_state=0, n_jobs=1, prune_and_refit=False)
    assert first.model_name == "qda"
    with pytest.warns(LabelAuditWarning, match="second pass of 'qda'.*using the first pass"):
        res = out_of_fold_probabilities(X, y, random_state=0, n_jobs=1, prune_and_refit=True)
    assert res.n_pruned == 0
    np.testing.assert_array_equal(res.pred_probs, first.pred_probs)


def test_a_fold_failure_without_a_runner_up_is_a_clear_error():
    from labelaudit.exceptions import LabelAuditError

    df, y = _mixed_frame(600)
    y = y.copy()
    y[:2] = 3  # the trees are the only candidate for small mixed data
    with pytest.raises(LabelAuditError, match="default model 'hgb' failed to fit a training fold"):
        out_of_fold_probabilities(df, y, random_state=0, n_jobs=1)


def test_the_pilot_keeps_its_candidates_complaints_to_itself():
    import warnings

    rng = np.random.default_rng(0)
    X = rng.normal(size=(12_000, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    X[:, 2] = 1e140 * np.sign(X[:, 2])  # squares overflow in the discriminant pilots
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        choice = __import__("labelaudit.oof", fromlist=["select_model"]).select_model(X, y)
    assert choice.spec.name == "hgb"


def test_cli_exits_promptly_after_parallel_folds(tmp_path):
    """Worker processes of the folds are stopped before the command ends."""
    import subprocess
    import sys

    X, y = _ring(10_500)
    pl.DataFrame({"id": np.arange(len(y)), "a": X[:, 0], "b": X[:, 1], "label": y}).write_csv(
        tmp_path / "items.csv")
    cmd = [sys.executable, "-m", "labelaudit", "audit", str(tmp_path / "items.csv"),
           "--label-col", "label", "--id-col", "id", "--feature-cols", "a,b",
           "--n-jobs", "2", "--out", str(tmp_path / "out")]
    # Without the shutdown the process waited for the idle workers' 300 s timeout.
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["out_of_fold"]["n_jobs"] == 2
    assert summary["out_of_fold"]["pilot"]["n_rows"] == len(y)


def test_the_trees_do_not_diverge_on_cleanly_separated_classes():
    from labelaudit.oof import MODELS

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(20_000, 3))
    y = ((np.floor(X[:, 0]) * 7 + np.floor(X[:, 1]) * 3) % 50).astype(np.int64)
    model = MODELS["hgb"].build().set_params(random_state=0).fit(X[:15_000], y[:15_000])
    # Unpenalised Newton steps on near-zero hessians blew up after one round (0.16).
    assert accuracy_score(y[15_000:], model.predict(X[15_000:])) > 0.9
    assert np.all(np.isfinite(model.validation_score_))


def test_the_logistic_regression_wins_where_the_labels_follow_a_softmax():
    """Labels drawn from a multinomial logit of the features: the regression's own model."""
    from labelaudit.oof import select_model

    rng = np.random.default_rng(4)
    X = rng.normal(size=(12_000, 6))
    logits = X @ rng.normal(scale=1.5, size=(6, 4))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    y = (probs.cumsum(axis=1) > rng.random((12_000, 1))).argmax(axis=1)
    choice = select_model(X, y)
    assert choice.spec.name == "linear" and choice.spec.refit is True
    assert choice.scores["linear"] == min(choice.scores.values())
