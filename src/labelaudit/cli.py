"""Command-line interface: ``labelaudit audit`` and ``labelaudit demo``.

Exit codes
    0  the audit ran and the gate passed (or no gate was given);
    1  the gate failed;
    2  bad input or usage (one-line reason on stderr, nothing written);
    130 interrupted (nothing half-written).

Every input is validated before anything is written; outputs are written
atomically (a temporary file renamed over the target), ``summary.json`` last.
This is the only module that ends the process.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import polars as pl
import typer

from .exceptions import InputError, LabelAuditError

__all__ = ["app", "main", "run"]

PROG = "labelaudit"
EXIT_OK, EXIT_GATE_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    name=PROG,
    help=(
        "Audit a labeled dataset for label noise: find the rows to send back, estimate the "
        "noise rate with an interval, and gate a build on it."
    ),
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# --------------------------------------------------------------------------- plumbing


class _Usage(LabelAuditError):
    """Options that cannot be used together (reported like bad input, exit 2)."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr, soft_wrap=True, highlight=False)


def _stdout_console():
    from rich.console import Console

    return Console(file=sys.stdout, soft_wrap=True, highlight=False)


def _guard(debug: bool, body: Callable[[], int]) -> None:
    """Run a command body and turn its outcome into an exit code.

    Bad input raises :class:`LabelAuditError`: one line on stderr, exit 2.
    Anything else is unexpected: one line (or the traceback with ``--debug``),
    also exit 2, never 1, which is reserved for a failed gate.
    """
    try:
        code = body()
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output was half-written", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except LabelAuditError as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except OSError as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        print(f"{PROG}: error: cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except Exception as exc:  # noqa: BLE001 - the CLI must map every failure to an exit code
        if debug:
            traceback.print_exc(file=sys.stderr)
        print(
            f"{PROG}: error: unexpected {type(exc).__name__}: {_one_line(exc)}"
            + ("" if debug else " (rerun with --debug for the traceback)"),
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_BAD_INPUT) from None
    raise typer.Exit(code)


