"""``labelaudit audit --task detection`` on datasets without annotated boxes, and on bad values."""

from __future__ import annotations

import copy
import json

import numpy as np
import polars as pl
import pytest
from cleanlab.object_detection import filter as cl_filter
from cleanlab.object_detection import rank as cl_rank

from labelaudit.cli import run
from labelaudit.datasets import example_dir
from labelaudit.io import read_coco_annotations, read_coco_predictions
from labelaudit.tasks.detection import BOX_SCHEMA

from ._od_cases import stable_argsort


@pytest.fixture
def example():
    ex = example_dir("detection")
    return (json.loads((ex / "annotations.json").read_text()),
            json.loads((ex / "predictions.json").read_text()))


def _audit(capsys, tmp_path, annotations, predictions):
    data, preds = tmp_path / "annotations.json", tmp_path / "predictions.json"
    data.write_text(json.dumps(annotations))
    preds.write_text(json.dumps(predictions))
    out = tmp_path / "out"
    code = run(["audit", str(data), "--task", "detection", "--predictions", str(preds),
                "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.err, out, (data, preds)


@pytest.mark.parametrize("certain", [False, True])
def test_no_annotated_boxes_lists_every_predicted_box_as_cleanlab_scores_it(
        capsys, tmp_path, example, certain):
    annotations, predictions = example
    annotations = {**annotations, "annotations": []}
    predictions = copy.deepcopy(predictions)
    if certain:  # a detector score of 1 gives an overlooked score of 0, which is flagged
        predictions[0]["score"] = 1.0
    code, err, out, (data, preds) = _audit(capsys, tmp_path, annotations, predictions)
    assert code == 0, err
    assert "have predicted boxes but no annotated box" in err

    boxes = pl.read_parquet(out / "boxes.parquet")
    assert dict(boxes.schema) == BOX_SCHEMA
    assert boxes.filter(pl.col("source") == "given").height == 0
    predicted = boxes.filter(pl.col("source") == "predicted")
    assert predicted.height == len(predictions)

    # The same input through cleanlab: the same images flagged, the same overlooked scores.
    ds = read_coco_annotations(data)
    per_image = read_coco_predictions(preds, ds)
    labels = ds.labels()
    with stable_argsort():
        expected_mask = cl_filter.find_label_issues(labels, per_image)
        expected_scores = np.concatenate(
            cl_rank.compute_overlooked_box_scores(labels=labels, predictions=per_image))
    np.testing.assert_array_equal(predicted["box_quality"].to_numpy(), expected_scores)

    issues = pl.read_parquet(out / "issues.parquet")
    flagged = dict(zip(issues["id"], issues["is_issue"], strict=True))
    assert [flagged[i] for i in ds.image_ids] == expected_mask.tolist()
    assert int(expected_mask.sum()) == int(certain)
    assert not issues["swapped"].any() and not issues["badly_located"].any()

    summary = json.loads((out / "summary.json").read_text())
    detection = summary["extras"]["detection"]
    n_overlooked = predicted.filter(pl.col("issue") == "overlooked").height
    assert n_overlooked == int(certain)
    assert detection["detection_n_overlooked"] == n_overlooked
    assert detection["detection_n_issue_images"] == int(issues["is_issue"].sum())
    assert detection["detection_n_swapped"] == detection["detection_n_badly_located"] == 0
    assert [c["count"] for c in detection["per_class"]] == [0] * len(ds.class_names)
    assert sum(c["n_overlooked"] for c in detection["per_class"]) == n_overlooked


def test_no_predicted_boxes(capsys, tmp_path, example):
    annotations, _ = example
    code, err, out, _ = _audit(capsys, tmp_path, annotations, [])
    assert code == 0, err
    boxes = pl.read_parquet(out / "boxes.parquet")
    assert dict(boxes.schema) == BOX_SCHEMA
    assert boxes.filter(pl.col("source") == "predicted").height == 0
    assert boxes.height == len(annotations["annotations"])


def test_annotated_classes_do_not_warn(capsys, tmp_path, example):
    code, err, _, _ = _audit(capsys, tmp_path, *example)
    assert code == 0 and "no annotated box" not in err


def _dup_name(annotations, predictions):
    annotations["categories"][1]["name"] = annotations["categories"][0]["name"]
    return ("annotations", "categories[1].name repeats category name "
            f"{annotations['categories'][0]['name']!r}; each category needs its own name")


def _negative_width(annotations, predictions):
    annotations["images"][0]["width"] = -1
    return "annotations", "images[0].width must be a positive number of pixels, got -1"


def _bad_scores(annotations, predictions):
    predictions[0]["score"], predictions[1]["score"] = 1.5, -0.2
    return "predictions", "detection 0.score must be a confidence in [0, 1], got 1.5"


@pytest.mark.parametrize("spoil", [_dup_name, _negative_width, _bad_scores])
def test_invalid_values_exit_2_with_one_line(capsys, tmp_path, example, spoil):
    annotations, predictions = copy.deepcopy(example)
    which, message = spoil(annotations, predictions)
    code, err, out, (data, preds) = _audit(capsys, tmp_path, annotations, predictions)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    kind = "COCO annotations file" if which == "annotations" else "COCO results file"
    path = data if which == "annotations" else preds
    assert lines[0] == f"labelaudit: error: {kind} '{path}': {message}"
    assert not out.exists()
