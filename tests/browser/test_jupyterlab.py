"""The widget in a real JupyterLab, driven by headless Chromium, linked to its kernel.

The quick-start notebook (``notebooks/01_quick_start.ipynb``) is copied into a fresh,
isolated JupyterLab (``lab_harness.py``), opened in Chromium and run with Run > Run All Cells.
Then, on the first view of ``widget``: a hovered token becomes the selection, a click locks
it, a click on an overview thumbnail focuses that layer and head, the kernel sees the same
state in ``widget.selected_token``, ``widget.token_locked``, ``widget.layer`` and
``widget.head``, the focused heatmap has real pixels of many colours, Escape unlocks, and
screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "attnviz_widget" / "static" / "widget.js"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "tests" / "artifacts"

# the lab_session fixture (conftest.py) also skips when playwright, jupyterlab or ipykernel is missing
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not found (apt-get install chromium)"),
    pytest.mark.skipif(
        not BUNDLE.exists(), reason=f"{BUNDLE.relative_to(REPO)} not built (cd js && npm install && npm run build)"
    ),
]

#: Playwright waits (ms): state changes land in well under a second; this allows a slow CI.
WAIT_MS = 10_000


def expect_attr(locator: Any, name: str, value: str) -> None:
    from playwright.sync_api import expect

    expect(locator).to_have_attribute(name, value, timeout=WAIT_MS)


def heatmap_pixels(root: Any) -> dict[str, Any]:
    """Colour statistics of the focused heatmap canvas, overall and inside its cell grid."""
    return root.locator("canvas.attnviz-heatmap").evaluate(
        """(canvas) => {
            const ratio = canvas.width / canvas.getBoundingClientRect().width;
            const grid = JSON.parse(canvas.dataset.grid);
            const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
            const all = new Set(), inGrid = new Set();
            let gridPixels = 0, gridOpaque = 0, hash = 0;
            const x0 = Math.ceil(grid.x * ratio), x1 = Math.floor((grid.x + grid.w) * ratio);
            const y0 = Math.ceil(grid.y * ratio), y1 = Math.floor((grid.y + grid.h) * ratio);
            for (let y = 0; y < canvas.height; y++) {
                for (let x = 0; x < canvas.width; x++) {
                    const i = 4 * (y * canvas.width + x);
                    const rgb = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
                    if (data[i + 3] === 255) all.add(rgb);
                    if (x >= x0 && x < x1 && y >= y0 && y < y1) {
                        gridPixels++;
                        if (data[i + 3] === 255) { gridOpaque++; inGrid.add(rgb); }
                        hash = (Math.imul(hash, 31) + rgb) | 0;
                    }
                }
            }
            return { width: canvas.width, height: canvas.height, grid, colours: all.size,
                     gridColours: inGrid.size, gridPixels, gridOpaque, hash };
        }"""
    )


def thumbnail_point(root: Any, row: int, col: int) -> dict[str, float]:
    """Centre of overview thumbnail (layer position ``row``, column ``col``) in canvas CSS pixels.

    Computed from the geometry the overview publishes (``data-layout``), checked against the
    canvas's displayed size and the overview's ``[layers, heads + 3, ...]`` shape.
    """
    canvas = root.locator("canvas.attnviz-overview")
    layout = json.loads(canvas.get_attribute("data-layout") or "{}")
    box = canvas.bounding_box()
    assert box is not None
    step = layout["thumb"] + layout["gap"]
    right = layout["left"] + layout["columns"] * step + layout["aggregateGap"]
    bottom = layout["top"] + layout["layers"] * step
    # the grid fills the canvas: its right and bottom edges are the canvas's (CSS pixels)
    assert abs(right - box["width"]) <= 1 and abs(bottom - box["height"]) <= 1, (layout, box)
    x = layout["left"] + col * step + (layout["aggregateGap"] if col >= layout["heads"] else 0)
    y = layout["top"] + row * step
    return {"x": x + layout["thumb"] / 2, "y": y + layout["thumb"] / 2}


def test_widget_in_jupyterlab(lab_session: Any) -> None:
    started = time.monotonic()
    page, kernel, w = lab_session.page, lab_session.kernel, lab_session.widget_var

    # the kernel is this environment's interpreter, and it is the notebook's kernel
    assert kernel.evaluate("__import__('sys').executable") == sys.executable
    assert kernel.evaluate(f"type({w}).__name__") == "AttentionWidget"

    root = lab_session.widget_root()
    root.scroll_into_view_if_needed(timeout=WAIT_MS)
    expect_attr(root, "data-attnviz-ready", "true")
    # every widget view of the notebook painted
    views = page.locator(".attnviz-root")
    assert views.count() >= 1
    for i in range(views.count()):
        expect_attr(views.nth(i), "data-attnviz-ready", "true")
    assert root.locator(".attnviz-error").is_hidden(), root.locator(".attnviz-error").inner_text()
    assert root.locator(".attnviz-note").is_hidden()  # special tokens shown: nothing to note
    assert root.locator(".attnviz-export").is_enabled()  # a heatmap is painted: it can be exported

    tokens: list[str] = kernel.evaluate(f"list({w}.tokens)")
    meta: dict[str, Any] = kernel.evaluate(f"{w}.meta")
    shape: list[int] = kernel.evaluate(f"{w}.overview_shape")
    layers, heads = meta["layer_indices"], meta["num_heads"]
    assert shape[:2] == [len(layers), heads + 3]
    spans = root.locator(".attnviz-token[data-axis='query']")
    assert spans.count() == len(tokens)
    if kernel.evaluate(f"{w}.prediction") is not None:
        assert root.locator(".attnviz-prediction").inner_text().strip()

    # start unlocked, with the mouse away from the widget
    kernel.execute(f"{w}.token_locked = False; {w}.selected_token = None")
    expect_attr(root, "data-locked", "false")
    expect_attr(root, "data-selected-token", "")

    # 1. hover a token: it becomes the selection, in the browser and in Python
    target = next(i for i, t in enumerate(tokens) if re.fullmatch(r"\w{4,}", t) and i > 1)
    token = spans.nth(target)
    assert token.get_attribute("data-index") == str(target)
    token.hover()
    expect_attr(root, "data-selected-token", str(target))
    expect_attr(root, "data-locked", "false")
    kernel.wait_for(f"{w}.selected_token", target)

    # 2. click it: locked
    token.click()
    expect_attr(root, "data-locked", "true")
    expect_attr(root, "data-selected-token", str(target))
    kernel.wait_for(f"({w}.selected_token, {w}.token_locked)", [target, True])
    assert "locked" in root.locator(".attnviz-lock-hint").inner_text()

    # 3. click an overview thumbnail other than the focused one: that layer and head get focus
    before = heatmap_pixels(root)
    layer_now, head_now = kernel.evaluate(f"[{w}.layer, {w}.head]")
    row = (layers.index(layer_now) + 2) % len(layers)
    col = ((head_now if isinstance(head_now, int) else 0) + 5) % heads
    new_layer, new_head = layers[row], col
    assert (new_layer, new_head) != (layer_now, head_now)
    root.locator("canvas.attnviz-overview").click(position=thumbnail_point(root, row, col))
    expect_attr(root, "data-layer", str(new_layer))
    expect_attr(root, "data-head", str(new_head))
    expect_attr(root, "data-attnviz-ready", "true")
    # the selection stays locked while the mouse moved across the widget
    expect_attr(root, "data-locked", "true")
    expect_attr(root, "data-selected-token", str(target))

    # 4. the Python side sees the same selection
    state = kernel.wait_for(
        f"[{w}.layer, {w}.head, {w}.selected_token, {w}.token_locked]", [new_layer, new_head, target, True]
    )
    assert state == [new_layer, new_head, target, True]

    # 5. real pixels of the newly focused heatmap: many distinct opaque colours, grid filled
    expect_attr(root, "data-attnviz-ready", "true")
    title = root.locator(".attnviz-heatmap-title").inner_text()
    assert title.startswith(f"Layer {new_layer}") and f"head {new_head}" in title, title
    pixels = heatmap_pixels(root)
    cells = len(tokens) ** 2
    assert pixels["gridOpaque"] >= 0.95 * pixels["gridPixels"] > 0, pixels
    assert pixels["gridColours"] >= min(30, cells // 4), pixels
    assert pixels["colours"] >= 50, pixels
    assert pixels["hash"] != before["hash"], "the heatmap did not change with the focused head"

    # screenshots of the interesting state (locked token, new focus)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(2, 2)  # off the widget: no tooltip in the pictures (the lock keeps the token)
    expect_attr(root, "data-selected-token", str(target))
    root.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "jupyterlab_widget.png"))
    root.screenshot(path=str(ARTIFACTS / "widget.png"))

    # 6. Escape unlocks (the click left the keyboard focus inside the widget)
    assert page.evaluate("() => !!document.activeElement?.closest('.attnviz-root')")
    page.keyboard.press("Escape")
    expect_attr(root, "data-locked", "false")
    expect_attr(root, "data-selected-token", "")
    kernel.wait_for(f"({w}.selected_token, {w}.token_locked)", [None, False])

    # no error from the widget's code in the page
    problems = [p for p in lab_session.notebook.problems if p.startswith("pageerror") or "attnviz" in p.lower()]
    assert not problems, problems
    assert time.monotonic() - started < 60
