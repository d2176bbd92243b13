"""Issue filters (cleanlab's ``filter`` module): which items are likely mislabelled.

Every filter is an entry of :data:`FILTERS`. :func:`find_label_issues` runs
one fused row pass that computes what the chosen filter declares it needs
(the confident guesses, the margins of the pruning filters, a score), hands
the results to the filter's ``select`` function as :class:`FilterInputs`, and
un-flags the items whose given label is the model's top class. Adding a
filter is one :func:`register_filter` call plus its ``select`` function.

Examples
--------
>>> import numpy as np
>>> import labelaudit as la
>>> from labelaudit.confident import filter as cl_filter
>>> spec = cl_filter.register_filter(
...     "unsure", lambda inputs: inputs.pred_probs.max(axis=1) < 0.6)
>>> p = np.array([[0.55, 0.45], [0.9, 0.1], [0.2, 0.8]])
>>> la.find_label_issues([1, 0, 0], p, filter_by="unsure").tolist()
[True, False, False]
>>> del cl_filter.FILTERS["unsure"]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validation import is_float16
from ..exceptions import LabelAuditError, LabelAuditWarning
from . import _dask
from ._latent import calibrate_counts, keep_at_least_n_per_class
from ._passes import (
    adjust_vector,
    check_adjustable,
    check_square,
    class_counts,
    counts_for_fixed_removal,
    cut_points,
    fill_diagonal_min_one,
    is_dask_array,
    mask_from_candidates,
    noise_rate_rows_float16,
    prepare,
    prune_plan,
    row_pass,
    score_spec,
    select_candidates,
    smallest,
    thresholds_from_counts,
)
from .count import compute_confident_joint, confident_joint_result
from .noise import estimate_joint
from .rank import get_label_quality_scores

__all__ = [
    "FILTERS",
    "FilterInputs",
    "FilterSpec",
    "find_label_issues",
    "find_predicted_neq_given",
    "num_label_issues",
    "register_filter",
]


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterInputs:
    """What a filter's ``select`` function receives (one row pass over validated inputs).

    Attributes
    ----------
    labels : ndarray of intp, shape (n_samples,)
    pred_probs : ndarray of shape (n_samples, K)
        C-contiguous float32 or float64, rows checked to be probability vectors.
    label_counts : ndarray of int64, shape (K,)
    keep : ndarray of bool, shape (n_samples,)
        The given label wins ``argmax(p + 1e-6 * onehot(label))`` (these rows
        are un-flagged after ``select`` unless the filter opts out).
    guess : ndarray of int32 or None
        Confident guess of each row (-1: none), when the filter uses it.
    confident_joint : ndarray of shape (K, K) or None
        The calibrated confident joint, or the caller's one when given.
    score : ndarray or None
        The filter's fused score, when it declares one.
    other, selfc : ndarray or None
        Largest probability among the other classes and ``p[label]``
        (filters registered with ``pruning=True``; None for the built-in
        ones, whose selection reads them from ``pred_probs``).
    frac_noise, num_to_remove_per_class, min_examples_per_class, n_jobs, chunk_size
        The caller's arguments.
    """

    labels: np.ndarray
    pred_probs: np.ndarray
    label_counts: np.ndarray
    keep: np.ndarray
    guess: np.ndarray | None
    confident_joint: np.ndarray | None
    score: np.ndarray | None
    other: np.ndarray | None
    selfc: np.ndarray | None
    frac_noise: float
    num_to_remove_per_class: object
    min_examples_per_class: int
    n_jobs: int | None
    chunk_size: int | None

    @property
    def off_diagonal(self) -> np.ndarray:
        """Rows confidently counted off the diagonal of the confident joint."""
        return (self.guess >= 0) & (self.guess != self.labels)


@dataclass(frozen=True)
class FilterSpec:
    """One issue filter.

    Attributes
    ----------
    name : str
        The ``filter_by`` value.
    select : callable
        ``select(inputs: FilterInputs) -> ndarray of bool`` (the flagged rows).
    pruning : bool
        Uses the prune matrix: ``frac_noise`` and ``num_to_remove_per_class``
        apply, and the row pass keeps the margins it needs.
    uses_joint : bool
        Needs :attr:`FilterInputs.confident_joint` (computed unless given).
    uses_guess : bool
        Needs :attr:`FilterInputs.guess` (the confident joint is computed
        from the labels even when one is given).
    score : str or None
        A kernel score method fused into the row pass for ``select``.
    unflag : bool
        Un-flag rows whose given label is the model's top class afterwards.
    warn_supplied_joint : bool
        Warn that a given ``confident_joint`` is ignored.
    chunked : bool
        The dask backend implements this filter (the built-in ones).
    lean : bool
        ``select`` needs neither ``other`` nor ``selfc`` (the built-in pruning
        filters): the row pass keeps only the one-byte ``keep`` flags, the
        selection reads both values from the matrix, and the ranking scores
        the flagged rows only.
    """

    name: str
    select: Callable[[FilterInputs], np.ndarray]
    pruning: bool = False
    uses_joint: bool = False
    uses_guess: bool = False
    score: str | None = None
    unflag: bool = True
    warn_supplied_joint: bool = False
    chunked: bool = False
    lean: bool = False


#: Registered issue filters by name. Add one with :func:`register_filter`.
FILTERS: dict[str, FilterSpec] = {}


def register_filter(name: str, select: Callable[[FilterInputs], np.ndarray], *,
                    pruning: bool = False, uses_joint: bool = False, uses_guess: bool = False,
                    score: str | None = None, unflag: bool = True,
                    warn_supplied_joint: bool = False, _chunked: bool = False,
                    _lean: bool = False) -> FilterSpec:
    """Register an issue filter for ``find_label_issues(filter_by=name)``.

    Parameters
    ----------
    name : str
        The ``filter_by`` value.
    select : callable
        ``select(inputs) -> ndarray of bool, shape (n_samples,)``; see
        :class:`FilterInputs` for what it receives.
    pruning, uses_joint, uses_guess, score, unflag, warn_supplied_joint
        What the filter needs and how its mask is finished (see :class:`FilterSpec`).

    Returns
    -------
    FilterSpec

    Notes
    -----
    A registered filter runs on in-memory matrices; on a dask array only the
    built-in filters are available (they have chunked implementations).
    """
    if not isinstance(name, str) or not name:
        raise LabelAuditError(f"a filter needs a non-empty name, got {name!r}.")
    if name in FILTERS:
        raise LabelAuditError(f"filter {name!r} is already registered.")
    if not callable(select):
        raise LabelAuditError(f"filter {name!r}: `select` must be callable.")
    if score is not None and score_spec(score, parameter="score").function is not None:
        raise LabelAuditError(f"filter {name!r}: `score` must be a kernel score method.")
    spec = FilterSpec(name, select, pruning, uses_joint or pruning, uses_guess, score, unflag,
                      warn_supplied_joint, _chunked, _lean)
    FILTERS[name] = spec
    return spec


def check_filter_by(filter_by) -> FilterSpec:
    """The :class:`FilterSpec` of ``filter_by``; the error lists the registered filters."""
    spec = FILTERS.get(filter_by) if isinstance(filter_by, str) else None
    if spec is None:
        raise LabelAuditError(f"`filter_by` must be one of {', '.join(FILTERS)}, got {filter_by!r}.")
    return spec


def _quoted(names: list[str]) -> str:
    """``'a', 'b' and 'c'``."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


