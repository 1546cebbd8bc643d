"""Readers of the fields both JSON formats share: tokens, flags, layer indices, scalars,
and the optional ``model`` and ``prediction`` objects.

Each takes the parsed document (a dict), the key and ``where`` (a prefix for messages,
such as ``"parts.cross: "``) and raises a one-line :class:`FormatError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data import ModelInfo, Prediction, TokenSequence
from ..errors import FormatError
from .validation import json_type

__all__ = ["PAD_TOKENS", "layer_indices", "metadata", "model_to_share", "require", "scalar", "token_sequence"]

#: Tokens taken as padding in plain extracted files, which carry no ``attention_mask``.
PAD_TOKENS = frozenset({"[PAD]", "<pad>"})


def require(document: Mapping[str, Any], keys: Sequence[str], where: str) -> None:
    """Raise when one of ``keys`` is missing from ``document``."""
    missing = [key for key in keys if key not in document]
    if missing:
        raise FormatError(f"{where}missing key {missing[0]!r}; the format needs {', '.join(keys)}")


def _strings(document: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise FormatError(f"{where}{key} must be a list of strings, got {json_type(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise FormatError(f"{where}{key}[{index}] is {json_type(item)}, expected a string")
    return tuple(value)


def _flag_vector(document: Mapping[str, Any], key: str, where: str, length: int) -> np.ndarray | None:
    value = document.get(key)
    if value is None:
        return None
    try:
        vector = np.asarray(value) if isinstance(value, list) else np.empty(0, dtype=object)
    except (ValueError, OverflowError):  # ragged, or an integer too large for numpy
        vector = np.empty(0, dtype=object)
    if vector.shape != (length,) or vector.dtype.kind not in "biu" or not np.isin(vector, (0, 1)).all():
        raise FormatError(f"{where}{key} must be a list of {length} values 0 or 1, one per token")
    return vector.astype(bool)


def token_sequence(document: Mapping[str, Any], prefix: str, where: str, *, pad_by_token: bool) -> TokenSequence:
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


def layer_indices(document: Mapping[str, Any], where: str, count: int) -> tuple[int, ...]:
    """The optional ``layer_indices``: ``count`` distinct non-negative integers, else ``0..count-1``."""
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


def scalar(document: Mapping[str, Any], key: str, kind: type[str] | type[bool], default: Any, where: str) -> Any:
    """An optional string or boolean field."""
    value = document.get(key, default)
    if not isinstance(value, kind):
        wanted = "a string" if kind is str else "true or false"
        raise FormatError(f"{where}{key} must be {wanted}, got {json_type(value)}")
    return value


def metadata(document: Mapping[str, Any]) -> dict[str, Any]:
    """The optional ``model`` and ``prediction`` of a top level, as AttentionData fields."""
    fields: dict[str, Any] = {}
    for key, parse in (("model", ModelInfo.from_dict), ("prediction", Prediction.from_dict)):
        value = document.get(key)
        if value is None:
            continue
        if isinstance(value, dict) and (problem := _field_problem(key, value)) is not None:
            raise FormatError(f"{key} is not a valid {key} object: {problem}")
        try:
            if not isinstance(value, dict):
                raise TypeError
            fields[key] = parse(value)
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            detail = f"missing {error}" if isinstance(error, KeyError) else str(error) or f"got {json_type(value)}"
            raise FormatError(f"{key} is not a valid {key} object: {detail}") from None
    return fields


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _field_problem(key: str, value: Mapping[str, Any]) -> str | None:
    """Why a present field of ``model`` or ``prediction`` has the wrong type, or None.

    Missing fields and mismatched lengths are left to the data classes, which name them.
    """
    if key == "model":
        for name in ("model_type", "architecture", "name"):
            if name in value and not isinstance(value[name], str) and not (name == "name" and value[name] is None):
                return f"{name} must be a string, got {json_type(value[name])}"
        for name in ("num_layers", "num_heads"):
            count = value.get(name, 0)
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < 2**31:
                return f"{name} must be a non-negative integer, got {json_type(count)} {count!r:.40}"
        return None
    labels = value.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        return "labels must be a list of strings"
    for name in ("logits", "probabilities"):
        numbers = value.get(name, [])
        if not isinstance(numbers, list) or not all(
            isinstance(number, (int, float)) and not isinstance(number, bool) and abs(number) <= _FLOAT32_MAX
            for number in numbers
        ):
            return f"{name} must be a list of finite float32 numbers"
    return None


def model_to_share(model: ModelInfo | Mapping[str, Any]) -> dict[str, Any]:
    """The ``model`` object a written file carries: :meth:`ModelInfo.to_dict` with the name
    shortened to :attr:`ModelInfo.short_name`, so a shared file never holds a local path."""
    values = model.to_dict() if isinstance(model, ModelInfo) else dict(model)
    if isinstance(values.get("name"), str):
        values["name"] = ModelInfo("", "", 0, 0, name=values["name"]).short_name
    return values
