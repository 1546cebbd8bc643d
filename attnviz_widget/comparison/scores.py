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

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

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
        #: :data:`_TINY` in every cell: ``np.maximum`` against an array is ~2× faster than against a scalar.
        self.tiny = np.full((rows, keys), _TINY, dtype=np.float32)

    def view(self, rows: int) -> tuple[np.ndarray, ...]:
        return self.p[:rows], self.q[:rows], self.m[:rows], self.work[:rows], self.tiny[:rows]


def _row_dot(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``Σ_k left[i, k] right[i, k]`` for each row ``i``: float64 ``(rows,)`` (one fused float32 pass)."""
    return np.einsum("ij,ij->i", left, right).astype(np.float64)


def _normalise(rows: np.ndarray, out: np.ndarray, tiny: np.ndarray) -> np.ndarray:
    """``rows`` divided by their sums into ``out``, clipped at ``tiny`` (:data:`_TINY` in every
    cell, ``out``'s shape); whether each row had mass."""
    sums = rows.sum(axis=-1)
    has_mass = sums > 0
    np.divide(rows, np.where(has_mass, sums, np.float32(1.0))[:, None], out=out)
    np.maximum(out, tiny, out=out)
    return has_mass


def _block_scores(a_rows: np.ndarray, b_rows: np.ndarray, buffers: _Buffers) -> tuple[np.ndarray, np.ndarray]:
    """JS (bits) and TV of each row pair of one block ``(rows, keys)``; NaN where a row has no mass.

    ``JS = (Σ p log2(p/m) + Σ q log2(q/m)) / 2`` with ``m = (p + q) / 2``: the Kullback–Leibler
    form, which stays accurate for nearly equal rows and is exactly 0 for equal ones
    (``p / m = 1``). Every step treats A and B alike, so swapping them changes no bit.
    """
    p, q, m, work, tiny = buffers.view(len(a_rows))
    valid = _normalise(a_rows, p, tiny) & _normalise(b_rows, q, tiny)
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


#: Past this many contiguous runs per block an index gather is one ``np.take`` instead of slice copies.
MAX_RUNS = 64


def _runs(indices: np.ndarray) -> list[tuple[int, int, int]]:
    """``(target, source, length)`` of each run of consecutive indices: ``indices[target:target+length]``
    is ``source, source+1, ...``. An alignment with ``g`` gaps has about ``g + 1`` runs."""
    if len(indices) == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.append(breaks, len(indices))
    return [(int(s), int(indices[s]), int(e - s)) for s, e in zip(starts, ends)]


class _Selector:
    """``matrix[rows[block]][:, keys]`` of one side, by blocks of :data:`BLOCK_ROWS` rows.

    The aligned rows and keys are a few runs of consecutive positions (one more run per
    gap), so the gather is a few slice copies (memcpy speed) into buffers of its own;
    a single run is a view without a copy. Indices with more than :data:`MAX_RUNS` runs
    fall back to ``np.take``. Each thread scoring heads has its own selector.
    """

    def __init__(self, rows: np.ndarray, keys: np.ndarray, shape: tuple[int, int]) -> None:
        self.rows, self.keys = rows, keys
        self.row_runs = [_runs(rows[s: s + BLOCK_ROWS]) for s in range(0, len(rows), BLOCK_ROWS)]
        self.key_runs = _runs(keys)
        self.whole_keys = len(keys) == shape[1] and len(self.key_runs) == 1 and self.key_runs[0][1] == 0
        block = min(BLOCK_ROWS, len(rows))
        gathers = any(len(runs) > 1 for runs in self.row_runs)
        self.gathered = np.empty((block, shape[1]), dtype=np.float32) if gathers else None
        self.selected = None if self.whole_keys else np.empty((block, len(keys)), dtype=np.float32)

    def block(self, matrix: np.ndarray, start: int) -> np.ndarray:
        """Rows ``start : start + BLOCK_ROWS`` of the selection, float32 ``(block, len(keys))``."""
        runs = self.row_runs[start // BLOCK_ROWS]
        count = sum(length for _, _, length in runs)
        if len(runs) == 1:
            picked = matrix[runs[0][1]: runs[0][1] + count]
        else:
            assert self.gathered is not None
            picked = self.gathered[:count]
            if len(runs) > MAX_RUNS:
                np.take(matrix, self.rows[start: start + count], axis=0, out=picked)
            else:
                for target, source, length in runs:
                    picked[target: target + length] = matrix[source: source + length]
        if self.whole_keys:
            return picked
        assert self.selected is not None
        selected = self.selected[:count]
        if len(self.key_runs) > MAX_RUNS:
            return np.take(picked, self.keys, axis=1, out=selected)
        for target, source, length in self.key_runs:
            selected[:, target: target + length] = picked[:, source: source + length]
        return selected


def default_workers() -> int:
    """Threads for :func:`head_scores`: the CPUs this process may use, at most 4 (numpy
    releases the GIL in every pass, so heads are scored in parallel)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        count = os.cpu_count() or 1
    return max(1, min(4, count))


def _score_heads(
    a_attentions: np.ndarray,
    b_attentions: np.ndarray,
    jobs: Sequence[tuple[int, int, int, int]],
    rows: tuple[np.ndarray, np.ndarray],
    keys: tuple[np.ndarray, np.ndarray],
    scores: dict[str, np.ndarray],
) -> None:
    """Score each ``(index, head, a_position, b_position)`` of ``jobs`` into ``scores[metric][index, head]``."""
    select_a = _Selector(rows[0], keys[0], a_attentions.shape[2:])
    select_b = _Selector(rows[1], keys[1], b_attentions.shape[2:])
    buffers = _Buffers(min(BLOCK_ROWS, len(rows[0])), len(keys[0]))
    js, tv = np.empty(len(rows[0])), np.empty(len(rows[0]))
    for index, head, a_position, b_position in jobs:
        a_matrix, b_matrix = a_attentions[a_position, head], b_attentions[b_position, head]
        for start in range(0, len(rows[0]), BLOCK_ROWS):
            block = slice(start, start + BLOCK_ROWS)
            a_rows, b_rows = select_a.block(a_matrix, start), select_b.block(b_matrix, start)
            js[block], tv[block] = _block_scores(a_rows, b_rows, buffers)
        scores["js"][index, head] = mean_rows(js[None])[0]
        scores["tv"][index, head] = mean_rows(tv[None])[0]


def head_scores(
    a_attentions: np.ndarray,
    b_attentions: np.ndarray,
    layer_pairs: Sequence[tuple[int, int]],
    rows: tuple[np.ndarray, np.ndarray],
    keys: tuple[np.ndarray, np.ndarray],
    *,
    workers: int | None = None,
) -> dict[str, np.ndarray]:
    """Every metric for every head: the mean over aligned rows of :func:`row_scores`.

    Args:
        a_attentions, b_attentions: ``(layers, heads, query, key)`` of each side.
        layer_pairs: ``(a_position, b_position)`` along the first axes, one per compared layer.
        rows: the aligned query rows of A and of B (equal length, paired in order).
        keys: the aligned keys of A and of B (equal length, paired in order).
        workers: threads scoring heads in parallel (default :func:`default_workers`); the
            numbers do not depend on it, every head is scored by the same passes.

    Returns:
        ``{"js": float64 (layers, heads), "tv": float64 (layers, heads)}``.
    """
    heads = a_attentions.shape[1]
    scores = {metric: np.full((len(layer_pairs), heads), np.nan) for metric in METRICS}
    if len(rows[0]) == 0 or len(keys[0]) == 0:
        return scores
    jobs = [(index, head, a, b) for index, (a, b) in enumerate(layer_pairs) for head in range(heads)]
    workers = max(1, min(default_workers() if workers is None else int(workers), len(jobs)))
    if workers == 1:
        _score_heads(a_attentions, b_attentions, jobs, rows, keys, scores)
        return scores
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="attnviz-scores") as pool:
        futures = [
            pool.submit(_score_heads, a_attentions, b_attentions, jobs[k::workers], rows, keys, scores)
            for k in range(workers)
        ]
        for future in futures:
            future.result()
    return scores
