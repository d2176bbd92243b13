"""``summary.json``: the machine-readable record of one audit.

:func:`to_summary_dict` builds it from an :class:`~labelaudit.result.AuditResult`:
versions, parameters, seeds, input hashes, headline figures (with each
registered report section's headline, see :mod:`labelaudit.report.sections`),
the gate block and the written outputs.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from .result import AuditResult

__all__ = ["SCHEMA_FILE", "not_run", "summary_schema", "to_summary_dict"]

#: The JSON Schema of ``summary.json``, shipped in the package's ``data`` directory.
SCHEMA_FILE = "summary.schema.json"


def summary_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every ``summary.json`` follows.

    Every command that writes ``summary.json`` (``audit``, ``annotators``,
    ``demo``, ``verify``) writes a document valid under it. Blocks it does
    not list may be added by further analyses; the listed ones keep their
    meaning.

    Returns
    -------
    dict
        The schema, as read from ``labelaudit/data/summary.schema.json``.

    Examples
    --------
    >>> from labelaudit.summary import summary_schema
    >>> schema = summary_schema()
    >>> schema["$schema"], schema["properties"]["tool"]
    ('https://json-schema.org/draft/2020-12/schema', {'const': 'labelaudit'})
    """
    from importlib import resources

    from .io import read_json

    with resources.as_file(resources.files("labelaudit").joinpath("data", SCHEMA_FILE)) as path:
        return read_json(path, what="summary.json schema")


def not_run(result: AuditResult) -> bool:
    """Whether confident learning did not run (an annotations-only review)."""
    return result.parameters.get("confident_learning") == "not run"


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    from ._version import __version__

    return {
        "labelaudit": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "polars": pl.__version__,
        "scikit-learn": version("scikit-learn"),  # read without importing it
    }


def _plain(obj: Any) -> Any:
    """Sections to plain data: ``to_dict()`` when available, frames to row lists."""
    if hasattr(obj, "to_dict") and callable(obj.to_dict) and not isinstance(obj, pl.DataFrame):
        return obj.to_dict()
    if isinstance(obj, pl.DataFrame):
        return obj.to_dicts()
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _headline_figures(result: AuditResult) -> dict[str, Any]:
    """Gate figures of the attached sections, plus each registered section's headline."""
    from .report.sections import present_sections

    figures: dict[str, Any] = dict(result.extra_figures)
    for spec, section in present_sections(result):
        if spec.figures is not None:
            figures[spec.name] = spec.figures(section)
    return figures


def _section_summary(name: str, section: Any) -> Any:
    """The ``extras`` entry of one attached section: its registered summary, else plain data.

    The full tables are the sidecar files; the summary keeps parameters,
    headline figures and findings.
    """
    from .report.sections import section_for

    spec = section_for(name, section)
    if spec is not None and spec.summary is not None:
        return spec.summary(section)
    return _plain(section)


def _top_level_key(name: str, section: Any) -> str | None:
    from .report.sections import section_for

    spec = section_for(name, section)
    return None if spec is None else spec.summary_key


def _top_level_blocks(result: AuditResult) -> dict[str, Any]:
    """Attached sections whose summary entry is a top-level block (e.g. ``verified``)."""
    blocks = {}
    for name, section in result.extras.items():
        key = _top_level_key(name, section)
        if key is not None:
            blocks[key] = _section_summary(name, section)
    return blocks


def _extras(result: AuditResult) -> dict[str, Any]:
    """The ``extras`` block: each attached analysis, then core sections' own entries."""
    from .report.sections import SECTIONS

    extras = {
        name: _section_summary(name, section)
        for name, section in result.extras.items()
        if _top_level_key(name, section) is None
    }
    for spec in SECTIONS:
        if not spec.attached and spec.summary is not None:
            extras[spec.name] = spec.summary(result)
    return extras


def _model_figures(result: AuditResult) -> dict[str, Any]:
    """``noise_rate_source``, the sampling interval, the interval's components and the model checks."""
    from .model_checks import MODEL_LABEL

    iv = result.noise_interval
    block = None
    if iv is not None:
        block = {
            "label": MODEL_LABEL,
            "ci_low": iv.ci_low,
            "ci_high": iv.ci_high,
            "confidence": iv.confidence,
            "bootstrap_low": iv.bootstrap_low,
            "bootstrap_high": iv.bootstrap_high,
            "lower_bound": iv.lower_bound,
            "upper_bound": iv.upper_bound,
            "lower_bound_ci_low": iv.lower_bound_ci_low,
            "upper_bound_ci_high": iv.upper_bound_ci_high,
            "temperature": iv.temperature,
            "n_models": len(result.model_names) or 1,
        }
        if result.model_names:
            # model_rates[0] is the mean of the models (the point); then each model.
            own = list(zip(iv.model_rates[1:], iv.model_intervals[1:], strict=True))
            block["models"] = [
                {"name": name, "noise_rate": rate, "ci_low": lo, "ci_high": hi}
                for name, (rate, (lo, hi)) in zip(result.model_names, own, strict=True)
            ]
            block["spread_low"] = min(rate for rate, _ in own)
            block["spread_high"] = max(rate for rate, _ in own)
    return {
        "noise_rate_source": result.noise_rate_source,
        "sampling_ci_low": result.sampling_ci_low,
        "sampling_ci_high": result.sampling_ci_high,
        "noise_rate_interval": block,
        "model_checks": [
            {"code": f.code, "severity": f.severity, "message": f.message,
             "figures": dict(f.figures)}
            for f in result.model_checks
        ],
    }


