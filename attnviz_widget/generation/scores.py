"""Per-step scores of a generation: probability, entropy and top-5 from the step's logits.

``model.generate(..., output_logits=True, output_scores=True)`` returns, per step, the raw
logits (the model's distribution) and the processed scores (what was sampled from, after
temperature, top-k/top-p and penalties). Both are ``(1, vocab)`` tensors on the model's
device; they are reduced there, one step at a time, and only a few numbers per step come
back to the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..backends.tokenize import readable_tokens, special_flags
from .steps import StepScore, top_alternatives

#: How many alternatives each step keeps.
TOP_K = 5


def step_scores(
    logits: Sequence[torch.Tensor], scores: Sequence[torch.Tensor], token_ids: Sequence[int], tokenizer: Any
) -> tuple[StepScore, ...]:
    """One :class:`StepScore` per generated token.

    Args:
        logits: per step, the raw logits, float ``(1, vocab)``.
        scores: per step, the processed scores generate drew from, float ``(1, vocab)``.
        token_ids: the token chosen at each step.
        tokenizer: spells the chosen and alternative tokens.
    """
    if not len(logits) == len(scores) == len(token_ids):
        raise ValueError(f"{len(logits)} logits, {len(scores)} scores and {len(token_ids)} tokens; they must match")
    numbers = []
    for raw, processed, token_id in zip(logits, scores, token_ids):
        log_p = torch.log_softmax(raw[0].to(torch.float32), dim=-1)
        probabilities = log_p.exp()
        entropy = torch.special.entr(probabilities).sum()
        best_p, best_ids = torch.topk(probabilities, min(TOP_K, probabilities.numel()))
        sampled = torch.softmax(processed[0].to(torch.float32), dim=-1)[token_id]
        numbers.append((probabilities[token_id], entropy, best_p, best_ids, sampled))
    # one transfer per kind of number, not one per step
    chosen_p = torch.stack([n[0] for n in numbers]).tolist() if numbers else []
    entropies = torch.stack([n[1] for n in numbers]).tolist() if numbers else []
    sampled_p = torch.stack([n[4] for n in numbers]).tolist() if numbers else []
    top_ps = torch.stack([n[2] for n in numbers]).tolist() if numbers else []
    top_ids = torch.stack([n[3] for n in numbers]).tolist() if numbers else []
    spelled = _spell(tokenizer, [int(t) for t in token_ids] + [i for ids in top_ids for i in ids])
    chosen_spelling = spelled[: len(token_ids)]
    top_spelling = spelled[len(token_ids) :]
    steps = []
    for index, token_id in enumerate(token_ids):
        k = len(top_ids[index])
        top_tokens = top_spelling[index * k : (index + 1) * k]
        steps.append(
            StepScore(
                token_id=int(token_id),
                token=chosen_spelling[index][0],
                display=chosen_spelling[index][1],
                probability=_unit(chosen_p[index]),
                entropy=max(0.0, float(entropies[index])),
                top=top_alternatives(top_ids[index], [_unit(p) for p in top_ps[index]],
                                     [t for t, _ in top_tokens], [d for _, d in top_tokens]),
                sampled_probability=_unit(sampled_p[index]),
            )
        )
    return tuple(steps)


def _unit(value: float) -> float:
    """A probability clipped to [0, 1] (float32 softmax can overshoot 1 by an ulp)."""
    return min(1.0, max(0.0, float(value)))


def _spell(tokenizer: Any, ids: list[int]) -> list[tuple[str, str]]:
    """``(token, display)`` for each id, as the tokenizer spells and decodes it."""
    if not ids:
        return []
    tokens = [str(token) for token in tokenizer.convert_ids_to_tokens(ids)]
    special = special_flags(tokenizer, torch.tensor(ids), None)
    display = readable_tokens(tokenizer, tokens, special)
    return list(zip(tokens, display))
