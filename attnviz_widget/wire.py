"""What the widget sends to the browser: compact binary encodings of attention data.

Pure numpy, independent of Jupyter, so the encodings are tested on their own and reused
by the static HTML export. The contract with the JS side is ``js/PROTOCOL.md``:

- full-resolution layers as little-endian float16, ``(heads, query, key)``: 2 bytes a value;
- an overview of every layer × (heads + mean + max + rollout) as uint8 thumbnails of at
  most 64 × 64 cells, block max-pooled, each with a float32 scale: its size does not grow
  with the sequence length, which is what keeps 4,096-token inputs possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .aggregates import rollout_problem
from .data import AttentionData
from .pooling import THUMBNAIL_SIZE, block_edges, max_pool  # noqa: F401  (the overview's block edges, re-exported)
from .progressive import Precomputed, quantise
from .vocabulary import AGGREGATES, frontend_vocabulary

#: Aggregate columns that follow the heads in the overview, in order (the vocabulary's table).
OVERVIEW_AGGREGATES = AGGREGATES

#: Past this many query × key cells the focused heatmap is drawn from tiles (``meta.tiled``):
#: a full-resolution float16 matrix of 1024² cells is 2 MB, a layer of 12 heads 24 MB.
TILED_FROM_CELLS = 1024 * 1024


def float16_bytes(values: np.ndarray) -> bytes:
    """``values`` as C-order little-endian IEEE half floats."""
    return np.ascontiguousarray(values, dtype="<f2").tobytes()


def can_roll_out(data: AttentionData) -> bool:
    """Rollout needs self-attention of every layer from the first."""
    return rollout_problem(data) is None


def rollout_or_none(data: AttentionData) -> np.ndarray | None:
    """Rollout through each layer, float32 ``(layers, query, key)``, where it is defined."""
    return data.rollout() if can_roll_out(data) else None


@dataclass(frozen=True)
class Overview:
    """Thumbnails of every layer × (heads, mean, max, rollout).

    Attributes:
        pixels: uint8 ``(layers, heads + 3, tq, tk)``; value = ``pixel / 255 * scale``.
        scale: float32 ``(layers, heads + 3)``, the maximum of each thumbnail.
    """

    pixels: np.ndarray
    scale: np.ndarray

    @property
    def shape(self) -> list[int]:
        return [int(n) for n in self.pixels.shape]


def build_overview(
    data: AttentionData, rollout: np.ndarray | None, size: int = THUMBNAIL_SIZE, precomputed: Precomputed | None = None
) -> Overview:
    """The overview of ``data`` (padding already removed). Never holds a ``(layers, heads, T, T)``
    array for lazy data: heads come from ``data.thumbnails`` (or ``precomputed``, pooled while the
    forward ran), max is their max (exact: the max over heads commutes with max-pooling), the
    mean is pooled layer by layer where :func:`mean_problem` allows, and a column without data
    (mean past the memory budget, rollout where undefined) is all zero.

    Columns: the heads, then one per aggregate in :data:`OVERVIEW_AGGREGATES` order.
    """
    usable = precomputed is not None and precomputed.size == size and precomputed.heads.shape[:2] == (
        data.num_layers, data.num_heads)
    heads = precomputed.heads if usable else data.thumbnails(size)  # type: ignore[union-attr]
    zero = np.zeros((data.num_layers, 1, *heads.shape[2:]), dtype=np.float32)
    if usable and precomputed.means is not None:  # type: ignore[union-attr]
        mean = precomputed.means[:, None]  # type: ignore[union-attr]
    elif mean_problem(data) is None:
        mean = np.stack([max_pool(data.matrix(layer, "mean"), size) for layer in data.layer_indices])[:, None]
    else:
        mean = zero
    aggregates = {
        "mean": mean,
        "max": heads.max(axis=1, keepdims=True),
        "rollout": zero if rollout is None else max_pool(rollout, size)[:, None],
    }
    pixels, scale = quantise(np.concatenate([heads, *(aggregates[name] for name in OVERVIEW_AGGREGATES)], axis=1))
    return Overview(pixels=pixels, scale=scale)


def mean_problem(data: AttentionData) -> str | None:
    """Why the overview's mean column is left empty, or None where it is drawn. The mean of a
    block is not the mean of the heads' block maxima, so its thumbnail needs a second pass over
    every weight of every head: done for stored weights and lazy data within the memory budget,
    skipped beyond it (the mean heatmap itself still comes exactly from tiles)."""
    attentions = data.attentions
    if data.is_lazy and attentions.nbytes > attentions.memory_budget:
        return (
            f"the mean over heads is not pooled into the overview at {len(data.queries):,} tokens (a second pass "
            "over every weight); focus it to see it, computed exactly on demand"
        )
    return None


def is_tiled(data: AttentionData) -> bool:
    """Whether the frontend draws the focused heatmap from ``tile`` requests (``meta.tiled``):
    weights computed on demand, or more than :data:`TILED_FROM_CELLS` cells. Then no
    full-resolution matrix is sent with the data and ``layer``/``rollout`` requests are not made."""
    return bool(data.is_lazy) or len(data.queries) * len(data.keys) > TILED_FROM_CELLS


def meta_for(data: AttentionData, sections: list[str]) -> dict[str, Any]:
    """The ``meta`` trait: shape and model facts the frontend lays out by, the reason rollout
    is undefined (``rollout_problem``, None where it is defined) and the shared vocabulary
    (aggregates, colour scales, log-scale decades, special-token pattern), so the frontend
    spells none of them itself."""
    problem = rollout_problem(data)
    return {
        "num_layers": data.num_layers,
        "num_heads": data.num_heads,
        "layer_indices": list(data.layer_indices),
        "num_queries": len(data.queries),
        "num_keys": len(data.keys),
        "causal": bool(data.causal),
        "kind": data.kind,
        "sections": sections,
        "has_rollout": problem is None,
        "rollout_problem": problem,
        "vocabulary": frontend_vocabulary(),
        # the frontend draws the heatmap from `tile` requests (lazy data, or a long input)
        "tiled": is_tiled(data),
        # aggregate columns of the overview left empty, and why (rollout's is rollout_problem)
        "thumbnail_problems": {} if mean_problem(data) is None else {"mean": mean_problem(data)},
        "model": None if data.model is None else data.model.to_dict(),
        "text": data.text,
        # the generated tokens on this stack's query axis and each step's scores, where there are any
        **({"generation": generation} if (generation := generation_meta(data)) is not None else {}),
    }


def generation_meta(data: AttentionData) -> dict[str, Any] | None:
    """``meta.generation``: the :class:`~attnviz_widget.generation.Generation` record of ``data``
    (``to_dict()``, ``streaming: false``) where this stack's query axis holds generated tokens, else None."""
    from .generation.steps import generated_marks  # numpy only

    if generated_marks(data) is None:
        return None
    return {**data.generation.to_dict(), "streaming": False}


