"""``labelaudit audit --task segmentation`` end to end, against cleanlab 2.9 as the oracle."""

from __future__ import annotations

import json
import shutil
import tracemalloc

import numpy as np
import polars as pl
import pytest
from cleanlab.segmentation.filter import find_label_issues as cl_find
from cleanlab.segmentation.rank import get_label_quality_scores as cl_scores
from cleanlab.segmentation.summary import common_label_issues as cl_common

from labelaudit.cli import run
from labelaudit.datasets import example_dir
from labelaudit.io import read_mask_folder
from labelaudit.io.label_studio_segmentation import encode_brush_rle
from labelaudit.report._section_segmentation import FLAG_COLOUR, _scale, overlay_panels
from labelaudit.segmentation.filter import find_label_issues
from labelaudit.tasks.segmentation import ShownImage, audit_segmentation

CLASSES = "background,road,vehicle,pedestrian"


def _run(capsys, *args):
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def example():
    return example_dir("segmentation")


def _args(data, probs, out, *extra):
    return ["audit", data, "--task", "segmentation", "--pred-probs", probs, "--classes", CLASSES,
            "--out", out, *extra]


def _example_args(example, out, *extra):
    return _args(example / "masks", example / "probs.npy", out, *extra)


def test_example_end_to_end_finds_the_planted_blobs(capsys, tmp_path, example):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, *_example_args(example, out, "--csv"))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "issues.csv", "issues.parquet", "report.html", "segmentation_classes.csv",
        "segmentation_classes.parquet", "summary.json"]
    assert "Segmentation:" in stdout and "images have a flagged pixel" in stdout
    fig = json.loads((out / "summary.json").read_text())["figures"]
    issues = pl.read_parquet(out / "issues.parquet")
    planted = np.load(example / "planted.npy")
    ids = read_mask_folder(example / "masks").ids
    planted_ids = {ids[i] for i in np.flatnonzero(planted.any(axis=(1, 2)))}
    assert issues.height == fig["n_images"] == 20 and fig["n_pixels"] == 20 * 32 * 32
    assert fig["segmentation_pixel_issue_rate_ci_low"] <= fig["segmentation_pixel_issue_rate"] \
        <= fig["segmentation_pixel_issue_rate_ci_high"]
    assert fig["segmentation_image_issue_rate_ci_low"] <= fig["segmentation_image_issue_rate"] \
        <= fig["segmentation_image_issue_rate_ci_high"]
    flagged = issues.filter("is_issue")
    assert flagged.get_column("issue_rank").to_list() == list(range(1, flagged.height + 1))
    assert flagged.get_column("label_quality").is_sorted()
    assert fig["n_issue_pixels"] == int(issues.get_column("n_issue_pixels").sum())
    # Better than chance: 8 of 20 images are planted, yet nearly all flagged pixels are in them
    # and the planted images are the worst ranked.
    in_planted = flagged.filter(pl.col("id").is_in(list(planted_ids)))
    assert in_planted.get_column("n_issue_pixels").sum() / fig["n_issue_pixels"] > 0.9
    assert len(planted_ids & set(flagged.head(8).get_column("id"))) >= 7
    # Pixel level: planted pixels are 1.6% of all, but most flags hit them and most are found.
    masks = read_mask_folder(example / "masks").masks
    mask = find_label_issues(masks, np.load(example / "probs.npy", mmap_mode="r"), verbose=False)
    hits = int((mask & planted).sum())
    assert planted.mean() < 0.02 and hits / mask.sum() > 0.9 and hits / planted.sum() > 0.6
    classes = pl.read_parquet(out / "segmentation_classes.parquet")
    pedestrian = classes.row(3, named=True)
    assert pedestrian["class"] == "pedestrian" and pedestrian["count"] == 0
    assert np.isnan(pedestrian["estimated_noise_rate"]) and pedestrian["top_suggested"] is None


