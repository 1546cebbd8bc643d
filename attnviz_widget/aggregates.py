"""Summaries over heads and layers: mean, max and attention rollout. numpy only.

The names and order come from :mod:`attnviz_widget.vocabulary`; :meth:`AttentionData.matrix
<attnviz_widget.data.AttentionData.matrix>` is where a focused head or aggregate is computed,
and :func:`rollout_problem` is the one definition of when rollout is defined.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from .data import AttentionData


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float32 ``a @ b`` on torch's intra-op threads where torch is already loaded, else numpy's.

    Rollout runs next to the model (between its layers, or right after a forward): torch's product
    uses the OpenMP team the model uses, while numpy's wakes OpenBLAS's own thread pool, which keeps
    spinning after the product and competes with the model for the same cores (measured at 512
    tokens, 12 layers, one torch thread: +0.7 s of CPU for the 12 products with numpy, +0.1 s with
    torch). The two differ in the last bits only (float32 accumulation order).
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return a @ b
    return torch.from_numpy(np.ascontiguousarray(a)).matmul(torch.from_numpy(np.ascontiguousarray(b))).numpy()


def head_mean(attentions: np.ndarray) -> np.ndarray:
    """Mean over heads: ``(layers, heads, query, key)`` -> ``(layers, query, key)``."""
    return np.asarray(attentions, dtype=np.float32).mean(axis=1)


def head_max(attentions: np.ndarray) -> np.ndarray:
    """Max over heads: ``(layers, heads, query, key)`` -> ``(layers, query, key)``."""
    return np.asarray(attentions, dtype=np.float32).max(axis=1)


def attention_rollout(attentions: np.ndarray) -> np.ndarray:
    """Attention rollout through every layer (Abnar & Zuidema, 2020).

    Each layer's heads are averaged, the identity is added for the residual
    connection, rows are renormalised to sum to 1, and the result is multiplied
    through the layers: ``R_l = A_l @ R_(l-1)``, in float32 (products by :func:`matmul`).

    Args:
        attentions: ``(layers, heads, seq, seq)`` self-attention of consecutive layers
            starting at the first layer, without padding.

    Returns:
        float32 ``(layers, seq, seq)``; entry ``l`` is the rollout through layer ``l``.
    """
    attentions = np.asarray(attentions)
    if attentions.ndim != 4 or attentions.shape[2] != attentions.shape[3]:
        raise InputError(f"rollout needs square self-attention (layers, heads, seq, seq), got {attentions.shape}")
    seq = attentions.shape[2]
    identity = np.eye(seq, dtype=np.float32)
    rollout = np.empty((attentions.shape[0], seq, seq), dtype=np.float32)
    current = identity
    for index, layer in enumerate(attentions):
        mixed = layer.mean(axis=0, dtype=np.float32) + identity
        mixed /= mixed.sum(axis=-1, keepdims=True)
        current = matmul(mixed, current)
        rollout[index] = current
    return rollout


def rollout_problem(data: AttentionData) -> str | None:
    """Why rollout is undefined for ``data``, or None: it multiplies through consecutive
    layers of self-attention, starting at the first."""
    if not data.is_self_attention:
        return "rollout is defined for self-attention only, not cross-attention"
    if data.layer_indices != tuple(range(data.num_layers)):
        return (
            "rollout needs every layer from layer 0 on; this data holds layers "
            f"{', '.join(map(str, data.layer_indices))} (extract without --layer)"
        )
    attentions = data.attentions
    if data.is_lazy and attentions.nbytes > attentions.memory_budget:
        return (
            f"rollout multiplies every layer's full {len(data.queries):,} × {len(data.keys):,} matrix; at this "
            "length it is not computed (the heads, mean and max are, on demand)"
        )
    return None


def check_rollout_layers(data: AttentionData) -> None:
    """Raise :class:`InputError` when rollout is undefined for ``data``."""
    problem = rollout_problem(data)
    if problem is not None:
        raise InputError(problem)
