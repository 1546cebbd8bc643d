"""Fuzzing the file readers with hypothesis: generated and mutated JSON documents and
damaged safetensors files.

Whatever the file holds, :func:`read_attention_file` either returns valid
:class:`AttentionData` (which then writes and reads back unchanged) or raises one
:class:`FormatError` line that starts with the file's path; never another exception.
Runs derandomized under ``CI=true`` (the ``ci`` profile in ``conftest.py``).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from attnviz_widget.data import AttentionData
from attnviz_widget.errors import FormatError, InputError
from attnviz_widget.files import read_attention_file, write_attention, write_extracted_json

#: Examples per test; ATTNVIZ_FUZZ_EXAMPLES=2000 for a deeper search by hand.
FUZZ = settings(max_examples=int(os.environ.get("ATTNVIZ_FUZZ_EXAMPLES", "30")),
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


# -- strategies ---------------------------------------------------------------------------------

HOSTILE_TOKENS = ["<script>alert(1)</script>", "</svg><img src=x onerror=alert(1)>", "&amp;", "\u202e",
                  "👩\u200d👩\u200d👧", "\u200b", "[PAD]", "<pad>", "[CLS]", "\x00", "\n", "\ud800", "שלום", ""]

tokens_strategy = st.lists(
    st.one_of(st.sampled_from(HOSTILE_TOKENS), st.text(max_size=6),
              st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=2)),
    min_size=1, max_size=6,
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=8)


@st.composite
def extracted_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid extracted document of random shape, with optional extras."""
    tokens = draw(tokens_strategy)
    layers, heads, seq = draw(st.integers(1, 3)), draw(st.integers(1, 3)), len(tokens)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.random((layers, heads, seq, seq)) + 1e-3
    document: dict[str, Any] = {"tokens": tokens, "text": draw(st.text(max_size=10)),
                                "attention_matrices": (values / values.sum(-1, keepdims=True)).tolist()}
    if draw(st.booleans()):
        document["attention_mask"] = draw(st.lists(st.integers(0, 1), min_size=seq, max_size=seq))
    if draw(st.booleans()):
        document["layer_indices"] = draw(st.permutations(range(layers + 2)))[:layers]
    if draw(st.booleans()):
        document["kind"] = draw(st.sampled_from(["self", "encoder", "decoder", "cross", "other"]))
    if draw(st.booleans()):
        document["model"] = {"model_type": "bert", "architecture": "encoder", "num_layers": layers,
                             "num_heads": heads, "name": draw(st.one_of(st.none(), st.text(max_size=5)))}
    if draw(st.booleans()):
        document["prediction"] = {"labels": ["neg", "pos"], "logits": [0.25, -1.5], "probabilities": [0.85, 0.15]}
    return document


