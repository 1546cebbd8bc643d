"""Each side of a comparison view as the single-run widget sends a run, in two steps.

The first view of a comparison needs the change scores, each side's tokens and meta and
the focused matrix of each side (A, B and B − A on screen); the overviews (every layer ×
head pooled, with the mean and rollout columns) are the slow part of a side's payload, as
long as the scores together. So a side is sent first by ``wire.build_first_view`` (no overview,
no rollout computed) and completed by :func:`full_payloads` (``wire.build_view`` of both
sides, on two threads), which the view sends right after its first paint.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..data import AttentionData
from ..wire import ViewPayload, build_view
from .result import AttentionComparison

SIDES = ("a", "b")


def side_data(comparison: AttentionComparison, side: str) -> AttentionData:
    """Side ``side``'s data holding its compared layers, in A's order: the data itself (no copy,
    and its cached rollout kept) when those are all its layers in its own order."""
    data: AttentionData = getattr(comparison, side)
    layers = tuple(pair[SIDES.index(side)] for pair in comparison.layer_pairs)
    return data if layers == data.layer_indices else data.select_layers(list(layers))


def full_payloads(sides: list[AttentionData]) -> list[ViewPayload]:
    """``build_view`` of each side, both at once on two threads (numpy releases the GIL in its
    passes); a side that is the other's data is built once."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="attnviz-compare") as pool:
        futures = {id(data): pool.submit(build_view, data, data.kind) for data in sides}
        return [futures[id(data)].result() for data in sides]

