"""Tests for labelaudit.annotators: consensus, agreement, per-annotator review.

Agreement statistics are checked against their reference implementations
(statsmodels, scikit-learn, krippendorff) on generated data. Dawid-Skene is
checked against crowd-kit and a plain numpy EM, and on simulated crowds whose
annotator accuracies are known.

The Dawid-Skene and leave-one-out kernels live in the compiled core. When the
installed ``labelaudit._core`` lacks them, setting ``LABELAUDIT_DS_KERNELS``
to the name of an importable module that provides the ``ds_`` kernels uses that
module instead; without either, the kernel-dependent tests are skipped.
"""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
import os
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labelaudit import annotators
from labelaudit.annotators import consensus as consensus_module
from labelaudit.exceptions import InputError, LabelAuditError


def _find_kernels():
    try:
        from labelaudit import _core
    except ImportError:
        _core = None
    if _core is not None and all(hasattr(_core, n) for n in consensus_module._KERNEL_NAMES):
        return _core
    name = os.environ.get("LABELAUDIT_DS_KERNELS")
    if name:
        return importlib.import_module(name)
    return None


KERNELS = _find_kernels()
needs_kernels = pytest.mark.skipif(KERNELS is None, reason="compiled ds_ kernels not available")


@pytest.fixture(autouse=True, scope="module")
def _use_kernels():
    with pytest.MonkeyPatch.context() as mp:
        if KERNELS is not None:
            mp.setattr(consensus_module, "_kernels", lambda: KERNELS)
        yield


# ---------------------------------------------------------------------------
# Data generators
# ---------------------------------------------------------------------------


def random_long(rng, n_items, n_annotators, n_classes, p_label=0.6, p_agree=0.0, min_per_item=0):
    """Random long table; each annotator labels each item with probability p_label."""
    truth = rng.integers(0, n_classes, n_items)
    rows = []
    for i in range(n_items):
        who = np.flatnonzero(rng.random(n_annotators) < p_label)
        if who.size < min_per_item:
            who = rng.choice(n_annotators, min(min_per_item, n_annotators), replace=False)
        for a in who:
            lab = truth[i] if rng.random() < p_agree else rng.integers(0, n_classes)
            rows.append((i, int(a), int(lab)))
    return pl.DataFrame(rows, schema={"item": pl.Int64, "worker": pl.Int64, "label": pl.Int64},
                        orient="row")


def simulate_crowd(rng, n_items, accuracies, n_classes, per_item):
    """Crowd with known truth: annotator j is right with probability accuracies[j]."""
    accuracies = np.asarray(accuracies)
    truth = rng.integers(0, n_classes, n_items)
    rows = []
    for i in range(n_items):
        for a in rng.choice(accuracies.size, per_item, replace=False):
            if rng.random() < accuracies[a]:
                lab = truth[i]
            else:
                lab = (truth[i] + rng.integers(1, n_classes)) % n_classes
            rows.append((f"item{i:05d}", f"ann{a:03d}", int(lab)))
    frame = pl.DataFrame(rows, schema=["item", "worker", "label"], orient="row")
    return frame, truth


def encode(frame, **kw):
    return annotators.encode_annotations(frame, item_col="item", annotator_col="worker",
                                         label_col="label", **kw)


def nan_equal(a, b, tol=1e-9):
    if np.isnan(a) or np.isnan(b):
        return np.isnan(a) and np.isnan(b)
    return abs(a - b) <= tol


HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# Encoding and validation
# ---------------------------------------------------------------------------


def test_encode_raw_labels_and_ids():
    frame = pl.DataFrame({"item": ["b", "a", "b", "c"], "worker": ["x", "y", "y", "x"],
                          "label": ["dog", "cat", "dog", "cow"]})
    enc = encode(frame)
    assert enc.classes == ("cat", "cow", "dog")
    assert enc.item_ids.to_list() == ["a", "b", "c"]
    assert enc.annotator_ids.to_list() == ["x", "y"]
    np.testing.assert_array_equal(enc.item, [1, 0, 1, 2])
    np.testing.assert_array_equal(enc.label, [2, 0, 2, 1])
    np.testing.assert_array_equal(annotators.label_counts(enc), [[1, 0, 0], [0, 0, 2], [0, 1, 0]])


def test_encode_class_names_and_codes():
    frame = pl.DataFrame({"item": [1, 2], "worker": [1, 1], "label": ["dog", "cat"]})
    enc = encode(frame, classes=["cat", "dog"])
    np.testing.assert_array_equal(enc.label, [1, 0])
    coded = pl.DataFrame({"item": [1, 2], "worker": [1, 1], "label": [1, 0]})
    np.testing.assert_array_equal(encode(coded, classes=["cat", "dog"]).label, [1, 0])


def test_encode_item_ids_order_and_unannotated_items():
    frame = pl.DataFrame({"item": ["b", "a"], "worker": [1, 1], "label": [0, 1]})
    enc = encode(frame, item_ids=["z", "b", "a"])
    assert enc.n_items == 3
    np.testing.assert_array_equal(enc.item, [1, 2])


@pytest.mark.parametrize(
    ("frame", "kw", "match"),
    [
        (pl.DataFrame({"item": [1], "worker": [1]}), {}, r"column 'label' \(label_col\) not found"),
        (pl.DataFrame({"item": [1, None], "worker": [1, 2], "label": [0, 1]}), {},
         r"column 'item' must not contain nulls; row 1"),
        (pl.DataFrame({"item": [1, 1], "worker": [7, 7], "label": [0, 1]}), {},
         r"annotator 7 labels item 1 more than once \(row 1\)"),
        (pl.DataFrame({"item": [1, 5], "worker": [1, 2], "label": [0, 1]}), {"item_ids": [1, 2]},
         r"item 5 in column 'item' \(row 1\) is not in item_ids"),
        (pl.DataFrame({"item": [1, 2], "worker": [1, 2], "label": [0, 3]}), {"classes": ["a", "b"]},
         r"class codes in \[0, 1\] when classes is given; row 1 has 3"),
        (pl.DataFrame({"item": [1, 2], "worker": [1, 2], "label": ["a", "q"]}), {"classes": ["a", "b"]},
         r"label 'q' .* is not one of classes"),
        (pl.DataFrame({"item": [1], "worker": [1], "label": [0]}).clear(), {}, "no rows"),
        (pl.DataFrame({"item": [1, 2], "worker": [1, 2], "label": [0, 1]}), {"item_ids": [1, 1, 2]},
         "item_ids must be unique"),
    ],
)
def test_encode_errors(frame, kw, match):
    with pytest.raises(InputError, match=match):
        encode(frame, **kw)


