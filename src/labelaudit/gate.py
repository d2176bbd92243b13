"""Quality gate: a TOML policy of thresholds, a verdict, and a JUnit report.

A policy has two levels. Checks in ``[gate]`` *fail* the gate (exit code 1);
checks in ``[gate.warn]`` only *warn*. The same tables can live in
``pyproject.toml`` as ``[tool.labelaudit.gate]`` and
``[tool.labelaudit.gate.warn]``::

    [gate]
    max_noise_rate = 0.10
    noise_rate_statistic = "ci_low"   # gate on the lower confidence bound
    max_issues = 500

    [gate.warn]
    max_noise_rate = 0.05
    max_class_noise_rate = 0.20

Checks are rows of a registry (:data:`CHECKS`): a policy key, the figure it
reads, and whether the figure must stay at most (``max_*``) or at least
(``min_*``) the threshold. Boundaries pass: a noise rate equal to
``max_noise_rate`` passes.

Figures that hold one value per group (``class_noise_rates``,
``annotator_accuracy``, ``disparity``) give **one check each, judged on the
worst group**, which the message names together with every other group beyond
the threshold. The number of checks therefore does not depend on the number
of classes or annotators, which keeps CI histories comparable.

A check whose figure was not computed fails with a "not computed" message
rather than raising: a gate that asks for a number nobody measured must not
pass silently.
"""

from __future__ import annotations

import math
import numbers
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from ._display import ResultTables, short_repr
from .exceptions import LabelAuditError, PolicyError
from .io.config import read_toml

__all__ = [
    "CHECKS",
    "CheckSpec",
    "GateCheck",
    "GatePolicy",
    "GateResult",
    "evaluate",
    "evaluate_gate",
    "load_policy",
    "to_junit_xml",
    "write_junit",
]

Level = Literal["fail", "warn"]
Direction = Literal["max", "min"]

NOISE_RATE_STATISTICS = {
    "estimate": "estimated_noise_rate",
    "ci_low": "noise_rate_ci_low",
    "ci_high": "noise_rate_ci_high",
}
DISPARITY_METHODS = ("difference", "ratio")


# --------------------------------------------------------------------------- measurements


class _NotComputed(Exception):
    """Internal signal: the figure a check needs is absent from ``figures``."""

    def __init__(self, figure: str, detail: str = "") -> None:
        super().__init__(figure)
        self.figure = figure
        self.detail = detail


@dataclass(frozen=True)
class _Measure:
    """Value a check compares, with the figure it came from and per-group values."""

    value: float | int
    figure: str
    groups: Mapping[str, float] | None = None
    group_noun: str = ""
    note: str = ""


def _number(figure: str, value: Any) -> float | int:
    """Return ``value`` as int or float, or raise if it is not a real number."""
    if value is None:
        raise _NotComputed(figure)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LabelAuditError(
            f"gate figure {figure!r} must be a real number, got {type(value).__name__} {value!r}"
        )
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _scalar(figure: str) -> Callable[[GatePolicy, Mapping[str, Any]], _Measure]:
    """Measure reading one scalar figure."""

    def measure(policy: GatePolicy, figures: Mapping[str, Any]) -> _Measure:
        return _Measure(_number(figure, figures.get(figure)), figure)

    return measure


#: The figure ``max_noise_rate`` reads when a review verified the noise rate.
VERIFIED_NOISE_RATE_BOUND = "verified_noise_rate_ci_high"


def _noise_rate(policy: GatePolicy, figures: Mapping[str, Any]) -> _Measure:
    """Overall noise rate: the verified upper bound after a review, else the model's figure.

    A review of a sample (``labelaudit verify``) measures the noise rate; its
    upper bound is what a buyer can rely on, whatever ``noise_rate_statistic``
    says. Without one, the model's estimate or bound is used, per the policy.
    """
    if figures.get(VERIFIED_NOISE_RATE_BOUND) is not None:
        return _Measure(_number(VERIFIED_NOISE_RATE_BOUND, figures[VERIFIED_NOISE_RATE_BOUND]),
                        VERIFIED_NOISE_RATE_BOUND)
    figure = NOISE_RATE_STATISTICS[policy.noise_rate_statistic]
    note = ""
    if figures.get("noise_rate_source") == "model":
        from .model_checks import MODEL_LABEL

        note = f"the figure is {MODEL_LABEL}: no reviewed sample checked it"
    return _Measure(_number(figure, figures.get(figure)), figure, note=note)


