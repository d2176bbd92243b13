"""Numbers and p-values as people read them in the report (no Jinja2 needed)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["DASH", "DISPLAY_CHARS", "FIELD_CHARS", "TITLE_CHARS", "clip", "fmt_count", "fmt_num",
           "fmt_pct", "fmt_plural", "fmt_q"]

DASH = "\u2013"

#: Longest data string (id, label, class, attribute value, annotator or column name)
#: shown in the report; longer ones are cut with an ellipsis.
DISPLAY_CHARS = 60
#: Longest form of a cut string kept in its hover title (also cut beyond).
TITLE_CHARS = 200
#: Longest plain string the templates print at all (a backstop for composed sentences
#: that quote data); the full values stay in the sidecar files.
FIELD_CHARS = 1_000


def clip(value: Any, limit: int = DISPLAY_CHARS) -> str:
    """``str(value)`` cut to at most ``limit`` characters, ending in an ellipsis when cut.

    Parameters
    ----------
    value : object
        Anything with a ``str``.
    limit : int, default DISPLAY_CHARS
        Most characters kept, the ellipsis included.

    Returns
    -------
    str

    Examples
    --------
    >>> clip("a" * 100, 10)
    'aaaaaaaaa\u2026'
    >>> clip("short")
    'short'
    """
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def fmt_num(value: Any, digits: int = 3) -> str:
    """A number for display: ``digits`` significant digits in fixed notation (never
    scientific); None and NaN become a dash.

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
    return _fixed(value, digits)


#: Magnitudes below this are shown as "< 0.000001" (fixed notation would need more zeros).
_SMALLEST = 1e-6


def _fixed(value: float, digits: int) -> str:
    """``digits`` significant digits in fixed notation, never scientific.

    Large values get thousands separators (``1,230,000``); magnitudes below
    one millionth are shown as ``< 0.000001`` (or ``> -0.000001``); trailing
    zeros after the decimal point are dropped, as ``%g`` does.
    """
    if value == 0.0:
        return "0"
    if abs(value) < _SMALLEST:
        return "< 0.000001" if value > 0 else "> -0.000001"
    rounded = float(f"{value:.{digits}g}")  # round to the significant digits first
    exponent = math.floor(math.log10(abs(rounded)))
    decimals = max(digits - 1 - exponent, 0)
    text = f"{rounded:,.{decimals}f}"
    # Like %g: no trailing zeros after the decimal point.
    return text.rstrip("0").rstrip(".") if decimals else text


def fmt_plural(count: Any, word: str, many: str | None = None) -> str:
    """A count with its noun in the right number: ``1 item``, ``2 items``, ``1,797 items``.

    Parameters
    ----------
    count : int or str
        The count, or its text with thousands separators (as :func:`fmt_count` gives).
    word : str
        The singular noun.
    many : str, optional
        The plural noun; default ``word + "s"``.

    Returns
    -------
    str
    """
    if count is None:
        return f"{DASH} {many or word + 's'}"
    text = count if isinstance(count, str) else fmt_count(count)
    try:
        one = int(str(text).replace(",", "")) == 1
    except ValueError:
        one = False
    return f"{text} {word if one else (many or word + 's')}"


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
