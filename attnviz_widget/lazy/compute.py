"""Exact attention weights from recorded queries and keys, in bounded chunks.

The arithmetic follows the eager attention of transformers: ``matmul(q, k^T) * scaling`` in the
model's dtype, softcapping (``tanh(s / cap) * cap``), then an additive bias (T5) and the mask,
then a float32 softmax. The softmax normalisers come from one streaming pass per query row
(``max`` and ``sum of exp(s - max)``, rescaled as a larger maximum appears, as flash attention
does); the same pass keeps each row's largest score per thumbnail key block, so the thumbnails
(block max-pools of the exact weights) cost nothing more. Key blocks a mask hides entirely are
skipped, and the mask is only evaluated on blocks it cuts (near the diagonal, at padding).

A selection along an axis is a ``slice`` (contiguous, no copies) or a 1-D index tensor.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .records import LayerRecord

Selection = slice | torch.Tensor

#: Default bound on the working memory of one step, in bytes.
DEFAULT_BLOCK_BYTES = 64 * 2**20
#: Bytes one score costs while a chunk is processed (model-dtype product, float32 scores,
#: their exponentials, a mask bit), rounded up.
BYTES_PER_SCORE = 16


def plan(heads: int, rows: int, keys: int, budget: int = DEFAULT_BLOCK_BYTES) -> tuple[int, int]:
    """``(row_chunk, key_chunk)`` so that ``heads × row_chunk × key_chunk`` scores fit ``budget``."""
    scores = max(1, budget // BYTES_PER_SCORE)
    key_chunk = max(1, min(keys, 8192, scores // max(1, heads)))
    row_chunk = max(1, min(rows, scores // max(1, heads * key_chunk)))
    return row_chunk, key_chunk


def _indices(selection: Selection, length: int, device: torch.device) -> torch.Tensor:
    if isinstance(selection, slice):
        return torch.arange(length, device=device)[selection]
    return selection


def _take(tensor: torch.Tensor, dim: int, selection: Selection) -> torch.Tensor:
    if isinstance(selection, slice):
        return tensor.narrow(dim, selection.start, selection.stop - selection.start)
    return tensor.index_select(dim, selection)


def scores(
    record: LayerRecord, heads: Selection, queries: Selection, keys: Selection, *, masked: bool = True
) -> torch.Tensor:
    """Float32 scores ``(heads, queries, keys)`` as eager attention adds them up; hidden keys -inf.

    ``masked=False`` skips the mask (the caller knows the block is fully visible).
    """
    q = _take(_take(record.query, 0, heads), 1, queries)
    group = record.group
    if isinstance(heads, slice) and group > 1 and heads == slice(0, record.num_heads):
        # all heads: multiply per key head, without repeating the keys
        k = _take(record.key, 1, keys)
        n = q.shape[1]
        grouped = q.reshape(k.shape[0], group * n, q.shape[-1])
        s = torch.matmul(grouped, k.transpose(1, 2)).view(record.num_heads, n, -1)
    else:
        if isinstance(heads, slice) and (group == 1 or heads.stop - heads.start == 1):
            key_heads: Selection = slice(heads.start // group, (heads.stop - 1) // group + 1)  # no copy
        else:
            key_heads = torch.div(_indices(heads, record.num_heads, record.query.device), group, rounding_mode="floor")
        k = _take(_take(record.key, 0, key_heads), 1, keys)
        s = torch.matmul(q, k.transpose(1, 2))
    s.mul_(record.scaling)
    if record.softcap is not None:
        s = torch.tanh(s / record.softcap) * record.softcap
    q_idx = _indices(queries, record.num_queries, record.query.device)
    k_idx = _indices(keys, record.num_keys, record.query.device)
    if record.bias is not None:
        bias = record.bias if record.bias.shape[0] == 1 else _take(record.bias, 0, heads)
        s = s + _take(_take(bias, 1, queries), 2, keys)
    additive = record.mask.additive_block(q_idx, k_idx) if masked else None
    if additive is not None:
        s = s + additive
    s = s.float()
    visible = record.mask.visible(q_idx, k_idx) if masked else None
    if visible is not None:
        s.masked_fill_(~visible, -math.inf)
    return s


def _finite(values: torch.Tensor) -> torch.Tensor:
    """``values`` with -inf replaced by 0, so that ``exp(s - m)`` of an empty row is 0, not nan."""
    return torch.where(torch.isneginf(values), torch.zeros_like(values), values)


def _block_pieces(s: torch.Tensor, edges: np.ndarray, length: int, k0: int) -> tuple[int, torch.Tensor]:
    """Max of ``s`` ``(heads, rows, keys k0 ..)`` over each block of ``edges`` the keys overlap.

    Returns the first block's index and ``(heads, rows, blocks)`` maxima over the overlapping parts.
    """
    k1 = k0 + s.shape[-1]
    ends = np.append(edges[1:], length)
    first = int(np.searchsorted(edges, k0, side="right")) - 1
    last = int(np.searchsorted(edges, k1 - 1, side="right")) - 1
    lengths = np.minimum(ends[first : last + 1], k1) - np.maximum(edges[first : last + 1], k0)
    if np.all(lengths == lengths[0]):
        return first, s.reshape(*s.shape[:-1], len(lengths), int(lengths[0])).amax(-1)
    sizes = torch.as_tensor(lengths, device=s.device).expand(*s.shape[:-1], len(lengths)).contiguous()
    return first, torch.segment_reduce(s, "max", lengths=sizes, axis=s.dim() - 1)


def _segments(record: LayerRecord, q0: int, q1: int, key_chunk: int,
              edges: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Key chunks for queries ``q0 .. q1 - 1``: hidden keys skipped, cut where the mask starts or stops.

    With thumbnail block ``edges``, every cut moves down to a block start (the mask then covers a
    few more keys, which changes nothing) so that chunks hold whole blocks.
    """
    lo, hi = record.mask.key_bounds(q0, q1, record.num_keys)
    if hi <= lo:
        return []
    points = {lo, hi, *(c for c in record.mask.cuts(q0, q1) if lo < c < hi)}
    if edges is not None:
        snap = edges[np.searchsorted(edges, sorted(points), side="right") - 1]
        points = {int(point) for point in snap} | {hi}
        stride = max(1, key_chunk // max(1, int(np.ceil(record.num_keys / len(edges)))))
        whole = edges[::stride]  # chunk starts on block starts, about key_chunk keys apart
        points |= {int(point) for point in whole if min(points) < point < hi}
        ordered = sorted(points)
        return list(zip(ordered, ordered[1:]))
    ordered = sorted(points)
    return [(k0, min(b, k0 + key_chunk)) for a, b in zip(ordered, ordered[1:]) for k0 in range(a, b, key_chunk)]


def scan(
    record: LayerRecord,
    budget: int = DEFAULT_BLOCK_BYTES,
    edges: tuple[np.ndarray, np.ndarray] | None = None,
    known: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One streaming pass over every score of the layer.

    Args:
        edges: query and key block starts of a thumbnail grid (:func:`attnviz_widget.wire.block_edges`),
            or None for the normalisers alone.
        known: ``(row_max, row_sum)`` already computed: the pass then only keeps block maxima, and
            the thumbnails use exactly the normalisers the other answers use.

    Each step holds ``heads × row_chunk × key_chunk`` scores within ``budget`` (:func:`plan`); with
    thumbnails a step holds whole key blocks, at least one (``keys / 64`` keys) per row.

    Returns:
        ``row_max``, ``row_sum``: float32 ``(heads, query)``; thumbnails: float32 ``(heads, tq, tk)``,
        the block max of the exact weights, or None.
    """
    heads, rows, keys = record.num_heads, record.num_queries, record.num_keys
    device = record.query.device
    row_max = torch.full((heads, rows), -math.inf, device=device)
    row_sum = torch.zeros((heads, rows), device=device)
    if known is not None and edges is not None:
        row_max, row_sum = known
    elif record.sinks is not None:
        row_max[:] = record.sinks.float()[:, None]
        row_sum[:] = 1.0
    thumbs = None
    if edges is not None:
        q_edges, k_edges = edges
        thumbs = torch.zeros((heads, len(q_edges), len(k_edges)), device=device)
        row_block = torch.from_numpy(np.searchsorted(q_edges, np.arange(rows), side="right") - 1).to(device)
    row_chunk, key_chunk = plan(heads, rows, keys, budget)
    everyone = slice(0, heads)
    sums = known is None or edges is None
    for q0 in range(0, rows, row_chunk):
        q1 = min(rows, q0 + row_chunk)
        m, total = row_max[:, q0:q1], row_sum[:, q0:q1]
        block_max = None if thumbs is None else torch.full((heads, q1 - q0, len(k_edges)), -math.inf, device=device)
        for k0, k1 in _segments(record, q0, q1, key_chunk, None if thumbs is None else k_edges):
            open_block = record.mask.block_is_open(q0, q1, k0, k1)
            s = scores(record, everyone, slice(q0, q1), slice(k0, k1), masked=not open_block)
            if block_max is not None:
                first, pieces = _block_pieces(s, k_edges, keys, k0)
                part = block_max[:, :, first : first + pieces.shape[-1]]
                torch.maximum(part, pieces, out=part)
            if not sums:
                continue
            new_max = torch.maximum(m, s.amax(-1) if block_max is None else pieces.amax(-1))
            safe = _finite(new_max)
            total.mul_(torch.exp(m - safe)).add_(s.sub_(safe[..., None]).exp_().sum(-1))
            m.copy_(new_max)
        if thumbs is not None and block_max is not None:
            weights = block_max.sub_(_finite(m)[..., None]).exp_().div_(total[..., None])  # (heads, rows, tk)
            empty = total == 0  # every key hidden: eager's softmax spreads such a row evenly
            if bool(empty.any()):
                weights[empty] = 1.0 / keys
            index = row_block[q0:q1].view(1, -1, 1).expand_as(weights)
            thumbs.scatter_reduce_(1, index, weights, "amax", include_self=True)
    return row_max, row_sum, thumbs


def weights(record: LayerRecord, heads: Selection, queries: Selection, keys: Selection) -> torch.Tensor:
    """Float32 attention weights ``(heads, queries, keys)``; needs the record's normalisers."""
    if record.row_max is None or record.row_sum is None:
        raise RuntimeError("normalisers not computed")
    s = scores(record, heads, queries, keys)
    m = _take(_take(record.row_max, 0, heads), 1, queries)
    total = _take(_take(record.row_sum, 0, heads), 1, queries)
    p = s.sub_(_finite(m)[..., None]).exp_().div_(total[..., None])
    empty = total == 0
    if bool(empty.any()):
        p[empty] = 1.0 / record.num_keys
    return p