def _worst(
    figure: str, noun: str, direction: Direction
) -> Callable[[GatePolicy, Mapping[str, Any]], _Measure]:
    """Measure reading a ``{group: value}`` figure and keeping the worst group."""

    def measure(policy: GatePolicy, figures: Mapping[str, Any]) -> _Measure:
        groups = _group_values(figure, figures.get(figure))
        return _worst_of(groups, figure, noun, direction)

    return measure


def _group_values(figure: str, raw: Any) -> dict[str, float]:
    """Validate a ``{group: value}`` figure; empty or missing means not computed."""
    if raw is None or (isinstance(raw, Mapping) and not raw):
        raise _NotComputed(figure)
    if not isinstance(raw, Mapping):
        raise LabelAuditError(
            f"gate figure {figure!r} must be a mapping of group -> value, got {type(raw).__name__}"
        )
    return {str(k): float(_number(f"{figure}[{k!r}]", v)) for k, v in raw.items()}


def _worst_of(
    groups: Mapping[str, float], figure: str, noun: str, direction: Direction
) -> _Measure:
    """Pick the worst group; NaN counts as worst so it cannot hide."""

    def badness(item: tuple[str, float]) -> float:
        value = item[1]
        if math.isnan(value):
            return math.inf
        return value if direction == "max" else -value

    name, value = max(groups.items(), key=badness)
    return _Measure(value, f"{figure}[{name!r}]", MappingProxyType(dict(groups)), noun)


def _disparity(policy: GatePolicy, figures: Mapping[str, Any]) -> _Measure:
    """Disparity of the chosen attribute (or the worst attribute).

    Both forms grow with unfairness: ``difference`` is highest minus lowest
    group value, ``ratio`` is highest over lowest (1 means parity).
    """
    raw = figures.get("disparity")
    if raw is None or (isinstance(raw, Mapping) and not raw):
        raise _NotComputed("disparity")
    if not isinstance(raw, Mapping):
        raise LabelAuditError(
            f"gate figure 'disparity' must be a mapping, got {type(raw).__name__}"
        )
    if policy.disparity_attribute is not None:
        if policy.disparity_attribute not in raw:
            raise _NotComputed(
                "disparity",
                f"for attribute {policy.disparity_attribute!r} (computed for "
                f"{', '.join(repr(str(a)) for a in raw) or 'no attribute'})",
            )
        raw = {policy.disparity_attribute: raw[policy.disparity_attribute]}
    method = policy.disparity_method
    values = {}
    for attribute, entry in raw.items():
        if not isinstance(entry, Mapping) or entry.get(method) is None:
            raise _NotComputed("disparity", f"{method} for attribute {attribute!r}")
        number = float(_number(f"disparity[{attribute!r}][{method!r}]", entry[method]))
        values[str(attribute)] = number
    return _worst_of(values, f"disparity {method}", "attribute", "max")


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class CheckSpec:
    """One entry of the check registry.

    Attributes
    ----------
    key : str
        Policy key (``max_*`` or ``min_*``).
    figure : str
        Name of the figure it reads (for documentation and messages).
    direction : {"max", "min"}
        ``"max"``: passes when the value is at most the threshold;
        ``"min"``: passes when it is at least the threshold.
    integer : bool
        Whether the threshold must be an integer.
    low, high : float
        Allowed threshold range (inclusive).
    measure : callable
        ``measure(policy, figures) -> _Measure``.
    """

    key: str
    figure: str
    direction: Direction
    low: float
    high: float
    measure: Callable[[GatePolicy, Mapping[str, Any]], _Measure] = field(repr=False)
    integer: bool = False

    def describe_range(self) -> str:
        """Human description of the allowed threshold values."""
        kind = "an integer" if self.integer else "a number"
        if math.isinf(self.high):
            return f"{kind} >= {self.low:g}"
        return f"{kind} in [{self.low:g}, {self.high:g}]"


def _registry(*specs: CheckSpec) -> Mapping[str, CheckSpec]:
    return MappingProxyType({spec.key: spec for spec in specs})