def test_encode_rejects_non_temporal_time():
    frame = pl.DataFrame({"item": [1], "worker": [1], "label": [0], "t": ["x"]})
    with pytest.raises(InputError, match="must be Date or Datetime; got String"):
        encode(frame, time_col="t")


# ---------------------------------------------------------------------------
# Agreement oracles
# ---------------------------------------------------------------------------


@HYP
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(1, 40), k=st.integers(1, 5),
       m=st.integers(2, 6), p_agree=st.sampled_from([0.0, 0.5, 1.0]))
@example(seed=0, n_items=5, k=1, m=3, p_agree=0.0)      # single category
@example(seed=1, n_items=8, k=4, m=4, p_agree=1.0)      # perfect agreement
def test_fleiss_kappa_matches_statsmodels(seed, n_items, k, m, p_agree):
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    frame = random_long(np.random.default_rng(seed), n_items, m, k, p_label=1.0, p_agree=p_agree)
    counts = annotators.label_counts(encode(frame, classes=list(range(k))))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        expected = sm_fleiss(counts, method="fleiss")
    assert nan_equal(annotators.fleiss_kappa(counts), expected)


@HYP
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(2, 40), k=st.integers(2, 4))
def test_fleiss_kappa_unequal_raters_uses_modal_count(seed, n_items, k):
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    rng = np.random.default_rng(seed)
    raters = rng.integers(1, 5, n_items)
    counts = np.stack([np.bincount(rng.integers(0, k, r), minlength=k) for r in raters])
    n = counts.sum(axis=1)
    multi = n[n >= 2]
    if multi.size == 0:
        assert np.isnan(annotators.fleiss_kappa(counts))
        return
    values, freq = np.unique(multi, return_counts=True)
    modal = values[freq == freq.max()].max()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        expected = sm_fleiss(counts[n == modal], method="fleiss")
    assert nan_equal(annotators.fleiss_kappa(counts), expected)


@HYP
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(1, 30), n_ann=st.integers(2, 5),
       k=st.integers(1, 4), p_agree=st.sampled_from([0.0, 0.6, 1.0]),
       min_overlap=st.integers(1, 4))
@example(seed=3, n_items=6, n_ann=3, k=1, p_agree=0.0, min_overlap=1)   # degenerate kappa
def test_cohen_kappa_matches_sklearn(seed, n_items, n_ann, k, p_agree, min_overlap):
    from sklearn.metrics import cohen_kappa_score

    frame = random_long(np.random.default_rng(seed), n_items, n_ann, k, p_agree=p_agree)
    if frame.height == 0:
        return
    enc = encode(frame)
    got = annotators.pairwise_agreement(enc, min_overlap=min_overlap)
    by_ann = {a: dict(zip(g["item"], g["label"], strict=True))
              for (a,), g in frame.partition_by("worker", as_dict=True).items()}
    expected = {}
    for a, b in itertools.combinations(sorted(by_ann), 2):
        shared = sorted(set(by_ann[a]) & set(by_ann[b]))
        if len(shared) < min_overlap:
            continue
        y1 = [by_ann[a][i] for i in shared]
        y2 = [by_ann[b][i] for i in shared]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kappa = cohen_kappa_score(y1, y2)
        agree = float(np.mean(np.equal(y1, y2)))
        expected[(a, b)] = (len(shared), agree, kappa)
    rows = {(r["worker_a"], r["worker_b"]): (r["n_shared"], r["percent_agreement"], r["cohen_kappa"])
            for r in got.iter_rows(named=True)}
    assert set(rows) == set(expected)
    for key, (n, agree, kappa) in expected.items():
        assert rows[key][0] == n
        assert abs(rows[key][1] - agree) < 1e-12
        assert nan_equal(rows[key][2], kappa)


@HYP
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(1, 30), n_ann=st.integers(2, 6),
       k=st.integers(1, 5), p_label=st.sampled_from([0.3, 0.7, 1.0]),
       p_agree=st.sampled_from([0.0, 0.7, 1.0]))
@example(seed=0, n_items=4, n_ann=3, k=1, p_label=1.0, p_agree=0.0)   # one value only
@example(seed=2, n_items=10, n_ann=4, k=3, p_label=1.0, p_agree=1.0)  # perfect agreement
def test_krippendorff_alpha_matches_package(seed, n_items, n_ann, k, p_label, p_agree):
    import krippendorff

    frame = random_long(np.random.default_rng(seed), n_items, n_ann, k, p_label=p_label,
                        p_agree=p_agree)
    if frame.height == 0:
        return
    enc = encode(frame, classes=list(range(k)), item_ids=list(range(n_items)))
    wide = np.full((n_ann, n_items), np.nan)
    wide[frame["worker"].to_numpy(), frame["item"].to_numpy()] = frame["label"].to_numpy()
    ours = annotators.krippendorff_alpha_nominal(annotators.label_counts(enc))
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            expected = krippendorff.alpha(reliability_data=wide, level_of_measurement="nominal")
    except ValueError:
        # The package refuses a one-value domain or data without a pairable unit;
        # labelaudit reports NaN for the same undefined cases.
        assert np.isnan(ours)
        return
    assert nan_equal(ours, expected)


@HYP
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(1, 25), k=st.integers(1, 4))
def test_percent_agreement_brute_force(seed, n_items, k):
    rng = np.random.default_rng(seed)
    frame = random_long(rng, n_items, 5, k, p_label=0.5)
    if frame.height == 0:
        return
    enc = encode(frame)
    shares = []
    for (_,), g in frame.partition_by("item", as_dict=True).items():
        labs = g["label"].to_list()
        pairs = list(itertools.combinations(labs, 2))
        if pairs:
            shares.append(np.mean([a == b for a, b in pairs]))
    got = annotators.percent_agreement(annotators.label_counts(enc))
    assert nan_equal(got, float(np.mean(shares)) if shares else float("nan"), 1e-12)


