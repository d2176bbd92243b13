"""The report section of ``--task detection``: image issue rate, drawn boxes, per-class table.

Registered on import (by the task-section block at the end of
:mod:`labelaudit.report.sections`). It renders the
:class:`~labelaudit.tasks.detection.DetectionReview` attached under
``"detection"``: headline cards (share of images with a flagged box, with its
interval; counts of overlooked, swapped and badly located boxes), a gallery of
the worst images with their given boxes (solid) and predicted boxes (dashed)
drawn as an SVG overlay on the inlined thumbnail, each flagged box labelled
with its issue type and class, and the per-class table. An image file that
cannot be read is replaced by a blank canvas of the image's size (the boxes
are still drawn) with the reason. Sidecars: ``issues.parquet`` (one row per
image) and ``boxes.parquet`` (one row per box).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._registry import Section, register_section

__all__ = ["DETECTION_IMAGES_SHOWN", "DETECTION_IMAGE_BUDGET", "DETECTION_VIEW_SIZE"]

#: Images with a flagged box drawn in the page, worst first (all are in ``issues.parquet``).
DETECTION_IMAGES_SHOWN = 24
#: Longest edge, in CSS pixels, of a drawn image (the thumbnail is encoded at most this size).
DETECTION_VIEW_SIZE = 240
#: Characters of inlined image data the gallery may use; later images get a blank canvas.
DETECTION_IMAGE_BUDGET = 3_000_000

_ISSUE_WORDS = {"overlooked": "overlooked", "swapped": "swapped", "badly_located": "badly located"}


def _is_detection_review(obj: Any) -> bool:
    from ..tasks.detection import DetectionReview

    return isinstance(obj, DetectionReview)


def _interval(low: float, high: float) -> str:
    from ._format import fmt_pct

    return f"{fmt_pct(low)} to {fmt_pct(high)}"


def _label(row: Mapping[str, Any]) -> str:
    """What a flagged box is labelled with: its issue type and class (given -> predicted)."""
    word = _ISSUE_WORDS.get(row["issue"], row["issue"])
    if row["issue"] == "swapped" and row.get("predicted_class") is not None:
        return f"{word}: {row['class']} \u2192 {row['predicted_class']}"
    return f"{word}: {row['class']}"


def _size(image: Mapping[str, Any], boxes: list[Mapping[str, Any]]) -> tuple[float, float]:
    """The image's size; when missing, the extent of its boxes (at least 1 x 1)."""
    w, h = image.get("width"), image.get("height")
    if not (w and h and w > 0 and h > 0):
        w = max([float(b["x2"]) for b in boxes] + [1.0])
        h = max([float(b["y2"]) for b in boxes] + [1.0])
    return float(w), float(h)


def _drawn(row: Mapping[str, Any], scale: float, vw: float, vh: float) -> dict[str, Any]:
    def c(v: Any) -> float:
        return round(float(v) * scale, 2)

    x, y = c(row["x1"]), c(row["y1"])
    w = max(c(row["x2"]) - x, 0.5)
    flagged = bool(row["issue"])
    label = _label(row) if flagged else ""
    # The label sits above the box (inside it when the box touches the top edge), starting at
    # its left edge, or ending at its right edge when the box is in the right half.
    ty = y - 4 if y >= 14 else y + 13
    right = x + w / 2 > vw / 2
    return {
        "source": row["source"], "cls": row["class"], "issue": row["issue"], "flagged": flagged,
        "x": x, "y": y, "w": w, "h": max(c(row["y2"]) - y, 0.5),
        "label": label, "anchor": "end" if right else "start",
        "tx": min(x + w, vw - 2.0) if right else max(x, 2.0), "ty": min(ty, vh - 3),
        "title": (f"{row['source']} box, class {row['class']}"
                  + (f", score {float(row['score']):.3g}" if row["source"] == "predicted" else "")
                  + (f": {label}" if flagged else "")),
    }


