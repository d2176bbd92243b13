"""What the model-only interval and the model checks add to ``labelaudit.audit()`` on large data.

Generates ``n x K`` float32 probabilities (softmax of Gaussian scores with the
true class raised) and labels with 10% uniform noise, then times, in one
process and on the same arrays:

- ``audit()`` as it runs (confident learning, the model-based interval and
  the model checks);
- ``audit()`` with the model step replaced by the row-bootstrap interval and
  no checks (what the audit cost before the model step existed);
- the model step's parts alone: ``model_noise_interval`` given the audit's
  estimate, and ``check_model`` given that interval.

Each timing is the best of ``--repeat`` runs (the host is shared).

Run::

    PYTHONPATH=src python benchmarks/bench_model_cost.py --rows 1000000 --classes 100
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np


def generate(n: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    z = rng.standard_normal((n, k), dtype=np.float32)
    z[np.arange(n), truth] += 4.0
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    labels = truth.copy()
    flip = rng.random(n) < 0.1
    labels[flip] = (truth[flip] + rng.integers(1, k, flip.sum())) % k
    return labels, z


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _without_model(codes, probs, noise, names, **_):
    """The audit's figures without the model step: the row bootstrap, no checks."""
    from labelaudit.model_checks import ModelNoiseInterval

    return ModelNoiseInterval(
        noise_rate=noise.noise_rate, ci_low=noise.ci_low, ci_high=noise.ci_high,
        confidence=noise.confidence, bootstrap_low=noise.ci_low, bootstrap_high=noise.ci_high,
        lower_bound=float("nan"), upper_bound=float("nan"), lower_bound_ci_low=float("nan"),
        upper_bound_ci_high=float("nan"), temperature=float("nan"),
    ), []


def main(argv=None) -> int:
    from labelaudit import audit, noise_rate_intervals
    from labelaudit.model_checks import check_model, model_noise_interval

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    labels, probs = generate(args.rows, args.classes)
    print(f"{args.rows:,} rows x {args.classes} classes, {probs.dtype}, best of {args.repeat}\n")
    with_model = _best(lambda: audit(labels, probs, seed=0), args.repeat)
    with mock.patch("labelaudit.audit._model_figures", _without_model):
        without = _best(lambda: audit(labels, probs, seed=0), args.repeat)
    noise = noise_rate_intervals(labels, probs, seed=0)
    interval = model_noise_interval(labels, probs, noise=noise)
    t_interval = _best(lambda: model_noise_interval(labels, probs, noise=noise), args.repeat)
    t_checks = _best(lambda: check_model(labels, probs, interval=interval), args.repeat)
    print("| step | seconds |\n|---|---:|")
    print(f"| audit() without the model step | {without:.2f} |")
    print(f"| audit() with the model step | {with_model:.2f} |")
    print(f"| model_noise_interval(noise=...) alone | {t_interval:.2f} |")
    print(f"| check_model(interval=...) alone | {t_checks:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
