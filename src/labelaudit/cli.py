"""Command-line interface: ``labelaudit audit``, ``labelaudit annotators`` and ``labelaudit demo``.

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

import contextlib
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .exceptions import InputError, LabelAuditError

if TYPE_CHECKING:
    import polars as pl

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
    also exit 2, never 1, which is reserved for a failed gate. Warnings of a
    successful run are printed on stderr, one line each (other libraries'
    warnings are passed on unchanged).
    """
    import warnings

    from .exceptions import LabelAuditWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LabelAuditWarning)
            code = body()
        for w in caught:
            if issubclass(w.category, LabelAuditWarning):
                print(f"{PROG}: warning: {_one_line(w.message)}", file=sys.stderr)
            else:  # other libraries' warnings go back to the normal machinery
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
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


def _eta_column():
    """A rich column with the time left on a step, from its average pace so far.

    rich's own estimate needs several updates within its sampling window; a step
    whose units (folds) take minutes gets none, so the estimate here is
    ``(time of the last update / units done) * total - elapsed``: it counts down
    between updates and is corrected at each one.
    """
    from rich.progress import ProgressColumn
    from rich.text import Text

    class _Eta(ProgressColumn):
        def render(self, task):  # noqa: D102 - rich's column protocol
            done_at = task.fields.get("done_at")
            if not task.completed or done_at is None or not task.total:
                return Text("-:--:--")
            left = max(0.0, done_at / task.completed * task.total - (task.elapsed or 0.0))
            if task.finished:
                left = 0.0
            minutes, seconds = divmod(int(round(left)), 60)
            hours, minutes = divmod(minutes, 60)
            return Text(f"{hours}:{minutes:02d}:{seconds:02d}")

    return _Eta()


