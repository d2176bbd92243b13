"""Configuration files: TOML documents such as gate policies and ``pyproject.toml``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..exceptions import PolicyError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser ships as "tomli"
    import tomli as tomllib

__all__ = ["read_toml"]


def read_toml(path: str | os.PathLike[str], *, what: str = "policy") -> dict[str, Any]:
    """Read a TOML document.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str, default "policy"
        What the file holds, for messages.

    Returns
    -------
    dict
        The parsed document.

    Raises
    ------
    PolicyError
        If the file does not exist or is not valid (UTF-8) TOML.
    """
    path = Path(path)
    if not path.is_file():
        raise PolicyError(f"{what} file '{path}' does not exist")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{what} file '{path}' is not valid TOML: {exc}") from exc