def test_matches_cleanlab(example):
    masks = read_mask_folder(example / "masks")
    probs = np.load(example / "probs.npy", mmap_mode="r")
    names = CLASSES.split(",")
    audit = audit_segmentation(masks.masks, probs, names, masks.ids, n_bootstrap=50)
    dense = np.array(probs)
    oracle_mask = cl_find(masks.masks, dense, verbose=False)
    oracle_scores, _ = cl_scores(masks.masks, dense, verbose=False)
    got = audit.images.sort(pl.col("id"))
    assert got.get_column("n_issue_pixels").to_list() == \
        oracle_mask.sum(axis=(1, 2)).tolist()
    np.testing.assert_allclose(got.get_column("label_quality").to_numpy(), oracle_scores,
                               rtol=1e-6)
    pairs = cl_common(oracle_mask, masks.masks, dense, class_names=names, verbose=False,
                      top=16)
    first = pairs.drop_duplicates("given_label")
    expect = dict(zip(first["given_label"], first["predicted_label"], strict=True))
    got_pairs = {r["class"]: r["top_suggested"] for r in audit.per_class.iter_rows(named=True)
                 if r["top_suggested"] is not None}
    assert got_pairs == expect
    flagged = audit.per_class.get_column("n_issues").to_list()
    assert flagged == [int((oracle_mask & (masks.masks == c)).sum()) for c in range(4)]


def test_folder_of_probabilities_and_mask_array_give_the_same_audit(capsys, tmp_path, example):
    code, _, err = _run(capsys, *_example_args(example, tmp_path / "a"))
    assert code == 0, err
    ids = read_mask_folder(example / "masks").ids
    probs = np.load(example / "probs.npy")
    folder = tmp_path / "probs"
    folder.mkdir()
    for i, name in enumerate(ids):
        np.save(folder / f"{name}.npy", probs[i])
    code, _, err = _run(capsys, *_args(example / "masks", folder, tmp_path / "b"))
    assert code == 0, err
    a = pl.read_parquet(tmp_path / "a" / "issues.parquet")
    assert a.equals(pl.read_parquet(tmp_path / "b" / "issues.parquet"))
    np.save(tmp_path / "masks.npy", read_mask_folder(example / "masks").masks.astype(np.uint8))
    code, _, err = _run(capsys, *_args(tmp_path / "masks.npy", example / "probs.npy",
                                       tmp_path / "c"))
    assert code == 0, err
    c = pl.read_parquet(tmp_path / "c" / "issues.parquet")
    assert c.get_column("id").to_list() == [str(ids.index(i)) for i in a.get_column("id")]
    assert c.drop("id").equals(a.drop("id"))
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert [i["role"] for i in summary["inputs"]] == ["masks", "pred_probs"]


def _brush(mask, label):
    h, w = mask.shape
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    rgba[..., 3] = mask * 255
    return {"type": "brushlabels", "original_height": h, "original_width": w,
            "value": {"format": "rle", "rle": encode_brush_rle(rgba.ravel()),
                      "brushlabels": [label]}}


def test_label_studio_brush_export_gives_the_same_audit(capsys, tmp_path, example):
    masks = read_mask_folder(example / "masks")
    names = CLASSES.split(",")
    tasks = [{"id": i, "data": {"image": f"/data/upload/1/{image_id}.png"},
              "annotations": [{"result": [_brush(masks.masks[i] == c, names[c])
                                          for c in (1, 2) if (masks.masks[i] == c).any()]}]}
             for i, image_id in enumerate(masks.ids)]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    code, _, err = _run(capsys, *_example_args(example, tmp_path / "a"))
    assert code == 0, err
    code, _, err = _run(capsys, *_args(export, example / "probs.npy", tmp_path / "b"))
    assert code == 0, err
    a = pl.read_parquet(tmp_path / "a" / "issues.parquet")
    assert a.equals(pl.read_parquet(tmp_path / "b" / "issues.parquet"))
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["extras"]["segmentation"]["source"] == "label_studio"
    # Without --classes the export's own classes (background, road, vehicle) are 3, not K=4.
    code, _, err = _run(capsys, "audit", export, "--task", "segmentation", "--pred-probs",
                        example / "probs.npy", "--out", tmp_path / "c")
    assert code == 2 and "do not match the probabilities' K=4" in err
    assert not (tmp_path / "c").exists()