#: Every check a policy can set, in evaluation order. Adding a check is one entry.
CHECKS: Mapping[str, CheckSpec] = _registry(
    CheckSpec("max_noise_rate", "estimated_noise_rate", "max", 0, 1, _noise_rate),
    CheckSpec(
        "max_class_noise_rate",
        "class_noise_rates",
        "max",
        0,
        1,
        _worst("class_noise_rates", "class", "max"),
    ),
    CheckSpec("max_issue_fraction", "issue_fraction", "max", 0, 1, _scalar("issue_fraction")),
    CheckSpec("max_issues", "n_issues", "max", 0, math.inf, _scalar("n_issues"), integer=True),
    CheckSpec(
        "min_label_health_score",
        "label_health_score",
        "min",
        0,
        1,
        _scalar("label_health_score"),
    ),
    CheckSpec(
        "min_krippendorff_alpha",
        "krippendorff_alpha",
        "min",
        -1,
        1,
        _scalar("krippendorff_alpha"),
    ),
    CheckSpec(
        "min_annotator_accuracy",
        "annotator_accuracy",
        "min",
        0,
        1,
        _worst("annotator_accuracy", "annotator", "min"),
    ),
    CheckSpec("max_disparity", "disparity", "max", 0, math.inf, _disparity),
    CheckSpec(
        "max_flagged_slice_effect",
        "max_flagged_slice_effect",
        "max",
        0,
        math.inf,
        _scalar("max_flagged_slice_effect"),
    ),
    # --task token: the share of sentences with a flagged token, and its upper bound
    CheckSpec("max_sentence_issue_rate", "sentence_issue_rate", "max", 0, 1,
              _scalar("sentence_issue_rate")),
    CheckSpec("max_sentence_issue_rate_ci_high", "sentence_issue_rate_ci_high", "max", 0, 1,
              _scalar("sentence_issue_rate_ci_high")),
    # --task regression: how well the predictions explain the labels (the scores are only
    # as good as the model), and the upper bound of the flagged share.
    CheckSpec("min_regression_r2", "regression_r2", "min", -math.inf, 1,
              _scalar("regression_r2")),
    CheckSpec("max_regression_issue_rate", "regression_issue_rate_ci_high", "max", 0, 1,
              _scalar("regression_issue_rate_ci_high")),
    # --task segmentation: upper bounds (image bootstrap) of the shares of pixels flagged and
    # of images with a flagged pixel.
    CheckSpec("max_segmentation_pixel_issue_rate", "segmentation_pixel_issue_rate_ci_high",
              "max", 0, 1, _scalar("segmentation_pixel_issue_rate_ci_high")),
    CheckSpec("max_segmentation_image_issue_rate", "segmentation_image_issue_rate_ci_high",
              "max", 0, 1, _scalar("segmentation_image_issue_rate_ci_high")),
    # --task multilabel: upper bounds of the share of items with a label issue and of the
    # worst class's share of items with a flagged yes/no.
    CheckSpec("max_multilabel_issue_rate", "multilabel_issue_rate_ci_high", "max", 0, 1,
              _scalar("multilabel_issue_rate_ci_high")),
    CheckSpec("max_multilabel_class_issue_rate", "multilabel_class_issue_rate_ci_high", "max",
              0, 1, _scalar("multilabel_class_issue_rate_ci_high")),
    # --task multilabel --annotator-col: the least agreed class and the least accurate annotator.
    CheckSpec("min_multilabel_class_alpha", "multilabel_min_class_alpha", "min", -1, 1,
              _scalar("multilabel_min_class_alpha")),
    CheckSpec("min_multilabel_annotator_accuracy", "multilabel_min_annotator_accuracy", "min",
              0, 1, _scalar("multilabel_min_annotator_accuracy")),
    # --task detection: the upper bound of the share of images with a flagged box, and the
    # number of objects the detector found that nobody labelled.
    CheckSpec("max_detection_image_issue_rate", "detection_image_issue_ci_high", "max", 0, 1,
              _scalar("detection_image_issue_ci_high")),
    CheckSpec("max_detection_overlooked", "detection_n_overlooked", "max", 0, math.inf,
              _scalar("detection_n_overlooked"), integer=True),
)

#: Policy-wide options (allowed in the fail-level table only) and their allowed values.
OPTIONS: Mapping[str, tuple[Any, ...] | None] = MappingProxyType(
    {
        "noise_rate_statistic": tuple(NOISE_RATE_STATISTICS),
        "disparity_attribute": None,  # any non-empty string
        "disparity_method": DISPARITY_METHODS,
        "require_review": (True, False),
    }
)

