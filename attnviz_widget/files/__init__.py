"""Attention files: the two JSON formats of ``SPECIFICATION.md``, safetensors for big runs, and
the atomic writes every writer of the package uses.

Modules, one job each:

- :mod:`.paths`: output-path checks and atomic writes (also used by plot, html_export, cli);
- :mod:`.extracted_json`: the extracted format (``attnviz-extract``), read and write;
- :mod:`.backend_json`: the backend format (``attnviz-visualize --mode prepare``);
- :mod:`.safetensors_format`: the binary format, memory-mapped on read;
- :mod:`.fields`, :mod:`.validation`, :mod:`.json_codec`: the JSON readers' checks;
- :mod:`.reading`: opens a file of any format, told by its content.

Every reader reports a problem as a one-line :class:`~attnviz_widget.errors.FormatError`
that names the file; every writer is atomic (no partial file on failure).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..data import AttentionData
from ..errors import InputError
from .backend_json import write_backend_json
from .extracted_json import EXTRACTED_FORMAT, write_extracted_json
from .paths import atomic_output, check_output_path
from .reading import (
    detect_format,
    read_attention_file,
    read_backend_json,
    read_extracted,
    read_extracted_json,
)
from .safetensors_format import SAFETENSORS_FORMAT, AttentionDtype, write_safetensors

__all__ = [
    "EXTRACTED_FORMAT",
    "SAFETENSORS_FORMAT",
    "atomic_output",
    "check_output_path",
    "detect_format",
    "read_attention_file",
    "read_backend_json",
    "read_extracted",
    "read_extracted_json",
    "write_attention",
    "write_backend_json",
    "write_extracted_json",
    "write_safetensors",
]


def write_attention(
    data: AttentionData | Mapping[str, Any], path: str | os.PathLike[str], *, dtype: AttentionDtype = "float32"
) -> Path:
    """Write ``data`` in the format its file name asks for; atomic.

    - ``*.safetensors``: the binary format (``dtype`` ``"float32"``, exact, or ``"float16"``);
    - any other name: JSON, the extracted format for :class:`AttentionData`, the
      backend format for the dict of :func:`~attnviz_widget.prepare.prepare`.

    Raises:
        InputError: ``dtype="float16"`` for a JSON file, data of the wrong kind,
            NaN or infinity, or a path that cannot be written.
    """
    if Path(path).suffix.lower() == ".safetensors":
        if not isinstance(data, AttentionData):
            raise InputError(
                f"a .safetensors file holds AttentionData (from extract), got {type(data).__name__}; "
                "write prepared data as .json"
            )
        return write_safetensors(data, path, dtype=dtype)
    if dtype != "float32":
        raise InputError(f"dtype {dtype!r} applies to .safetensors files only; JSON keeps float32 values")
    if isinstance(data, AttentionData):
        return write_extracted_json(data, path)
    return write_backend_json(data, path)
