"""Model-only noise interval and model checks (labelaudit.model_checks)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import cross_val_predict

import labelaudit
from labelaudit.model_checks import (
    ModelNoiseInterval,
    calibrate_temperature,
    check_model,
    model_noise_interval,
)

REALNOISE = Path(__file__).resolve().parents[2] / "shared" / "data" / "realnoise"


def _noisy(truth, rate, seed):
    rng = np.random.default_rng(seed)
    k = int(truth.max()) + 1
    labels = truth.copy()
    flip = rng.random(truth.shape[0]) < rate
    labels[flip] = (truth[flip] + rng.integers(1, k, flip.sum())) % k
    return labels


def _oof(x, labels):
    return cross_val_predict(LogisticRegression(max_iter=2000), x, labels, cv=5,
                             method="predict_proba")


@pytest.fixture(scope="module")
def strong():
    """Separated blobs, 10% uniform noise, out-of-fold logistic probabilities."""
    x, truth = make_blobs(1500, n_features=6, centers=4, cluster_std=1.0, random_state=5)
    labels = _noisy(truth, 0.10, 1)
    return labels, truth, _oof(x, labels)


@pytest.fixture(scope="module")
def weak():
    """Three overlapping classes with 5% noise: the point estimate is several times the truth."""
    x, truth = make_classification(1500, n_features=8, n_informative=3, n_redundant=0,
                                   n_classes=3, n_clusters_per_class=1, class_sep=0.7,
                                   random_state=4)
    labels = _noisy(truth, 0.05, 2)
    return labels, truth, _oof(x, labels)


# ---------------------------------------------------------------------------
# model_noise_interval
# ---------------------------------------------------------------------------


def test_interval_keeps_the_point_and_the_row_bootstrap(strong):
    labels, _, probs = strong
    r = model_noise_interval(labels, probs, n_bootstrap=200, seed=3)
    old = labelaudit.noise_rate_intervals(labels, probs, n_bootstrap=200, seed=3)
    assert isinstance(r, ModelNoiseInterval)
    assert r.source == "model"
    assert r.noise_rate == old.noise_rate
    assert (r.bootstrap_low, r.bootstrap_high) == (old.ci_low, old.ci_high)
    assert r.ci_low <= min(old.ci_low, r.lower_bound_ci_low)
    assert r.ci_high >= max(old.ci_high, r.upper_bound_ci_high)
    assert r.lower_bound_ci_low <= r.lower_bound <= r.upper_bound <= r.upper_bound_ci_high
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.noise_rate = 0.0


def test_interval_is_deterministic_and_seeded(strong):
    labels, _, probs = strong
    a = model_noise_interval(labels, probs, n_bootstrap=100, seed=7)
    b = model_noise_interval(labels, probs, n_bootstrap=100, seed=7)
    c = model_noise_interval(labels, probs, n_bootstrap=100, seed=8)
    assert a == b
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)


def test_bounds_follow_their_definitions(strong):
    labels, _, probs = strong
    r = model_noise_interval(labels, probs, n_bootstrap=50)
    t, cal = calibrate_temperature(labels, probs)
    rows = np.arange(labels.shape[0])
    given = cal[rows, labels]
    other = cal.copy()
    other[rows, labels] = -1
    best = other.max(axis=1)
    assert r.lower_bound == pytest.approx(np.mean(np.maximum(2 * best - 1 - given, 0)))
    thresholds = labelaudit.get_confident_thresholds(labels, probs)
    unvouched = np.mean(probs[rows, labels] < thresholds[labels])
    assert r.upper_bound == pytest.approx(min(np.mean(1 - given), unvouched))
    assert r.temperature == t


def test_temperature_minimises_log_loss_on_the_given_labels(strong):
    labels, _, probs = strong
    soft = probs ** 0.4
    soft /= soft.sum(axis=1, keepdims=True)
    t, cal = calibrate_temperature(labels, soft)
    assert t > 1.5  # the softened probabilities are sharpened back
    best = log_loss(labels, cal)
    for other in (t * 0.9, t * 1.1):
        o = soft ** other
        o /= o.sum(axis=1, keepdims=True)
        assert log_loss(labels, o) > best


def test_interval_covers_where_the_old_one_misses(weak):
    labels, truth, probs = weak
    true_rate = np.mean(labels != truth)
    r = model_noise_interval(labels, probs, n_bootstrap=200)
    assert not (r.bootstrap_low <= true_rate <= r.bootstrap_high)
    assert r.noise_rate > 2 * true_rate
    assert r.ci_low <= true_rate <= r.ci_high


def test_interval_covers_and_stays_narrow_for_a_strong_model(strong):
    labels, truth, probs = strong
    true_rate = np.mean(labels != truth)
    r = model_noise_interval(labels, probs, n_bootstrap=200)
    assert r.ci_low <= true_rate <= r.ci_high
    assert r.width < 0.12


def test_several_models_give_their_spread(strong):
    labels, truth, probs = strong
    rng = np.random.default_rng(0)
    other = probs * rng.uniform(0.5, 1.5, probs.shape)
    other /= other.sum(axis=1, keepdims=True)
    r = model_noise_interval(labels, probs, extra_pred_probs=[other], n_bootstrap=100)
    alone = model_noise_interval(labels, other, n_bootstrap=100, seed=1)
    assert r.n_models == 2
    assert r.model_rates == (
        labelaudit.noise_rate_intervals(labels, probs, n_bootstrap=10).noise_rate,
        labelaudit.noise_rate_intervals(labels, other, n_bootstrap=10).noise_rate,
    )
    assert r.model_intervals[1] == (alone.ci_low, alone.ci_high)
    assert r.spread_low == min(r.model_rates) and r.spread_high == max(r.model_rates)
    assert r.ci_low == min(lo for lo, _ in r.model_intervals)
    assert r.ci_high == max(hi for _, hi in r.model_intervals)
    single = model_noise_interval(labels, probs, n_bootstrap=100)
    assert r.noise_rate == single.noise_rate
    assert r.ci_low <= single.ci_low and r.ci_high >= single.ci_high


def test_a_given_estimate_is_reused_not_recomputed(strong):
    labels, _, probs = strong
    est = labelaudit.noise_rate_intervals(labels, probs, n_bootstrap=150, seed=2)
    assert model_noise_interval(labels, probs, n_bootstrap=150, seed=2, noise=est) == \
        model_noise_interval(labels, probs, n_bootstrap=150, seed=2)
    # the estimate given is the one used (its interval is the bootstrap part)
    other = dataclasses.replace(est, ci_low=0.0, ci_high=0.99)
    r = model_noise_interval(labels, probs, n_bootstrap=150, seed=2, noise=other)
    assert (r.bootstrap_low, r.bootstrap_high, r.ci_low, r.ci_high) == (0.0, 0.99, 0.0, 0.99)


@pytest.fixture(scope="module")
def large():
    """150,000 rows x 12 classes: every bounded-cost path (subsampled fit, normal intervals)."""
    rng = np.random.default_rng(9)
    n, k = 150_000, 12
    truth = rng.integers(0, k, n)
    z = rng.standard_normal((n, k)) * 1.5
    z[np.arange(n), truth] += 3.0
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = _noisy(truth, 0.1, 4)
    return labels, truth, probs.astype(np.float32)


def test_temperature_on_a_subsample_matches_the_full_fit(large):
    from scipy.optimize import minimize_scalar

    labels, _, probs = large
    t, _ = calibrate_temperature(labels, probs)
    log_p = np.log(np.clip(probs.astype(np.float64), 1e-12, None))
    rows = np.arange(labels.shape[0])

    def loss(u):
        z = log_p * np.exp(u)
        z -= z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[rows, labels]))

    full = float(np.exp(minimize_scalar(loss, bounds=(-4, 4), method="bounded",
                                        options={"xatol": 1e-6}).x))
    assert t == pytest.approx(full, rel=0.02)
    assert calibrate_temperature(labels, probs, seed=0)[0] == t  # deterministic


def test_large_data_intervals_agree_with_a_full_bootstrap(large):
    labels, truth, probs = large
    r = model_noise_interval(labels, probs, n_bootstrap=200, seed=1)
    assert r == model_noise_interval(labels, probs, n_bootstrap=200, seed=1)
    assert r.ci_low <= np.mean(labels != truth) <= r.ci_high
    # the normal interval of the lower bound against a bootstrap of every row
    from labelaudit.model_checks import _fit_temperature, _row_terms

    est = labelaudit.noise_rate_intervals(labels, probs, n_bootstrap=10)
    lower, _, _ = _row_terms(labels, probs, _fit_temperature(labels, probs, 1),
                             est.confident_joint.thresholds)
    assert lower.mean() == pytest.approx(r.lower_bound)
    rng = np.random.default_rng(0)
    reps = [lower[rng.integers(0, lower.shape[0], lower.shape[0])].mean() for _ in range(200)]
    boot_low = np.quantile(reps, 0.025)
    half = r.lower_bound - boot_low
    assert r.lower_bound - r.lower_bound_ci_low == pytest.approx(half, rel=0.25)
    assert check_model(labels, probs) == check_model(labels, probs, interval=r, seed=1)


def test_extra_model_of_the_wrong_shape_is_refused(strong):
    labels, _, probs = strong
    with pytest.raises(labelaudit.LabelAuditError, match=r"extra_pred_probs\[0\]"):
        model_noise_interval(labels, probs, extra_pred_probs=[probs[:, :3]], n_bootstrap=10)


def test_bad_input_is_refused_like_the_core_functions(strong):
    labels, _, probs = strong
    with pytest.raises(labelaudit.LabelAuditError, match="labels"):
        model_noise_interval(labels[:-1], probs, n_bootstrap=10)
    with pytest.raises(labelaudit.LabelAuditError, match="confidence"):
        model_noise_interval(labels, probs, confidence=1.5)


# ---------------------------------------------------------------------------
# check_model
# ---------------------------------------------------------------------------


def test_checks_are_silent_on_a_good_model(strong, weak):
    labels, _, probs = strong
    assert check_model(labels, probs) == []
    labels, _, probs = weak
    assert check_model(labels, probs) == []


def test_random_probabilities_are_called_uninformative(strong):
    labels, _, _ = strong
    rng = np.random.default_rng(0)
    random_probs = rng.dirichlet(np.ones(4), labels.shape[0])
    findings = check_model(labels, random_probs)
    assert [f.code for f in findings] == ["uninformative"]
    f = findings[0]
    assert f.severity == "error"
    assert "no information" in f.message
    # the random probabilities do not predict the labels better than the prior does
    prior = np.bincount(labels) / labels.shape[0]
    assert log_loss(labels, random_probs) > log_loss(labels, np.tile(prior, (labels.shape[0], 1)))


def test_permuted_columns_are_found_and_named(strong):
    labels, _, probs = strong
    order = [1, 2, 3, 0]
    findings = check_model(labels, probs[:, order], class_names=["ant", "bee", "cow", "dog"])
    assert [f.code for f in findings] == ["permuted_columns"]
    f = findings[0]
    # label c is now predicted by the column that holds its old probabilities
    assert f.figures["best_column_for_label"] == [int(np.argsort(order)[c]) for c in range(4)]
    assert "'ant' -> column 'dog'" in f.message
    assert f.figures["agreement_best"] > f.figures["agreement_as_given"] + 0.5


def test_permuted_random_probabilities_stay_uninformative(strong):
    labels, _, _ = strong
    rng = np.random.default_rng(1)
    findings = check_model(labels, rng.dirichlet(np.ones(4), labels.shape[0])[:, [3, 2, 1, 0]])
    assert [f.code for f in findings] == ["uninformative"]


def test_inseparable_classes_are_named(strong):
    labels, _, probs = strong
    # the model gives classes 0 and 1 the same probability: it cannot tell them apart
    blurred = probs.copy()
    both = blurred[:, 0] + blurred[:, 1]
    blurred[:, 0] = blurred[:, 1] = both / 2
    findings = check_model(labels, blurred, class_names=["ant", "bee", "cow", "dog"])
    codes = [f.code for f in findings]
    assert "inseparable_classes" in codes
    f = findings[codes.index("inseparable_classes")]
    assert [p["classes"] for p in f.figures["pairs"]] == [["ant", "bee"]]
    assert "'ant' vs 'bee'" in f.message
    # oracle: sklearn's AUC of p_0 - p_1 between rows labelled 0 and 1
    mask = labels < 2
    auc = roc_auc_score(labels[mask] == 0, blurred[mask, 0] - blurred[mask, 1])
    assert f.figures["pairs"][0]["auc"] == pytest.approx(auc)


def test_underconfident_probabilities_are_flagged(strong):
    labels, _, probs = strong
    soft = probs ** 0.15
    soft /= soft.sum(axis=1, keepdims=True)
    findings = check_model(labels, soft)
    assert [f.code for f in findings] == ["underconfident"]
    assert findings[0].figures["gap"] < -0.15


def test_overconfident_probabilities_are_flagged():
    # a weak model (top class right about 60% of the time) whose probabilities claim ~97%
    x, truth = make_classification(1500, n_features=8, n_informative=3, n_redundant=0,
                                   n_classes=3, n_clusters_per_class=1, class_sep=0.4,
                                   random_state=6)
    labels = _noisy(truth, 0.05, 3)
    probs = _oof(x, labels)
    assert check_model(labels, probs) == []
    sharp = probs ** 8
    sharp /= sharp.sum(axis=1, keepdims=True)
    findings = check_model(labels, sharp)
    assert [f.code for f in findings] == ["overconfident"]
    fig = findings[0].figures
    assert fig["gap"] > 0.15 + fig["noise_credit"]


def test_class_names_must_match_the_columns(strong):
    labels, _, probs = strong
    with pytest.raises(labelaudit.LabelAuditError, match="class_names"):
        check_model(labels, probs, class_names=["a", "b"])


# ---------------------------------------------------------------------------
# Real human label noise (CIFAR-10N out-of-fold probabilities)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["cifar10n_aggre", "cifar10n_worst"])
@pytest.mark.parametrize("model", ["resnet18", "efficientnet_b1"])
def test_real_noise_is_covered_and_checks_are_silent(folder, model):
    lab = np.load(REALNOISE / folder / "labels.npz")
    labels = lab["given_labels"].astype(np.intp)
    true_rate = float(np.mean(labels != lab["true_labels"]))
    probs = np.load(REALNOISE / folder / f"{model}.npz")["pred_probs"]
    r = model_noise_interval(labels, probs, n_bootstrap=200)
    assert not (r.bootstrap_low <= true_rate <= r.bootstrap_high)  # the old interval misses
    assert r.ci_low <= true_rate <= r.ci_high
    assert check_model(labels, probs) == []
    # and the permuted or random versions of the same probabilities are caught
    assert [f.code for f in check_model(labels, probs[:, ::-1])] == ["permuted_columns"]
    rng = np.random.default_rng(0)
    noise = rng.dirichlet(np.ones(10), labels.shape[0])
    assert [f.code for f in check_model(labels, noise)] == ["uninformative"]


def test_inseparable_classes_are_found_on_large_data(large):
    labels, _, probs = large
    blurred = probs.copy()
    blurred[:, 0] = blurred[:, 1] = (probs[:, 0] + probs[:, 1]) / 2
    findings = check_model(labels, blurred)
    (f,) = [f for f in findings if f.code == "inseparable_classes"]
    assert [p["classes"] for p in f.figures["pairs"]] == [["0", "1"]]
    # the AUC comes from at most 2,000 rows of each class, within sampling error of all rows
    mask = labels < 2
    auc = roc_auc_score(labels[mask] == 0, blurred[mask, 0].astype(np.float64) - blurred[mask, 1])
    assert f.figures["pairs"][0]["auc"] == pytest.approx(auc, abs=0.03)


# --------------------------------------------------------------------------- streamed passes

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 400), cut=st.lists(st.integers(1, 60), min_size=1, max_size=12),
       seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1e-6, 1.0, 1e6]))
def test_streamed_moments_equal_numpy_on_the_whole_vector(n, cut, seed, scale):
    from labelaudit.model_checks import _Moments

    x = np.random.default_rng(seed).normal(loc=3.0 * scale, scale=scale, size=n)
    acc, start, i = _Moments(), 0, 0
    while start < n:  # chunks of the drawn sizes, cycled
        stop = min(n, start + cut[i % len(cut)])
        acc.add(x[start:stop])
        start, i = stop, i + 1
    assert acc.n == n
    assert acc.mean == pytest.approx(float(x.mean()), rel=1e-12, abs=1e-12 * scale)
    assert acc.std() == pytest.approx(float(x.std(ddof=1)), rel=1e-9)


@pytest.mark.parametrize("k", [2, 7, 130])
def test_streamed_lift_and_top_counts_equal_their_per_row_forms(k, monkeypatch):
    from labelaudit import model_checks as mc

    rng = np.random.default_rng(k)
    n = 5_000
    p = rng.dirichlet(np.ones(k), n).astype(np.float32)
    y = rng.integers(0, k, n)
    monkeypatch.setattr(mc, "_CHUNK_CELLS", 997)   # many uneven chunks
    counts, top_sum = mc._top_counts(y, p)
    top = p.argmax(axis=1)
    assert np.array_equal(counts, np.bincount(y * k + top, minlength=k * k).reshape(k, k))
    assert top_sum == pytest.approx(float(p[np.arange(n), top].astype(np.float64).sum()), rel=1e-12)
    assign = rng.permutation(k)
    d = p[np.arange(n), assign[y]].astype(np.float64) - (p.astype(np.float64).mean(axis=0))[assign][y]
    mean, se = mc._lift(y, p, assign)
    # column sums are float32 within blocks of 4,096 rows: agreement to float32 precision
    assert mean == pytest.approx(float(d.mean()), rel=1e-6, abs=1e-7)
    assert se == pytest.approx(float(d.std(ddof=1) / np.sqrt(n)), rel=1e-6)
    # the bounds' moments against the per-row vectors they replace
    thresholds = labelaudit.noise_rate_intervals(y, p, n_bootstrap=10).confident_joint.thresholds
    cols = mc._row_terms(y, p, 1.3, thresholds)
    for (m, s), col in zip(mc._row_term_moments(y, p, 1.3, thresholds), cols, strict=True):
        assert m == pytest.approx(float(col.mean()), rel=1e-12, abs=1e-15)
        assert s == pytest.approx(float(col.std(ddof=1)), rel=1e-9, abs=1e-15)
