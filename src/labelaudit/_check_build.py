"""Turn a missing compiled core into instructions instead of a bare ImportError."""

from __future__ import annotations

try:
    from . import _core  # noqa: F401
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "labelaudit's compiled core (labelaudit._core) is missing. Install the package with "
        "`pip install .` from the source tree (it builds the Cython extension), or build it in "
        f"place with `python setup.py build_ext --inplace`. Original error: {exc}"
    ) from exc
