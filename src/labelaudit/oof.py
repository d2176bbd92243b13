"""Out-of-fold predicted probabilities from features.

Confident learning needs probabilities that the model did not see the label
of: in-sample probabilities agree with the given labels, mislabeled rows
included. This module produces them by K-fold cross-validation with
scikit-learn.

:func:`cross_val_pred_probs`
    cleanlab's fold procedure, reproduced exactly (used by
    :func:`labelaudit.estimate_noise_matrices`).
:func:`out_of_fold_probabilities`
    The procedure labelaudit's audit uses: a fast, deterministic default
    model for tabular features, rare classes handled, optional parallel
    folds and a progress callback, and the confident joint of each fold kept
    so the spread of the noise estimate across folds can be reported. With
    the default model it makes a second pass ("prune and refit"): the rows
    that confident learning flags in the first pass are left out of every
    training fold, and the folds are fitted again on the cleaner labels.

Both share one rule for classes too rare to appear in every training fold
(cleanlab's): one holdout row of the missing class is copied into the
training fold, and that row's own prediction is replaced by a one-hot vector
on its given label, since the model saw it.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._crossval import (
    _as_features,
    _check_labels,
    _fit_predict_fold,
    _n_rows,
    _take,
    cross_val_pred_probs,
)
from ._display import short_repr
from ._threads import resolve_n_jobs
from .exceptions import LabelAuditError, LabelAuditWarning, SlowRunWarning

__all__ = [
    "MODELS",
    "ModelSpec",
    "ModelChoice",
    "OutOfFold",
    "candidate_models",
    "cross_val_pred_probs",
    "choose_model",
    "default_model",
    "default_model_seconds",
    "out_of_fold_probabilities",
    "prepare_features",
    "register_model",
    "select_model",
]

#: Largest number of rows for which the default model on numeric features is a
#: kernel SVM (its cost grows with the square of the rows); above it gradient-boosted
#: trees are used.
SVM_MAX_ROWS = 10_000

#: Inverse regularisation strength of the linear default model (sparse features): a
#: stronger penalty than scikit-learn's ``C=1`` gives less over-confident
#: probabilities on noisy labels.
LINEAR_C = 0.1

#: Most training rows a fold of the gradient-boosted default model is fitted on;
#: larger training folds are subsampled (stratified, seeded), so the cost of a
#: fit stops growing with the rows while every row is still predicted out of fold.
HGB_MAX_TRAIN_ROWS = 100_000

#: Most one-hot columns the linear discriminant model gives all categorical columns
#: together (the rarer levels of a column share one).
LDA_MAX_LEVEL_COLUMNS = 512

#: Rows of the pilot fit that chooses between several default models (a stratified,
#: seeded draw; small classes keep a few more); a quarter are held out to score them.
PILOT_ROWS = 20_000

#: Share of the pilot rows held out to score the candidate models.
PILOT_HOLDOUT = 0.25

#: Kinds of features :func:`feature_kind` reports.
FEATURE_KINDS = ("tabular", "mixed", "missing", "sparse")

ProgressCallback = Callable[[int, int], None]

#: Estimated fitting time (seconds, one core) above which the default model warns
#: before it starts.
SLOW_FIT_SECONDS = 60.0
#: Most rare classes named in a warning (the summary lists them all).
_NAMED_CLASSES = 5


def default_model_seconds(n_rows: int, n_classes: int, n_splits: int, *,
                          refit: bool = True) -> float:
    """Rough fitting time (seconds on one core) of the default model over all folds.

    The kernel SVM (up to :data:`SVM_MAX_ROWS` rows) fits one classifier per
    pair of classes, each with its own probability calibration, and its
    ``predict_proba`` couples all pairs for every held-out row, so its cost
    grows with the square of the number of classes: about 0.1 ms per pair
    per fit plus 70 ns per held-out row and pair of classes (measured with
    scikit-learn 1.x on one core; a rough guide, not a promise). The linear
    model's cost grows with rows times classes.

    Parameters
    ----------
    n_rows, n_classes, n_splits : int
        Rows, classes and folds.
    refit : bool, default True
        Whether the second ("prune and refit") pass runs.

    Returns
    -------
    float

    Examples
    --------
    >>> default_model_seconds(2100, 2000, 3) > 1800  # half an hour or more
    True
    >>> default_model_seconds(1000, 3, 5) < 1
    True
    """
    fits = n_splits * (2 if refit else 1)
    k = max(int(n_classes), 2)
    held_out = n_rows / max(n_splits, 1)
    if n_rows <= SVM_MAX_ROWS:
        pairs = k * (k - 1) / 2
        per_fit = 1e-4 * pairs + 7e-8 * held_out * k * k + 2e-8 * n_rows * n_rows
    else:
        per_fit = 2e-7 * n_rows * k
    return fits * per_fit


def _check_cost_and_folds(counts: np.ndarray, n_splits: int, *, default: bool,
                          refit: bool) -> tuple[int, ...]:
    """Warn before a slow default fit; return the classes with fewer rows than folds (warned)."""
    rare = tuple(int(c) for c in np.flatnonzero((counts > 0) & (counts < n_splits)))
    if rare:
        named = ", ".join(map(str, rare[:_NAMED_CLASSES]))
        more = f" and {len(rare) - _NAMED_CLASSES:,} more" if len(rare) > _NAMED_CLASSES else ""
        warnings.warn(
            f"{len(rare):,} class(es) have fewer rows than the {n_splits} folds (class "
            f"indices {named}{more}; summary.json lists them under out_of_fold.rare_classes): "
            "one row of each is copied into training folds that lack the class and is "
            "predicted as its own label, so it cannot be flagged; lower the folds (cv, "
            "--cv) or add rows to audit them.",
            LabelAuditWarning,
            stacklevel=3,
        )
    if default:
        n_rows, k = int(counts.sum()), int(counts.shape[0])
        seconds = default_model_seconds(n_rows, k, n_splits, refit=refit)
        if seconds > SLOW_FIT_SECONDS:
            warnings.warn(
                f"the default model on {n_rows:,} rows and {k:,} classes may take about "
                f"{_duration(seconds)} ({n_splits * (2 if refit else 1)} fits, cost growing "
                "with the square of the classes); progress is shown per fit with an "
                "estimate of the time left. Pass probabilities (pred_probs, --pred-probs) "
                "or merge rare classes to go faster.",
                SlowRunWarning,
                stacklevel=3,
            )
    return rare


def _duration(seconds: float) -> str:
    """Seconds as people say them: '45 s', '12 min', '3.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class ModelSpec:
    """A default out-of-fold model and the data it is chosen for.

    Attributes
    ----------
    name : str
        Registry key.
    build : callable
        ``build() -> estimator``: a fresh, unfitted scikit-learn classifier
        with ``predict_proba``.
    applies : callable
        ``applies(n_samples, kind) -> bool``; ``n_samples`` may be None
        (unknown size) and ``kind`` is one of :data:`FEATURE_KINDS`.
    refit : bool
        Whether the audit's second pass (prune and refit) is made with this
        model by default.
    max_train_rows : int or None
        Training folds larger than this are subsampled (stratified, seeded).
    configure : callable or None
        ``configure(model, prepared) -> model``: tells a freshly built model
        about the data (for instance which columns are categorical, from
        :class:`PreparedFeatures`).
    suits : callable or None
        ``suits(prepared, class_counts) -> bool``: whether the model can be
        fitted on these features (:class:`PreparedFeatures`) and rows per
        class; a model that does not suit the data is no candidate.
    """

    name: str
    build: Callable[[], Any]
    applies: Callable[[int | None, str], bool]
    refit: bool = True
    max_train_rows: int | None = None
    configure: Callable[[Any, Any], Any] | None = None
    suits: Callable[[Any, np.ndarray], bool] | None = None


