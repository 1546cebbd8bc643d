"""The comparison view's payload: alignment in unpadded indices, score grids, names."""

from __future__ import annotations

import numpy as np
from conftest import make_attention

from attnviz_widget.comparison import compare
from attnviz_widget.comparison.wire import comparison_traits

GOOD = ["[CLS]", "the", "movie", "was", "good", "[SEP]", "[PAD]", "[PAD]"]
NOT_GOOD = ["[CLS]", "the", "movie", "was", "not", "good", "[SEP]"]


def test_alignment_uses_the_indices_of_each_side_without_padding() -> None:
    a = make_attention(2, 3, 8, padding=2, tokens=GOOD, seed=1)
    b = make_attention(2, 3, 7, tokens=NOT_GOOD, seed=2)
    comparison = compare(a, b, labels=("good", "not good"))
    traits = comparison_traits(comparison)
    queries = np.frombuffer(traits["align_queries"], dtype="<i4").reshape(2, -1)
    assert queries.tolist() == [[0, 1, 2, 3, -1, 4, 5], [0, 1, 2, 3, 4, 5, 6]]
    assert traits["align_keys"] == traits["align_queries"]
    meta = traits["compare_meta"]
    assert meta["names"] == ["A (good)", "B (not good)"] and meta["mode"] == "align"
    assert meta["query_labels"][4] == "+not" and meta["columns"] == [7, 7]
    scores = np.frombuffer(traits["scores"], dtype="<f4").reshape(len(meta["metrics"]), 2, 3)
    for index, metric in enumerate(meta["metrics"]):
        np.testing.assert_allclose(scores[index], comparison.head_scores(metric), rtol=1e-6)


def test_padding_in_the_middle_of_the_axis_is_skipped() -> None:
    tokens = ["[PAD]", "[CLS]", "x", "[SEP]"]  # left padding
    a = make_attention(1, 1, 4, tokens=tokens, seed=3)
    a = type(a).from_arrays(tokens, a.attentions, mask=[False, True, True, True])
    b = make_attention(1, 1, 3, tokens=tokens[1:], seed=4)
    queries = np.frombuffer(comparison_traits(compare(a, b))["align_queries"], dtype="<i4").reshape(2, -1)
    assert queries.tolist() == [[0, 1, 2], [0, 1, 2]]