def _progress_factory(enabled: bool):
    """A ``progress(step, done, total)`` callback drawing rich bars on stderr, or None."""
    if not enabled:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=_stderr_console(),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def progress(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = bars.add_task(step, total=total)
        bars.update(tasks[step], completed=done, total=total)

    return bars, progress


def _split_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")]
    return [t for t in items if t]


# --------------------------------------------------------------------------- the audit job


@dataclass
class _Job:
    """Everything one ``audit`` run needs, validated before any output is written."""

    data: Path
    label_col: str
    out: Path
    id_col: str | None = None
    pred_probs: Path | None = None
    feature_cols: list[str] | None = None
    classes: list[str] | None = None
    policy: Path | None = None
    junit: Path | None = None
    csv: bool = False
    seed: int = 0
    cv: int = 5
    n_bootstrap: int = 1000
    n_jobs: int | None = None
    renormalize: bool = False
    command: str = "audit"
    extra_params: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Loaded:
    labels: np.ndarray
    class_names: list[str]
    ids: pl.Series | None
    pred_probs: np.ndarray | None
    features: np.ndarray | None
    feature_cols: list[str] | None
    inputs: list[dict[str, Any]]
    policy: Any


def _check_options(job: _Job) -> None:
    if job.pred_probs is not None and job.feature_cols is not None:
        raise _Usage("give either --pred-probs or --feature-cols, not both")
    if job.renormalize and job.pred_probs is None:
        raise _Usage("--renormalize applies to --pred-probs only")
    if job.junit is not None and job.policy is None:
        raise _Usage("--junit needs a gate: pass --policy FILE")
    if job.feature_cols is not None and not job.feature_cols:
        raise _Usage("--feature-cols is empty; give comma-separated column names")
    if job.classes is not None and len(job.classes) < 2:
        raise _Usage(f"--classes must list at least 2 comma-separated classes, got {job.classes!r}")
    if job.cv < 2:
        raise _Usage(f"--cv must be at least 2, got {job.cv}")
    if job.n_bootstrap < 10:
        raise _Usage(f"--n-bootstrap must be at least 10, got {job.n_bootstrap}")
    if job.out.exists() and not job.out.is_dir():
        raise _Usage(f"--out '{job.out}' exists and is not a directory")
    if job.junit is not None and job.junit.is_dir():
        raise _Usage(f"--junit '{job.junit}' is a directory; give a file name")


def _features(df: pl.DataFrame, job: _Job, source: str) -> tuple[np.ndarray, list[str]]:
    """Numeric feature matrix: the named columns, or every numeric column but label and id."""
    from .io import require_columns

    skip = {job.label_col, job.id_col}
    if job.feature_cols is not None:
        require_columns(df, job.feature_cols, source=source)
        cols = job.feature_cols
        for col in cols:
            if col in skip:
                raise _Usage(f"--feature-cols: {col!r} is the label or id column")
            dtype = df.schema[col]
            if not (dtype.is_numeric() or dtype == pl.Boolean):
                raise InputError(f"{source}: feature column {col!r} has type {dtype}, not numeric")
    else:
        cols = [
            c for c, t in df.schema.items() if c not in skip and (t.is_numeric() or t == pl.Boolean)
        ]
        if not cols:
            raise InputError(
                f"{source}: no numeric feature columns besides the label and id; pass "
                "--pred-probs FILE or --feature-cols COL,COL"
            )
    for col in cols:
        values = df.get_column(col)
        nulls = values.is_null()
        if nulls.any():
            raise InputError(
                f"{source}: feature column {col!r} is null at row {int(nulls.arg_true()[0])}"
            )
        if values.dtype.is_float():
            bad = ~values.is_finite()
            if bad.any():
                row = int(bad.arg_true()[0])
                raise InputError(f"{source}: feature column {col!r} is {values[row]!r} at row {row}")
    X = df.select(pl.col(cols).cast(pl.Float64)).to_numpy(order="c")
    return X, cols


def _load(job: _Job) -> _Loaded:
    """Read and validate every input (no output is written here)."""
    from . import confident
    from .audit import check_probabilities
    from .gate import load_policy
    from .io import (
        encode_labels,
        file_fingerprint,
        item_ids,
        load_pred_probs,
        read_table,
        require_columns,
    )

    _check_options(job)
    policy = load_policy(job.policy) if job.policy is not None else None
    df = read_table(job.data, what="data")
    source = f"data file '{job.data}'"
    require_columns(df, [job.label_col] + ([job.id_col] if job.id_col else []), source=source)
    if job.id_col is not None and job.id_col == job.label_col:
        raise _Usage("--id-col and --label-col name the same column")
    ids = item_ids(df, job.id_col, source=source) if job.id_col else None
    labels, names = encode_labels(
        df.get_column(job.label_col), classes=job.classes, source=source, column=job.label_col
    )
    inputs = [{"role": "data", **file_fingerprint(job.data, n_rows=df.height)}]
    probs = features = cols = None
    if job.pred_probs is not None:
        row_ids = ids if ids is not None else item_ids(df, None, source=source)
        probs = load_pred_probs(
            job.pred_probs, class_names=names, ids=row_ids, id_col=job.id_col or "id"
        )
        prob_source = f"probabilities file '{job.pred_probs}'"
        if job.renormalize:
            try:
                probs = confident.renormalize(probs)
            except LabelAuditError as exc:
                raise InputError(f"{prob_source}: {_one_line(exc)}") from exc
        check_probabilities(probs, ids=ids, source=prob_source)
        inputs.append(
            {"role": "pred_probs", **file_fingerprint(job.pred_probs, n_rows=int(probs.shape[0]))}
        )
    else:
        features, cols = _features(df, job, source)
    if job.policy is not None:
        inputs.append({"role": "policy", **file_fingerprint(job.policy)})
    return _Loaded(labels, names, ids, probs, features, cols, inputs, policy)


def _parameters(job: _Job, loaded: _Loaded) -> dict[str, Any]:
    return {
        "command": job.command,
        "label_col": job.label_col,
        "id_col": job.id_col,
        "classes": loaded.class_names,
        "classes_given": job.classes is not None,
        "feature_cols": loaded.feature_cols,
        "renormalize": job.renormalize,
        "policy": None if job.policy is None else str(job.policy),
        "csv": job.csv,
        **job.extra_params,
    }


def _execute(
    job: _Job,
    *,
    show_progress: bool,
    attach: Callable[[Any], Any] | None = None,
) -> int:
    """Validate, audit, gate, write, report. Returns the exit code."""
    from .audit import audit, to_summary_dict
    from .gate import evaluate, to_junit_xml
    from .io import write_csv, write_json, write_parquet, write_text
    from .report import render_html

    loaded = _load(job)
    bars, progress = _progress_factory(show_progress)
    try:
        if bars is not None:
            bars.start()
        result = audit(
            loaded.labels,
            loaded.pred_probs,
            features=loaded.features,
            ids=loaded.ids,
            class_names=loaded.class_names,
            cv=job.cv,
            seed=job.seed,
            n_bootstrap=job.n_bootstrap,
            n_jobs=job.n_jobs,
            pred_probs_source=(
                "pred_probs" if job.pred_probs is None else f"probabilities file '{job.pred_probs}'"
            ),
            progress=progress,
        )
    finally:
        if bars is not None:
            bars.stop()
    if attach is not None:
        result = attach(result)
    verdict = evaluate(loaded.policy, result.figures()) if loaded.policy is not None else None
    names = ["summary.json", "issues.parquet", "report.html"] + (["issues.csv"] if job.csv else [])
    summary = to_summary_dict(
        result,
        inputs=loaded.inputs,
        parameters=_parameters(job, loaded),
        gate=verdict,
        outputs={"directory": str(job.out), "files": names,
                 "junit": None if job.junit is None else str(job.junit)},
    )
    html = render_html(result, gate=verdict, summary=summary)
    junit_xml = to_junit_xml(verdict) if (verdict is not None and job.junit is not None) else None

    # Everything is computed and rendered: only now touch the file system.
    job.out.mkdir(parents=True, exist_ok=True)
    writers = [
        ("issues.parquet", lambda p: write_parquet(p, result.issues)),
        *([("issues.csv", lambda p: write_csv(p, result.issues))] if job.csv else []),
        ("report.html", lambda p: write_text(p, html)),
        ("summary.json", lambda p: write_json(p, summary)),  # last: it vouches for the rest
    ]
    _publish(job.out, writers, junit=(job.junit, junit_xml) if junit_xml is not None else None)
    _print_outcome(result, verdict, job, names)
    return EXIT_OK if verdict is None else verdict.exit_code


def _publish(
    out: Path,
    writers: Sequence[tuple[str, Callable[[Path], None]]],
    *,
    junit: tuple[Path, str] | None = None,
) -> None:
    """Write every output, replacing the previous ones only when all were written.

    The files are first written to a hidden staging directory inside ``out``
    (a failure there removes it and leaves the previous outputs untouched),
    then renamed over their targets one by one, ``summary.json`` last.
    """
    import shutil
    import tempfile

    from .io import write_text

    staging = Path(tempfile.mkdtemp(prefix=".labelaudit-staging-", dir=out))
    try:
        for name, write in writers:
            write(staging / name)
        if junit is not None:
            junit[0].parent.mkdir(parents=True, exist_ok=True)
            write_text(junit[0], junit[1])
        for name, _ in writers:
            (staging / name).replace(out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _print_outcome(result: Any, verdict: Any, job: _Job, names: Sequence[str]) -> None:
    """Headline figures, the gate table and the written files, on stdout."""
    from rich.table import Table

    out = _stdout_console()
    conf = f"{100 * result.confidence:g}%"
    out.print(
        f"Audited {result.n_items} items in {result.n_classes} classes: "
        f"{result.n_issues} label issues ({100 * result.issue_fraction:.1f}%). "
        f"Estimated noise rate {100 * result.estimated_noise_rate:.2f}% "
        f"({conf} interval {100 * result.ci_low:.2f}% to {100 * result.ci_high:.2f}%); "
        f"label health score {result.label_health_score:.3f}."
    )
    if verdict is not None:
        table = Table(title=f"Gate ({verdict.source})")
        for col in ("check", "level", "value", "threshold", "result"):
            table.add_column(col)
        for c in verdict.checks:
            value = "not computed" if c.value is None else f"{c.value:.4g}"
            status = "pass" if c.passed else ("FAIL" if c.level == "fail" else "warn")
            table.add_row(c.name, c.level, value, f"{c.threshold:g}", status)
        out.print(table)
        out.print(f"Gate {'passed' if verdict.passed else 'FAILED'}.")
    written = ", ".join(str(job.out / n) for n in names)
    out.print(f"Wrote {written}" + (f" and {job.junit}" if job.junit is not None else "") + ".")


# --------------------------------------------------------------------------- commands

_DEBUG = typer.Option("--debug", help="Show tracebacks on errors.")


_EXIT_CODES = (
    "Exit codes: 0 the audit ran and the gate passed (or no --policy); 1 the gate failed; "
    "2 bad input or usage (one-line reason on stderr, nothing written)."
)


@app.command("audit", epilog=_EXIT_CODES)
def audit_command(
    data: Annotated[Path, typer.Argument(help="Table of items: CSV, TSV, Parquet, JSONL.")],
    label_col: Annotated[str, typer.Option("--label-col", help="Column with the given labels.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the outputs.")],
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="Column with unique item ids.")
    ] = None,
    pred_probs: Annotated[
        Path | None,
        typer.Option("--pred-probs", help="Out-of-sample probabilities (.npy, .npz or a table)."),
    ] = None,
    feature_cols: Annotated[
        str | None,
        typer.Option(
            "--feature-cols",
            help="Comma-separated feature columns (default: every numeric column but label and id).",
        ),
    ] = None,
    classes: Annotated[
        str | None, typer.Option("--classes", help="Comma-separated class list, in order.")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Gate policy (TOML or pyproject.toml).")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write the gate verdict as JUnit XML.")
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Also write issues.csv.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of folds, model and bootstrap.")] = 0,
    cv: Annotated[int, typer.Option("--cv", help="Cross-validation folds.")] = 5,
    n_bootstrap: Annotated[
        int, typer.Option("--n-bootstrap", help="Bootstrap replicates for the intervals.")
    ] = 1000,
    n_jobs: Annotated[
        int | None, typer.Option("--n-jobs", help="Parallel folds and threads.")
    ] = None,
    renormalize: Annotated[
        bool, typer.Option("--renormalize", help="Divide probability rows by their sums.")
    ] = False,
    debug: Annotated[bool, _DEBUG] = False,
) -> None:
    """Audit DATA: label issues, noise rate with interval, optional gate."""
    job = _Job(
        data=data,
        label_col=label_col,
        out=out,
        id_col=id_col,
        pred_probs=pred_probs,
        feature_cols=_split_list(feature_cols),
        classes=_split_list(classes),
        policy=policy,
        junit=junit,
        csv=csv,
        seed=seed,
        cv=cv,
        n_bootstrap=n_bootstrap,
        n_jobs=n_jobs,
        renormalize=renormalize,
    )
    _guard(debug, lambda: _execute(job, show_progress=sys.stderr.isatty()))


