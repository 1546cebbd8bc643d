"""Static pages that render the bundle against a fake anywidget model, for views tested without a kernel.

``widget_state`` dumps a Python widget's synced traits the way such a page reads them (bytes as
base64); ``page_html`` is the page (the fake model answers requests from recorded replies and
records what the view saves); ``open_page`` serves a folder on loopback and opens it in headless
chromium, collecting page errors, console errors and dialogs.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
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


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body style="width: 1300px"><div id="host"></div><script type="module">
import widget from "./widget.js";
const state = STATE;
const replies = REPLIES;
const savedTraits = SAVED;
const bytes = (text) => { const raw = atob(text); const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i); return new DataView(out.buffer); };
const values = new Map(Object.entries(state).map(([k, v]) => [k, v && v.b64 !== undefined ? bytes(v.b64) : v]));
const handlers = new Map();
const emit = (event, ...args) => (handlers.get(event) || []).slice().forEach((cb) => cb(...args));
window.saved = [];
window.model = {
  get: (name) => values.get(name),
  set(name, value) { if (values.get(name) === value) return; values.set(name, value); emit("change:" + name); },
  save_changes() { window.saved.push(Object.fromEntries(savedTraits.map((name) => [name, values.get(name)]))); },
  on(event, cb) { if (!handlers.has(event)) handlers.set(event, []); handlers.get(event).push(cb); },
  off(event, cb) { if (handlers.has(event)) handlers.set(event, handlers.get(event).filter((x) => x !== cb)); },
  send(msg) { setTimeout(() => { const reply = replies[msg.side + "|" + msg.layer];
    if (reply) emit("msg:custom", { ...reply[0], id: msg.id, version: msg.version }, [bytes(reply[1])]); }, 5); },
};
widget.render({ model: window.model, el: document.getElementById("host") });
</script></body></html>"""


def page_html(state: dict[str, Any], replies: dict[str, Any] | None = None, saved: tuple[str, ...] = ()) -> str:
    """The page: ``state`` from :func:`widget_state`; ``replies`` by ``"side|layer"`` as
    ``[reply, base64 buffer]``; each ``save_changes`` pushes the ``saved`` traits to ``window.saved``."""
    return (
        _PAGE.replace("STATE", json.dumps(state))
        .replace("REPLIES", json.dumps(replies or {}))
        .replace("SAVED", json.dumps(list(saved)))
    )


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
