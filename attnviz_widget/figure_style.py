"""The look shared by every static and Plotly figure: colour scales, colour maps, tick labels.

One place for what a heatmap of attention looks like (:mod:`attnviz_widget.plot` for one head,
:mod:`attnviz_widget.comparison.figures` for A | B | B − A): the colour scales and the log
scale's depth of :mod:`attnviz_widget.vocabulary`, the grey of masked cells, token labels with
visible whitespace, and the matching Plotly colour scale.
"""

from __future__ import annotations

import html
import math
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import Colormap, LogNorm, Normalize, PowerNorm

from .errors import InputError
from .vocabulary import COLOR_SCALES, LOG_DECADES, show_whitespace

#: Colour of cells a causal model cannot attend to.
MASKED_COLOR = "#d9d9d9"
#: With more tokens than this on an axis, only every n-th token is labelled.
MAX_LABELS = 150
#: Tick label font size (points) for few tokens and the floor it shrinks to.
FONT_MAX, FONT_MIN = 10.0, 6.0
#: Labels longer than this are cut with an ellipsis.
LABEL_CHARS = 24

SAVE_FORMATS = ("png", "svg", "pdf")
# No creation date and fixed SVG ids, so that saving the same figure twice gives the same file.
SAVE_METADATA: dict[str, dict[str, Any]] = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


def top_of_scale(values: np.ndarray) -> float:
    """The top of the colour scale: the largest visible value (the scale starts at 0)."""
    return max(float(values.max()) if values.size else 1.0, 1e-6)


def norm_for(values: np.ndarray, color_scale: str) -> Normalize:
    """Map attention ``values`` (the visible ones, flat) to [0, 1] for the colour map."""
    vmax = top_of_scale(values)
    if color_scale == "linear":
        return Normalize(vmin=0.0, vmax=vmax)
    if color_scale == "sqrt":
        return PowerNorm(gamma=0.5, vmin=0.0, vmax=vmax)
    if color_scale == "log":
        # exactly LOG_DECADES decades below the maximum, as in the widget; less takes the lowest colour
        return LogNorm(vmin=vmax * 10.0**-LOG_DECADES, vmax=vmax, clip=True)
    raise InputError(f"unknown color_scale {color_scale!r}; choose from {', '.join(COLOR_SCALES)}")


def colormap_for(cmap: str | Colormap) -> Colormap:
    if isinstance(cmap, Colormap):
        colormap = cmap
    else:
        try:
            colormap = matplotlib.colormaps[cmap]
        except KeyError:
            raise InputError(
                f"unknown colour map {cmap!r}; use a matplotlib name such as viridis, magma or Blues"
            ) from None
    return colormap.with_extremes(bad=MASKED_COLOR)


def tick_label(token: str) -> str:
    """A token as an axis label: control characters visible, whitespace shown, cut to length."""
    label = show_whitespace(token)
    if not label.strip():
        label = "␣" * len(label) if label else "''"
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def mathtext_safe(text: str) -> str:
    """Keep matplotlib from reading ``$...$`` in token text as math."""
    return text.replace("$", r"\$")


def label_step(count: int) -> int:
    """Label every n-th token so that at most :data:`MAX_LABELS` labels share an axis."""
    return max(1, math.ceil(count / MAX_LABELS))


def font_size(labels: int) -> float:
    """Tick font size for ``labels`` labels on the longer axis: 10 pt shrinking to 6 pt."""
    return float(np.clip(FONT_MAX * 40 / max(labels, 1), FONT_MIN, FONT_MAX))


def plotly_text(text: str) -> str:
    """Token text for plotly, which renders a subset of HTML in labels and hover text."""
    return html.escape(text, quote=False)


def plotly_colorscale(colormap: Colormap, norm: Normalize, vmax: float, stops: int = 33) -> list[list[Any]]:
    """A plotly colour scale over ``[0, vmax]`` that reproduces ``norm`` and ``colormap``.

    plotly maps z linearly; placing the stops at ``norm.inverse`` of evenly spaced colour
    fractions makes its piecewise-linear scale follow the square-root or log norm while
    the figure keeps the raw attention values as z.
    """
    fractions = np.linspace(0.0, 1.0, stops)
    positions = np.clip(np.asarray(norm.inverse(fractions), dtype=np.float64) / vmax, 0.0, 1.0)
    positions[-1] = 1.0
    colours = (np.asarray(colormap(fractions))[:, :3] * 255).round().astype(int)
    scale: list[list[Any]] = [[float(p), f"rgb({r},{g},{b})"] for p, (r, g, b) in zip(positions, colours)]
    if positions[0] > 0:  # log: below the lowest shown value, the lowest colour
        scale.insert(0, [0.0, scale[0][1]])
    return scale