#: Sub-tables of ``[gate]`` read by other commands: ``warn`` (warn-level
#: thresholds) and ``acceptance`` (the acceptance-sampling plan of
#: ``labelaudit sample`` and ``labelaudit verify``, validated there).
SUBTABLES = ("warn", "acceptance")


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class GatePolicy:
    """Thresholds at the fail and warn levels, plus policy-wide options.

    Attributes
    ----------
    fail : Mapping[str, float | int]
        Thresholds that fail the gate, keyed by :data:`CHECKS` keys.
    warn : Mapping[str, float | int]
        Thresholds that only warn.
    noise_rate_statistic : {"estimate", "ci_low", "ci_high"}
        Which model noise-rate figure ``max_noise_rate`` compares when no
        review verified it: the point estimate or an end of the audit's
        model-based interval (the message says the figure is model-based and
        unverified). After a review it compares the verified upper bound.
    require_review : bool
        Fail unless the noise rate was verified by a review of a sample.
    disparity_attribute : str or None
        Attribute ``max_disparity`` checks; None means the worst attribute.
    disparity_method : {"difference", "ratio"}
        ``difference`` compares highest minus lowest group value;
        ``ratio`` compares highest over lowest group value (at least 1, so
        "no group more than twice as bad" is ``max_disparity = 2``).
    source : str
        Where the policy came from, for messages and reports.
    """

    fail: Mapping[str, float | int] = field(default_factory=dict)
    warn: Mapping[str, float | int] = field(default_factory=dict)
    noise_rate_statistic: str = "estimate"
    disparity_attribute: str | None = None
    disparity_method: str = "difference"
    require_review: bool = False
    acceptance: Mapping[str, Any] | None = None
    source: str = "<dict>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fail", MappingProxyType(dict(self.fail)))
        object.__setattr__(self, "warn", MappingProxyType(dict(self.warn)))

    @classmethod
    def from_dict(
        cls, table: Mapping[str, Any], *, source: str = "<dict>", table_name: str = "gate"
    ) -> GatePolicy:
        """Build and validate a policy from the contents of a ``[gate]`` table.

        Parameters
        ----------
        table : Mapping
            Check keys and option keys; the optional ``"warn"`` entry holds the
            warn-level check keys.
        source : str, default "<dict>"
            Name of the policy file, used in messages.
        table_name : str, default "gate"
            Name of the TOML table, used in messages.

        Returns
        -------
        GatePolicy

        Raises
        ------
        PolicyError
            On an unknown key, or a value of the wrong type or out of range,
            naming the source, the table, the key and what is allowed.
        """
        where = f"policy '{source}' [{table_name}]"
        _require_mapping(table, where)
        warn_table = table.get("warn", {})
        _require_mapping(warn_table, f"policy '{source}' [{table_name}.warn]")
        acceptance = table.get("acceptance")
        if acceptance is not None:
            _require_mapping(acceptance, f"policy '{source}' [{table_name}.acceptance]")
        fail_keys = {k: v for k, v in table.items() if k not in SUBTABLES}
        options = {k: v for k, v in fail_keys.items() if k in OPTIONS}
        for key, value in options.items():
            _check_option(key, value, where)
        policy = cls(
            fail=_thresholds(fail_keys, where, options_allowed=True),
            warn=_thresholds(warn_table, f"policy '{source}' [{table_name}.warn]"),
            source=source,
            acceptance=None if acceptance is None else MappingProxyType(dict(acceptance)),
            **options,
        )
        _check_ratio_thresholds(policy, where)
        return policy

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for ``summary.json``.

        Returns
        -------
        dict
            ``source``, ``fail``, ``warn`` and ``options``.
        """
        return {
            "source": self.source,
            "fail": dict(self.fail),
            "warn": dict(self.warn),
            "options": {
                "noise_rate_statistic": self.noise_rate_statistic,
                "disparity_attribute": self.disparity_attribute,
                "disparity_method": self.disparity_method,
                "require_review": self.require_review,
            },
            "acceptance": None if self.acceptance is None else dict(self.acceptance),
        }


def _require_mapping(value: Any, where: str) -> None:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{where}: expected a table, got {type(value).__name__} {value!r}")


def _allowed_keys(options_allowed: bool) -> str:
    keys = list(CHECKS) + (list(OPTIONS) + list(SUBTABLES) if options_allowed else [])
    return ", ".join(repr(k) for k in keys)


def _thresholds(
    table: Mapping[str, Any], where: str, *, options_allowed: bool = False
) -> dict[str, float | int]:
    """Validate the check keys of one level and return their thresholds."""
    thresholds: dict[str, float | int] = {}
    for key, value in table.items():
        if key in OPTIONS and options_allowed:
            continue
        if key in OPTIONS:
            raise PolicyError(
                f"{where}: option {key!r} applies to the whole policy; set it in the fail-level "
                "table, not the warn table"
            )
        if key not in CHECKS:
            raise PolicyError(
                f"{where}: unknown key {key!r}; allowed keys: {_allowed_keys(options_allowed)}"
            )
        thresholds[key] = _threshold(CHECKS[key], value, where)
    return thresholds


def _threshold(spec: CheckSpec, value: Any, where: str) -> float | int:
    """Check one threshold's type and range."""
    ok_type = not isinstance(value, bool) and isinstance(
        value, numbers.Integral if spec.integer else numbers.Real
    )
    if ok_type and not math.isnan(value) and spec.low <= value <= spec.high:
        return int(value) if spec.integer else float(value)
    raise PolicyError(
        f"{where}: key {spec.key!r} must be {spec.describe_range()}, got "
        f"{type(value).__name__} {value!r}"
    )


