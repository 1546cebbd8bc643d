"""extract(store=...): dense or lazy attention, chosen by a memory budget, never attempted past it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from attnviz_widget import InputError, extract, prepare
from attnviz_widget.backends.store import dense_size
from attnviz_widget.extractor import AttentionExtractor
from tests.tiny_models import BUILDERS, TinyTorchClassifier, bert_tokenizer

TEXT = "the movie was not bad at all, and the actors were great"


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {name: BUILDERS[name](root / name) for name in ("bert", "gpt2", "t5")}


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_lazy_data_reads_the_same_weights_as_dense(model_dirs: dict[str, Path], name: str) -> None:
    extractor = AttentionExtractor(model_dirs[name], device="cpu")
    dense = extractor.extract(TEXT, store="dense")
    lazy = extractor.extract(TEXT, store="lazy")
    assert lazy.is_lazy and not dense.is_lazy
    assert lazy.attentions.shape == dense.attentions.shape and lazy.causal == dense.causal
    assert lazy.tokens == dense.tokens and lazy.layer_indices == dense.layer_indices
    for layer in lazy.layer_indices:
        for head in (0, lazy.num_heads - 1, "mean", "max", "rollout"):
            np.testing.assert_allclose(lazy.matrix(layer, head), dense.matrix(layer, head), atol=1e-5, rtol=0)
    np.testing.assert_allclose(lazy.rows(1, 1, [3]), dense.rows(1, 1, [3]), atol=1e-5, rtol=0)
    np.testing.assert_allclose(lazy.columns(1, 1, [0, 2]), dense.columns(1, 1, [0, 2]), atol=1e-5, rtol=0)
    for head in (1, "mean", "max"):  # aggregates of lazy data reduce per-head blocks, never a whole layer
        np.testing.assert_allclose(lazy.tile(0, head, 1, 9, 2, 7, pool=3), dense.tile(0, head, 1, 9, 2, 7, pool=3),
                                   atol=1e-5, rtol=0)
        np.testing.assert_allclose(lazy.rows(1, head, [4]), dense.rows(1, head, [4]), atol=1e-5, rtol=0)
        np.testing.assert_allclose(lazy.columns(1, head, [0]), dense.columns(1, head, [0]), atol=1e-5, rtol=0)
    np.testing.assert_allclose(lazy.thumbnails(8), dense.thumbnails(8), atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.asarray(lazy.attentions), dense.attentions, atol=1e-5, rtol=0)
    if dense.prediction is not None:
        np.testing.assert_allclose(lazy.prediction.logits, dense.prediction.logits, atol=1e-5, rtol=0)
    prepared = prepare(lazy, aggregates=("mean",))  # short lazy data still goes everywhere dense data goes
    np.testing.assert_allclose(prepared["layers"][1]["heads"][0]["attention"], dense.matrix(1, 0), atol=1e-5)


def test_encoder_decoder_parts_are_lazy_too(model_dirs: dict[str, Path]) -> None:
    extractor = AttentionExtractor(model_dirs["t5"], device="cpu")
    dense = extractor.extract(TEXT, store="dense")
    lazy = extractor.extract(TEXT, store="lazy")
    for kind in ("encoder", "decoder", "cross"):
        assert lazy.part(kind).is_lazy and lazy.part(kind).causal == dense.part(kind).causal
        np.testing.assert_allclose(lazy.part(kind).matrix(1, 0), dense.part(kind).matrix(1, 0), atol=1e-5, rtol=0)


def test_auto_goes_lazy_past_the_budget_and_dense_within(model_dirs: dict[str, Path]) -> None:
    extractor = AttentionExtractor(model_dirs["gpt2"], device="cpu")
    encoded = extractor.backend.encode(TEXT)
    size = dense_size(extractor.backend, encoded, None)
    heads = extractor.model.config.n_head
    assert size == 4 * 2 * heads * len(encoded.tokens) ** 2  # 2 layers of float32 (heads, seq, seq)
    assert not extractor.extract(TEXT, memory_budget=size).is_lazy
    assert extractor.extract(TEXT, memory_budget=size - 1).is_lazy
    assert not extractor.extract(TEXT, memory_budget=size // 2, layers=[1]).is_lazy  # one layer fits


def test_dense_past_the_budget_is_refused_in_one_line(model_dirs: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="over the memory budget of 1.0 kB; keep fewer layers with layers=") as error:
        extract(model_dirs["bert"], TEXT, store="dense", memory_budget=1000, device="cpu")
    assert "use store='lazy'" in str(error.value) and "\n" not in str(error.value)


def test_a_model_outside_the_registry_gets_one_line_past_the_budget(tmp_path: Path) -> None:
    tokenizer = bert_tokenizer(tmp_path / "tok")
    torch.manual_seed(0)
    model = TinyTorchClassifier(len(tokenizer)).eval()
    with pytest.raises(InputError, match="over the memory budget of 1 B; .* the lazy path is not available"):
        extract(model, TEXT, tokenizer=tokenizer, memory_budget=1)
    assert not extract(model, TEXT, tokenizer=tokenizer).is_lazy
    with pytest.raises(InputError, match="store='lazy' is not possible: the lazy path serves Hugging Face models"):
        extract(model, TEXT, tokenizer=tokenizer, store="lazy")


def test_bad_store_and_the_lazy_budget(model_dirs: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="store must be one of auto, dense, lazy, got 'disk'"):
        extract(model_dirs["gpt2"], TEXT, store="disk", device="cpu")  # type: ignore[arg-type]
    lazy = extract(model_dirs["gpt2"], TEXT, store="lazy", memory_budget=100, device="cpu")
    with pytest.raises(InputError, match="would take .* over the memory budget of 100 B; read it with matrix()"):
        np.asarray(lazy.attentions)
    assert lazy.matrix(0, 0).shape == (len(lazy.tokens),) * 2  # reading one head is never refused


def test_rollout_is_refused_in_one_line_for_long_lazy_data(model_dirs: dict[str, Path]) -> None:
    from attnviz_widget.aggregates import rollout_problem

    short = extract(model_dirs["gpt2"], TEXT, store="lazy", device="cpu")
    assert rollout_problem(short) is None
    long = extract(model_dirs["gpt2"], TEXT, store="lazy", memory_budget=100, device="cpu")
    assert "rollout multiplies every layer's full" in (rollout_problem(long) or "")
    with pytest.raises(InputError, match="rollout multiplies every layer's full"):
        long.matrix(1, "rollout")
