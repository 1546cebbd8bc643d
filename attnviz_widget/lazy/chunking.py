"""Position-wise feed-forward blocks run in sequence chunks while a lazy capture records.

A lazy capture holds every layer's queries and keys, about as many bytes at 32,768 tokens as a
plain forward's whole transient peak. The bulk of that transient is one layer's feed-forward:
a SwiGLU MLP holds three ``(batch, seq, intermediate)`` tensors at once. The feed-forward acts on
each position alone, so evaluating it on ``chunk`` positions at a time gives the same rows
(the same arithmetic per row; equal to the plain forward within float32 rounding) while its
intermediates shrink to ``(batch, chunk, intermediate)``. This lowers the extraction's peak below
the model's own transient, which is what leaves room for the recorded queries and keys.

Only modules known to be position-wise are chunked, found by structure: the transformers classes
in :data:`POSITIONWISE_CLASSES` (their ``forward``), and layers that already chunk their
feed-forward with ``apply_chunking_to_forward`` (BERT's ``feed_forward_chunk``, DistilBERT's
``ff_chunk``). Each call is checked at run time: one ``(batch, seq, hidden)`` tensor in, a tensor
of the same ``(batch, seq)`` out, not training; anything else runs unchanged. Other architectures
are simply not chunked. The wrappers are instance attributes, removed on exit even after an error.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ..errors import InputError

#: Default positions per feed-forward chunk during a lazy capture.
DEFAULT_CHUNK = 1024

#: transformers module classes whose ``forward(x)`` maps each position of ``(batch, seq, hidden)``
#: on its own (gated or plain MLPs; T5's feed-forward sub-layer with its norm and residual).
POSITIONWISE_CLASSES = frozenset({
    "LlamaMLP", "MistralMLP", "Qwen2MLP", "Qwen3MLP", "GemmaMLP", "Gemma2MLP", "Gemma3MLP", "PhiMLP",
    "Phi3MLP", "GPT2MLP", "T5LayerFF", "MT5LayerFF", "OlmoMLP", "Olmo2MLP", "GraniteMLP", "GPTNeoXMLP",
    "Starcoder2MLP", "SmolLM3MLP", "CohereMLP", "StableLmMLP",
})
#: Methods that layers with a ``chunk_size_feed_forward`` attribute run through
#: ``apply_chunking_to_forward``: their feed-forward, position by position (BERT family, DistilBERT).
POSITIONWISE_METHODS = ("feed_forward_chunk", "ff_chunk")

_MISSING = object()


def _targets(module: nn.Module) -> list[str]:
    """Attribute names of ``module`` to run chunked: ``forward`` or a known feed-forward method."""
    if not type(module).__module__.startswith("transformers."):
        return []
    if type(module).__name__ in POSITIONWISE_CLASSES:
        return ["forward"]
    if getattr(module, "chunk_size_feed_forward", None) is None:
        return []
    return [name for name in POSITIONWISE_METHODS if callable(getattr(module, name, None))]


def run_in_chunks(call: Callable[[torch.Tensor], Any], x: torch.Tensor, chunk: int) -> Any:
    """``call(x)`` for a position-wise ``call``, on ``chunk`` positions of ``x`` at a time.

    ``x`` is ``(batch, seq, hidden)``; the result is ``(batch, seq, out)``, written into one
    preallocated tensor (no concatenation copy). When the first chunk's result is not a tensor
    of shape ``(batch, chunk, out)``, ``call`` runs once on the whole input instead.
    """
    batch, length = int(x.shape[0]), int(x.shape[1])
    first = call(x[:, :chunk])
    if not isinstance(first, torch.Tensor) or first.dim() != 3 or tuple(first.shape[:2]) != (batch, chunk):
        del first
        return call(x)
    out = first.new_empty((batch, length, int(first.shape[2])))
    out[:, :chunk] = first
    del first
    for start in range(chunk, length, chunk):
        out[:, start : start + chunk] = call(x[:, start : start + chunk])
    return out


def _chunked(module: nn.Module, call: Callable[..., Any], chunk: int,
             counter: list[int]) -> Callable[..., Any]:
    @functools.wraps(call)  # keeps the signature: apply_chunking_to_forward counts its parameters
    def chunked(*args: Any, **kwargs: Any) -> Any:
        x = args[0] if len(args) == 1 and not kwargs else None
        if (not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[1] <= chunk or module.training
                or torch.is_grad_enabled() and x.requires_grad):
            return call(*args, **kwargs)
        counter[0] += 1
        return run_in_chunks(call, x, chunk)

    return chunked


def check_chunk(chunk: int | None) -> int | None:
    """``chunk`` as an int if it is None or a non-negative integer; else a one-line :class:`InputError`."""
    if chunk is None:
        return None
    if isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral) or chunk < 0:
        raise InputError(f"feed-forward chunk must be a number of positions (0 or None: off), got {chunk!r}")
    return int(chunk)


@contextmanager
def chunked_feed_forward(model: nn.Module, chunk: int | None = DEFAULT_CHUNK) -> Iterator[list[int]]:
    """Run ``model``'s known position-wise feed-forwards ``chunk`` positions at a time in the block.

    Yields a one-element list counting the calls that ran chunked (for tests and diagnostics).
    ``chunk`` None or 0 changes nothing. Every wrapper is removed on exit, also after an error.
    """
    chunk = check_chunk(chunk)
    counter = [0]
    patched: list[tuple[nn.Module, str, Any]] = []
    try:
        if chunk:
            for module in model.modules():
                for name in _targets(module):
                    previous = module.__dict__.get(name, _MISSING)
                    setattr(module, name, _chunked(module, getattr(module, name), chunk, counter))
                    patched.append((module, name, previous))
        yield counter
    finally:
        for module, name, previous in reversed(patched):
            if previous is _MISSING:
                module.__dict__.pop(name, None)
            else:
                setattr(module, name, previous)
