"""Binary encodings sent to the browser."""

from __future__ import annotations

import numpy as np

from attnviz_widget.prepare import attention_rollout
from attnviz_widget.wire import block_edges, build_overview, float16_bytes, max_pool, meta_for, rollout_or_none


def test_float16_is_little_endian_half_precision_in_c_order() -> None:
    values = np.array([[0.5, 1.0], [0.25, 0.0]], dtype=np.float32)
    encoded = float16_bytes(values)
    assert len(encoded) == 8
    np.testing.assert_array_equal(np.frombuffer(encoded, dtype="<f2").reshape(2, 2), values)


def test_block_edges_cover_everything_in_equal_blocks() -> None:
    assert block_edges(5, 64).tolist() == [0, 1, 2, 3, 4]
    edges = block_edges(512, 64)
    assert len(edges) == 64 and edges[0] == 0 and set(np.diff(edges)) == {8}
    assert len(block_edges(100, 64)) == 64


def test_max_pool_keeps_sharp_patterns() -> None:
    identity = np.eye(128, dtype=np.float32)[None]
    pooled = max_pool(identity, 64)
    assert pooled.shape == (1, 64, 64)
    np.testing.assert_array_equal(pooled[0], np.eye(64))


def test_overview_layout_and_scale(random_attention) -> None:
    data = random_attention(layers=3, heads=2, seq=6)
    rollout = rollout_or_none(data)
    overview = build_overview(data, rollout)
    assert overview.shape == [3, 5, 6, 6]  # heads 0, 1, then mean, max, rollout
    decoded = overview.pixels.astype(np.float32) / 255 * overview.scale[..., None, None]
    np.testing.assert_allclose(decoded[1, 0], data.attentions[1, 0], atol=overview.scale[1, 0] / 255)
    np.testing.assert_allclose(decoded[2, 2], data.attentions[2].mean(0), atol=overview.scale[2, 2] / 255)
    np.testing.assert_allclose(decoded[0, 3], data.attentions[0].max(0), atol=overview.scale[0, 3] / 255)
    np.testing.assert_allclose(decoded[2, 4], attention_rollout(data.attentions)[2], atol=overview.scale[2, 4] / 255)
    assert (overview.pixels.reshape(15, -1).max(axis=1) == 255).all()


def test_overview_size_does_not_grow_with_length(random_attention) -> None:
    data = random_attention(layers=1, heads=1, seq=300)
    assert build_overview(data, None).pixels.nbytes == 4 * 64 * 64


def test_meta_describes_the_view(random_attention) -> None:
    data = random_attention(layers=2, heads=3, seq=5, causal=True).select_layers([1])
    meta = meta_for(data, ["self"])
    assert meta["layer_indices"] == [1] and meta["causal"] is True and meta["has_rollout"] is False
    assert rollout_or_none(data) is None


def test_a_local_model_folder_is_named_by_its_last_part(random_attention, tmp_path) -> None:
    from attnviz_widget import ModelInfo

    folder = tmp_path / "my-model"
    folder.mkdir()
    data = random_attention(model=ModelInfo("bert", "encoder", 2, 3, name=str(folder)))
    assert meta_for(data, ["self"])["model"]["name"] == "my-model"
    hub = random_attention(model=ModelInfo("bert", "encoder", 2, 3, name="org/some-model"))
    assert meta_for(hub, ["self"])["model"]["name"] == "org/some-model"


def test_meta_carries_the_vocabulary_and_why_rollout_is_undefined(random_attention) -> None:
    from attnviz_widget import vocabulary
    from attnviz_widget.prepare import rollout_problem

    full = meta_for(random_attention(layers=2, heads=2, seq=4), ["self"])
    assert full["rollout_problem"] is None and full["has_rollout"] is True
    assert [a["name"] for a in full["vocabulary"]["aggregates"]] == list(vocabulary.AGGREGATES)
    assert full["vocabulary"]["log_decades"] == vocabulary.LOG_DECADES
    assert full["vocabulary"]["aggregates"][0]["title"].format(layer=2) == "layer 2, mean over heads"
    assert full["vocabulary"]["color_scales"] == list(vocabulary.COLOR_SCALES)
    assert full["vocabulary"]["special_token_pattern"] == vocabulary.SPECIAL_TOKEN_PATTERN
    assert full["tiled"] is False  # dense weights: the frontend loads layers (tiles past 1024^2 cells)
    partial = random_attention(layers=3, heads=2, seq=4).select_layers([1, 2])
    meta = meta_for(partial, ["self"])
    assert meta["has_rollout"] is False
    assert meta["rollout_problem"] == rollout_problem(partial) and "layer 0" in meta["rollout_problem"]


def test_overview_columns_follow_the_vocabulary(random_attention) -> None:
    from attnviz_widget.wire import OVERVIEW_AGGREGATES

    data = random_attention(layers=2, heads=3, seq=5)
    overview = build_overview(data, rollout_or_none(data))
    assert overview.shape[1] == 3 + len(OVERVIEW_AGGREGATES)
    max_column = 3 + OVERVIEW_AGGREGATES.index("max")
    decoded = overview.pixels[:, max_column].astype(np.float32) / 255 * overview.scale[:, max_column, None, None]
    np.testing.assert_allclose(decoded, data.attentions.max(axis=1), atol=overview.scale.max() / 255)
