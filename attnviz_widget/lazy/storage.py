"""Where recorded tensors live: batch item 0, copied out of the model's buffers into storage of their own."""

from __future__ import annotations

import math

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

    def packs(self, tensor: torch.Tensor) -> bool:
        """Whether :meth:`copy` puts ``tensor`` into a shared buffer (small, on the CPU)."""
        return tensor.device.type == "cpu" and tensor.numel() * tensor.element_size() <= self.SIZE // 4

    def empty(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """An uninitialised ``shape`` tensor: in a shared buffer where :meth:`packs` would say so."""
        nbytes = math.prod(shape) * dtype.itemsize
        if torch.device(device).type != "cpu" or nbytes > self.SIZE // 4:
            return torch.empty(shape, dtype=dtype, device=device)
        return self._take(nbytes).view(dtype).view(shape)

    def _take(self, nbytes: int) -> torch.Tensor:
        """``nbytes`` of a shared buffer (a fresh buffer when this one is full), 64-byte aligned."""
        if self._buffer is None or self._used + nbytes > self.SIZE:
            self._buffer, self._used = torch.empty(self.SIZE, dtype=torch.uint8), 0
        view = self._buffer[self._used : self._used + nbytes]
        self._used += -(-nbytes // 64) * 64
        return view

    def copy(self, tensor: torch.Tensor) -> torch.Tensor:
        """A copy of ``tensor``: a view into a shared buffer if :meth:`packs`, else a contiguous clone."""
        nbytes = tensor.numel() * tensor.element_size()
        if not self.packs(tensor):
            return tensor.clone(memory_format=torch.contiguous_format)
        view = self._take(nbytes).view(tensor.dtype).view(tensor.shape)
        view.copy_(tensor)
        return view


def owns_storage(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a view of all of its storage, and nothing more (any strides)."""
    nbytes = tensor.numel() * tensor.element_size()
    return tensor.storage_offset() == 0 and tensor.untyped_storage().nbytes() == nbytes


def detached(tensor: torch.Tensor, slabs: Slabs | None = None, *, share: bool = False) -> torch.Tensor:
    """Batch item 0, in a storage of its own (so the rest of the batch or a fused buffer is freed).

    ``share``: the caller knows nothing writes to ``tensor`` after this call (a layer's queries, which
    the forward drops after the layer). Then, where a copy would get an allocation of its own anyway
    (not a slab), batch item 0 is kept as it is when it already owns its whole storage: the layer's
    queries are never held twice, not even for the moment of the copy. Its strides stay the model's.
    """
    item = tensor[0].detach()
    if share and owns_storage(item) and (slabs is None or not slabs.packs(item)):
        return item
    if slabs is not None:
        return slabs.copy(item)
    if not item.is_contiguous() or item.untyped_storage().nbytes() > item.numel() * item.element_size():
        item = item.clone(memory_format=torch.contiguous_format)
    return item
