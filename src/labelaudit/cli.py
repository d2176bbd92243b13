"""Command-line interface: ``labelaudit audit``, ``annotators``, ``demo``, ``sample``, ``verify``, ``export-tasks``.

Exit codes
    0  the audit ran and the gate passed (or no gate was given);
    1  the gate failed;
    2  bad input or usage (one-line reason on stderr, nothing written);
    130 interrupted (the previous outputs are kept, or this run's are complete).

Every input is validated before anything is written. A command that writes
holds the lock of its output folder for the whole run and publishes the whole
set at once (:func:`labelaudit.io.writers.publish`): readers see every file of
the previous run or every file of this one. This is the only module that ends
the process.
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
    # Subcommands inherit the help option names from the group's context.
    context_settings={"help_option_names": ["-h", "--help"]},
)


# --------------------------------------------------------------------------- plumbing


class _Usage(LabelAuditError):
    """Options that cannot be used together (reported like bad input, exit 2)."""


#: Largest ``--seed`` (``labelaudit._validation.MAX_SEED``, repeated so that parsing the
#: command line does not import numpy).
MAX_SEED = 2**32 - 1


def _check_n_jobs(n_jobs: int | None) -> None:
    """``--n-jobs`` under the one n_jobs rule, named as the option."""
    from ._threads import resolve_n_jobs

    try:
        resolve_n_jobs(n_jobs)
    except LabelAuditError as exc:
        rule = _one_line(exc).replace("`n_jobs`", "--n-jobs").replace("use None, ", "omit it, give ")
        raise _Usage(rule) from exc


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr, soft_wrap=True, highlight=False)


def _stdout_console():
    from rich.console import Console

    return Console(file=sys.stdout, soft_wrap=True, highlight=False)


class _Later:
    """A call running on a daemon thread; :meth:`result` waits for it and returns or raises."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        import threading

        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
                self._error = exc

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _fingerprint_later(role: str, path: Path, n_rows: int | None = None) -> _Later:
    """An input's provenance entry, its SHA-256 computed while the audit runs.

    hashlib releases the GIL while it hashes, so a large probability file is
    hashed on the other core instead of before the audit.
    """
    from .io import file_fingerprint

    return _Later(lambda: {"role": role, **file_fingerprint(path, n_rows=n_rows)})


def _resolved(inputs: list[Any]) -> list[dict[str, Any]]:
    """The provenance entries with every pending fingerprint waited for, in order."""
    return [entry.result() if isinstance(entry, _Later) else entry for entry in inputs]


def _warm_up_report(*then: str) -> None:
    """Import the report's plotting and template libraries on a daemon thread.

    They are needed only after the audit; importing them meanwhile overlaps
    their start-up with reading the inputs and the kernels (which release the
    GIL). ``then`` names more modules to import after them. Failures are left
    to the import that needs the module.
    """
    import importlib

    def run() -> None:
        for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_svg",
                     "jinja2", "markupsafe", "rich.table", *then):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - the real import reports it
                continue

    _Later(run)


def _guard(debug: bool, body: Callable[[], int], out: Path | None = None) -> None:
    """Run a command body and turn its outcome into an exit code.

    Bad input raises :class:`LabelAuditError`: one line on stderr, exit 2.
    Anything else is unexpected: one line (or the traceback with ``--debug``),
    also exit 2, never 1, which is reserved for a failed gate. Warnings of a
    successful run are printed on stderr, one line each (other libraries'
    warnings are passed on unchanged). A command that writes the folder ``out``
    holds its lock for the whole run, so a second run into the same folder
    stops at once with one line (exit 2).
    """
    import warnings

    from .exceptions import LabelAuditWarning, SlowRunWarning

    published = _published_count()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.ExitStack() as stack:
            warnings.simplefilter("always", LabelAuditWarning)
            if out is not None:
                from .io import output_lock

                stack.enter_context(output_lock(out))
            recorded = warnings.showwarning

            def show(message, category, *args, **kwargs):  # a long wait is said at once
                if issubclass(category, SlowRunWarning):
                    print(f"{PROG}: warning: {_one_line(message)}", file=sys.stderr, flush=True)
                else:
                    recorded(message, category, *args, **kwargs)

            warnings.showwarning = show
            code = body()
        for w in caught:
            if issubclass(w.category, LabelAuditWarning):
                print(f"{PROG}: warning: {_one_line(w.message)}", file=sys.stderr)
            else:  # other libraries' warnings go back to the normal machinery
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except KeyboardInterrupt:
        if _published_count() > published:
            print(f"{PROG}: interrupted after the new outputs were published in full",
                  file=sys.stderr)
        else:
            print(f"{PROG}: interrupted; no output was replaced", file=sys.stderr)
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


def _published_count() -> int:
    """How many output sets this process has published (to report an interrupt truthfully)."""
    writers = sys.modules.get("labelaudit.io.writers")
    return 0 if writers is None else len(writers.PUBLISHED)
#: Without a terminal, a slow step prints a progress line at most this often (seconds).
PROGRESS_LINE_SECONDS = 15.0


def _progress_lines(clock: Callable[[], float] | None = None):
    """A ``progress(step, done, total)`` callback for logs (no terminal): one line with the
    elapsed time and an estimate of the time left, only for steps slow enough to need it
    (at most every ``PROGRESS_LINE_SECONDS``)."""
    import time

    now = clock or time.monotonic
    started: dict[str, float] = {}
    last: dict[str, float] = {}

    def progress(step: str, done: int, total: int) -> None:
        t = now()
        start = started.setdefault(step, t)
        if done <= 0 or done >= total or t - last.get(step, start) < PROGRESS_LINE_SECONDS:
            return
        last[step] = t
        elapsed = t - start
        left = _time_left(elapsed, done, total, elapsed)
        print(f"{PROG}: {step}: {done}/{total} after {_clock_time(elapsed)}, about "
              f"{_clock_time(left)} left", file=sys.stderr, flush=True)

    return progress


def _time_left(done_at: float, done: int, total: int, elapsed: float) -> float:
    """Seconds left on a step at its average pace: ``done`` of ``total`` units took
    ``done_at`` seconds, and ``elapsed`` have passed since the step began."""
    return max(0.0, done_at / done * total - elapsed)


