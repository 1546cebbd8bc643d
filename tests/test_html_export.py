"""The self-contained HTML export, without a browser: state, escaping, files."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from attnviz_widget import AttentionWidget, InputError
from attnviz_widget.cli import visualize_main
from attnviz_widget.files import write_extracted_json
from attnviz_widget.html_export import BUNDLE, render_html, save_html, standalone_state
from attnviz_widget.traits import ViewState

pytestmark = pytest.mark.skipif(not BUNDLE.is_file(), reason="the JS bundle is not built (cd js && npm run build)")
HOSTILE = "</script><img src=x onerror=alert(1)>"


def embedded_states(page: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/json" id="attnviz-state-\d+">(.*?)</script>', page, re.S)
    return [json.loads(block) for block in blocks]


def test_state_embeds_every_layer_as_float16(random_attention) -> None:
    data = random_attention(layers=3, heads=2, seq=6, padding=1)
    state = standalone_state(data, "self", layer=2, head="mean")
    assert sorted(state["layers"]) == ["0", "1", "2"]
    layer = np.frombuffer(base64.b64decode(state["layers"]["2"]), dtype="<f2").reshape(2, 5, 5)
    np.testing.assert_allclose(layer, data.attentions[2, :, :5, :5], atol=1e-3)
    assert state["layer"] == 2 and state["head"] == "mean" and state["tokens"] == ["[CLS]", "w0", "w1", "w2", "[SEP]"]
    assert state["overview_shape"] == [3, 5, 5, 5] and state["rollout"]
    with pytest.raises(InputError, match="unknown widget option"):
        standalone_state(data, "self", colour="red")


def test_hostile_text_cannot_break_out_of_the_page(random_attention) -> None:
    tokens = ["[CLS]", HOSTILE, "&amp;", "[SEP]"]
    page = render_html(random_attention(layers=1, heads=1, tokens=tokens, text=HOSTILE), title=HOSTILE)
    assert "<img" not in page.split('<script type="text/plain"')[0]
    assert page.count("</script>") == page.count("<script")  # every script element ends where it should
    assert embedded_states(page)[0]["tokens"][1] == HOSTILE  # and the text arrives intact as data
    assert "&lt;/script&gt;" in page  # the title is escaped


def test_encoder_decoder_gets_one_widget_per_stack(random_encoder_decoder, tmp_path: Path) -> None:
    page = save_html(random_encoder_decoder(), tmp_path / "ed.html").read_text()
    states = embedded_states(page)
    assert [state["section"] for state in states] == ["encoder", "decoder", "cross"]
    assert states[2]["rollout"] is None and states[1]["meta"]["causal"] is True


def test_no_network_resources(random_attention, tmp_path: Path) -> None:
    page = save_html(random_attention(), tmp_path / "a.html").read_text()
    assert not re.search(r'(src|href)=["\']?https?:', page)


def test_widget_save_html_starts_from_the_current_view(random_attention, tmp_path: Path) -> None:
    widget = AttentionWidget.from_data(random_attention(layers=2, heads=3))
    widget.layer, widget.head, widget.color_scale = 1, 2, "log"
    state = embedded_states(widget.save_html(tmp_path / "w.html").read_text())[0]
    assert (state["layer"], state["head"], state["color_scale"]) == (1, 2, "log")
    with pytest.raises(InputError, match="nothing to save"):
        AttentionWidget(None).save_html(tmp_path / "empty.html")


def test_cli_html_mode(random_attention, tmp_path: Path, capsys) -> None:
    source = write_extracted_json(random_attention(layers=2, heads=2), tmp_path / "a.json")
    output = tmp_path / "page.html"
    assert visualize_main(["--input_file", str(source), "--mode", "html", "--output_file", str(output)]) == 0
    assert "opens offline" in capsys.readouterr().out
    assert embedded_states(output.read_text())[0]["layer"] == 0


def test_the_page_starts_where_a_new_widget_starts(random_attention, random_encoder_decoder) -> None:
    for data in (random_attention(layers=3, heads=2).select_layers([1, 2]), random_encoder_decoder()):
        widget = AttentionWidget.from_data(data)
        state = standalone_state(data, widget.section)
        for name in (*ViewState.USER_TRAITS, "text", "data_version", "status", "error"):
            assert state[name] == getattr(widget, name), name


def test_a_view_this_stack_lacks_falls_back_as_in_the_widget(random_encoder_decoder) -> None:
    data = random_encoder_decoder()
    states = [standalone_state(data, section, head="rollout", layer=1) for section in data.sections]
    assert [(state["layer"], state["head"]) for state in states] == [(1, "rollout"), (1, "rollout"), (1, "mean")]
    assert standalone_state(data, "cross", head=9)["head"] == 0


def test_a_generation_travels_to_the_page_with_its_step(tmp_path: Path) -> None:
    from tiny_models import build_gpt2

    from attnviz_widget.generation import generate

    data = generate(build_gpt2(tmp_path / "gpt2"), "the movie was", max_new_tokens=3, device="cpu")
    state = standalone_state(data, "self", step=1)
    generation = state["meta"]["generation"]
    assert generation["streaming"] is False and generation["prompt_tokens"] == data.generation.prompt_tokens
    assert [s["token_id"] for s in generation["steps"]] == data.generation.token_ids.tolist()
    assert state["step"] == 1
    from dataclasses import replace

    assert "generation" not in standalone_state(replace(data, generation=None), "self")["meta"]


def test_the_page_step_locks_the_row_that_chose_its_token(tmp_path: Path, random_attention) -> None:
    from tiny_models import build_gpt2

    from attnviz_widget.generation import generate

    data = generate(build_gpt2(tmp_path / "gpt2"), "the movie was", max_new_tokens=3, device="cpu")
    prompt = data.generation.prompt_tokens
    state = standalone_state(data, "self", step=2)
    assert (state["step"], state["selected_token"], state["token_locked"]) == (2, prompt + 1, True)
    assert standalone_state(data, "self")["selected_token"] is None  # no step, no lock
    with pytest.raises(InputError, match="step 3 is out of range; valid steps are 0 to 2"):
        standalone_state(data, "self", step=3)
    with pytest.raises(InputError, match="step needs generated text"):
        standalone_state(random_attention(), "self", step=0)
