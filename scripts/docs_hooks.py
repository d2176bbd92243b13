"""MkDocs hooks: the reference pages are generated from the code at build time.

A page holds a marker such as ``<!-- labelaudit:cli -->``; the hook replaces
it with Markdown built from the command-line parser, the gate's check
registry, the files a small audit really writes, or its ``summary.json``.
So the reference cannot drift from the code: a new option appears by itself,
and a new policy key, output column or summary key without a description
here stops the (strict) build with a message saying what to describe.

The functions are importable (``tests/test_docs.py`` calls them). They
describe the ``labelaudit`` that Python imports: the installed package, or
the source tree with ``PYTHONPATH=src`` after an in-place build.
"""

from __future__ import annotations

import atexit
import json
import math
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

MARKER = re.compile(r"<!--\s*labelaudit:([a-z-]+)\s*-->")


class DocsError(RuntimeError):
    """Something the reference must describe has no description."""


# ----------------------------------------------------------------------------- CLI


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _help_rows(params: Any, ctx: Any) -> list[str]:
    """Table rows of the parameters as ``--help`` shows them (option with its value, help)."""
    rows = []
    for p in params:
        record = p.get_help_record(ctx)
        if record is None:  # hidden
            continue
        name, text = record
        rows.append(f"| `{_cell(name)}` | {_cell(text)} |")
    return rows


def cli_reference() -> str:
    """Every command, argument and option of the ``labelaudit`` command line.

    Built from the parser itself (what ``--help`` prints), so it always
    matches the installed commands.
    """
    import typer

    from labelaudit.cli import PROG, app

    group = typer.main.get_command(app)
    context = type(group).context_class
    ctx = context(group, info_name=PROG)
    out = [f"`{PROG} COMMAND [OPTIONS] [ARGUMENTS]`. {_cell(group.help or '')}", ""]
    top = _help_rows(group.get_params(ctx), ctx)
    if top:
        out += ["Options of the program itself:", "", "| option | meaning |", "|---|---|",
                *top, ""]
    for name, command in group.commands.items():
        sub = context(command, info_name=name, parent=ctx)
        params = command.get_params(sub)
        out += [f"## `{PROG} {name}`", "", _cell(command.help or ""), ""]
        usage = " ".join(command.collect_usage_pieces(sub))
        out += ["```text", f"{PROG} {name} {usage}", "```", ""]
        args = _help_rows([p for p in params if p.param_type_name == "argument"], sub)
        if args:
            out += ["| argument | meaning |", "|---|---|", *args, ""]
        opts = _help_rows([p for p in params if p.param_type_name == "option"], sub)
        out += ["| option | meaning |", "|---|---|", *opts]
        if command.epilog:
            out += ["", _cell(command.epilog)]
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------------------- policy

#: What each gate check means (keys of labelaudit.gate.CHECKS).
CHECK_DOCS = {
    "max_noise_rate": "Estimated share of wrong labels. Judged on `noise_rate_statistic` "
    "of the model-based estimate, or on the verified upper bound when a review verified it.",
    "max_class_noise_rate": "Estimated noise rate of the worst class (the message names every "
    "class beyond the threshold).",
    "max_issue_fraction": "Share of items flagged as label issues.",
    "max_issues": "Number of items flagged as label issues.",
    "min_label_health_score": "One minus the share of flagged items (see "
    "[health score and noise rate](../guide/health-score.md)).",
    "min_krippendorff_alpha": "Krippendorff's alpha of the annotations (needs `--annotations`).",
    "min_annotator_accuracy": "Accuracy of the worst annotator against the leave-one-out "
    "consensus (needs `--annotations`).",
    "max_disparity": "Largest gap in issue rate between the groups of `disparity_attribute` "
    "(difference or ratio, see `disparity_method`; needs `--attribute`).",
    "max_flagged_slice_effect": "Largest excess issue rate of a flagged slice over the rest "
    "of the data (0 when no slice is flagged; needs `--attribute` or `--annotations`).",
    # --task token
    "max_sentence_issue_rate": "`--task token`: share of sentences with at least one flagged "
    "token.",
    "max_sentence_issue_rate_ci_high": "`--task token`: upper end of the Wilson interval of "
    "the share of sentences with a flagged token (fail unless surely below).",
    # --task regression
    "min_regression_r2": "`--task regression`: smallest R^2 of the predictions against the "
    "given labels (the label scores are only as good as the model).",
    "max_regression_issue_rate": "`--task regression`: upper end of the bootstrap interval of "
    "the share of items flagged (fail unless surely below).",
    # --task segmentation
    "max_segmentation_pixel_issue_rate": "`--task segmentation`: upper end of the image "
    "bootstrap interval of the share of pixels flagged (fail unless surely below).",
    "max_segmentation_image_issue_rate": "`--task segmentation`: upper end of the image "
    "bootstrap interval of the share of images with a flagged pixel (fail unless surely below).",
    # --task multilabel
    "max_multilabel_issue_rate": "`--task multilabel`: upper end of the Wilson interval of the "
    "share of items with a label issue (fail unless surely below).",
    "max_multilabel_class_issue_rate": "`--task multilabel`: upper end of the worst class's "
    "Wilson interval of the share of items whose yes/no for it is flagged.",
    "min_multilabel_class_alpha": "`--task multilabel --annotator-col`: smallest per-class "
    "Krippendorff alpha (each class a yes/no question).",
    "min_multilabel_annotator_accuracy": "`--task multilabel --annotator-col`: smallest share of "
    "an annotator's yes/no answers that agree with the per-class majority.",
    # --task detection
    "max_detection_image_issue_rate": "`--task detection`: upper end of the Wilson interval of "
    "the share of images with a flagged box (fail unless surely below).",
    "max_detection_overlooked": "`--task detection`: number of predicted objects with no "
    "given box (overlooked boxes).",
}

