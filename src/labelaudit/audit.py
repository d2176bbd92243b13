"""The audit pipeline: from labels and probabilities (or features) to an :class:`AuditResult`.

:func:`audit` runs confident learning end to end: it validates the inputs,
computes out-of-fold probabilities when only features are given, finds the
label issues, scores every row, estimates the noise matrix and the noise rate
with a bootstrap interval, and collects everything in a plain-data
:class:`~labelaudit.result.AuditResult` (``summary.json`` is built by
:mod:`labelaudit.summary`). :func:`add_annotator_review` and
:func:`add_slices` attach an annotator review and a slice report to a result
(with the figures a gate reads) and carry the columns they used into the
issue table, as :func:`add_item_columns` does for any other column;
:func:`review_only_result` wraps a review from annotations alone.

Row order never matters: when item ids are given, rows are processed in id
order, so a shuffled copy of the same data gives the same result.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl

from ._validation import check_feature_column, check_probabilities, check_seed
from .exceptions import InputError, LabelAuditError
from .result import AuditResult

__all__ = [
    "ANNOTATION_ISSUE_COLUMNS",
    "CORE_ISSUE_COLUMNS",
    "AuditResult",
    "add_annotator_review",
    "add_item_columns",
    "add_slices",
    "annotator_gate_figures",
    "audit",
    "check_probabilities",
    "feature_matrix",
    "prepare_annotations",
    "review_only_result",
]

#: ``progress(step, done, total)``: called as long steps advance.
AuditProgress = Callable[[str, int, int], None]

_OOF_STEP = "out-of-fold probabilities"
_PILOT_STEP = "choosing the model"


def __getattr__(name: str) -> Any:
    """``to_summary_dict`` moved to :mod:`labelaudit.summary`; still importable from here."""
    if name == "to_summary_dict":
        import importlib

        return importlib.import_module(".summary", __package__).to_summary_dict
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- validation


def _encode(labels: Any, class_names: Sequence[Any] | None) -> tuple[np.ndarray, list[str]]:
    """Integer codes and class names from integer codes or raw label values."""
    from .io import encode_labels

    if isinstance(labels, pl.Series):
        series = labels
    else:
        arr = np.asarray(labels)
        if arr.ndim != 1:
            raise InputError(f"labels: expected a 1-D sequence, got shape {arr.shape}")
        if arr.dtype.kind in "iu":
            k = int(arr.max()) + 1 if arr.size else 0
            names = [str(c) for c in class_names] if class_names is not None else None
            if arr.size and arr.min() < 0:
                raise InputError(f"labels: integer labels must be class indices >= 0, got {arr.min()}")
            if names is not None and k > len(names):
                row = int(np.argmax(arr >= len(names)))
                raise InputError(
                    f"labels: row {row} has class index {arr[row]} but only {len(names)} class "
                    "names were given"
                )
            return arr.astype(np.intp, copy=False), names if names is not None else [str(c) for c in range(k)]
        series = pl.Series("label", arr)
    return encode_labels(series, classes=class_names, source="labels", column="label")


def _canonical_order(ids: pl.Series | None, n: int) -> np.ndarray | None:
    """Permutation that sorts rows by id, or None when they already are (or have no ids)."""
    if ids is None:
        return None
    order = ids.arg_sort().to_numpy()  # ids are unique: the order is total.astype(np.intp)
    if np.array_equal(order, np.arange(n)):
        return None
    return order


# --------------------------------------------------------------------------- pipeline


def audit(
    labels: Any,
    pred_probs: Any = None,
    *,
    features: Any = None,
    ids: Any = None,
    class_names: Sequence[Any] | None = None,
    model: Any = None,
    cv: int = 5,
    seed: int = 0,
    filter_by: str = "prune_by_noise_rate",
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    n_jobs: int | None = None,
    pred_probs_source: str = "pred_probs",
    extra_pred_probs: Sequence[Any] = (),
    extra_pred_probs_sources: Sequence[str] | None = None,
    progress: AuditProgress | None = None,
) -> AuditResult:
    """Audit a labeled dataset: find label issues and estimate how noisy it is.

    Give either ``pred_probs`` (out-of-sample probabilities from your own
    model) or ``features`` (then out-of-fold probabilities are computed with
    :func:`labelaudit.out_of_fold_probabilities`).

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels: integer class indices ``0..K-1``, or raw values
        (strings, ...) which are encoded with sorted classes (or the order of
        ``class_names``).
    pred_probs : array-like of shape (n_samples, K), optional
        Out-of-sample predicted probabilities; rows must sum to 1. A row-chunked
        ``dask.array.Array`` runs the confident-learning passes chunk by chunk
        on the dask scheduler in use (a distributed client if one is active),
        in the array's row order; the per-row results (issues table) are
        gathered on the client.
    features : array-like of shape (n_samples, n_features), optional
        Features for out-of-fold probabilities, when ``pred_probs`` is None.
    ids : sequence or polars.Series, optional
        Unique item ids in row order; they label the issues table and fix the
        processing order (sorted by id), so shuffled rows give the same
        result. Default: row numbers.
    class_names : sequence, optional
        Class names in code order (for integer labels), or the class list
        (for raw labels).
    model : scikit-learn classifier, optional
        Model for out-of-fold probabilities (default: see
        :func:`labelaudit.oof.default_model`).
    cv : int, default 5
        Folds for out-of-fold probabilities.
    seed : int, default 0
        Seed of the folds (and of the model) and of the bootstrap.
    filter_by : str, default "prune_by_noise_rate"
        Issue filter of :func:`labelaudit.find_label_issues`.
    n_bootstrap : int, default 1000
        Bootstrap replicates for the noise-rate intervals.
    confidence : float, default 0.95
        Coverage of the intervals.
    n_jobs : int, optional
        Parallel folds and kernel threads; results do not depend on it. With
        ``n_jobs=1`` everything runs on the calling thread; otherwise the model
        checks run on a second thread beside the issue search.
    pred_probs_source : str, default "pred_probs"
        Name of the probabilities in error messages, e.g. the file name.
    extra_pred_probs : sequence of array-like, default ()
        Other models' out-of-sample probabilities for the same rows (each of
        the shape of ``pred_probs``, validated like it). With them the
        confident-learning analysis (issues, scores, noise matrix, the point
        estimate) runs on the row-wise **mean** of all the models'
        probabilities, and the interval also spans each model's own
        estimate and bounds (see :func:`labelaudit.model_checks.model_noise_interval`);
        every model is checked with :func:`labelaudit.model_checks.check_model`.
        Not with ``features`` nor a dask array.
    extra_pred_probs_sources : sequence of str, optional
        Their names in messages and in the summary (default
        ``extra_pred_probs[i]``).
    progress : callable, optional
        ``progress(step, done, total)`` for progress bars on long steps.

    Returns
    -------
    AuditResult
        The point estimate ``estimated_noise_rate`` is confident learning's;
        ``ci_low``/``ci_high`` is the model-based, unverified interval of
        :func:`labelaudit.model_checks.model_noise_interval` (the row
        bootstrap widened by what the model cannot tell apart), and
        ``sampling_ci_low``/``sampling_ci_high`` the row bootstrap alone.
        ``model_checks`` holds what :func:`labelaudit.model_checks.check_model`
        found wrong with the probabilities. With a dask array both are
        computed on a fixed-seed sample of at most 100,000 rows (the sampling
        interval and the point estimate still use every row).

    Raises
    ------
    InputError
        On unusable labels or ids, probabilities of the wrong shape or whose
        rows are not probability vectors, or when both or neither of
        ``pred_probs`` and ``features`` are given.
    LabelAuditError
        On an invalid parameter.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from labelaudit import audit
    >>> X, y = load_wine(return_X_y=True)
    >>> result = audit(y, features=X, seed=0)
    >>> result.n_items, result.n_classes
    (178, 3)
    """
    from . import confident
    from .confident._dask import is_dask_array
    from .confident._passes import row_argmax
    from .oof import out_of_fold_probabilities

    confident.check_filter_by(filter_by)  # before any expensive step
    check_seed(seed)
    if (pred_probs is None) == (features is None):
        raise InputError("give exactly one of pred_probs (model outputs) and features")
    codes, names = _encode(labels, class_names)
    n = codes.shape[0]
    if n < 2:
        raise InputError(f"labels: need at least 2 labeled items, got {n}")
    id_series = _ids(ids, n)
    k = len(names)
    if k < 2:
        raise InputError(f"labels: need at least 2 classes, got {k} ({', '.join(map(repr, names))})")
    lazy = pred_probs is not None and is_dask_array(pred_probs)
    extras = list(extra_pred_probs or ())
    extra_sources = (list(extra_pred_probs_sources) if extra_pred_probs_sources is not None
                     else [f"extra_pred_probs[{i}]" for i in range(len(extras))])
    if extras and (pred_probs is None or lazy):
        raise InputError("extra_pred_probs: several models' probabilities need in-memory "
                         "pred_probs (not features, not a dask array)")
    if len(extra_sources) != len(extras):
        raise LabelAuditError(
            f"extra_pred_probs_sources: got {len(extra_sources)} names for {len(extras)} models"
        )
    if pred_probs is not None:
        models_in = [(pred_probs_source, pred_probs), *zip(extra_sources, extras, strict=True)]
        for source, matrix in models_in:
            shape = tuple(matrix.shape) if lazy else np.shape(matrix)
            if len(shape) != 2 or shape[0] != n or shape[1] != k:
                raise InputError(
                    f"{source}: has shape {shape} but there are {n} labels and {k} "
                    "classes; expected one row per label and one column per class"
                )
        if lazy:
            # Validated chunk by chunk inside the kernels' passes, on the workers.
            probs = pred_probs
        else:
            # One kernel pass, in the caller's row order so messages name the
            # caller's rows; the confident-learning calls below then trust it.
            probs = check_probabilities(pred_probs, ids=id_series, source=pred_probs_source,
                                        n_jobs=n_jobs)
            extras = [check_probabilities(m, ids=id_series, source=src, n_jobs=n_jobs)
                      for src, m in zip(extra_sources, extras, strict=True)]
    # A dask array is processed in its own row order: reordering it would move
    # every chunk across the cluster. Results differ from a reordered run only
    # in which of exactly tied rows is picked.
    order = None if lazy else _canonical_order(id_series, n)
    if order is not None:
        codes = codes[order]
        id_series = id_series[order]
    if pred_probs is not None:
        if order is not None:
            # A memory map is reordered through a temporary file, never whole in memory.
            from .io.probs import reorder_rows

            probs = reorder_rows(probs, order)
            extras = [reorder_rows(m, order) for m in extras]
        models = [probs, *extras]
        if extras:
            probs = _mean_probabilities(models)
        oof = None
        source_kind = "given" if not extras else "mean of given"
    else:
        feats = _features_in_order(features, n, order)
        callback = None if progress is None else (lambda d, t: progress(_OOF_STEP, d, t))
        pilot = None if progress is None else (lambda d, t: progress(_PILOT_STEP, d, t))
        oof = out_of_fold_probabilities(
            feats, codes, model=model, cv=cv, random_state=seed, n_jobs=n_jobs,
            n_classes=k, progress=callback, pilot_progress=pilot,
        )
        probs = oof.pred_probs
        source_kind = "out_of_fold"
    if id_series is None:
        id_series = pl.Series("id", np.arange(n, dtype=np.int64))

    model_figures = functools.partial(
        _model_figures, names=names, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed,
        models=None if lazy or not extras else models,
        sources=[pred_probs_source, *extra_sources], lazy=lazy,
    )
    if lazy:
        joint, mask, quality, suggested = _audit_chunked(
            codes, probs, filter_by=filter_by, source=pred_probs_source, progress=progress
        )
        noise = confident.noise_from_joint(
            joint, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
        )
        interval, findings = model_figures(codes, probs, noise)
        issues = _issues_table(id_series, codes, suggested, quality, mask, names)
    else:
        validated = oof is None  # given probabilities were checked above
        noise = confident.noise_rate_intervals(
            codes, probs, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed,
            n_jobs=n_jobs, _validated=validated,
        )

        def find_issues():
            found = confident.find_label_issues(codes, probs, filter_by=filter_by, n_jobs=n_jobs,
                                                _validated=validated)
            scores = confident.get_label_quality_scores(codes, probs, method="self_confidence",
                                                        _validated=validated)
            top = row_argmax(probs, n_jobs=n_jobs)
            return found, scores, top, _issues_table(id_series, codes, top, scores, found, names)

        if n_jobs == 1:
            mask, quality, suggested, issues = find_issues()
            interval, findings = model_figures(codes, probs, noise)
        else:
            # The model figures read only the probabilities and the noise estimate; their
            # passes (numpy, which releases the GIL) run on a second thread while this one
            # finds the issues and builds their table. Each result depends on its inputs
            # alone, so the thread changes no figure. An error (or Ctrl-C) on this thread
            # is raised at once, without waiting for the figures nobody will read.
            pool = ThreadPoolExecutor(max_workers=1)
            try:
                pending = pool.submit(model_figures, codes, probs, noise)
                mask, quality, suggested, issues = find_issues()
                interval, findings = pending.result()
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
    py, nm, inv = noise.confident_joint.latent()
    n_issues = int(mask.sum())
    per_class = _per_class_table(codes, mask, quality, noise, names)
    parameters = {
        "filter_by": filter_by,
        "rank_by": "self_confidence",
        "pred_probs": source_kind,
        "cv": None if oof is None else oof.n_splits,
        "cv_requested": None if oof is None else cv,
        "model": None if oof is None else oof.model,
        "model_name": None if oof is None else oof.model_name,
        "oof_accuracy": None if oof is None else round(oof.accuracy, 6),
        "oof_pruned_rows": None if oof is None else oof.n_pruned,
        "seed": seed,
        "n_bootstrap": n_bootstrap,
        "confidence": confidence,
        "n_jobs": n_jobs,
        "row_order": "as given" if lazy else "by id",
        "n_models": 1 + len(extras),
    }
    return AuditResult(
        issues=issues,
        class_names=tuple(names),
        per_class=per_class,
        noise_matrix=np.asarray(nm, dtype=np.float64),
        inverse_noise_matrix=np.asarray(inv, dtype=np.float64),
        confident_joint=np.asarray(noise.confident_joint.counts),
        py=np.asarray(py, dtype=np.float64),
        n_items=n,
        n_classes=k,
        n_issues=n_issues,
        estimated_noise_rate=float(noise.noise_rate),
        ci_low=float(interval.ci_low),
        ci_high=float(interval.ci_high),
        confidence=float(confidence),
        label_health_score=1.0 - n_issues / n,
        parameters=parameters,
        out_of_fold=oof,
        sampling_ci_low=float(noise.ci_low),
        sampling_ci_high=float(noise.ci_high),
        noise_rate_source="model",
        noise_interval=interval,
        model_checks=tuple(findings),
        model_names=tuple([pred_probs_source, *extra_sources]) if extras else (),
    )


def _mean_probabilities(models: Sequence[np.ndarray]) -> np.ndarray:
    """Row-wise mean of several models' probabilities, in the widest of their dtypes."""
    dtype = np.result_type(*(m.dtype for m in models))
    total = np.array(models[0], dtype=dtype, copy=True)
    for m in models[1:]:
        total += m
    total /= dtype.type(len(models))
    return total