def _clock_time(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


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
            left = _time_left(done_at, task.completed, task.total, task.elapsed or 0.0)
            if task.finished:
                left = 0.0
            minutes, seconds = divmod(int(round(left)), 60)
            hours, minutes = divmod(minutes, 60)
            return Text(f"{hours}:{minutes:02d}:{seconds:02d}")

    return _Eta()


def _progress_factory(enabled: bool):
    """A ``progress(step, done, total)`` callback: rich bars with the time left on a terminal,
    else progress lines for slow steps (see :func:`_progress_lines`)."""
    if not enabled:
        return None, _progress_lines()
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


#: Options that change nothing in the outputs, left out of the reproducing command.
_NOT_REPRODUCED = frozenset({"debug"})


def _reproduce_command(ctx: typer.Context) -> str:
    """The command line that reruns this invocation, built from what the parser parsed.

    Every argument and every option given on the command line (or through the
    environment) is repeated with the value it was parsed to, paths as given,
    in the command's own order; options left at their default are omitted
    (they are the same in the rerun). ``--debug`` changes no output and is
    left out. Values are quoted for a POSIX shell.
    """
    import shlex

    parts = [PROG, str(ctx.info_name)]
    for param in ctx.command.params:
        name = param.name
        if name is None or name in _NOT_REPRODUCED:
            continue
        value = ctx.params.get(name)
        if param.param_type_name == "argument":
            values = value if isinstance(value, list | tuple) else [value]
            parts.extend(str(v) for v in values if v is not None)
            continue
        source = ctx.get_parameter_source(name)
        if source is None or source.name in ("DEFAULT", "DEFAULT_MAP") or value is None:
            continue
        flag = param.opts[0]
        if getattr(param, "is_flag", False):
            if value:
                parts.append(flag)
            elif param.secondary_opts:
                parts.append(param.secondary_opts[0])
            continue
        values = value if getattr(param, "multiple", False) else [value]
        for v in values:
            parts += [flag, str(v)]
    return shlex.join(parts)


def _run_date() -> str:
    """When this run happened, as ISO 8601 UTC to the second.

    ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds
    convention) replaces the clock, so a rerun can give byte-identical files.
    """
    import os
    from datetime import datetime, timezone

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and epoch.strip():
        try:
            when = datetime.fromtimestamp(int(epoch.strip()), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise _Usage(
                f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, got {epoch!r}"
            ) from None
    else:
        when = datetime.now(tz=timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


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
    label_col: str | None
    out: Path
    id_col: str | None = None
    task: str = "classification"
    predictions: Path | None = None
    task_options: dict[str, Any] = field(default_factory=dict)
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
    keep_cols: list[str] | None = None
    annotation_time_window: str = "1w"
    image_root: Path | None = None
    command: str = "audit"
    extra_params: dict[str, Any] = field(default_factory=dict)
    reproduce: str | None = None
    date: str | None = None


@dataclass
class _Loaded:
    labels: Any  # numpy.ndarray of class codes
    class_names: list[str]
    ids: Any  # polars.Series or None
    pred_probs: Any  # numpy array, or a dask array for sharded probabilities
    features: Any  # numpy.ndarray or None
    feature_cols: list[str] | None
    inputs: list[Any]  # provenance dicts, or _Later ones still being hashed
    policy: Any
    frame: Any = None  # polars.DataFrame
    annotations: Any = None  # polars.DataFrame
    slice_attributes: list[str] | None = None
    slice_annotator_col: str | None = None
    extra_pred_probs: list = field(default_factory=list)  # further models' numpy arrays
    extra_sources: list = field(default_factory=list)  # their names in messages


def _check_time_window(window: str, option: str) -> None:
    """A window length option, under the rule of ``review_annotators(time_window=...)``."""
    from ._validation import check_time_window

    check_time_window(window, name=option)


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
    _check_n_jobs(job.n_jobs)


def _check_options(job: _Job) -> None:
    if job.label_col is None:
        raise _Usage("--label-col is required for --task classification")
    if job.predictions is not None:
        raise _Usage("--predictions applies to a --task other than classification; "
                     "give one-row-per-item probabilities with --pred-probs")
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
    if job.keep_cols is not None and not job.keep_cols:
        raise _Usage("--keep-cols is empty; give comma-separated column names")
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
    if job.annotation_time_window != "1w" and job.annotation_time_col is None:
        raise _Usage("--annotation-time-window applies to --annotation-time-col only")
    _check_time_window(job.annotation_time_window, "--annotation-time-window")
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
    if job.image_root is not None and not job.image_root.is_dir():
        raise _Usage(f"--image-root '{job.image_root}' is not a directory")


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
    from .io import read_annotation_table

    source = f"annotations file '{path}'"
    raw = read_annotation_table(path, what="annotations",
                                text_columns=(item_col, annotator_col, label_col))
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
    df = read_table(job.data, what="data", columns=_needed_columns(job),
                    text_columns=(job.label_col, job.id_col, job.annotator_col or "annotator"))
    source = f"data {'directory' if job.data.is_dir() else 'file'} '{job.data}'"
    require_columns(df, [job.label_col] + ([job.id_col] if job.id_col else []), source=source)
    if job.id_col is not None and job.id_col == job.label_col:
        raise _Usage("--id-col and --label-col name the same column")
    ids = item_ids(df, job.id_col, source=source) if job.id_col else None
    labels, names = encode_labels(
        df.get_column(job.label_col), classes=job.classes, source=source, column=job.label_col
    )
    if len(names) < 2:
        raise InputError(
            f"{source}: column {job.label_col!r} holds a single class {names[0]!r}; an audit "
            "needs at least 2 classes (pass --classes to name the others)"
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
        inputs.append(_fingerprint_later("pred_probs", job.pred_probs, int(probs.shape[0])))
        for path in job.extra_pred_probs:
            more = load_pred_probs(path, class_names=names, ids=row_ids, id_col=job.id_col or "id")
            if job.renormalize:
                try:
                    more = confident.renormalize(more)
                except LabelAuditError as exc:
                    raise InputError(f"probabilities file '{path}': {_one_line(exc)}") from exc
            extra.append(more)
            inputs.append(_fingerprint_later("pred_probs", path, int(more.shape[0])))
    else:
        import numpy as np

        largest = int(np.bincount(labels, minlength=len(names)).max())
        if job.cv > largest:
            raise _Usage(
                f"--cv {job.cv} asks for more folds than the {largest} rows of the largest class "
                f"in {source}; the largest --cv allowed here is {largest}"
            )
        features, cols = feature_matrix(
            df, feature_cols=job.feature_cols, source=source,
            reserved=(job.label_col, job.id_col),
            metadata=(*(job.attributes or []), job.annotator_col, *(job.keep_cols or [])),
        )
    attributes, annotator_col = _slicing(job, df, source)
    if job.keep_cols:
        _check_keep_cols(job.keep_cols, df, source)
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
        frame=df if (attributes is not None or job.keep_cols) else None,
        annotations=annotations,
        slice_attributes=attributes, slice_annotator_col=annotator_col,
        extra_pred_probs=extra,
        extra_sources=[f"probabilities file '{p}'" for p in job.extra_pred_probs],
    )


def _check_keep_cols(columns: list[str], df: pl.DataFrame, source: str) -> None:
    """``--keep-cols``: every name a column of DATA, none repeated or named like an issue column."""
    from .audit import ANNOTATION_ISSUE_COLUMNS, CORE_ISSUE_COLUMNS
    from .io import require_columns

    if len(set(columns)) != len(columns):
        raise _Usage(f"--keep-cols repeats a column: {columns!r}")
    require_columns(df, columns, source=source)
    for col in columns:
        if col in CORE_ISSUE_COLUMNS or col in ANNOTATION_ISSUE_COLUMNS:
            raise _Usage(f"--keep-cols: column {col!r} of DATA is named like a column "
                         "labelaudit writes to issues.parquet; rename it to keep it")


def _needed_columns(job: _Job) -> list[str] | None:
    """Columns of DATA the run uses, when they are known without reading it (else None)."""
    if job.pred_probs is None:
        return None  # default features: every numeric column
    if job.annotator_col is None and (job.attributes or job.annotations is not None):
        return None  # an optional 'annotator' column is used when present (see _slicing)
    cols = [job.label_col, job.id_col, *(job.attributes or []), job.annotator_col,
            *(job.keep_cols or [])]
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
        "annotation_time_window": (job.annotation_time_window
                                   if job.annotation_time_col is not None else None),
        "attributes": loaded.slice_attributes,
        "slice_annotator_col": loaded.slice_annotator_col,
        "min_slice_size": job.min_slice_size if loaded.slice_attributes is not None else None,
        "scheduler": job.scheduler,
        "workers": job.workers,
        "sharded_pred_probs": _sharded(job),
        "reviews": None if job.reviews is None else str(job.reviews),
        "review_design": (None if job.reviews is None
                          else str(job.review_design or job.reviews.parent)),
        "keep_cols": job.keep_cols,
        "image_root": None if job.image_root is None else str(job.image_root.resolve()),
        **job.extra_params,
    }


def _execute(
    job: _Job,
    *,
    show_progress: bool,
    attach: Callable[[Any], Any] | None = None,
) -> int:
    """Validate, audit, gate, write, report. Returns the exit code."""
    job.date = job.date or _run_date()  # when the run started; a bad SOURCE_DATE_EPOCH stops it
    if job.task != "classification":
        return _run_task(job, show_progress=show_progress)
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

    _warm_up_report()
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
            time_window=job.annotation_time_window,
            pred_probs=loaded.pred_probs, extra_pred_probs=loaded.extra_pred_probs,
            ids=loaded.ids,
        )
    if loaded.slice_attributes is not None:
        result = add_slices(
            result, loaded.frame, attributes=loaded.slice_attributes, ids=loaded.ids,
            annotator_col=loaded.slice_annotator_col, source=f"data file '{job.data}'",
            min_size=job.min_slice_size,
        )
    if job.keep_cols:
        from .audit import add_item_columns

        result = add_item_columns(result, loaded.frame, job.keep_cols, ids=loaded.ids,
                                  source=f"data file '{job.data}'")
    if job.reviews is not None:
        loaded.inputs[:] = _resolved(loaded.inputs)
        result = _verified(result, job.reviews, job.review_design, loaded.inputs)
    if attach is not None:
        result = attach(result)
    return _finish(
        result, out=job.out, junit=job.junit, policy=loaded.policy,
        inputs=_resolved(loaded.inputs), parameters=_parameters(job, loaded),
        figures=result.figures(), csv=job.csv, reproduce=job.reproduce, date=job.date,
    )


#: Options of the classification audit that no other task reads (name -> the default that means
#: unset); ``--renormalize`` is read by the tasks of :data:`_RENORMALIZE_TASKS` too.
_CLASSIFICATION_ONLY = {
    "--feature-cols": ("feature_cols", None), "--annotations": ("annotations", None),
    "--attribute": ("attributes", None), "--annotator-col": ("annotator_col", None),
    "--reviews": ("reviews", None), "--review-design": ("review_design", None),
    "--scheduler": ("scheduler", None), "--workers": ("workers", None),
    "--keep-cols": ("keep_cols", None), "--renormalize": ("renormalize", False),
    "--consensus": ("consensus", None), "--annotation-time-col": ("annotation_time_col", None),
}


#: Tasks besides classification whose probability rows sum to 1, so ``--renormalize`` applies
#: (the task reads it as ``options["renormalize"]``).
_RENORMALIZE_TASKS = ("token",)


def _run_task(job: _Job, *, show_progress: bool) -> int:
    """``audit --task NAME``: the registered task reads, audits and attaches its section."""
    from .gate import load_policy
    from .tasks import TaskRequest, get_task, task_names

    if job.task not in task_names():
        raise _Usage(f"--task: unknown task {job.task!r}; choose one of {', '.join(task_names())}")
    for flag, (attr, unset) in _CLASSIFICATION_ONLY.items():
        if flag == "--renormalize" and job.task in _RENORMALIZE_TASKS:
            continue
        if getattr(job, attr) != unset:
            only = ("--task classification and " + " and ".join(f"--task {t}" for t in
                                                               _RENORMALIZE_TASKS)
                    if flag == "--renormalize" else "--task classification")
            raise _Usage(f"{flag} applies to {only} only, not --task {job.task}")
    _check_common_options(job)
    if job.n_bootstrap < 10:
        raise _Usage(f"--n-bootstrap must be at least 10, got {job.n_bootstrap}")
    task = get_task(job.task)
    policy = load_policy(job.policy) if job.policy is not None else None
    options = dict(job.task_options)
    if job.renormalize:                      # only a task of _RENORMALIZE_TASKS gets here
        options["renormalize"] = True
    request = TaskRequest(
        data=job.data, out=job.out, label_col=job.label_col, id_col=job.id_col,
        pred_probs=[p for p in [job.pred_probs, *job.extra_pred_probs] if p is not None],
        predictions=job.predictions, classes=job.classes, seed=job.seed,
        n_bootstrap=job.n_bootstrap, n_jobs=job.n_jobs, options=options,
    )
    result, inputs = task.run(request)
    parameters = {"task": job.task, "seed": job.seed, "n_bootstrap": job.n_bootstrap, **options}
    return _finish(
        result, out=job.out, junit=job.junit, policy=policy, inputs=inputs,
        parameters=parameters, figures=result.figures(), csv=job.csv,
        reproduce=job.reproduce, date=job.date,
    )


def _read_review(reviews: Path, designs: Sequence[Path], option: str,
                 class_names: Sequence[str]) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The reviewers' table, the sample design it answers (first of ``designs`` that has one)
    and both files' provenance; ``option`` names the flag that points at the design."""
    from .io import file_fingerprint, read_reviews
    from .verify._audit_dir import load_sample

    design = next((d for d in designs if (d / "sample_design.parquet").is_file()), None)
    if design is None:
        places = " or ".join(f"'{d}'" for d in designs)
        raise InputError(
            f"no sample_design.parquet in {places} for the reviews file '{reviews}'; pass "
            f"{option} DIR (the --out of 'labelaudit sample')"
        )
    sample = load_sample(design, class_names=tuple(class_names))
    raw = read_reviews(reviews)
    inputs = [{"role": "reviews", **file_fingerprint(reviews, n_rows=raw.height)},
              {"role": "sample_design", **file_fingerprint(design / "sample_design.parquet",
                                                           n_rows=sample.design.height)}]
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
    reproduce: str | None = None,
    date: str | None = None,
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
    summary["date"] = date or _run_date()
    summary["reproduce"] = reproduce
    html = render_html(result, gate=verdict, summary=summary, command=reproduce)
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

def _show_version(value: bool) -> None:
    """``--version``: print the program name and version, then stop (exit 0)."""
    if value:
        from ._version import __version__

        print(f"{PROG} {__version__}")
        raise typer.Exit(EXIT_OK)


# Every command takes it, so ``labelaudit CMD --version`` works like ``labelaudit --version``.
_VERSION = typer.Option(
    "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
)


@app.callback()
def _main_options(version: Annotated[bool, _VERSION] = False) -> None:
    """Audit a labeled dataset for label noise: find the rows to send back, estimate the
    noise rate with an interval, and gate a build on it."""


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


#: The audit command's 'Tasks' help: one paragraph per --task other than classification.
_TASKS_HELP: dict[str, str] = {
    # --- one entry per task, in task order
    "detection": "DATA is a COCO annotations JSON (images, annotations, categories) or a Label "
    "Studio JSON export of rectangles; --predictions is a COCO results JSON (image_id, "
    "category_id, bbox, score), optional when the Label Studio tasks carry predictions; "
    "--detection-image-dir is the folder of the image files (default DATA's folder).",
    "token": (
        "token tags (named entities, BIO). DATA is a CoNLL/BIO file (.conll, .bio, .iob, "
        ".txt: 'TOKEN ... TAG' per line, blank lines between sentences), a long table "
        "(CSV/TSV/Parquet/JSONL, one row per token; columns --token-sentence-col, "
        "--token-text-col and --label-col, default sentence_id, token, label) or a Label "
        "Studio NER export (.json; spans become BIO tags). --pred-probs is ONE .npy/.npz "
        "holding the flat (tokens x classes) matrix, one row per token of DATA in file order; "
        "columns follow --classes (default: the sorted tags)."
    ),
    "regression": "numeric labels (--label-col) against one out-of-sample model prediction "
                  "per item: --predictions FILE (.npy in DATA's row order, or a table with a "
                  "'prediction' column, matched by --id-col when it has one) or "
                  "--prediction-col COLUMN (of that table, or of DATA without --predictions); "
                  "--regression-method outre|residual scores the labels as cleanlab does; "
                  "items whose -log(score) has a robust z-score above --regression-cutoff "
                  "(default 3.5) are issues.",
    "segmentation": "semantic segmentation masks. DATA is a folder of label masks (<id>.png "
                    "or <id>.npy, one class index per pixel, ordered by file name), one "
                    "(N, H, W) .npy or a Label Studio brush export (.json); --pred-probs is ONE (N, K, H, W) float .npy (read as a "
                    "memory map) or a folder of per-image <id>.npy (K, H, W) arrays; classes "
                    "follow --classes (default 0..K-1); --segmentation-image-dir holds the "
                    "pictures drawn under the report's overlays.",
    "multilabel": "sets of tags, several classes per item. DATA is a table (CSV/TSV/Parquet/"
                  "JSONL) whose --label-col (default labels) holds each item's classes as text "
                  "separated by --label-sep (default ',', an empty cell is no class) or as a "
                  "list, or a Label Studio JSON export of multiple choices (first completed "
                  "annotation per task; its predictions stand in for --pred-probs). "
                  "--pred-probs is ONE .npy/.npz (items x classes, DATA's row order) or a "
                  "table with one column per class (and 'id' to match by id): per-class "
                  "probabilities in [0, 1], rows need not sum to 1; columns follow --classes "
                  "(default: the sorted classes used). --multilabel-threshold (default 0.5, or "
                  "per-class) makes the suggested tag sets. --annotator-col (with --id-col): "
                  "one row per item and annotator; the per-class majority is audited and "
                  "each class's agreement and each annotator's accuracy are reported.",
    # --- end of task entries
}


def _audit_epilog() -> str:
    tasks = "".join(f"\n\n{name}: {text}" for name, text in _TASKS_HELP.items())
    return (f"Tasks (--task):{tasks}\n\n" if tasks else "") + _EXIT_CODES


@app.command("audit", epilog=_audit_epilog())
def audit_command(
    ctx: typer.Context,
    data: Annotated[
        Path,
        typer.Argument(help="Table of items: CSV, TSV, Parquet, JSONL, or a Parquet directory."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for the outputs.")],
    label_col: Annotated[
        str | None,
        typer.Option("--label-col", help="Column with the given labels (required for "
                     "--task classification)."),
    ] = None,
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="Column with unique item ids.")
    ] = None,
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="Label shape to audit: classification (one class per item), or one of the "
            "shapes in 'Tasks' below.",
        ),
    ] = "classification",
    predictions: Annotated[
        Path | None,
        typer.Option(
            "--predictions",
            help="Model outputs for a --task whose outputs are not one probability row per item "
            "(see 'Tasks' below).",
        ),
    ] = None,
    # --- task-specific options: one block each, in task order, collected into task_options.
    detection_image_dir: Annotated[
        Path | None,
        typer.Option("--detection-image-dir",
                     help="--task detection: folder of the image files, and the only one the "
                     "report reads images from (default: DATA's folder)."),
    ] = None,
    token_sentence_col: Annotated[
        str | None,
        typer.Option("--token-sentence-col", help="--task token, long table DATA: column "
                     "with the sentence id (default sentence_id)."),
    ] = None,
    token_text_col: Annotated[
        str | None,
        typer.Option("--token-text-col", help="--task token, long table DATA: column with "
                     "the token text (default token)."),
    ] = None,
    prediction_col: Annotated[
        str | None,
        typer.Option("--prediction-col", help="--task regression: column with the model's "
                     "predictions (of the --predictions table, or of DATA without it)."),
    ] = None,
    regression_method: Annotated[
        str | None,
        typer.Option("--regression-method", help="--task regression: label quality score, "
                     "outre (default; quadratic time) or residual."),
    ] = None,
    regression_cutoff: Annotated[
        float | None,
        typer.Option("--regression-cutoff", help="--task regression: robust z-score of "
                     "-log(score) above which an item is an issue (default 3.5)."),
    ] = None,
    segmentation_image_dir: Annotated[
        Path | None,
        typer.Option("--segmentation-image-dir",
                     help="--task segmentation: folder of the pictures (<id>.png, .jpg, ...) "
                     "drawn under the report's mask overlays (default: none, masks only)."),
    ] = None,
    segmentation_min_pixels: Annotated[
        int | None,
        typer.Option("--segmentation-min-pixels",
                     help="--task segmentation: flagged pixels an image needs to count as an "
                     "issue (default 1: any flagged pixel)."),
    ] = None,
    label_sep: Annotated[
        str | None,
        typer.Option("--label-sep", help="--task multilabel, text label column: separator "
                     "between an item's classes (default ',')."),
    ] = None,
    multilabel_threshold: Annotated[
        str | None,
        typer.Option("--multilabel-threshold", help="--task multilabel: probability at which "
                     "a class enters an item's suggested tags, a number in (0, 1) (default "
                     "0.5) or per-class (each class's mean probability over the items given "
                     "it)."),
    ] = None,
    # --- end of task-specific options
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
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed of folds, model and bootstrap.")] = 0,
    cv: Annotated[int, typer.Option("--cv", help="Cross-validation folds.")] = 5,
    n_bootstrap: Annotated[
        int, typer.Option("--n-bootstrap", help="Bootstrap replicates for the intervals.")
    ] = 1000,
    n_jobs: Annotated[
        int | None, typer.Option("--n-jobs", help="Parallel folds and threads.")
    ] = None,
    renormalize: Annotated[
        bool, typer.Option("--renormalize", help="Divide probability rows by their sums "
                     "(--task classification and token).")
    ] = False,
    annotations: Annotated[
        Path | None,
        typer.Option(
            "--annotations",
            help="Long table of annotations (CSV, Parquet, JSONL or a Label Studio JSON, "
            "JSON_MIN or CSV export) whose items are ids of DATA: adds the annotator review.",
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
        typer.Option(
            "--annotation-time-col",
            help="Timestamp column of --annotations: adds each annotator's accuracy per time "
            "window with intervals, a drift test (annotators_by_window.parquet).",
        ),
    ] = None,
    annotation_time_window: Annotated[
        str,
        typer.Option(
            "--annotation-time-window",
            help="Length of the windows of --annotation-time-col: 1d, 1w, 2w, 1mo, 6h, ... "
            "(a positive polars duration of at most 100y).",
        ),
    ] = "1w",
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
    keep_cols: Annotated[
        str | None,
        typer.Option(
            "--keep-cols",
            help="Comma-separated columns of DATA to carry into issues.parquet (next to the "
            "--attribute and annotator columns it always carries); like those, never a "
            "default feature.",
        ),
    ] = None,
    image_root: Annotated[
        Path | None,
        typer.Option(
            "--image-root",
            help="The only folder the report reads image files from (default: DATA's folder); "
            "paths resolving outside it get a placeholder.",
        ),
    ] = None,
    debug: Annotated[bool, _DEBUG] = False,
    version: Annotated[bool, _VERSION] = False,
) -> None:
    """Audit DATA: label issues, noise rate with interval, annotators, slices, optional gate.

    --pred-probs also takes row shards: a quoted glob such as 'shards/part-*.npy'
    or a directory of Parquet files (with one column per class), read in sorted
    path order, whose rows follow DATA's rows. They are processed chunk by chunk
    with dask (pip install 'labelaudit[dask]'), on a cluster with --scheduler or
    --workers. DATA may be a Parquet dataset directory.
    """
    task_options: dict[str, Any] = {}
    # --- task-specific options into task_options: one line each, in task order.
    if detection_image_dir is not None: task_options["detection_image_dir"] = str(detection_image_dir)  # noqa: E701,E501
    task_options.update({k: v for k, v in {"token_sentence_col": token_sentence_col,
                                           "token_text_col": token_text_col}.items() if v})
    regression_options = {k: v for k, v in {"prediction_col": prediction_col, "regression_method": regression_method, "regression_cutoff": regression_cutoff}.items() if v is not None}  # noqa: E501
    if regression_options and task != "regression":
        raise typer.BadParameter(f"applies to --task regression only, not --task {task}", param_hint=f"--{next(iter(regression_options)).replace('_', '-')}")  # noqa: E501
    task_options.update(regression_options)
    if segmentation_image_dir is not None and task != "segmentation": raise typer.BadParameter(f"applies to --task segmentation only, not --task {task}", param_hint="--segmentation-image-dir")  # noqa: E701,E501
    if segmentation_image_dir is not None: task_options["segmentation_image_dir"] = str(segmentation_image_dir)  # noqa: E701,E501
    if segmentation_min_pixels is not None and task != "segmentation": raise typer.BadParameter(f"applies to --task segmentation only, not --task {task}", param_hint="--segmentation-min-pixels")  # noqa: E701,E501
    if segmentation_min_pixels is not None: task_options["segmentation_min_pixels"] = segmentation_min_pixels  # noqa: E701,E501
    multilabel_options = {k: v for k, v in {"label_sep": label_sep, "multilabel_threshold": multilabel_threshold}.items() if v is not None}  # noqa: E501
    if multilabel_options and task != "multilabel":
        raise typer.BadParameter(f"applies to --task multilabel only, not --task {task}", param_hint=f"--{next(iter(multilabel_options)).replace('_', '-')}")  # noqa: E501
    if task == "multilabel" and annotator_col is not None:  # several rows per item, one per annotator
        task_options["annotator_col"], annotator_col = annotator_col, None
    task_options.update(multilabel_options)
    # --- end of task-specific options into task_options
    job = _Job(
        data=data,
        label_col=label_col,
        out=out,
        task=task,
        predictions=predictions,
        task_options=task_options,
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
        annotation_time_window=annotation_time_window,
        consensus=consensus,
        attributes=list(attribute) if attribute else None,
        annotator_col=annotator_col,
        min_slice_size=min_slice_size,
        scheduler=scheduler,
        workers=workers,
        reviews=reviews,
        review_design=review_design,
        keep_cols=_split_list(keep_cols),
        reproduce=_reproduce_command(ctx),
        image_root=image_root,
    )
    _guard(debug, lambda: _execute(job, show_progress=sys.stderr.isatty()), out=job.out)


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
    time_window: str = "1w"
    reproduce: str | None = None
    date: str | None = None


