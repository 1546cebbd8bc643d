"""Benchmark: switching the focused head in the comparison view, in headless chromium.

Not a test. Run it from the repository root (needs Debian's chromium, playwright and the built
bundle)::

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_compare_view.py [--tokens 512] [--switches 24]

The page holds a :class:`~attnviz_widget.comparison.view.ComparisonWidget` of two random runs
(12 layers × 12 heads, ``--tokens`` tokens each, B with 8 words inserted so the alignment has
gaps) and a fake model that answers layer requests with the widget's own replies. First every
head of layer 0 is focused once on both sides, so the layer is loaded ("after the data is
there"); then the head is switched ``--switches`` times (``model.set("head", h)``, as a click on
the score grid does), each switch at the start of an animation frame. Timed per switch, with
``performance.now()``:

* **script**: until the page's own work for the switch is done (its listeners, then the
  promise callbacks they queued), before the browser lays out, paints and commits the frame;
* **updated**: until all three heatmaps show the new head: side A's and side B's view each has
  the head in its heatmap title and ``data-attnviz-ready="true"`` (its focused heatmap is painted
  with the current data), and the B − A canvas is marked ``0|head``;
* **next frame**: until the first ``requestAnimationFrame`` callback after that, the frame in
  which the browser paints them; ``frames`` counts the frames that began in between (0: the
  three are on screen in the very next frame after the switch).

The baseline is the same switch in a single-run widget (side A's data alone, the ordinary
view), timed the same way. A frame is 16.7 ms at 60 Hz. "updated" includes the frame the
switch happens in: the script that paints (in the animation-frame callback), then the
browser's style, layout, paint and commit of that frame. ``--profile`` writes a CPU profile of
the timed switches; an unminified ``--bundle`` names its functions. The load average is
printed: on a shared machine it moves these numbers more than anything else.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
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
// the single-run widget over side A's traits; it has no view_kind (a comparison's would draw a second comparison)
window.single = makeModel({ ...data.state, view_kind: "" }, data.replies, (n) => (sideA.has(n) ? "a_" + n : n));
widget.render({ model: window.comparison, el: document.getElementById("host") });
widget.render({ model: window.single, el: document.getElementById("single") });
const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
let frames = 0;
const count = () => { frames += 1; requestAnimationFrame(count); };
requestAnimationFrame(count);
const channel = new MessageChannel();
const queue = [];
channel.port1.onmessage = () => queue.shift()();
const yieldTask = () => new Promise((resolve) => { queue.push(resolve); channel.port2.postMessage(0); });
const sideShows = (root, head) => root !== null && root.dataset.attnvizReady === "true"
  && root.querySelector(".attnviz-heatmap-title").textContent.includes(`head ${head}`);
const shows = (which, head) => which === "comparison"
  ? sideShows(document.querySelector(".attnviz-compare-a .attnviz-root"), head)
    && sideShows(document.querySelector(".attnviz-compare-b .attnviz-root"), head)
    && document.querySelector(".attnviz-compare-diff canvas").dataset.attnvizReady === `0|${head}`
  : sideShows(document.querySelector("#single .attnviz-root"), head);
window.switchHead = async (which, head) => {
  const model = window[which];
  await frame();  // start at the beginning of a frame, as an input event would
  const t0 = performance.now();
  const f0 = frames;
  model.set("head", head);
  // script: the switch's own work (listeners, then the promise callbacks it queued), no browser work
  for (let i = 0; i < 1000 && !shows(which, head); i++) await Promise.resolve();
  const script = performance.now() - t0;
  let polls = 0;
  do {  // a task after the switch's frame: its style, layout, paint and commit are counted too
    if (++polls > 1e6) throw new Error(`${which}: head ${head} never shown`);
    await yieldTask();
  } while (!shows(which, head));
  const ready = performance.now() - t0;
  const f1 = frames;
  await frame();
  return [ready, performance.now() - t0, f1 - f0, script];
};
window.warm = async () => {  // load layer 0 on every side: each head focused once
  for (const which of ["single", "comparison"]) {
    for (const head of [...Array(12).keys(), 0]) {
      window[which].set("head", head);
      const started = performance.now();
      while (!shows(which, head)) {
        if (performance.now() - started > 60000) throw new Error(`${which}: head ${head} never shown`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  }
  return true;
};
window.pageReady = true;
</script></body></html>"""


