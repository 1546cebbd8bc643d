"""The extracted format (written by ``attnviz-extract``): the keys of ``SPECIFICATION.md`` plus
documented extras; readers that only know the specification ignore the extras::

    {
      "format": "attnviz/extracted-1",
      "tokens": ["[CLS]", "the", ..., "[PAD]"],       # query tokens, padding kept
      "text": "the input text",
      "display_tokens": [...],                         # readable tokens, same length
      "special_tokens": [1, 0, ..., 1],                # 0/1 per token
      "attention_mask": [1, 1, ..., 0],                # 0/1 per token, 0 = padding
      "layer_indices": [0, 1, ...],                    # model layer of each entry
      "kind": "self", "causal": false,
      "model": {"model_type": ..., ...},               # ModelInfo.to_dict(), if known
      "prediction": {"labels": ..., ...},              # Prediction.to_dict(), if any
      "attention_matrices": (layers, heads, seq, seq),  # float32 values, padding kept
      "parts": {"decoder": {...}, "cross": {...}},     # encoder-decoder models only
      "generation": {"text": ..., "steps": [...], ...}  # generated text only (Generation.to_dict())
    }

Each entry of ``parts`` holds the same keys as the top level (from ``tokens`` to
``attention_matrices``); cross-attention adds the encoder side as ``key_tokens``,
``key_display_tokens``, ``key_attention_mask`` and ``key_special_tokens``, and its
matrices are ``(layers, heads, decoder tokens, encoder tokens)``. Plain files of the
original tools hold only ``tokens``, ``text`` and ``attention_matrices``; their
``[PAD]``/``<pad>`` tokens are taken as padding.

``generation`` (written for :func:`attnviz_widget.generate` results, e.g. ``attnviz-extract
--generate N``) holds the prompt, the generated ``text``, ``prompt_tokens`` (how many query
tokens of the generating stack precede the generated ones), ``finish_reason``
(``"eos"``/``"length"``/``"stop"``), ``stopped_at_eos``, the ``settings`` (temperature, seed, ...)
and per generated token a step: ``token_id``, ``token``, ``display``, ``probability`` and
``entropy`` (nats) of the model's ``softmax(logits)``, ``sampled_probability`` under the processed
distribution sampled from, and ``top`` (the five likeliest tokens with probabilities); see
:mod:`attnviz_widget.generation.steps`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import AttentionData
from ..errors import FormatError, InputError
from ..generation.steps import Generation, attach_generation
from . import fields
from .json_codec import dumps
from .paths import write_bytes
from .validation import json_type, matrix_array

__all__ = ["EXTRACTED_FORMAT", "EXTRACTED_KEYS", "parse_extracted", "section_facts", "write_extracted_json"]

#: The ``"format"`` marker of extracted files this version writes and reads.
EXTRACTED_FORMAT = "attnviz/extracted-1"

#: The keys the specification requires at the top level.
EXTRACTED_KEYS = ("tokens", "text", "attention_matrices")


def _flags(values: np.ndarray) -> np.ndarray:
    """A bool vector as 0/1 integers (orjson writes uint8 arrays as numbers)."""
    return values.astype(np.uint8)


def section_facts(data: AttentionData) -> dict[str, Any]:
    """The tokens and facts of one attention stack in the extracted format (not the matrices).

    Token flags are uint8 ``(tokens,)`` arrays; the safetensors format stores the same
    dictionary (the flags as tensors, the rest as JSON metadata).
    """
    queries = data.queries
    section: dict[str, Any] = {
        "tokens": list(queries.tokens),
        "text": data.text,
        "display_tokens": list(queries.display),
        "special_tokens": _flags(queries.special),
        "attention_mask": _flags(queries.mask),
        "layer_indices": list(data.layer_indices),
        "kind": data.kind,
        "causal": data.causal,
    }
    if not data.is_self_attention:
        keys = data.keys
        section["key_tokens"] = list(keys.tokens)
        section["key_display_tokens"] = list(keys.display)
        section["key_special_tokens"] = _flags(keys.special)
        section["key_attention_mask"] = _flags(keys.mask)
    return section


def _matrices(data: AttentionData) -> np.ndarray:
    return np.ascontiguousarray(data.attentions, dtype=np.float32)


def _check_dense_fits(data: AttentionData) -> None:
    """JSON holds every weight: a lazy stack too big to materialise is refused with the way out."""
    for name, part in data.sections.items():
        attentions: Any = part.attentions
        if part.is_lazy and attentions.nbytes > attentions.memory_budget:
            from ..lazy.attentions import describe_bytes  # lazy data means torch is loaded already

            raise InputError(
                f"the {name} attention of {len(part.queries):,} tokens is lazy and would take "
                f"{describe_bytes(attentions.nbytes)} as one array, over the memory budget of "
                f"{describe_bytes(attentions.memory_budget)}; JSON holds every weight, so save it as .safetensors "
                "instead (write_attention(data, 'run.safetensors'))"
            )


def check_finite(data: AttentionData, *, skip_lazy: bool = False) -> None:
    """Raise :class:`InputError` naming the first NaN or infinity in any stack of ``data``.

    ``skip_lazy`` skips stacks computed on demand (``is_lazy``), which are not saved as weights.
    """
    for name, part in data.sections.items():
        if skip_lazy and part.is_lazy:
            continue
        bad = np.flatnonzero(~np.isfinite(part.attentions))
        if bad.size:
            layer, head, query, key = np.unravel_index(bad[0], part.attentions.shape)
            raise InputError(
                f"{name} attention holds NaN or infinity (first at layer {part.layer_indices[layer]}, "
                f"head {head}, query {query}, key {key}); fix the extraction before saving it"
            )


def write_extracted_json(data: AttentionData, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` in the extracted format (see the module docstring) to ``path``.

    ``data.attentions`` ``(layers, heads, query, key)`` is written with padding kept,
    float32 values exactly; encoder-decoder stacks go under ``parts``. The write is
    atomic: on any failure no file, partial or temporary, remains.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: ``data`` is not :class:`AttentionData`, holds NaN or infinity, or
            ``path`` cannot be written.
    """
    if not isinstance(data, AttentionData):
        raise InputError(
            f"write_extracted_json needs AttentionData, got {type(data).__name__}; "
            "write the output of prepare() with write_backend_json"
        )
    _check_dense_fits(data)
    check_finite(data)
    # Small keys first so that the head of the file is readable, the matrices last.
    document: dict[str, Any] = {"format": EXTRACTED_FORMAT, **section_facts(data)}
    if data.model is not None:
        document["model"] = fields.model_to_share(data.model)
    if data.prediction is not None:
        document["prediction"] = data.prediction.to_dict()
    if data.generation is not None:
        document["generation"] = data.generation.to_dict()
    document["attention_matrices"] = _matrices(data)
    if data.parts:
        document["parts"] = {
            name: {**section_facts(part), "attention_matrices": _matrices(part)} for name, part in data.parts.items()
        }
    return write_bytes(path, dumps(document))