def _execute_annotators(job: _AnnotatorsJob) -> int:
    """Validate, review, gate, write, report. Returns the exit code."""
    job.date = job.date or _run_date()
    from .annotators import review_annotators
    from .audit import check_probabilities, review_only_result
    from .gate import load_policy
    from .io import file_fingerprint, load_pred_probs

    _check_common_options(job)
    if job.time_window != "1w" and job.time_col is None:
        raise _Usage("--time-window applies to --time-col only")
    _check_time_window(job.time_window, "--time-window")
    if job.consensus is not None and job.pred_probs is None:
        from .annotators.consensus import get_consensus

        if get_consensus(job.consensus).needs_pred_probs:
            raise _Usage(f"--consensus {job.consensus} needs model probabilities: give them "
                         "with --pred-probs")
    _warm_up_report()
    policy = load_policy(job.policy) if job.policy is not None else None
    raw, frame, names, source = _read_annotations(
        job.annotations, item_col=job.item_col, annotator_col=job.annotator_col,
        label_col=job.label_col, time_col=job.time_col, classes=job.classes, item_ids=None,
    )
    if len(names) < 2:
        raise InputError(
            f"{source}: column {job.label_col!r} holds a single class {names!r}; need at least 2"
        )
    inputs: list[Any] = [_fingerprint_later("annotations", job.annotations, raw.height)]
    ids = frame.get_column(job.item_col).unique().sort()
    probs = None
    if job.pred_probs is not None:
        prob_source = f"probabilities file '{job.pred_probs}'"
        probs = load_pred_probs(job.pred_probs, class_names=names, ids=ids, id_col=job.item_col)
        probs = check_probabilities(probs, ids=ids, source=prob_source)
        inputs.append(_fingerprint_later("pred_probs", job.pred_probs, int(probs.shape[0])))
    if job.policy is not None:
        inputs.append({"role": "policy", **file_fingerprint(job.policy)})
    review = review_annotators(
        frame, item_col=job.item_col, annotator_col=job.annotator_col,
        label_col=job.label_col, time_col=job.time_col, classes=names, pred_probs=probs,
        item_ids=ids, seed=job.seed, n_jobs=job.n_jobs, consensus_method=job.consensus,
        time_window=job.time_window, source=source,
    )
    parameters = {
        "command": "annotators",
        "item_col": job.item_col,
        "annotator_col": job.annotator_col,
        "label_col": job.label_col,
        "time_col": job.time_col,
        "time_window": job.time_window if job.time_col is not None else None,
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
        inputs=_resolved(inputs), parameters=parameters, figures=dict(result.extra_figures),
        reproduce=job.reproduce, date=job.date,
    )


