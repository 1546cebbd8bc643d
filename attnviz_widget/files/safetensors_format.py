"""The binary format for big runs: safetensors, memory-mapped on read, no pickle.

A standard safetensors file (any safetensors reader opens it; the container is
:mod:`.safetensors_layout`). Tensors, per attention stack ``S`` (``main``,
``parts.decoder``, ``parts.cross``):

- ``S.attentions``: float32 (default, exact) or float16 ``(layers, heads, query, key)``,
  padding kept, as in :class:`~attnviz_widget.data.AttentionData`; or, for a lazy
  stack (long inputs), ``S.lazy.*``: the captured queries, keys, normalisers and mask
  (:mod:`.lazy_section`);
- ``S.attention_mask``, ``S.special_tokens``: uint8 ``(query,)``, 0 or 1; cross-attention
  adds ``S.key_attention_mask`` and ``S.key_special_tokens`` ``(key,)``;
- ``prediction.logits``, ``prediction.probabilities``: float32 ``(labels,)``, classifiers only.

``__metadata__`` (string values only, as safetensors requires):

- ``format``: ``"attnviz/safetensors-1"``;
- ``store``: ``"dense"`` when every stack holds its weights, ``"lazy"`` when some stack
  holds a lazy capture (reopening it needs torch);
- ``attention_dtype``: ``"float32"`` or ``"float16"`` (of the dense stacks);
- ``attnviz``: a JSON document, ASCII-escaped, with the strings and small facts:
  ``{"main": section, "parts": {kind: section}, "model": {...}, "prediction": {"labels": [...]},
  "generation": {...}}`` (generation only for generated text, as in the extracted format)
  where a section holds the extracted format's ``tokens``, ``display_tokens``, ``text``,
  ``layer_indices``, ``kind``, ``causal`` (``key_tokens`` and ``key_display_tokens`` for
  cross-attention), and ``"store": "lazy"`` with a ``lazy`` object for a lazy stack.

Reading maps the file (``numpy.memmap``) and reads only the header, so opening a
512-token 12 x 12 run takes about a millisecond; float16 attention is widened to
float32 on open. Values are not re-validated (that would read every byte); the header
is, and a truncated or foreign file gets a one-line :class:`FormatError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

from ..data import AttentionData, Prediction
from ..errors import FormatError, InputError
from . import fields
from .extracted_json import check_finite, parse_section, section_facts, with_generation
from .lazy_section import is_lazy, lazy_attentions, lazy_tensors
from .paths import atomic_output
from .safetensors_layout import map_tensors, write_tensors

__all__ = ["SAFETENSORS_FORMAT", "read_safetensors", "write_safetensors"]

#: The ``format`` value in ``__metadata__`` of files this version writes and reads.
SAFETENSORS_FORMAT = "attnviz/safetensors-1"

AttentionDtype = Literal["float32", "float16"]

_FLAG_KEYS = ("attention_mask", "special_tokens", "key_attention_mask", "key_special_tokens")


# -- writing ----------------------------------------------------------------------------


def write_safetensors(
    data: AttentionData, path: str | os.PathLike[str], *, dtype: AttentionDtype = "float32"
) -> Path:
    """Write ``data`` (every stack, tokens and facts) as a safetensors file; atomic.

    Args:
        data: the extraction; ``attentions`` ``(layers, heads, query, key)``.
        path: the file to write (conventionally ``*.safetensors``).
        dtype: ``"float32"`` keeps the values exactly; ``"float16"`` halves the file
            (relative error up to 2**-11, values below 6e-8 become 0 or subnormal).

    Raises:
        InputError: ``data`` is not :class:`AttentionData`, holds NaN or infinity, an
            unknown ``dtype``, or ``path`` cannot be written.
    """
    if not isinstance(data, AttentionData):
        raise InputError(f"write_safetensors needs AttentionData, got {type(data).__name__}")
    if dtype not in ("float32", "float16"):
        raise InputError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
    check_finite(data, skip_lazy=True)
    tensors: dict[str, np.ndarray] = {}
    document: dict[str, Any] = {"main": None, "parts": {}}
    for name, part in data.sections.items():
        prefix = "main" if part is data else f"parts.{name}"
        facts = section_facts(part)
        for key in _FLAG_KEYS:
            if key in facts:
                tensors[f"{prefix}.{key}"] = facts.pop(key)
        if is_lazy(part.attentions):
            captured, facts["lazy"] = lazy_tensors(part.attentions, prefix)
            facts["store"] = "lazy"
            tensors.update(captured)
        else:
            tensors[f"{prefix}.attentions"] = part.attentions
        if part is data:
            document["main"] = facts
        else:
            document["parts"][name] = facts
    if data.model is not None:
        document["model"] = fields.model_to_share(data.model)
    if data.prediction is not None:
        document["prediction"] = {"labels": list(data.prediction.labels)}
        tensors["prediction.logits"] = data.prediction.logits
        tensors["prediction.probabilities"] = data.prediction.probabilities
    if data.generation is not None:
        document["generation"] = data.generation.to_dict()
    metadata = {
        "format": SAFETENSORS_FORMAT,
        "store": "lazy" if any(is_lazy(part.attentions) for part in data.sections.values()) else "dense",
        "attention_dtype": dtype,
        "attnviz": _document_json(document),
    }
    target = np.float16 if dtype == "float16" else np.float32
    with atomic_output(path) as handle:
        write_tensors(handle, tensors, metadata, convert={k: target for k in tensors if k.endswith(".attentions")})
    return Path(path)


def _document_json(document: dict[str, Any]) -> str:
    """The metadata document as JSON text; a string that is not valid Unicode is refused.

    A lone surrogate (from undecodable bytes) cannot round-trip: JSON would join a high and a
    low one into a different character. Both JSON formats refuse it the same way.
    """
    try:
        return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")
    except orjson.JSONEncodeError as error:
        raise InputError(f"cannot save the tokens and text: {error}; they must be valid Unicode") from None


# -- reading ----------------------------------------------------------------------------


def read_safetensors(source: Path) -> AttentionData:
    """Open an attnviz safetensors file memory-mapped; messages do not name the file.

    Raises:
        FormatError: truncated, not safetensors, a safetensors file of something else
            (model weights), a newer format, or tensors that do not match the tokens.
    """
    header, tensors = map_tensors(source)
    metadata = header.get("__metadata__")
    marker = metadata.get("format") if isinstance(metadata, dict) else None
    if marker != SAFETENSORS_FORMAT:
        if isinstance(marker, str) and marker.startswith("attnviz/safetensors-"):
            raise FormatError(f"format {marker!r} is newer than this version reads ({SAFETENSORS_FORMAT}); "
                              "upgrade attnviz-widget")
        names = ", ".join(list(tensors)[:5]) or "none"
        raise FormatError(f"a safetensors file but not an attnviz attention file (no {SAFETENSORS_FORMAT!r} "
                          f"format in its metadata; tensors: {names}); model weights are not attention data")
    assert isinstance(metadata, dict)
    store = metadata.get("store", "dense")
    if store not in ("dense", "lazy"):
        raise FormatError(f"store {store!r} is not supported by this version (it reads 'dense' and 'lazy'); "
                          "upgrade attnviz-widget")
    try:  # orjson, as for the JSON formats: a lone surrogate escape is refused, not read
        document = orjson.loads(metadata.get("attnviz", ""))
    except (TypeError, orjson.JSONDecodeError) as error:
        reason = f": {error.msg}" if isinstance(error, orjson.JSONDecodeError) else ""
        raise FormatError(f"the 'attnviz' metadata is not valid JSON{reason}; the file is damaged") from None
    if not isinstance(document, dict) or not isinstance(document.get("main"), dict):
        raise FormatError("the 'attnviz' metadata has no 'main' section; the file is damaged")
    parts = document.get("parts", {})
    if not isinstance(parts, dict):
        raise FormatError("the 'attnviz' metadata's 'parts' is not an object; the file is damaged")
    data = _section(document["main"], "main", tensors, "self")
    facts = fields.metadata({"model": document.get("model")})
    decoded = {name: replace(_section(part, f"parts.{name}", tensors, name), **facts)
               for name, part in parts.items()}
    prediction = _prediction(document.get("prediction"), tensors)
    return with_generation(replace(data, parts=decoded, prediction=prediction, **facts), document.get("generation"))


def _section(facts: Any, prefix: str, tensors: Mapping[str, np.ndarray], kind: str) -> AttentionData:
    if not isinstance(facts, dict):
        raise FormatError(f"{prefix}: the section metadata is not an object; the file is damaged")
    if facts.get("store", "dense") == "lazy":
        return _parsed(facts, prefix, tensors, kind, lazy_attentions(facts.get("lazy"), prefix, tensors))
    if facts.get("store", "dense") != "dense":
        raise FormatError(f"{prefix}: store {facts.get('store')!r} is not 'dense' or 'lazy'")
    attentions = tensors.get(f"{prefix}.attentions")
    if attentions is None:
        raise FormatError(f"tensor '{prefix}.attentions' is missing")
    if attentions.dtype.kind != "f" or attentions.ndim != 4:
        raise FormatError(f"tensor '{prefix}.attentions' must be float (layers, heads, query, key), "
                          f"got {attentions.dtype} of shape {attentions.shape}")
    return _parsed(facts, prefix, tensors, kind, attentions)


def _parsed(facts: dict[str, Any], prefix: str, tensors: Mapping[str, np.ndarray], kind: str,
            attentions: Any) -> AttentionData:
    """The section's AttentionData: its facts with the flag tensors, and ``attentions``."""
    document = {key: value for key, value in facts.items() if key not in ("store", "lazy")}
    for key in _FLAG_KEYS:
        flags = tensors.get(f"{prefix}.{key}")
        if flags is not None:
            document[key] = flags.tolist()
    return parse_section(document, f"{prefix}: ", kind, attentions=attentions)


def _prediction(value: Any, tensors: Mapping[str, np.ndarray]) -> Prediction | None:
    if value is None:
        return None
    logits, probabilities = tensors.get("prediction.logits"), tensors.get("prediction.probabilities")
    if not isinstance(value, dict) or logits is None or probabilities is None:
        raise FormatError("prediction needs labels in the metadata and tensors 'prediction.logits' and "
                          "'prediction.probabilities'; the file is damaged")
    if logits.ndim != 1 or probabilities.ndim != 1:
        raise FormatError("prediction tensors must be vectors (labels,); the file is damaged")
    document = {"labels": value.get("labels"), "logits": logits.tolist(), "probabilities": probabilities.tolist()}
    prediction: Prediction = fields.metadata({"prediction": document})["prediction"]
    return prediction
