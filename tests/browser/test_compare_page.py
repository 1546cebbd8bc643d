"""The comparison view in a real (headless) Chromium: the built bundle, a ComparisonWidget's state.

The page holds the traits :class:`~attnviz_widget.comparison.view.ComparisonWidget` syncs and a
fake anywidget model that answers layer requests with that widget's own replies
(``answer_request``), so Python's payload and the bundle's views meet as in Jupyter.
Checks: both sides drawn by the single-run views, B − A painted on the aligned grid (red,
blue and grey pixels), a token hovered on one side selects its partner on the other, a click
on the score grid focuses that head on both sides, token text is not HTML.
"""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attnviz_widget.html_export import BUNDLE

from .fake_model_page import open_page, page_html, serve, widget_state
from .marks import NEEDS_CHROMIUM_AND_BUNDLE

REPO = Path(__file__).resolve().parents[2]
XSS = "<img src=x onerror=alert(1)>"

pytestmark = [*NEEDS_CHROMIUM_AND_BUNDLE, pytest.mark.slow]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _page_files(directory: Path) -> None:
    from attnviz_widget.comparison import compare
    from attnviz_widget.comparison.view import ComparisonWidget
    from attnviz_widget.data import AttentionData

    def run(tokens: list[str], seed: int) -> AttentionData:
        values = np.random.default_rng(seed).random((2, 3, len(tokens), len(tokens))) ** 4
        return AttentionData.from_arrays(tokens, values / values.sum(-1, keepdims=True))

    good = ["[CLS]", "the", "movie", "was", "good", XSS, "[SEP]"]
    not_good = ["[CLS]", "the", "movie", "was", "not", "good", XSS, "[SEP]"]
    comparison = compare(run(good, 1), run(not_good, 2), labels=("good", "not good"))
    widget = ComparisonWidget(comparison, layer=1, head=2).wait(30)  # the overviews too
    state = widget_state(widget)
    replies = {}
    for side in "ab":
        for layer in getattr(widget, f"{side}_meta")["layer_indices"]:
            request = {"type": "request", "id": "r", "version": getattr(widget, f"{side}_data_version"),
                       "what": "layer", "layer": layer, "side": side}
            reply, payload = widget.answer_request(request)
            assert payload is not None, reply
            replies[f"{side}|{layer}"] = [reply, base64.b64encode(payload).decode()]
    page = page_html(state, replies)
    (directory / "index.html").write_text(page, encoding="utf-8")
    shutil.copy(BUNDLE, directory / "widget.js")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str]]]:
    directory = tmp_path_factory.mktemp("compare-page")
    _page_files(directory)
    with open_page(directory, ".attnviz-compare-diff canvas[data-attnviz-ready]", height=1400) as opened:
        yield opened