def _progress_factory(enabled: bool):
    """A ``progress(step, done, total)`` callback drawing rich bars on stderr, or None."""
    if not enabled:
        return None, None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    # Elapsed time and an estimate of the time left on every step (per fold for the
    # out-of-fold step).
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        _eta_column(),
        console=_stderr_console(),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def progress(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = bars.add_task(step, total=total)
        task = bars.tasks[[t.id for t in bars.tasks].index(tasks[step])]
        bars.update(tasks[step], completed=done, total=total, done_at=task.elapsed or 0.0)

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
    extra_pred_probs: list[Path] = field(default_factory=list)
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
    annotations: Path | None = None
    annotation_item_col: str = "item_id"
    annotation_annotator_col: str = "annotator"
    annotation_label_col: str = "label"
    annotation_time_col: str | None = None
    consensus: str | None = None
    attributes: list[str] | None = None
    annotator_col: str | None = None
    min_slice_size: int = 30
    scheduler: str | None = None
    workers: int | None = None
    reviews: Path | None = None
    review_design: Path | None = None
    command: str = "audit"
    extra_params: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Loaded:
    labels: Any  # numpy.ndarray of class codes
    class_names: list[str]
    ids: Any  # polars.Series or None
    pred_probs: Any  # numpy array, or a dask array for sharded probabilities
    features: Any  # numpy.ndarray or None
    feature_cols: list[str] | None
    inputs: list[dict[str, Any]]
    policy: Any
    frame: Any = None  # polars.DataFrame
    annotations: Any = None  # polars.DataFrame
    slice_attributes: list[str] | None = None
    slice_annotator_col: str | None = None
    extra_pred_probs: list = field(default_factory=list)  # further models' numpy arrays
    extra_sources: list = field(default_factory=list)  # their names in messages


def _check_common_options(job: _Job | _AnnotatorsJob) -> None:
    """Checks every command shares: the gate's JUnit file, --classes and --out."""
    if job.junit is not None and job.policy is None:
        raise _Usage("--junit needs a gate: pass --policy FILE")
    if job.classes is not None and len(job.classes) < 2:
        raise _Usage(f"--classes must list at least 2 comma-separated classes, got {job.classes!r}")
    if job.out.exists() and not job.out.is_dir():
        raise _Usage(f"--out '{job.out}' exists and is not a directory")
    if job.junit is not None and job.junit.is_dir():
        raise _Usage(f"--junit '{job.junit}' is a directory; give a file name")


def _check_options(job: _Job) -> None:
    if job.pred_probs is not None and job.feature_cols is not None:
        raise _Usage("give either --pred-probs or --feature-cols, not both")
    if job.extra_pred_probs and _sharded(job):
        raise _Usage("--pred-probs can be repeated only with whole files (.npy, .npz or a "
                     "table), not with row shards or a dask cluster")
    repeated = [str(p) for p in [job.pred_probs, *job.extra_pred_probs] if p is not None]
    if len(set(repeated)) != len(repeated):
        raise _Usage(f"--pred-probs names the same file twice: {repeated!r}")
    if job.renormalize and job.pred_probs is None:
        raise _Usage("--renormalize applies to --pred-probs only")
    if job.feature_cols is not None and not job.feature_cols:
        raise _Usage("--feature-cols is empty; give comma-separated column names")
    if job.cv < 2:
        raise _Usage(f"--cv must be at least 2, got {job.cv}")
    if job.n_bootstrap < 10:
        raise _Usage(f"--n-bootstrap must be at least 10, got {job.n_bootstrap}")
    _check_common_options(job)
    attributes = job.attributes or []
    if len(set(attributes)) != len(attributes):
        raise _Usage(f"--attribute repeats a column: {attributes!r}")
    if job.annotator_col is not None and job.annotator_col in attributes:
        raise _Usage(
            f"--annotator-col {job.annotator_col!r} is also given as --attribute; give it once"
        )
    if job.annotations is None and job.annotation_time_col is not None:
        raise _Usage("--annotation-time-col applies to --annotations only")
    if job.annotations is None and job.consensus is not None:
        raise _Usage("--consensus applies to --annotations only")
    if job.min_slice_size < 1:
        raise _Usage(f"--min-slice-size must be at least 1, got {job.min_slice_size}")
    if job.scheduler is not None and job.workers is not None:
        raise _Usage("give either --scheduler ADDRESS or --workers N, not both")
    if job.workers is not None and job.workers < 1:
        raise _Usage(f"--workers must be at least 1, got {job.workers}")
    if (job.scheduler is not None or job.workers is not None) and job.pred_probs is None:
        raise _Usage(
            "--scheduler and --workers run confident learning over probability shards; "
            "pass --pred-probs 'DIR/part-*.npy' (or a .npy file, or a Parquet directory)"
        )
    if job.review_design is not None and job.reviews is None:
        raise _Usage("--review-design applies to --reviews only")


def _sharded(job: _Job) -> bool:
    """Whether --pred-probs names row shards (a glob or a directory) or a cluster is asked for."""
    import glob

    if job.pred_probs is None:
        return False
    return (
        glob.has_magic(str(job.pred_probs))
        or job.pred_probs.is_dir()
        or job.scheduler is not None
        or job.workers is not None
    )


@contextlib.contextmanager
def _cluster(job: _Job) -> Iterator[Any]:
    """Connect to --scheduler or start --workers local worker processes (else nothing)."""
    if job.scheduler is None and job.workers is None:
        yield None
        return
    try:
        import distributed
    except ImportError:
        raise _Usage(
            "--scheduler and --workers need dask.distributed: pip install 'labelaudit[dask]'"
        ) from None
    if job.scheduler is not None:
        try:
            client = distributed.Client(job.scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(
                f"--scheduler: cannot reach a dask scheduler at {job.scheduler!r}: {_one_line(exc)}"
            ) from None
        with client:
            yield client
        return
    import logging

    with distributed.LocalCluster(
        n_workers=job.workers, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster, distributed.Client(cluster) as client:
        yield client


def _slicing(job: _Job, df: pl.DataFrame, source: str) -> tuple[list[str] | None, str | None]:
    """Attributes and annotator column to slice by (None when no slicing was asked for).

    Slicing runs with ``--attribute`` or ``--annotator-col``; with
    ``--attribute`` or ``--annotations`` and no ``--annotator-col``, a data
    column named ``annotator`` is used as the annotator column.
    """
    from .io import require_columns

    attributes = list(job.attributes or [])
    annotator_col = job.annotator_col
    if annotator_col is None and (attributes or job.annotations is not None):
        if "annotator" in df.columns and "annotator" not in attributes:
            annotator_col = "annotator"
    if not attributes and annotator_col is None:
        return None, None
    require_columns(df, attributes + ([annotator_col] if annotator_col else []), source=source)
    return attributes, annotator_col


def _read_annotations(
    path: Path,
    *,
    item_col: str,
    annotator_col: str,
    label_col: str,
    time_col: str | None,
    classes: list[str] | None,
    item_ids: pl.Series | None,
) -> tuple[pl.DataFrame, pl.DataFrame, list[str], str]:
    """Read and validate an annotation table (CSV, Parquet, JSONL, Label Studio JSON).

    Returns the table as read, the validated table (labels as class codes),
    the class names and the name of the file for messages.
    """
    from .audit import prepare_annotations
    from .io import read_table

    source = f"annotations file '{path}'"
    raw = read_table(path, what="annotations")
    frame, names, _ = prepare_annotations(
        raw, item_col=item_col, annotator_col=annotator_col, label_col=label_col,
        time_col=time_col, classes=classes, item_ids=item_ids, source=source,
    )
    return raw, frame, names, source


def _load(job: _Job) -> _Loaded:
    """Read and check every input (no output is written here).

    The probability matrix is validated once, by :func:`labelaudit.audit.audit`
    in its fused kernel pass, with the same file name and ids in its messages.
    """
    from . import confident
    from .audit import feature_matrix
    from .gate import load_policy
    from .io import (
        encode_labels,
        file_fingerprint,
        input_fingerprints,
        item_ids,
        load_pred_probs,
        read_table,
        require_columns,
    )

    _check_options(job)
    policy = load_policy(job.policy) if job.policy is not None else None
    df = read_table(job.data, what="data", columns=_needed_columns(job))
    source = f"data {'directory' if job.data.is_dir() else 'file'} '{job.data}'"
    require_columns(df, [job.label_col] + ([job.id_col] if job.id_col else []), source=source)
    if job.id_col is not None and job.id_col == job.label_col:
        raise _Usage("--id-col and --label-col name the same column")
    ids = item_ids(df, job.id_col, source=source) if job.id_col else None
    labels, names = encode_labels(
        df.get_column(job.label_col), classes=job.classes, source=source, column=job.label_col
    )
    inputs = input_fingerprints("data", job.data, n_rows=df.height)
    probs = features = cols = None
    extra: list[Any] = []
    if _sharded(job):
        probs = _load_shards(job, names, n_rows=df.height, inputs=inputs)
    elif job.pred_probs is not None:
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
        inputs.append(
            {"role": "pred_probs", **file_fingerprint(job.pred_probs, n_rows=int(probs.shape[0]))}
        )
        for path in job.extra_pred_probs:
            more = load_pred_probs(path, class_names=names, ids=row_ids, id_col=job.id_col or "id")
            if job.renormalize:
                try:
                    more = confident.renormalize(more)
                except LabelAuditError as exc:
                    raise InputError(f"probabilities file '{path}': {_one_line(exc)}") from exc
            extra.append(more)
            inputs.append(
                {"role": "pred_probs", **file_fingerprint(path, n_rows=int(more.shape[0]))}
            )
    else:
        features, cols = feature_matrix(
            df, feature_cols=job.feature_cols, source=source,
            reserved=(job.label_col, job.id_col),
            metadata=(*(job.attributes or []), job.annotator_col),
        )
    attributes, annotator_col = _slicing(job, df, source)
    annotations = None
    if job.annotations is not None:
        row_ids = ids if ids is not None else item_ids(df, None, source=source)
        annotations, _, _, _ = _read_annotations(
            job.annotations, item_col=job.annotation_item_col,
            annotator_col=job.annotation_annotator_col, label_col=job.annotation_label_col,
            time_col=job.annotation_time_col, classes=names, item_ids=row_ids,
        )
        inputs.append(
            {"role": "annotations", **file_fingerprint(job.annotations, n_rows=annotations.height)}
        )
    if job.policy is not None:
        inputs.append({"role": "policy", **file_fingerprint(job.policy)})
    return _Loaded(
        labels, names, ids, probs, features, cols, inputs, policy,
        frame=df if attributes is not None else None, annotations=annotations,
        slice_attributes=attributes, slice_annotator_col=annotator_col,
        extra_pred_probs=extra,
        extra_sources=[f"probabilities file '{p}'" for p in job.extra_pred_probs],
    )


def _needed_columns(job: _Job) -> list[str] | None:
    """Columns of DATA the run uses, when they are known without reading it (else None)."""
    if job.pred_probs is None:
        return None  # default features: every numeric column
    if job.annotator_col is None and (job.attributes or job.annotations is not None):
        return None  # an optional 'annotator' column is used when present (see _slicing)
    cols = [job.label_col, job.id_col, *(job.attributes or []), job.annotator_col]
    return list(dict.fromkeys(c for c in cols if c is not None))


def _load_shards(job: _Job, names: list[str], *, n_rows: int, inputs: list) -> Any:
    """Probability shards as a lazy dask array checked against DATA's row count.

    Shard fingerprints (SHA-256 of every file) are computed by the workers.
    """
    import dask

    from . import confident
    from .confident import _dask
    from .io import file_fingerprint, load_pred_probs_shards, shard_paths

    spec = str(job.pred_probs)
    paths = shard_paths(spec)
    probs = load_pred_probs_shards(paths, class_names=names)
    if probs.shape[0] != n_rows:
        raise InputError(
            f"probabilities '{spec}': the shards hold {probs.shape[0]} rows but DATA has "
            f"{n_rows}; shards are read in sorted path order and their rows follow DATA's rows"
        )
    if job.renormalize:
        probs = probs.map_blocks(confident.renormalize, dtype=probs.dtype)
    tasks = [
        dask.delayed(file_fingerprint)(str(path), n_rows=int(rows))
        for path, rows in zip(paths, probs.chunks[0], strict=True)
    ]
    for fp in _dask.compute_parts(dask, tasks, "hashing shards"):
        inputs.append({"role": "pred_probs_shard", "pattern": spec, **fp})
    return probs


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
        "annotations": None if job.annotations is None else str(job.annotations),
        "annotation_item_col": job.annotation_item_col if job.annotations else None,
        "annotation_annotator_col": job.annotation_annotator_col if job.annotations else None,
        "annotation_label_col": job.annotation_label_col if job.annotations else None,
        "annotation_time_col": job.annotation_time_col,
        "attributes": loaded.slice_attributes,
        "slice_annotator_col": loaded.slice_annotator_col,
        "min_slice_size": job.min_slice_size if loaded.slice_attributes is not None else None,
        "scheduler": job.scheduler,
        "workers": job.workers,
        "sharded_pred_probs": _sharded(job),
        "reviews": None if job.reviews is None else str(job.reviews),
        "review_design": (None if job.reviews is None
                          else str(job.review_design or job.reviews.parent)),
        **job.extra_params,
    }


def _execute(
    job: _Job,
    *,
    show_progress: bool,
    attach: Callable[[Any], Any] | None = None,
) -> int:
    """Validate, audit, gate, write, report. Returns the exit code."""
    _check_options(job)  # before a cluster is started or reached
    with _cluster(job):
        return _run_job(job, show_progress=show_progress, attach=attach)


def _run_job(
    job: _Job,
    *,
    show_progress: bool,
    attach: Callable[[Any], Any] | None = None,
) -> int:
    from .audit import add_annotator_review, add_slices, audit

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
                "pred_probs" if job.pred_probs is None
                else f"probabilities {'shards' if _sharded(job) else 'file'} '{job.pred_probs}'"
            ),
            extra_pred_probs=loaded.extra_pred_probs,
            extra_pred_probs_sources=loaded.extra_sources,
            progress=progress,
        )
    finally:
        if bars is not None:
            bars.stop()
    if loaded.annotations is not None:
        result = add_annotator_review(
            result, loaded.annotations, item_col=job.annotation_item_col,
            annotator_col=job.annotation_annotator_col, label_col=job.annotation_label_col,
            time_col=job.annotation_time_col, source=f"annotations file '{job.annotations}'",
            n_jobs=job.n_jobs, consensus_method=job.consensus,
        )
    if loaded.slice_attributes is not None:
        result = add_slices(
            result, loaded.frame, attributes=loaded.slice_attributes, ids=loaded.ids,
            annotator_col=loaded.slice_annotator_col, source=f"data file '{job.data}'",
            min_size=job.min_slice_size,
        )
    if job.reviews is not None:
        result = _verified(result, job.reviews, job.review_design, loaded.inputs)
    if attach is not None:
        result = attach(result)
    return _finish(
        result, out=job.out, junit=job.junit, policy=loaded.policy,
        inputs=loaded.inputs, parameters=_parameters(job, loaded),
        figures=result.figures(), csv=job.csv,
    )


