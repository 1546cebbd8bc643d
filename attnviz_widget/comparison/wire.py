"""What a comparison view sends to the browser, beyond each side's own view payload.

Each side travels as the single-run widget sends a run (:func:`attnviz_widget.wire.build_view`:
tokens, overview, focused matrix, layers on demand); this module adds what only a
comparison has: the alignment (so a token selected on one side selects its partner on the
other, and B − A is drawn on the aligned grid), the per-head change scores (the grid one
clicks to focus a head) and the names of the sides. Pure numpy, like ``wire``.

Encodings (little-endian):

- ``align_queries`` / ``align_keys``: int32 ``(2, columns)``; row 0 is A's token index of
  each aligned column, row 1 B's, ``-1`` at a gap (token indices count real tokens only,
  as the side's view has its padding removed);
- ``scores``: float32 ``(metrics, layers, heads)`` in the order of ``meta.metrics``, NaN
  for a head without comparable rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .align import Alignment
from .result import AttentionComparison
from .scores import METRIC_NAMES, METRICS


def _without_padding(indices: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Positions in the padded token axis -> positions once padding is removed (-1 stays -1)."""
    unpadded = np.cumsum(mask) - 1
    return np.where(indices >= 0, unpadded[np.maximum(indices, 0)], -1)


def alignment_bytes(alignment: Alignment, a_mask: np.ndarray, b_mask: np.ndarray) -> bytes:
    """int32 ``(2, columns)`` of :func:`_without_padding` indices, A's row then B's."""
    rows = np.stack([_without_padding(alignment.a, a_mask), _without_padding(alignment.b, b_mask)])
    return np.ascontiguousarray(rows, dtype="<i4").tobytes()


def comparison_traits(comparison: AttentionComparison) -> dict[str, Any]:
    """The comparison traits: ``compare_meta``, ``align_queries``, ``align_keys``, ``scores``."""
    a, b = comparison.a, comparison.b
    scores = np.stack([comparison.head_scores(metric) for metric in METRICS]).astype("<f4")
    meta = {
        "names": list(comparison.names),
        "labels": list(comparison.labels),
        "mode": comparison.mode,
        "layer_pairs": [list(pair) for pair in comparison.layer_pairs],
        "num_heads": comparison.num_heads,
        "metrics": list(METRICS),
        "metric_names": [METRIC_NAMES[metric] for metric in METRICS],
        "query_labels": comparison.queries.labels(),
        "key_labels": comparison.keys.labels(),
        "self_attention": comparison.is_self_attention,
        "columns": [len(comparison.queries), len(comparison.keys)],
    }
    return {
        "compare_meta": meta,
        "align_queries": alignment_bytes(comparison.queries, a.queries.mask, b.queries.mask),
        "align_keys": alignment_bytes(comparison.keys, a.keys.mask, b.keys.mask),
        "scores": scores.tobytes(),
    }
