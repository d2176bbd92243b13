"""Token classification: labelaudit vs cleanlab 2.9 in one process.

Generated corpus (fixed seed): N sentences of 5-40 tokens (uniform), K tags
with a skewed prior ("O" most frequent), softmax probabilities of noisy
logits and about 5% of the token labels replaced by a random tag. Both
libraries get cleanlab's input form (a list of per-sentence label lists and a
list of per-sentence ``(T_i, K)`` arrays, each its own allocation);
labelaudit is also timed on its flat form (the ``(T, K)`` token matrix with
``sentence_lengths``), which it uses without a copy.

For ``find_label_issues`` and ``get_label_quality_scores`` (sentence score
"min", and "softmin" for the scores) it reports median wall seconds, the
speed-up, the peak traced allocation of one more call (tracemalloc sees numpy buffers)
relative to the input (probability matrix plus flat int64 labels), the same
peak less what the call returns (the traced memory still held afterwards: the
list of pairs, or the Series, which cleanlab returns too), and whether
the results are equal: the same ``(sentence, token)`` pairs in the same order
except where tokens tie exactly on the ranking score (labelaudit then keeps
file order, cleanlab numpy's unstable order; the count of such swapped
positions is printed), and sentence and token scores equal to float rounding.

    PYTHONPATH=src python benchmarks/bench_token.py --n 200000 --k 10 --dtype float32
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
import warnings

import numpy as np


def make(n: int, k: int, dtype, seed: int):
    """Flat labels, the flat token matrix and the sentence lengths."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 41, size=n)
    t = int(lengths.sum())
    prior = np.r_[6.0, np.ones(k - 1)]
    prior /= prior.sum()
    truth = rng.choice(k, size=t, p=prior)
    probs = np.empty((t, k), dtype=dtype)
    block = 1 << 18
    for a in range(0, t, block):
        b = min(a + block, t)
        logits = rng.standard_normal((b - a, k))
        logits[np.arange(b - a), truth[a:b]] += rng.uniform(2.0, 9.0, b - a)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        probs[a:b] = e / e.sum(axis=1, keepdims=True)
    labels = truth.copy()
    flip = rng.random(t) < 0.05
    labels[flip] = rng.integers(0, k, size=int(flip.sum()))
    return labels.astype(np.int64), probs, lengths


def run(fn, repeats):
    """Median untraced wall time of ``repeats`` calls, then one traced call for the peak.

    tracemalloc slows allocation-heavy Python code, so the timed calls run
    without it.
    """
    times, out = [], None
    for _ in range(repeats):
        out = None
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    out = None
    tracemalloc.start()
    out = fn()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), (peak, held), out


def issues_equal(a, b, token_scores, starts) -> str:
    """Same pairs, same order up to exact ties of the ranking score (which labelaudit
    breaks by file order)."""
    if a == b:
        return "True"
    if len(a) != len(b) or set(a) != set(b):
        return "False"
    flat = [int(starts[i]) + j for i, j in a]
    sa = token_scores[flat]
    sb = token_scores[[int(starts[i]) + j for i, j in b]]
    if not np.array_equal(sa, sb):
        return "False"
    ties_in_file_order = all(flat[r] < flat[r + 1] for r in range(len(a) - 1)
                             if sa[r] == sa[r + 1])
    moved = sum(x != y for x, y in zip(a, b, strict=True))
    return f"True ({moved} positions differ, exact ties)" if ties_in_file_order else "False"


