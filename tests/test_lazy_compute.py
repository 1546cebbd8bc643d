"""The chunked arithmetic and the compact masks, against a dense eager-style reference.

Records are built directly (random queries and keys), so every mask shape, score modifier and
chunk size is covered, down to budgets that force one row and a few keys per step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from attnviz_widget.lazy import compute  # noqa: E402
from attnviz_widget.lazy.masks import MaskSpec, describe, from_tensor  # noqa: E402
from attnviz_widget.lazy.records import LayerRecord  # noqa: E402
from attnviz_widget.wire import block_edges, max_pool  # noqa: E402

#: tiny matmuls on one torch thread (bit-identical reruns, no OpenMP hand-offs): tests/conftest.py
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOL = 1e-5


def make_record(
    queries: int = 37, keys: int | None = None, heads: int = 4, kv_heads: int = 2, dim: int = 8, *,
    mask: MaskSpec | None = None, bias: str | None = None, softcap: float | None = None, sinks: bool = False,
    dtype: Any = None, seed: int = 0,
) -> LayerRecord:
    generator = torch.Generator().manual_seed(seed)
    keys = queries if keys is None else keys
    dtype = dtype or torch.float32
    query = (torch.randn(heads, queries, dim, generator=generator) * 2).to(dtype)
    key = (torch.randn(kv_heads, keys, dim, generator=generator) * 2).to(dtype)
    extra = None
    if bias is not None:
        extra = torch.randn(heads if bias == "per-head" else 1, queries, keys, generator=generator).to(dtype)
    return LayerRecord(
        query=query, key=key, scaling=dim**-0.5, mask=mask or MaskSpec(), bias=extra, softcap=softcap,
        sinks=torch.randn(heads, generator=generator) if sinks else None,
    )


def reference(record: LayerRecord) -> torch.Tensor:
    """Eager attention's weights: model-dtype scores, softcap, bias, additive min-dtype mask, float32 softmax."""
    keys = record.key.repeat_interleave(record.group, dim=0)
    s = torch.matmul(record.query, keys.transpose(1, 2)) * record.scaling
    if record.softcap is not None:
        s = torch.tanh(s / record.softcap) * record.softcap
    if record.bias is not None:
        s = s + record.bias
    q_idx, k_idx = torch.arange(record.num_queries), torch.arange(record.num_keys)
    visible = record.mask.visible(q_idx, k_idx)
    if record.mask.additive is not None:
        s = s + record.mask.additive
    if visible is not None:
        s = s + torch.where(visible, 0.0, torch.finfo(s.dtype).min).to(s.dtype)
    if record.sinks is not None:
        sink = record.sinks.to(s.dtype)[:, None, None].expand(-1, record.num_queries, 1)
        return torch.softmax(torch.cat([s, sink], dim=-1), dim=-1, dtype=torch.float32)[..., :-1]
    return torch.softmax(s, dim=-1, dtype=torch.float32)


def computed(record: LayerRecord, budget: int = compute.DEFAULT_BLOCK_BYTES,
             size: int = 64) -> tuple[torch.Tensor, Any]:
    edges = (block_edges(record.num_queries, size), block_edges(record.num_keys, size))
    record.row_max, record.row_sum, thumbs = compute.scan(record, budget, edges)
    everything = compute.weights(record, slice(0, record.num_heads), slice(0, record.num_queries),
                                 slice(0, record.num_keys))
    return everything, thumbs


PADDING = torch.tensor([True] * 30 + [False] * 7)
MASKS = {
    "none": MaskSpec(),
    "causal": MaskSpec(causal=True),
    "causal+padding": MaskSpec(causal=True, key_padding=PADDING),
    "window": MaskSpec(causal=True, window=5),
    "window+padding": MaskSpec(causal=True, window=5, key_padding=PADDING),
    "left padding (empty rows)": MaskSpec(causal=True, key_padding=PADDING.flip(0)),
    "bidirectional window": MaskSpec(bidirectional_window=4, key_padding=PADDING),
    "offsets": MaskSpec(causal=True, q_offset=3, kv_offset=1),
    "dense": MaskSpec(dense=torch.rand(37, 37, generator=torch.Generator().manual_seed(2)) > 0.3),
    "additive": MaskSpec(additive=torch.randn(37, 37, generator=torch.Generator().manual_seed(3))),
}


