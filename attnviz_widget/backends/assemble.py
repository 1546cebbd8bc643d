"""Building :class:`~attnviz_widget.data.AttentionData` from what a backend produced.

numpy only: a backend's :class:`~attnviz_widget.backends.base.Captured` layers, its
:class:`~attnviz_widget.backends.base.ModelFacts` and the
:class:`~attnviz_widget.backends.base.EncodedText` become one ``AttentionData`` (the
encoder's, with ``parts["decoder"]`` and ``parts["cross"]``, for encoder-decoder models).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import AttentionData, ModelInfo, Prediction, TokenSequence
from ..errors import InputError
from .base import CROSS, DECODER, ENCODER, SELF, Captured, EncodedText, ModelFacts

_DESCRIPTIONS = {SELF: "self-attention", ENCODER: "the encoder", DECODER: "the decoder", CROSS: "cross-attention"}


def assemble(text: str, encoded: EncodedText, captured: Captured, facts: ModelFacts) -> AttentionData:
    """The :class:`AttentionData` of one forward pass over ``text``."""
    inputs = TokenSequence(
        tuple(encoded.tokens), display=tuple(encoded.display), mask=encoded.mask, special=encoded.special
    )
    prediction = _prediction(captured.logits, facts)
    if not facts.is_encoder_decoder:
        attentions, indices = _stack(captured, SELF)
        causal = facts.is_causal or _is_causal(attentions, encoded.mask)
        architecture = "decoder" if causal and facts.model_type != "pytorch" else facts.architecture
        return AttentionData(
            attentions=attentions, queries=inputs, text=text, layer_indices=indices, kind="self", causal=causal,
            model=_model_info(facts, attentions, SELF, architecture), prediction=prediction,
        )
    if encoded.decoder_tokens is None or encoded.decoder_special is None:
        raise InputError("an encoder-decoder model needs decoder tokens; the backend's encode() gave none")
    decoder_tokens = TokenSequence(
        tuple(encoded.decoder_tokens),
        display=tuple(encoded.decoder_display or encoded.decoder_tokens),
        special=encoded.decoder_special,
    )
    encoder_attn, encoder_layers = _stack(captured, ENCODER)
    decoder_attn, decoder_layers = _stack(captured, DECODER)
    cross_attn, cross_layers = _stack(captured, CROSS)
    info = _model_info(facts, encoder_attn, ENCODER, facts.architecture)
    common = {"text": text, "model": info, "prediction": prediction}
    decoder = AttentionData(
        attentions=decoder_attn, queries=decoder_tokens, layer_indices=decoder_layers, kind="decoder", causal=True,
        **common,
    )
    cross = AttentionData(
        attentions=cross_attn, queries=decoder_tokens, keys=inputs, layer_indices=cross_layers, kind="cross",
        **common,
    )
    return AttentionData(
        attentions=encoder_attn, queries=inputs, layer_indices=encoder_layers, kind="encoder",
        parts={"decoder": decoder, "cross": cross}, **common,
    )


def _stack(captured: Captured, stack: str) -> tuple[Any, tuple[int, ...]]:
    if stack not in captured.stacks:
        raise InputError(
            f"the model returned no attention weights for {_DESCRIPTIONS[stack]}; "
            "write a backend for this architecture (see attnviz_widget.backends.Backend)"
        )
    return captured.stacks[stack]


def _model_info(facts: ModelFacts, attentions: np.ndarray, stack: str, architecture: str) -> ModelInfo:
    return ModelInfo(
        model_type=facts.model_type,
        architecture=architecture,
        num_layers=int(facts.layers.get(stack, attentions.shape[0])),
        num_heads=int(attentions.shape[1]),
        name=facts.name,
    )


def _prediction(logits: np.ndarray | None, facts: ModelFacts) -> Prediction | None:
    if logits is None or logits.ndim != 1:
        return None
    if facts.labels is not None and len(facts.labels) == len(logits):
        labels = facts.labels
    elif facts.model_type == "pytorch":
        labels = tuple(str(i) for i in range(len(logits)))
    else:
        return None
    return Prediction.from_logits(logits, labels)


def _is_causal(attentions: Any, mask: np.ndarray) -> bool:
    """Lazy attention knows its mask; stored weights are looked at (see :func:`looks_causal`)."""
    if isinstance(attentions, np.ndarray):
        return looks_causal(attentions, mask)
    return bool(attentions.causal)


def looks_causal(attentions: np.ndarray, mask: np.ndarray) -> bool:
    """True when the first layer puts exactly 0 weight above the diagonal among real tokens.

    Softmax gives every unmasked key some weight, so a single nonzero entry above the
    diagonal proves the attention bidirectional; the check stops at the first head
    that shows one. ``attentions``: ``(layers, heads, query, key)``; ``mask``: bool ``(seq,)``.
    """
    real = np.flatnonzero(mask)
    if len(real) < 2:
        return False
    upper = np.triu(np.ones((len(real), len(real)), dtype=bool), k=1)
    everything_real = len(real) == attentions.shape[-1] == attentions.shape[-2]
    for head in attentions[0]:
        block = head if everything_real else head[np.ix_(real, real)]
        if np.any(block[upper]):
            return False
    return True
