"""The report section of ``--task segmentation``: pixel and image issue rates, mask overlays.

Registered on import (by the task-section block at the end of
:mod:`labelaudit.report.sections`). It renders the
:class:`~labelaudit.tasks.segmentation.SegmentationAudit` attached under
``"segmentation"``: headline cards with intervals, the worst images each
drawn three times (the picture, or the given mask when there is none, with
flagged pixels in magenta; the given classes; the model's suggested classes
on the flagged pixels over the dimmed given ones) with a colour legend, and
the per-class table. The drawings are PNG data URIs, so the page stays
self-contained. Sidecars: ``issues.parquet`` (one row per image) and
``segmentation_classes.parquet``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._registry import Section, register_section

__all__ = ["FLAG_COLOUR", "PALETTE", "SEGMENTATION_PANEL_SIZE", "overlay_panels"]

#: Edge in pixels the panels are scaled to (nearest neighbour; flags survive shrinking).
SEGMENTATION_PANEL_SIZE = 128

#: Colour of flagged pixels (not in :data:`PALETTE`).
FLAG_COLOUR = (255, 0, 255)

#: Class colours, class ``j`` gets ``PALETTE[j % len(PALETTE)]``.
PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (23, 190, 207), (188, 189, 34), (127, 127, 127), (174, 199, 232),
    (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148),
    (158, 218, 229), (219, 219, 141), (57, 59, 121), (99, 121, 57), (140, 109, 49),
)

_MAX_PICTURE_PIXELS = 25_000_000


def _is_segmentation_audit(obj: Any) -> bool:
    return getattr(obj, "kind", None) == "segmentation_audit"


def _interval(low: float, high: float) -> str:
    from ._format import fmt_pct

    if low != low or high != high:
        return "n/a"
    return f"{fmt_pct(low)} to {fmt_pct(high)}"


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _colours(classes: np.ndarray) -> np.ndarray:
    palette = np.asarray(PALETTE, dtype=np.uint8)
    return palette[np.asarray(classes, dtype=np.int64) % len(PALETTE)]


def _picture(data: bytes | None, height: int, width: int) -> np.ndarray | None:
    """The picture as (H, W, 3) uint8 at the mask's size, or None when it cannot be read."""
    if data is None:
        return None
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.size[0] * img.size[1] > _MAX_PICTURE_PIXELS:
                    return None
                img = img.convert("RGB")
                if img.size != (width, height):
                    img = img.resize((width, height), Image.Resampling.BILINEAR)
                return np.asarray(img, dtype=np.uint8)
    except Exception:  # noqa: BLE001 - one bad picture never stops the report
        return None


