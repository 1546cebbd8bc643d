"""AttentionWidget at length: lazy data (forced cheaply with a tiny ``memory_budget``), tiles instead
of whole matrices, and progressive paint (one ``overview_layer`` message per layer while the model runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import build_bert, build_llama

from attnviz_widget import AttentionWidget
from attnviz_widget.wire import OVERVIEW_AGGREGATES

pytestmark = [
    pytest.mark.slow,  # builds tiny models and runs them at a few hundred tokens
    pytest.mark.filterwarnings("ignore::attnviz_widget.errors.TruncationWarning"),  # TEXT is cut to LENGTH
]

TEXT = " ".join(["the movie was not very good and the actors were bad"] * 40)  # 440 words
LENGTH = 400
#: No synced trait or message may carry this many bytes: half of one full-resolution float16
#: LENGTH x LENGTH matrix (the overview, 64 x 64 a thumbnail, and 256 x 256 tiles stay below).
MESSAGE_LIMIT = LENGTH * LENGTH
TINY_BUDGET = 1_000_000  # bytes: the 3 x 4 x 400 x 400 float32 weights (7.7 MB) go lazy


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer

    directory = build_bert(tmp_path_factory.mktemp("long") / "bert", num_hidden_layers=3, max_position_embeddings=512)
    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    tokenizer.model_max_length = 512  # the fixture tokenizer stops at 64
    tokenizer.save_pretrained(str(directory))
    return directory


class Recorder:
    """Stands in for the widget's ``send``: every custom message, with the data version when it left."""

    def __init__(self, widget: AttentionWidget) -> None:
        self.widget = widget
        self.messages: list[tuple[dict[str, Any], list[bytes], int, str]] = []

    def __call__(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.messages.append((content, list(buffers or []), self.widget.data_version, self.widget.status))

    def progressive(self) -> list[tuple[dict[str, Any], list[bytes], int, str]]:
        return [m for m in self.messages if m[0].get("type") == "overview_layer"]


def shown(model_dir: Path, **options: Any) -> tuple[AttentionWidget, Recorder]:
    widget = AttentionWidget(model_dir, device="cpu", max_length=LENGTH, **options)
    recorder = Recorder(widget)
    widget.send = recorder  # type: ignore[method-assign]
    widget.show(TEXT)
    return widget, recorder


@pytest.fixture(scope="module")
def pair(bert_dir: Path) -> tuple[AttentionWidget, Recorder, AttentionWidget, Recorder]:
    dense, dense_sent = shown(bert_dir, store="dense")
    lazy, lazy_sent = shown(bert_dir, memory_budget=TINY_BUDGET)
    return dense, dense_sent, lazy, lazy_sent


def ask(widget: AttentionWidget, **fields: Any) -> tuple[dict[str, Any], bytes | None]:
    return widget.answer_request({"type": "request", "id": "r", "version": widget.data_version, **fields})


def decoded_overview(widget: AttentionWidget) -> np.ndarray:
    shape = widget.overview_shape
    pixels = np.frombuffer(widget.overview, dtype=np.uint8).reshape(shape).astype(np.float32)
    scale = np.frombuffer(widget.overview_scale, dtype="<f4").reshape(shape[:2])
    return pixels / 255 * scale[..., None, None]


def test_the_lazy_widget_holds_lazy_data_and_is_drawn_from_tiles(pair) -> None:
    dense, _, lazy, _ = pair
    assert lazy.data.is_lazy and not dense.data.is_lazy
    assert len(lazy.tokens) == LENGTH and lazy.status == "ready"
    assert lazy.meta["tiled"] is True and dense.meta["tiled"] is False
    assert lazy.first_matrix == b"" and lazy.first_matrix_of == {}  # tiles draw it, nothing full-size is sent
    assert lazy.bytes_sent == 0
    assert lazy.meta["has_rollout"] is False and "not computed" in lazy.meta["rollout_problem"]
    assert "mean" in lazy.meta["thumbnail_problems"] and dense.meta["thumbnail_problems"] == {}


def test_the_lazy_overview_equals_the_dense_one_where_it_is_drawn(pair) -> None:
    dense, _, lazy, _ = pair
    assert lazy.overview_shape == dense.overview_shape == [3, 4 + len(OVERVIEW_AGGREGATES), 64, 64]
    heads = dense.meta["num_heads"]
    drawn = list(range(heads)) + [heads + OVERVIEW_AGGREGATES.index("max")]
    exact = lazy.data.thumbnails()
    np.testing.assert_allclose(exact, dense.data.thumbnails(), atol=1e-5)  # the pooled values themselves
    lazy_view, dense_view = decoded_overview(lazy), decoded_overview(dense)
    scale = np.frombuffer(dense.overview_scale, dtype="<f4").reshape(dense.overview_shape[:2])
    step = scale[:, drawn, None, None] / 255  # one quantisation step: a value on a rounding edge may flip
    assert np.all(np.abs(lazy_view[:, drawn] - dense_view[:, drawn]) <= step + 1e-6)
    same = np.frombuffer(lazy.overview, np.uint8).reshape(lazy.overview_shape)[:, drawn]
    assert np.mean(same == np.frombuffer(dense.overview, np.uint8).reshape(dense.overview_shape)[:, drawn]) > 0.99
    mean, rollout = (heads + OVERVIEW_AGGREGATES.index(name) for name in ("mean", "rollout"))
    assert not lazy_view[:, [mean, rollout]].any()  # left empty, and meta says why
    assert dense_view[:, mean].any()


def test_no_trait_or_message_carries_a_full_matrix(pair) -> None:
    _, _, lazy, sent = pair
    for name in ("overview", "overview_scale", "first_matrix", "tokens", "key_tokens", "meta", "special"):
        value = getattr(lazy, name)
        size = len(value) if isinstance(value, bytes) else len(json.dumps(value))
        assert size < MESSAGE_LIMIT, name
    n = LENGTH
    replies = [
        ask(lazy, what="tile", layer=1, head=2, q0=0, q1=256, k0=0, k1=256, pool=1),
        ask(lazy, what="tile", layer=1, head="mean", q0=0, q1=n, k0=0, k1=n, pool=2),
        ask(lazy, what="row", layer=2, head=0, query=n - 1),
    ]
    for content, buffers, *_ in sent.messages:
        assert len(json.dumps(content)) + sum(len(b) for b in buffers) < MESSAGE_LIMIT
    for reply, payload in replies:
        assert reply["type"] in ("tile", "row") and payload is not None and len(payload) < MESSAGE_LIMIT


@pytest.mark.parametrize(
    "fields",
    [
        {"what": "tile", "layer": 0, "head": 3, "q0": 17, "q1": 300, "k0": 5, "k1": 399, "pool": 1},
        {"what": "tile", "layer": 2, "head": 1, "q0": 0, "q1": 400, "k0": 0, "k1": 400, "pool": 7},
        {"what": "tile", "layer": 1, "head": "max", "q0": 100, "q1": 164, "k0": 0, "k1": 64, "pool": 2},
        {"what": "tile", "layer": 1, "head": "mean", "q0": 0, "q1": 50, "k0": 350, "k1": 400, "pool": 1},
        {"what": "row", "layer": 0, "head": 2, "query": 0},
        {"what": "row", "layer": 2, "head": "mean", "query": 399},
    ],
)
def test_tiles_and_rows_of_lazy_data_equal_the_dense_ones(pair, fields) -> None:
    dense, _, lazy, _ = pair
    (dense_reply, dense_payload), (lazy_reply, lazy_payload) = ask(dense, **fields), ask(lazy, **fields)
    assert lazy_reply == {**dense_reply, "version": lazy_reply["version"]} and lazy_reply["type"] == fields["what"]
    shape = lazy_reply["shape"]
    lazy_values = np.frombuffer(lazy_payload, "<f2").reshape(shape)
    dense_values = np.frombuffer(dense_payload, "<f2").reshape(shape)
    # the float32 weights agree within 1e-6; their float16 roundings then differ by at most one ulp
    np.testing.assert_allclose(lazy_values.astype(np.float32), dense_values.astype(np.float32), rtol=2**-10, atol=1e-7)
    assert np.mean(lazy_values == dense_values) > 0.99


def test_whole_layers_and_rollout_of_lazy_data_past_the_budget_are_error_replies(pair) -> None:
    _, _, lazy, _ = pair
    reply, payload = ask(lazy, what="layer", layer=0)
    assert reply["type"] == "error" and payload is None and "tiles" in reply["message"]
    assert "\n" not in reply["message"]
    reply, payload = ask(lazy, what="rollout")
    assert reply["type"] == "error" and payload is None and "not computed" in reply["message"]


def test_progressive_layers_arrive_once_each_in_order_before_the_data(pair) -> None:
    dense, dense_sent, lazy, lazy_sent = pair
    for widget, sent, missing in ((dense, dense_sent, []), (lazy, lazy_sent, ["mean", "rollout"])):
        progressive = sent.progressive()
        assert [m[0]["layer"] for m in progressive] == [0, 1, 2]
        assert all(version == 0 and status == "loading" for _, _, version, status in progressive)
        assert len({m[0]["extraction"] for m in progressive}) == 1
        final = decoded_overview(widget)
        for position, (message, buffers, _, _) in enumerate(progressive):
            assert message["section"] == "self" and message["layer_indices"] == [0, 1, 2]
            assert message["num_queries"] == message["num_keys"] == LENGTH and message["missing"] == missing
            assert message["shape"] == widget.overview_shape[1:] and len(buffers) == 1
            pixels = np.frombuffer(buffers[0], np.uint8).reshape(message["shape"])
            layer = pixels / 255 * np.asarray(message["scale"], np.float32)[:, None, None]
            kept = [c for c, name in enumerate(["h"] * 4 + list(OVERVIEW_AGGREGATES)) if name not in missing]
            np.testing.assert_allclose(layer[kept], final[position, kept], atol=1e-6)  # the final overview reuses them


def test_within_the_budget_lazy_data_keeps_every_column_and_serves_layers(bert_dir: Path) -> None:
    widget, _ = shown(bert_dir, store="lazy")  # lazy although the weights would fit in the default budget
    assert widget.data.is_lazy and widget.meta["tiled"] is True and widget.meta["has_rollout"] is True
    assert widget.meta["thumbnail_problems"] == {}
    dense, _ = shown(bert_dir, store="dense")
    np.testing.assert_allclose(decoded_overview(widget), decoded_overview(dense), atol=2 / 255)
    reply, payload = ask(widget, what="layer", layer=1)
    assert reply["type"] == "layer" and len(payload) == 2 * 4 * LENGTH * LENGTH


def test_a_causal_model_paints_progressively_on_the_lazy_path(tmp_path: Path) -> None:
    widget = AttentionWidget(build_llama(tmp_path / "llama"), device="cpu", memory_budget=1000)
    recorder = Recorder(widget)
    widget.send = recorder  # type: ignore[method-assign]
    widget.show("a b c d e f g h a b c d")
    assert widget.data.is_lazy and widget.meta["causal"] is True
    assert [m[0]["layer"] for m in recorder.progressive()] == [0, 1]


def test_errors_during_a_long_extraction_end_loading(bert_dir: Path) -> None:
    widget = AttentionWidget(bert_dir, device="cpu", max_length=LENGTH, store="dense", memory_budget=TINY_BUDGET)
    with pytest.raises(Exception, match="memory budget"):
        widget.show(TEXT)
    assert widget.status == "error" and "memory budget" in widget.error and "\n" not in widget.error

    failing = AttentionWidget(bert_dir, device="cpu", max_length=LENGTH)

    def broken(content: dict[str, Any], buffers: Any = None) -> None:
        raise RuntimeError("the comm is gone")

    failing.send = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="comm is gone"):
        failing.show(TEXT)
    assert failing.status == "error" and "comm is gone" in failing.error


