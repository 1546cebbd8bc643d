"""Open an attention file of any format: the format is told by the content, not the name.

A safetensors file starts with its header length and ``{``; anything else is read as
JSON, and a JSON document's keys tell the extracted from the backend format. Every
problem is one :class:`FormatError` line that starts with the file's path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from ..data import AttentionData
from ..errors import FormatError
from .backend_json import parse_backend
from .extracted_json import EXTRACTED_FORMAT, EXTRACTED_KEYS, parse_extracted
from .json_codec import load_json, read_file_bytes
from .safetensors_format import read_safetensors
from .safetensors_layout import looks_like_safetensors
from .validation import json_type

__all__ = ["detect_format", "read_attention_file", "read_backend_json", "read_extracted", "read_extracted_json"]

FormatName = Literal["extracted", "backend"]

_WRONG_FORMAT = {
    "extracted": (
        "this is the backend (prepared) format; an extracted file (attnviz-extract) was expected. "
        "Read it with read_backend_json() or read_attention_file()"
    ),
    "backend": (
        "this is the extracted format; a backend (prepared) file was expected. Read it with "
        "read_extracted_json() or read_attention_file(), or prepare it with attnviz-visualize --mode prepare"
    ),
}


def read_attention_file(path: str | os.PathLike[str]) -> AttentionData:
    """Read a file of any format (extracted or backend JSON, safetensors) into :class:`AttentionData`.

    ``attentions`` is float32 ``(layers, heads, query, key)``; a safetensors file is
    memory-mapped. Backend files hold no padding, so their tokens are all real.

    Raises:
        FormatError: the file is missing, unreadable, not JSON or safetensors, or not a
            valid attention file; the one-line message names the file and the problem.
    """
    return _read(path, None, binary=True)


def read_extracted(path: str | os.PathLike[str]) -> AttentionData:
    """Read extracted data, as JSON or safetensors; a backend file raises :class:`FormatError`."""
    return _read(path, "extracted", binary=True)


def read_extracted_json(path: str | os.PathLike[str]) -> AttentionData:
    """Read a file of the extracted JSON format; a backend file raises :class:`FormatError`."""
    return _read(path, "extracted", binary=False)


def read_backend_json(path: str | os.PathLike[str]) -> AttentionData:
    """Read a file of the backend (prepared) format; an extracted file raises :class:`FormatError`."""
    return _read(path, "backend", binary=False)


def detect_format(document: Any) -> FormatName:
    """``"extracted"`` or ``"backend"`` for a parsed JSON document, by its keys.

    Raises:
        FormatError: the document is not an object or has neither
            ``attention_matrices`` nor ``layers``.
    """
    if not isinstance(document, dict):
        keys = ", ".join(EXTRACTED_KEYS)
        raise FormatError(f"the top level is {json_type(document)}, expected an object with {keys}")
    marker = document.get("format")
    if marker is not None and marker != EXTRACTED_FORMAT:
        if isinstance(marker, str) and marker.startswith("attnviz/extracted-"):
            raise FormatError(
                f"format {marker!r} is newer than this version reads ({EXTRACTED_FORMAT}); upgrade attnviz-widget"
            )
        raise FormatError(f"unknown format {marker!r}; expected {EXTRACTED_FORMAT!r} or no format key")
    if "attention_matrices" in document or marker == EXTRACTED_FORMAT:
        return "extracted"
    if "layers" in document:
        return "backend"
    found = ", ".join(list(document)[:8]) or "none"
    raise FormatError(
        "not an attention file: expected 'attention_matrices' (extracted format) or 'layers' "
        f"(backend format); keys found: {found}"
    )


def _read(path: str | os.PathLike[str], expected: FormatName | None, *, binary: bool) -> AttentionData:
    source = Path(path)
    try:
        if _is_safetensors(source):
            if not binary:
                raise FormatError("this is a safetensors file, not JSON; read it with read_attention_file()")
            return read_safetensors(source)
    except FormatError as error:
        raise FormatError(f"{source}: {_one_line(error)}") from None
    document = load_json(source, read_file_bytes(source, "a JSON attention file"))
    try:
        found = detect_format(document)
        if expected is not None and found != expected:
            raise FormatError(_WRONG_FORMAT[expected])
        return parse_extracted(document) if found == "extracted" else parse_backend(document)
    except FormatError as error:
        raise FormatError(f"{source}: {_one_line(error)}") from None


def _is_safetensors(source: Path) -> bool:
    """Whether ``source`` is to be read as safetensors rather than JSON.

    True when it starts like one, when its bytes 4 to 7 are zero (a header length;
    JSON text holds no NUL bytes), or when it is named ``*.safetensors`` and does not
    start like JSON; the safetensors reader then says what is wrong with it.
    """
    try:
        with source.open("rb") as handle:
            head = handle.read(9)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return False  # the JSON path reports missing and unreadable files
    if looks_like_safetensors(head, size) or head[4:8] == b"\0\0\0\0":
        return True
    return source.suffix.lower() == ".safetensors" and not head.lstrip().startswith((b"{", b"["))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split("\n"))