#: Policy-wide options (keys of labelaudit.gate.OPTIONS).
OPTION_DOCS = {
    "noise_rate_statistic": "Which end of the model-based noise-rate interval `max_noise_rate` "
    "judges: the point `estimate`, `ci_low` (fail only when surely above) or `ci_high` "
    "(fail unless surely below).",
    "disparity_attribute": "The `--attribute` whose groups `max_disparity` compares.",
    "disparity_method": "`difference` (largest minus smallest issue rate) or `ratio` "
    "(largest over smallest).",
    "require_review": "Fail unless the noise rate was verified by a reviewed sample "
    "(`labelaudit verify` or `audit --reviews`).",
}

#: The acceptance-sampling plan (keys of labelaudit.verify.plans.ACCEPTANCE_KEYS).
ACCEPTANCE_DOCS = {
    "aql": "Acceptable quality level: a lot with this share of wrong labels should be "
    "accepted (required).",
    "lq": "Limiting quality: a lot with this share of wrong labels should be rejected "
    "(required, above `aql`).",
    "producer_risk": "Largest chance of rejecting a lot at the AQL.",
    "consumer_risk": "Largest chance of accepting a lot at the LQ.",
    "plan": "`stratified` (the model-assisted plan over the audit's strata) or `single` "
    "(the classical single sampling plan, n and c).",
}


def _require_docs(docs: dict[str, str], keys: Any, what: str) -> None:
    missing = [k for k in keys if k not in docs]
    if missing:
        raise DocsError(f"{what} {', '.join(map(repr, missing))} has no description in "
                        f"scripts/docs_hooks.py; add one")


def policy_reference() -> str:
    """Every key a gate policy may hold, from the check registry."""
    from labelaudit.gate import CHECKS, OPTIONS, SUBTABLES
    from labelaudit.verify.plans import ACCEPTANCE_KEYS

    _require_docs(CHECK_DOCS, CHECKS, "gate check")
    _require_docs(OPTION_DOCS, OPTIONS, "policy option")
    _require_docs(ACCEPTANCE_DOCS, ACCEPTANCE_KEYS, "acceptance key")
    out = ["## Checks (`[gate]` fails, `[gate.warn]` warns)", "",
           "| key | passes when the figure is | threshold | figure | meaning |",
           "|---|---|---|---|---|"]
    for key, spec in CHECKS.items():
        side = "at most the threshold" if spec.direction == "max" else "at least the threshold"
        out.append(f"| `{key}` | {side} | {spec.describe_range()} | `{spec.figure}` | "
                   f"{_cell(CHECK_DOCS[key])} |")
    out += ["", "## Options (`[gate]` only)", "", "| key | values | meaning |", "|---|---|---|"]
    for key, values in OPTIONS.items():
        allowed = ("any non-empty text" if values is None
                   else ", ".join(f"`{json.dumps(v)}`" for v in values))
        out.append(f"| `{key}` | {allowed} | {_cell(OPTION_DOCS[key])} |")
    out += ["", f"Sub-tables of `[gate]`: {', '.join(f'`[gate.{s}]`' for s in SUBTABLES)}.", "",
            "## Acceptance plan (`[gate.acceptance]`)", "",
            "| key | default | meaning |", "|---|---|---|"]
    for key, default in ACCEPTANCE_KEYS.items():
        shown = "required" if default is None else f"`{json.dumps(default)}`"
        out.append(f"| `{key}` | {shown} | {_cell(ACCEPTANCE_DOCS[key])} |")
    return "\n".join(out)


