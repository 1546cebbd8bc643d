"""``LazyAttentions``: a lazy stack seen as the ``(layers, heads, query, key)`` array of AttentionData.

:class:`~attnviz_widget.data.AttentionData` holds either a float32 numpy array or one of
these. Its reading API (``matrix``, ``rows``, ``columns``, ``tile``, ``thumbnails``) asks the
stack for exactly what is read; anything that needs the whole array (a JSON file, a dense
aggregate) gets it through ``numpy.asarray`` only while it fits in the memory budget, and a
one-line :class:`~attnviz_widget.errors.InputError` beyond it, never an out-of-memory crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .stack import LazyStack

#: ``extract(store="auto")`` keeps attention dense up to this many bytes (2 GiB), and
#: materialising lazy attention as one array is refused beyond it.
DEFAULT_MEMORY_BUDGET = 2 * 1024**3


def dense_nbytes(layers: int, heads: int, queries: int, keys: int) -> int:
    """Bytes of a float32 ``(layers, heads, queries, keys)`` array."""
    return 4 * layers * heads * queries * keys


def describe_bytes(count: float) -> str:
    """``1.5 GB``-style text for a byte count."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError  # pragma: no cover


class LazyAttentions:
    """``(layers, heads, query, key)`` float32 attention of some layers of a :class:`LazyStack`.

    Args:
        stack: the recorded stack.
        layers: model layer indices, in the order of the first axis (default: all the stack holds).
        memory_budget: the largest array :meth:`dense` builds, in bytes.
    """

    ndim = 4
    dtype = np.dtype(np.float32)

    def __init__(
        self, stack: LazyStack, layers: Sequence[int] | None = None, *, memory_budget: int = DEFAULT_MEMORY_BUDGET
    ) -> None:
        self.stack = stack
        self.layers = tuple(stack.layer_indices if layers is None else (int(layer) for layer in layers))
        self.memory_budget = int(memory_budget)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.layers), self.stack.num_heads, self.stack.num_queries, self.stack.num_keys)

    @property
    def nbytes(self) -> int:
        """Bytes the dense array would take (what this object avoids holding)."""
        return dense_nbytes(*self.shape)

    @property
    def held_nbytes(self) -> int:
        """Bytes actually held: the stack's queries, keys, masks and normalisers."""
        return int(self.stack.nbytes)

    @property
    def causal(self) -> bool:
        """Whether the first kept layer hides later keys from each query."""
        return bool(self.stack.records[self.layers[0]].mask.causal)

    def __repr__(self) -> str:
        return f"LazyAttentions(shape={self.shape}, held={describe_bytes(self.held_nbytes)})"

    # -- the reading API, by position along the first axis -------------------------------

    def matrix(self, position: int, head: int) -> np.ndarray:
        return self.stack.matrix(self.layers[position], head)

    def rows(self, position: int, head: int, queries: Any) -> np.ndarray:
        return self.stack.rows(self.layers[position], head, queries)

    def columns(self, position: int, head: int, keys: Any) -> np.ndarray:
        return self.stack.columns(self.layers[position], head, keys)

    def tile(self, position: int, head: int, q0: int, q1: int, k0: int, k1: int, pool: int = 1) -> np.ndarray:
        return self.stack.tile(self.layers[position], head, q0, q1, k0, k1, pool)

    def thumbnails(self, size: int) -> np.ndarray:
        """float32 ``(layers, heads, s, s)`` block max-pools, in the order of :attr:`layers`."""
        everything = self.stack.thumbnails(size)
        return everything[[self.stack.layer_indices.index(layer) for layer in self.layers]]

    def select(self, positions: Sequence[int]) -> LazyAttentions:
        """The layers at ``positions`` along the first axis, still lazy."""
        return LazyAttentions(self.stack, [self.layers[p] for p in positions], memory_budget=self.memory_budget)

    # -- as a dense array, within the budget ----------------------------------------------

    def dense(self) -> np.ndarray:
        """float32 ``(layers, heads, query, key)``; a one-line InputError beyond the memory budget."""
        if self.nbytes > self.memory_budget:
            raise InputError(
                f"the full attention of {self.shape[2]:,} tokens would take {describe_bytes(self.nbytes)}, over the "
                f"memory budget of {describe_bytes(self.memory_budget)}; read it with matrix(), rows(), tile() or "
                "thumbnails(), keep fewer layers with layers=, or raise memory_budget="
            )
        return np.stack([self.stack.layer(layer) for layer in self.layers]).astype(np.float32, copy=False)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.dense()
        return array if dtype is None else array.astype(dtype, copy=False)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: Any) -> Any:
        """``[position]`` one layer, ``[position, head]`` one matrix, ``[positions]`` a lazy selection;
        anything else indexes the dense array (within the budget)."""
        if isinstance(key, (int, np.integer)):
            return np.stack([self.matrix(int(key), head) for head in range(self.shape[1])])
        if (
            isinstance(key, tuple) and len(key) == 2
            and all(isinstance(part, (int, np.integer)) for part in key)
        ):
            return self.matrix(int(key[0]), int(key[1]))
        if isinstance(key, list) and all(isinstance(part, (int, np.integer)) for part in key):
            return self.select(key)
        return self.dense()[key]
