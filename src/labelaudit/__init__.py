"""labelaudit: label-noise detection and auditing.

The confident-learning functions carry cleanlab 2.9's names and defaults, so
``from labelaudit import find_label_issues`` is a drop-in replacement for
``from cleanlab.filter import find_label_issues`` (same results, computed by a
streaming Cython core).

The public names are loaded on first use: ``import labelaudit`` itself loads
neither scikit-learn, SciPy, matplotlib, dask nor Jinja2.
"""

import sys as _sys
import types as _types

from . import _check_build  # noqa: F401  (clear message when the core is not built)
from ._version import __version__
from .exceptions import InputError, LabelAuditError, LabelAuditWarning, OutputError, PolicyError

# The public names by the submodule that defines them (imported when a name is first used).
_PUBLIC = {
    "._threads": ("effective_n_threads",),
    ".result": ("AuditResult",),
    ".oof": ("OutOfFold", "cross_val_pred_probs", "out_of_fold_probabilities"),
    ".confident": (
        "ConfidentJoint", "NoiseEstimate", "calibrate_confident_joint", "compute_confident_joint",
        "confident_joint_result", "estimate_joint", "estimate_latent", "estimate_noise_matrices",
        "estimate_py_and_noise_matrices_from_probabilities", "find_label_issues",
        "find_predicted_neq_given", "get_confident_thresholds", "get_label_quality_scores",
        "noise_rate_intervals", "num_label_issues", "order_label_issues", "renormalize",
    ),
    ".verify": ("review_sample", "verify_reviews", "single_sampling_plan", "stratified_plan"),
    ".model_checks": ("check_model", "model_noise_interval"),
    ".annotators": ("review_annotators",),
    ".slices": ("analyze_slices",),
    ".gate": ("evaluate_gate", "load_policy"),
}
_LAZY = {name: module for module, names in _PUBLIC.items() for name in names}


def __getattr__(name: str) -> object:
    """Import the submodule that defines a public name on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'labelaudit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    """The public API (``__all__``); submodules stay importable by name."""
    return sorted(__all__)


class _Package(_types.ModuleType):
    """The package's module type: ``labelaudit.audit`` is always the function.

    The function shares its name with its submodule; importing the submodule
    would otherwise rebind the package attribute to the module.
    """

    @property
    def audit(self) -> object:
        from .audit import audit

        return audit

    @audit.setter
    def audit(self, value: object) -> None:
        """Ignore the import system binding the submodule ``labelaudit.audit`` here."""


_sys.modules[__name__].__class__ = _Package


__all__ = [
    "InputError",
    "LabelAuditError",
    "LabelAuditWarning",
    "OutputError",
    "PolicyError",
    "__version__",
    "audit",
    *_LAZY,
]