def test_thread_count_does_not_change_the_outputs(capsys, tmp_path, example):
    for jobs in (1, 2):
        code, _, err = _run(capsys, *_example_args(example, tmp_path / f"j{jobs}",
                                                   "--n-jobs", jobs))
        assert code == 0, err
    for name in ("issues.parquet", "segmentation_classes.parquet"):
        assert pl.read_parquet(tmp_path / "j1" / name).equals(
            pl.read_parquet(tmp_path / "j2" / name))


def test_min_pixels_decides_which_images_are_issues(capsys, tmp_path, example):
    code, _, err = _run(capsys, *_example_args(example, tmp_path / "any"))
    assert code == 0, err
    code, stdout, err = _run(capsys, *_example_args(example, tmp_path / "twenty",
                                                    "--segmentation-min-pixels", 20))
    assert code == 0, err
    assert "images have at least 20 flagged pixels" in stdout
    anyp = pl.read_parquet(tmp_path / "any" / "issues.parquet")
    twenty = pl.read_parquet(tmp_path / "twenty" / "issues.parquet")
    assert anyp.get_column("is_issue").to_list() != twenty.get_column("is_issue").to_list()
    assert (twenty.get_column("is_issue") == (twenty.get_column("n_issue_pixels") >= 20)).all()
    assert (anyp.get_column("is_issue") == (anyp.get_column("n_issue_pixels") >= 1)).all()
    fig = json.loads((tmp_path / "twenty" / "summary.json").read_text())["figures"]
    assert fig["segmentation_image_issue_rate"] == twenty.get_column("is_issue").mean()
    # The pixel figures do not depend on it.
    assert fig["n_issue_pixels"] == int(anyp.get_column("n_issue_pixels").sum())
    assert "Images with 20+ flagged pixels" in (tmp_path / "twenty" / "report.html").read_text()
    code, _, err = _run(capsys, *_example_args(example, tmp_path / "zero",
                                               "--segmentation-min-pixels", 0))
    assert code == 2 and "--segmentation-min-pixels must be a positive integer" in err
    assert not (tmp_path / "zero").exists()


def test_image_dir_puts_the_pictures_under_the_overlays(capsys, tmp_path, example):
    code, _, err = _run(capsys, *_example_args(example, tmp_path / "plain"))
    assert code == 0, err
    code, _, err = _run(capsys, *_example_args(example, tmp_path / "pics",
                                               "--segmentation-image-dir", example / "images"))
    assert code == 0, err
    plain = (tmp_path / "plain" / "report.html").read_text()
    pics = (tmp_path / "pics" / "report.html").read_text()
    assert "in magenta over the given mask" in plain
    assert "in magenta over the picture" in pics


def test_gate_on_the_upper_bounds(capsys, tmp_path, example):
    policy = tmp_path / "gate.toml"
    policy.write_text("[gate]\nmax_segmentation_pixel_issue_rate = 0.012\n")
    code, stdout, _ = _run(capsys, *_example_args(example, tmp_path / "o1", "--policy", policy))
    # The estimate (1.19%) is below 1.2% but its upper bound is not.
    assert code == 1 and "max_segmentation_pixel_issue_rate" in stdout
    policy.write_text("[gate]\nmax_segmentation_image_issue_rate = 0.6\n")
    code, stdout, _ = _run(capsys, *_example_args(example, tmp_path / "o2", "--policy", policy))
    assert code == 1 and "max_segmentation_image_issue_rate" in stdout
    policy.write_text("[gate]\nmax_segmentation_pixel_issue_rate = 0.05\n"
                      "max_segmentation_image_issue_rate = 0.9\n")
    code, _, err = _run(capsys, *_example_args(example, tmp_path / "o3", "--policy", policy))
    assert code == 0, err


