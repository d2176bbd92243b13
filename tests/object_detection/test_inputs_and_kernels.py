"""Bad inputs, edge cases and determinism of :mod:`labelaudit.object_detection`."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelaudit._validation import check_detection_inputs
from labelaudit.exceptions import InputError, LabelAuditWarning
from labelaudit.object_detection import _engine
from labelaudit.object_detection import filter as od_filter
from labelaudit.object_detection import rank as od_rank
from labelaudit.object_detection import summary as od_summary

from ._od_cases import detection_case

BOX = np.array([[0.0, 0.0, 10.0, 10.0]])


def _image(classes=(0,), boxes=None):
    boxes = BOX.repeat(len(classes), axis=0) if boxes is None else np.asarray(boxes, float)
    return {"bboxes": boxes, "labels": np.array(classes)}


def _preds(*per_class):
    return [np.asarray(p, dtype=float).reshape(-1, 5) for p in per_class]


@pytest.mark.parametrize(
    ("labels", "predictions", "message"),
    [
        ([_image()], [], "one entry per image: got 1 and 0"),
        ([], [], "is empty"),
        (["not a dict"], [_preds([])], r"`labels\[0\]` must be a dict"),
        ([{"bboxes": BOX}], [_preds([])], r"`labels\[0\]` has no 'labels' key"),
        ([_image(boxes=[[0, 0, 1]])], [_preds([])], r"`labels\[0\]\['bboxes'\]` must have shape"),
        ([{"bboxes": BOX, "labels": np.array([0, 1])}], [_preds([])], "has 1 boxes but 2 labels"),
        ([_image(classes=(0.5,))], [_preds([])], "must hold integer classes"),
        ([_image(boxes=[[0, 0, np.nan, 1]])], [_preds([])], "not finite"),
        ([_image()], [_preds([[0, 0, 1, 1, np.inf]])], r"`predictions\[0\]\[0\]` .* not finite"),
        ([_image()], [[np.zeros((1, 4))]], r"`predictions\[0\]\[0\]` must have shape \(n, 5\)"),
        ([_image(), _image()], [_preds([]), _preds([], [])], r"`predictions\[1\]` must hold 1"),
        ([_image(classes=(3,))], [_preds([], [])], "class 3, outside the 2 classes"),
    ],
)
def test_bad_inputs_name_the_image_and_field(labels, predictions, message):
    with pytest.raises(InputError, match=message):
        od_filter.find_label_issues(labels, predictions)


def test_bad_options():
    labels, preds = [_image()], [_preds([[0, 0, 10, 10, 0.9]])]
    with pytest.raises(InputError, match="sum to 1"):
        od_rank.get_label_quality_scores(labels, preds, aggregation_weights={"overlooked": 0.5,
                                                                             "swap": 0.1,
                                                                             "badloc": 0.1})
    with pytest.raises(InputError, match="no 'badloc' weight"):
        od_rank.get_label_quality_scores(labels, preds, aggregation_weights={"overlooked": 0.5,
                                                                             "swap": 0.5})
    with pytest.raises(InputError, match="at most 1"):
        od_rank.issues_from_scores(np.array([0.5]), threshold=1.5)
    with pytest.raises(InputError, match="`num_procs` must be a positive integer"):
        od_summary.calculate_per_class_metrics(labels, preds, num_procs=0)
    with pytest.raises(InputError, match="names 1 classes but `predictions` has 2"):
        od_summary.calculate_per_class_metrics(labels, [_preds([], [])], class_names={"0": "a"})


def test_errors_are_value_errors_for_cleanlab_callers():
    with pytest.raises(ValueError):
        od_filter.find_label_issues([_image()], [])


def test_images_without_boxes_or_predictions():
    empty = {"bboxes": np.zeros((0, 4)), "labels": np.zeros(0, dtype=int)}
    good = [_image() for _ in range(4)]
    labels = [empty, _image(), empty, *good]
    found = _preds([[0, 0, 10, 10, 0.98]], [])
    preds = [_preds([], []), _preds([], []), _preds([[0, 0, 10, 10, 0.99]], []),
             *[found for _ in good]]
    mask = od_filter.find_label_issues(labels, preds)
    # Image 2 has a confident prediction nobody annotated: overlooked (the
    # detector finds class 0 well elsewhere, so its threshold is not zero).
    assert mask.tolist() == [False, False, True, False, False, False, False]
    scores = od_rank.get_label_quality_scores(labels, preds, verbose=False)
    assert scores[0] == 1.0 and scores[1] == 1.0 and scores[2] < 0.5
    counts = od_summary.object_counts_per_image(labels, preds)
    assert counts == ([0, 1, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1])


def test_empty_arrays_of_any_shape_are_empty():
    labels = [{"bboxes": np.array([]), "labels": np.array([])}]
    preds = [[np.array([]), np.zeros((0, 5), dtype=np.float32)]]
    assert od_filter.find_label_issues(labels, preds).tolist() == [False]


def test_read_only_inputs():
    box = BOX.copy()
    box.flags.writeable = False
    pred = np.array([[0.0, 0.0, 10.0, 10.0, 0.99]])
    pred.flags.writeable = False
    labels = [{"bboxes": box, "labels": np.array([0])}]
    assert od_rank.get_label_quality_scores(labels, [[pred]], verbose=False)[0] == pytest.approx(1)


def test_verbose_prints_and_heavy_pruning_warns(capsys):
    labels = [_image() for _ in range(3)]
    preds = [_preds([[0, 0, 10, 10, -0.5]]) for _ in range(3)]
    with pytest.warns(LabelAuditWarning, match="emptied 100.0%"):
        od_rank.get_label_quality_scores(labels, preds, verbose=True)
    assert "Dropped 3 of 3 per-class prediction arrays" in capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        od_rank.get_label_quality_scores(labels, preds, verbose=False)
    assert capsys.readouterr().out == ""


def test_overlapping_label_check_changes_the_score():
    # Two annotations of different classes on the same object.
    # (a second image far away makes the smallest similarity below 1).
    labels = [_image(classes=(0, 1)), _image(boxes=[[200, 200, 210, 210]])]
    preds = [_preds([[0, 0, 10, 10, 0.99]], []), _preds([[0, 0, 10, 10, 0.99]], [])]
    on = od_rank.get_label_quality_scores(labels, preds, verbose=False)
    off = od_rank.get_label_quality_scores(labels, preds, overlapping_label_check=False,
                                           verbose=False)
    assert on[0] < off[0]


def test_aggregation_weights_change_the_score():
    labels = [_image()]
    preds = [_preds([[3, 3, 13, 13, 0.99]])]
    a = od_rank.get_label_quality_scores(labels, preds, verbose=False,
                                         aggregation_weights={"overlooked": 0, "swap": 0,
                                                              "badloc": 1})
    b = od_rank.get_label_quality_scores(labels, preds, verbose=False,
                                         aggregation_weights={"overlooked": 1, "swap": 0,
                                                              "badloc": 0})
    assert a[0] < b[0] == 1.0


def test_ties_are_ranked_by_index():
    scores = np.array([0.2, 0.1, 0.2, 0.1, 0.2])
    assert od_rank.issues_from_scores(scores, threshold=0.5).tolist() == [1, 3, 0, 2, 4]


def _run(inputs, engine):
    found = _engine.match_pass(inputs, engine)
    ap = _engine.class_average_precision(found)
    scored = _engine.score_pass(inputs, engine, min_similarity=found.min_similarity,
                                overlapping_label_check=True,
                                thresholds=_engine.box_thresholds(ap), keep_boxes=True)
    return found.min_similarity, ap, scored


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=detection_case(max_images=24))
def test_results_do_not_depend_on_threads_or_chunks(case):
    labels, predictions, _ = case
    inputs = check_detection_inputs(labels, predictions)
    base = _run(inputs, _engine.Engine(n_threads=1, chunk_images=4096, kernel_chunk=64))
    for engine in (_engine.Engine(n_threads=2, chunk_images=1, kernel_chunk=1),
                   _engine.Engine(n_threads=2, chunk_images=5, kernel_chunk=3),
                   _engine.Engine(n_threads=3, chunk_images=7, kernel_chunk=2)):
        other = _run(inputs, engine)
        assert other[0] == base[0]
        assert other[1].tolist() == base[1].tolist()
        assert np.array_equal(other[2].pooled, base[2].pooled)
        assert np.array_equal(other[2].flags, base[2].flags)
        for key, value in base[2].boxes.items():
            assert np.array_equal(other[2].boxes[key], value, equal_nan=True), key


def test_kernel_openmp_threads_are_used():
    from labelaudit import _core

    assert hasattr(_core, "od_match") and hasattr(_core, "od_box_scores")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(n=st.integers(0, 3000), share=st.floats(0.0, 1.0), extra=st.integers(0, 50),
       seed=st.integers(0, 2**32 - 1))
def test_average_precision_from_hit_positions_equals_the_dense_curve(n, share, extra, seed):
    # The lean form (memory per hit) must give the dense curve's float32 area to the bit,
    # including no hits, all hits, recall reaching 1 (extra == 0) and classes without labels.
    rng = np.random.default_rng(seed)
    hits = (rng.random(n) < share).astype(np.uint16)
    n_gt = int(hits.sum()) + extra
    dense = _engine._average_precision_dense(hits, n_gt)
    lean = _engine._average_precision(np.flatnonzero(hits), n, n_gt)
    assert lean.dtype == dense.dtype and lean.tobytes() == dense.tobytes()


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=detection_case(max_images=24))
def test_consuming_the_matches_gives_the_same_precision(case):
    labels, predictions, _ = case
    inputs = check_detection_inputs(labels, predictions)
    engine = _engine.Engine()
    kept = _engine.match_pass(inputs, engine)
    consumed = _engine.match_pass(inputs, engine)
    a = _engine.class_average_precision(kept)
    b = _engine.class_average_precision(consumed, consume=True)
    assert a.tobytes() == b.tobytes()
    assert all(s is None for s in consumed.scores) and kept.scores[0] is not None


def test_checked_inputs_hold_the_callers_arrays_without_copies():
    pred = [np.array([[0.0, 0.0, 10.0, 10.0, 0.9]]), np.zeros((0, 5))]
    labels = [{"bboxes": BOX, "labels": np.array([0])}, {"bboxes": np.zeros((0, 4)),
                                                          "labels": np.zeros(0, dtype=int)}]
    inputs = check_detection_inputs(labels, [pred, [np.zeros(0), pred[0]]])
    assert inputs.predictions[0] is pred                      # unchanged: the caller's list
    assert inputs.label_boxes[0] is BOX and inputs.label_classes[0] is labels[0]["labels"]
    converted = inputs.predictions[1]                          # a (0,) array became (0, 5)
    assert converted is not pred and converted[0].shape == (0, 5) and converted[1] is pred[0]
    assert inputs.n_pred_boxes.tolist() == [[1, 0], [0, 1]]
    assert inputs.n_label_boxes.tolist() == [1, 0]