@app.command("annotators", epilog=_EXIT_CODES)
def annotators_command(
    ctx: typer.Context,
    annotations: Annotated[
        Path,
        typer.Argument(
            help="Long table, one row per annotation: CSV, TSV, Parquet, JSONL or a Label "
            "Studio JSON, JSON_MIN or CSV export."
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
        typer.Option(
            "--time-col",
            help="Timestamp column: adds each annotator's accuracy per time window (a week "
            "unless --time-window says otherwise) with intervals, a drift test across windows "
            "and annotators_by_window.parquet.",
        ),
    ] = None,
    time_window: Annotated[
        str,
        typer.Option(
            "--time-window",
            help="Length of the windows of --time-col: 1d, 1w, 2w, 1mo, 6h, ... (a positive "
            "polars duration of at most 100y).",
        ),
    ] = "1w",
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
        int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed (recorded; the review is deterministic).")
    ] = 0,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Kernel threads.")] = None,
    consensus: Annotated[str | None, _CONSENSUS] = None,
    debug: Annotated[bool, _DEBUG] = False,
    version: Annotated[bool, _VERSION] = False,
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
        time_window=time_window,
        reproduce=_reproduce_command(ctx),
    )
    _guard(debug, lambda: _execute_annotators(job), out=job.out)