#: Default models in registration order. Every entry that applies to the data is a
#: candidate; with several, :func:`select_model` picks one by a pilot fit.
MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, build: Callable[[], Any], *,
                   applies: Callable[[int | None, str], bool], refit: bool = True,
                   max_train_rows: int | None = None,
                   configure: Callable[[Any, Any], Any] | None = None,
                   suits: Callable[[Any, np.ndarray], bool] | None = None) -> ModelSpec:
    """Register a default out-of-fold model (a candidate wherever ``applies`` holds).

    Parameters
    ----------
    name : str
        Registry key.
    build : callable
        ``build() -> estimator`` (scikit-learn imports belong inside it, so
        they load only when a model is needed).
    applies : callable
        ``applies(n_samples, kind) -> bool``.
    refit : bool, default True
        Make the prune-and-refit pass by default with this model.
    max_train_rows : int, optional
        Subsample training folds larger than this.
    configure : callable, optional
        ``configure(model, prepared) -> model``, called on every freshly
        built model with the :class:`PreparedFeatures`.
    suits : callable, optional
        ``suits(prepared, class_counts) -> bool``; when it returns False the
        model is no candidate for that data.

    Returns
    -------
    ModelSpec
    """
    if name in MODELS:
        raise LabelAuditError(f"model {name!r} is already registered.")
    spec = ModelSpec(name, build, applies, refit, max_train_rows, configure, suits)
    MODELS[name] = spec
    return spec


def _linear_model() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # with_mean=False keeps sparse matrices sparse.
    return make_pipeline(
        StandardScaler(with_mean=False),
        LogisticRegression(C=LINEAR_C, solver="lbfgs", max_iter=2000),
    )


def _hgb_model() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # Early stopping on a held-out tenth of each training fold keeps the number of
    # boosting rounds (and the over-confidence that more rounds bring on noisy
    # labels) as low as the data allows; a larger minimum leaf than scikit-learn's
    # 20 keeps single mislabeled rows from getting leaves of their own. The L2
    # penalty on leaf values bounds each Newton step where a class is separated
    # cleanly (its hessians near 0): without it, 50 separable classes diverged
    # after one round, and early stopping keeps the rounds that diverged.
    return HistGradientBoostingClassifier(
        learning_rate=0.2,
        max_iter=300,
        min_samples_leaf=40,
        l2_regularization=0.1,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=5,
    )


def _svm_model() -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if "probability" in SVC().get_params():
        # libsvm's Platt scaling with pairwise coupling: better-ranked probabilities for
        # confident learning than one-vs-rest calibration (measured on the benchmark).
        return make_pipeline(StandardScaler(), SVC(probability=True))
    # scikit-learn versions without SVC(probability=...): its documented replacement.
    from sklearn.calibration import CalibratedClassifierCV

    return make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(), ensemble=False))


def _lda_model() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    # The columns are set by _lda_columns once the categorical ones are known.
    columns = ColumnTransformer([("numeric", SimpleImputer(add_indicator=True), slice(None))])
    # Ledoit-Wolf shrinkage of the shared covariance: no tuning, and stable when
    # columns are collinear or one-hot levels are rare.
    return make_pipeline(columns, LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))


