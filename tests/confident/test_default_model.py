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
        random_state=0,
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
