"""Several exported widgets on one page stay independent (headless chromium, ``file://``, offline).

An encoder-decoder export holds one widget per stack (encoder, decoder, cross-attention), all
mounted by one copy of the bundle. Hovering, locking, focusing a thumbnail or pressing Escape in
one of them must change nothing in the others: not their selection, lock, focused layer and
head, nor their pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from attnviz_widget.html_export import save_html

from .lab_harness import launch_chromium
from .marks import NEEDS_CHROMIUM_AND_BUNDLE
from .widget_checks import expect_attr, heatmap_pixels, thumbnail_point

pytestmark = NEEDS_CHROMIUM_AND_BUNDLE
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

#: What a widget shows of its state on its root element.
STATE_ATTRIBUTES = ("data-selected-token", "data-locked", "data-layer", "data-head", "data-attnviz-ready")


def snapshot(root: Any) -> dict[str, Any]:
    """A widget's visible state: its root attributes and a hash of its heatmap's pixels."""
    state: dict[str, Any] = {name: root.get_attribute(name) for name in STATE_ATTRIBUTES}
    state["pixels"] = heatmap_pixels(root)["hash"]
    return state


def test_widgets_on_one_exported_page_do_not_share_state(random_encoder_decoder, tmp_path: Path) -> None:
    page_file = save_html(random_encoder_decoder(layers=3, heads=3), tmp_path / "page.html")
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000}).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(page_file.as_uri())
            roots = page.locator(".attnviz-root")
            expect_attr(roots.nth(2), "data-attnviz-ready", "true")
            assert roots.count() == 3  # encoder, decoder, cross
            encoder, decoder, cross = (roots.nth(i) for i in range(3))
            for root in (encoder, decoder, cross):
                expect_attr(root, "data-attnviz-ready", "true")
                expect_attr(root, "data-selected-token", "")
            page.mouse.move(2, 2)
            untouched = {"decoder": snapshot(decoder), "cross": snapshot(cross)}

            # hover and lock a token of the encoder: the other two do not move
            encoder.locator(".attnviz-token[data-axis='query'][data-index='1']").click()
            expect_attr(encoder, "data-locked", "true")
            expect_attr(encoder, "data-selected-token", "1")
            # a thumbnail of the encoder: only the encoder changes focus
            encoder.locator("canvas.attnviz-overview").click(position=thumbnail_point(encoder, 2, 1))
            expect_attr(encoder, "data-layer", "2")
            expect_attr(encoder, "data-head", "1")
            page.mouse.move(2, 2)
            assert {"decoder": snapshot(decoder), "cross": snapshot(cross)} == untouched

            # the decoder gets its own lock and focus; the encoder keeps its own
            encoder_state = snapshot(encoder)
            decoder.locator(".attnviz-token[data-axis='query'][data-index='2']").click()
            expect_attr(decoder, "data-locked", "true")
            expect_attr(decoder, "data-selected-token", "2")
            decoder.locator("canvas.attnviz-overview").click(position=thumbnail_point(decoder, 1, 0))
            expect_attr(decoder, "data-layer", "1")
            page.mouse.move(2, 2)
            assert snapshot(encoder) == encoder_state
            assert snapshot(cross) == untouched["cross"]

            # Escape unlocks the widget that has the keyboard focus (the decoder) and no other
            page.keyboard.press("Escape")
            expect_attr(decoder, "data-locked", "false")
            expect_attr(decoder, "data-selected-token", "")
            assert snapshot(encoder) == encoder_state
            assert snapshot(cross) == untouched["cross"]
            assert problems == []
        finally:
            browser.close()
