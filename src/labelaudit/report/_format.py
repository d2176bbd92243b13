"""Numbers and p-values as people read them in the report (no Jinja2 needed)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["DASH", "fmt_count", "fmt_num", "fmt_pct", "fmt_q"]

DASH = "\u2013"


def fmt_num(value: Any, digits: int = 3) -> str:
    """A number for display: ``digits`` significant digits; None and NaN become a dash.

    Parameters
    ----------
    value : object
        Number, bool or None.
    digits : int, default 3
        Significant digits for floats.

    Returns
    -------
    str
    """
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(value):
        return DASH
    if math.isinf(value):
        return "\u221e" if value > 0 else "-\u221e"
    return f"{value:.{digits}g}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A proportion in [0, 1] as a percentage with ``digits`` decimals (dash when missing).

    Parameters
    ----------
    value : float or None
        The proportion.
    digits : int, default 1
        Decimals of the percentage.

    Returns
    -------
    str
    """
    if value is None:
        return DASH
    value = float(value)
    if math.isnan(value):
        return DASH
    return f"{100.0 * value:.{digits}f}%"


def fmt_count(value: Any) -> str:
    """An integer with thousands separators (dash when missing).

    Parameters
    ----------
    value : int or None
        The count.

    Returns
    -------
    str
    """
    if value is None:
        return DASH
    return f"{int(value):,}"


def fmt_q(value: Any) -> str:
    """A q- or p-value as text: ``< 0.001`` for tiny values (dash when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    value = float(value)
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
