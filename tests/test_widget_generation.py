"""AttentionWidget.generate: tokens stream in as data sets, the step trait, bad input before display."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import traitlets
from tiny_models import build_bert, build_gpt2, build_t5

from attnviz_widget import AttentionWidget, InputError
from attnviz_widget.generation import generate
from attnviz_widget.widget_generation import MIN_STREAM_INTERVAL, StreamThrottle

PROMPT = "the movie was not"


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_gpt2(tmp_path_factory.mktemp("widget-generation") / "gpt2")


class Recorder:
    """Every data set the widget sends while it generates: (meta, tokens, first matrix shape)."""

    def __init__(self, widget: AttentionWidget) -> None:
        self.sets: list[dict[str, Any]] = []
        widget.observe(self._on_version, names="data_version")
        self.widget = widget

    def _on_version(self, change: dict[str, Any]) -> None:
        w = self.widget
        self.sets.append({"meta": w.meta, "tokens": list(w.tokens), "step": w.step,
                          "selected": w.selected_token, "locked": w.token_locked,
                          "overview_shape": list(w.overview_shape),
                          "first": np.frombuffer(w.first_matrix, dtype="<f2").astype(np.float32)})


def streaming_widget(gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AttentionWidget:
    """A widget that sends every token (no throttling), as a fast browser would see it."""
    monkeypatch.setattr(StreamThrottle, "due", lambda self: True)
    return AttentionWidget(gpt2_dir, device="cpu")


def test_every_token_streams_with_the_rows_that_chose_it(gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    widget = streaming_widget(gpt2_dir, monkeypatch)
    recorder = Recorder(widget)
    widget.generate(PROMPT, max_new_tokens=5)
    final = generate(gpt2_dir, PROMPT, max_new_tokens=5, device="cpu")
    assert widget.data.generation.token_ids.tolist() == final.generation.token_ids.tolist()
    streamed, landed = recorder.sets[:-1], recorder.sets[-1]
    prompt = final.generation.prompt_tokens
    assert len(streamed) == 5, "one data set per generated token"
    for count, sent in enumerate(streamed, start=1):
        generation = sent["meta"]["generation"]
        assert generation["streaming"] is True and generation["finish_reason"] is None
        assert len(generation["steps"]) == count and generation["prompt_tokens"] == prompt
        assert "sampled_probability" not in generation["steps"][0], "unknown until generate returns"
        # the newest token's own row comes with the next step: the matrix stops one token short
        assert sent["meta"]["num_queries"] == prompt + count - 1 == len(sent["tokens"])
        expected = np.asarray(final.attentions)[0, 0, : prompt + count - 1, : prompt + count - 1]
        np.testing.assert_allclose(sent["first"].reshape(expected.shape), expected, atol=1e-3)
        for got, want in zip(generation["steps"], final.generation.steps):
            assert got["token_id"] == want.token_id and abs(got["probability"] - want.probability) < 1e-6
        # step follows the newest token and locks the row that chose it
        assert sent["step"] == count - 1 and sent["selected"] == prompt + count - 2 and sent["locked"]
    # the first token goes light (on screen sooner): no overview yet; every later data set has one
    assert streamed[0]["overview_shape"] == [] and all(sent["overview_shape"] for sent in streamed[1:])
    assert landed["overview_shape"] == [2, 7, prompt + 5, prompt + 5]
    generation = landed["meta"]["generation"]
    assert generation["streaming"] is False and generation["finish_reason"] in ("length", "eos")
    assert landed["meta"]["num_queries"] == prompt + 5 and widget.status == "ready"
    assert generation["steps"][0]["sampled_probability"] == pytest.approx(final.generation.steps[0].sampled_probability)


def test_rows_request_serves_the_step_grid(gpt2_dir: Path) -> None:
    widget = AttentionWidget(gpt2_dir, device="cpu").generate(PROMPT, max_new_tokens=3)
    query = widget.data.generation.prompt_tokens + 1
    reply, payload = widget.answer_request({"type": "request", "id": "q", "version": widget.data_version,
                                            "what": "rows", "query": query})
    assert reply["type"] == "rows" and reply["shape"] == [2, 4, len(widget.tokens)]
    values = np.frombuffer(payload, dtype="<f2").reshape(reply["shape"]).astype(np.float32)
    np.testing.assert_allclose(values, np.asarray(widget.data.attentions)[:, :, query], atol=1e-3)


def test_step_selects_the_row_that_chose_the_token_and_is_validated(gpt2_dir: Path) -> None:
    widget = AttentionWidget(gpt2_dir, device="cpu").generate(PROMPT, max_new_tokens=4)
    prompt = widget.data.generation.prompt_tokens
    assert widget.step == 3, "the newest token after streaming"
    widget.step = 0
    assert widget.selected_token == prompt - 1 and widget.token_locked
    with pytest.raises(traitlets.TraitError, match="step 4 is out of range; valid steps are 0 to 3"):
        widget.step = 4
    with pytest.raises(traitlets.TraitError, match="out of range"):
        widget.step = -1


@pytest.mark.slow  # builds or runs a model again
def test_a_text_after_a_generation_clears_the_step(gpt2_dir: Path) -> None:
    widget = AttentionWidget(gpt2_dir, device="cpu").generate(PROMPT, max_new_tokens=2)
    widget.show("an ordinary text")
    assert widget.step is None and "generation" not in widget.meta
    with pytest.raises(traitlets.TraitError, match="step needs generated text"):
        widget.step = 0


@pytest.mark.slow  # builds or runs a model again
def test_the_user_moving_the_step_stops_it_following(gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    widget = streaming_widget(gpt2_dir, monkeypatch)
    steps_seen: list[int | None] = []

    def move_back(change: dict[str, Any]) -> None:
        generation = widget.meta.get("generation") or {}
        steps_seen.append(widget.step)
        if len(generation.get("steps", ())) == 2 and generation.get("streaming"):
            widget.step = 0  # the user goes back while the model still writes

    widget.observe(move_back, names="data_version")
    widget.generate(PROMPT, max_new_tokens=5)
    assert steps_seen == [0, 1, 0, 0, 0, 0] and widget.step == 0  # followed, then stayed where the user put it


def test_a_new_text_stops_a_running_generation(gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    widget = streaming_widget(gpt2_dir, monkeypatch)
    streamed = []

    def type_new_text(change: dict[str, Any]) -> None:
        if (widget.meta.get("generation") or {}).get("streaming"):
            streamed.append(change["new"])
            widget.text = "the text that replaces it"  # the user types while the model writes

    widget.observe(type_new_text, names="data_version")
    widget._submit(widget_plan(widget, max_new_tokens=50))
    widget.wait(120)
    assert streamed == [1], "the generation stopped at the next token"
    assert widget.status == "ready" and "generation" not in widget.meta and widget.step is None
    assert widget.meta["text"] == "the text that replaces it"


def widget_plan(widget: AttentionWidget, **options: Any) -> Any:
    from attnviz_widget.generation.run import plan_generation

    return plan_generation(widget._extractor, PROMPT, **options)


@pytest.mark.slow  # builds or runs a model again
def test_an_encoder_decoder_streams_its_decoder_and_cross_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StreamThrottle, "due", lambda self: True)
    widget = AttentionWidget(build_t5(tmp_path / "t5"), device="cpu", section="decoder")
    recorder = Recorder(widget)
    widget.generate(PROMPT, max_new_tokens=3)
    assert [len(s["tokens"]) for s in recorder.sets] == [1, 2, 3, 4]  # the start token, then one per step
    assert all(s["meta"]["generation"]["prompt_tokens"] == 1 for s in recorder.sets)
    widget.section = "cross"
    assert widget.meta["generation"]["prompt_tokens"] == 1 and len(widget.key_tokens) > 1
    widget.section = "encoder"
    assert "generation" not in widget.meta and widget.step is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be at least 1"),
        ({"chat": True}, "no chat template"),
        ({"num_beams": 3}, "num_beams=3 is not supported"),
    ],
)
def test_bad_input_is_refused_before_anything_is_displayed(
    gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], message: str
) -> None:
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.append(a))
    widget = AttentionWidget(gpt2_dir, device="cpu")
    with pytest.raises(InputError, match=message):
        widget.generate(PROMPT, **options)
    assert shown == [] and widget.status == "empty"


@pytest.mark.slow  # builds or runs a model again
def test_an_encoder_cannot_generate(tmp_path: Path) -> None:
    widget = AttentionWidget(build_bert(tmp_path / "bert"), device="cpu")
    with pytest.raises(InputError, match="cannot generate text; use extract"):
        widget.generate(PROMPT)


def test_a_widget_without_a_model_cannot_generate(random_attention) -> None:
    with pytest.raises(InputError, match="no model"):
        AttentionWidget.from_data(random_attention()).generate(PROMPT)


def test_the_throttle_sends_the_first_token_at_once_then_spaces_them_by_cost() -> None:
    now = [100.0]
    throttle = StreamThrottle(clock=lambda: now[0])
    assert throttle.due()
    started = now[0]
    now[0] += 0.2  # sending took 0.2 s: wait twice that before the next (a third of the time)
    throttle.sent(started)
    now[0] += 0.39
    assert not throttle.due()
    now[0] += 0.02
    assert throttle.due()
    started = now[0]
    throttle.sent(started)  # an instant send still waits the minimum interval
    assert not throttle.due()
    now[0] += MIN_STREAM_INTERVAL
    assert throttle.due()


def test_without_waiting_the_call_returns_at_once_and_requests_are_answered_while_it_writes(
    gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    widget = streaming_widget(gpt2_dir, monkeypatch)
    streaming, release = threading.Event(), threading.Event()

    def hold_the_model(change: dict[str, Any]) -> None:  # on the worker thread, mid-generation
        if (widget.meta.get("generation") or {}).get("streaming") and not streaming.is_set():
            streaming.set()
            release.wait(30)

    widget.observe(hold_the_model, names="data_version")
    assert widget.generate(PROMPT, max_new_tokens=20, wait=False) is widget
    assert streaming.wait(60), "no token streamed"
    # the model is still writing; the kernel's thread answers the step grid's request now
    query = widget.meta["generation"]["prompt_tokens"] - 1
    reply, payload = widget.answer_request({"type": "request", "id": "r", "version": widget.data_version,
                                            "what": "rows", "query": query})
    assert reply["type"] == "rows" and payload and widget.meta["generation"]["streaming"] is True
    release.set()
    widget.wait(120)
    assert widget.status == "ready" and widget.meta["generation"]["streaming"] is False


def test_the_light_first_data_set_serves_rollout_on_request(gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    widget = streaming_widget(gpt2_dir, monkeypatch)
    replies = []

    def ask_rollout(change: dict[str, Any]) -> None:
        if not replies and widget.overview_shape == []:
            replies.append(widget.answer_request({"type": "request", "id": "r", "version": widget.data_version,
                                                  "what": "rollout"}))

    widget.observe(ask_rollout, names="data_version")
    widget.generate(PROMPT, max_new_tokens=2)
    (reply, payload), = replies
    assert reply["type"] == "rollout" and reply["shape"][0] == 2 and payload
