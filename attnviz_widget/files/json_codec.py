"""JSON bytes in and out: orjson with numpy arrays, and file reads whose every failure is
one line.

Float32 arrays are written as the shortest decimal that parses back to the same
float32, so the JSON formats round-trip attention values exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..errors import FormatError, InputError
from .validation import describe_json_error

__all__ = ["dumps", "load_json", "read_file_bytes"]

_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE


def _serialisable(value: Any) -> Any:
    """orjson's fallback: numpy arrays it cannot take directly (non-contiguous, other dtypes)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf" and not value.flags.c_contiguous:
            return np.ascontiguousarray(value)
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    """``value`` (dicts, lists, numbers, strings, numpy arrays) as JSON bytes.

    Raises:
        InputError: something in ``value`` cannot be written as JSON (an object, a
            string that is not valid Unicode).
    """
    try:
        return orjson.dumps(value, default=_serialisable, option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError as error:
        raise InputError(f"cannot serialise the data as JSON: {error}") from None


def read_file_bytes(source: Path, what: str = "an attention file") -> bytes:
    """The content of ``source``; a missing, unreadable or empty file is a one-line FormatError."""
    try:
        content = source.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{source}: file not found; check the path") from None
    except IsADirectoryError:
        raise FormatError(f"{source}: is a directory, not a JSON file") from None
    except PermissionError:
        raise FormatError(f"{source}: permission denied; cannot read it") from None
    except OSError as error:
        raise FormatError(f"{source}: cannot read it: {error.strerror or error}") from None
    if not content.strip():
        raise FormatError(f"{source}: the file is empty; expected {what}")
    return content


def load_json(source: Path, content: bytes) -> Any:
    """The parsed JSON of ``content`` (read from ``source``); a failure is a one-line FormatError."""
    content = content.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
    if not content.strip():
        raise FormatError(f"{source}: the file is empty; expected a JSON attention file")
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as error:
        raise FormatError(f"{source}: {describe_json_error(error, content)}") from None
