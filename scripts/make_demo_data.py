"""Generate the demo dataset shipped with labelaudit (``src/labelaudit/data/``).

The images are scikit-learn's bundled handwritten digits (1797 real 8x8
images, 10 classes). Their labels are re-annotated by eight simulated
annotators of differing skill, so the label noise in the demo comes from
annotators, as it does in practice:

- each item is labeled by 3 of the 8 annotators; the item's given ``label``
  is the earliest of its three annotations;
- accuracies range from about 0.98 down to about 0.6;
- ``ann-05`` systematically reads a '3' as an '8';
- ``ann-06`` starts careful and drifts worse over the four weeks;
- items come from three sources; ``phone`` captures are noisier images
  (mild pixel noise is added) and every annotator errs on them more often;
- a wrong label is drawn among the classes whose mean image is closest to the
  item, so mistakes are plausible confusions rather than uniform noise.

The output is deterministic for a given seed. Regenerate the shipped files
from the repository root with the package importable (installed, or with
``src`` on ``PYTHONPATH``)::

    PYTHONPATH=src python scripts/make_demo_data.py            # writes src/labelaudit/data/
    PYTHONPATH=src python scripts/make_demo_data.py --out DIR  # writes elsewhere

Files written: ``demo_items.parquet`` (what an auditor sees: id, given label,
annotator, source, the image as ``pixels`` and as ``px_00``..``px_63``),
``demo_annotations.parquet`` (item_id, annotator, label, timestamp) and
``demo_truth.parquet`` (id, true_label; for evaluation and tests only).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
from sklearn.datasets import load_digits

from labelaudit.io import write_parquet

SEED = 20240304
N_PER_ITEM = 3
SOURCES = ("scanner-a", "scanner-b", "phone")
SOURCE_SHARE = (0.45, 0.35, 0.20)
# How much more often every annotator errs on an item from each source.
SOURCE_ERROR_FACTOR = {"scanner-a": 0.6, "scanner-b": 0.85, "phone": 2.4}
PHONE_PIXEL_NOISE = 1.5  # standard deviation, on the 0..16 intensity scale
START = np.datetime64("2024-03-04T08:00:00", "us")
CAMPAIGN_DAYS = 28
CONFUSED = ("3", "8")  # ann-05 reads true '3' as '8'
CONFUSION_RATE = 0.7
DRIFT_ERROR = (0.02, 0.36)  # ann-06: error rate at the start and at the end


class Annotator(NamedTuple):
    """A simulated annotator: base error rate and share of the workload."""

    name: str
    error: float
    workload: float


ANNOTATORS = (
    Annotator("ann-01", 0.02, 0.18),
    Annotator("ann-02", 0.035, 0.17),
    Annotator("ann-03", 0.05, 0.15),
    Annotator("ann-04", 0.08, 0.13),
    Annotator("ann-05", 0.05, 0.11),  # plus the systematic 3 -> 8 confusion
    Annotator("ann-06", 0.0, 0.11),  # error drifts from DRIFT_ERROR[0] to DRIFT_ERROR[1]
    Annotator("ann-07", 0.17, 0.08),
    Annotator("ann-08", 0.38, 0.07),
)


def confusion_weights(pixels: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """Probability of each wrong class for each item, from distances to class means.

    Returns an (n_items, n_classes) row-stochastic matrix with zeros on the true class.
    """
    centroids = np.stack([pixels[truth == k].mean(axis=0) for k in range(n_classes)])
    sq_dist = ((pixels[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    sq_dist[np.arange(len(truth)), truth] = np.inf
    scale = np.median(sq_dist[np.isfinite(sq_dist)]) / 6.0
    logits = -(sq_dist - sq_dist.min(axis=1, keepdims=True)) / scale
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def simulate_images(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits images (uint8, 0..16), true classes, and the source of each item."""
    digits = load_digits()
    pixels = digits.data.astype(np.float64)
    truth = digits.target.astype(np.int64)
    source = rng.choice(len(SOURCES), size=len(truth), p=SOURCE_SHARE)
    phone = source == SOURCES.index("phone")
    pixels[phone] += rng.normal(0.0, PHONE_PIXEL_NOISE, size=pixels[phone].shape)
    pixels = np.clip(np.rint(pixels), 0, 16).astype(np.uint8)
    return pixels, truth, source


def assign_annotators(rng: np.random.Generator, n_items: int) -> np.ndarray:
    """For each item, 3 distinct annotator indices in the order they labeled it."""
    workload = np.array([a.workload for a in ANNOTATORS])
    workload = workload / workload.sum()
    return np.stack(
        [
            rng.choice(len(ANNOTATORS), size=N_PER_ITEM, replace=False, p=workload)
            for _ in range(n_items)
        ]
    )


def schedule(rng: np.random.Generator, n_items: int) -> np.ndarray:
    """Timestamp (datetime64[us]) of each of the 3 annotations of each item."""
    campaign_us = CAMPAIGN_DAYS * 24 * 3600 * 10**6
    item_start = np.sort(rng.integers(0, campaign_us, size=n_items))[rng.permutation(n_items)]
    gaps_min = rng.integers(2, 6 * 60, size=(n_items, N_PER_ITEM))
    offsets_us = np.cumsum(gaps_min, axis=1) * 60 * 10**6
    return START + (item_start[:, None] + offsets_us).astype("timedelta64[us]")


def error_rates(who: np.ndarray, when: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Probability that each annotation is wrong (before the systematic confusion)."""
    base = np.array([a.error for a in ANNOTATORS])[who]
    drift = who == [a.name for a in ANNOTATORS].index("ann-06")
    progress = (when - START) / np.timedelta64(CAMPAIGN_DAYS, "D")
    base = np.where(drift, DRIFT_ERROR[0] + (DRIFT_ERROR[1] - DRIFT_ERROR[0]) * progress, base)
    factor = np.array([SOURCE_ERROR_FACTOR[s] for s in SOURCES])[source][:, None]
    return np.clip(base * factor, 0.0, 0.9)


def annotate(
    rng: np.random.Generator,
    who: np.ndarray,
    when: np.ndarray,
    source: np.ndarray,
    truth: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """Simulated label (class index) of every annotation, shape (n_items, 3)."""
    n_items, n_classes = weights.shape
    wrong = rng.random(who.shape) < error_rates(who, when, source)
    cumulative = np.cumsum(weights, axis=1)
    draws = rng.random(who.shape)
    wrong_class = np.stack(
        [(draws[:, j, None] > cumulative).sum(axis=1) for j in range(who.shape[1])], axis=1
    )
    wrong_class = np.minimum(wrong_class, n_classes - 1)
    # Guard against float round-off at the top of the cumulative sum landing on the truth.
    nearest = np.argmax(weights, axis=1)[:, None]
    wrong_class = np.where(wrong_class == truth[:, None], nearest, wrong_class)
    labels = np.where(wrong, wrong_class, truth[:, None])
    confuser = who == [a.name for a in ANNOTATORS].index("ann-05")
    src, dst = (int(c) for c in CONFUSED)
    swap = confuser & (truth[:, None] == src) & (rng.random(who.shape) < CONFUSION_RATE)
    return np.where(swap, dst, labels)


def build_frames(seed: int = SEED) -> dict[str, pl.DataFrame]:
    """Simulate the demo dataset.

    Parameters
    ----------
    seed : int
        Seed of the random generator; the same seed gives the same frames.

    Returns
    -------
    dict of str to polars.DataFrame
        ``"items"``, ``"annotations"`` and ``"truth"``.
    """
    rng = np.random.default_rng(seed)
    pixels, truth, source = simulate_images(rng)
    n_items = len(truth)
    weights = confusion_weights(pixels.astype(np.float64), truth, 10)
    who = assign_annotators(rng, n_items)
    when = schedule(rng, n_items)
    labels = annotate(rng, who, when, source, truth, weights)
    ids = [f"digit-{i + 1:04d}" for i in range(n_items)]
    names = np.array([a.name for a in ANNOTATORS])
    items = pl.DataFrame(
        {
            "id": ids,
            "label": labels[:, 0].astype(str),
            "annotator": names[who[:, 0]],
            "source": np.array(SOURCES)[source],
            "pixels": pixels,
        },
        schema_overrides={"pixels": pl.Array(pl.UInt8, 64)},
    ).with_columns(pl.col("pixels").arr.get(j).alias(f"px_{j:02d}") for j in range(64))
    annotations = pl.DataFrame(
        {
            "item_id": np.repeat(ids, N_PER_ITEM),
            "annotator": names[who.ravel()],
            "label": labels.ravel().astype(str),
            "timestamp": when.ravel(),
        }
    ).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
    truth_frame = pl.DataFrame({"id": ids, "true_label": truth.astype(str)})
    return {"items": items, "annotations": annotations, "truth": truth_frame}


def write_frames(frames: dict[str, pl.DataFrame], out_dir: Path) -> list[Path]:
    """Write ``demo_<name>.parquet`` for every frame; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in frames.items():
        path = out_dir / f"demo_{name}.parquet"
        write_parquet(path, frame)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    default_out = Path(__file__).resolve().parents[1] / "src" / "labelaudit" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out, help="output directory")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    for path in write_frames(build_frames(args.seed), args.out):
        print(path)


if __name__ == "__main__":
    main()
