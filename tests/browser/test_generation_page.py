"""The exported page of a generation in headless chromium: the marks, the step control, the grid.

A tiny random GPT-2 generates a few tokens (``attnviz_widget.generate``); ``save_html`` writes
the page, which opens from file:// with the network off. The generated tokens must be marked
in the token view and on the heatmap (the dashed ``#d9480f`` boundary), and moving the step
(the ▶ button, the arrow keys, the slider) must move the panel's text, the locked row and the
layer × head grid with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnviz_widget.html_export import save_html

from .lab_harness import CHROMIUM, CHROMIUM_ARGS
from .marks import NEEDS_CHROMIUM_AND_BUNDLE

pytestmark = [*NEEDS_CHROMIUM_AND_BUNDLE, pytest.mark.slow]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

NEW_TOKENS = 5
#: Long enough that the heatmap (readable cells) scrolls under the widget's height cap.
PROMPT = "the movie was not very good and i loved the acting and the plot but the ending was really quite boring"

#: Pixels of the heatmap canvas close to the generated-token orange (viridis has none).
ORANGE_PIXELS = """() => {
    const canvas = document.querySelector('canvas.attnviz-heatmap');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i] - 217) + Math.abs(data[i + 1] - 72) + Math.abs(data[i + 2] - 15) < 40 && data[i + 3] > 200) n++;
    }
    return n;
}"""

#: Opaque pixels of the layer × head grid.
GRID_PIXELS = """() => {
    const canvas = document.querySelector('canvas.attnviz-step-grid');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] === 255) n++;
    return n;
}"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    from tiny_models import build_gpt2

    from attnviz_widget.generation import generate

    root = tmp_path_factory.mktemp("generation-page")
    return generate(build_gpt2(root / "gpt2"), PROMPT, max_new_tokens=NEW_TOKENS, device="cpu")


def test_generation_page_marks_tokens_and_steps_through_them(generated, tmp_path: Path) -> None:
    generation = generated.generation
    prompt = generation.prompt_tokens
    count = generation.num_generated
    assert count >= 2, "the tiny model stopped at once; the page needs two steps"
    page = save_html(generated, tmp_path / "generation.html")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
        view = context.new_page()
        problems: list[str] = []
        view.on("pageerror", lambda error: problems.append(str(error)))
        view.on(
            "request",
            lambda request: None if request.url.startswith(("file:", "blob:", "data:")) else problems.append(request.url),
        )
        view.goto(page.as_uri())
        root = view.wait_for_selector(".attnviz-root[data-attnviz-ready='true']", timeout=15_000)

        # the marks: generated tokens styled apart, the boundary before the first, the dashed line
        marked = view.eval_on_selector_all(
            ".attnviz-token", "els => els.map(e => e.classList.contains('attnviz-generated'))"
        )
        assert marked == [False] * prompt + [True] * count
        boundary = view.locator(".attnviz-generated-boundary")
        assert boundary.count() == 1 and boundary.is_visible()
        after = boundary.evaluate("el => el.nextElementSibling.dataset.index")
        assert after == str(prompt)
        underline = view.eval_on_selector(
            f".attnviz-token[data-index='{prompt}']", "el => getComputedStyle(el).textDecorationLine"
        )
        assert "underline" in underline  # not colour alone
        assert view.evaluate(ORANGE_PIXELS) > 20  # the dashed prompt | generated line on the heatmap

        # no step yet: the panel asks for one
        panel = view.locator(".attnviz-generation")
        assert panel.is_visible()
        assert "Choose a generated token" in view.inner_text(".attnviz-step-chosen")

        def expect_step(step: int) -> None:
            view.wait_for_function(f"document.querySelector('.attnviz-root').dataset.step === '{step}'")
            assert root.get_attribute("data-selected-token") == str(prompt + step - 1)
            assert root.get_attribute("data-locked") == "true"
            chosen = view.inner_text(".attnviz-step-chosen")
            assert chosen.startswith(f"token {step + 1}:")
            assert generation.steps[step].display.strip() in chosen
            facts = view.inner_text(".attnviz-step-facts")
            assert f"probability {generation.steps[step].probability * 100:.1f}%" in facts
            assert f"entropy {generation.steps[step].entropy:.2f} nats" in facts
            assert view.locator(".attnviz-step-alt-chosen").count() == 1
            outlined = view.eval_on_selector(".attnviz-step-token", "el => el.dataset.index")
            assert outlined == str(prompt + step)
            view.wait_for_function(
                f"document.querySelector('canvas.attnviz-step-grid').dataset.query === '{prompt + step - 1}'"
            )
            assert view.evaluate(GRID_PIXELS) > 100  # the strips are drawn

        view.click(".attnviz-step-next")
        expect_step(0)
        assert root.get_attribute("data-selected-token") == str(prompt - 1)  # the last prompt token chose it
        view.focus(".attnviz-step-slider")
        view.keyboard.press("ArrowRight")
        expect_step(1)
        view.keyboard.press("End")
        expect_step(count - 1)
        # the locked row scrolled into the heatmap's view
        scroll = view.evaluate(
            """() => { const s = document.querySelector('.attnviz-scroll');
                       return [s.scrollTop, s.clientHeight, s.scrollHeight]; }"""
        )
        layout = json.loads(view.get_attribute("canvas.attnviz-heatmap", "data-grid") or "{}")
        assert scroll[2] > scroll[1], "the heatmap should scroll at this length under the height cap"
        row_top = layout["y"] + (prompt + count - 2 - layout["r0"]) * layout["h"] / layout["rows"]
        assert 0 < scroll[0] <= row_top <= scroll[0] + scroll[1]
        view.eval_on_selector(
            ".attnviz-step-slider", "el => { el.value = '1'; el.dispatchEvent(new Event('input', { bubbles: true })); }"
        )
        expect_step(1)
        assert view.locator("canvas.attnviz-step-grid").get_attribute("data-cells") == "2x4"

        # a click on a grid cell focuses that layer and head
        box = view.locator("canvas.attnviz-step-grid").bounding_box()
        assert box is not None
        view.mouse.click(box["x"] + box["width"] - 6, box["y"] + box["height"] - 5)  # last layer, last head
        view.wait_for_function("document.querySelector('.attnviz-root').dataset.head === '3'")
        assert root.get_attribute("data-layer") == "1"
        assert problems == []
        browser.close()
