"""``generate``: let a language model write, then keep the attention of every token it wrote.

The model's own ``generate`` runs first (greedy unless told otherwise; sampling, temperature,
top-p, stop strings and streamers are passed through), asked for its logits and processed
scores so that every step can be scored. Then ONE forward pass over the final sequence, by
the extractor's backend with eager attention, gives every layer and head. Under a causal
mask, row ``t`` of that pass is exactly the row the cached step computed for token ``t`` (the
tests check this against ``generate(output_attentions=True)`` within 1e-5), and the pass
takes the lazy long-context path (:mod:`attnviz_widget.backends.store`) when the dense array
would not fit the memory budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ..backends import assemble
from ..backends.base import EncodedText, ModelFacts
from ..backends.huggingface import HuggingFaceBackend, eval_mode
from ..backends.lazy import LazyBackend
from ..backends.store import DEFAULT_MEMORY_BUDGET, Store, choose_store
from ..backends.tokenize import readable_tokens, special_flags
from ..data import AttentionData
from ..errors import InputError
from ..extractor import AttentionExtractor, ModelSource
from ..inputs import normalise_layers
from .prompt import check_can_generate, check_generate_kwargs, check_max_new_tokens, render_prompt, tokenize_prompt
from .scores import step_scores
from .steps import FinishReason, Generation, attach_generation

#: ``max_new_tokens`` when none is given.
DEFAULT_MAX_NEW_TOKENS = 32


def generate(
    model: ModelSource | AttentionExtractor,
    prompt: str | None = None,
    *,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    tokenizer: Any = None,
    device: str | torch.device | None = None,
    chat: bool = False,
    messages: Sequence[Mapping[str, Any]] | None = None,
    seed: int | None = None,
    layers: int | Iterable[int] | None = None,
    store: Store = "auto",
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
    trust_remote_code: bool = False,
    **generate_kwargs: Any,
) -> AttentionData:
    """Generate from ``prompt`` and return the attention of the prompt and the generated tokens.

    Example::

        data = generate("./gpt2", "The capital of France is", max_new_tokens=8)
        data.generation.text            # what the model wrote
        data.attentions.shape           # (layers, heads, prompt + 8, prompt + 8)
        data.generation.steps[0].top    # the five likeliest first tokens

    Args:
        model: a model folder, a loaded Hugging Face causal or sequence-to-sequence LM, or an
            :class:`~attnviz_widget.extractor.AttentionExtractor` holding one.
        prompt: the text to continue (an encoder-decoder model reads it with its encoder).
        max_new_tokens: at most this many tokens are generated (fewer when the model ends
            the sequence: ``data.generation.finish_reason == "eos"``, not an error).
        tokenizer: a tokenizer or its folder; the model's folder when omitted.
        device: ``"cuda"``, ``"mps"``, ``"cpu"`` or None (best available; a loaded model stays put).
        chat: wrap ``prompt`` as a user message in the tokenizer's chat template.
        messages: a whole conversation (``[{"role": "user", "content": ...}, ...]``) for the
            chat template, instead of ``prompt``.
        seed: seeds torch's random generator for sampling; the caller's random state is
            restored afterwards.
        layers: model layers to keep (default: all).
        store, memory_budget: how the attention is kept, as in
            :meth:`~attnviz_widget.extractor.AttentionExtractor.extract` (``"auto"``: lazy
            past the budget).
        trust_remote_code: allow model code from the folder to run.
        **generate_kwargs: passed to ``model.generate``: ``do_sample``, ``temperature``,
            ``top_p``, ``top_k``, ``repetition_penalty``, ``stop_strings`` (the tokenizer is
            passed along), ``streamer``, ``eos_token_id``, ...

    Returns:
        :class:`~attnviz_widget.data.AttentionData` over prompt + generated tokens, float32
        ``(layers, heads, query, key)`` (for encoder-decoder models the encoder's, with
        ``parts["decoder"]`` and ``parts["cross"]`` over the start token + generated tokens),
        with ``data.generation`` a :class:`~attnviz_widget.generation.Generation`. The last
        generated token's row is what the model would attend with next; no step used it.

    Raises:
        InputError: ``max_new_tokens`` ≤ 0 or past the model's context, an encoder-only model,
            a model without a generation config, a chat template the tokenizer lacks,
            beam search, arguments ``model.generate`` refuses.
        ModelLoadError: the model or tokenizer cannot be loaded.
    """
    check_generate_kwargs(generate_kwargs)
    wanted = normalise_layers(layers)
    extractor = model if isinstance(model, AttentionExtractor) else AttentionExtractor(
        model, tokenizer=tokenizer, device=device, trust_remote_code=trust_remote_code
    )
    backend = _huggingface_backend(extractor)
    lm, tok, facts = backend.model, backend.tokenizer, backend.facts()
    check_can_generate(lm, facts)
    text, from_template = render_prompt(tok, prompt, chat=chat, messages=messages)
    prompt_ids = tokenize_prompt(tok, text, from_template=from_template, limit=facts.max_positions)
    count = check_max_new_tokens(max_new_tokens, prompt_ids.shape[1], facts, lm.config)
    if wanted is not None:
        extractor.check_layers(wanted)
    # refuse a store that cannot hold the longest possible result now, not after generating
    choose_store(backend, _placeholder(facts, prompt_ids.shape[1], count), wanted, store, memory_budget)

    sequence, logits, scores = _run_generate(lm, tok, prompt_ids.to(backend.device), count, seed, generate_kwargs)
    steps = len(logits)
    new_ids = sequence[sequence.shape[0] - steps :].tolist()
    record = Generation(
        prompt=text,
        text=tok.decode(new_ids, skip_special_tokens=True),
        section="decoder" if facts.is_encoder_decoder else "self",
        prompt_tokens=int(sequence.shape[0] - steps),
        steps=step_scores(logits, scores, new_ids, tok),
        finish_reason=_finish_reason(lm, new_ids, count, generate_kwargs),
        settings=_settings(lm, count, seed, from_template, generate_kwargs),
    )
    del logits, scores
    encoded = _encode_sequence(backend, facts, prompt_ids, sequence)
    chosen = choose_store(backend, encoded, wanted, store, memory_budget)
    captured = extractor._extract_attention(encoded, wanted, chosen)
    full_text = text if facts.is_encoder_decoder else tok.decode(sequence.tolist(), skip_special_tokens=True)
    data = assemble(full_text, encoded, captured, facts)
    data = replace(data, parts={name: replace(part, text=record.text) for name, part in data.parts.items()})
    return attach_generation(data, record)


def _placeholder(facts: ModelFacts, prompt_tokens: int, max_new_tokens: int) -> EncodedText:
    """An :class:`EncodedText` as long as the longest possible result, for sizing it (nothing runs on it)."""
    empty = np.zeros(0, dtype=bool)
    if facts.is_encoder_decoder:
        return EncodedText({}, [""] * prompt_tokens, empty, empty, decoder_tokens=[""] * (max_new_tokens + 1))
    return EncodedText({}, [""] * (prompt_tokens + max_new_tokens), empty, empty)


def _huggingface_backend(extractor: AttentionExtractor) -> HuggingFaceBackend:
    backend = extractor.backend
    if isinstance(backend, LazyBackend):
        backend = backend.base
    if not isinstance(backend, HuggingFaceBackend):
        raise InputError(
            f"generate() needs a Hugging Face language model; this is a {type(backend).__name__}, which cannot "
            "generate text; use extract(model, text) to see its attention"
        )
    return backend


def _run_generate(
    model: Any, tokenizer: Any, prompt_ids: torch.Tensor, max_new_tokens: int, seed: int | None,
    kwargs: dict[str, Any],
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """The model's own generate: the final (decoder) sequence ``(tokens,)`` and per-step logits and scores."""
    options = dict(kwargs)
    if options.get("stop_strings") is not None:
        options.setdefault("tokenizer", tokenizer)
    devices = [prompt_ids.device.index or 0] if prompt_ids.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None), torch.inference_mode(), eval_mode(model):
        if seed is not None:
            torch.manual_seed(int(seed))
        try:
            output = model.generate(
                input_ids=prompt_ids, attention_mask=torch.ones_like(prompt_ids), max_new_tokens=max_new_tokens,
                return_dict_in_generate=True, output_logits=True, output_scores=True, **options,
            )
        except (ValueError, TypeError) as error:  # generation-config validation and unknown arguments
            first = (str(error).strip() or type(error).__name__).splitlines()[0]
            raise InputError(f"model.generate refused the arguments: {first}") from None
    sequence = output.sequences[0].detach().to("cpu")
    return sequence, tuple(output.logits), tuple(output.scores)


