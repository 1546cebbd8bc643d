"""The safetensors container: streaming writes with aligned tensors, and a checked,
memory-mapped read.

Layout (what any safetensors reader expects)::

    8 bytes   little-endian header length N
    N bytes   JSON header: {tensor name: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}
    the tensors' bytes, contiguous, in header order

This module knows nothing of attention; :mod:`.safetensors_format` gives the names
and metadata their meaning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import FormatError

__all__ = ["looks_like_safetensors", "map_tensors", "write_tensors"]

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
           "BOOL": np.bool_}
_CODES = {np.dtype(value): code for code, value in _DTYPES.items()}
_MAX_HEADER = 100_000_000  # safetensors' own limit


def looks_like_safetensors(head: bytes, size: int) -> bool:
    """Whether the first bytes ``head`` (at least 9) of a ``size``-byte file start a safetensors file."""
    if len(head) < 9:
        return False
    length = int.from_bytes(head[:8], "little")
    return 2 <= length <= size - 8 and head[8:9] == b"{"


def write_tensors(
    handle: BinaryIO,
    tensors: Mapping[str, Any],
    metadata: Mapping[str, str],
    convert: Mapping[str, type] | None = None,
) -> None:
    """Stream ``tensors`` (numpy arrays or array-likes) into ``handle`` in the safetensors layout.

    ``convert`` names tensors to cast (to float16) while writing; each tensor is written
    one leading slice at a time, so a conversion never copies the whole array. Tensors
    are ordered by item size, largest first, so that each starts aligned to its item size.

    Raises:
        FormatError: a tensor of a dtype safetensors cannot hold.
    """
    convert = convert or {}
    dtypes = {name: np.dtype(convert.get(name, np.asarray(array).dtype)) for name, array in tensors.items()}
    unknown = [name for name, dtype in dtypes.items() if dtype not in _CODES]
    if unknown:
        raise FormatError(f"tensor {unknown[0]!r} has dtype {dtypes[unknown[0]]}, which safetensors cannot hold")
    order = sorted(tensors, key=lambda name: (-dtypes[name].itemsize, name))
    header: dict[str, Any] = {"__metadata__": dict(metadata)}
    offset = 0
    for name in order:
        shape = [int(size) for size in np.shape(tensors[name])]
        size = int(np.prod(shape, dtype=np.int64)) * dtypes[name].itemsize
        header[name] = {"dtype": _CODES[dtypes[name]], "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    handle.write(len(encoded).to_bytes(8, "little"))
    handle.write(encoded)
    for name in order:
        array = tensors[name]
        pieces = (array[index] for index in range(len(array))) if np.ndim(array) > 1 else (array,)
        for piece in pieces:  # one layer at a time bounds the copies
            handle.write(np.ascontiguousarray(piece, dtype=dtypes[name]).data)


def map_tensors(source: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The parsed header and every tensor as a read-only view of one memory map of ``source``.

    Messages do not name the file (the caller does).

    Raises:
        FormatError: the file is truncated, not safetensors, or a header entry does not
            fit the file.
    """
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
    count = math.prod(shape)
    if end - begin != count * dtype.itemsize:
        raise FormatError(f"tensor {name!r}: data_offsets span {end - begin} bytes but shape {shape} of "
                          f"{dtype} needs {count * dtype.itemsize}")
    if start + end > size:
        raise FormatError(f"truncated safetensors file: tensor {name!r} ends at byte {start + end} but the "
                          f"file has {size} bytes (was the write interrupted?)")
    return buffer[start + begin : start + end].view(dtype).reshape(shape)
