"""Charts of the report: matplotlib figures rendered to inline SVG strings.

Every chart is drawn on a bare :class:`matplotlib.figure.Figure` (no pyplot,
no global state) with the SVG backend, text kept as ``<text>`` elements
(escaped by matplotlib's XML writer, small and searchable), a fixed
``svg.hashsalt`` per chart and no date in the metadata, so the same input
gives the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib
import numpy as np
from markupsafe import Markup, escape
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

__all__ = [
    "accuracy_chart",
    "confusion_small_multiples",
    "window_small_multiples",
    "interval_chart",
    "noise_heatmap",
    "oc_chart",
    "pairwise_heatmap",
]

#: Largest class count drawn in full in a heatmap (larger sets show the noisiest).
MAX_HEATMAP_CLASSES = 25
#: Largest number of bars in an interval chart.
MAX_BARS = 40

_INK = "#1f2328"
_MUTED = "#57606a"
_ACCENT = "#0b5cad"
_ALERT = "#b3261e"

_RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.edgecolor": _MUTED,
    "axes.labelcolor": _INK,
    "xtick.color": _INK,
    "ytick.color": _INK,
    "text.color": _INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "path.simplify": True,
}

_SVG_START = re.compile(r"<svg\b")
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')


def _short(text: str, width: int = 24) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=72)
    FigureCanvasSVG(fig)
    return fig


_SVG_SIZE = re.compile(r'<svg\b[^>]*?\swidth="[^"]*"\s+height="[^"]*"\s+viewBox="[^"]*"')


def _short_float(value: float) -> str:
    """A number as matplotlib's SVG writer prints it: six decimals, trailing zeros cut."""
    return f"{value:f}".rstrip("0").rstrip(".")


def _draw_tight(fig: Figure) -> str:
    """The figure as SVG text, cropped to its artists plus ``savefig.pad_inches``.

    What ``savefig(bbox_inches="tight")`` shows, drawn once instead of twice:
    savefig lays the whole figure out once to find the tight box and again to
    write it. Here the figure is written once at full size, the tight box is
    read from that same drawing (its text layouts are cached by renderer), and
    the ``<svg>`` element's size and ``viewBox`` are set to that box.
    """
    from matplotlib.backends.backend_mixed import MixedModeRenderer
    from matplotlib.backends.backend_svg import RendererSVG

    buf = io.StringIO()
    dpi = fig.dpi
    fig.dpi = 72  # SVG user units are points, as in print_svg
    try:
        width, height = fig.get_size_inches()
        renderer = MixedModeRenderer(
            fig, width, height, dpi,
            RendererSVG(width * 72, height * 72, buf, image_dpi=dpi, metadata={"Date": None}),
        )
        fig.draw(renderer)
        box = fig.get_tightbbox(renderer).padded(matplotlib.rcParams["savefig.pad_inches"])
        renderer.finalize()
    finally:
        fig.dpi = dpi
    text = buf.getvalue()
    x0, w, h = 72 * box.x0, 72 * box.width, 72 * box.height
    y0 = 72 * (height - box.y1)  # SVG's y axis points down
    w_, h_, x_, y_ = (_short_float(v) for v in (w, h, x0, y0))
    size = f'width="{w_}pt" height="{h_}pt" viewBox="{x_} {y_} {w_} {h_}"'
    start = _SVG_SIZE.search(text)
    if start is None:  # pragma: no cover - matplotlib always writes all three
        raise RuntimeError("unexpected SVG header from matplotlib")
    head = text[start.start():start.end()]
    head = re.sub(r'\swidth="[^"]*"\s+height="[^"]*"\s+viewBox="[^"]*"', " " + size, head)
    return text[:start.start()] + head + text[start.end():]


