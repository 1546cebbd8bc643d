"""LazyStack: index checking, selections, memory accounting and the tensors/metadata round trip."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from attnviz_widget.errors import FormatError, InputError  # noqa: E402
from attnviz_widget.lazy import LazyStack  # noqa: E402
from attnviz_widget.lazy.masks import MaskSpec  # noqa: E402
from attnviz_widget.lazy.records import LayerRecord  # noqa: E402
from attnviz_widget.wire import max_pool  # noqa: E402

#: tiny matmuls on one torch thread (bit-identical reruns, no OpenMP hand-offs): tests/conftest.py
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_stack(*, dtype: Any = torch.float32, bias: bool = False, sinks: bool = False,
               block_bytes: int = 4096) -> LazyStack:
    generator = torch.Generator().manual_seed(0)
    padding = torch.ones(30, dtype=torch.bool)
    padding[26:] = False
    mask = MaskSpec(causal=True, window=12, key_padding=padding)
    shared_bias = torch.randn(1, 30, 30, generator=generator).to(dtype) if bias else None
    records = {}
    for layer in (2, 5):
        records[layer] = LayerRecord(
            query=torch.randn(4, 30, 8, generator=generator).to(dtype),
            key=torch.randn(2, 30, 8, generator=generator).to(dtype),
            scaling=8**-0.5, mask=mask, bias=shared_bias, softcap=4.0 if layer == 5 else None,
            sinks=torch.randn(4, generator=generator) if sinks else None,
        )
    return LazyStack(records, block_bytes=block_bytes)


@pytest.fixture
def stack() -> LazyStack:
    return make_stack()


def dense(stack: LazyStack) -> np.ndarray:
    return np.stack([stack.layer(layer) for layer in stack.layer_indices])


def test_shape_attributes(stack: LazyStack) -> None:
    assert stack.layer_indices == (2, 5)
    assert (stack.num_heads, stack.num_queries, stack.num_keys) == (4, 30, 30)
    assert stack.device == torch.device("cpu")
    assert "layers=[2, 5]" in repr(stack)


def test_selections_agree_with_the_dense_matrix(stack: LazyStack) -> None:
    full = stack.matrix(5, 3)
    assert full.dtype == np.float32 and full.shape == (30, 30)
    np.testing.assert_array_equal(stack.rows(5, 3, slice(None)), full)
    np.testing.assert_allclose(stack.rows(5, 3, slice(1, 20, 3)), full[1:20:3], atol=1e-6)
    np.testing.assert_allclose(stack.rows(5, 3, np.array([4, 4, 0])), full[[4, 4, 0]], atol=1e-6)
    np.testing.assert_allclose(stack.columns(5, 3, [29, 0]), full[:, [29, 0]], atol=1e-6)
    assert stack.rows(5, 3, []).shape == (0, 30)
    np.testing.assert_allclose(stack.tile(5, 3, 0, 30, 0, 30), full, atol=1e-6)
    assert stack.tile(5, 3, 3, 10, 4, 29, pool=4).shape == (2, 7)
    np.testing.assert_allclose(stack.thumbnails(7), max_pool(dense(stack), 7), atol=1e-6)
    np.testing.assert_allclose(stack.layer_thumbnails(2, 5), max_pool(stack.layer(2), 5), atol=1e-6)


def test_normalisers_are_cached_and_row_sums_are_one(stack: LazyStack) -> None:
    lse = stack.normalisers(2)
    assert lse.shape == (4, 30) and lse.dtype == np.float32
    assert stack.records[2].row_max is not None
    np.testing.assert_allclose(stack.layer(2).sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(stack.layer(2)[..., 26:] == 0.0)


@pytest.mark.parametrize("call,message", [
    (lambda s: s.matrix(3, 0), r"layer 3 is not held: valid layers are \[2, 5\]"),
    (lambda s: s.matrix(True, 0), r"layer True is not held"),
    (lambda s: s.matrix(2, 4), r"head 4 is out of range: valid heads are 0..3"),
    (lambda s: s.matrix(2, -1), r"head -1 is out of range"),
    (lambda s: s.rows(2, 0, [30]), r"query 30 is out of range: valid querys are 0..29"),
    (lambda s: s.rows(2, 0, [-1]), r"query -1 is out of range"),
    (lambda s: s.rows(2, 0, ["a"]), r"querys must be a slice or a list of integers"),
    (lambda s: s.columns(2, 0, [31]), r"key 31 is out of range: valid keys are 0..29"),
    (lambda s: s.tile(2, 0, 0, 31, 0, 5), r"query range 0:31 is out of range: need 0 <= start < stop <= 30"),
    (lambda s: s.tile(2, 0, 5, 5, 0, 5), r"query range 5:5 is out of range"),
    (lambda s: s.tile(2, 0, 0, 5, -1, 5), r"key range -1:5 is out of range"),
    (lambda s: s.tile(2, 0, 0, 5, 0, 5, pool=0), r"pool must be a positive integer"),
    (lambda s: s.tile(2, 0, 0, 5.0, 0, 5), r"query bounds must be integers"),
    (lambda s: s.thumbnails(0), r"thumbnail size must be a positive integer"),
    (lambda s: s.normalisers(9), r"layer 9 is not held"),
])
def test_out_of_range_is_a_one_line_input_error(stack: LazyStack, call: Any, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        call(stack)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("options", [{}, {"bias": True, "sinks": True}, {"dtype": torch.bfloat16},
                                     {"dtype": torch.float16}], ids=str)
def test_round_trip_through_tensors_gives_identical_results(options: dict[str, Any]) -> None:
    stack = make_stack(**options)
    tensors, metadata = stack.to_tensors(), stack.metadata()
    assert all(isinstance(value, np.ndarray) for value in tensors.values())
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in metadata.items())
    assert metadata["attnviz.lazy.format"] == "1"
    assert "mask0.key_padding" in tensors and "mask1.key_padding" not in tensors  # shared mask saved once
    again = LazyStack.from_tensors(tensors, metadata, block_bytes=stack.block_bytes)
    assert again.layer_indices == stack.layer_indices
    assert again.records[2].query.dtype == stack.records[2].query.dtype
    for layer in stack.layer_indices:
        np.testing.assert_array_equal(again.layer(layer), stack.layer(layer))
        np.testing.assert_array_equal(again.normalisers(layer), stack.normalisers(layer))
    np.testing.assert_array_equal(again.thumbnails(), stack.thumbnails())
    np.testing.assert_array_equal(again.tile(5, 1, 2, 29, 1, 30, pool=3), stack.tile(5, 1, 2, 29, 1, 30, pool=3))


def test_broken_tensors_give_a_one_line_format_error() -> None:
    stack = make_stack()
    tensors, metadata = stack.to_tensors(), stack.metadata()
    cases = [
        ({**metadata, "attnviz.lazy.format": "9"}, tensors, r"not a lazy attention stack of format 1"),
        ({k: v for k, v in metadata.items() if k != "attnviz.lazy.layers"}, tensors, r"lacks 'attnviz.lazy.layers'"),
        ({**metadata, "attnviz.lazy.masks": "{not json"}, tensors, r"not valid JSON"),
        (metadata, {k: v for k, v in tensors.items() if k != "layer5.key"}, r"lacks tensor 'layer5.key'"),
        (metadata, {**tensors, "layer2.key": tensors["layer2.key"][:, :, :4]}, r"layer 2: query .* do not fit"),
        (metadata, {**tensors, "layer2.row_max": tensors["layer2.row_max"][:, :3]}, r"row_max has shape"),
        (metadata, {**tensors, "mask0.key_padding": tensors["mask0.key_padding"][:5]}, r"key padding has shape"),
        (metadata, {**tensors, "layer2.query": tensors["layer2.query"].astype(np.float64)}, r"is torch.float64"),
    ]
    for meta, arrays, message in cases:
        with pytest.raises(FormatError, match=message) as error:
            LazyStack.from_tensors(arrays, meta)
        assert "\n" not in str(error.value)


def test_nbytes_counts_queries_keys_masks_and_normalisers_once(stack: LazyStack) -> None:
    before = stack.nbytes
    per_layer = (4 * 30 * 8 + 2 * 30 * 8) * 4
    assert before == 2 * per_layer + 30  # one shared 30-key padding vector (bool)
    stack.normalisers(2)
    assert stack.nbytes == before + 2 * 4 * 30 * 4
    with_bias = make_stack(bias=True)
    assert with_bias.nbytes == before + 30 * 30 * 4  # the shared bias counted once


def test_small_block_budget_gives_the_same_answers() -> None:
    roomy, tight = make_stack(block_bytes=64 * 2**20), make_stack(block_bytes=64)
    np.testing.assert_allclose(tight.thumbnails(), roomy.thumbnails(), atol=1e-6)
    np.testing.assert_allclose(tight.tile(2, 1, 0, 30, 0, 30, pool=2), roomy.tile(2, 1, 0, 30, 0, 30, pool=2),
                               atol=1e-6)


def test_a_stack_needs_layers_of_one_shape() -> None:
    with pytest.raises(InputError, match="at least one layer"):
        LazyStack({})
    a, b = make_stack().records[2], make_stack().records[5]
    b = LayerRecord(query=b.query[:, :10], key=b.key, scaling=1.0, mask=MaskSpec())
    with pytest.raises(InputError, match="layer 5 has another shape than layer 2"):
        LazyStack({2: a, 5: b})
