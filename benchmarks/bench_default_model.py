"""Benchmark: labelaudit's default path from features against cleanlab's default path.

Generated data, 64 features, 10% of the labels flipped to a uniformly drawn
other class, in four shapes:

- ``linear``: ``sklearn.datasets.make_classification`` (10 classes, 32
  informative features, one Gaussian cluster per class);
- ``nonlinear``: Gaussian features, the class is the arg-max of 10 random
  scores made of pairwise products and sines of the features (no linear
  boundary separates the classes);
- ``many classes``: ``make_classification`` with 50 classes;
- ``categorical``: 48 Gaussian features and 16 categorical columns with 6 to
  20 levels; the class is the arg-max of a random linear score of the numeric
  features plus a random effect of each category level.

Both tools see the noisy labels and the features:

- labelaudit: ``labelaudit.audit(labels, features=X, seed=0)``, the whole
  default path (model chosen by size, kind and a pilot fit, out-of-fold
  probabilities, confident learning, intervals, model checks); on the categorical shape the
  features are a pandas DataFrame whose 16 categorical columns have the
  ``category`` dtype;
- cleanlab: ``cleanlab.count.estimate_cv_predicted_probabilities(X, labels,
  seed=0)`` (its default logistic regression, 5 folds) then
  ``cleanlab.filter.find_label_issues(labels, pred_probs)``; on the
  categorical shape it sees the level codes as numbers (a NumPy matrix).

F1 of the flagged rows against the flipped ones, wall-clock seconds and CPU
seconds (this process and its fold workers; on a shared machine the wall time
depends on the other work, the CPU time much less).
``--only-labelaudit`` skips cleanlab (for the 1,000,000-row run).

``--refit`` instead runs the default model with the prune-and-refit second
pass forced on (out-of-fold probabilities then ``find_label_issues``); its
first pass is the default path's, so comparing F1 with the default run shows
what the second pass adds.

``--realnoise DIR`` instead runs on real human label noise: each model's
out-of-fold probabilities in ``DIR/<folder>/<model>.npz`` (CIFAR-10N, 50,000
rows, 10 classes) serve as 10 features (their logarithms) for the noisy labels
in ``labels.npz``; flagged rows are scored against ``is_error``. Besides both
default paths it runs labelaudit's previous default at this size (standardised
logistic regression, ``C=0.1``, prune and refit), for comparison.

Usage::

    python benchmarks/bench_default_model.py --rows 20000,200000 --out /tmp/bench_default_model.md
    python benchmarks/bench_default_model.py --rows 1000000 --only-labelaudit
    python benchmarks/bench_default_model.py --realnoise ../shared/data/realnoise
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings

import numpy as np

N_FEATURES = 64
NOISE = 0.10
SHAPES = ("linear", "nonlinear", "many classes", "categorical")


def _linear(n: int, rng: np.random.Generator, classes: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n, n_features=N_FEATURES, n_informative=32, n_redundant=8,
        n_classes=classes, n_clusters_per_class=1, class_sep=1.5, flip_y=0.0,
        random_state=int(rng.integers(2**31)),
    )
    return X, y


def _nonlinear(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((n, N_FEATURES))
    k = 10
    scores = np.zeros((n, k))
    for c in range(k):
        for _ in range(4):
            i, j = rng.choice(N_FEATURES, 2, replace=False)
            scores[:, c] += rng.normal() * X[:, i] * X[:, j]
        for _ in range(3):
            i = rng.integers(N_FEATURES)
            scores[:, c] += 1.5 * np.sin(2.0 * X[:, i] + rng.uniform(0, np.pi))
    return X, np.argmax(scores, axis=1)


def _categorical(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[int]]:
    k, n_num, n_cat = 10, 48, 16
    X = np.empty((n, N_FEATURES))
    X[:, :n_num] = rng.standard_normal((n, n_num))
    scores = X[:, :n_num] @ rng.normal(scale=0.25, size=(n_num, k))
    for j in range(n_cat):
        levels = int(rng.integers(6, 21))
        codes = rng.integers(levels, size=n)
        X[:, n_num + j] = codes
        scores += rng.normal(scale=0.9, size=(levels, k))[codes]
    return X, np.argmax(scores, axis=1), list(range(n_num, N_FEATURES))


def make_shape(shape: str, n: int, seed: int = 0):
    """Features, true labels and categorical column indices of one generated shape."""
    rng = np.random.default_rng([seed, n, SHAPES.index(shape)])
    cats: list[int] = []
    if shape == "linear":
        X, y = _linear(n, rng, 10)
    elif shape == "many classes":
        X, y = _linear(n, rng, 50)
    elif shape == "nonlinear":
        X, y = _nonlinear(n, rng)
    else:
        X, y, cats = _categorical(n, rng)
    return X, y.astype(np.int64), cats


def flip(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """10% of the rows get a uniformly drawn other class."""
    rng = np.random.default_rng([seed, 1])
    k = int(y.max()) + 1
    s = y.copy()
    rows = rng.choice(len(y), int(round(NOISE * len(y))), replace=False)
    s[rows] = (y[rows] + rng.integers(1, k, len(rows))) % k
    return s


def f1(mask: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    hits = int((mask & truth).sum())
    p = hits / max(int(mask.sum()), 1)
    r = hits / max(int(truth.sum()), 1)
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


def cpu_seconds() -> float | None:
    """CPU seconds (user + system) of this process and its live children (fold workers).

    On a shared machine wall time depends on the other work; CPU time much less.
    None without psutil.
    """
    try:
        import psutil
    except ImportError:  # pragma: no cover - optional
        return None
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # pragma: no cover - a worker that just exited
            continue
        total += times.user + times.system
    return total


def _cpu_delta(before: float | None) -> float | None:
    after = cpu_seconds()
    return None if before is None or after is None else after - before


def as_frame(X: np.ndarray, cats: list[int]):
    import pandas as pd

    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    for j in cats:
        df[f"x{j}"] = pd.Categorical(X[:, j].astype(np.int64))
    return df


def run_labelaudit(X, s, truth, cats, progress) -> dict:
    from labelaudit import audit

    feats = as_frame(X, cats) if cats else X
    cpu = cpu_seconds()
    start = time.perf_counter()
    result = audit(s, features=feats, seed=0, progress=progress)
    seconds = time.perf_counter() - start
    cpu = _cpu_delta(cpu)
    mask = result.issues.sort("id").get_column("is_issue").to_numpy()
    f, p, r = f1(mask, truth)
    return {"seconds": seconds, "cpu_seconds": cpu, "f1": f, "precision": p, "recall": r,
            "model": result.parameters.get("model_name"),
            "oof_accuracy": result.parameters.get("oof_accuracy"),
            "estimated_noise": result.estimated_noise_rate}


def run_cleanlab(X, s, truth) -> dict:
    import cleanlab.count
    import cleanlab.filter

    cpu = cpu_seconds()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence warnings on raw features
        pred_probs = cleanlab.count.estimate_cv_predicted_probabilities(X, s, seed=0)
        mask = cleanlab.filter.find_label_issues(s, pred_probs)
    seconds = time.perf_counter() - start
    cpu = _cpu_delta(cpu)
    f, p, r = f1(np.asarray(mask, dtype=bool), truth)
    return {"seconds": seconds, "cpu_seconds": cpu, "f1": f, "precision": p, "recall": r}


def _eta_printer(log):
    """A progress callback that prints elapsed time and ETA of each step (a live ETA)."""
    starts: dict[str, float] = {}

    def progress(step: str, done: int, total: int) -> None:
        now = time.perf_counter()
        starts.setdefault(step, now)
        elapsed = now - starts[step]
        eta = elapsed / done * (total - done) if done else float("nan")
        print(f"  [{step}] {done}/{total} elapsed {elapsed:.0f}s eta {eta:.0f}s", file=log, flush=True)

    return progress


def previous_default(X, s, truth) -> dict:
    """labelaudit's default above 10,000 rows before trees: a logistic regression, two passes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from labelaudit import find_label_issues, out_of_fold_probabilities

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    start = time.perf_counter()
    oof = out_of_fold_probabilities(X, s, model=model, random_state=0, prune_and_refit=True)
    mask = np.asarray(find_label_issues(s, oof.pred_probs), dtype=bool)
    seconds = time.perf_counter() - start
    f, p, r = f1(mask, truth)
    return {"seconds": seconds, "f1": f, "precision": p, "recall": r}


