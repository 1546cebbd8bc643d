"""Lazy capture through the attention registry equals the model's dense eager attention.

Every family the issue names (BERT, GPT-2, Llama with GQA, Qwen2, Mistral with a sliding
window shorter than the input, Gemma2 with softcapping and a sliding window, T5 with its
relative position bias, BART with cross-attention), with padded inputs: each ``matrix``,
``rows``, ``columns``, ``tile`` (several pools) and thumbnail equals ``output_attentions``
within 1e-5, and the lazy forward's logits equal a plain forward's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tiny_models import BUILDERS, LAZY_BUILDERS  # noqa: E402

from attnviz_widget.errors import InputError  # noqa: E402
from attnviz_widget.lazy import LazyCapture, LazyStack, lazy_supported  # noqa: E402
from attnviz_widget.wire import max_pool  # noqa: E402

#: tiny matmuls on one torch thread (bit-identical reruns, no OpenMP hand-offs): tests/conftest.py
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOL = 1e-5
#: (tokens, padded tokens at the end) per family: position tables of the tiny BERT, GPT-2 and
#: BART hold 64 positions; the rotary and relative-bias families run longer than their windows.
LENGTHS = {"bert": (48, 6), "gpt2": (48, 6), "bart": (48, 6), "t5": (120, 9),
           "llama": (160, 11), "qwen2": (160, 11), "mistral": (160, 11), "gemma2": (160, 11)}
FAMILIES = sorted(LENGTHS)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lazy_models")
    builders = {**BUILDERS, **LAZY_BUILDERS}
    return {name: builders[name](root / name) for name in FAMILIES}


def load(directory: Path, implementation: str = "eager") -> Any:
    config = transformers.AutoConfig.from_pretrained(directory)
    if config.is_encoder_decoder:
        auto = transformers.AutoModelForSeq2SeqLM
    elif config.model_type == "bert":
        auto = transformers.AutoModelForSequenceClassification
    else:
        auto = transformers.AutoModelForCausalLM
    return auto.from_pretrained(directory, attn_implementation=implementation).eval()


def inputs_for(model: Any, name: str, seed: int = 0) -> dict[str, Any]:
    """Random token ids of batch 1, the last few padded (``padding="max_length"`` style)."""
    length, padded = LENGTHS[name]
    generator = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    ids = torch.randint(5, vocab, (1, length), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, length - padded :] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    if model.config.is_encoder_decoder:
        decoder = torch.randint(5, vocab, (1, 30), generator=generator)
        decoder_mask = torch.ones_like(decoder)
        decoder_mask[0, 26:] = 0
        inputs.update(decoder_input_ids=decoder, decoder_attention_mask=decoder_mask)
    return inputs


def dense_reference(model: Any, inputs: dict[str, Any]) -> tuple[Any, dict[str, np.ndarray]]:
    with torch.no_grad():
        outputs = model(**inputs, output_attentions=True, use_cache=False)
    stacks = {}
    for field in ("attentions", "encoder_attentions", "decoder_attentions", "cross_attentions"):
        value = getattr(outputs, field, None)
        if value:
            stacks[field] = np.stack([layer[0].float().numpy() for layer in value])
    return outputs, stacks


def lazy_run(model: Any, inputs: dict[str, Any], **options: Any) -> tuple[Any, dict[str, LazyStack]]:
    with torch.no_grad(), LazyCapture(model, **options) as capture:
        outputs = model(**inputs, use_cache=False)
    return outputs, capture.stacks


def pool_reference(block: np.ndarray, pool: int) -> np.ndarray:
    """Max over ``pool × pool`` blocks, partial blocks at the edges (weights are >= 0: pad with -1)."""
    rows, cols = math.ceil(block.shape[0] / pool), math.ceil(block.shape[1] / pool)
    padded = np.full((rows * pool, cols * pool), -1.0, dtype=np.float32)
    padded[: block.shape[0], : block.shape[1]] = block
    return padded.reshape(rows, pool, cols, pool).max(axis=(1, 3))


@pytest.fixture(scope="module")
def runs(model_dirs: dict[str, Path]) -> dict[str, tuple[Any, Any, dict[str, np.ndarray], Any, dict[str, LazyStack]]]:
    results = {}
    for name in FAMILIES:
        model = load(model_dirs[name])
        inputs = inputs_for(model, name)
        dense_out, dense = dense_reference(model, inputs)
        lazy_out, stacks = lazy_run(model, inputs)
        results[name] = (model, inputs, dense, (dense_out, lazy_out), stacks)
    return results


@pytest.mark.parametrize("name", FAMILIES)
def test_stacks_and_shapes_match_the_dense_outputs(runs: dict, name: str) -> None:
    model, _, dense, _, stacks = runs[name]
    assert set(stacks) == set(dense)
    for field, weights in dense.items():
        stack = stacks[field]
        assert stack.layer_indices == tuple(range(weights.shape[0]))
        assert (stack.num_heads, stack.num_queries, stack.num_keys) == weights.shape[1:]
        assert stack.device == torch.device("cpu")
    assert model.config._attn_implementation == "eager"  # restored after the block


@pytest.mark.parametrize("name", FAMILIES)
def test_every_matrix_rows_columns_and_tile_equal_eager(runs: dict, name: str) -> None:
    _, _, dense, _, stacks = runs[name]
    rng = np.random.default_rng(1)
    for field, weights in dense.items():
        stack = stacks[field]
        queries, keys = stack.num_queries, stack.num_keys
        for layer in stack.layer_indices:
            np.testing.assert_allclose(stack.layer(layer), weights[layer], atol=TOL, rtol=0)
            for head in range(stack.num_heads):
                expected = weights[layer, head]
                np.testing.assert_allclose(stack.matrix(layer, head), expected, atol=TOL, rtol=0)
                picked = sorted(rng.choice(queries, size=min(7, queries), replace=False).tolist()) + [queries - 1]
                np.testing.assert_allclose(stack.rows(layer, head, picked), expected[picked], atol=TOL, rtol=0)
                cols = [0, keys - 1, *rng.choice(keys, size=min(5, keys), replace=False).tolist()]
                np.testing.assert_allclose(stack.columns(layer, head, cols), expected[:, cols], atol=TOL, rtol=0)
                q0, q1, k0, k1 = 1, queries - 2, 3, keys - 1
                for pool in (1, 2, 5, 64):
                    tile = stack.tile(layer, head, q0, q1, k0, k1, pool=pool)
                    np.testing.assert_allclose(tile, pool_reference(expected[q0:q1, k0:k1], pool), atol=TOL, rtol=0)


@pytest.mark.parametrize("name", FAMILIES)
def test_thumbnails_are_the_max_pool_of_the_dense_matrix(runs: dict, name: str) -> None:
    _, _, dense, _, stacks = runs[name]
    for field, weights in dense.items():
        for size in (64, 8, 5):
            np.testing.assert_allclose(stacks[field].thumbnails(size), max_pool(weights, size), atol=TOL, rtol=0)


@pytest.mark.parametrize("name", FAMILIES)
def test_logits_of_the_lazy_forward_equal_a_plain_forward(runs: dict, name: str) -> None:
    _, _, _, (dense_out, lazy_out), _ = runs[name]
    np.testing.assert_allclose(lazy_out.logits.numpy(), dense_out.logits.numpy(), atol=TOL, rtol=0)


@pytest.mark.parametrize("name", ["llama", "bert", "t5"])
def test_lazy_forward_on_an_sdpa_model_equals_its_plain_forward(model_dirs: dict, name: str) -> None:
    model = load(model_dirs[name], "sdpa")
    inputs = inputs_for(model, name, seed=3)
    with torch.no_grad():
        plain = model(**inputs, use_cache=False).logits
    lazy_out, stacks = lazy_run(model, inputs)
    np.testing.assert_allclose(lazy_out.logits.numpy(), plain.numpy(), atol=TOL, rtol=0)
    assert model.config._attn_implementation == "sdpa"
    _, dense = dense_reference(load(model_dirs[name]), inputs)
    for field, weights in dense.items():
        np.testing.assert_allclose(stacks[field].matrix(1, 2), weights[1, 2], atol=TOL, rtol=0)


@pytest.mark.parametrize("name", FAMILIES)
def test_padded_keys_get_zero_and_real_rows_sum_to_one(runs: dict, name: str) -> None:
    model, inputs, _, _, stacks = runs[name]
    encoder_mask = inputs["attention_mask"][0].bool().numpy()
    for field, stack in stacks.items():
        key_mask = inputs["decoder_attention_mask"][0].bool().numpy() if field == "decoder_attentions" else encoder_mask
        query_mask = encoder_mask if field in ("attentions", "encoder_attentions") else (
            inputs["decoder_attention_mask"][0].bool().numpy())
        for layer in stack.layer_indices:
            for head in range(stack.num_heads):
                weights = stack.matrix(layer, head)
                assert np.all(weights[:, ~key_mask] == 0.0)
                np.testing.assert_allclose(weights[query_mask].sum(axis=1), 1.0, atol=1e-5)


def test_layers_keeps_only_the_asked_layers(model_dirs: dict, runs: dict) -> None:
    model, inputs, dense, _, _ = runs["llama"]
    _, stacks = lazy_run(model, inputs, layers=[1])
    stack = stacks["attentions"]
    assert stack.layer_indices == (1,)
    np.testing.assert_allclose(stack.matrix(1, 3), dense["attentions"][1, 3], atol=TOL, rtol=0)
    with pytest.raises(InputError, match=r"layer 0 is not held: valid layers are \[1\]"):
        stack.matrix(0, 0)


def test_keys_are_kept_per_key_value_head_not_repeated(runs: dict) -> None:
    stack = runs["llama"][4]["attentions"]
    record = stack.records[0]
    assert record.query.shape[0] == 4 and record.key.shape[0] == 2
    assert record.mask.dense is None and record.mask.additive is None  # compact, not query × key
    gemma = runs["gemma2"][4]["attentions"].records
    assert gemma[0].mask.window == 16 and gemma[1].mask.window is None
    assert gemma[0].softcap == 2.0


def test_t5_keeps_its_relative_bias_and_drops_the_zero_cross_bias(runs: dict) -> None:
    stacks = runs["t5"][4]
    encoder = stacks["encoder_attentions"].records
    assert encoder[0].bias is not None and encoder[0].bias is encoder[1].bias  # one shared tensor
    assert all(record.bias is None for record in stacks["cross_attentions"].records.values())


def test_lazy_supported_names_models_outside_the_registry(runs: dict) -> None:
    from tiny_models import TinyTorchClassifier

    assert lazy_supported(runs["llama"][0]) is None
    reason = lazy_supported(TinyTorchClassifier(50))
    assert reason is not None and "TinyTorchClassifier" in reason and "\n" not in reason
    with pytest.raises(InputError, match="Hugging Face transformers model"):
        LazyCapture(TinyTorchClassifier(50))


def test_stacks_before_any_forward_is_a_clear_error(runs: dict) -> None:
    with LazyCapture(runs["gpt2"][0]) as capture:
        pass
    with pytest.raises(InputError, match="recorded nothing"):
        _ = capture.stacks


def test_the_model_is_restored_after_an_error_inside_the_block(runs: dict) -> None:
    model = runs["gpt2"][0]
    with pytest.raises(RuntimeError, match="boom"), LazyCapture(model):
        raise RuntimeError("boom")
    assert model.config._attn_implementation == "eager"


@pytest.mark.slow
def test_a_thousand_tokens_equal_eager(model_dirs: dict) -> None:
    model = load(model_dirs["mistral"])
    ids = torch.randint(5, model.config.vocab_size, (1, 1024), generator=torch.Generator().manual_seed(5))
    mask = torch.ones_like(ids)
    mask[0, 1000:] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    dense_out, dense = dense_reference(model, inputs)
    lazy_out, stacks = lazy_run(model, inputs, block_bytes=2**20)
    # From query 1015 on, the 16-key window holds only padding: every key is masked, and eager
    # (which spreads such rows evenly) and the sdpa kernel disagree there by design. Real rows agree.
    np.testing.assert_allclose(lazy_out.logits[0, :1000].numpy(), dense_out.logits[0, :1000].numpy(), atol=TOL, rtol=0)
    stack, weights = stacks["attentions"], dense["attentions"]
    np.testing.assert_allclose(stack.thumbnails(), max_pool(weights, 64), atol=TOL, rtol=0)
    for layer in stack.layer_indices:
        for head in range(stack.num_heads):
            np.testing.assert_allclose(stack.matrix(layer, head), weights[layer, head], atol=TOL, rtol=0)
    np.testing.assert_allclose(stack.tile(1, 3, 500, 1012, 0, 1024, pool=4),
                               pool_reference(weights[1, 3, 500:1012], 4), atol=TOL, rtol=0)


@pytest.mark.parametrize("name", ["llama", "gpt2", "bert", "t5"])
def test_unpadded_inputs_take_the_normalisers_from_the_forward(model_dirs: dict, name: str) -> None:
    """Without a mask tensor, torch's CPU flash kernel returns the normalisers with the output."""
    model = load(model_dirs[name])
    inputs = {key: value for key, value in inputs_for(model, name, seed=7).items() if "mask" not in key}
    dense_out, dense = dense_reference(model, inputs)
    lazy_out, stacks = lazy_run(model, inputs)
    np.testing.assert_allclose(lazy_out.logits.numpy(), dense_out.logits.numpy(), atol=TOL, rtol=0)
    for field, weights in dense.items():
        stack = stacks[field]
        from_forward = all(record.row_max is not None for record in stack.records.values())
        assert from_forward == (name != "t5")  # T5's relative bias needs the pass of its own
        if from_forward:  # the kernel's log-sum-exp is the row maximum; every sum is one value, expanded
            assert all(record.row_sum.stride() == (0, 0) for record in stack.records.values())
            reopened = LazyStack.from_tensors(stack.to_tensors(), stack.metadata())
            np.testing.assert_allclose(reopened.rows(1, 2, [0, 5]), weights[1, 2, [0, 5]], atol=TOL, rtol=0)
        np.testing.assert_allclose(stack.thumbnails(), max_pool(weights, 64), atol=TOL, rtol=0)
        for layer in stack.layer_indices:
            np.testing.assert_allclose(stack.layer(layer), weights[layer], atol=TOL, rtol=0)