def _check_ratio_thresholds(policy: GatePolicy, where: str) -> None:
    """A ratio disparity is at least 1, so a ratio threshold below 1 can never pass."""
    if policy.disparity_method != "ratio":
        return
    for level, table in (("fail", policy.fail), ("warn", policy.warn)):
        value = table.get("max_disparity")
        if value is not None and value < 1:
            raise PolicyError(
                f"{where}: key 'max_disparity' ({level} level) must be >= 1 when "
                f"disparity_method is 'ratio' (highest over lowest group), got {value!r}"
            )


def _check_option(key: str, value: Any, where: str) -> None:
    """Check one policy-wide option."""
    allowed = OPTIONS[key]
    if allowed == (True, False):
        if not isinstance(value, bool):
            raise PolicyError(f"{where}: key {key!r} must be true or false, got {value!r}")
    elif allowed is None:
        if not isinstance(value, str) or not value:
            raise PolicyError(f"{where}: key {key!r} must be a non-empty string, got {value!r}")
    elif value not in allowed:
        raise PolicyError(
            f"{where}: key {key!r} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
        )


def load_policy(path: str | Path) -> GatePolicy:
    """Read a gate policy from a standalone TOML file or ``pyproject.toml``.

    A file named ``pyproject.toml`` (or any file without a top-level ``[gate]``
    table but with ``[tool.labelaudit.gate]``) is read from
    ``[tool.labelaudit.gate]``; other keys under ``[tool.labelaudit]`` are left
    to other tools. A standalone file must hold only the ``[gate]`` table.

    Parameters
    ----------
    path : str or pathlib.Path
        Policy file.

    Returns
    -------
    GatePolicy

    Raises
    ------
    PolicyError
        If the file is missing or not valid TOML, has no gate table, or has an
        unknown key or invalid value.
    """
    path = Path(path)
    doc = read_toml(path, what="policy")
    tool_table = (
        doc.get("tool", {}).get("labelaudit", {}) if isinstance(doc.get("tool"), dict) else {}
    )
    if path.name == "pyproject.toml" or ("gate" not in doc and "gate" in tool_table):
        if "gate" not in tool_table:
            raise PolicyError(f"policy file '{path}' has no [tool.labelaudit.gate] table")
        return GatePolicy.from_dict(
            tool_table["gate"], source=str(path), table_name="tool.labelaudit.gate"
        )
    unknown = [k for k in doc if k != "gate"]
    if unknown:
        raise PolicyError(
            f"policy '{path}': unknown key {unknown[0]!r}; allowed keys: 'gate' "
            "(or [tool.labelaudit.gate] in pyproject.toml)"
        )
    if "gate" not in doc:
        raise PolicyError(f"policy file '{path}' has no [gate] table")
    return GatePolicy.from_dict(doc["gate"], source=str(path))


