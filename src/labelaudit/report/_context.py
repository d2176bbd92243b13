"""From an :class:`~labelaudit.result.AuditResult` to plain dicts for the templates.

Nothing but strings, numbers, lists, dicts and pre-rendered chart markup
(:class:`markupsafe.Markup` produced by :mod:`._charts`, and thumbnails as
base64 data URIs) crosses into the
templates; every string from user data stays a plain ``str`` and is escaped
there.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from markupsafe import Markup, escape

from . import _charts
from ._format import TITLE_CHARS, clip, fmt_count, fmt_num, fmt_pct, fmt_q
from ._images import image_kind as _image_kind
from ._images import thumbnail as _thumbnail

__all__ = ["build_context"]

#: Total base64 characters of thumbnails embedded in one page (about 3 MB).
THUMBNAIL_BUDGET = 3_000_000
#: Longest text snippet shown for a text column.
SNIPPET_CHARS = 140
#: Most attribute columns shown in the issue table.
MAX_ATTRIBUTE_COLUMNS = 6
#: Most distinct values (among the shown rows) of a column treated as an attribute.
MAX_ATTRIBUTE_LEVELS = 100
#: Most confused class pairs described in words.
TOP_PAIRS = 6
#: Issue rows whose thumbnails are decoded eagerly (the others load lazily).
EAGER_THUMBNAILS = 200
#: Most annotators drawn as confusion small multiples.
MAX_CONFUSION_PANELS = 4
#: Escaped UTF-8 bytes of the hover titles of cut class names in the issue rows (about
#: 500 kB); later rows show the cut name alone (the filter's options still title it).
CLASS_TITLE_BUDGET = 500_000



# --------------------------------------------------------------------------- helpers


def _interval(low: Any, high: Any) -> str:
    return f"{fmt_pct(low)} \u2013 {fmt_pct(high)}"


def _finite(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _cut(value: Any) -> tuple[str, str | None]:
    """A data string for display (cut with an ellipsis) and, when cut, its bounded hover title."""
    text = str(value)
    shown = clip(text)
    return shown, (clip(text, TITLE_CHARS) if shown != text else None)


def _q_words(value: Any) -> str:
    text = fmt_q(value)
    return f"q {text}" if text.startswith("<") else f"q = {text}"


def _they_label(confusions: str) -> str:
    """``"labels 'a' as 'b' ..."`` descriptions read after "they": "label 'a' as 'b' ..."."""
    return "; ".join("label " + part[len("labels "):] if part.startswith("labels ") else part
                     for part in (p.strip() for p in confusions.split(";")))


def _words(key: Any) -> str:
    """A machine key as words: ``interval_covers_true_rate`` -> "Interval covers true rate"."""
    text = " ".join(str(key).replace("_", " ").split())
    return text[:1].upper() + text[1:]


def _sort_key(value: Any) -> str:
    """Machine-readable sort value for a table cell (numbers as plain decimals)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        return "" if math.isnan(v) else repr(v)
    return str(value)


# --------------------------------------------------------------------------- header


