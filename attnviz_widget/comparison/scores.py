"""How much one head's attention changed between two runs: Jensen–Shannon and total variation.

For each aligned query row, both sides' attention is restricted to the keys present on
both sides (padding and gap columns never enter) and renormalised to sum to 1 there.
Then, per row,

- the Jensen–Shannon divergence ``JS(p, q) = (KL(p || m) + KL(q || m)) / 2`` with
  ``m = (p + q) / 2`` and ``KL`` in bits, so it lies in ``[0, 1]``;
- the total-variation distance ``TV(p, q) = Σ |p − q| / 2``, also in ``[0, 1]``.

A head's score is the mean over its aligned query rows. Rows with no attention on the
shared keys on either side (a causal first token whose only key is a gap) have no
distribution to compare and are left out of the mean; a head without any such row
scores NaN.

Both formulas are computed so that swapping A and B gives bitwise the same numbers and
identical rows give exactly 0: every sum is taken in the same order for either side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRICS: tuple[str, ...] = ("js", "tv")
METRIC_NAMES = {"js": "Jensen–Shannon divergence (bits)", "tv": "total-variation distance"}
#: Smallest normal float32. Probabilities are clipped to it, so ``p log2(p / m)`` needs no
#: masked (slow) log at ``p = 0``: the term becomes ``1e-38 × log2(...)``, under 1e-35.
_TINY = np.float32(np.finfo(np.float32).tiny)
#: Rows per block: a block and its work buffers stay in the CPU cache between passes.
BLOCK_ROWS = 512


class _Buffers:
    """Reusable float32 work arrays for blocks of up to ``rows`` rows of ``keys`` keys."""

    def __init__(self, rows: int, keys: int) -> None:
        self.p, self.q, self.m, self.work = (np.empty((rows, keys), dtype=np.float32) for _ in range(4))

    def view(self, rows: int) -> tuple[np.ndarray, ...]:
        return self.p[:rows], self.q[:rows], self.m[:rows], self.work[:rows]


def _row_dot(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``Σ_k left[i, k] right[i, k]`` for each row ``i``: float64 ``(rows,)`` (one fused float32 pass)."""
    return np.einsum("ij,ij->i", left, right).astype(np.float64)


