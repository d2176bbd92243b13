"""Reading a finished audit directory and a drawn sample, and the files a sample is written to.

File formats stay in :mod:`labelaudit.io`; this module only knows which
files an audit and a review sample consist of.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from ..exceptions import InputError
from ..io.config import read_json
from .sampling import ISSUES_COLUMNS, ReviewSample

__all__ = ["AuditDir", "load_audit_dir", "load_item_data", "load_sample", "sample_writers"]

SAMPLE_FILES = (
    "review_sample.csv",
    "review_sample.parquet",
    "review_tasks.json",
    "sample_design.parquet",
    "sample_strata.parquet",
    "sample_design.json",
)


class AuditDir:
    """The parts of a finished audit the review commands read."""

    def __init__(self, path: Path, issues: pl.DataFrame, summary: dict[str, Any]) -> None:
        self.path = path
        self.issues = issues
        self.summary = summary
        self.class_names = tuple(str(c) for c in summary.get("classes") or ())

    @property
    def data_path(self) -> Path | None:
        """The data file the audit read, as recorded in its summary (if any)."""
        for entry in self.summary.get("inputs") or ():
            if entry.get("role") == "data" and entry.get("path"):
                return Path(entry.get("dataset") or entry["path"])
        return None

    @property
    def id_col(self) -> str | None:
        return (self.summary.get("parameters") or {}).get("id_col")

    @property
    def label_col(self) -> str | None:
        return (self.summary.get("parameters") or {}).get("label_col")

    def result(self) -> Any:
        """The audit's core figures as an :class:`~labelaudit.result.AuditResult`, for a report.

        Rebuilt from ``issues.parquet`` and ``summary.json``: the issues, the
        per-class table, the noise matrices, the headline figures with their
        model-based interval and the model checks. Attached analyses
        (annotators, slices) and the per-fold details stay in the audit's
        own report.

        Returns
        -------
        AuditResult
        """
        import numpy as np

        from ..io import read_table
        from ..model_checks import ModelFinding
        from ..result import AuditResult

        issues = read_table(self.path / "issues.parquet", what="issues")
        s = self.summary
        figures = s.get("figures") or {}
        matrices = s.get("noise_matrix") or {}
        try:
            return AuditResult(
                issues=issues,
                class_names=self.class_names,
                per_class=pl.DataFrame(s["per_class"]),
                noise_matrix=np.asarray(matrices["matrix"], dtype=np.float64),
                inverse_noise_matrix=np.asarray(matrices["inverse"], dtype=np.float64),
                confident_joint=np.asarray(matrices["confident_joint"], dtype=np.int64),
                py=np.asarray(matrices["py"], dtype=np.float64),
                n_items=int(figures["n_items"]),
                n_classes=int(figures["n_classes"]),
                n_issues=int(figures["n_issues"]),
                estimated_noise_rate=float(figures["estimated_noise_rate"]),
                ci_low=float(figures["ci_low"]),
                ci_high=float(figures["ci_high"]),
                confidence=float(figures["confidence"]),
                label_health_score=float(figures["label_health_score"]),
                parameters=dict(s.get("parameters") or {}),
                sampling_ci_low=float(figures.get("sampling_ci_low") or float("nan")),
                sampling_ci_high=float(figures.get("sampling_ci_high") or float("nan")),
                noise_rate_source=figures.get("noise_rate_source") or "model",
                model_checks=tuple(ModelFinding(**f) for f in figures.get("model_checks") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"audit summary '{self.path / 'summary.json'}' lacks the audit's figures "
                f"({exc}); rerun 'labelaudit audit' to write a complete one"
            ) from exc


def _check_summary_shape(summary: Any, where: Path) -> None:
    """Refuse a summary.json without the parts the review commands read, in their JSON types."""
    source = f"audit summary '{where}'"
    if not isinstance(summary, dict) or not summary.get("classes"):
        raise InputError(f"{source} has no 'classes' list")
    classes = summary["classes"]
    if not isinstance(classes, list) or not all(
        isinstance(c, str | int) and not isinstance(c, bool) for c in classes
    ):
        raise InputError(f"{source}: 'classes' must be a list of class names, got {classes!r:.60}")
    for key, kind, expected in (("parameters", dict, "an object"), ("inputs", list, "a list")):
        value = summary.get(key)
        if value is not None and not isinstance(value, kind):
            raise InputError(f"{source}: '{key}' must be {expected}, got {value!r:.60}")
    for position, entry in enumerate(summary.get("inputs") or ()):
        if not isinstance(entry, dict):
            raise InputError(f"{source}: inputs[{position}] must be an object, got {entry!r:.60}")
        for key in ("role", "path", "dataset"):
            value = entry.get(key)
            if value is not None and not isinstance(value, str):
                raise InputError(
                    f"{source}: inputs[{position}].{key} must be a string, got {value!r:.60}"
                )


def load_audit_dir(path: str | Path) -> AuditDir:
    """Read ``issues.parquet`` and ``summary.json`` of a finished audit.

    Parameters
    ----------
    path : str or pathlib.Path
        The audit's ``--out`` directory.

    Returns
    -------
    AuditDir

    Raises
    ------
    InputError
        If the directory or one of the files is missing or unusable.
    """
    from ..io import read_table

    path = Path(path)
    if not path.is_dir():
        raise InputError(f"audit directory '{path}' does not exist or is not a directory")
    summary = read_json(path / "summary.json", what="audit summary")
    _check_summary_shape(summary, path / "summary.json")
    issues = read_table(path / "issues.parquet", what="issues", columns=list(ISSUES_COLUMNS))
    return AuditDir(path, issues, summary)


def load_item_data(
    audit: AuditDir, data: Path | None, id_col: str | None
) -> tuple[pl.DataFrame | None, Path | None]:
    """The item data columns for the reviewers, keyed by ``id`` (or None without data).

    ``data`` defaults to the data file recorded in the audit's summary and
    ``id_col`` to the audit's id column; without an id column, ids are row
    numbers. The label column is left out (the reviewer file has
    ``given_label``).
    """
    from ..io import read_table

    if data is None:
        data = audit.data_path
        if data is None or not data.exists():
            return None, None
    id_col = id_col if id_col is not None else audit.id_col
    # The columns that name things are read as the audit read them (as text in a CSV).
    frame = read_table(data, what="data", text_columns=(id_col, audit.label_col, "annotator"))
    source = f"data file '{data}'"
    if id_col is not None:
        if id_col not in frame.columns:
            raise InputError(f"{source}: missing id column {id_col!r}; pass --id-col")
        frame = frame.rename({id_col: "id"}) if id_col != "id" else frame
    else:
        frame = frame.with_row_index("id").with_columns(pl.col("id").cast(pl.Int64))
    drop = [c for c in (audit.label_col,) if c and c in frame.columns and c != "id"]
    return frame.drop(drop), data


def sample_writers(
    sample: ReviewSample,
    *,
    data: pl.DataFrame | None,
    show_suggestion: bool,
    extra: dict[str, Any] | None = None,
) -> list[tuple[str, Callable[[Path], None]]]:
    """Writers of every file of a review sample (computed before anything is written)."""
    from ..io import write_csv, write_json, write_parquet

    table = sample.reviewer_table(data, show_suggestion=show_suggestion)
    tasks = sample.label_studio_tasks(data, show_suggestion=show_suggestion)
    design_info = {
        **sample.to_dict(),
        "classes": list(sample.class_names),
        "show_suggestion": show_suggestion,
        **(extra or {}),
    }
    return [
        ("review_sample.csv", lambda p: write_csv(p, table)),
        ("review_sample.parquet", lambda p: write_parquet(p, table)),
        ("review_tasks.json", lambda p: write_json(p, tasks)),
        ("sample_design.parquet", lambda p: write_parquet(p, sample.design)),
        ("sample_strata.parquet", lambda p: write_parquet(
            p, sample.strata.join(sample.class_counts.rename({"n_items": "n_class_items"}),
                                  on="stratum", how="left").sort("stratum", "given_label"))),
        ("sample_design.json", lambda p: write_json(p, design_info)),
    ]


def load_sample(directory: str | Path, *, class_names: tuple[str, ...]) -> ReviewSample:
    """Read the design of a drawn sample back (``sample_design.parquet`` and friends).

    Parameters
    ----------
    directory : str or pathlib.Path
        The ``--out`` directory of ``labelaudit sample``.
    class_names : tuple of str
        The audit's classes.

    Returns
    -------
    ReviewSample
    """
    from ..io import read_table

    directory = Path(directory)
    design = read_table(directory / "sample_design.parquet", what="sample design")
    long = read_table(directory / "sample_strata.parquet", what="sample strata")
    info = read_json(directory / "sample_design.json", what="sample design")
    strata_cols = ["stratum", "is_issue", "quality_low", "quality_high", "n_items", "n_sampled",
                   "anticipated_rate"]
    missing = [c for c in strata_cols + ["given_label", "n_class_items"] if c not in long.columns]
    if missing:
        raise InputError(
            f"sample strata '{directory / 'sample_strata.parquet'}': missing column(s) "
            f"{', '.join(map(repr, missing))}"
        )
    strata = long.select(strata_cols + (["n_issues"] if "n_issues" in long.columns else []))
    strata = strata.unique("stratum", keep="first").sort("stratum")
    if "n_issues" not in strata.columns:
        strata = _issues_per_stratum(strata, design)
    counts = long.select("stratum", "given_label", pl.col("n_class_items").alias("n_items"))
    return ReviewSample(design, strata, counts, class_names, int(info.get("seed", 0)),
                        dict(info.get("parameters") or {}))


def _issues_per_stratum(strata: pl.DataFrame, design: pl.DataFrame) -> pl.DataFrame:
    """``n_issues`` for a sample drawn before the strata recorded it.

    Strata of issues and strata of unflagged items are pure, so the count is
    the stratum's size or 0. A stratum whose sampled items are of both kinds
    (a simple random sample's only stratum) has an unknown count (null): the
    detector's precision and recall are then not measured.
    """
    kinds = design.group_by("stratum").agg(
        pl.col("is_issue").cast(pl.Boolean).any().alias("_any"),
        pl.col("is_issue").cast(pl.Boolean).all().alias("_all"),
    )
    joined = strata.join(kinds, on="stratum", how="left", maintain_order="left")
    mixed = pl.col("_any").fill_null(False) & ~pl.col("_all").fill_null(True)
    count = pl.when(mixed).then(None).when(pl.col("is_issue")).then(pl.col("n_items")).otherwise(0)
    return joined.with_columns(count.cast(pl.Int64).alias("n_issues")).drop("_any", "_all")

