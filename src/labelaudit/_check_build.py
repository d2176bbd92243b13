"""Turn a missing compiled core into instructions instead of a bare ImportError.

Only the presence of the extension is checked (loading it would import NumPy,
which ``import labelaudit`` does not need).
"""

from __future__ import annotations

from importlib.util import find_spec

if find_spec(f"{__package__}._core") is None:  # pragma: no cover - only without a build
    raise ImportError(
        "labelaudit's compiled core (labelaudit._core) is missing. Install the package with "
        "`pip install .` from the source tree (it builds the Cython extension), or build it in "
        "place with `python setup.py build_ext --inplace`."
    )