def to_svg(fig: Figure, name: str, alt: str) -> Markup:
    """Render a figure as an inline ``<svg>`` element.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (drawn under :data:`_RC`).
    name : str
        Chart name; salts the element ids so two charts never share an id.
    alt : str
        Text alternative, set as the element's ``aria-label``.

    Returns
    -------
    markupsafe.Markup
        The ``<svg>`` element without XML prolog or doctype.
    """
    with matplotlib.rc_context({"svg.hashsalt": f"labelaudit-{name}", **_RC}):
        text = _draw_tight(fig)
    start = _SVG_START.search(text)
    svg = text[start.start():] if start else text
    # Inline SVG in HTML needs no namespace declarations (the parser supplies them, also
    # for xlink:href) and no RDF metadata: dropping them keeps the page free of URLs.
    svg = _METADATA.sub("", svg)
    svg = _XMLNS.sub("", svg)
    # Accessible name; width scales down with the page (height keeps the ratio by CSS).
    svg = svg.replace(
        "<svg ",
        f'<svg role="img" aria-label="{escape(alt)}" class="chart" ',
        1,
    )
    # Defensive: matplotlib escapes text, so markup from user strings can never appear.
    if re.search(r"<\s*(script|foreignObject|iframe)", svg, flags=re.IGNORECASE):
        raise RuntimeError(f"chart {name!r}: unexpected active content in the SVG")
    return Markup(svg.strip())


def noise_heatmap(
    class_names: Sequence[str], share: np.ndarray, counts: np.ndarray
) -> tuple[Markup, list[str]]:
    """Annotated heatmap: rows given label, columns likely true label, cells in percent.

    Parameters
    ----------
    class_names : sequence of str
        Class names in code order.
    share : numpy.ndarray of shape (K, K)
        ``share[i, j]``: estimated share of items given label ``i`` whose true
        label is ``j`` (rows sum to 1).
    counts : numpy.ndarray of shape (K,)
        Items per given label (used to pick the classes shown when K is large).

    Returns
    -------
    svg : markupsafe.Markup
    shown : list of str
        The classes drawn (all of them, or the noisiest when K is large).
    """
    k = len(class_names)
    idx = np.arange(k)
    if k > MAX_HEATMAP_CLASSES:
        off = 1.0 - np.diag(share)
        keep = np.lexsort((idx, -off))[:MAX_HEATMAP_CLASSES]
        idx = np.sort(keep)
    sub = share[np.ix_(idx, idx)]
    names = [_short(class_names[i], 14) for i in idx]
    m = len(idx)
    cell = 0.42 if m > 12 else 0.55
    fig = _new_figure(1.6 + cell * m, 1.2 + cell * m)
    ax = fig.add_subplot()
    # Colour the off-diagonal scale by its own maximum, so confusions stand out.
    shown = sub.copy()
    np.fill_diagonal(shown, np.nan)
    vmax = max(float(np.nanmax(shown)) if m > 1 else 0.0, 0.05)
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#e8eef5")
    ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=vmax, aspect="equal", interpolation="nearest")
    ax.set_xticks(range(m), labels=names, rotation=90 if m > 6 else 0)
    ax.set_yticks(range(m), labels=names)
    ax.set_xlabel("likely true label")
    ax.set_ylabel("given label")
    ax.spines[:].set_visible(False)
    if m <= 20:
        size = 7 if m > 12 else 8
        for i in range(m):
            for j in range(m):
                v = sub[i, j]
                if i == j:
                    color = _INK
                else:
                    color = "white" if v > 0.55 * vmax else _INK
                label = f"{100 * v:.0f}" if v >= 0.005 or i == j else ""
                if label:
                    ax.text(j, i, label, ha="center", va="center", fontsize=size, color=color)
    alt = (
        "Heatmap of the estimated share (percent) of items with each given label (rows) "
        "whose true label is each class (columns)"
    )
    return to_svg(fig, "noise-heatmap", alt), [class_names[i] for i in idx]