#: Rows of a dask array the model-only interval and the model checks read.
_LAZY_MODEL_ROWS = 100_000


def _model_figures(codes, probs, noise, *, names, n_bootstrap, confidence, seed, models,
                   sources, lazy):
    """The model-based interval and the model checks of one audit.

    ``models`` (several models only) are each model's probabilities; ``probs``
    is what confident learning ran on (their mean). Findings of several
    models name the model in their message and figures.
    """
    from .model_checks import ModelFinding, check_model, model_noise_interval

    if lazy:
        n = codes.shape[0]
        rows = np.arange(n) if n <= _LAZY_MODEL_ROWS else np.sort(
            np.random.default_rng([seed, 5]).choice(n, _LAZY_MODEL_ROWS, replace=False))
        codes = codes[rows]
        probs = np.ascontiguousarray(np.asarray(probs[rows].compute()))
    interval = model_noise_interval(
        codes, probs, extra_pred_probs=models or (), n_bootstrap=n_bootstrap,
        confidence=confidence, seed=seed, noise=noise,
    )
    if not models:
        return interval, check_model(codes, probs, names, interval=interval, seed=seed)
    findings = []
    for source, matrix in zip(sources, models, strict=True):
        for f in check_model(codes, matrix, names, seed=seed):
            findings.append(ModelFinding(f.code, f.severity, f"{source}: {f.message}",
                                         {"model": source, **f.figures}))
    return interval, findings


