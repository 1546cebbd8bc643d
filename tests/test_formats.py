"""The two JSON formats: exact round trips, the original tools' plain files, every
malformed input with its message, and atomic writes."""

from __future__ import annotations

import errno
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from attnviz_widget.data import AttentionData, ModelInfo, Prediction
from attnviz_widget.errors import AttnvizError, FormatError, InputError
from attnviz_widget.formats import (
    EXTRACTED_FORMAT,
    atomic_output,
    detect_format,
    read_attention_file,
    read_backend_json,
    read_extracted_json,
    write_backend_json,
    write_extracted_json,
)
from attnviz_widget.prepare import prepare

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


# -- round trips ------------------------------------------------------------------------------


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


# -- plain files of the original tools -------------------------------------------------------------


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


def test_utf8_byte_order_mark_is_accepted(tmp_path, random_attention) -> None:
    data = random_attention(1, 1, 4)
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(plain_extracted(data)).encode())
    np.testing.assert_array_equal(read_attention_file(path).attentions, data.attentions)


def test_values_within_rounding_slack_are_accepted(tmp_path) -> None:
    document = {"tokens": ["a", "b"], "text": "a b",
                "attention_matrices": [[[[1.0004, -0.0004], [0.5, 0.5]]]]}
    read = read_attention_file(write_json(tmp_path / "slack.json", document))
    assert read.attentions[0, 0, 0, 0] == np.float32(1.0004)


# -- format detection -------------------------------------------------------------------------------


def test_detect_format() -> None:
    assert detect_format({"tokens": [], "attention_matrices": []}) == "extracted"
    assert detect_format({"tokens": [], "layers": []}) == "backend"
    assert detect_format({"format": EXTRACTED_FORMAT}) == "extracted"
    with pytest.raises(FormatError, match="expected 'attention_matrices' .* or 'layers'.*keys found: tokens, foo"):
        detect_format({"tokens": [], "foo": 1})
    with pytest.raises(FormatError, match="top level is a list"):
        detect_format([1, 2])


def test_reading_the_wrong_format_says_which_it_is(tmp_path, random_attention) -> None:
    data = random_attention(1, 2, 4)
    extracted = write_extracted_json(data, tmp_path / "e.json")
    backend = write_backend_json(prepare(data), tmp_path / "b.json")
    with pytest.raises(FormatError, match=r"b\.json: this is the backend \(prepared\) format; .*read_backend_json"):
        read_extracted_json(backend)
    with pytest.raises(FormatError, match=r"e\.json: this is the extracted format; a backend \(prepared\) file was"):
        read_backend_json(extracted)


# -- malformed files ---------------------------------------------------------------------------------

GOOD = {"tokens": ["a", "b"], "text": "a b", "attention_matrices": [[[[0.5, 0.5], [0.25, 0.75]]]]}
GOOD_BACKEND = {"tokens": ["a", "b"], "text": "a b",
                "layers": [{"layer_idx": 0, "heads": [{"head_idx": 0, "attention": [[0.5, 0.5], [1.0, 0.0]]}]}]}