def interval_chart(
    name: str,
    labels: Sequence[str],
    values: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    *,
    xlabel: str,
    alt: str,
    reference: float | None = None,
    reference_label: str = "overall",
    highlight: Sequence[bool] | None = None,
) -> Markup:
    """Horizontal dot-and-whisker chart of rates with intervals (one row per label).

    Parameters
    ----------
    name : str
        Chart name (salts ids).
    labels : sequence of str
        Row labels, drawn top to bottom.
    values, low, high : sequence of float
        Point estimates and interval bounds, as proportions.
    xlabel : str
        Axis title.
    alt : str
        Text alternative.
    reference : float, optional
        A vertical reference line (for example the overall rate).
    reference_label : str, default "overall"
        Legend text of the reference line.
    highlight : sequence of bool, optional
        Rows drawn in the alert colour (flagged).

    Returns
    -------
    markupsafe.Markup
    """
    n = min(len(labels), MAX_BARS)
    vals = np.asarray(values, dtype=float)[:n]
    lo = np.asarray(low, dtype=float)[:n]
    hi = np.asarray(high, dtype=float)[:n]
    flags = np.zeros(n, dtype=bool) if highlight is None else np.asarray(highlight, bool)[:n]
    fig = _new_figure(6.4, 0.9 + 0.26 * max(n, 2))
    ax = fig.add_subplot()
    y = np.arange(n)
    lo_err = np.clip(np.nan_to_num(vals - lo), 0, None)
    hi_err = np.clip(np.nan_to_num(hi - vals), 0, None)
    for mask, color, marker, text in (
        (~flags, _ACCENT, "o", "estimate with interval"),
        (flags, _ALERT, "D", "flagged"),
    ):
        if mask.any():
            ax.errorbar(
                100 * vals[mask], y[mask],
                xerr=100 * np.vstack([lo_err[mask], hi_err[mask]]),
                fmt=marker, color=color, ecolor=color, elinewidth=1.4, capsize=2.5,
                markersize=4.5, label=text,
            )
    if reference is not None and np.isfinite(reference):
        ax.axvline(100 * reference, color=_MUTED, linestyle="--", linewidth=1,
                   label=f"{reference_label} {100 * reference:.1f}%")
    ax.set_yticks(y, labels=[_short(s, 28) for s in list(labels)[:n]])
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(left=0)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", color="#d0d7de", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=3, fontsize=7.5, frameon=False)
    return to_svg(fig, name, alt)


def accuracy_chart(
    names: Sequence[str],
    accuracy: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    peer: Sequence[float],
    flagged: Sequence[bool],
) -> Markup:
    """Annotator accuracy against the leave-one-out consensus, with Wilson intervals.

    Parameters
    ----------
    names : sequence of str
        Annotator ids, in display order.
    accuracy, low, high : sequence of float
        Accuracy and its interval.
    peer : sequence of float
        Pooled accuracy of the other annotators (drawn as a tick).
    flagged : sequence of bool
        Annotators flagged as worse than their peers.

    Returns
    -------
    markupsafe.Markup
    """
    n = min(len(names), MAX_BARS)
    fig = _new_figure(6.4, 0.9 + 0.26 * max(n, 2))
    ax = fig.add_subplot()
    y = np.arange(n)
    acc = np.asarray(accuracy, dtype=float)[:n]
    lo = np.asarray(low, dtype=float)[:n]
    hi = np.asarray(high, dtype=float)[:n]
    pe = np.asarray(peer, dtype=float)[:n]
    fl = np.asarray(flagged, dtype=bool)[:n]
    err = 100 * np.vstack([np.clip(np.nan_to_num(acc - lo), 0, None),
                           np.clip(np.nan_to_num(hi - acc), 0, None)])
    for mask, color, marker, text in ((~fl, _ACCENT, "o", "accuracy (95% interval)"),
                                      (fl, _ALERT, "D", "flagged")):
        if mask.any():
            ax.errorbar(100 * acc[mask], y[mask], xerr=err[:, mask], fmt=marker, color=color,
                        ecolor=color, capsize=2.5, markersize=4.5, label=text)
    ax.scatter(100 * pe, y, marker="|", s=120, color=_MUTED, label="peers")
    ax.set_yticks(y, labels=[_short(s, 24) for s in list(names)[:n]])
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("agreement with the other annotators' majority (%)")
    ax.grid(axis="x", color="#d0d7de", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=3, fontsize=7.5, frameon=False)
    alt = "Accuracy of each annotator with its 95% Wilson interval, and the peers' accuracy"
    return to_svg(fig, "annotator-accuracy", alt)


