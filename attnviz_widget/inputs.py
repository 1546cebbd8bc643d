"""Checks on what users pass in, shared by the API, the widget and the CLI (no torch here)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import InputError

#: Where the CLI and ``extract()`` look for a model when none is named (``SPECIFICATION.md``'s default).
DEFAULT_MODEL_DIR = "./model_output"


def check_text(text: Any) -> str:
    """``text`` itself when it is a non-blank string of valid Unicode; else a one-line :class:`InputError`.

    A shell passes bytes that are not UTF-8 to Python as lone surrogates
    (``surrogateescape``); no tokenizer or file format can hold them.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError("the text is empty; give the text to analyse (for example --text 'The movie was great')")
    for position, character in enumerate(text):
        if "\ud800" <= character <= "\udfff":
            raise InputError(
                f"the text is not valid Unicode: an undecodable byte or lone surrogate at character {position}; "
                "pass UTF-8 text"
            )
    return text


def normalise_layers(layers: int | Iterable[int] | None) -> list[int] | None:
    """``layers=`` as a list of layer indices (None keeps every layer)."""
    if layers is None:
        return None
    if isinstance(layers, (int, np.integer)):
        return [int(layers)]
    values = [int(layer) for layer in layers]
    if not values:
        raise InputError("layers is empty; leave it out to keep every layer")
    return values
