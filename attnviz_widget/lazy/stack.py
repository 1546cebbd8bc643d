"""LazyStack: one attention stack's weights, computed exactly on demand from queries and keys.

Memory is O(layers · heads · tokens · head_dim) (queries, keys, a compact mask and two float32
normalisers per query row); every answer is computed on the device where the model ran, in
chunks of at most ``block_bytes`` of working memory, and copied to the host as float32 numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..wire import THUMBNAIL_SIZE, block_edges
from . import compute
from .records import LayerRecord

Indices = Sequence[int] | slice | np.ndarray


def _check_index(value: int, length: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < length:
        raise InputError(f"{what} {value!r} is out of range: valid {what}s are 0..{length - 1}")
    return int(value)


class LazyStack:
    """One attention stack of one text (batch item 0), weights recomputed exactly on demand.

    Attributes:
        layer_indices: the model's layer indices held, ascending.
        num_heads: query heads per layer.
        num_queries, num_keys: sequence lengths (queries attend over keys).
        device: where queries and keys live and the arithmetic runs.
        block_bytes: working-memory bound of one computation step.
    """

    def __init__(self, records: Mapping[int, LayerRecord], *, block_bytes: int = compute.DEFAULT_BLOCK_BYTES) -> None:
        if not records:
            raise InputError("a lazy stack needs at least one layer")
        self._records = {int(layer): records[layer] for layer in sorted(records)}
        self.layer_indices: tuple[int, ...] = tuple(self._records)
        first = next(iter(self._records.values()))
        self.num_heads = first.num_heads
        self.num_queries = first.num_queries
        self.num_keys = first.num_keys
        self.device: torch.device = first.query.device
        for layer, record in self._records.items():
            shape = (record.num_heads, record.num_queries, record.num_keys)
            if shape != (self.num_heads, self.num_queries, self.num_keys):
                raise InputError(f"layer {layer} has another shape than layer {self.layer_indices[0]}")
            if record.num_heads % int(record.key.shape[0]):
                kv_heads = record.key.shape[0]
                raise InputError(f"layer {layer}: {record.num_heads} query heads do not share {kv_heads} key heads")
        self.block_bytes = int(block_bytes)
        self._thumbnails: dict[int, np.ndarray] = {}

    def __repr__(self) -> str:
        return (f"LazyStack(layers={list(self.layer_indices)}, heads={self.num_heads}, "
                f"queries={self.num_queries}, keys={self.num_keys}, device={self.device})")

    @property
    def records(self) -> dict[int, LayerRecord]:
        """The recorded layers by model layer index (read-only use)."""
        return dict(self._records)

    # ---- validation -------------------------------------------------------------------
    def _record(self, layer: int) -> LayerRecord:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or int(layer) not in self._records:
            raise InputError(f"layer {layer!r} is not held: valid layers are {list(self.layer_indices)}")
        return self._records[int(layer)]

    def _head(self, head: int) -> int:
        return _check_index(head, self.num_heads, "head")

    def _selection(self, indices: Indices, length: int, what: str) -> compute.Selection:
        if isinstance(indices, slice):
            start, stop, step = indices.indices(length)
            if step == 1:
                return slice(start, max(start, stop))
            indices = range(start, stop, step)
        values = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
        if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
            raise InputError(f"{what}s must be a slice or a list of integers, got {indices!r}")
        if values.size and (values.min() < 0 or values.max() >= length):
            bad = int(values.min()) if values.min() < 0 else int(values.max())
            raise InputError(f"{what} {bad} is out of range: valid {what}s are 0..{length - 1}")
        return torch.as_tensor(values.astype(np.int64), device=self.device)

    def _span(self, start: int, stop: int, length: int, what: str) -> None:
        for value in (start, stop):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise InputError(f"{what} bounds must be integers, got {value!r}")
        if not 0 <= start < stop <= length:
            raise InputError(f"{what} range {start}:{stop} is out of range: need 0 <= start < stop <= {length}")

    @staticmethod
    def _size(size: int) -> int:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise InputError(f"thumbnail size must be a positive integer, got {size!r}")
        return int(size)

    # ---- normalisers ------------------------------------------------------------------
    def _normalised(self, record: LayerRecord) -> LayerRecord:
        if record.row_max is None or record.row_sum is None:
            record.row_max, record.row_sum, _ = compute.scan(record, self.block_bytes)
        return record

    def normalisers(self, layer: int) -> np.ndarray:
        """float32 ``(heads, query)`` log-sum-exp of each row's scores (-inf where every key is hidden)."""
        record = self._normalised(self._record(layer))
        assert record.row_max is not None and record.row_sum is not None
        return (record.row_max + torch.log(record.row_sum)).cpu().numpy().astype(np.float32)

    # ---- weights ----------------------------------------------------------------------
    def _weights(self, layer: int, head: int, queries: compute.Selection, keys: compute.Selection,
                 pool: int = 1) -> np.ndarray:
        """float32 ``(queries, keys)`` weights of one head, max-pooled by ``pool``, chunk by chunk."""
        record = self._normalised(self._record(layer))
        head = self._head(head)
        n_q = queries.stop - queries.start if isinstance(queries, slice) else len(queries)
        n_k = keys.stop - keys.start if isinstance(keys, slice) else len(keys)
        out = np.zeros((math.ceil(n_q / pool), math.ceil(n_k / pool)), dtype=np.float32)
        if n_q == 0 or n_k == 0:
            return out
        rows, cols = compute.plan(1, n_q, n_k, self.block_bytes)
        rows, cols = max(pool, rows // pool * pool), max(pool, cols // pool * pool)
        heads = slice(head, head + 1)
        for r0 in range(0, n_q, rows):
            r1 = min(n_q, r0 + rows)
            q_part = slice(queries.start + r0, queries.start + r1) if isinstance(queries, slice) else queries[r0:r1]
            for c0 in range(0, n_k, cols):
                c1 = min(n_k, c0 + cols)
                k_part = slice(keys.start + c0, keys.start + c1) if isinstance(keys, slice) else keys[c0:c1]
                block = compute.weights(record, heads, q_part, k_part)
                if pool > 1:
                    block = F.max_pool2d(block, pool, pool, ceil_mode=True)
                top, left = r0 // pool, c0 // pool
                out[top : top + block.shape[1], left : left + block.shape[2]] = block[0].cpu().numpy()
        return out

    def matrix(self, layer: int, head: int) -> np.ndarray:
        """float32 ``(query, key)`` weights of one head (dense: for short inputs or one head at a time)."""
        return self._weights(layer, head, slice(0, self.num_queries), slice(0, self.num_keys))

    def rows(self, layer: int, head: int, queries: Indices) -> np.ndarray:
        """float32 ``(len(queries), key)``: the full rows of these queries."""
        self._record(layer)
        self._head(head)
        return self._weights(layer, head, self._selection(queries, self.num_queries, "query"), slice(0, self.num_keys))

    def columns(self, layer: int, head: int, keys: Indices) -> np.ndarray:
        """float32 ``(query, len(keys))``: how much every query gives these keys."""
        self._record(layer)
        self._head(head)
        return self._weights(layer, head, slice(0, self.num_queries), self._selection(keys, self.num_keys, "key"))

    def tile(self, layer: int, head: int, q0: int, q1: int, k0: int, k1: int, pool: int = 1) -> np.ndarray:
        """float32 block ``[q0:q1, k0:k1]``, max-pooled in ``pool × pool`` blocks (partial at the edges).

        Shape ``(ceil((q1 - q0) / pool), ceil((k1 - k0) / pool))``.
        """
        self._record(layer)
        self._head(head)
        self._span(q0, q1, self.num_queries, "query")
        self._span(k0, k1, self.num_keys, "key")
        if isinstance(pool, bool) or not isinstance(pool, (int, np.integer)) or pool < 1:
            raise InputError(f"pool must be a positive integer, got {pool!r}")
        return self._weights(layer, head, slice(int(q0), int(q1)), slice(int(k0), int(k1)), int(pool))

    def layer(self, layer: int) -> np.ndarray:
        """float32 ``(heads, query, key)``: every head of one layer, dense (for short inputs)."""
        self._record(layer)
        return np.stack([self.matrix(layer, head) for head in range(self.num_heads)])

    def thumbnails(self, size: int = THUMBNAIL_SIZE) -> np.ndarray:
        """float32 ``(layers, heads, tq, tk)`` block max-pools of every head, ``tq = min(query, size)``.

        Blocks start at :func:`attnviz_widget.wire.block_edges`, as :func:`attnviz_widget.wire.max_pool`
        pools a dense matrix, so each cell is the largest exact weight in its block. One pass per
        layer, which also leaves that layer's normalisers cached.
        """
        size = self._size(size)
        if size not in self._thumbnails:
            edges = (block_edges(self.num_queries, size), block_edges(self.num_keys, size))
            layers = [self._scan_thumbnails(record, edges) for record in self._records.values()]
            self._thumbnails[size] = np.stack(layers).astype(np.float32, copy=False)
        return self._thumbnails[size].copy()

    def _scan_thumbnails(self, record: LayerRecord, edges: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        known = None if record.row_max is None or record.row_sum is None else (record.row_max, record.row_sum)
        row_max, row_sum, thumbs = compute.scan(record, self.block_bytes, edges, known)
        record.row_max, record.row_sum = row_max, row_sum
        assert thumbs is not None
        return thumbs.cpu().numpy().astype(np.float32, copy=False)

    def layer_thumbnails(self, layer: int, size: int = THUMBNAIL_SIZE) -> np.ndarray:
        """float32 ``(heads, tq, tk)`` thumbnails of one layer (for painting layer by layer)."""
        record = self._record(layer)
        size = self._size(size)
        if size in self._thumbnails:
            return self._thumbnails[size][self.layer_indices.index(int(layer))].copy()
        edges = (block_edges(self.num_queries, size), block_edges(self.num_keys, size))
        return self._scan_thumbnails(record, edges)

    @property
    def nbytes(self) -> int:
        """Bytes held: queries, keys, normalisers, and each distinct mask and bias once."""
        total = sum(record.own_nbytes() for record in self._records.values())
        masks = {id(record.mask): record.mask.nbytes for record in self._records.values()}
        biases = {id(record.bias): record.bias.numel() * record.bias.element_size()
                  for record in self._records.values() if record.bias is not None}
        return total + sum(masks.values()) + sum(biases.values())

    # ---- files ------------------------------------------------------------------------
    def to_tensors(self) -> dict[str, np.ndarray]:
        """Everything needed to recompute the weights without the model, as host numpy arrays."""
        from .serial import stack_tensors

        for record in self._records.values():
            self._normalised(record)
        return stack_tensors(self._records)[0]

    def metadata(self) -> dict[str, str]:
        """String metadata that goes with :meth:`to_tensors` (format version, scalars, mask shapes)."""
        from .serial import stack_tensors

        return stack_tensors(self._records)[1]

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str],
                     device: str | torch.device = "cpu", *,
                     block_bytes: int = compute.DEFAULT_BLOCK_BYTES) -> LazyStack:
        """Reopen a stack saved with :meth:`to_tensors` and :meth:`metadata`, on ``device``."""
        from .serial import records_from

        return cls(records_from(tensors, metadata, torch.device(device)), block_bytes=block_bytes)