def _audit_chunked(codes, probs, *, filter_by, source, progress):
    """Confident learning over a dask array; bad rows are named with ``source``."""
    from .confident import _dask

    try:
        with _dask.reporting_progress(progress):
            return _dask.audit_rows(codes, probs, filter_by=filter_by)
    except InputError:
        raise
    except LabelAuditError as exc:
        raise InputError(f"{source}: {exc}") from exc


def _ids(ids: Any, n: int) -> pl.Series | None:
    """Validated id series (unique, non-null, one per label), or None."""
    from .io import item_ids

    if ids is None:
        return None
    series = ids if isinstance(ids, pl.Series) else pl.Series("id", list(ids))
    if series.len() != n:
        raise InputError(f"ids: got {series.len()} ids for {n} labels; expected one id per label")
    return item_ids(series.alias("id").to_frame(), "id", source="ids")


def _features_in_order(features: Any, n: int, order: np.ndarray | None) -> Any:
    """Features with rows in processing order; checks the row count."""
    rows = getattr(features, "shape", (None,))[0]
    if rows is None:
        features = np.asarray(features)
        rows = features.shape[0]
    if rows != n:
        raise InputError(f"features: has {rows} rows but there are {n} labels")
    if order is None:
        return features
    if isinstance(features, pl.DataFrame):
        return features[order]
    if hasattr(features, "iloc"):
        return features.iloc[order]
    return features[order]