@HYP
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(1, 25), n_ann=st.integers(1, 6),
       k=st.integers(1, 4), p_label=st.floats(0.2, 1.0))
def test_agreement_summary_equals_the_separate_statistics(seed, n_items, n_ann, k, p_label):
    # The summary computes its figures from per-item totals shared between them; they must
    # be the same numbers, bit for bit, as the public functions on the count table, and
    # Fleiss' item count the number of items at the modal rater count.
    rng = np.random.default_rng(seed)
    frame = random_long(rng, n_items, n_ann, k, p_label=p_label)
    if frame.height == 0:
        return
    enc = encode(frame)
    counts = annotators.label_counts(enc)
    summary = annotators.agreement_summary(enc, min_overlap=1)
    n = counts.sum(axis=1)
    pairs = (n * (n - 1) / 2).sum()
    pooled = (counts * (counts - 1) / 2).sum() / pairs if pairs else float("nan")
    assert nan_equal(summary["percent_agreement"], annotators.percent_agreement(counts), 0)
    assert nan_equal(summary["fleiss_kappa"], annotators.fleiss_kappa(counts), 0)
    assert nan_equal(summary["krippendorff_alpha"],
                     annotators.krippendorff_alpha_nominal(counts), 0)
    assert nan_equal(summary["pairwise_agreement_pooled"], pooled, 0)
    m = summary["fleiss_n_raters"]
    assert summary["fleiss_n_items"] == (int((n == m).sum()) if m >= 2 else 0)
    if m >= 2:
        assert nan_equal(summary["fleiss_kappa"], annotators.fleiss_kappa(counts, n_raters=m), 0)


def test_agreement_summary_perfect_agreement():
    frame = random_long(np.random.default_rng(5), 30, 4, 3, p_label=1.0, p_agree=1.0)
    summary = annotators.agreement_summary(encode(frame), min_overlap=5)
    assert summary["percent_agreement"] == 1.0
    assert summary["pairwise_agreement_pooled"] == 1.0
    assert summary["fleiss_kappa"] == pytest.approx(1.0)
    assert summary["krippendorff_alpha"] == pytest.approx(1.0)
    assert summary["cohen_kappa_mean"] == pytest.approx(1.0)
    assert summary["fleiss_n_raters"] == 4 and summary["fleiss_n_items"] == 30
    assert summary["n_pairs"] == 6


def test_majority_vote_ties_and_tie_break():
    counts = np.array([[2, 2, 0], [0, 0, 0], [1, 3, 0], [0, 1, 1]])
    mv = annotators.majority_vote(counts)
    np.testing.assert_array_equal(mv.labels, [0, -1, 1, 1])
    np.testing.assert_array_equal(mv.tie, [True, False, False, True])
    np.testing.assert_allclose(mv.share, [0.5, np.nan, 0.75, 0.5])
    scores = np.array([[0.1, 0.9, 0.0], [1, 0, 0], [0.9, 0.1, 0], [0.0, 0.2, 0.8]])
    np.testing.assert_array_equal(annotators.majority_vote(counts, tie_break=scores).labels,
                                  [1, -1, 1, 2])


# ---------------------------------------------------------------------------
# Dawid-Skene
# ---------------------------------------------------------------------------


def numpy_dawid_skene(enc, max_iter, smoothing):
    """Plain numpy EM with the same initialisation and update order."""
    k, m = enc.n_classes, enc.n_annotators
    counts = annotators.label_counts(enc).astype(float)
    post = counts / counts.sum(axis=1, keepdims=True)

    def m_step(post):
        conf = np.full((m, k, k), float(smoothing))
        np.add.at(conf, (enc.annotator, slice(None), enc.label), post[enc.item])
        conf = np.maximum(conf, 1e-10)
        conf /= conf.sum(axis=2, keepdims=True)
        return conf, np.maximum(post.mean(axis=0), 1e-10)

    conf, prior = m_step(post)
    for _ in range(max_iter):
        logp = np.tile(np.log(prior), (enc.n_items, 1))
        np.add.at(logp, enc.item, np.log(conf[enc.annotator, :, enc.label]))
        logp -= logp.max(axis=1, keepdims=True)
        post = np.exp(logp)
        post /= post.sum(axis=1, keepdims=True)
        conf, prior = m_step(post)
    return post, conf, prior


@needs_kernels
@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_dawid_skene_matches_numpy_reference(smoothing):
    frame, _ = simulate_crowd(np.random.default_rng(1), 300, np.linspace(0.4, 0.9, 12), 4, 3)
    enc = encode(frame)
    res = annotators.dawid_skene(enc, max_iter=7, tol=0.0, smoothing=smoothing, n_jobs=1)
    post, conf, prior = numpy_dawid_skene(enc, 7, smoothing)
    assert res.n_iter == 7
    np.testing.assert_allclose(res.posterior, post, atol=1e-10)
    np.testing.assert_allclose(res.confusion, conf, atol=1e-10)
    np.testing.assert_allclose(res.priors, prior, atol=1e-12)
    np.testing.assert_allclose(res.annotator_accuracy,
                               np.einsum("jkk,k->j", res.confusion, res.priors))


@needs_kernels
def test_dawid_skene_matches_crowdkit():
    from crowdkit.aggregation import DawidSkene

    frame, _ = simulate_crowd(np.random.default_rng(2), 250, np.linspace(0.35, 0.95, 10), 3, 4)
    enc = encode(frame)
    res = annotators.dawid_skene(enc, max_iter=10, tol=0.0, smoothing=0.0)
    pdf = frame.rename({"item": "task"}).to_pandas()
    ck = DawidSkene(n_iter=10, tol=-np.inf).fit(pdf)
    probas = ck.probas_.loc[enc.item_ids.to_list(), [0, 1, 2]].to_numpy()
    # crowd-kit floors only observed (annotator, label) cells at 1e-10; the
    # difference is of that order.
    np.testing.assert_allclose(res.posterior, probas, atol=1e-8)
    np.testing.assert_array_equal(res.labels, ck.labels_.loc[enc.item_ids.to_list()].to_numpy())