def _normalise(rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``rows`` divided by their sums into ``out``, clipped at :data:`_TINY`; whether each row had mass."""
    sums = rows.sum(axis=-1)
    has_mass = sums > 0
    np.divide(rows, np.where(has_mass, sums, np.float32(1.0))[:, None], out=out)
    np.maximum(out, _TINY, out=out)
    return has_mass


def _block_scores(a_rows: np.ndarray, b_rows: np.ndarray, buffers: _Buffers) -> tuple[np.ndarray, np.ndarray]:
    """JS (bits) and TV of each row pair of one block ``(rows, keys)``; NaN where a row has no mass.

    ``JS = (Σ p log2(p/m) + Σ q log2(q/m)) / 2`` with ``m = (p + q) / 2``: the Kullback–Leibler
    form, which stays accurate for nearly equal rows and is exactly 0 for equal ones
    (``p / m = 1``). Every step treats A and B alike, so swapping them changes no bit.
    """
    p, q, m, work = buffers.view(len(a_rows))
    valid = _normalise(a_rows, p) & _normalise(b_rows, q)
    np.subtract(p, q, out=work)
    np.abs(work, out=work)
    tv = work.sum(axis=-1).astype(np.float64) * 0.5
    np.add(p, q, out=m)
    m *= np.float32(0.5)
    kl = []
    for side in (p, q):
        np.divide(side, m, out=work)
        np.log2(work, out=work)
        kl.append(_row_dot(side, work))
    js = (kl[0] + kl[1]) * 0.5
    return (np.where(valid, np.clip(js, 0.0, 1.0), np.nan), np.where(valid, np.clip(tv, 0.0, 1.0), np.nan))


def row_scores(a_rows: np.ndarray, b_rows: np.ndarray) -> dict[str, np.ndarray]:
    """JS divergence and TV distance of each pair of rows, renormalised over their keys.

    Args:
        a_rows, b_rows: non-negative attention, the same shape ``(..., keys)``, holding
            only the keys shared by both sides.

    Returns:
        ``{"js": float64 (...,), "tv": float64 (...,)}``; NaN for rows where either side
        has no attention on these keys.
    """
    a_rows, b_rows = np.asarray(a_rows, dtype=np.float32), np.asarray(b_rows, dtype=np.float32)
    if a_rows.shape != b_rows.shape:
        raise ValueError(f"rows of different shapes: {a_rows.shape} and {b_rows.shape}")
    shape, keys = a_rows.shape[:-1], a_rows.shape[-1]
    flat_a, flat_b = a_rows.reshape(-1, keys), b_rows.reshape(-1, keys)
    count = flat_a.shape[0]
    js, tv = np.empty(count), np.empty(count)
    buffers = _Buffers(min(BLOCK_ROWS, max(count, 1)), keys)
    for start in range(0, count, BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        js[block], tv[block] = _block_scores(flat_a[block], flat_b[block], buffers)
    return {"js": js.reshape(shape), "tv": tv.reshape(shape)}


def mean_rows(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis, ignoring NaN rows; NaN where every row is NaN."""
    counts = np.sum(~np.isnan(values), axis=-1)
    sums = np.nansum(values, axis=-1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


class _Selector:
    """``matrix[rows[block]][:, keys]`` of one side, gathered into reused buffers.

    ``np.take`` with ``out=`` into preallocated arrays is 2–3× faster than fancy indexing
    with ``np.ix_``; when the rows or keys are a whole axis the gather is skipped.
    """

    def __init__(self, rows: np.ndarray, keys: np.ndarray, shape: tuple[int, int]) -> None:
        self.rows, self.keys = rows, keys
        self.whole_rows = len(rows) == shape[0] and bool(np.array_equal(rows, np.arange(shape[0])))
        self.whole_keys = len(keys) == shape[1] and bool(np.array_equal(keys, np.arange(shape[1])))
        block = min(BLOCK_ROWS, len(rows))
        self.gathered = None if self.whole_rows else np.empty((block, shape[1]), dtype=np.float32)
        self.selected = None if self.whole_keys else np.empty((block, len(keys)), dtype=np.float32)

    def block(self, matrix: np.ndarray, start: int) -> np.ndarray:
        """Rows ``start : start + BLOCK_ROWS`` of the selection, float32 ``(block, len(keys))``."""
        rows = self.rows[start: start + BLOCK_ROWS]
        if self.whole_rows:
            picked = matrix[start: start + len(rows)]
        else:
            assert self.gathered is not None
            picked = np.take(matrix, rows, axis=0, out=self.gathered[: len(rows)])
        if self.whole_keys:
            return picked
        assert self.selected is not None
        return np.take(picked, self.keys, axis=1, out=self.selected[: len(rows)])


def head_scores(
    a_attentions: np.ndarray,
    b_attentions: np.ndarray,
    layer_pairs: Sequence[tuple[int, int]],
    rows: tuple[np.ndarray, np.ndarray],
    keys: tuple[np.ndarray, np.ndarray],
) -> dict[str, np.ndarray]:
    """Every metric for every head: the mean over aligned rows of :func:`row_scores`.

    Args:
        a_attentions, b_attentions: ``(layers, heads, query, key)`` of each side.
        layer_pairs: ``(a_position, b_position)`` along the first axes, one per compared layer.
        rows: the aligned query rows of A and of B (equal length, paired in order).
        keys: the aligned keys of A and of B (equal length, paired in order).

    Returns:
        ``{"js": float64 (layers, heads), "tv": float64 (layers, heads)}``.
    """
    heads = a_attentions.shape[1]
    scores = {metric: np.full((len(layer_pairs), heads), np.nan) for metric in METRICS}
    if len(rows[0]) == 0 or len(keys[0]) == 0:
        return scores
    select_a = _Selector(rows[0], keys[0], a_attentions.shape[2:])
    select_b = _Selector(rows[1], keys[1], b_attentions.shape[2:])
    buffers = _Buffers(min(BLOCK_ROWS, len(rows[0])), len(keys[0]))
    js, tv = np.empty(len(rows[0])), np.empty(len(rows[0]))
    for index, (a_position, b_position) in enumerate(layer_pairs):
        for head in range(heads):
            a_matrix, b_matrix = a_attentions[a_position, head], b_attentions[b_position, head]
            for start in range(0, len(rows[0]), BLOCK_ROWS):
                block = slice(start, start + BLOCK_ROWS)
                js[block], tv[block] = _block_scores(
                    select_a.block(a_matrix, start), select_b.block(b_matrix, start), buffers
                )
            scores["js"][index, head] = mean_rows(js[None])[0]
            scores["tv"][index, head] = mean_rows(tv[None])[0]
    return scores