def scores_equal(a, b) -> bool:
    """Sentence scores and per-sentence token scores equal to float rounding."""
    (sa, ta), (sb, tb) = a, b
    tol = 1e-5 if sa.dtype == np.float32 else 1e-12
    if not np.allclose(sa, sb, rtol=tol, atol=tol):
        return False
    fa = np.concatenate([s.to_numpy() for s in ta])
    fb = np.concatenate([s.to_numpy() for s in tb])
    return bool(np.allclose(fa, fb, rtol=tol, atol=tol))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000, help="sentences")
    ap.add_argument("--k", type=int, default=10, help="tags")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cleanlab-repeats", type=int, default=1)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from cleanlab.token_classification.filter import find_label_issues as cl_find
    from cleanlab.token_classification.rank import get_label_quality_scores as cl_scores

    from labelaudit.token_classification.filter import find_label_issues as la_find
    from labelaudit.token_classification.rank import get_label_quality_scores as la_scores
    from labelaudit.token_classification.rank import get_sentence_scores as la_flat_scores

    flat_labels, flat_probs, lengths = make(args.n, args.k, np.dtype(args.dtype), 0)
    cuts = np.cumsum(lengths)[:-1]
    # One array per sentence, each its own allocation (as a model writes them out);
    # built before any measurement, so it is part of the input, not of the peaks.
    nested_probs = [part.copy() for part in np.split(flat_probs, cuts)]
    nested_labels = [part.tolist() for part in np.split(flat_labels, cuts)]
    input_bytes = flat_probs.nbytes + flat_labels.nbytes
    print(f"N={args.n} sentences, T={flat_probs.shape[0]} tokens, K={args.k}, {args.dtype}, "
          f"input {input_bytes / 2**20:.0f} MiB (probabilities + int64 labels)\n")

    starts = np.r_[0, np.cumsum(lengths)]
    from cleanlab.rank import get_label_quality_scores as cl_token_scores

    token_scores = cl_token_scores(flat_labels, flat_probs)
    rows = []

    def compare(name, la_fn, cl_fn, equal):
        la_t, la_peak, la_out = run(la_fn, args.repeats)
        cl_t, cl_peak, cl_out = run(cl_fn, args.cleanlab_repeats)
        rows.append((name, cl_t, la_t, cl_peak, la_peak, str(equal(la_out, cl_out))))
        return la_out

    issues = compare("find_label_issues, nested",
                     lambda: la_find(nested_labels, nested_probs),
                     lambda: cl_find(nested_labels, nested_probs),
                     lambda a, b: issues_equal(a, b, token_scores, starts))
    la_t, la_peak, flat_issues = run(
        lambda: la_find(flat_labels, flat_probs, sentence_lengths=lengths), args.repeats)
    rows.append(("find_label_issues, flat (labelaudit only)", None, la_t, None, la_peak,
                 str(flat_issues == issues)))
    for method in ("min", "softmin"):
        compare(f"get_label_quality_scores {method}, nested",
                lambda m=method: la_scores(nested_labels, nested_probs, sentence_score_method=m),
                lambda m=method: cl_scores(nested_labels, nested_probs, sentence_score_method=m),
                scores_equal)
    la_t, la_peak, _ = run(
        lambda: la_flat_scores(flat_labels, flat_probs, sentence_lengths=lengths), args.repeats)
    rows.append(("get_sentence_scores min, flat (labelaudit only)", None, la_t, None, la_peak,
                 None))

    print("| call | cleanlab s | labelaudit s | speed-up | cleanlab peak / input | "
          "labelaudit peak / input | labelaudit peak less result / input | equal |")
    print("|---|---|---|---|---|---|---|---|")
    for name, cl_t, la_t, cl_peak, la_peak, same in rows:
        cl_s = "-" if cl_t is None else f"{cl_t:.2f}"
        ratio = "-" if cl_t is None else f"{cl_t / la_t:.1f}x"
        cl_m = "-" if cl_peak is None else f"{cl_peak[0] / input_bytes:.0%}"
        eq = "-" if same is None else same
        print(f"| {name} | {cl_s} | {la_t:.2f} | {ratio} | {cl_m} | "
              f"{la_peak[0] / input_bytes:.1%} | {(la_peak[0] - la_peak[1]) / input_bytes:.1%} "
              f"| {eq} |")
    print(f"\nlabelaudit medians of {args.repeats} runs, cleanlab of {args.cleanlab_repeats}.")


if __name__ == "__main__":
    main()