def _bad_mask(ex, t):
    masks = t / "masks"
    shutil.copytree(ex / "masks", masks)
    from PIL import Image

    Image.fromarray(np.full((32, 32), 7, dtype=np.uint8), mode="L").save(masks / "scene_03.png")
    return _args(masks, ex / "probs.npy", t / "out")


def _missing_probs(ex, t):
    folder = t / "probs"
    folder.mkdir()
    np.save(folder / "scene_00.npy", np.load(ex / "probs.npy")[0])
    return _args(ex / "masks", folder, t / "out")


@pytest.mark.parametrize(("change", "message"), [
    (lambda ex, t: _example_args(ex, t / "out", "--pred-probs", ex / "probs.npy"),
     "exactly one"),
    (lambda ex, t: _args(ex / "masks", ex / "probs.npy", t / "out")[:-4]
     + ["--classes", "a,b,c", "--out", t / "out"], "3 names given but the probabilities have K=4"),
    (_bad_mask, "scene_03.png': class index 7 is not below K=4"),
    (_missing_probs, "no 'scene_01.npy' for image 'scene_01'"),
    (lambda ex, t: _args(ex / "classes.txt", ex / "probs.npy", t / "out"),
     "reads a folder of label masks"),
    (lambda ex, t: (np.save(t / "m.npy", np.zeros((20, 32, 32))),
                    _args(t / "m.npy", ex / "probs.npy", t / "out"))[1],
     "dtype must be integer class indices"),
    (lambda ex, t: _example_args(ex, t / "out", "--label-col", "x"), "--label-col does not apply"),
    (lambda ex, t: _example_args(ex, t / "out", "--segmentation-image-dir", t / "nope"),
     "nope': not a folder"),
])
def test_bad_input_exits_2_and_writes_nothing(capsys, tmp_path, example, change, message):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *change(example, tmp_path))
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("option", [("--segmentation-image-dir", "images"),
                                    ("--segmentation-min-pixels", "3")])
def test_options_only_with_the_segmentation_task(capsys, tmp_path, example, option):
    tok = example_dir("token")
    flag, value = option
    code, _, err = _run(capsys, "audit", tok / "tokens.conll", "--task", "token", "--pred-probs",
                        tok / "token_probs.npy", "--out", tmp_path / "out", flag,
                        example / value if value == "images" else value)
    assert code == 2 and "--task segmentation only" in err
    assert not (tmp_path / "out").exists()


def test_probability_shape_must_match_the_masks(capsys, tmp_path, example):
    np.save(tmp_path / "short.npy", np.load(example / "probs.npy")[:-1])
    code, _, err = _run(capsys, *_args(example / "masks", tmp_path / "short.npy",
                                       tmp_path / "out"))
    assert code == 2 and "does not match 20 masks of 32 x 32" in err


def _edit_pixel(values):
    def edit(probs):
        probs[3, :, 5, 7] = values
    return edit


def _scale_all(probs):
    probs *= 5


def _scale_pixel(probs):
    probs[3, :, 5, 7] *= 0.99          # in [0, 1], sums to 0.99


def _nan_one(probs):
    probs[3, 2, 5, 7] = np.nan


