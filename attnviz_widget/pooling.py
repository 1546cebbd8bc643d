"""Block max-pooling of attention matrices: thumbnails and zoomed-out tiles. numpy only.

Max rather than mean, so a sharp pattern (a diagonal, one strong column) stays visible
at any zoom. The thumbnail blocks start at :func:`block_edges`; the frontend hit-tests
thumbnails with the same edges.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Thumbnails have at most this many cells a side, whatever the sequence length.
THUMBNAIL_SIZE = 64


def block_edges(length: int, cells: int) -> np.ndarray:
    """Start index of each of ``min(length, cells)`` nearly equal blocks of ``range(length)``."""
    count = min(length, cells)
    return np.floor(np.arange(count) * (length / count)).astype(np.intp)


def _block_max(matrices: np.ndarray, axis: int, cells: int) -> np.ndarray:
    """Max over the blocks of :func:`block_edges` along ``axis``.

    Loops over the offset within a block (at most a few dozen) instead of over blocks,
    so each step is one vectorised pass; the query axis goes first, which keeps the
    reads row-contiguous and shrinks the array 8× for the key axis at 512 tokens.
    """
    length = matrices.shape[axis]
    starts = block_edges(length, cells)
    ends = np.append(starts[1:], length)
    pooled = np.take(matrices, starts, axis=axis)
    for offset in range(1, int((ends - starts).max())):
        rows = starts + offset
        inside = np.flatnonzero(rows < ends)
        if len(inside) == len(starts):
            np.maximum(pooled, np.take(matrices, rows, axis=axis), out=pooled)
        else:
            target: list[Any] = [slice(None)] * matrices.ndim
            target[axis] = inside
            pooled[tuple(target)] = np.maximum(pooled[tuple(target)], np.take(matrices, rows[inside], axis=axis))
    return pooled


def max_pool(matrices: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Block max-pool the last two axes to at most ``size`` × ``size``.

    ``(..., query, key)`` -> ``(..., min(query, size), min(key, size))``, blocks starting
    at :func:`block_edges`.
    """
    return _block_max(_block_max(matrices, -2, size), -1, size)


def pool_by(block: np.ndarray, pool: int) -> np.ndarray:
    """Max over ``pool`` × ``pool`` blocks of a ``(rows, cols)`` matrix, from its top-left corner.

    ``(rows, cols)`` -> ``(ceil(rows / pool), ceil(cols / pool))``; the last blocks are the
    partial ones at the bottom and right edges. ``pool=1`` returns the block itself.
    """
    if pool == 1:
        return block
    rows, cols = block.shape
    pooled = np.maximum.reduceat(block, np.arange(0, rows, pool), axis=0)
    return np.maximum.reduceat(pooled, np.arange(0, cols, pool), axis=1)
