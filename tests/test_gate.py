"""Tests for labelaudit.gate: policy parsing, checks at their boundaries, JUnit output."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelaudit import gate
from labelaudit.exceptions import LabelAuditError, PolicyError

STANDALONE = """
[gate]
max_noise_rate = 0.10
noise_rate_statistic = "ci_low"
max_issues = 500

[gate.warn]
max_noise_rate = 0.05
max_class_noise_rate = 0.2
"""

PYPROJECT = """
[project]
name = "something"

[tool.ruff]
line-length = 100

[tool.labelaudit]
other_setting = "left to other tools"

[tool.labelaudit.gate]
max_noise_rate = 0.10
noise_rate_statistic = "ci_low"
max_issues = 500

[tool.labelaudit.gate.warn]
max_noise_rate = 0.05
max_class_noise_rate = 0.2
"""


def _policy(**fail):
    warn = fail.pop("warn", {})
    return gate.GatePolicy.from_dict({**fail, "warn": warn})


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("name", "text"), [("gate.toml", STANDALONE), ("pyproject.toml", PYPROJECT)]
)
def test_both_file_forms_give_the_same_policy(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    policy = gate.load_policy(path)
    assert dict(policy.fail) == {"max_noise_rate": 0.10, "max_issues": 500}
    assert dict(policy.warn) == {"max_noise_rate": 0.05, "max_class_noise_rate": 0.2}
    assert policy.noise_rate_statistic == "ci_low"
    assert policy.disparity_method == "difference"
    assert policy.source == str(path)
    assert isinstance(policy.fail["max_issues"], int)


def test_any_file_with_only_a_tool_table(tmp_path):
    path = tmp_path / "ci-settings.toml"
    path.write_text(PYPROJECT)
    assert gate.load_policy(path).fail["max_issues"] == 500


def test_policy_is_frozen():
    policy = _policy(max_noise_rate=0.1)
    with pytest.raises(AttributeError):
        policy.noise_rate_statistic = "ci_high"
    with pytest.raises(TypeError):
        policy.fail["max_noise_rate"] = 0.5


def test_int_accepted_for_float_key():
    policy = _policy(max_noise_rate=0)
    assert policy.fail["max_noise_rate"] == 0.0 and isinstance(policy.fail["max_noise_rate"], float)


def test_unknown_key_names_file_key_and_allowed_keys(tmp_path):
    path = tmp_path / "gate.toml"
    path.write_text("[gate]\nmax_noise = 0.1\n")
    with pytest.raises(PolicyError) as info:
        gate.load_policy(path)
    msg = str(info.value)
    assert f"policy '{path}' [gate]: unknown key 'max_noise'; allowed keys: " in msg
    for key in gate.CHECKS:
        assert repr(key) in msg
    assert "'noise_rate_statistic'" in msg and "'warn'" in msg


def test_unknown_key_in_pyproject_warn_table(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.labelaudit.gate]\n[tool.labelaudit.gate.warn]\nmin_alpha = 0.5\n")
    with pytest.raises(
        PolicyError, match=r"\[tool.labelaudit.gate.warn\]: unknown key 'min_alpha'"
    ):
        gate.load_policy(path)


def test_unknown_top_level_table(tmp_path):
    path = tmp_path / "gate.toml"
    path.write_text("[gates]\nmax_noise_rate = 0.1\n")
    with pytest.raises(PolicyError, match=r"unknown key 'gates'; allowed keys: 'gate'"):
        gate.load_policy(path)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_noise_rate", "0.1", "must be a number in [0, 1], got str '0.1'"),
        ("max_noise_rate", 1.5, "must be a number in [0, 1], got float 1.5"),
        ("max_noise_rate", -0.01, "must be a number in [0, 1]"),
        ("max_noise_rate", True, "got bool True"),
        ("max_noise_rate", math.nan, "got float nan"),
        ("max_issues", 2.5, "must be an integer >= 0, got float 2.5"),
        ("max_issues", -1, "must be an integer >= 0, got int -1"),
        ("min_krippendorff_alpha", -1.5, "must be a number in [-1, 1]"),
        ("noise_rate_statistic", "median", "must be one of 'estimate', 'ci_low', 'ci_high'"),
        ("disparity_method", "ratios", "must be one of 'difference', 'ratio'"),
        ("disparity_attribute", 3, "must be a non-empty string, got 3"),
    ],
)
def test_wrong_type_or_range(key, value, expected):
    with pytest.raises(PolicyError) as info:
        gate.GatePolicy.from_dict({key: value}, source="ci.toml")
    assert f"policy 'ci.toml' [gate]: key '{key}' " in str(info.value)
    assert expected in str(info.value)


def test_option_in_warn_table_is_refused():
    with pytest.raises(PolicyError, match=r"\[gate.warn\]: option 'noise_rate_statistic'"):
        gate.GatePolicy.from_dict({"warn": {"noise_rate_statistic": "ci_low"}})


def test_ratio_threshold_below_one_is_refused():
    with pytest.raises(PolicyError, match="'max_disparity' \\(warn level\\) must be >= 1"):
        gate.GatePolicy.from_dict(
            {"disparity_method": "ratio", "warn": {"max_disparity": 0.8}}, source="p.toml"
        )


def test_warn_must_be_a_table():
    with pytest.raises(PolicyError, match=r"\[gate.warn\]: expected a table, got float"):
        gate.GatePolicy.from_dict({"warn": 0.1})


def test_bad_toml_names_file(tmp_path):
    path = tmp_path / "gate.toml"
    path.write_text("[gate]\nmax_noise_rate = = 0.1\n")
    with pytest.raises(PolicyError, match=r"gate.toml' is not valid TOML: .*line 2"):
        gate.load_policy(path)


def test_missing_file_and_missing_table(tmp_path):
    with pytest.raises(PolicyError, match="policy file '.*nope.toml' does not exist"):
        gate.load_policy(tmp_path / "nope.toml")
    path = tmp_path / "pyproject.toml"
    path.write_text("[project]\nname = 'x'\n")
    with pytest.raises(PolicyError, match=r"has no \[tool.labelaudit.gate\] table"):
        gate.load_policy(path)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(PolicyError, match=r"empty.toml' has no \[gate\] table"):
        gate.load_policy(empty)


def test_registry_covers_the_contract_keys():
    assert list(gate.CHECKS) == [
        "max_noise_rate",
        "max_class_noise_rate",
        "max_issue_fraction",
        "max_issues",
        "min_label_health_score",
        "min_krippendorff_alpha",
        "min_annotator_accuracy",
        "max_disparity",
        "max_flagged_slice_effect",
        # --task token
        "max_sentence_issue_rate",
        "max_sentence_issue_rate_ci_high",
        # --task regression
        "min_regression_r2",
        "max_regression_issue_rate",
        # --task segmentation
        "max_segmentation_pixel_issue_rate",
        "max_segmentation_image_issue_rate",
        # --task multilabel
        "max_multilabel_issue_rate",
        "max_multilabel_class_issue_rate",
        "min_multilabel_class_alpha",
        "min_multilabel_annotator_accuracy",
        # --task detection
        "max_detection_image_issue_rate",
        "max_detection_overlooked",
    ]
    for key, spec in gate.CHECKS.items():
        assert key.startswith(spec.direction + "_")


# --------------------------------------------------------------------------- checks at boundaries

SCALAR_CASES = [
    ("max_noise_rate", "estimated_noise_rate", 0.1),
    ("max_issue_fraction", "issue_fraction", 0.05),
    ("max_issues", "n_issues", 10),
    ("min_label_health_score", "label_health_score", 0.9),
    ("min_krippendorff_alpha", "krippendorff_alpha", 0.667),
    ("max_flagged_slice_effect", "max_flagged_slice_effect", 0.15),
]


@pytest.mark.parametrize(("key", "figure", "threshold"), SCALAR_CASES)
def test_scalar_checks_at_the_boundary(key, figure, threshold):
    policy = _policy(**{key: threshold})
    spec = gate.CHECKS[key]
    step = 1 if isinstance(threshold, int) else 1e-9
    worse = threshold + step if spec.direction == "max" else threshold - step
    better = threshold - step if spec.direction == "max" else threshold + step
    for value, expected in ((threshold, True), (better, True), (worse, False)):
        result = gate.evaluate(policy, {figure: value})
        (check,) = result.checks
        assert check.passed is expected, (key, value)
        assert result.passed is expected
        assert result.exit_code == (0 if expected else 1)
        assert check.value == value and check.threshold == threshold and check.level == "fail"
        assert check.message.startswith(f"{key}: {figure} = ")


@settings(max_examples=100, deadline=None)
@given(
    value=st.floats(0, 1, allow_nan=False),
    threshold=st.floats(0, 1, allow_nan=False),
    key=st.sampled_from([c for c in SCALAR_CASES if not isinstance(c[2], int)]),
)
def test_scalar_checks_follow_their_direction(value, threshold, key):
    name, figure, _ = key
    result = gate.evaluate(_policy(**{name: threshold}), {figure: value})
    expected = value <= threshold if gate.CHECKS[name].direction == "max" else value >= threshold
    assert result.passed is expected


def test_numpy_figures_are_accepted():
    result = gate.evaluate(
        _policy(max_issues=3, max_noise_rate=0.2),
        {"n_issues": np.int64(3), "estimated_noise_rate": np.float32(0.25)},
    )
    assert [c.passed for c in result.checks] == [False, True]  # registry order, not dict order
    assert isinstance(result.checks[1].value, int)


@pytest.mark.parametrize(
    ("statistic", "passes"), [("estimate", True), ("ci_low", True), ("ci_high", False)]
)
def test_noise_rate_statistic_selects_the_figure(statistic, passes):
    policy = gate.GatePolicy.from_dict({"max_noise_rate": 0.1, "noise_rate_statistic": statistic})
    figures = {"estimated_noise_rate": 0.09, "noise_rate_ci_low": 0.07, "noise_rate_ci_high": 0.12}
    (check,) = gate.evaluate(policy, figures).checks
    assert check.passed is passes
    assert check.value == figures[gate.NOISE_RATE_STATISTICS[statistic]]
    assert gate.NOISE_RATE_STATISTICS[statistic] in check.message


@pytest.mark.parametrize("statistic", ["estimate", "ci_low", "ci_high"])
def test_a_model_based_noise_figure_says_so(statistic):
    policy = gate.GatePolicy.from_dict({"max_noise_rate": 0.1, "noise_rate_statistic": statistic})
    figures = {"estimated_noise_rate": 0.09, "noise_rate_ci_low": 0.07, "noise_rate_ci_high": 0.12}
    (plain,) = gate.evaluate(policy, figures).checks
    (model,) = gate.evaluate(policy, {**figures, "noise_rate_source": "model"}).checks
    assert "model-based, unverified" not in plain.message
    assert model.message == f"{plain.message}; the figure is model-based, unverified: no " \
        "reviewed sample checked it"
    assert (model.passed, model.value) == (plain.passed, plain.value)
    # other checks do not carry the note
    other = gate.GatePolicy.from_dict({"max_issues": 3})
    (issues,) = gate.evaluate(other, {"n_issues": 2, "noise_rate_source": "model"}).checks
    assert "model-based" not in issues.message


def test_ci_bound_not_computed():
    policy = gate.GatePolicy.from_dict({"max_noise_rate": 0.1, "noise_rate_statistic": "ci_high"})
    result = gate.evaluate(policy, {"estimated_noise_rate": 0.01})
    (check,) = result.checks
    assert not check.passed and check.value is None and not result.passed
    assert check.message == (
        "max_noise_rate: figure 'noise_rate_ci_high' was not computed, so it cannot be checked"
    )


@pytest.mark.parametrize("key", list(gate.CHECKS))
def test_every_check_fails_when_its_figure_is_absent(key):
    threshold = 1 if key in ("max_disparity",) else 0
    result = gate.evaluate(_policy(**{key: threshold}), {})
    (check,) = result.checks
    assert not check.passed
    assert "was not computed" in check.message


def test_class_noise_rates_one_check_naming_the_worst_class():
    policy = _policy(max_class_noise_rate=0.2)
    ok = gate.evaluate(policy, {"class_noise_rates": {"cat": 0.2, "dog": 0.1}})
    assert ok.passed and ok.checks[0].value == 0.2
    bad = gate.evaluate(policy, {"class_noise_rates": {"cat": 0.25, "dog": 0.1, "eel": 0.4}})
    (check,) = bad.checks
    assert not check.passed and check.value == 0.4
    assert "class_noise_rates['eel'] = 0.4" in check.message
    assert "2 of 3 classes beyond it: 'cat', 'eel'" in check.message


def test_nan_group_is_the_worst():
    result = gate.evaluate(
        _policy(max_class_noise_rate=0.5), {"class_noise_rates": {"a": 0.1, "b": math.nan}}
    )
    assert not result.passed and "class_noise_rates['b']" in result.checks[0].message


def test_annotator_accuracy_uses_the_least_accurate():
    policy = _policy(min_annotator_accuracy=0.8)
    result = gate.evaluate(policy, {"annotator_accuracy": {"ann-1": 0.95, "ann-2": 0.79}})
    (check,) = result.checks
    assert not check.passed and check.value == 0.79
    assert "annotator_accuracy['ann-2'] = 0.79, must be at least 0.8" in check.message
    assert gate.evaluate(policy, {"annotator_accuracy": {"a": 0.8}}).passed


DISPARITY = {
    "sex": {"difference": 0.05, "ratio": 1.4},
    "source": {"difference": 0.12, "ratio": 2.5},
}


def test_disparity_difference_worst_attribute():
    (check,) = gate.evaluate(_policy(max_disparity=0.1), {"disparity": DISPARITY}).checks
    assert not check.passed and check.value == 0.12
    assert "disparity difference['source'] = 0.12" in check.message


def test_disparity_chosen_attribute_and_ratio():
    policy = gate.GatePolicy.from_dict(
        {"max_disparity": 1.5, "disparity_attribute": "sex", "disparity_method": "ratio"}
    )
    (check,) = gate.evaluate(policy, {"disparity": DISPARITY}).checks
    assert check.passed and check.value == 1.4
    policy = gate.GatePolicy.from_dict(
        {"max_disparity": 1.5, "disparity_attribute": "age", "disparity_method": "ratio"}
    )
    (check,) = gate.evaluate(policy, {"disparity": DISPARITY}).checks
    assert not check.passed
    assert "figure 'disparity' for attribute 'age' (computed for 'sex', 'source')" in check.message


def test_non_numeric_figure_is_an_error():
    with pytest.raises(LabelAuditError, match="gate figure 'n_issues' must be a real number"):
        gate.evaluate(_policy(max_issues=3), {"n_issues": "3"})


def test_warn_level_does_not_fail_the_gate():
    policy = _policy(max_noise_rate=0.2, warn={"max_noise_rate": 0.05, "max_issues": 100})
    result = gate.evaluate(policy, {"estimated_noise_rate": 0.1, "n_issues": 10})
    assert result.passed and result.exit_code == 0
    assert [(c.name, c.level, c.passed) for c in result.checks] == [
        ("max_noise_rate", "fail", True),
        ("max_noise_rate", "warn", False),
        ("max_issues", "warn", True),
    ]
    assert [c.name for c in result.warnings] == ["max_noise_rate"]
    assert result.failures == []


def test_fail_and_warn_together():
    policy = _policy(max_noise_rate=0.05, warn={"max_noise_rate": 0.01})
    result = gate.evaluate(policy, {"estimated_noise_rate": 0.1})
    assert not result.passed and result.exit_code == 1
    assert len(result.failures) == 1 and len(result.warnings) == 1


def test_empty_policy_passes():
    result = gate.evaluate(gate.GatePolicy(), {"estimated_noise_rate": 0.9})
    assert result.passed and result.checks == ()


def test_to_dict_is_json_ready():
    policy = _policy(max_noise_rate=0.05, warn={"max_issues": 1})
    result = gate.evaluate(policy, {"estimated_noise_rate": 0.1, "n_issues": 0})
    data = json.loads(json.dumps(result.to_dict()))
    assert data["passed"] is False and data["exit_code"] == 1
    assert data["n_checks"] == 2 and data["n_failures"] == 1 and data["n_warnings"] == 0
    assert data["checks"][0] == {
        "name": "max_noise_rate",
        "level": "fail",
        "passed": False,
        "value": 0.1,
        "threshold": 0.05,
        "message": "max_noise_rate: estimated_noise_rate = 0.1, must be at most 0.05 (violated)",
    }
    assert json.loads(json.dumps(policy.to_dict()))["warn"] == {"max_issues": 1}


# --------------------------------------------------------------------------- JUnit


def _junit(result):
    text = gate.to_junit_xml(result)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text.encode("utf-8"))


def test_junit_structure_counts_and_attributes():
    policy = gate.GatePolicy.from_dict(
        {
            "max_noise_rate": 0.05,
            "max_issues": 100,
            "min_annotator_accuracy": 0.9,
            "warn": {"max_noise_rate": 0.01, "max_issue_fraction": 0.5},
        },
        source="gate <&> policy.toml",
    )
    figures = {
        "estimated_noise_rate": 0.1,
        "n_issues": 3,
        "issue_fraction": 0.01,
        "annotator_accuracy": {"<script>": 0.5},
    }
    root = _junit(gate.evaluate(policy, figures))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    for element in (root, suite):
        assert element.get("tests") == "5"
        assert element.get("failures") == "2"
        assert element.get("errors") == "0"
        assert element.get("skipped") == "0"
        assert float(element.get("time")) == 0.0
    assert suite.get("name") == "labelaudit.gate"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["policy"] == "gate <&> policy.toml"  # escaped in XML, intact once parsed
    assert props["passed"] == "false" and props["warnings"] == "1"
    assert "never fail the build" in props["note"]
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("labelaudit.gate.fail", "max_noise_rate"),
        ("labelaudit.gate.fail", "max_issues"),
        ("labelaudit.gate.fail", "min_annotator_accuracy"),
        ("labelaudit.gate.warn", "max_noise_rate"),
        ("labelaudit.gate.warn", "max_issue_fraction"),
    ]
    assert all(float(c.get("time")) == 0.0 for c in cases)
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == int(suite.get("failures"))
    assert "'<script>'" in failed[1].find("failure").get("message")
    warn_case = cases[3]
    assert warn_case.find("failure") is None and warn_case.find("skipped") is None
    assert warn_case.find("system-out").text.startswith("WARN max_noise_rate:")
    assert cases[4].find("system-out").text.startswith("PASS ")


def test_junit_passing_result_and_determinism():
    policy = _policy(max_noise_rate=0.5)
    result = gate.evaluate(policy, {"estimated_noise_rate": 0.1})
    root = _junit(result)
    assert root.get("failures") == "0" and root.get("tests") == "1"
    assert gate.to_junit_xml(result) == gate.to_junit_xml(result)
    custom = ET.fromstring(gate.to_junit_xml(result, suite_name="data.quality"))
    assert custom.find("testsuite").get("name") == "data.quality"
    assert custom.find("testsuite/testcase").get("classname") == "data.quality.fail"


def test_junit_empty_result():
    root = _junit(gate.evaluate(gate.GatePolicy(), {}))
    assert root.get("tests") == "0" and root.find("testsuite").findall("testcase") == []


def test_write_junit_writes_the_xml_atomically(tmp_path):
    result = gate.evaluate(_policy(max_noise_rate=0.05), {"estimated_noise_rate": 0.1})
    target = tmp_path / "ci" / "gate.xml"
    assert gate.write_junit(result, target, suite_name="data.quality") == target
    assert target.read_text(encoding="utf-8") == gate.to_junit_xml(result, suite_name="data.quality")
    assert ET.parse(target).getroot().get("failures") == "1"
    assert [p.name for p in target.parent.iterdir()] == ["gate.xml"]  # no temporary left