@pytest.mark.parametrize(("edit", "message"), [
    (_edit_pixel([-3.0, 2.0, 2.0, 0.0]),
     "image 3 (id 'scene_03'), pixel (row 5, column 7), class 'background' (index 0) is -3, "
     "outside [0, 1]"),
    (_scale_all, "image 0 (id 'scene_00'), pixel (row 0, column 0), class "),
    (_scale_pixel, "image 3 (id 'scene_03'), pixel (row 5, column 7): its 4 class "
                   "probabilities sum to 0.99, not 1 (tolerance 0.001)"),
    (_nan_one, "image 3 (id 'scene_03'), pixel (row 5, column 7), class 'vehicle' (index 2) "
               "is nan, not a finite probability"),
    (_edit_pixel([np.inf, 0.0, 0.0, 0.0]), "class 'background' (index 0) is inf"),
])
def test_bad_pixel_probabilities_exit_2_naming_file_image_pixel_class(capsys, tmp_path, example,
                                                                       edit, message):
    probs = np.load(example / "probs.npy")
    edit(probs)
    np.save(tmp_path / "bad.npy", probs)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, *_args(example / "masks", tmp_path / "bad.npy", out))
    assert code == 2, stdout
    assert f"probabilities file '{tmp_path / 'bad.npy'}': " in err and message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_pixel_in_a_folder_of_probabilities_names_its_file(capsys, tmp_path, example):
    ids = read_mask_folder(example / "masks").ids
    probs = np.load(example / "probs.npy")
    probs[4, :, 0, 1] = [0.5, 0.5, 0.5, 0.5]
    folder = tmp_path / "probs"
    folder.mkdir()
    for i, name in enumerate(ids):
        np.save(folder / f"{name}.npy", probs[i])
    code, _, err = _run(capsys, *_args(example / "masks", folder, tmp_path / "out"))
    assert code == 2
    assert (f"probabilities file '{folder / 'scene_04.npy'}': image 4 (id 'scene_04'), pixel "
            "(row 0, column 1): its 4 class probabilities sum to 2") in err
    assert not (tmp_path / "out").exists()


def test_mask_array_names_the_image_by_its_row(capsys, tmp_path, example):
    np.save(tmp_path / "masks.npy", read_mask_folder(example / "masks").masks.astype(np.uint8))
    probs = np.load(example / "probs.npy")
    probs[19, 1, 31, 31] = -0.25
    np.save(tmp_path / "bad.npy", probs)
    code, _, err = _run(capsys, "audit", tmp_path / "masks.npy", "--task", "segmentation",
                        "--pred-probs", tmp_path / "bad.npy", "--out", tmp_path / "out")
    assert code == 2
    assert "image 19, pixel (row 31, column 31), class 1 is -0.25, outside [0, 1]" in err


def test_renormalize_does_not_apply_to_segmentation(capsys, tmp_path, example):
    code, _, err = _run(capsys, *_example_args(example, tmp_path / "out", "--renormalize"))
    assert code == 2
    assert ("--renormalize applies to --task classification and --task token only, not --task "
            "segmentation") in err


def test_drop_ins_stay_as_lenient_as_cleanlab(example):
    # The strict check is the command line's: cleanlab computes on probabilities that do not
    # sum to 1, and so do the drop-in functions.
    masks = read_mask_folder(example / "masks").masks
    probs = np.load(example / "probs.npy") * np.float32(5)
    assert np.array_equal(find_label_issues(masks, probs, verbose=False),
                          cl_find(masks, probs, verbose=False))


@pytest.mark.parametrize("budget", [64, 1 << 10, 4 << 20])
def test_check_finds_the_first_bad_pixel_whatever_the_chunks(monkeypatch, budget):
    # 64 bytes: row bands of one pixel row inside an image; 1 KiB: bands of several rows;
    # 4 MiB: several whole images per chunk.
    from labelaudit import _validation
    from labelaudit.exceptions import InputError

    monkeypatch.setattr(_validation, "_VECTOR_CHECK_BYTES", budget)
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), size=(5, 6, 7)).transpose(0, 3, 1, 2).copy()
    _validation.check_probability_vectors(probs, where=str)   # valid: no error
    probs[2, :, 4, 5] = [0.5, 0.2, 0.2]
    probs[4, 0, 0, 0] = np.nan                                 # later: not the one named
    with pytest.raises(InputError, match=r"^\(2, 4, 5\): its 3 class probabilities sum to 0.9,"):
        _validation.check_probability_vectors(probs, where=str)


