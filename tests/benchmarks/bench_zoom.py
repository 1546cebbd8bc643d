"""Benchmark: the zoomable heatmap in headless Chromium, tiled at length against dense.

On the static test page (``tests/browser/static/index.html``) the widget is mounted with
``mountStandalone``: its ``LocalModel`` answers ``layer``, ``tile`` and ``row`` requests from
embedded float16 layers as Python would, so this times the browser side only. For
``--dense`` tokens (drawn whole, the baseline) and ``--long`` tokens (drawn from tiles:
past 1024² cells), one layer x two heads, it reports, as medians over ``--repeats`` mounts:

* ``mount -> ready``: ``render()`` until the overview and the focused heatmap are painted;
* ``zoom -> tiles painted`` (long only): two wheel notches at the centre until every wanted
  tile has arrived and is drawn;
* hover: the cost of a token hover and a heatmap hover, one per animation frame
  (``window.hoverTimings``), median and max of ``frame`` (handler + style + layout).

Times vary between machines: read the ratios to the dense baseline. Run
``python tests/benchmarks/bench_zoom.py [--dense 1024] [--long 4096] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "browser"))

from lab_harness import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

MOUNT = """async ([n, tiled]) => {
  const { makeData, mountStandalone } = window.attnviz;
  const tokens = ["[CLS]", ...Array.from({ length: n - 2 }, (_, i) => `w${i}`), "[SEP]"];
  const data = makeData({ tokens, layers: 1, heads: 2 });
  const copy = (view) => new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice().buffer;
  const layers = Object.fromEntries(Object.entries(data.layerHalves).map(([l, h]) => [l, h.buffer]));
  const state = { ...data.traits, meta: { ...data.traits.meta, tiled }, overview: copy(data.traits.overview),
                  overview_scale: copy(data.traits.overview_scale), layers, rollout: null };
  const el = document.getElementById("a");
  el.replaceChildren();
  return await new Promise((resolve) => {
    const t0 = performance.now();
    const observer = new MutationObserver(() => {
      const root = el.querySelector(".attnviz-root");
      if (root && root.dataset.attnvizReady === "true") { observer.disconnect(); resolve(performance.now() - t0); }
    });
    observer.observe(el, { subtree: true, attributes: true, attributeFilter: ["data-attnviz-ready"] });
    window.mounted = mountStandalone(el, state);
  });
}"""

ZOOM = """async () => {
  const canvas = document.querySelector("#a .attnviz-heatmap");
  const grid = JSON.parse(canvas.dataset.grid);
  const rect = canvas.getBoundingClientRect();
  const at = { clientX: rect.left + grid.x + grid.w / 2, clientY: rect.top + grid.y + grid.h / 2, deltaY: -300, bubbles: true, cancelable: true };
  const t0 = performance.now();
  canvas.dispatchEvent(new WheelEvent("wheel", at));
  canvas.dispatchEvent(new WheelEvent("wheel", at));
  const traffic = () => JSON.parse(canvas.dataset.tiles || "{}");
  while (!(traffic().pending === 0 && traffic().requested > 0)) await new Promise((r) => setTimeout(r, 1));
  await new Promise((r) => requestAnimationFrame(() => r()));
  return { ms: performance.now() - t0, ...traffic() };
}"""


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):6.2f} ms, max {max(values):6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dense", type=int, default=1024)
    parser.add_argument("--long", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(REPO)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/tests/browser/static/index.html"
    results: dict[str, dict[str, Any]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for name, n, tiled in [("dense", args.dense, False), ("long (tiled)", args.long, True)]:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.wait_for_function("window.pageReady === true")
            mounts = [float(page.evaluate(MOUNT, [n, tiled])) for _ in range(args.repeats)]
            result: dict[str, Any] = {"tokens": n, "mount": mounts}
            if tiled:
                result["zoom"] = [page.evaluate(ZOOM) for _ in range(1)]
            result["hover"] = page.evaluate("() => window.hoverTimings('a', 30)")
            results[name] = result
            page.close()
        browser.close()
    server.shutdown()
    base = statistics.median(results["dense"]["mount"])
    for name, result in results.items():
        mount = statistics.median(result["mount"])
        print(f"{name}: {result['tokens']} tokens, 1 layer x 2 heads")
        print(f"  mount -> ready          {mount:8.1f} ms   {mount / base:6.2f} x dense")
        for zoom in result.get("zoom", []):
            print(f"  zoom -> tiles painted   {zoom['ms']:8.1f} ms   ({json.dumps({k: zoom[k] for k in ('pool', 'requested', 'cancelled')})})")
        for kind in ("token", "heatmap"):
            print(f"  {kind} hover frame      {summary(result['hover'][kind]['frame'])}")


if __name__ == "__main__":
    main()
