"""ComparisonWidget: each side's data under its prefix, requests answered per side, shared choices."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_attention

from attnviz_widget.comparison import compare
from attnviz_widget.comparison.view import SIDE_TRAITS, ComparisonWidget
from attnviz_widget.errors import InputError
from attnviz_widget.wire import float16_bytes

GOOD = ["[CLS]", "the", "movie", "was", "good", "[SEP]", "[PAD]", "[PAD]"]
NOT_GOOD = ["[CLS]", "the", "movie", "was", "not", "good", "[SEP]"]


@pytest.fixture
def comparison():
    a = make_attention(2, 3, 8, padding=2, tokens=GOOD, seed=1)
    b = make_attention(2, 3, 7, tokens=NOT_GOOD, seed=2)
    return compare(a, b, labels=("good", "not good"))


def test_each_side_travels_under_its_prefix(comparison) -> None:
    widget = ComparisonWidget(comparison, layer=1, head=2, metric="tv").wait(timeout=30)
    assert widget.a_tokens == GOOD[:6] and widget.b_tokens == NOT_GOOD
    assert widget.a_data_version == widget.b_data_version == 2  # the first view, then the overviews
    assert widget.a_first_matrix == float16_bytes(comparison.a.without_padding().head(1, 2))
    assert widget.b_first_matrix_of == {"layer": 1, "head": 2}
    assert widget.compare_meta["names"] == ["A (good)", "B (not good)"] and widget.metric == "tv"
    assert widget.view_kind == "comparison" and widget.layer == 1
    synced = set(widget.keys)
    assert all(f"{side}_{name}" in synced for side in "ab" for name in SIDE_TRAITS)


def test_requests_are_answered_by_their_side(comparison) -> None:
    widget = ComparisonWidget(comparison).wait(timeout=30)
    reply, payload = widget.answer_request({"type": "request", "id": "r1", "version": 2, "what": "layer",
                                            "layer": 0, "side": "b"})
    assert reply["side"] == "b" and reply["shape"] == [3, 7, 7] and reply["id"] == "r1"
    assert payload == float16_bytes(comparison.b.attentions[0])
    reply, payload = widget.answer_request({"type": "request", "id": "r2", "version": 2, "what": "layer",
                                            "layer": 0, "side": "a"})
    assert reply["shape"] == [3, 6, 6]  # padding removed
    reply, payload = widget.answer_request({"type": "request", "id": "r3", "what": "layer", "layer": 0})
    assert reply["type"] == "error" and "side 'a' or 'b'" in reply["message"] and payload is None


def test_a_layer_map_shows_only_the_compared_layers_each_in_its_numbering() -> None:
    student, teacher = make_attention(2, 2, 5, seed=3), make_attention(4, 2, 5, seed=4)
    widget = ComparisonWidget(compare(student, teacher, layer_map={0: 1, 1: 3}), layer=1).wait(timeout=30)
    assert widget.a_meta["layer_indices"] == [0, 1] and widget.b_meta["layer_indices"] == [1, 3]
    assert widget.b_first_matrix_of == {"layer": 3, "head": 0}
    assert widget.compare_meta["layer_pairs"] == [[0, 1], [1, 3]]
    assert np.frombuffer(widget.scores, dtype="<f4").shape == (2 * 2 * 2,)


def test_bad_arguments(comparison) -> None:
    with pytest.raises(InputError, match="needs an AttentionComparison"):
        ComparisonWidget(make_attention())
    with pytest.raises(TypeError, match="unexpected options: colour"):
        ComparisonWidget(comparison, colour="red")
    with pytest.raises(InputError, match="valid heads are 0 to 2"):
        ComparisonWidget(comparison, head=7)


def test_the_first_view_comes_first_and_the_overviews_follow(comparison, monkeypatch) -> None:
    """The constructor sends scores, tokens and focused matrices (data set 1, no overview); the
    overviews come as data set 2 from a background thread, the same bytes build_view makes."""
    import threading

    from attnviz_widget.comparison import view as view_module
    from attnviz_widget.wire import build_view

    release = threading.Event()
    full_payloads = view_module.full_payloads

    def held(sides):
        assert release.wait(30)
        return full_payloads(sides)

    monkeypatch.setattr(view_module, "full_payloads", held)
    widget = ComparisonWidget(comparison, layer=1, head="rollout")
    assert widget.a_data_version == widget.b_data_version == 1 and widget.scores
    assert widget.a_overview == b"" and widget.a_overview_shape == [] and widget.b_first_matrix
    assert widget.a_meta["has_rollout"] and widget.a_tokens == GOOD[:6]
    reply, payload = widget.answer_request({"type": "request", "id": "r", "version": 1, "what": "rollout", "side": "a"})
    a_view = comparison.a.without_padding()
    assert reply["type"] == "rollout" and payload == float16_bytes(a_view.rollout())  # computed on request
    with pytest.raises(TimeoutError, match="overviews were not ready"):
        widget.wait(timeout=0.01)
    release.set()
    assert widget.wait(timeout=30) is widget
    assert widget.a_data_version == widget.b_data_version == 2 and widget.status == "ready"
    for side, data in (("a", comparison.a), ("b", comparison.b)):
        expected = build_view(data, data.kind).traits
        assert getattr(widget, f"{side}_overview") == expected["overview"]
        assert getattr(widget, f"{side}_overview_shape") == expected["overview_shape"]
        assert getattr(widget, f"{side}_meta") == expected["meta"]
    stale = {"type": "request", "id": "s", "version": 1, "what": "layer", "layer": 0, "side": "b"}
    reply, _ = widget.answer_request(stale)
    assert reply["type"] == "error"  # data set 1 is gone


def test_a_failure_after_the_first_view_is_shown_and_raised(comparison, monkeypatch) -> None:
    from attnviz_widget.comparison import view as view_module

    def broken(sides):
        raise InputError("the overview could not be pooled")

    monkeypatch.setattr(view_module, "full_payloads", broken)
    widget = ComparisonWidget(comparison)
    with pytest.raises(InputError, match="could not be pooled"):
        widget.wait(timeout=30)
    assert widget.status == "error" and widget.error == "the overview could not be pooled"


def test_closing_before_the_overviews_come_and_comparing_data_with_itself() -> None:
    a = make_attention(2, 3, 9, seed=5)
    closed = ComparisonWidget(compare(a, make_attention(2, 3, 9, seed=6)))
    closed.close()  # the background thread still finishes, sending nothing
    assert closed.wait(timeout=30) is closed and closed.status == "ready"
    same = ComparisonWidget(compare(a, a)).wait(timeout=30)  # one data set: its view is built once, shown twice
    assert same.a_overview == same.b_overview != b"" and same.a_data_version == same.b_data_version == 2
    assert not np.frombuffer(same.scores, dtype="<f4").any()
