"""Streaming behaviour of labelaudit.segmentation: determinism, memory maps, options, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from labelaudit.exceptions import InputError, LabelAuditError
from labelaudit.segmentation import _stream
from labelaudit.segmentation.filter import find_label_issues
from labelaudit.segmentation.rank import get_label_quality_scores
from labelaudit.segmentation.summary import common_label_issues, issue_confusion


def _case(n=6, k=4, h=12, w=10, dtype=np.float32, seed=0, coarse=False):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=(n, h, w))
    probs = rng.dirichlet(np.full(k, 0.4), size=(n, h, w))
    if coarse:
        probs = np.round(probs * 4) + 1e-3
        probs /= probs.sum(-1, keepdims=True)
    return labels, np.ascontiguousarray(probs.transpose(0, 3, 1, 2)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("coarse", [False, True])
def test_results_do_not_depend_on_threads_or_blocks(monkeypatch, dtype, coarse):
    labels, probs = _case(dtype=dtype, coarse=coarse)
    ref = find_label_issues(labels, probs, n_jobs=1, verbose=False)
    ref_scores = get_label_quality_scores(labels, probs, n_jobs=1, verbose=False)
    ref_down = find_label_issues(labels, probs, n_jobs=1, verbose=False, downsample=2)
    for block_bytes in (1, probs[0].nbytes * 2 + 7, 1 << 30):
        monkeypatch.setattr(_stream, "BLOCK_BYTES", block_bytes)
        for n_jobs in (1, 2, 3):
            np.testing.assert_array_equal(
                find_label_issues(labels, probs, n_jobs=n_jobs, verbose=False), ref)
            np.testing.assert_array_equal(
                find_label_issues(labels, probs, n_jobs=n_jobs, verbose=False, downsample=2),
                ref_down)
            img, pix = get_label_quality_scores(labels, probs, n_jobs=n_jobs, verbose=False)
            np.testing.assert_array_equal(img, ref_scores[0])
            np.testing.assert_array_equal(pix, ref_scores[1])


def test_ties_at_the_cut_go_to_the_smallest_pixel_index():
    # Every pixel is [0.5, 0.5]: all self-confidences tie. Pixels labelled 1
    # are confidently predicted as 0 (argmax takes the first index), so there
    # are 2 issues; the 2 smallest pixel indices are selected, and a selected
    # pixel whose argmax equals its label is then dropped.
    probs = np.full((1, 2, 1, 4), 0.5)
    mask = find_label_issues(np.array([[[1, 0, 1, 0]]]), probs, verbose=False)
    assert mask.tolist() == [[[True, False, False, False]]]
    mask = find_label_issues(np.array([[[0, 1, 0, 1]]]), probs, verbose=False)
    assert mask.tolist() == [[[False, True, False, False]]]
    # Across images the order is image first: 2 images x 1 x 2 pixels.
    probs = np.full((2, 2, 1, 2), 0.5, dtype=np.float32)
    mask = find_label_issues(np.array([[[0, 0]], [[1, 1]]]), probs, verbose=False)
    assert mask.tolist() == [[[False, False]], [[False, False]]]


def test_out_parameter_writes_into_a_memmap(tmp_path):
    labels, probs = _case()
    expected = find_label_issues(labels, probs, verbose=False)
    out = np.lib.format.open_memmap(tmp_path / "mask.npy", mode="w+", dtype=bool,
                                    shape=labels.shape)
    got = find_label_issues(labels, probs, verbose=False, out=out)
    assert got is out
    np.testing.assert_array_equal(np.load(tmp_path / "mask.npy"), expected)
    with pytest.raises(LabelAuditError, match="`out` must be"):
        find_label_issues(labels, probs, verbose=False, out=np.zeros(labels.shape, dtype=int))


def test_verbose_prints_and_batch_size_sets_the_threshold_batches(capsys):
    labels, probs = _case(k=2, h=2, w=2)
    find_label_issues(labels, probs, verbose=False)
    assert capsys.readouterr().out == ""
    find_label_issues(labels, probs, verbose=True)
    default = capsys.readouterr().out
    assert "pixels ranked as likely label issues" in default
    assert "batches of 1250 image(s)" in default        # 10000 // (2 * 2 * 2)
    find_label_issues(labels, probs, verbose=True, batch_size=16)
    assert "batches of 2 image(s)" in capsys.readouterr().out
    get_label_quality_scores(labels, probs, verbose=True)
    assert "softmin" in capsys.readouterr().out
    mask = find_label_issues(labels, probs, verbose=False)
    common_label_issues(mask | True, labels, probs, verbose=True)
    assert "pixels labelled" in capsys.readouterr().out


def test_downsample_changes_the_mask_and_must_divide():
    labels, probs = _case(h=8, w=8, seed=3)
    full = find_label_issues(labels, probs, verbose=False)
    down = find_label_issues(labels, probs, verbose=False, downsample=2)
    assert not np.array_equal(full, down)
    with pytest.raises(LabelAuditError, match="`downsample`=3 must divide"):
        find_label_issues(labels, probs, verbose=False, downsample=3)
    with pytest.raises(LabelAuditError, match="`downsample` must be a positive integer"):
        find_label_issues(labels, probs, verbose=False, downsample=0)


def test_temperature_and_method_change_scores():
    labels, probs = _case(seed=4)
    a, _ = get_label_quality_scores(labels, probs, verbose=False, temperature=0.1)
    b, _ = get_label_quality_scores(labels, probs, verbose=False, temperature=1.0)
    c, pix = get_label_quality_scores(labels, probs, verbose=False, method="num_pixel_issues")
    assert not np.allclose(a, b) and not np.allclose(a, c)
    assert pix.dtype == np.float32
    with pytest.raises(LabelAuditError, match="`method` must be one of"):
        get_label_quality_scores(labels, probs, verbose=False, method="mean")
    with pytest.raises(LabelAuditError, match="`temperature` must be a non-zero"):
        get_label_quality_scores(labels, probs, verbose=False, temperature=0)


def test_exclude_class_names_and_top_change_the_table():
    labels, probs = _case(seed=5)
    issues = np.ones(labels.shape, dtype=bool)
    full = common_label_issues(issues, labels, probs, verbose=False, top=100)
    assert full["num_pixel_issues"].sum() == issues.sum()
    assert len(common_label_issues(issues, labels, probs, verbose=False, top=2)) == 2
    excl = common_label_issues(issues, labels, probs, verbose=False, exclude=[0], top=100)
    assert "0" not in set(excl["predicted_label"])
    named = common_label_issues(issues, labels, probs, verbose=False,
                                class_names=list("abcd"))
    assert set(named["given_label"]) <= set("abcd")
    counts = issue_confusion(issues, labels, probs)
    assert counts.sum() == issues.size


@pytest.mark.parametrize(("labels", "probs", "message"), [
    (np.zeros((1, 2)), np.full((1, 2, 1, 2), 0.5), r"`labels` must have shape \(N, H, W\)"),
    (np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5), r"`pred_probs` must have shape"),
    (np.zeros((2, 2, 2)), np.full((1, 2, 2, 2), 0.5), "N, H and W must match"),
    (np.full((1, 1, 2), 2), np.full((1, 2, 1, 2), 0.5), r"`labels`\[0, 0, 0\] = 2 is outside"),
    (np.full((1, 1, 2), 0.5), np.full((1, 2, 1, 2), 0.5), "not a class index"),
    (np.zeros((1, 1, 2)), np.full((1, 2, 1, 2), 0.5, dtype=np.float16), "float32 or float64"),
    (np.zeros((1, 1, 2)), np.full((1, 2, 1, 2), np.nan), "non-finite"),
])
def test_bad_input_names_the_problem(labels, probs, message):
    with pytest.raises(LabelAuditError, match=message):
        find_label_issues(labels, probs, verbose=False)


def test_bad_batch_size_and_threshold():
    labels, probs = _case()
    with pytest.raises(LabelAuditError, match="`batch_size` must be greater than 0"):
        find_label_issues(labels, probs, batch_size=0, verbose=False)
    from labelaudit.segmentation.rank import issues_from_scores

    with pytest.raises(LabelAuditError, match="`threshold` must be between 0 and 1"):
        issues_from_scores(np.array([0.2]), threshold=1.5)
    with pytest.raises(InputError, match="non-finite"):
        p = probs.copy()
        p[0, labels[0, 0, 0], 0, 0] = np.inf
        get_label_quality_scores(labels, p, verbose=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0, 0, 0), (1, 3, 2, 17), (2, 2, 4, 36)])
def test_one_non_finite_value_anywhere_is_found(dtype, bad, where):
    # The argmax sweep runs in vector lanes over each class plane: a value
    # in any plane, lane or row tail must be seen (W = 37 is not a multiple
    # of any vector width).
    labels, probs = _case(n=3, k=4, h=5, w=37, dtype=dtype, seed=3)
    probs = probs.copy()
    probs[where] = bad
    with pytest.raises(InputError, match="non-finite"):
        find_label_issues(labels, probs, verbose=False)


def test_argmax_ties_take_the_first_class_at_every_lane():
    # Equal maxima in two classes: numpy's argmax (first index) decides which
    # pixels count as confident off-label pixels, so the mask must equal
    # cleanlab's on probabilities made of a few repeated values.
    from cleanlab.segmentation.filter import find_label_issues as cl_find

    rng = np.random.default_rng(0)
    n, k, h, w = 4, 4, 6, 37
    probs = rng.choice([0.1, 0.2, 0.3, 0.4], size=(n, k, h, w)).astype(np.float32)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = rng.integers(0, k, size=(n, h, w))
    tied = (probs == probs.max(axis=1, keepdims=True)).sum(axis=1) > 1
    assert tied.sum() > 300  # many pixels whose argmax is a tie
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = cl_find(labels, probs, verbose=False, n_jobs=1)
    got = find_label_issues(labels, probs, verbose=False)
    differ = got != expected
    # Pixels tied at the cut may differ (documented), none others.
    scores = np.take_along_axis(probs, labels[:, None], axis=1)[:, 0]
    assert np.unique(scores[differ]).size <= 1
    assert (got & expected).sum() > 500


CHILD = r"""
import json, sys, threading, time
import numpy as np
from labelaudit.segmentation.filter import find_label_issues

