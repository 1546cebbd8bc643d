"""Heatmaps of one attention head, or of an aggregate over heads.

:func:`plot_heatmap` draws a static matplotlib figure (saved by :func:`save_heatmap`
as PNG, SVG or PDF), :func:`plot_plotly` an interactive plotly figure (saved by
:func:`save_plotly_html` as a standalone page). Both show the data without padding,
query tokens down the y-axis (attending from, top to bottom) and key tokens along the
x-axis (attended to), brighter colours for more attention, and for causal models the
hidden upper triangle in a neutral grey rather than as zero. Tokens a model generated
(``data.generation``) have orange tick labels and a dashed line after the prompt.

Figures are made with the Agg canvas directly, never through pyplot, so plotting
neither needs a display nor touches a notebook's global figure state.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure, SubFigure

from .data import AttentionData
from .errors import InputError
from .figure_style import (
    MASKED_COLOR,
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
from .files import atomic_output
from .generation.axes import mark_matplotlib, mark_plotly
from .generation.steps import generated_marks
from .vocabulary import AGGREGATES, COLOR_SCALES, STACK_TITLES, aggregate_info

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from plotly.graph_objects import Figure as PlotlyFigure

    from .comparison.result import AttentionComparison

__all__ = ["COLOR_SCALES", "plot_heatmap", "plot_plotly", "save_heatmap", "save_plotly_html"]

#: ``linear``; ``sqrt`` and ``log`` lift small weights out of the dark when one column
#: (an attention sink such as ``[CLS]`` or the first token) takes most of the mass
#: (the names and the log scale's depth come from :mod:`attnviz_widget.vocabulary`).
ColorScale = Literal["linear", "sqrt", "log"]

@dataclass(frozen=True)
class _View:
    """What both renderers draw.

    Attributes:
        matrix: float32 ``(query, key)``, padding removed.
        masked: bool ``(query, key)``, True where a causal model hides the key.
        queries, keys: the display tokens of the two axes.
        title: e.g. ``"Layer 3, head 5 — distilbert (bert)"``.
    """

    matrix: np.ndarray
    masked: np.ndarray
    queries: tuple[str, ...]
    keys: tuple[str, ...]
    title: str
    generated: tuple[np.ndarray, np.ndarray] | None = None  # bool (query,), (key,): generated tokens

    def visible(self) -> np.ndarray:
        """The values not hidden by the causal mask, flat."""
        return np.asarray(self.matrix[~self.masked])


def _view(data: object, layer: int, head: int, aggregate: str | None) -> _View:
    """The matrix, mask, labels and title of one head or aggregate, padding removed."""
    if not isinstance(data, AttentionData):
        raise InputError(f"expected AttentionData, got {type(data).__name__}; read files with read_attention_file")
    clean = data.without_padding()
    if aggregate is None:
        matrix = clean.matrix(layer, head)
        what = f"layer {layer}, head {head}"
    else:
        if aggregate not in AGGREGATES:
            raise InputError(f"unknown aggregate {aggregate!r}; choose from {', '.join(AGGREGATES)}")
        matrix = clean.matrix(layer, aggregate)
        what = aggregate_info(aggregate).title.format(layer=layer)
    title = STACK_TITLES[clean.kind] + what
    title = title[0].upper() + title[1:]
    if clean.model is not None:
        model = clean.model
        name = model.short_name
        title += f" — {name} ({model.model_type})" if name else f" — {model.model_type}"
    masked = np.zeros(matrix.shape, dtype=bool)
    if clean.causal and clean.is_self_attention:
        masked = np.triu(np.ones(matrix.shape, dtype=bool), k=1)
    return _View(np.asarray(matrix, dtype=np.float32), masked, clean.queries.display, clean.keys.display, title,
                 generated_marks(clean))


def _is_comparison(data: object) -> TypeGuard[AttentionComparison]:
    """True for an :class:`~attnviz_widget.comparison.AttentionComparison` (drawn by ``comparison.figures``)."""
    from .comparison.result import AttentionComparison

    return isinstance(data, AttentionComparison)


def _figure_size(view: _View, font: float, shown_queries: int, shown_keys: int) -> tuple[float, float]:
    """Inches that leave one text line per labelled cell plus room for labels and colour bar."""
    line = font * 1.45 / 72  # inches per label line
    char = font * 0.62 / 72  # inches per character, roughly
    longest_query = max(map(len, map(tick_label, view.queries)))
    longest_key = max(map(len, map(tick_label, view.keys)))
    width = max(4.0, shown_keys * line) + longest_query * char + 2.6  # y labels, axis title, colour bar
    height = max(4.0, shown_queries * line) + longest_key * char + 1.4  # x labels, axis title, title
    return width, height


def plot_heatmap(
    data: AttentionData | AttentionComparison,
    layer: int = 0,
    head: int = 0,
    *,
    aggregate: str | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str | Colormap = "viridis",
    color_scale: ColorScale = "linear",
) -> Figure:
    """A heatmap of one head, or of an aggregate over the heads of one layer.

    Args:
        data: attention ``(layers, heads, query, key)``; padding is removed first.
        layer: the model layer (as in ``data.layer_indices``).
        head: the head; ignored with ``aggregate``.
        aggregate: ``"mean"`` or ``"max"`` over the heads of ``layer``, or ``"rollout"``
            through ``layer`` (see :mod:`attnviz_widget.prepare`).
        ax: draw into these axes instead of a new figure (which then keeps its size).
        title: replaces the default title (layer, head or aggregate, and model).
        cmap: a matplotlib colour map or its name.
        color_scale: ``"linear"``, ``"sqrt"`` or ``"log"``.

    Returns:
        The figure, drawn with the Agg canvas: query tokens on the y-axis, key tokens
        on the x-axis, a colour bar. Figure size grows with the token count and the
        labels shrink to 6 pt; beyond 150 tokens every n-th token is labelled.

    Raises:
        InputError: ``layer`` or ``head`` out of range (the message gives the valid
            range), an unknown aggregate, colour map or colour scale.
    """
    if _is_comparison(data):  # an AttentionComparison: A | B | B − A of the head
        from .comparison.figures import plot_comparison

        return plot_comparison(data, layer, head, aggregate=aggregate, ax=ax, title=title, cmap=cmap,
                               color_scale=color_scale)
    view = _view(data, layer, head, aggregate)
    norm = norm_for(view.visible(), color_scale)
    colormap = colormap_for(cmap)
    n_queries, n_keys = view.matrix.shape
    query_step, key_step = label_step(n_queries), label_step(n_keys)
    shown_queries, shown_keys = math.ceil(n_queries / query_step), math.ceil(n_keys / key_step)
    font = font_size(max(shown_queries, shown_keys))
    if ax is None:
        figure = Figure(figsize=_figure_size(view, font, shown_queries, shown_keys), layout="constrained")
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        parent: Figure | SubFigure = figure
    else:
        found = ax.get_figure()
        if found is None:
            raise InputError("ax must belong to a figure")
        parent = found
        figure = found if isinstance(found, Figure) else found.figure  # the root of a subfigure

    image = ax.imshow(
        np.ma.masked_array(view.matrix, mask=view.masked),
        cmap=colormap,
        norm=norm,
        interpolation="nearest",
        aspect="auto",
    )
    query_ticks, key_ticks = range(0, n_queries, query_step), range(0, n_keys, key_step)
    ax.set_yticks(list(query_ticks), [mathtext_safe(tick_label(view.queries[i])) for i in query_ticks], fontsize=font)
    ax.set_xticks(list(key_ticks), [mathtext_safe(tick_label(view.keys[i])) for i in key_ticks], fontsize=font,
                  rotation=90)
    ax.tick_params(length=2, pad=2)
    ax.set_ylabel("Query (attending)")
    ax.set_xlabel("Key (attended to)")
    if view.generated is not None:
        mark_matplotlib(ax, *view.generated)
    ax.set_title(mathtext_safe(view.title) if title is None else title, fontsize=12)
    colorbar = parent.colorbar(image, ax=ax, shrink=min(1.0, max(0.4, 12 / max(n_queries, 1))), pad=0.02)
    colorbar.set_label("rollout" if aggregate == "rollout" else "attention")
    return figure


def save_heatmap(
    data: AttentionData | AttentionComparison,
    path: str | os.PathLike[str],
    layer: int = 0,
    head: int = 0,
    *,
    aggregate: str | None = None,
    dpi: int = 150,
    title: str | None = None,
    cmap: str | Colormap = "viridis",
    color_scale: ColorScale = "linear",
) -> Path:
    """Save :func:`plot_heatmap` to ``path``: PNG, SVG or PDF by the suffix.

    The write is atomic: an error while drawing or writing leaves no file behind.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: an unknown suffix, an unwritable path, or the errors of
            :func:`plot_heatmap`.
    """
    target = Path(path)
    kind = target.suffix.lower().lstrip(".")
    if kind not in SAVE_FORMATS:
        raise InputError(f"cannot save a heatmap as {target}: use a .png, .svg or .pdf file name")
    with atomic_output(target) as handle, matplotlib.rc_context({"svg.hashsalt": "attnviz-widget"}):
        figure = plot_heatmap(
            data, layer, head, aggregate=aggregate, title=title, cmap=cmap, color_scale=color_scale
        )
        figure.savefig(handle, format=kind, dpi=dpi, metadata=SAVE_METADATA[kind])
    return target


# -- plotly ---------------------------------------------------------------------------------


def plot_plotly(
    data: AttentionData | AttentionComparison,
    layer: int = 0,
    head: int = 0,
    *,
    aggregate: str | None = None,
    color_scale: ColorScale = "linear",
    cmap: str | Colormap = "viridis",
) -> PlotlyFigure:
    """An interactive heatmap of one head or aggregate (arguments as :func:`plot_heatmap`).

    Returns:
        A ``plotly.graph_objects.Figure`` with one heatmap trace whose ``z`` is the
        float32 ``(query, key)`` matrix without padding (NaN where a causal model hides
        the key, drawn as grey gaps). Axes are numbered by token position, so repeated
        tokens stay distinct, and labelled with the token text; query 0 is at the top.
        Hovering shows ``query [i] → key [j]: value``. Token text is HTML-escaped.
    """
    if _is_comparison(data):  # an AttentionComparison: A | B | B − A of the head
        from .comparison.figures import plot_comparison_plotly

        return plot_comparison_plotly(data, layer, head, aggregate=aggregate, color_scale=color_scale, cmap=cmap)
    import plotly.graph_objects as go

    view = _view(data, layer, head, aggregate)
    norm, vmax = norm_for(view.visible(), color_scale), top_of_scale(view.visible())
    colormap = colormap_for(cmap)
    n_queries, n_keys = view.matrix.shape
    z = np.where(view.masked, np.float32(np.nan), view.matrix)
    queries = [f"{plotly_text(token)} [{i}]" for i, token in enumerate(view.queries)]
    keys = [f"{plotly_text(token)} [{j}]" for j, token in enumerate(view.keys)]
    values = np.char.mod("%.4g", view.matrix)
    hover = [
        [f"{query} → {key}: {value}" for key, value in zip(keys, row)]
        for query, row in zip(queries, values.tolist())
    ]
    query_step, key_step = label_step(n_queries), label_step(n_keys)
    cell = min(24.0, max(900.0 / max(n_queries, n_keys), 10.0 / max(query_step, key_step)))
    font = float(np.clip(cell * max(query_step, key_step) * 0.9, 7, 12))

    def axis(tokens: tuple[str, ...], step: int, title: str) -> dict[str, Any]:
        ticks = list(range(0, len(tokens), step))
        return {
            "title": {"text": title},
            "tickmode": "array",
            "tickvals": ticks,
            "ticktext": [plotly_text(tick_label(tokens[i])) for i in ticks],
            "tickfont": {"size": font},
            "showgrid": False,
            "zeroline": False,
        }

    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=np.arange(n_keys),
            y=np.arange(n_queries),
            zmin=0.0,
            zmax=vmax,
            colorscale=plotly_colorscale(colormap, norm, vmax),
            colorbar={"title": {"text": "rollout" if aggregate == "rollout" else "attention"}},
            text=hover,
            hoverinfo="text",
            hoverongaps=False,
        )
    )
    figure.update_layout(
        title={"text": plotly_text(view.title)},
        xaxis={**axis(view.keys, key_step, "Key (attended to)"), "tickangle": -90},
        yaxis={**axis(view.queries, query_step, "Query (attending)"), "autorange": "reversed"},
        plot_bgcolor=MASKED_COLOR,
        width=round(n_keys * cell + 320),
        height=round(n_queries * cell + 260),
    )
    if view.generated is not None:
        mark_plotly(figure, *view.generated)
    return figure


def save_plotly_html(fig_or_data: PlotlyFigure | AttentionData, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write a standalone HTML page that works offline (plotly.js inlined, no CDN).

    Args:
        fig_or_data: a figure from :func:`plot_plotly`, or AttentionData to plot.
        path: the HTML file; written atomically.
        **options: arguments of :func:`plot_plotly` (``layer``, ``head``,
            ``aggregate``, ...), only with AttentionData.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: options given with a figure, an unwritable path, or the errors of
            :func:`plot_plotly`.
    """
    import plotly.graph_objects as go

    if isinstance(fig_or_data, AttentionData):
        figure = plot_plotly(fig_or_data, **options)
    elif isinstance(fig_or_data, go.Figure):
        if options:
            raise InputError(f"plot options ({', '.join(options)}) apply only when saving AttentionData, not a figure")
        figure = fig_or_data
    else:
        raise InputError(f"save_plotly_html needs a plotly Figure or AttentionData, got {type(fig_or_data).__name__}")
    page = figure.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})
    with atomic_output(path) as handle:
        handle.write(page.encode("utf-8"))
    return Path(path)