def _read_review(reviews: Path, designs: Sequence[Path], option: str,
                 class_names: Sequence[str]) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The reviewers' table, the sample design it answers (first of ``designs`` that has one)
    and both files' provenance; ``option`` names the flag that points at the design."""
    from .io import file_fingerprint, read_table
    from .verify._audit_dir import load_sample

    design = next((d for d in designs if (d / "sample_design.parquet").is_file()), None)
    if design is None:
        places = " or ".join(f"'{d}'" for d in designs)
        raise InputError(
            f"no sample_design.parquet in {places} for the reviews file '{reviews}'; pass "
            f"{option} DIR (the --out of 'labelaudit sample')"
        )
    sample = load_sample(design, class_names=tuple(class_names))
    raw = read_table(reviews, what="reviews")
    inputs = [{"role": "reviews", **file_fingerprint(reviews, n_rows=raw.height)},
              {"role": "sample_design", **file_fingerprint(design / "sample_design.parquet")}]
    return raw, sample, inputs


def _verified(result: Any, reviews: Path, design: Path | None, inputs: list) -> Any:
    """The audit verified by a reviewed sample (``--reviews``): the review leads the outputs."""
    raw, sample, review_inputs = _read_review(
        reviews, [reviews.parent if design is None else design], "--review-design",
        result.class_names,
    )
    inputs.extend(review_inputs)
    return result.verify(raw, sample, seed=0, source=f"reviews file '{reviews}'")


