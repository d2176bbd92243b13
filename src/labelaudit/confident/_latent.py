"""Small K x K algebra of confident learning, in numpy.

These steps cost nothing next to the row passes, so they stay in numpy and
follow the same sequence of floating-point operations as cleanlab 2.9 (the
reference implementation), which makes their results equal bit for bit.
Ties in the rounding step use ``np.argsort`` on the same arrays for the same
reason.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "calibrate_counts",
    "clip_noise_rates",
    "clip_values",
    "compute_inv_noise_matrix",
    "compute_noise_matrix_from_inverse",
    "compute_py",
    "converge_estimates",
    "estimate_latent",
    "keep_at_least_n_per_class",
    "round_preserving_row_totals",
]

TINY = 1e-100  # guards divisions by empty rows or columns
CLIP_LOW = 1e-6  # smallest prior or probability allowed after clipping
_EPS = 1e-6


def _round_row_preserving_sum(values) -> np.ndarray:
    """Round a vector to integers whose total is the rounded original total.

    After plain half-to-even rounding the integers are nudged by one, largest
    residual first when the total is short and smallest residual first when it
    is over, until the totals agree.
    """
    floats = np.asarray(values, dtype=float)
    ints = floats.round()
    target = np.sum(floats).round()
    current = np.sum(ints).round()
    while abs(current - target) > _EPS:
        gap = np.round(target - current)
        step = -1 if gap < 0.0 else 1
        n_changes = min(int(abs(gap)), len(values))
        order = np.argsort(floats - ints)
        chosen = order[::-1][:n_changes] if step == 1 else order[:n_changes]
        for idx in chosen:
            ints[idx] = ints[idx] + step
        current = np.sum(ints).round()
    return ints.astype(int)


def round_preserving_row_totals(matrix) -> np.ndarray:
    """Round each row of ``matrix`` to integers, preserving each row's rounded total."""
    matrix = np.asarray(matrix)
    return np.stack([_round_row_preserving_sum(row) for row in matrix]).astype(int)


def calibrate_counts(confident_joint, label_counts) -> np.ndarray:
    """Rescale a confident joint so row ``k`` sums to ``n_k`` and the total is ``n``.

    Rows are first scaled to the given-label counts, the matrix is rescaled to
    the number of items, and each row is rounded to integers preserving its
    total.
    """
    cj = np.asarray(confident_joint)
    row_sums = np.clip(cj.sum(axis=1), a_min=TINY, a_max=None)
    scaled = (cj.T / row_sums * label_counts).T
    scaled = scaled / np.clip(np.sum(scaled), a_min=TINY, a_max=None) * sum(label_counts)
    return round_preserving_row_totals(scaled)


def clip_noise_rates(noise_matrix: np.ndarray) -> np.ndarray:
    """Clip off-diagonal rates into ``[0, 0.9999]`` and renormalise columns to 1."""
    diagonal = np.diagonal(noise_matrix)
    clipped = np.clip(noise_matrix, 0, 0.9999)
    np.fill_diagonal(clipped, diagonal)
    return clipped / np.clip(clipped.sum(axis=0), a_min=TINY, a_max=None)


def clip_values(x: np.ndarray, low: float = 0.0, high: float = 1.0, new_sum=None) -> np.ndarray:
    """Clip a 1-D vector into ``[low, high]`` and rescale it to ``new_sum`` (default: its sum)."""
    total = np.sum(x) if new_sum is None else new_sum
    x = np.clip(x, low, high)
    return x * total / np.clip(np.sum(x), a_min=TINY, a_max=None)


def compute_py(ps, noise_matrix, inverse_noise_matrix, *, py_method="cnt",
               true_labels_class_counts=None) -> np.ndarray:
    """Estimate the latent prior ``p(true_label = k)``.

    ``py_method`` is one of ``"cnt"`` (ratio of diagonals times ``p(label)``),
    ``"eqn"`` (solve with the noise matrix), ``"marginal"`` (confident counts
    per true class) or ``"marginal_ps"`` (inverse noise matrix times
    ``p(label)``).
    """
    if py_method == "cnt":
        py = (inverse_noise_matrix.diagonal()
              / np.clip(noise_matrix.diagonal(), a_min=TINY, a_max=None) * ps)
    elif py_method == "eqn":
        py = np.linalg.inv(noise_matrix).dot(ps)
    elif py_method == "marginal":
        if true_labels_class_counts is None:
            from ..exceptions import LabelAuditError

            raise LabelAuditError("`py_method='marginal'` needs `true_labels_class_counts`.")
        py = true_labels_class_counts / np.clip(
            float(sum(true_labels_class_counts)), a_min=TINY, a_max=None
        )
    elif py_method == "marginal_ps":
        py = np.dot(inverse_noise_matrix, ps)
    else:
        from ..exceptions import LabelAuditError

        raise LabelAuditError(
            f"`py_method` must be one of 'cnt', 'eqn', 'marginal', 'marginal_ps', got {py_method!r}."
        )
    return clip_values(py, low=CLIP_LOW, high=1.0, new_sum=1.0)


