"""Cross-validation plumbing shared by the confident-learning core and :mod:`labelaudit.oof`.

Model-free fold machinery: turning features into row-indexable form, fitting
one fold (with cleanlab's rule for classes missing from a training fold) and
:func:`cross_val_pred_probs`, cleanlab's exact fold procedure, which
:func:`labelaudit.estimate_noise_matrices` needs. It sits below the
confident-learning package so that the core never imports the out-of-fold
pipeline that itself calls the core. scikit-learn is imported inside the
functions only.

Classes too rare to appear in every training fold follow cleanlab's rule: one
holdout row of the missing class is copied into the training fold, and that
row's own prediction is replaced by a one-hot vector on its given label,
since the model saw it.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._validation import check_labels
from .exceptions import LabelAuditError

__all__ = ["cross_val_pred_probs"]


def _as_features(X: Any) -> Any:
    """Return features in a form that supports row indexing.

    polars DataFrames become NumPy arrays; pandas objects and SciPy sparse
    matrices are kept; everything else goes through :func:`numpy.asarray`.
    """
    if hasattr(X, "iloc") or hasattr(X, "tocsr"):
        return X
    if hasattr(X, "to_numpy") and hasattr(X, "columns"):  # polars (or similar) frame
        return X.to_numpy()
    return np.asarray(X)


def _n_rows(X: Any) -> int:
    return int(X.shape[0])


def _take(X: Any, rows: np.ndarray) -> Any:
    """Rows ``rows`` of ``X`` (pandas by position, arrays and sparse by index)."""
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    return X[rows]


def _append_row(X_train: Any, X_holdout: Any, index: int) -> Any:
    """``X_train`` with row ``index`` of ``X_holdout`` appended at the end."""
    if hasattr(X_train, "iloc"):
        import pandas as pd

        return pd.concat([X_train, X_holdout.iloc[[index]]])
    if hasattr(X_train, "tocsr"):
        import scipy.sparse as sp

        return sp.vstack([X_train, X_holdout[[index]]], format=X_train.format)
    return np.concatenate([X_train, X_holdout[index : index + 1]], axis=0)


def _check_labels(labels: Any, n_rows: int, n_classes: int | None) -> tuple[np.ndarray, int]:
    """Return labels as ``intp`` codes and the number of classes."""
    if n_classes is not None and (
        isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral)
    ):
        raise LabelAuditError(f"`n_classes` must be an integer, got {n_classes!r}.")
    k = None if n_classes is None else int(n_classes)
    codes = check_labels(labels, n_rows, k, rows_of="X", classes_from=f"n_classes={k}")
    if codes.size == 0:
        raise LabelAuditError("`labels` is empty; need at least two labeled rows.")
    k = int(codes.max()) + 1 if k is None else k
    if k < 2:
        raise LabelAuditError(f"need at least 2 classes, got {k}.")
    return codes, k


def _predict_columns(model: Any, X_holdout: Any, n_classes: int) -> np.ndarray:
    """``predict_proba`` with its columns placed by ``model.classes_``.

    A class the fitted model never saw gets probability 0.
    """
    proba = np.asarray(model.predict_proba(X_holdout), dtype=np.float64)
    classes = getattr(model, "classes_", None)
    if classes is None:
        if proba.shape[1] != n_classes:
            raise LabelAuditError(
                f"model.predict_proba returned {proba.shape[1]} columns for {n_classes} classes "
                "and the model has no `classes_` attribute to place them."
            )
        return proba
    classes = np.asarray(classes)
    if proba.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        return proba
    out = np.zeros((proba.shape[0], n_classes), dtype=np.float64)
    out[:, classes.astype(np.intp)] = proba
    return out


def _fit_predict_fold(
    clf: Any,
    X: Any,
    labels: np.ndarray,
    train_idx: np.ndarray,
    holdout_idx: np.ndarray,
    n_classes: int,
    fit_kwargs: Mapping[str, Any],
    validation_func: Callable[[Any, Any], Mapping[str, Any]] | None,
) -> np.ndarray:
    """Fit a fresh copy of ``clf`` on one training fold; return holdout probabilities.

    Classes present in the data but absent from the training fold each get
    one holdout row copied into training (the first such row); the copied
    row's prediction is then replaced by a one-hot vector on its label.
    """
    from sklearn.base import clone

    model = clone(clf)
    X_train, X_hold = _take(X, train_idx), _take(X, holdout_idx)
    y_train, y_hold = labels[train_idx], labels[holdout_idx]
    present = np.unique(labels)
    missing = np.setdiff1d(present, np.unique(y_train))
    copied: dict[int, int] = {}
    for cls in missing.tolist():
        row = int(np.flatnonzero(y_hold == cls)[0])
        y_train = np.append(y_train, y_hold[row])
        X_train = _append_row(X_train, X_hold, row)
        copied[cls] = row
    extra = {} if validation_func is None else dict(validation_func(X_hold, y_hold))
    with warnings.catch_warnings():
        # scikit-learn 1.9 deprecates SVC(probability=True); default_model() switches to
        # the replacement on versions that removed it, so the notice is not actionable.
        warnings.filterwarnings("ignore", message="The `probability` parameter", category=FutureWarning)
        model.fit(X_train, y_train, **fit_kwargs, **extra)
    proba = _predict_columns(model, X_hold, n_classes)
    for cls, row in copied.items():
        proba[row] = 0.0
        proba[row, cls] = 1.0
    return proba


def cross_val_pred_probs(
    X: Any,
    labels: Any,
    *,
    clf: Any = None,
    cv_n_folds: int = 5,
    seed: int | None = None,
    clf_kwargs: Mapping[str, Any] | None = None,
    validation_func: Callable[[Any, Any], Mapping[str, Any]] | None = None,
) -> np.ndarray:
    """Out-of-fold probabilities by cleanlab's exact fold procedure.

    ``StratifiedKFold(cv_n_folds, shuffle=True, random_state=seed)`` is split
    on the labels; for each fold a fresh ``sklearn.base.clone(clf)`` is fit on
    the training rows (with cleanlab's rule for classes missing from the
    training fold, see the module notes) and predicts the holdout rows. Given
    the same classifier and seed, the result equals the probabilities of
    ``cleanlab.count.estimate_confident_joint_and_cv_pred_proba``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features: NumPy array, SciPy sparse matrix, pandas or polars frame.
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``; every class should occur.
    clf : scikit-learn classifier, optional
        Cloned for each fold. Default ``LogisticRegression(solver="lbfgs")``
        (cleanlab's default).
    cv_n_folds : int, default 5
        Number of folds.
    seed : int, optional
        Seed of the fold shuffling.
    clf_kwargs : dict, optional
        Extra keyword arguments to ``clf.fit``.
    validation_func : callable, optional
        ``validation_func(X_holdout, y_holdout)`` returning extra ``fit``
        keyword arguments (for example an early-stopping set).

    Returns
    -------
    numpy.ndarray of shape (n_samples, K), dtype float64
        Out-of-fold predicted probabilities, ``K = max(labels) + 1``.

    Raises
    ------
    LabelAuditError
        On labels that are not class indices, or a bad ``validation_func``.

    See Also
    --------
    out_of_fold_probabilities : labelaudit's default path (faster default model,
        per-fold confident joints, progress reporting).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    X = _as_features(X)
    codes, k = _check_labels(labels, _n_rows(X), None)
    if validation_func is not None and not callable(validation_func):
        raise LabelAuditError("`validation_func` must be callable as validation_func(X_val, y_val).")
    clf = LogisticRegression(solver="lbfgs") if clf is None else clf
    fit_kwargs = dict(clf_kwargs or {})
    folds = StratifiedKFold(n_splits=cv_n_folds, shuffle=True, random_state=seed)
    pred_probs = np.zeros((codes.shape[0], k), dtype=np.float64)
    for train_idx, holdout_idx in folds.split(X=codes, y=codes):
        pred_probs[holdout_idx] = _fit_predict_fold(
            clf, X, codes, train_idx, holdout_idx, k, fit_kwargs, validation_func
        )
    return pred_probs
