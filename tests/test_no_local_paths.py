"""No written file names a local folder: every writer names the model by its short name.

People share exported pages, JSON files and figures; a model loaded from
``/home/<user>/...`` must not put that path into them. Each writer is run on data
extracted from a tiny model saved under pytest's temporary folder, and each output is
searched for that folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import build_bert

from attnviz_widget import AttentionData, AttentionWidget, ModelInfo, extract, prepare
from attnviz_widget.cli import extract_main, visualize_main
from attnviz_widget.files import write_backend_json, write_extracted_json, write_safetensors
from attnviz_widget.html_export import BUNDLE, save_html
from attnviz_widget.plot import plot_heatmap, plot_plotly, save_heatmap, save_plotly_html

MODEL_FOLDER = "my-local-model"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bert(tmp_path_factory.mktemp("private-home") / "models" / MODEL_FOLDER)


@pytest.fixture(scope="module")
def data(model_dir: Path) -> AttentionData:
    extracted = extract(model_dir, "the movie was good", device="cpu")
    assert extracted.model is not None and extracted.model.name == str(model_dir)  # the path is in memory
    return extracted


def assert_no_local_path(path: Path, model_dir: Path) -> bytes:
    content = path.read_bytes()
    for private in {str(model_dir), str(model_dir.parent), str(model_dir.resolve().parent)}:
        assert private.encode() not in content, f"{path.name} holds the local path {private}"
    return content


def test_json_files_name_the_model_by_its_folder(data: AttentionData, model_dir: Path, tmp_path: Path) -> None:
    extracted = write_extracted_json(data, tmp_path / "extracted.json")
    assert json.loads(assert_no_local_path(extracted, model_dir))["model"]["name"] == MODEL_FOLDER
    backend = write_backend_json(prepare(data), tmp_path / "backend.json")
    assert json.loads(assert_no_local_path(backend, model_dir))["model"]["name"] == MODEL_FOLDER


def test_backend_json_parts_are_shortened_too(random_encoder_decoder, tmp_path: Path) -> None:
    prepared = prepare(random_encoder_decoder())
    private = str(tmp_path / "home" / "me" / "bart-model")
    for part in (prepared, *prepared["parts"].values()):
        part["model"] = {**part["model"], "name": private}
    document = json.loads(assert_no_local_path(write_backend_json(prepared, tmp_path / "b.json"), tmp_path))
    assert {part["model"]["name"] for part in (document, *document["parts"].values())} == {"bart-model"}
    assert prepared["model"]["name"] == private  # the caller's dict is left as it was


def test_safetensors(data: AttentionData, model_dir: Path, tmp_path: Path) -> None:
    assert MODEL_FOLDER.encode() in assert_no_local_path(write_safetensors(data, tmp_path / "a.safetensors"), model_dir)


@pytest.mark.skipif(not BUNDLE.is_file(), reason="the JS bundle is not built (cd js && npm run build)")
def test_html_pages(data: AttentionData, model_dir: Path, tmp_path: Path) -> None:
    page = assert_no_local_path(save_html(data, tmp_path / "page.html"), model_dir).decode()
    assert f"<title>Attention of {MODEL_FOLDER}</title>" in page
    widget_page = AttentionWidget.from_data(data).save_html(tmp_path / "widget.html")
    assert_no_local_path(widget_page, model_dir)
    assert save_html(data, tmp_path / "asked.html", title=str(model_dir)).read_text().count(str(model_dir)) >= 1


def test_widget_meta(data: AttentionData, model_dir: Path) -> None:
    assert AttentionWidget.from_data(data).meta["model"]["name"] == MODEL_FOLDER


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_figures_and_their_metadata(data: AttentionData, model_dir: Path, tmp_path: Path, suffix: str) -> None:
    assert_no_local_path(save_heatmap(data, tmp_path / f"figure{suffix}", layer=0, head=0), model_dir)
    title = plot_heatmap(data, 0, 0).axes[0].get_title()
    assert MODEL_FOLDER in title and str(model_dir) not in title


def test_plotly_html(data: AttentionData, model_dir: Path, tmp_path: Path) -> None:
    assert_no_local_path(save_plotly_html(data, tmp_path / "plotly.html"), model_dir)
    assert MODEL_FOLDER in plot_plotly(data).layout.title.text


def test_the_command_line_writers(model_dir: Path, tmp_path: Path) -> None:
    extracted = tmp_path / "cli.json"
    assert extract_main(["--model_dir", str(model_dir), "--text", "a good plot", "--output_file", str(extracted),
                         "--device", "cpu"]) == 0
    assert_no_local_path(extracted, model_dir)
    for mode, name in (("prepare", "cli-backend.json"), ("plot", "cli.png"), ("html", "cli.html")):
        if mode == "html" and not BUNDLE.is_file():
            continue
        output = tmp_path / name
        assert visualize_main(["--input_file", str(extracted), "--mode", mode, "--output_file", str(output)]) == 0
        assert_no_local_path(output, model_dir)


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("/home/me/.cache/attnviz_widget/demo-sentiment-minilm-v1", "demo-sentiment-minilm-v1"),
        ("/srv/models/bert/", "bert"),
        ("./model_output", "model_output"),
        ("~/models/bert", "bert"),
        ("C:\\Users\\me\\models\\bert", "bert"),
        ("models/sub/bert", "bert"),
        ("bert-base-uncased", "bert-base-uncased"),
        ("org/model", "org/model"),
        (".", None),
        (None, None),
    ],
)
def test_short_name_is_computed_from_the_string(name: str | None, short: str | None) -> None:
    assert ModelInfo("bert", "encoder", 2, 4, name=name).short_name == short


def test_short_name_reads_no_files(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_file_system(*args, **kwargs):
        raise AssertionError("short_name touched the file system")

    monkeypatch.setattr(Path, "is_dir", no_file_system)
    monkeypatch.setattr(Path, "resolve", no_file_system)
    assert ModelInfo("bert", "encoder", 2, 4, name="/nowhere/my-model").short_name == "my-model"
