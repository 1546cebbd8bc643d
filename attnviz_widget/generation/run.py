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

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from ..backends import assemble
from ..backends.base import Captured, EncodedText, ModelFacts
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
from .steps import FinishReason, Generation, StepScore, attach_generation
from .stream import StreamCapture, StreamStep, stack_capacities

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
    plan = plan_generation(
        model, prompt, max_new_tokens=max_new_tokens, tokenizer=tokenizer, device=device, chat=chat,
        messages=messages, seed=seed, layers=layers, store=store, memory_budget=memory_budget,
        trust_remote_code=trust_remote_code, **generate_kwargs,
    )
    return run_generation(plan)


@dataclass(frozen=True)
class GenerationPlan:
    """A checked request to generate: everything :func:`run_generation` needs, nothing run yet.

    Attributes:
        extractor: holds the model; ``backend`` its Hugging Face backend, ``facts`` what it knows.
        text: the prompt as the model reads it (after a chat template); ``from_template`` whether
            one was applied.
        prompt_ids: int64 ``(1, prompt)`` on the model's device.
        max_new_tokens: the checked count; ``wanted`` the layers kept (None: all).
        store, memory_budget, seed, generate_kwargs: as :func:`generate` takes them.
    """

    extractor: AttentionExtractor
    backend: HuggingFaceBackend
    facts: ModelFacts
    text: str
    from_template: bool
    prompt_ids: torch.Tensor
    max_new_tokens: int
    wanted: list[int] | None
    store: Store
    memory_budget: int | None
    seed: int | None
    generate_kwargs: dict[str, Any] = field(default_factory=dict)

    def keeps_dense(self) -> bool:
        """Whether the longest possible result would be kept as dense weights (else lazily);
        raises :class:`InputError` where ``store`` cannot hold it at all."""
        placeholder = _placeholder(self.facts, self.prompt_ids.shape[1], self.max_new_tokens)
        chosen = choose_store(self.backend, placeholder, self.wanted, self.store, self.memory_budget)
        return not isinstance(chosen, LazyBackend)


def plan_generation(
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
) -> GenerationPlan:
    """Check every argument of :func:`generate` (same arguments, same errors) and run nothing."""
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
    plan = GenerationPlan(
        extractor, backend, facts, text, from_template, prompt_ids.to(backend.device), count,
        None if wanted is None else sorted(set(wanted)), store, memory_budget, seed, dict(generate_kwargs),
    )
    plan.keeps_dense()  # refuse a store that cannot hold the longest possible result now, not after generating
    return plan


def run_generation(plan: GenerationPlan, on_token: Callable[[GenerationProgress], None] | None = None) -> AttentionData:
    """Generate as ``plan`` says and return the attention of prompt + generated tokens (see :func:`generate`).

    ``on_token``, if given, is called on this thread after every generated token with a
    :class:`GenerationProgress` (the steps so far, and the attention rows cached generation
    computed so far). Then generation runs with eager attention and hooks, to keep those rows
    while the dense result would fit the memory budget (else tokens and scores stream without rows).
    """
    backend, facts = plan.backend, plan.facts
    lm, tok = backend.model, backend.tokenizer
    progress = None
    if on_token is not None:
        follow_rows = plan.keeps_dense()
        progress = GenerationProgress(plan, follow_rows, on_token)
    sequence, logits, scores = _run_generate(
        lm, tok, plan.prompt_ids, plan.max_new_tokens, plan.seed, plan.generate_kwargs,
        None if progress is None else progress.capture,
    )
    steps = len(logits)
    new_ids = sequence[sequence.shape[0] - steps :].tolist()
    record = Generation(
        prompt=plan.text,
        text=tok.decode(new_ids, skip_special_tokens=True),
        section="decoder" if facts.is_encoder_decoder else "self",
        prompt_tokens=int(sequence.shape[0] - steps),
        steps=step_scores(logits, scores, new_ids, tok),
        finish_reason=_finish_reason(lm, new_ids, plan.max_new_tokens, plan.generate_kwargs),
        settings=_settings(lm, plan.max_new_tokens, plan.seed, plan.from_template, plan.generate_kwargs),
    )
    del logits, scores, progress
    encoded = _encode_sequence(backend, facts, plan.prompt_ids, sequence)
    chosen = choose_store(backend, encoded, plan.wanted, plan.store, plan.memory_budget)
    captured = plan.extractor._extract_attention(encoded, plan.wanted, chosen)
    full_text = plan.text if facts.is_encoder_decoder else tok.decode(sequence.tolist(), skip_special_tokens=True)
    data = assemble(full_text, encoded, captured, facts)
    data = replace(data, parts={name: replace(part, text=record.text) for name, part in data.parts.items()})
    return attach_generation(data, record)


