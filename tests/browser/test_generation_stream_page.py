"""A streamed generation replayed in headless chromium: each token a new data set, as the widget sends them.

``run_generation(on_token=...)`` yields, per generated token, the rows computed so far
(``partial_data``) and ``meta.generation`` with ``streaming: true`` (``frontend_meta``): the
data sets ``AttentionWidget.generate`` streams. A page mounts the first with the offline
page's ``LocalModel`` and replaces the data set by the next one (``LocalModel.replaceData``),
as Python does. While tokens stream in, the newest token must be shown as pending, the
heatmap must never be blank between two data sets, a zoomed heatmap must keep its zoom, and
the step panel must count the tokens; the final data set ends the pending mark.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attnviz_widget.html_export import BUNDLE, standalone_state

from .lab_harness import CHROMIUM, CHROMIUM_ARGS
from .marks import NEEDS_CHROMIUM_AND_BUNDLE

pytestmark = [*NEEDS_CHROMIUM_AND_BUNDLE, pytest.mark.slow]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

NEW_TOKENS = 6

_PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body style="width: 1200px">
<div id="host"></div>
<script type="application/json" id="states">STATES</script>
<script type="text/plain" id="bundle">BUNDLE</script>
<script type="module">
const code = document.getElementById("bundle").textContent;
const { mountStandalone } = await import(URL.createObjectURL(new Blob([code], { type: "text/javascript" })));
const states = JSON.parse(document.getElementById("states").textContent);
const { model } = mountStandalone(document.getElementById("host"), states[0]);
const painted = () => {
  const canvas = document.querySelector("canvas.attnviz-heatmap");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
  return n;
};
// the next data set, as Python sends it; what the heatmap shows at once, before any request is answered
window.push = (i) => { model.replaceData(states[i]); return painted(); };
window.count = states.length;
</script></body></html>"""


def _streamed_states(directory: Path) -> tuple[list[dict[str, Any]], Any]:
    """Every data set the widget streams for a tiny GPT-2's generation, then the final one."""
    from attnviz_widget.generation.run import plan_generation, run_generation

    states: list[dict[str, Any]] = []

    def on_token(progress: Any) -> None:
        partial = progress.partial_data()
        assert partial is not None
        state = standalone_state(partial, "self")
        generation = progress.frontend_meta()
        state["meta"]["generation"] = generation
        newest = len(generation["steps"]) - 1
        # Python follows the newest token: step, and the row that chose it locked
        state.update(data_version=len(states) + 1, step=newest, token_locked=True,
                     selected_token=generation["prompt_tokens"] + newest - 1)
        states.append(state)

    plan = plan_generation(str(directory), "the movie was not", max_new_tokens=NEW_TOKENS, device="cpu")
    final = run_generation(plan, on_token=on_token)
    last = final.generation.num_generated - 1
    states.append({**standalone_state(final, "self", step=last), "data_version": len(states) + 1})
    return states, final


def _script_json(value: Any) -> str:
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def test_streamed_tokens_appear_pending_without_blank_frames_and_keep_the_zoom(tmp_path: Path) -> None:
    from tiny_models import build_gpt2

    states, final = _streamed_states(build_gpt2(tmp_path / "gpt2"))
    generation = final.generation
    prompt = generation.prompt_tokens
    assert len(states) == generation.num_generated + 1 >= 4
    bundle = BUNDLE.read_text(encoding="utf-8").replace("</script", "<\\/script")
    page = tmp_path / "stream.html"
    page.write_text(_PAGE.replace("STATES", _script_json(states)).replace("BUNDLE", bundle), encoding="utf-8")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
        view = context.new_page()
        problems: list[str] = []
        view.on("pageerror", lambda error: problems.append(str(error)))
        view.goto(page.as_uri())
        root = view.wait_for_selector(".attnviz-root[data-attnviz-ready='true']", timeout=15_000)

        def ready(version: int) -> None:
            view.wait_for_function(
                f"document.querySelector('.attnviz-root').dataset.version === '{version}' && "
                "document.querySelector('.attnviz-root').dataset.attnvizReady === 'true'"
            )

        zoomed: dict[str, int] | None = None
        for index in range(len(states)):
            if index > 0:
                assert view.evaluate(f"window.push({index})") > 100, "the heatmap went blank between two data sets"
                ready(index + 1)
            count = index + 1 if index < len(states) - 1 else generation.num_generated
            streaming = index < len(states) - 1
            pending = view.locator(".attnviz-pending")
            tokens = view.locator(".attnviz-token")
            if streaming:
                assert pending.count() == 1, f"data set {index + 1}: the newest token is pending"
                assert pending.get_attribute("data-pending") == str(prompt + count - 1)
                assert tokens.count() == prompt + count - 1
                assert "step-token" in (pending.get_attribute("class") or "")  # the step follows the newest
                assert view.inner_text(".attnviz-step-summary").startswith(f"generating\u2026 {count} token")
            else:
                assert pending.count() == 0
                assert tokens.count() == prompt + count
                assert "generated" in view.inner_text(".attnviz-step-summary")
            assert root.get_attribute("data-selected-token") == str(prompt + count - 2)
            shown = json.loads(view.get_attribute("canvas.attnviz-heatmap", "data-view") or "{}")
            if index == 2:  # zoom in on the heatmap, then watch the zoom survive the next tokens
                view.focus("canvas.attnviz-heatmap")
                view.keyboard.press("+")
                zoomed = json.loads(view.get_attribute("canvas.attnviz-heatmap", "data-view") or "{}")
                assert zoomed["r1"] - zoomed["r0"] < prompt + count - 1
            elif zoomed is not None:
                assert shown == zoomed, f"data set {index + 1} lost the zoom"
        assert problems == []
        browser.close()
