"""From extracted attention to the structure a frontend consumes.

:func:`prepare` removes padding (by the attention mask, whatever the tokenizer calls
its pad token), nests layers and heads as the backend format of the specification
(``SPECIFICATION.md``, section 3) does, and optionally adds aggregates: the mean and max
over heads, and attention rollout (Abnar & Zuidema, 2020).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .aggregates import attention_rollout, check_rollout_layers, head_max, head_mean, rollout_problem
from .data import AttentionData
from .errors import InputError
from .vocabulary import AGGREGATES

__all__ = [
    "AGGREGATES",
    "aggregate",
    "attention_rollout",
    "check_rollout_layers",
    "head_max",
    "head_mean",
    "prepare",
    "rollout_problem",
]


def _parse_aggregates(aggregates: str | Iterable[str]) -> tuple[str, ...]:
    names = (aggregates,) if isinstance(aggregates, str) else tuple(aggregates)
    unknown = [name for name in names if name not in AGGREGATES]
    if unknown:
        raise InputError(f"unknown aggregate {unknown[0]!r}; choose from {', '.join(AGGREGATES)}")
    return names


def aggregate(data: AttentionData, name: str) -> np.ndarray:
    """One aggregate of ``data`` as float32 ``(layers, query, key)``: mean, max or rollout."""
    (name,) = _parse_aggregates(name)
    if name == "mean":
        return head_mean(data.attentions)
    if name == "max":
        return head_max(data.attentions)
    return data.rollout()


def prepare(
    data: AttentionData,
    *,
    aggregates: str | Iterable[str] = (),
    layers: Sequence[int] | None = None,
    as_lists: bool = False,
) -> dict[str, Any]:
    """The specification's backend structure, padding removed.

    Returns a dict with ``tokens``, ``text`` and ``layers: [{layer_idx, heads:
    [{head_idx, attention}]}]`` exactly as the backend format of ``SPECIFICATION.md``, where
    each ``attention`` is ``(query, key)`` without padded tokens. Extra keys describe
    the data further: ``display_tokens``, ``special_tokens``, ``kind``, ``causal``, and
    when known ``key_tokens`` (cross-attention), ``model`` and ``prediction``. With
    ``aggregates``, each layer also gets ``aggregates: {name: (query, key)}`` (rollout
    is the rollout through that layer, computed over all kept layers). Encoder-decoder
    data adds ``parts: {"decoder": ..., "cross": ...}``, each prepared the same way
    (cross-attention has no rollout).

    Args:
        data: extracted attention.
        aggregates: any of ``"mean"``, ``"max"``, ``"rollout"``.
        layers: model layer indices to include (default: all kept layers).
        as_lists: give nested Python lists instead of float32 numpy arrays (slower;
            the JSON writers serialise numpy arrays directly).
    """
    names = _parse_aggregates(aggregates)
    clean = data.without_padding()
    computed = {name: aggregate(clean, name) for name in names}
    positions = range(clean.num_layers) if layers is None else [clean.position_of_layer(i) for i in layers]

    def matrix(values: np.ndarray) -> Any:
        return values.tolist() if as_lists else values

    layer_entries = []
    for position in positions:
        entry: dict[str, Any] = {
            "layer_idx": clean.layer_indices[position],
            "heads": [
                {"head_idx": head, "attention": matrix(clean.attentions[position, head])}
                for head in range(clean.num_heads)
            ],
        }
        if computed:
            entry["aggregates"] = {name: matrix(values[position]) for name, values in computed.items()}
        layer_entries.append(entry)

    result: dict[str, Any] = {
        "tokens": list(clean.queries.tokens),
        "text": clean.text,
        "layers": layer_entries,
        "display_tokens": list(clean.queries.display),
        "special_tokens": clean.queries.special.astype(int).tolist(),
        "kind": clean.kind,
        "causal": clean.causal,
    }
    if not clean.is_self_attention:
        result["key_tokens"] = list(clean.keys.tokens)
        result["key_display_tokens"] = list(clean.keys.display)
    if clean.model is not None:
        result["model"] = clean.model.to_dict()
    if clean.prediction is not None:
        result["prediction"] = clean.prediction.to_dict()
    if clean.parts:
        result["parts"] = {
            name: prepare(
                part,
                aggregates=[n for n in names if n != "rollout" or part.is_self_attention],
                layers=layers,
                as_lists=as_lists,
            )
            for name, part in clean.parts.items()
        }
    return result
