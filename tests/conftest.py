"""Shared test fixtures: random attention data of every shape the package handles."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import settings

from attnviz_widget.data import AttentionData, ModelInfo, Prediction, TokenSequence

# Hypothesis: under CI (CI=true) every run draws the same examples, so a failure reproduces;
# elsewhere examples are random. No per-example deadline: two shared cores make timings noisy.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every ``browser`` test is ``slow`` too, so ``pytest -m "not slow"`` is the fast subset."""
    for item in items:
        if item.get_closest_marker("browser") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


def random_rows(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    *,
    key_mask: np.ndarray | None = None,
    causal: bool = False,
) -> np.ndarray:
    """Random float32 attention of ``shape`` ``(..., query, key)`` whose rows sum to 1.

    Padded keys (``key_mask`` False) and, with ``causal``, later keys get 0, as a
    model's softmax gives them.
    """
    values = rng.random(shape) ** 3 + 1e-6  # skewed, like real attention
    queries, keys = shape[-2:]
    allowed = np.ones((queries, keys), dtype=bool)
    if key_mask is not None:
        allowed &= np.asarray(key_mask, dtype=bool)[None, :]
    if causal:
        allowed &= np.tril(np.ones((queries, keys), dtype=bool))
    values = np.where(allowed, values, 0.0)
    return (values / values.sum(axis=-1, keepdims=True)).astype(np.float32)


def make_attention(
    layers: int = 2,
    heads: int = 3,
    seq: int = 6,
    *,
    padding: int = 0,
    causal: bool = False,
    tokens: Sequence[str] | None = None,
    seed: int = 0,
    **fields: Any,
) -> AttentionData:
    """Self-attention of ``seq`` tokens (the last ``padding`` of them ``[PAD]``).

    ``fields`` go to :class:`AttentionData` (``model``, ``prediction``, ``kind``, ...).
    """
    rng = np.random.default_rng(seed)
    if tokens is None:
        words = [f"w{i}" for i in range(seq - padding - 2)]
        tokens = ["[CLS]", *words, "[SEP]", *["[PAD]"] * padding]
    mask = np.arange(len(tokens)) < len(tokens) - padding
    attentions = random_rows(rng, (layers, heads, len(tokens), len(tokens)), key_mask=mask, causal=causal)
    fields.setdefault("text", " ".join(tokens[1 : len(tokens) - padding - 1]))
    return AttentionData.from_arrays(tokens, attentions, mask=mask, causal=causal, **fields)


def make_encoder_decoder(seed: int = 0, *, layers: int = 2, heads: int = 2) -> AttentionData:
    """An encoder-decoder extraction: encoder self-attention with ``parts`` decoder and cross."""
    rng = np.random.default_rng(seed)
    encoder_tokens = TokenSequence(
        ("<s>", "Ġthe", "Ġfilm", "</s>", "<pad>"), display=("<s>", "the", "film", "</s>", "<pad>"),
        mask=np.array([1, 1, 1, 1, 0], dtype=bool),
    )
    decoder_tokens = TokenSequence(("</s>", "<s>", "Ġgood"), display=("</s>", "<s>", "good"))
    model = ModelInfo("bart", "encoder-decoder", layers, heads, name="tiny-bart")
    decoder = AttentionData(
        attentions=random_rows(rng, (layers, heads, 3, 3), causal=True),
        queries=decoder_tokens, text="good", kind="decoder", causal=True, model=model,
    )
    cross = AttentionData(
        attentions=random_rows(rng, (layers, heads, 3, 5), key_mask=encoder_tokens.mask),
        queries=decoder_tokens, keys=encoder_tokens, text="good", kind="cross", model=model,
    )
    return AttentionData(
        attentions=random_rows(rng, (layers, heads, 5, 5), key_mask=encoder_tokens.mask),
        queries=encoder_tokens, text="the film", kind="encoder", model=model,
        parts={"decoder": decoder, "cross": cross},
        prediction=Prediction.from_logits([0.5, -1.25], ["NEGATIVE", "POSITIVE"]),
    )


@pytest.fixture
def random_attention() -> Callable[..., AttentionData]:
    """Factory of random self-attention data; see :func:`make_attention`."""
    return make_attention


@pytest.fixture
def random_encoder_decoder() -> Callable[..., AttentionData]:
    """Factory of random encoder-decoder data; see :func:`make_encoder_decoder`."""
    return make_encoder_decoder


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for a module of tiny models: one thread avoids the OpenMP hand-offs that
    dominate tiny matmuls on a shared 2-core machine (``pytestmark = pytest.mark.usefixtures(...)``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
