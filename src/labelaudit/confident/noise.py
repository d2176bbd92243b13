"""Noise matrices, the latent prior and the uncertainty of the noise rate.

cleanlab's ``estimate_joint``, ``estimate_latent``,
``estimate_py_and_noise_matrices_from_probabilities`` and
``estimate_noise_matrices`` (features in, cross-validated probabilities
inside), plus labelaudit's bootstrap intervals on the noise rate
(:func:`noise_rate_intervals`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import check_labels
from ..exceptions import LabelAuditError
from . import _dask
from ._joint import ConfidentJoint
from ._latent import estimate_latent as _estimate_latent
from ._passes import check_square, class_counts, is_dask_array, prepare
from .count import calibrate_confident_joint, compute_confident_joint, confident_joint_result

__all__ = [
    "NoiseEstimate",
    "estimate_joint",
    "estimate_latent",
    "estimate_noise_matrices",
    "estimate_py_and_noise_matrices_from_probabilities",
    "noise_from_joint",
    "noise_rate_intervals",
]


def estimate_joint(labels, pred_probs, *, confident_joint=None, multi_label=False,
                   n_jobs=None) -> np.ndarray:
    """Estimate ``p(given label, true label)`` as a K x K matrix summing to 1.

    Parameters
    ----------
    labels : array-like of shape (n_samples,) or None
        Given labels. With ``confident_joint`` given and ``labels`` not None the
        joint is calibrated to the labels first (as in cleanlab).
    pred_probs : ndarray of shape (n_samples, K)
        Predicted probabilities (unused when ``confident_joint`` is given).
    confident_joint : ndarray of shape (K, K), optional
        Precomputed confident joint.
    multi_label : bool, default False
        ``labels`` is a list of lists of class indices: each class's
        one-vs-rest joint, shape (K, 2, 2), from ``confident_joint`` (shape
        (K, 2, 2)) or computed (as cleanlab, a given joint is calibrated per
        class, not first as a whole).
    n_jobs : int, optional
        Threads.

    Returns
    -------
    ndarray of shape (K, K), float64
        With ``multi_label``, shape (K, 2, 2).
    """
    if multi_label:
        from .count import _one_vs_rest

        joint = (compute_confident_joint(labels, pred_probs, calibrate=True, multi_label=True,
                                         n_jobs=n_jobs)
                 if confident_joint is None else np.asarray(confident_joint))
        return np.stack([estimate_joint(y, p, confident_joint=joint[k], n_jobs=n_jobs)
                         for k, (y, p) in enumerate(_one_vs_rest(labels, pred_probs))])
    if confident_joint is None:
        cal = compute_confident_joint(labels, pred_probs, calibrate=True, n_jobs=n_jobs)
    elif labels is not None:
        cal = calibrate_confident_joint(confident_joint, labels)
    else:
        cal = check_square(confident_joint)
    return cal / np.clip(float(np.sum(cal)), a_min=1e-100, a_max=None)


def estimate_latent(confident_joint, labels, *, py_method="cnt",
                    converge_latent_estimates=False):
    """Estimate the prior and noise matrices from a confident joint.

    Parameters
    ----------
    confident_joint : ndarray of shape (K, K)
        Confident joint (rows: given label).
    labels : array-like of shape (n_samples,)
        Given labels as class indices.
    py_method : {"cnt", "eqn", "marginal", "marginal_ps"}
        How to estimate the prior.
    converge_latent_estimates : bool, default False
        Iterate the estimates into algebraic agreement.

    Returns
    -------
    py : ndarray of shape (K,)
    noise_matrix : ndarray of shape (K, K)
        ``p(given = i | true = j)``; columns sum to 1.
    inverse_noise_matrix : ndarray of shape (K, K)
        ``p(true = i | given = j)``; columns sum to 1.
    """
    cj = check_square(confident_joint)
    labels = check_labels(labels, len(np.asarray(labels)), cj.shape[0])
    return _estimate_latent(cj, class_counts(labels, cj.shape[0]), py_method=py_method,
                            converge_latent_estimates=converge_latent_estimates)


def estimate_py_and_noise_matrices_from_probabilities(
    labels, pred_probs, *, thresholds=None, converge_latent_estimates=True, py_method="cnt",
    calibrate=True, n_jobs=None,
):
    """Estimate the prior, noise matrix, inverse noise matrix and confident joint.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities.
    thresholds : array-like of shape (K,), optional
        Per-class thresholds.
    converge_latent_estimates : bool, default True
        Iterate the estimates into algebraic agreement.
    py_method : {"cnt", "eqn", "marginal", "marginal_ps"}
        How to estimate the prior.
    calibrate : bool, default True
        Calibrate the confident joint.
    n_jobs : int, optional
        Threads.

    Returns
    -------
    py, noise_matrix, inverse_noise_matrix, confident_joint
    """
    if is_dask_array(pred_probs):
        return _dask.estimate_py_and_noise_matrices_from_probabilities(
            labels, pred_probs, thresholds=thresholds,
            converge_latent_estimates=converge_latent_estimates, py_method=py_method,
            calibrate=calibrate)
    labels, pred_probs = prepare(labels, pred_probs)
    cj = compute_confident_joint(labels, pred_probs, thresholds=thresholds, calibrate=calibrate,
                                 n_jobs=n_jobs)
    py, nm, inv = _estimate_latent(cj, class_counts(labels, pred_probs.shape[1]),
                                   py_method=py_method,
                                   converge_latent_estimates=converge_latent_estimates)
    return py, nm, inv, cj


def estimate_noise_matrices(X, labels, clf=None, *, cv_n_folds=5, thresholds=None,
                            converge_latent_estimates=True, seed=None, clf_kwargs=None,
                            validation_func=None):
    """Estimate the noise matrices from features with cross-validated probabilities.

    The probabilities come from :func:`labelaudit.oof.cross_val_pred_probs`
    (stratified, shuffled folds seeded by ``seed``; a logistic regression by
    default), then the confident joint is computed from them.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features.
    labels : array-like of shape (n_samples,)
        Given labels as class indices; every class must be present.
    clf : scikit-learn classifier, optional
        Cloned for each fold; default ``LogisticRegression(solver="lbfgs")``.
    cv_n_folds : int, default 5
        Number of folds.
    thresholds : array-like of shape (K,), optional
        Per-class thresholds.
    converge_latent_estimates : bool, default True
        Iterate the estimates into algebraic agreement.
    seed : int, optional
        Seed of the fold shuffling.
    clf_kwargs : dict, optional
        Extra arguments to ``clf.fit``.
    validation_func : callable, optional
        ``validation_func(X_holdout, y_holdout)`` returning extra ``fit`` arguments.

    Returns
    -------
    noise_matrix, inverse_noise_matrix : ndarray of shape (K, K)
    """
    from .._crossval import cross_val_pred_probs  # scikit-learn loads only here

    labels_arr = np.asarray(labels)
    pred_probs = cross_val_pred_probs(X, labels_arr, clf=clf, cv_n_folds=cv_n_folds, seed=seed,
                                      clf_kwargs=clf_kwargs, validation_func=validation_func)
    cj = compute_confident_joint(labels_arr, pred_probs, thresholds=thresholds, calibrate=True)
    labels_i = check_labels(labels_arr, pred_probs.shape[0], pred_probs.shape[1])
    _, nm, inv = _estimate_latent(cj, class_counts(labels_i, pred_probs.shape[1]),
                                  py_method="cnt",
                                  converge_latent_estimates=converge_latent_estimates)
    return nm, inv



@dataclass(frozen=True)
class NoiseEstimate:
    """Estimated label-noise rates with bootstrap intervals.

    Attributes
    ----------
    noise_rate : float
        ``1 - trace(joint)`` of the calibrated confident joint: the estimated
        share of items whose given label is wrong.
    ci_low, ci_high : float
        Percentile bootstrap interval of ``noise_rate`` at ``confidence``.
    class_noise_rates : ndarray of shape (K,)
        Per given class ``k``: estimated share of items labelled ``k`` whose
        true label is another class (``1 - C[k, k] / sum_j C[k, j]``).
    class_ci_low, class_ci_high : ndarray of shape (K,)
        Their bootstrap intervals (NaN for classes nobody is labelled with).
    confidence : float
        Coverage of the intervals.
    n_bootstrap : int
        Number of replicates.
    seed : int
        Seed of the replicates.
    confident_joint : ConfidentJoint
        The statistics the estimate came from.
    """

    noise_rate: float
    ci_low: float
    ci_high: float
    class_noise_rates: np.ndarray
    class_ci_low: np.ndarray
    class_ci_high: np.ndarray
    confidence: float
    n_bootstrap: int
    seed: int
    confident_joint: ConfidentJoint


def _noise_from_cells(diag, row_total, label_total):
    """Noise rates from per-class cell counts (works on stacked replicates).

    Calibration scales row k of the confident joint to ``n_k`` items, so the
    diagonal share of the joint is ``sum_k n_k * C_kk / C_k. / n``; rounding to
    integers is left out, which moves the rate by less than ``K / n``.
    """
    diag = np.maximum(diag, 1.0)  # the diagonal is floored at 1, as in the point estimate
    rows = np.maximum(row_total, diag)
    keep = diag / rows
    n = label_total.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = 1.0 - (label_total * keep).sum(axis=-1) / n
        per_class = np.where(label_total > 0, 1.0 - keep, np.nan)
    return overall, per_class


def noise_rate_intervals(labels, pred_probs, *, n_bootstrap: int = 1000, confidence: float = 0.95,
                         seed: int = 0, thresholds=None, n_jobs=None,
                         chunk_size=None, _validated=False) -> NoiseEstimate:
    """Estimate the noise rate and per-class noise rates with bootstrap intervals.

    One kernel pass classifies every item as (given class k, category) with
    category "not confidently counted", "counted on the diagonal" or "counted
    off the diagonal". The noise estimate depends on the data only through
    these 3K cell counts, so a Poisson bootstrap of the items (each item drawn
    ``Poisson(1)`` times) is exactly a draw of each cell count from
    ``Poisson(count)``: thousands of replicates cost a few milliseconds, with
    no second pass over the probabilities. Thresholds are held at their
    full-data values (they average thousands of items; their own spread is
    small next to the counts').

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    pred_probs : ndarray of shape (n_samples, K)
        Out-of-sample predicted probabilities.
    n_bootstrap : int, default 1000
        Number of bootstrap replicates.
    confidence : float, default 0.95
        Coverage of the percentile intervals.
    seed : int, default 0
        Seed of the replicates; the same seed gives the same intervals.
    thresholds : array-like of shape (K,), optional
        Per-class thresholds.
    n_jobs, chunk_size : int, optional
        Threads and rows per work unit; results do not depend on them.

    Returns
    -------
    NoiseEstimate
    """
    _check_bootstrap(n_bootstrap, confidence)
    cj = confident_joint_result(labels, pred_probs, thresholds=thresholds, n_jobs=n_jobs,
                                chunk_size=chunk_size, _validated=_validated)
    return noise_from_joint(cj, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)


def _check_bootstrap(n_bootstrap, confidence) -> None:
    if not (0.0 < confidence < 1.0):
        raise LabelAuditError(f"`confidence` must be in (0, 1), got {confidence!r}.")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 10:
        raise LabelAuditError(f"`n_bootstrap` must be an integer >= 10, got {n_bootstrap!r}.")


def noise_from_joint(cj: ConfidentJoint, *, n_bootstrap: int = 1000, confidence: float = 0.95,
                     seed: int = 0) -> NoiseEstimate:
    """The noise estimate of :func:`noise_rate_intervals` from a computed confident joint.

    Parameters
    ----------
    cj : ConfidentJoint
        From :func:`confident_joint_result` (or its chunked equivalent).
    n_bootstrap, confidence, seed
        As in :func:`noise_rate_intervals`.

    Returns
    -------
    NoiseEstimate
    """
    _check_bootstrap(n_bootstrap, confidence)
    k = cj.counts.shape[0]
    raw = cj.raw_counts
    diag_cells = np.diagonal(raw).astype(np.float64)
    offdiag_cells = raw.sum(axis=1) - np.diagonal(raw)
    counted = raw.sum(axis=1)
    # The floor to 1 may have added a phantom diagonal count; the cells hold real items only.
    real_diag = np.minimum(diag_cells, counted - offdiag_cells)
    uncounted = cj.label_counts - real_diag - offdiag_cells
    rng = np.random.default_rng(seed)
    shape = (n_bootstrap, k)
    d = rng.poisson(real_diag, size=shape).astype(np.float64)
    o = rng.poisson(offdiag_cells, size=shape).astype(np.float64)
    u = rng.poisson(np.maximum(uncounted, 0), size=shape).astype(np.float64)
    overall, per_class = _noise_from_cells(d, d + o, d + o + u)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.nanquantile(overall, [alpha, 1.0 - alpha])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: absent classes
        c_lo = np.nanquantile(per_class, alpha, axis=0)
        c_hi = np.nanquantile(per_class, 1.0 - alpha, axis=0)
    counts = cj.counts
    with np.errstate(invalid="ignore", divide="ignore"):
        class_rates = np.where(cj.label_counts > 0,
                               1.0 - np.diagonal(counts) / counts.sum(axis=1), np.nan)
    rate = cj.noise_rate
    return NoiseEstimate(
        noise_rate=rate,
        ci_low=float(min(lo, rate)),
        ci_high=float(max(hi, rate)),
        class_noise_rates=class_rates,
        class_ci_low=np.fmin(c_lo, class_rates),
        class_ci_high=np.fmax(c_hi, class_rates),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        seed=seed,
        confident_joint=cj,
    )