def test_on_layer_reports_each_kept_layer_as_it_finishes(runs: dict) -> None:
    model, inputs, dense, _, _ = runs["bart"]
    seen: list[tuple[str, int]] = []

    def on_layer(stack: str, layer: int, record: Any) -> None:
        seen.append((stack, layer))
        if stack == "cross_attentions":  # a one-layer stack paints that layer's thumbnails now
            thumbs = LazyStack({layer: record}).layer_thumbnails(layer, 8)
            np.testing.assert_allclose(thumbs, max_pool(dense[stack][layer], 8), atol=TOL, rtol=0)

    with torch.no_grad(), LazyCapture(model, layers=[1], on_layer=on_layer):
        model(**inputs, use_cache=False)
    assert seen == [("encoder_attentions", 1), ("decoder_attentions", 1), ("cross_attentions", 1)]


def test_slabs_pack_copies_into_shared_aligned_buffers() -> None:
    from attnviz_widget.lazy.storage import Slabs, detached

    slabs = Slabs()
    source = torch.randn(2, 4, 33, 8).transpose(2, 3)  # batch 2, not contiguous
    first, second = detached(source, slabs), detached(source[1:], slabs)
    assert torch.equal(first, source[0]) and torch.equal(second, source[1]) and first.is_contiguous()
    assert first.untyped_storage().data_ptr() == second.untyped_storage().data_ptr()  # one buffer
    assert second.data_ptr() % 64 == 0
    big = torch.zeros(1, Slabs.SIZE // 4 // 4 + 1)
    assert detached(big, slabs).untyped_storage().nbytes() == big[0].numel() * 4  # large: its own storage
    many = [slabs.copy(torch.full((2**20,), float(i))) for i in range(20)]  # 80 MiB: a second buffer
    assert all(bool((tensor == i).all()) for i, tensor in enumerate(many))


def test_large_queries_are_kept_not_copied_and_large_keys_are_copied(model_dirs: dict, monkeypatch: Any) -> None:
    """Queries too large for a slab stay the model's own tensor (held once, never copied); keys,
    which a cache may write to later, are always copied. The weights are the same either way."""
    from attnviz_widget.lazy.storage import Slabs, detached

    source = torch.randn(1, 4, 33, 8).transpose(1, 2)  # batch 1, owns its storage, model strides
    slabs = Slabs()
    monkeypatch.setattr(Slabs, "SIZE", 256)  # every tensor here is "large"
    assert detached(source, slabs, share=True).data_ptr() == source.data_ptr()
    assert detached(source, slabs).data_ptr() != source.data_ptr()
    assert detached(torch.randn(2, 4, 8, 8), slabs, share=True).untyped_storage().nbytes() == 4 * 8 * 8 * 4
    model = load(model_dirs["llama"], "sdpa")
    inputs = inputs_for(model, "llama", seed=9)
    with torch.no_grad():
        plain = model(**inputs, use_cache=False).logits
    lazy_out, stacks = lazy_run(model, inputs)
    np.testing.assert_allclose(lazy_out.logits.numpy(), plain.numpy(), atol=TOL, rtol=0)
    stack = stacks["attentions"]
    assert not any(record.query.is_contiguous() for record in stack.records.values())  # the model's own
    assert all(record.key.is_contiguous() for record in stack.records.values())
    _, dense = dense_reference(load(model_dirs["llama"]), inputs)
    np.testing.assert_allclose(stack.thumbnails(), max_pool(dense["attentions"], 64), atol=TOL, rtol=0)
    for layer in stack.layer_indices:
        np.testing.assert_allclose(stack.layer(layer), dense["attentions"][layer], atol=TOL, rtol=0)
    reopened = LazyStack.from_tensors(stack.to_tensors(), stack.metadata())
    np.testing.assert_allclose(reopened.matrix(1, 3), dense["attentions"][1, 3], atol=TOL, rtol=0)