def changed(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = {**document, **changes}
    return {key: value for key, value in result.items() if value is not ...}


def two_layers(first_heads: int, second_heads: int) -> list[Any]:
    head = [[0.5, 0.5], [0.5, 0.5]]
    return [[head] * first_heads, [head] * second_heads]


BAD_DOCUMENTS = {
    "top level not an object": ([GOOD], "top level is a list, expected an object"),
    "missing tokens": (changed(GOOD, tokens=...), "missing key 'tokens'"),
    "missing text": (changed(GOOD, text=...), "missing key 'text'; the format needs tokens, text, attention_matrices"),
    "missing layers key": ({"tokens": ["a"], "text": ""},
                           r"expected 'attention_matrices' \(extracted format\) or 'layers'"),
    "tokens not strings": (changed(GOOD, tokens=["a", 2]), r"tokens\[1\] is a number, expected a string"),
    "empty tokens": (changed(GOOD, tokens=[]), "tokens must be a non-empty list"),
    "ragged row": (changed(GOOD, attention_matrices=[[[[0.5, 0.5], [1.0]]]]),
                   "attention_matrices at layer 0, head 0, query 1 has 1 values but there are 2 tokens"),
    "head counts differ": (changed(GOOD, attention_matrices=two_layers(3, 2)),
                           "attention_matrices at layer 1 has 2 heads but layer 0 has 3; "
                           "all layers must have the same number of heads"),
    "wrong rank": (changed(GOOD, attention_matrices=[[[0.5, 0.5], [0.5, 0.5]]]),
                   r"attention_matrices is nested 3 deep \(shape \(1, 2, 2\)\), expected 4 deep"),
    "too deep": (changed(GOOD, attention_matrices=[[[[[0.5], [0.5]], [[0.5], [0.5]]]]]),
                 "attention_matrices is nested 5 deep"),
    "shape does not match tokens": (changed(GOOD, tokens=["a", "b", "c"]),
                                    "attention_matrices at layer 0, head 0 has 2 rows but there are 3 tokens"),
    "a head is not a list": (changed(GOOD, attention_matrices=[[[[0.5, 0.5], [0.5, 0.5]], 0.5]]),
                             "attention_matrices at layer 0, head 1 is a number, expected a list of rows"),
    "only numbers": (changed(GOOD, attention_matrices=[[0.5]]),
                     r"attention_matrices is nested 2 deep \(shape \(1, 1\)\), expected 4 deep \(layers, heads"),
    "empty matrices": (changed(GOOD, attention_matrices=[]), "attention_matrices is an empty list, expected layers"),
    "null value": (changed(GOOD, attention_matrices=[[[[0.5, None], [0.25, 0.75]]]]),
                   "attention_matrices at layer 0, head 0, query 0, key 1 is null; attention values must be numbers"),
    "string value": (changed(GOOD, attention_matrices=[[[[0.5, 0.5], ["0.25", 0.75]]]]),
                     "at layer 0, head 0, query 1, key 0 is a string; attention values must be numbers"),
    "value above 1": (changed(GOOD, attention_matrices=[[[[0.5, 0.5], [1.7, 0.75]]]]),
                      r"at layer 0, head 0, query 1, key 0 is 1.7, outside \[0, 1\]"),
    "negative value": (changed(GOOD, attention_matrices=[[[[0.5, -0.2], [0.25, 0.75]]]]),
                       r"query 0, key 1 is -0.2, outside \[0, 1\]; .*scores or logits"),
    "mask wrong length": (changed(GOOD, attention_mask=[1, 1, 0]), "attention_mask must be a list of 2 values 0 or 1"),
    "mask not 0/1": (changed(GOOD, attention_mask=[1, 2]), "attention_mask must be a list of 2 values 0 or 1"),
    "display tokens wrong length": (changed(GOOD, display_tokens=["a"]),
                                    "display_tokens has 1 entries but there are 2 tokens"),
    "layer indices wrong": (changed(GOOD, layer_indices=[0, 1]), "layer_indices must list 1 distinct"),
    "unknown kind": (changed(GOOD, kind="sideways"), "kind must be one of self, encoder, decoder, cross"),
    "causal not a boolean": (changed(GOOD, causal="yes"), "causal must be true or false, got a string"),
    "text not a string": (changed(GOOD, text=3), "text must be a string, got a number"),
    "newer format": (changed(GOOD, format="attnviz/extracted-9"), "newer than this version reads"),
    "unknown format": (changed(GOOD, format="other"), "unknown format 'other'"),
    "bad model": (changed(GOOD, model={"model_type": "bert"}), "model is not a valid model object: missing"),
    "bad prediction": (changed(GOOD, prediction={"labels": ["a"], "logits": [1, 2], "probabilities": [1]}),
                       "prediction is not a valid prediction object: prediction has 2 logits"),
    "parts not an object": (changed(GOOD, parts=[1]), "parts must be an object"),
    "bad part": (changed(GOOD, parts={"decoder": {"tokens": ["a"], "attention_matrices": [[[[2.0]]]]}}),
                 r"parts\.decoder: attention_matrices at layer 0, head 0, query 0, key 0 is 2, outside"),
    "backend heads differ between layers": (
        changed(GOOD_BACKEND, layers=[GOOD_BACKEND["layers"][0],
                                      {"layer_idx": 1, "heads": [{"head_idx": h, "attention": [[0.5, 0.5], [1, 0]]}
                                                                 for h in (1, 0)]}]),
        "layer 1 has 2 heads but layer 0 has 1; all layers must have the same number of heads"),
    "backend matrix does not match tokens": (
        changed(GOOD_BACKEND, tokens=["a"]), "layer 0, head 0: attention has 2 rows but there are 1 tokens"),
    "backend ragged": (
        changed(GOOD_BACKEND, layers=[{"heads": [{"attention": [[0.5, 0.5], [1.0]]}]}]),
        "layer 0, head 0: attention at query 1 has 1 values but there are 2 tokens"),
    "backend wrong rank": (
        changed(GOOD_BACKEND, layers=[{"heads": [{"attention": [0.5, 0.5]}]}]),
        r"layer 0, head 0: attention is nested 1 deep \(shape \(2,\)\), expected 2 deep"),
    "backend null": (
        changed(GOOD_BACKEND, layers=[{"heads": [{"attention": [[0.5, 0.5], [None, 1.0]]}]}]),
        "layer 0, head 0: attention at query 1, key 0 is null"),
    "backend layers empty": (changed(GOOD_BACKEND, layers=[]), "layers must be a non-empty list .*got an empty list"),
    "backend layer without heads": (changed(GOOD_BACKEND, layers=[{"layer_idx": 0}]),
                                    r"layers\[0\] must be an object with a non-empty list 'heads'"),
    "backend duplicate layer": (changed(GOOD_BACKEND, layers=GOOD_BACKEND["layers"] * 2),
                                r"layers\[1\].layer_idx 0 appears twice"),
    "backend head_idx wrong": (
        changed(GOOD_BACKEND, layers=[{"heads": [{"head_idx": 3, "attention": [[0.5, 0.5], [1.0, 0.0]]}]}]),
        "head_idx values must be 0 to 0, each once"),
    "backend missing text": (changed(GOOD_BACKEND, text=...), "missing key 'text'"),
}


@pytest.mark.parametrize("case", list(BAD_DOCUMENTS))
def test_invalid_documents_raise_one_line_format_errors(tmp_path, case) -> None:
    document, message = BAD_DOCUMENTS[case]
    path = write_json(tmp_path / "bad.json", document)
    with pytest.raises(FormatError, match=message) as raised:
        read_attention_file(path)
    text = str(raised.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert isinstance(raised.value, AttnvizError)


def test_the_good_documents_are_good(tmp_path) -> None:
    assert read_attention_file(write_json(tmp_path / "e.json", GOOD)).attentions.shape == (1, 1, 2, 2)
    assert read_attention_file(write_json(tmp_path / "b.json", GOOD_BACKEND)).attentions.shape == (1, 1, 2, 2)


BAD_CONTENT = {
    "empty": (b"", "the file is empty"),
    "only whitespace": (b"  \n\t", "the file is empty"),
    "truncated": (b'{"tokens": ["a"], "text": "", "attention_matrices": [[[[0.5, 0.',
                  r"truncated JSON: unexpected end of data at line 1, column \d+ \(character \d+\); the file ends"),
    "malformed": (b'{"tokens": ["a"],\n "text": "" "attention_matrices": []}',
                  r"malformed JSON at line 2, column 13 \(character 30\): unexpected character"),
    "NaN": (json.dumps({"tokens": ["a"], "text": "", "attention_matrices": [[[[float("nan")]]]]}).encode(),
            r"invalid JSON: NaN at line 1, column \d+ .* is not a JSON value \(Python's json module writes it"),
    "Infinity": (b'{"attention_matrices": [[[[Infinity]]]]}', "invalid JSON: Infinity at"),
    "-Infinity": (b'{"attention_matrices": [[[[-Infinity]]]]}', "invalid JSON: Infinity at"),
    "not UTF-8": (b'{"tokens": ["\xff"]}', "not UTF-8 text: invalid byte at offset 13; JSON files must be UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_CONTENT))
def test_unparseable_files_raise_one_line_format_errors(tmp_path, case) -> None:
    content, message = BAD_CONTENT[case]
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message) as raised:
        read_attention_file(path)
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


def test_missing_path_and_directory(tmp_path) -> None:
    with pytest.raises(FormatError, match=r"missing\.json: file not found; check the path"):
        read_attention_file(tmp_path / "missing.json")
    with pytest.raises(FormatError, match="is a directory, not a JSON file"):
        read_attention_file(tmp_path)


def test_unreadable_file(tmp_path, monkeypatch) -> None:
    path = write_json(tmp_path / "locked.json", GOOD)

    def denied(self: Path) -> bytes:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(FormatError, match="locked.json: permission denied"):
        read_attention_file(path)


# -- writing: errors and atomicity ------------------------------------------------------------------


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


def test_unserialisable_values_raise_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="cannot serialise the data as JSON"):
        write_backend_json({"tokens": [], "text": "", "layers": [], "extra": object()}, tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", ["extracted", "backend"])
def test_unwritable_paths_raise_one_line_errors(tmp_path, random_attention, writer) -> None:
    data = random_attention(1, 1, 3)

    def write(path: Path) -> Path:
        return write_extracted_json(data, path) if writer == "extracted" else write_backend_json(prepare(data), path)

    with pytest.raises(InputError, match=r"cannot write .*out\.json: directory .*missing does not exist; create it"):
        write(tmp_path / "missing" / "out.json")
    with pytest.raises(InputError, match="it is a directory; give a file name inside it"):
        write(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match=r"directory .*file is not a directory"):
        write(tmp_path / "file" / "out.json")


def test_permission_denied_is_an_input_error(tmp_path, random_attention, monkeypatch) -> None:
    def denied(*args: Any, **kwargs: Any) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(InputError, match="cannot write .*: permission denied; choose a directory you can write to"):
        write_extracted_json(random_attention(1, 1, 3), tmp_path / "out.json")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_directory(tmp_path, random_attention) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(InputError, match="permission denied"):
            write_extracted_json(random_attention(1, 1, 3), locked / "out.json")
    finally:
        locked.chmod(0o700)


class FailingFile:
    """A file object that writes half of what it is given, then fails (a full disk)."""

    def __init__(self, handle: Any, error: BaseException) -> None:
        self._handle, self._error = handle, error

    def write(self, payload: bytes) -> int:
        self._handle.write(payload[: len(payload) // 2])
        self._handle.flush()
        raise self._error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, random_attention, monkeypatch, error) -> None:
    target = tmp_path / "attention.json"
    old = write_extracted_json(random_attention(1, 1, 3, seed=1), target).read_bytes()
    real_fdopen = os.fdopen
    seen: list[int] = []

    def fdopen(descriptor: int, *args: Any, **kwargs: Any) -> FailingFile:
        seen.append(descriptor)
        return FailingFile(real_fdopen(descriptor, *args, **kwargs), error)

    monkeypatch.setattr(os, "fdopen", fdopen)
    expected = InputError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected, match="No space left on device" if expected is InputError else None):
        write_extracted_json(random_attention(2, 2, 6, seed=2), target)

    assert seen, "the write went through os.fdopen"
    assert [path.name for path in tmp_path.iterdir()] == ["attention.json"]  # no temporary file
    assert target.read_bytes() == old


def test_a_failure_before_the_rename_leaves_nothing(tmp_path, random_attention, monkeypatch) -> None:
    def fail(descriptor: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(InputError, match=r"cannot write .*new\.json: Input/output error"):
        write_backend_json(prepare(random_attention(1, 1, 3)), tmp_path / "new.json")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_creates_files_with_normal_permissions(tmp_path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_output(tmp_path / "out.bin") as handle:
        handle.write(b"data")
        assert list(tmp_path.iterdir()) != [tmp_path / "out.bin"]  # not there until the end
    assert (tmp_path / "out.bin").read_bytes() == b"data"
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [path.name for path in tmp_path.iterdir()] == ["out.bin"]
