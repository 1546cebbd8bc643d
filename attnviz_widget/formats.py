"""The specification's two JSON formats: written atomically, read with validation.

**Extracted format** (written by ``attnviz-extract``), the specification's keys plus
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
      "parts": {"decoder": {...}, "cross": {...}}      # encoder-decoder models only
    }

Each entry of ``parts`` holds the same keys as the top level (from ``tokens`` to
``attention_matrices``); cross-attention adds the encoder side as ``key_tokens``,
``key_display_tokens``, ``key_attention_mask`` and ``key_special_tokens``, and its
matrices are ``(layers, heads, decoder tokens, encoder tokens)``.

**Backend format** (written by ``attnviz-visualize --mode prepare``): the dict
:func:`attnviz_widget.prepare.prepare` returns, ``{"tokens", "text", "layers":
[{"layer_idx", "heads": [{"head_idx", "attention": (query, key)}]}]}`` without padding,
plus the extras that function documents.

Both writers serialise with orjson (float32 values as the shortest decimal that
parses back to the same float32), write to a temporary file in the target directory
and rename it into place, so a failed write never leaves a partial file. The readers
accept files of either format, including plain files of the original tools that hold
only the specification's keys, and report every problem as a one-line
:class:`~attnviz_widget.errors.FormatError` that names the file and the place.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import orjson

from .data import AttentionData, ModelInfo, Prediction, TokenSequence
from .errors import FormatError, InputError

__all__ = [
    "EXTRACTED_FORMAT",
    "atomic_output",
    "check_output_path",
    "detect_format",
    "read_attention_file",
    "read_backend_json",
    "read_extracted_json",
    "write_backend_json",
    "write_extracted_json",
]

#: The ``"format"`` marker of extracted files this version writes and reads.
EXTRACTED_FORMAT = "attnviz/extracted-1"

#: Tokens taken as padding in plain extracted files, which carry no ``attention_mask``.
PAD_TOKENS = frozenset({"[PAD]", "<pad>"})

#: How far values may lie outside [0, 1] (rounding of softmax outputs) and still be read.
VALUE_SLACK = 1e-3

FormatName = Literal["extracted", "backend"]

_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
_EXTRACTED_KEYS = ("tokens", "text", "attention_matrices")
_BACKEND_KEYS = ("tokens", "text", "layers")


# -- writing --------------------------------------------------------------------------


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`Path`, or :class:`InputError` when a file cannot be written there.

    Cheap enough to call before slow work, so a bad output path fails first.
    """
    target = Path(path).expanduser()
    directory = target.parent
    if target.is_dir():
        raise InputError(f"cannot write {target}: it is a directory; give a file name inside it")
    if not directory.is_dir():
        reason = "is not a directory" if directory.exists() else "does not exist; create it first"
        raise InputError(f"cannot write {target}: directory {directory} {reason}")
    if not os.access(directory, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"cannot write {target}: permission denied")
    return target


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary file that appears at ``path`` only once everything was written.

    Writes go to a hidden temporary file in the same directory; when the ``with``
    block ends normally the file is flushed, fsynced and renamed over ``path``
    (``os.replace``, atomic on POSIX and Windows). If the block raises, the temporary
    file is removed and ``path`` is left as it was. The new file gets the usual
    permissions (``0o666`` less the umask).

    Raises:
        InputError: ``path`` is a directory, its directory does not exist, or the
            file cannot be created or written (permissions, disk full); one line.
    """
    target = check_output_path(path)
    directory = target.parent
    temporary = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(temporary, flags, 0o666)
    except OSError as error:
        raise InputError(f"cannot write {target}: {_reason(error)}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        with suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise InputError(f"cannot write {target}: {_reason(error)}") from None
        raise
    _fsync_directory(directory)


def _reason(error: OSError) -> str:
    if isinstance(error, PermissionError):
        return "permission denied; choose a directory you can write to"
    return error.strerror or str(error)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows opening directories."""
    with suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _write_bytes(path: str | os.PathLike[str], payload: bytes) -> Path:
    with atomic_output(path) as handle:
        handle.write(payload)
    return Path(path)


