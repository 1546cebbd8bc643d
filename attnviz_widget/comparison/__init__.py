"""Compare two runs: two texts in one model, or one text in two models.

:func:`compare` takes two :class:`~attnviz_widget.data.AttentionData` (or ``(model,
text)`` pairs), aligns their tokens (:mod:`.align`), pairs their layers and returns an
:class:`AttentionComparison`: the aligned B − A of each head and per-head change scores
(:mod:`.scores`). :mod:`.figures` draws A, B and B − A side by side. numpy only, except
the figures (matplotlib, plotly) and extraction of ``(model, text)`` pairs (torch).
"""

from __future__ import annotations

from .align import Alignment, align_tokens
from .build import compare
from .result import AttentionComparison, HeadScore
from .scores import METRICS, row_scores

__all__ = ["METRICS", "Alignment", "AttentionComparison", "HeadScore", "align_tokens", "compare", "row_scores"]