class GenerationProgress:
    """A generation while it runs: the steps so far and the attention known so far.

    Handed to :func:`run_generation`'s ``on_token`` after each token (on the generating thread).
    """

    def __init__(self, plan: GenerationPlan, follow_rows: bool, on_token: Callable[[GenerationProgress], None]):
        self.plan = plan
        facts = plan.facts
        prompt = int(plan.prompt_ids.shape[1])
        sites = plan.backend._ensure_sites() if follow_rows else None
        capacities = stack_capacities(facts.is_encoder_decoder, prompt, plan.max_new_tokens)
        self.capture = StreamCapture(plan.backend.model, sites, plan.wanted, capacities, self._step)
        if not follow_rows:
            self.capture.problem = "the attention of this generation is kept lazily; it is shown once generation ends"
        self.steps: list[StepScore] = []
        self._on_token = on_token

    @property
    def prompt_tokens(self) -> int:
        """Tokens before the first generated one on the generating axis (the decoder's start token for
        an encoder-decoder model)."""
        return len(self.capture.prefix)

    def _step(self, step: StreamStep) -> None:
        tok = self.plan.backend.tokenizer
        # the sampled-from scores are only known when generate returns: until then sampled_probability
        # repeats the model's probability, and the frontend is told not to show it (streaming)
        self.steps.extend(step_scores([step.logits], [step.logits], [step.token_id], tok))
        self._on_token(self)

    def partial_data(self) -> AttentionData | None:
        """The attention of every token whose row is known, as :class:`AttentionData` (no generation
        record attached), or None when rows are not followed (see ``capture.problem``).

        With ``s`` tokens generated, the generating axis holds ``prompt_tokens + s - 1`` tokens: the
        newest token's own row comes with the next step.
        """
        facts, capture = self.plan.facts, self.capture
        rows = self.prompt_tokens + len(self.steps) - 1
        stacks = capture.partial(rows, int(self.plan.prompt_ids.shape[1]))
        if stacks is None:
            return None
        ids = torch.tensor(capture.prefix + capture.tokens[: len(self.steps) - 1], dtype=torch.long)
        encoded = _encode_sequence(self.plan.backend, facts, self.plan.prompt_ids, ids)
        tok = self.plan.backend.tokenizer
        text = self.plan.text if facts.is_encoder_decoder else tok.decode(ids.tolist(), skip_special_tokens=True)
        return assemble(text, encoded, Captured(stacks), facts)

    def generated_text(self) -> str:
        """The text generated so far (special tokens skipped)."""
        return self.plan.backend.tokenizer.decode(self.capture.tokens, skip_special_tokens=True)

    def frontend_meta(self) -> dict[str, Any]:
        """``meta.generation`` while streaming (``js/PROTOCOL.md``): the steps so far, no finish reason
        yet, and no ``sampled_probability`` (only known when generate returns)."""
        steps = []
        for step in self.steps:
            values = step.to_dict()
            del values["sampled_probability"]
            steps.append(values)
        return {
            "prompt": self.plan.text, "text": self.generated_text(),
            "section": "decoder" if self.plan.facts.is_encoder_decoder else "self",
            "prompt_tokens": self.prompt_tokens, "generated_tokens": len(steps), "finish_reason": None,
            "stopped_at_eos": False, "settings": {"max_new_tokens": self.plan.max_new_tokens}, "steps": steps,
            "streaming": True,
        }


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
    kwargs: dict[str, Any], capture: StreamCapture | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """The model's own generate: the final (decoder) sequence ``(tokens,)`` and per-step logits and scores
    (``capture``: streams each token and the rows that chose it while generate runs)."""
    options = dict(kwargs)
    if options.get("stop_strings") is not None:
        options.setdefault("tokenizer", tokenizer)
    devices = [prompt_ids.device.index or 0] if prompt_ids.device.type == "cuda" else []
    with ExitStack() as context:
        context.enter_context(torch.random.fork_rng(devices=devices, enabled=seed is not None))
        context.enter_context(torch.inference_mode())
        context.enter_context(eval_mode(model))
        if capture is not None:
            options.update(context.enter_context(capture.running(options)))
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


__all__ = [
    "DEFAULT_MAX_NEW_TOKENS", "GenerationPlan", "GenerationProgress", "generate", "plan_generation", "run_generation",
]
