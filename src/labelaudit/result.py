"""The plain-data result of an audit: :class:`AuditResult`."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ._display import ResultTables, short_repr
from .exceptions import LabelAuditError

__all__ = ["AuditResult"]


@dataclass(frozen=True, repr=False)
class AuditResult(ResultTables):
    """Everything an audit found, as plain data.

    In a notebook the result shows as a summary card with the top issues;
    ``repr()`` is one line of headline figures. :meth:`summary` gives the
    same figures as a dict, :meth:`to_polars` and :meth:`to_pandas` the
    ``"issues"`` (default) and ``"per_class"`` tables.

    Attributes
    ----------
    issues : polars.DataFrame
        One row per item: ``id``, ``given_label``, ``suggested_label`` (the
        class with the highest predicted probability), ``label_quality``
        (self-confidence: the predicted probability of the given label),
        ``is_issue`` and ``issue_rank`` (1 for the least trustworthy issue,
        null for rows that are not issues). Issues come first, by rank; the
        other rows follow by increasing label quality.
        :func:`~labelaudit.audit.add_annotator_review`,
        :func:`~labelaudit.audit.add_slices` and
        :func:`~labelaudit.audit.add_item_columns` add columns after these:
        each item's annotators and consensus, the attributes sliced by, and
        any other data column.
    class_names : tuple of str
        Class names in code order.
    per_class : polars.DataFrame
        One row per class: ``class``, ``count`` (rows given that label),
        ``estimated_noise_rate`` with ``ci_low``/``ci_high`` (share of rows
        given that label whose true label is another class), ``n_issues``,
        ``mean_label_quality``.
    noise_matrix : numpy.ndarray of shape (K, K)
        ``noise_matrix[i, j]`` estimates ``p(given label = i | true label = j)``.
    inverse_noise_matrix : numpy.ndarray of shape (K, K)
        ``inverse_noise_matrix[i, j]`` estimates ``p(true = i | given = j)``.
    confident_joint : numpy.ndarray of shape (K, K)
        Calibrated confident joint (rows: given label, columns: true label).
    py : numpy.ndarray of shape (K,)
        Estimated distribution of the true labels.
    n_items, n_classes, n_issues : int
        Rows, classes and rows flagged as issues.
    estimated_noise_rate : float
        Estimated share of rows whose given label is wrong (confident
        learning's point estimate).
    ci_low, ci_high : float
        Its interval at ``confidence``: model-based and unverified (see
        :attr:`noise_rate_source`), the row bootstrap widened by bounds on
        what the model cannot tell apart
        (:func:`labelaudit.model_checks.model_noise_interval`).
    confidence : float
        Coverage of the intervals.
    label_health_score : float
        ``1 - n_issues / n_items`` (cleanlab's health summary definition).
    parameters : Mapping
        Every parameter of the run (filter, folds, seeds, model, ...).
    out_of_fold : OutOfFold or None
        Cross-validation details when the probabilities were computed from
        features.
    extras : Mapping
        Further analyses attached with :meth:`with_section` (for example
        ``"annotators"`` or ``"slices"``): plain data or objects with a
        ``to_dict()`` method.
    extra_figures : Mapping
        Gate figures those analyses contribute (for example
        ``krippendorff_alpha``), merged into :meth:`figures`.
    sampling_ci_low, sampling_ci_high : float
        Row bootstrap interval of ``estimated_noise_rate``: sampling noise
        only, blind to the model's own errors.
    noise_rate_source : str or None
        Where the noise figures come from: ``"model"`` (the model's
        probabilities alone, unverified by any review), ``"review"`` after
        :meth:`verify` (a reviewed sample measured it; see the ``"verified"``
        section), or None when no noise figure was computed (an
        annotations-only review).
    noise_interval : ModelNoiseInterval or None
        The components of ``ci_low``/``ci_high`` (bounds, temperature, each
        model's estimate when several were given).
    model_checks : tuple of ModelFinding
        Problems :func:`labelaudit.model_checks.check_model` found in the
        probabilities (empty when none).
    model_names : tuple of str
        Names of the models when several were given (first file first), else
        empty.
    """

    issues: pl.DataFrame
    class_names: tuple[str, ...]
    per_class: pl.DataFrame
    noise_matrix: np.ndarray
    inverse_noise_matrix: np.ndarray
    confident_joint: np.ndarray
    py: np.ndarray
    n_items: int
    n_classes: int
    n_issues: int
    estimated_noise_rate: float
    ci_low: float
    ci_high: float
    confidence: float
    label_health_score: float
    parameters: Mapping[str, Any]
    out_of_fold: Any = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    extra_figures: Mapping[str, Any] = field(default_factory=dict)
    sampling_ci_low: float = float("nan")
    sampling_ci_high: float = float("nan")
    noise_rate_source: str | None = "model"
    noise_interval: Any = None
    model_checks: tuple = ()
    model_names: tuple = ()

    def __post_init__(self) -> None:
        for name in ("parameters", "extras", "extra_figures"):
            object.__setattr__(self, name, types.MappingProxyType(dict(getattr(self, name))))

    _TABLES = ("issues", "per_class")

    def __repr__(self) -> str:
        return short_repr(self, {
            "n_items": self.n_items,
            "n_classes": self.n_classes,
            "n_issues": self.n_issues,
            "estimated_noise_rate": self.estimated_noise_rate,
            "ci": [self.ci_low, self.ci_high],
            "noise_rate_source": self.noise_rate_source,
            "sections": list(self.extras),
        })

    def summary(self) -> dict[str, Any]:
        """The headline figures as a dict of plain Python values.

        Returns
        -------
        dict
            ``n_items``, ``n_classes``, ``n_issues``, ``issue_fraction``,
            ``estimated_noise_rate`` with ``ci_low``/``ci_high`` at
            ``confidence``, ``noise_rate_source``, ``label_health_score``,
            ``sections`` (names of the attached analyses) and, after
            :meth:`verify`, ``verified_noise_rate`` with its interval.
            Figures that were not computed are NaN.

        Examples
        --------
        >>> import numpy as np
        >>> from labelaudit import audit
        >>> rng = np.random.default_rng(0)
        >>> probs = rng.dirichlet(np.ones(3), 300)
        >>> result = audit(probs.argmax(axis=1), probs, n_bootstrap=20)
        >>> s = result.summary()
        >>> s["n_items"], s["n_issues"], s["noise_rate_source"]
        (300, 0, 'model')
        """
        out: dict[str, Any] = {
            "n_items": int(self.n_items),
            "n_classes": int(self.n_classes),
            "n_issues": int(self.n_issues),
            "issue_fraction": float(self.issue_fraction) if self.n_items else float("nan"),
            "estimated_noise_rate": float(self.estimated_noise_rate),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "confidence": float(self.confidence),
            "noise_rate_source": self.noise_rate_source,
            "label_health_score": float(self.label_health_score),
            "sections": list(self.extras),
        }
        for key in ("verified_noise_rate", "verified_noise_rate_ci_low",
                    "verified_noise_rate_ci_high"):
            if key in self.extra_figures:
                out[key] = float(self.extra_figures[key])
        return out

    @property
    def issue_fraction(self) -> float:
        """Share of rows flagged as issues."""
        return self.n_issues / self.n_items

    @property
    def class_noise_rates(self) -> dict[str, float]:
        """Estimated noise rate of each given class, by class name."""
        return dict(
            zip(
                self.per_class.get_column("class").to_list(),
                self.per_class.get_column("estimated_noise_rate").to_list(),
                strict=True,
            )
        )

    def to_html(self, path, **kwargs) -> Any:
        """Write the self-contained HTML report to ``path`` (atomically).

        Parameters
        ----------
        path : str or os.PathLike
            Destination file.
        **kwargs
            Passed to :func:`labelaudit.report.render_html` (``gate``,
            ``summary``, ``top_n``, ``items``, ...).

        Returns
        -------
        pathlib.Path
            The written file.
        """
        from .report import write_html

        return write_html(self, path, **kwargs)

    def figures(self) -> dict[str, Any]:
        """Headline figures in the form :func:`labelaudit.gate.evaluate` reads.

        Returns
        -------
        dict
            ``estimated_noise_rate``, ``noise_rate_ci_low``,
            ``noise_rate_ci_high`` (the model-based interval),
            ``noise_rate_source``, ``issue_fraction``, ``n_issues``,
            ``label_health_score``, ``class_noise_rates``, plus
            :attr:`extra_figures`.
        """
        base = {
            "estimated_noise_rate": self.estimated_noise_rate,
            "noise_rate_ci_low": self.ci_low,
            "noise_rate_ci_high": self.ci_high,
            "noise_rate_source": self.noise_rate_source,
            "issue_fraction": self.issue_fraction,
            "n_issues": self.n_issues,
            "label_health_score": self.label_health_score,
            "class_noise_rates": self.class_noise_rates,
        }
        return {**base, **self.extra_figures}

    def with_section(
        self, name: str, section: Any, *, figures: Mapping[str, Any] | None = None
    ) -> AuditResult:
        """Return a copy with one more analysis attached.

        Parameters
        ----------
        name : str
            Section name, e.g. ``"annotators"``; it becomes a key of
            ``summary.json``'s ``extras`` block.
        section : object
            Plain data, or an object with a ``to_dict()`` method.
        figures : Mapping, optional
            Gate figures the section contributes.

        Returns
        -------
        AuditResult
        """
        if not isinstance(name, str) or not name:
            raise LabelAuditError(f"section name must be a non-empty string, got {name!r}.")
        return dataclasses.replace(
            self,
            extras={**self.extras, name: section},
            extra_figures={**self.extra_figures, **(figures or {})},
        )

    def review_sample(self, size: int | None = None, *, seed: int = 0, **kwargs: Any) -> Any:
        """Draw a stratified sample of items for human review (see :func:`labelaudit.review_sample`).

        Parameters
        ----------
        size : int, optional
            Items to review (or give ``half_width=`` or ``allocation=``).
        seed : int, default 0
            Seed of the draw.
        **kwargs
            Other keywords of :func:`labelaudit.verify.review_sample`.

        Returns
        -------
        labelaudit.verify.ReviewSample
        """
        from .verify import review_sample

        return review_sample(self, size=size, seed=seed, **kwargs)

    def verify(self, reviews: Any, sample: Any, **kwargs: Any) -> AuditResult:
        """Return a copy verified by a reviewed sample: the ``"verified"`` section and its figures.

        The noise rate then comes from the review (``noise_rate_source`` is
        ``"review"`` in ``summary.json``), the report leads with it, and a gate
        judges ``max_noise_rate`` on its upper bound.

        Parameters
        ----------
        reviews : polars.DataFrame
            The reviewers' answers (``id`` with ``reviewed_label`` or
            ``is_correct``), as :func:`labelaudit.verify.verify_reviews` reads them.
        sample : labelaudit.verify.ReviewSample
            The sample they reviewed (from :meth:`review_sample`).
        **kwargs
            Other keywords of :func:`labelaudit.verify.verify_reviews`
            (``allow_partial``, ``seed``, ``acceptance``, ...).

        Returns
        -------
        AuditResult

        Raises
        ------
        InputError
            When ``sample`` was not drawn from this audit (its items' flags,
            labels or qualities, or the item count, differ; see
            :func:`labelaudit.verify.check_drawn_from`), and for bad
            reviews as :func:`labelaudit.verify.verify_reviews` says.

        Examples
        --------
        >>> import numpy as np, polars as pl
        >>> from labelaudit import audit
        >>> rng = np.random.default_rng(0)
        >>> truth = rng.integers(0, 3, 600)
        >>> probs = rng.dirichlet(np.ones(3), 600) * 0.3
        >>> probs[np.arange(600), truth] += 0.7
        >>> given = np.where(rng.random(600) < 0.1, (truth + 1) % 3, truth)
        >>> result = audit(given, probs, n_bootstrap=50)
        >>> sample = result.review_sample(120, seed=1)
        >>> ids = sample.design.get_column("id").to_list()
        >>> answers = pl.DataFrame({"id": ids, "reviewed_label": [str(truth[i]) for i in ids]})
        >>> verified = result.verify(answers, sample)
        >>> summary = verified.to_summary_dict()
        >>> summary["noise_rate_source"], summary["verified"]["n_reviewed"]
        ('review', 120)
        """
        from .verify import check_drawn_from, verify_reviews

        check_drawn_from(sample, self.issues)
        kwargs.setdefault("audit_ids", self.issues.get_column("id"))
        estimate = verify_reviews(sample, reviews, **kwargs)
        verified = self.with_section("verified", estimate, figures=estimate.figures())
        return dataclasses.replace(verified, noise_rate_source="review")

    def to_summary_dict(self, **kwargs: Any) -> dict[str, Any]:
        """Same as :func:`labelaudit.summary.to_summary_dict` with this result."""
        from .summary import to_summary_dict

        return to_summary_dict(self, **kwargs)
