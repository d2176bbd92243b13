"""Why the default model costs what it does, and whether a pilot fit would choose better.

On the generated shapes of ``bench_default_model.py`` (200,000 rows, 10% of
the labels flipped), for each shape:

- **one fold of the default trees**: the gradient-boosted default model
  (``labelaudit.oof._hgb_model``, categorical columns declared as the audit
  declares them) fitted on 100,000 rows drawn at random, which is one fold's
  training set at this size; the boosting rounds early stopping allowed
  (``n_iter_``) and the seconds of the fit;
- **a pilot choice**: on a 20,000-row sample, split 15,000 / 5,000
  (stratified), the same trees and a standardised logistic regression
  (``C=1``) are fitted, and their held-out log loss against the given
  (noisy) labels is reported. The model with the lower loss is the one a
  pilot fit of that size would choose.

Run::

    PYTHONPATH=src python benchmarks/bench_model_choice.py [--shapes linear,nonlinear,...]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_default_model import SHAPES, as_frame, flip, make_shape  # noqa: E402

ROWS = 200_000
FOLD_ROWS = 100_000
PILOT_ROWS, PILOT_TEST = 20_000, 0.25


def _trees(X, cats):
    from labelaudit.oof import _declare_categorical, _hgb_model, prepare_features

    prep = prepare_features(as_frame(X, cats) if cats else X)
    return _declare_categorical(_hgb_model().set_params(random_state=0), prep), prep.X


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    print("| shape | boosting rounds (one fold) | fit s (one fold) | pilot log loss: trees | "
          "pilot log loss: logistic regression | pilot would choose |")
    print("|---|---:|---:|---:|---:|---|")
    for shape in args.shapes.split(","):
        X, y, cats = make_shape(shape, ROWS)
        given = flip(y)
        rng = np.random.default_rng(0)

        model, matrix = _trees(X, cats)
        rows = rng.choice(ROWS, FOLD_ROWS, replace=False)
        start = time.perf_counter()
        model.fit(matrix[rows], given[rows])
        fit_s = time.perf_counter() - start

        sample = rng.choice(ROWS, PILOT_ROWS, replace=False)
        train, test = train_test_split(sample, test_size=PILOT_TEST, stratify=given[sample],
                                       random_state=0)
        k = int(given.max()) + 1
        losses = {}
        pilot_trees, _ = _trees(X, cats)
        linear = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        for name, candidate in (("trees", pilot_trees), ("logistic regression", linear)):
            candidate.fit(matrix[train] if name == "trees" else X[train], given[train])
            proba = candidate.predict_proba(matrix[test] if name == "trees" else X[test])
            losses[name] = log_loss(given[test], proba, labels=np.arange(k))
        chosen = min(losses, key=losses.get)
        print(f"| {shape} | {model.n_iter_} | {fit_s:.1f} | {losses['trees']:.3f} | "
              f"{losses['logistic regression']:.3f} | {chosen} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
