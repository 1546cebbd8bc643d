"""The widget in a real JupyterLab, driven by headless Chromium, linked to its kernel.

The quick-start notebook (``notebooks/01_quick_start.ipynb``, the demo model) is copied into a
fresh, isolated JupyterLab (``lab_harness.py``), opened in Chromium and run with Run > Run All
Cells. Then, on the first view of ``widget``, the checks every host passes
(``widget_checks.exercise_widget``: paint, hover, lock, thumbnail click with a binary reply,
Python seeing the selection, Escape), and screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from .widget_checks import WAIT_MS, KernelSide, exercise_widget, expect_attr

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"

# the lab_session fixture (conftest.py) skips when chromium, the bundle or a package is missing
pytestmark = pytest.mark.browser


def test_widget_in_jupyterlab(lab_session: Any) -> None:
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
    assert root.locator(".attnviz-note").is_hidden()  # special tokens shown: nothing to note
    meta: dict[str, Any] = kernel.evaluate(f"{w}.meta")
    shape: list[int] = kernel.evaluate(f"{w}.overview_shape")
    assert shape[:2] == [len(meta["layer_indices"]), meta["num_heads"] + 3]
    if kernel.evaluate(f"{w}.prediction") is not None:
        assert root.locator(".attnviz-prediction").inner_text().strip()

    # start unlocked, with the mouse away from the widget
    kernel.execute(f"{w}.token_locked = False; {w}.selected_token = None")
    page.mouse.move(2, 2)

    def screenshots() -> None:  # the interesting state: a locked token, a new focus
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        root.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "jupyterlab_widget.png"))
        root.screenshot(path=str(ARTIFACTS / "widget.png"))

    exercise_widget(page, root, KernelSide(kernel, w), before_unlock=screenshots)

    # no error from the widget's code in the page, no warning from anywidget (such as the
    # deprecation notice for a bundle that exports a named `render`)
    problems = [
        p for p in lab_session.notebook.problems
        if p.startswith(("pageerror", "console.warning")) or "attnviz" in p.lower()
    ]  # fmt: skip
    assert not problems, problems