# ---------------------------------------------------------------------------
# Built-in filters
# ---------------------------------------------------------------------------

def _prune(inputs: FilterInputs, filter_by: str) -> np.ndarray:
    """Masks of the pruning filters: ``[0]`` by noise rate, ``[1]`` by class."""
    prune_counts = keep_at_least_n_per_class(
        np.asarray(inputs.confident_joint).T, inputs.min_examples_per_class,
        frac_noise=inputs.frac_noise,
    )
    if inputs.num_to_remove_per_class is not None:
        prune_counts = counts_for_fixed_removal(prune_counts, inputs.label_counts,
                                                inputs.num_to_remove_per_class)
    plan = prune_plan(prune_counts, inputs.label_counts, inputs.min_examples_per_class, filter_by)
    if plan["inactive"].size:
        warnings.warn(
            "May not flag all label issues in classes "
            f"{plan['inactive'].tolist()}: they have too few examples "
            f"(at most min_examples_per_class={inputs.min_examples_per_class}).",
            LabelAuditWarning, stacklevel=4,  # the caller of find_label_issues
        )
    no_rows = np.empty(0, dtype=inputs.pred_probs.dtype)
    other = no_rows if inputs.other is None else inputs.other
    selfc = no_rows if inputs.selfc is None else inputs.selfc
    slot, _, rows = select_candidates(inputs.labels, inputs.pred_probs, plan, other, selfc,
                                      n_jobs=inputs.n_jobs, chunk_size=inputs.chunk_size,
                                      first=np.flatnonzero(~inputs.keep))
    n = inputs.labels.shape[0]
    by_rate = by_class = None
    if filter_by != "prune_by_class":
        if is_float16(inputs.pred_probs):
            by_rate = noise_rate_rows_float16(inputs.labels, inputs.pred_probs, plan)
        else:
            by_rate = mask_from_candidates(n, plan, slot, rows, 0)
    if filter_by != "prune_by_noise_rate":
        by_class = mask_from_candidates(n, plan, slot, rows, 1)
    return by_rate, by_class


def _prune_by_noise_rate(inputs: FilterInputs) -> np.ndarray:
    return _prune(inputs, "prune_by_noise_rate")[0]


def _prune_by_class(inputs: FilterInputs) -> np.ndarray:
    return _prune(inputs, "prune_by_class")[1]


def _prune_both(inputs: FilterInputs) -> np.ndarray:
    by_rate, by_class = _prune(inputs, "both")
    by_rate &= by_class
    return by_rate


def _off_diagonal(inputs: FilterInputs) -> np.ndarray:
    return inputs.off_diagonal.copy()


def _argmax_differs(labels, pred_probs) -> np.ndarray:
    return np.argmax(pred_probs, axis=1) != labels


def _lowest_scores(inputs: FilterInputs) -> np.ndarray:
    """The ``num_label_issues`` rows with the lowest score (ties by the smaller row)."""
    n_issues = int(np.count_nonzero(inputs.off_diagonal & ~inputs.keep))
    mask = np.zeros(inputs.labels.shape[0], dtype=bool)
    mask[smallest(inputs.score, n_issues)] = True
    return mask


register_filter("prune_by_noise_rate", _prune_by_noise_rate, pruning=True, _chunked=True,
                _lean=True)
register_filter("prune_by_class", _prune_by_class, pruning=True, _chunked=True, _lean=True)
register_filter("both", _prune_both, pruning=True, _chunked=True, _lean=True)
register_filter("confident_learning", _off_diagonal, uses_guess=True, warn_supplied_joint=True,
                _chunked=True)
register_filter("predicted_neq_given", lambda inputs: _argmax_differs(inputs.labels,
                                                                      inputs.pred_probs),
                _chunked=True)
register_filter("low_normalized_margin", _lowest_scores, uses_guess=True,
                score="normalized_margin", unflag=False, _chunked=True)
register_filter("low_self_confidence", _lowest_scores, uses_guess=True, score="self_confidence",
                unflag=False, _chunked=True)


# ---------------------------------------------------------------------------
# cleanlab-compatible API
# ---------------------------------------------------------------------------

def find_label_issues(labels, pred_probs, *, return_indices_ranked_by=None, rank_by_kwargs=None,
                      filter_by="prune_by_noise_rate", frac_noise=1.0,
                      num_to_remove_per_class=None, min_examples_per_class=1,
                      confident_joint=None, n_jobs=None, verbose=False, multi_label=False,
                      chunk_size=None, _validated=False):
    """Find items whose given label is likely wrong.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities, float32 or float64; a read-only
        memory map is streamed without copying.
    return_indices_ranked_by : str, optional
        None (default) or a score method registered in
        :data:`labelaudit.confident.rank.SCORES`: ``"self_confidence"``,
        ``"normalized_margin"``, ``"confidence_weighted_entropy"``, ...
        None returns a boolean mask; otherwise the indices of the issues, most
        severe first (ties by index).
    rank_by_kwargs : dict, optional
        Extra arguments of :func:`get_label_quality_scores` (``adjust_pred_probs``).
    filter_by : str, default "prune_by_noise_rate"
        A name registered in :data:`FILTERS`. Built in:

        - ``"prune_by_noise_rate"``: for every (given k, true j) pair, the
          ``C[k, j]`` items labelled k with the largest ``p_j - p_k``;
        - ``"prune_by_class"``: for every class k, the ``n_k - C[k, k]`` items
          labelled k with the smallest ``p_k``;
        - ``"both"``: items found by both;
        - ``"confident_learning"``: the off-diagonal items of the confident joint;
        - ``"predicted_neq_given"``: items whose argmax differs from the label;
        - ``"low_normalized_margin"`` / ``"low_self_confidence"``: the
          ``num_label_issues`` items with the lowest score.
        All but the ``low_*`` filters then un-flag items whose given label is
        the argmax of ``p + 1e-6 * onehot(label)``.
    frac_noise : float, default 1.0
        Share of the estimated issues to return per pair (pruning filters only);
        counts are truncated to integers.
    num_to_remove_per_class : array-like of shape (K,), optional
        Exact number of issues per class (pruning filters only).
    min_examples_per_class : int, default 1
        Classes with at most this many items are never pruned.
    confident_joint : ndarray of shape (K, K), optional
        Used verbatim by the pruning filters instead of the calibrated joint.
    n_jobs : int, optional
        Threads; results do not depend on it.
    verbose : bool
        Accepted for compatibility; labelaudit prints nothing.
    multi_label : bool, default False
        True: ``labels`` is a list of class-index lists and ``pred_probs``
        holds per-class probabilities; the call is
        :func:`labelaudit.multilabel_classification.filter.find_label_issues`
        with the same arguments (cleanlab's older spelling of it).
    chunk_size : int, optional
        Rows per work unit; results do not depend on it.

    Returns
    -------
    ndarray
        Boolean mask of shape (n_samples,), or int64 indices when
        ``return_indices_ranked_by`` is set.

    Notes
    -----
    Identical to cleanlab 2.9's ``filter.find_label_issues`` except where keys
    tie exactly at a selection cut: cleanlab's choice then depends on numpy's
    unstable sort and the CPU, labelaudit always takes the smaller row index.
    """
    spec = check_filter_by(filter_by)
    rank_by_kwargs = dict(rank_by_kwargs or {})
    unknown = set(rank_by_kwargs) - {"adjust_pred_probs"}
    if unknown:
        raise LabelAuditError(
            f"`rank_by_kwargs` accepts only 'adjust_pred_probs', got {sorted(unknown)}."
        )
    rank_adjust = bool(rank_by_kwargs.get("adjust_pred_probs", False))
    rank_spec = None
    if return_indices_ranked_by is not None:
        rank_spec = score_spec(return_indices_ranked_by, parameter="return_indices_ranked_by")
        check_adjustable(rank_spec, rank_adjust)
    if not spec.pruning and (frac_noise != 1.0 or num_to_remove_per_class is not None):
        warnings.warn(
            "frac_noise and num_to_remove_per_class only apply to filter_by "
            f"{_quoted([n for n, s in FILTERS.items() if s.pruning])}.",
            LabelAuditWarning, stacklevel=2,
        )
        if num_to_remove_per_class is not None:
            raise LabelAuditError(
                f"`num_to_remove_per_class` is not supported with filter_by={filter_by!r}."
            )
    if spec.warn_supplied_joint and confident_joint is not None:
        warnings.warn(
            f"The supplied `confident_joint` is ignored with filter_by={filter_by!r}: "
            "it is recomputed from the labels.", LabelAuditWarning, stacklevel=2,
        )
    if not (0.0 <= float(frac_noise) <= 1.0):
        raise LabelAuditError(f"`frac_noise` must be in [0, 1], got {frac_noise!r}.")
    if isinstance(min_examples_per_class, bool) or int(min_examples_per_class) != min_examples_per_class:
        raise LabelAuditError(
            f"`min_examples_per_class` must be an integer, got {min_examples_per_class!r}."
        )

    if multi_label:
        # cleanlab's older spelling of the multi-label filter: same arguments, same results.
        if not isinstance(labels, list):
            raise LabelAuditError(
                "`labels` must be a list of lists of class indices when `multi_label=True`, "
                f"got {type(labels).__name__}."
            )
        from ..multilabel_classification import filter as multilabel_filter

        return multilabel_filter.find_label_issues(
            labels, pred_probs, return_indices_ranked_by=return_indices_ranked_by,
            rank_by_kwargs=rank_by_kwargs, filter_by=filter_by, frac_noise=frac_noise,
            num_to_remove_per_class=num_to_remove_per_class,
            min_examples_per_class=min_examples_per_class, confident_joint=confident_joint,
            n_jobs=n_jobs, chunk_size=chunk_size)
    if is_dask_array(pred_probs):
        if not spec.chunked:
            raise LabelAuditError(
                f"filter {filter_by!r} has no chunked implementation; pass a numpy array "
                "(for example `pred_probs.compute()`)."
            )
        return _dask.find_label_issues(
            labels, pred_probs, return_indices_ranked_by=return_indices_ranked_by,
            rank_by_kwargs=rank_by_kwargs, filter_by=filter_by, frac_noise=frac_noise,
            num_to_remove_per_class=num_to_remove_per_class,
            min_examples_per_class=min_examples_per_class, confident_joint=confident_joint)
    labels, pred_probs = prepare(labels, pred_probs, validated=_validated)
    k = pred_probs.shape[1]
    label_counts = class_counts(labels, k)
    if confident_joint is not None:
        confident_joint = check_square(confident_joint, k)

    # Lean filters keep no per-row probabilities: their candidates come from a
    # second read of the matrix, and only the flagged rows are scored.
    lean = spec.lean and not is_float16(pred_probs)
    # The score the filter (or else the ranking) needs, fused into the row pass
    # when the kernel computes it (lean filters: on the flagged rows only,
    # unless the score must check every row for values outside [0, 1]).
    fused = None
    fused_adjust = False
    flagged_only = False
    if spec.score is not None:
        fused = score_spec(spec.score)
    elif rank_spec is not None and rank_spec.function is None:
        fused, fused_adjust = rank_spec, rank_adjust
        flagged_only = lean and not rank_spec.strict_unit_interval
    need_cj = spec.uses_guess or (spec.uses_joint and confident_joint is None)
    thresholds = (thresholds_from_counts(labels, pred_probs, label_counts)
                  if need_cj or fused_adjust else None)
    adjust = adjust_vector(thresholds) if fused_adjust else None
    # The keep flags (one byte a row) stay: they order the selection (likely
    # issues first, so its bars rise early) and un-flag without a second read.
    res = row_pass(labels, pred_probs,
                   cut=cut_points(thresholds, k, pred_probs.dtype) if need_cj else None,
                   want_guess=spec.uses_guess, want_keep=True,
                   want_other=spec.pruning and not lean,
                   score=None if flagged_only else fused, adjust=None if flagged_only else adjust,
                   n_jobs=n_jobs, chunk_size=chunk_size, check=not _validated)
    if confident_joint is None and need_cj:
        confident_joint = calibrate_counts(fill_diagonal_min_one(res.counts), label_counts)
    mask = np.asarray(spec.select(FilterInputs(
        labels=labels, pred_probs=pred_probs, label_counts=label_counts, keep=res.keep,
        guess=res.guess if spec.uses_guess else None, confident_joint=confident_joint, score=res.score,
        other=res.extra.get("other"), selfc=res.extra.get("selfc"), frac_noise=frac_noise,
        num_to_remove_per_class=num_to_remove_per_class,
        min_examples_per_class=min_examples_per_class, n_jobs=n_jobs, chunk_size=chunk_size,
    )), dtype=bool)
    if mask.shape != labels.shape:
        raise LabelAuditError(
            f"filter {filter_by!r} returned a mask of shape {mask.shape}, expected {labels.shape}."
        )
    if spec.unflag:
        mask &= ~res.keep  # un-flag items whose given label is the bumped argmax

    if return_indices_ranked_by is None:
        return mask
    if flagged_only:
        idx = np.flatnonzero(mask)
        return idx[np.argsort(_flagged_scores(labels, pred_probs, idx, rank_spec, adjust,
                                              n_jobs, chunk_size),
                              kind="stable")].astype(np.int64)
    if fused is rank_spec and fused_adjust == rank_adjust:
        scores = res.score
    else:
        scores = get_label_quality_scores(labels, pred_probs, method=return_indices_ranked_by,
                                          n_jobs=n_jobs, chunk_size=chunk_size,
                                          _validated=_validated, **rank_by_kwargs)
    idx = np.flatnonzero(mask)
    return idx[np.argsort(scores[idx], kind="stable")].astype(np.int64)


#: Flagged rows scored per block by :func:`_flagged_scores` (bounds its copies).
_SCORE_BLOCK = 1 << 16


def _flagged_scores(labels, pred_probs, idx, spec, adjust, n_jobs, chunk_size) -> np.ndarray:
    """The kernel score of the rows ``idx``, a block of gathered rows at a time.

    Kernel scores are row-wise (the adjusted ones given the thresholds), so
    they equal the whole-matrix pass's values for those rows.
    """
    parts = [np.empty(0, dtype=pred_probs.dtype)]
    for a in range(0, idx.shape[0], _SCORE_BLOCK):
        rows = idx[a:a + _SCORE_BLOCK]
        parts.append(row_pass(labels[rows], np.ascontiguousarray(pred_probs[rows]), score=spec,
                              adjust=adjust, n_jobs=n_jobs, chunk_size=chunk_size,
                              check=False).score)
    return np.concatenate(parts)


def num_label_issues(labels, pred_probs, *, confident_joint=None,
                     estimation_method="off_diagonal", multi_label=False, n_jobs=None,
                     chunk_size=None) -> int:
    """Estimate how many items are mislabelled.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities.
    confident_joint : ndarray of shape (K, K), optional
        Only used with ``estimation_method="off_diagonal_custom"``.
    estimation_method : {"off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom"}
        ``"off_diagonal"`` counts rows confidently counted off the diagonal,
        minus those whose given label is the model's top class;
        the other two use ``n * (1 - trace(joint))``.
    multi_label : bool, default False
        ``labels`` is a list of lists of class indices: the count is that of
        :func:`find_label_issues` with ``multi_label=True`` and
        ``filter_by="confident_learning"`` (``estimation_method`` is not used,
        as in cleanlab).
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    int
    """
    valid = ("off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom")
    if estimation_method not in valid:
        raise LabelAuditError(
            f"`estimation_method` must be one of {', '.join(valid)}, got {estimation_method!r}."
        )
    if confident_joint is not None and estimation_method != "off_diagonal_custom":
        warnings.warn(
            "The supplied `confident_joint` is ignored: it is recomputed from `labels` and "
            "`pred_probs`. Use estimation_method='off_diagonal_custom' to use yours.",
            LabelAuditWarning,
            stacklevel=2,
        )
    if multi_label:
        return int(np.sum(find_label_issues(
            labels, pred_probs, confident_joint=confident_joint, multi_label=True,
            filter_by="confident_learning", n_jobs=n_jobs, chunk_size=chunk_size)))
    if is_dask_array(pred_probs):
        return _dask.num_label_issues(labels, pred_probs, confident_joint=confident_joint,
                                      estimation_method=estimation_method)
    labels, pred_probs = prepare(labels, pred_probs)
    n = labels.shape[0]
    if estimation_method == "off_diagonal":
        return confident_joint_result(labels, pred_probs, n_jobs=n_jobs,
                                      chunk_size=chunk_size).num_issues
    if estimation_method == "off_diagonal_calibrated":
        cj = compute_confident_joint(labels, pred_probs, calibrate=True, n_jobs=n_jobs,
                                     chunk_size=chunk_size)
    else:
        if confident_joint is None:
            raise LabelAuditError(
                "`confident_joint` is required with estimation_method='off_diagonal_custom'."
            )
        cj = check_square(confident_joint, pred_probs.shape[1])
        row_pass(labels, pred_probs, n_jobs=n_jobs, chunk_size=chunk_size)  # validation only
    joint = estimate_joint(labels, None, confident_joint=cj)
    return int(np.rint((1.0 - joint.trace()) * n).astype(int))


def find_predicted_neq_given(labels, pred_probs, *, multi_label=False) -> np.ndarray:
    """Boolean mask of items whose argmax prediction differs from the given label.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices.
    pred_probs : ndarray of shape (n_samples, K)
        Predicted probabilities.
    multi_label : bool, default False
        ``labels`` is a list of lists of class indices: an item is marked when
        its prediction differs from its label in any class's one-vs-rest
        problem (as cleanlab).

    Returns
    -------
    ndarray of bool
    """
    if multi_label:
        from .count import _one_vs_rest

        marked = [find_predicted_neq_given(y, p) for y, p in _one_vs_rest(labels, pred_probs)]
        return np.any(np.column_stack(marked), axis=1) if marked else np.zeros(0, dtype=bool)
    labels, pred_probs = prepare(labels, pred_probs)
    row_pass(labels, pred_probs)
    return _argmax_differs(labels, pred_probs)