def _finish(
    result: Any,
    *,
    out: Path,
    junit: Path | None,
    policy: Any,
    inputs: list[dict[str, Any]],
    parameters: dict[str, Any],
    figures: dict[str, Any],
    csv: bool = False,
) -> int:
    """Gate, summarise, render, then publish every output; returns the exit code.

    The sidecar files come from the report sections present in ``result``
    (see :mod:`labelaudit.report.sections`).
    """
    from .gate import evaluate, to_junit_xml
    from .io.writers import publish
    from .report import render_html
    from .report.sections import section_sidecars
    from .summary import to_summary_dict

    verdict = evaluate(policy, figures) if policy is not None else None
    sidecars = section_sidecars(result, {"csv": csv})
    names = ["summary.json", "report.html", *sidecars]
    summary = to_summary_dict(
        result,
        inputs=inputs,
        parameters=parameters,
        gate=verdict,
        outputs={"directory": str(out), "files": names,
                 "junit": None if junit is None else str(junit)},
    )
    html = render_html(result, gate=verdict, summary=summary)
    junit_xml = to_junit_xml(verdict) if (verdict is not None and junit is not None) else None

    # Everything is computed and rendered: only now touch the file system.
    files = {**sidecars, "report.html": html, "summary.json": summary}  # summary last: it vouches
    publish(out, files, extra=[(junit, junit_xml)] if junit_xml is not None else ())
    _print_outcome(result, verdict, out, junit, names)
    return EXIT_OK if verdict is None else verdict.exit_code


def _print_outcome(
    result: Any, verdict: Any, directory: Path, junit: Path | None, names: Sequence[str]
) -> None:
    """Headline figures, the gate table and the written files, on stdout."""
    from rich.table import Table

    from .report.sections import section_lines

    out = _stdout_console()
    for line in section_lines(result):
        out.print(line)
    if verdict is not None:
        table = Table(title=f"Gate ({verdict.source})")
        for col in ("check", "level", "value", "threshold", "result"):
            table.add_column(col)
        for c in verdict.checks:
            value = "not computed" if c.value is None else f"{c.value:.4g}"
            status = "pass" if c.passed else ("FAIL" if c.level == "fail" else "warn")
            table.add_row(c.name, c.level, value, f"{c.threshold:g}", status)
        out.print(table)
        for c in verdict.checks:
            if not c.passed:  # say why, in the check's own words
                out.print(c.message, markup=False, highlight=False)
        out.print(f"Gate {'passed' if verdict.passed else 'FAILED'}.")
    written = ", ".join(str(directory / n) for n in names)
    out.print(f"Wrote {written}" + (f" and {junit}" if junit is not None else "") + ".")


# --------------------------------------------------------------------------- commands

_DEBUG = typer.Option("--debug", help="Show tracebacks on errors.")
_CLASSES = typer.Option("--classes", help="Comma-separated class list, in order.")
_POLICY = typer.Option("--policy", help="Gate policy (TOML or pyproject.toml).")
_CONSENSUS = typer.Option(
    "--consensus",
    help="Consensus method that fills consensus_label: dawid_skene, majority, crowdlab or "
    "another registered one (default: crowdlab when it ran, else dawid_skene).",
)
_JUNIT = typer.Option("--junit", help="Write the gate verdict as JUnit XML.")


_EXIT_CODES = (
    "Exit codes: 0 the audit ran and the gate passed (or no --policy); 1 the gate failed; "
    "2 bad input or usage (one-line reason on stderr, nothing written)."
)


