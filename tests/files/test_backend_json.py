"""The backend (prepared) JSON format: round trips, plain files, head order and the writer's
refusals."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from files_support import MODEL, PREDICTION, assert_same_data, plain_backend, write_json

from attnviz_widget.errors import InputError
from attnviz_widget.files import read_attention_file, read_backend_json, write_backend_json, write_extracted_json
from attnviz_widget.prepare import prepare


@pytest.mark.parametrize("as_lists", [False, True])
def test_backend_round_trip(tmp_path, random_attention, as_lists) -> None:
    data = random_attention(3, 2, 7, padding=2, model=MODEL, prediction=PREDICTION, causal=True)
    prepared = prepare(data, aggregates=("mean", "max", "rollout"), as_lists=as_lists)
    path = write_backend_json(prepared, tmp_path / "backend.json")

    document = orjson.loads(path.read_bytes())
    assert [layer["layer_idx"] for layer in document["layers"]] == [0, 1, 2]
    assert document["layers"][0]["heads"][1]["head_idx"] == 1
    np.testing.assert_array_equal(np.asarray(document["layers"][2]["aggregates"]["rollout"], dtype=np.float32),
                                  np.asarray(prepared["layers"][2]["aggregates"]["rollout"], dtype=np.float32))

    read = read_backend_json(path)
    assert_same_data(read, data.without_padding())
    assert read.tokens == ("[CLS]", "w0", "w1", "w2", "[SEP]")
    assert read.queries.mask.all()
    assert read.model == MODEL and read.prediction.label == PREDICTION.label


def test_backend_of_cross_attention_keeps_key_tokens(tmp_path, random_encoder_decoder) -> None:
    cross = random_encoder_decoder().part("cross")
    read = read_attention_file(write_backend_json(prepare(cross), tmp_path / "cross.json"))
    assert read.kind == "cross" and not read.is_self_attention
    assert read.keys.tokens == ("<s>", "Ġthe", "Ġfilm", "</s>")
    assert read.keys.display == ("<s>", "the", "film", "</s>")
    np.testing.assert_array_equal(read.attentions, cross.without_padding().attentions)


def test_both_formats_give_the_same_unpadded_data(tmp_path, random_attention) -> None:
    data = random_attention(2, 2, 9, padding=3)
    extracted = read_attention_file(write_extracted_json(data, tmp_path / "e.json")).without_padding()
    backend = read_attention_file(write_backend_json(prepare(data), tmp_path / "b.json"))
    np.testing.assert_array_equal(extracted.attentions, backend.attentions)
    assert extracted.tokens == backend.tokens


def test_plain_backend_file(tmp_path, random_attention) -> None:
    data = random_attention(2, 3, 5)
    read = read_backend_json(write_json(tmp_path / "plain.json", plain_backend(data)))
    assert_same_data(read, data)


def test_backend_heads_are_ordered_by_head_idx(tmp_path, random_attention) -> None:
    data = random_attention(1, 3, 4)
    document = plain_backend(data)
    document["layers"][0]["heads"].reverse()
    np.testing.assert_array_equal(read_backend_json(write_json(tmp_path / "b.json", document)).attentions,
                                  data.attentions)


def test_unserialisable_values_raise_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="cannot serialise the data as JSON"):
        write_backend_json({"tokens": [], "text": "", "layers": [], "extra": object()}, tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []
