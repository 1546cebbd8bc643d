"""The exported HTML page in headless chromium, opened from file:// with the network off."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnviz_widget.html_export import save_html

from .lab_harness import CHROMIUM, CHROMIUM_ARGS
from .marks import NEEDS_CHROMIUM_AND_BUNDLE

HOSTILE = "<img src=x onerror=alert(1)>"

pytestmark = NEEDS_CHROMIUM_AND_BUNDLE
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def test_exported_page_renders_offline_and_keeps_text_as_text(random_attention, tmp_path: Path) -> None:
    tokens = ["[CLS]", HOSTILE, *[f"w{i}" for i in range(20)], "[SEP]"]
    page = save_html(random_attention(layers=3, heads=4, tokens=tokens, text=HOSTILE), tmp_path / "page.html")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(offline=True)
        page_view = context.new_page()
        problems: list[str] = []
        page_view.on("pageerror", lambda error: problems.append(str(error)))
        page_view.on("dialog", lambda dialog: (problems.append("dialog: " + dialog.message), dialog.dismiss()))
        page_view.on(
            "request",
            lambda request: (
                problems.append("request: " + request.url)
                if not request.url.startswith(("file:", "blob:", "data:"))
                else None
            ),
        )
        page_view.goto(page.as_uri())
        root = page_view.wait_for_selector(".attnviz-root[data-attnviz-ready='true']", timeout=15_000)

        colours = page_view.evaluate(
            """() => {
                const canvas = document.querySelector('canvas.attnviz-heatmap');
                const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                const seen = new Set();
                for (let i = 0; i < data.length; i += 4) seen.add(data[i] << 16 | data[i + 1] << 8 | data[i + 2]);
                return seen.size;
            }"""
        )
        assert colours > 50  # a real heatmap, not a blank canvas

        token = page_view.locator(".attnviz-token[data-index='3']")
        token.hover()
        page_view.wait_for_function("document.querySelector('.attnviz-root').dataset.selectedToken === '3'")
        shades = page_view.eval_on_selector_all(
            ".attnviz-token", "els => new Set(els.map(e => e.style.background || e.style.backgroundColor)).size"
        )
        assert shades > 3  # hovering shaded the other tokens

        assert page_view.locator("img").count() == 0
        texts = page_view.eval_on_selector_all(".attnviz-token", "els => els.map(e => e.textContent)")
        assert HOSTILE in texts
        assert root.get_attribute("data-layer") == "0"
        assert problems == []
        browser.close()
