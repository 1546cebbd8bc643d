"""A, B and B − A of one head as one figure: matplotlib (PNG, SVG, PDF) and plotly.

The three panels share the aligned grid of the comparison, so a token present on one
side only is a grey gap row and column on the other side and in the difference. A and B
share one sequential colour scale; B − A uses a diverging map centred on zero with a
symmetric range, and its colour bar says which colour means which side.
:func:`attnviz_widget.save_heatmap` and :func:`attnviz_widget.plot_plotly` hand a
comparison to these functions.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from ..errors import InputError
from ..figure_style import (
    SAVE_FORMATS,
    SAVE_METADATA,
    colormap_for,
    font_size,
    label_step,
    mathtext_safe,
    norm_for,
    plotly_colorscale,
    plotly_text,
    tick_label,
    top_of_scale,
)
from ..files import atomic_output
from ..vocabulary import aggregate_info
from .result import AttentionComparison

if TYPE_CHECKING:  # pragma: no cover
    from plotly.graph_objects import Figure as PlotlyFigure

#: Diverging colour map of B − A: blue where A attends more, red where B does.
DIFF_CMAP = "RdBu_r"
#: How aligned tick labels read, under a figure of two different texts.
GAP_NOTE = "+tok: only in B   −tok: only in A   a→b: A's token, B's token   grey: a gap, or hidden by a causal mask"


class _Panels:
    """What both renderers draw for one head: the three aligned matrices, labels, titles."""

    def __init__(self, comparison: AttentionComparison, layer: int, head: int | str) -> None:
        if not isinstance(comparison, AttentionComparison):
            raise InputError(f"expected an AttentionComparison, got {type(comparison).__name__}")
        self.a, self.b = (np.array(matrix, dtype=np.float32) for matrix in comparison.matrices(layer, head))
        self.diff = self.b - self.a
        self.hidden = _hidden(comparison)
        for matrix in (self.a, self.b, self.diff):
            matrix[self.hidden] = np.nan
        self.queries = comparison.queries.labels()
        self.keys = comparison.keys.labels()
        name_a, name_b = comparison.names
        b_layer = dict(comparison.layer_pairs)[int(layer)]
        self.titles = (name_a, name_b if b_layer == int(layer) else f"{name_b}, layer {b_layer}", "B − A")
        js, tv = comparison.head_score(layer, head, "js"), comparison.head_score(layer, head, "tv")
        what = f"Layer {layer}, head {head}" if isinstance(head, int) else aggregate_info(head).title.format(
            layer=layer).capitalize()
        self.title = f"{what}: {name_b} vs {name_a} — JS {js:.3g} bits, TV {tv:.3g}"
        shown = np.concatenate([self.a[~np.isnan(self.a)], self.b[~np.isnan(self.b)]])
        self.shown = shown
        self.vmax = top_of_scale(shown)
        finite = np.abs(self.diff[~np.isnan(self.diff)])
        self.dmax = max(float(finite.max()) if finite.size else 0.0, 1e-6)
        self.diff_label = f"B − A: red = more in {name_b}, blue = more in {name_a}"
        self.aligned = comparison.mode == "align"


def _focus(head: int, aggregate: str | None, ax: Any = None) -> int | str:
    """The head to draw: ``aggregate`` when given (as :func:`attnviz_widget.plot_heatmap` takes it)."""
    if ax is not None:
        raise InputError("a comparison draws three panels in a figure of its own; ax is not supported")
    return head if aggregate is None else aggregate


def _hidden(comparison: AttentionComparison) -> np.ndarray:
    """bool ``(Q, K)``: cells a causal side cannot attend to (a later key), on the aligned grid."""
    hidden = np.zeros((len(comparison.queries), len(comparison.keys)), dtype=bool)
    if not comparison.is_self_attention:
        return hidden
    for data, rows in ((comparison.a, comparison.queries.a), (comparison.b, comparison.queries.b)):
        if data.causal:
            present = rows >= 0
            later = rows[None, :] > rows[:, None]
            hidden |= later & present[:, None] & present[None, :]
    return hidden


def _ticks(labels: list[str]) -> tuple[list[int], list[str]]:
    step = label_step(len(labels))
    positions = list(range(0, len(labels), step))
    return positions, [mathtext_safe(tick_label(labels[i])) for i in positions]


def plot_comparison(
    comparison: AttentionComparison,
    layer: int = 0,
    head: int = 0,
    *,
    title: str | None = None,
    cmap: str | Colormap = "viridis",
    color_scale: str = "linear",
    diff_cmap: str | Colormap = DIFF_CMAP,
    aggregate: str | None = None,
    ax: Any = None,
) -> Figure:
    """A | B | B − A of one head as one matplotlib figure (Agg canvas, no pyplot).

    Args:
        comparison: from :func:`attnviz_widget.compare`.
        layer: A's model layer; head: the head.
        title: replaces the default title (layer, head, sides, JS and TV scores).
        cmap, color_scale: A's and B's shared colour map and scale (``"linear"``,
            ``"sqrt"``, ``"log"``).
        diff_cmap: the diverging map of B − A, centred on zero, range ``±max|B − A|``.
        aggregate: ``"mean"`` or ``"max"`` over the layer's heads, or ``"rollout"`` through
            it, on both sides, instead of ``head``.
        ax: not supported (three panels need a figure of their own); accepted so that
            :func:`attnviz_widget.plot_heatmap` can pass it on.

    Returns:
        The figure. Gaps (tokens one side lacks) and cells a causal model hides are grey;
        aligned labels read ``+tok`` (only in B), ``−tok`` (only in A), ``a→b`` (changed).
    """
    panels = _Panels(comparison, layer, _focus(head, aggregate, ax))
    colormap, diverging = colormap_for(cmap), colormap_for(diff_cmap)
    norm = norm_for(panels.shown, color_scale)
    n_queries, n_keys = panels.diff.shape
    query_ticks, key_ticks = _ticks(panels.queries), _ticks(panels.keys)
    font = font_size(max(len(query_ticks[0]), len(key_ticks[0])))
    line, char = font * 1.45 / 72, font * 0.62 / 72
    longest = max(len(label) for label in query_ticks[1] + key_ticks[1])
    side = max(3.2, len(key_ticks[0]) * line)
    width = 3 * side + longest * char + 3.6
    height = max(3.2, len(query_ticks[0]) * line) + longest * char + 1.8
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3, sharey=True)
    images = []
    for index, (ax, matrix) in enumerate(zip(axes, (panels.a, panels.b, panels.diff))):
        is_diff = index == 2
        images.append(ax.imshow(
            np.ma.masked_invalid(matrix),
            cmap=diverging if is_diff else colormap,
            norm=Normalize(-panels.dmax, panels.dmax) if is_diff else norm,
            interpolation="nearest",
            aspect="auto",
        ))
        ax.set_xticks(key_ticks[0], key_ticks[1], fontsize=font, rotation=90)
        ax.set_title(mathtext_safe(panels.titles[index]), fontsize=11)
        ax.set_xlabel("Key (attended to)")
        ax.tick_params(length=2, pad=2)
    axes[0].set_yticks(query_ticks[0], query_ticks[1], fontsize=font)
    axes[0].set_ylabel("Query (attending)")
    shrink = min(1.0, max(0.5, 12 / max(n_queries, 1)))
    figure.colorbar(images[1], ax=list(axes[:2]), shrink=shrink, pad=0.01).set_label("attention (A and B)")
    bar = figure.colorbar(images[2], ax=axes[2], shrink=shrink, pad=0.02)
    bar.set_label(mathtext_safe(panels.diff_label), fontsize=9)
    figure.suptitle(mathtext_safe(panels.title) if title is None else title, fontsize=12)
    if panels.aligned:
        figure.supxlabel(GAP_NOTE, fontsize=8)
    return figure


def save_comparison(
    comparison: AttentionComparison,
    path: str | os.PathLike[str],
    layer: int = 0,
    head: int = 0,
    *,
    dpi: int = 150,
    **options: Any,
) -> Path:
    """Save :func:`plot_comparison` atomically as PNG, SVG or PDF (by the suffix)."""
    target = Path(path)
    kind = target.suffix.lower().lstrip(".")
    if kind not in SAVE_FORMATS:
        raise InputError(f"cannot save a comparison as {target}: use a .png, .svg or .pdf file name")
    with atomic_output(target) as handle, matplotlib.rc_context({"svg.hashsalt": "attnviz-widget"}):
        figure = plot_comparison(comparison, layer, head, **options)
        figure.savefig(handle, format=kind, dpi=dpi, metadata=SAVE_METADATA[kind])
    return target


def plot_comparison_plotly(
    comparison: AttentionComparison,
    layer: int = 0,
    head: int = 0,
    *,
    cmap: str | Colormap = "viridis",
    color_scale: str = "linear",
    diff_cmap: str | Colormap = DIFF_CMAP,
    aggregate: str | None = None,
) -> PlotlyFigure:
    """A | B | B − A of one head as a plotly figure with linked axes (arguments as :func:`plot_comparison`).

    Each panel's ``z`` is its float32 ``(Q, K)`` matrix on the aligned grid, NaN at gaps
    and hidden cells; hovering any panel shows all three values. Token text is HTML-escaped.
    """
    from plotly.subplots import make_subplots

    panels = _Panels(comparison, layer, _focus(head, aggregate))
    norm = norm_for(panels.shown, color_scale)
    n_queries, n_keys = panels.diff.shape
    queries = [f"{plotly_text(label)} [{i}]" for i, label in enumerate(panels.queries)]
    keys = [f"{plotly_text(label)} [{j}]" for j, label in enumerate(panels.keys)]
    names = [plotly_text(name) for name in panels.titles]
    a_text, b_text, d_text = (np.char.mod("%.4g", matrix) for matrix in (panels.a, panels.b, panels.diff))
    hover = [
        [f"{query} → {key}<br>A {va} · B {vb} · B − A {vd}" for key, va, vb, vd in zip(keys, ra, rb, rd)]
        for query, ra, rb, rd in zip(queries, a_text.tolist(), b_text.tolist(), d_text.tolist())
    ]
    figure = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.06, subplot_titles=names)
    for column, matrix in enumerate((panels.a, panels.b, panels.diff), start=1):
        figure.add_heatmap(
            z=matrix, x=np.arange(n_keys), y=np.arange(n_queries), text=hover, hoverinfo="text",
            hoverongaps=False, coloraxis="coloraxis2" if column == 3 else "coloraxis", row=1, col=column,
        )
    step_q, step_k = label_step(n_queries), label_step(n_keys)
    cell = min(22.0, max(600.0 / max(n_queries, n_keys), 6.0))
    font = float(np.clip(cell * max(step_q, step_k) * 0.9, 7, 12))
    key_ticks = list(range(0, n_keys, step_k))
    for column in (1, 2, 3):
        figure.update_xaxes(
            tickmode="array", tickvals=key_ticks, tickangle=-90, tickfont={"size": font}, showgrid=False,
            ticktext=[plotly_text(tick_label(panels.keys[j])) for j in key_ticks], zeroline=False,
            title={"text": "Key (attended to)"}, row=1, col=column,
        )
    query_ticks = list(range(0, n_queries, step_q))
    figure.update_yaxes(
        tickmode="array", tickvals=query_ticks, autorange="reversed", tickfont={"size": font}, showgrid=False,
        ticktext=[plotly_text(tick_label(panels.queries[i])) for i in query_ticks], zeroline=False,
    )
    figure.update_yaxes(title={"text": "Query (attending)"}, row=1, col=1)
    diff_title = plotly_text(panels.diff_label).replace(": ", ":<br>").replace(", ", "<br>")
    figure.update_layout(
        title={"text": plotly_text(panels.title)},
        coloraxis={"colorscale": plotly_colorscale(colormap_for(cmap), norm, panels.vmax), "cmin": 0.0,
                   "cmax": panels.vmax, "colorbar": {"title": {"text": "A and B"}, "x": 1.0, "len": 0.8}},
        coloraxis2={"colorscale": _diverging_scale(colormap_for(diff_cmap)), "cmin": -panels.dmax,
                    "cmax": panels.dmax, "cmid": 0.0,
                    "colorbar": {"title": {"text": diff_title}, "x": 1.09, "len": 0.8}},
        plot_bgcolor="#d9d9d9",
        width=round(3 * n_keys * cell + 520),
        height=round(n_queries * cell + 300),
    )
    return figure


def _diverging_scale(colormap: Colormap, stops: int = 33) -> list[list[Any]]:
    fractions = np.linspace(0.0, 1.0, stops)
    colours = (np.asarray(colormap(fractions))[:, :3] * 255).round().astype(int)
    return [[float(f), f"rgb({r},{g},{b})"] for f, (r, g, b) in zip(fractions, colours)]


def plot_head_scores(comparison: AttentionComparison, metric: str = "js", *, cmap: str = "magma") -> Figure:
    """The layer × head grid of :meth:`AttentionComparison.head_scores`, values written in the cells."""
    name_a, name_b = comparison.names
    what = "JS divergence (bits)" if metric == "js" else "TV distance"
    return plot_score_grid(comparison.head_scores(metric), comparison.layer_indices,
                           title=f"{name_b} vs {name_a}: {what}", cmap=cmap)


def plot_score_grid(
    values: np.ndarray, layers: Sequence[int] | None = None, *, title: str = "", cmap: str = "magma"
) -> Figure:
    """A ``(layers, heads)`` grid of change scores (e.g. a mean over several comparisons) as a heatmap."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise InputError(f"a score grid has shape (layers, heads), got {values.shape}")
    count, heads = values.shape
    layers = list(range(count)) if layers is None else list(layers)
    figure = Figure(figsize=(max(4.0, 0.55 * heads + 2.2), max(2.5, 0.45 * count + 1.4)), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    image = ax.imshow(np.ma.masked_invalid(values), cmap=colormap_for(cmap), vmin=0.0, vmax=max(top, 1e-6),
                      aspect="auto", interpolation="nearest")
    for (row, column), value in np.ndenumerate(values):
        if math.isfinite(value):
            ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if value > 0.6 * top else "white")
    ax.set_xticks(range(heads), [str(h) for h in range(heads)], fontsize=8)
    ax.set_yticks(range(count), [str(layer) for layer in layers], fontsize=8)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(mathtext_safe(title), fontsize=10)
    figure.colorbar(image, ax=ax, pad=0.02)
    return figure