def compute_inv_noise_matrix(py, noise_matrix, *, ps=None) -> np.ndarray:
    """``p(true = j | label = k)`` from the prior and the noise matrix (Bayes' rule)."""
    joint = noise_matrix * py
    ps = joint.sum(axis=1) if ps is None else ps
    return clip_noise_rates(joint.T / np.clip(ps, a_min=TINY, a_max=None))


def compute_noise_matrix_from_inverse(ps, inverse_noise_matrix, *, py=None) -> np.ndarray:
    """``p(label = k | true = j)`` from ``p(label)`` and the inverse noise matrix."""
    joint = (inverse_noise_matrix * ps).T
    py = joint.sum(axis=0) if py is None else py
    return clip_noise_rates(joint / np.clip(py, a_min=TINY, a_max=None))


def converge_estimates(ps, py, noise_matrix, inverse_noise_matrix, *,
                       inv_noise_matrix_iterations=5, noise_matrix_iterations=3):
    """Alternate the three estimates so that they agree algebraically."""
    for _ in range(noise_matrix_iterations):
        for _ in range(inv_noise_matrix_iterations):
            inverse_noise_matrix = compute_inv_noise_matrix(py=py, noise_matrix=noise_matrix, ps=ps)
            py = compute_py(ps, noise_matrix, inverse_noise_matrix)
        noise_matrix = compute_noise_matrix_from_inverse(
            ps=ps, inverse_noise_matrix=inverse_noise_matrix, py=py
        )
    return py, noise_matrix, inverse_noise_matrix


def estimate_latent(confident_joint, label_counts, *, py_method="cnt",
                    converge_latent_estimates=False):
    """Prior, noise matrix and inverse noise matrix from a confident joint.

    Parameters
    ----------
    confident_joint : ndarray of shape (K, K)
        Counts, rows = given label, columns = estimated true label.
    label_counts : ndarray of shape (K,)
        Number of items given each label.
    py_method : str
        See :func:`compute_py`.
    converge_latent_estimates : bool
        Iterate the estimates into algebraic agreement.

    Returns
    -------
    py, noise_matrix, inverse_noise_matrix : ndarray
    """
    ps = label_counts / float(np.sum(label_counts))
    given_totals = confident_joint.sum(axis=1).astype(float)
    true_totals = confident_joint.sum(axis=0).astype(float)
    noise_matrix = confident_joint / np.clip(true_totals, a_min=TINY, a_max=None)
    inverse = confident_joint.T / np.clip(given_totals, a_min=TINY, a_max=None)
    py = compute_py(ps, noise_matrix, inverse, py_method=py_method,
                    true_labels_class_counts=true_totals)
    noise_matrix = clip_noise_rates(noise_matrix)
    inverse = clip_noise_rates(inverse)
    if converge_latent_estimates:
        py, noise_matrix, inverse = converge_estimates(ps, py, noise_matrix, inverse)
        py = clip_values(py, low=1e-5, high=1.0, new_sum=1.0)
        noise_matrix = clip_noise_rates(noise_matrix)
        inverse = clip_noise_rates(inverse)
    return py, noise_matrix, inverse


def keep_at_least_n_per_class(prune_counts, n: int, *, frac_noise: float = 1.0) -> np.ndarray:
    """Turn the transposed confident joint into integer numbers of rows to prune.

    Column ``k`` describes the items given label ``k``. Its diagonal is raised to
    at least ``n`` (items that must stay), the increase is taken evenly from the
    column's nonzero off-diagonal entries (clipped at 0), then the off-diagonal
    entries are scaled by ``frac_noise`` with the difference moved back to the
    diagonal, and everything is truncated to integers.
    """
    diag = np.diagonal(prune_counts)
    new_diag = np.maximum(diag, n)
    raised = new_diag - diag
    nonzero_off = np.maximum(np.count_nonzero(prune_counts, axis=0) - 1.0, 1.0)
    mat = prune_counts - raised / nonzero_off
    mat[mat < 0] = 0
    np.fill_diagonal(mat, new_diag)
    # Scale the off-diagonal entries, keeping each column's total.
    scaled = mat * frac_noise
    np.fill_diagonal(scaled, mat.diagonal())
    np.fill_diagonal(scaled, mat.diagonal() + np.sum(mat - scaled, axis=0))
    scaled = scaled.astype(int)
    return round_preserving_row_totals(scaled).astype(int)