def confusion_small_multiples(
    panels: Sequence[tuple[str, np.ndarray]], class_names: Sequence[str]
) -> Markup:
    """Small multiples of per-annotator confusion matrices (rows true, columns given).

    Parameters
    ----------
    panels : sequence of (str, numpy.ndarray)
        Annotator id and its K x K row-normalised confusion matrix.
    class_names : sequence of str
        Class names.

    Returns
    -------
    markupsafe.Markup
    """
    n = len(panels)
    k = len(class_names)
    cols = min(n, 4)
    rows = -(-n // cols)
    side = 2.3 if k <= 12 else 2.8
    fig = _new_figure(side * cols + 0.4, side * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    cmap = matplotlib.colormaps["Blues"]
    names = [_short(c, 6) for c in class_names]
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    show = k <= 12
    blank = [""] * k
    for index, (ax, (who, mat)) in enumerate(zip(axes.ravel(), panels, strict=False)):
        mat = np.asarray(mat, dtype=float)
        off = mat.copy()
        np.fill_diagonal(off, np.nan)
        ax.imshow(off, cmap=cmap, vmin=0, vmax=max(np.nanmax(off) if k > 1 else 0, 0.1),
                  interpolation="nearest")
        ax.set_title(_short(who, 22), fontsize=9)
        # Every panel has the same axes: class names on the outer panels only (left
        # column, and the lowest panel of each column), as small multiples do.
        # Inner panels draw no ticks at all, which also makes the chart far cheaper.
        bottom = index + cols >= n
        left = index % cols == 0
        labels = names if show else blank
        ax.set_xticks(range(k) if bottom else [], labels=labels if bottom else [], fontsize=6.5)
        ax.set_yticks(range(k) if left else [], labels=labels if left else [], fontsize=6.5)
        ax.tick_params(length=0)
        ax.spines[:].set_visible(False)
        worst = np.unravel_index(np.nanargmax(off), off.shape) if k > 1 else None
        if worst is not None and off[worst] >= 0.05:
            ax.text(worst[1], worst[0], f"{100 * off[worst]:.0f}", ha="center", va="center",
                    fontsize=7, color="white" if off[worst] > 0.06 else _INK)
    fig.supxlabel("given label", fontsize=8)
    fig.supylabel("true label", fontsize=8)
    alt = ("Confusion matrices of selected annotators: share of items of each true class (rows) "
           "they labeled as each class (columns); darker is more confusion")
    return to_svg(fig, "annotator-confusions", alt)


#: Most annotators drawn as per-window small multiples.
MAX_WINDOW_PANELS = 12


def window_small_multiples(
    panels: Sequence[tuple[str, Sequence[str], np.ndarray, np.ndarray, np.ndarray, bool]],
    *,
    window: str,
) -> Markup:
    """One panel per annotator: accuracy in each time window with its Wilson interval.

    Parameters
    ----------
    panels : sequence of (str, sequence of str, ndarray, ndarray, ndarray, bool)
        Annotator id, window labels (start dates), accuracy, interval low and
        high (proportions, NaN for a window without graded labels) and whether
        the annotator's accuracy drifted (drawn in the alert colour).
    window : str
        Window length, for the axis label (e.g. ``"1w"``).

    Returns
    -------
    markupsafe.Markup
    """
    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = _new_figure(2.4 * cols + 0.5, 2.1 * rows + 0.6)
    fig.set_layout_engine("constrained")  # titles never run into the row above
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, (who, labels, acc, lo, hi, drifted) in zip(axes.ravel(), panels, strict=False):
        acc = 100 * np.asarray(acc, dtype=float)
        lo = 100 * np.asarray(lo, dtype=float)
        hi = 100 * np.asarray(hi, dtype=float)
        x = np.arange(acc.size)
        color = _ALERT if drifted else _ACCENT
        ax.fill_between(x, np.nan_to_num(lo, nan=0.0), np.nan_to_num(hi, nan=100.0),
                        where=np.isfinite(acc), color=color, alpha=0.18, linewidth=0)
        ax.plot(x, acc, marker="o", markersize=3, color=color, linewidth=1.2)
        ax.set_ylim(0, 102)
        ax.set_title(_short(who, 22) + (" (drift)" if drifted else ""), fontsize=9,
                     color=_ALERT if drifted else _INK)
        step = max(1, -(-len(labels) // 4))
        ax.set_xticks(x[::step], labels=[str(t) for t in list(labels)[::step]], fontsize=6.5,
                      rotation=30, ha="right")
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", color="#d0d7de", linewidth=0.6)
        ax.set_axisbelow(True)
    fig.supxlabel(f"start of each {window} window", fontsize=8)
    fig.supylabel("agreement with the others' majority (%)", fontsize=8)
    alt = ("Accuracy of each annotator in each time window with its 95% Wilson interval; "
           "annotators whose accuracy drifted in red")
    return to_svg(fig, "annotator-windows", alt)


def pairwise_heatmap(names: Sequence[str], kappa: np.ndarray) -> Markup:
    """Heatmap of pairwise Cohen's kappa between annotators (blank: too little overlap).

    Parameters
    ----------
    names : sequence of str
        Annotator ids.
    kappa : numpy.ndarray of shape (A, A)
        Symmetric kappa matrix with NaN where it was not computed.

    Returns
    -------
    markupsafe.Markup
    """
    a = len(names)
    cell = 0.42
    fig = _new_figure(1.8 + cell * a, 1.3 + cell * a)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["RdYlBu"].with_extremes(bad="#f0f0f0")
    ax.imshow(kappa, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    labels = [_short(s, 12) for s in names]
    ax.set_xticks(range(a), labels=labels, rotation=90)
    ax.set_yticks(range(a), labels=labels)
    ax.spines[:].set_visible(False)
    if a <= 14:
        for i in range(a):
            for j in range(a):
                if i != j and np.isfinite(kappa[i, j]):
                    ax.text(j, i, f"{kappa[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                            color=_INK)
    alt = "Heatmap of Cohen's kappa between each pair of annotators"
    return to_svg(fig, "annotator-pairwise", alt)


def oc_chart(curve: Sequence[dict], *, aql: float, lq: float, producer_risk: float,
             consumer_risk: float, title: str) -> Markup:
    """Operating characteristic of an acceptance plan: P(accept) by the lot's share of wrong labels.

    Parameters
    ----------
    curve : sequence of dict
        ``defect_rate`` and ``accept_probability`` per point
        (:func:`labelaudit.verify.oc_curve`).
    aql, lq : float
        The plan's quality levels (marked on the curve).
    producer_risk, consumer_risk : float
        The plan's risks at those levels.
    title : str
        Name of the plan, for the chart's accessible name.

    Returns
    -------
    markupsafe.Markup
    """
    rates = 100 * np.array([r["defect_rate"] for r in curve], dtype=float)
    accept = np.array([r["accept_probability"] for r in curve], dtype=float)
    fig = _new_figure(6.4, 2.6)
    ax = fig.add_subplot()
    ax.plot(rates, accept, color=_ACCENT, linewidth=1.6, label="P(accept)")
    for level, p_accept, color, text in (
        (aql, 1 - producer_risk, _ACCENT, f"AQL {100 * aql:g}%: accept {100 * (1 - producer_risk):.1f}%"),
        (lq, consumer_risk, _ALERT, f"LQ {100 * lq:g}%: accept {100 * consumer_risk:.1f}%"),
    ):
        ax.axvline(100 * level, color=color, linewidth=0.8, linestyle="--")
        ax.scatter([100 * level], [p_accept], color=color, zorder=3, s=18, label=text)
    ax.set_xlabel("share of wrong labels in the lot (%)")
    ax.set_ylabel("probability of ACCEPT")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(color="#d0d7de", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="upper right", fontsize=7.5, frameon=False)
    alt = (f"Operating characteristic of the {title}: probability of accepting a lot by its share "
           f"of wrong labels, with the AQL ({100 * aql:g}%) and LQ ({100 * lq:g}%) marked")
    return to_svg(fig, "oc-curve", alt)
