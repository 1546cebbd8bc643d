"""What a generation produced, step by step: numpy-only records that travel with the data.

:class:`Generation` says which tokens on the query axis are the prompt and which the model
wrote, why it stopped, and for each generated token a :class:`StepScore`: the token's
probability, the entropy of the next-token distribution and the top-5 alternatives. It rides
on :attr:`AttentionData.generation <attnviz_widget.data.AttentionData>` (every part of an
encoder-decoder result holds the same record) and is written into extracted JSON files under
the ``"generation"`` key (:meth:`Generation.to_dict`, read back by :meth:`Generation.from_dict`).

Which distribution the numbers describe: ``probability``, ``entropy`` and ``top`` come from
the model's own next-token distribution, ``softmax(logits)`` of the raw logits before any
temperature, top-k/top-p or penalty; ``sampled_probability`` is the chosen token's
probability under the distribution ``generate`` drew from (the processed scores). With
greedy decoding and no processors the two are the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import FormatError

__all__ = [
    "FINISH_REASONS", "Alternative", "Generation", "StepScore", "attach_generation", "generated_marks",
    "holds_generated_tokens",
]

#: Why generation ended: the end-of-sequence token, ``max_new_tokens`` reached, or another
#: stopping criterion (a stop string).
FINISH_REASONS: tuple[str, ...] = ("eos", "length", "stop")
FinishReason = Literal["eos", "length", "stop"]


@dataclass(frozen=True)
class Alternative:
    """One candidate for the next token: its id, spelling, readable form and probability."""

    token_id: int
    token: str
    display: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return {"token_id": self.token_id, "token": self.token, "display": self.display,
                "probability": self.probability}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Alternative:
        return cls(int(values["token_id"]), str(values["token"]), str(values.get("display", values["token"])),
                   _probability(values["probability"], "probability"))


@dataclass(frozen=True)
class StepScore:
    """One generated token and the distribution it was drawn from.

    Attributes:
        token_id: the vocabulary id of the generated token.
        token: the token as the tokenizer spells it; ``display`` its readable form.
        probability: its probability under the model's distribution, ``softmax(logits)``.
        entropy: entropy of that distribution, in nats (0: certain).
        top: the five most probable tokens of that distribution, most probable first.
        sampled_probability: its probability under the processed distribution ``generate``
            drew from (after temperature, top-k/top-p, penalties); equals ``probability``
            for plain greedy decoding.
    """

    token_id: int
    token: str
    display: str
    probability: float
    entropy: float
    top: tuple[Alternative, ...]
    sampled_probability: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id, "token": self.token, "display": self.display,
            "probability": self.probability, "entropy": self.entropy,
            "sampled_probability": self.sampled_probability,
            "top": [alternative.to_dict() for alternative in self.top],
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> StepScore:
        entropy = float(values["entropy"])
        if not np.isfinite(entropy) or entropy < 0:
            raise ValueError(f"entropy must be a non-negative number, got {values['entropy']!r}")
        return cls(
            token_id=int(values["token_id"]),
            token=str(values["token"]),
            display=str(values.get("display", values["token"])),
            probability=_probability(values["probability"], "probability"),
            entropy=entropy,
            top=tuple(Alternative.from_dict(item) for item in values.get("top", ())),
            sampled_probability=_probability(values.get("sampled_probability", values["probability"]),
                                             "sampled_probability"),
        )


@dataclass(frozen=True)
class Generation:
    """A prompt, what the model generated after it, and the score of every step.

    Attributes:
        prompt: the prompt as the model read it (after a chat template, when one was applied).
        text: the generated text, decoded without special tokens.
        section: the attention stack whose query axis holds the generated tokens: ``"self"``
            for decoder-only models, ``"decoder"`` for encoder-decoder models (where
            ``"cross"`` shares the same query axis).
        prompt_tokens: how many tokens precede the generated ones on that axis (the prompt
            of a decoder-only model; the decoder's start token of an encoder-decoder).
        steps: one :class:`StepScore` per generated token, in order; generated token ``i``
            sits at query position ``prompt_tokens + i`` and was chosen from the row of
            position ``prompt_tokens + i - 1``.
        finish_reason: ``"eos"`` (the model ended the sequence before ``max_new_tokens``
            or exactly at it), ``"length"`` (``max_new_tokens`` reached) or ``"stop"`` (another
            stopping criterion such as a stop string).
        settings: how it was generated: ``max_new_tokens``, ``do_sample``, ``temperature``,
            ``top_p``, ``top_k``, ``seed``, ``chat`` (None where not set).
    """

    prompt: str
    text: str
    section: str
    prompt_tokens: int
    steps: tuple[StepScore, ...]
    finish_reason: FinishReason
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.section not in ("self", "decoder"):
            raise ValueError(f"section must be 'self' or 'decoder', got {self.section!r}")
        if self.finish_reason not in FINISH_REASONS:
            raise ValueError(f"finish_reason must be one of {', '.join(FINISH_REASONS)}, got {self.finish_reason!r}")
        if self.prompt_tokens < 0:
            raise ValueError(f"prompt_tokens must be non-negative, got {self.prompt_tokens}")
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "settings", dict(self.settings))

    @property
    def stopped_at_eos(self) -> bool:
        """True when the model ended the text itself (an end-of-sequence token)."""
        return self.finish_reason == "eos"

    @property
    def num_generated(self) -> int:
        return len(self.steps)

    @property
    def token_ids(self) -> np.ndarray:
        """int64 ``(steps,)``: the generated token ids."""
        return np.array([step.token_id for step in self.steps], dtype=np.int64)

    @property
    def probabilities(self) -> np.ndarray:
        """float64 ``(steps,)``: each generated token's probability under the model."""
        return np.array([step.probability for step in self.steps], dtype=np.float64)

    @property
    def entropies(self) -> np.ndarray:
        """float64 ``(steps,)``: entropy of each step's next-token distribution, in nats."""
        return np.array([step.entropy for step in self.steps], dtype=np.float64)

    def generated_mask(self, length: int) -> np.ndarray:
        """bool ``(length,)`` over the generating section's query axis, True for generated tokens."""
        end = self.prompt_tokens + self.num_generated
        if length < end:
            raise ValueError(f"the axis has {length} tokens but the generation spans {end}")
        mask = np.zeros(length, dtype=bool)
        mask[self.prompt_tokens : end] = True
        return mask

    def describe(self) -> str:
        """One line: ``"generated 12 tokens, stopped at the end-of-sequence token"``."""
        count = f"generated {self.num_generated} token{'s' if self.num_generated != 1 else ''}"
        reason = {
            "eos": "stopped at the end-of-sequence token",
            "length": "reached max_new_tokens",
            "stop": "stopped by a stopping criterion",
        }[self.finish_reason]
        return f"{count}, {reason}"

    def to_dict(self) -> dict[str, Any]:
        """The ``"generation"`` object of an extracted JSON file."""
        return {
            "prompt": self.prompt,
            "text": self.text,
            "section": self.section,
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.num_generated,
            "finish_reason": self.finish_reason,
            "stopped_at_eos": self.stopped_at_eos,
            "settings": dict(self.settings),
            "steps": [step.to_dict() for step in self.steps],
        }

    @classmethod
    def from_dict(cls, values: Any) -> Generation:
        """The record from :meth:`to_dict`'s output; a one-line :class:`FormatError` if malformed."""
        try:
            if not isinstance(values, Mapping):
                raise TypeError(f"expected an object, got {type(values).__name__}")
            steps = values["steps"]
            if not isinstance(steps, list):
                raise TypeError("steps must be a list")
            settings = values.get("settings") or {}
            if not isinstance(settings, Mapping):
                raise TypeError("settings must be an object")
            prompt_tokens = values["prompt_tokens"]
            if isinstance(prompt_tokens, bool) or not isinstance(prompt_tokens, int):
                raise TypeError("prompt_tokens must be an integer")
            return cls(
                prompt=str(values.get("prompt", "")),
                text=str(values.get("text", "")),
                section=str(values.get("section", "self")),
                prompt_tokens=prompt_tokens,
                steps=tuple(StepScore.from_dict(step) for step in steps),
                finish_reason=values.get("finish_reason", "length"),
                settings=settings,
            )
        except KeyError as error:
            raise FormatError(f"generation is not a valid generation object: missing {error}") from None
        except (TypeError, ValueError, OverflowError) as error:
            raise FormatError(f"generation is not a valid generation object: {error}") from None


def _probability(value: Any, name: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return number


def generated_marks(data: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Which query and key tokens of ``data`` (an AttentionData) the model generated.

    Returns bool ``(query,)`` and ``(key,)`` vectors, or None when ``data`` holds no
    generation or its section has no generated tokens (an encoder). Decoder self-attention
    marks both axes; cross-attention marks the queries (its keys are the encoder's prompt).
    """
    generation = getattr(data, "generation", None)
    if generation is None or not holds_generated_tokens(data.kind, generation.section):
        return None
    queries = generation.generated_mask(len(data.queries))
    keys = queries if data.is_self_attention else np.zeros(len(data.keys), dtype=bool)
    return queries, keys


def holds_generated_tokens(kind: str, section: str) -> bool:
    """Whether a stack of ``kind`` has the generated tokens on its query axis, for a generation
    whose tokens are on stack ``section`` (``"self"``, or ``"decoder"``, whose query axis
    ``"cross"`` shares)."""
    return kind in ("self", "decoder", "cross") and (kind == "self") == (section == "self")


def attach_generation(data: Any, generation: Generation) -> Any:
    """``data`` (an AttentionData) and each of its parts with ``generation`` attached.

    Raises ValueError when the record does not fit: its section is missing, or it spans more
    tokens than that section's query axis holds.
    """
    from dataclasses import replace

    sections = {data.kind: data, **data.parts}
    if generation.section not in sections:
        raise ValueError(f"the generation belongs to a {generation.section!r} stack, which this data lacks")
    generation.generated_mask(len(sections[generation.section].queries))
    parts = {name: replace(part, generation=generation) for name, part in data.parts.items()}
    return replace(data, parts=parts, generation=generation)


def top_alternatives(
    ids: Sequence[int], probabilities: Sequence[float], tokens: Sequence[str], display: Sequence[str]
) -> tuple[Alternative, ...]:
    """Alternatives from parallel sequences (most probable first, as given)."""
    return tuple(
        Alternative(int(i), str(t), str(d), float(p)) for i, p, t, d in zip(ids, probabilities, tokens, display)
    )
