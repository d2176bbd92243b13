"""Documents: TOML (gate policies, ``pyproject.toml``) and JSON (a finished run's ``summary.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..exceptions import InputError, PolicyError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser ships as "tomli"
    import tomli as tomllib

__all__ = ["read_json", "read_toml"]


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
    return _parse(path, f"{what} file", tomllib.loads, "TOML", tomllib.TOMLDecodeError,
                  PolicyError)


def read_json(path: str | os.PathLike[str], *, what: str) -> Any:
    """Read a JSON document written by an earlier run (``summary.json``, a sample design).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str
        What the file holds, for messages (e.g. ``"audit summary"``).

    Returns
    -------
    object
        The parsed document.

    Raises
    ------
    InputError
        If the file does not exist or is not valid (UTF-8) JSON.
    """
    return _parse(path, what, json.loads, "JSON", json.JSONDecodeError, InputError)


def _parse(path, what: str, loads, fmt: str, decode_error: type[Exception],
           error: type[Exception]) -> Any:
    """Read a UTF-8 text document and parse it; one-line errors name the file and the rule."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} '{path}' does not exist")
    try:
        return loads(path.read_bytes().decode("utf-8"))
    except (decode_error, UnicodeDecodeError) as exc:
        raise error(f"{what} '{path}' is not valid {fmt}: {exc}") from exc