@app.command("demo", epilog=_EXIT_CODES)
def demo_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Directory for the outputs.")] = Path(
        "labelaudit-demo"
    ),
    policy: Annotated[Path | None, _POLICY] = None,
    junit: Annotated[Path | None, _JUNIT] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Also write issues.csv.")] = False,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed of folds, model and bootstrap.")] = 0,
    debug: Annotated[bool, _DEBUG] = False,
    version: Annotated[bool, _VERSION] = False,
) -> None:
    """Run the whole audit on the shipped demo data: annotators and slices by source too."""

    reproduce = _reproduce_command(ctx)

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
            reproduce=reproduce,
        )
        truth = demo.truth
        checks: list[dict[str, Any]] = []

        def attach(result: Any) -> Any:
            checks.append(_truth_check(result, truth))
            return result.with_section("demo_truth_check", checks[-1])

        code = _execute(job, show_progress=sys.stderr.isatty(), attach=attach)
        _print_truth_check(checks[-1])
        return code

    _guard(debug, body, out=out)


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
    """Console-script entry point: run the command line and exit with its code.

    When :func:`run` returns, every output is written, fsynced and closed. The
    exit handlers run and the standard streams are flushed, then the process
    ends without the interpreter's teardown of every loaded module, which
    takes about 0.2 s once the plotting stack is loaded and changes nothing.
    """
    import atexit
    import os

    code = run()
    # Parallel folds leave joblib's worker processes waiting for more work. The
    # interpreter's own shutdown would stop them; ending without it, the exit
    # handlers below would wait for them to time out (minutes), so stop them first.
    loky = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(loky, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to deliver
            stream.flush()
    os._exit(code)


# --------------------------------------------------------------------------- review: sample, verify, plan
# Thin commands over labelaudit.verify: draw a stratified review sample from a finished audit,
# turn the reviewed sample into a verified noise rate, and compute acceptance-sampling plans.

_REVIEW_EXIT_CODES = (
    "Exit codes: 0 done (and ACCEPT under an acceptance plan); 1 REJECT under the plan; "
    "2 bad input or usage (one-line reason on stderr, nothing written)."
)


def _check_out_dir(out: Path, audit_dir: Path, option: str = "--out") -> None:
    if out.exists() and not out.is_dir():
        raise _Usage(f"{option} '{out}' exists and is not a directory")
    if out.resolve() == audit_dir.resolve():
        raise _Usage(f"{option} '{out}' is the audit directory, whose outputs it would replace; "
                     "give another folder")


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
    _check_out_dir(out, audit_dir)
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
    parameters = dict(sample.parameters)
    if plan is not None:  # sized by the acceptance plan (a single plan draws its n at random)
        parameters["sized_by"] = "plan"
    sample = type(sample)(sample.design, sample.strata, sample.class_counts,
                          audit.class_names or sample.class_names, sample.seed, parameters)
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
    if getattr(plan, "note", None):
        console.print(f"Single sampling plan instead of the model-assisted one: {plan.note}.")
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
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed of the draw.")] = 0,
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
    version: Annotated[bool, _VERSION] = False,
) -> None:
    """Draw a stratified review sample from a finished audit (review_sample.csv and more)."""
    _guard(debug, lambda: _execute_sample(
        audit_dir, out, size=size, half_width=half_width, policy=policy, seed=seed, data=data,
        id_col=id_col, show_suggestion=show_suggestion,
    ), out=out)