def _serialisable(value: Any) -> Any:
    """orjson's fallback: numpy arrays it cannot take directly (non-contiguous, other dtypes)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf" and not value.flags.c_contiguous:
            return np.ascontiguousarray(value)
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_serialisable, option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError as error:
        raise InputError(f"cannot serialise the data as JSON: {error}") from None


def _non_finite(value: Any, where: str) -> str | None:
    """Where the first NaN or infinity in a tree of dicts, lists and arrays is, if any."""
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind in "fc":
            bad = np.flatnonzero(~np.isfinite(array))
            if bad.size:
                return f"{where}{[int(i) for i in np.unravel_index(bad[0], array.shape)]}"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else where
    if isinstance(value, Mapping):
        for key, item in value.items():
            if (found := _non_finite(item, f"{where}.{key}" if where else str(key))) is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        with suppress(TypeError):  # fast path for a list of plain numbers
            if all(map(math.isfinite, value)):
                return None
        for index, item in enumerate(value):
            if (found := _non_finite(item, f"{where}[{index}]")) is not None:
                return found
    return None


def _flags(values: np.ndarray) -> np.ndarray:
    """A bool vector as 0/1 integers (orjson writes uint8 arrays as numbers)."""
    return values.astype(np.uint8)


def _section(data: AttentionData) -> dict[str, Any]:
    """The tokens and facts of one attention stack in the extracted format (not the matrices)."""
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


def _check_finite(data: AttentionData) -> None:
    for name, part in data.sections.items():
        bad = np.flatnonzero(~np.isfinite(part.attentions))
        if bad.size:
            layer, head, query, key = np.unravel_index(bad[0], part.attentions.shape)
            raise InputError(
                f"{name} attention holds NaN or infinity (first at layer {part.layer_indices[layer]}, "
                f"head {head}, query {query}, key {key}); JSON cannot store it, fix the extraction"
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
    _check_finite(data)
    # Small keys first so that the head of the file is readable, the matrices last.
    document: dict[str, Any] = {"format": EXTRACTED_FORMAT, **_section(data)}
    if data.model is not None:
        document["model"] = data.model.to_dict()
    if data.prediction is not None:
        document["prediction"] = data.prediction.to_dict()
    document["attention_matrices"] = _matrices(data)
    if data.parts:
        document["parts"] = {
            name: {**_section(part), "attention_matrices": _matrices(part)} for name, part in data.parts.items()
        }
    return _write_bytes(path, _dumps(document))


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
    if not isinstance(prepared, Mapping) or not all(key in prepared for key in _BACKEND_KEYS):
        keys = ", ".join(_BACKEND_KEYS)
        raise InputError(f"write_backend_json needs the dict returned by prepare(), with keys {keys}")
    if (where := _non_finite(prepared, "")) is not None:
        raise InputError(f"the prepared data holds NaN or infinity at {where}; JSON cannot store it")
    return _write_bytes(path, _dumps(prepared))


# -- reading ---------------------------------------------------------------------------


def read_attention_file(path: str | os.PathLike[str]) -> AttentionData:
    """Read a file of either format into :class:`AttentionData`.

    The format is told by the keys: ``attention_matrices`` means extracted, ``layers``
    backend. Backend files hold no padding, so their tokens are all real.

    Raises:
        FormatError: the file is missing, unreadable, not JSON, or not a valid
            attention file; the one-line message names the file and the problem.
    """
    return _read(path, None)


def read_extracted_json(path: str | os.PathLike[str]) -> AttentionData:
    """Read a file of the extracted format; a backend file raises :class:`FormatError`."""
    return _read(path, "extracted")


def read_backend_json(path: str | os.PathLike[str]) -> AttentionData:
    """Read a file of the backend (prepared) format; an extracted file raises :class:`FormatError`."""
    return _read(path, "backend")


def detect_format(document: Any) -> FormatName:
    """``"extracted"`` or ``"backend"`` for a parsed JSON document, by its keys.

    Raises:
        FormatError: the document is not an object or has neither
            ``attention_matrices`` nor ``layers``.
    """
    if not isinstance(document, dict):
        keys = ", ".join(_EXTRACTED_KEYS)
        raise FormatError(f"the top level is {_json_type(document)}, expected an object with {keys}")
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


def _read(path: str | os.PathLike[str], expected: FormatName | None) -> AttentionData:
    source = Path(path)
    document = _load(source)
    try:
        found = detect_format(document)
        if expected is not None and found != expected:
            raise FormatError(_WRONG_FORMAT[expected])
        return _parse_extracted(document) if found == "extracted" else _parse_backend(document)
    except FormatError as error:
        raise FormatError(f"{source}: {error}") from None


def _load(source: Path) -> Any:
    """The parsed JSON of ``source``; every failure is a one-line FormatError."""
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
    content = content.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
    if not content.strip():
        raise FormatError(f"{source}: the file is empty; expected a JSON attention file")
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as error:
        raise FormatError(f"{source}: {_describe_json_error(error, content)}") from None


def _describe_json_error(error: orjson.JSONDecodeError, content: bytes) -> str:
    where = f"line {error.lineno}, column {error.colno} (character {error.pos})"
    text = content.decode("utf-8", errors="replace")
    if text.startswith(("NaN", "Infinity"), error.pos):
        word = "NaN" if text.startswith("NaN", error.pos) else "Infinity"
        return (
            f"invalid JSON: {word} at {where} is not a JSON value (Python's json module writes it "
            "for non-finite floats); the data holds non-finite attention values, fix and re-extract"
        )
    if "UTF-8" in error.msg:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as undecodable:
            return f"not UTF-8 text: invalid byte at offset {undecodable.start}; JSON files must be UTF-8 encoded"
    if error.pos >= len(text.rstrip()):
        return f"truncated JSON: {error.msg} at {where}; the file ends early (was the write interrupted?)"
    return f"malformed JSON at {where}: {error.msg}"


# -- parsing one document ------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _require(document: Mapping[str, Any], keys: Sequence[str], where: str) -> None:
    missing = [key for key in keys if key not in document]
    if missing:
        raise FormatError(f"{where}missing key {missing[0]!r}; the format needs {', '.join(keys)}")


def _strings(document: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise FormatError(f"{where}{key} must be a list of strings, got {_json_type(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise FormatError(f"{where}{key}[{index}] is {_json_type(item)}, expected a string")
    return tuple(value)


def _flag_vector(document: Mapping[str, Any], key: str, where: str, length: int) -> np.ndarray | None:
    value = document.get(key)
    if value is None:
        return None
    vector = np.asarray(value) if isinstance(value, list) else np.empty(0, dtype=object)
    if vector.shape != (length,) or vector.dtype.kind not in "biu" or not np.isin(vector, (0, 1)).all():
        raise FormatError(f"{where}{key} must be a list of {length} values 0 or 1, one per token")
    return vector.astype(bool)


def _token_sequence(document: Mapping[str, Any], prefix: str, where: str, *, pad_by_token: bool) -> TokenSequence:
    """Tokens, display tokens, padding mask and special flags stored under ``prefix``.

    Without a stored mask, ``pad_by_token`` marks the tokens of :data:`PAD_TOKENS` as
    padding (plain extracted files); otherwise every token is real (backend files).
    """
    tokens = _strings(document, f"{prefix}tokens", where)
    if not tokens:
        raise FormatError(f"{where}{prefix}tokens must be a non-empty list of strings")
    display = _strings(document, f"{prefix}display_tokens", where) or ()
    if display and len(display) != len(tokens):
        raise FormatError(
            f"{where}{prefix}display_tokens has {len(display)} entries but there are {len(tokens)} tokens"
        )
    mask = _flag_vector(document, f"{prefix}attention_mask", where, len(tokens))
    special = _flag_vector(document, f"{prefix}special_tokens", where, len(tokens))
    if mask is None and pad_by_token:
        mask = np.array([token not in PAD_TOKENS for token in tokens], dtype=bool)
    # None selects TokenSequence's defaults (all real; special by the common token table).
    return TokenSequence(tokens, display=display, mask=mask, special=special)  # type: ignore[arg-type]


def _label(index: Sequence[int], names: Sequence[str]) -> str:
    """``"layer 1, head 0"`` for the index ``(1, 0)`` and names ``("layer", "head", ...)``."""
    return ", ".join(f"{name} {i}" for name, i in zip(names, index))


def _nesting_problem(
    value: Any,
    top: str,
    names: Sequence[str],
    contents: Sequence[str],
    expected: Sequence[tuple[int, str] | None],
) -> str | None:
    """Why ``value`` is not a regular nesting of lists, or None if it is one.

    Args:
        value: nested lists, ``len(contents)`` deep, with numbers at the bottom.
        top: how messages name ``value`` (``"attention_matrices"``).
        names: the name of an index at each depth (``("layer", "head", "query", "key")``).
        contents: what a list at each depth holds (``("layers", "heads", "rows", "values")``).
        expected: per depth, the required length and what it counts (``(8, "tokens")``),
            or None where only consistency between siblings is required.
    """
    lengths: list[tuple[int, tuple[int, ...]] | None] = [None] * len(contents)

    def visit(node: Any, index: tuple[int, ...]) -> str | None:
        depth = len(index)
        label = f"{top} at {_label(index, names)}" if index else top
        if depth == len(contents):
            if isinstance(node, list):
                return f"{label} is a list, expected a number (nested deeper than {len(contents)} levels)"
            return None
        if not isinstance(node, list):
            return f"{label} is {_json_type(node)}, expected a list of {contents[depth]}"
        if not node:
            return f"{label} is an empty list, expected {contents[depth]}"
        rule = expected[depth]
        if rule is not None and len(node) != rule[0]:
            return f"{label} has {len(node)} {contents[depth]} but there are {rule[0]} {rule[1]}"
        first = lengths[depth]
        if first is None:
            lengths[depth] = (len(node), index)
        elif len(node) != first[0]:
            return (
                f"{label} has {len(node)} {contents[depth]} but {_label(first[1], names)} has {first[0]}; "
                f"all {contents[depth - 1]} must have the same number of {contents[depth]}"
            )
        for position, child in enumerate(node):
            if (problem := visit(child, (*index, position))) is not None:
                return problem
        return None

    return visit(value, ())


def _first_non_number(value: Any, depth: int) -> tuple[tuple[int, ...], Any] | None:
    """Index and value of the first leaf of a regular nesting that is not a JSON number."""

    def leaves(node: Any, index: tuple[int, ...]) -> Iterator[tuple[tuple[int, ...], Any]]:
        if len(index) == depth:
            yield index, node
        else:
            for position, child in enumerate(node):
                yield from leaves(child, (*index, position))

    for index, leaf in leaves(value, ()):
        if isinstance(leaf, bool) or not isinstance(leaf, (int, float)):
            return index, leaf
    return None


def _matrix_array(
    value: Any,
    top: str,
    names: Sequence[str],
    contents: Sequence[str],
    expected: Sequence[tuple[int, str] | None],
) -> np.ndarray:
    """Validate nested lists of attention weights and return them as a float32 array.

    Args:
        value: the parsed JSON value; ``top``, ``names``, ``contents`` and ``expected``
            describe it as for :func:`_nesting_problem`.

    Raises:
        FormatError: ragged or wrongly nested lists, a count that does not match the
            tokens, a value that is not a number (null, a string), or a value outside
            [0, 1] by more than :data:`VALUE_SLACK`.
    """
    # numpy infers float64 (or int) for numbers and a str or object dtype otherwise;
    # JSON true/false among numbers would pass as 1/0, the one case not caught cheaply.
    try:
        array: np.ndarray | None = np.asarray(value)
    except ValueError:  # ragged
        array = None
    if array is not None and array.size and array.dtype.kind in "iuf" and array.ndim != len(contents):
        raise FormatError(
            f"{top} is nested {array.ndim} deep (shape {array.shape}), expected {len(contents)} deep "
            f"({', '.join(contents)})"
        )
    if array is None or array.ndim != len(contents) or any(
        rule is not None and size != rule[0] for size, rule in zip(array.shape, expected)
    ):
        problem = _nesting_problem(value, top, names, contents, expected)
        raise FormatError(problem or f"{top} has an irregular shape; expected ({', '.join(contents)})")
    if array.dtype.kind not in "iuf":
        found = _first_non_number(value, len(contents))
        if found is None:  # pragma: no cover - numpy gave a non-numeric dtype, so some leaf is one
            raise FormatError(f"{top} holds values that are not numbers")
        index, leaf = found
        raise FormatError(f"{top} at {_label(index, names)} is {_json_type(leaf)}; attention values must be numbers")
    outside = np.flatnonzero((array < -VALUE_SLACK) | (array > 1 + VALUE_SLACK))
    if outside.size:
        index = tuple(int(i) for i in np.unravel_index(outside[0], array.shape))
        raise FormatError(
            f"{top} at {_label(index, names)} is {array[index]:.6g}, outside [0, 1]; attention weights are "
            "softmax probabilities (were scores or logits saved instead?)"
        )
    return array.astype(np.float32)


def _layer_indices(document: Mapping[str, Any], where: str, count: int) -> tuple[int, ...]:
    value = document.get("layer_indices")
    if value is None:
        return tuple(range(count))
    if (
        not isinstance(value, list)
        or len(value) != count
        or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
        or len(set(value)) != count
    ):
        raise FormatError(f"{where}layer_indices must list {count} distinct non-negative integers, one per layer")
    return tuple(value)


def _scalar(document: Mapping[str, Any], key: str, kind: type[str] | type[bool], default: Any, where: str) -> Any:
    """An optional string or boolean field."""
    value = document.get(key, default)
    if not isinstance(value, kind):
        wanted = "a string" if kind is str else "true or false"
        raise FormatError(f"{where}{key} must be {wanted}, got {_json_type(value)}")
    return value


def _metadata(document: Mapping[str, Any]) -> dict[str, Any]:
    """The optional ``model`` and ``prediction`` of a top level."""
    fields: dict[str, Any] = {}
    for key, parse in (("model", ModelInfo.from_dict), ("prediction", Prediction.from_dict)):
        value = document.get(key)
        if value is None:
            continue
        try:
            if not isinstance(value, dict):
                raise TypeError
            fields[key] = parse(value)
        except (KeyError, TypeError, ValueError) as error:
            detail = f"missing {error}" if isinstance(error, KeyError) else str(error) or f"got {_json_type(value)}"
            raise FormatError(f"{key} is not a valid {key} object: {detail}") from None
    return fields


def _parse_section(document: Any, where: str, default_kind: str) -> AttentionData:
    """One stack of the extracted format; ``where`` prefixes messages (``"parts.cross: "``)."""
    if not isinstance(document, dict):
        raise FormatError(f"{where}expected an object, got {_json_type(document)}")
    _require(document, _EXTRACTED_KEYS if not where else ("tokens", "attention_matrices"), where)
    queries = _token_sequence(document, "", where, pad_by_token=True)
    keys = queries
    if "key_tokens" in document:
        keys = _token_sequence(document, "key_", where, pad_by_token=True)
    same = keys is queries
    expected = (
        None,
        None,
        (len(queries), "tokens" if same else "query tokens"),
        (len(keys), "tokens" if same else "key tokens"),
    )
    attentions = _matrix_array(
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
            text=_scalar(document, "text", str, "", where),
            layer_indices=_layer_indices(document, where, attentions.shape[0]),
            kind=_scalar(document, "kind", str, default_kind, where),
            causal=_scalar(document, "causal", bool, False, where),
        )
    except InputError as error:
        raise FormatError(f"{where}{error}") from None


def _parse_extracted(document: dict[str, Any]) -> AttentionData:
    data = _parse_section(document, "", "self")
    fields = _metadata(document)
    parts_value = document.get("parts") or {}
    if not isinstance(parts_value, dict):
        raise FormatError(f"parts must be an object of attention stacks by kind, got {_json_type(parts_value)}")
    parts = {
        name: replace(_parse_section(part, f"parts.{name}: ", name), model=fields.get("model"))
        for name, part in parts_value.items()
    }
    return replace(data, parts=parts, **fields)


def _parse_backend(document: dict[str, Any]) -> AttentionData:
    _require(document, _BACKEND_KEYS, "")
    queries = _token_sequence(document, "", "", pad_by_token=False)
    keys = _token_sequence(document, "key_", "", pad_by_token=False) if "key_tokens" in document else queries
    layers = document["layers"]
    if not isinstance(layers, list) or not layers:
        got = "an empty list" if layers == [] else _json_type(layers)
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
            matrices.append(_matrix_array(matrix, top, ("query", "key"), ("rows", "values"), expected))
    assert head_count is not None
    attentions = np.stack(matrices).reshape(len(layer_indices), head_count, len(queries), len(keys))
    try:
        return AttentionData(
            attentions=attentions,
            queries=queries,
            keys=keys,
            text=_scalar(document, "text", str, "", ""),
            layer_indices=tuple(layer_indices),
            kind=_scalar(document, "kind", str, "self", ""),
            causal=_scalar(document, "causal", bool, False, ""),
            **_metadata(document),
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

