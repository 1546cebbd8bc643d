"""Generated tokens marked on a heatmap's axes: coloured tick labels and a separator line.

Used by :mod:`attnviz_widget.plot` for matplotlib and plotly figures alike: the tick labels
of generated tokens take :data:`GENERATED_COLOR` and a dashed line separates the prompt from
the first generated token on each axis that holds generated tokens. numpy only; the figure
objects come from the caller.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["GENERATED_COLOR", "GENERATED_NOTE", "first_generated", "mark_matplotlib", "mark_plotly"]

#: Colour of generated tokens' labels and of the prompt | generated separator.
GENERATED_COLOR = "#d9480f"
#: What the colour means, for a figure's caption.
GENERATED_NOTE = "generated tokens in orange"


def first_generated(marks: np.ndarray) -> int | None:
    """Index of the first True in the bool vector ``marks``, None when there is none."""
    hits = np.flatnonzero(marks)
    return int(hits[0]) if hits.size else None


def mark_matplotlib(ax: Any, queries: np.ndarray, keys: np.ndarray) -> None:
    """Colour the generated tokens' tick labels of ``ax`` and draw the separators.

    ``queries``/``keys``: bool ``(query,)``/``(key,)``, True for generated tokens (y and x axis).
    """
    for marks, labels, ticks, line in (
        (queries, ax.get_yticklabels(), ax.get_yticks(), ax.axhline),
        (keys, ax.get_xticklabels(), ax.get_xticks(), ax.axvline),
    ):
        for label, tick in zip(labels, ticks):
            index = int(round(float(tick)))
            if 0 <= index < len(marks) and marks[index]:
                label.set_color(GENERATED_COLOR)
        start = first_generated(marks)
        if start is not None and start > 0:
            line(start - 0.5, color=GENERATED_COLOR, linewidth=1.2, linestyle="--")
    if queries.any() or keys.any():
        ax.set_xlabel(f"{ax.get_xlabel()}; {GENERATED_NOTE}")


def mark_plotly(figure: Any, queries: np.ndarray, keys: np.ndarray) -> None:
    """The same for a plotly heatmap figure with ``tickvals``/``ticktext`` on both axes.

    Tick text of generated tokens is wrapped in a coloured ``<span>`` (already-escaped text
    stays escaped); separators are layout shapes spanning the plot.
    """
    if queries.any() or keys.any():
        title = figure.layout.xaxis.title.text or ""
        figure.layout.xaxis.title.text = f"{title}; {GENERATED_NOTE}"
    for marks, axis, name in ((queries, figure.layout.yaxis, "y"), (keys, figure.layout.xaxis, "x")):
        values, texts = axis.tickvals, axis.ticktext
        if values is not None and texts is not None:
            axis.ticktext = [
                f'<span style="color:{GENERATED_COLOR}">{text}</span>' if 0 <= int(v) < len(marks) and marks[int(v)]
                else text
                for v, text in zip(values, texts)
            ]
        start = first_generated(marks)
        if start is None or start == 0:
            continue
        edge = start - 0.5
        line = {"color": GENERATED_COLOR, "width": 1.5, "dash": "dash"}
        if name == "y":
            figure.add_shape(type="line", xref="paper", x0=0, x1=1, yref="y", y0=edge, y1=edge, line=line)
        else:
            figure.add_shape(type="line", yref="paper", y0=0, y1=1, xref="x", x0=edge, x1=edge, line=line)
