"""The command-line tools' one-line messages: the special-tokens warning and the summary; the text check."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz_widget.cli_messages import special_only_warning, summary
from attnviz_widget.data import AttentionData, ModelInfo, Prediction, TokenSequence
from attnviz_widget.errors import InputError
from attnviz_widget.inputs import check_text


def data_of(tokens: list[str], special: list[bool] | None = None, mask: list[bool] | None = None) -> AttentionData:
    queries = TokenSequence(tokens, special=None if special is None else np.array(special),
                            mask=None if mask is None else np.array(mask))
    size = len(tokens)
    return AttentionData(attentions=np.full((1, 2, size, size), 1 / size, np.float32), queries=queries)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the text is empty"),
        (" \n\t", "the text is empty"),
        ("ok \udcff", "not valid Unicode: an undecodable byte or lone surrogate at character 3"),
        ("\ud83d", "at character 0"),
    ],
)
def test_refused_texts(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_text(text)


@pytest.mark.parametrize("text", ["\u200b", "\x00", "👩\u200d👩\u200d👧", "שלום", "a" * 100_000])
def test_accepted_texts(text: str) -> None:
    check_text(text)  # hostile but valid Unicode: the tokenizer decides


def test_the_warning_names_the_special_tokens_once() -> None:
    warning = special_only_warning(data_of(["[CLS]", "[SEP]", "[SEP]", "[PAD]"], mask=[True, True, True, False]))
    assert warning == ("the text tokenizes to nothing but special tokens ([CLS] [SEP]); the attention shows how "
                       "they attend to each other, not the text")


def test_flagged_or_spelled_special_counts_and_one_real_token_is_enough() -> None:
    assert special_only_warning(data_of(["<bos>", "x"], special=[False, True])) is not None  # flagged by the tokenizer
    assert special_only_warning(data_of(["[CLS]", "hello", "[SEP]"])) is None
    assert special_only_warning(data_of(["[CLS]", "[PAD]"], special=[True, False], mask=[True, False])) is not None


def test_summary_is_one_line() -> None:
    data = AttentionData(
        attentions=np.full((2, 3, 4, 4), 0.25, np.float32), queries=TokenSequence(["[CLS]", "a", "b", "[PAD]"],
                                                                                  mask=np.array([1, 1, 1, 0])),
        model=ModelInfo("bert", "encoder", 4, 3), layer_indices=(1, 3),
        prediction=Prediction.from_logits([2.0, 0.0], ["NEG", "POS"]),
    )
    assert summary(data) == "layers 1, 3 × 3 heads × 3 tokens; bert encoder; prediction: NEG (0.88)"
