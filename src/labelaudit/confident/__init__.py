"""Confident learning with cleanlab 2.9's names: thresholds to issues and scores.

The functions carry cleanlab's names, parameters and defaults, so a cleanlab
user can switch one import, and give the same confident joints and issue
masks, computed by the single-pass kernels of :mod:`labelaudit._core`
instead of N x K temporaries:

* pass 1 reads ``p[i, labels[i]]`` only, to get the per-class thresholds;
* pass 2 reads every row once: validation, confident counts, per-row guesses,
  and (when asked) a label quality score;
* pass 3 (pruning filters only) reads the rows once more and keeps, for every
  (given class, true class) pair, the exact top-m rows in a bounded heap.

Every pass runs over row chunks with per-thread buffers that merge exactly, so
``n_jobs`` and ``chunk_size`` never change a result, and a read-only
``np.memmap`` is streamed from disk without being copied. A row-chunked
``dask.array.Array`` is processed chunk by chunk with the same answers.

Determinism at ties. cleanlab selects rows with numpy's default ``argsort``,
which is not stable and whose order among *exactly equal* keys depends on the
CPU's SIMD features (so cleanlab itself can differ between machines on tied
inputs). labelaudit always breaks such ties by the smaller row index. Results
differ from cleanlab's only in which of several exactly tied rows is chosen at
a selection cut; the number of rows chosen is the same.

All of confident learning assumes ``pred_probs`` are out-of-sample (for example
from cross-validation): in-sample probabilities make a model look confident in
its own training labels and hide issues.

Modules
-------
:mod:`.count`
    thresholds, the confident joint, calibration.
:mod:`.filter`
    issue filters (the :data:`FILTERS` registry) and issue counts.
:mod:`.rank`
    label quality scores (the :data:`SCORES` registry) and ranking.
:mod:`.noise`
    noise matrices, the latent prior, bootstrap intervals of the noise rate.
"""

from __future__ import annotations

from .count import (
    ConfidentJoint,
    calibrate_confident_joint,
    compute_confident_joint,
    confident_joint_result,
    get_confident_thresholds,
    renormalize,
)
from .filter import (
    FILTERS,
    FilterInputs,
    FilterSpec,
    check_filter_by,
    find_label_issues,
    find_predicted_neq_given,
    num_label_issues,
    register_filter,
)
from .noise import (
    NoiseEstimate,
    estimate_joint,
    estimate_latent,
    estimate_noise_matrices,
    estimate_py_and_noise_matrices_from_probabilities,
    noise_from_joint,
    noise_rate_intervals,
)
from .rank import SCORES, ScoreSpec, get_label_quality_scores, order_label_issues, register_score

__all__ = [
    "FILTERS",
    "SCORES",
    "ConfidentJoint",
    "FilterInputs",
    "FilterSpec",
    "NoiseEstimate",
    "ScoreSpec",
    "calibrate_confident_joint",
    "check_filter_by",
    "compute_confident_joint",
    "confident_joint_result",
    "estimate_joint",
    "estimate_latent",
    "estimate_noise_matrices",
    "estimate_py_and_noise_matrices_from_probabilities",
    "find_label_issues",
    "find_predicted_neq_given",
    "get_confident_thresholds",
    "get_label_quality_scores",
    "noise_from_joint",
    "noise_rate_intervals",
    "num_label_issues",
    "order_label_issues",
    "register_filter",
    "register_score",
    "renormalize",
]