# ----------------------------------------------------------------------------- a real run


@cache
def example_run() -> Path:
    """Run a small audit with annotations and an attribute, a sample, a verify, an annotators run.

    Returns the directory holding ``audit/``, ``sample/``, ``verified/``
    and ``annotators/`` (kept for the life of the process).
    """
    import numpy as np
    import polars as pl

    from labelaudit.cli import run

    root = Path(tempfile.mkdtemp(prefix="labelaudit-docs-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    rng = np.random.default_rng(0)
    n, names = 240, np.array(["cat", "dog", "fox"])
    true = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), true] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    given = true.copy()
    flip = rng.random(n) < 0.1
    given[flip] = (true[flip] + 1) % 3
    ids = [f"it{i:03d}" for i in range(n)]
    pl.DataFrame({"id": ids, "text": [f"text {i}" for i in range(n)], "label": names[given],
                  "source": rng.choice(["web", "phone"], n)}).write_csv(root / "data.csv")
    np.save(root / "probs.npy", probs)
    rows = [{"item_id": item, "annotator": a,
             "label": str(names[true[i] if rng.random() < 0.85 else rng.integers(0, 3)]),
             "created_at": f"2024-05-{1 + i % 20:02d}T10:00:00Z"}
            for i, item in enumerate(ids) for a in ("a1", "a2", "a3")]
    pl.DataFrame(rows).write_csv(root / "annotations.csv")
    calls = [
        ["audit", root / "data.csv", "--label-col", "label", "--id-col", "id", "--pred-probs",
         root / "probs.npy", "--annotations", root / "annotations.csv", "--attribute", "source",
         "--out", root / "audit", "--n-bootstrap", "20", "--csv"],
        ["sample", root / "audit", "--out", root / "sample", "--size", "60"],
        ["annotators", root / "annotations.csv", "--time-col", "created_at",
         "--out", root / "annotators"],
        ["export-tasks", root / "audit", "--out", root / "tasks" / "tasks.json"],
    ]
    for call in calls[:2]:
        _run(run, call)
    table = pl.read_csv(root / "sample" / "review_sample.csv")
    truth = dict(zip(ids, names[true].tolist(), strict=True))
    table.with_columns(pl.Series("reviewed_label", [truth[i] for i in table["id"]])).write_csv(
        root / "sample" / "reviewed.csv")
    _run(run, ["verify", root / "audit", root / "sample" / "reviewed.csv",
               "--out", root / "verified"])
    (root / "tasks").mkdir()
    for call in calls[2:]:
        _run(run, call)
    return root


def _run(run: Any, call: list[Any]) -> None:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        code = run([str(c) for c in call])
    if code not in (0, 1):
        raise DocsError(f"the example run 'labelaudit {call[0]}' exited {code}")


# ----------------------------------------------------------------------------- output columns

