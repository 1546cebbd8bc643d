"""Checks on parsed JSON values: nested lists of attention weights, non-finite values,
and one-line descriptions of JSON syntax errors.

Every check names the place of the first problem (``attention_matrices at layer 1,
head 0, query 2``) so that a user can find it in the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from typing import Any

import numpy as np
import orjson

from ..errors import FormatError

__all__ = [
    "VALUE_SLACK",
    "describe_json_error",
    "json_type",
    "matrix_array",
    "nesting_problem",
    "non_finite",
]

#: How far values may lie outside [0, 1] (rounding of softmax outputs) and still be read.
VALUE_SLACK = 1e-3


def json_type(value: Any) -> str:
    """How messages name the JSON type of ``value`` (``"a list"``, ``"null"``, ...)."""
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


def describe_json_error(error: orjson.JSONDecodeError, content: bytes) -> str:
    """One line on why ``content`` is not JSON: truncated, NaN, not UTF-8 or malformed, and where."""
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


def non_finite(value: Any, where: str) -> str | None:
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
            if (found := non_finite(item, f"{where}.{key}" if where else str(key))) is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        with suppress(TypeError):  # fast path for a list of plain numbers
            if all(map(math.isfinite, value)):
                return None
        for index, item in enumerate(value):
            if (found := non_finite(item, f"{where}[{index}]")) is not None:
                return found
    return None


def _label(index: Sequence[int], names: Sequence[str]) -> str:
    """``"layer 1, head 0"`` for the index ``(1, 0)`` and names ``("layer", "head", ...)``."""
    return ", ".join(f"{name} {i}" for name, i in zip(names, index))


def nesting_problem(
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
            return f"{label} is {json_type(node)}, expected a list of {contents[depth]}"
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


def matrix_array(
    value: Any,
    top: str,
    names: Sequence[str],
    contents: Sequence[str],
    expected: Sequence[tuple[int, str] | None],
) -> np.ndarray:
    """Validate nested lists of attention weights and return them as a float32 array.

    Args:
        value: the parsed JSON value; ``top``, ``names``, ``contents`` and ``expected``
            describe it as for :func:`nesting_problem`. For the extracted format the
            result is ``(layers, heads, query, key)``; for one backend head ``(query, key)``.

    Raises:
        FormatError: ragged or wrongly nested lists, a count that does not match the
            tokens, a value that is not a number (null, a string), or a value outside
            [0, 1] by more than :data:`VALUE_SLACK`.
    """
    # numpy infers float64 (or int) for numbers and a str or object dtype otherwise;
    # JSON true/false among numbers would pass as 1/0, the one case not caught cheaply.
    try:
        array: np.ndarray | None = np.asarray(value)
    except (ValueError, OverflowError):  # ragged, or an integer beyond int64 and float64
        array = None
    if array is not None and array.size and array.dtype.kind in "iuf" and array.ndim != len(contents):
        raise FormatError(
            f"{top} is nested {array.ndim} deep (shape {array.shape}), expected {len(contents)} deep "
            f"({', '.join(contents)})"
        )
    if array is None or array.ndim != len(contents) or any(
        rule is not None and size != rule[0] for size, rule in zip(array.shape, expected)
    ):
        problem = nesting_problem(value, top, names, contents, expected)
        raise FormatError(problem or f"{top} has an irregular shape; expected ({', '.join(contents)})")
    if array.dtype.kind not in "iuf":
        found = _first_non_number(value, len(contents))
        if found is None:  # pragma: no cover - numpy gave a non-numeric dtype, so some leaf is one
            raise FormatError(f"{top} holds values that are not numbers")
        index, leaf = found
        raise FormatError(f"{top} at {_label(index, names)} is {json_type(leaf)}; attention values must be numbers")
    outside = np.flatnonzero((array < -VALUE_SLACK) | (array > 1 + VALUE_SLACK))
    if outside.size:
        index = tuple(int(i) for i in np.unravel_index(outside[0], array.shape))
        raise FormatError(
            f"{top} at {_label(index, names)} is {array[index]:.6g}, outside [0, 1]; attention weights are "
            "softmax probabilities (were scores or logits saved instead?)"
        )
    return array.astype(np.float32)
