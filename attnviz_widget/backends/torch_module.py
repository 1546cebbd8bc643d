"""The plain PyTorch backend: models built on ``nn.MultiheadAttention``.

Such a model is called as ``model(input_ids)``; a Hugging Face tokenizer tokenizes for it.
``nn.TransformerEncoderLayer`` asks its attention for no weights and, in eval mode, may skip
the module altogether (its fused fast path); :class:`~attnviz_widget.capture.MultiheadAttentionCapture`
asks each attention module for per-head weights, which also turns the fast path off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..capture import MultiheadAttentionCapture
from ..devices import resolve_device
from ..errors import InputError
from .base import SELF, Captured, EncodedText, ModelFacts
from .huggingface import eval_mode, model_device, resolve_tokenizer
from .tokenize import input_limit, readable_tokens, special_flags, tokenize


def attention_modules(model: nn.Module) -> list[nn.MultiheadAttention]:
    """The model's ``nn.MultiheadAttention`` modules in definition order, one per layer."""
    return [module for module in model.modules() if isinstance(module, nn.MultiheadAttention)]


class TorchModuleBackend:
    """A plain PyTorch module built on ``nn.MultiheadAttention``, and a tokenizer.

    Args:
        model: the module, called as ``model(input_ids)``.
        tokenizer: a Hugging Face tokenizer or its folder (required).
        device: where to run it; None keeps the module where it is.
    """

    def __init__(self, model: nn.Module, *, tokenizer: Any, device: str | torch.device | None = None) -> None:
        self.modules = attention_modules(model)
        if not self.modules:
            raise InputError(
                f"{type(model).__name__} is neither a Hugging Face model nor built on nn.MultiheadAttention; "
                "write a backend for it (see attnviz_widget.backends.Backend)"
            )
        self.model = model
        self.tokenizer = resolve_tokenizer(tokenizer, model, trust_remote_code=False)
        if device is None:
            self.device = model_device(model)
        else:
            self.device = resolve_device(device)
            self.model.to(self.device)

    def facts(self) -> ModelFacts:
        return ModelFacts(
            model_type="pytorch", architecture="encoder", layers={SELF: len(self.modules)},
            name=type(self.model).__name__, heads=max(module.num_heads for module in self.modules),
        )

    def encode(
        self,
        text: str,
        *,
        max_length: int | None = None,
        padding: bool | str = False,
        truncation: bool = True,
        target: str | None = None,
    ) -> EncodedText:
        limit = input_limit(None, max_length)
        encoding = tokenize(
            self.tokenizer, text, limit=limit, max_length=max_length, padding=padding, truncation=truncation
        )
        input_ids = encoding["input_ids"]
        mask = encoding.get("attention_mask", torch.ones_like(input_ids))[0].numpy().astype(bool)
        special = special_flags(self.tokenizer, input_ids[0], encoding.get("special_tokens_mask")) | ~mask
        tokens = self.tokenizer.convert_ids_to_tokens(input_ids[0].tolist())
        return EncodedText(
            inputs={"input_ids": input_ids.to(self.device)}, tokens=tokens, special=special, mask=mask,
            display=readable_tokens(self.tokenizer, tokens, special),
        )

    def forward(self, encoded: EncodedText, layers: Sequence[int] | None) -> Captured:
        capture = MultiheadAttentionCapture(self.modules, wanted=None if layers is None else set(layers))
        with torch.inference_mode(), eval_mode(self.model), capture.hooks():
            output = self.model(encoded.inputs["input_ids"])
        return Captured(capture.captured, _logits(output))


def _logits(output: Any) -> np.ndarray | None:
    """Batch item 0's ``(labels,)`` logits when the module returns ``(1, labels)``, else None."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    logits = getattr(output, "logits", output)
    if isinstance(logits, torch.Tensor) and logits.dim() == 2 and logits.shape[0] == 1:
        return logits[0].detach().to("cpu", torch.float32).numpy()
    return None