#: Columns that mean the same wherever they appear.
COLUMN_DOCS = {
    "id": "The item's id (`--id-col`, else its row number).",
    "item_id": "The annotated item's id (`--annotation-item-col` / `--item-col`).",
    "given_label": "The label in the data.",
    "suggested_label": "The class the model finds most likely for the item.",
    "label_quality": "Label quality score of the given label in [0, 1] (self-confidence: the "
    "out-of-sample probability of the given class): low means likely wrong.",
    "is_issue": "Flagged as a likely label error by confident learning.",
    "issue_rank": "Rank among all items, issues first, least trustworthy first.",
    "annotator": "The annotator (email or user name from a Label Studio export, else its id).",
    "n_labels": "Labels the annotator gave.",
    "n_graded": "Labels graded against the majority of the other annotators on the same item "
    "(items where the others tie are not graded).",
    "n_agree": "Graded labels that agree with that leave-one-out majority.",
    "accuracy": "`n_agree / n_graded`.",
    "accuracy_low": "Lower end of the 95% Wilson interval on `accuracy`.",
    "accuracy_high": "Upper end of the 95% Wilson interval on `accuracy`.",
    "peer_accuracy": "The same accuracy for all other annotators pooled.",
    "kappa_vs_consensus": "Cohen's kappa between the annotator's labels and the consensus.",
    "ds_accuracy": "The annotator's accuracy in the fitted Dawid-Skene model.",
    "ds_confusion": "The annotator's Dawid-Skene confusion matrix (K x K, rows = true class).",
    "label_dist_p_value": "Chi-square test of the annotator's label distribution against the "
    "other annotators' labels on the same items.",
    "top_confusions": "The annotator's most frequent confusions above the peer rate, in words.",
    "n_issue_items": "Items the annotator labeled that confident learning flagged.",
    "issue_rate": "Share of the rows flagged as label issues.",
    "issue_share": "The annotator's share of all flagged annotated items.",
    "p_value": "Annotators: one-sided pooled two-proportion z-test that the accuracy is below "
    "the other annotators'. Slices: two-sided test of the issue rate against the rest "
    "(chi-square with Yates' correction, or Fisher's exact test for small counts).",
    "q_value": "Benjamini-Hochberg adjusted p-value (false discovery rate).",
    "flagged": "Worse than the rest after FDR control (and, for slices, by at least the "
    "minimum effect).",
    "n_annotations": "Annotations of the item.",
    "annotators": "The item's annotators, comma-separated (`--annotations`).",
    "annotator_agreement": "Share of the item's annotations that carry the majority label "
    "(`--annotations`).",
    "single_annotation": "The item has one annotation only.",
    "majority_label": "Majority-vote class (ties broken by the Dawid-Skene posterior, then the "
    "first class in code order).",
    "majority_share": "Share of the item's annotations that carry the majority label.",
    "tie": "The majority vote was tied.",
    "ds_label": "Dawid-Skene class (most probable true class).",
    "ds_posterior": "Dawid-Skene posterior probability of `ds_label`.",
    "crowdlab_label": "CROWDLAB consensus class (with model probabilities).",
    "crowdlab_quality": "CROWDLAB quality of its consensus label.",
    "consensus_label": "The consensus class chosen by `--consensus`.",
    "consensus_quality": "Confidence of the chosen consensus in its label.",
    "consensus_method": "The consensus method that filled `consensus_label`.",
    "consensus_class": "Class name of `consensus_label`.",
    "rank": "Position in the queue, most valuable relabel first.",
    "priority": "Mean of the available terms `1 - ds_posterior`, `1 - majority_share` and "
    "`1 - label_quality` (1 for unannotated items).",
    "reason": "Why the item is in the queue, in words.",
    "attribute": "The attribute (or `attr1 & attr2` for an intersection).",
    "group": "The group's value(s).",
    "order": "1 for a single attribute, 2 for a 2-way intersection.",
    "levels": "The values of each attribute of the group.",
    "n": "Rows in the slice.",
    "n_issues": "Flagged rows in the slice.",
    "ci_low": "Lower end of the 95% Wilson interval on `issue_rate`.",
    "ci_high": "Upper end of the 95% Wilson interval on `issue_rate`.",
    "rest_rate": "Issue rate of all other rows.",
    "effect": "`issue_rate - rest_rate`.",
    "rate_ratio": "`issue_rate / rest_rate`.",
    "tested": "Slice and rest both large enough (`min_slice_size`) to be tested.",
    "test": "The test used: `chi2` or `fisher`.",
    "reviewed_label": "Left empty for the reviewer to fill with the true class.",
    "stratum": "The review stratum (0 = lowest-quality issues).",
    "stratum_size": "Items of the audit in the stratum.",
    "inclusion_probability": "Chance the item had of being drawn.",
    "quality_low": "Lowest label quality in the stratum.",
    "quality_high": "Highest label quality in the stratum.",
    "n_items": "Items of the audit in the stratum.",
    "n_sampled": "Items drawn from the stratum.",
    "anticipated_rate": "Error rate the audit's scores anticipate in the stratum (used to "
    "allocate the sample).",
    "n_class_items": "Items of the stratum with this given label.",
    "annotator_a": "First annotator of the pair.",
    "annotator_b": "Second annotator of the pair.",
    "n_shared": "Items both annotators labeled.",
    "percent_agreement": "Share of the shared items on which the two gave the same label.",
    "cohen_kappa": "Cohen's kappa of the pair on their shared items.",
    "window_start": "Start of the time window (`--time-window`, default one week) the row "
    "covers.",
    "drift_q_value": "Benjamini-Hochberg adjusted p-value of the annotator's drift test "
    "(chi-square homogeneity of accuracy across their windows).",
    "drifted": "The annotator's accuracy changed across windows after FDR control.",
}