def test_from_data_shows_lazy_data_without_a_model(pair) -> None:
    _, _, lazy, _ = pair
    widget = AttentionWidget.from_data(lazy.data)
    assert widget.status == "ready" and widget.meta["tiled"] is True and widget.first_matrix == b""
    assert widget.overview == lazy.overview and widget.overview_scale == lazy.overview_scale
    reply, _ = ask(widget, what="layer", layer=1)
    assert reply["type"] == "error"


def test_4096_tokens_never_hold_a_full_matrix_in_numpy(tmp_path: Path) -> None:
    """A Llama-shaped model (2 layers x 4 heads, 2 KV heads) at 4,096 tokens, lazy: the widget's
    numpy allocations stay below one float32 T x T matrix (64 MiB); torch works in bounded blocks."""
    import tracemalloc

    from tiny_models import bpe_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = bpe_tokenizer()
    tokenizer.model_max_length = 8192
    config = LlamaConfig(
        vocab_size=len(tokenizer), num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        hidden_size=32, intermediate_size=64, max_position_embeddings=8192,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model_dir = tmp_path / "llama"
    LlamaForCausalLM(config).eval().save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    tokens = 4096
    widget = AttentionWidget(model_dir, device="cpu", max_length=tokens, memory_budget=32 * 2**20)
    recorder = Recorder(widget)
    widget.send = recorder  # type: ignore[method-assign]
    tracemalloc.start()
    try:
        widget.show(" ".join(["the movie was not very good"] * 1500))
        reply, payload = ask(widget, what="tile", layer=1, head=3, q0=0, q1=4096, k0=0, k1=4096, pool=16)
        row, row_payload = ask(widget, what="row", layer=0, head="mean", query=4095)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert widget.data.is_lazy and len(widget.tokens) == tokens and widget.meta["tiled"] is True
    assert peak < 4 * tokens * tokens  # below one float32 T x T matrix
    assert [m[0]["layer"] for m in recorder.progressive()] == [0, 1]
    assert reply["shape"] == [256, 256] and row["shape"] == [1, tokens]
    values = np.frombuffer(row_payload, "<f2").astype(np.float32)
    assert abs(values.sum() - 1) < 1e-2  # a causal row of weights sums to one
