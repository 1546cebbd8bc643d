"""Helpers shared by the file-format tests: exact comparisons and files as the original
tools wrote them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from attnviz_widget.data import AttentionData, ModelInfo, Prediction

MODEL = ModelInfo("bert", "encoder", num_layers=2, num_heads=3, name="tiny-bert")
PREDICTION = Prediction.from_logits([1.5, -0.25], ["NEGATIVE", "POSITIVE"])


def assert_same_tokens(read: Any, written: Any) -> None:
    assert read.tokens == written.tokens
    assert read.display == written.display
    np.testing.assert_array_equal(read.mask, written.mask)
    np.testing.assert_array_equal(read.special, written.special)


def assert_same_data(read: AttentionData, written: AttentionData) -> None:
    assert read.attentions.dtype == np.float32
    np.testing.assert_array_equal(read.attentions, written.attentions)  # bit-exact float32
    assert_same_tokens(read.queries, written.queries)
    assert_same_tokens(read.keys, written.keys)
    assert read.is_self_attention == written.is_self_attention
    assert (read.text, read.layer_indices, read.kind, read.causal) == (
        written.text, written.layer_indices, written.kind, written.causal,
    )


def write_json(path: Path, document: Any) -> Path:
    """A file as the original tools wrote it: Python's json module, lists of floats."""
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def plain_extracted(data: AttentionData) -> dict[str, Any]:
    return {"tokens": list(data.tokens), "text": data.text, "attention_matrices": data.attentions.tolist()}


def plain_backend(data: AttentionData) -> dict[str, Any]:
    return {
        "tokens": list(data.tokens),
        "text": data.text,
        "layers": [
            {"layer_idx": layer, "heads": [{"head_idx": head, "attention": matrix.tolist()}
                                           for head, matrix in enumerate(heads)]}
            for layer, heads in zip(data.layer_indices, data.attentions)
        ],
    }


GOOD = {"tokens": ["a", "b"], "text": "a b", "attention_matrices": [[[[0.5, 0.5], [0.25, 0.75]]]]}
GOOD_BACKEND = {"tokens": ["a", "b"], "text": "a b",
                "layers": [{"layer_idx": 0, "heads": [{"head_idx": 0, "attention": [[0.5, 0.5], [1.0, 0.0]]}]}]}


def changed(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = {**document, **changes}
    return {key: value for key, value in result.items() if value is not ...}


def two_layers(first_heads: int, second_heads: int) -> list[Any]:
    head = [[0.5, 0.5], [0.5, 0.5]]
    return [[head] * first_heads, [head] * second_heads]
