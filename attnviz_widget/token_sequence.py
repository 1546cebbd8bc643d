"""The tokens along one axis of an attention matrix, with their padding and special flags. numpy only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError
from .vocabulary import looks_special


def _bool_vector(values: Any, length: int, name: str, default: bool) -> np.ndarray:
    """A read-only bool vector of ``length``; ``values=None`` gives ``default`` everywhere."""
    if values is None:
        vector = np.full(length, default, dtype=bool)
    else:
        vector = np.asarray(values).astype(bool, copy=True).reshape(-1)
        if vector.shape != (length,):
            raise InputError(f"{name} has {vector.shape[0]} entries but there are {length} tokens")
    vector.setflags(write=False)
    return vector


@dataclass(frozen=True, eq=False)
class TokenSequence:
    """The tokens along one axis of an attention matrix.

    Attributes:
        tokens: the tokens as the tokenizer spells them, e.g. ``["[CLS]", "hel", "##lo"]``.
        display: the same tokens made readable (``Ġ``/``▁`` markers and byte-level
            encodings removed); defaults to ``tokens``.
        mask: bool ``(n,)``, True for real tokens, False for padding.
        special: bool ``(n,)``, True for special tokens such as ``[CLS]``, ``</s>``, padding.
    """

    tokens: tuple[str, ...]
    display: tuple[str, ...] = ()
    # None becomes the default vector in __post_init__, so readers always see arrays.
    mask: np.ndarray = field(default=None)  # type: ignore[arg-type]
    special: np.ndarray = field(default=None)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        tokens = tuple(str(token) for token in self.tokens)
        object.__setattr__(self, "tokens", tokens)
        display = tuple(str(token) for token in self.display) if self.display else tokens
        if len(display) != len(tokens):
            raise InputError(f"display has {len(display)} entries but there are {len(tokens)} tokens")
        object.__setattr__(self, "display", display)
        object.__setattr__(self, "mask", _bool_vector(self.mask, len(tokens), "mask", True))
        special = self.special
        if special is None:
            special = [looks_special(token) for token in tokens]
        object.__setattr__(self, "special", _bool_vector(special, len(tokens), "special", False))

    def __len__(self) -> int:
        return len(self.tokens)

    def select(self, keep: np.ndarray) -> TokenSequence:
        """The tokens where the bool vector ``keep`` ``(n,)`` is True."""
        indices = np.flatnonzero(keep)
        return TokenSequence(
            tokens=tuple(self.tokens[i] for i in indices),
            display=tuple(self.display[i] for i in indices),
            mask=self.mask[indices],
            special=self.special[indices],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": list(self.tokens),
            "display": list(self.display),
            "mask": self.mask.astype(int).tolist(),
            "special": self.special.astype(int).tolist(),
        }
