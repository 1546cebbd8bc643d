"""The head atlas: the layer × head grid coloured by one metric, as matplotlib or Plotly.

The matplotlib figure is drawn on the Agg canvas directly (no pyplot, no display
needed) and saved as PNG by :func:`save_head_stats`; the Plotly figure shows every
metric of a head on hover.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import InputError
from ..files.paths import atomic_output
from .result import HeadStats

Backend = Literal["matplotlib", "plotly"]
#: Metrics whose scale is probability mass: their colour bar spans 0 to 1.
UNIT_METRICS = frozenset(
    {"self", "prev", "next", "first", "cls_bos", "sep_eos", "punct", "confidence", "sink_fraction", "probe_prev",
     "probe_duplicate", "probe_induction"}
)


def _title(stats: HeadStats, metric: str) -> str:
    model = Path(stats.model).name or stats.model
    return f"{metric} (mean over {int(stats.summary.get('texts', 0))} texts) · {model}"


def _range(stats: HeadStats, metric: str) -> tuple[float, float]:
    values = stats.values(metric)
    if metric in UNIT_METRICS:
        return 0.0, 1.0
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


def plot_head_stats(stats: HeadStats, metric: str, *, backend: Backend = "matplotlib", cmap: str = "viridis") -> Any:
    """The atlas of ``metric``: a ``(layers, heads)`` heatmap, layer 0 at the top.

    Returns a matplotlib ``Figure`` (``backend="matplotlib"``) or a Plotly ``Figure``
    (``backend="plotly"``, hover shows every metric of the head as mean ± std).
    """
    values = stats.values(metric)  # InputError for an unknown metric
    if backend == "matplotlib":
        return _matplotlib(stats, metric, values, cmap)
    if backend == "plotly":
        return _plotly(stats, metric, values, cmap)
    raise InputError(f"unknown backend {backend!r}; use 'matplotlib' or 'plotly'")


def _matplotlib(stats: HeadStats, metric: str, values: np.ndarray, cmap: str) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layers, heads = values.shape
    figure = Figure(figsize=(1.2 + 0.5 * heads, 1.2 + 0.45 * layers), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    low, high = _range(stats, metric)
    image = axes.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=low, vmax=high, aspect="auto")
    axes.set_xticks(range(heads))
    axes.set_yticks(range(layers))
    axes.set_xlabel("head")
    axes.set_ylabel("layer")
    axes.set_title(_title(stats, metric).replace("$", r"\$"), fontsize=10)
    for layer in range(layers):
        for head in range(heads):
            if np.isfinite(values[layer, head]):
                bright = (values[layer, head] - low) / ((high - low) or 1.0) > 0.6
                axes.text(head, layer, f"{values[layer, head]:.2f}", ha="center", va="center", fontsize=7,
                          color="black" if bright else "white")
    figure.colorbar(image, ax=axes, label=metric.replace("$", r"\$"))
    return figure


def _plotly(stats: HeadStats, metric: str, values: np.ndarray, cmap: str) -> Any:
    import plotly.graph_objects as go

    layers, heads = values.shape
    hover = np.empty((layers, heads), dtype=object)
    for layer in range(layers):
        for head in range(heads):
            lines = [f"<b>layer {layer}, head {head}</b>"]
            for slot, name in enumerate(stats.metrics):
                mean, std = stats.mean[slot, layer, head], stats.std[slot, layer, head]
                lines.append(f"{html.escape(name)}: {mean:.3f} ± {std:.3f}")
            hover[layer, head] = "<br>".join(lines)
    low, high = _range(stats, metric)
    cells = [[float(v) if np.isfinite(v) else None for v in row] for row in values]  # NaN -> a gap
    figure = go.Figure(
        go.Heatmap(
            z=cells, x=list(range(heads)), y=list(range(layers)),
            zmin=low, zmax=high, colorscale=cmap.capitalize() if cmap == "viridis" else cmap,
            text=hover, hovertemplate="%{text}<extra></extra>", colorbar={"title": {"text": html.escape(metric)}},
        )
    )
    figure.update_layout(
        title={"text": html.escape(_title(stats, metric))}, xaxis_title="head", yaxis_title="layer",
        yaxis={"autorange": "reversed", "dtick": 1}, xaxis={"dtick": 1},
        width=120 + 48 * heads, height=160 + 44 * layers,
    )
    return figure


def save_head_stats(stats: HeadStats, metric: str, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Save the matplotlib atlas of ``metric`` as PNG at ``path``, atomically."""
    target = Path(path).expanduser()
    if target.suffix.lower() != ".png":
        raise InputError(f"save_head_stats writes PNG; give a path ending in .png, not {target.name!r}")
    figure = plot_head_stats(stats, metric)
    with atomic_output(target) as handle:
        figure.savefig(handle, format="png", dpi=dpi)
    return target
