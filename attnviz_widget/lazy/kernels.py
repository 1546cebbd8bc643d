"""The kernels the recording attention function hands each layer's output to.

The forward pass must stay the model's own: sdpa for almost every model (from
``ALL_ATTENTION_FUNCTIONS``), the model's eager function where sdpa cannot express it
(softcapping), and, where it is exactly what sdpa runs, torch's CPU flash kernel called
directly because it also returns each row's log-sum-exp: the softmax normalisers for free.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from .records import LayerRecord


def eager_kernel(module: nn.Module) -> Callable[..., Any]:
    source = sys.modules.get(type(module).__module__)
    kernel = getattr(source, "eager_attention_forward", None)
    if kernel is None:
        raise InputError(f"lazy capture: {type(module).__name__} has no eager attention function to run")
    return kernel


#: ``allocate(shape, dtype, device)``: an uninitialised tensor in long-lived storage.
Allocate = Callable[[tuple[int, ...], torch.dtype, torch.device], torch.Tensor]


def _empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device=device)


def flash_with_normalisers(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                            attention_mask: Any, record: LayerRecord, kwargs: dict[str, Any],
                            allocate: Allocate | None = None) -> Any:
    """sdpa's output through torch's CPU flash kernel, which also returns each row's log-sum-exp.

    Only where that kernel is what sdpa runs anyway and its log-sum-exp is eager's normaliser:
    float32 on the CPU, no mask tensor (causal or full), no bias, softcap, sinks or dropout.
    Then the normalisers come free with the forward and the thumbnail pass skips its exponentials.
    ``allocate(shape, dtype, device)`` gives the long-lived storage the normalisers are written to
    directly (default ``torch.empty``). Returns None when it does not apply.
    """
    if (query.device.type != "cpu" or query.dtype != torch.float32 or attention_mask is not None
            or record.bias is not None or record.softcap is not None or record.sinks is not None
            or kwargs.get("position_bias") is not None or kwargs.get("dropout", 0.0) or key.shape[-1] != value.shape[-1]
            or module.training):
        return None
    causal = kwargs.get("is_causal")
    causal = bool(query.shape[2] > 1 and (getattr(module, "is_causal", True) if causal is None else causal))
    if causal and key.shape[2] != query.shape[2]:
        return None
    batch, heads, rows, _ = query.shape
    kv_heads = key.shape[1]
    groups = heads // kv_heads
    output = query.new_empty((batch, rows, heads, value.shape[-1]))  # (batch, query, heads, head_dim), as sdpa's
    if allocate is None:
        allocate = _empty
    lse = allocate((heads, rows), torch.float32, query.device)
    for g in range(kv_heads):  # one key head at a time: its keys broadcast, never repeated in memory
        part = slice(g * groups, (g + 1) * groups)
        shape = (batch, groups, key.shape[2], key.shape[3])
        out, part_lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query[:, part], key[:, g : g + 1].expand(shape), value[:, g : g + 1].expand(*shape[:3], value.shape[3]),
            0.0, causal, scale=record.scaling)
        output[:, :, part] = out.transpose(1, 2)
        lse[part] = part_lse[0]
    record.row_max = lse
    record.row_sum = lse.new_ones(()).expand(heads, rows)  # exactly 1 per row: one stored value, read-only
    return output, None