_TASK_SOURCES = ("issues", "queue", "all")


def _export_table(audit_dir: Path, include: str) -> tuple[Any, tuple[str, ...]]:
    """The items to export (``id``, ``given_label``, ``suggested_label``, ``score``) in order."""
    import polars as pl

    from .io import read_table
    from .verify._audit_dir import load_audit_dir

    audit = load_audit_dir(audit_dir)
    issues = audit.issues
    if include == "queue":
        path = audit_dir / "relabel_queue.parquet"
        if not path.is_file():
            raise InputError(
                f"no relabel_queue.parquet in '{audit_dir}'; the relabel queue comes from an "
                "audit run with --annotations"
            )
        queue = read_table(path, what="relabel queue")
        if queue.width < 2 or "reason" not in queue.columns:
            raise InputError(f"relabel queue '{path}' lacks its item id or 'reason' column")
        item_col = queue.columns[1]
        suggested = "consensus_class" if "consensus_class" in queue.columns else "consensus_label"
        score = next((c for c in ("consensus_quality", "ds_posterior") if c in queue.columns),
                     None)
        queue = queue.filter(pl.col("reason").fill_null("") != "").select(
            pl.col(item_col).cast(pl.String).alias("_key"),
            pl.col(suggested).cast(pl.String).alias("suggested_label"),
            (pl.col(score).cast(pl.Float64) if score else pl.lit(None, pl.Float64)).alias("score"),
        )
        given = issues.select(pl.col("id"), pl.col("id").cast(pl.String).alias("_key"),
                              pl.col("given_label").cast(pl.String))
        table = queue.join(given, on="_key", how="left", maintain_order="left")
        missing = table.filter(pl.col("id").is_null())
        if missing.height:
            raise InputError(
                f"relabel queue '{path}': item {missing.get_column('_key')[0]!r} is not in the "
                "audit's issues.parquet"
            )
        return table.select("id", "given_label", "suggested_label", "score"), audit.class_names
    if include == "issues":
        issues = issues.filter(pl.col("is_issue"))
    table = issues.sort("label_quality", maintain_order=True).select(
        "id", pl.col("given_label").cast(pl.String), pl.col("suggested_label").cast(pl.String),
        (1.0 - pl.col("label_quality")).alias("score"),
    )
    return table, audit.class_names