def _lda_columns(model: Any, prep: PreparedFeatures) -> Any:
    """One-hot levels of the categorical columns, mean-imputed numeric ones with indicators."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    n_cols = prep.X.shape[1]
    levels = list(prep.categorical)
    numeric = [j for j in range(n_cols) if j not in set(levels)]
    parts = []
    if levels:
        # A column's rarer levels share one indicator beyond its most frequent ones,
        # so identifier-like columns cannot blow up the (dense) design: at most
        # 32 indicators a column and LDA_MAX_LEVEL_COLUMNS in all.
        per_column = max(2, min(32, LDA_MAX_LEVEL_COLUMNS // len(levels)))
        parts.append(("levels", OneHotEncoder(handle_unknown="infrequent_if_exist",
                                              max_categories=per_column, sparse_output=False),
                      levels))
    if numeric:
        parts.append(("numeric", SimpleImputer(add_indicator=True), numeric))
    return model.set_params(columntransformer__transformers=parts)


def _qda_model() -> Any:
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # On standardised columns, shrinking each class's covariance by 1% towards the
    # identity keeps it invertible when columns are collinear. scikit-learn still
    # needs more rows than columns in every class (see qda_min_class_rows).
    return make_pipeline(StandardScaler(), QuadraticDiscriminantAnalysis(reg_param=0.01))


def qda_min_class_rows(n_features: int) -> int:
    """Rows every class needs for the quadratic model to be a candidate.

    Each class gets its own covariance, which scikit-learn only estimates
    from more rows than features; twice that (plus a margin) leaves enough in
    every training fold and in the pilot.
    """
    return 2 * (int(n_features) + 2)


def _qda_suits(prep: PreparedFeatures, class_counts: np.ndarray) -> bool:
    present = class_counts[class_counts > 0]
    return bool(present.size) and int(present.min()) >= qda_min_class_rows(prep.X.shape[1])


def _lda_suits(prep: PreparedFeatures, class_counts: np.ndarray) -> bool:
    # At least two indicators a categorical column must fit in the level budget.
    return 2 * len(prep.categorical) <= LDA_MAX_LEVEL_COLUMNS


def _large(n: int | None) -> bool:
    return n is not None and n > SVM_MAX_ROWS


register_model("svm", _svm_model,
               applies=lambda n, kind: kind == "tabular" and (n is None or n <= SVM_MAX_ROWS))
register_model("hgb", _hgb_model,
               applies=lambda n, kind: kind in ("mixed", "missing") or (kind == "tabular" and _large(n)),
               refit=False, max_train_rows=HGB_MAX_TRAIN_ROWS)
register_model("lda", _lda_model,
               applies=lambda n, kind: _large(n) and kind in ("tabular", "mixed", "missing"),
               refit=False, max_train_rows=HGB_MAX_TRAIN_ROWS, configure=_lda_columns,
               suits=_lda_suits)
register_model("qda", _qda_model, applies=lambda n, kind: _large(n) and kind == "tabular",
               refit=False, max_train_rows=HGB_MAX_TRAIN_ROWS, suits=_qda_suits)
register_model("linear", _linear_model,
               applies=lambda n, kind: kind == "sparse" or (kind == "tabular" and _large(n)),
               max_train_rows=HGB_MAX_TRAIN_ROWS)


def candidate_models(n_samples: int | None = None, *, kind: str = "tabular",
                     prepared: PreparedFeatures | None = None,
                     class_counts: Any = None) -> tuple[ModelSpec, ...]:
    """Every entry of :data:`MODELS` that applies to the data, in registration order.

    Parameters
    ----------
    n_samples : int, optional
        Number of rows the model will be trained on.
    kind : str, default "tabular"
        Kind of features, one of :data:`FEATURE_KINDS`.
    prepared : PreparedFeatures, optional
        The features; with ``class_counts``, models whose ``suits`` rejects
        them are left out (the quadratic model needs every class to have
        :func:`qda_min_class_rows` rows; the linear discriminant model at
        most ``LDA_MAX_LEVEL_COLUMNS / 2`` categorical columns).
    class_counts : array-like of int, optional
        Rows per class.

    Returns
    -------
    tuple of ModelSpec

    Examples
    --------
    >>> from labelaudit.oof import candidate_models
    >>> [m.name for m in candidate_models(500)], [m.name for m in candidate_models(50_000)]
    (['svm'], ['hgb', 'lda', 'qda', 'linear'])
    """
    counts = None if class_counts is None else np.asarray(class_counts)
    return tuple(
        spec for spec in MODELS.values()
        if spec.applies(n_samples, kind)
        and (spec.suits is None or prepared is None or counts is None
             or spec.suits(prepared, counts))
    )


def choose_model(n_samples: int | None = None, *, kind: str = "tabular") -> ModelSpec:
    """Return the first entry of :data:`MODELS` that applies to the data.

    This is the model used when it is the only candidate; when several apply
    (:func:`candidate_models`), the audit chooses between them with
    :func:`select_model`.

    Parameters
    ----------
    n_samples : int, optional
        Number of rows the model will be trained on.
    kind : str, default "tabular"
        Kind of features, one of :data:`FEATURE_KINDS` (see :func:`feature_kind`).

    Returns
    -------
    ModelSpec

    Raises
    ------
    LabelAuditError
        When no registered model applies.

    Examples
    --------
    >>> from labelaudit.oof import choose_model
    >>> choose_model(500).name, choose_model(50_000).name, choose_model(500, kind="mixed").name
    ('svm', 'hgb', 'hgb')
    """
    for spec in MODELS.values():
        if spec.applies(n_samples, kind):
            return spec
    raise LabelAuditError(
        f"no default model for {kind!r} features; registered: {', '.join(MODELS)}."
    )


def default_model(n_samples: int | None = None, *, kind: str = "tabular") -> Any:
    """Return labelaudit's first default classifier for this size and kind of data.

    When several models apply (beyond :data:`SVM_MAX_ROWS` rows of dense
    features), the audit
    does not simply take this one: :func:`select_model` compares the
    candidates on a pilot fit, and the linear (``lda``) or quadratic
    (``qda``) discriminant analysis or the logistic regression (``linear``,
    with its prune-and-refit second pass) may run the folds instead. By kind of
    features (:func:`prepare_features`) and number of rows, the first is:

    - numeric features without missing values, up to :data:`SVM_MAX_ROWS`
      rows (or when ``n_samples`` is None): standardisation and an RBF
      support vector machine with Platt-scaled probabilities
      (``SVC(probability=True)``). On scikit-learn's bundled datasets with
      injected noise it found flipped labels with clearly higher precision
      and recall than a logistic regression (see ``benchmarks/bench_audit.py``);
    - larger numeric data, features with categorical columns (``"mixed"``)
      or with missing values (``"missing"``): scikit-learn's
      ``HistGradientBoostingClassifier`` with early stopping; categorical
      columns are declared as such to it and missing values go to the side
      of each split that fits best. Its cost grows linearly with the rows,
      and it learns non-linear boundaries that a logistic regression cannot
      (``benchmarks/bench_default_model.py``);
    - sparse matrices: a multinomial logistic regression (``C=0.1``) on
      features scaled without centring.

    All are deterministic once their ``random_state`` is set (the audit sets
    it from its seed).

    Parameters
    ----------
    n_samples : int, optional
        Number of rows the model will be trained on.
    kind : str, default "tabular"
        Kind of features, one of :data:`FEATURE_KINDS`.

    Returns
    -------
    estimator
        An unfitted scikit-learn classifier.

    Examples
    --------
    >>> from labelaudit.oof import default_model
    >>> type(default_model(50_000)).__name__
    'HistGradientBoostingClassifier'
    """
    return choose_model(n_samples, kind=kind).build()


@dataclass(frozen=True)
class PreparedFeatures:
    """Features made ready for the default models.

    Attributes
    ----------
    X : numpy.ndarray or scipy.sparse matrix
        Numeric features (float64); categorical columns hold level codes
        ``0..L-1`` and NaN for a missing level.
    categorical : tuple of int
        Indices of the categorical columns.
    kind : str
        One of :data:`FEATURE_KINDS`.
    """

    X: Any
    categorical: tuple[int, ...]
    kind: str


def prepare_features(X: Any) -> PreparedFeatures:
    """Numeric features, their categorical columns and their kind, for the default models.

    pandas columns of ``category``, object or string dtype and polars columns
    of ``Categorical``, ``Enum`` or ``String`` type are categorical: their
    levels, sorted as text, are coded ``0..L-1`` (null -> NaN), so the codes
    do not depend on the order rows come in. Boolean columns are 0/1. A NumPy
    array is used as given (a numeric one), a SciPy sparse matrix is kept
    sparse.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        NumPy array, SciPy sparse matrix, pandas or polars frame.

    Returns
    -------
    PreparedFeatures
        ``kind`` is ``"sparse"``, ``"mixed"`` (some categorical column),
        ``"missing"`` (some NaN) or ``"tabular"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from labelaudit.oof import prepare_features
    >>> df = pd.DataFrame({"x": [0.5, 1.0, 2.0], "colour": pd.Categorical(["red", "blue", "red"])})
    >>> prep = prepare_features(df)
    >>> prep.kind, prep.categorical, prep.X[:, 1].tolist()
    ('mixed', (1,), [1.0, 0.0, 1.0])
    """
    from ._validation import coerce_features

    if hasattr(X, "tocsr"):
        return PreparedFeatures(X, (), "sparse")
    arr, categorical, missing = coerce_features(X)
    kind = "mixed" if categorical else ("missing" if missing else "tabular")
    return PreparedFeatures(arr, categorical, kind)


def _declare_categorical(model: Any, prep: PreparedFeatures) -> Any:
    """Set ``categorical_features`` (also nested) to the categorical columns.

    Columns with more levels than the model's ``max_bins`` stay numeric
    (their codes ordered as text), since the trees cannot bin them as
    categories.
    """
    if not prep.categorical or not hasattr(model, "get_params"):
        return model
    params = model.get_params(deep=True)
    for name in params:
        if name == "categorical_features" or name.endswith("__categorical_features"):
            prefix = name[: -len("categorical_features")]
            max_bins = int(params.get(prefix + "max_bins", 255))
            mask = np.zeros(prep.X.shape[1], dtype=bool)
            for j in prep.categorical:
                col = prep.X[:, j]
                if np.nanmax(col, initial=-1.0) < max_bins:
                    mask[j] = True
            model.set_params(**{name: mask if mask.any() else None})
    return model


def _build(spec: ModelSpec, prep: PreparedFeatures, random_state: int | None) -> Any:
    """A fresh model of ``spec``, seeded and told about the data's columns."""
    model = _declare_categorical(_seed_model(spec.build(), random_state), prep)
    return model if spec.configure is None else spec.configure(model, prep)