def to_summary_dict(
    result: AuditResult,
    *,
    inputs: Sequence[Mapping[str, Any]] = (),
    parameters: Mapping[str, Any] | None = None,
    gate: Any = None,
    outputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the content of ``summary.json`` from an audit result.

    The summary is deterministic: it holds no timestamps, so the same inputs
    and parameters give a byte-identical file.

    Parameters
    ----------
    result : AuditResult
        The audit.
    inputs : sequence of dict, default ()
        Provenance of each input file (see :func:`labelaudit.io.file_fingerprint`),
        each with a ``role`` key.
    parameters : Mapping, optional
        Extra parameters to record (command-line options), merged over the
        audit's own.
    gate : GateResult, optional
        Gate verdict; its ``to_dict()`` becomes the ``gate`` block.
    outputs : Mapping, optional
        Names of the files written next to the summary.

    Returns
    -------
    dict
        Valid under :func:`summary_schema`. Keys ``tool``, ``versions``, ``parameters``, ``seeds``, ``inputs``,
        ``figures``, ``noise_rate_source`` (``"review"`` when a verified
        review is attached, else ``"model"``), ``verified`` (the review's
        block, or None), ``classes``, ``per_class``, ``noise_matrix``,
        ``out_of_fold``, ``gate``, ``extras``, ``outputs``. ``figures``
        holds ``ci_low``/``ci_high``, the model-based, unverified interval,
        with ``noise_rate_source`` (``"model"``), the row bootstrap alone
        (``sampling_ci_low``/``sampling_ci_high``), the interval's components
        (``noise_rate_interval``: bootstrap interval, lower and upper bounds,
        temperature, and with several models each model's own estimate in
        ``models`` and their ``spread_low``/``spread_high``) and
        ``model_checks`` (``code``, ``severity``, ``message``, ``figures`` of
        each problem found in the probabilities). ``figures`` also
        holds the gate figures of attached sections (``krippendorff_alpha``,
        ``annotator_accuracy``, ``disparity``, ``max_flagged_slice_effect``)
        and, with an annotator review or slice report attached, the
        ``annotators`` headline (alpha, kappas, flagged annotators) and the
        ``slices`` headline (slices tested and flagged). Confident-learning
        figures are null when it did not run (:func:`review_only_result`).
    """
    params = {**result.parameters, **(parameters or {})}
    figures = {
        "n_items": result.n_items,
        "n_classes": result.n_classes,
        "n_issues": result.n_issues,
        "issue_fraction": result.issue_fraction,
        "estimated_noise_rate": result.estimated_noise_rate,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "confidence": result.confidence,
        "label_health_score": result.label_health_score,
        "class_noise_rates": result.class_noise_rates,
    }
    figures.update(_model_figures(result))
    if not_run(result):
        for key in ("n_issues", "issue_fraction", "estimated_noise_rate", "ci_low", "ci_high",
                    "label_health_score", "class_noise_rates", "noise_rate_source",
                    "sampling_ci_low", "sampling_ci_high", "noise_rate_interval"):
            figures[key] = None
    figures.update(_headline_figures(result))
    oof = result.out_of_fold
    oof_block = None
    if oof is not None:
        oof_block = {
            "n_splits": oof.n_splits,
            "model": oof.model,
            "model_name": oof.model_name,
            "accuracy": oof.accuracy,
            "pilot": {"n_rows": oof.pilot_rows, "brier": dict(oof.pilot_scores),
                      "failed_in_folds": list(oof.failed_models)}
            if oof.pilot_scores else None,
            "n_jobs": oof.n_jobs,
            "random_state": oof.random_state,
            "fold_noise_rates": oof.fold_noise_rates.tolist(),
            "fold_spread": oof.fold_spread(),
            "fold_sizes": np.bincount(oof.fold, minlength=oof.n_splits).tolist(),
            "fold_confident_joints": [cj.tolist() for cj in oof.fold_confident_joints],
            "rare_classes": [result.class_names[c] for c in oof.rare_classes],
        }
    return {
        "tool": "labelaudit",
        "versions": _versions(),
        "parameters": params,
        "seeds": {"folds": params.get("seed"), "model": params.get("seed"),
                  "bootstrap": params.get("seed")},
        "inputs": [dict(i) for i in inputs],
        "figures": figures,
        # Where the headline noise rate comes from: a human review of a sample
        # ("review", see the ``verified`` block) or the model alone ("model").
        "noise_rate_source": result.noise_rate_source,
        "verified": None,
        **_top_level_blocks(result),
        "classes": list(result.class_names),
        "per_class": result.per_class.to_dicts(),
        "noise_matrix": {
            "description": "noise_matrix[i][j] = p(given label = classes[i] | true label = classes[j])",
            "matrix": result.noise_matrix.tolist(),
            "inverse": result.inverse_noise_matrix.tolist(),
            "confident_joint": result.confident_joint.tolist(),
            "py": result.py.tolist(),
        },
        "out_of_fold": oof_block,
        "gate": None if gate is None else gate.to_dict(),
        "extras": _extras(result),
        "outputs": dict(outputs or {}),
    }