def prediction_for(data: AttentionData) -> dict[str, Any] | None:
    """The ``prediction`` trait: labels, probabilities and the winning label, if a classifier."""
    if data.prediction is None:
        return None
    return {
        "labels": list(data.prediction.labels),
        "probabilities": [float(p) for p in data.prediction.probabilities],
        "label": data.prediction.label,
    }


@dataclass(frozen=True)
class ViewPayload:
    """Everything the frontend needs for one attention stack.

    Attributes:
        view: the stack with padding removed.
        traits: the data traits of ``js/PROTOCOL.md`` (tokens, meta, overview, ...).
        rollout: float32 ``(layers, query, key)`` rollout through each layer, if defined.
    """

    view: AttentionData
    traits: dict[str, Any]
    rollout: np.ndarray | None


def build_view(data: AttentionData, section: str, precomputed: Precomputed | None = None) -> ViewPayload:
    """The payload for stack ``section`` of ``data`` (see :attr:`AttentionData.sections`);
    ``precomputed``: that stack's thumbnails pooled while the forward ran (progressive paint)."""
    view = data.part(section).without_padding()
    precomputed = precomputed if view is data.part(section) else None
    kept = None if precomputed is None else precomputed.rollout
    if kept is not None and can_roll_out(view) and kept.shape == (view.num_layers, len(view.queries), len(view.keys)):
        rollout: np.ndarray | None = kept  # computed layer by layer while the forward ran
    else:
        rollout = rollout_or_none(view)
    overview = build_overview(view, rollout, precomputed=precomputed)
    return ViewPayload(view=view, traits=view_traits(view, list(data.sections), overview), rollout=rollout)


def build_first_view(data: AttentionData, section: str) -> ViewPayload:
    """:func:`build_view` without its slow parts, for a first paint: the same traits with an empty
    overview (the frontend draws none until a full payload brings it) and no rollout computed
    (serve it with :class:`~attnviz_widget.protocol.RolloutOnRequest`)."""
    view = data.part(section).without_padding()
    return ViewPayload(view=view, traits=view_traits(view, list(data.sections), None), rollout=None)


def view_traits(view: AttentionData, sections: list[str], overview: Overview | None) -> dict[str, Any]:
    """The data traits of ``js/PROTOCOL.md`` for one stack without padding; ``overview`` None sends
    an empty one (the frontend draws none until a payload brings it)."""
    return {
        "tokens": list(view.queries.display),
        "key_tokens": list(view.keys.display),
        "special": view.queries.special.tolist(),
        "key_special": view.keys.special.tolist(),
        "meta": meta_for(view, sections),
        "prediction": prediction_for(view),
        "overview": b"" if overview is None else overview.pixels.tobytes(),
        "overview_shape": [] if overview is None else overview.shape,
        "overview_scale": b"" if overview is None else overview.scale.astype("<f4").tobytes(),
    }
