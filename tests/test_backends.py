"""The backend protocol: a custom architecture plugged in through it, and the built-in backends."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from attnviz_widget import InputError, extract
from attnviz_widget.backends import (
    SELF,
    Backend,
    Captured,
    EncodedText,
    HuggingFaceBackend,
    ModelFacts,
    TorchModuleBackend,
    assemble,
)
from attnviz_widget.extractor import AttentionExtractor
from tests.tiny_models import BUILDERS, TinyTorchClassifier, bert_tokenizer

TEXT = "the movie was not bad at all"


class ToyAttentionModel(nn.Module):
    """An architecture the built-in backends do not know: single-matrix attention with no
    ``nn.MultiheadAttention`` and no config. ``forward`` returns each layer's
    ``(heads, query, key)`` weights."""

    def __init__(self, vocab_size: int, layers: int = 3, heads: int = 2, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, heads * dim)
        self.queries = nn.ModuleList(nn.Linear(heads * dim, heads * dim) for _ in range(layers))
        self.keys = nn.ModuleList(nn.Linear(heads * dim, heads * dim) for _ in range(layers))
        self.heads, self.dim = heads, dim

    def forward(self, ids: torch.Tensor) -> list[torch.Tensor]:
        hidden = self.embed(ids)
        weights = []
        for query, key in zip(self.queries, self.keys, strict=True):
            q = query(hidden).view(len(ids), self.heads, self.dim).transpose(0, 1)
            k = key(hidden).view(len(ids), self.heads, self.dim).transpose(0, 1)
            attention = torch.softmax(q @ k.transpose(1, 2) / self.dim**0.5, dim=-1)
            hidden = hidden + (attention @ hidden.view(len(ids), self.heads, self.dim).transpose(0, 1)).transpose(
                0, 1
            ).reshape(len(ids), -1)
            weights.append(attention)
        return weights


class ToyBackend:
    """The README's worked example: a backend for :class:`ToyAttentionModel`, words as tokens."""

    def __init__(self, model: ToyAttentionModel, vocabulary: Sequence[str]) -> None:
        self.model = model.eval()
        self.device = torch.device("cpu")
        self.ids = {word: index for index, word in enumerate(vocabulary)}

    def facts(self) -> ModelFacts:
        return ModelFacts(model_type="toy", architecture="encoder", layers={SELF: len(self.model.queries)}, name="toy")

    def encode(self, text: str, **options: Any) -> EncodedText:
        words = text.split()
        ids = torch.tensor([self.ids.get(word, 0) for word in words])
        return EncodedText(
            inputs={"ids": ids}, tokens=words, special=np.zeros(len(words), bool), mask=np.ones(len(words), bool)
        )

    def forward(self, encoded: EncodedText, layers: Sequence[int] | None) -> Captured:
        with torch.inference_mode():
            weights = self.model(encoded.inputs["ids"])
        kept = tuple(range(len(weights))) if layers is None else tuple(layers)
        return Captured({SELF: (np.stack([weights[i].numpy() for i in kept]), kept)})


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {name: BUILDERS[name](root / name) for name in ("bert", "gpt2")}


@pytest.fixture
def toy() -> ToyBackend:
    torch.manual_seed(0)
    vocabulary = sorted(set(TEXT.split()))
    return ToyBackend(ToyAttentionModel(len(vocabulary)), vocabulary)


def test_a_custom_backend_is_a_backend_and_extracts(toy: ToyBackend) -> None:
    assert isinstance(toy, Backend)
    data = extract(toy, TEXT)
    assert data.attentions.shape == (3, 2, 7, 7)
    assert data.tokens == tuple(TEXT.split())
    assert data.model is not None and data.model.model_type == "toy" and data.model.num_layers == 3
    with torch.inference_mode():
        expected = toy.model(toy.encode(TEXT).inputs["ids"])
    for layer in range(3):
        np.testing.assert_array_equal(data.attentions[layer], expected[layer].numpy())


def test_a_custom_backend_keeps_only_the_layers_asked_for_and_checks_them(toy: ToyBackend) -> None:
    data = extract(toy, TEXT, layers=[2])
    assert data.layer_indices == (2,) and data.attentions.shape[0] == 1
    with pytest.raises(InputError, match="layer 3 is out of range; this model has 3 layers"):
        extract(toy, TEXT, layers=[3])


def test_assemble_names_the_missing_stack(toy: ToyBackend) -> None:
    with pytest.raises(InputError, match="no attention weights for self-attention; write a backend"):
        assemble(TEXT, toy.encode(TEXT), Captured({}), toy.facts())


def test_something_that_is_no_model_gets_a_clear_error() -> None:
    with pytest.raises(InputError, match="model must be a folder, a loaded model or a backend, got int"):
        AttentionExtractor(42)  # type: ignore[arg-type]


def test_the_built_in_backends_follow_the_protocol(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    hf = AttentionExtractor(model_dirs["bert"], device="cpu").backend
    assert isinstance(hf, HuggingFaceBackend) and isinstance(hf, Backend)
    tokenizer = bert_tokenizer(tmp_path / "tok")
    module = AttentionExtractor(TinyTorchClassifier(len(tokenizer)), tokenizer=tokenizer).backend
    assert isinstance(module, TorchModuleBackend) and isinstance(module, Backend)
    assert module.facts().layers == {SELF: 2}


def test_a_language_model_s_logits_never_leave_the_device(model_dirs: dict[str, Path]) -> None:
    """A causal LM's ``(seq, vocab)`` logits are not copied to the host; a classifier's are."""
    gpt2 = AttentionExtractor(model_dirs["gpt2"], device="cpu").backend
    assert gpt2.forward(gpt2.encode(TEXT), None).logits is None
    bert = AttentionExtractor(model_dirs["bert"], device="cpu").backend
    logits = bert.forward(bert.encode(TEXT), None).logits
    assert logits is not None and logits.shape == (int(bert.model.config.num_labels),)


def test_special_tokens_typed_in_the_text_are_flagged(model_dirs: dict[str, Path]) -> None:
    backend = AttentionExtractor(model_dirs["bert"], device="cpu").backend
    encoded = backend.encode("[SEP] movie [CLS]")
    assert encoded.tokens == ["[CLS]", "[SEP]", "movie", "[CLS]", "[SEP]"]
    assert encoded.special.tolist() == [True, True, False, True, True]


def test_one_pass_over_a_text_builds_no_key_value_cache(model_dirs: dict[str, Path]) -> None:
    """A cache would hold a second copy of every layer's keys and values for nothing."""
    extractor = AttentionExtractor(model_dirs["gpt2"], device="cpu")
    returned = []
    handle = extractor.model.register_forward_hook(lambda module, args, output: returned.append(output))
    extractor.extract(TEXT, store="dense")
    extractor.extract(TEXT, store="lazy")
    handle.remove()
    caches = [output.get("cache", output.get("past_key_values")) for output in returned]
    assert len(returned) >= 2 and caches == [None] * len(returned)
    with torch.inference_mode():  # the check can fail: a plain forward of this model does build one
        plain = extractor.model(**extractor.backend.encode(TEXT).inputs)
    assert plain.get("cache", plain.get("past_key_values")) is not None