def _eos_ids(model: Any, kwargs: Mapping[str, Any]) -> set[int]:
    value = kwargs.get("eos_token_id", getattr(model.generation_config, "eos_token_id", None))
    if value is None:
        return set()
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    return {int(v) for v in (value if isinstance(value, (list, tuple, set)) else [value])}


def _finish_reason(model: Any, new_ids: list[int], max_new_tokens: int, kwargs: Mapping[str, Any]) -> FinishReason:
    if new_ids and new_ids[-1] in _eos_ids(model, kwargs):
        return "eos"
    return "length" if len(new_ids) >= max_new_tokens else "stop"


def _settings(
    model: Any, max_new_tokens: int, seed: int | None, chat: bool, kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    config = model.generation_config
    do_sample = bool(kwargs.get("do_sample", getattr(config, "do_sample", False)))

    def sampling(name: str) -> Any:
        value = kwargs.get(name, getattr(config, name, None)) if do_sample else None
        return value if value is None or isinstance(value, (int, float)) else str(value)

    return {
        "max_new_tokens": max_new_tokens, "do_sample": do_sample, "temperature": sampling("temperature"),
        "top_p": sampling("top_p"), "top_k": sampling("top_k"), "seed": seed, "chat": chat,
    }


def _encode_sequence(
    backend: HuggingFaceBackend, facts: ModelFacts, prompt_ids: torch.Tensor, sequence: torch.Tensor
) -> EncodedText:
    """The final sequence as the backend's :class:`EncodedText` (no padding anywhere)."""
    tokenizer = backend.tokenizer
    source = prompt_ids if facts.is_encoder_decoder else sequence[None, :]
    tokens = [str(t) for t in tokenizer.convert_ids_to_tokens(source[0].tolist())]
    special = special_flags(tokenizer, source[0], None)
    inputs = {"input_ids": source, "attention_mask": torch.ones_like(source)}
    encoded = EncodedText(
        inputs=inputs, tokens=tokens, special=special, mask=np.ones(len(tokens), dtype=bool),
        display=readable_tokens(tokenizer, tokens, special),
    )
    if facts.is_encoder_decoder:
        decoder = sequence[None, :]
        inputs["decoder_input_ids"] = decoder
        encoded.decoder_tokens = [str(t) for t in tokenizer.convert_ids_to_tokens(decoder[0].tolist())]
        encoded.decoder_special = special_flags(tokenizer, decoder[0], None)
        encoded.decoder_display = readable_tokens(tokenizer, encoded.decoder_tokens, encoded.decoder_special)
    encoded.inputs = {name: value.to(backend.device) for name, value in inputs.items()}
    return encoded


__all__ = ["DEFAULT_MAX_NEW_TOKENS", "generate"]