# --------------------------------------------------------------------------- verdict


@dataclass(frozen=True)
class GateCheck:
    """Outcome of one check at one level.

    Attributes
    ----------
    name : str
        Policy key, e.g. ``"max_noise_rate"``.
    value : float, int or None
        The measured value (the worst group's for per-group figures); None
        when the figure was not computed.
    threshold : float or int
        The policy threshold.
    level : {"fail", "warn"}
        Whether a failure fails the gate or only warns.
    passed : bool
        Whether the value is within the threshold.
    message : str
        One-line explanation.
    """

    name: str
    value: float | int | None
    threshold: float | int
    level: Level
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (NaN values stay NaN; the JSON writer turns them into null)."""
        return {
            "name": self.name,
            "level": self.level,
            "passed": self.passed,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
        }


@dataclass(frozen=True, repr=False)
class GateResult(ResultTables):
    """The gate verdict: every check, at both levels.

    ``repr()`` is one line (passed or not, and the failed checks),
    :meth:`summary` a dict; :meth:`to_polars` / :meth:`to_pandas` return the
    ``"checks"`` table; a notebook shows the verdict and every check.

    Attributes
    ----------
    checks : tuple of GateCheck
        Fail-level checks first, each level in :data:`CHECKS` order.
    source : str
        Where the policy came from.
    """

    checks: tuple[GateCheck, ...]
    source: str = "<dict>"

    _TABLES = ("checks",)

    def _table(self, name: str) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.checks]

    def __repr__(self) -> str:
        return short_repr(self, {
            "passed": self.passed,
            "n_checks": len(self.checks),
            "failures": [c.name for c in self.failures],
            "warnings": [c.name for c in self.warnings],
            "policy": self.source,
        })

    def summary(self) -> dict[str, Any]:
        """The verdict in brief, as a dict of plain Python values.

        Returns
        -------
        dict
            ``passed``, ``exit_code``, ``policy``, ``n_checks``, and the names
            of the failed fail-level checks (``failures``) and warn-level
            checks (``warnings``).
        """
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "policy": self.source,
            "n_checks": len(self.checks),
            "failures": [c.name for c in self.failures],
            "warnings": [c.name for c in self.warnings],
        }

    @property
    def failures(self) -> list[GateCheck]:
        """Failed fail-level checks."""
        return [c for c in self.checks if c.level == "fail" and not c.passed]

    @property
    def warnings(self) -> list[GateCheck]:
        """Failed warn-level checks (they never fail the gate)."""
        return [c for c in self.checks if c.level == "warn" and not c.passed]

    @property
    def passed(self) -> bool:
        """True when no fail-level check failed."""
        return not self.failures

    @property
    def exit_code(self) -> int:
        """Process exit code: 0 when passed, 1 when a fail-level check failed."""
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for the ``gate`` block of ``summary.json``.

        Returns
        -------
        dict
            ``passed``, ``exit_code``, ``policy``, counts and ``checks``.
        """
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "policy": self.source,
            "n_checks": len(self.checks),
            "n_failures": len(self.failures),
            "n_warnings": len(self.warnings),
            "checks": [c.to_dict() for c in self.checks],
        }


def evaluate(policy: GatePolicy, figures: Mapping[str, Any]) -> GateResult:
    """Compare audit figures with a policy.

    Parameters
    ----------
    policy : GatePolicy
        Thresholds and options.
    figures : Mapping
        Headline figures of an audit. Scalars: ``estimated_noise_rate``,
        ``noise_rate_ci_low``, ``noise_rate_ci_high``, after a review
        ``verified_noise_rate``, ``verified_noise_rate_ci_low``,
        ``verified_noise_rate_ci_high`` and ``n_reviewed``, ``issue_fraction``,
        ``n_issues``, ``label_health_score``, ``krippendorff_alpha``,
        ``max_flagged_slice_effect``. Per group: ``class_noise_rates``
        (class -> rate), ``annotator_accuracy`` (annotator -> accuracy),
        ``disparity`` (attribute -> ``{"difference": x, "ratio": y}``).
        Missing or None figures make their checks fail as "not computed".

    Returns
    -------
    GateResult
        One :class:`GateCheck` per threshold in the policy.

    Raises
    ------
    LabelAuditError
        If a figure is present but not a number (or mapping of numbers).
    """
    checks = [
        _run_check(CHECKS[key], level_table[key], level, policy, figures)
        for level, level_table in (("fail", policy.fail), ("warn", policy.warn))
        for key in CHECKS
        if key in level_table
    ]
    if policy.require_review:
        checks.insert(0, _review_check(figures))
    return GateResult(tuple(checks), policy.source)