def _gate(gate: Any, summary: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Verdict and every check, from a GateResult or the summary's ``gate`` block."""
    if gate is not None:
        checks = [c.to_dict() if hasattr(c, "to_dict") else dict(c) for c in gate.checks]
        passed = bool(gate.passed)
        source = str(getattr(gate, "source", ""))
    elif summary is not None and isinstance(summary.get("gate"), Mapping):
        block = summary["gate"]
        checks = [dict(c) for c in block.get("checks", [])]
        passed = bool(block.get("passed"))
        source = str(block.get("policy", ""))
    else:
        return None
    rows = []
    for c in checks:
        ok = bool(c.get("passed"))
        level = str(c.get("level", ""))
        rows.append({
            "name": str(c.get("name", "")),
            "level": level,
            "value": "not computed" if c.get("value") is None else fmt_num(c.get("value"), 4),
            "threshold": fmt_num(c.get("threshold"), 4),
            "status": "pass" if ok else ("FAIL" if level == "fail" else "warn"),
            "css": "pass" if ok else ("fail" if level == "fail" else "warn"),
            "message": str(c.get("message", "")),
        })
    return {
        "passed": passed,
        "verdict": "passed" if passed else "failed",
        "source": source,
        "checks": rows,
        "n_failed": sum(r["status"] == "FAIL" for r in rows),
        "n_warned": sum(r["status"] == "warn" for r in rows),
    }


def _inputs(summary: Mapping[str, Any] | None) -> list[dict[str, str]]:
    if summary is None:
        return []
    return [
        {
            "role": str(i.get("role", "")).replace("_", " "),
            "path": str(i.get("path", "")),
            # A policy or a design file has no rows to count.
            "rows": fmt_count(i.get("n_rows")) if i.get("n_rows") is not None else "n/a",
            "sha256": str(i.get("sha256", "")),
        }
        for i in summary.get("inputs", [])
    ]


def _dataset_name(summary: Mapping[str, Any] | None) -> str:
    """What the report is about: the demo, the data file or (annotator review) the annotations."""
    if summary is None:
        return "dataset"
    params = summary.get("parameters", {}) or {}
    if params.get("command") == "demo":
        return "labelaudit demo (8x8 handwritten digits)"
    for role in ("data", "annotations"):
        for i in summary.get("inputs", []):
            if i.get("role") == role and i.get("path"):
                return Path(str(i["path"])).name
    return "dataset"


def _title(cl_run: bool, result: Any) -> str:
    """The kind of report, from the analyses that ran."""
    if cl_run:
        return "Label audit"
    if result.extras.get("annotators") is not None:
        return "Annotator review"
    return "Label report"


def _date_words(when: Any) -> str | None:
    """An ISO 8601 date or timestamp as people read it (other text is shown unchanged)."""
    if when is None:
        return None
    from datetime import datetime

    text = str(when)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if len(text) <= 10:
        return parsed.strftime("%Y-%m-%d")
    offset = parsed.utcoffset()
    zone = "" if offset is None else (" UTC" if not offset else parsed.strftime(" %z"))
    return parsed.strftime("%Y-%m-%d %H:%M") + zone


def _command(summary: Mapping[str, Any] | None, result: Any) -> str:
    """The command line (or Python call) that reproduces the audit.

    The command line records the command it parsed (``summary["reproduce"]``);
    for a summary built elsewhere it is reconstructed from the parameters.
    """
    if summary is not None and summary.get("reproduce"):
        return str(summary["reproduce"])
    params = dict(result.parameters)
    if summary is not None:
        params.update(summary.get("parameters", {}) or {})
    out = None
    if summary is not None:
        out = (summary.get("outputs") or {}).get("directory")
    q = shlex.quote
    cmd = params.get("command")
    if cmd == "demo":
        parts = ["labelaudit", "demo"]
        if out:
            parts += ["--out", q(str(out))]
        if params.get("policy"):
            parts += ["--policy", q(str(params["policy"]))]
        if params.get("csv"):
            parts.append("--csv")
        parts += ["--seed", str(params.get("seed", 0))]
        return " ".join(parts)
    if cmd == "annotators" and summary is not None:
        data = next((i.get("path") for i in summary.get("inputs", [])
                     if i.get("role") == "annotations"), "ANNOTATIONS")
        parts = ["labelaudit", "annotators", q(str(data))]
        for key, flag, default in (("item_col", "--item-col", "item_id"),
                                   ("annotator_col", "--annotator-col", "annotator"),
                                   ("label_col", "--label-col", "label"),
                                   ("time_col", "--time-col", None),
                                   ("time_window", "--time-window", "1w"),
                                   ("pred_probs", "--pred-probs", None),
                                   ("policy", "--policy", None)):
            if params.get(key) not in (None, default):
                parts += [flag, q(str(params[key]))]
        if params.get("classes_given") and params.get("classes"):
            parts += ["--classes", q(",".join(map(str, params["classes"])))]
        parts += ["--seed", str(params.get("seed", 0)), "--out", q(str(out or "OUT"))]
        return " ".join(parts)
    if cmd == "audit" and summary is not None:
        data = next((i.get("path") for i in summary.get("inputs", []) if i.get("role") == "data"),
                    "DATA")
        parts = ["labelaudit", str(cmd), q(str(data)), "--label-col", q(str(params.get("label_col")))]
        if params.get("id_col"):
            parts += ["--id-col", q(str(params["id_col"]))]
        probs = [i.get("path") for i in summary.get("inputs", [])
                 if i.get("role") == "pred_probs" and i.get("path")]
        if probs:
            for path in probs:
                parts += ["--pred-probs", q(str(path))]
        elif params.get("feature_cols"):
            parts += ["--feature-cols", q(",".join(map(str, params["feature_cols"])))]
        if params.get("classes_given") and params.get("classes"):
            parts += ["--classes", q(",".join(map(str, params["classes"])))]
        if params.get("renormalize"):
            parts.append("--renormalize")
        if params.get("policy"):
            parts += ["--policy", q(str(params["policy"]))]
        if params.get("csv"):
            parts.append("--csv")
        if params.get("image_root"):
            parts += ["--image-root", q(str(params["image_root"]))]
        parts += ["--seed", str(params.get("seed", 0))]
        if params.get("cv_requested") not in (None, 5):
            parts += ["--cv", str(params["cv_requested"])]
        if params.get("n_bootstrap") not in (None, 1000):
            parts += ["--n-bootstrap", str(params["n_bootstrap"])]
        parts += ["--out", q(str(out or "OUT"))]
        return " ".join(parts)
    source = "pred_probs" if params.get("pred_probs") != "out_of_fold" else "features=X"
    return (
        f"labelaudit.audit(labels, {source}, seed={params.get('seed', 0)!r}, "
        f"filter_by={params.get('filter_by', 'prune_by_noise_rate')!r}, "
        f"n_bootstrap={params.get('n_bootstrap', 1000)!r}, "
        f"confidence={params.get('confidence', 0.95)!r})"
    )


# --------------------------------------------------------------------------- noise picture


def _noise(result: Any) -> dict[str, Any]:
    names = [str(c) for c in result.class_names]
    k = len(names)
    per = result.per_class
    counts = per.get_column("count").to_numpy().astype(float)
    # share[i, j] = p(true = j | given = i): the inverse noise matrix, transposed.
    share = np.asarray(result.inverse_noise_matrix, dtype=float).T
    share = np.nan_to_num(share)
    heatmap, shown = _charts.noise_heatmap(names, share, counts)
    rates = per.get_column("estimated_noise_rate").to_numpy()
    lo = per.get_column("ci_low").to_numpy()
    hi = per.get_column("ci_high").to_numpy()
    order = np.lexsort((np.arange(k), -np.nan_to_num(rates, nan=-1.0)))
    conf = f"{100 * result.confidence:g}%"
    class_chart = _charts.interval_chart(
        "class-noise",
        [names[i] for i in order],
        [rates[i] for i in order],
        [lo[i] for i in order],
        [hi[i] for i in order],
        xlabel=f"estimated noise rate of the items given each label (%), {conf} interval",
        alt="Estimated noise rate of each class with its interval, noisiest first",
        reference=result.estimated_noise_rate,
    )
    per_class = [
        {
            "name": name,
            "name_title": title,
            "count": fmt_count(row["count"]),
            "count_key": _sort_key(row["count"]),
            "rate": fmt_pct(row["estimated_noise_rate"]),
            "rate_key": _sort_key(row["estimated_noise_rate"]),
            "ci": _interval(row["ci_low"], row["ci_high"]),
            "issues": fmt_count(row["n_issues"]),
            "issues_key": _sort_key(row["n_issues"]),
            "quality": fmt_num(row["mean_label_quality"], 3),
            "quality_key": _sort_key(row["mean_label_quality"]),
        }
        for row in per.iter_rows(named=True)
        for name, title in [_cut(row["class"])]
    ]
    expected = share * counts[:, None]
    np.fill_diagonal(expected, 0.0)
    flat = np.argsort(-expected, axis=None, kind="stable")
    pairs = []
    for f in flat[: TOP_PAIRS * 3]:
        g, t = divmod(int(f), k)
        if expected[g, t] < 0.5 or share[g, t] < 0.005:
            break
        pairs.append(
            f"About {fmt_pct(share[g, t], 1 if share[g, t] < 0.1 else 0)} of the items labeled "
            f"\u2018{clip(names[g])}\u2019 look like \u2018{clip(names[t])}\u2019 "
            f"(roughly {int(round(expected[g, t])):,} of {int(counts[g]):,})."
        )
        if len(pairs) == TOP_PAIRS:
            break
    return {
        "heatmap": heatmap,
        "heatmap_partial": len(shown) < k,
        "heatmap_shown": len(shown),
        "class_chart": class_chart,
        "per_class": per_class,
        "pairs": pairs,
    }


# --------------------------------------------------------------------------- issue list


def _columns(
    items: pl.DataFrame,
    id_col: str,
    skip: set[str],
    image_col: str | None,
    text_col: str | None,
    attribute_cols: Sequence[str] | None,
) -> tuple[tuple[str, str] | None, str | None, list[str]]:
    """Pick the image column (with its kind), the text column and the attribute columns."""
    image = None
    if image_col is not None:
        kind = _image_kind(items.get_column(image_col))
        image = (image_col, kind or "path")
    else:
        for col in items.columns:
            if col in skip or col == id_col:
                continue
            kind = _image_kind(items.get_column(col))
            if kind is not None:
                image = (col, kind)
                break
    used = skip | {id_col} | ({image[0]} if image else set())
    text = text_col
    if text is None:
        best = 0.0
        for col, dtype in items.schema.items():
            if col in used or dtype != pl.String:
                continue
            mean_len = items.get_column(col).drop_nulls().str.len_chars().mean()
            if mean_len is not None and mean_len > 40 and mean_len > best:
                best, text = float(mean_len), col
    used |= {text} if text else set()
    if attribute_cols is not None:
        attrs = [c for c in attribute_cols if c in items.columns and c not in used]
    else:
        attrs = []
        for col, dtype in items.schema.items():
            if col in used:
                continue
            if dtype in (pl.String, pl.Categorical, pl.Boolean) or isinstance(dtype, pl.Enum):
                if items.get_column(col).n_unique() <= MAX_ATTRIBUTE_LEVELS:
                    attrs.append(col)
            if len(attrs) == MAX_ATTRIBUTE_COLUMNS:
                break
    return image, text, attrs


def _load_items(summary: Mapping[str, Any] | None, ids: pl.Series) -> tuple[pl.DataFrame | None, str, Path | None]:
    """The data rows of the shown issues, read from the summary's data input when it exists."""
    if summary is None:
        return None, "id", None
    params = summary.get("parameters", {}) or {}
    data = next((i for i in summary.get("inputs", []) if i.get("role") == "data"), None)
    if data is None or not data.get("path"):
        return None, "id", None
    from ..io.tables import read_rows

    id_col = params.get("id_col")
    frame = read_rows(str(data["path"]), id_col=id_col, ids=ids)
    if frame is None:
        return None, "id", None
    if not id_col:
        frame = frame.with_row_index("__row").with_columns(pl.col("__row").cast(pl.Int64))
        id_col = "__row"
    skip_label = params.get("label_col")
    if skip_label in frame.columns:
        frame = frame.drop(skip_label)
    return frame, str(id_col), Path(str(data["path"])).parent


def _issues(
    result: Any,
    top_n: int,
    items: pl.DataFrame | None,
    items_id_col: str,
    base_dir: Path | None,
    image_col: str | None,
    text_col: str | None,
    attribute_cols: Sequence[str] | None,
    sidecar: str,
    summary: Mapping[str, Any] | None,
) -> dict[str, Any]:
    table = result.issues
    top = table.filter(pl.col("is_issue")).head(top_n)
    if items is None and top.height:
        items, items_id_col, base_dir = _load_items(summary, top.get_column("id"))
    image = text = None
    attrs: list[str] = []
    extra: dict[Any, dict[str, Any]] = {}
    if items is not None and top.height:
        if items_id_col not in items.columns:
            from ..exceptions import InputError

            raise InputError(
                f"items: no id column {items_id_col!r}; columns are {', '.join(items.columns[:10])}"
            )
        key = items.get_column(items_id_col).cast(pl.String)
        wanted = set(top.get_column("id").cast(pl.String).to_list())
        mask = key.is_in(list(wanted))
        sub = items.filter(mask)
        params = (summary or {}).get("parameters", {}) or {}
        skip = {c for c in ("label", params.get("label_col")) if c}
        image, text, attrs = _columns(sub, items_id_col, skip, image_col, text_col, attribute_cols)
        keep = [items_id_col] + ([image[0]] if image else []) + ([text] if text else []) + attrs
        for row in sub.select(keep).iter_rows(named=True):
            extra[str(row[items_id_col])] = row
    # The given-label filter works on class indices: clipped names may coincide.
    class_index = {str(c): i for i, c in enumerate(result.class_names)}
    given_classes: dict[int, dict[str, Any]] = {}
    title_budget = CLASS_TITLE_BUDGET
    rows = []
    budget = THUMBNAIL_BUDGET
    n_thumbs = 0
    n_refused = 0
    skipped_thumbs = 0
    image_root = ((summary or {}).get("parameters", {}) or {}).get("image_root")
    root = Path(str(image_root)) if image_root else None
    for row in top.iter_rows(named=True):
        rid = str(row["id"])
        info = extra.get(rid, {})
        thumb = refused = None
        if image is not None and info:
            if budget > 0:
                thumb, refused = _thumbnail(info.get(image[0]), image[1], base_dir, root)
                if thumb is not None:
                    budget -= len(thumb)
                    n_thumbs += 1
                    # Our own base64 data URI: safe as it is, and exempt from the string cut.
                    thumb = Markup(thumb)
                elif refused is not None:
                    n_refused += 1
            else:
                skipped_thumbs += 1
        snippet = None
        if text and info.get(text) is not None:
            snippet = clip(info[text], SNIPPET_CHARS)
        # Displayed strings are cut (the full values are in the sidecar file).
        # The id alone keeps a longer (bounded) form in its hover title.
        shown_id, id_title = _cut(rid)
        given_name = str(row["given_label"])
        given_key = class_index.setdefault(given_name, len(class_index))
        given, given_title = _cut(given_name)
        suggested, suggested_title = _cut(row["suggested_label"])
        given_classes.setdefault(
            given_key, {"value": given_key, "name": given, "title": given_title,
                        "full": given_name})
        # Cut class names keep their hover title while the byte budget lasts.
        cost = sum(len(escape(t).encode("utf-8")) for t in (given_title, suggested_title) if t)
        if cost > title_budget:
            given_title = suggested_title = None
        title_budget -= cost
        rows.append({
            "rank": row["issue_rank"],
            "id": shown_id,
            "id_title": id_title,
            "given": given,
            "given_title": given_title,
            "given_key": given_key,
            "suggested": suggested,
            "suggested_title": suggested_title,
            "quality": fmt_num(row["label_quality"], 3),
            "quality_key": _sort_key(row["label_quality"]),
            "thumb": thumb,
            "no_thumb": refused,
            "snippet": snippet,
            "attrs": ["" if info.get(a) is None else clip(info.get(a)) for a in attrs],
        })
    return {
        "rows": rows,
        "n_total": result.n_issues,
        "n_shown": len(rows),
        "n_more": max(result.n_issues - len(rows), 0),
        "top_n": top_n,
        "sidecar": sidecar,
        "has_thumbs": n_thumbs + n_refused > 0,
        "n_refused_thumbs": n_refused,
        "image_col": clip(image[0]) if image else None,
        "skipped_thumbs": skipped_thumbs,
        "text_col": None if text is None else clip(text),
        "attr_cols": [clip(a) for a in attrs],
        "given_classes": sorted(given_classes.values(), key=lambda c: (c["full"], c["value"])),
        "page_size": 50,
        # The first rows' thumbnails are decoded with the page, so a screenshot or a
        # print shows them; the rest load as they scroll into view.
        "eager_rows": EAGER_THUMBNAILS,
    }


# --------------------------------------------------------------------------- annotators

#: Rows of the relabel queue shown in the report (the full queue is the sidecar file).
QUEUE_ROWS = 50


def _window_label(value: Any) -> str:
    """A window start as a date (with the time of day only when it is not midnight)."""
    if hasattr(value, "strftime"):
        midnight = (getattr(value, "hour", 0), getattr(value, "minute", 0)) == (0, 0)
        return value.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M")
    return str(value)


def _windows(review: Any) -> dict[str, Any] | None:
    """Accuracy per annotator and time window, the drift tests and their small multiples."""
    windows = getattr(review, "time_windows", None)
    drift = getattr(review, "drift", None)
    if windows is None or drift is None:
        return None
    who_col = drift.columns[0]
    every = str(review.params.get("time_window") or "1w")
    alpha = float(review.params.get("alpha", 0.05))
    starts = windows.get_column("window_start").unique().sort().to_list()
    labels = [_window_label(t) for t in starts]
    pos = {t: j for j, t in enumerate(starts)}
    order = drift.sort(["drifted", "drift_q_value", who_col], descending=[True, False, False],
                       nulls_last=True)
    panels = []
    for row in order.head(_charts.MAX_WINDOW_PANELS).iter_rows(named=True):
        acc, lo, hi = (np.full(len(starts), np.nan) for _ in range(3))
        mine = windows.filter((pl.col(who_col) == row[who_col]) & (pl.col("n_graded") > 0))
        for w in mine.iter_rows(named=True):
            j = pos[w["window_start"]]
            acc[j], lo[j], hi[j] = w["accuracy"], w["accuracy_low"], w["accuracy_high"]
        panels.append((str(row[who_col]), labels, acc, lo, hi, bool(row["drifted"])))
    rows, words = [], []
    for row in order.iter_rows(named=True):
        who = str(row[who_col])
        rows.append({
            "who": who,
            "n_windows": fmt_count(row["n_windows"]),
            "first": fmt_pct(row["first_accuracy"]),
            "last": fmt_pct(row["last_accuracy"]),
            "range": _interval(row["min_accuracy"], row["max_accuracy"]),
            "q": fmt_q(row["drift_q_value"]) if row["drift_q_value"] is not None
            and not math.isnan(row["drift_q_value"]) else "not tested",
            "q_key": _sort_key(row["drift_q_value"]),
            "drifted": bool(row["drifted"]),
        })
        if row["drifted"]:
            words.append(
                f"{who}'s accuracy changes between windows ({_q_words(row['drift_q_value'])}): "
                f"from {fmt_pct(row['first_accuracy'])} in the first to "
                f"{fmt_pct(row['last_accuracy'])} in the last of {row['n_windows']} windows, "
                f"between {fmt_pct(row['min_accuracy'])} and {fmt_pct(row['max_accuracy'])}."
            )
    return {
        "window": every,
        "time_col": str(review.params.get("time_col") or ""),
        "n_windows": fmt_count(len(starts)),
        "chart": _charts.window_small_multiples(panels, window=every) if panels else None,
        "n_panels": len(panels),
        "n_annotators": len(rows),
        "rows": rows,
        "words": words,
        "fdr": fmt_num(alpha, 3),
    }


def _queue(review: Any) -> dict[str, Any]:
    """The first rows of the relabel queue: the items most worth another label."""
    queue = review.relabel_queue
    item_col = queue.columns[1]
    rows = [
        {
            "rank": fmt_count(r["rank"]),
            "item": clip(str(r[item_col])),
            "n": fmt_count(r["n_annotations"]),
            "consensus": "" if r["consensus_class"] is None else clip(str(r["consensus_class"])),
            "priority": fmt_num(r["priority"], 3),
            "reason": str(r["reason"]),
        }
        for r in queue.head(QUEUE_ROWS).iter_rows(named=True)
    ]
    return {"rows": rows, "n_total": queue.height, "n_more": max(queue.height - len(rows), 0),
            "sidecar": "relabel_queue.parquet"}



def _annotators(review: Any, class_names: Sequence[str]) -> dict[str, Any]:
    board = review.annotators
    who_col = board.columns[0]
    board = board.sort(["accuracy", who_col], descending=[True, False], nulls_last=True)
    names = [str(x) for x in board.get_column(who_col).to_list()]
    flagged_col = board.get_column("flagged").fill_null(False).to_list() \
        if "flagged" in board.columns else [False] * len(names)
    chart = _charts.accuracy_chart(
        names,
        board.get_column("accuracy").to_list(),
        board.get_column("accuracy_low").to_list(),
        board.get_column("accuracy_high").to_list(),
        board.get_column("peer_accuracy").to_list(),
        flagged_col,
    )
    leaderboard = []
    words = []
    for row, flag in zip(board.iter_rows(named=True), flagged_col, strict=True):
        who, who_title = _cut(row[who_col])
        leaderboard.append({
            "who": who,
            "who_title": who_title,
            "n": fmt_count(row.get("n_labels")),
            "n_key": _sort_key(row.get("n_labels")),
            "graded": fmt_count(row.get("n_graded")),
            "acc": fmt_pct(row.get("accuracy")),
            "acc_key": _sort_key(row.get("accuracy")),
            "ci": _interval(row.get("accuracy_low"), row.get("accuracy_high")),
            "peer": fmt_pct(row.get("peer_accuracy")),
            "kappa": fmt_num(row.get("kappa_vs_consensus"), 3),
            "q": fmt_q(row.get("q_value")),
            "q_key": _sort_key(row.get("q_value")),
            "flagged": bool(flag),
            "confusions": str(row.get("top_confusions") or "none"),
        })
        if flag:
            words.append(
                f"{who} agrees with the other annotators' majority {fmt_pct(row.get('accuracy'))} "
                f"of the time (95% interval {_interval(row.get('accuracy_low'), row.get('accuracy_high'))}), "
                f"against {fmt_pct(row.get('peer_accuracy'))} for everyone else "
                f"({_q_words(row.get('q_value'))})."
                + (f" Most often they {_they_label(row['top_confusions'])}."
                   if row.get("top_confusions") else "")
            )
    # Small multiples: flagged annotators first (worst accuracy first), else the worst ones.
    worst = sorted(zip(names, flagged_col, board.get_column("accuracy").to_list(), strict=True),
                   key=lambda t: (not t[1], _finite(t[2]) if t[2] is not None else 2.0, t[0]))
    chosen = [w[0] for w in worst[:MAX_CONFUSION_PANELS]]
    panels = []
    if "ds_confusion" in board.columns:
        lookup = dict(zip(names, board.get_column("ds_confusion").to_list(), strict=True))
        for who in chosen:
            mat = lookup.get(who)
            if mat is not None:
                panels.append((who, np.asarray(mat, dtype=float)))
    small = _charts.confusion_small_multiples(panels, [str(c) for c in class_names]) \
        if panels else None
    pairwise = review.pairwise
    pair_chart = None
    if pairwise.height and len(names) <= 30:
        pos = {n: i for i, n in enumerate(names)}
        mat = np.full((len(names), len(names)), np.nan)
        a_col, b_col = pairwise.columns[0], pairwise.columns[1]
        for r in pairwise.iter_rows(named=True):
            i, j = pos.get(str(r[a_col])), pos.get(str(r[b_col]))
            if i is not None and j is not None and r.get("cohen_kappa") is not None:
                mat[i, j] = mat[j, i] = float(r["cohen_kappa"])
        pair_chart = _charts.pairwise_heatmap(names, mat)
    ag = dict(review.agreement or {})
    agreement = [
        ("Percent agreement", fmt_pct(ag.get("percent_agreement")),
         "share of annotator pairs on the same item that gave the same label"),
        ("Fleiss' kappa", fmt_num(ag.get("fleiss_kappa"), 3),
         "agreement beyond chance across all annotators (1 perfect, 0 chance level)"),
        ("Krippendorff's alpha (nominal)", fmt_num(ag.get("krippendorff_alpha"), 3),
         "agreement beyond chance that tolerates missing annotations; 0.8 or more is usually "
         "considered reliable, below 0.667 is doubtful"),
        ("Cohen's kappa, mean over pairs", fmt_num(ag.get("cohen_kappa_mean"), 3),
         f"median {fmt_num(ag.get('cohen_kappa_median'), 3)} over {fmt_count(ag.get('n_pairs'))} "
         "annotator pairs with enough shared items"),
    ]
    return {
        "windows": _windows(review),
        "queue": _queue(review),
        "n_flagged": sum(bool(f) for f in flagged_col),
        "alpha": fmt_num(ag.get("krippendorff_alpha"), 3),
        "n_annotators": len(names),
        "n_annotations": fmt_count(ag.get("n_annotations")),
        "n_items": fmt_count(ag.get("n_items")),
        "leaderboard": leaderboard,
        "chart": chart,
        "confusions": small,
        "confusion_who": [clip(w) for w in chosen] if panels else [],
        "pair_chart": pair_chart,
        "agreement": agreement,
        "flagged_words": words,
    }


# --------------------------------------------------------------------------- bias / slices


def _slice_row(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "attribute": clip(r["attribute"]),
        "group": clip(r["group"]),
        "n": fmt_count(r["n"]),
        "n_key": _sort_key(r["n"]),
        "n_issues": fmt_count(r["n_issues"]),
        "rate": fmt_pct(r["issue_rate"]),
        "rate_key": _sort_key(r["issue_rate"]),
        "ci": _interval(r["ci_low"], r["ci_high"]),
        "rest": fmt_pct(r["rest_rate"]),
        "q": fmt_q(r["q_value"]),
        "q_key": _sort_key(r["q_value"]),
        "flagged": bool(r["flagged"]),
    }


def _bias(report: Any) -> dict[str, Any]:
    table = report.table
    overall = report.overall.row(0, named=True) if report.overall.height else {}
    overall_rate = overall.get("issue_rate")
    attrs = list(dict.fromkeys(
        table.filter(pl.col("order") == 1).get_column("attribute").to_list()
    ))
    charts = []
    for i, attr in enumerate(attrs):
        sub = table.filter((pl.col("order") == 1) & (pl.col("attribute") == attr))
        sub = sub.sort(["issue_rate", "group"], descending=[True, False], nulls_last=True)
        charts.append({
            "attribute": clip(attr),
            "svg": _charts.interval_chart(
                f"slice-{i}",
                [str(g) for g in sub.get_column("group").to_list()],
                sub.get_column("issue_rate").to_list(),
                sub.get_column("ci_low").to_list(),
                sub.get_column("ci_high").to_list(),
                xlabel="share of items flagged as label issues (%), Wilson 95% interval",
                alt=f"Issue rate of each group of {clip(attr)} with its Wilson interval",
                reference=overall_rate,
                highlight=sub.get_column("flagged").fill_null(False).to_list(),
            ),
            "rows": [_slice_row(r) for r in sub.iter_rows(named=True)],
            "truncated": sub.height > _charts.MAX_BARS,
        })
    inter = [_slice_row(r) for r in report.intersections.iter_rows(named=True)]
    params = dict(getattr(report, "parameters", {}) or {})
    return {
        "overall_rate": fmt_pct(overall_rate),
        "overall_ci": _interval(overall.get("ci_low"), overall.get("ci_high")),
        "charts": charts,
        "flagged_words": [str(s) for s in report.describe_flagged()],
        "intersections": inter,
        "fdr": fmt_num(params.get("fdr"), 3),
        "min_effect": fmt_pct(params.get("min_effect")),
        "min_size": fmt_count(params.get("min_size")),
        "test": str(params.get("test", "")),
    }


def _plain_section(name: str, section: Any) -> dict[str, Any] | None:
    """Flat mappings of scalars as a key/value table; anything else is only named."""
    data = section.to_dict() if hasattr(section, "to_dict") and not isinstance(section, pl.DataFrame) else section
    rows = []
    if isinstance(data, Mapping):
        for k, v in data.items():
            if v is None or isinstance(v, bool | int | float | str | np.integer | np.floating):
                if isinstance(v, float | np.floating) and 0.0 <= float(v) <= 1.0 and (
                    "rate" in str(k) or "precision" in str(k) or "recall" in str(k)):
                    shown = fmt_pct(v)
                elif isinstance(v, str):
                    shown = v
                else:
                    shown = fmt_num(v, 4)
                rows.append((_words(k), shown))
    return {"name": _words(name), "rows": rows}


# --------------------------------------------------------------------------- next steps


def _next_steps(ctx: dict[str, Any]) -> list[str]:
    steps = []
    gate = ctx["gate"]
    if gate is not None and not gate["passed"]:
        failed = ", ".join(c["name"] for c in gate["checks"] if c["status"] == "FAIL")
        steps.append(f"The quality gate failed ({failed}): do not ship these labels as they are.")
    model = ctx.get("model") or {}
    if any(w["severity"] == "error" for w in model.get("checks", ())):
        steps.append("Fix the model's probabilities first (see the model errors above): every "
                     "noise figure and issue in this report rests on them.")
    issues = ctx["issues"]
    if issues is None:  # another task: its own section says what to review
        steps.append("Review the flagged items in the task's section, lowest label quality first.")
    elif issues["n_total"]:
        where = (f"; the remaining {issues['n_more']:,} are in {issues['sidecar']}"
                 if issues["n_more"] else "")
        steps.append(
            f"Review the {issues['n_shown']:,} items in the issue list, lowest label quality "
            f"first, and relabel or confirm each{where}."
        )
    else:
        steps.append("No label issues were flagged; spot-check a random sample anyway.")
    if ctx["noise"] is not None and ctx["noise"]["pairs"]:
        steps.append("Check the labeling guideline for the most confused classes: "
                     + ctx["noise"]["pairs"][0])
    ann = ctx["annotators"]
    if ann is not None and ann["flagged_words"]:
        who = ", ".join(r["who"] for r in ann["leaderboard"] if r["flagged"])
        steps.append(f"Talk to or retrain the flagged annotators ({who}) and re-review their items.")
    bias = ctx["bias"]
    if bias is not None and bias["flagged_words"]:
        steps.append("Look into the flagged slices (Bias section): " + bias["flagged_words"][0])
    return steps


# --------------------------------------------------------------------------- section contexts


def _model_warnings(result: Any) -> dict[str, Any]:
    """How the interval is labelled, each model's own estimate, and the model checks' findings."""
    from ..model_checks import MODEL_LABEL

    iv = getattr(result, "noise_interval", None)
    names = getattr(result, "model_names", ())
    models = []
    if iv is not None and names:
        for name, rate, (lo, hi) in zip(names, iv.model_rates[1:], iv.model_intervals[1:],
                                        strict=True):
            models.append({"name": str(name), "rate": fmt_pct(rate), "ci": _interval(lo, hi)})
    # The audit's own figures are the model's, also when a review verified the rate.
    model_based = getattr(result, "noise_rate_source", None) is not None
    verified = (getattr(result, "extras", None) or {}).get("verified")
    reviewed = None
    if getattr(result, "noise_rate_source", None) == "review" and verified is not None:
        reviewed = {"noise_rate": fmt_pct(verified.noise_rate),
                    "ci": _interval(verified.ci_low, verified.ci_high),
                    "confidence": f"{100 * verified.confidence:g}%",
                    "n_reviewed": fmt_count(verified.n_reviewed)}
    return {
        "noise_label": MODEL_LABEL if model_based else "",
        "reviewed": reviewed,
        "sampling_ci": _interval(getattr(result, "sampling_ci_low", float("nan")),
                                 getattr(result, "sampling_ci_high", float("nan"))),
        "bounds": None if iv is None else _interval(iv.lower_bound, iv.upper_bound),
        "models": models,
        "spread": (_interval(min(iv.model_rates[1:]), max(iv.model_rates[1:]))
                   if models else None),
        "checks": [
            {"severity": f.severity, "title": "Model error" if f.severity == "error"
             else "Model warning", "message": f.message}
            for f in getattr(result, "model_checks", ())
        ],
    }


def summary_context(result: Any, _result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """Headline cards of the summary section (its next steps are added last)."""
    return {
        "model": _model_warnings(result),
        "cards": {
            "n_items": fmt_count(result.n_items),
            "classes": fmt_count(result.n_classes),
            "noise_rate": fmt_pct(result.estimated_noise_rate),
            "noise_ci": _interval(result.ci_low, result.ci_high),
            "issues": fmt_count(result.n_issues),
            "issue_share": fmt_pct(result.n_issues / max(result.n_items, 1)),
            "health": fmt_num(result.label_health_score, 3),
            "confidence": f"{100 * result.confidence:g}%",
        },
    }


def _ratio_text(block: Mapping[str, Any]) -> dict[str, str]:
    """A measured precision or recall: the estimate and its interval, as text."""
    if block.get("estimate") is None:
        return {"value": "\u2013", "interval": "not measurable on this sample"}
    return {"value": fmt_num(block["estimate"], 2),
            "interval": f"{fmt_num(block['ci_low'], 2)} \u2013 {fmt_num(block['ci_high'], 2)}"}


def verified_context(verified: Any, result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The review's verdict: the verified noise rate, the detector's measured quality, the plan."""
    acceptance = None
    decision = verified.acceptance
    if decision is not None:
        plan = decision["plan"]
        kind = "single sampling plan" if plan["kind"] == "single" else "model-assisted stratified plan"
        acceptance = {
            "decision": decision["decision"],
            "rule": decision["rule"],
            "kind": kind,
            "n": fmt_count(plan["n"]),
            "aql": fmt_pct(plan["aql"]),
            "lq": fmt_pct(plan["lq"]),
            "producer_risk": fmt_pct(plan["producer_risk"]),
            "consumer_risk": fmt_pct(plan["consumer_risk"]),
            "chart": _charts.oc_chart(
                decision["oc_curve"], aql=plan["aql"], lq=plan["lq"],
                producer_risk=plan["producer_risk"], consumer_risk=plan["consumer_risk"],
                title=kind,
            ),
        }
    model_interval = _interval(result.ci_low, result.ci_high)
    return {
        "verified": {
            "noise_rate": fmt_pct(verified.noise_rate, 2),
            "interval": _interval(verified.ci_low, verified.ci_high),
            "confidence": f"{100 * verified.confidence:g}%",
            "n_reviewed": fmt_count(verified.n_reviewed),
            "n_sampled": fmt_count(verified.n_sampled),
            "n_wrong": fmt_count(verified.n_wrong_reviewed),
            "n_items": fmt_count(verified.n_items),
            "wrong_labels": fmt_count(round(verified.wrong_labels["estimate"])),
            "wrong_low": fmt_count(round(verified.wrong_labels["ci_low"])),
            "wrong_high": fmt_count(round(verified.wrong_labels["ci_high"])),
            "partial": verified.partial,
            "n_unreviewed": fmt_count(verified.n_sampled - verified.n_reviewed),
            "precision": _ratio_text(verified.precision),
            "recall": _ratio_text(verified.recall),
            "model_noise_rate": fmt_pct(result.estimated_noise_rate),
            "model_interval": model_interval,
            "per_class": [
                {
                    "name": str(row["class"]),
                    "n_items": fmt_count(row["n_items"]),
                    "n_reviewed": fmt_count(row["n_reviewed"]),
                    "rate": ("n/a" if row.get("noise_rate") is None
                             else fmt_pct(row.get("noise_rate"))),
                    "interval": (_interval(row["ci_low"], row["ci_high"])
                                 if row.get("noise_rate") is not None
                                 else "too few reviewed items to estimate"),
                }
                for row in verified.per_class
            ],
            "acceptance": acceptance,
        }
    }


def _one_class(result: Any) -> bool:
    """Whether ``result`` is a one-class-per-item audit (not another ``--task``)."""
    return result.parameters.get("task", "classification") == "classification"


def noise_context(result: Any, _result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The noise picture: heat map, per-class rates, the most confused pairs, the model's interval."""
    if not _one_class(result):
        return {"noise": None, "model": _model_warnings(result)}
    return {"noise": _noise(result), "model": _model_warnings(result)}


def issues_context(result: Any, _result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The issue list: the top issues with thumbnails, snippets and attributes."""
    if not _one_class(result):
        return {"issues": None}  # another task's section lists its issues
    return {
        "issues": _issues(
            result, int(options["top_n"]), options["items"], options["items_id_col"], None,
            options["image_col"], options["text_col"], options["attribute_cols"],
            options["issues_file"], options["summary"],
        )
    }


def annotators_context(review: Any, result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The annotator review: leaderboard, agreement, confusions."""
    return {"annotators": _annotators(review, result.class_names)}


def bias_context(report: Any, result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The slice report: issue rates by group with intervals and flagged slices."""
    return {"bias": _bias(report)}


def others_context(result: Any, _result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """Attached analyses no registered section renders, as small key/value tables."""
    rendered = options["rendered_extras"]
    extras = dict(result.extras)
    others = []
    for name in sorted(extras):
        if name not in rendered:
            plain = _plain_section(name, extras[name])
            if plain is not None:
                others.append(plain)
    return {"others": others}


def _parameters(result: Any, summary: Mapping[str, Any] | None) -> dict[str, Any]:
    params = dict(result.parameters)
    if summary is not None:
        params.update(summary.get("parameters", {}) or {})
    return params


def methodology_context(result: Any, _result: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """Method, folds, parameters and the command that reproduces the audit."""
    summary = options["summary"]
    params_src = _parameters(result, summary)
    oof = result.out_of_fold
    folds = None
    if oof is not None:
        spread = oof.fold_spread()
        folds = {"n": oof.n_splits, "low": fmt_pct(spread["min"]), "high": fmt_pct(spread["max"]),
                 "model": str(oof.model), "model_name": str(oof.model_name),
                 "accuracy": fmt_pct(oof.accuracy),
                 "pilot_rows": fmt_count(oof.pilot_rows) if oof.pilot_scores else None,
                 "failed": ", ".join(oof.failed_models),
                 "pilot": ", ".join(
                     f"{name} {score:.3f}" if np.isfinite(score) else f"{name} failed to fit"
                     for name, score in sorted(oof.pilot_scores.items(),
                                               key=lambda item: (not np.isfinite(item[1]),
                                                                 item[1]))
                 )}
    command = options["command"]
    review = result.extras.get("annotators")
    method = getattr(review, "params", {}).get("consensus_method") if review is not None else None
    return {
        "consensus_method": str(method or ""),
        "folds": folds,
        "filter_by": str(params_src.get("filter_by", "")),
        "n_bootstrap": fmt_count(params_src.get("n_bootstrap")),
        "probs_source": str(params_src.get("pred_probs", "")),
        "command": command if command is not None else _command(summary, result),
        "params": [(str(k), "none" if v is None else str(v)) for k, v in sorted(params_src.items())],
    }


# --------------------------------------------------------------------------- entry point


def build_context(
    result: Any,
    *,
    sections: Sequence[Any],
    gate: Any = None,
    summary: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    date: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Plain template context for one report (see :func:`labelaudit.report.render_html`).

    The page frame (title, date, inputs, gate) is built here; every section in
    ``sections`` (the registry, :data:`labelaudit.report.sections.SECTIONS`,
    passed in so this module never imports it back) adds its own variables
    from ``options`` (the other keywords of ``render_html``, all required) and
    the summary.

    Returns
    -------
    dict
        Strings, numbers, lists and dicts, plus chart SVG markup; ``sections``
        lists the templates to include and ``nav`` the header links.
    """
    from .._version import __version__

    version = __version__
    if summary is not None:
        version = str((summary.get("versions") or {}).get("labelaudit", version))
    when = date
    if when is None and summary is not None:
        when = summary.get("date") or summary.get("created")
    # Attached analyses that a section renders; the "others" section lists the rest.
    rendered = {s.name for s in sections if s.attached and s.select(result) is not None}
    options = {"summary": summary, "rendered_extras": rendered, **options}
    # An annotator-only review has no confident-learning figures to show.
    params = _parameters(result, summary)
    cl_run = (params.get("confident_learning") != "not run"
              and params.get("task", "classification") == "classification")
    ctx: dict[str, Any] = {
        "title": _title(cl_run, result),
        "dataset": dataset if dataset is not None else _dataset_name(summary),
        "date": _date_words(when),
        "version": version,
        "inputs": _inputs(summary),
        "gate": _gate(gate, summary),
        "cl_run": cl_run,
    }
    present = []
    for spec in sections:
        obj = spec.select(result)
        if obj is None:
            ctx.update(spec.absent)
        else:
            ctx.update(spec.context(obj, result, options))
            present.append(spec)
    ctx["next_steps"] = _next_steps(ctx)
    shown = [s for s in present if s.shown is None or s.shown(ctx)]
    ctx["sections"] = [s.template for s in shown]
    ctx["nav"] = []
    for s in shown:
        if s.nav:
            ctx["nav"].append({"anchor": s.anchor or s.name, "title": s.nav})
        if s.more_nav is not None:
            ctx["nav"].extend({"anchor": a, "title": t} for a, t in s.more_nav(ctx))
    return ctx
