"""Which transformers class a config loads with."""

from __future__ import annotations

from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    BertConfig,
    GPT2Config,
    T5Config,
)

from attnviz_widget.loading import config_has_labels, model_class_for


def test_sequence_classification_first_when_the_config_has_labels() -> None:
    config = BertConfig(id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1}, architectures=["BertModel"])
    assert config_has_labels(config)
    assert model_class_for(config) is AutoModelForSequenceClassification


def test_default_labels_do_not_make_a_classifier() -> None:
    config = BertConfig(architectures=["BertModel"])
    assert not config_has_labels(config)
    assert model_class_for(config).__name__ == "BertModel"
    assert model_class_for(BertConfig()) is AutoModel


def test_saved_class_then_kind() -> None:
    assert model_class_for(GPT2Config(architectures=["GPT2LMHeadModel"])).__name__ == "GPT2LMHeadModel"
    assert model_class_for(T5Config()).__name__ == "AutoModelForSeq2SeqLM"
    assert model_class_for(BertConfig(architectures=["BertForSequenceClassification"])) is (
        AutoModelForSequenceClassification
    )