def test_check_reads_a_memory_map_in_place(tmp_path):
    from labelaudit._validation import check_probability_vectors

    n, k, h, w = 160, 5, 128, 128                                   # 50 MiB of float32
    probs = np.lib.format.open_memmap(tmp_path / "p.npy", mode="w+", dtype=np.float32,
                                      shape=(n, k, h, w))
    probs[:] = np.float32(0.2)
    probs.flush()
    del probs
    probs = np.load(tmp_path / "p.npy", mmap_mode="r")
    tracemalloc.start()
    check_probability_vectors(probs, where=str)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20        # the sums of one ~4 MiB chunk at a time, never a full copy


def test_seed_moves_the_intervals_not_the_issues(example):
    masks = read_mask_folder(example / "masks")
    probs = np.load(example / "probs.npy", mmap_mode="r")
    a, b, c = (audit_segmentation(masks.masks, probs, CLASSES.split(","), masks.ids,
                                  n_bootstrap=200, seed=s) for s in (1, 1, 2))
    assert (a.pixel_ci_low, a.pixel_ci_high) == (b.pixel_ci_low, b.pixel_ci_high)
    assert (a.pixel_ci_low, a.pixel_ci_high) != (c.pixel_ci_low, c.pixel_ci_high)
    assert a.images.equals(c.images)


def test_memory_stays_below_the_probabilities(tmp_path):
    # Besides fixed buffers (histograms of 65536 bins per thread, a block of labels), memory
    # is O(N H W): a copy of the (N, K, H, W) probabilities would fail this.
    rng = np.random.default_rng(0)
    n, k, h, w = 60, 20, 128, 128
    probs = np.lib.format.open_memmap(tmp_path / "p.npy", mode="w+", dtype=np.float32,
                                      shape=(n, k, h, w))
    for i in range(n):
        raw = rng.random((k, h, w), dtype=np.float32) + np.float32(0.05)
        probs[i] = raw / raw.sum(axis=0, keepdims=True)
    probs.flush()
    del probs
    probs = np.load(tmp_path / "p.npy", mmap_mode="r")
    labels = rng.integers(0, k, size=(n, h, w)).astype(np.uint8)
    tracemalloc.start()
    audit_segmentation(labels, probs, [str(i) for i in range(k)], n_bootstrap=100, n_jobs=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.15 * probs.nbytes


def test_overlay_marks_exactly_the_flagged_pixels():
    given = np.zeros((4, 4), dtype=np.uint8)
    suggested = np.zeros((4, 4), dtype=np.int32)
    flagged = np.zeros((4, 4), dtype=bool)
    flagged[1, 2] = True
    suggested[1, 2] = 2
    panels = overlay_panels(ShownImage("x", given, suggested, flagged, None, 0.1, 1, 1))
    magenta = (panels["flags"] == FLAG_COLOUR).all(axis=2)
    assert (magenta == flagged).all() and not panels["picture"]
    assert (panels["suggested"][1, 2] != panels["suggested"][0, 0]).any()
    assert (panels["given"][1, 2] == panels["given"][0, 0]).all()
    # Shrinking a 256 x 256 panel keeps a single flagged pixel visible.
    big = np.zeros((256, 256, 3), dtype=np.uint8)
    one = np.zeros((256, 256), dtype=bool)
    one[101, 37] = True
    small = _scale(big, one)
    assert small.shape == (128, 128, 3)
    assert (small == FLAG_COLOUR).all(axis=2).sum() == 1


def test_example_folder_is_small_and_documented(example, tmp_path):
    size = sum(p.stat().st_size for p in example.rglob("*") if p.is_file())
    assert size < 450_000
    readme = (example / "README.txt").read_text()
    assert "labelaudit audit masks --task segmentation" in readme
