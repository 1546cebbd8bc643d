"""attnviz-extract and attnviz-visualize: the specification's flags, outputs and errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_bert

from attnviz_widget.cli import extract_main, visualize_main
from attnviz_widget.files import read_attention_file


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bert(tmp_path_factory.mktemp("cli") / "model_output")


def extract_to(bert_dir: Path, output: Path) -> Path:
    """Run attnviz-extract on the tiny BERT for "the movie was good", into ``output``."""
    arguments = ["--model_dir", str(bert_dir), "--text", "the movie was good", "--output_file", str(output)]
    assert extract_main(arguments) == 0
    return output


@pytest.fixture(scope="module")
def extracted(bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extract_to(bert_dir, tmp_path_factory.mktemp("extracted") / "attention_data.json")


def one_error_line(capsys: pytest.CaptureFixture[str], program: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{program}: error: "), err
    assert "Traceback" not in err[0]
    return err[0]


def test_extract_writes_the_spec_format(extracted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(extracted.read_text())
    assert document["tokens"] == ["[CLS]", "the", "movie", "was", "good", "[SEP]"]
    assert document["text"] == "the movie was good"
    assert np.asarray(document["attention_matrices"]).shape == (2, 4, 6, 6)


def test_extract_summary_and_default_output_name(bert_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert extract_main(["--model_dir", str(bert_dir), "--text", "the plot", "--layer", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("wrote attention_data.json: layer 1 × 4 heads × 4 tokens; bert encoder; prediction: ")
    assert read_attention_file(tmp_path / "attention_data.json").layer_indices == (1,)


def test_model_output_in_the_working_directory_is_the_default(bert_dir: Path, tmp_path: Path, monkeypatch) -> None:
    shutil.copytree(bert_dir, tmp_path / "model_output")
    monkeypatch.chdir(tmp_path)
    assert extract_main(["--text", "good"]) == 0
    assert read_attention_file(tmp_path / "attention_data.json").model.name == "model_output"  # no local path


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model_dir", "{tmp}/missing"], "does not exist"),
        (["--model_dir", "{tmp}"], "is empty"),
        (["--text", "  "], "text is empty"),
        (["--layer", "9"], "layer 9 is out of range; this model has 2 layers (valid layers are 0 to 1)"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--output_file", "{tmp}/no/such/dir/out.json"], "does not exist"),
        (["--output_file", "{tmp}"], "is a directory"),
        (["--text", " ".join(["good"] * 100), "--no_truncation"], "102 tokens long but at most 64"),
    ],
)
def test_extract_errors_are_one_line_and_write_nothing(
    arguments: list[str], message: str, bert_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    defaults = {"--model_dir": str(bert_dir), "--text": "the movie", "--output_file": "out.json"}
    for flag, value in zip(arguments[::2], arguments[1::2], strict=False):
        defaults[flag] = value.replace("{tmp}", str(tmp_path))
    argv = [item for pair in defaults.items() for item in pair] + [a for a in arguments if a == "--no_truncation"]
    assert extract_main(argv) == 2
    assert message in one_error_line(capsys, "attnviz-extract")
    assert not (tmp_path / "out.json").exists()


def test_long_text_is_truncated_with_a_one_line_warning(bert_dir: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "long.json"
    text = " ".join(["good"] * 100)
    assert extract_main(["--model_dir", str(bert_dir), "--text", text, "--output_file", str(output)]) == 0
    err = capsys.readouterr().err
    assert "attnviz-extract: warning: the text is 102 tokens long but at most 64 are allowed" in err
    assert len(read_attention_file(output).tokens) == 64


def test_visualize_plot_writes_a_png(extracted: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "vis.png"
    assert visualize_main(["--input_file", str(extracted), "--layer", "1", "--head", "3",
                           "--output_file", str(output)]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.strip() == f"wrote {output}: layer 1, head 3, 6 tokens"


def test_visualize_defaults_are_the_specs(extracted: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(extracted, "attention_data.json")
    assert visualize_main(["--input_file", "attention_data.json"]) == 0  # plot, layer 0, head 0
    assert (tmp_path / "attention_vis.png").is_file()
    assert visualize_main(["--input_file", "attention_data.json", "--mode", "prepare"]) == 0
    prepared = json.loads((tmp_path / "backend_data.json").read_text())
    assert [layer["layer_idx"] for layer in prepared["layers"]] == [0, 1]
    assert [head["head_idx"] for head in prepared["layers"][0]["heads"]] == [0, 1, 2, 3]


def test_visualize_aggregates_and_html(extracted: Path, tmp_path: Path) -> None:
    for aggregate in ("mean", "max", "rollout"):
        output = tmp_path / f"{aggregate}.png"
        assert visualize_main(["--input_file", str(extracted), "--aggregate", aggregate, "--layer", "1",
                               "--output_file", str(output)]) == 0
        assert output.stat().st_size > 1000
    page = tmp_path / "plot.html"
    assert visualize_main(["--input_file", str(extracted), "--output_file", str(page)]) == 0
    assert "<script src=\"http" not in page.read_text()


def _write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content)
    return str(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"tokens": ["a"], "text": "a", "attention_matrices": [[[[1.0', "truncated"),
        ("not json at all", "malformed JSON"),
        ('{"tokens": ["a"], "text": "a", "attention_matrices": [[[[NaN]]]]}', "NaN"),
        ('{"tokens": ["a", "b"], "text": "a", "attention_matrices": [[[[1.0]]]]}', "token"),
        ("[1, 2]", "object"),
    ],
)
def test_visualize_rejects_bad_files(content: str, message: str, tmp_path: Path, capsys) -> None:
    path = _write(tmp_path, "bad.json", content)
    assert visualize_main(["--input_file", path, "--output_file", str(tmp_path / "x.png")]) == 2
    assert message in one_error_line(capsys, "attnviz-visualize")
    assert not (tmp_path / "x.png").exists()


def test_visualize_range_errors_and_the_other_format(extracted: Path, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "x.png")
    assert visualize_main(["--input_file", str(extracted), "--layer", "2", "--output_file", out]) == 2
    assert "--layer 2 is out of range; valid layers are 0 to 1" in one_error_line(capsys, "attnviz-visualize")
    assert visualize_main(["--input_file", str(extracted), "--head", "4", "--output_file", out]) == 2
    assert "--head 4 is out of range; valid heads are 0 to 3" in one_error_line(capsys, "attnviz-visualize")
    backend = tmp_path / "backend.json"
    assert visualize_main(["--input_file", str(extracted), "--mode", "prepare", "--output_file", str(backend)]) == 0
    capsys.readouterr()
    assert visualize_main(["--input_file", str(backend), "--mode", "prepare",
                           "--output_file", str(tmp_path / "again.json")]) == 2
    assert "backend" in one_error_line(capsys, "attnviz-visualize")
    assert visualize_main(["--input_file", str(tmp_path / "missing.json"), "--output_file", out]) == 2
    assert "missing.json" in one_error_line(capsys, "attnviz-visualize")
    assert visualize_main(["--input_file", str(extracted), "--output_file", str(tmp_path / "x.gif")]) == 2
    assert ".png" in one_error_line(capsys, "attnviz-visualize")
    assert not Path(out).exists()


@pytest.mark.slow  # two interpreters in subprocesses
def test_console_scripts_exit_2_without_a_traceback(tmp_path: Path) -> None:
    scripts = Path(sys.executable).parent
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [str(scripts / "attnviz-extract"), "--model_dir", str(tmp_path / "nope"), "--text", "hi"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("attnviz-extract: error: model directory")
    result = subprocess.run([str(scripts / "attnviz-visualize")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--input_file" in result.stderr


# -- the safetensors format ------------------------------------------------------------------


@pytest.fixture(scope="module")
def extracted_binary(bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extract_to(bert_dir, tmp_path_factory.mktemp("binary") / "run.safetensors")


def test_extract_to_safetensors_holds_the_same_data(extracted: Path, extracted_binary: Path) -> None:
    assert extracted_binary.read_bytes()[8:9] == b"{"
    binary, text = read_attention_file(extracted_binary), read_attention_file(extracted)
    np.testing.assert_array_equal(binary.attentions, text.attentions)
    assert binary.tokens == text.tokens and binary.model == text.model
    assert binary.prediction.label == text.prediction.label


def test_extract_float16_only_for_safetensors(bert_dir: Path, tmp_path: Path, capsys) -> None:
    half = tmp_path / "half.safetensors"
    assert extract_main(["--model_dir", str(bert_dir), "--text", "good", "--output_file", str(half),
                         "--dtype", "float16"]) == 0
    assert read_attention_file(half).attentions.dtype == np.float32
    capsys.readouterr()
    assert extract_main(["--model_dir", str(bert_dir), "--text", "good", "--output_file", str(tmp_path / "a.json"),
                         "--dtype", "float16"]) == 2
    assert "--dtype float16 applies to .safetensors files only" in one_error_line(capsys, "attnviz-extract")
    assert not (tmp_path / "a.json").exists()


def test_visualize_opens_safetensors_in_every_mode(extracted_binary: Path, tmp_path: Path, capsys) -> None:
    png, prepared, page = tmp_path / "v.png", tmp_path / "backend.json", tmp_path / "page.html"
    assert visualize_main(["--input_file", str(extracted_binary), "--layer", "1", "--output_file", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert visualize_main(["--input_file", str(extracted_binary), "--mode", "prepare",
                           "--output_file", str(prepared)]) == 0
    assert json.loads(prepared.read_text())["tokens"] == ["[CLS]", "the", "movie", "was", "good", "[SEP]"]
    assert visualize_main(["--input_file", str(extracted_binary), "--mode", "html", "--output_file", str(page)]) == 0
    assert page.stat().st_size > 1000


def test_visualize_rejects_a_truncated_safetensors_file(extracted_binary: Path, tmp_path: Path, capsys) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(extracted_binary.read_bytes()[:-10])
    assert visualize_main(["--input_file", str(cut), "--output_file", str(tmp_path / "x.png")]) == 2
    line = one_error_line(capsys, "attnviz-visualize")
    assert "cut.safetensors: truncated safetensors file: tensor" in line
    assert not (tmp_path / "x.png").exists()


# -- texts that say nothing ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["\u200b\u200c", "[SEP] [CLS]", "\x07\x1b"])
def test_a_text_of_only_special_tokens_gets_a_warning(text: str, bert_dir: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "special.json"
    assert extract_main(["--model_dir", str(bert_dir), "--text", text, "--output_file", str(output)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("attnviz-extract: warning: the text tokenizes to nothing but "
                                               "special tokens ([CLS]"), err
    assert set(read_attention_file(output).tokens) <= {"[CLS]", "[SEP]"}


def test_an_ordinary_text_gets_no_warning(extracted: Path, bert_dir: Path, tmp_path: Path, capsys) -> None:
    assert extract_main(["--model_dir", str(bert_dir), "--text", "good [SEP]",
                         "--output_file", str(tmp_path / "o.json")]) == 0
    assert capsys.readouterr().err == ""


def test_undecodable_bytes_in_the_text_are_refused(bert_dir: Path, tmp_path: Path, capsys) -> None:
    text = b"good \xff movie".decode("utf-8", "surrogateescape")  # how Python passes such argv bytes
    assert extract_main(["--model_dir", str(bert_dir), "--text", text, "--output_file", str(tmp_path / "o.json")]) == 2
    assert "the text is not valid Unicode: an undecodable byte or lone surrogate at character 5" in one_error_line(
        capsys, "attnviz-extract")
    assert not (tmp_path / "o.json").exists()


def test_a_lazy_capture_goes_to_safetensors_and_back(tmp_path: Path, capsys) -> None:
    from tiny_models import build_gpt2

    model = build_gpt2(tmp_path / "gpt2")
    lazy, dense = tmp_path / "lazy.safetensors", tmp_path / "dense.json"
    text = "the movie was not bad at all"
    assert extract_main(["--model_dir", str(model), "--text", text, "--output_file", str(lazy), "--store", "lazy",
                         "--device", "cpu"]) == 0
    assert extract_main(["--model_dir", str(model), "--text", text, "--output_file", str(dense), "--store", "dense",
                         "--device", "cpu"]) == 0
    read, reference = read_attention_file(lazy), read_attention_file(dense)
    assert read.is_lazy and not reference.is_lazy and read.tokens == reference.tokens
    for layer in reference.layer_indices:
        np.testing.assert_allclose(read.matrix(layer, 0), reference.matrix(layer, 0), atol=1e-5, rtol=0)
    png = tmp_path / "lazy.png"
    assert visualize_main(["--input_file", str(lazy), "--layer", "1", "--head", "2", "--output_file", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    prepared = tmp_path / "prepared.json"
    assert visualize_main(["--input_file", str(lazy), "--mode", "prepare", "--output_file", str(prepared)]) == 0
    assert json.loads(prepared.read_text())["tokens"] == list(reference.tokens)
