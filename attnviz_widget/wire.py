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

from .aggregates import head_mean, rollout_problem
from .data import AttentionData
from .pooling import THUMBNAIL_SIZE, block_edges, max_pool  # noqa: F401  (the overview's block edges, re-exported)
from .vocabulary import AGGREGATES, frontend_vocabulary

#: Aggregate columns that follow the heads in the overview, in order (the vocabulary's table).
OVERVIEW_AGGREGATES = AGGREGATES


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


def build_overview(data: AttentionData, rollout: np.ndarray | None, size: int = THUMBNAIL_SIZE) -> Overview:
    """The overview of ``data`` (padding already removed); rollout column all zero when undefined.

    Columns: the heads, then one per aggregate in :data:`OVERVIEW_AGGREGATES` order.
    """
    heads = max_pool(data.attentions, size)  # (layers, heads, tq, tk)
    mean = max_pool(head_mean(data.attentions), size)[:, None]
    aggregates = {
        "mean": mean,
        "max": heads.max(axis=1, keepdims=True),  # the max over heads commutes with max-pooling
        "rollout": np.zeros_like(mean) if rollout is None else max_pool(rollout, size)[:, None],
    }
    pooled = np.concatenate([heads, *(aggregates[name] for name in OVERVIEW_AGGREGATES)], axis=1)
    scale = pooled.max(axis=(-2, -1)).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0)[..., None, None]
    pixels = np.rint(np.clip(pooled / safe, 0.0, 1.0) * 255).astype(np.uint8)
    return Overview(pixels=pixels, scale=scale)


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
        "model": None if data.model is None else data.model.to_dict(),
        "text": data.text,
    }


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


def build_view(data: AttentionData, section: str) -> ViewPayload:
    """The payload for stack ``section`` of ``data`` (see :attr:`AttentionData.sections`)."""
    view = data.part(section).without_padding()
    rollout = rollout_or_none(view)
    overview = build_overview(view, rollout)
    traits = {
        "tokens": list(view.queries.display),
        "key_tokens": list(view.keys.display),
        "special": view.queries.special.tolist(),
        "key_special": view.keys.special.tolist(),
        "meta": meta_for(view, list(data.sections)),
        "prediction": prediction_for(view),
        "overview": overview.pixels.tobytes(),
        "overview_shape": overview.shape,
        "overview_scale": overview.scale.astype("<f4").tobytes(),
    }
    return ViewPayload(view=view, traits=traits, rollout=rollout)