#: crowd-kit's DawidSkene, option for option (its defaults: n_iter=100, tol=1e-5).
CROWDKIT_DS = dict(stopping="elbo", tol=1e-5, smoothing=0.0, support="given", max_iter=100)


@needs_kernels
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(3, 60), n_annotators=st.integers(2, 12),
       k=st.integers(2, 5), per_item=st.integers(1, 4), sparse=st.booleans())
@example(seed=0, n_items=400, n_annotators=100, k=10, per_item=3, sparse=True)  # many unseen answers
@example(seed=7, n_items=60, n_annotators=3, k=2, per_item=3, sparse=False)
@example(seed=2, n_items=3, n_annotators=3, k=2, per_item=2, sparse=False)  # one class used
def test_dawid_skene_crowdkit_rule_matches_crowdkit(seed, n_items, n_annotators, k, per_item,
                                                     sparse):
    """With crowd-kit's options the fit is crowd-kit's: same iterations, posteriors, labels."""
    from crowdkit.aggregation import DawidSkene

    rng = np.random.default_rng(seed)
    accuracies = rng.uniform(0.2 if sparse else 0.5, 0.95, n_annotators)
    frame, _ = simulate_crowd(rng, n_items, accuracies, k, min(per_item, n_annotators))
    enc = encode(frame)
    res = annotators.dawid_skene(enc, **CROWDKIT_DS, n_jobs=1)
    ck = DawidSkene().fit(frame.rename({"item": "task"}).to_pandas())
    assert res.n_iter == len(ck.loss_history_)
    np.testing.assert_allclose(res.history, ck.loss_history_, rtol=0, atol=1e-9)
    classes = [int(c) for c in enc.class_names]
    probas = ck.probas_.loc[enc.item_ids.to_list(), classes].to_numpy()
    # crowd-kit returns its posteriors floored at 1e-10 (not renormalised).
    np.testing.assert_allclose(res.posterior, probas, rtol=0, atol=1e-8)
    if res.posterior.shape[1] > 1:  # a tiny crowd may use a single class
        top2 = np.sort(res.posterior, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-6  # exact ties are broken by column order in both
    else:
        clear = np.ones(res.posterior.shape[0], dtype=bool)
    ck_labels = ck.labels_.loc[enc.item_ids.to_list()].to_numpy().astype(int)
    np.testing.assert_array_equal(np.asarray(classes)[res.labels][clear], ck_labels[clear])


def confused_crowd(rng, n_items, per_item, n_annotators, k):
    """Crowd whose errors lean to a per-annotator favourite class, with a few spammers."""
    truth = rng.integers(0, k, n_items)
    accuracy = rng.uniform(0.3, 0.95, n_annotators)
    spammer = rng.random(n_annotators) < 0.05
    favourite = (np.arange(k)[None, :] + rng.integers(1, k, (n_annotators, k))) % k
    worker = np.concatenate([rng.choice(n_annotators, per_item, replace=False)
                             for _ in range(n_items)])
    item = np.repeat(np.arange(n_items), per_item)
    true = truth[item]
    wrong = np.where(rng.random(item.size) < 0.5, favourite[worker, true],
                     (true + rng.integers(1, k, item.size)) % k)
    label = np.where(rng.random(item.size) < accuracy[worker], true, wrong)
    label = np.where(spammer[worker], rng.integers(0, k, item.size), label)
    return pl.DataFrame({"item": item, "worker": worker, "label": label}), truth


@needs_kernels
def test_dawid_skene_default_at_least_as_accurate_as_crowdkit():
    """Over crowds of several shapes the default gets at least crowd-kit's items right.

    Per shape it may trail by at most 1% of the items (single items flip between two
    near-equal fits), never more.
    """
    from crowdkit.aggregation import DawidSkene

    shapes = [(200, 5, 20, 10), (200, 5, 50, 3), (200, 3, 50, 5), (200, 3, 100, 10),
              (200, 5, 300, 10)]
    seeds = range(4)
    total = {"ours": 0, "crowdkit": 0}
    for shape in shapes:
        right = {"ours": 0, "crowdkit": 0}
        for seed in seeds:
            frame, truth = confused_crowd(np.random.default_rng(seed), *shape)
            enc = encode(frame)
            ids = enc.item_ids.to_numpy()
            classes = np.asarray(enc.class_names).astype(np.int64)
            res = annotators.dawid_skene(enc, n_jobs=1)
            right["ours"] += int((classes[res.labels] == truth[ids]).sum())
            ck = DawidSkene().fit_predict(frame.rename({"item": "task"}).to_pandas())
            right["crowdkit"] += int((ck.loc[ids].to_numpy().astype(np.int64) == truth[ids]).sum())
        assert right["ours"] >= right["crowdkit"] - 0.01 * shape[0] * len(seeds), (shape, right)
        for key in total:
            total[key] += right[key]
    assert total["ours"] >= total["crowdkit"], total


@needs_kernels
def test_dawid_skene_stopping_and_support_options():
    frame, _ = simulate_crowd(np.random.default_rng(6), 300, np.linspace(0.4, 0.9, 8), 4, 3)
    enc = encode(frame)
    elbo = annotators.dawid_skene(enc, stopping="elbo", tol=1e-5)
    # The ELBO rule stops at the first rise below tol (a fall included), not on |change|.
    steps = np.diff(elbo.history)
    assert elbo.converged and steps[-1] < 1e-5 and (steps[:-1] >= 1e-5).all()
    assert annotators.dawid_skene(enc).history == elbo.history  # the default rule
    loglik = annotators.dawid_skene(enc, stopping="loglik", tol=1e-5)
    assert loglik.n_iter != elbo.n_iter or loglik.history != elbo.history
    given = annotators.dawid_skene(enc, smoothing=0.0, support="given", max_iter=5, tol=0.0)
    answered = np.zeros((enc.n_annotators, enc.n_classes), dtype=bool)
    answered[enc.annotator, enc.label] = True
    # Answers an annotator never gave get probability 0 in every row; the rest sum to 1.
    assert (given.confusion.transpose(0, 2, 1)[~answered] == 0).all()
    np.testing.assert_allclose(given.confusion.sum(axis=2), 1.0)
    everywhere = annotators.dawid_skene(enc, smoothing=0.0, max_iter=5, tol=0.0)
    assert (everywhere.confusion > 0).all()
    with pytest.raises(LabelAuditError, match="stopping must be one of 'loglik', 'elbo'; got 'x'"):
        annotators.dawid_skene(enc, stopping="x")
    with pytest.raises(LabelAuditError, match="support must be one of 'all', 'given'; got 'x'"):
        annotators.dawid_skene(enc, support="x")


@needs_kernels
def test_dawid_skene_deterministic_across_threads(monkeypatch):
    # Pass the thread count straight to the kernels (a serial build ignores it).
    monkeypatch.setattr(consensus_module, "effective_n_threads", lambda n: n)
    frame, _ = simulate_crowd(np.random.default_rng(3), 400, np.linspace(0.3, 0.9, 9), 5, 4)
    enc = encode(frame)
    runs = [annotators.dawid_skene(enc, n_jobs=t) for t in (1, 2, 3, 1)]
    loos = [annotators.leave_one_out_consensus(enc, n_jobs=t) for t in (1, 3)]
    assert loos[0].equals(loos[1])
    for r in runs[1:]:
        np.testing.assert_array_equal(r.posterior, runs[0].posterior)
        np.testing.assert_array_equal(r.confusion, runs[0].confusion)
        assert r.history == runs[0].history


@needs_kernels
def test_dawid_skene_beats_majority_vote_when_skill_varies():
    rng = np.random.default_rng(4)
    accuracies = np.r_[np.full(4, 0.92), np.full(12, 0.4)]
    frame, truth = simulate_crowd(rng, 1500, accuracies, 3, 5)
    enc = encode(frame)
    mv = annotators.majority_vote(annotators.label_counts(enc))
    ds = annotators.dawid_skene(enc)
    mv_acc = float((mv.labels == truth).mean())
    ds_acc = float((ds.labels == truth).mean())
    assert ds.converged
    assert ds_acc > mv_acc + 0.03, (ds_acc, mv_acc)


@needs_kernels
def test_dawid_skene_converges_and_validates():
    frame, _ = simulate_crowd(np.random.default_rng(5), 200, [0.8] * 6, 3, 3)
    enc = encode(frame)
    res = annotators.dawid_skene(enc, stopping="loglik", tol=1e-8, smoothing=0.01)
    assert res.converged and res.n_iter < 100
    assert abs(res.history[-1] - res.history[-2]) < 1e-8
    default = annotators.dawid_skene(enc)
    assert default.converged and 0 <= default.history[-1] - default.history[-2] < 1e-5
    np.testing.assert_allclose(res.posterior.sum(axis=1), 1.0)
    np.testing.assert_allclose(res.confusion.sum(axis=2), 1.0)
    with pytest.raises(LabelAuditError, match="max_iter must be a positive integer; got 0"):
        annotators.dawid_skene(enc, max_iter=0)
    with pytest.raises(LabelAuditError, match="smoothing must be a finite number >= 0; got -1"):
        annotators.dawid_skene(enc, smoothing=-1)


# ---------------------------------------------------------------------------
# Per-annotator review
# ---------------------------------------------------------------------------


@needs_kernels
def test_leave_one_out_is_honest_constructed_case():
    # Annotator "x" always says 0 and its single peer on each item says 1.
    # Counting x's own vote would tie 1-1 and the lowest index (0) would make
    # x look perfect; without its vote the consensus is 1 and x is always wrong.
    items = [f"i{i}" for i in range(20)]
    frame = pl.DataFrame({
        "item": items + items,
        "worker": ["x"] * 20 + [f"p{i % 4}" for i in range(20)],
        "label": [0] * 20 + [1] * 20,
    })
    enc = encode(frame)
    loo = annotators.leave_one_out_consensus(enc)
    x_rows = loo.filter(pl.col("annotator") == enc.annotator_ids.to_list().index("x"))
    assert x_rows["graded"].all()
    assert not x_rows["correct"].any()
    assert (x_rows["loo_label"] == 1).all()
    # The non-LOO majority (with lowest-index tie-break) would have agreed with x.
    assert (annotators.majority_vote(annotators.label_counts(enc)).labels == 0).all()
    review = annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                          label_col="label", min_overlap=1)
    x = review.annotators.filter(pl.col("worker") == "x").row(0, named=True)
    assert x["n_graded"] == 20 and x["accuracy"] == 0.0