@app.command("demo", epilog=_EXIT_CODES)
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the outputs.")] = Path(
        "labelaudit-demo"
    ),
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Gate policy (TOML or pyproject.toml).")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write the gate verdict as JUnit XML.")
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Also write issues.csv.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of folds, model and bootstrap.")] = 0,
    debug: Annotated[bool, _DEBUG] = False,
) -> None:
    """Run the whole audit on the demo dataset shipped with labelaudit."""

    def body() -> int:
        from .datasets import load_demo

        demo = load_demo()
        job = _Job(
            data=demo.path_items,
            label_col="label",
            id_col="id",
            out=out,
            policy=policy,
            junit=junit,
            csv=csv,
            seed=seed,
            command="demo",
        )
        truth = demo.truth
        checks: list[dict[str, Any]] = []

        def attach(result: Any) -> Any:
            checks.append(_truth_check(result, truth))
            return result.with_section("demo_truth_check", checks[-1])

        code = _execute(job, show_progress=sys.stderr.isatty(), attach=attach)
        _print_truth_check(checks[-1])
        return code

    _guard(debug, body)


def _truth_check(result: Any, truth: pl.DataFrame) -> dict[str, Any]:
    """Compare the audit of the demo data with its known true labels."""
    joined = result.issues.join(truth, on="id", how="inner")
    wrong = joined.get_column("given_label") != joined.get_column("true_label").cast(pl.String)
    flagged = joined.get_column("is_issue")
    n_wrong = int(wrong.sum())
    n_flagged = int(flagged.sum())
    hits = int((wrong & flagged).sum())
    true_rate = n_wrong / joined.height
    summary = {
        "true_noise_rate": true_rate,
        "interval_covers_true_rate": bool(result.ci_low <= true_rate <= result.ci_high),
        "n_mislabeled": n_wrong,
        "n_flagged": n_flagged,
        "n_flagged_mislabeled": hits,
        "precision": hits / n_flagged if n_flagged else None,
        "recall": hits / n_wrong if n_wrong else None,
    }
    return summary