def _context(review: Any, result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    import polars as pl

    from ._format import fmt_count, fmt_num, fmt_pct
    from ._images import thumbnail

    head = review.headline
    worst = review.images.filter(pl.col("is_issue")).sort("issue_rank").head(
        DETECTION_IMAGES_SHOWN)
    shown_ids = worst.get_column("id")
    boxes = review.boxes.filter(pl.col("image_id").is_in(shown_ids.implode()))
    by_image: dict[str, list[dict[str, Any]]] = {}
    for row in boxes.iter_rows(named=True):
        by_image.setdefault(row["image_id"], []).append(row)
    root = Path(review.image_dir)
    view = DETECTION_VIEW_SIZE
    budget = DETECTION_IMAGE_BUDGET
    used = 0
    images = []
    for img in worst.iter_rows(named=True):
        rows = by_image.get(img["id"], [])
        w, h = _size(img, rows)
        scale = view / max(w, h)
        vw, vh = round(w * scale, 2), round(h * scale, 2)
        uri, reason = thumbnail(img["file_name"], "path", root, root=root, size=view)
        if uri is not None and used + len(uri) > budget:
            uri, reason = None, "not embedded: the page's image budget is used up"
        if uri is not None:
            used += len(uri)
        drawn = [_drawn(r, scale, vw, vh) for r in rows]
        drawn.sort(key=lambda d: d["flagged"])  # flagged boxes on top
        flagged = [d for d in drawn if d["flagged"]]
        images.append({
            "id": img["id"], "file": img["file_name"] or "", "uri": uri,
            "reason": reason or ("no file name" if not img["file_name"] else None),
            "width": fmt_num(w, 6), "height": fmt_num(h, 6), "vw": vw, "vh": vh,
            "rank": img["issue_rank"], "quality": fmt_num(img["label_quality"]),
            "n_given": img["n_given"], "n_predicted": img["n_predicted"],
            "boxes": drawn, "flagged": flagged,
        })
    classes = [{
        "name": r["class"], "count": r["count"], "n_issues": r["n_issues"],
        "rate": fmt_pct(r["estimated_noise_rate"]),
        "rate_key": repr(float(r["estimated_noise_rate"])),
        "ci": _interval(r["ci_low"], r["ci_high"]) if r["count"] + r["n_overlooked"] else "n/a",
        "n_overlooked": r["n_overlooked"], "n_swapped": r["n_swapped"],
        "n_badly_located": r["n_badly_located"],
        "precision": fmt_num(r["precision"]), "recall": fmt_num(r["recall"]),
        "f1": fmt_num(r["f1"]),
    } for r in review.per_class.iter_rows(named=True)]
    n_flagged_images = int(head["detection_n_issue_images"])
    return {"detection": {
        "n_images": head["detection_n_images"], "n_issue_images": n_flagged_images,
        "rate": fmt_pct(head["detection_image_issue_rate"]),
        "ci": _interval(head["detection_image_issue_ci_low"], head["detection_image_issue_ci_high"]),
        "confidence": f"{100 * getattr(result, 'confidence', 0.95):g}%",
        "n_overlooked": fmt_count(head["detection_n_overlooked"]),
        "n_swapped": fmt_count(head["detection_n_swapped"]),
        "n_badly_located": fmt_count(head["detection_n_badly_located"]),
        "n_given": int((review.boxes.get_column("source") == "given").sum()),
        "n_predicted": int((review.boxes.get_column("source") == "predicted").sum()),
        "images": images, "n_shown": len(images),
        "n_more": max(n_flagged_images - len(images), 0), "classes": classes,
    }}


def _sidecars(review: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    files: dict[str, Any] = {"issues.parquet": review.images, "boxes.parquet": review.boxes}
    if options.get("csv"):
        files["issues.csv"] = review.images
    return files


def _lines(review: Any) -> list[str]:
    h = review.headline
    return [
        f"Detection: {h['detection_n_issue_images']} of {h['detection_n_images']} images have a "
        f"flagged box ({100 * h['detection_image_issue_rate']:.2f}%, 95% interval "
        f"{100 * h['detection_image_issue_ci_low']:.2f}% to "
        f"{100 * h['detection_image_issue_ci_high']:.2f}%, Wilson; model-based, unverified); "
        f"boxes flagged: {h['detection_n_overlooked']} overlooked, {h['detection_n_swapped']} "
        f"swapped, {h['detection_n_badly_located']} badly located."
    ]


register_section(Section(
    "detection", "_detection.html.j2", _context, attached=True, accepts=_is_detection_review,
    absent={"detection": None}, nav="Box issues", anchor="detection",
    summary=lambda review: review.to_dict(), figures=lambda review: review.figures(),
    sidecars=_sidecars, lines=_lines,
))
