"""COCO and Label Studio rectangle readers: values they refuse, and annotations they may lack."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from labelaudit.datasets import example_dir
from labelaudit.exceptions import InputError
from labelaudit.io import read_coco_annotations, read_coco_predictions, read_label_studio_rectangles


@pytest.fixture
def coco():
    ex = example_dir("detection")
    annotations = json.loads((ex / "annotations.json").read_text())
    predictions = json.loads((ex / "predictions.json").read_text())
    return annotations, predictions


def _write(tmp_path, name, doc):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_empty_annotations_give_images_without_boxes(tmp_path, coco):
    annotations, predictions = coco
    doc = {**annotations, "annotations": []}
    ds = read_coco_annotations(_write(tmp_path, "a.json", doc))
    assert len(ds.image_ids) == len(annotations["images"])
    assert all(b.shape == (0, 4) and b.dtype == np.float64 for b in ds.boxes)
    assert all(c.shape == (0,) for c in ds.classes)
    preds = read_coco_predictions(_write(tmp_path, "p.json", predictions), ds)
    assert sum(p.shape[0] for per in preds for p in per) == len(predictions)


def test_repeated_category_name_is_refused(tmp_path, coco):
    doc = copy.deepcopy(coco[0])
    doc["categories"][1]["name"] = doc["categories"][0]["name"]
    path = _write(tmp_path, "dup.json", doc)
    with pytest.raises(InputError) as err:
        read_coco_annotations(path)
    assert str(err.value) == (f"COCO annotations file '{path}': categories[1].name repeats "
                              f"category name {doc['categories'][0]['name']!r}; each category "
                              "needs its own name")


def test_a_missing_name_that_equals_another_name_is_refused(tmp_path, coco):
    # A category without a name is named by its id, which must not collide either.
    doc = copy.deepcopy(coco[0])
    doc["categories"] = [{"id": 1, "name": "2"}, {"id": 2}]
    with pytest.raises(InputError, match=r"categories\[1\]\.name repeats category name '2'"):
        read_coco_annotations(_write(tmp_path, "dup.json", doc))


@pytest.mark.parametrize(("field", "value"), [("width", -1), ("width", 0), ("height", 0),
                                              ("height", -3.5)])
def test_image_size_must_be_positive(tmp_path, coco, field, value):
    doc = copy.deepcopy(coco[0])
    doc["images"][2][field] = value
    path = _write(tmp_path, "size.json", doc)
    with pytest.raises(InputError) as err:
        read_coco_annotations(path)
    assert str(err.value) == (f"COCO annotations file '{path}': images[2].{field} must be a "
                              f"positive number of pixels, got {value!r}")


@pytest.mark.parametrize(("index", "score"), [(0, 1.5), (1, -0.2), (3, 1.0000001)])
def test_prediction_score_must_be_in_unit_interval(tmp_path, coco, index, score):
    annotations, predictions = coco
    ds = read_coco_annotations(_write(tmp_path, "a.json", annotations))
    bad = copy.deepcopy(predictions)
    bad[index]["score"] = score
    path = _write(tmp_path, "p.json", bad)
    with pytest.raises(InputError) as err:
        read_coco_predictions(path, ds)
    assert str(err.value) == (f"COCO results file '{path}': detection {index}.score must be a "
                              f"confidence in [0, 1], got {score!r}")


def test_scores_of_exactly_zero_and_one_are_read(tmp_path, coco):
    annotations, predictions = coco
    ds = read_coco_annotations(_write(tmp_path, "a.json", annotations))
    edge = copy.deepcopy(predictions)
    edge[0]["score"], edge[1]["score"] = 0, 1
    preds = read_coco_predictions(_write(tmp_path, "p.json", edge), ds)
    scores = np.concatenate([p[:, 4] for per in preds for p in per])
    assert 0.0 in scores and 1.0 in scores


def _region(**overrides):
    region = {"type": "rectanglelabels", "original_width": 200, "original_height": 100,
              "value": {"x": 10, "y": 20, "width": 50, "height": 30, "rectanglelabels": ["car"]}}
    region.update(overrides)
    return region


@pytest.mark.parametrize("field", ["original_width", "original_height"])
def test_label_studio_image_size_must_be_positive(tmp_path, field):
    export = [{"id": 1, "data": {"image": "a.png"},
               "annotations": [{"result": [_region(**{field: 0})]}]}]
    path = _write(tmp_path, "ls.json", export)
    with pytest.raises(InputError) as err:
        read_label_studio_rectangles(path)
    assert str(err.value) == (f"Label Studio export '{path}': task 0.annotations[0].result[0]."
                              f"{field} must be a positive number of pixels, got 0")


# The score is the region's own, or else its prediction's.
@pytest.mark.parametrize(("task_score", "region_score"), [(1.2, None), (0.5, -0.1)])
def test_label_studio_prediction_score_must_be_in_unit_interval(tmp_path, task_score,
                                                               region_score):
    region = _region() if region_score is None else _region(score=region_score)
    bad = task_score if region_score is None else region_score
    export = [{"id": 1, "data": {"image": "a.png"}, "annotations": [{"result": [_region()]}],
               "predictions": [{"score": task_score, "result": [region]}]}]
    path = _write(tmp_path, "ls.json", export)
    with pytest.raises(InputError) as err:
        read_label_studio_rectangles(path)
    assert str(err.value) == (f"Label Studio export '{path}': task 0.predictions[0].result[0].score must be a "
                              f"confidence in [0, 1], got {bad!r}")


def test_label_studio_tasks_without_annotations(tmp_path):
    export = [{"id": 1, "data": {"image": "a.png"}, "annotations": [],
               "predictions": [{"score": 0.97, "result": [_region()]}]}]
    ds, preds = read_label_studio_rectangles(_write(tmp_path, "ls.json", export))
    assert ds.boxes[0].shape == (0, 4) and ds.class_names == ["car"]
    assert preds[0][0].tolist() == [[20.0, 20.0, 120.0, 50.0, 0.97]]
