"""The extracted JSON format: exact round trips, its documented keys, plain files of the
original tools, and the writer's refusals."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import orjson
import pytest
from files_support import MODEL, PREDICTION, assert_same_data, plain_extracted, write_json

from attnviz_widget.data import AttentionData
from attnviz_widget.errors import InputError
from attnviz_widget.files import (
    EXTRACTED_FORMAT,
    read_attention_file,
    read_extracted_json,
    write_backend_json,
    write_extracted_json,
)
from attnviz_widget.prepare import prepare


def test_extracted_round_trip_is_exact_with_padding_and_metadata(tmp_path, random_attention) -> None:
    data = random_attention(2, 3, 8, padding=2, model=MODEL, prediction=PREDICTION)
    path = write_extracted_json(data, tmp_path / "attention.json")

    assert path == tmp_path / "attention.json"
    read = read_attention_file(path)
    assert_same_data(read, data)
    assert read.queries.mask.tolist() == [True] * 6 + [False] * 2
    assert read.model == MODEL
    np.testing.assert_array_equal(read.prediction.logits, PREDICTION.logits)
    np.testing.assert_array_equal(read.prediction.probabilities, PREDICTION.probabilities)
    assert read.prediction.labels == PREDICTION.labels
    assert read.parts == {}


def test_extracted_file_has_the_spec_keys_and_documented_extras(tmp_path, random_attention) -> None:
    data = random_attention(2, 3, 6, padding=1, model=MODEL, prediction=PREDICTION)
    document = orjson.loads(write_extracted_json(data, tmp_path / "a.json").read_bytes())

    assert document["format"] == EXTRACTED_FORMAT
    assert document["tokens"] == list(data.tokens)
    assert document["text"] == data.text
    assert np.asarray(document["attention_matrices"]).shape == (2, 3, 6, 6)  # padding kept
    assert document["attention_mask"] == [1, 1, 1, 1, 1, 0]
    assert document["special_tokens"] == [1, 0, 0, 0, 1, 1]
    assert document["display_tokens"] == list(data.tokens)
    assert document["layer_indices"] == [0, 1]
    assert (document["kind"], document["causal"]) == ("self", False)
    assert document["model"] == MODEL.to_dict()
    assert document["prediction"]["label"] == "NEGATIVE"
    assert "parts" not in document
    # metadata before the big matrices, so the start of the file is readable
    assert list(document).index("model") < list(document).index("attention_matrices")


def test_float32_values_survive_exactly_including_edge_values(tmp_path) -> None:
    rng = np.random.default_rng(7)
    tiny = np.finfo(np.float32).smallest_subnormal
    edges = np.array([0.0, 1.0, tiny, np.finfo(np.float32).tiny, np.nextafter(np.float32(1), np.float32(0)),
                      1e-30, 0.1, 1 / 3, 2 / 3], dtype=np.float32)
    values = np.concatenate([edges, rng.random(64 * 64 * 16 - edges.size, dtype=np.float32),
                             ]).reshape(4, 4, 64, 64)
    values[0, 0, 0, :32] = rng.random(32).astype(np.float32) * np.float32(1e-20)
    data = AttentionData.from_arrays([f"t{i}" for i in range(64)], values)

    path = write_extracted_json(data, tmp_path / "edges.json")

    np.testing.assert_array_equal(read_attention_file(path).attentions, values)
    # and any JSON reader that parses doubles gets the same float32 values back
    parsed = np.asarray(json.loads(path.read_text())["attention_matrices"], dtype=np.float64)
    np.testing.assert_array_equal(parsed.astype(np.float32), values)


def test_non_contiguous_attention_is_written_correctly(tmp_path, random_attention) -> None:
    base = random_attention(2, 3, 5)
    transposed = np.ascontiguousarray(base.attentions.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    assert not transposed.flags.c_contiguous
    data = AttentionData.from_arrays(base.tokens, transposed)
    np.testing.assert_array_equal(read_attention_file(write_extracted_json(data, tmp_path / "t.json")).attentions,
                                  base.attentions)


def test_selected_layers_keep_their_model_indices(tmp_path, random_attention) -> None:
    data = random_attention(4, 2, 5).select_layers([3, 1])
    read = read_extracted_json(write_extracted_json(data, tmp_path / "a.json"))
    assert read.layer_indices == (3, 1)
    np.testing.assert_array_equal(read.head(3, 1), data.head(3, 1))


def test_encoder_decoder_parts_round_trip(tmp_path, random_encoder_decoder) -> None:
    data = random_encoder_decoder()
    path = write_extracted_json(data, tmp_path / "seq2seq.json")

    document = orjson.loads(path.read_bytes())
    cross = document["parts"]["cross"]
    assert cross["key_tokens"] == ["<s>", "Ġthe", "Ġfilm", "</s>", "<pad>"]
    assert cross["key_display_tokens"] == ["<s>", "the", "film", "</s>", "<pad>"]
    assert cross["key_attention_mask"] == [1, 1, 1, 1, 0]
    assert cross["key_special_tokens"] == [1, 0, 0, 1, 1]
    assert np.asarray(cross["attention_matrices"]).shape == (2, 2, 3, 5)
    assert "key_tokens" not in document["parts"]["decoder"]

    read = read_attention_file(path)
    assert_same_data(read, data)
    assert set(read.parts) == {"decoder", "cross"}
    for name in ("decoder", "cross"):
        assert_same_data(read.part(name), data.part(name))
        assert read.part(name).model == data.model
    assert read.part("decoder").causal and not read.part("cross").is_self_attention
    assert read.prediction.label == data.prediction.label


def test_plain_extracted_file_infers_padding_from_pad_tokens(tmp_path, random_attention) -> None:
    data = random_attention(2, 2, 7, padding=2)
    read = read_attention_file(write_json(tmp_path / "plain.json", plain_extracted(data)))

    np.testing.assert_array_equal(read.attentions, data.attentions)
    assert read.tokens == data.tokens and read.text == data.text
    assert read.queries.mask.tolist() == [True] * 5 + [False] * 2
    assert read.queries.special.tolist() == [True, False, False, False, True, True, True]
    assert (read.layer_indices, read.kind, read.causal, read.model, read.prediction) == ((0, 1), "self", False,
                                                                                          None, None)
    assert read.without_padding().tokens == data.tokens[:5]


def test_values_within_rounding_slack_are_accepted(tmp_path) -> None:
    document = {"tokens": ["a", "b"], "text": "a b",
                "attention_matrices": [[[[1.0004, -0.0004], [0.5, 0.5]]]]}
    read = read_attention_file(write_json(tmp_path / "slack.json", document))
    assert read.attentions[0, 0, 0, 0] == np.float32(1.0004)


def test_writers_reject_the_other_input(tmp_path, random_attention) -> None:
    data = random_attention(1, 1, 3)
    with pytest.raises(InputError, match="needs AttentionData, got dict; .*write_backend_json"):
        write_extracted_json(prepare(data), tmp_path / "x.json")
    with pytest.raises(InputError, match="needs the dict of prepare"):
        write_backend_json(data, tmp_path / "x.json")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="with keys tokens, text, layers"):
        write_backend_json({"tokens": []}, tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []


def test_non_finite_values_are_refused_not_written_as_null(tmp_path, random_attention, random_encoder_decoder) -> None:
    data = random_attention(2, 2, 4)
    values = data.attentions.copy()
    values[1, 0, 2, 3] = np.nan
    with pytest.raises(InputError, match="NaN or infinity .*layer 1, head 0, query 2, key 3"):
        write_extracted_json(AttentionData.from_arrays(data.tokens, values), tmp_path / "x.json")
    prepared = prepare(data)
    prepared["layers"][1]["heads"][0]["attention"] = values[1, 0]
    with pytest.raises(InputError, match=r"at layers\[1\]\.heads\[0\]\.attention\[2, 3\]"):
        write_backend_json(prepared, tmp_path / "x.json")
    seq2seq = random_encoder_decoder()
    broken = seq2seq.part("cross").attentions.copy()
    broken[1, 1, 0, 2] = np.inf
    parts = {**seq2seq.parts, "cross": replace(seq2seq.part("cross"), attentions=broken)}
    with pytest.raises(InputError, match="cross attention holds NaN or infinity .*layer 1, head 1, query 0, key 2"):
        write_extracted_json(replace(seq2seq, parts=parts), tmp_path / "x.json")
    listed = prepare(data, as_lists=True)
    listed["layers"][0]["heads"][1]["attention"][0][1] = float("inf")
    with pytest.raises(InputError, match=r"at layers\[0\]\.heads\[1\]\.attention\[0\]\[1\]"):
        write_backend_json(listed, tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []
