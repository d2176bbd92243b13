"""Consensus labels: majority vote, Dawid-Skene, CROWDLAB, leave-one-out grading.

:data:`CONSENSUS` maps each ``consensus_method`` name to a :class:`ConsensusMethod`;
:func:`register_consensus` adds one. Dawid-Skene and leave-one-out grading run in the
compiled core's GIL-free ``ds_`` kernels; CROWDLAB delegates to cleanlab and is capped in
size because it needs a dense items x annotators matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from labelaudit._display import short_repr
from labelaudit._threads import effective_n_threads
from labelaudit.annotators.encode import EncodedAnnotations, label_counts
from labelaudit.exceptions import LabelAuditError

__all__ = [
    "CONSENSUS",
    "CROWDLAB_MAX_ANNOTATORS",
    "CROWDLAB_MAX_CELLS",
    "ConsensusInputs",
    "ConsensusMethod",
    "DawidSkeneResult",
    "MajorityVote",
    "crowdlab_consensus",
    "dawid_skene",
    "get_consensus",
    "leave_one_out_consensus",
    "majority_vote",
    "register_consensus",
]

#: Kernels this module needs from the compiled core.
_KERNEL_NAMES = ("ds_e_step", "ds_e_step_elbo", "ds_m_step", "ds_elbo",
                 "ds_leave_one_out_mode", "annotation_pairs")

#: CROWDLAB needs a dense items x annotators matrix; refuse beyond these sizes.
CROWDLAB_MAX_ANNOTATORS = 200
CROWDLAB_MAX_CELLS = 20_000_000


def _kernels() -> Any:
    """Return the compiled module that holds the ``ds_`` kernels.

    Returns
    -------
    module
        ``labelaudit._core``.

    Raises
    ------
    ImportError
        If the extension is not built or lacks the Dawid-Skene kernels.
    """
    import importlib

    try:
        _core = importlib.import_module("labelaudit._core")
    except ImportError as exc:
        raise ImportError(
            "labelaudit._core is not built: build the extension "
            "(pip install -e . or python setup.py build_ext --inplace) to use "
            "Dawid-Skene and leave-one-out grading"
        ) from exc
    missing = [name for name in _KERNEL_NAMES if not hasattr(_core, name)]
    if missing:
        raise ImportError(
            f"labelaudit._core lacks the Dawid-Skene kernels {missing}: rebuild the "
            "extension from a source tree whose _core.pyx includes _dawid_skene.pxi"
        )
    return _core


@dataclass(frozen=True)
class MajorityVote:
    """Majority-vote consensus.

    Attributes
    ----------
    labels : ndarray of shape (n_items,), dtype=intp
        Modal class; -1 for items without annotations.
    share : ndarray of shape (n_items,), dtype=float64
        Fraction of the item's annotations that agree with ``labels`` (NaN if none).
    tie : ndarray of shape (n_items,), dtype=bool
        True when several classes share the maximum count.
    n_annotations : ndarray of shape (n_items,), dtype=int64
        Annotations per item.
    """

    labels: np.ndarray
    share: np.ndarray
    tie: np.ndarray
    n_annotations: np.ndarray


def majority_vote(counts: np.ndarray, *, tie_break: np.ndarray | None = None) -> MajorityVote:
    """Majority vote per item with deterministic tie-breaking.

    Parameters
    ----------
    counts : ndarray of shape (n_items, n_classes)
        Label counts per item (see :func:`label_counts`).
    tie_break : ndarray of shape (n_items, n_classes), optional
        Scores used only among tied classes (for instance Dawid-Skene
        posteriors); the tied class with the highest score wins. Remaining
        ties, and all ties when omitted, go to the lowest class index.

    Returns
    -------
    MajorityVote
        Labels, agreement share, tie flags and annotation counts.
    """
    counts = np.asarray(counts)
    n = counts.sum(axis=1).astype(np.int64)
    top = counts.max(axis=1, initial=0)
    is_top = counts == top[:, None]
    tie = (is_top.sum(axis=1) > 1) & (n > 0)
    if tie_break is None:
        labels = np.argmax(is_top, axis=1).astype(np.intp)
    else:
        scores = np.where(is_top, np.asarray(tie_break, dtype=np.float64), -np.inf)
        labels = np.argmax(scores, axis=1).astype(np.intp)
    labels[n == 0] = -1
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, top / np.maximum(n, 1), np.nan)
    return MajorityVote(labels=labels, share=share, tie=tie, n_annotations=n)


@dataclass(frozen=True, repr=False)
class DawidSkeneResult:
    """Fitted Dawid-Skene model.

    Attributes
    ----------
    posterior : ndarray of shape (n_items, n_classes)
        Posterior class probabilities per item (the prior for unannotated items).
    labels : ndarray of shape (n_items,), dtype=intp
        Most probable class (lowest index on exact ties); -1 for unannotated items.
    priors : ndarray of shape (n_classes,)
        Estimated class priors.
    confusion : ndarray of shape (n_annotators, n_classes, n_classes)
        ``confusion[j, k, l]``: probability that annotator ``j`` answers ``l``
        when the true class is ``k``.
    log_likelihood : float
        Mean log marginal likelihood per annotation at the last E-step.
    history : tuple of float
        The quantity the stopping rule watched, after every iteration: the
        mean log marginal likelihood per annotation (``stopping="loglik"``)
        or the mean evidence lower bound per annotation (``"elbo"``).
    n_iter : int
        EM iterations run.
    converged : bool
        Whether the stopping rule was met before ``max_iter``.
    """

    posterior: np.ndarray
    labels: np.ndarray
    priors: np.ndarray
    confusion: np.ndarray
    log_likelihood: float
    history: tuple
    n_iter: int
    converged: bool

    def __repr__(self) -> str:
        return short_repr(self, {
            "n_items": int(self.posterior.shape[0]),
            "n_annotators": int(self.confusion.shape[0]),
            "n_classes": int(self.priors.shape[0]),
            "log_likelihood": float(self.log_likelihood),
            "n_iter": self.n_iter,
            "converged": self.converged,
        })

    @property
    def annotator_accuracy(self) -> np.ndarray:
        """Model accuracy of each annotator, ``sum_k prior_k * confusion[j, k, k]``."""
        diag = np.diagonal(self.confusion, axis1=1, axis2=2)
        return diag @ self.priors


#: Stopping rules of :func:`dawid_skene`.
DS_STOPPING = ("loglik", "elbo")
#: Supports of the confusion rows of :func:`dawid_skene`.
DS_SUPPORT = ("all", "given")


def dawid_skene(
    encoded: EncodedAnnotations,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
    smoothing: float = 0.0,
    stopping: str = "elbo",
    support: str = "all",
    n_jobs: int | None = None,
) -> DawidSkeneResult:
    """Fit the Dawid-Skene model by expectation-maximisation.

    The E- and M-steps run in compiled, GIL-free kernels over the long
    annotation arrays sorted by item; this function only drives the loop.

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.
    max_iter : int, default=100
        Maximum number of EM iterations (one E-step plus one M-step each).
    tol : float, default=1e-5
        Tolerance of the stopping rule. ``tol=0`` runs ``max_iter``
        iterations unless the watched quantity stops changing exactly
        (``"loglik"``) or stops rising (``"elbo"``).
    smoothing : float, default=0.0
        Pseudo-count added to every confusion-matrix cell before normalising,
        which keeps rare annotators' matrices away from 0 and 1. The default
        0 is plain maximum likelihood (counts are still floored at 1e-10). A
        small value such as 0.01 helps crowds where most annotators give a
        handful of answers, and costs accuracy on denser crowds (see the
        method page).
    stopping : {"loglik", "elbo"}, default="elbo"
        ``"loglik"``: stop when the mean log marginal likelihood per
        annotation (at the E-step) changes by less than ``tol``.
        ``"elbo"``: crowd-kit's rule, stop when the mean evidence lower bound
        per annotation (after the M-step; see the Notes) rises by less than
        ``tol``, a fall included. It is the default because the long tail
        of small likelihood gains after the ELBO levels off mostly fits
        noise. With
        ``support="given"`` (and the other defaults) the fit runs as many
        iterations as crowd-kit's ``DawidSkene()`` and gives its posteriors
        (to about 1e-8) and labels.
    support : {"all", "given"}, default="all"
        ``"all"`` (the default): every answer gets a floored share of each
        confusion row, so an answer an annotator has not given yet is
        unlikely, not impossible.
        ``"given"``: an annotator's confusion rows spread only over the
        answers that annotator gave at least once (the others get 0), as in
        crowd-kit.
    n_jobs : int, optional
        Threads for the kernels (None: all cores or ``OMP_NUM_THREADS``;
        -1: all cores). Results do not depend on it.

    Returns
    -------
    DawidSkeneResult
        Posteriors, labels, priors and confusion matrices.

    Notes
    -----
    Initialisation follows Dawid and Skene (1979) and crowd-kit: item
    posteriors start at the majority-vote shares, then an M-step estimates the
    first confusion matrices and priors. Memory is
    ``O(n_annotations + n_items * K + n_annotators * K * K)``.

    The evidence lower bound of iteration ``t`` pairs the E-step's
    posteriors ``q`` with the parameters of the M-step that follows:
    ``sum_a sum_k q[i_a, k] (log confusion[j_a, k, l_a] + log prior[k])``
    over annotations ``a``, plus the entropy of ``q`` (floored at 1e-10),
    divided by the number of annotations, as crowd-kit computes it.

    Examples
    --------
    >>> import polars as pl
    >>> from labelaudit.annotators import dawid_skene, encode_annotations
    >>> frame = pl.DataFrame({"item": [0, 0, 0, 1, 1, 1, 2, 2, 2],
    ...                       "annotator": ["a", "b", "c"] * 3,
    ...                       "label": ["x", "x", "y", "y", "y", "y", "x", "y", "x"]})
    >>> enc = encode_annotations(frame, item_col="item", annotator_col="annotator",
    ...                          label_col="label")
    >>> res = dawid_skene(enc)
    >>> res.labels.tolist()
    [0, 1, 0]
    """
    if not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise LabelAuditError(f"max_iter must be a positive integer; got {max_iter!r}")
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol >= 0):
        raise LabelAuditError(f"tol must be a finite number >= 0; got {tol!r}")
    if not (isinstance(smoothing, int | float) and math.isfinite(smoothing) and smoothing >= 0):
        raise LabelAuditError(f"smoothing must be a finite number >= 0; got {smoothing!r}")
    if stopping not in DS_STOPPING:
        raise LabelAuditError(
            f"stopping must be one of {', '.join(map(repr, DS_STOPPING))}; got {stopping!r}"
        )
    if support not in DS_SUPPORT:
        raise LabelAuditError(
            f"support must be one of {', '.join(map(repr, DS_SUPPORT))}; got {support!r}"
        )
    core = _kernels()
    threads = effective_n_threads(n_jobs)
    n_items, n_annotators, k = encoded.n_items, encoded.n_annotators, encoded.n_classes

    # Canonical order (item, then annotator): sums inside an item then do not
    # depend on the row order of the input table.
    item_order = np.argsort(encoded.item.astype(np.int64) * max(n_annotators, 1) + encoded.annotator)
    item_ptr = np.zeros(n_items + 1, dtype=np.intp)
    np.cumsum(np.bincount(encoded.item, minlength=n_items), out=item_ptr[1:])
    item_annotator = np.ascontiguousarray(encoded.annotator[item_order])
    item_label = np.ascontiguousarray(encoded.label[item_order])

    counts = label_counts(encoded).astype(np.float64)
    n = counts.sum(axis=1, keepdims=True)
    posterior = np.divide(counts, n, out=np.full_like(counts, 1.0 / k), where=n > 0)
    confusion = np.empty((n_annotators, k, k))
    log_confusion_t = np.empty_like(confusion)
    priors = np.empty(k)
    log_priors = np.empty(k)
    item_loglik = np.empty(n_items)
    csr = (item_ptr, item_annotator, item_label)
    given = None
    if support == "given":
        given = np.zeros((n_annotators, k), dtype=np.uint8)
        given[encoded.annotator, encoded.label] = 1
    core.ds_m_step(*csr, posterior, float(smoothing), confusion, log_confusion_t,
                   priors, log_priors, threads, given)

    history: list[float] = []
    converged = False
    previous = -math.inf
    n_ann = max(encoded.n_annotations, 1)
    # Iteration t: E-step (posteriors q_t), M-step (parameters theta_t), then the stopping
    # test. The ELBO of t pairs q_t with theta_t, which is what the E-step of t + 1 reads:
    # that E-step adds the bound up in the same pass, into a second posterior buffer, and
    # when the test stops at t its posteriors are simply not used.
    spare = np.empty_like(posterior) if stopping == "elbo" and max_iter > 1 else None
    item_elbo = np.empty(n_items) if spare is not None else None
    total = core.ds_e_step(*csr, log_confusion_t, log_priors, posterior, item_loglik, threads)
    for t in range(1, int(max_iter) + 1):
        core.ds_m_step(*csr, posterior, float(smoothing), confusion, log_confusion_t,
                       priors, log_priors, threads, given)
        loglik = total / n_ann
        if stopping == "elbo":
            if t < max_iter:
                total, bound = core.ds_e_step_elbo(*csr, log_confusion_t, log_priors, posterior,
                                                   spare, item_loglik, item_elbo, threads)
            else:  # no next E-step: the bound on its own
                bound = core.ds_elbo(*csr, log_confusion_t, log_priors, posterior,
                                     item_loglik, threads)
            current = bound / n_ann
            done = current - previous < tol
        else:
            current = loglik
            done = abs(current - previous) < tol
        history.append(current)
        if done:
            converged = True
            break
        previous = current
        if t == max_iter:
            break
        if stopping == "elbo":
            posterior, spare = spare, posterior
        else:
            total = core.ds_e_step(*csr, log_confusion_t, log_priors, posterior, item_loglik,
                                   threads)

    labels = np.argmax(posterior, axis=1).astype(np.intp)
    labels[n[:, 0] == 0] = -1
    return DawidSkeneResult(
        posterior=posterior,
        labels=labels,
        priors=priors.copy(),
        confusion=confusion,
        log_likelihood=loglik,
        history=tuple(history),
        n_iter=len(history),
        converged=converged,
    )


def crowdlab_consensus(
    encoded: EncodedAnnotations,
    pred_probs: np.ndarray,
    *,
    max_annotators: int = CROWDLAB_MAX_ANNOTATORS,
    max_cells: int = CROWDLAB_MAX_CELLS,
) -> pl.DataFrame:
    """CROWDLAB consensus and label quality via cleanlab.

    Calls ``cleanlab.multiannotator.get_label_quality_multiannotator``, which
    needs a dense items x annotators matrix; it is therefore refused above
    ``max_annotators`` annotators or ``max_cells`` matrix cells.

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.
    pred_probs : ndarray of shape (n_items, n_classes)
        Out-of-sample model probabilities, rows aligned with ``encoded.item_ids``.
    max_annotators : int, default=200
        Largest number of annotators accepted.
    max_cells : int, default=20_000_000
        Largest ``n_items * n_annotators`` accepted.

    Returns
    -------
    polars.DataFrame
        One row per annotated item: the item id column, ``crowdlab_label``
        (int), ``crowdlab_quality`` (consensus quality score) and
        ``crowdlab_agreement`` (annotator agreement with the consensus).

    Raises
    ------
    LabelAuditError
        If the matrix would be too large, ``pred_probs`` has the wrong shape,
        or cleanlab is not installed.
    """
    probs = _check_pred_probs(pred_probs, encoded)
    m = encoded.n_annotators
    annotated = np.flatnonzero(np.bincount(encoded.item, minlength=encoded.n_items) > 0)
    if m > max_annotators or annotated.size * m > max_cells:
        raise LabelAuditError(
            f"crowdlab_consensus builds a dense items x annotators matrix and allows at most "
            f"{max_annotators} annotators and {max_cells} cells; got {m} annotators x "
            f"{annotated.size} items"
        )
    try:
        from cleanlab.multiannotator import get_label_quality_multiannotator
    except ImportError as exc:  # pragma: no cover - cleanlab is a test dependency
        raise LabelAuditError("crowdlab_consensus requires cleanlab (pip install cleanlab)") from exc
    row_of = np.full(encoded.n_items, -1, dtype=np.intp)
    row_of[annotated] = np.arange(annotated.size)
    wide = np.full((annotated.size, m), np.nan)
    wide[row_of[encoded.item], encoded.annotator] = encoded.label
    try:
        out = get_label_quality_multiannotator(
            wide, probs[annotated], verbose=False, return_detailed_quality=False,
            return_annotator_stats=False,
        )
    except ValueError as exc:
        raise LabelAuditError(f"crowdlab_consensus: cleanlab rejected the input: {exc}") from exc
    quality = out["label_quality"]
    return pl.DataFrame({
        encoded.item_col: encoded.item_ids.gather(annotated),
        "crowdlab_label": quality["consensus_label"].to_numpy().astype(np.int64),
        "crowdlab_quality": quality["consensus_quality_score"].to_numpy().astype(np.float64),
        "crowdlab_agreement": quality["annotator_agreement"].to_numpy().astype(np.float64),
    })


def _check_pred_probs(pred_probs: Any, encoded: EncodedAnnotations) -> np.ndarray:
    probs = np.asarray(pred_probs)
    if probs.ndim != 2 or probs.shape != (encoded.n_items, encoded.n_classes):
        raise LabelAuditError(
            f"pred_probs must have shape (n_items, n_classes) = "
            f"({encoded.n_items}, {encoded.n_classes}) aligned with item_ids; got {probs.shape}"
        )
    if probs.dtype.kind != "f" or not np.isfinite(probs).all():
        raise LabelAuditError(f"pred_probs must be finite floats; got dtype {probs.dtype}")
    return probs




def leave_one_out_consensus(
    encoded: EncodedAnnotations,
    *,
    counts: np.ndarray | None = None,
    n_jobs: int | None = None,
) -> pl.DataFrame:
    """Grade every annotation against the majority of the *other* annotators.

    The annotation's own label is removed from its item's counts before the
    mode is taken, so an annotator never votes on its own grade. An
    annotation is *graded* when at least one other annotator labelled the
    item and the others' mode is unique; otherwise it is left ungraded
    (a tie among the others cannot be broken without bias).

    Parameters
    ----------
    encoded : EncodedAnnotations
        Encoded annotations.
    counts : ndarray, optional
        Precomputed :func:`label_counts`.
    n_jobs : int, optional
        Threads for the kernel; results do not depend on it.

    Returns
    -------
    polars.DataFrame
        One row per annotation in input order: ``item`` and ``annotator``
        (integer codes), ``label``, ``loo_label`` (-1 if nobody else labelled
        the item), ``n_others``, ``loo_tie``, ``graded``, ``correct``.
    """
    core = _kernels()
    if counts is None:
        counts = label_counts(encoded)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    n = encoded.n_annotations
    loo = np.empty(n, dtype=np.intp)
    n_others = np.empty(n, dtype=np.int64)
    tie = np.empty(n, dtype=np.uint8)
    core.ds_leave_one_out_mode(encoded.item, encoded.label, counts, loo, n_others, tie,
                               effective_n_threads(n_jobs))
    graded = (n_others > 0) & (tie == 0)
    return pl.DataFrame({
        "item": encoded.item.astype(np.int64),
        "annotator": encoded.annotator.astype(np.int64),
        "label": encoded.label.astype(np.int64),
        "loo_label": loo.astype(np.int64),
        "n_others": n_others,
        "loo_tie": tie.astype(bool),
        "graded": graded,
        "correct": graded & (encoded.label == loo),
    })


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsensusInputs:
    """What a consensus method may read: everything one review fitted before choosing.

    Attributes
    ----------
    encoded : EncodedAnnotations
        The encoded annotations.
    counts : ndarray of shape (n_items, n_classes)
        Label counts per item (:func:`~labelaudit.annotators.encode.label_counts`).
    majority : MajorityVote
        Majority vote, ties broken by the Dawid-Skene posterior.
    dawid_skene : DawidSkeneResult
        The fitted Dawid-Skene model.
    table : polars.DataFrame
        The consensus table so far, one row per item of ``encoded.item_ids``: the item id,
        ``n_annotations``, ``single_annotation``, ``majority_label``, ``majority_share``,
        ``tie``, ``ds_label``, ``ds_posterior`` and, when CROWDLAB ran,
        ``crowdlab_label`` and ``crowdlab_quality`` (null for unannotated items).
    pred_probs : ndarray or None
        Model probabilities aligned with the items, when given.
    """

    encoded: EncodedAnnotations
    counts: np.ndarray
    majority: MajorityVote
    dawid_skene: DawidSkeneResult
    table: pl.DataFrame
    pred_probs: np.ndarray | None


#: A consensus method returns ``(labels, quality)`` per item: class codes (null or -1 for
#: no consensus) and a quality score in [0, 1], each a polars Series or a 1-D array.
ConsensusFunction = Callable[[ConsensusInputs], tuple[Any, Any]]


@dataclass(frozen=True)
class ConsensusMethod:
    """One entry of :data:`CONSENSUS`.

    Attributes
    ----------
    name : str
        Value of ``consensus_method`` (and of the CLI's ``--consensus``) that selects it.
    compute : callable
        ``compute(inputs: ConsensusInputs) -> (labels, quality)``.
    needs_pred_probs : bool
        Whether the method needs model probabilities.
    description : str
        One line for documentation and help texts.
    """

    name: str
    compute: ConsensusFunction
    needs_pred_probs: bool = False
    description: str = ""


#: Consensus methods by name. Adding one is one :func:`register_consensus` call.
CONSENSUS: dict[str, ConsensusMethod] = {}


def register_consensus(
    name: str, *, needs_pred_probs: bool = False, description: str = ""
) -> Callable[[ConsensusFunction], ConsensusFunction]:
    """Register a consensus method under ``name`` (a decorator).

    Parameters
    ----------
    name : str
        Name passed as ``consensus_method`` (``--consensus`` on the command line).
    needs_pred_probs : bool, default False
        Refuse the method when no model probabilities are given.
    description : str, optional
        One line describing the method.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> @register_consensus("first_class", description="always class 0 (a toy)")
    ... def _first_class(inputs):
    ...     n = inputs.encoded.n_items
    ...     return np.zeros(n, dtype=np.int64), np.ones(n)
    >>> "first_class" in CONSENSUS
    True
    >>> del CONSENSUS["first_class"]
    """
    if not isinstance(name, str) or not name:
        raise LabelAuditError(f"consensus method name must be a non-empty string; got {name!r}")

    def decorator(func: ConsensusFunction) -> ConsensusFunction:
        CONSENSUS[name] = ConsensusMethod(name, func, needs_pred_probs, description)
        return func

    return decorator


def get_consensus(name: str) -> ConsensusMethod:
    """The registered consensus method called ``name``.

    Raises
    ------
    LabelAuditError
        If no method of that name is registered; the message lists the registered ones.
    """
    try:
        return CONSENSUS[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(k) for k in CONSENSUS)
        raise LabelAuditError(f"consensus_method must be one of {known}; got {name!r}") from None


@register_consensus("dawid_skene", description="Dawid-Skene EM posterior mode")
def _dawid_skene_consensus(inputs: ConsensusInputs) -> tuple[Any, Any]:
    return inputs.table["ds_label"], inputs.table["ds_posterior"]


@register_consensus("majority", description="majority vote, ties by the Dawid-Skene posterior")
def _majority_consensus(inputs: ConsensusInputs) -> tuple[Any, Any]:
    return inputs.table["majority_label"], inputs.table["majority_share"]


@register_consensus("crowdlab", needs_pred_probs=True,
                    description="CROWDLAB (cleanlab): annotators weighted with the model")
def _crowdlab_consensus(inputs: ConsensusInputs) -> tuple[Any, Any]:
    if "crowdlab_label" not in inputs.table.columns:
        m, n = inputs.encoded.n_annotators, inputs.encoded.n_items
        raise LabelAuditError(
            f"consensus_method='crowdlab' allows at most {CROWDLAB_MAX_ANNOTATORS} annotators "
            f"and {CROWDLAB_MAX_CELLS} items x annotators cells; got {m} annotators x "
            f"{n} items"
        )
    return inputs.table["crowdlab_label"], inputs.table["crowdlab_quality"]
