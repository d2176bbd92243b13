"""Thread-count resolution shared by every kernel wrapper."""

from __future__ import annotations

import os

from .exceptions import LabelAuditError

__all__ = ["DEFAULT_CHUNK_ROWS", "effective_n_threads", "resolve_chunk_size", "resolve_n_jobs"]

#: Rows handed to a thread at a time. Large enough to amortise scheduling,
#: small enough that a chunk of a wide matrix stays in the last-level cache.
DEFAULT_CHUNK_ROWS = 4096


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def resolve_n_jobs(n_jobs: int | None) -> int:
    """The ``n_jobs`` rule: resolve a user ``n_jobs`` into a positive worker count.

    Parameters
    ----------
    n_jobs : int or None
        ``None`` uses ``OMP_NUM_THREADS`` when set, else every available core;
        a positive value is used as given (more workers than cores is allowed);
        ``-1`` means all cores and ``-k`` all but ``k - 1``. ``0`` is an error,
        and so is ``-k`` below minus the number of cores (it asks for fewer
        than one worker).

    Returns
    -------
    int
        At least 1.
    """
    cores = _available_cores()
    if n_jobs is None:
        env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
        if env.isdigit() and int(env) > 0:
            return min(int(env), cores)
        return cores
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        raise LabelAuditError(f"`n_jobs` must be an integer or None, got {n_jobs!r}.")
    if n_jobs == 0:
        raise LabelAuditError("`n_jobs` must not be 0: use None, a positive count or -1.")
    if n_jobs < -cores:
        raise LabelAuditError(
            f"`n_jobs` must be at least -{cores} (all {cores} cores but {cores - 1}), got "
            f"{n_jobs}: -k means every core but k - 1."
        )
    if n_jobs < 0:
        return cores + 1 + n_jobs
    return n_jobs


def effective_n_threads(n_jobs: int | None) -> int:
    """Kernel threads for a user ``n_jobs`` (:func:`resolve_n_jobs`, 1 without OpenMP).

    Parameters
    ----------
    n_jobs : int or None
        As in :func:`resolve_n_jobs`.

    Returns
    -------
    int
        At least 1; always 1 when the core was built without OpenMP.
    """
    from ._core import have_openmp

    if not have_openmp():
        if n_jobs == 0:
            raise LabelAuditError("`n_jobs` must not be 0: use None, a positive count or -1.")
        return 1
    return resolve_n_jobs(n_jobs)


def resolve_chunk_size(chunk_size: int | None) -> int:
    """Validate ``chunk_size`` (rows per work unit); ``None`` gives the default."""
    if chunk_size is None:
        return DEFAULT_CHUNK_ROWS
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise LabelAuditError(f"`chunk_size` must be a positive integer, got {chunk_size!r}.")
    return chunk_size