def _execute_export_tasks(
    audit_dir: Path, out: Path, *, include: str, limit: int | None, data: Path | None,
    id_col: str | None, label_config: Path | None,
) -> int:
    import polars as pl

    from .io import label_studio_config, label_studio_tasks, write_json, write_text
    from .verify._audit_dir import load_audit_dir, load_item_data

    if include not in _TASK_SOURCES:
        raise _Usage(f"--include must be one of {', '.join(_TASK_SOURCES)}; got {include!r}")
    if limit is not None and limit < 1:
        raise _Usage(f"--limit must be at least 1; got {limit}")
    if id_col is not None and data is None:
        raise _Usage("--id-col applies to --data only")
    if out.is_dir():
        raise _Usage(f"--out '{out}' is a directory; give the tasks file, e.g. tasks.json")
    table, classes = _export_table(audit_dir, include)
    if limit is not None:
        table = table.head(limit)
    frame, _ = load_item_data(load_audit_dir(audit_dir), data, id_col)
    if frame is not None:
        keep = [c for c in frame.columns if c not in table.columns or c == "id"]
        frame = frame.select(keep).with_columns(pl.col("id").cast(pl.String).alias("_key"))
        table = (
            table.with_columns(pl.col("id").cast(pl.String).alias("_key"))
            .join(frame.drop("id"), on="_key", how="left", maintain_order="left")
            .drop("_key")
        )
        order = ["id", *[c for c in frame.columns if c not in ("id", "_key")],
                 "given_label", "suggested_label", "score"]
        table = table.select(order)
    tasks = label_studio_tasks(table, suggested_col="suggested_label", score_col="score")
    config = None if label_config is None else label_studio_config(classes, tasks)
    for path in (out, label_config):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, tasks)
    written = [str(out)]
    if label_config is not None:
        write_text(label_config, config)
        written.append(str(label_config))
    console = _stdout_console()
    what = {"issues": "flagged items", "queue": "relabel queue items", "all": "items"}[include]
    console.print(f"Wrote {len(tasks)} Label Studio task(s) for {what}, the suggested label "
                  f"as a prediction: {', '.join(written)}.")
    return EXIT_OK