@pytest.mark.parametrize("mask", sorted(MASKS))
@pytest.mark.parametrize("budget", [compute.DEFAULT_BLOCK_BYTES, 2048, 300])
def test_weights_and_thumbnails_equal_the_dense_reference(mask: str, budget: int) -> None:
    record = make_record(mask=MASKS[mask])
    expected = reference(record)
    weights, thumbs = computed(record, budget, size=8)
    np.testing.assert_allclose(weights.numpy(), expected.numpy(), atol=TOL, rtol=0)
    np.testing.assert_allclose(thumbs.numpy(), max_pool(expected.numpy(), 8), atol=TOL, rtol=0)


@pytest.mark.parametrize("options", [
    {"softcap": 1.5}, {"bias": "per-head"}, {"bias": "shared"}, {"sinks": True},
    {"kv_heads": 1, "heads": 4}, {"kv_heads": 4, "heads": 4}, {"keys": 23}, {"queries": 1, "keys": 40},
], ids=str)
def test_score_modifiers_and_shapes(options: dict[str, Any]) -> None:
    padding = torch.ones(options.get("keys", options.get("queries", 37)), dtype=torch.bool)
    padding[-3:] = False
    record = make_record(mask=MaskSpec(key_padding=padding), **options)
    expected = reference(record)
    for budget in (compute.DEFAULT_BLOCK_BYTES, 500):
        weights, thumbs = computed(record, budget, size=6)
        np.testing.assert_allclose(weights.numpy(), expected.numpy(), atol=TOL, rtol=0)
        np.testing.assert_allclose(thumbs.numpy(), max_pool(expected.numpy(), 6), atol=TOL, rtol=0)


def test_bfloat16_scores_are_rounded_as_the_model_rounds_them() -> None:
    record = make_record(mask=MaskSpec(causal=True), dtype=torch.bfloat16, softcap=3.0)
    weights, _ = computed(record, 1000)
    np.testing.assert_allclose(weights.numpy(), reference(record).numpy(), atol=TOL, rtol=0)


def test_normalisers_are_the_log_sum_exp_of_the_visible_scores() -> None:
    record = make_record(mask=MaskSpec(causal=True, window=6, key_padding=PADDING))
    row_max, row_sum, thumbs = compute.scan(record, 700)
    assert thumbs is None
    keys = record.key.repeat_interleave(record.group, dim=0)
    s = torch.matmul(record.query, keys.transpose(1, 2)) * record.scaling
    visible = record.mask.visible(torch.arange(37), torch.arange(37))
    expected = torch.logsumexp(s.masked_fill(~visible, -math.inf), dim=-1)
    np.testing.assert_allclose((row_max + torch.log(row_sum)).numpy(), expected.numpy(), atol=1e-5)


def test_rows_and_columns_by_index_equal_the_reference() -> None:
    record = make_record(mask=MaskSpec(causal=True, window=9, key_padding=PADDING))
    expected = reference(record)
    computed(record)
    picked = torch.tensor([36, 0, 17, 17, 5])
    rows = compute.weights(record, torch.tensor([3, 1]), picked, slice(0, 37))
    np.testing.assert_allclose(rows.numpy(), expected[[3, 1]][:, picked].numpy(), atol=TOL, rtol=0)
    cols = compute.weights(record, slice(2, 3), slice(0, 37), picked)
    np.testing.assert_allclose(cols.numpy(), expected[2:3, :, picked].numpy(), atol=TOL, rtol=0)


@pytest.mark.parametrize("heads,rows,keys,budget", [(8, 4096, 4096, 64 * 2**20), (32, 32768, 32768, 64 * 2**20),
                                                     (4, 10, 10, 100), (64, 5, 100000, 2**20)])
