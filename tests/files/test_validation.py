"""Every malformed document gets a one-line FormatError that names the place of the problem."""

from __future__ import annotations

import pytest
from files_support import GOOD, GOOD_BACKEND, changed, two_layers, write_json

from attnviz_widget.errors import AttnvizError, FormatError
from attnviz_widget.files import read_attention_file

MODEL_DOC = {"model_type": "bert", "architecture": "encoder", "num_layers": 1, "num_heads": 1, "name": "m"}
PREDICTION_DOC = {"labels": ["a", "b"], "logits": [0.5, -0.5], "probabilities": [0.73, 0.27]}

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
    "model count not an integer": (changed(GOOD, model={**MODEL_DOC, "num_layers": 1e300}),
                                   "model is not a valid model object: num_layers must be a non-negative integer"),
    "model name not a string": (changed(GOOD, model={**MODEL_DOC, "name": 5}), "name must be a string, got a number"),
    "labels not a list": (changed(GOOD, prediction={**PREDICTION_DOC, "labels": "ab"}),
                          "prediction is not a valid prediction object: labels must be a list of strings"),
    "logits beyond float32": (changed(GOOD, prediction={**PREDICTION_DOC, "logits": [1e308, 0]}),
                              "logits must be a list of finite float32 numbers"),
    "probabilities nested": (changed(GOOD, prediction={**PREDICTION_DOC, "probabilities": [[0.5], 0.5]}),
                             "probabilities must be a list of finite float32 numbers"),
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
    with_facts = changed(GOOD, model=MODEL_DOC, prediction=PREDICTION_DOC)
    assert read_attention_file(write_json(tmp_path / "m.json", with_facts)).prediction.labels == ("a", "b")
    assert read_attention_file(write_json(tmp_path / "e.json", GOOD)).attentions.shape == (1, 1, 2, 2)
    assert read_attention_file(write_json(tmp_path / "b.json", GOOD_BACKEND)).attentions.shape == (1, 1, 2, 2)