def evaluate_gate(result: Any, policy: GatePolicy | Mapping[str, Any] | str | Path) -> GateResult:
    """Judge an audit against a gate policy, as ``labelaudit audit --policy`` does.

    Parameters
    ----------
    result : AuditResult or Mapping
        The audit (its :meth:`~labelaudit.result.AuditResult.figures` are
        judged), the content of a finished run's ``summary.json``, or a
        mapping of figures as :func:`evaluate` reads them.
    policy : GatePolicy, Mapping, str or pathlib.Path
        The policy: a :class:`GatePolicy`, the contents of a ``[gate]`` table
        (fail-level keys, options and an optional ``"warn"`` table), or the
        path of a TOML policy file or ``pyproject.toml``.

    Returns
    -------
    GateResult
        ``passed``, ``exit_code`` and one :class:`GateCheck` per threshold.

    Raises
    ------
    PolicyError
        On an unknown policy key or an invalid threshold.
    LabelAuditError
        When ``result`` is none of the accepted kinds.

    Examples
    --------
    >>> import numpy as np
    >>> from labelaudit import audit, evaluate_gate
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.integers(0, 3, 600)
    >>> probs = rng.dirichlet(np.ones(3), 600) * 0.3
    >>> probs[np.arange(600), truth] += 0.7
    >>> given = np.where(rng.random(600) < 0.1, (truth + 1) % 3, truth)
    >>> result = audit(given, probs, n_bootstrap=50)
    >>> verdict = evaluate_gate(result, {"max_noise_rate": 0.05, "warn": {"max_issues": 100}})
    >>> verdict.passed, verdict.exit_code, [c.name for c in verdict.failures]
    (False, 1, ['max_noise_rate'])
    >>> verdict.summary()["warnings"]
    []
    """
    if isinstance(policy, GatePolicy):
        gate_policy = policy
    elif isinstance(policy, Mapping):
        gate_policy = GatePolicy.from_dict(policy)
    elif isinstance(policy, str | Path):
        gate_policy = load_policy(policy)
    else:
        raise LabelAuditError(
            "policy must be a GatePolicy, a mapping of [gate] keys or a policy file path, got "
            f"{type(policy).__name__}"
        )
    if callable(getattr(result, "figures", None)):
        figures = result.figures()
    elif isinstance(result, Mapping) and isinstance(result.get("figures"), Mapping):
        figures = figures_from_summary(result)
    elif isinstance(result, Mapping):
        figures = dict(result)
    else:
        raise LabelAuditError(
            "result must be an AuditResult, the content of summary.json or a mapping of "
            f"figures, got {type(result).__name__}"
        )
    return evaluate(gate_policy, figures)