@needs_kernels
def test_leave_one_out_matches_brute_force():
    frame = random_long(np.random.default_rng(6), 60, 6, 3, p_label=0.5)
    enc = encode(frame)
    loo = annotators.leave_one_out_consensus(enc)
    labels = frame["label"].to_list()
    items = frame["item"].to_list()
    for a in range(frame.height):
        others = [labels[b] for b in range(frame.height) if items[b] == items[a] and b != a]
        row = loo.row(a, named=True)
        assert row["n_others"] == len(others)
        if not others:
            assert row["loo_label"] == -1 and not row["graded"]
            continue
        c = np.bincount(others, minlength=3)
        is_tie = (c == c.max()).sum() > 1
        assert row["loo_tie"] == is_tie
        assert row["graded"] == (not is_tie)
        assert row["loo_label"] == int(np.argmax(c))
        assert row["correct"] == ((not is_tie) and labels[a] == int(np.argmax(c)))


@needs_kernels
def test_accuracy_estimates_rank_annotators():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(7)
    accuracies = rng.uniform(0.3, 0.95, 20)
    frame, _ = simulate_crowd(rng, 1500, accuracies, 4, 5)
    review = annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                          label_col="label", min_overlap=5)
    table = review.annotators.sort("worker")
    assert spearmanr(accuracies, table["ds_accuracy"]).statistic >= 0.9
    assert spearmanr(accuracies, table["accuracy"]).statistic >= 0.9
    assert (table["accuracy_low"] <= table["accuracy"]).all()
    assert (table["accuracy"] <= table["accuracy_high"]).all()


@needs_kernels
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n_annotators=st.integers(2, 15), k=st.integers(2, 6),
       min_count=st.integers(0, 6))