def parse_section(document: Any, where: str, default_kind: str, attentions: np.ndarray | None = None) -> AttentionData:
    """One stack of the extracted format; ``where`` prefixes messages (``"parts.cross: "``).

    ``attentions`` ``(layers, heads, query, key)``, when given, replaces the document's
    ``attention_matrices`` (the safetensors format keeps them out of the JSON).
    """
    if not isinstance(document, dict):
        raise FormatError(f"{where}expected an object, got {json_type(document)}")
    matrices_key = () if attentions is not None else ("attention_matrices",)
    fields.require(document, (*EXTRACTED_KEYS[:2], *matrices_key) if not where else ("tokens", *matrices_key), where)
    queries = fields.token_sequence(document, "", where, pad_by_token=True)
    keys = queries
    if "key_tokens" in document:
        keys = fields.token_sequence(document, "key_", where, pad_by_token=True)
    same = keys is queries
    expected = (
        None,
        None,
        (len(queries), "tokens" if same else "query tokens"),
        (len(keys), "tokens" if same else "key tokens"),
    )
    if attentions is None:
        attentions = matrix_array(
            document["attention_matrices"],
            f"{where}attention_matrices",
            ("layer", "head", "query", "key"),
            ("layers", "heads", "rows", "values"),
            expected,
        )
    try:
        return AttentionData(
            attentions=attentions,
            queries=queries,
            keys=keys,
            text=fields.scalar(document, "text", str, "", where),
            layer_indices=fields.layer_indices(document, where, attentions.shape[0]),
            kind=fields.scalar(document, "kind", str, default_kind, where),
            causal=fields.scalar(document, "causal", bool, False, where),
        )
    except InputError as error:
        raise FormatError(f"{where}{error}") from None


def parse_extracted(document: dict[str, Any]) -> AttentionData:
    """:class:`AttentionData` from a parsed extracted-format document."""
    data = parse_section(document, "", "self")
    facts = fields.metadata(document)
    parts_value = document.get("parts") or {}
    if not isinstance(parts_value, dict):
        raise FormatError(f"parts must be an object of attention stacks by kind, got {json_type(parts_value)}")
    parts = {
        name: replace(parse_section(part, f"parts.{name}: ", name), model=facts.get("model"))
        for name, part in parts_value.items()
    }
    return with_generation(replace(data, parts=parts, **facts), document.get("generation"))


def with_generation(data: AttentionData, value: Any) -> AttentionData:
    """``data`` with the parsed ``generation`` object attached to every part; None leaves it as is.

    Raises:
        FormatError: the object is malformed or does not fit the attention's query axis.
    """
    if value is None:
        return data
    generation = Generation.from_dict(value)  # FormatError when malformed
    try:
        return attach_generation(data, generation)
    except ValueError as error:
        raise FormatError(f"generation does not fit the attention: {error}") from None
