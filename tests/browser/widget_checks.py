"""The checks every host of the widget must pass, shared by the JupyterLab, Notebook 7 and marimo tests.

Not a test module. :func:`exercise_widget` drives one live widget view the way a user does and
checks both sides after each step:

1. it painted: ready, no error, one token span per token, real heatmap pixels;
2. hovering a token selects it, in the page and in Python;
3. clicking it locks the selection;
4. clicking an overview thumbnail focuses that layer and head, which loads the full layer
   through a custom message with a binary reply; the selection stays locked, Python sees the
   new layer and head, and the heatmap's pixels change;
5. Escape unlocks, in the page and in Python.

How Python's side is read differs by host, so the caller passes a :class:`PythonSide`:
:class:`KernelSide` asks a Jupyter kernel; the marimo test reads what the app prints.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

#: Playwright waits (ms): state changes land in well under a second; this allows a slow CI.
WAIT_MS = 10_000
#: The widget's user state that Python must see, as :meth:`PythonSide.read` returns it.
STATE_KEYS = ("layer", "head", "selected_token", "token_locked")


class PythonSide(Protocol):
    """The kernel's view of one widget."""

    def read(self) -> dict[str, Any]:
        """``layer``, ``head``, ``selected_token``, ``token_locked``, ``tokens``,
        ``layer_indices`` and ``num_heads`` of the widget, as Python has them now."""
        ...


class KernelSide:
    """:class:`PythonSide` of the widget held in variable ``name`` of a Jupyter kernel."""

    def __init__(self, kernel: Any, name: str) -> None:
        self.kernel = kernel
        self.name = name

    def read(self) -> dict[str, Any]:
        w = self.name
        return dict(
            self.kernel.evaluate(
                f"{{'layer': {w}.layer, 'head': {w}.head, 'selected_token': {w}.selected_token, "
                f"'token_locked': {w}.token_locked, 'tokens': list({w}.tokens), "
                f"'layer_indices': {w}.meta['layer_indices'], 'num_heads': {w}.meta['num_heads']}}"
            )
        )


def wait_python(python: PythonSide, expected: dict[str, Any], timeout: float = 15) -> dict[str, Any]:
    """Poll ``python.read()`` until it has the ``expected`` values; fail with the last state."""
    deadline = time.monotonic() + timeout
    while True:
        state = python.read()
        if all(state.get(key) == value for key, value in expected.items()):
            return state
        if time.monotonic() > deadline:
            shown = {key: state.get(key) for key in expected}
            raise AssertionError(f"Python sees {shown} after {timeout:.0f} s, expected {expected}")
        time.sleep(0.1)


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
    canvas's displayed size and the overview's ``[layers, heads + aggregates, ...]`` shape.
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


def check_painted(root: Any, tokens: list[str]) -> dict[str, Any]:
    """The view is ready, shows no error, has a span per token and a real heatmap; its pixels."""
    expect_attr(root, "data-attnviz-ready", "true")
    assert root.locator(".attnviz-error").is_hidden(), root.locator(".attnviz-error").inner_text()
    assert root.locator(".attnviz-export").is_enabled()  # a heatmap is painted: it can be exported
    assert root.locator(".attnviz-token[data-axis='query']").count() == len(tokens)
    pixels = heatmap_pixels(root)
    assert pixels["gridOpaque"] >= 0.95 * pixels["gridPixels"] > 0, pixels
    assert pixels["colours"] >= 20, pixels  # a colour ramp, not a blank or one-colour canvas
    return pixels


#: JS: whether the keyboard focus is inside the widget, looking through shadow roots.
_FOCUS_IN_WIDGET = """() => {
    let active = document.activeElement;
    while (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
    return !!(active && active.closest && active.closest('.attnviz-root'));
}"""


def exercise_widget(
    page: Any,
    root: Any,
    python: PythonSide,
    *,
    before_unlock: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Hover, lock, thumbnail click and Escape on one widget view, checking the page and Python.

    The view must start unlocked with nothing selected. ``before_unlock`` runs while a token
    is locked and a new layer and head are focused (screenshots). Returns Python's final state.
    """
    facts = python.read()
    tokens, layers, heads = facts["tokens"], facts["layer_indices"], facts["num_heads"]
    before = check_painted(root, tokens)
    expect_attr(root, "data-locked", "false")
    expect_attr(root, "data-selected-token", "")

    # 1. hover a token: it becomes the selection, in the browser and in Python
    spans = root.locator(".attnviz-token[data-axis='query']")
    target = next(i for i, t in enumerate(tokens) if re.fullmatch(r"\w{4,}", t) and i > 1)
    token = spans.nth(target)
    assert token.get_attribute("data-index") == str(target)
    token.hover()
    expect_attr(root, "data-selected-token", str(target))
    expect_attr(root, "data-locked", "false")
    wait_python(python, {"selected_token": target, "token_locked": False})

    # 2. click it: locked
    token.click()
    expect_attr(root, "data-locked", "true")
    expect_attr(root, "data-selected-token", str(target))
    wait_python(python, {"selected_token": target, "token_locked": True})
    assert "locked" in root.locator(".attnviz-lock-hint").inner_text()

    # 3. click an overview thumbnail other than the focused one: that layer and head get focus,
    #    the full layer arriving through a custom message with a binary reply
    layer_now, head_now = facts["layer"], facts["head"]
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
    wait_python(python, {"layer": new_layer, "head": new_head, "selected_token": target, "token_locked": True})

    # 5. real pixels of the newly focused heatmap: many distinct opaque colours, grid filled
    title = root.locator(".attnviz-heatmap-title").inner_text()
    assert title.startswith(f"Layer {new_layer}") and f"head {new_head}" in title, title
    pixels = check_painted(root, tokens)
    assert pixels["gridColours"] >= min(30, len(tokens) ** 2 // 4), pixels
    assert pixels["colours"] >= 50, pixels
    assert pixels["hash"] != before["hash"], "the heatmap did not change with the focused head"

    if before_unlock is not None:
        page.mouse.move(2, 2)  # off the widget (the lock keeps the token)
        expect_attr(root, "data-selected-token", str(target))
        before_unlock()

    # 6. Escape unlocks (the click left the keyboard focus inside the widget)
    assert page.evaluate(_FOCUS_IN_WIDGET), "the keyboard focus left the widget"
    page.keyboard.press("Escape")
    expect_attr(root, "data-locked", "false")
    expect_attr(root, "data-selected-token", "")
    return wait_python(python, {"selected_token": None, "token_locked": False})