def test_confusion_table_dense_counts_equal_grouped_counts(monkeypatch, seed, n_annotators, k,
                                                           min_count):
    """The dense count route of the confusion table gives the group-by route's table."""
    from labelaudit.annotators import review as review_module

    rng = np.random.default_rng(seed)
    frame, _ = simulate_crowd(rng, 120, rng.uniform(0.3, 0.95, n_annotators), k,
                              min(3, n_annotators))
    enc = encode(frame)
    loo = annotators.leave_one_out_consensus(enc)
    dense = review_module._confusion_table(enc, loo, min_count=min_count, top=3)
    with monkeypatch.context() as patch:
        patch.setattr(review_module, "_DENSE_CONFUSION_CELLS", 0)
        grouped = review_module._confusion_table(enc, loo, min_count=min_count, top=3)
    assert dense.equals(grouped)


@needs_kernels
def test_review_passes_the_dawid_skene_options():
    frame, _ = simulate_crowd(np.random.default_rng(3), 300, np.linspace(0.4, 0.9, 8), 4, 3)
    kw = dict(item_col="item", annotator_col="worker", label_col="label")
    enc = encode(frame)
    default = annotators.review_annotators(frame, **kw)
    assert default.params["ds_n_iter"] == annotators.dawid_skene(enc).n_iter
    loglik = annotators.review_annotators(frame, stopping="loglik", tol=1e-8, smoothing=0.5, **kw)
    fit = annotators.dawid_skene(enc, stopping="loglik", tol=1e-8, smoothing=0.5)
    assert loglik.params["stopping"] == "loglik"
    assert loglik.params["ds_n_iter"] == fit.n_iter != default.params["ds_n_iter"]
    np.testing.assert_allclose(loglik.consensus.sort("item")["ds_posterior"].to_numpy(),
                               fit.posterior.max(axis=1))


@needs_kernels
def test_flags_only_the_planted_bad_annotator():
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import proportions_ztest

    rng = np.random.default_rng(8)
    accuracies = np.r_[np.full(11, 0.85), 0.3]
    frame, _ = simulate_crowd(rng, 1200, accuracies, 4, 4)
    review = annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                          label_col="label")
    table = review.annotators
    assert table.filter(pl.col("flagged"))["worker"].to_list() == ["ann011"]
    x, n = table["n_agree"].to_numpy(), table["n_graded"].to_numpy()
    expected_p = [proportions_ztest([x[j], x.sum() - x[j]], [n[j], n.sum() - n[j]],
                                    alternative="smaller")[1] for j in range(len(x))]
    np.testing.assert_allclose(table["p_value"], expected_p, atol=1e-12)
    np.testing.assert_allclose(table["q_value"], multipletests(expected_p, method="fdr_bh")[1],
                               atol=1e-12)


@needs_kernels
def test_no_flags_when_annotators_are_alike():
    frame, _ = simulate_crowd(np.random.default_rng(9), 800, np.full(10, 0.75), 3, 4)
    review = annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                          label_col="label")
    assert not review.annotators["flagged"].any()


@needs_kernels
def test_annotator_columns_against_references():
    from scipy.stats import chi2_contingency
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(10)
    frame, _ = simulate_crowd(rng, 300, np.linspace(0.5, 0.9, 6), 3, 3)
    review = annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                          label_col="label", min_overlap=5)
    enc = encode(frame)
    loo = annotators.leave_one_out_consensus(enc).with_columns(
        worker=frame["worker"], item_id=frame["item"])
    counts = annotators.label_counts(enc)
    for row in review.annotators.iter_rows(named=True):
        mine = loo.filter(pl.col("worker") == row["worker"])
        graded = mine.filter(pl.col("graded"))
        assert row["n_labels"] == mine.height
        assert row["n_graded"] == graded.height
        assert row["n_agree"] == graded["correct"].sum()
        assert row["kappa_vs_consensus"] == pytest.approx(
            cohen_kappa_score(graded["label"].to_numpy(), graded["loo_label"].to_numpy()), abs=1e-9)
        own = np.bincount(mine["label"].to_numpy(), minlength=3)
        peers = counts[mine["item"].to_numpy()].sum(axis=0) - own
        table = np.stack([own, peers])
        table = table[:, table.sum(axis=0) > 0]
        assert row["label_dist_p_value"] == pytest.approx(
            chi2_contingency(table, correction=False).pvalue, abs=1e-12)
        assert np.asarray(row["ds_confusion"]).shape == (3, 3)


@needs_kernels
def test_systematic_confusion_is_described():
    rng = np.random.default_rng(11)
    classes = ["3", "5", "8"]
    rows = []
    for i in range(300):
        truth = int(rng.integers(0, 3))
        for a in range(4):
            lab = truth
            if a == 0 and truth == 0 and rng.random() < 0.6:
                lab = 2  # annotator a0 labels '3' as '8'
            elif rng.random() < 0.05:
                lab = int((truth + 1) % 3)
            rows.append((i, f"a{a}", lab))
    frame = pl.DataFrame(rows, schema=["item", "worker", "label"], orient="row")
    review = annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                          label_col="label", classes=classes)
    top = review.confusions.filter((pl.col("worker") == "a0") & (pl.col("rank") == 1)).row(0, named=True)
    assert (top["true_class"], top["given_class"]) == ("3", "8")
    assert top["rate"] > 0.4 and top["peer_rate"] < 0.1
    text = review.annotators.filter(pl.col("worker") == "a0")["top_confusions"][0]
    assert text.startswith("labels '3' as '8' ")
    assert "of the time, peers" in text