@app.command("export-tasks", epilog=(
    "Exit codes: 0 written; 2 bad input or usage (one-line reason on stderr, nothing written)."))
def export_tasks_command(
    audit_dir: Annotated[Path, typer.Argument(help="Output directory of a finished audit.")],
    out: Annotated[Path, typer.Option("--out", help="The Label Studio import file to write "
                                      "(JSON).")],
    include: Annotated[
        str,
        typer.Option("--include", help="Which items: 'issues' (flagged items, lowest label "
                     "quality first), 'queue' (the relabel queue's items with a reason, in "
                     "its order) or 'all' (every item, lowest label quality first)."),
    ] = "issues",
    limit: Annotated[
        int | None, typer.Option("--limit", help="Export at most this many items.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Item data whose columns go into each task (default: the "
                     "audit's data file when it still exists)."),
    ] = None,
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="Item id column of --data.")
    ] = None,
    label_config: Annotated[
        Path | None,
        typer.Option("--label-config", help="Also write the labeling interface (XML) for the "
                     "tasks: the item, its given label and one choice per class."),
    ] = None,
    debug: Annotated[bool, _DEBUG] = False,
    version: Annotated[bool, _VERSION] = False,
) -> None:
    """Write Label Studio import tasks for the items to fix: data, given label, suggestion."""
    _guard(debug, lambda: _execute_export_tasks(
        audit_dir, out, include=include, limit=limit, data=data, id_col=id_col,
        label_config=label_config,
    ))


def _execute_verify(
    audit_dir: Path, reviews: Path, out: Path, *, design: Path | None, policy: Path | None,
    junit: Path | None, allow_partial: bool, seed: int, reproduce: str | None = None,
) -> int:
    from .gate import GateResult, evaluate, figures_from_summary, load_policy
    from .io import publish, write_json, write_text
    from .report import render_html
    from .verify._audit_dir import load_audit_dir
    from .verify.plans import acceptance_gate, load_acceptance, plan_from_policy

    date = _run_date()
    if junit is not None and policy is None:
        raise _Usage("--junit needs an acceptance plan: pass --policy FILE")
    if junit is not None and junit.is_dir():
        raise _Usage(f"--junit '{junit}' is a directory; give a file name")
    _check_out_dir(out, audit_dir)
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
    summary["date"] = date
    summary["reproduce"] = reproduce
    html = render_html(reviewed, gate=verdict, summary=summary, command=reproduce)
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
    ctx: typer.Context,
    audit_dir: Annotated[Path, typer.Argument(help="Output directory of a finished audit.")],
    reviews: Annotated[
        Path,
        typer.Argument(help="The reviewed sample: review_sample.csv/.parquet with "
                       "reviewed_label filled, a table with id and is_correct, or a Label "
                       "Studio JSON, JSON_MIN or CSV export of review_tasks.json."),
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
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed of the interval's draws.")] = 0,
    debug: Annotated[bool, _DEBUG] = False,
    version: Annotated[bool, _VERSION] = False,
) -> None:
    """Turn a reviewed sample into a verified noise rate with a design-based interval."""
    _guard(debug, lambda: _execute_verify(
        audit_dir, reviews, out, design=design, policy=policy, junit=junit,
        allow_partial=allow_partial, seed=seed, reproduce=_reproduce_command(ctx),
    ), out=out)


def _execute_plan(
    lot_size: int, aql: float, lq: float, producer_risk: float, consumer_risk: float,
    audit_dir: Path | None,
) -> int:
    from rich.table import Table

    from .verify.plans import oc_curve, single_sampling_plan, stratified_plan

    plan = single_sampling_plan(lot_size, aql, lq, producer_risk, consumer_risk)
    strat = None
    if audit_dir is not None:  # every check before the first line is printed
        from .verify._audit_dir import load_audit_dir

        audit = load_audit_dir(audit_dir)
        if audit.issues.height != lot_size:
            raise _Usage(
                f"--lot-size {lot_size} differs from the {audit.issues.height} items of the "
                f"audit '{audit_dir}'"
            )
        strat = stratified_plan(audit.issues, aql=aql, lq=lq, producer_risk=producer_risk,
                                consumer_risk=consumer_risk)
    console = _stdout_console()
    console.print(
        f"Single sampling plan for a lot of {lot_size}: review n = {plan.n} random items, "
        f"accept when at most c = {plan.c} are wrong. Producer's risk {plan.producer_risk:.4f} "
        f"(lot at AQL {aql:g}, {plan.defects_at_aql} wrong), consumer's risk "
        f"{plan.consumer_risk:.4f} (lot at LQ {lq:g}, {plan.defects_at_lq} wrong); exact "
        "hypergeometric."
    )
    plans = [("single", plan)]
    if strat is not None:
        console.print(
            f"Model-assisted stratified plan from the audit: review n = {strat.n} items "
            f"({', '.join(map(str, strat.allocation))} per stratum), accept when the upper "
            f"{100 * (1 - strat.bound_tail):g}% bound on the share of wrong labels is below "
            f"{strat.threshold:.4f}. Producer's risk "
            f"{strat.producer_risk:.4f}, consumer's risk {strat.consumer_risk:.4f} under the "
            f"anticipated spread of wrong labels; {100 * (1 - strat.n / plan.n):.0f}% fewer "
            "reviews than the single plan."
        )
        for label, name in (
            ("concentrated as the power anticipation says", "calibrated"),
            ("spread as the prior-shift anticipation says", "prior_shift"),
            ("spread as thinly as the raw scores suggest", "raw"),
        ):
            alpha, beta = strat.spread_risks[name]
            console.print(f"  If the wrong labels are {label}: producer's risk {alpha:.4f}, "
                          f"consumer's risk {beta:.4f}.")
        problem = strat.robustness_problem()
        if problem is not None:
            console.print(f"This plan's consumer's risk cannot be relied on for this audit: "
                          f"{problem}. An acceptance policy (gate.acceptance) uses the single "
                          "sampling plan instead.")
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
    version: Annotated[bool, _VERSION] = False,
) -> None:
    """Print an acceptance-sampling plan and its operating-characteristic curve."""
    _guard(debug, lambda: _execute_plan(lot_size, aql, lq, producer_risk, consumer_risk,
                                        audit_dir))