def feature_matrix(
    df: pl.DataFrame,
    *,
    feature_cols: Sequence[str] | None = None,
    reserved: Sequence[str | None] = (),
    metadata: Sequence[str | None] = (),
    source: str = "data",
    param: str = "--feature-cols",
) -> tuple[np.ndarray, list[str]]:
    """The numeric feature matrix of a table, for out-of-fold probabilities.

    Parameters
    ----------
    df : polars.DataFrame
        The table.
    feature_cols : sequence of str, optional
        Feature columns; default every numeric (or boolean) column but the
        ``reserved`` and ``metadata`` ones.
    reserved : sequence of str, default ()
        Columns that can never be features (label and id).
    metadata : sequence of str, default ()
        Columns that are not default features (attributes, annotator).
    source : str, default "data"
        Name of the table, for messages.
    param : str, default "--feature-cols"
        Name of the option that gave ``feature_cols``, for messages.

    Returns
    -------
    X : numpy.ndarray of shape (n, n_features), dtype float64, C-ordered
    columns : list of str

    Raises
    ------
    LabelAuditError
        When ``feature_cols`` names a reserved column.
    InputError
        On a missing or non-numeric column, a null, a non-finite value or a
        value beyond ``1e150`` in magnitude (whose square would overflow when
        the column is standardised; see
        :data:`labelaudit._validation.MAX_FEATURE_MAGNITUDE`), naming the
        column, the row and the value, or when no numeric column is left.
    """
    from .io import require_columns

    reserved_set = {c for c in reserved if c is not None}
    if feature_cols is not None:
        require_columns(df, feature_cols, source=source)
        cols = list(feature_cols)
        for col in cols:
            if col in reserved_set:
                raise LabelAuditError(f"{param}: {col!r} is the label or id column")
            dtype = df.schema[col]
            if not (dtype.is_numeric() or dtype == pl.Boolean):
                raise InputError(f"{source}: feature column {col!r} has type {dtype}, not numeric")
    else:
        skip = reserved_set | {c for c in metadata if c is not None}
        cols = [
            c for c, t in df.schema.items() if c not in skip and (t.is_numeric() or t == pl.Boolean)
        ]
        if not cols:
            raise InputError(
                f"{source}: no numeric feature columns besides the label and id; pass "
                "--pred-probs FILE or --feature-cols COL,COL"
            )
    for col in cols:
        check_feature_column(df.get_column(col), source=source, column=col)
    X = df.select(pl.col(cols).cast(pl.Float64)).to_numpy(order="c")
    return X, cols


def _issues_table(
    ids: pl.Series,
    codes: np.ndarray,
    suggested: np.ndarray,
    quality: np.ndarray,
    mask: np.ndarray,
    names: list[str],
) -> pl.DataFrame:
    """Issues first (by increasing quality, then processing order), then the other rows."""
    n = codes.shape[0]
    # Sort keys: issues before non-issues, lower quality first, then processing order.
    order = np.lexsort((np.arange(n), quality, ~mask))
    n_issues = int(mask.sum())
    # Every column is gathered into table order once, as numbers, before any
    # string is made; the issues come first, ranked 1..n_issues.
    name_series = pl.Series(list(names), dtype=pl.String)
    rank_col = pl.Series(np.arange(1, n_issues + 1, dtype=np.int64)).extend_constant(
        None, n - n_issues)
    return pl.DataFrame(
        {
            "id": ids.alias("id").gather(order),
            "given_label": name_series.gather(codes[order]),
            "suggested_label": name_series.gather(suggested[order]),
            "label_quality": pl.Series(np.asarray(quality, dtype=np.float64)[order]),
            "is_issue": pl.Series(mask.astype(bool)[order]),
            "issue_rank": rank_col,
        }
    )


