"""AttentionWidget, Python side: traits, binary replies, re-extraction order, files, errors."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import traitlets
from tiny_models import build_bert

from attnviz_widget import AttentionWidget, InputError
from attnviz_widget.files import write_backend_json, write_extracted_json
from attnviz_widget.prepare import prepare


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bert(tmp_path_factory.mktemp("widget") / "bert")


def request(widget: AttentionWidget, **fields):
    return widget.answer_request({"type": "request", "id": "r1", "version": widget.data_version, **fields})


def test_show_extracts_and_fills_the_traits(bert_dir: Path) -> None:
    widget = AttentionWidget(bert_dir, device="cpu").show("the movie was not very good")
    assert widget.status == "ready" and widget.error == ""
    assert widget.tokens == ["[CLS]", "the", "movie", "was", "not", "very", "good", "[SEP]"]
    assert widget.special == [True] + [False] * 6 + [True]
    assert widget.meta["num_layers"] == 2 and widget.meta["num_heads"] == 4 and widget.meta["causal"] is False
    assert widget.overview_shape == [2, 7, 8, 8]
    assert len(widget.overview) == 2 * 7 * 8 * 8 and len(widget.overview_scale) == 2 * 7 * 4
    assert widget.prediction["labels"] == ["negative", "positive"]
    assert widget.data_version == 1


def test_layer_replies_are_float16_of_the_extracted_weights(bert_dir: Path) -> None:
    widget = AttentionWidget(bert_dir, device="cpu").show("the movie was good")
    reply, payload = request(widget, what="layer", layer=1)
    assert reply["type"] == "layer" and reply["dtype"] == "float16" and reply["shape"] == [4, 6, 6]
    assert len(payload) == 2 * 4 * 6 * 6  # 2 bytes a value
    decoded = np.frombuffer(payload, dtype="<f2").reshape(4, 6, 6)
    np.testing.assert_allclose(decoded, widget.data.attentions[1], atol=1e-3)
    reply, payload = request(widget, what="rollout")
    assert reply["type"] == "rollout" and reply["shape"] == [2, 6, 6] and len(payload) == 2 * 2 * 36


def test_the_focused_matrix_travels_with_the_data(bert_dir: Path) -> None:
    widget = AttentionWidget(bert_dir, device="cpu", layer=1, head=2).show("the movie was good")
    assert widget.first_matrix_of == {"layer": 1, "head": 2}
    sent = np.frombuffer(widget.first_matrix, dtype="<f2").reshape(6, 6)
    np.testing.assert_allclose(sent, widget.data.attentions[1, 2], atol=1e-3)
    assert widget.bytes_sent == len(widget.first_matrix) == 2 * 6 * 6  # one matrix, not the layer
    mean = AttentionWidget(bert_dir, device="cpu", head="mean").show("the movie was good")
    np.testing.assert_allclose(
        np.frombuffer(mean.first_matrix, dtype="<f2").reshape(6, 6), mean.data.attentions[0].mean(0), atol=1e-3
    )


def test_bad_requests_get_error_replies(bert_dir: Path) -> None:
    widget = AttentionWidget(bert_dir, device="cpu").show("the movie")
    reply, payload = widget.answer_request({"type": "request", "id": "x", "version": 99, "what": "layer", "layer": 0})
    assert reply["type"] == "error" and "changed" in reply["message"] and payload is None
    reply, _ = request(widget, what="layer", layer=7)
    assert reply["type"] == "error" and "valid layers are 0 to 1" in reply["message"]
    reply, _ = request(widget, what="teapot")
    assert reply["type"] == "error" and "unknown request" in reply["message"]


def test_messages_are_answered_with_one_buffer(bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    widget = AttentionWidget(bert_dir, device="cpu").show("the movie")
    sent = []
    monkeypatch.setattr(widget, "send", lambda content, buffers=None: sent.append((content, buffers)))
    widget._on_message(widget, {"type": "request", "id": "a", "version": widget.data_version,
                                "what": "layer", "layer": 0}, [])
    assert sent[0][0]["id"] == "a" and len(sent[0][1]) == 1
    assert widget.bytes_sent == len(widget.first_matrix) + len(sent[0][1][0])


def test_a_result_for_an_older_text_never_replaces_a_newer_one(bert_dir: Path) -> None:
    widget = AttentionWidget(bert_dir, device="cpu")
    extractor = widget._extractor
    real_extract = extractor.extract
    release_first = threading.Event()
    first_started = threading.Event()

    def slow_for_the_first_text(text: str, **options):
        if text == "the plot":
            first_started.set()
            release_first.wait(10)
        return real_extract(text, **options)

    extractor.extract = slow_for_the_first_text
    widget.text = "the plot"
    assert first_started.wait(10)
    widget.text = "the acting was great"  # set while the first text is still extracting
    release_first.set()
    widget.wait(20)
    assert widget.tokens == ["[CLS]", "the", "acting", "was", "great", "[SEP]"]
    assert widget.data_version == 1  # the stale result was dropped, not shown first
    assert widget.status == "ready"


def test_errors_are_reported_and_show_raises(bert_dir: Path) -> None:
    widget = AttentionWidget(bert_dir, device="cpu")
    with pytest.raises(InputError, match="text is empty"):
        widget.show("   ")  # refused before anything is displayed
    assert widget.status == "empty"
    strict = AttentionWidget(bert_dir, device="cpu", truncation=False)
    with pytest.raises(InputError, match="at most 64 are allowed"):
        strict.show(" ".join(["good"] * 100))  # fails inside the extraction: shown, then raised
    assert strict.status == "error" and "at most 64 are allowed" in strict.error
    strict.show("the movie was good")  # and the next text recovers
    assert strict.status == "ready" and strict.error == ""


def test_unknown_keyword_arguments_name_the_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) colour;.*color_scale"):
        AttentionWidget(None, colour="red")


def test_options_become_trait_values(random_attention) -> None:
    widget = AttentionWidget.from_data(random_attention(layers=2, heads=3), color_scale="log", head="mean", layer=1)
    assert (widget.color_scale, widget.head, widget.layer) == ("log", "mean", 1)
    assert widget.row_normalize is False and widget.hide_special is False and widget.direction == "from"


def test_selection_is_validated(random_attention) -> None:
    widget = AttentionWidget.from_data(random_attention(layers=2, heads=3).select_layers([1]))
    assert widget.layer == 1  # the first kept layer
    with pytest.raises(traitlets.TraitError, match="layer 0 is not available; valid layers are 1"):
        widget.layer = 0
    with pytest.raises(traitlets.TraitError, match="head 3 is out of range; valid heads are 0 to 2"):
        widget.head = 3
    with pytest.raises(traitlets.TraitError, match="rollout needs"):
        widget.head = "rollout"
    widget.head = "max"
    widget.selected_token, widget.token_locked = 2, True  # what the browser writes back
    assert (widget.selected_token, widget.token_locked) == (2, True)


def test_padding_never_reaches_the_browser(random_attention) -> None:
    widget = AttentionWidget.from_data(random_attention(seq=7, padding=3))
    assert widget.tokens == ["[CLS]", "w0", "w1", "[SEP]"] and widget.meta["num_keys"] == 4


def test_sections_of_an_encoder_decoder_switch_the_data(random_encoder_decoder) -> None:
    widget = AttentionWidget.from_data(random_encoder_decoder())
    assert widget.section == "encoder" and widget.meta["sections"] == ["encoder", "decoder", "cross"]
    version = widget.data_version
    widget.section = "cross"
    assert widget.data_version == version + 1
    assert widget.tokens == ["</s>", "<s>", "good"] and widget.key_tokens == ["<s>", "the", "film", "</s>"]
    reply, payload = request(widget, what="layer", layer=0)
    assert reply["shape"] == [2, 3, 4] and len(payload) == 2 * 2 * 3 * 4
    assert request(widget, what="rollout")[0]["type"] == "error"
    with pytest.raises(traitlets.TraitError, match="choose from encoder, decoder, cross"):
        widget.section = "self"


def test_from_file_reads_both_formats(random_attention, tmp_path: Path) -> None:
    data = random_attention(layers=2, heads=2, seq=5, padding=1)
    extracted = write_extracted_json(data, tmp_path / "a.json")
    backend = write_backend_json(prepare(data), tmp_path / "b.json")
    for path in (extracted, backend):
        widget = AttentionWidget.from_file(path)
        assert widget.tokens == ["[CLS]", "w0", "w1", "[SEP]"] and widget.status == "ready"
        assert widget.text == data.text


def test_show_needs_a_model_for_text(random_attention) -> None:
    with pytest.raises(InputError, match="has no model"):
        AttentionWidget.from_data(random_attention()).show("hello")


# -- failures: any exception ends the loading state, and the retry runs the model again ------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "RuntimeError: CUDA out of memory"),
        (IndexError("index out of range in self"), "IndexError: index out of range in self"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_a_failed_extraction_is_shown_raised_and_retried(bert_dir: Path, error: BaseException, expected: str) -> None:
    widget = AttentionWidget(bert_dir, device="cpu")
    extractor = widget._extractor
    real_extract = extractor.extract
    calls: list[str] = []

    def failing(text: str, **options):
        calls.append(text)
        raise error

    def counting(text: str, **options):
        calls.append(text)
        return real_extract(text, **options)

    extractor.extract = failing
    with pytest.raises(type(error)) as raised:
        widget.show("the movie was good")
    assert raised.value is error  # the original exception, type and traceback kept
    assert widget.status == "error" and widget.error.startswith(expected) and "\n" not in widget.error
    assert ("layers=" in widget.error) == isinstance(error, RuntimeError)  # the out-of-memory hint
    if isinstance(error, RuntimeError) and sys.version_info >= (3, 11):  # and on the traceback
        assert "layers=" in " ".join(error.__notes__)
    assert widget._runner.pending is None
    extractor.extract = counting
    widget.show("the movie was good")  # the same text again: the model runs again
    assert calls == ["the movie was good"] * 2
    assert widget.status == "ready" and widget.error == "" and widget.data_version == 1
    widget.close()
    assert not widget._runner.busy


def test_an_interrupt_while_waiting_drops_the_run(bert_dir: Path) -> None:
    widget = AttentionWidget(bert_dir, device="cpu")
    extractor = widget._extractor
    real_extract = extractor.extract
    started, release = threading.Event(), threading.Event()

    def slow(text: str, **options):
        started.set()
        release.wait(10)
        return real_extract(text, **options)

    extractor.extract = slow

    def interrupt_the_waiting_main_thread() -> None:
        assert started.wait(10)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    helper = threading.Thread(target=interrupt_the_waiting_main_thread)
    helper.start()
    with pytest.raises(KeyboardInterrupt):
        widget.show("the plot")
    helper.join(10)
    assert widget.status == "error" and widget.error.startswith("KeyboardInterrupt")
    release.set()
    extractor.extract = real_extract
    widget.show("the plot")  # runs again; the interrupted run's result was dropped
    assert widget.status == "ready" and widget.data_version == 1
    assert widget.tokens == ["[CLS]", "the", "plot", "[SEP]"]


# -- lock discipline: a section switch and new data never interleave -----------------------


def consistent(widget: AttentionWidget) -> None:
    """Every piece of shown state belongs to the same data set and section."""
    with widget._lock:
        view = widget._data.part(widget.section).without_padding()
        assert widget._view_section == widget.section
        assert widget._served is not None and widget._served.view is widget._view
        assert widget._served.version == widget.data_version
        assert widget.tokens == list(view.queries.display) and widget.key_tokens == list(view.keys.display)
        assert widget.meta["num_layers"] == view.num_layers == widget.overview_shape[0]
        assert widget._view.attentions.shape == view.attentions.shape
        assert len(widget.first_matrix) == 2 * len(view.queries) * len(view.keys)
        assert widget.layer in view.layer_indices


def test_section_switches_while_new_data_lands_keep_the_state_consistent(random_encoder_decoder) -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so the two really interleave
    try:
        switch_sections_while_data_lands(random_encoder_decoder)
    finally:
        sys.setswitchinterval(interval)


def switch_sections_while_data_lands(random_encoder_decoder) -> None:
    datasets = [random_encoder_decoder(seed=1, layers=1, heads=2), random_encoder_decoder(seed=2, layers=3, heads=2)]
    widget = AttentionWidget.from_data(datasets[0])
    stop = threading.Event()
    landed = []

    def land_new_data() -> None:  # what the extraction thread does when a new text lands
        index = 0
        while not stop.is_set():
            index += 1
            widget.set_data(datasets[index % 2])
            landed.append(index)

    lander = threading.Thread(target=land_new_data)
    lander.start()
    try:
        for step in range(150):  # what the browser does: switch sections
            widget.section = ("encoder", "decoder", "cross")[step % 3]
            consistent(widget)
    finally:
        stop.set()
        lander.join(20)
    assert len(landed) > 10  # the two really interleaved
    consistent(widget)