@app.command("audit", epilog=_EXIT_CODES)
def audit_command(
    data: Annotated[
        Path,
        typer.Argument(help="Table of items: CSV, TSV, Parquet, JSONL, or a Parquet directory."),
    ],
    label_col: Annotated[str, typer.Option("--label-col", help="Column with the given labels.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the outputs.")],
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="Column with unique item ids.")
    ] = None,
    pred_probs: Annotated[
        list[Path] | None,
        typer.Option(
            "--pred-probs",
            help="Out-of-sample probabilities (.npy, .npz or a table), or row shards: a quoted "
            "glob such as 'shards/part-*.npy' or a directory of Parquet files. Repeat it for "
            "several models' probabilities (whole files): the audit runs on their mean and "
            "reports each model's own estimate and their spread.",
        ),
    ] = None,
    feature_cols: Annotated[
        str | None,
        typer.Option(
            "--feature-cols",
            help="Comma-separated feature columns (default: every numeric column but label and id).",
        ),
    ] = None,
    classes: Annotated[str | None, _CLASSES] = None,
    policy: Annotated[Path | None, _POLICY] = None,
    junit: Annotated[Path | None, _JUNIT] = None,
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
    annotations: Annotated[
        Path | None,
        typer.Option(
            "--annotations",
            help="Long table of annotations (CSV, Parquet, JSONL or a Label Studio JSON "
            "export) whose items are ids of DATA: adds the annotator review.",
        ),
    ] = None,
    annotation_item_col: Annotated[
        str, typer.Option("--annotation-item-col", help="Item id column of --annotations.")
    ] = "item_id",
    annotation_annotator_col: Annotated[
        str,
        typer.Option("--annotation-annotator-col", help="Annotator column of --annotations."),
    ] = "annotator",
    annotation_label_col: Annotated[
        str, typer.Option("--annotation-label-col", help="Label column of --annotations.")
    ] = "label",
    annotation_time_col: Annotated[
        str | None,
        typer.Option("--annotation-time-col", help="Timestamp column of --annotations."),
    ] = None,
    consensus: Annotated[str | None, _CONSENSUS] = None,
    attribute: Annotated[
        list[str] | None,
        typer.Option(
            "--attribute",
            help="Column of DATA to slice issue rates by (repeat for several): adds "
            "slices.parquet.",
        ),
    ] = None,
    annotator_col: Annotated[
        str | None,
        typer.Option(
            "--annotator-col",
            help="Column of DATA naming who gave each label, sliced like an attribute "
            "(default: a column named 'annotator' when slicing or annotations are asked for).",
        ),
    ] = None,
    min_slice_size: Annotated[
        int,
        typer.Option(
            "--min-slice-size",
            help="Smallest group (and rest of the data) a slice is tested and flagged with.",
        ),
    ] = 30,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Address of a running dask scheduler (e.g. tcp://host:8786): confident "
            "learning runs on its workers, over the --pred-probs shards.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Start N local dask worker processes and run confident learning on them.",
        ),
    ] = None,
    reviews: Annotated[
        Path | None,
        typer.Option(
            "--reviews",
            help="A reviewed sample of this data ('labelaudit sample', reviewed_label filled): "
            "the verified noise rate leads the report, summary.json and the gate.",
        ),
    ] = None,
    review_design: Annotated[
        Path | None,
        typer.Option(
            "--review-design",
            help="The --out directory of 'labelaudit sample' (default: the reviews file's "
            "directory).",
        ),
    ] = None,
    debug: Annotated[bool, _DEBUG] = False,
) -> None:
    """Audit DATA: label issues, noise rate with interval, annotators, slices, optional gate.

    --pred-probs also takes row shards: a quoted glob such as 'shards/part-*.npy'
    or a directory of Parquet files (with one column per class), read in sorted
    path order, whose rows follow DATA's rows. They are processed chunk by chunk
    with dask (pip install 'labelaudit[dask]'), on a cluster with --scheduler or
    --workers. DATA may be a Parquet dataset directory.
    """
    job = _Job(
        data=data,
        label_col=label_col,
        out=out,
        id_col=id_col,
        pred_probs=pred_probs[0] if pred_probs else None,
        extra_pred_probs=list(pred_probs[1:]) if pred_probs else [],
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
        annotations=annotations,
        annotation_item_col=annotation_item_col,
        annotation_annotator_col=annotation_annotator_col,
        annotation_label_col=annotation_label_col,
        annotation_time_col=annotation_time_col,
        consensus=consensus,
        attributes=list(attribute) if attribute else None,
        annotator_col=annotator_col,
        min_slice_size=min_slice_size,
        scheduler=scheduler,
        workers=workers,
        reviews=reviews,
        review_design=review_design,
    )
    _guard(debug, lambda: _execute(job, show_progress=sys.stderr.isatty()))


@dataclass
class _AnnotatorsJob:
    """Everything one ``annotators`` run needs."""

    annotations: Path
    out: Path
    item_col: str = "item_id"
    annotator_col: str = "annotator"
    label_col: str = "label"
    time_col: str | None = None
    pred_probs: Path | None = None
    classes: list[str] | None = None
    policy: Path | None = None
    junit: Path | None = None
    seed: int = 0
    n_jobs: int | None = None
    consensus: str | None = None


