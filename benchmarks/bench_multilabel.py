"""The multi-label audit: labelaudit's ``audit_multilabel`` against cleanlab 2.9, one process.

``audit_multilabel`` computes what ``--task multilabel`` reports: the per-class
issue mask, the ranked item issues and the item scores. The anchor is the same
three cleanlab 2.9 calls (``find_multilabel_issues_per_class``,
``find_label_issues(return_indices_ranked_by="self_confidence")`` and
``get_label_quality_scores``). Generated data: N items, K classes with
independent per-class probabilities, 4% of the yes/no answers flipped.
Reports the median wall time of each and their ratio, and whether the
outputs are equal.

Usage: PYTHONPATH=src python benchmarks/bench_multilabel.py --n 100000 --classes 20 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np


def make(n: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, k)) < rng.uniform(0.05, 0.4, k)
    probs = np.where(truth, rng.beta(5, 2, (n, k)), rng.beta(2, 6, (n, k)))
    flip = rng.random((n, k)) < 0.04
    given = truth ^ flip
    return [np.flatnonzero(row).tolist() for row in given], probs


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    labels, probs = make(args.n, args.classes, 0)
    from cleanlab.multilabel_classification import filter as cl_filter
    from cleanlab.multilabel_classification import rank as cl_rank

    from labelaudit.tasks.multilabel import audit_multilabel

    names = [f"c{i}" for i in range(args.classes)]
    audit, la_t = timed(lambda: audit_multilabel(labels, probs, names), args.repeats)

    def anchor():
        pairs = cl_filter.find_multilabel_issues_per_class(labels, probs)
        ranked = cl_filter.find_label_issues(labels, probs,
                                             return_indices_ranked_by="self_confidence")
        return pairs, ranked, cl_rank.get_label_quality_scores(labels, probs)

    (pairs, ranked, scores), cl_t = timed(anchor, args.repeats)
    flagged = audit.issues.filter("is_issue").get_column("id").to_numpy()
    by_id = audit.issues.sort("id")
    same = (np.array_equal(flagged, ranked)
            and int(audit.per_class.get_column("n_issues").sum()) == int(pairs.sum())
            and np.allclose(by_id.get_column("label_quality").to_numpy(), scores, rtol=1e-12))
    print(f"items {args.n}, classes {args.classes}, issues {flagged.size}, repeats {args.repeats}")
    print("| library | median s |")
    print("|---|---|")
    print(f"| labelaudit audit_multilabel | {la_t:.2f} |")
    print(f"| cleanlab 2.9 (three calls) | {cl_t:.2f} |")
    print(f"speed-up: {cl_t / la_t:.1f}x; outputs equal: {same}")


if __name__ == "__main__":
    main()
