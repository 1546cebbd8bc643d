"""What one attention call records: enough to recompute its weights exactly, without the model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .masks import MaskSpec


@dataclass
class LayerRecord:
    """Queries, keys and score modifiers of one layer, batch item 0, as the attention saw them.

    Attributes:
        query: ``(heads, query, head_dim)`` in the model's dtype, on the model's device (after rotary);
            any strides (a query too large for a shared buffer stays the model's own tensor).
        key: ``(kv_heads, key, head_dim)``, one per key/value head (not repeated for GQA);
            query head ``h`` reads key head ``h // (heads // kv_heads)``.
        scaling: the factor the scores are multiplied by.
        mask: which keys each query sees.
        bias: additive score bias ``(heads or 1, query, key)`` (T5's relative position bias), or None.
        softcap: scores become ``tanh(s / softcap) * softcap`` before the mask, or None.
        sinks: per-head logits ``(heads,)`` that join every row's softmax and are then dropped, or None.
        row_max, row_sum: float32 ``(heads, query)`` softmax normalisers once computed: a weight is
            ``exp(s - row_max) / row_sum``; ``row_sum == 0`` marks a row with every key masked. Read-only
            (``row_sum`` may be one value expanded, where the forward's kernel gave log-sum-exp rows).
    """

    query: torch.Tensor
    key: torch.Tensor
    scaling: float
    mask: MaskSpec
    bias: torch.Tensor | None = None
    softcap: float | None = None
    sinks: torch.Tensor | None = None
    row_max: torch.Tensor | None = field(default=None, repr=False)
    row_sum: torch.Tensor | None = field(default=None, repr=False)

    @property
    def num_heads(self) -> int:
        return int(self.query.shape[0])

    @property
    def num_queries(self) -> int:
        return int(self.query.shape[1])

    @property
    def num_keys(self) -> int:
        return int(self.key.shape[1])

    @property
    def group(self) -> int:
        """Query heads per key head."""
        return self.num_heads // int(self.key.shape[0])

    def own_nbytes(self) -> int:
        """Bytes of the tensors this layer alone holds (masks and biases can be shared)."""
        parts = [self.query, self.key, self.sinks, self.row_max, self.row_sum]
        return sum(_stored(t) * t.element_size() for t in parts if t is not None)


def _stored(tensor: torch.Tensor) -> int:
    """Elements ``tensor`` really holds: an expanded (stride 0) dimension holds one."""
    return math.prod(size for size, stride in zip(tensor.shape, tensor.stride(), strict=True) if stride != 0)