def _scale(rgb: np.ndarray, flagged: np.ndarray | None = None) -> np.ndarray:
    """Nearest-neighbour rescale to :data:`SEGMENTATION_PANEL_SIZE`; shrinking keeps any flag."""
    h, w = rgb.shape[:2]
    edge = max(h, w)
    if edge <= SEGMENTATION_PANEL_SIZE:
        f = max(1, SEGMENTATION_PANEL_SIZE // edge)
        return np.repeat(np.repeat(rgb, f, axis=0), f, axis=1)
    step = -(-edge // SEGMENTATION_PANEL_SIZE)
    out = rgb[::step, ::step].copy()
    if flagged is not None:
        hh, ww = out.shape[:2]
        pad = np.zeros((hh * step, ww * step), dtype=bool)
        pad[:h, :w] = flagged
        anyflag = pad.reshape(hh, step, ww, step).any(axis=(1, 3))
        out[anyflag] = FLAG_COLOUR
    return out


def _png(rgb: np.ndarray) -> str:
    """A PNG data URI, as Markup: it is ours (base64), so the page's string bound must not cut it."""
    from markupsafe import Markup
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(buf, format="PNG")
    return Markup("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"))


def overlay_panels(shown: Any) -> dict[str, Any]:
    """The three drawings of one shown image as RGB arrays (before scaling).

    Returns ``{"flags": ..., "given": ..., "suggested": ..., "picture": bool}``:
    ``flags`` is the picture (or, without one, the given classes lightened)
    with flagged pixels in :data:`FLAG_COLOUR`; ``given`` the given classes;
    ``suggested`` the suggested class on flagged pixels over the given
    classes blended half-way to white.
    """
    given = _colours(shown.given)
    flagged = np.asarray(shown.flagged, dtype=bool)
    h, w = flagged.shape
    picture = _picture(shown.image, h, w)
    if picture is None:
        base = (given.astype(np.float64) * 0.6 + 255 * 0.4).astype(np.uint8)
    else:
        base = picture.copy()
    base[flagged] = FLAG_COLOUR
    dim = (given.astype(np.float64) * 0.5 + 255 * 0.5).astype(np.uint8)
    suggested = dim.copy()
    suggested[flagged] = _colours(shown.suggested)[flagged]
    return {"flags": base, "given": given, "suggested": suggested, "picture": picture is not None}


def _top_pair(shown: Any, names: tuple[str, ...]) -> str:
    flagged = np.asarray(shown.flagged, dtype=bool)
    if not flagged.any():
        return ""
    k = len(names)
    pairs = np.bincount(shown.given[flagged].astype(np.int64) * k
                        + shown.suggested[flagged].astype(np.int64), minlength=k * k)
    best = int(pairs.argmax())
    return f"{names[best // k]} \u2192 {names[best % k]} ({int(pairs[best])} px)"


def _context(audit: Any, result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    from ._format import fmt_num, fmt_pct

    names = audit.class_names
    images = []
    used: set[int] = set()
    for s in audit.shown:
        panels = overlay_panels(s)
        used.update(np.unique(s.given).tolist())
        used.update(np.unique(s.suggested[np.asarray(s.flagged, dtype=bool)]).tolist())
        images.append({
            "id": s.id, "rank": s.issue_rank, "quality": fmt_num(s.label_quality),
            "n_issue_pixels": s.n_issue_pixels,
            "share": fmt_pct(s.n_issue_pixels / max(s.flagged.size, 1)),
            "top_pair": _top_pair(s, names), "picture": panels["picture"],
            "flags": _png(_scale(panels["flags"], s.flagged)),
            "given": _png(_scale(panels["given"])),
            "suggested": _png(_scale(panels["suggested"], None)),
        })
    legend = [{"name": names[j], "colour": _hex(PALETTE[j % len(PALETTE)])}
              for j in sorted(used) if j < len(names)]
    classes = []
    for r in audit.per_class.iter_rows(named=True):
        rate = r["estimated_noise_rate"]
        classes.append({
            "name": r["class"], "count": r["count"], "n_issues": r["n_issues"],
            "n_images": r["n_images"], "rate": fmt_pct(rate) if r["count"] else "n/a",
            "rate_key": -1.0 if rate != rate else rate,
            "ci": _interval(r["ci_low"], r["ci_high"]) if r["count"] else "n/a",
            "pair": (f"{r['class']} \u2192 {r['top_suggested']} ({r['top_suggested_pixels']} px)"
                     if r["top_suggested"] is not None else ""),
            "absent": r["count"] == 0,
        })
    conf = f"{100 * audit.confidence:g}%"
    return {"segmentation": {
        "n_images": audit.n_images, "n_pixels": audit.n_pixels,
        "n_issue_pixels": audit.n_issue_pixels, "n_issue_images": audit.n_issue_images,
        "height": audit.height, "width": audit.width,
        "pixel_rate": fmt_pct(audit.pixel_rate),
        "pixel_ci": _interval(audit.pixel_ci_low, audit.pixel_ci_high),
        "image_rate": fmt_pct(audit.image_rate),
        "image_ci": _interval(audit.image_ci_low, audit.image_ci_high),
        "confidence": conf, "source": audit.source, "images": images,
        "flag_colour": _hex(FLAG_COLOUR), "legend": legend, "classes": classes,
        "absent": [c["name"] for c in classes if c["absent"]],
        "min_issue_pixels": audit.min_issue_pixels,
    }}


def _sidecars(audit: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    files: dict[str, Any] = {"issues.parquet": audit.images,
                             "segmentation_classes.parquet": audit.per_class}
    if options.get("csv"):
        files["issues.csv"] = audit.images
        files["segmentation_classes.csv"] = audit.per_class
    return files


def _lines(audit: Any) -> list[str]:
    conf = f"{100 * audit.confidence:g}%"
    m = audit.min_issue_pixels
    what = "a flagged pixel" if m == 1 else f"at least {m} flagged pixels"
    return [
        f"Segmentation: {audit.n_issue_pixels} of {audit.n_pixels} pixels flagged "
        f"({100 * audit.pixel_rate:.2f}%, {conf} interval {100 * audit.pixel_ci_low:.2f}% to "
        f"{100 * audit.pixel_ci_high:.2f}%, image bootstrap); {audit.n_issue_images} of "
        f"{audit.n_images} images have {what} ({100 * audit.image_rate:.1f}%, "
        f"{100 * audit.image_ci_low:.1f}% to {100 * audit.image_ci_high:.1f}%)."
    ]


register_section(Section(
    "segmentation", "_segmentation.html.j2", _context, attached=True,
    accepts=_is_segmentation_audit, absent={"segmentation": None}, nav="Segmentation issues",
    anchor="segmentation", summary=lambda audit: audit.to_dict(),
    figures=lambda audit: audit.figures(), sidecars=_sidecars, lines=_lines,
))
