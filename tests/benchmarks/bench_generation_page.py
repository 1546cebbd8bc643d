"""Benchmark: one streamed token in the browser vs showing the same data from scratch.

Not a test. Run it from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_generation_page.py [--prompt-tokens 96]
        [--new-tokens 32] [--layers 12] [--heads 12] [--updates 6]

While ``AttentionWidget.generate`` streams, every token arrives as a whole new data set
(``js/PROTOCOL.md``, "Generation"); the browser must redraw it without flicker, several times
a second. This measures, in headless chromium on the offline page's ``LocalModel`` (no kernel,
so only the frontend is timed):

* **update**: ``LocalModel.replaceData(next)`` — the next streamed data set (one more token, the
  newest pending, the step following it) replacing the shown one — until the widget is ready
  again (``data-attnviz-ready``: overview, token view, step panel and the focused heatmap drawn,
  its layer requested, decoded and painted), then one animation frame; the synchronous part
  (everything but the layer request) is reported too;
* **baseline, fresh mount**: ``mountStandalone`` of the same data set into a new element, until
  ready and one frame — what showing that data costs from scratch.

Data: causal random rows (softmax of random logits) of a ``layers × heads`` model over
``prompt + new`` tokens, with a synthetic generation record; the last ``--updates`` data sets of
the stream are embedded (each with every layer as float16, as the offline page holds them).
Prints medians in milliseconds and the ratio update / fresh mount.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from attnviz_widget.data import AttentionData  # noqa: E402
from attnviz_widget.generation.steps import Alternative, Generation, StepScore, attach_generation  # noqa: E402
from attnviz_widget.html_export import BUNDLE, standalone_state  # noqa: E402

CHROMIUM = "/usr/bin/chromium"

PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body style="width: 1200px">
<div id="host"></div><div id="fresh"></div>
<script type="application/json" id="states">STATES</script>
<script type="text/plain" id="bundle">BUNDLE</script>
<script type="module">
const code = document.getElementById("bundle").textContent;
const { mountStandalone } = await import(URL.createObjectURL(new Blob([code], { type: "text/javascript" })));
const states = JSON.parse(document.getElementById("states").textContent);
const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
const ready = async (root, version) => {
  while (!(root.dataset.version === String(version) && root.dataset.attnvizReady === "true")) await frame();
  await frame();
};
const { model } = mountStandalone(document.getElementById("host"), states[0]);
const root = document.querySelector("#host .attnviz-root");
window.update = async (i) => {
  const t0 = performance.now();
  model.replaceData(states[i]);
  const t1 = performance.now();
  await ready(root, states[i].data_version);
  return [performance.now() - t0, t1 - t0];
};
window.fresh = async (i) => {
  const el = document.getElementById("fresh");
  el.replaceChildren();
  const t0 = performance.now();
  const { destroy } = mountStandalone(el, states[i]);
  await ready(el.querySelector(".attnviz-root"), states[i].data_version);
  const took = performance.now() - t0;
  destroy();
  return took;
};
window.first = ready(root, states[0].data_version).then(() => true);
</script></body></html>"""


def random_causal(rng: np.random.Generator, layers: int, heads: int, n: int) -> np.ndarray:
    logits = rng.normal(size=(layers, heads, n, n)).astype(np.float32) * 2
    logits[..., np.triu_indices(n, 1)[0], np.triu_indices(n, 1)[1]] = -np.inf
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def synthetic_generation(rng: np.random.Generator, prompt: int, new: int, tokens: list[str]) -> Generation:
    steps = []
    for i in range(new):
        p = float(rng.uniform(0.05, 0.9))
        top = tuple(Alternative(j, f" w{j}", f" w{j}", p if j == 0 else p * 0.1 / j) for j in range(5))
        steps.append(StepScore(0, tokens[prompt + i], tokens[prompt + i], p, float(rng.uniform(0.1, 4)), top, p))
    return Generation(prompt="", text="".join(tokens[prompt:]), section="self", prompt_tokens=prompt,
                      steps=tuple(steps), finish_reason="length")


def streamed_states(args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    total = args.prompt_tokens + args.new_tokens
    tokens = [f" w{i % 50}" for i in range(total)]
    attentions = random_causal(rng, args.layers, args.heads, total)
    generation = synthetic_generation(rng, args.prompt_tokens, args.new_tokens, tokens)
    meta_steps = generation.to_dict()["steps"]
    states = []
    for count in range(args.new_tokens - args.updates + 1, args.new_tokens + 1):
        rows = args.prompt_tokens + count - 1  # the newest token's row comes with the next step
        data = AttentionData.from_arrays(tokens[:rows], attentions[:, :, :rows, :rows], causal=True)
        state = standalone_state(data, "self")
        state["meta"]["generation"] = {**generation.to_dict(), "steps": meta_steps[:count], "finish_reason": None,
                                       "streaming": True}
        states.append({**state, "step": count - 1, "selected_token": rows - 1, "token_locked": True})
    final = attach_generation(AttentionData.from_arrays(tokens, attentions, causal=True), generation)
    states.append(standalone_state(final, "self", step=args.new_tokens - 1))
    for version, state in enumerate(states, start=1):
        state["data_version"] = version
    return states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompt-tokens", type=int, default=96)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--updates", type=int, default=6)
    args = parser.parse_args()
    if not BUNDLE.is_file():
        sys.exit("build the bundle first: cd js && npm run build")
    from playwright.sync_api import sync_playwright

    states = streamed_states(args)
    text = json.dumps(states).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    bundle = BUNDLE.read_text(encoding="utf-8").replace("</script", "<\\/script")
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "bench.html"
        page.write_text(PAGE.replace("STATES", text).replace("BUNDLE", bundle), encoding="utf-8")
        print(f"{len(states)} data sets, {args.layers} x {args.heads}, up to {args.prompt_tokens + args.new_tokens} "
              f"tokens; page {page.stat().st_size / 1e6:.1f} MB")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            view = browser.new_page(viewport={"width": 1200, "height": 900})
            view.goto(page.as_uri())
            view.wait_for_function("window.first !== undefined")
            view.evaluate("window.first")
            updates, sync, fresh = [], [], []
            for index in range(1, len(states)):
                total, synchronous = view.evaluate(f"window.update({index})")
                updates.append(total)
                sync.append(synchronous)
                fresh.append(view.evaluate(f"window.fresh({index})"))  # interleaved: same load on both
            browser.close()
    median = statistics.median
    print(f"update (replaceData -> ready + frame): median {median(updates):.1f} ms "
          f"(synchronous part {median(sync):.1f} ms), n={len(updates)}")
    print(f"baseline, fresh mount of the same data:  median {median(fresh):.1f} ms")
    print(f"ratio update / fresh mount: {median(updates) / median(fresh):.2f}")


if __name__ == "__main__":
    main()