def _execute_annotators(job: _AnnotatorsJob) -> int:
    """Validate, review, gate, write, report. Returns the exit code."""
    from .annotators import review_annotators
    from .audit import check_probabilities, review_only_result
    from .gate import load_policy
    from .io import file_fingerprint, load_pred_probs

    _check_common_options(job)
    policy = load_policy(job.policy) if job.policy is not None else None
    raw, frame, names, source = _read_annotations(
        job.annotations, item_col=job.item_col, annotator_col=job.annotator_col,
        label_col=job.label_col, time_col=job.time_col, classes=job.classes, item_ids=None,
    )
    if len(names) < 2:
        raise InputError(
            f"{source}: column {job.label_col!r} holds a single class {names!r}; need at least 2"
        )
    inputs = [{"role": "annotations", **file_fingerprint(job.annotations, n_rows=raw.height)}]
    ids = frame.get_column(job.item_col).unique().sort()
    probs = None
    if job.pred_probs is not None:
        prob_source = f"probabilities file '{job.pred_probs}'"
        probs = load_pred_probs(job.pred_probs, class_names=names, ids=ids, id_col=job.item_col)
        probs = check_probabilities(probs, ids=ids, source=prob_source)
        inputs.append(
            {"role": "pred_probs", **file_fingerprint(job.pred_probs, n_rows=int(probs.shape[0]))}
        )
    if job.policy is not None:
        inputs.append({"role": "policy", **file_fingerprint(job.policy)})
    review = review_annotators(
        frame, item_col=job.item_col, annotator_col=job.annotator_col,
        label_col=job.label_col, time_col=job.time_col, classes=names, pred_probs=probs,
        item_ids=ids, seed=job.seed, n_jobs=job.n_jobs, consensus_method=job.consensus,
        source=source,
    )
    parameters = {
        "command": "annotators",
        "item_col": job.item_col,
        "annotator_col": job.annotator_col,
        "label_col": job.label_col,
        "time_col": job.time_col,
        "classes": names,
        "classes_given": job.classes is not None,
        "pred_probs": None if job.pred_probs is None else str(job.pred_probs),
        "policy": None if job.policy is None else str(job.policy),
        "seed": job.seed,
        "n_jobs": job.n_jobs,
    }
    result = review_only_result(review, parameters=parameters)
    return _finish(
        result, out=job.out, junit=job.junit, policy=policy,
        inputs=inputs, parameters=parameters, figures=dict(result.extra_figures),
    )


@app.command("annotators", epilog=_EXIT_CODES)
def annotators_command(
    annotations: Annotated[
        Path,
        typer.Argument(
            help="Long table, one row per annotation: CSV, TSV, Parquet, JSONL or a Label "
            "Studio JSON export."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for the outputs.")],
    item_col: Annotated[str, typer.Option("--item-col", help="Item id column.")] = "item_id",
    annotator_col: Annotated[
        str, typer.Option("--annotator-col", help="Annotator id column.")
    ] = "annotator",
    label_col: Annotated[str, typer.Option("--label-col", help="Label column.")] = "label",
    time_col: Annotated[
        str | None,
        typer.Option("--time-col", help="Timestamp column: adds quality per week."),
    ] = None,
    pred_probs: Annotated[
        Path | None,
        typer.Option(
            "--pred-probs",
            help="Model probabilities per item (.npy/.npz rows in sorted item-id order, or a "
            "table with the item id column and one column per class): adds CROWDLAB consensus.",
        ),
    ] = None,
    classes: Annotated[str | None, _CLASSES] = None,
    policy: Annotated[Path | None, _POLICY] = None,
    junit: Annotated[Path | None, _JUNIT] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed (recorded; the review is deterministic).")
    ] = 0,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Kernel threads.")] = None,
    consensus: Annotated[str | None, _CONSENSUS] = None,
    debug: Annotated[bool, _DEBUG] = False,
) -> None:
    """Review the annotators of ANNOTATIONS: consensus, agreement, per-annotator quality."""
    job = _AnnotatorsJob(
        annotations=annotations,
        out=out,
        item_col=item_col,
        annotator_col=annotator_col,
        label_col=label_col,
        time_col=time_col,
        pred_probs=pred_probs,
        classes=_split_list(classes),
        policy=policy,
        junit=junit,
        seed=seed,
        n_jobs=n_jobs,
        consensus=consensus,
    )
    _guard(debug, lambda: _execute_annotators(job))


@app.command("demo", epilog=_EXIT_CODES)
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the outputs.")] = Path(
        "labelaudit-demo"
    ),
    policy: Annotated[Path | None, _POLICY] = None,
    junit: Annotated[Path | None, _JUNIT] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Also write issues.csv.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of folds, model and bootstrap.")] = 0,
    debug: Annotated[bool, _DEBUG] = False,
) -> None:
    """Run the whole audit on the shipped demo data: annotators and slices by source too."""

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
            annotations=demo.path_annotations,
            annotation_time_col="timestamp",
            attributes=["source"],
            annotator_col="annotator",
            reviews=demo.path_reviews,
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


def _truth_check(result: Any, truth: Any) -> dict[str, Any]:
    """Compare the audit of the demo data with its known true labels."""
    import polars as pl

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


# --------------------------------------------------------------------------- review: sample, verify, plan
# Thin commands over labelaudit.verify: draw a stratified review sample from a finished audit,
# turn the reviewed sample into a verified noise rate, and compute acceptance-sampling plans.

_REVIEW_EXIT_CODES = (
    "Exit codes: 0 done (and ACCEPT under an acceptance plan); 1 REJECT under the plan; "
    "2 bad input or usage (one-line reason on stderr, nothing written)."
)


def _check_out_dir(out: Path, option: str = "--out") -> None:
    if out.exists() and not out.is_dir():
        raise _Usage(f"{option} '{out}' exists and is not a directory")


