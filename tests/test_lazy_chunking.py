"""The lazy capture's chunked feed-forward: same outputs and weights, restored afterwards.

Every family of the lazy tests runs with ``feed_forward_chunk=16`` (inputs of 48-160 tokens, so
several chunks and a partial last one): logits equal a plain forward's within 1e-5, the recorded
weights still equal eager ``output_attentions``, the known feed-forwards really ran chunked
(BART's is inline in its layers: not chunked), and every wrapper is gone after the block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tiny_models import BUILDERS, LAZY_BUILDERS  # noqa: E402

from attnviz_widget.errors import InputError  # noqa: E402
from attnviz_widget.lazy import LazyCapture  # noqa: E402
from attnviz_widget.lazy.chunking import chunked_feed_forward, run_in_chunks  # noqa: E402

#: tiny matmuls on one torch thread (bit-identical reruns, no OpenMP hand-offs): tests/conftest.py
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOL = 1e-5
#: (tokens, padded tokens at the end); position tables of the tiny BERT family, GPT-2 and BART hold 64.
LENGTHS = {"bert": (48, 6), "distilbert": (48, 6), "roberta": (48, 6), "gpt2": (48, 6), "bart": (48, 6),
           "t5": (120, 9), "llama": (160, 11), "qwen2": (160, 11), "mistral": (160, 11), "gemma2": (160, 11)}
FAMILIES = sorted(LENGTHS)
#: Families whose feed-forward is inline in the layer's forward (nothing to wrap).
INLINE = {"bart"}
CHUNK = 16


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("chunking_models")
    builders = {**BUILDERS, **LAZY_BUILDERS}
    loaded = {}
    for name in FAMILIES:
        directory: Path = builders[name](root / name)
        config = transformers.AutoConfig.from_pretrained(directory)
        if config.is_encoder_decoder:
            auto = transformers.AutoModelForSeq2SeqLM
        elif config.model_type in ("bert", "distilbert", "roberta"):
            auto = transformers.AutoModelForSequenceClassification
        else:
            auto = transformers.AutoModelForCausalLM
        loaded[name] = auto.from_pretrained(directory, attn_implementation="eager").eval()
    return loaded


def inputs_for(model: Any, name: str) -> dict[str, Any]:
    length, padded = LENGTHS[name]
    generator = torch.Generator().manual_seed(11)
    ids = torch.randint(5, model.config.vocab_size, (1, length), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, length - padded :] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    if model.config.is_encoder_decoder:
        inputs["decoder_input_ids"] = torch.randint(5, model.config.vocab_size, (1, 37), generator=generator)
    return inputs


def wrapped(model: Any) -> list[str]:
    """Modules that carry an instance-level forward or feed-forward method."""
    names = ("forward", "feed_forward_chunk", "ff_chunk")
    return [name for name, module in model.named_modules() if any(key in module.__dict__ for key in names)]


@pytest.mark.parametrize("name", FAMILIES)
def test_chunked_lazy_forward_equals_plain_and_eager(models: dict, name: str) -> None:
    model = models[name]
    inputs = inputs_for(model, name)
    with torch.no_grad():
        dense = model(**inputs, output_attentions=True, use_cache=False)
        with LazyCapture(model, feed_forward_chunk=CHUNK) as capture:
            lazy = model(**inputs, use_cache=False)
    assert (capture.chunked_calls[0] > 0) == (name not in INLINE), capture.chunked_calls
    assert wrapped(model) == []
    np.testing.assert_allclose(lazy.logits.numpy(), dense.logits.numpy(), atol=TOL, rtol=0)
    for field, stack in capture.stacks.items():
        weights = getattr(dense, field)
        for layer in stack.layer_indices:
            np.testing.assert_allclose(stack.layer(layer), weights[layer][0].numpy(), atol=TOL, rtol=0)


def test_the_default_chunk_leaves_short_inputs_whole(models: dict) -> None:
    model = models["llama"]
    with torch.no_grad(), LazyCapture(model) as capture:
        model(**inputs_for(model, "llama"), use_cache=False)
    assert capture.chunked_calls == [0]


def test_wrappers_are_removed_after_an_error_and_prior_instance_forwards_come_back(models: dict) -> None:
    model = models["llama"]
    mlp = model.model.layers[0].mlp
    own = mlp.forward  # a bound method set on the instance, as accelerate's hooks do
    mlp.forward = own
    try:
        with pytest.raises(RuntimeError, match="boom"), LazyCapture(model, feed_forward_chunk=CHUNK):
            assert mlp.__dict__["forward"] is not own
            raise RuntimeError("boom")
        assert mlp.__dict__["forward"] is own
        assert wrapped(model) == ["model.layers.0.mlp"]
    finally:
        del mlp.forward
    assert wrapped(model) == []


def test_training_mode_and_unknown_modules_are_not_chunked(models: dict) -> None:
    model = models["gpt2"]
    inputs = inputs_for(model, "gpt2")
    model.train()
    try:
        with torch.no_grad(), chunked_feed_forward(model, CHUNK) as calls:
            model(**inputs, use_cache=False)
    finally:
        model.eval()
    assert calls == [0]

    class LlamaMLP(torch.nn.Module):  # the right name, but not transformers' class
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.cumsum(1)

    outside = torch.nn.Sequential(LlamaMLP())
    x = torch.randn(1, 40, 3)
    with chunked_feed_forward(outside, CHUNK) as calls:
        np.testing.assert_array_equal(outside(x).numpy(), x.cumsum(1).numpy())
    assert calls == [0]


def test_run_in_chunks_writes_each_chunk_and_falls_back_for_other_shapes() -> None:
    x = torch.randn(2, 37, 5)
    weight = torch.randn(5, 7)
    seen: list[int] = []

    def position_wise(part: torch.Tensor) -> torch.Tensor:
        seen.append(int(part.shape[1]))
        return torch.tanh(part @ weight)

    np.testing.assert_allclose(run_in_chunks(position_wise, x, 10).numpy(), torch.tanh(x @ weight).numpy(),
                               atol=1e-6, rtol=0)
    assert seen == [10, 10, 10, 7]
    pooled = run_in_chunks(lambda part: part.mean(1), x, 10)  # not (batch, chunk, ·): one call on everything
    np.testing.assert_array_equal(pooled.numpy(), x.mean(1).numpy())


@pytest.mark.parametrize("chunk", [-1, 1.5, True, "64"])
def test_a_bad_chunk_is_a_one_line_error(models: dict, chunk: Any) -> None:
    with pytest.raises(InputError, match="feed-forward chunk"):
        LazyCapture(models["llama"], feed_forward_chunk=chunk)
    assert wrapped(models["llama"]) == []


def test_numpy_integers_and_off_are_accepted(models: dict) -> None:
    assert LazyCapture(models["llama"], feed_forward_chunk=np.int64(16)).feed_forward_chunk == 16
    assert LazyCapture(models["llama"], feed_forward_chunk=None).feed_forward_chunk is None
    model = models["llama"]
    with torch.no_grad(), LazyCapture(model, feed_forward_chunk=0) as capture:
        model(**inputs_for(model, "llama"), use_cache=False)
    assert capture.chunked_calls == [0] and wrapped(model) == []
