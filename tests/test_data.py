"""AttentionData: shape checks, token axes, padding removal, layer selection."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz_widget import AttentionData, InputError, Prediction, TokenSequence


def test_shapes_are_checked() -> None:
    with pytest.raises(InputError, match="shape \\(layers, heads, query, key\\)"):
        AttentionData.from_arrays(["a", "b"], np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="do not match 3 query and 3 key tokens"):
        AttentionData.from_arrays(["a", "b", "c"], np.zeros((1, 1, 2, 2)))
    with pytest.raises(InputError, match="layer_indices names 1 layers but attentions holds 2"):
        AttentionData.from_arrays(["a"], np.ones((2, 1, 1, 1)), layer_indices=[0])
    with pytest.raises(InputError, match="kind must be one of"):
        AttentionData.from_arrays(["a"], np.ones((1, 1, 1, 1)), kind="sideways")


def test_arrays_are_float32_and_read_only(random_attention) -> None:
    data = random_attention()
    assert data.attentions.dtype == np.float32
    with pytest.raises(ValueError):
        data.attentions[0, 0, 0, 0] = 1.0
    assert data.keys is data.queries and data.is_self_attention


def test_token_sequence_defaults_and_special_tokens() -> None:
    tokens = TokenSequence(("[CLS]", "hi", "[SEP]", "[PAD]"), mask=[1, 1, 1, 0])
    assert tokens.display == tokens.tokens
    assert tokens.special.tolist() == [True, False, True, True]
    assert tokens.select(tokens.mask).tokens == ("[CLS]", "hi", "[SEP]")
    with pytest.raises(InputError, match="mask has 2 entries but there are 4 tokens"):
        TokenSequence(("[CLS]", "hi", "[SEP]", "[PAD]"), mask=[1, 0])


def test_layers_and_heads_by_model_index(random_attention) -> None:
    data = random_attention(layers=4, heads=2).select_layers([3, 1])
    assert data.layer_indices == (3, 1)
    np.testing.assert_array_equal(data.head(1, 0), data.attentions[1, 0])
    with pytest.raises(InputError, match="layer 0 is not available; valid layers are 3, 1"):
        data.head(0, 0)
    with pytest.raises(InputError, match="head 2 is out of range; valid heads are 0 to 1"):
        data.head(3, 2)


def test_without_padding_drops_masked_rows_and_columns(random_attention, random_encoder_decoder) -> None:
    data = random_attention(seq=6, padding=2)
    clean = data.without_padding()
    assert clean.attentions.shape[-2:] == (4, 4) and clean.tokens == data.tokens[:4]
    assert random_attention(seq=4).without_padding().tokens == random_attention(seq=4).tokens
    encoder = random_encoder_decoder().without_padding()
    assert encoder.part("cross").attentions.shape[-1] == 4 and len(encoder.part("cross").keys) == 4


def test_sections_of_an_encoder_decoder(random_encoder_decoder) -> None:
    data = random_encoder_decoder()
    assert list(data.sections) == ["encoder", "decoder", "cross"]
    assert data.part("cross").keys.tokens[1] == "Ġthe"
    with pytest.raises(InputError, match="no 'self' attention here; available: encoder, decoder, cross"):
        data.part("self")


def test_prediction() -> None:
    prediction = Prediction.from_logits([2.0, 0.0], ["pos", "neg"])
    assert prediction.label == "pos"
    np.testing.assert_allclose(prediction.probabilities.sum(), 1.0, atol=1e-7)
    assert Prediction.from_dict(prediction.to_dict()).labels == ("pos", "neg")
    with pytest.raises(InputError, match="must match"):
        Prediction(logits=[1.0], probabilities=[1.0], labels=("a", "b"))


def test_the_callers_array_stays_writable() -> None:
    values = np.ones((1, 1, 2, 2), dtype=np.float32) / 2
    AttentionData.from_arrays(["a", "b"], values)
    values[0, 0, 0, 0] = 0.25  # still the caller's to change
    assert values.flags.writeable


def test_padding_in_parts_is_removed_even_without_padding_on_top(random_encoder_decoder) -> None:
    data = random_encoder_decoder()
    unpadded_top = data.select_layers([0])
    assert unpadded_top.part("decoder").layer_indices == (0,)
    encoder_only_real = replace_mask_all_real(data)
    assert encoder_only_real.without_padding().part("cross").keys.mask.all()


def replace_mask_all_real(data: AttentionData) -> AttentionData:
    """The same data with the top (encoder) stack's mask all real, the cross part's keys still padded."""
    from dataclasses import replace

    queries = TokenSequence(data.queries.tokens, mask=np.ones(len(data.queries), dtype=bool))
    return replace(data, queries=queries, keys=queries)


# -- the reading API shared with lazily computed data ---------------------------------


def test_matrix_is_a_head_or_an_aggregate_of_a_model_layer(random_attention) -> None:
    from attnviz_widget.aggregates import attention_rollout

    data = random_attention(layers=3, heads=4, seq=5)
    np.testing.assert_array_equal(data.matrix(1, 2), data.attentions[1, 2])
    np.testing.assert_allclose(data.matrix(2, "mean"), data.attentions[2].mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(data.matrix(0, "max"), data.attentions[0].max(axis=0))
    np.testing.assert_allclose(data.matrix(2, "rollout"), attention_rollout(data.attentions)[2], rtol=1e-6)
    assert data.rollout() is data.rollout()  # computed once
    selected = data.select_layers([2, 0])
    np.testing.assert_array_equal(selected.matrix(2, 1), data.attentions[2, 1])
    with pytest.raises(InputError, match="rollout needs every layer from layer 0 on"):
        selected.matrix(2, "rollout")
    with pytest.raises(InputError, match="unknown aggregate 'median'; choose from mean, max, rollout"):
        data.matrix(0, "median")
    with pytest.raises(InputError, match="head 4 is out of range; valid heads are 0 to 3"):
        data.matrix(0, 4)
    with pytest.raises(InputError, match="layer 3 is not available; valid layers are 0 to 2"):
        data.matrix(3, 0)


def test_rows_columns_and_tiles_read_the_matrix(random_attention) -> None:
    data = random_attention(layers=2, heads=2, seq=7)
    full = data.matrix(1, 0)
    np.testing.assert_array_equal(data.rows(1, 0, [6, 2]), full[[6, 2]])
    np.testing.assert_array_equal(data.rows(1, 0, slice(2, 4)), full[2:4])
    np.testing.assert_array_equal(data.columns(1, 0, [0]), full[:, [0]])
    np.testing.assert_array_equal(data.tile(1, 0, 1, 6, 2, 7), full[1:6, 2:7])
    pooled = data.tile(1, 0, 0, 7, 0, 7, pool=3)  # blocks [0:3], [3:6], [6:7] on both axes
    assert pooled.shape == (3, 3)
    assert pooled[0, 0] == full[0:3, 0:3].max() and pooled[2, 1] == full[6:7, 3:6].max()
    np.testing.assert_array_equal(data.tile(1, "mean", 0, 7, 0, 7), data.matrix(1, "mean"))
    with pytest.raises(InputError, match="query 7 is out of range; valid query indices are 0 to 6"):
        data.rows(1, 0, [7])
    with pytest.raises(InputError, match="key -1 is out of range"):
        data.columns(1, 0, [-1])
    with pytest.raises(InputError, match=r"tile \[0:8, 0:2\] is outside the matrix; queries run 0 to 7"):
        data.tile(1, 0, 0, 8, 0, 2)
    with pytest.raises(InputError, match="pool must be a positive integer, got 0"):
        data.tile(1, 0, 0, 2, 0, 2, pool=0)


def test_thumbnails_are_block_max_pools_of_every_head(random_attention) -> None:
    data = random_attention(layers=2, heads=3, seq=130)
    thumbnails = data.thumbnails(64)
    assert thumbnails.shape == (2, 3, 64, 64) and thumbnails.dtype == np.float32
    # 130 tokens in 64 blocks starting at floor(i * 130 / 64): block 0 is 0..1, block 63 is 127..129
    assert thumbnails[1, 2, 0, 0] == data.attentions[1, 2, 0:2, 0:2].max()
    assert thumbnails[0, 1, 63, 63] == data.attentions[0, 1, 127:, 127:].max()
    assert random_attention(seq=5).thumbnails(64).shape[-2:] == (5, 5)


def test_special_tokens_are_guessed_by_the_shared_rule() -> None:
    tokens = TokenSequence(("<|im_start|>", "hi", "[BOS]", "</s>", "word"))
    assert tokens.special.tolist() == [True, False, True, True, False]
