"""The default model says when it will be slow, shows its progress with the time left,
and says (and records) when classes have fewer rows than folds."""

from __future__ import annotations

import json
import warnings

import numpy as np
import polars as pl
import pytest

import labelaudit.cli as cli
import labelaudit.oof as oof
from labelaudit.exceptions import LabelAuditWarning, SlowRunWarning
from labelaudit.oof import SLOW_FIT_SECONDS, default_model_seconds, out_of_fold_probabilities


def _many_classes(n=2100, k=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    X = rng.normal(size=(n, 6)) + (y[:, None] % 7)
    return X, y


def test_cost_grows_with_the_square_of_the_classes():
    small = default_model_seconds(2100, 20, 5)
    large = default_model_seconds(2100, 2000, 5)
    assert small < SLOW_FIT_SECONDS < large
    assert default_model_seconds(2100, 200, 5) > 50 * default_model_seconds(2100, 20, 5) / 2
    assert default_model_seconds(2100, 2000, 5, refit=False) == pytest.approx(large / 2)


class _Stop(Exception):
    pass


def test_many_classes_warn_before_the_first_fit():
    X, y = _many_classes()
    events = []

    def progress(done, total):
        events.append(("progress", done, total))
        raise _Stop  # the first call comes before any fit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(_Stop):
            out_of_fold_probabilities(X, y, progress=progress)
    slow = [w for w in caught if issubclass(w.category, SlowRunWarning)]
    assert len(slow) == 1 and "2,000 classes" in str(slow[0].message)
    assert events == [("progress", 0, 6)]  # 3 folds (the largest class has 3 rows), 2 passes
    rare = [w for w in caught if w.category is LabelAuditWarning
            and "fewer rows than" in str(w.message)]
    assert len(rare) == 1
    text = str(rare[0].message)
    assert "--cv" in text and "more" in text and len(text) < 400  # bounded, names a few


def test_a_given_model_is_not_estimated():
    from sklearn.dummy import DummyClassifier

    X, y = _many_classes(n=2100, k=300)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out_of_fold_probabilities(X, y, model=DummyClassifier(), cv=2)
    assert not [w for w in caught if issubclass(w.category, SlowRunWarning)]


def test_progress_lines_give_the_time_left():
    now = [0.0]
    lines = []
    progress = cli._progress_lines(clock=lambda: now[0])
    import builtins

    real_print = builtins.print
    builtins.print = lambda *a, **k: lines.append(" ".join(map(str, a)))
    try:
        progress("out-of-fold probabilities", 0, 6)
        now[0] = 5.0
        progress("out-of-fold probabilities", 1, 6)   # too soon for a line
        now[0] = 40.0
        progress("out-of-fold probabilities", 2, 6)   # 20 s per fit, 4 left
        now[0] = 45.0
        progress("out-of-fold probabilities", 3, 6)   # too soon after the last line
        now[0] = 150.0
        progress("out-of-fold probabilities", 6, 6)   # done: no line
    finally:
        builtins.print = real_print
    assert lines == ["labelaudit: out-of-fold probabilities: 2/6 after 40s, about 1m20s left"]


def test_cli_says_it_is_slow_at_once_and_shows_progress(tmp_path, capsys, monkeypatch):
    """The CLI prints the slow-run warning before fitting and a progress line per fit.

    The folds are fitted by a fast stand-in (uniform probabilities) so the test
    runs in seconds; what is checked is what the user sees, and when."""
    X, y = _many_classes(n=700, k=600)
    seen = []

    def fake_fold(clf, X, labels, train_idx, holdout_idx, n_classes, *rest):
        seen.append(capsys.readouterr().err)  # what was printed before this fit
        return np.full((holdout_idx.shape[0], n_classes), 1.0 / n_classes)

    monkeypatch.setattr(oof, "_fit_predict_fold", fake_fold)
    monkeypatch.setattr(cli, "PROGRESS_LINE_SECONDS", 0.0)
    data = tmp_path / "data.csv"
    frame = pl.DataFrame(X, schema=[f"f{i}" for i in range(X.shape[1])], orient="row")
    frame.with_columns(pl.Series("label", [f"c{v:04d}" for v in y])).write_csv(data)
    # Folds no more than the largest class's rows (more is refused, naming --cv).
    code = cli.run(["audit", str(data), "--label-col", "label", "--out", str(tmp_path / "out"),
                    "--n-bootstrap", "20", "--cv", "3"])
    err = "".join(seen) + capsys.readouterr().err
    assert code == 0
    assert "labelaudit: warning: the default model on 700 rows and 600 classes" in seen[0]
    assert "out-of-fold probabilities: 1/" in err and "left" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    rare = summary["out_of_fold"]["rare_classes"]
    assert len(rare) == int((np.bincount(y) < 3).sum()) and rare[0] == "c0000"
    warning_lines = [line for line in err.splitlines() if "fewer rows than the" in line]
    assert len(warning_lines) == 1 and "--cv" in warning_lines[0]