@dataclass(frozen=True)
class ModelChoice:
    """The default model a pilot fit chose, and how each candidate scored.

    Attributes
    ----------
    spec : ModelSpec
        The chosen model.
    scores : dict of str to float
        Brier score of each candidate on the pilot's held-out rows against
        the given labels (lower is better; NaN for a candidate that failed
        to fit). Empty when there was a single candidate.
    n_rows : int
        Rows of the pilot (training and held out); 0 without a pilot.
    """

    spec: ModelSpec
    scores: dict[str, float]
    n_rows: int


def _class_share(rows: int, frac: float, floor: int) -> int:
    """Rows a class of ``rows`` keeps in a stratified draw of ``frac`` of the data: its
    share, rounded, but at least ``min(rows, floor)`` and at least one."""
    return min(rows, max(1, floor, int(round(frac * rows))))


def _pilot_rows(labels: np.ndarray, random_state: int | None,
                n_features: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pilot training and held-out rows: a stratified, seeded draw of about PILOT_ROWS.

    Each class is drawn in proportion but keeps at least all of its rows up
    to ``qda_min_class_rows(n_features)``, so that a model that suits the
    whole data can also be fitted on the pilot (small classes can make the
    pilot a little larger than PILOT_ROWS). A quarter of each class (rounded,
    at least one row left for training) is held out.
    """
    rng = np.random.default_rng([0 if random_state is None else int(random_state), 7919])
    n = labels.shape[0]
    frac = min(1.0, PILOT_ROWS / n)
    floor = qda_min_class_rows(n_features)
    train, hold = [], []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        take = _class_share(members.shape[0], frac, floor)
        chosen = rng.permutation(members)[:take]
        n_hold = min(int(round(PILOT_HOLDOUT * take)), take - 1)
        hold.append(chosen[:n_hold])
        train.append(chosen[n_hold:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(hold))


def select_model(X: Any, labels: Any, *, n_classes: int | None = None,
                 random_state: int | None = 0, n_jobs: int | None = 1,
                 progress: ProgressCallback | None = None) -> ModelChoice:
    """Choose the default model for these features and labels.

    With one candidate (:func:`candidate_models`: small numeric data, sparse
    features, small data with categorical columns or missing values) it is
    the choice. With several, each is fitted on a pilot, a stratified draw of
    about :data:`PILOT_ROWS` rows (small classes keep up to
    :func:`qda_min_class_rows` rows each) of which a quarter is held out, and the
    one with the lowest Brier score on the held-out rows against the given
    labels is chosen (ties go to the one registered first).

    Why the Brier score: it is a proper scoring rule, so the model whose
    probabilities are closest to the labels' is preferred, and it is
    bounded, so the held-out rows that are mislabeled (which a strong model
    rightly contradicts) cost each candidate at most 2. Under log loss a
    model that is confidently right about a mislabeled row pays without
    bound, and the comparison rewards models that hedge, which is the
    opposite of what confident learning needs.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features, as for :func:`out_of_fold_probabilities`.
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    n_classes : int, optional
        Number of classes ``K``. Default ``max(labels) + 1``.
    random_state : int or None, default 0
        Seeds the pilot draw and the candidates.
    n_jobs : int, optional, default 1
        Candidates fitted at the same time (each on one native thread, so
        the scores do not depend on it); None: every core of the budget.
    progress : callable, optional
        ``progress(done, total)`` after each candidate's pilot fit (and once
        with ``done=0`` before the first).

    Returns
    -------
    ModelChoice

    Raises
    ------
    LabelAuditError
        When no registered model applies, or every candidate failed on the
        pilot.

    Examples
    --------
    Two classes, each a Gaussian with its own spread: the quadratic model's
    own assumption.

    >>> import numpy as np
    >>> from labelaudit.oof import select_model
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 12_000)
    >>> X = rng.normal(size=(12_000, 4)) * np.where(y == 1, 2.0, 0.5)[:, None]
    >>> choice = select_model(X, y)
    >>> choice.spec.name, sorted(choice.scores), choice.n_rows
    ('qda', ['hgb', 'lda', 'linear', 'qda'], 12000)
    >>> choice.scores["qda"] < choice.scores["hgb"] < choice.scores["lda"]
    True
    """
    prep = X if isinstance(X, PreparedFeatures) else prepare_features(X)
    codes, k = _check_labels(labels, _n_rows(prep.X), n_classes)
    counts = np.bincount(codes, minlength=k)
    candidates = candidate_models(codes.shape[0], kind=prep.kind, prepared=prep,
                                  class_counts=counts)
    if not candidates:
        raise LabelAuditError(
            f"no default model for {prep.kind!r} features; registered: {', '.join(MODELS)}."
        )
    if len(candidates) == 1:
        return ModelChoice(candidates[0], {}, 0)
    train, hold = _pilot_rows(codes, random_state, prep.X.shape[1])
    rows = np.concatenate([train, hold])
    X_pilot = _take(prep.X, rows)
    y_pilot = codes[rows]
    local_train = np.arange(train.shape[0])
    local_hold = np.arange(train.shape[0], rows.shape[0])
    sub = PreparedFeatures(X_pilot, prep.categorical, prep.kind)
    models = [_build(spec, sub, random_state) for spec in candidates]
    total = len(models)
    if progress is not None:
        progress(0, total)
    workers = max(1, min(resolve_n_jobs(n_jobs), total))
    jobs: Any
    if workers == 1:
        jobs = (_pilot_fit(m, X_pilot, y_pilot, local_train, local_hold, k, i)
                for i, m in enumerate(models))
    else:
        from joblib import Parallel, delayed

        jobs = Parallel(n_jobs=workers, return_as="generator_unordered")(
            delayed(_pilot_fit)(m, X_pilot, y_pilot, local_train, local_hold, k, i)
            for i, m in enumerate(models)
        )
    onehot = np.eye(k)[y_pilot[local_hold]]
    scores: dict[str, float] = {}
    by_index: dict[int, float] = {}
    reasons: dict[int, str] = {}
    for done, (index, proba) in enumerate(jobs, start=1):
        if isinstance(proba, str) or not np.isfinite(proba).all():
            by_index[index] = float("nan")
            reasons[index] = proba if isinstance(proba, str) else "non-finite probabilities"
        else:
            by_index[index] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
        if progress is not None:
            progress(done, total)
    for index, spec in enumerate(candidates):
        scores[spec.name] = by_index[index]
    finite = [i for i in range(total) if np.isfinite(by_index[i])]
    if reasons and finite:
        dropped = "; ".join(f"{candidates[i].name} ({reasons[i]})" for i in sorted(reasons))
        warnings.warn(
            f"default model candidate(s) could not be fitted on the {int(rows.shape[0]):,} pilot "
            f"rows and are left out of the choice: {dropped}.",
            LabelAuditWarning,
            stacklevel=2,
        )
    if not finite:
        raise LabelAuditError(
            "every candidate default model failed to fit on the pilot rows "
            f"({', '.join(scores)}); pass a model (model=...) or probabilities (--pred-probs)."
        )
    best = min(finite, key=lambda i: (by_index[i], i))
    return ModelChoice(candidates[best], scores, int(rows.shape[0]))


#: Errors that make a default model unfit for the data (rather than a bug): the
#: pilot drops such a candidate, and a fold that raises one moves to the next.
_FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError)


def _runners_up(choice: ModelChoice) -> list[ModelSpec]:
    """The other candidates that fitted the pilot, best score first."""
    ranked = sorted(
        (score, i, name) for i, (name, score) in enumerate(choice.scores.items())
        if np.isfinite(score) and name != choice.spec.name and name in MODELS
    )
    return [MODELS[name] for _, _, name in ranked]


def _pilot_fit(model: Any, X: Any, labels: np.ndarray, train: np.ndarray, hold: np.ndarray,
               n_classes: int, index: int) -> tuple[int, np.ndarray | str]:
    """One candidate's pilot fit: ``(index, held-out probabilities)``, or why it failed."""
    try:
        with warnings.catch_warnings():
            # A candidate's complaints about the pilot (overflow, degenerate columns)
            # show in its score, or in its dropping out, not as warnings.
            warnings.simplefilter("ignore")
            return _fit_fold(model, X, labels, train, hold, n_classes, index)
    except LabelAuditError as exc:
        return index, " ".join(str(exc).split())[:160]
    except _FIT_ERRORS as exc:
        # A candidate the data does not suit (a singular covariance, a class too
        # small) drops out of the comparison; the others still compete.
        return index, f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"


# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- labelaudit path


@dataclass(frozen=True, repr=False)
class OutOfFold:
    """Out-of-fold probabilities and what each fold says about label noise.

    ``numpy.asarray(result)`` gives :attr:`pred_probs`.

    Attributes
    ----------
    pred_probs : numpy.ndarray of shape (n_samples, K), dtype float64
        Each row predicted by the model that did not train on it.
    fold : numpy.ndarray of shape (n_samples,), dtype intp
        Index of the fold in which each row was held out.
    n_splits : int
        Number of folds actually used (lower than requested when the largest
        class has fewer rows than the requested number of folds).
    fold_confident_joints : tuple of numpy.ndarray of shape (K, K)
        Calibrated confident joint of each fold's holdout rows, computed from
        that fold's rows only (their own per-class thresholds).
    fold_noise_rates : numpy.ndarray of shape (n_splits,)
        ``1 - trace`` of each fold's normalised confident joint: the noise
        rate each fold alone would report.
    model : str
        Description of the estimator that was cloned for each fold.
    random_state : int or None
        Seed of the fold shuffling (and of the model, when it takes one).
    rare_classes : tuple of int
        Classes with fewer rows than folds (some training folds lacked them).
    n_pruned : int
        Rows left out of the training folds of the second pass (flagged by
        confident learning in the first pass); 0 when no second pass was made.
    model_name : str
        Registry key of the default model that was chosen (see :data:`MODELS`),
        or ``"given"`` for a model passed by the caller.
    accuracy : float
        Out-of-fold accuracy against the given labels: share of rows whose
        most probable class is their given label (mislabeled rows count as
        misses, so it is at most about one minus the noise rate).
    n_jobs : int
        Folds that were fitted at the same time.
    pilot_scores : dict of str to float
        Brier score of each candidate default model on the pilot's held-out
        rows (:func:`select_model`); empty when there was one candidate or
        the model was given.
    pilot_rows : int
        Rows of that pilot; 0 without one.
    failed_models : tuple of str
        Default models that won the pilot (or came next) but failed to fit a
        training fold, in the order they were tried; :attr:`model_name` is
        the one that fitted.
    """

    pred_probs: np.ndarray
    fold: np.ndarray
    n_splits: int
    fold_confident_joints: tuple[np.ndarray, ...]
    fold_noise_rates: np.ndarray
    model: str
    random_state: int | None
    rare_classes: tuple[int, ...] = ()
    n_pruned: int = 0
    model_name: str = "given"
    accuracy: float = float("nan")
    n_jobs: int = 1
    pilot_scores: dict = field(default_factory=dict)
    pilot_rows: int = 0
    failed_models: tuple = ()

    def __repr__(self) -> str:
        return short_repr(self, {
            "n_samples": int(self.pred_probs.shape[0]),
            "n_classes": int(self.pred_probs.shape[1]),
            "n_splits": self.n_splits,
            "fold_noise_rates": [float(r) for r in self.fold_noise_rates],
            "model": self.model,
            "n_pruned": self.n_pruned,
        })

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        arr = self.pred_probs if dtype is None else self.pred_probs.astype(dtype)
        return arr.copy() if copy else arr

    def fold_spread(self) -> dict[str, float]:
        """Summary of the per-fold noise rates.

        Returns
        -------
        dict
            ``min``, ``max``, ``mean`` and ``std`` (population standard
            deviation) of :attr:`fold_noise_rates`.
        """
        rates = np.asarray(self.fold_noise_rates, dtype=np.float64)
        return {
            "min": float(rates.min()),
            "max": float(rates.max()),
            "mean": float(rates.mean()),
            "std": float(rates.std()),
        }