def figures_from_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The gate figures of a finished run, read back from its ``summary.json`` content.

    Parameters
    ----------
    summary : Mapping
        A parsed ``summary.json``.

    Returns
    -------
    dict
        Its ``figures`` with the interval under the names :func:`evaluate` reads.
    """
    figures = dict(summary.get("figures") or {})
    figures["noise_rate_ci_low"] = figures.get("ci_low")
    figures["noise_rate_ci_high"] = figures.get("ci_high")
    return figures


def _review_check(figures: Mapping[str, Any]) -> GateCheck:
    """``require_review``: the noise rate must come from a review of a sample."""
    n = figures.get("n_reviewed")
    if figures.get(VERIFIED_NOISE_RATE_BOUND) is None or not n:
        return GateCheck(
            "require_review", None, 1, "fail", False,
            "require_review: the noise rate is model-based, unverified; review a sample "
            "('labelaudit sample', then 'labelaudit verify') to verify it",
        )
    return GateCheck("require_review", int(n), 1, "fail", True,
                     f"require_review: verified by a review of {int(n)} items (ok)")


def _run_check(
    spec: CheckSpec,
    threshold: float | int,
    level: Level,
    policy: GatePolicy,
    figures: Mapping[str, Any],
) -> GateCheck:
    """Measure one figure and compare it with one threshold."""
    try:
        measure = spec.measure(policy, figures)
    except _NotComputed as exc:
        detail = f" {exc.detail}" if exc.detail else ""
        message = (
            f"{spec.key}: figure {exc.figure!r}{detail} was not computed, so it cannot be checked"
        )
        return GateCheck(spec.key, None, threshold, level, False, message)
    passed = _within(measure.value, threshold, spec.direction)
    return GateCheck(
        spec.key,
        measure.value,
        threshold,
        level,
        passed,
        _message(spec, measure, threshold, passed),
    )


def _within(value: float, threshold: float, direction: Direction) -> bool:
    """Boundary values pass; NaN never passes."""
    if math.isnan(value):
        return False
    return value <= threshold if direction == "max" else value >= threshold


def _message(spec: CheckSpec, measure: _Measure, threshold: float, passed: bool) -> str:
    """One-line explanation of a check outcome."""
    bound = "at most" if spec.direction == "max" else "at least"
    verdict = "ok" if passed else "violated"
    text = (
        f"{spec.key}: {measure.figure} = {_fmt(measure.value)}, must be {bound} "
        f"{_fmt(threshold)} ({verdict})"
    )
    if measure.groups is not None and not passed:
        beyond = [
            name
            for name, value in measure.groups.items()
            if not _within(value, threshold, spec.direction)
        ]
        shown = ", ".join(repr(n) for n in beyond[:10]) + (" ..." if len(beyond) > 10 else "")
        plural = _PLURALS.get(measure.group_noun, measure.group_noun)
        text += f"; {len(beyond)} of {len(measure.groups)} {plural} beyond it: {shown}"
    if measure.note:
        text += f"; {measure.note}"
    return text


_PLURALS = {"class": "classes", "annotator": "annotators", "attribute": "attributes"}


def _fmt(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4g}"


# --------------------------------------------------------------------------- JUnit


def to_junit_xml(result: GateResult, *, suite_name: str = "labelaudit.gate") -> str:
    """Render a gate result as JUnit XML for CI systems.

    Every check is one ``<testcase>`` (``classname`` is ``<suite>.fail`` or
    ``<suite>.warn``). Failed fail-level checks carry a ``<failure>``. Failed
    warn-level checks must not break the build, so they are *passing* test
    cases whose ``<system-out>`` starts with ``WARN``; a suite property says so.
    Times are 0 so that the same result always gives the same XML.

    Parameters
    ----------
    result : GateResult
        Gate verdict.
    suite_name : str, default "labelaudit.gate"
        Name of the test suite.

    Returns
    -------
    str
        A UTF-8 XML document.
    """
    counts = {
        "tests": str(len(result.checks)),
        "failures": str(len(result.failures)),
        "errors": "0",
        "skipped": "0",
        "time": "0.000",
    }
    root = ET.Element("testsuites", {"name": suite_name, **counts})
    suite = ET.SubElement(root, "testsuite", {"name": suite_name, **counts})
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("policy", result.source),
        ("passed", str(result.passed).lower()),
        ("warnings", str(len(result.warnings))),
        ("note", "warn-level checks never fail the build; failed ones are reported as WARN"),
    ):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for check in result.checks:
        _junit_case(suite, check, suite_name)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_case(suite: ET.Element, check: GateCheck, suite_name: str) -> None:
    """Append the ``<testcase>`` of one check."""
    case = ET.SubElement(
        suite,
        "testcase",
        {"name": check.name, "classname": f"{suite_name}.{check.level}", "time": "0.000"},
    )
    if check.level == "fail" and not check.passed:
        failure = ET.SubElement(case, "failure", {"message": check.message, "type": "GateFailed"})
        failure.text = check.message
    else:
        out = ET.SubElement(case, "system-out")
        out.text = f"{'PASS' if check.passed else 'WARN'} {check.message}"


def write_junit(
    result: GateResult, path: str | Path, *, suite_name: str = "labelaudit.gate"
) -> Path:
    """Write a gate result as JUnit XML (see :func:`to_junit_xml`), atomically.

    Parameters
    ----------
    result : GateResult
        Gate verdict.
    path : str or pathlib.Path
        Target file (its directory is created when missing).
    suite_name : str, default "labelaudit.gate"
        Name of the test suite.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from .io.writers import write_text

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, to_junit_xml(result, suite_name=suite_name))
    return target
