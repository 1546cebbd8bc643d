"""Checks before anything is generated: can this model generate, is the prompt and length valid.

Each problem is one :class:`~attnviz_widget.errors.InputError` line raised before the model
runs, so nothing is generated or written.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..backends.base import ModelFacts
from ..errors import InputError
from ..inputs import check_text

#: generate() keyword arguments this module sets itself, and why a caller may not.
RESERVED = {
    "return_dict_in_generate": "generate() always asks for a dictionary",
    "output_logits": "the step scores need the logits",
    "output_scores": "the step scores need the scores",
    "output_attentions": "the attention comes from one forward pass over the final sequence",
    "max_length": "use max_new_tokens=",
    "input_ids": "pass the prompt",
    "inputs": "pass the prompt",
    "attention_mask": "the prompt has no padding",
}


def check_generate_kwargs(kwargs: Mapping[str, Any]) -> None:
    """Refuse arguments that would change what one generated sequence means."""
    for name, why in RESERVED.items():
        if name in kwargs:
            raise InputError(f"generate() does not take {name}= ({why})")
    for name in ("num_beams", "num_return_sequences"):
        value = kwargs.get(name, 1)
        if value is not None and value != 1:
            raise InputError(
                f"{name}={value} is not supported: generate() follows one sampled or greedy sequence; "
                f"leave {name} at 1"
            )


def check_can_generate(model: Any, facts: ModelFacts) -> None:
    """Raise unless ``model`` is a language model with a generation config."""
    kind = f"{facts.model_type} model"
    if facts.architecture == "encoder":
        raise InputError(
            f"this {kind} is an encoder and cannot generate text; use extract(model, text) to see its attention"
        )
    can_generate = getattr(model, "can_generate", None)
    if not callable(getattr(model, "generate", None)) or (callable(can_generate) and not can_generate()):
        raise InputError(
            f"this {type(model).__name__} has no language-model head and cannot generate text; load it as a "
            "causal or sequence-to-sequence language model, or use extract(model, text) to see its attention"
        )
    if getattr(model, "generation_config", None) is None:
        raise InputError(
            f"this {kind} has no generation config; set model.generation_config = "
            "transformers.GenerationConfig.from_model_config(model.config) and try again"
        )


def check_max_new_tokens(value: Any, prompt_tokens: int, facts: ModelFacts, config: Any) -> int:
    """``max_new_tokens`` as an int, refused when ≤ 0 or past the model's context."""
    try:
        if isinstance(value, bool):
            raise TypeError
        count = operator.index(value)
    except TypeError:
        raise InputError(f"max_new_tokens must be a positive integer, got {value!r}") from None
    if count <= 0:
        raise InputError(f"max_new_tokens must be at least 1, got {count}")
    if facts.is_encoder_decoder:
        limit = position_limit(config)
        if limit is not None and count + 1 > limit:
            raise InputError(
                f"max_new_tokens={count} is too large: the decoder holds at most {limit} tokens, its start token "
                f"included; use max_new_tokens={limit - 1} or less"
            )
        return count
    limit = facts.max_positions
    if limit is not None and prompt_tokens + count > limit:
        room = limit - prompt_tokens
        hint = f"use max_new_tokens={room} or less" if room > 0 else "shorten the prompt"
        raise InputError(
            f"max_new_tokens={count} is too large: the prompt has {prompt_tokens} tokens and the model's "
            f"context holds {limit}; {hint}"
        )
    return count


def position_limit(config: Any) -> int | None:
    """The longest sequence the config's position embeddings cover (None: no such limit)."""
    names = ("max_position_embeddings", "n_positions", "max_target_positions")
    limits = [getattr(config, name, None) for name in names]
    values = [limit for limit in limits if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0]
    return min(values) if values else None


def render_prompt(
    tokenizer: Any, prompt: str | None, *, chat: bool, messages: Sequence[Mapping[str, Any]] | None
) -> tuple[str, bool]:
    """The text the model reads, and whether it came from a chat template.

    ``chat=True`` wraps ``prompt`` as one user message; ``messages`` is a whole conversation.
    Either applies the tokenizer's chat template with the assistant's turn opened.
    """
    if messages is None and not chat:
        if prompt is None:
            raise InputError("give a prompt (or messages= for a chat model)")
        return check_text(prompt), False
    if messages is not None and prompt is not None:
        raise InputError("give either a prompt or messages=, not both (add the prompt as the last user message)")
    if messages is None:
        messages = [{"role": "user", "content": check_text(prompt)}]
    if not isinstance(messages, Sequence) or not messages or not all(isinstance(m, Mapping) for m in messages):
        raise InputError("messages must be a non-empty list of {'role': ..., 'content': ...} dictionaries")
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(
            f"this tokenizer ({type(tokenizer).__name__}) has no chat template, so chat=True and messages= "
            "cannot be applied; pass the prompt as plain text, or set tokenizer.chat_template"
        )
    try:
        rendered = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    except Exception as error:  # jinja2 raises template errors of many kinds
        first = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise InputError(f"the tokenizer's chat template failed on these messages: {first}") from None
    if not isinstance(rendered, str) or not rendered:
        raise InputError("the tokenizer's chat template produced no text for these messages")
    return rendered, True


def tokenize_prompt(tokenizer: Any, text: str, *, from_template: bool, limit: int | None) -> torch.Tensor:
    """int64 ``(1, prompt)`` ids of ``text``; a template's text already holds its special tokens."""
    ids = tokenizer(text, add_special_tokens=not from_template, return_tensors="pt")["input_ids"]
    if ids.shape[1] == 0:
        raise InputError("the prompt tokenizes to no tokens; give some text")
    if limit is not None and ids.shape[1] > limit:
        raise InputError(
            f"the prompt is {ids.shape[1]} tokens long but the model reads at most {limit}; shorten it"
        )
    return ids
