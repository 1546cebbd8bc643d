"""The long-context backend: attention computed on demand instead of stored.

It runs the Hugging Face model's own forward with its fast kernel, while an attention function
registered with transformers (:class:`~attnviz_widget.lazy.LazyCapture`) records each layer's
queries, keys and mask; the weights are then computed exactly when read. Memory grows with
``layers · heads · tokens · head_dim`` instead of ``layers · heads · tokens²``. Meanwhile the
model's position-wise feed-forwards run a chunk of positions at a time
(:mod:`attnviz_widget.lazy.chunking`, same rows): the forward's own peak drops below a plain
forward's, which leaves room for the recorded queries and keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..lazy import DEFAULT_BLOCK_BYTES, LazyCapture, lazy_supported
from ..lazy.attentions import DEFAULT_MEMORY_BUDGET, LazyAttentions
from .base import Captured, EncodedText, LayerCallback, ModelFacts
from .huggingface import HuggingFaceBackend, eval_mode


def lazy_problem(backend: object) -> str | None:
    """Why ``backend`` cannot take the lazy path, or None when it can."""
    if not isinstance(backend, HuggingFaceBackend):
        return f"the lazy path serves Hugging Face models; this is a {type(backend).__name__}"
    return lazy_supported(backend.model)


class LazyBackend:
    """A :class:`HuggingFaceBackend` whose forward records queries and keys instead of weights.

    Args:
        base: the loaded model and tokenizer (encoding and facts are the base's).
        block_bytes: working memory of one step when weights are computed.
        memory_budget: the largest dense array the result may be turned into.
    """

    def __init__(
        self, base: HuggingFaceBackend, *, block_bytes: int = DEFAULT_BLOCK_BYTES,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> None:
        self.base = base
        self.device = base.device
        self.block_bytes = block_bytes
        self.memory_budget = memory_budget

    def facts(self) -> ModelFacts:
        return self.base.facts()

    def encode(self, text: str, **options: object) -> EncodedText:
        return self.base.encode(text, **options)  # type: ignore[arg-type]

    def forward(
        self, encoded: EncodedText, layers: Sequence[int] | None, on_layer: LayerCallback | None = None
    ) -> Captured:
        """One forward pass recording ``layers`` (None: all); ``on_layer(stack, layer, record)``, if
        given, gets each kept layer's :class:`~attnviz_widget.lazy.records.LayerRecord` as it finishes."""
        model = self.base.model
        with torch.inference_mode(), eval_mode(model):
            with LazyCapture(model, layers, block_bytes=self.block_bytes, on_layer=on_layer) as capture:
                outputs = model(**encoded.inputs, **self.base.no_cache())
            stacks = {
                name: (LazyAttentions(stack, memory_budget=self.memory_budget), stack.layer_indices)
                for name, stack in capture.stacks.items()
            }
        return Captured(stacks, self.base._classifier_logits(outputs))
