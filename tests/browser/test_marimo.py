"""The widget in marimo (``marimo run`` and ``marimo edit``), driven by headless Chromium.

``notebooks/marimo_quick_start.py`` shows the widget through ``mo.ui.anywidget`` and prints,
in the cell under it, what Python reads back from the widget (a ``data-state`` attribute
holding ``widget.layer``, ``widget.head``, ``widget.selected_token`` ...); that cell runs again
on every change the browser makes. The app runs on a random BERT shaped like the demo model
(``host_model_dir``, passed as ``-- --model_dir``), then gets the checks every host passes
(``widget_checks.exercise_widget``: paint, hover, lock, thumbnail click with a binary reply,
Python seeing the selection, Escape).

marimo caps a cell's output at about 610 px and scrolls what is taller: in ``marimo edit`` the
whole widget, header and controls included, must be visible without scrolling inside the cell.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from .widget_checks import STATE_KEYS, WAIT_MS, exercise_widget, expect_attr, wait_python

# the marimo_session fixture (conftest.py) skips when chromium, the bundle or a package is missing
pytestmark = pytest.mark.browser

APP = Path(__file__).resolve().parents[2] / "notebooks" / "marimo_quick_start.py"


class MarimoSide:
    """:class:`widget_checks.PythonSide` read from the app's state line (``.attnviz-python-state``)."""

    def __init__(self, page: Any) -> None:
        self.line = page.locator(".attnviz-python-state").first

    def read(self) -> dict[str, Any]:
        return dict(json.loads(self.line.get_attribute("data-state", timeout=WAIT_MS) or "{}"))


#: JS: the widget's header, controls and token panel, and the nearest scrolling box around the
#: widget that has a height cap (marimo's output area), in viewport pixels.
_LAYOUT = """(root) => {
    const box = (el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, height: r.height}; };
    let cap = null;
    for (let el = root.parentElement ?? root.getRootNode().host; el;
         el = el.parentElement ?? (el.getRootNode() instanceof ShadowRoot ? el.getRootNode().host : null)) {
        const style = getComputedStyle(el);
        if (["auto", "scroll"].includes(style.overflowY) && style.maxHeight !== "none") {
            cap = {...box(el), clientHeight: el.clientHeight, scrollHeight: el.scrollHeight,
                   scrollTop: el.scrollTop, maxHeight: style.maxHeight};
            break;
        }
    }
    return {cap, root: box(root), header: box(root.querySelector(".attnviz-header")),
            controls: box(root.querySelector(".attnviz-controls")),
            tokens: box(root.querySelector(".attnviz-tokens-panel"))};
}"""


def test_widget_in_marimo(marimo_session: Any) -> None:
    page, server = marimo_session.page, marimo_session.server
    root = page.locator(".attnviz-root").first
    expect_attr(root, "data-attnviz-ready", "true")
    assert page.locator(".attnviz-root").count() == 1
    python = MarimoSide(page)
    state = wait_python(python, {"status": "ready"}, timeout=60)
    assert state["tokens"][0] == "[CLS]" and len(state["layer_indices"]) == 6 and state["num_heads"] == 12
    assert {key: state[key] for key in STATE_KEYS} == {"layer": 0, "head": 0, "selected_token": None,
                                                       "token_locked": False}  # fmt: skip

    # marimo edit caps the cell's output: the whole widget fits, header and controls in view
    layout = root.evaluate(_LAYOUT)
    cap_height = layout["cap"]["clientHeight"] if layout["cap"] else None
    print(f"marimo {server.mode}: widget {layout['root']['height']:.0f} px tall, output area {cap_height} px")
    if server.mode == "edit":
        cap = layout["cap"]
        assert cap is not None, f"no height-capped output area around the widget: {layout}"
        assert cap["scrollTop"] == 0 and cap["scrollHeight"] <= cap["clientHeight"] + 1, (
            f"the widget ({layout['root']['height']:.0f} px) scrolls inside marimo's {cap['maxHeight']} output: {layout}"
        )
        for part in ("header", "controls", "tokens"):
            assert cap["top"] - 1 <= layout[part]["top"] and layout[part]["bottom"] <= cap["bottom"] + 1, (part, layout)

    page.mouse.move(2, 2)
    final = exercise_widget(page, root, python)
    assert final["layer"] != 0 or final["head"] != 0  # the thumbnail click stuck on the Python side
    assert not marimo_session.problems, marimo_session.problems
    assert "Traceback" not in server.log_tail(200), server.log_tail(200)


def test_the_app_is_a_valid_marimo_notebook() -> None:
    if importlib.util.find_spec("marimo") is None:
        pytest.skip("marimo is not installed")
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "marimo", "check", str(APP)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and "issue" not in result.stdout.lower() + result.stderr.lower(), result
