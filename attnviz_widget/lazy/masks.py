"""Attention masks in compact form, evaluated exactly one block at a time.

transformers 5.x builds every mask from an index-based ``mask_function(b, h, q_idx, kv_idx)``
(``causal ∧ sliding window ∧ padding``) that the mask interface expands into a ``(batch, 1,
query, key)`` tensor. :func:`describe` reads that function's structure back into a
:class:`MaskSpec` (a causal flag, a window, a key padding vector: O(keys) memory), so a block
of the mask is recomputed from indices on demand and no ``query × key`` tensor is kept. A
function it cannot read (packed sequences, chunked or blockwise overlays, a user's 4D mask)
is kept as the dense boolean mask instead: exact, at ``query × key`` bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class MaskSpec:
    """Which keys each query may see, for batch item 0.

    Attributes:
        causal: key ``k`` is hidden from query ``q`` when ``k + kv_offset > q + q_offset``.
        window: causal sliding window: visible only when ``k + kv_offset > q + q_offset - window``.
        bidirectional_window: visible only when ``|q + q_offset - k - kv_offset| <= bidirectional_window``.
        key_padding: bool ``(keys,)``, False at padded keys; None when no key is padded.
        dense: bool ``(query, key)``, the whole mask, only when the function was not readable.
        additive: float ``(query, key)`` added to the scores (a model's own float mask), rarely.
    """

    causal: bool = False
    window: int | None = None
    bidirectional_window: int | None = None
    key_padding: torch.Tensor | None = None
    q_offset: int = 0
    kv_offset: int = 0
    dense: torch.Tensor | None = None
    additive: torch.Tensor | None = None
    _first_real: int = field(default=0, repr=False)
    _last_real: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        if self.key_padding is not None:
            real = torch.nonzero(self.key_padding).flatten()
            if len(real) == len(self.key_padding):
                self.key_padding = None
            elif len(real):
                self._first_real, self._last_real = int(real[0]), int(real[-1])

    @property
    def is_dense(self) -> bool:
        return self.dense is not None or self.additive is not None

    def key_bounds(self, q0: int, q1: int, keys: int) -> tuple[int, int]:
        """Keys ``[lo, hi)`` that queries ``q0 .. q1 - 1`` can possibly see (the rest is masked)."""
        if self.is_dense:
            return 0, keys
        shift = self.q_offset - self.kv_offset
        lo, hi = 0, keys
        if self.causal:
            hi = min(hi, q1 - 1 + shift + 1)
            if self.window is not None:
                lo = max(lo, q0 + shift - self.window + 1)
        if self.bidirectional_window is not None:
            lo = max(lo, q0 + shift - self.bidirectional_window)
            hi = min(hi, q1 - 1 + shift + self.bidirectional_window + 1)
        if self.key_padding is not None and self._last_real >= 0:
            lo, hi = max(lo, self._first_real), min(hi, self._last_real + 1)
        return max(lo, 0), max(min(hi, keys), max(lo, 0))

    def cuts(self, q0: int, q1: int) -> list[int]:
        """Key positions where, for queries ``q0 .. q1 - 1``, blocks turn from cut by the mask to open."""
        if self.is_dense:
            return []
        shift = self.q_offset - self.kv_offset
        points = []
        if self.causal:
            points.append(q0 + shift + 1)
            if self.window is not None:
                points.append(q1 + shift - self.window)
        if self.bidirectional_window is not None:
            points += [q1 - 1 + shift - self.bidirectional_window, q0 + shift + self.bidirectional_window + 1]
        return points

    def block_is_open(self, q0: int, q1: int, k0: int, k1: int) -> bool:
        """True when every key ``k0 .. k1 - 1`` is visible to every query ``q0 .. q1 - 1``."""
        if self.is_dense:
            return False
        shift = self.q_offset - self.kv_offset
        if self.causal:
            if k1 - 1 > q0 + shift:
                return False
            if self.window is not None and k0 <= q1 - 1 + shift - self.window:
                return False
        if self.bidirectional_window is not None:
            w = self.bidirectional_window
            if (q1 - 1 + shift) - k0 > w or (k1 - 1) - (q0 + shift) > w:
                return False
        if self.key_padding is not None:
            return bool(self.key_padding[k0:k1].all())
        return True

    def visible(self, q_idx: torch.Tensor, k_idx: torch.Tensor) -> torch.Tensor | None:
        """bool ``(len(q_idx), len(k_idx))``, True where visible; None when everything is.

        ``additive`` masks are not boolean: see :meth:`additive_block`.
        """
        if self.dense is not None:
            return self.dense[q_idx[:, None], k_idx[None, :]]
        q = (q_idx + self.q_offset)[:, None]
        k = (k_idx + self.kv_offset)[None, :]
        result: torch.Tensor | None = None

        def both(part: torch.Tensor) -> None:
            nonlocal result
            result = part if result is None else result & part

        if self.causal:
            both(k <= q)
            if self.window is not None:
                both(k > q - self.window)
        if self.bidirectional_window is not None:
            both((q - k).abs() <= self.bidirectional_window)
        if self.key_padding is not None:
            both(self.key_padding[k_idx][None, :])
        if result is not None and result.shape != (len(q_idx), len(k_idx)):
            result = result.expand(len(q_idx), len(k_idx))
        return result

    def additive_block(self, q_idx: torch.Tensor, k_idx: torch.Tensor) -> torch.Tensor | None:
        """The model's own float mask on these indices, ``(len(q_idx), len(k_idx))``, if it had one."""
        if self.additive is None:
            return None
        return self.additive[q_idx[:, None], k_idx[None, :]]

    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensor parts, by name, for saving."""
        parts = {"key_padding": self.key_padding, "dense": self.dense, "additive": self.additive}
        return {name: value for name, value in parts.items() if value is not None}

    def scalars(self) -> dict[str, Any]:
        return {
            "causal": self.causal, "window": self.window, "bidirectional_window": self.bidirectional_window,
            "q_offset": self.q_offset, "kv_offset": self.kv_offset,
        }

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors().values())


def _closure(function: Callable[..., Any]) -> dict[str, Any]:
    cells = function.__closure__ or ()
    return {name: cell.cell_contents for name, cell in zip(function.__code__.co_freevars, cells, strict=False)}


def _read(function: Callable[..., Any], spec: dict[str, Any]) -> bool:
    """Fold ``function`` into ``spec`` (causal, window, ...); False when it is not a known part."""
    from transformers import masking_utils as mu

    if function is mu.causal_mask_function:
        spec["causal"] = True
        return True
    if function is mu.bidirectional_mask_function:
        return True
    owner = getattr(function, "__qualname__", "").split(".<locals>")[0]
    values = _closure(function) if hasattr(function, "__code__") else {}
    if owner == "and_masks":
        return all(_read(part, spec) for part in values.get("mask_functions", ()))
    if owner == "sliding_window_overlay" and isinstance(values.get("sliding_window"), int):
        spec["window"] = min(values["sliding_window"], spec.get("window") or values["sliding_window"])
        return True
    if owner == "sliding_window_bidirectional_overlay" and isinstance(values.get("sliding_window"), int):
        spec["bidirectional_window"] = values["sliding_window"]
        return True
    return False


def describe(
    mask_function: Callable[..., Any],
    padding: torch.Tensor | None,
    q_length: int,
    kv_length: int,
    q_offset: int = 0,
    kv_offset: int = 0,
) -> MaskSpec | None:
    """The compact form of what a mask interface was asked to build, or None if unreadable.

    Args:
        mask_function: the composed ``mask_function(b, h, q_idx, kv_idx)``.
        padding: the 2D padding mask, bool ``(batch, kv_length + kv_offset)`` or longer, or None.
    """
    if not isinstance(q_offset, int) or not isinstance(kv_offset, int):
        return None
    parts: dict[str, Any] = {}
    if not _read(mask_function, parts):
        return None
    if parts.get("window") is not None and not parts.get("causal"):
        return None  # a causal-style window on a bidirectional mask: not a shape we model
    key_padding = None
    if padding is not None:
        key_padding = padding[0].to(torch.bool)
        if len(key_padding) < kv_offset + kv_length:  # as transformers pads it: with False
            extra = key_padding.new_zeros(kv_offset + kv_length - len(key_padding))
            key_padding = torch.cat([key_padding, extra])
        key_padding = key_padding[kv_offset : kv_offset + kv_length].clone()
    return MaskSpec(key_padding=key_padding, q_offset=q_offset, kv_offset=kv_offset, **parts)


def from_tensor(mask: torch.Tensor) -> MaskSpec:
    """A mask the model handed over as a tensor we did not describe: keep it dense (batch 0, head 0)."""
    plane = mask[0, 0] if mask.dim() == 4 else mask[0] if mask.dim() == 3 else mask
    if plane.dtype == torch.bool:
        return MaskSpec(dense=plane.clone())
    return MaskSpec(additive=plane.clone())