def _print_truth_check(check: dict[str, Any]) -> None:
    """One line comparing the demo audit with the known true labels."""
    _stdout_console().print(
        f"Demo ground truth: {check['n_mislabeled']} rows are really mislabeled "
        f"({100 * check['true_noise_rate']:.2f}%, "
        f"{'inside' if check['interval_covers_true_rate'] else 'outside'} the interval); "
        f"the audit flagged {check['n_flagged']}, of which {check['n_flagged_mislabeled']} are "
        f"truly wrong (precision {check['precision'] or 0:.2f}, recall {check['recall'] or 0:.2f})."
    )


# --------------------------------------------------------------------------- entry points


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (never exits the process).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 passed (or no gate), 1 gate failed, 2 bad input or usage,
        130 interrupted.
    """
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = command.main(args=args, prog_name=PROG, standalone_mode=False)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - usage errors come from the vendored parser
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            hint = f" (see '{PROG} --help')"
            print(f"{PROG}: usage error: {_one_line(exc.format_message())}{hint}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if type(exc).__name__ == "Abort":
            print(f"{PROG}: aborted", file=sys.stderr)
            return EXIT_INTERRUPTED
        raise
    return int(rv) if isinstance(rv, int) else EXIT_OK


def main() -> None:
    """Console-script entry point: run the command line and exit with its code."""
    sys.exit(run())
