"""The Generation record: round trip through a dict, one-line errors, marks, kept by transformations."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from conftest import make_attention, make_encoder_decoder

from attnviz_widget.errors import FormatError
from attnviz_widget.generation import Alternative, Generation, StepScore, generated_marks


def make_generation(section: str = "self", prompt_tokens: int = 4, steps: int = 2,
                    finish_reason: str = "length") -> Generation:
    scores = tuple(
        StepScore(
            token_id=10 + i, token=f"Ġw{i}", display=f"w{i}", probability=0.5 - 0.1 * i, entropy=1.25 + i,
            top=(Alternative(10 + i, f"Ġw{i}", f"w{i}", 0.5 - 0.1 * i), Alternative(3, "<b>", "<b>", 0.2)),
            sampled_probability=0.75,
        )
        for i in range(steps)
    )
    return Generation(prompt="the film", text=" w0 w1", section=section, prompt_tokens=prompt_tokens, steps=scores,
                      finish_reason=finish_reason, settings={"max_new_tokens": 2, "seed": None})  # type: ignore[arg-type]


def test_round_trip_through_json() -> None:
    generation = make_generation(finish_reason="eos")
    document = json.loads(json.dumps(generation.to_dict()))
    assert document["stopped_at_eos"] is True and document["generated_tokens"] == 2
    assert Generation.from_dict(document) == generation
    assert generation.probabilities.tolist() == [0.5, 0.4] and generation.entropies.tolist() == [1.25, 2.25]
    assert generation.token_ids.dtype == np.int64 and generation.token_ids.tolist() == [10, 11]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("steps"), "missing 'steps'"),
        (lambda d: d.update(steps="x"), "steps must be a list"),
        (lambda d: d.update(prompt_tokens="4"), "prompt_tokens must be an integer"),
        (lambda d: d.update(finish_reason="tired"), "finish_reason must be one of eos, length, stop"),
        (lambda d: d.update(section="cross"), "section must be 'self' or 'decoder'"),
        (lambda d: d["steps"][0].update(probability=1.5), r"probability must lie in \[0, 1\]"),
        (lambda d: d["steps"][1].update(entropy=-1), "entropy must be a non-negative number"),
        (lambda d: d["steps"][0].pop("token_id"), "missing 'token_id'"),
        (lambda d: d["steps"][0]["top"][0].update(probability=None), "generation is not a valid generation object"),
    ],
)
def test_malformed_records_are_one_line_format_errors(change, message: str) -> None:
    document = make_generation().to_dict()
    change(document)
    with pytest.raises(FormatError, match=message) as error:
        Generation.from_dict(document)
    assert "\n" not in str(error.value) and str(error.value).startswith("generation is not a valid generation object")


def test_not_an_object_is_refused() -> None:
    with pytest.raises(FormatError, match="expected an object, got list"):
        Generation.from_dict([1, 2])


def test_generated_mask_and_description() -> None:
    generation = make_generation(prompt_tokens=3, steps=2)
    assert generation.generated_mask(6).tolist() == [False, False, False, True, True, False]
    with pytest.raises(ValueError, match="the axis has 4 tokens but the generation spans 5"):
        generation.generated_mask(4)
    assert generation.describe() == "generated 2 tokens, reached max_new_tokens"
    assert make_generation(steps=1, finish_reason="eos").describe() == (
        "generated 1 token, stopped at the end-of-sequence token"
    )


def test_marks_of_a_decoder_only_result() -> None:
    data = replace(make_attention(seq=6, causal=True), generation=make_generation(prompt_tokens=4, steps=2))
    queries, keys = generated_marks(data)  # type: ignore[misc]
    assert queries.tolist() == keys.tolist() == [False] * 4 + [True] * 2
    assert generated_marks(make_attention(seq=6)) is None


def test_marks_of_an_encoder_decoder_result() -> None:
    generation = make_generation(section="decoder", prompt_tokens=1, steps=2)
    data = make_encoder_decoder()
    data = replace(data, generation=generation,
                   parts={name: replace(part, generation=generation) for name, part in data.parts.items()})
    assert generated_marks(data) is None  # the encoder reads the prompt
    queries, keys = generated_marks(data.part("decoder"))  # type: ignore[misc]
    assert queries.tolist() == keys.tolist() == [False, True, True]
    queries, keys = generated_marks(data.part("cross"))  # type: ignore[misc]
    assert queries.tolist() == [False, True, True] and not keys.any() and len(keys) == 5


def test_select_layers_and_without_padding_keep_the_record() -> None:
    generation = make_generation(prompt_tokens=4, steps=2)
    data = replace(make_attention(layers=3, seq=6, causal=True), generation=generation)
    assert data.select_layers([2, 0]).generation is generation
    assert data.without_padding().generation is generation


def test_the_records_import_without_torch() -> None:
    code = "import sys, attnviz_widget.generation as g; g.Generation; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