def _per_class_table(codes, mask, quality, noise, names) -> pl.DataFrame:
    """Count, noise rate with interval, issues and mean quality of each given class."""
    k = len(names)
    counts = np.bincount(codes, minlength=k)
    issues = np.bincount(codes, weights=mask.astype(np.float64), minlength=k).astype(np.int64)
    qsum = np.bincount(codes, weights=np.asarray(quality, dtype=np.float64), minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_q = np.where(counts > 0, qsum / np.maximum(counts, 1), np.nan)
    return pl.DataFrame(
        {
            "class": pl.Series(list(names), dtype=pl.String),
            "count": pl.Series(counts.astype(np.int64)),
            "estimated_noise_rate": pl.Series(np.asarray(noise.class_noise_rates, dtype=np.float64)),
            "ci_low": pl.Series(np.asarray(noise.class_ci_low, dtype=np.float64)),
            "ci_high": pl.Series(np.asarray(noise.class_ci_high, dtype=np.float64)),
            "n_issues": pl.Series(issues),
            "mean_label_quality": pl.Series(mean_q),
        },
        nan_to_null=True,
    )


# --------------------------------------------------------------------------- annotators and slices

#: Prefix of the helper columns :func:`add_slices` adds (never clashes with user columns).
_TMP = "__labelaudit_"

#: Columns :func:`add_annotator_review` adds to the issue table, one value per item.
ANNOTATION_ISSUE_COLUMNS = (
    "n_annotations", "annotators", "consensus_label", "consensus_quality", "annotator_agreement",
)

#: Columns of the issue table that come from the audit itself.
CORE_ISSUE_COLUMNS = ("id", "given_label", "suggested_label", "label_quality", "is_issue",
                      "issue_rank")


def _join_item_columns(result: AuditResult, per_item: pl.DataFrame, key: str) -> AuditResult:
    """Copy of ``result`` whose issue table carries the columns of ``per_item`` (by item id).

    ``per_item`` holds one row per item: the id in column ``key`` and the
    columns to add. Items it lacks get nulls; the issue table's row order stays.
    """
    issues = result.issues
    left_key = pl.col("id")
    if per_item.schema[key] != issues.schema["id"]:
        left_key = left_key.cast(pl.String)
        per_item = per_item.with_columns(pl.col(key).cast(pl.String))
    joined = (
        issues.with_columns(left_key.alias(key))
        .join(per_item, on=key, how="left", maintain_order="left")
        .drop(key)
    )
    return dataclasses.replace(result, issues=joined)


def add_item_columns(
    result: AuditResult,
    frame: pl.DataFrame,
    columns: Sequence[str],
    *,
    ids: pl.Series | None = None,
    source: str = "data",
) -> AuditResult:
    """Carry columns of the audited table into the issue table (``issues.parquet``).

    Parameters
    ----------
    result : AuditResult
        The audit.
    frame : polars.DataFrame
        The audited table, one row per item.
    columns : sequence of str
        Columns of ``frame`` to add, in order. Columns the issue table
        already carries from the same data (an attribute added by
        :func:`add_slices`) are left as they are.
    ids : polars.Series, optional
        Item id of each row of ``frame`` (the ids given to :func:`audit`);
        default row numbers, as :func:`audit` uses without ids.
    source : str, default "data"
        Name of the table in messages.

    Returns
    -------
    AuditResult
        With the columns after the issue table's own.

    Raises
    ------
    InputError
        When a column is missing from ``frame``, is named like a column the
        audit writes (``id``, ``given_label``, ..., or an annotation column),
        or ``ids`` does not have one entry per row.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from labelaudit.audit import add_item_columns, audit
    >>> rng = np.random.default_rng(0)
    >>> probs = rng.dirichlet(np.ones(2), 100)
    >>> data = pl.DataFrame({"label": probs.argmax(axis=1), "site": ["a", "b"] * 50})
    >>> result = add_item_columns(audit(data["label"], probs, n_bootstrap=10), data, ["site"])
    >>> result.issues.columns[-1], result.issues.height
    ('site', 100)
    """
    from .io import require_columns

    columns = [columns] if isinstance(columns, str) else list(columns)
    if len(set(columns)) != len(columns):
        raise InputError(f"{source}: columns to keep repeat a column: {columns}")
    require_columns(frame, columns, source=source)
    reserved = set(CORE_ISSUE_COLUMNS) | set(ANNOTATION_ISSUE_COLUMNS)
    for col in columns:
        if col in reserved:
            raise InputError(
                f"{source}: column {col!r} is named like a column of the issue table "
                f"({', '.join(sorted(reserved))}); rename it to keep it"
            )
    new = [c for c in columns if c not in result.issues.columns]
    if not new:
        return result
    if ids is None:
        ids = pl.Series("id", np.arange(frame.height, dtype=np.int64))
    if ids.len() != frame.height:
        raise InputError(f"{source}: {frame.height} rows but {ids.len()} ids")
    key = f"{_TMP}id"
    return _join_item_columns(result, frame.select(new).with_columns(ids.alias(key)), key)


def _annotation_columns(
    result: AuditResult, review: Any, annotations: pl.DataFrame, *, item_col: str,
    annotator_col: str,
) -> AuditResult:
    """The issue table with each item's annotators and consensus (:data:`ANNOTATION_ISSUE_COLUMNS`)."""
    key = f"{_TMP}id"
    consensus = review.consensus
    who = (
        annotations.group_by(item_col)
        .agg(pl.col(annotator_col).cast(pl.String).sort().str.join(", ").alias("annotators"))
        .rename({item_col: key})
    )
    per_item = consensus.select(
        pl.col(consensus.columns[0]).alias(key),
        pl.col("n_annotations").cast(pl.Int64),
        pl.col("consensus_class").alias("consensus_label"),
        pl.col("consensus_quality").cast(pl.Float64).fill_nan(None),
        pl.col("majority_share").cast(pl.Float64).fill_nan(None).alias("annotator_agreement"),
    )
    if who.schema[key] != per_item.schema[key]:
        who = who.with_columns(pl.col(key).cast(per_item.schema[key]))
    per_item = per_item.join(who, on=key, how="left", maintain_order="left").select(
        key, *ANNOTATION_ISSUE_COLUMNS
    )
    kept = result.issues.drop([c for c in ANNOTATION_ISSUE_COLUMNS if c in result.issues.columns])
    return _join_item_columns(dataclasses.replace(result, issues=kept), per_item, key)


def prepare_annotations(
    annotations: pl.DataFrame,
    *,
    item_col: str = "item_id",
    annotator_col: str = "annotator",
    label_col: str = "label",
    time_col: str | None = None,
    classes: Sequence[Any] | None = None,
    item_ids: pl.Series | None = None,
    source: str = "annotations",
) -> tuple[pl.DataFrame, list[str], pl.Series | None]:
    """Validate a long annotation table before a review.

    Parameters
    ----------
    annotations : polars.DataFrame
        One row per annotation.
    item_col, annotator_col, label_col : str
        Columns with the item id, the annotator id and the label (the
        defaults are the columns of a Label Studio export read by
        :func:`labelaudit.io.read_table`).
    time_col : str, optional
        Date or Datetime column; text is parsed as datetimes.
    classes : sequence of str, optional
        Class list; every label must be one of them (compared as strings).
        Default: the sorted distinct labels.
    item_ids : polars.Series, optional
        Ids of the audited items; every annotated item must be one of them.
        When its type differs from ``item_col``'s, both are compared as
        strings.
    source : str, default "annotations"
        Name of the table in messages, e.g. ``"annotations file 'a.csv'"``.

    Returns
    -------
    frame : polars.DataFrame
        The annotations with the label column replaced by class codes
        (Int64), the time column parsed, and the item column cast to the type
        of ``item_ids`` (String when they differed).
    class_names : list of str
        ``class_names[k]`` is the class with code ``k``.
    item_ids : polars.Series or None
        ``item_ids``, cast to String when the types differed.

    Raises
    ------
    InputError
        On a missing column, a null id, a repeated (item, annotator) pair, a
        label outside ``classes``, an unparseable timestamp or an item that is
        not in ``item_ids``, naming the table, the column, the row and the
        value.
    LabelAuditError
        When two roles name the same column.
    """
    from ._validation import check_annotations
    from .io import encode_labels

    annotations = check_annotations(
        annotations, item_col=item_col, annotator_col=annotator_col, label_col=label_col,
        time_col=time_col, parse_time=True, source=source,
    )
    codes, names = encode_labels(
        annotations.get_column(label_col), classes=classes, source=source, column=label_col
    )
    frame = annotations.with_columns(pl.Series(label_col, codes.astype(np.int64)))
    if item_ids is not None:
        items = frame.get_column(item_col)
        if items.dtype != item_ids.dtype:
            items = items.cast(pl.String)
            item_ids = item_ids.cast(pl.String)
            frame = frame.with_columns(items)
        unknown = ~items.is_in(item_ids.implode())
        if unknown.any():
            row = int(unknown.arg_true()[0])
            raise InputError(
                f"{source}: row {row} has item {items[row]!r} in column {item_col!r}, which is "
                "not an id of the audited data; annotations must refer to the data's item ids"
            )
    return frame, names, item_ids


def annotator_gate_figures(review: Any) -> dict[str, Any]:
    """Gate figures of an annotator review.

    Parameters
    ----------
    review : AnnotatorReview
        Result of :func:`labelaudit.annotators.review_annotators`.

    Returns
    -------
    dict
        ``krippendorff_alpha`` (None when undefined) and
        ``annotator_accuracy`` (annotator -> leave-one-out accuracy, for the
        annotators with at least one graded label; an annotator whose labels
        could not be graded has no accuracy to check).
    """
    alpha = review.agreement.get("krippendorff_alpha")
    if alpha is not None and not np.isfinite(alpha):
        alpha = None
    table = review.annotators
    col = table.columns[0]
    graded = table.filter(pl.col("n_graded") > 0)
    accuracy = dict(
        zip(
            (str(a) for a in graded.get_column(col).to_list()),
            (float(v) for v in graded.get_column("accuracy").to_list()),
            strict=True,
        )
    )
    return {"krippendorff_alpha": alpha, "annotator_accuracy": accuracy}


def add_annotator_review(
    result: AuditResult,
    annotations: pl.DataFrame,
    *,
    item_col: str = "item_id",
    annotator_col: str = "annotator",
    label_col: str = "label",
    time_col: str | None = None,
    source: str = "annotations",
    n_jobs: int | None = None,
    pred_probs: Any = None,
    ids: Any = None,
    extra_pred_probs: Sequence[Any] = (),
    **options: Any,
) -> AuditResult:
    """Review the annotators of an audited dataset and attach the review.

    The review (see :func:`labelaudit.annotators.review_annotators`) gets the
    audit's per-item issue flags and label quality, so each annotator's share
    of the confident-learning issues is reported and the relabel queue uses
    the label quality. Annotation labels must be classes of the audit.

    With a ``consensus_method`` that needs model probabilities (such as
    ``"crowdlab"``), the review also gets the audit's out-of-sample
    probabilities: ``pred_probs`` when given, else the out-of-fold
    probabilities the audit computed from features. Otherwise the default
    consensus is Dawid-Skene, whatever probabilities the audit had (so the
    default does not depend on an optional library: CROWDLAB runs through
    cleanlab).

    Parameters
    ----------
    result : AuditResult
        The audit.
    annotations : polars.DataFrame
        Long table, one row per annotation, whose items are ids of the audit.
    item_col, annotator_col, label_col : str
        Columns of the item id, annotator id and label.
    time_col : str, optional
        Date/Datetime (or datetime text) column; enables quality per week.
    source : str, default "annotations"
        Name of the table in messages.
    n_jobs : int, optional
        Threads for the kernels; results do not depend on it.
    pred_probs : array-like of shape (n_items, n_classes), optional
        The probabilities given to :func:`audit` (their mean when it was
        given several models), rows in the order of its labels. Default: the
        audit's out-of-fold probabilities (``result.out_of_fold``), or none
        when it was given probabilities.
    ids : sequence or polars.Series, optional
        The ids given to :func:`audit`, one per row of ``pred_probs``;
        default row numbers, as :func:`audit` uses without ids.
    extra_pred_probs : sequence of array-like, default ()
        Further models' probabilities given to :func:`audit`; the review then
        gets the mean of all of them, as the audit used (computed only when
        the consensus method needs probabilities).
    **options
        Further keyword arguments of ``review_annotators`` (``alpha``,
        ``min_overlap``, ``consensus_method``, ``time_window``, ...).

    Returns
    -------
    AuditResult
        With the :class:`~labelaudit.annotators.AnnotatorReview` as section
        ``"annotators"``, the gate figures of :func:`annotator_gate_figures`,
        and per item in the issue table: ``n_annotations``, ``annotators``
        (who labelled it, comma-separated), ``consensus_label`` (class
        name), ``consensus_quality`` and ``annotator_agreement`` (share of
        its annotations that give the majority label).

    Raises
    ------
    InputError
        On a missing column, an unknown item or label, a duplicate
        (item, annotator) pair or a bad timestamp, or when ``pred_probs``
        does not have one row per audited item or ``ids`` are not the
        audit's ids.
    LabelAuditError
        When ``consensus_method`` needs probabilities and none are known.
    """
    from .annotators import review_annotators
    from .annotators.consensus import get_consensus

    issues = result.issues.sort("id")
    method = options.get("consensus_method")
    probs = None
    if method is not None and get_consensus(method).needs_pred_probs:
        if pred_probs is not None and len(extra_pred_probs):
            pred_probs = _mean_probabilities([pred_probs, *extra_pred_probs])
        probs = _probabilities_by_id(result, issues.get_column("id"), pred_probs, ids)
    frame, _, review_ids = prepare_annotations(
        annotations, item_col=item_col, annotator_col=annotator_col, label_col=label_col,
        time_col=time_col, classes=list(result.class_names), item_ids=issues.get_column("id"),
        source=source,
    )
    review = review_annotators(
        frame, item_col=item_col, annotator_col=annotator_col, label_col=label_col,
        time_col=time_col, classes=list(result.class_names), item_ids=review_ids,
        issue_mask=issues.get_column("is_issue").to_numpy(),
        label_quality=issues.get_column("label_quality").to_numpy(),
        pred_probs=probs,
        seed=int(result.parameters.get("seed", 0) or 0), n_jobs=n_jobs, source=source,
        **options,
    )
    result = _annotation_columns(result, review, frame, item_col=item_col,
                                 annotator_col=annotator_col)
    return result.with_section("annotators", review, figures=annotator_gate_figures(review))


def _probabilities_by_id(
    result: AuditResult, sorted_ids: pl.Series, pred_probs: Any, ids: Any
) -> np.ndarray | None:
    """The audit's probabilities with rows in the order of ``sorted_ids`` (the ids, sorted).

    The out-of-fold probabilities are already in that order: :func:`audit`
    computes them with its rows sorted by id.
    """
    if pred_probs is None:
        oof = result.out_of_fold
        return None if oof is None else oof.pred_probs
    from .confident._dask import is_dask_array

    n = result.n_items
    if is_dask_array(pred_probs):
        # Probability shards are computed here: the review holds per-item tables of
        # the same size anyway.
        pred_probs = pred_probs.compute()
    arr = pred_probs if hasattr(pred_probs, "shape") else np.asarray(pred_probs)
    shape = tuple(arr.shape)
    if len(shape) != 2 or shape[0] != n or shape[1] != result.n_classes:
        raise InputError(
            f"pred_probs: has shape {shape} but the audit has {n} items and "
            f"{result.n_classes} classes; expected one row per audited item and one column "
            "per class"
        )
    row_ids = _ids(ids, n)
    if row_ids is None:
        row_ids = pl.Series("id", np.arange(n, dtype=np.int64))
    if row_ids.dtype != sorted_ids.dtype:
        given = "ids were not given" if ids is None else f"ids have type {row_ids.dtype}"
        raise InputError(
            f"ids: the audit's ids have type {sorted_ids.dtype} but {given}; pass the ids "
            "given to audit along with pred_probs"
        )
    key = f"{_TMP}row"
    rows = (
        sorted_ids.to_frame("id")
        .join(row_ids.to_frame("id").with_row_index(key), on="id", how="left",
              maintain_order="left")
        .get_column(key)
    )
    if rows.null_count():
        missing = sorted_ids.filter(rows.is_null())[0]
        raise InputError(f"ids: the audited item {missing!r} is not among them; give the ids "
                         "given to audit")
    return np.asarray(arr[rows.to_numpy()])


def add_slices(
    result: AuditResult,
    frame: pl.DataFrame,
    *,
    attributes: Sequence[str],
    ids: pl.Series | None = None,
    annotator_col: str | None = None,
    source: str = "data",
    **options: Any,
) -> AuditResult:
    """Slice the audit's issue rate by attributes (and annotator) and attach the report.

    Each item's issue flag, label quality and error probability
    (``1 - label_quality``) come from the audit; when an annotator review is
    attached, its per-item disagreement (``1 - majority_share``) is sliced
    too.

    Parameters
    ----------
    result : AuditResult
        The audit.
    frame : polars.DataFrame
        The audited table (one row per item) holding the attribute columns.
    attributes : sequence of str
        Columns to slice by.
    ids : polars.Series, optional
        Item id of each row of ``frame`` (the ids given to :func:`audit`);
        default row numbers, as :func:`audit` uses without ids.
    annotator_col : str, optional
        Column of ``frame`` naming who gave each item's label; sliced like an
        attribute, plus the annotator-by-attribute analysis.
    source : str, default "data"
        Name of the table in messages.
    **options
        Further keyword arguments of
        :func:`labelaudit.slices.analyze_slices` (``min_size``,
        ``min_effect``, ``fdr``, ``max_order``, ...).

    Returns
    -------
    AuditResult
        With the :class:`~labelaudit.slices.SliceReport` as section
        ``"slices"`` and the gate figures of
        :func:`labelaudit.slices.gate_figures` (disparities of every
        attribute and of the annotator column, and the largest flagged
        effect). The issue table carries the attribute and annotator
        columns (except one named like a column the audit writes).

    Raises
    ------
    InputError
        When a column is missing, or ``frame`` does not hold the audited items.
    LabelAuditError
        When an attribute is repeated or is also the annotator column.
    """
    from .io import require_columns
    from .slices import analyze_slices, gate_figures

    attributes = [attributes] if isinstance(attributes, str) else list(attributes)
    if annotator_col is not None and annotator_col in attributes:
        raise LabelAuditError(
            f"{source}: column {annotator_col!r} is both an attribute and the annotator column"
        )
    if len(set(attributes)) != len(attributes):
        raise LabelAuditError(f"{source}: attributes must not repeat a column, got {attributes}")
    wanted = attributes + ([annotator_col] if annotator_col is not None else [])
    require_columns(frame, wanted, source=source)
    if ids is None:
        ids = pl.Series("id", np.arange(frame.height, dtype=np.int64))
    if ids.len() != frame.height:
        raise InputError(f"{source}: {frame.height} rows but {ids.len()} ids")
    key = f"{_TMP}id"
    issue_c, quality_c, error_c, disagreement_c = (
        name if name not in wanted else f"{_TMP}{name}"
        for name in ("is_issue", "label_quality", "error_probability", "disagreement")
    )
    audited = result.issues.select(
        pl.col("id").alias(key),
        pl.col("is_issue").alias(issue_c),
        pl.col("label_quality").alias(quality_c),
        (1.0 - pl.col("label_quality")).clip(0.0, 1.0).alias(error_c),
    )
    table = frame.select(wanted).with_columns(ids.alias(key))
    if table.schema[key] != audited.schema[key]:
        raise InputError(
            f"{source}: item ids have type {table.schema[key]}, but the audit's ids have type "
            f"{audited.schema[key]}"
        )
    table = table.join(audited, on=key, how="left", maintain_order="left")
    missing = table.get_column(issue_c).is_null()
    if missing.any():
        row = int(missing.arg_true()[0])
        raise InputError(f"{source}: row {row} (id {ids[row]!r}) is not an audited item")
    disagreement = None
    review = result.extras.get("annotators")
    if review is not None and hasattr(review, "consensus"):
        consensus = review.consensus
        item_col = consensus.columns[0]
        share = consensus.select(
            pl.col(item_col).alias(key),
            (1.0 - pl.col("majority_share")).fill_nan(None).alias(disagreement_c),
        )
        if share.schema[key] != table.schema[key]:
            share = share.with_columns(pl.col(key).cast(pl.String))
            table = table.with_columns(pl.col(key).cast(pl.String))
        table = table.join(share, on=key, how="left", maintain_order="left")
        disagreement = disagreement_c
    report = analyze_slices(
        table, attributes=attributes, issue_col=issue_c, quality_col=quality_c,
        error_prob_col=error_c, annotator_col=annotator_col,
        disagreement_col=disagreement, **options,
    )
    figures = gate_figures(report, attributes=wanted)
    reserved = set(CORE_ISSUE_COLUMNS) | set(ANNOTATION_ISSUE_COLUMNS)
    carried = [c for c in wanted if c not in reserved]
    if carried:
        result = add_item_columns(result, frame, carried, ids=ids, source=source)
    return result.with_section("slices", report, figures=figures)


def review_only_result(review: Any, *, parameters: Mapping[str, Any] | None = None) -> AuditResult:
    """An :class:`AuditResult` that carries an annotator review and no confident-learning audit.

    For an annotations-only run (``labelaudit annotators``), so the same report
    and summary writers can be used. Nothing of confident learning was
    computed: the issues table is empty, the noise figures are NaN, and
    ``parameters["confident_learning"]`` is ``"not run"``. ``per_class``
    counts the consensus labels.

    Parameters
    ----------
    review : AnnotatorReview
        The review, attached as section ``"annotators"`` with its gate figures.
    parameters : Mapping, optional
        Parameters of the run to record.

    Returns
    -------
    AuditResult
    """
    names = [str(c) for c in review.classes]
    k = len(names)
    consensus = review.consensus
    id_col = consensus.columns[0]
    labels = consensus.get_column("consensus_label").drop_nulls().to_numpy().astype(np.intp)
    counts = np.bincount(labels, minlength=k).astype(np.int64)
    nan_k = np.full(k, np.nan)
    per_class = pl.DataFrame(
        {
            "class": pl.Series(names, dtype=pl.String),
            "count": pl.Series(counts),
            "estimated_noise_rate": pl.Series(nan_k),
            "ci_low": pl.Series(nan_k),
            "ci_high": pl.Series(nan_k),
            "n_issues": pl.Series(np.zeros(k, dtype=np.int64)),
            "mean_label_quality": pl.Series(nan_k),
        },
        nan_to_null=True,
    )
    issues = pl.DataFrame(
        schema={
            "id": consensus.schema[id_col],
            "given_label": pl.String,
            "suggested_label": pl.String,
            "label_quality": pl.Float64,
            "is_issue": pl.Boolean,
            "issue_rank": pl.Int64,
        }
    )
    nan = float("nan")
    base = AuditResult(
        issues=issues,
        class_names=tuple(names),
        per_class=per_class,
        noise_matrix=np.full((k, k), np.nan),
        inverse_noise_matrix=np.full((k, k), np.nan),
        confident_joint=np.zeros((k, k), dtype=np.int64),
        py=np.full(k, np.nan),
        n_items=consensus.height,
        n_classes=k,
        n_issues=0,
        estimated_noise_rate=nan,
        ci_low=nan,
        ci_high=nan,
        confidence=float(1.0 - review.params.get("alpha", 0.05)),
        label_health_score=nan,
        parameters={"confident_learning": "not run", **(parameters or {})},
        noise_rate_source=None,
    )
    return base.with_section("annotators", review, figures=annotator_gate_figures(review))


