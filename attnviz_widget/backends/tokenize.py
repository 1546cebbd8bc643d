"""Tokenizing a text for a backend: limits, truncation, padding and special-token flags.

Shared by every backend that uses a Hugging Face tokenizer (the built-in ones both do).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import InputError, TruncationWarning
from ..tokens import display_tokens

_PADDING_CHOICES = (False, True, "longest", "max_length", "do_not_pad")


def input_limit(model_limit: int | None, max_length: int | None) -> int | None:
    """The token limit for one text: the model's, lowered to ``max_length`` when given."""
    if max_length is None:
        return model_limit
    if max_length < 1:
        raise InputError(f"max_length must be at least 1, got {max_length}")
    return max_length if model_limit is None else min(model_limit, max_length)


def tokenize(
    tokenizer: Any, text: str, *, limit: int | None, max_length: int | None, padding: bool | str, truncation: bool
) -> dict[str, torch.Tensor]:
    """The tokenizer's encoding of ``text`` (batch of 1, with ``special_tokens_mask``).

    A text over ``limit`` is cut with a :class:`TruncationWarning`, or refused when
    ``truncation`` is False. The usual text that fits is tokenized once.
    """
    if padding not in _PADDING_CHOICES:
        raise InputError(f"padding must be False, True or 'max_length', got {padding!r}")
    if padding == "max_length" and max_length is None:
        raise InputError("padding='max_length' needs max_length")
    if padding not in (False, "do_not_pad") and getattr(tokenizer, "pad_token", None) is None:
        raise InputError("this tokenizer has no pad token, so the text cannot be padded; use padding=False")

    def encode(truncate: bool) -> Any:
        return tokenizer(
            text, return_tensors="pt", truncation=truncate, max_length=limit, padding=padding,
            return_special_tokens_mask=True,
        )

    encoding = encode(truncate=False)
    length = encoding["input_ids"].shape[1]
    if limit is not None and length > limit:
        if not truncation:
            raise InputError(
                f"the text is {length} tokens long but at most {limit} are allowed; shorten it or allow truncation"
            )
        warnings.warn(
            f"the text is {length} tokens long but at most {limit} are allowed; "
            f"only the first {limit} tokens are analysed",
            TruncationWarning,
            stacklevel=4,
        )
        encoding = encode(truncate=True)
    return dict(encoding)


def special_flags(tokenizer: Any, ids: torch.Tensor, from_tokenizer: torch.Tensor | None) -> np.ndarray:
    """bool ``(seq,)``: True for special tokens, whether the tokenizer added them (its
    special-tokens mask) or the text itself holds them (``"[SEP]"`` typed in the text)."""
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    flags = np.array([int(i) in special_ids for i in ids.tolist()], dtype=bool)
    if from_tokenizer is not None:
        flags |= from_tokenizer[0].numpy().astype(bool)
    return flags


def readable_tokens(tokenizer: Any, tokens: Sequence[str], special: np.ndarray) -> list[str]:
    """The display form of ``tokens``, each decoded the way ``tokenizer`` would."""
    convert = getattr(tokenizer, "convert_tokens_to_string", None)
    decode = (lambda token: convert([token])) if convert is not None else None
    return display_tokens(tokens, special=special.tolist(), decode=decode)


def model_limit(config: Any, tokenizer: Any, offset_positions: bool) -> int | None:
    """The longest input a model accepts: the smallest of its position limits and the tokenizer's.

    ``offset_positions``: RoBERTa-like models number positions from ``padding_idx + 1``.
    """
    limits = []
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            if offset_positions:
                value -= (getattr(config, "pad_token_id", 1) or 1) + 1
            limits.append(value)
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        limits.append(model_max)
    return min(limits) if limits else None
