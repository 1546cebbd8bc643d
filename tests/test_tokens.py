"""Display forms of tokens."""

from __future__ import annotations

from attnviz_widget.tokens import display_tokens, readable_whitespace, strip_markers


def test_markers_are_stripped_and_whitespace_is_visible() -> None:
    assert strip_markers("Ġhello") == "hello"
    assert strip_markers("▁world") == "world"
    assert strip_markers("##ing") == "##ing"
    assert strip_markers("Ġ") == "␣"
    assert readable_whitespace("\n") == "↵" and readable_whitespace(" ") == "␣"


def test_decode_is_used_and_special_tokens_stay() -> None:
    decoded = {"Ġhi": " hi", "Ċ": "\n", "ðŁĺ": "�"}
    shown = display_tokens(["<s>", "Ġhi", "Ċ", "ðŁĺ"], special=[True, False, False, False], decode=decoded.__getitem__)
    assert shown == ["<s>", "hi", "↵", "�"]


def test_a_failing_decoder_falls_back_to_stripping() -> None:
    def broken(token: str) -> str:
        raise ValueError(token)

    assert display_tokens(["Ġa", "b"], decode=broken) == ["a", "b"]