#: The files the example run writes, what each holds, and columns copied from the user's data.
FILE_DOCS = {
    "issues.parquet": ("Every item, issues first, least trustworthy first "
                             "(`--csv` also writes `issues.csv`).", ("source", "text")),
    "annotators.parquet": ("One row per annotator (with `--annotations`, or "
                                 "`labelaudit annotators`).", ()),
    "consensus.parquet": ("One row per annotated item: the consensus labels.", ()),
    "agreement_pairs.parquet": ("One row per annotator pair sharing enough items: their "
                                "agreement and Cohen's kappa (`agreement.json` holds the "
                                "summary).", ()),
    "relabel_queue.parquet": ("Items ranked by the value of another label.", ()),
    "slices.parquet": ("One row per slice: each `--attribute` group and 2-way "
                             "intersection.", ()),
    "review_sample.parquet": ("The reviewers' table (also `review_sample.csv`): the "
                                     "item's data columns between `id` and `given_label`.",
                                     ("text", "source")),
    "sample_design.parquet": ("One row per sampled item: its stratum and inclusion "
                                     "probability.", ()),
    "sample_strata.parquet": ("One row per stratum and given class.", ()),
    "annotators_by_window.parquet": ("Annotator figures per time window "
                                                "(`--time-col`).", ()),
}


def outputs_reference() -> str:
    """Every column of every Parquet file a run writes, with its type and meaning."""
    import polars as pl

    from labelaudit.slices import SLICE_METRICS

    root = example_run()
    docs = dict(COLUMN_DOCS)
    for metric in SLICE_METRICS.values():
        docs.setdefault(metric.name, metric.description)
        if metric.count_column:
            docs.setdefault(metric.count_column, f"Rows of the slice with a {metric.label} value.")
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(root.glob("*/*.parquet")):  # a file may appear in several runs
        merged = schemas.setdefault(path.name, {})
        for col, dtype in pl.read_parquet_schema(path).items():
            merged.setdefault(col, dtype)
    undocumented = [f for f in schemas if f not in FILE_DOCS]
    if undocumented:
        raise DocsError(f"output file(s) {', '.join(undocumented)} have no entry in FILE_DOCS "
                        "of scripts/docs_hooks.py; add one")
    out = []
    for name in [f for f in FILE_DOCS if f in schemas]:
        text, copied = FILE_DOCS[name]
        schema = schemas[name]
        missing = [c for c in schema if c not in docs and c not in copied]
        if missing:
            raise DocsError(f"column(s) {', '.join(map(repr, missing))} of {name} have no "
                            "description in COLUMN_DOCS of scripts/docs_hooks.py; add one")
        out += [f"## `{name}`", "", text, "", "| column | type | meaning |", "|---|---|---|"]
        for col, dtype in schema.items():
            meaning = "A column of the item's data." if col in copied else docs[col]
            out.append(f"| `{col}` | {_cell(dtype)} | {_cell(meaning)} |")
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------------------- summary.json

#: Top-level keys of summary.json.
SUMMARY_DOCS = {
    "tool": "Always `labelaudit`.",
    "versions": "Versions of labelaudit, Python and the libraries that computed the figures.",
    "parameters": "Every parameter of the run, defaults included.",
    "seeds": "Seeds of the folds, the model and the bootstrap.",
    "inputs": "Each input file: role, path, size in bytes, SHA-256, rows.",
    "figures": "The headline figures (the gate reads these).",
    "noise_rate_source": "`model` (model-based, unverified) or `review` (verified by a "
    "reviewed sample).",
    "verified": "The design-based estimate from a reviewed sample (null without one).",
    "classes": "Class names, in code order.",
    "per_class": "Per given class: count, estimated noise rate with its interval, issues, "
    "mean label quality.",
    "noise_matrix": "Noise matrix, its inverse, the confident joint and the class prior.",
    "out_of_fold": "How out-of-fold probabilities were made (null with `--pred-probs`).",
    "gate": "The verdict and every check (null without `--policy`).",
    "extras": "Details of each analysis that ran (annotators, slices, ...).",
    "outputs": "The files written next to this summary.",
    "date": "When the run happened (UTC, ISO 8601); `SOURCE_DATE_EPOCH` fixes it for "
    "byte-identical reruns.",
    "reproduce": "The command line that reruns this, built from the parsed options (paths as "
    "given).",
}

