"""The safetensors format: exact round trips, float16, memory mapping, interoperability with
the safetensors library, and one-line errors for truncated and foreign files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
from files_support import MODEL, PREDICTION, assert_same_data
from safetensors import safe_open

from attnviz_widget.data import AttentionData, TokenSequence
from attnviz_widget.errors import FormatError, InputError
from attnviz_widget.files import (
    SAFETENSORS_FORMAT,
    read_attention_file,
    read_extracted,
    read_extracted_json,
    write_attention,
    write_extracted_json,
    write_safetensors,
)
from attnviz_widget.files.safetensors_layout import write_tensors
from attnviz_widget.prepare import prepare


def assert_same_everything(read: AttentionData, written: AttentionData) -> None:
    assert set(read.sections) == set(written.sections)
    for name, part in written.sections.items():
        assert_same_data(read.part(name), part)
        assert read.part(name).model == written.model
    assert read.model == written.model
    if written.prediction is None:
        assert read.prediction is None
    else:
        np.testing.assert_array_equal(read.prediction.logits, written.prediction.logits)
        np.testing.assert_array_equal(read.prediction.probabilities, written.prediction.probabilities)
        assert read.prediction.labels == written.prediction.labels


def is_memory_mapped(array: np.ndarray) -> bool:
    while array is not None:
        if isinstance(array, np.memmap):
            return True
        array = array.base  # type: ignore[assignment]
    return False


def test_round_trip_is_exact_and_memory_mapped(tmp_path, random_attention) -> None:
    data = random_attention(3, 2, 9, padding=3, model=MODEL, prediction=PREDICTION, causal=True)
    path = write_attention(data, tmp_path / "run.safetensors")

    assert path == tmp_path / "run.safetensors"
    read = read_attention_file(path)
    assert_same_everything(read, data)
    assert read.queries.mask.tolist() == [True] * 6 + [False] * 3
    assert is_memory_mapped(read.attentions) and not read.attentions.flags.writeable
    assert [p.name for p in tmp_path.iterdir()] == ["run.safetensors"]


def test_encoder_decoder_and_selected_layers_round_trip(tmp_path, random_encoder_decoder, random_attention) -> None:
    seq2seq = random_encoder_decoder()
    read = read_attention_file(write_safetensors(seq2seq, tmp_path / "seq2seq.safetensors"))
    assert_same_everything(read, seq2seq)
    assert not read.part("cross").is_self_attention and read.part("decoder").causal
    assert read.part("cross").keys.display == ("<s>", "the", "film", "</s>", "<pad>")

    subset = random_attention(4, 2, 5).select_layers([3, 1])
    assert read_attention_file(write_attention(subset, tmp_path / "s.safetensors")).layer_indices == (3, 1)


def test_the_same_data_as_the_extracted_json(tmp_path, random_attention) -> None:
    data = random_attention(2, 3, 7, padding=2, model=MODEL, prediction=PREDICTION)
    from_json = read_extracted_json(write_extracted_json(data, tmp_path / "a.json"))
    from_binary = read_extracted(write_attention(data, tmp_path / "a.safetensors"))
    assert_same_everything(from_binary, from_json)


def test_hostile_strings_survive_exactly(tmp_path) -> None:
    tokens = ("<script>alert(1)</script>", "👩\u200d👩\u200d👧", "שלום", "\x00\x07", '"},"x":{', "é", "\U00010000")
    queries = TokenSequence(tokens, display=tuple(reversed(tokens)))
    attentions = np.full((1, 1, 7, 7), 1 / 7, dtype=np.float32)
    data = AttentionData(attentions=attentions, queries=queries, text="\u202eevil\u200b " * 3)
    read = read_attention_file(write_safetensors(data, tmp_path / "odd.safetensors"))
    assert read.tokens == tokens and read.queries.display == tuple(reversed(tokens))
    assert read.text == data.text


@pytest.mark.parametrize("where", ["token", "text"])
def test_strings_that_are_not_unicode_are_refused(tmp_path, where) -> None:
    # a high and a low surrogate apart would come back joined into one character: refused, as JSON does
    tokens = ("a", "\ud800\udc00" if where == "token" else "b")
    data = AttentionData(attentions=np.full((1, 1, 2, 2), 0.5, dtype=np.float32), queries=TokenSequence(tokens),
                         text="\udcff" if where == "text" else "")
    with pytest.raises(InputError, match="cannot save the tokens and text: str is not valid UTF-8: surrogates not "
                                         "allowed; they must be valid Unicode"):
        write_safetensors(data, tmp_path / "bad.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_a_lone_surrogate_escape_in_the_metadata_is_refused(good_file) -> None:
    tensors, metadata = parts_of(good_file)
    document = json.loads(metadata["attnviz"])
    document["main"]["tokens"][0] = "\ud800"
    changed = rewritten(good_file.with_name("surrogate.safetensors"), tensors,
                        {**metadata, "attnviz": json.dumps(document)})
    assert "the 'attnviz' metadata is not valid JSON: " in read_error(changed)


def test_float16_halves_the_file_within_half_precision(tmp_path, random_attention) -> None:
    data = random_attention(2, 4, 32, model=MODEL)
    full = write_attention(data, tmp_path / "full.safetensors")
    half = write_attention(data, tmp_path / "half.safetensors", dtype="float16")

    read = read_attention_file(half)
    assert read.attentions.dtype == np.float32
    np.testing.assert_allclose(read.attentions, data.attentions, rtol=2.0**-11, atol=6e-8)
    assert not np.array_equal(read.attentions, data.attentions)  # it really is float16 on disk
    matrices = data.attentions.nbytes
    assert full.stat().st_size - half.stat().st_size == matrices // 2
    with safe_open(str(half), framework="numpy") as handle:
        assert handle.metadata()["attention_dtype"] == "float16"
        assert handle.get_slice("main.attentions").get_dtype() == "F16"


def test_the_safetensors_library_reads_the_file(tmp_path, random_encoder_decoder) -> None:
    data = random_encoder_decoder()
    path = write_safetensors(data, tmp_path / "run.safetensors")
    tensors = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(tensors["main.attentions"], data.attentions)
    np.testing.assert_array_equal(tensors["parts.cross.attentions"], data.part("cross").attentions)
    assert tensors["parts.cross.key_attention_mask"].tolist() == [1, 1, 1, 1, 0]
    np.testing.assert_array_equal(tensors["prediction.logits"], data.prediction.logits)
    with safe_open(str(path), framework="numpy") as handle:
        metadata = handle.metadata()
    assert (metadata["format"], metadata["store"], metadata["attention_dtype"]) == (SAFETENSORS_FORMAT, "dense",
                                                                                     "float32")
    document = json.loads(metadata["attnviz"])
    assert document["main"]["tokens"] == list(data.tokens)
    assert document["model"] == data.model.to_dict()
    assert set(document["parts"]) == {"decoder", "cross"}


def test_tensors_are_aligned_for_memory_mapping(tmp_path, random_attention) -> None:
    path = write_attention(random_attention(1, 1, 3, prediction=PREDICTION), tmp_path / "a.safetensors")
    content = path.read_bytes()
    length = int.from_bytes(content[:8], "little")
    header = json.loads(content[8 : 8 + length])
    assert (8 + length) % 8 == 0
    for name, entry in header.items():
        if name != "__metadata__":
            itemsize = {"F32": 4, "F16": 2, "U8": 1}[entry["dtype"]]
            assert entry["data_offsets"][0] % itemsize == 0, name


# -- write_attention picks the format by name -------------------------------------------------


def test_write_attention_picks_the_format(tmp_path, random_attention) -> None:
    data = random_attention(1, 2, 4)
    assert json.loads(write_attention(data, tmp_path / "a.json").read_text())["format"] == "attnviz/extracted-1"
    assert "layers" in json.loads(write_attention(prepare(data), tmp_path / "b.json").read_text())
    assert write_attention(data, tmp_path / "c.SAFETENSORS").read_bytes()[8:9] == b"{"
    with pytest.raises(InputError, match="dtype 'float16' applies to .safetensors files only"):
        write_attention(data, tmp_path / "d.json", dtype="float16")
    with pytest.raises(InputError, match="a .safetensors file holds AttentionData .*got dict"):
        write_attention(prepare(data), tmp_path / "e.safetensors")
    with pytest.raises(InputError, match="dtype must be 'float32' or 'float16', got 'int8'"):
        write_safetensors(data, tmp_path / "f.safetensors", dtype="int8")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "c.SAFETENSORS"]


def test_non_finite_attention_is_refused_and_nothing_written(tmp_path, random_attention) -> None:
    values = random_attention(2, 2, 4).attentions.copy()
    values[1, 1, 0, 2] = np.nan
    data = AttentionData.from_arrays(["a", "b", "c", "d"], values)
    with pytest.raises(InputError, match="NaN or infinity .*layer 1, head 1, query 0, key 2"):
        write_attention(data, tmp_path / "x.safetensors")
    assert list(tmp_path.iterdir()) == []


# -- truncated and foreign files ----------------------------------------------------------------


@pytest.fixture
def good_file(tmp_path, random_attention) -> Path:
    return write_attention(random_attention(2, 2, 6, model=MODEL), tmp_path / "good.safetensors")


def read_error(path: Path) -> str:
    with pytest.raises(FormatError) as raised:
        read_attention_file(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


@pytest.mark.parametrize("keep", [0, 5, 8, 20, -1, -100])
def test_truncated_files_say_so(tmp_path, good_file, keep) -> None:
    content = good_file.read_bytes()
    names = ["cut.safetensors"]
    if keep == 0 or keep >= 8:  # told by the content too, once the length's zero bytes are there
        names.append("cut.bin")
    for name in names:
        path = tmp_path / name
        path.write_bytes(content[:keep])
        if keep == 0 and name == "cut.bin":
            assert "the file is empty" in read_error(path)
        else:
            assert "truncated safetensors file" in read_error(path)


def foreign(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None) -> Path:
    safetensors.numpy.save_file(tensors, str(path), metadata=metadata)
    return path


def test_model_weights_are_not_attention(tmp_path) -> None:
    weights = {"encoder.layer.0.attention.self.query.weight": np.zeros((4, 4), np.float32)}
    message = read_error(foreign(tmp_path / "model.safetensors", weights, {"format": "pt"}))
    assert "a safetensors file but not an attnviz attention file" in message
    assert "tensors: encoder.layer.0.attention.self.query.weight" in message
    assert "not an attnviz attention file" in read_error(foreign(tmp_path / "bare.safetensors", weights, None))


def test_not_safetensors_at_all(tmp_path) -> None:
    path = tmp_path / "notes.safetensors"
    path.write_bytes(b"PK\x03\x04 a zip file, or anything else, long enough")
    assert "not a safetensors file: it does not start with a header length" in read_error(path)
    path.write_bytes((30).to_bytes(8, "little") + b"\xff" * 40)
    assert "not a safetensors file: its header is not JSON" in read_error(path)
    path.write_bytes((4).to_bytes(8, "little") + b"[1] ")
    assert "its header is not a JSON object" in read_error(path)


def rewritten(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> Path:
    with path.open("wb") as handle:
        write_tensors(handle, tensors, metadata)
    return path


def parts_of(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with safe_open(str(path), framework="numpy") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}, dict(handle.metadata())


def changed_metadata(path: Path, **changes: Any) -> Path:
    tensors, metadata = parts_of(path)
    six = json.dumps(list("abcdef"))
    metadata.update({key: value.replace("SIX", six) for key, value in changes.items()})
    return rewritten(path.with_name("changed.safetensors"), tensors, metadata)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "attnviz/safetensors-7"}, "format 'attnviz/safetensors-7' is newer than this version reads"),
        ({"store": "sparse"}, "store 'sparse' is not supported by this version"),
        ({"attnviz": "{not json"}, "the 'attnviz' metadata is not valid JSON"),
        ({"attnviz": "[]"}, "has no 'main' section"),
        ({"attnviz": '{"main": {"tokens": ["a"], "text": ""}}'},
         "main: attention_mask must be a list of 1 values 0 or 1, one per token"),
        ({"attnviz": '{"main": {"tokens": ["a", 1], "text": ""}}'}, "main: tokens[1] is a number"),
        ({"attnviz": '{"main": {"tokens": SIX, "layer_indices": [0, 0]}}'},
         "main: layer_indices must list 2 distinct non-negative integers"),
        ({"attnviz": '{"main": {"tokens": SIX}, "parts": []}'}, "'parts' is not an object"),
        ({"attnviz": '{"main": {"tokens": SIX}, "parts": {"cross": {"tokens": SIX}}}'},
         "tensor 'parts.cross.attentions' is missing"),
        ({"attnviz": '{"main": {"tokens": SIX}, "prediction": {"labels": ["x"]}}'},
         "prediction needs labels in the metadata and tensors"),
        ({"attnviz": '{"main": {"tokens": SIX}, "model": {"model_type": "bert"}}'},
         "model is not a valid model object: missing"),
    ],
)
def test_damaged_metadata(good_file, changes, message) -> None:
    assert message in read_error(changed_metadata(good_file, **changes))


def test_damaged_tensors(good_file) -> None:
    tensors, metadata = parts_of(good_file)
    bad = rewritten(good_file.with_name("bad.safetensors"), {**tensors, "main.attentions": np.zeros((2, 2), np.int64)},
                    metadata)
    assert "tensor 'main.attentions' must be float (layers, heads, query, key), got int64" in read_error(bad)
    flags = {**tensors, "main.attention_mask": np.array([1, 2, 1, 1, 1, 1], np.uint8)}
    assert "main: attention_mask must be a list of 6 values 0 or 1" in read_error(
        rewritten(good_file.with_name("flags.safetensors"), flags, metadata))
    content = bytearray(good_file.read_bytes())
    length = int.from_bytes(content[:8], "little")
    header = json.loads(content[8 : 8 + length])
    header["main.attentions"]["shape"] = [2, 2, 6, 7]
    encoded = json.dumps(header, separators=(",", ":")).encode().ljust(length)
    assert len(encoded) == length
    (good_file.parent / "shape.safetensors").write_bytes(bytes(content[:8]) + encoded + bytes(content[8 + length :]))
    assert "tensor 'main.attentions': data_offsets span" in read_error(good_file.parent / "shape.safetensors")


def test_the_widget_opens_a_safetensors_file_without_the_model(tmp_path, random_attention) -> None:
    from attnviz_widget import AttentionWidget

    data = random_attention(2, 3, 8, padding=2, model=MODEL)
    widget = AttentionWidget.from_file(write_attention(data, tmp_path / "run.safetensors"))
    assert widget.data is not None and widget.data.tokens == data.tokens
    np.testing.assert_array_equal(widget.data.attentions, data.attentions)


@pytest.mark.slow  # builds a tiny GPT-2 and generates with it
def test_generated_text_keeps_its_generation(tmp_path) -> None:
    from tiny_models import build_gpt2

    from attnviz_widget.generation import generate

    data = generate(str(build_gpt2(tmp_path / "gpt2")), "the movie was", max_new_tokens=4, device="cpu")
    read = read_attention_file(write_attention(data, tmp_path / "generated.safetensors"))
    assert read.generation == data.generation and read.generation is not None
    np.testing.assert_array_equal(read.attentions, data.attentions)