def rss_anon():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024

probs = np.load(sys.argv[1], mmap_mode="r")
labels = np.load(sys.argv[2], mmap_mode="r")
find_label_issues(labels[:2], np.array(probs[:2]), verbose=False)   # warm-up
peak = [0]
done = [False]
def sample():
    while not done[0]:
        peak[0] = max(peak[0], rss_anon())
        time.sleep(0.002)
base = rss_anon()
t = threading.Thread(target=sample, daemon=True)
t.start()
mask = find_label_issues(labels, probs, verbose=False, n_jobs=2)
done[0] = True
t.join()
np.save(sys.argv[3], mask)
print(json.dumps({"growth": peak[0] - base, "mask_bytes": mask.nbytes,
                  "file_bytes": probs.nbytes, "memmap": isinstance(probs, np.memmap)}))
"""


def test_memmap_is_streamed_with_small_anonymous_memory(tmp_path):
    n, k, h, w = 300, 10, 96, 96          # 110 MB of float32 probabilities
    rng = np.random.default_rng(7)
    probs = np.lib.format.open_memmap(tmp_path / "p.npy", mode="w+", dtype=np.float32,
                                      shape=(n, k, h, w))
    labels = rng.integers(0, k, size=(n, h, w)).astype(np.uint8)
    for start in range(0, n, 50):
        block = rng.random((min(50, n - start), k, h, w), dtype=np.float32)
        block /= block.sum(axis=1, keepdims=True)
        probs[start:start + 50] = block
    probs.flush()
    del probs
    np.save(tmp_path / "l.npy", labels)
    env = dict(os.environ)  # the child imports the labelaudit this interpreter has installed
    run = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "p.npy"),
                          str(tmp_path / "l.npy"), str(tmp_path / "mask.npy")],
                         capture_output=True, text=True, env=env, timeout=300, check=True)
    info = json.loads(run.stdout.strip().splitlines()[-1])
    assert info["memmap"]
    # Output mask + per-image sums + histograms + one block of labels, far below the file.
    assert info["growth"] <= info["mask_bytes"] + 48 * 2**20, info
    assert info["growth"] < info["file_bytes"] / 2, info
    in_memory = find_label_issues(labels, np.load(tmp_path / "p.npy"), verbose=False)
    np.testing.assert_array_equal(np.load(tmp_path / "mask.npy"), in_memory)