def test_plan_stays_within_the_budget(heads: int, rows: int, keys: int, budget: int) -> None:
    row_chunk, key_chunk = compute.plan(heads, rows, keys, budget)
    assert 1 <= row_chunk <= rows and 1 <= key_chunk <= keys
    if heads * compute.BYTES_PER_SCORE <= budget:
        assert heads * row_chunk * key_chunk * compute.BYTES_PER_SCORE <= budget


@pytest.mark.parametrize("mask", sorted(set(MASKS) - {"dense", "additive"}))
def test_key_bounds_and_open_blocks_agree_with_the_mask(mask: str) -> None:
    spec = MASKS[mask]
    full = spec.visible(torch.arange(37), torch.arange(37))
    full = torch.ones(37, 37, dtype=torch.bool) if full is None else full
    for q0 in range(0, 37, 6):
        for q1 in (q0 + 1, min(37, q0 + 7)):
            lo, hi = spec.key_bounds(q0, q1, 37)
            outside = torch.ones(37, dtype=torch.bool)
            outside[lo:hi] = False
            assert not full[q0:q1, outside].any()
            for k0 in range(0, 37, 5):
                k1 = min(37, k0 + 5)
                if spec.block_is_open(q0, q1, k0, k1):
                    assert full[q0:q1, k0:k1].all()


def transformers_mask(mask_function: Any, padding: torch.Tensor | None, q_length: int, kv_length: int,
                      q_offset: int = 0, kv_offset: int = 0) -> torch.Tensor:
    from transformers.masking_utils import sdpa_mask

    return sdpa_mask(batch_size=1, q_length=q_length, kv_length=kv_length, q_offset=q_offset, kv_offset=kv_offset,
                     mask_function=mask_function, attention_mask=padding, allow_is_causal_skip=False)[0, 0]


@pytest.mark.parametrize("kind", ["causal", "bidirectional", "sliding", "sliding bidirectional"])
@pytest.mark.parametrize("padded", [False, True])
def test_described_masks_equal_what_transformers_builds(kind: str, padded: bool) -> None:
    mu = pytest.importorskip("transformers.masking_utils")
    function = {
        "causal": mu.causal_mask_function,
        "bidirectional": mu.bidirectional_mask_function,
        "sliding": mu.sliding_window_causal_mask_function(4),
        "sliding bidirectional": mu.sliding_window_bidirectional_mask_function(3),
    }[kind]
    padding = torch.ones(1, 20, dtype=torch.bool)
    if padded:
        padding[0, :2] = False
        padding[0, 15:] = False
    for q_length, kv_length, q_offset, kv_offset in [(20, 20, 0, 0), (6, 18, 12, 2), (1, 20, 19, 0)]:
        spec = describe(function, padding, q_length, kv_length, q_offset, kv_offset)
        assert spec is not None
        expected = transformers_mask(function, padding, q_length, kv_length, q_offset, kv_offset)
        seen = spec.visible(torch.arange(q_length), torch.arange(kv_length))
        seen = torch.ones_like(expected) if seen is None else seen
        assert torch.equal(seen, expected), (q_length, kv_length, q_offset, kv_offset)


def test_unreadable_mask_functions_are_not_described() -> None:
    mu = pytest.importorskip("transformers.masking_utils")
    chunked = mu.chunked_causal_mask_function(4, torch.zeros(1, dtype=torch.long))
    assert describe(chunked, None, 10, 10) is None
    assert describe(lambda b, h, q, k: q >= k, None, 10, 10) is None


def test_a_mask_kept_as_a_tensor_stays_exact() -> None:
    boolean = torch.rand(1, 1, 9, 9) > 0.5
    spec = from_tensor(boolean)
    assert torch.equal(spec.visible(torch.arange(9), torch.arange(9)), boolean[0, 0])
    additive = torch.randn(1, 1, 9, 9)
    assert torch.equal(from_tensor(additive).additive_block(torch.arange(9), torch.arange(9)), additive[0, 0])