def build_page(directory: Path, tokens: int, bundle: Path) -> None:
    from attnviz_widget.comparison import compare
    from attnviz_widget.comparison.view import ComparisonWidget
    from attnviz_widget.data import AttentionData

    def run(words: list[str], seed: int) -> AttentionData:
        logits = np.random.default_rng(seed).standard_normal((12, 12, len(words), len(words)), dtype=np.float32) * 2
        values = np.exp(logits - logits.max(-1, keepdims=True))
        return AttentionData.from_arrays(words, values / values.sum(-1, keepdims=True))

    words = ["[CLS]", *[f"w{i}" for i in range(tokens - 2)], "[SEP]"]
    changed = list(words)
    for k in range(8):
        changed.insert(40 + 50 * k, f"new{k}")
    changed = changed[: tokens - 1] + ["[SEP]"]
    widget = ComparisonWidget(compare(run(words, 1), run(changed, 2)), layer=0, head=0).wait(120)
    from browser.fake_model_page import widget_state

    state = widget_state(widget)
    replies = {}
    for side in "ab":
        request = {"type": "request", "id": "r", "version": getattr(widget, f"{side}_data_version"), "what": "layer",
                   "layer": 0, "side": side}
        reply, payload = widget.answer_request(request)
        replies[f"{side}|0"] = [reply, base64.b64encode(payload or b"").decode()]
    (directory / "state.json").write_text(json.dumps({"state": state, "replies": replies}), encoding="utf-8")
    (directory / "index.html").write_text(PAGE, encoding="utf-8")
    shutil.copy(bundle, directory / "widget.js")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--switches", type=int, default=24)
    parser.add_argument("--bundle", type=Path, default=REPO / "attnviz_widget" / "static" / "widget.js",
                        help="the bundle to load (an unminified one names functions in a profile)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a Chrome CPU profile of the timed switches (.cpuprofile) here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    from browser.fake_model_page import serve
    from browser.lab_harness import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="attnviz-bench-") as folder:
        build_page(Path(folder), args.tokens, args.bundle)
        with serve(Path(folder)) as port:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1300, "height": 1400})
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.goto(f"http://127.0.0.1:{port}/index.html")
                page.wait_for_function("window.pageReady === true", timeout=120_000)
                page.wait_for_selector(".attnviz-compare-diff canvas[data-attnviz-ready='0|0']", timeout=120_000)
                page.evaluate("window.warm()")
                profiler = None
                if args.profile is not None:
                    profiler = page.context.new_cdp_session(page)
                    profiler.send("Profiler.enable")
                    profiler.send("Profiler.setSamplingInterval", {"interval": 100})
                    profiler.send("Profiler.start")
                results: dict[str, list[list[float]]] = {"comparison": [], "single": []}
                for i in range(args.switches):  # interleaved
                    head = 1 + i % 11
                    for which in ("single", "comparison"):
                        results[which].append(page.evaluate("([w, h]) => window.switchHead(w, h)", [which, head]))
                if profiler is not None:
                    args.profile.write_text(json.dumps(profiler.send("Profiler.stop")["profile"]), encoding="utf-8")
                browser.close()
    frame_ms = 1000 / 60
    print(f"head switch at {args.tokens} tokens, 12 layers × 12 heads, {args.switches} switches, layer loaded; "
          f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after ({os.cpu_count()} CPUs)")
    print(f"{'view':34s} {'script ms':>10s} {'updated ms':>22s} {'next frame ms':>14s} {'frames':>7s} {'<= 1 frame':>10s}")
    for which, label in (("single", "single-run widget (baseline)"), ("comparison", "comparison: A, B and B − A")):
        ready = [r[0] for r in results[which]]
        spread = f"{statistics.median(ready):.1f} ({min(ready):.1f}–{max(ready):.1f})"
        within = sum(r <= frame_ms for r in ready)
        print(f"{label:34s} {statistics.median(r[3] for r in results[which]):10.1f} {spread:>22s} "
              f"{statistics.median(r[1] for r in results[which]):14.1f} "
              f"{max(int(r[2]) for r in results[which]):7d} {within:5d}/{len(ready)}")
    print("script: median ms of the page's own work for the switch (its listeners and the promise callbacks they "
          "queued), before the browser's style, layout, paint and commit")
    print("updated: median (min–max) ms from the switch until the heatmaps show the new head; frames: the most "
          "frames that began before that (0: on screen in the next frame); <= 1 frame: switches done in 16.7 ms")
    if errors:
        print("page errors:", errors[:3])


if __name__ == "__main__":
    main()