def _seed_model(model: Any, random_state: int | None) -> Any:
    """Clone ``model`` and set every unset ``random_state`` parameter (nested too)."""
    from sklearn.base import clone

    model = clone(model)
    if random_state is None or not hasattr(model, "get_params"):
        return model
    params = model.get_params(deep=True)
    unset = {
        name: random_state
        for name, value in params.items()
        if (name == "random_state" or name.endswith("__random_state")) and value is None
    }
    if unset:
        model.set_params(**unset)
    return model


def _check_cv(cv: Any) -> int:
    if isinstance(cv, bool) or not isinstance(cv, numbers.Integral) or cv < 2:
        raise LabelAuditError(f"`cv` must be an integer number of folds >= 2, got {cv!r}.")
    return int(cv)


def _fold_noise(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, float]:
    """Calibrated confident joint and noise rate of one fold's holdout rows."""
    from .confident import confident_joint_result

    cj = confident_joint_result(labels, pred_probs)
    return cj.counts, cj.noise_rate


def _first_pass_issues(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows confident learning flags (default filter).

    Classes without rows are dropped from the columns first (their column is
    0); with fewer than two classes present nothing is flagged.
    """
    from .confident import find_label_issues

    present = np.flatnonzero(np.bincount(labels, minlength=pred_probs.shape[1]) > 0)
    if present.size < 2:
        return np.zeros(labels.shape[0], dtype=bool)
    if present.size < pred_probs.shape[1]:
        probs = pred_probs[:, present]
        totals = probs.sum(axis=1, keepdims=True)
        fallback = np.full_like(probs, 1.0 / present.size)
        probs = np.divide(probs, totals, out=fallback, where=totals > 0)
        labels = np.searchsorted(present, labels)
    else:
        probs = pred_probs
    return np.asarray(find_label_issues(labels, np.ascontiguousarray(probs)), dtype=bool)


def _pruned(train_idx: np.ndarray, labels: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Training rows without the flagged ones, keeping every class of the fold.

    A class whose training rows would all be left out keeps them all.
    """
    keep = ~flagged[train_idx]
    lost = np.setdiff1d(np.unique(labels[train_idx]), np.unique(labels[train_idx[keep]]))
    if lost.size:
        keep |= np.isin(labels[train_idx], lost)
    return train_idx[keep]


def out_of_fold_probabilities(
    X: Any,
    labels: Any,
    *,
    model: Any = None,
    cv: int = 5,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    n_classes: int | None = None,
    progress: ProgressCallback | None = None,
    prune_and_refit: bool | None = None,
    pilot_progress: ProgressCallback | None = None,
) -> OutOfFold:
    """Predict every row's class probabilities with a model that did not train on it.

    Stratified K-fold cross-validation: the labels are split into ``cv``
    shuffled folds that keep the class proportions; a fresh copy of ``model``
    is trained on all folds but one and predicts the rows of that one.

    With ``prune_and_refit`` (the default for the small-data default model) a second
    pass follows: confident learning (``find_label_issues`` with its default
    filter) flags rows on the first-pass probabilities, and each fold is
    fitted again on its training rows minus the flagged ones, then predicts
    its holdout rows, which stay out of sample. Mislabeled rows no longer
    pull the model's class boundaries towards them, so the second-pass
    probabilities separate mislabeled rows from correct ones better: on
    scikit-learn's bundled datasets with planted noise, both precision and
    recall at finding the flipped rows went up (``benchmarks/bench_audit.py``),
    at about twice the fitting time. A flagged row is left out only of other
    folds' training sets; its own prediction never comes from a model that
    saw its label. Which rows are left out does depend on the first pass,
    whose models saw the other folds' labels, so this is not a nested
    cross-validation (a nested one costs ``cv`` times more fits and flagged
    more correct rows on small data). When the first pass flags nothing,
    the second is skipped.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features: NumPy array, SciPy sparse matrix, pandas or polars frame.
    labels : array-like of shape (n_samples,)
        Given labels as class indices ``0..K-1``.
    model : scikit-learn classifier, optional
        Any estimator with ``fit`` and ``predict_proba``; cloned for each fold.
        Default: chosen by :func:`select_model` from the number of rows and
        the kind of features (:func:`prepare_features`): standardisation + RBF
        SVM up to 10 000 rows of numeric features; gradient-boosted trees for
        smaller data with categorical columns or missing values (categorical
        columns declared as such); beyond 10 000 rows the best on a pilot fit
        of the trees and a linear discriminant analysis, plus (numeric features
        without missing values) a quadratic discriminant analysis and the
        logistic regression; sparse features get the logistic regression. Training
        folds larger than the chosen model's ``max_train_rows`` are subsampled.
    cv : int, default 5
        Number of folds, at least 2. When even the largest class has fewer
        rows, fewer folds are used (with a warning).
    random_state : int or None, default 0
        Seeds the fold shuffling, and every ``random_state`` parameter of
        ``model`` that is left at None. The same seed gives the same output.
    n_jobs : int, optional
        Folds fitted in parallel (joblib processes), at most one per fold;
        every fold runs on one native thread, so results do not depend on
        it. None: every core of the budget (``OMP_NUM_THREADS`` or the
        available cores) for the default model above 10 000 rows, else one
        fold after the other.
    n_classes : int, optional
        Number of classes ``K`` when some class has no row at all (its column
        is then 0). Default ``max(labels) + 1``.
    progress : callable, optional
        ``progress(done, total)`` called after each fold fit (and once with
        ``done=0`` before the first), for a progress bar. With
        ``prune_and_refit``, ``total`` counts both passes; when the second
        pass is skipped the last call is ``progress(total, total)``.
    prune_and_refit : bool, optional
        Make the second pass described above. Default: the chosen default
        model's ``refit`` (True for the SVM, False for the gradient-boosted
        trees, where it did not pay on the benchmarks), False when ``model`` is
        given.
    pilot_progress : callable, optional
        ``progress(done, total)`` after each candidate's pilot fit, when the
        default model is chosen between several (:func:`select_model`).

    Returns
    -------
    OutOfFold
        Probabilities (of the second pass when one was made), fold of each
        row, per-fold confident joints and noise rates.

    Raises
    ------
    LabelAuditError
        On labels that are not class indices, fewer than 2 classes, a bad
        ``cv``, or when no class has 2 rows (nothing to cross-validate).

    Warns
    -----
    LabelAuditWarning
        When some class has fewer rows than folds. Such a class is missing
        from some training folds; one of its rows is then copied into the
        training fold and predicted as its own label (it cannot be flagged).
        The classes are in ``rare_classes`` of the result.
    SlowRunWarning
        Before fitting, when the default model's estimated time
        (:func:`default_model_seconds`) exceeds :data:`SLOW_FIT_SECONDS`.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from labelaudit import out_of_fold_probabilities
    >>> X, y = load_iris(return_X_y=True)
    >>> oof = out_of_fold_probabilities(X, y, cv=5, random_state=0)
    >>> oof.pred_probs.shape
    (150, 3)
    """
    from sklearn.model_selection import StratifiedKFold

    n_rows = _n_rows(X)
    if model is None:
        prep = prepare_features(X)
        X = prep.X
    else:
        X = _as_features(X)
    codes, k = _check_labels(labels, n_rows, n_classes)
    n_splits = _check_cv(cv)
    counts = np.bincount(codes, minlength=k)
    largest = int(counts.max())
    if largest < 2:
        raise LabelAuditError(
            "cannot cross-validate: every class has a single row; need at least one class "
            "with 2 rows."
        )
    if largest < n_splits:
        warnings.warn(
            f"cv={n_splits} folds but the largest class has only {largest} rows; using "
            f"{largest} folds.",
            LabelAuditWarning,
            stacklevel=2,
        )
        n_splits = largest
    workers = _fold_workers(n_jobs, n_splits, model is None and codes.shape[0] > SVM_MAX_ROWS)
    choice = None
    if model is None:
        choice = select_model(prep, codes, n_classes=k, random_state=random_state,
                              n_jobs=workers, progress=pilot_progress)
        spec = choice.spec
        base = _build(spec, prep, random_state)
        model_name, default_refit, max_train = spec.name, spec.refit, spec.max_train_rows
    else:
        base = _seed_model(model, random_state)
        model_name, default_refit, max_train = "given", False, None
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        # Our own warning above already names the rare classes.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        folds = list(splitter.split(np.zeros((codes.shape[0], 1)), codes))

    refit = default_refit if prune_and_refit is None else bool(prune_and_refit)
    rare = _check_cost_and_folds(counts, n_splits, default=model is None, refit=refit)
    total = 2 * n_splits if refit else n_splits

    def fit_all(fold_list: list[tuple[np.ndarray, np.ndarray]], offset: int) -> list[np.ndarray]:
        trains = [
            _subsample(train, codes, max_train, random_state, index, floor)
            for index, (train, _) in enumerate(fold_list)
        ]
        results: list[np.ndarray | None] = [None] * len(fold_list)
        if workers == 1:
            for index, (train, (_, hold)) in enumerate(zip(trains, fold_list, strict=True)):
                results[index] = _fit_fold(base, X, codes, train, hold, k, index)[1]
                if progress is not None:
                    progress(offset + index + 1, total)
            return results  # type: ignore[return-value]
        from joblib import Parallel, delayed

        # Completion order, so that progress moves as soon as any fold is done; each
        # result carries its fold index, so the output does not depend on that order.
        parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
        jobs = parallel(
            delayed(_fit_fold)(base, X, codes, train, hold, k, index)
            for index, (train, (_, hold)) in enumerate(zip(trains, fold_list, strict=True))
        )
        for done, (index, proba) in enumerate(jobs, start=offset + 1):
            results[index] = proba
            if progress is not None:
                progress(done, total)
        return results  # type: ignore[return-value]

    def assemble(results: list[np.ndarray]) -> np.ndarray:
        probs = np.zeros((codes.shape[0], k), dtype=np.float64)
        for (_, holdout_idx), proba in zip(folds, results, strict=True):
            probs[holdout_idx] = proba
        return probs

    fallbacks = [] if choice is None else _runners_up(choice)
    failed: list[str] = []
    # Rows every class keeps when training folds are subsampled, so a model that
    # suits the whole data also suits every subsampled fold.
    floor = qda_min_class_rows(prep.X.shape[1]) if choice is not None else 1
    while True:
        if progress is not None:
            progress(0, total)
        try:
            results = fit_all(folds, 0)
            break
        except LabelAuditError:
            raise
        except _FIT_ERRORS as exc:
            if choice is None:
                raise
            reason = " ".join(str(exc).split())[:200]
            if not fallbacks:
                raise LabelAuditError(
                    f"the default model {model_name!r} failed to fit a training fold "
                    f"({type(exc).__name__}: {reason}); pass probabilities (--pred-probs), "
                    "fewer folds (--cv) or merge classes with very few rows."
                ) from exc
            spec = fallbacks.pop(0)
            failed.append(model_name)
            warnings.warn(
                f"the default model {model_name!r} failed to fit a training fold "
                f"({type(exc).__name__}: {reason}); using {spec.name!r}, the next best on the "
                "pilot fit, instead.",
                LabelAuditWarning,
                stacklevel=2,
            )
            base = _build(spec, prep, random_state)
            model_name, max_train = spec.name, spec.max_train_rows
            refit = spec.refit if prune_and_refit is None else bool(prune_and_refit)
            total = 2 * n_splits if refit else n_splits
    n_pruned = 0
    if refit:
        first = assemble(results)
        flagged = (
            _first_pass_issues(codes, first)
            if np.isfinite(first).all()
            else np.zeros(codes.shape[0], dtype=bool)
        )
        n_pruned = int(flagged.sum())
        if n_pruned:
            pruned = [(_pruned(train, codes, flagged), hold) for train, hold in folds]
            try:
                results = fit_all(pruned, n_splits)
            except LabelAuditError:
                raise
            except _FIT_ERRORS as exc:
                # Leaving the flagged rows out can shrink a class below what the model
                # needs; the first pass's probabilities are still out of fold.
                warnings.warn(
                    f"the second pass of {model_name!r} (flagged rows left out of training) "
                    f"failed to fit a fold ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:200]}); using the first pass.",
                    LabelAuditWarning,
                    stacklevel=2,
                )
                n_pruned = 0
                if progress is not None:
                    progress(total, total)
        elif progress is not None:
            progress(total, total)

    pred_probs = assemble(results)
    fold_of = np.empty(codes.shape[0], dtype=np.intp)
    joints, rates = [], []
    for index, ((_, holdout_idx), proba) in enumerate(zip(folds, results, strict=True)):
        fold_of[holdout_idx] = index
        cj, rate = _fold_noise(codes[holdout_idx], proba)
        joints.append(cj)
        rates.append(rate)
    bad = ~np.isfinite(pred_probs).all(axis=1)
    if bad.any():
        raise LabelAuditError(
            f"the model predicted non-finite probabilities for row {int(np.argmax(bad))}; "
            "check the features for NaN or infinite values."
        )
    return OutOfFold(
        pred_probs=pred_probs,
        fold=fold_of,
        n_splits=n_splits,
        fold_confident_joints=tuple(joints),
        fold_noise_rates=np.asarray(rates, dtype=np.float64),
        model=_describe(base),
        random_state=random_state,
        rare_classes=rare,
        n_pruned=n_pruned,
        model_name=model_name,
        accuracy=float(np.mean(np.argmax(pred_probs, axis=1) == codes)),
        n_jobs=workers,
        pilot_scores={} if choice is None else dict(choice.scores),
        pilot_rows=0 if choice is None else choice.n_rows,
        failed_models=tuple(failed),
    )


def _fold_workers(n_jobs: int | None, n_splits: int, large_default: bool) -> int:
    """Folds fitted at once: ``n_jobs`` resolved, at most one per fold.

    With ``n_jobs=None`` the default model on large data uses every core of
    the budget (:func:`labelaudit._threads.resolve_n_jobs`); anything else
    fits the folds one after the other, where starting worker processes would
    cost more than it saves.
    """
    if n_jobs is None and not large_default:
        return 1
    return max(1, min(resolve_n_jobs(n_jobs), n_splits))


def _subsample(train: np.ndarray, labels: np.ndarray, max_rows: int | None,
               random_state: int | None, fold: int, floor: int = 1) -> np.ndarray:
    """About ``max_rows`` training rows, drawn per class in proportion (seeded by fold).

    Every class keeps at least ``min(its rows, floor)`` rows (at least one);
    the rows stay in ascending order.
    """
    if max_rows is None or train.shape[0] <= max_rows:
        return train
    rng = np.random.default_rng([0 if random_state is None else int(random_state), fold])
    frac = max_rows / train.shape[0]
    keep = []
    y = labels[train]
    for cls in np.unique(y):
        members = train[y == cls]
        take = _class_share(members.shape[0], frac, floor)
        keep.append(rng.choice(members, take, replace=False))
    return np.sort(np.concatenate(keep))


def _fit_fold(model: Any, X: Any, labels: np.ndarray, train_idx: np.ndarray,
              holdout_idx: np.ndarray, n_classes: int, index: int) -> tuple[int, np.ndarray]:
    """One fold on one thread: ``(index, holdout probabilities)``.

    Native thread pools (OpenMP, BLAS) are limited to one thread, so a fold
    computes the same numbers whichever worker runs it and however many run
    at once; parallelism comes from fitting folds side by side.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), warnings.catch_warnings():
        # The quadratic discriminant's covariances are regularised, so collinear
        # columns are expected and harmless.
        warnings.filterwarnings("ignore", message="Variables are collinear", category=UserWarning)
        # Expected on real tables, and handled: the imputer drops a column with no
        # value in a training fold, and the shrunk covariance of a one-row class is 0.
        warnings.filterwarnings("ignore", message="Skipping features without any observed",
                                category=UserWarning)
        warnings.filterwarnings("ignore", message="Only one sample available", category=UserWarning)
        return index, _fit_predict_fold(model, X, labels, train_idx, holdout_idx, n_classes, {}, None)


def _describe(model: Any) -> str:
    """One-line description of an estimator (its repr without line breaks)."""
    text = " ".join(repr(model).split())
    return text if len(text) <= 300 else text[:297] + "..."
