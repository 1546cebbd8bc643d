"""Static pages that render the bundle against a fake anywidget model, for views tested without a kernel.

``widget_state`` dumps a Python widget's synced traits the way such a page reads them (bytes as
base64); ``open_page`` serves a folder on loopback and opens it in headless chromium, collecting
page errors, console errors and dialogs.
"""

from __future__ import annotations

import base64
import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .lab_harness import CHROMIUM, CHROMIUM_ARGS

#: Traits of every ipywidget that a page has no use for.
_WIDGET_CHROME = ("layout", "tabbable", "tooltip")


def widget_state(widget: Any) -> dict[str, Any]:
    """The synced traits of ``widget`` as JSON: bytes become ``{"b64": ...}``."""
    state: dict[str, Any] = {}
    for name in widget.keys:
        if name.startswith("_") or name in _WIDGET_CHROME:
            continue
        value = getattr(widget, name)
        state[name] = {"b64": base64.b64encode(value).decode()} if isinstance(value, bytes) else value
    return state


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@contextmanager
def serve(directory: Path) -> Iterator[int]:
    """Serve ``directory`` on loopback for the block; yields the port."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def open_page(directory: Path, ready: str, height: int) -> Iterator[tuple[Any, list[str]]]:
    """``directory/index.html`` in headless chromium, once ``ready`` (a selector) is on the page.

    Yields ``(page, problems)``: page errors, console errors and dialogs, in order.
    """
    from playwright import sync_api

    problems: list[str] = []
    with serve(directory) as port, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": height})
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        page.goto(f"http://127.0.0.1:{port}/index.html")
        page.wait_for_selector(ready, timeout=30_000)
        yield page, problems
        browser.close()
