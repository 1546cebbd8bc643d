"""The built widget bundle (``attnviz_widget/static/widget.js``) loads nothing from anywhere.

Hosts load the bundle as one ES module. VS Code's widget loader fails offline when a widget
pulls scripts from a CDN (vscode-jupyter #16978), and exported pages must open from ``file://``
with no network, so the bundle must be self-contained: no import of another module, no URL,
no request API. Checked on the text of the bundle as built (minified by esbuild).
"""

from __future__ import annotations

import re

import pytest

from attnviz_widget.html_export import BUNDLE

pytestmark = pytest.mark.skipif(not BUNDLE.is_file(), reason="the JS bundle is not built (cd js && npm run build)")

#: What a module uses to load code or data from elsewhere, and what it must never contain.
FORBIDDEN = {
    "a URL": re.compile(r"\b(?:https?|wss?|ftp):/{2}|(?<![\w$.])//(?:cdn|unpkg|esm\.sh|jsdelivr)", re.IGNORECASE),
    "a static import of another module": re.compile(r"(?:^|[;}\s])import\s*(?:[\w$*{][^;]*?\sfrom\s*)?[\"'`]"),
    "a dynamic import()": re.compile(r"(?<![\w$.])import\s*\("),
    "an export from another module": re.compile(r"\bexport\s*(?:\*|\{[^}]*\})\s*from\s*[\"'`]"),
    "fetch()": re.compile(r"(?<![\w$.])fetch\s*\("),
    "XMLHttpRequest": re.compile(r"XMLHttpRequest"),
    "a WebSocket or EventSource": re.compile(r"\b(?:WebSocket|EventSource)\b"),
    "a worker or importScripts": re.compile(r"\b(?:Worker|SharedWorker|importScripts)\s*\("),
    "a CSS @import or url()": re.compile(r"@import\b|\burl\(\s*[\"']?(?!data:|#)"),
    "a script or link element": re.compile(
        r"createElement\(\s*[\"'`](?:script|link|iframe)[\"'`]|<script\b", re.IGNORECASE
    ),
    "require() or define()": re.compile(r"(?<![\w$.])(?:require|define)\s*\(\s*[\"'`\[]"),
}


def bundle_text() -> str:
    return BUNDLE.read_text(encoding="utf-8")


@pytest.mark.parametrize("what", sorted(FORBIDDEN))
def test_the_bundle_has_no(what: str) -> None:
    text = bundle_text()
    found = [text[max(0, m.start() - 60) : m.end() + 60] for m in FORBIDDEN[what].finditer(text)]
    assert not found, f"the bundle contains {what}: {found[:3]}"


def test_the_bundle_is_one_module_exporting_the_widget() -> None:
    text = bundle_text()
    exports = re.findall(r"(?<![\w$.-])export\s*\{([^}]*)\}", text)  # not the .attnviz-export CSS rule
    assert len(exports) == 1, exports
    names = {part.split(" as ")[-1].strip() for part in exports[0].split(",")}
    assert "default" in names, f"anywidget needs a default export; the bundle exports {sorted(names)}"


@pytest.mark.parametrize(
    ("sample", "what"),
    [
        ('import{a}from"https://esm.sh/d3";', "a URL"),
        ('import x from"./chunk.js";', "a static import of another module"),
        ('import"./side.css";', "a static import of another module"),
        ('const m=await import("./lazy.js");', "a dynamic import()"),
        ('export*from"./more.js";', "an export from another module"),
        ("fetch(u).then(r=>r.json())", "fetch()"),
        ("new XMLHttpRequest", "XMLHttpRequest"),
        ('new Worker("w.js")', "a worker or importScripts"),
        ('@import "x.css";', "a CSS @import or url()"),
        ("background:url(img.png)", "a CSS @import or url()"),
        ('document.createElement("script")', "a script or link element"),
        ('require("d3")', "require() or define()"),
        ("src='//cdn.example.org/x.js'", "a URL"),
    ],
)
def test_each_pattern_catches_what_it_names(sample: str, what: str) -> None:
    """The checks above can fail: each pattern finds its kind of load in a minified sample."""
    assert FORBIDDEN[what].search(sample), sample


@pytest.mark.parametrize(
    "sample",
    ['a.model.send({kind:"layer"})', "canvas.toDataURL()", 'el.style.background="url(data:image/png;base64,AA)"',
     "x.imported=1", "obj.fetch(1)", 'export{Mo as default,So as mountStandalone};'],
)  # fmt: skip
def test_ordinary_code_is_not_flagged(sample: str) -> None:
    hits = [what for what, pattern in FORBIDDEN.items() if pattern.search(sample)]
    assert not hits, (sample, hits)
