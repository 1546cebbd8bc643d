"""The widget's synced traits: defaults defined once, and the selection fallback."""

from __future__ import annotations

from attnviz_widget import AttentionWidget
from attnviz_widget.traits import DataTraits, ViewState, fit_selection, view_defaults


def test_defaults_are_the_widgets_own() -> None:
    defaults = view_defaults()
    assert set(ViewState.USER_TRAITS) | {"text"} == set(defaults)
    widget = AttentionWidget(None)
    assert {name: getattr(widget, name) for name in defaults} == defaults
    assert defaults["color_scale"] == "sqrt" and defaults["head"] == 0 and defaults["selected_token"] is None


def test_the_widget_syncs_every_trait_of_both_classes() -> None:
    synced = set(AttentionWidget(None).traits(sync=True))
    assert set(DataTraits.class_traits(sync=True)) | set(ViewState.class_traits(sync=True)) <= synced


def test_fit_selection_keeps_what_exists_and_falls_back_otherwise(random_attention) -> None:
    view = random_attention(layers=3, heads=2).select_layers([1, 2]).without_padding()
    assert fit_selection(view, True, 2, 1) == (2, 1)
    assert fit_selection(view, True, 0, 5) == (1, 0)  # layer 0 not kept, head 5 out of range
    assert fit_selection(view, False, 1, "rollout") == (1, "mean")
    assert fit_selection(view, False, 1, "max") == (1, "max")