@st.composite
def backend_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid backend document of random shape."""
    tokens = draw(tokens_strategy)
    seq, heads = len(tokens), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def matrix() -> list[list[float]]:
        values = rng.random((seq, seq)) + 1e-3
        return (values / values.sum(-1, keepdims=True)).tolist()

    layers = [{"layer_idx": index, "heads": [{"head_idx": h, "attention": matrix()} for h in range(heads)]}
              for index in range(draw(st.integers(1, 3)))]
    return {"tokens": tokens, "text": draw(st.text(max_size=10)), "layers": layers}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a tree of dicts and lists, as a tuple of keys and indices."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:4]):  # the first few of long lists are enough
            yield from paths(item, (*prefix, index))


def replaced(document: Any, place: tuple[Any, ...], value: Any) -> Any:
    if not place:
        return value
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[place[0]] = replaced(document[place[0]], place[1:], value)
    return copy


def removed(document: Any, place: tuple[Any, ...]) -> Any:
    """``document`` without the item at ``place`` (a ragged list or a missing key)."""
    if len(place) == 1:
        copy = dict(document) if isinstance(document, dict) else list(document)
        del copy[place[0]]
        return copy
    return replaced(document, place[:1], removed(document[place[0]], place[1:]))


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """A valid document with one to three mutations: a value replaced, an item removed, a list repeated."""
    document: Any = draw(st.one_of(extracted_documents(), backend_documents()))
    for _ in range(draw(st.integers(1, 3))):
        places = list(paths(document))
        place = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["replace", "remove", "repeat"]))
        target = document
        for key in place:
            target = target[key]
        if action == "remove" and place:
            document = removed(document, place)
        elif action == "repeat" and isinstance(target, list) and target:
            document = replaced(document, place, target + target[:1])
        else:
            document = replaced(document, place, draw(json_values))
    return document


# -- the property -------------------------------------------------------------------------------


def check_outcome(path: Path) -> AttentionData | None:
    """Read ``path``: valid data that round-trips, or one FormatError line naming the file."""
    try:
        data = read_attention_file(path)
    except FormatError as error:
        message = str(error)
        assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 2000, message
        return None
    assert data.attentions.dtype == np.float32 and data.attentions.ndim == 4
    assert data.attentions.shape[2:] == (len(data.queries), len(data.keys))
    assert np.isfinite(data.attentions).all()
    assert len(data.layer_indices) == data.num_layers
    for part in data.parts.values():
        assert part.attentions.shape[2:] == (len(part.queries), len(part.keys))
    again = path.with_name("again.safetensors")
    read = read_attention_file(write_attention(data, again))
    np.testing.assert_array_equal(read.attentions, data.attentions)
    assert read.tokens == data.tokens and read.text == data.text
    try:
        write_extracted_json(data, path.with_name("again.json"))
    except InputError as error:  # JSON cannot hold lone surrogates; the writer says so in one line
        assert "cannot serialise the data as JSON" in str(error) and "\n" not in str(error)
    return data


def write_document(path: Path, document: Any) -> Path:
    # Python's json module, as the original tools: NaN and Infinity written bare, surrogates escaped
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@FUZZ
@given(document=st.one_of(extracted_documents(), backend_documents()))
def test_generated_documents_read_back(folder: Path, document: dict[str, Any]) -> None:
    data = check_outcome(write_document(folder / "generated.json", document))
    if data is None:  # only a lone surrogate (orjson refuses it) or an unknown kind make it invalid
        assert re.search(r"\\ud[89a-f]", json.dumps(document)) or document.get("kind") == "other"
    else:
        assert list(data.tokens) == json.loads(json.dumps(document))["tokens"]  # escaped pairs join


@FUZZ
@given(document=mutated_documents())
def test_mutated_documents_are_valid_or_one_line_errors(folder: Path, document: Any) -> None:
    check_outcome(write_document(folder / "mutated.json", document))


@FUZZ
@given(document=extracted_documents(), data=st.data())
def test_truncated_and_corrupted_bytes(folder: Path, document: dict[str, Any], data: st.DataObject) -> None:
    content = json.dumps(document).encode()
    cut = data.draw(st.integers(0, len(content)))
    position = data.draw(st.integers(0, max(len(content) - 1, 0)))
    noise = data.draw(st.binary(min_size=1, max_size=4))
    path = folder / "bytes.json"
    path.write_bytes(content[:cut])
    check_outcome(path)
    path.write_bytes(content[:position] + noise + content[position + len(noise):])
    check_outcome(path)


@FUZZ
@given(kind=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "null", "true", '"0.5"', "[]", "{}"]),
       document=extracted_documents(), data=st.data())
def test_non_numbers_in_the_matrices(folder: Path, kind: str, document: dict[str, Any], data: st.DataObject) -> None:
    text = json.dumps(document)
    start = text.index('"attention_matrices"')
    numbers = [i for i in range(start, len(text)) if text[i] in "0123456789" and text[i - 1] in "[ "]
    position = data.draw(st.sampled_from(numbers))
    end = position
    while text[end] not in ",]":
        end += 1
    path = folder / "numbers.json"
    path.write_text(text[:position] + kind + text[end:], encoding="utf-8")
    assert check_outcome(path) is None or kind in ("true",)  # a lone true reads as 1 (documented)


@settings(max_examples=5)
@given(count=st.sampled_from([20_000, 100_000]))
def test_huge_token_lists(folder: Path, count: int) -> None:
    tokens = [f"<b>{i}</b>" for i in range(count)]
    path = write_document(folder / "huge.json", {"tokens": tokens, "text": "", "attention_matrices": [[[[1.0]]]]})
    with pytest.raises(FormatError, match=f"has 1 rows but there are {count} tokens"):
        read_attention_file(path)


@FUZZ
@given(document=extracted_documents(), data=st.data())
@example(document={"tokens": ["a"], "text": "", "attention_matrices": [[[[1.0]]]]}, data=None)
def test_damaged_safetensors_files(folder: Path, document: dict[str, Any], data: st.DataObject | None) -> None:
    source = check_outcome(write_document(folder / "source.json", document))
    if source is None:
        return
    content = write_attention(source, folder / "good.safetensors").read_bytes()
    path = folder / "damaged.safetensors"
    if data is None:
        cuts, flips = [len(content) // 2], []
    else:
        cuts = [data.draw(st.integers(0, len(content) - 1))]
        flips = data.draw(st.lists(st.tuples(st.integers(0, len(content) - 1), st.integers(0, 255)), max_size=3))
    for cut in cuts:
        path.write_bytes(content[:cut])
        assert check_outcome(path) is None
    damaged = bytearray(content)
    for position, value in flips:
        damaged[position] = value
    path.write_bytes(bytes(damaged))
    check_outcome(path)


def test_fuzz_helpers_find_every_place() -> None:
    document = {"a": [1, [2, 3]], "b": {"c": None}}
    assert ("a", 1, 0) in set(paths(document)) and ("b", "c") in set(paths(document))
    assert removed(document, ("a", 1, 0)) == {"a": [1, [3]], "b": {"c": None}}
    assert replaced(document, ("b", "c"), math.inf) == {"a": [1, [2, 3]], "b": {"c": math.inf}}
