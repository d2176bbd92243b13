"""Fixtures shared by several test modules."""

from __future__ import annotations

import shutil

import numpy as np
import polars as pl
import pytest

from labelaudit.annotators import review_annotators
from labelaudit.audit import audit
from labelaudit.datasets import load_demo
from labelaudit.slices import analyze_slices


@pytest.fixture(scope="session")
def demo_audit():
    """The shipped demo audited with every report section attached: ``(result, demo)``.

    Built once per test run: the report tests and the browser tests read the
    same (frozen) result.
    """
    demo = load_demo()
    items = demo.items
    features = items.select(pl.col(r"^px_\d+$")).to_numpy().astype("float64")
    result = audit(items.get_column("label"), features=features, ids=items.get_column("id"),
                   seed=0, n_bootstrap=100)
    issues = result.issues
    review = review_annotators(
        demo.annotations, item_col="item_id", annotator_col="annotator", label_col="label",
        time_col="timestamp", classes=list(result.class_names),
        item_ids=issues.get_column("id"),
        issue_mask=issues.get_column("is_issue").to_numpy(),
        label_quality=issues.get_column("label_quality").to_numpy(),
    )
    frame = issues.join(items.select("id", "source", "annotator"), on="id", how="left")
    slices = analyze_slices(frame, attributes=["source", "annotator"])
    return result.with_section("annotators", review).with_section("slices", slices), demo


def planted_noise(n: int, k: int, *, seed: int, rate=0.15, boost: float = 2.5,
                  flip: str = "uniform", dtype=np.float64):
    """Planted label noise with out-of-sample-like probabilities: ``(given, probs, truth)``.

    True classes are uniform; each row's logits are standard normal with
    ``boost`` added on the true class, so the model is right most of the time
    but not always. A row is flipped with probability ``rate`` (a number, or one
    per row), to a uniformly drawn other class (``flip="uniform"``) or to the
    next class (``flip="next"``, pair noise).
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    logits = rng.normal(0.0, 1.0, (n, k))
    logits[np.arange(n), truth] += boost
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    flipped = rng.random(n) < np.broadcast_to(np.asarray(rate, dtype=np.float64), (n,))
    step = rng.integers(1, k, n) if flip == "uniform" else np.ones(n, dtype=np.int64)
    given = np.where(flipped, (truth + step) % k, truth)
    return given.astype(np.intp), probs.astype(dtype), truth.astype(np.intp)


@pytest.fixture(scope="session")
def planted():
    """The one planted-noise generator of the suite (:func:`planted_noise`)."""
    return planted_noise


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's ``chromium``) for the report's browser tests.

    They fail, never skip, when Playwright or Chromium is missing: a report
    that was not looked at is not a passing report.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is required for the browser tests: pip install playwright",
                    pytrace=False)
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("headless Chromium is required for the browser tests "
                    "(install the Debian package: apt-get install chromium)", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()
