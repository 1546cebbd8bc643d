"""Benchmark: switching the focused head in the comparison view, in headless chromium.

Not a test. Run it from the repository root (needs Debian's chromium, playwright and the built
bundle)::

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_compare_view.py [--tokens 512] [--switches 24]

The page holds a :class:`~attnviz_widget.comparison.view.ComparisonWidget` of two random runs
(1 layer × 12 heads, ``--tokens`` tokens each, B with 8 words inserted so the alignment has
gaps) and a fake model that answers layer requests with the widget's own replies. Once the
layer is loaded on both sides, the head is switched ``--switches`` times (``model.set("head",
h)``, as a click does); timed per switch: until the B − A canvas holds the new head (both
sides' views update synchronously on the change, the difference right after their layers
resolve from the cache), and until the next animation frame after that, when the browser has
painted all three. The baseline is the same switch in a single-run widget (side A alone, the
ordinary view): until its heatmap title names the new head, and the next frame. Prints
medians and the ratio of the next-frame times.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body style="width: 1300px"><div id="host"></div><div id="single"></div><script type="module">
import widget from "./widget.js";
const data = await (await fetch("state.json")).json();
const bytes = (text) => { const raw = atob(text); const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i); return new DataView(out.buffer); };
function makeModel(state, replies, rename) {
  const values = new Map(Object.entries(state).map(([k, v]) => [k, v && v.b64 !== undefined ? bytes(v.b64) : v]));
  const handlers = new Map();
  const emit = (event, ...args) => (handlers.get(event) || []).slice().forEach((cb) => cb(...args));
  return {
    get: (name) => values.get(rename(name)),
    set(name, value) { name = rename(name); if (values.get(name) === value) return; values.set(name, value); emit("change:" + name); },
    save_changes() {},
    on(event, cb) { if (!handlers.has(event)) handlers.set(event, []); handlers.get(event).push(cb); },
    off(event, cb) { if (handlers.has(event)) handlers.set(event, handlers.get(event).filter((x) => x !== cb)); },
    send(msg) { setTimeout(() => { const reply = replies[(msg.side || "a") + "|" + msg.layer];
      if (reply) emit("msg:custom", { ...reply[0], id: msg.id, version: msg.version, side: msg.side }, [bytes(reply[1])]); }, 0); },
  };
}
const sideA = new Set(["data_version", "tokens", "key_tokens", "special", "key_special", "meta", "prediction", "overview",
  "overview_shape", "overview_scale", "first_matrix", "first_matrix_of", "selected_token"]);
window.comparison = makeModel(data.state, data.replies, (n) => n);
window.single = makeModel(data.state, data.replies, (n) => (sideA.has(n) ? "a_" + n : n));
widget.render({ model: window.comparison, el: document.getElementById("host") });
widget.render({ model: window.single, el: document.getElementById("single") });
const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
window.switchHead = async (which, head) => {
  const model = window[which];
  const t0 = performance.now();
  model.set("head", head);
  const done = which === "comparison"
    ? () => document.querySelector(".attnviz-compare-diff canvas").dataset.attnvizReady === `0|${head}`
    : () => document.querySelector("#single .attnviz-root").textContent.includes(`Layer 0, head ${head}`);
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 0));
  const ready = performance.now() - t0;
  await frame();
  return [ready, performance.now() - t0];
};
window.pageReady = true;
</script></body></html>"""


def build_page(directory: Path, tokens: int) -> None:
    from attnviz_widget.comparison import compare
    from attnviz_widget.comparison.view import ComparisonWidget
    from attnviz_widget.data import AttentionData

    def run(words: list[str], seed: int) -> AttentionData:
        logits = np.random.default_rng(seed).standard_normal((1, 12, len(words), len(words)), dtype=np.float32) * 2
        values = np.exp(logits - logits.max(-1, keepdims=True))
        return AttentionData.from_arrays(words, values / values.sum(-1, keepdims=True))

    words = ["[CLS]", *[f"w{i}" for i in range(tokens - 2)], "[SEP]"]
    changed = list(words)
    for k in range(8):
        changed.insert(40 + 50 * k, f"new{k}")
    changed = changed[: tokens - 1] + ["[SEP]"]
    widget = ComparisonWidget(compare(run(words, 1), run(changed, 2)), layer=0, head=0)
    from browser.fake_model_page import widget_state

    state = widget_state(widget)
    replies = {}
    for side in "ab":
        request = {"type": "request", "id": "r", "version": 1, "what": "layer", "layer": 0, "side": side}
        reply, payload = widget.answer_request(request)
        replies[f"{side}|0"] = [reply, base64.b64encode(payload or b"").decode()]
    (directory / "state.json").write_text(json.dumps({"state": state, "replies": replies}), encoding="utf-8")
    (directory / "index.html").write_text(PAGE, encoding="utf-8")
    shutil.copy(REPO / "attnviz_widget" / "static" / "widget.js", directory / "widget.js")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--switches", type=int, default=24)
    args = parser.parse_args()
    from browser.fake_model_page import serve
    from browser.lab_harness import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="attnviz-bench-") as folder:
        build_page(Path(folder), args.tokens)
        with serve(Path(folder)) as port:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1300, "height": 1400})
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.goto(f"http://127.0.0.1:{port}/index.html")
                page.wait_for_function("window.pageReady === true", timeout=120_000)
                page.wait_for_selector(".attnviz-compare-diff canvas[data-attnviz-ready='0|0']", timeout=120_000)
                page.wait_for_timeout(500)
                results: dict[str, list[list[float]]] = {"comparison": [], "single": []}
                for i in range(args.switches):  # interleaved
                    head = 1 + i % 11
                    for which in ("single", "comparison"):
                        results[which].append(page.evaluate("([w, h]) => window.switchHead(w, h)", [which, head]))
                browser.close()
    print(f"head switch at {args.tokens} tokens, 12 heads, {args.switches} switches (median ms)")
    print(f"{'view':34s} {'updated':>10s} {'next frame':>10s}")
    medians = {}
    for which, label in (("single", "single-run widget (baseline)"), ("comparison", "comparison: A, B and B − A")):
        ready = statistics.median(r[0] for r in results[which])
        frame = statistics.median(r[1] for r in results[which])
        medians[which] = frame
        print(f"{label:34s} {ready:10.1f} {frame:10.1f}")
    print(f"ratio (next frame): {medians['comparison'] / medians['single']:.2f}")
    if errors:
        print("page errors:", errors[:3])


if __name__ == "__main__":
    main()
