"""compare() and AttentionComparison: zero for equal data, symmetry, padding, gaps, layer maps, errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_attention, make_encoder_decoder, random_rows

import attnviz_widget
from attnviz_widget.comparison import AttentionComparison, compare
from attnviz_widget.comparison.scores import row_scores
from attnviz_widget.data import AttentionData, TokenSequence
from attnviz_widget.errors import InputError

GOOD = ["[CLS]", "the", "movie", "was", "good", "[SEP]"]
NOT_GOOD = ["[CLS]", "the", "movie", "was", "not", "good", "[SEP]"]


def _with_padding_garbage(data: AttentionData, seed: int) -> AttentionData:
    """The same data with large random values written into padded rows and columns."""
    values = np.array(data.attentions)
    padded = ~data.queries.mask
    values[:, :, padded, :] = np.random.default_rng(seed).random(values[:, :, padded, :].shape) * 50
    values[:, :, :, padded] = np.random.default_rng(seed + 1).random(values[:, :, :, padded].shape) * 50
    return AttentionData.from_arrays(data.tokens, values, mask=data.queries.mask, text=data.text)


@pytest.mark.parametrize("options", [{}, {"padding": 2}, {"causal": True}, {"padding": 1, "causal": True}])
def test_data_compared_with_itself_is_exactly_zero_everywhere(options: dict) -> None:
    data = make_attention(3, 4, 9, **options)
    comparison = compare(data, data)
    assert comparison.mode == "same"
    for metric in ("js", "tv"):
        assert np.array_equal(comparison.head_scores(metric), np.zeros((3, 4)))
    for layer in range(3):
        for head in range(4):
            assert np.array_equal(comparison.difference(layer, head), np.zeros((9 - options.get("padding", 0),) * 2))
            assert np.array_equal(comparison.row_scores(layer, head, "tv"), np.zeros(9 - options.get("padding", 0)))


def test_scores_and_difference_are_symmetric_in_a_and_b() -> None:
    a, b = make_attention(2, 3, 8, seed=1), make_attention(2, 3, 8, seed=2)
    forward, backward = compare(a, b), compare(b, a)
    for metric in ("js", "tv"):
        assert np.array_equal(forward.head_scores(metric), backward.head_scores(metric))
        assert (forward.head_scores(metric) > 0).all()
    assert np.array_equal(forward.difference(1, 2), -backward.difference(1, 2))
    np.testing.assert_array_equal(forward.difference(1, 2), b.head(1, 2) - a.head(1, 2))


def test_symmetric_with_different_texts_too() -> None:
    a = make_attention(2, 2, len(GOOD), tokens=GOOD, seed=3)
    b = make_attention(2, 2, len(NOT_GOOD), tokens=NOT_GOOD, seed=4)
    for metric in ("js", "tv"):
        assert np.array_equal(compare(a, b).head_scores(metric), compare(b, a).head_scores(metric))


def test_padded_positions_never_enter_a_score() -> None:
    a, b = make_attention(2, 3, 9, padding=3, seed=5), make_attention(2, 3, 9, padding=3, seed=6)
    clean = compare(a, b)
    dirty = compare(_with_padding_garbage(a, 7), _with_padding_garbage(b, 9))
    unpadded = compare(a.without_padding(), b.without_padding())
    for metric in ("js", "tv"):
        assert np.array_equal(clean.head_scores(metric), dirty.head_scores(metric))
        np.testing.assert_allclose(clean.head_scores(metric), unpadded.head_scores(metric), rtol=1e-12)
    assert np.array_equal(clean.difference(0, 1), dirty.difference(0, 1))
    assert clean.difference(0, 1).shape == (6, 6)
    assert "[PAD]" not in clean.queries.a_tokens


def test_padded_and_unpadded_runs_of_one_text_compare_position_by_position() -> None:
    padded = make_attention(2, 2, 8, padding=2, seed=8)
    comparison = compare(padded, padded.without_padding())
    assert comparison.mode == "same"
    assert np.array_equal(comparison.head_scores("js"), np.zeros((2, 2)))


def test_an_inserted_word_is_a_gap_row_and_column_never_a_shifted_row() -> None:
    a = make_attention(2, 2, len(GOOD), tokens=GOOD, seed=10)
    b = make_attention(2, 2, len(NOT_GOOD), tokens=NOT_GOOD, seed=11)
    comparison = compare(a, b, labels=("good", "not good"))
    assert comparison.mode == "align"
    gap = NOT_GOOD.index("not")
    difference = comparison.difference(1, 0)
    assert difference.shape == (7, 7)
    assert np.isnan(difference[gap]).all() and np.isnan(difference[:, gap]).all()
    keep = [i for i in range(7) if i != gap]
    assert not np.isnan(difference[np.ix_(keep, keep)]).any()
    # "good" is row 4 of A and row 5 of B: the difference pairs those rows
    good_a, good_b = GOOD.index("good"), NOT_GOOD.index("good")
    a_keys, b_keys = [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 5, 6]
    expected = b.head(1, 0)[good_b, b_keys] - a.head(1, 0)[good_a, a_keys]
    np.testing.assert_array_equal(difference[good_b, keep], expected)
    # the score renormalises each row over the shared keys, so B's mass on "not" is left out
    rows = row_scores(a.head(1, 0)[np.ix_(a_keys, a_keys)], b.head(1, 0)[np.ix_(b_keys, b_keys)])
    assert comparison.head_scores("js")[1, 0] == pytest.approx(rows["js"].mean(), rel=1e-12)
    assert comparison.queries.describe() == "[CLS] the movie was [+not] good [SEP]"
    a_matrix, b_matrix = comparison.matrices(1, 0)
    assert np.isnan(a_matrix[gap]).all() and not np.isnan(b_matrix[gap]).any()


def test_layer_map_pairs_layers_of_different_depths() -> None:
    student, teacher = make_attention(2, 3, 6, seed=12), make_attention(4, 3, 6, seed=13)
    with pytest.raises(InputError, match=r"A has layers 0 to 1 and B has layers 0 to 3; pass layer_map") as error:
        compare(student, teacher)
    assert "\n" not in str(error.value)
    comparison = compare(student, teacher, layer_map={0: 1, 1: 3})
    assert comparison.layer_pairs == ((0, 1), (1, 3))
    assert comparison.head_scores("tv").shape == (2, 3)
    np.testing.assert_array_equal(comparison.difference(1, 2), teacher.head(3, 2) - student.head(1, 2))
    with pytest.raises(InputError, match="layer 3 is not compared"):
        comparison.difference(3, 0)
    with pytest.raises(InputError, match="layer 5 of B"):
        compare(student, teacher, layer_map=[(0, 5)])


def test_different_head_counts_are_refused_even_with_a_layer_map() -> None:
    with pytest.raises(InputError, match="A has 3 heads per layer and B has 2"):
        compare(make_attention(2, 3, 6), make_attention(2, 2, 6), layer_map={0: 0})


def test_cross_attention_against_self_attention_names_each_side() -> None:
    seq2seq, encoder_only = make_encoder_decoder(heads=2), make_attention(2, 2, 5)
    with pytest.raises(InputError) as error:
        compare(seq2seq.part("cross"), encoder_only, labels=("bart", "bert"))
    message = str(error.value)
    assert "A (bart)'s cross-attention" in message and "B (bert)'s self-attention" in message
    assert "\n" not in message
    with pytest.raises(InputError, match="B's cross-attention"):
        compare(encoder_only, seq2seq.part("cross"))


def test_cross_sections_compare_with_separate_query_and_key_alignments() -> None:
    comparison = compare(make_encoder_decoder(0), make_encoder_decoder(1), section="cross")
    assert not comparison.is_self_attention
    assert comparison.difference(0, 1).shape == (3, 4)  # decoder queries × encoder keys without padding
    assert comparison.head_scores("js").shape == (2, 2)
    with pytest.raises(InputError, match="A: no 'cross' attention"):
        compare(make_attention(2, 2, 5), make_encoder_decoder(), section="cross")


def test_forced_same_tokens_with_different_tokenizers_names_a_and_b() -> None:
    wordpiece = make_attention(1, 2, 4, tokens=["[CLS]", "the", "film", "[SEP]"])
    bpe = AttentionData.from_arrays(
        ["<s>", "Ġthe", "Ġfilm", "</s>"], random_rows(np.random.default_rng(0), (1, 2, 4, 4)))
    with pytest.raises(InputError) as error:
        compare(wordpiece, bpe, tokens="same", labels=("bert", "roberta"))
    message = str(error.value)
    assert "A (bert) has '[CLS]'" in message and "B (roberta) has '<s>'" in message and "tokens='align'" in message
    # aligned by display form instead, the words pair up
    bpe_display = AttentionData(bpe.attentions, TokenSequence(bpe.tokens, display=("<s>", "the", "film", "</s>")))
    aligned = compare(wordpiece, bpe_display)
    assert aligned.mode == "align" and aligned.queries.labels() == ["[CLS]→<s>", "the", "film", "[SEP]→</s>"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"a": "not data"}, "A must be AttentionData or a \\(model, text\\) pair, got str"),
        ({"labels": "AB"}, "labels must be two names"),
        ({"labels": ("x", " ")}, "labels must not be empty"),
        ({"tokens": "fuzzy"}, "tokens must be one of auto, same, align"),
        ({"layer_map": {}}, "layer_map is empty"),
        ({"layer_map": [(0, 0), (0, 1)]}, "pairs one of A's layers twice"),
        ({"layer_map": 5}, "layer_map must map A's layers to B's"),
    ],
)
def test_bad_arguments_get_one_line_errors(arguments: dict, message: str) -> None:
    a = arguments.pop("a", make_attention(2, 2, 5))
    with pytest.raises(InputError, match=message) as error:
        compare(a, make_attention(2, 2, 5, seed=1), **arguments)
    assert "\n" not in str(error.value)


def test_bad_layer_head_and_metric_are_refused() -> None:
    comparison = compare(make_attention(2, 2, 5), make_attention(2, 2, 5, seed=1))
    with pytest.raises(InputError, match="valid heads are 0 to 1"):
        comparison.difference(0, 2)
    with pytest.raises(InputError, match="layer 7 is not compared; valid layers are 0 to 1"):
        comparison.matrices(7, 0)
    with pytest.raises(InputError, match="unknown score 'kl'; choose from js, tv"):
        comparison.head_scores("kl")


def test_ranked_heads_sort_by_score_with_nan_last() -> None:
    a, b = make_attention(2, 3, 6, seed=20), make_attention(2, 3, 6, seed=21)
    comparison = compare(a, b)
    ranked = comparison.ranked_heads("tv")
    values = [entry.value for entry in ranked]
    assert values == sorted(values, reverse=True) and len(ranked) == 6
    best = ranked[0]
    assert comparison.head_scores("tv")[best.layer, best.head] == best.value
    assert comparison.ranked_heads("js", top=2) == comparison.ranked_heads("js")[:2]
    assert comparison.head_score(best.layer, best.head, "tv") == pytest.approx(best.value, rel=1e-12)
    assert f"layer {comparison.ranked_heads('js')[0].layer}" in comparison.summary()


def test_public_api_and_read_only_results() -> None:
    comparison = attnviz_widget.compare(make_attention(), make_attention(seed=1))
    assert isinstance(comparison, attnviz_widget.AttentionComparison) and isinstance(comparison, AttentionComparison)
    with pytest.raises(ValueError):
        comparison.head_scores("js")[0, 0] = 1.0


@pytest.mark.slow
def test_model_and_text_pairs_are_extracted_with_one_model_load(tmp_path) -> None:
    from tiny_models import build_bert

    model_dir = build_bert(tmp_path / "bert")
    comparison = compare((model_dir, "the movie was good"), (model_dir, "the movie was not good"))
    assert comparison.mode == "align"
    assert comparison.queries.describe() == "[CLS] the movie was [+not] good [SEP]"
    assert comparison.head_scores("js").shape == (2, 4)
    with pytest.raises(InputError, match="^B: the text is empty"):
        compare((model_dir, "the movie"), (model_dir, "  "))


@pytest.mark.slow
def test_lazy_attention_compares_like_dense(tmp_path) -> None:
    from tiny_models import build_gpt2

    model_dir = build_gpt2(tmp_path / "gpt2")
    text = "the movie was not very good"
    dense = attnviz_widget.extract(model_dir, text, store="dense")
    lazy = attnviz_widget.extract(model_dir, text, store="lazy")
    assert lazy.is_lazy
    same = compare(dense, lazy)
    assert same.mode == "same"
    assert np.nanmax(same.head_scores("js")) < 1e-6 and np.nanmax(np.abs(same.difference(1, 2))) < 1e-6
    shorter = attnviz_widget.extract(model_dir, "the movie was good", store="lazy")
    lazy_scores = compare(lazy, shorter).head_scores("tv")
    np.testing.assert_allclose(lazy_scores, compare(dense, shorter).head_scores("tv"), atol=1e-6)


def test_attention_widget_compare_opens_the_comparison_view() -> None:
    from attnviz_widget import AttentionWidget
    from attnviz_widget.comparison.view import ComparisonWidget

    a = make_attention(layers=2, heads=2, seq=5, seed=1)
    b = make_attention(layers=2, heads=2, seq=5, seed=2)
    widget = AttentionWidget.compare(a, b, labels=("base", "tuned"), layer=1, metric="tv")
    assert isinstance(widget, ComparisonWidget) and widget.layer == 1 and widget.metric == "tv"
    assert widget.comparison.names == ("A (base)", "B (tuned)")
