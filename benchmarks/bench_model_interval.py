"""Model-only noise interval: coverage and width on real and generated label noise.

Real noise: the CIFAR-10N out-of-fold probabilities (``--realnoise DIR``, folders
``cifar10n_aggre`` and ``cifar10n_worst``, models ``resnet18`` and
``efficientnet_b1``). Generated noise: scikit-learn data sets with planted
noise of several kinds and 5-fold out-of-fold probabilities from
``cross_val_predict``. For every case the table gives the truth, confident
learning's estimate with its row-bootstrap interval (the old interval), the
model-only interval of :func:`labelaudit.model_checks.model_noise_interval`,
its width and whether each interval covers the truth, and the codes that
:func:`labelaudit.model_checks.check_model` reports.

Run::

    PYTHONPATH=src python benchmarks/bench_model_interval.py --realnoise PATH
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from labelaudit.model_checks import check_model, model_noise_interval

REAL = [("cifar10n_aggre", "resnet18"), ("cifar10n_aggre", "efficientnet_b1"),
        ("cifar10n_worst", "resnet18"), ("cifar10n_worst", "efficientnet_b1")]


def _flip(truth, rate, rng, kind, k):
    labels = truth.copy()
    flip = rng.random(truth.shape[0]) < rate
    if kind == "pair":          # each class goes to its partner (0<->1, 2<->3, ...)
        labels[flip] = truth[flip] ^ 1
    elif kind == "asym":        # class c goes to c+1 only
        labels[flip] = (truth[flip] + 1) % k
    else:                       # uniform over the other classes
        labels[flip] = (truth[flip] + rng.integers(1, k, flip.sum())) % k
    return labels


def generated_cases(seed: int = 0, n: int = 3000):
    """Yield ``(name, labels, truth, pred_probs)`` for the generated cases."""
    from sklearn.datasets import make_blobs, make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    specs = [
        # name, data kwargs, noise kind, rate, model
        ("uniform 15%, 5 classes, logistic", dict(n_classes=5, class_sep=1.5), "uniform", 0.15, "lr"),
        ("class pairs 25%, 4 classes, logistic", dict(n_classes=4, class_sep=1.5), "pair", 0.25, "lr"),
        ("asymmetric 20%, 4 classes, boosting", dict(n_classes=4, class_sep=1.5), "asym", 0.20, "hgb"),
        ("weak: overlapping 2 classes, 10%", dict(n_classes=2, class_sep=0.6, n_informative=2),
         "uniform", 0.10, "lr"),
        ("weak: overlapping 3 classes, 5%", dict(n_classes=3, class_sep=0.7, n_informative=3),
         "uniform", 0.05, "lr"),
        ("strong: separated blobs, 10%", "blobs", "uniform", 0.10, "lr"),
        ("strong: separated blobs, 2%", "blobs", "uniform", 0.02, "hgb"),
    ]
    for i, (name, data, kind, rate, model) in enumerate(specs):
        rng = np.random.default_rng([seed, i])
        if data == "blobs":
            x, truth = make_blobs(n, n_features=6, centers=4, cluster_std=1.0, random_state=seed + i)
        else:
            kw = dict(n_features=8, n_informative=data.pop("n_informative", 6), n_redundant=0,
                      n_clusters_per_class=1, random_state=seed + i, **data)
            x, truth = make_classification(n, **kw)
        k = int(truth.max()) + 1
        labels = _flip(truth, rate, rng, kind, k)
        est = (LogisticRegression(max_iter=2000) if model == "lr"
               else HistGradientBoostingClassifier(max_iter=100, random_state=0))
        probs = cross_val_predict(est, x, labels, cv=5, method="predict_proba")
        yield name, labels, truth, probs


def _row(name, labels, truth, probs, n_bootstrap):
    t0 = time.perf_counter()
    r = model_noise_interval(labels, probs, n_bootstrap=n_bootstrap)
    codes = sorted({f.code for f in check_model(labels, probs)})
    sec = time.perf_counter() - t0
    true_rate = float(np.mean(labels != truth))
    old = r.bootstrap_low <= true_rate <= r.bootstrap_high
    new = r.ci_low <= true_rate <= r.ci_high
    return (f"| {name} | {true_rate:.1%} | {r.noise_rate:.1%} | {r.bootstrap_low:.1%}-{r.bootstrap_high:.1%} "
            f"| {'yes' if old else 'no'} | {r.lower_bound:.1%} / {r.upper_bound:.1%} "
            f"| {r.ci_low:.1%}-{r.ci_high:.1%} | {r.width:.1%} | {'yes' if new else 'no'} "
            f"| {', '.join(codes) or '-'} | {sec:.1f} |"), new


HEADER = ("| case | truth | estimate | old interval | old covers | lower / upper bound "
          "| new interval | width | new covers | model checks | s |\n"
          "|---|---:|---:|---|---|---|---|---:|---|---|---:|")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realnoise", type=Path, default=None,
                    help="folder with cifar10n_aggre/ and cifar10n_worst/")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=1, help="generated data: seeds 0..N-1")
    args = ap.parse_args(argv)
    covered = total = 0
    if args.realnoise is not None:
        print("Real noise (CIFAR-10N, out-of-fold probabilities, single model each)\n")
        print(HEADER)
        for folder, model in REAL:
            lab = np.load(args.realnoise / folder / "labels.npz")
            probs = np.load(args.realnoise / folder / f"{model}.npz")["pred_probs"]
            line, ok = _row(f"{folder} / {model}", lab["given_labels"].astype(np.intp),
                            lab["true_labels"].astype(np.intp), probs, args.n_bootstrap)
            print(line, flush=True)
            covered += ok
            total += 1
        print()
        for folder in ("cifar10n_aggre", "cifar10n_worst"):
            lab = np.load(args.realnoise / folder / "labels.npz")
            y = lab["given_labels"].astype(np.intp)
            truth = float(np.mean(y != lab["true_labels"]))
            p1 = np.load(args.realnoise / folder / "resnet18.npz")["pred_probs"]
            p2 = np.load(args.realnoise / folder / "efficientnet_b1.npz")["pred_probs"]
            r = model_noise_interval(y, p1, extra_pred_probs=[p2], n_bootstrap=args.n_bootstrap)
            print(f"two models on {folder}: truth {truth:.1%}, estimates "
                  + " / ".join(f"{v:.1%}" for v in r.model_rates)
                  + f", interval over both {r.ci_low:.1%}-{r.ci_high:.1%}")
        print()
    print(f"Generated noise (n=3000, 5-fold out-of-fold probabilities, seeds 0..{args.seeds - 1})\n")
    print(HEADER)
    for seed in range(args.seeds):
        for name, labels, truth, probs in generated_cases(seed):
            line, ok = _row(f"{name} (seed {seed})", labels, truth, probs, args.n_bootstrap)
            print(line, flush=True)
            covered += ok
            total += 1
    print(f"\nnew interval covers the truth in {covered} of {total} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
