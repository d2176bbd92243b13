"""Tests for the shipped demo dataset and its generator."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sklearn.datasets import load_digits

from labelaudit.datasets import DemoData, demo_files, load_demo

GENERATOR = Path(__file__).resolve().parents[1] / "scripts" / "make_demo_data.py"


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return load_demo()


@pytest.fixture(scope="module")
def joined(demo):
    return demo.items.join(demo.truth, on="id", how="inner", validate="1:1")


@pytest.fixture(scope="module")
def scored_annotations(demo):
    return demo.annotations.join(
        demo.truth, left_on="item_id", right_on="id", validate="m:1"
    ).with_columns(correct=pl.col("label") == pl.col("true_label"))


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_demo_data", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_files_ship_inside_the_package(demo):
    files = demo_files()
    assert set(files) == {"items", "annotations", "truth", "reviews"}
    for name, path in files.items():
        assert path.is_file()
        if name == "reviews":  # the reviewed sample, beside its design
            assert path.name == "reviews.csv" and path.parent.parent.name == "data"
            assert (path.parent / "sample_design.parquet").is_file()
            continue
        assert path.suffix == ".parquet"
        assert path.parent.name == "data" and path.parent.parent.name == "labelaudit"
    assert demo.path_reviews == files["reviews"]
    assert demo.path_items == files["items"]
    assert demo.path_annotations == files["annotations"]
    assert demo.path_truth == files["truth"]


def test_shapes_and_schema(demo):
    items, annotations, truth = demo.items, demo.annotations, demo.truth
    assert items.shape == (1797, 5 + 64)
    assert items.columns[:5] == ["id", "label", "annotator", "source", "pixels"]
    assert items.columns[5:] == [f"px_{j:02d}" for j in range(64)]
    assert items.schema["pixels"] in (pl.Array(pl.UInt8, 64), pl.List(pl.UInt8))
    assert all(items.schema[f"px_{j:02d}"].is_numeric() for j in range(64))
    assert items["id"][0] == "digit-0001" and items["id"].is_unique().all()
    assert sorted(items["label"].unique().to_list()) == [str(d) for d in range(10)]
    assert sorted(items["source"].unique().to_list()) == ["phone", "scanner-a", "scanner-b"]
    assert annotations.columns == ["item_id", "annotator", "label", "timestamp"]
    assert annotations.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert annotations.height == 3 * 1797
    assert truth.columns == ["id", "true_label"] and truth.height == 1797
    assert annotations["annotator"].n_unique() == 8


def test_pixels_are_the_sklearn_digits(demo, joined):
    pixels = np.stack(demo.items["pixels"].to_list())
    features = demo.items.select(f"px_{j:02d}" for j in range(64)).to_numpy()
    np.testing.assert_array_equal(pixels, features)
    digits = load_digits()
    # Scanned images are the originals, and so are the true labels; phone images carry noise.
    scanned = (demo.items["source"] != "phone").to_numpy()
    np.testing.assert_array_equal(pixels[scanned], digits.data[scanned])
    np.testing.assert_array_equal(joined["true_label"].cast(pl.Int64), digits.target)
    phone = ~scanned
    assert (pixels[phone] != digits.data[phone]).any()
    assert np.abs(pixels[phone].astype(float) - digits.data[phone]).mean() < 2.0


def test_no_truth_leakage_into_items(demo, joined):
    assert not {"true_label", "truth", "is_noisy", "correct"} & set(demo.items.columns)
    truth = joined["true_label"]
    for column in demo.items.columns:
        values = joined[column]
        if values.dtype == pl.String:
            assert not (values == truth).all(), column


def test_each_item_has_three_distinct_annotators(demo):
    per_item = demo.annotations.group_by("item_id").agg(
        n=pl.len(), distinct=pl.col("annotator").n_unique()
    )
    assert per_item.height == 1797
    assert (per_item["n"] == 3).all() and (per_item["distinct"] == 3).all()


def test_given_label_is_the_earliest_annotation(demo):
    first = (
        demo.annotations.sort("timestamp")
        .group_by("item_id", maintain_order=True)
        .first()
        .rename({"item_id": "id"})
    )
    merged = demo.items.join(first, on="id", suffix="_first")
    assert merged.height == 1797
    assert (merged["label"] == merged["label_first"]).all()
    assert (merged["annotator"] == merged["annotator_first"]).all()


def test_noise_rate_in_range(joined):
    noise = (joined["label"] != joined["true_label"]).mean()
    assert 0.08 <= noise <= 0.12


def test_phone_slice_is_noisier(joined):
    rates = (
        joined.group_by("source")
        .agg(noise=(pl.col("label") != pl.col("true_label")).mean())
        .sort("source")
    )
    noise = dict(zip(rates["source"], rates["noise"], strict=True))
    assert noise["phone"] > 2 * max(noise["scanner-a"], noise["scanner-b"])


def test_annotator_accuracies_differ(scored_annotations):
    acc = scored_annotations.group_by("annotator").agg(pl.col("correct").mean())
    accuracy = dict(zip(acc["annotator"], acc["correct"], strict=True))
    assert max(accuracy.values()) >= 0.95
    assert min(accuracy.values()) <= 0.7
    assert accuracy["ann-01"] > accuracy["ann-04"] > accuracy["ann-08"]


def test_systematic_confusion(scored_annotations):
    threes = scored_annotations.filter(pl.col("true_label") == "3")
    by_annotator = threes.group_by("annotator").agg(as_eight=(pl.col("label") == "8").mean())
    rates = dict(zip(by_annotator["annotator"], by_annotator["as_eight"], strict=True))
    assert rates["ann-05"] > 0.5
    assert max(v for k, v in rates.items() if k != "ann-05") < 0.2


def test_drifting_annotator(scored_annotations):
    drift = scored_annotations.filter(pl.col("annotator") == "ann-06").sort("timestamp")
    third = drift.height // 3
    early = drift["correct"][:third].mean()
    late = drift["correct"][-third:].mean()
    assert early - late > 0.1
    steady = scored_annotations.filter(pl.col("annotator") == "ann-01").sort("timestamp")
    third = steady.height // 3
    assert abs(steady["correct"][:third].mean() - steady["correct"][-third:].mean()) < 0.05


def test_generator_is_deterministic_and_matches_shipped_files(tmp_path, demo):
    generator = _load_generator()
    paths = generator.write_frames(generator.build_frames(), tmp_path)
    assert [p.name for p in paths] == [
        "demo_items.parquet",
        "demo_annotations.parquet",
        "demo_truth.parquet",
    ]
    assert_frame_equal(pl.read_parquet(tmp_path / "demo_items.parquet"), demo.items)
    assert_frame_equal(pl.read_parquet(tmp_path / "demo_annotations.parquet"), demo.annotations)
    assert_frame_equal(pl.read_parquet(tmp_path / "demo_truth.parquet"), demo.truth)
    other = generator.build_frames(seed=generator.SEED + 1)
    assert not other["items"]["label"].equals(demo.items["label"])
