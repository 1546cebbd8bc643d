"""The backend format (written by ``attnviz-visualize --mode prepare``).

It is the dict :func:`attnviz_widget.prepare.prepare` returns::

    {"tokens": [...], "text": "...",
     "layers": [{"layer_idx": 0, "heads": [{"head_idx": 0, "attention": (query, key)}, ...]}, ...]}

without padding, plus the extras that function documents (display tokens, special
flags, aggregates, model, prediction; ``key_*`` tokens for cross-attention).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..data import AttentionData
from ..errors import FormatError, InputError
from . import fields
from .json_codec import dumps
from .paths import write_bytes
from .validation import json_type, matrix_array, non_finite

__all__ = ["BACKEND_KEYS", "parse_backend", "write_backend_json"]

#: The keys the specification (``SPECIFICATION.md``, section 3) requires at the top level.
BACKEND_KEYS = ("tokens", "text", "layers")


def write_backend_json(prepared: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the backend structure returned by :func:`~attnviz_widget.prepare.prepare`.

    ``prepared`` may hold float32 numpy arrays (each ``attention`` is ``(query, key)``)
    or nested lists (``as_lists=True``); both are written with exact values. The
    write is atomic.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: ``prepared`` is not a backend dict, holds NaN or infinity, or
            ``path`` cannot be written.
    """
    if isinstance(prepared, AttentionData):
        raise InputError(
            "write_backend_json needs the dict of prepare(data); write AttentionData with write_extracted_json"
        )
    if not isinstance(prepared, Mapping) or not all(key in prepared for key in BACKEND_KEYS):
        keys = ", ".join(BACKEND_KEYS)
        raise InputError(f"write_backend_json needs the dict returned by prepare(), with keys {keys}")
    if (where := non_finite(prepared, "")) is not None:
        raise InputError(f"the prepared data holds NaN or infinity at {where}; JSON cannot store it")
    return write_bytes(path, dumps(_without_local_paths(prepared)))


def _without_local_paths(prepared: Mapping[str, Any]) -> dict[str, Any]:
    """``prepared`` with each ``model`` (top level and parts) named by its short name."""
    shared = dict(prepared)
    if isinstance(shared.get("model"), Mapping):
        shared["model"] = fields.model_to_share(shared["model"])
    if isinstance(shared.get("parts"), Mapping):
        shared["parts"] = {
            name: _without_local_paths(part) if isinstance(part, Mapping) else part
            for name, part in shared["parts"].items()
        }
    return shared


def parse_backend(document: dict[str, Any]) -> AttentionData:
    """:class:`AttentionData` ``(layers, heads, query, key)`` from a parsed backend document.

    Backend files hold no padding, so every token is real.
    """
    fields.require(document, BACKEND_KEYS, "")
    queries = fields.token_sequence(document, "", "", pad_by_token=False)
    keys = fields.token_sequence(document, "key_", "", pad_by_token=False) if "key_tokens" in document else queries
    layers = document["layers"]
    if not isinstance(layers, list) or not layers:
        got = "an empty list" if layers == [] else json_type(layers)
        raise FormatError(f"layers must be a non-empty list of layer objects, got {got}")
    same = keys is queries
    expected = ((len(queries), "tokens" if same else "query tokens"), (len(keys), "tokens" if same else "key tokens"))
    layer_indices: list[int] = []
    matrices: list[np.ndarray] = []
    head_count: int | None = None
    for position, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("heads"), list) or not layer["heads"]:
            raise FormatError(f"layers[{position}] must be an object with a non-empty list 'heads'")
        layer_index = layer.get("layer_idx", position)
        if not isinstance(layer_index, int) or isinstance(layer_index, bool) or layer_index < 0:
            raise FormatError(f"layers[{position}].layer_idx must be a non-negative integer")
        if layer_index in layer_indices:
            raise FormatError(f"layers[{position}].layer_idx {layer_index} appears twice")
        heads = _ordered_heads(layer["heads"], position)
        if head_count is None:
            head_count = len(heads)
        elif len(heads) != head_count:
            raise FormatError(
                f"layer {layer_index} has {len(heads)} heads but layer {layer_indices[0]} has {head_count}; "
                "all layers must have the same number of heads"
            )
        layer_indices.append(layer_index)
        for head, matrix in enumerate(heads):
            top = f"layer {layer_index}, head {head}: attention"
            matrices.append(matrix_array(matrix, top, ("query", "key"), ("rows", "values"), expected))
    assert head_count is not None
    attentions = np.stack(matrices).reshape(len(layer_indices), head_count, len(queries), len(keys))
    try:
        return AttentionData(
            attentions=attentions,
            queries=queries,
            keys=keys,
            text=fields.scalar(document, "text", str, "", ""),
            layer_indices=tuple(layer_indices),
            kind=fields.scalar(document, "kind", str, "self", ""),
            causal=fields.scalar(document, "causal", bool, False, ""),
            **fields.metadata(document),
        )
    except InputError as error:
        raise FormatError(str(error)) from None


def _ordered_heads(heads: list[Any], layer_position: int) -> list[Any]:
    """The ``attention`` matrices of one layer's heads, ordered by ``head_idx``."""
    where = f"layers[{layer_position}].heads"
    for index, head in enumerate(heads):
        if not isinstance(head, dict) or "attention" not in head:
            raise FormatError(f"{where}[{index}] must be an object with 'attention'")
    numbers = [head.get("head_idx", index) for index, head in enumerate(heads)]
    valid = all(isinstance(n, int) and not isinstance(n, bool) for n in numbers)
    if not valid or sorted(numbers) != list(range(len(heads))):
        raise FormatError(f"{where} head_idx values must be 0 to {len(heads) - 1}, each once")
    ordered = sorted(zip(numbers, heads), key=lambda pair: pair[0])
    return [head["attention"] for _, head in ordered]
