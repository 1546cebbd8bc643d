"""The binary format for big runs: safetensors, memory-mapped on read, no pickle.

A file is a standard safetensors file (any safetensors reader opens it)::

    8 bytes   little-endian header length N
    N bytes   JSON header: {tensor name: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}
    the tensors' bytes, contiguous

Tensors, per attention stack ``S`` (``main``, ``parts.decoder``, ``parts.cross``):

- ``S.attentions``: float32 (default, exact) or float16 ``(layers, heads, query, key)``,
  padding kept, as in :class:`~attnviz_widget.data.AttentionData`;
- ``S.attention_mask``, ``S.special_tokens``: uint8 ``(query,)``, 0 or 1; cross-attention
  adds ``S.key_attention_mask`` and ``S.key_special_tokens`` ``(key,)``;
- ``prediction.logits``, ``prediction.probabilities``: float32 ``(labels,)``, classifiers only.

``__metadata__`` (string values only, as safetensors requires):

- ``format``: ``"attnviz/safetensors-1"``; ``store``: ``"dense"`` (the dense weights;
  ``"lazy"`` is reserved for the lazy capture of long inputs);
- ``attention_dtype``: ``"float32"`` or ``"float16"``;
- ``attnviz``: a JSON document, ASCII-escaped, with the strings and small facts:
  ``{"main": section, "parts": {kind: section}, "model": ModelInfo.to_dict(),
  "prediction": {"labels": [...]}}`` where a section holds the extracted format's
  ``tokens``, ``display_tokens``, ``text``, ``layer_indices``, ``kind``, ``causal`` and,
  for cross-attention, ``key_tokens`` and ``key_display_tokens``.

Reading maps the file (``numpy.memmap``) and reads only the header, so opening a
512-token 12 x 12 run takes milliseconds; float16 attention is widened to float32 on
open. Values are not re-validated (that would read every byte); the header is, and a
truncated or foreign file gets a one-line :class:`FormatError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from ..data import AttentionData, Prediction
from ..errors import FormatError, InputError
from . import fields
from .extracted_json import check_finite, parse_section, section_facts
from .paths import atomic_output

__all__ = ["SAFETENSORS_FORMAT", "looks_like_safetensors", "read_safetensors", "write_safetensors"]

#: The ``format`` value in ``__metadata__`` of files this version writes and reads.
SAFETENSORS_FORMAT = "attnviz/safetensors-1"

AttentionDtype = Literal["float32", "float16"]

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "U8": np.uint8, "I8": np.int8, "BOOL": np.bool_}
_CODES = {np.dtype(value): code for code, value in _DTYPES.items()}
_FLAG_KEYS = ("attention_mask", "special_tokens", "key_attention_mask", "key_special_tokens")
_MAX_HEADER = 100_000_000  # safetensors' own limit


def looks_like_safetensors(head: bytes, size: int) -> bool:
    """Whether the first bytes ``head`` (at least 9) of a ``size``-byte file start a safetensors file."""
    if len(head) < 9:
        return False
    length = int.from_bytes(head[:8], "little")
    return 2 <= length <= size - 8 and head[8:9] == b"{"


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
    check_finite(data)
    tensors: dict[str, np.ndarray] = {}
    document: dict[str, Any] = {"main": None, "parts": {}}
    for name, part in data.sections.items():
        prefix = "main" if part is data else f"parts.{name}"
        facts = section_facts(part)
        for key in _FLAG_KEYS:
            if key in facts:
                tensors[f"{prefix}.{key}"] = facts.pop(key)
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
    metadata = {
        "format": SAFETENSORS_FORMAT,
        "store": "dense",
        "attention_dtype": dtype,
        # ensure_ascii keeps any string (lone surrogates too) valid in the UTF-8 header
        "attnviz": json.dumps(document, ensure_ascii=True, separators=(",", ":")),
    }
    target = np.float16 if dtype == "float16" else np.float32
    with atomic_output(path) as handle:
        write_tensors(handle, tensors, metadata, convert={k: target for k in tensors if k.endswith(".attentions")})
    return Path(path)


def write_tensors(
    handle: BinaryIO,
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str],
    convert: Mapping[str, type] | None = None,
) -> None:
    """Stream ``tensors`` into ``handle`` in the safetensors layout, one leading slice at a time.

    ``convert`` names tensors to cast (to float16) while writing. Tensors are ordered by
    item size, largest first, so that each starts aligned to its item size.
    """
    convert = convert or {}
    dtypes = {name: np.dtype(convert.get(name, array.dtype)) for name, array in tensors.items()}
    order = sorted(tensors, key=lambda name: (-dtypes[name].itemsize, name))
    header: dict[str, Any] = {"__metadata__": dict(metadata)}
    offset = 0
    for name in order:
        size = int(np.prod(tensors[name].shape, dtype=np.int64)) * dtypes[name].itemsize
        header[name] = {"dtype": _CODES[dtypes[name]], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    handle.write(len(encoded).to_bytes(8, "little"))
    handle.write(encoded)
    for name in order:
        array = np.asarray(tensors[name])
        for piece in array if array.ndim > 1 else (array,):  # one layer at a time bounds the copies
            handle.write(np.ascontiguousarray(piece, dtype=dtypes[name]).data)


# -- reading ----------------------------------------------------------------------------


def read_safetensors(source: Path) -> AttentionData:
    """Open an attnviz safetensors file memory-mapped; messages do not name the file.

    Raises:
        FormatError: truncated, not safetensors, a safetensors file of something else
            (model weights), a newer format, or tensors that do not match the tokens.
    """
    header, tensors = _map(source)
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
    if store != "dense":
        raise FormatError(f"store {store!r} is not supported by this version (it reads 'dense'); "
                          "upgrade attnviz-widget")
    try:
        document = json.loads(metadata.get("attnviz", ""))
    except (TypeError, ValueError):
        raise FormatError("the 'attnviz' metadata is not valid JSON; the file is damaged") from None
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
    return replace(data, parts=decoded, prediction=prediction, **facts)


def _section(facts: Any, prefix: str, tensors: Mapping[str, np.ndarray], kind: str) -> AttentionData:
    if not isinstance(facts, dict):
        raise FormatError(f"{prefix}: the section metadata is not an object; the file is damaged")
    attentions = tensors.get(f"{prefix}.attentions")
    if attentions is None:
        raise FormatError(f"tensor '{prefix}.attentions' is missing")
    if attentions.dtype.kind != "f" or attentions.ndim != 4:
        raise FormatError(f"tensor '{prefix}.attentions' must be float (layers, heads, query, key), "
                          f"got {attentions.dtype} of shape {attentions.shape}")
    document = dict(facts)
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
    try:
        return Prediction(logits=logits, probabilities=probabilities, labels=tuple(value["labels"]))
    except (KeyError, TypeError, ValueError) as error:
        raise FormatError(f"prediction is not valid: {error}") from None


def _map(source: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The parsed header and every tensor as a read-only view of one memory map."""
    try:
        size = source.stat().st_size
        with source.open("rb") as handle:
            raw = _read_header(handle, size)
    except OSError as error:
        raise FormatError(f"cannot read it: {error.strerror or error}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise FormatError("not a safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise FormatError("not a safetensors file: its header is not a JSON object")
    start = 8 + len(raw)
    buffer = np.memmap(source, dtype=np.uint8, mode="r") if size > start else np.zeros(0, np.uint8)
    tensors: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        if name != "__metadata__":
            tensors[name] = _tensor(name, entry, buffer, start, size)
    return header, tensors


def _read_header(handle: BinaryIO, size: int) -> bytes:
    """The JSON header bytes after the 8-byte length; a short file is a FormatError."""
    head = handle.read(8)
    if len(head) < 8:
        raise FormatError(f"truncated safetensors file: {size} bytes, shorter than the 8-byte header length")
    length = int.from_bytes(head, "little")
    if length > _MAX_HEADER and length > size - 8:
        raise FormatError("not a safetensors file: it does not start with a header length and a JSON header")
    if length > size - 8:
        raise FormatError(
            f"truncated safetensors file: the header says {length} bytes follow the length but the file has {size - 8}"
        )
    if length > _MAX_HEADER:
        raise FormatError(f"not a safetensors file: a header of {length} bytes is over the format's limit")
    return handle.read(length)


def _tensor(name: str, entry: Any, buffer: np.ndarray, start: int, size: int) -> np.ndarray:
    """One tensor of the header as a view of ``buffer``, its entry checked against the file."""
    try:
        dtype = np.dtype(_DTYPES[entry["dtype"]])
        shape = tuple(entry["shape"])
        begin, end = entry["data_offsets"]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (*shape, begin, end)):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise FormatError(f"tensor {name!r} has an invalid header entry (dtype, shape or data_offsets)") from None
    count = int(np.prod(shape, dtype=np.int64))
    if end - begin != count * dtype.itemsize:
        raise FormatError(f"tensor {name!r}: data_offsets span {end - begin} bytes but shape {shape} of "
                          f"{dtype} needs {count * dtype.itemsize}")
    if start + end > size:
        raise FormatError(f"truncated safetensors file: tensor {name!r} ends at byte {start + end} but the "
                          f"file has {size} bytes (was the write interrupted?)")
    return buffer[start + begin : start + end].view(dtype).reshape(shape)
