"""The widget in a real Notebook 7 page, driven by headless Chromium, linked to its kernel.

A one-widget notebook of a random BERT shaped like the demo model (``host_model_dir``) runs in
a fresh, isolated ``jupyter notebook`` server (``lab_harness.py`` with ``app="notebook"``).
Then the checks every host passes (``widget_checks.exercise_widget``): paint, hover, lock,
thumbnail click with a binary reply, Python seeing the selection, Escape.
"""

from __future__ import annotations

from typing import Any

import pytest

from .widget_checks import KernelSide, exercise_widget

# the notebook7_session fixture (conftest.py) skips when chromium, the bundle or a package is missing
pytestmark = pytest.mark.browser

#: Notebook 7's own keyboard-shortcut plugin fails on a settings change of a plugin it did not
#: register ("Cannot read properties of undefined (reading 'schema')", thrown from its core
#: bundle); it has nothing to do with the widget.
NOTEBOOK_OWN_ERROR = ("reading 'schema'", "/static/notebook/notebook_core.")


def test_widget_in_notebook7(notebook7_session: Any) -> None:
    page, kernel, w = notebook7_session.page, notebook7_session.kernel, notebook7_session.widget_var
    assert "/notebooks/" in page.url  # the Notebook 7 page, not JupyterLab
    assert kernel.evaluate(f"type({w}).__name__") == "AttentionWidget"
    views = page.locator(".attnviz-root")
    assert views.count() == 1, "show() displayed the widget more than once"
    root = notebook7_session.widget_root()
    root.scroll_into_view_if_needed()
    page.mouse.move(2, 2)

    final = exercise_widget(page, root, KernelSide(kernel, w))
    assert final["num_heads"] == 12 and len(final["layer_indices"]) == 6

    problems = [
        p for p in notebook7_session.notebook.problems
        if (p.startswith(("pageerror", "console.warning")) or "attnviz" in p.lower())
        and not all(s in p for s in NOTEBOOK_OWN_ERROR)
    ]  # fmt: skip
    assert not problems, problems
