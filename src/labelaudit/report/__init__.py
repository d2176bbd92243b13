"""HTML report of an audit: the only place labelaudit emits HTML.

:func:`render_html` turns an :class:`~labelaudit.result.AuditResult` into one
self-contained HTML page a reviewer can email or attach to a ticket:

- one template per section of :data:`~labelaudit.report.sections.SECTIONS`
  (the registry that also gives each section's summary entry, sidecar files
  and terminal lines);
- plain template context built in :mod:`._context` (no objects reach the
  templates), rendered by one Jinja2 environment (:mod:`._env`) with
  autoescaping and strict undefined names;
- charts drawn with matplotlib and inlined as SVG (:mod:`._charts`);
- inline CSS, and one inline script that only adds sorting, filtering and
  paging; a Content-Security-Policy allows that script alone (by hash), data:
  images and nothing from the network;
- at most ``top_n`` issues embedded (the full list is the sidecar file), and
  every displayed data string cut to
  :data:`~labelaudit.report._format.DISPLAY_CHARS` characters (the id keeps
  :data:`~labelaudit.report._format.TITLE_CHARS` in its hover title; any other
  printed string is cut at :data:`~labelaudit.report._format.FIELD_CHARS`),
  so the page stays small for any dataset size and any strings: with 1,000
  issues its text stays under 5 MB, thumbnails share a 3 MB budget;
- image files read only inside the data's folder (``image_root`` in the
  summary's parameters, from ``--image-root``, replaces it), with size, time
  and pixel caps; anything else gets a placeholder with the reason.

The output is deterministic: the same inputs give the same bytes (the only
date shown is one given explicitly or recorded in the summary).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..exceptions import LabelAuditError
from .sections import DEFAULT_TOP_N, SECTIONS, Section, register_section

__all__ = ["DEFAULT_TOP_N", "SECTIONS", "Section", "register_section", "render_html", "write_html"]


#: Runs first: marks the page as scripted so rows after the first page start hidden.
_EARLY_SCRIPT = 'document.documentElement.classList.add("js");'


def _csp_hash(script: str) -> str:
    """Content-Security-Policy source expression allowing exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


@cache
def _static(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def render_html(
    result: Any,
    *,
    gate: Any = None,
    summary: Mapping[str, Any] | None = None,
    top_n: int = DEFAULT_TOP_N,
    items: Any = None,
    items_id_col: str = "id",
    image_col: str | None = None,
    text_col: str | None = None,
    attribute_cols: Sequence[str] | None = None,
    issues_file: str = "issues.parquet",
    dataset: str | None = None,
    date: str | None = None,
    command: str | None = None,
) -> str:
    """Render an audit as one self-contained HTML page.

    Parameters
    ----------
    result : AuditResult
        The audit. Sections attached with ``with_section`` are rendered when
        recognised: ``"annotators"`` (an ``AnnotatorReview``) and ``"slices"``
        (a ``SliceReport``); flat mappings of other sections become small
        tables.
    gate : GateResult, optional
        Gate verdict; default: the ``gate`` block of ``summary`` when present.
    summary : Mapping, optional
        The ``summary.json`` content: inputs with hashes, parameters, version,
        output directory (for the reproducing command) and an optional
        ``date``. When ``items`` is not given and the summary names a data
        file that exists, the rows of the shown issues are read from it for
        thumbnails, text snippets and attribute columns.
    top_n : int, default 1000
        Most issues embedded in the page (lowest label quality first); the
        rest are in ``issues_file``.
    items : polars.DataFrame, optional
        The item table (id column plus images, text and attributes).
    items_id_col : str, default "id"
        Id column of ``items``.
    image_col, text_col : str, optional
        Image column (file path, encoded bytes, or a numeric pixel array of a
        square gray or RGB image) and text column; detected when omitted.
    attribute_cols : sequence of str, optional
        Extra columns of the issue table; default: up to six low-cardinality
        text, categorical or boolean columns.
    issues_file : str, default "issues.parquet"
        Relative link to the full issue table.
    dataset : str, optional
        Dataset name for the title; default from the summary.
    date : str, optional
        Date shown in the header; default ``summary["date"]`` when present.
        Nothing else in the page depends on the clock.
    command : str, optional
        Command that reproduces the audit; default built from the summary.

    Returns
    -------
    str
        An HTML5 document. Every value from the data (ids, labels, column and
        annotator names, file paths) is escaped.

    Raises
    ------
    LabelAuditError
        When ``top_n`` is not a positive integer.
    InputError
        When ``items`` lacks ``items_id_col``.
    """
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise LabelAuditError(f"top_n must be a positive integer, got {top_n!r}")
    from markupsafe import Markup

    from ._context import build_context
    from ._env import environment

    context = build_context(
        result,
        sections=SECTIONS,
        gate=gate,
        summary=summary,
        top_n=top_n,
        items=items,
        items_id_col=items_id_col,
        image_col=image_col,
        text_col=text_col,
        attribute_cols=attribute_cols,
        issues_file=issues_file,
        dataset=dataset,
        date=date,
        command=command,
    )
    script = _static("report.js")
    template = environment().get_template("report.html.j2")
    return template.render(
        **context,
        css=Markup(_static("report.css")),
        script=Markup(script),
        script_hash=_csp_hash(script),
        early_script=Markup(_EARLY_SCRIPT),
        early_hash=_csp_hash(_EARLY_SCRIPT),
    )


def write_html(result: Any, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Render an audit (see :func:`render_html`) and write it atomically to ``path``.

    Parameters
    ----------
    result : AuditResult
        The audit.
    path : str or os.PathLike
        Target file; written to a temporary file in the same directory, then
        renamed over it.
    **kwargs
        Passed to :func:`render_html`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from ..io.writers import write_text

    html = render_html(result, **kwargs)
    target = Path(path)
    write_text(target, html)
    return target