def _execute_sample(
    audit_dir: Path, out: Path, *, size: int | None, half_width: float | None,
    policy: Path | None, seed: int, data: Path | None, id_col: str | None,
    show_suggestion: bool,
) -> int:
    from .io import publish
    from .verify import review_sample
    from .verify._audit_dir import SAMPLE_FILES, load_audit_dir, load_item_data, sample_writers
    from .verify.plans import load_acceptance, plan_from_policy

    if sum(x is not None for x in (size, half_width, policy)) != 1:
        raise _Usage("give exactly one of --size, --half-width and --policy")
    if id_col is not None and data is None:
        raise _Usage("--id-col applies to --data only")
    _check_out_dir(out)
    audit = load_audit_dir(audit_dir)
    plan = None
    if policy is not None:
        acceptance = load_acceptance(policy)
        if acceptance is None:
            raise _Usage(f"policy '{policy}' has no [gate.acceptance] table to size the sample")
        plan = plan_from_policy(acceptance, audit.issues)
        if plan.kind == "single":
            sample = review_sample(audit.issues, size=plan.n, seed=seed, strata=1)
        else:
            sample = review_sample(audit.issues, allocation=plan.allocation, seed=seed)
    else:
        sample = review_sample(audit.issues, size=size, seed=seed, half_width=half_width)
    sample = type(sample)(sample.design, sample.strata, sample.class_counts,
                          audit.class_names or sample.class_names, sample.seed, sample.parameters)
    frame, data_path = load_item_data(audit, data, id_col)
    extra = {
        "audit_directory": str(audit_dir),
        "data": None if data_path is None else str(data_path),
        "acceptance_plan": None if plan is None else plan.to_dict(),
    }
    writers = sample_writers(sample, data=frame, show_suggestion=show_suggestion, extra=extra)
    publish(out, writers)
    console = _stdout_console()
    console.print(
        f"Drew {sample.size} of {sample.n_items} items in {sample.strata.height} strata "
        f"(seed {seed}); anticipated 95% half-width "
        f"{100 * sample.parameters['anticipated_half_width']:.2f} points."
        + ("" if plan is None else f" Sized by the {plan.kind} acceptance plan.")
    )
    console.print(f"Wrote {', '.join(str(out / n) for n in SAMPLE_FILES)}.")
    return EXIT_OK


@app.command("sample", epilog=_REVIEW_EXIT_CODES)
def sample_command(
    audit_dir: Annotated[Path, typer.Argument(help="Output directory of a finished audit.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the review files.")],
    size: Annotated[
        int | None, typer.Option("--size", help="Number of items to review.")
    ] = None,
    half_width: Annotated[
        float | None,
        typer.Option("--half-width", help="Size the sample for this 95% interval half-width."),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Size the sample by the policy's [gate.acceptance] plan."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draw.")] = 0,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Item data whose columns reviewers see (default: the "
                     "audit's data file when it still exists)."),
    ] = None,
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="Item id column of --data.")
    ] = None,
    show_suggestion: Annotated[
        bool,
        typer.Option("--show-suggestion",
                     help="Show reviewers the model's suggested label (primes them)."),
    ] = False,
    debug: Annotated[bool, _DEBUG] = False,
) -> None:
    """Draw a stratified review sample from a finished audit (review_sample.csv and more)."""
    _guard(debug, lambda: _execute_sample(
        audit_dir, out, size=size, half_width=half_width, policy=policy, seed=seed, data=data,
        id_col=id_col, show_suggestion=show_suggestion,
    ))


def _execute_verify(
    audit_dir: Path, reviews: Path, out: Path, *, design: Path | None, policy: Path | None,
    junit: Path | None, allow_partial: bool, seed: int,
) -> int:
    from .gate import GateResult, evaluate, figures_from_summary, load_policy
    from .io import publish, write_json, write_text
    from .report import render_html
    from .verify._audit_dir import load_audit_dir
    from .verify.plans import acceptance_gate, load_acceptance, plan_from_policy

    if junit is not None and policy is None:
        raise _Usage("--junit needs an acceptance plan: pass --policy FILE")
    if junit is not None and junit.is_dir():
        raise _Usage(f"--junit '{junit}' is a directory; give a file name")
    _check_out_dir(out)
    audit = load_audit_dir(audit_dir)
    raw, sample, review_inputs = _read_review(
        reviews, [reviews.parent, audit_dir] if design is None else [design], "--design",
        audit.class_names,
    )
    plan = gate_policy = None
    if policy is not None:
        gate_policy = load_policy(policy)
        acceptance = load_acceptance(policy)
        if acceptance is None and not (gate_policy.fail or gate_policy.warn
                                       or gate_policy.require_review):
            raise _Usage(f"policy '{policy}' has neither thresholds nor a [gate.acceptance] "
                         "table to decide on")
        if acceptance is not None:
            plan = plan_from_policy(acceptance, audit.issues)
    # The audit's own figures, verified by the review: the same result as 'audit --reviews'.
    reviewed = audit.result().verify(raw, sample, allow_partial=allow_partial, seed=seed,
                                     acceptance=plan, source=f"reviews file '{reviews}'")
    verified = reviewed.extras["verified"]
    verdict = None
    if gate_policy is not None:
        # The review's figures override the model's: max_noise_rate is judged on the
        # verified upper bound, and require_review is satisfied.
        figures = {**figures_from_summary(audit.summary), **verified.figures()}
        checks = evaluate(gate_policy, figures).checks
        if verified.acceptance is not None:
            checks = acceptance_gate(verified.acceptance, str(policy)).checks + checks
        verdict = GateResult(checks, str(policy))
    summary = dict(audit.summary)
    summary["inputs"] = [*(summary.get("inputs") or []), *review_inputs]
    summary["verified"] = verified.to_dict()
    if verdict is not None:
        summary["gate"] = verdict.to_dict()
    summary["outputs"] = {"directory": str(out), "files": ["summary.json", "report.html"],
                          "junit": None if junit is None else str(junit)}
    html = render_html(reviewed, gate=verdict, summary=summary)
    junit_text = None
    if verdict is not None and junit is not None:
        from .gate import to_junit_xml

        junit_text = to_junit_xml(verdict, suite_name="labelaudit.acceptance")
    publish(out, [("report.html", lambda p: write_text(p, html)),
                  ("summary.json", lambda p: write_json(p, summary))],
            extra=() if junit_text is None else [(junit, junit_text)])
    console = _stdout_console()
    for line in verified.summary_lines():
        console.print(line)
    if verdict is not None:
        for check in verdict.checks:
            console.print(check.message)
    console.print(f"Wrote {out / 'summary.json'}, {out / 'report.html'}"
                  + (f" and {junit}" if junit else "") + ".")
    return EXIT_OK if verdict is None else verdict.exit_code


