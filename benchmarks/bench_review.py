"""Verified noise rate on real human label noise: coverage and width against simple random sampling.

For each shared real-noise case (CIFAR-10N aggre and worst, resnet18 and
efficientnet_b1 out-of-fold probabilities) the audit is run on the given
labels, then, many times over, a review sample of 400 items is drawn by the
code ``labelaudit sample`` uses (:func:`labelaudit.verify.review_sample`),
answered from the true labels, and turned into the verified interval by
:func:`labelaudit.verify.verify_reviews`. In the same run a simple random
sample of 400 items gets a Wilson interval. Reported per case: true noise
rate, coverage of both intervals, mean half-widths and their ratio.

Usage::

    PYTHONPATH=src python benchmarks/bench_review.py [--draws 200] [--size 400]
        [--data DIR] [--out reports/bench_review.md]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import polars as pl

import labelaudit
from labelaudit.verify import review_sample, verify_reviews

CASES = [
    ("cifar10n_aggre", "resnet18"),
    ("cifar10n_aggre", "efficientnet_b1"),
    ("cifar10n_worst", "resnet18"),
    ("cifar10n_worst", "efficientnet_b1"),
]


def wilson(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def run_case(data: Path, folder: str, model: str, draws: int, size: int) -> dict:
    lab = np.load(data / folder / "labels.npz")
    probs = np.load(data / folder / f"{model}.npz")["pred_probs"]
    given = lab["given_labels"].astype(np.int64)
    is_error = lab["is_error"].astype(bool)
    truth = float(is_error.mean())
    result = labelaudit.audit(given, probs, n_bootstrap=10, seed=0)
    wrong_by_id = is_error  # ids are row numbers
    strat_cover = srs_cover = 0
    strat_half, srs_half = [], []
    rng = np.random.default_rng(12345)
    n = given.size
    for d in range(draws):
        sample = review_sample(result, size=size, seed=d)
        ids = sample.design.get_column("id").to_numpy()
        answers = pl.DataFrame({"id": ids, "is_correct": ~wrong_by_id[ids]})
        v = verify_reviews(sample, answers, seed=d)
        strat_cover += v.ci_low <= truth <= v.ci_high
        strat_half.append((v.ci_high - v.ci_low) / 2)
        pick = rng.choice(n, size=size, replace=False)
        lo, hi = wilson(int(is_error[pick].sum()), size)
        srs_cover += lo <= truth <= hi
        srs_half.append((hi - lo) / 2)
    return {
        "case": f"{folder} / {model}",
        "true_rate": truth,
        "model_only": (result.estimated_noise_rate, result.ci_low, result.ci_high),
        "coverage": strat_cover / draws,
        "srs_coverage": srs_cover / draws,
        "half_width": float(np.mean(strat_half)),
        "srs_half_width": float(np.mean(srs_half)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data/realnoise")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    start = time.perf_counter()
    for folder, model in CASES:
        rows.append(run_case(args.data, folder, model, args.draws, args.size))
    lines = [
        f"{args.size} reviewed items, {args.draws} draws per case, "
        f"{time.perf_counter() - start:.0f} s.",
        "",
        "| case | true rate | model-only (interval) | verified coverage | SRS Wilson coverage "
        "| verified mean half-width | SRS mean half-width | ratio |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        m = r["model_only"]
        lines.append(
            f"| {r['case']} | {100 * r['true_rate']:.2f}% | {100 * m[0]:.2f}% "
            f"({100 * m[1]:.2f}-{100 * m[2]:.2f}%) | {100 * r['coverage']:.1f}% "
            f"| {100 * r['srs_coverage']:.1f}% | {100 * r['half_width']:.2f} pt "
            f"| {100 * r['srs_half_width']:.2f} pt | {r['half_width'] / r['srs_half_width']:.2f} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
