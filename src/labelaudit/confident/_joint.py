"""The confident-joint result: plain arrays shared by both backends."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._latent import calibrate_counts
from ._latent import estimate_latent as _estimate_latent

__all__ = ["ConfidentJoint"]


@dataclass(frozen=True)
class ConfidentJoint:
    """Confident-learning estimates for one dataset, as plain arrays.

    Attributes
    ----------
    counts : ndarray of shape (K, K)
        Calibrated confident joint (rows: given label, columns: likely true label).
    raw_counts : ndarray of shape (K, K)
        Confident counts before calibration (diagonal floored at 1).
    thresholds : ndarray of shape (K,)
        Per-class confidence thresholds.
    label_counts : ndarray of shape (K,)
        Items given each label.
    off_diagonal : ndarray of int64
        Rows whose confident guess differs from the given label.
    num_issues : int
        Off-diagonal rows left after un-flagging rows whose given label is the
        model's top class (cleanlab's ``num_label_issues``).
    """

    counts: np.ndarray
    raw_counts: np.ndarray
    thresholds: np.ndarray
    label_counts: np.ndarray
    off_diagonal: np.ndarray
    num_issues: int

    @classmethod
    def from_raw(cls, raw_counts, label_counts, thresholds, off_diagonal,
                 num_issues) -> ConfidentJoint:
        """Build the result from raw confident counts (diagonal already floored at 1).

        Parameters
        ----------
        raw_counts : ndarray of shape (K, K)
            Confident counts before calibration.
        label_counts : ndarray of shape (K,)
            Items given each label.
        thresholds : array-like of shape (K,)
            Per-class thresholds.
        off_diagonal : array-like of int
            Rows whose confident guess differs from the given label.
        num_issues : int
            Off-diagonal rows left after the un-flag step.

        Returns
        -------
        ConfidentJoint
        """
        return cls(
            counts=calibrate_counts(raw_counts, label_counts),
            raw_counts=raw_counts,
            thresholds=np.asarray(thresholds),
            label_counts=label_counts,
            off_diagonal=np.asarray(off_diagonal, dtype=np.int64),
            num_issues=int(num_issues),
        )

    @property
    def joint(self) -> np.ndarray:
        """Estimated joint ``p(given label, true label)``, summing to 1."""
        return self.counts / np.clip(float(np.sum(self.counts)), a_min=1e-100, a_max=None)

    def latent(self, *, py_method: str = "cnt", converge_latent_estimates: bool = True):
        """Return ``(py, noise_matrix, inverse_noise_matrix)``.

        ``noise_matrix[i, j]`` is ``p(given = i | true = j)``; the inverse is
        ``p(true = i | given = j)``.
        """
        return _estimate_latent(self.counts, self.label_counts, py_method=py_method,
                                converge_latent_estimates=converge_latent_estimates)

    @property
    def noise_rate(self) -> float:
        """Estimated share of items whose given label is wrong (1 - trace of the joint)."""
        return float(1.0 - np.trace(self.joint))