def with_refit(X, s, truth, cats) -> dict:
    """The default model with the prune-and-refit second pass forced on."""
    from labelaudit import find_label_issues, out_of_fold_probabilities

    feats = as_frame(X, cats) if cats else X
    start = time.perf_counter()
    oof = out_of_fold_probabilities(feats, s, random_state=0, prune_and_refit=True)
    mask = np.asarray(find_label_issues(s, oof.pred_probs), dtype=bool)
    seconds = time.perf_counter() - start
    f, p, r = f1(mask, truth)
    return {"seconds": seconds, "f1": f, "precision": p, "recall": r, "model": oof.model_name,
            "n_pruned": oof.n_pruned}


def realnoise(root: str, json_path: str | None) -> list[str]:
    """Rows of the real-noise table (see the module notes)."""
    from pathlib import Path

    rows = []
    for folder in sorted(p for p in Path(root).iterdir() if (p / "labels.npz").exists()):
        lab = np.load(folder / "labels.npz")
        s = lab["given_labels"].astype(np.int64)
        truth = lab["is_error"].astype(bool)
        for model_file in sorted(folder.glob("*.npz")):
            if model_file.name == "labels.npz":
                continue
            probs = np.load(model_file)["pred_probs"].astype(np.float64)
            X = np.log(np.clip(probs, 1e-12, None))
            print(f"{folder.name} {model_file.stem}", file=sys.stderr, flush=True)
            ours = run_labelaudit(X, s, truth, [], _eta_printer(sys.stderr))
            before = previous_default(X, s, truth)
            theirs = run_cleanlab(X, s, truth)
            record = {"data": folder.name, "features": model_file.stem, "labelaudit": ours,
                      "previous": before, "cleanlab": theirs}
            if json_path:
                with open(json_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")

            def cell(run):
                return f"{run['precision']:.3f} / {run['recall']:.3f} ({run['f1']:.3f})"

            rows.append(
                f"| {folder.name} | log {model_file.stem} | {ours['model']} | {cell(ours)} "
                f"| {cell(before)} | {cell(theirs)} | {ours['seconds']:.1f} "
                f"| {before['seconds']:.1f} | {theirs['seconds']:.1f} |"
            )
            print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="20000,200000", help="comma-separated row counts")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated")
    parser.add_argument("--only-labelaudit", action="store_true")
    parser.add_argument("--only-cleanlab", action="store_true")
    parser.add_argument("--json", default=None, help="append one JSON line per run here")
    parser.add_argument("--out", default=None, help="write the Markdown table here")
    parser.add_argument("--realnoise", default=None, help="real-noise folder (see the notes)")
    parser.add_argument("--refit", action="store_true",
                        help="only the default model with prune and refit forced on")
    args = parser.parse_args(argv)
    command = "python benchmarks/bench_default_model.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    import cleanlab
    import sklearn

    import labelaudit

    if args.realnoise:
        rows = realnoise(args.realnoise, args.json)
        text = "\n".join([
            "# Default path on real label noise (CIFAR-10N)", "", f"Command: `{command}`", "",
            "| data | features | labelaudit model | labelaudit P / R (F1) | previous default P / R (F1) "
            "| cleanlab P / R (F1) | labelaudit s | previous s | cleanlab s |",
            "|---|---|---|---|---|---|---:|---:|---:|", *rows]) + "\n"
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
        print(text)
        return 0
    rows = []
    ok_all = True
    for n in [int(v) for v in args.rows.split(",")]:
        for shape in args.shapes.split(","):
            X, y, cats = make_shape(shape, n)
            s = flip(y)
            truth = s != y
            ours = theirs = None
            if args.refit:
                record = {"shape": shape, "rows": n, "refit": with_refit(X, s, truth, cats)}
                if args.json:
                    with open(args.json, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(record) + "\n")
                print(record, flush=True)
                continue
            if not args.only_cleanlab:
                print(f"{shape} {n}: labelaudit", file=sys.stderr, flush=True)
                ours = run_labelaudit(X, s, truth, cats, _eta_printer(sys.stderr))
            if not args.only_labelaudit:
                print(f"{shape} {n}: cleanlab", file=sys.stderr, flush=True)
                theirs = run_cleanlab(X, s, truth)
            record = {"shape": shape, "rows": n, "labelaudit": ours, "cleanlab": theirs}
            if args.json:
                with open(args.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
            rows.append(_row(record))
            if ours and theirs:
                ok_all &= _meets(record)
            print(rows[-1], flush=True)
    header = [
        "# Default path from features: labelaudit vs cleanlab",
        "",
        f"Command: `{command}`",
        "",
        f"labelaudit {labelaudit.__version__}, cleanlab {cleanlab.__version__}, "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPU cores shared with other work.",
        "",
        "| shape | rows | labelaudit model | OOF accuracy | labelaudit F1 (P / R) | cleanlab F1 (P / R) "
        "| labelaudit s (CPU s) | cleanlab s (CPU s) | speed-up (wall) |",
        "|---|---:|---|---:|---|---|---:|---:|---:|",
    ]
    text = "\n".join(header + rows) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    print(text)
    return 0 if ok_all else 1


def _meets(record: dict) -> bool:
    ours, theirs = record["labelaudit"], record["cleanlab"]
    if record["rows"] >= 200_000:
        return ours["seconds"] * 2 <= theirs["seconds"] and ours["f1"] >= theirs["f1"]
    if record["shape"] == "nonlinear":
        return ours["f1"] >= theirs["f1"] + 0.05
    return True


def _row(record: dict) -> str:
    ours, theirs = record["labelaudit"], record["cleanlab"]

    def fp(run):
        return "-" if run is None else f"{run['f1']:.3f} ({run['precision']:.3f} / {run['recall']:.3f})"

    def sec(run):
        if run is None:
            return "-"
        cpu = run.get("cpu_seconds")
        return f"{run['seconds']:.1f}" + ("" if cpu is None else f" ({cpu:.0f})")

    ratio = (f"{theirs['seconds'] / ours['seconds']:.2f}x" if ours and theirs else "-")
    model = "-" if ours is None else str(ours["model"])
    acc = "-" if ours is None or ours["oof_accuracy"] is None else f"{ours['oof_accuracy']:.3f}"
    return (f"| {record['shape']} | {record['rows']:,} | {model} | {acc} | {fp(ours)} | {fp(theirs)} "
            f"| {sec(ours)} | {sec(theirs)} | {ratio} |")


if __name__ == "__main__":
    sys.exit(main())