@needs_kernels
def test_consensus_table_and_relabel_queue():
    frame = pl.DataFrame({
        "item": ["u1", "u1", "u1", "d1", "d1", "d1", "s1", "t1", "t1"],
        "worker": ["a", "b", "c", "a", "b", "c", "a", "a", "b"],
        "label": [0, 0, 0, 0, 1, 1, 1, 0, 1],
    })
    review = annotators.review_annotators(
        frame, item_col="item", annotator_col="worker", label_col="label", classes=["neg", "pos"],
        item_ids=["u1", "d1", "s1", "t1", "none"], min_overlap=1,
    )
    cons = review.consensus
    assert cons["item"].to_list() == ["u1", "d1", "s1", "t1", "none"]
    assert cons["n_annotations"].to_list() == [3, 3, 1, 2, 0]
    assert cons["single_annotation"].to_list() == [False, False, True, False, False]
    assert cons["tie"].to_list() == [False, False, False, True, False]
    assert cons["majority_label"].to_list()[:3] == [0, 1, 1]
    assert cons["majority_label"][4] is None and cons["consensus_label"][4] is None
    assert cons["consensus_class"].to_list()[:3] == ["neg", "pos", "pos"]
    queue = review.relabel_queue
    # u1 (three annotators agree, confident consensus) has no reason to be relabeled:
    # the queue holds the other four items only.
    assert queue["rank"].to_list() == [1, 2, 3, 4]
    assert queue["item"][0] == "none" and "no annotations" in queue["reason"][0]
    assert set(queue["item"].to_list()) == {"none", "d1", "s1", "t1"}
    assert (queue["priority"].diff().drop_nulls() <= 0).all()
    assert "single annotation" in queue.filter(pl.col("item") == "s1")["reason"][0]


@needs_kernels
def test_time_windows_and_issue_share():
    rng = np.random.default_rng(12)
    frame, _ = simulate_crowd(rng, 200, [0.9, 0.8, 0.7, 0.6, 0.9], 3, 3)
    start = dt.datetime(2024, 1, 1)
    frame = frame.with_columns(
        ts=pl.Series([start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 28, frame.height)]))
    enc = encode(frame)
    issue = rng.random(enc.n_items) < 0.2
    review = annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                          label_col="label", time_col="ts", issue_mask=issue,
                                          time_window="1w")
    windows = review.time_windows
    totals = windows.group_by("worker").agg(pl.col("n_labels").sum()).sort("worker")
    assert totals["n_labels"].to_list() == review.annotators.sort("worker")["n_labels"].to_list()
    assert windows["window_start"].dt.weekday().unique().to_list() == [1]  # Mondays
    for row in review.annotators.iter_rows(named=True):
        items = enc.item[(frame["worker"] == row["worker"]).to_numpy()]
        assert row["n_issue_items"] == int(issue[items].sum())
        assert row["issue_rate"] == pytest.approx(issue[items].mean())
        assert row["issue_share"] == pytest.approx(issue[items].sum() / issue.sum())
    assert review.consensus["is_issue"].to_list() == issue.tolist()


@needs_kernels
@pytest.mark.parametrize("window", ["0d", "", "1i", "1d6h", "101y", 7])
def test_a_time_window_without_a_positive_length_is_refused(window):
    frame = pl.DataFrame({"item": [1, 1, 2, 2], "worker": [1, 2, 1, 2], "label": [0, 1, 0, 0],
                          "ts": [dt.datetime(2024, 1, d) for d in (1, 2, 3, 9)]})
    kw = {"item_col": "item", "annotator_col": "worker", "label_col": "label"}
    for time_col in ("ts", None):
        with pytest.raises(LabelAuditError,
                           match=r"^time_window must be a positive polars duration string "
                                 rf"such as '1d', '2w', '1mo' or '6h'; got {window!r} \("):
            annotators.review_annotators(frame, time_col=time_col, time_window=window, **kw)
    assert annotators.review_annotators(frame, time_col="ts", time_window="1d", **kw
                                        ).time_windows["window_start"].n_unique() == 4


@needs_kernels
def test_issue_mask_from_column_must_be_constant_per_item():
    frame = pl.DataFrame({"item": [1, 1, 2], "worker": [1, 2, 1], "label": [0, 1, 0],
                          "flag": [True, False, False]})
    with pytest.raises(InputError, match="must be constant within an item; item 1"):
        annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                     label_col="label", issue_mask="flag")


@needs_kernels
def test_review_is_deterministic():
    frame, _ = simulate_crowd(np.random.default_rng(13), 300, np.linspace(0.4, 0.9, 8), 3, 4)
    kw = {"item_col": "item", "annotator_col": "worker", "label_col": "label", "min_overlap": 5}
    one = annotators.review_annotators(frame, n_jobs=1, **kw)
    two = annotators.review_annotators(frame.reverse(), n_jobs=2, **kw)
    for name in ("annotators", "consensus", "pairwise", "relabel_queue", "confusions"):
        assert getattr(one, name).equals(getattr(two, name)), name
    assert one.agreement == two.agreement


@needs_kernels
def test_crowdlab_matches_cleanlab_and_is_capped():
    from cleanlab.multiannotator import get_label_quality_multiannotator

    rng = np.random.default_rng(14)
    frame, truth = simulate_crowd(rng, 120, [0.9, 0.8, 0.7, 0.6], 3, 3)
    enc = encode(frame)
    probs = rng.dirichlet(np.ones(3), enc.n_items) * 0.5
    probs[np.arange(enc.n_items), truth] += 0.5
    review = annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                          label_col="label", pred_probs=probs)
    wide = np.full((enc.n_items, enc.n_annotators), np.nan)
    wide[enc.item, enc.annotator] = enc.label
    ref = get_label_quality_multiannotator(wide, probs, verbose=False)["label_quality"]
    cons = review.consensus
    assert cons["consensus_method"][0] == "crowdlab"
    np.testing.assert_array_equal(cons["crowdlab_label"], ref["consensus_label"])
    np.testing.assert_allclose(cons["crowdlab_quality"], ref["consensus_quality_score"])
    assert "crowdlab_quality" in review.relabel_queue.columns
    with pytest.raises(LabelAuditError, match="at most 2 annotators"):
        annotators.crowdlab_consensus(enc, probs, max_annotators=2)
    with pytest.raises(LabelAuditError, match=r"pred_probs must have shape \(n_items, n_classes\)"):
        annotators.crowdlab_consensus(enc, probs[:, :2])