def _colours(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(int)


def test_both_sides_and_the_difference_are_drawn(page: tuple[Any, list[str]]) -> None:
    view, problems = page
    assert view.locator(".attnviz-compare-a .attnviz-root").count() == 1
    assert view.locator(".attnviz-compare-b .attnviz-root").count() == 1
    canvas = view.locator(".attnviz-compare-diff canvas")
    assert canvas.get_attribute("data-attnviz-ready") == "1|2"
    assert canvas.evaluate("c => [c.width, c.height]") == [8, 8]  # 7 + 1 aligned tokens
    pixels = _colours(canvas.screenshot())
    red = ((pixels[:, 0] > 150) & (pixels[:, 2] < 120)).mean()
    blue = ((pixels[:, 2] > 150) & (pixels[:, 0] < 120)).mean()
    grey = (np.abs(pixels - 0xD9).max(axis=1) <= 3).mean()
    assert red > 0.01 and blue > 0.01 and grey > 0.1, (red, blue, grey)
    caption = view.locator(".attnviz-compare-caption").text_content()
    assert "red = more in B (not good), blue = more in A (good)" in caption
    assert view.locator("#host img").count() == 0  # token text stays text
    assert XSS in view.locator(".attnviz-compare-labels").first.text_content()
    assert problems == []


def test_hover_selects_the_partner_and_the_grid_focuses_both_sides(page: tuple[Any, list[str]]) -> None:
    view, problems = page
    view.locator(".attnviz-compare-b .attnviz-token").nth(5).hover()  # "good" in B
    view.wait_for_function("window.model.get('b_selected_token') === 5")
    assert view.evaluate("window.model.get('a_selected_token')") == 4  # "good" in A
    grid = view.locator("canvas.attnviz-compare-grid")
    box = grid.bounding_box()
    assert box is not None
    view.mouse.click(box["x"] + 1 * 22 + 5, box["y"] + 0 * 22 + 5)  # layer 0, head 1
    view.wait_for_function("document.querySelector('.attnviz-compare-diff canvas').dataset.attnvizReady === '0|1'")
    assert view.evaluate("[window.model.get('layer'), window.model.get('head')]") == [0, 1]
    titles = view.locator(".attnviz-root").evaluate_all("roots => roots.map(r => r.textContent)")
    assert all("Layer 0, head 1" in title for title in titles)
    assert problems == []


def test_the_saved_offline_page_shows_the_same_view(page: tuple[Any, list[str]], tmp_path: Path) -> None:
    from attnviz_widget import save_html
    from attnviz_widget.comparison import compare
    from attnviz_widget.data import AttentionData

    def run(tokens: list[str], seed: int) -> AttentionData:
        values = np.random.default_rng(seed).random((2, 3, len(tokens), len(tokens))) ** 4
        return AttentionData.from_arrays(tokens, values / values.sum(-1, keepdims=True))

    comparison = compare(run(["[CLS]", "good", XSS, "[SEP]"], 3), run(["[CLS]", "not", "good", XSS, "[SEP]"], 4))
    save_html(comparison, tmp_path / "compare.html", layer=1, head=0)
    problems: list[str] = []
    with serve(tmp_path) as port:
        offline = page[0].context.browser.new_page(viewport={"width": 1300, "height": 1400})
        try:
            offline.on("pageerror", lambda error: problems.append(str(error)))
            offline.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
            offline.goto(f"http://127.0.0.1:{port}/compare.html")
            offline.wait_for_selector(".attnviz-compare-diff canvas[data-attnviz-ready='1|0']", timeout=30_000)
            assert offline.locator(".attnviz-root").count() == 2
            assert offline.locator(".attnviz-compare-diff canvas").evaluate("c => [c.width, c.height]") == [5, 5]
            grid = offline.locator("canvas.attnviz-compare-grid")
            box = grid.bounding_box()
            assert box is not None
            offline.mouse.click(box["x"] + 2 * 22 + 5, box["y"] + 0 * 22 + 5)  # layer 0, head 2
            offline.wait_for_selector(".attnviz-compare-diff canvas[data-attnviz-ready='0|2']", timeout=30_000)
            assert offline.locator(".attnviz-mount img").count() == 0
        finally:
            offline.close()
    assert problems == []


def test_the_first_view_draws_without_overviews_and_takes_them_when_they_come(
    page: tuple[Any, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Jupyter shows first (data set 1: scores, tokens, focused matrices, no overview) is a whole
    view with both heatmaps and B − A; data set 2 then brings both overviews, with no page error."""
    import threading

    from attnviz_widget.comparison import compare
    from attnviz_widget.comparison import view as view_module
    from attnviz_widget.data import AttentionData

    def run(tokens: list[str], seed: int) -> AttentionData:
        values = np.random.default_rng(seed).random((2, 3, len(tokens), len(tokens))) ** 4
        return AttentionData.from_arrays(tokens, values / values.sum(-1, keepdims=True))

    release, full_payloads = threading.Event(), view_module.full_payloads
    monkeypatch.setattr(view_module, "full_payloads", lambda sides: (release.wait(30), full_payloads(sides))[1])
    comparison = compare(run(["[CLS]", "good", "[SEP]"], 5), run(["[CLS]", "not", "good", "[SEP]"], 6))
    widget = view_module.ComparisonWidget(comparison, layer=1, head=2)
    first = widget_state(widget)
    release.set()
    later = widget_state(widget.wait(30))
    update = {name: value for name, value in later.items() if value != first[name]}
    assert sorted(update) == sorted(f"{side}_{name}" for side in "ab" for name in (
        "data_version", "overview", "overview_shape", "overview_scale"))
    replies = {}
    for side in "ab":
        for layer in (0, 1):
            request = {"type": "request", "id": "r", "version": 2, "what": "layer", "layer": layer, "side": side}
            reply, payload = widget.answer_request(request)
            replies[f"{side}|{layer}"] = [reply, base64.b64encode(payload or b"").decode()]
    (tmp_path / "index.html").write_text(page_html(first, replies), encoding="utf-8")
    shutil.copy(BUNDLE, tmp_path / "widget.js")
    painted = "() => [...document.querySelectorAll('canvas.attnviz-overview')].map((c) => c.width > 1)"
    problems: list[str] = []
    roots = ".attnviz-compare-a .attnviz-root, .attnviz-compare-b .attnviz-root"
    all_ready = f"[...document.querySelectorAll('{roots}')].every((r) => r.dataset.attnvizReady === 'true')"
    with serve(tmp_path) as port:
        view = page[0].context.browser.new_page(viewport={"width": 1300, "height": 1400})
        try:
            view.on("pageerror", lambda error: problems.append(str(error)))
            view.goto(f"http://127.0.0.1:{port}/index.html")
            view.wait_for_selector(".attnviz-compare-diff canvas[data-attnviz-ready='1|2']", timeout=30_000)
            view.wait_for_function(all_ready)
            assert view.evaluate(painted) == [False, False]
            view.evaluate("""(update) => {
                const bytes = (text) => { const raw = atob(text); const out = new Uint8Array(raw.length);
                  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i); return new DataView(out.buffer); };
                // the overview traits first, the data_version last (as one Jupyter message applies them)
                const names = Object.keys(update).sort((x, y) => x.endsWith("data_version") - y.endsWith("data_version"));
                for (const name of names) {
                  window.model.set(name, update[name].b64 !== undefined ? bytes(update[name].b64) : update[name]);
                }
            }""", update)
            view.wait_for_function(f"({painted})().every(Boolean)")
            view.wait_for_function(all_ready)
            assert view.locator(".attnviz-compare-diff canvas").get_attribute("data-attnviz-ready") == "1|2"
        finally:
            view.close()
    assert problems == []
