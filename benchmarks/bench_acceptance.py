"""Model-assisted acceptance plan on real human label noise: simulated risks against the stated ones.

Lots are made from the shared real-noise data (CIFAR-10N aggre and worst,
resnet18 and efficientnet_b1 out-of-fold probabilities): a lot at defect
rate ``r`` keeps a random subset of ``round(r * N)`` of the real label errors
and restores the true label everywhere else, so that its errors are errors
people made and the model's blindness to some of them is real. Each lot is
audited (:func:`labelaudit.audit`, whose label quality is the probability of
the lot's given label), the model-assisted plan is computed from that audit
(:func:`labelaudit.verify.stratified_plan`), review samples are drawn by the
code ``labelaudit sample --policy`` uses and answered from the true labels,
and the plan decides. The producer's risk is the share of lots at the AQL
rejected, the consumer's risk the share of lots at the LQ accepted.

Usage::

    PYTHONPATH=src python benchmarks/bench_acceptance.py [--lots 20] [--draws 50]
        [--aql 0.02] [--lq 0.05] [--robustness 0.5] [--errors real|blind] [--data DIR]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

import labelaudit
from labelaudit.verify import review_sample
from labelaudit.verify.plans import single_sampling_plan, stratified_plan

CASES = [
    ("cifar10n_aggre", "resnet18"),
    ("cifar10n_aggre", "efficientnet_b1"),
    ("cifar10n_worst", "resnet18"),
    ("cifar10n_worst", "efficientnet_b1"),
]


def make_lot(given, true, is_error, rate, rng):
    """Keep round(rate * N) random real errors; restore the true label elsewhere."""
    errors = np.flatnonzero(is_error)
    keep = rng.choice(errors, size=int(round(rate * given.size)), replace=False)
    labels = true.copy()
    labels[keep] = given[keep]
    wrong = np.zeros(given.size, dtype=bool)
    wrong[keep] = True
    return labels, wrong


def make_blind_lot(given, true, rate, rng):
    """A lot whose wrong labels the model cannot see: the audit sees the true labels, and
    round(rate * N) random items are the ones reviewers will call wrong."""
    wrong = np.zeros(given.size, dtype=bool)
    wrong[rng.choice(given.size, size=int(round(rate * given.size)), replace=False)] = True
    return true.copy(), wrong


def simulate(data, folder, model, rate, args, seed):
    lab = np.load(data / folder / "labels.npz")
    probs = np.load(data / folder / f"{model}.npz")["pred_probs"]
    given = lab["given_labels"].astype(np.int64)
    true = lab["true_labels"].astype(np.int64)
    is_error = lab["is_error"].astype(bool)
    rng = np.random.default_rng(seed)
    accepted, total, sizes = 0, 0, []
    for lot in range(args.lots):
        if args.errors == "blind":
            labels, wrong = make_blind_lot(given, true, rate, rng)
        else:
            labels, wrong = make_lot(given, true, is_error, rate, rng)
        result = labelaudit.audit(labels, probs, n_bootstrap=10, seed=0)
        plan = stratified_plan(result, aql=args.aql, lq=args.lq,
                               producer_risk=args.producer_risk,
                               consumer_risk=args.consumer_risk,
                               robustness=args.robustness)
        sizes.append(plan.n)
        for d in range(args.draws):
            sample = review_sample(result, allocation=plan.allocation, seed=1000 * lot + d)
            ids = sample.design.get_column("id").to_numpy()
            stratum = sample.design.get_column("stratum").to_numpy()
            S = len(plan.sizes)
            n = np.bincount(stratum, minlength=S)
            x = np.bincount(stratum[wrong[ids]], minlength=S)
            verdict = plan.decide(sizes=np.asarray(plan.sizes), n=n, x=x)
            accepted += verdict["decision"] == "ACCEPT"
            total += 1
    return accepted / total, total, float(np.mean(sizes)), int(min(sizes)), int(max(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=20)
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--aql", type=float, default=0.02)
    parser.add_argument("--lq", type=float, default=0.05)
    parser.add_argument("--producer-risk", type=float, default=0.05)
    parser.add_argument("--consumer-risk", type=float, default=0.10)
    parser.add_argument("--robustness", type=float, default=0.5,
                        help="Weight of the prior-shift anticipation in the spread (see "
                        "labelaudit.verify.stratified_plan).")
    parser.add_argument("--errors", choices=("real", "blind"), default="real",
                        help="real: the lot keeps a subset of the real errors (default); blind: "
                        "the audit sees the true labels and random items are the wrong ones, "
                        "so the scores rank nothing (a stress test of the anticipation).")
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data/realnoise")
    args = parser.parse_args()
    single = single_sampling_plan(50_000, args.aql, args.lq, args.producer_risk,
                                  args.consumer_risk)
    start = time.perf_counter()
    lines = [
        f"Single sampling plan for a lot of 50,000: n = {single.n}, c = {single.c} "
        f"(exact risks {100 * single.producer_risk:.2f}% / {100 * single.consumer_risk:.2f}%).",
        "",
        "| case | producer risk (lots at AQL rejected) | consumer risk (lots at LQ accepted) "
        "| mean n at AQL / LQ (min-max) | saving vs single plan |",
        "|---|---:|---:|---:|---:|",
    ]
    for i, (folder, model) in enumerate(CASES):
        acc1, t1, n1, lo1, hi1 = simulate(args.data, folder, model, args.aql, args, 10 * i)
        acc2, t2, n2, lo2, hi2 = simulate(args.data, folder, model, args.lq, args, 10 * i + 5)
        se1 = math.sqrt((1 - acc1) * acc1 / t1)
        se2 = math.sqrt(acc2 * (1 - acc2) / t2)
        mean_n = (n1 + n2) / 2
        lines.append(
            f"| {folder} / {model} | {100 * (1 - acc1):.1f}% (± {100 * se1:.1f}) "
            f"| {100 * acc2:.1f}% (± {100 * se2:.1f}) | {n1:.0f} ({lo1}-{hi1}) / {n2:.0f} "
            f"({lo2}-{hi2}) | {100 * (1 - mean_n / single.n):.0f}% |"
        )
        print(lines[-1], flush=True)
    lines.insert(1, f"{args.lots} lots x {args.draws} review draws per case and level, "
                    f"robustness {args.robustness:g}, errors {args.errors}, "
                    f"{time.perf_counter() - start:.0f} s.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
