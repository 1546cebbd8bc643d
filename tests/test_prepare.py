"""prepare(): the backend structure, padding removed by mask, and the aggregates."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz_widget import InputError
from attnviz_widget.prepare import aggregate, attention_rollout, head_max, head_mean, prepare


def reference_rollout(attentions: np.ndarray) -> np.ndarray:
    """Abnar & Zuidema (2020), written out plainly, one matrix at a time."""
    layers, heads, seq, _ = attentions.shape
    result = []
    joint = np.eye(seq)
    for layer in range(layers):
        average = sum(attentions[layer, head].astype(np.float64) for head in range(heads)) / heads
        with_residual = average + np.eye(seq)
        for row in range(seq):
            with_residual[row] = with_residual[row] / with_residual[row].sum()
        joint = with_residual @ joint
        result.append(joint.copy())
    return np.array(result)


def test_rollout_matches_the_reference_and_rows_sum_to_one(random_attention) -> None:
    data = random_attention(layers=4, heads=3, seq=7)
    rollout = attention_rollout(data.attentions)
    assert rollout.shape == (4, 7, 7) and rollout.dtype == np.float32
    np.testing.assert_allclose(rollout, reference_rollout(data.attentions), atol=1e-6)
    np.testing.assert_allclose(rollout.sum(-1), 1.0, atol=1e-6)


def test_rollout_of_one_layer_is_the_renormalised_residual_mix() -> None:
    attentions = np.array([[[[1.0, 0.0], [0.5, 0.5]]]], dtype=np.float32)  # (1, 1, 2, 2)
    np.testing.assert_allclose(attention_rollout(attentions)[0], [[1.0, 0.0], [0.25, 0.75]])


def test_mean_and_max_over_heads(random_attention) -> None:
    data = random_attention(layers=2, heads=3, seq=5)
    np.testing.assert_allclose(head_mean(data.attentions)[1], data.attentions[1].mean(axis=0))
    np.testing.assert_array_equal(head_max(data.attentions)[0], np.max(data.attentions[0], axis=0))
    np.testing.assert_allclose(aggregate(data, "mean").sum(-1), 1.0, atol=1e-6)


def test_prepare_has_the_spec_structure_without_padding(random_attention) -> None:
    data = random_attention(layers=2, heads=3, seq=8, padding=3)
    prepared = prepare(data)
    assert prepared["tokens"] == ["[CLS]", "w0", "w1", "w2", "[SEP]"]
    assert prepared["text"] == data.text
    assert [layer["layer_idx"] for layer in prepared["layers"]] == [0, 1]
    heads = prepared["layers"][1]["heads"]
    assert [head["head_idx"] for head in heads] == [0, 1, 2]
    np.testing.assert_array_equal(heads[2]["attention"], data.attentions[1, 2, :5, :5])
    np.testing.assert_allclose(np.asarray(heads[0]["attention"]).sum(-1), 1.0, atol=1e-6)
    assert "aggregates" not in prepared["layers"][0]


def test_padding_is_found_by_mask_not_by_name(random_attention) -> None:
    tokens = ["<s>", "a", "b", "</s>", "<pad>", "<pad>"]
    data = random_attention(layers=1, heads=1, tokens=tokens, padding=2)
    assert prepare(data)["tokens"] == tokens[:4]


def test_aggregates_are_added_per_layer(random_attention) -> None:
    data = random_attention(layers=3, heads=2, seq=6, padding=1)
    prepared = prepare(data, aggregates=("mean", "max", "rollout"), as_lists=True)
    entry = prepared["layers"][2]["aggregates"]
    assert set(entry) == {"mean", "max", "rollout"}
    clean = data.attentions[:, :, :5, :5]
    np.testing.assert_allclose(entry["rollout"], reference_rollout(clean)[2], atol=1e-6)
    np.testing.assert_allclose(entry["mean"], clean[2].mean(axis=0), atol=1e-7)
    assert isinstance(entry["max"], list) and isinstance(prepared["layers"][0]["heads"][0]["attention"], list)


def test_prepare_selected_layers_and_extras(random_attention) -> None:
    data = random_attention(layers=3, heads=2, seq=5)
    prepared = prepare(data, layers=[2])
    assert [layer["layer_idx"] for layer in prepared["layers"]] == [2]
    assert prepared["kind"] == "self" and prepared["causal"] is False
    assert prepared["special_tokens"] == [1, 0, 0, 0, 1]


def test_rollout_refuses_partial_layers_and_cross_attention(random_attention, random_encoder_decoder) -> None:
    partial = random_attention(layers=3).select_layers([1, 2])
    with pytest.raises(InputError, match="every layer from layer 0"):
        prepare(partial, aggregates="rollout")
    with pytest.raises(InputError, match="self-attention only"):
        aggregate(random_encoder_decoder().part("cross"), "rollout")
    with pytest.raises(InputError, match="unknown aggregate 'median'"):
        prepare(partial, aggregates=["median"])


def test_cross_attention_keeps_both_token_lists(random_encoder_decoder) -> None:
    prepared = prepare(random_encoder_decoder().part("cross"))
    assert prepared["tokens"] == ["</s>", "<s>", "Ġgood"]
    assert prepared["key_tokens"] == ["<s>", "Ġthe", "Ġfilm", "</s>"]  # padding dropped
    assert np.asarray(prepared["layers"][0]["heads"][0]["attention"]).shape == (3, 4)


def test_encoder_decoder_parts_are_prepared_too(random_encoder_decoder) -> None:
    prepared = prepare(random_encoder_decoder(), aggregates=("mean", "rollout"))
    assert set(prepared["parts"]) == {"decoder", "cross"}
    assert set(prepared["parts"]["decoder"]["layers"][0]["aggregates"]) == {"mean", "rollout"}
    assert set(prepared["parts"]["cross"]["layers"][0]["aggregates"]) == {"mean"}
    assert prepared["parts"]["cross"]["key_tokens"] == ["<s>", "Ġthe", "Ġfilm", "</s>"]