@needs_kernels
def test_relabel_queue_holds_only_items_with_a_reason():
    rng = np.random.default_rng(21)
    frame, _ = simulate_crowd(rng, 300, [0.97, 0.97, 0.95, 0.95, 0.6], 3, 3)
    enc = encode(frame)
    issue = rng.random(enc.n_items) < 0.05
    review = annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                          label_col="label", issue_mask=issue)
    queue, cons = review.relabel_queue, review.consensus
    assert 0 < queue.height < cons.height
    assert queue["rank"].to_list() == list(range(1, queue.height + 1))
    assert (queue["reason"].str.len_chars() > 0).all()
    queued = set(queue["item"].to_list())
    # A confident-learning flag is a reason on its own.
    flagged = set(cons.filter(pl.col("is_issue"))["item"].to_list())
    assert flagged and flagged <= queued
    assert queue.filter(pl.col("is_issue"))["reason"].str.contains("flagged as a label issue").all()
    # Unanimous, confident, unflagged items are not queued; every other item is.
    calm = cons.filter((pl.col("majority_share") == 1) & (pl.col("n_annotations") > 1)
                       & (pl.col("ds_posterior") >= 0.9) & ~pl.col("is_issue"))
    assert calm.height and not set(calm["item"].to_list()) & queued
    assert queued | set(calm["item"].to_list()) == set(cons["item"].to_list())


@needs_kernels
def test_drift_table_is_deterministic_and_flags_a_planted_drift():
    import datetime as dt

    rng = np.random.default_rng(22)
    frame, _ = simulate_crowd(rng, 400, [0.9, 0.9, 0.9, 0.9], 3, 3)
    days = rng.integers(0, 42, frame.height)
    late = (days >= 21) & (frame["worker"] == "ann002").to_numpy()
    wrong = rng.random(frame.height) < 0.7
    labels = frame["label"].to_numpy().copy()
    labels[late & wrong] = (labels[late & wrong] + 1) % 3
    frame = frame.with_columns(
        label=pl.Series(labels),
        ts=pl.Series([dt.datetime(2024, 1, 1) + dt.timedelta(days=int(d)) for d in days]))
    kw = {"item_col": "item", "annotator_col": "worker", "label_col": "label", "time_col": "ts"}
    one = annotators.review_annotators(frame, n_jobs=1, **kw)
    two = annotators.review_annotators(frame.reverse(), n_jobs=2, **kw)
    assert one.drift.equals(two.drift) and one.time_windows.equals(two.time_windows)
    assert one.drift.filter(pl.col("drifted"))["worker"].to_list() == ["ann002"]
    assert one.drift["n_windows"].to_list() == [6, 6, 6, 6]
    none = annotators.review_annotators(frame, item_col="item", annotator_col="worker",
                                        label_col="label")
    assert none.drift is None and none.time_windows is None


# ---------------------------------------------------------------------------
# Fused kernels equal the kernels they replace
# ---------------------------------------------------------------------------


def _random_csr(rng, n_items, n_annotators, k, max_per_item):
    counts = rng.integers(0, max_per_item + 1, size=n_items)
    item_ptr = np.zeros(n_items + 1, dtype=np.intp)
    np.cumsum(counts, out=item_ptr[1:])
    n = int(item_ptr[-1])
    annotator = rng.integers(0, n_annotators, size=n).astype(np.intp)
    label = rng.integers(0, k, size=n).astype(np.intp)
    return item_ptr, annotator, label


@needs_kernels
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(1, 40),
    k=st.integers(2, 5),
    n_threads=st.sampled_from([1, 2]),
)
def test_fused_e_step_and_bound_equal_the_two_kernels(seed, n_items, k, n_threads):
    rng = np.random.default_rng(seed)
    n_annotators = 4
    item_ptr, annotator, label = _random_csr(rng, n_items, n_annotators, k, 4)
    conf = rng.dirichlet(np.ones(k), size=(n_annotators, k))  # [j, true, given]
    log_conf_t = np.ascontiguousarray(np.log(conf).transpose(0, 2, 1))
    log_prior = np.log(rng.dirichlet(np.ones(k)))
    previous = rng.dirichlet(np.ones(k), size=n_items)

    post_a = np.empty((n_items, k))
    ll_a = np.empty(n_items)
    elbo_a = np.empty(n_items)
    loglik_a = KERNELS.ds_e_step(item_ptr, annotator, label, log_conf_t, log_prior, post_a, ll_a, n_threads)
    bound_a = KERNELS.ds_elbo(item_ptr, annotator, label, log_conf_t, log_prior, previous, elbo_a, n_threads)

    post_b = np.empty((n_items, k))
    ll_b = np.empty(n_items)
    elbo_b = np.empty(n_items)
    loglik_b, bound_b = KERNELS.ds_e_step_elbo(
        item_ptr, annotator, label, log_conf_t, log_prior, previous, post_b, ll_b, elbo_b, n_threads
    )
    np.testing.assert_array_equal(post_a, post_b)
    np.testing.assert_array_equal(ll_a, ll_b)
    np.testing.assert_array_equal(elbo_a, elbo_b)
    assert loglik_a == loglik_b
    assert bound_a == bound_b


@needs_kernels
def test_fused_e_step_refuses_to_overwrite_its_input():
    item_ptr = np.array([0, 1], dtype=np.intp)
    one = np.zeros(1, dtype=np.intp)
    post = np.full((1, 2), 0.5)
    with pytest.raises(ValueError, match="must not be the previous"):
        KERNELS.ds_e_step_elbo(
            item_ptr, one, one, np.zeros((1, 2, 2)), np.zeros(2), post, post, np.empty(1), np.empty(1)
        )


@needs_kernels
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(1, 30), n_threads=st.sampled_from([1, 2]))
def test_annotation_pairs_kernel_lists_every_pair_once(seed, n_items, n_threads):
    rng = np.random.default_rng(seed)
    item_ptr, annotator, label = _random_csr(rng, n_items, 6, 3, 5)
    sizes = np.diff(item_ptr)
    pair_ptr = np.zeros(n_items + 1, dtype=np.intp)
    np.cumsum(sizes * (sizes - 1) // 2, out=pair_ptr[1:])
    n_pairs = int(pair_ptr[-1])
    out = [np.full(n_pairs, -1, dtype=np.intp) for _ in range(4)]
    KERNELS.annotation_pairs(item_ptr, pair_ptr, annotator, label, *out, n_threads)

    expected = []
    for i in range(n_items):
        span = range(item_ptr[i], item_ptr[i + 1])
        for s, t in itertools.combinations(span, 2):
            a, b = (s, t) if annotator[s] <= annotator[t] else (t, s)
            expected.append((annotator[a], annotator[b], label[a], label[b]))
    got = list(zip(*(o.tolist() for o in out), strict=True))
    assert got == expected
