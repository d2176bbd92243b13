"""The one Jinja2 environment of the report: autoescaping, strict undefined, filters."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2

from ._format import FIELD_CHARS, TITLE_CHARS, clip, fmt_count, fmt_num, fmt_pct, fmt_plural, fmt_q

__all__ = ["environment"]


def _registered_template(name: str) -> tuple[str, None, Any] | None:
    """Template text given by a registered section (``Section.template_source``).

    Never cached: re-registering a section with new text takes effect at once.
    """
    from .sections import SECTIONS

    source = next(
        (s.template_source for s in SECTIONS if s.template == name and s.template_source), None
    )
    return None if source is None else (source, None, lambda: False)


def _bounded(value: Any) -> Any:
    """Every printed plain string is cut at ``FIELD_CHARS``: the page's size never follows the data.

    Markup (charts, CSS, scripts) is ours and passes unchanged.
    """
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup) and len(value) > FIELD_CHARS:
        return clip(value, FIELD_CHARS)
    return value


def _title(value: Any) -> str:
    """A cut data string's hover title: its first ``TITLE_CHARS`` characters."""
    return clip(value, TITLE_CHARS)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The report's Jinja2 environment (built once).

    Autoescaping is on for every template, undefined names raise, and the
    number filters ``num``, ``pct``, ``count`` and ``qval`` are registered, with
    ``clip`` (cut a data string for display) and ``title`` (its bounded hover
    text). Every printed plain string is cut at ``FIELD_CHARS`` characters.

    Returns
    -------
    jinja2.Environment
    """
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("labelaudit.report", "templates"),
                jinja2.FunctionLoader(_registered_template),
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_bounded,
    )
    env.filters["num"] = fmt_num
    env.filters["pct"] = fmt_pct
    env.filters["count"] = fmt_count
    env.filters["qval"] = fmt_q
    env.filters["plural"] = fmt_plural
    env.filters["clip"] = clip
    env.filters["title"] = _title
    return env