@app.command("verify", epilog=_REVIEW_EXIT_CODES)
def verify_command(
    audit_dir: Annotated[Path, typer.Argument(help="Output directory of a finished audit.")],
    reviews: Annotated[
        Path,
        typer.Argument(help="The reviewed sample: review_sample.csv/.parquet with "
                       "reviewed_label filled, a table with id and is_correct, or a Label "
                       "Studio JSON export of review_tasks.json."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for summary.json.")],
    design: Annotated[
        Path | None,
        typer.Option("--design", help="The --out directory of 'labelaudit sample' (default: "
                     "the reviews file's directory, else AUDIT_DIR)."),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Gate policy: its thresholds are judged on the review "
                     "(max_noise_rate on the verified upper bound, require_review), and its "
                     "[gate.acceptance] plan decides ACCEPT or REJECT."),
    ] = None,
    junit: Annotated[Path | None, _JUNIT] = None,
    allow_partial: Annotated[
        bool,
        typer.Option("--allow-partial", help="Accept sampled items left unreviewed (said in "
                     "the output)."),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the interval's draws.")] = 0,
    debug: Annotated[bool, _DEBUG] = False,
) -> None:
    """Turn a reviewed sample into a verified noise rate with a design-based interval."""
    _guard(debug, lambda: _execute_verify(
        audit_dir, reviews, out, design=design, policy=policy, junit=junit,
        allow_partial=allow_partial, seed=seed,
    ))


def _execute_plan(
    lot_size: int, aql: float, lq: float, producer_risk: float, consumer_risk: float,
    audit_dir: Path | None,
) -> int:
    from rich.table import Table

    from .verify.plans import oc_curve, single_sampling_plan, stratified_plan

    plan = single_sampling_plan(lot_size, aql, lq, producer_risk, consumer_risk)
    console = _stdout_console()
    console.print(
        f"Single sampling plan for a lot of {lot_size}: review n = {plan.n} random items, "
        f"accept when at most c = {plan.c} are wrong. Producer's risk {plan.producer_risk:.4f} "
        f"(lot at AQL {aql:g}, {plan.defects_at_aql} wrong), consumer's risk "
        f"{plan.consumer_risk:.4f} (lot at LQ {lq:g}, {plan.defects_at_lq} wrong); exact "
        "hypergeometric."
    )
    plans = [("single", plan)]
    if audit_dir is not None:
        from .verify._audit_dir import load_audit_dir

        audit = load_audit_dir(audit_dir)
        if audit.issues.height != lot_size:
            raise _Usage(
                f"--lot-size {lot_size} differs from the {audit.issues.height} items of the "
                f"audit '{audit_dir}'"
            )
        strat = stratified_plan(audit.issues, aql=aql, lq=lq, producer_risk=producer_risk,
                                consumer_risk=consumer_risk)
        console.print(
            f"Model-assisted stratified plan from the audit: review n = {strat.n} items "
            f"({', '.join(map(str, strat.allocation))} per stratum), accept when the stratified "
            f"estimate of wrong labels is at most {strat.k}. Producer's risk "
            f"{strat.producer_risk:.4f}, consumer's risk {strat.consumer_risk:.4f} under the "
            f"anticipated spread of wrong labels; {100 * (1 - strat.n / plan.n):.0f}% fewer "
            "reviews than the single plan."
        )
        for label, key in (("concentrated as the calibrated scores anticipate", "spread_calibrated"),
                           ("spread as the raw scores suggest", "spread_raw")):
            alpha, beta = strat.risks_under(strat.parameters[key])
            console.print(f"  If the wrong labels are {label}: producer's risk {alpha:.4f}, "
                          f"consumer's risk {beta:.4f}.")
        plans.append(("stratified", strat))
    table = Table(title="Operating characteristic: P(accept) by the lot's share of wrong labels")
    table.add_column("wrong labels")
    table.add_column("count")
    for name, _ in plans:
        table.add_column(f"P(accept), {name}")
    curves = [oc_curve(p) for _, p in plans]
    for i, row in enumerate(curves[0]):
        table.add_row(f"{100 * row['defect_rate']:.2f}%", str(row["defects"]),
                      *[f"{c[i]['accept_probability']:.4f}" for c in curves])
    console.print(table)
    return EXIT_OK


@app.command("plan", epilog=_REVIEW_EXIT_CODES)
def plan_command(
    lot_size: Annotated[int, typer.Option("--lot-size", help="Items in the lot.")],
    aql: Annotated[float, typer.Option("--aql", help="Acceptable quality level (share wrong).")],
    lq: Annotated[float, typer.Option("--lq", help="Limiting quality (share wrong).")],
    producer_risk: Annotated[
        float, typer.Option("--producer-risk", help="Largest P(reject) at the AQL.")
    ] = 0.05,
    consumer_risk: Annotated[
        float, typer.Option("--consumer-risk", help="Largest P(accept) at the LQ.")
    ] = 0.10,
    audit_dir: Annotated[
        Path | None,
        typer.Option("--audit", help="Audit of the lot: adds the model-assisted stratified plan."),
    ] = None,
    debug: Annotated[bool, _DEBUG] = False,
) -> None:
    """Print an acceptance-sampling plan and its operating-characteristic curve."""
    _guard(debug, lambda: _execute_plan(lot_size, aql, lq, producer_risk, consumer_risk,
                                        audit_dir))
