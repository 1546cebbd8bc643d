"""Progressive overview: per-layer thumbnails, the ``overview_layer`` message, reuse in the final
overview, and how the extractor passes ``on_layer`` only to backends that take it."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from attnviz_widget.aggregates import attention_rollout
from attnviz_widget.backends.base import Captured, EncodedText, ModelFacts
from attnviz_widget.extractor import AttentionExtractor, accepts_keyword
from attnviz_widget.pooling import max_pool
from attnviz_widget.progressive import (
    LayerThumbnails,
    ProgressiveOverview,
    kept_layers,
    landing_section,
    layer_columns,
    layer_thumbnails,
    matmul,
    quantise,
    rollout_step,
)
from attnviz_widget.wire import OVERVIEW_AGGREGATES, build_overview


def weights(seed: int, heads: int = 3, seq: int = 70) -> np.ndarray:
    raw = np.random.default_rng(seed).random((heads, seq, seq), dtype=np.float32)
    return raw / raw.sum(-1, keepdims=True)


def test_dense_layer_thumbnails_are_the_pools_of_each_head_and_of_the_mean() -> None:
    layer = weights(0)
    cells = layer_thumbnails(layer, 16)
    np.testing.assert_array_equal(cells.heads, max_pool(layer, 16))
    np.testing.assert_allclose(cells.mean, max_pool(layer.mean(0), 16), rtol=1e-6)
    assert (cells.num_queries, cells.num_keys) == (70, 70)
    columns, missing = layer_columns(cells)
    assert columns.shape == (3 + len(OVERVIEW_AGGREGATES), 16, 16) and missing == ["rollout"]  # one layer alone
    np.testing.assert_array_equal(columns[3 + OVERVIEW_AGGREGATES.index("max")], cells.heads.max(0))


def test_a_message_per_layer_in_order_only_for_the_section_shown() -> None:
    sent: list[tuple[dict[str, Any], list[bytes]]] = []
    progressive = ProgressiveOverview(
        lambda message, buffers: sent.append((message, buffers)), extraction=7, section="self", layer_indices=[0, 1]
    )
    progressive("cross_attentions", 0, weights(9))  # another stack: kept out of the messages
    for layer in (0, 1):
        progressive("attentions", layer, weights(layer))
    assert [m["layer"] for m, _ in sent] == [0, 1] and progressive.sent == [0, 1]
    message, buffers = sent[1]
    assert message["type"] == "overview_layer" and message["extraction"] == 7 and message["section"] == "self"
    assert message["shape"] == [6, 64, 64] and len(buffers) == 1 and len(buffers[0]) == 6 * 64 * 64
    assert message["num_heads"] == 3 and message["layer_indices"] == [0, 1] and message["missing"] == []
    rollout = attention_rollout(np.stack([weights(0), weights(1)]))[1]  # dense layers in order from 0: known
    cells = layer_thumbnails(weights(1))
    cells = LayerThumbnails(cells.heads, cells.mean, 70, 70, rollout)
    pixels, scale = quantise(layer_columns(cells)[0])
    assert buffers[0] == pixels.tobytes() and message["scale"] == [float(s) for s in scale]


def test_rollout_is_computed_as_the_layers_come_only_in_order_from_the_first() -> None:
    layers = [weights(seed, seq=40) for seed in range(3)]
    progressive = ProgressiveOverview(None, extraction=1, section="self", layer_indices=[0, 1, 2])
    for layer, values in enumerate(layers):
        progressive("attentions", layer, values)
    precomputed = progressive.collected("self", [0, 1, 2], 40, 40)
    # the same arithmetic; the products on torch's threads (MKL) round differently from numpy's in the last bits
    np.testing.assert_allclose(precomputed.rollout, attention_rollout(np.stack(layers)), rtol=1e-5, atol=1e-7)
    gap = ProgressiveOverview(None, extraction=1, section="self", layer_indices=[1, 2])
    for layer in (1, 2):
        gap("attentions", layer, layers[layer])
    assert gap.collected("self", [1, 2], 40, 40).rollout is None
    cross = ProgressiveOverview(None, extraction=1, section="cross", layer_indices=[0])
    cross("cross_attentions", 0, layers[0])
    assert cross.collected("cross", [0], 40, 40).rollout is None


def test_the_rollout_product_runs_on_torch_where_loaded_and_is_numpys_without_it(monkeypatch) -> None:
    torch = pytest.importorskip("torch")
    a, b = weights(0, seq=33)[0], weights(1, seq=33)[0]
    on_torch = matmul(a, b)
    assert on_torch.dtype == np.float32 and on_torch.shape == (33, 33)
    np.testing.assert_allclose(on_torch, a @ b, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(on_torch, torch.from_numpy(a).matmul(torch.from_numpy(b)).numpy())
    strided = matmul(a[:, ::2], b[::2])  # views that torch.from_numpy could not share as they are
    np.testing.assert_allclose(strided, a[:, ::2] @ b[::2], rtol=1e-5, atol=1e-7)
    monkeypatch.setitem(sys.modules, "torch", None)  # as in a process that never imported torch
    np.testing.assert_array_equal(matmul(a, b), a @ b)
    layers = np.stack([weights(seed, seq=33) for seed in range(3)])
    chained = None
    for layer in layers:
        chained = rollout_step(layer.mean(axis=0, dtype=np.float32), chained)
    np.testing.assert_array_equal(chained, attention_rollout(layers)[-1])  # numpy's arithmetic, bit for bit


def test_a_superseded_extraction_sends_nothing_more() -> None:
    sent: list[Any] = []
    current = [True]
    progressive = ProgressiveOverview(lambda m, b: sent.append(m), extraction=1, section="self",
                                      layer_indices=[0, 1], is_current=lambda: current[0])
    progressive("attentions", 0, weights(0))
    current[0] = False
    progressive("attentions", 1, weights(1))
    assert [m["layer"] for m in sent] == [0]


def test_the_final_overview_reuses_the_collected_thumbnails(random_attention) -> None:
    data = random_attention(layers=3, heads=3, seq=70)
    progressive = ProgressiveOverview(None, extraction=1, section="self", layer_indices=[0, 1, 2])
    for position, layer in enumerate(data.layer_indices):
        progressive("attentions", layer, np.asarray(data.attentions[position]))
    precomputed = progressive.collected("self", data.layer_indices, 70, 70)
    assert precomputed is not None and precomputed.heads.shape == (3, 3, 64, 64)
    assert progressive.collected("self", data.layer_indices, 71, 70) is None  # another matrix: pooled again
    assert progressive.collected("self", [0, 1, 2, 3], 70, 70) is None  # a layer missing: pooled again
    reused, pooled = build_overview(data, data.rollout(), precomputed=precomputed), build_overview(data, data.rollout())
    assert np.abs(reused.pixels.astype(int) - pooled.pixels).max() <= 1  # the mean's float sums may round apart
    np.testing.assert_allclose(reused.scale, pooled.scale, rtol=1e-6)


def test_sections_and_layers_an_extraction_will_land_in() -> None:
    encoder_decoder = ModelFacts("t5", "encoder-decoder", {"encoder_attentions": 2, "decoder_attentions": 3,
                                                           "cross_attentions": 3})
    encoder = ModelFacts("bert", "encoder", {"attentions": 4})
    assert landing_section(encoder, "") == landing_section(encoder, "decoder") == "self"
    assert landing_section(encoder_decoder, "") == "encoder" and landing_section(encoder_decoder, "cross") == "cross"
    assert kept_layers(encoder, None, "self") == [0, 1, 2, 3] and kept_layers(encoder, [3, 1, 3], "self") == [1, 3]
    assert kept_layers(encoder_decoder, None, "decoder") == [0, 1, 2] and kept_layers(encoder, 2, "self") == [2]


class PlainBackend:
    """A custom backend following the Backend protocol, without ``on_layer``."""

    device = "cpu"

    def facts(self) -> ModelFacts:
        return ModelFacts("custom", "encoder", {"attentions": 1}, heads=1)

    def encode(self, text: str, **options: Any) -> EncodedText:
        tokens = text.split()
        n = len(tokens)
        return EncodedText(inputs={}, tokens=tokens, special=np.zeros(n, bool), mask=np.ones(n, bool))

    def forward(self, encoded: EncodedText, layers: Any) -> Captured:
        n = len(encoded.tokens)
        return Captured({"attentions": (np.full((1, 1, n, n), 1 / n, np.float32), (0,))})


class CallingBackend(PlainBackend):
    def forward(self, encoded: EncodedText, layers: Any, on_layer: Any = None) -> Captured:
        captured = super().forward(encoded, layers)
        if on_layer is not None:
            on_layer("attentions", 0, captured.stacks["attentions"][0][0])
        return captured


def test_on_layer_reaches_only_backends_that_take_it() -> None:
    calls: list[tuple[str, int]] = []
    record = lambda stack, layer, what: calls.append((stack, layer))  # noqa: E731
    data = AttentionExtractor(PlainBackend()).extract("a b c", on_layer=record)
    assert data.attentions.shape == (1, 1, 3, 3) and calls == []
    AttentionExtractor(CallingBackend()).extract("a b c", on_layer=record)
    assert calls == [("attentions", 0)]
    assert accepts_keyword(CallingBackend().forward, "on_layer")
    assert not accepts_keyword(PlainBackend().forward, "on_layer")
    assert accepts_keyword(lambda **kw: None, "on_layer") and not accepts_keyword(len, "on_layer")


def test_layer_weights_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="heads, query, key"):
        layer_thumbnails(np.zeros((4, 4), np.float32))


@pytest.mark.slow  # builds a tiny Llama and runs it twice
def test_a_lazy_record_gives_the_exact_thumbnails(tmp_path) -> None:
    from tiny_models import build_llama

    extractor = AttentionExtractor(build_llama(tmp_path / "llama"), device="cpu")
    records: list[Any] = []
    lazy = extractor.extract("a b c d e f g h", store="lazy",
                             on_layer=lambda stack, layer, record: records.append(layer_thumbnails(record, 4)))
    dense = extractor.extract("a b c d e f g h", store="dense")
    assert lazy.is_lazy and len(records) == 2 and records[0].mean is None
    for position, cells in enumerate(records):
        np.testing.assert_allclose(cells.heads, max_pool(dense.attentions[position], 4), atol=1e-6)
