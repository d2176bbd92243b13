"""The CONSENSUS registry: built-in entries and a toy method registered by a test."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from labelaudit.annotators import CONSENSUS, register_consensus, review_annotators
from labelaudit.exceptions import LabelAuditError


@pytest.fixture
def crowd():
    rng = np.random.default_rng(5)
    rows = []
    for item in range(60):
        truth = int(rng.integers(0, 3))
        for who in rng.choice(5, 3, replace=False):
            label = truth if rng.random() < 0.8 else int(rng.integers(0, 3))
            rows.append((item, f"w{who}", label))
    return pl.DataFrame(rows, schema={"item": pl.Int64, "worker": pl.String, "label": pl.Int64},
                        orient="row")


@pytest.fixture
def toy_method():
    """Registers 'last_class': every annotated item gets the highest class, quality 0.25."""
    seen = []

    @register_consensus("last_class", description="toy: always the last class")
    def _last_class(inputs):
        seen.append(inputs)
        n_ann = inputs.counts.sum(axis=1)
        labels = np.where(n_ann > 0, inputs.encoded.n_classes - 1, -1)
        return labels, np.full(inputs.encoded.n_items, 0.25)

    yield seen
    del CONSENSUS["last_class"]


def _review(frame, **kw):
    return review_annotators(frame, item_col="item", annotator_col="worker", label_col="label",
                             classes=["a", "b", "c"], **kw)


def test_builtin_methods_are_registered():
    assert {"dawid_skene", "majority", "crowdlab"} <= set(CONSENSUS)
    assert CONSENSUS["crowdlab"].needs_pred_probs
    assert not CONSENSUS["majority"].needs_pred_probs


def test_registered_toy_method_fills_the_consensus(crowd, toy_method):
    default = _review(crowd)
    review = _review(crowd, consensus_method="last_class")
    assert len(toy_method) == 1 and toy_method[0].table.height == 60
    consensus = review.consensus
    assert consensus["consensus_label"].to_list() == [2] * 60
    assert consensus["consensus_class"].to_list() == ["c"] * 60
    assert consensus["consensus_quality"].to_list() == [0.25] * 60
    assert set(consensus["consensus_method"]) == {"last_class"}
    assert review.params["consensus_method"] == "last_class"
    # Everything the method does not decide is unchanged.
    assert consensus.drop("consensus_label", "consensus_class", "consensus_quality",
                          "consensus_method").equals(
        default.consensus.drop("consensus_label", "consensus_class", "consensus_quality",
                               "consensus_method"))
    assert review.annotators.equals(default.annotators)


def test_no_consensus_marker_becomes_null(crowd):
    @register_consensus("abstain")
    def _abstain(inputs):
        return np.full(inputs.encoded.n_items, -1), np.full(inputs.encoded.n_items, np.nan)

    try:
        consensus = _review(crowd, consensus_method="abstain").consensus
    finally:
        del CONSENSUS["abstain"]
    assert consensus["consensus_label"].null_count() == 60
    assert consensus["consensus_class"].null_count() == 60


def test_unknown_method_lists_the_registered_ones(crowd):
    with pytest.raises(LabelAuditError, match=r"consensus_method must be one of .*'majority'.*"
                                              r"got 'oracle'"):
        _review(crowd, consensus_method="oracle")


def test_method_needing_probabilities_is_refused_without_them(crowd):
    with pytest.raises(LabelAuditError, match="consensus_method='crowdlab' requires pred_probs"):
        _review(crowd, consensus_method="crowdlab")