#: Keys of the ``figures`` block.
FIGURE_DOCS = {
    "n_items": "Items audited.",
    "n_classes": "Classes.",
    "n_issues": "Items flagged as label issues.",
    "issue_fraction": "`n_issues / n_items`.",
    "estimated_noise_rate": "Estimated share of wrong labels (model-based unless verified).",
    "ci_low": "Lower end of its interval.",
    "ci_high": "Upper end of its interval.",
    "confidence": "Level of the intervals (0.95).",
    "label_health_score": "`1 - issue_fraction`.",
    "class_noise_rates": "Estimated noise rate per class.",
    "noise_rate_source": "`model` or `review`.",
    "sampling_ci_low": "Lower end of the row-bootstrap interval (sampling noise only).",
    "sampling_ci_high": "Upper end of the row-bootstrap interval.",
    "noise_rate_interval": "How the model-based interval was built: bootstrap, bounds on what "
    "the model cannot tell apart, their intervals, the calibration temperature.",
    "model_checks": "Findings of the model checks (uninformative or permuted probabilities, "
    "inseparable classes, calibration), in words.",
    "krippendorff_alpha": "Krippendorff's alpha of the annotations.",
    "annotator_accuracy": "Accuracy per annotator.",
    "disparity": "Issue-rate difference and ratio per attribute.",
    "max_flagged_slice_effect": "Largest effect of a flagged slice (0 when none).",
    "annotators": "Headline figures of the annotator review.",
    "slices": "Headline figures of the slice analysis.",
    "verified_noise_rate": "The verified noise rate.",
    "verified_ci_low": "Lower end of the verified interval.",
    "verified_ci_high": "Upper end of the verified interval.",
    "n_reviewed": "Items reviewed.",
}


def _tree(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows = []
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            rows.append((path, _kind(item)))
            if isinstance(item, dict) or (isinstance(item, list) and item
                                          and isinstance(item[0], dict)):
                rows += _tree(item if isinstance(item, dict) else item[0],
                              path + ("[]" if isinstance(item, list) else ""))
        return rows
    return []


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number" if math.isfinite(value) else "number (NaN allowed)"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def summary_reference() -> str:
    """The keys of ``summary.json``: described top-level keys and figures, then the full tree."""
    root = example_run()
    audit = json.loads((root / "audit" / "summary.json").read_text())
    verified = json.loads((root / "verified" / "summary.json").read_text())
    keys = list(dict.fromkeys([*audit, *verified]))
    figures = list(dict.fromkeys([*audit["figures"], *verified["figures"]]))
    _require_docs(SUMMARY_DOCS, keys, "summary.json key")
    _require_docs(FIGURE_DOCS, figures, "summary.json figure")
    out = ["## Top-level keys", "", "| key | meaning |", "|---|---|"]
    out += [f"| `{k}` | {_cell(SUMMARY_DOCS[k])} |" for k in keys]
    out += ["", "## `figures`", "", "| key | meaning |", "|---|---|"]
    out += [f"| `{k}` | {_cell(FIGURE_DOCS[k])} |" for k in figures]
    for title, data in (("an audit with annotations and an attribute", audit),
                        ("a verified audit (`labelaudit verify`)", verified)):
        out += ["", f"## Every key of {title}", "",
                "`[]` marks the entries of a list. Generated from a real run, so the keys are "
                "exactly those the code writes.", "", "| key | type |", "|---|---|"]
        out += [f"| `{path}` | {kind} |" for path, kind in _tree(data)]
    return "\n".join(out)


# ----------------------------------------------------------------------------- the hook

GENERATORS = {
    "cli": cli_reference,
    "policy": policy_reference,
    "outputs": outputs_reference,
    "summary": summary_reference,
}


def render_markers(markdown: str) -> str:
    """Replace every ``<!-- labelaudit:NAME -->`` marker with its generated Markdown."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise DocsError(f"unknown docs marker {name!r}; known: {', '.join(GENERATORS)}")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs hook: fill the generated reference sections."""
    return render_markers(markdown)


_ROLE = re.compile(r":(?:func|class|meth|data|mod|attr|exc):(?=<code>)")


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs hook: drop the Sphinx role prefixes (``:func:``) docstrings carry."""
    return _ROLE.sub("", html)
