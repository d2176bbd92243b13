"""labelaudit: label-noise detection and auditing.

The confident-learning functions carry cleanlab 2.9's names and defaults, so
``from labelaudit import find_label_issues`` is a drop-in replacement for
``from cleanlab.filter import find_label_issues`` (same results, computed by a
streaming Cython core).
"""

from __future__ import annotations

from . import _check_build  # noqa: F401  (clear message when the core is not built)
from ._threads import effective_n_threads
from .audit import AuditResult, audit
from .confident import (
    ConfidentJoint,
    NoiseEstimate,
    calibrate_confident_joint,
    compute_confident_joint,
    confident_joint_result,
    estimate_joint,
    estimate_latent,
    estimate_noise_matrices,
    estimate_py_and_noise_matrices_from_probabilities,
    find_label_issues,
    find_predicted_neq_given,
    get_confident_thresholds,
    get_label_quality_scores,
    noise_rate_intervals,
    num_label_issues,
    order_label_issues,
    renormalize,
)
from .exceptions import InputError, LabelAuditError, LabelAuditWarning, PolicyError
from .oof import OutOfFold, cross_val_pred_probs, out_of_fold_probabilities

__version__ = "0.1.0"

__all__ = [
    "AuditResult",
    "OutOfFold",
    "audit",
    "cross_val_pred_probs",
    "out_of_fold_probabilities",
    "ConfidentJoint",
    "InputError",
    "NoiseEstimate",
    "LabelAuditError",
    "LabelAuditWarning",
    "PolicyError",
    "__version__",
    "calibrate_confident_joint",
    "compute_confident_joint",
    "confident_joint_result",
    "effective_n_threads",
    "estimate_joint",
    "estimate_latent",
    "estimate_noise_matrices",
    "estimate_py_and_noise_matrices_from_probabilities",
    "find_label_issues",
    "find_predicted_neq_given",
    "get_confident_thresholds",
    "get_label_quality_scores",
    "noise_rate_intervals",
    "num_label_issues",
    "order_label_issues",
    "renormalize",
]
