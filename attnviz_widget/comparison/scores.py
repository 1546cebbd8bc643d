"""How much one head's attention changed between two runs: Jensen–Shannon and total variation.

For each aligned query row, both sides' attention is restricted to the keys present on
both sides (padding and gap columns never enter) and renormalised to sum to 1 there.
Then, per row,

- the Jensen–Shannon divergence ``JS(p, q) = H(m) − (H(p) + H(q)) / 2`` with
  ``m = (p + q) / 2`` and ``H`` the entropy in bits, so it lies in ``[0, 1]``;
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
#: Smallest normal float32: ``x * log2(max(x, TINY))`` is exactly 0 at ``x = 0`` and
#: differs from ``x log2 x`` by under 1e-36 below it, without a masked (slow) log.
_TINY = np.float32(np.finfo(np.float32).tiny)


def _neg_entropy(rows: np.ndarray) -> np.ndarray:
    """``Σ x log2 x`` over the last axis: float64 ``(...,)`` of float32 ``(..., keys)``."""
    work = np.maximum(rows, _TINY)
    np.log2(work, out=work)
    work *= rows
    return work.sum(axis=-1, dtype=np.float64)


def _renormalised(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows divided by their sums (in place on a float32 copy) and whether each had mass."""
    values = np.array(rows, dtype=np.float32, copy=True)
    sums = values.sum(axis=-1, dtype=np.float64)
    has_mass = sums > 0
    np.divide(values, np.where(has_mass, sums, 1.0).astype(np.float32)[..., None], out=values)
    return values, has_mass


def row_scores(a_rows: np.ndarray, b_rows: np.ndarray) -> dict[str, np.ndarray]:
    """JS divergence and TV distance of each pair of rows, renormalised over their keys.

    Args:
        a_rows, b_rows: non-negative attention, the same shape ``(..., keys)``, holding
            only the keys shared by both sides.

    Returns:
        ``{"js": float64 (...,), "tv": float64 (...,)}``; NaN for rows where either side
        has no attention on these keys.
    """
    p, p_mass = _renormalised(a_rows)
    q, q_mass = _renormalised(b_rows)
    if p.shape != q.shape:
        raise ValueError(f"rows of different shapes: {p.shape} and {q.shape}")
    valid = p_mass & q_mass
    tv = np.abs(p - q).sum(axis=-1, dtype=np.float64) * 0.5
    middle = p + q
    middle *= np.float32(0.5)
    js = (_neg_entropy(p) + _neg_entropy(q)) * 0.5 - _neg_entropy(middle)
    return {
        "js": np.where(valid, np.clip(js, 0.0, 1.0), np.nan),
        "tv": np.where(valid, np.clip(tv, 0.0, 1.0), np.nan),
    }


def mean_rows(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis, ignoring NaN rows; NaN where every row is NaN."""
    counts = np.sum(~np.isnan(values), axis=-1)
    sums = np.nansum(values, axis=-1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _select(stack: np.ndarray, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``stack[:, rows][:, :, keys]`` of a ``(heads, query, key)`` stack, one copy, no copy of whole axes."""
    whole_rows = len(rows) == stack.shape[1] and np.array_equal(rows, np.arange(stack.shape[1]))
    whole_keys = len(keys) == stack.shape[2] and np.array_equal(keys, np.arange(stack.shape[2]))
    if whole_rows and whole_keys:
        return stack
    if whole_keys:
        return stack[:, rows]
    if whole_rows:
        return stack[:, :, keys]
    return stack[np.ix_(np.arange(stack.shape[0]), rows, keys)]


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
    for index, (a_position, b_position) in enumerate(layer_pairs):
        per_row = row_scores(
            _select(a_attentions[a_position], rows[0], keys[0]),
            _select(b_attentions[b_position], rows[1], keys[1]),
        )
        for metric in METRICS:
            scores[metric][index] = mean_rows(per_row[metric])
    return scores
