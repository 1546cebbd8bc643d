"""Where recorded tensors live: batch item 0, copied out of the model's buffers into storage of their own."""

from __future__ import annotations

import torch


class Slabs:
    """Host copies of recorded tensors, packed into large buffers.

    glibc serves mid-sized allocations from its heap once the forward pass has freed a few
    large activations; queries and keys kept there pin the heap, so freed activations below them
    stay resident (measured: +30-80 MiB of peak at 4,096-16,384 tokens). Buffers of
    :data:`SIZE` bytes are always memory-mapped, and their untouched pages cost nothing.
    """

    SIZE = 64 * 2**20

    def __init__(self) -> None:
        self._buffer: torch.Tensor | None = None
        self._used = 0

    def copy(self, tensor: torch.Tensor) -> torch.Tensor:
        nbytes = tensor.numel() * tensor.element_size()
        if tensor.device.type != "cpu" or nbytes > self.SIZE // 4:
            return tensor.clone(memory_format=torch.contiguous_format)
        if self._buffer is None or self._used + nbytes > self.SIZE:
            self._buffer, self._used = torch.empty(self.SIZE, dtype=torch.uint8), 0
        view = self._buffer[self._used : self._used + nbytes].view(tensor.dtype).view(tensor.shape)
        view.copy_(tensor)
        self._used += -(-nbytes // 64) * 64  # keep every copy 64-byte aligned
        return view


def detached(tensor: torch.Tensor, slabs: Slabs | None = None) -> torch.Tensor:
    """Batch item 0, in a storage of its own (so the rest of the batch or a fused buffer is freed)."""
    item = tensor[0].detach()
    if slabs is not None:
        return slabs.copy(item)
    if not item.is_contiguous() or item.untyped_storage().nbytes() > item.numel() * item.element_size():
        item = item.clone(memory_format=torch.contiguous_format)
    return item
