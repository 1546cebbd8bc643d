"""Lazy stacks in safetensors: the capture (queries, keys, normalisers, mask) saves and
reopens so that every reading gives the same numbers, without the model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from tiny_models import build_gpt2

from attnviz_widget.data import AttentionData, TokenSequence
from attnviz_widget.errors import FormatError, InputError
from attnviz_widget.extractor import extract
from attnviz_widget.files import read_attention_file, write_attention
from attnviz_widget.files.safetensors_layout import write_tensors
from attnviz_widget.lazy import LazyStack
from attnviz_widget.lazy.attentions import LazyAttentions
from attnviz_widget.lazy.masks import MaskSpec
from attnviz_widget.lazy.records import LayerRecord

#: tiny matmuls on one torch thread (bit-identical reruns, no OpenMP hand-offs): tests/conftest.py
pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEQ = 30


def make_stack(dtype: torch.dtype = torch.float32) -> LazyStack:
    """Two layers (2 and 5), 4 query heads over 2 key heads, a causal window and padded keys."""
    generator = torch.Generator().manual_seed(0)
    padding = torch.ones(SEQ, dtype=torch.bool)
    padding[26:] = False
    mask = MaskSpec(causal=True, window=12, key_padding=padding)
    records = {
        layer: LayerRecord(
            query=torch.randn(4, SEQ, 8, generator=generator).to(dtype),
            key=torch.randn(2, SEQ, 8, generator=generator).to(dtype),
            scaling=8**-0.5, mask=mask, softcap=4.0 if layer == 5 else None,
        )
        for layer in (2, 5)
    }
    return LazyStack(records, block_bytes=4096)


def lazy_data(stack: LazyStack, layers: list[int] | None = None) -> AttentionData:
    tokens = TokenSequence([f"t{i}" for i in range(SEQ)], mask=np.arange(SEQ) < 26)
    attentions = LazyAttentions(stack, layers)
    return AttentionData(attentions=attentions, queries=tokens, text="lazy", causal=True,
                         layer_indices=attentions.layers)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_a_lazy_stack_reopens_with_the_same_answers(tmp_path: Path, dtype: torch.dtype) -> None:
    data = lazy_data(make_stack(dtype))
    path = write_attention(data, tmp_path / "lazy.safetensors")
    read = read_attention_file(path)

    assert read.is_lazy and read.layer_indices == (2, 5) and read.causal
    assert read.tokens == data.tokens and read.queries.mask.tolist() == data.queries.mask.tolist()
    for layer in (2, 5):
        for head in (0, 3, "mean", "max"):
            np.testing.assert_array_equal(read.matrix(layer, head), data.matrix(layer, head))
    np.testing.assert_array_equal(read.rows(5, 1, [0, 17]), data.rows(5, 1, [0, 17]))
    np.testing.assert_array_equal(read.tile(2, 2, 3, 29, 1, 30, pool=3), data.tile(2, 2, 3, 29, 1, 30, pool=3))
    # thumbnails come from a block-max scan whose summation order depends on what was cached
    np.testing.assert_allclose(read.thumbnails(8), data.thumbnails(8), atol=1e-6, rtol=0)
    with safe_open(str(path), framework="numpy") as handle:
        assert handle.metadata()["store"] == "lazy"
        assert "main.lazy.layer2.query" in handle.keys() and "main.attentions" not in handle.keys()


def test_the_file_holds_the_capture_not_the_weights(tmp_path: Path) -> None:
    stack = make_stack()
    data = lazy_data(stack)
    size = write_attention(data, tmp_path / "lazy.safetensors").stat().st_size
    assert size < data.attentions.nbytes  # queries and keys, not (layers, heads, query, key)
    assert size < stack.nbytes + 8 * 1024  # what the stack holds, plus the header


def test_a_selection_of_layers_stays_selected(tmp_path: Path) -> None:
    data = lazy_data(make_stack(), layers=[5])
    read = read_attention_file(write_attention(data, tmp_path / "one.safetensors"))
    assert read.layer_indices == (5,) and read.attentions.shape == (1, 4, SEQ, SEQ)
    np.testing.assert_array_equal(read.matrix(5, 2), data.matrix(5, 2))


@pytest.mark.slow  # builds and runs a tiny GPT-2
def test_a_lazy_extraction_reopens_without_the_model(tmp_path: Path) -> None:
    model = build_gpt2(tmp_path / "gpt2")
    data = extract(model, "the movie was not bad at all", store="lazy", device="cpu")
    assert data.is_lazy
    read = read_attention_file(write_attention(data, tmp_path / "run.safetensors"))
    assert read.is_lazy and read.tokens == data.tokens
    assert read.model == replace(data.model, name="gpt2")  # files name a local model by its folder only
    for layer in data.layer_indices:
        np.testing.assert_array_equal(read.matrix(layer, 1), data.matrix(layer, 1))
    np.testing.assert_allclose(read.thumbnails(4), data.thumbnails(4), atol=1e-6, rtol=0)


def rewrite(path: Path, name: str, drop: str = "", **metadata_changes: str) -> Path:
    with safe_open(str(path), framework="numpy") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys() if name != drop}
        metadata = {**handle.metadata(), **metadata_changes}
    damaged = path.with_name(f"{name}.safetensors")
    with damaged.open("wb") as handle:
        write_tensors(handle, tensors, metadata)
    return damaged


def test_a_damaged_lazy_stack_is_a_one_line_error(tmp_path: Path) -> None:
    path = write_attention(lazy_data(make_stack()), tmp_path / "lazy.safetensors")
    with safe_open(str(path), framework="numpy") as handle:
        document = handle.metadata()["attnviz"]
    cases = [
        (rewrite(path, "no-key", drop="main.lazy.layer5.key"), "main: lazy stack lacks tensor 'layer5.key'"),
        (rewrite(path, "layer-7", attnviz=document.replace('"layers":[2,5]', '"layers":[2,7]')),
         "main: layer 7 is not in the saved lazy stack (it holds [2, 5])"),
        (rewrite(path, "no-layers", attnviz=document.replace('"layers":[2,5]', '"layers":[]')),
         "main: the 'lazy' object needs 'layers'"),
        (rewrite(path, "format-9",
                 attnviz=document.replace('"attnviz.lazy.format":"1"', '"attnviz.lazy.format":"9"')),
         "main: not a lazy attention stack of format 1"),
    ]
    for damaged, message in cases:
        with pytest.raises(FormatError) as raised:
            read_attention_file(damaged)
        text = str(raised.value)
        assert text.startswith(f"{damaged}: ") and message in text and "\n" not in text, text


def test_json_refuses_a_lazy_stack_past_the_budget_and_points_to_safetensors(tmp_path: Path) -> None:
    stack = make_stack()
    tokens = TokenSequence([f"t{i}" for i in range(SEQ)])
    small = AttentionData(attentions=LazyAttentions(stack), queries=tokens, layer_indices=(2, 5))
    read = read_attention_file(write_attention(small, tmp_path / "within.json"))  # within the budget: dense JSON
    assert not read.is_lazy
    np.testing.assert_allclose(read.attentions, np.asarray(small.attentions), atol=1e-7, rtol=0)
    tight = AttentionData(attentions=LazyAttentions(stack, memory_budget=1000), queries=tokens, layer_indices=(2, 5))
    message = (r"the self attention of 30 tokens is lazy and would take 28\.8 kB as one array, over the memory "
               r"budget of 1\.0 kB; .*save it as \.safetensors instead")
    with pytest.raises(InputError, match=message):
        write_attention(tight, tmp_path / "past.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["within.json"]
