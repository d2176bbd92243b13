"""The section registry's machinery: :class:`Section`, :data:`SECTIONS` and lookups.

Kept apart from :mod:`labelaudit.report.sections` (which declares the built-in
sections and imports each task's section module) so that a task's section
module can register itself without importing the module that imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_TOP_N",
    "SECTIONS",
    "ContextBuilder",
    "Section",
    "present_sections",
    "register_section",
    "section_for",
    "section_lines",
    "section_sidecars",
]

#: Issues embedded in the page by default (the full list is the sidecar file).
DEFAULT_TOP_N = 1000

#: ``context(obj, result, options) -> dict`` of template variables.
ContextBuilder = Callable[[Any, Any, Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Section:
    """One section of the report, and what it contributes to the other outputs.

    Parameters
    ----------
    name : str
        Identifier; for an attached section, the key of ``AuditResult.extras``
        it renders.
    template : str
        Template file rendered for it (found among the package templates or
        the sources given with ``template_source``).
    context : callable
        ``context(obj, result, options) -> dict``: variables the template
        reads. ``obj`` is the result (core sections) or the attached object;
        ``options`` holds the :func:`~labelaudit.report.render_html` keywords
        and the summary.
    absent : Mapping, default {}
        Variables set when the section is absent (so other templates can test
        them, e.g. ``{"annotators": None}``).
    attached : bool, default False
        Whether it renders an attached analysis (else a core section).
    accepts : callable, optional
        ``accepts(obj) -> bool``: whether an attached object is of this kind.
    shown : callable, optional
        ``shown(context) -> bool``: whether the template is included (default:
        always when present).
    nav : str, optional
        Title of the section's link in the page header (anchor ``#anchor``).
    anchor : str, optional
        HTML id of the section (default ``name``).
    summary : callable, optional
        ``summary(obj)``: the section's ``summary.json`` ``extras[name]`` entry
        (core sections' entries follow the attached analyses').
    summary_key : str, optional
        Put that entry at the top level of ``summary.json`` under this key
        instead of under ``extras`` (for a headline block such as ``verified``).
    figures : callable, optional
        ``figures(obj) -> dict``: headline under ``summary.json`` ``figures[name]``.
    sidecars : callable, optional
        ``sidecars(obj, options) -> dict``: file name -> polars DataFrame
        (Parquet, CSV) or JSON-able data, written next to the report.
    lines : callable, optional
        ``lines(obj) -> list of str``: lines of the terminal summary.
    template_source : str, optional
        Template text, for sections that do not ship a template file.
    more_nav : callable, optional
        ``more_nav(context) -> list of (anchor, title)``: further header
        links to parts of the section (e.g. a second ``<section>`` its
        template renders).
    """

    name: str
    template: str
    context: ContextBuilder
    absent: Mapping[str, Any] = field(default_factory=dict)
    attached: bool = False
    accepts: Callable[[Any], bool] | None = None
    shown: Callable[[Mapping[str, Any]], bool] | None = None
    nav: str | None = None
    anchor: str | None = None
    summary: Callable[[Any], Any] | None = None
    summary_key: str | None = None
    figures: Callable[[Any], dict[str, Any]] | None = None
    sidecars: Callable[[Any, Mapping[str, Any]], dict[str, Any]] | None = None
    lines: Callable[[Any], list[str]] | None = None
    template_source: str | None = None
    more_nav: Callable[[Mapping[str, Any]], list[tuple[str, str]]] | None = None

    def select(self, result: Any) -> Any:
        """The object this section renders for ``result``, or None when it is absent."""
        if not self.attached:
            return result
        obj = result.extras.get(self.name)
        if obj is None or (self.accepts is not None and not self.accepts(obj)):
            return None
        return obj


#: Every section, in page order. Extend with :func:`register_section`.
SECTIONS: list[Section] = []


def register_section(section: Section, *, before: str | None = None) -> Section:
    """Add a section to :data:`SECTIONS` (replacing one of the same name).

    Parameters
    ----------
    section : Section
        The declaration.
    before : str, optional
        Name of the section it is placed before; default: before
        ``"others"`` (the catch-all) and ``"methodology"``.

    Returns
    -------
    Section
        ``section``, so the call can be used as an expression.
    """
    SECTIONS[:] = [s for s in SECTIONS if s.name != section.name]
    names = [s.name for s in SECTIONS]
    anchor = before if before is not None else next(
        (n for n in ("others", "methodology") if n in names), None
    )
    SECTIONS.insert(names.index(anchor) if anchor in names else len(SECTIONS), section)
    return section


def section_for(name: str, obj: Any) -> Section | None:
    """The attached section that renders ``obj`` attached under ``name``, if any."""
    for spec in SECTIONS:
        if spec.attached and spec.name == name and (spec.accepts is None or spec.accepts(obj)):
            return spec
    return None


def present_sections(result: Any) -> list[tuple[Section, Any]]:
    """Every section present in ``result`` (core ones always), in page order, with its object."""
    return [(s, o) for s in SECTIONS if (o := s.select(result)) is not None]


def section_sidecars(result: Any, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """File name -> content of every present section's sidecar files, in page order."""
    files: dict[str, Any] = {}
    for spec, obj in present_sections(result):
        if spec.sidecars is not None:
            files.update(spec.sidecars(obj, options or {}))
    return files


def section_lines(result: Any) -> list[str]:
    """The terminal summary lines of every present section, in page order."""
    lines: list[str] = []
    for spec, obj in present_sections(result):
        if spec.lines is not None:
            lines.extend(spec.lines(obj))
    return lines
