"""A lazy attention stack in a safetensors file: the capture, not the weights.

A section whose attention is a :class:`~attnviz_widget.lazy.attentions.LazyAttentions`
(``AttentionData.is_lazy``) is saved as what the model recorded: per layer the queries
``(heads, query, head_dim)`` and keys ``(kv_heads, key, head_dim)``, the exact softmax
normalisers ``(heads, query)``, the compact mask description, any additive bias and
softcapping (names and metadata of :mod:`attnviz_widget.lazy.serial`). Its tensors go
under ``S.lazy.`` and its string metadata, with the layers kept, into the section's
``lazy`` object; the section says ``"store": "lazy"``.

Reopening needs torch (as computing the weights does) and recomputes exactly what the
original stack answered, on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import FormatError

__all__ = ["is_lazy", "lazy_attentions", "lazy_tensors"]


def is_lazy(attentions: Any) -> bool:
    """Whether ``attentions`` is computed on demand from a lazy stack (not an array)."""
    return not isinstance(attentions, np.ndarray) and hasattr(getattr(attentions, "stack", None), "to_tensors")


def lazy_tensors(attentions: Any, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(tensors, facts)`` saving a ``LazyAttentions``: tensors named ``{prefix}.lazy.*``.

    ``facts`` is the section's ``lazy`` object: the stack's string metadata and the
    model layers kept (``layers``), in the order of the first axis.
    """
    stack = attentions.stack
    tensors = {f"{prefix}.lazy.{name}": array for name, array in stack.to_tensors().items()}
    facts = {"layers": [int(layer) for layer in attentions.layers], "metadata": dict(stack.metadata())}
    return tensors, facts


def lazy_attentions(facts: Any, prefix: str, tensors: Mapping[str, np.ndarray]) -> Any:
    """The ``LazyAttentions`` ``(layers, heads, query, key)`` a section saved; imports torch.

    Raises:
        FormatError: the ``lazy`` object or the stack's tensors are damaged (one line).
    """
    if not isinstance(facts, dict) or not isinstance(facts.get("metadata"), dict):
        raise FormatError(f"{prefix}: the 'lazy' object needs the stack's metadata; the file is damaged")
    layers = facts.get("layers")
    if not isinstance(layers, list) or not layers or not all(
        isinstance(layer, int) and not isinstance(layer, bool) for layer in layers
    ):
        raise FormatError(f"{prefix}: the 'lazy' object needs 'layers', a non-empty list of layer indices")
    metadata = facts["metadata"]
    if not all(isinstance(value, str) for value in metadata.values()):
        raise FormatError(f"{prefix}: the lazy stack's metadata values must be strings; the file is damaged")
    start = f"{prefix}.lazy."
    # copies: torch refuses to wrap read-only memory, and the stack must own what it computes from
    own = {name[len(start):]: np.array(array) for name, array in tensors.items() if name.startswith(start)}
    try:
        from ..lazy import LazyStack
        from ..lazy.attentions import LazyAttentions
    except ImportError as error:  # pragma: no cover - torch is a core dependency
        raise FormatError(f"{prefix}: a lazy attention stack needs torch to reopen: {error}") from None
    try:
        stack = LazyStack.from_tensors(own, metadata, device="cpu")
    except FormatError as error:
        raise FormatError(f"{prefix}: {error}") from None
    except Exception as error:  # the stack's own checks raise InputError; anything else is damage too
        message = " ".join(str(error).split())
        raise FormatError(f"{prefix}: the lazy stack is damaged: {type(error).__name__}: {message}") from None
    missing = [layer for layer in layers if layer not in stack.layer_indices]
    if missing:
        raise FormatError(f"{prefix}: layer {missing[0]} is not in the saved lazy stack "
                          f"(it holds {list(stack.layer_indices)})")
    return LazyAttentions(stack, layers)
