"""Generated text everywhere a result goes: extracted JSON, the CLI, matplotlib and plotly figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from tiny_models import build_bert, build_gpt2, build_t5

from attnviz_widget.cli import extract_main, visualize_main
from attnviz_widget.errors import FormatError
from attnviz_widget.files import read_attention_file, write_extracted_json
from attnviz_widget.generation import generate
from attnviz_widget.generation.axes import GENERATED_COLOR
from attnviz_widget.plot import plot_heatmap, plot_plotly

# Generation end to end into files, figures and the CLI: ~6 s, so CI's full run only.
pytestmark = pytest.mark.slow

PROMPT = "the movie was"


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_gpt2(tmp_path_factory.mktemp("gen-out") / "gpt2")


@pytest.fixture(scope="module")
def gpt2_data(gpt2_dir: Path):
    return generate(str(gpt2_dir), PROMPT, max_new_tokens=5, device="cpu")


@pytest.fixture(scope="module")
def t5_data(tmp_path_factory: pytest.TempPathFactory):
    return generate(str(build_t5(tmp_path_factory.mktemp("gen-out") / "t5")), PROMPT, max_new_tokens=4, device="cpu")


# -- extracted JSON ---------------------------------------------------------------------------


def test_json_round_trip_keeps_the_generation(gpt2_data, tmp_path: Path) -> None:
    path = write_extracted_json(gpt2_data, tmp_path / "generated.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    # plain readers keep working: the specification's keys are there and consistent
    assert len(document["tokens"]) == len(document["attention_matrices"][0][0])
    assert document["generation"]["text"] == gpt2_data.generation.text
    assert document["generation"]["generated_tokens"] == 5 and len(document["generation"]["steps"]) == 5
    step = document["generation"]["steps"][0]
    assert set(step) == {"token_id", "token", "display", "probability", "entropy", "sampled_probability", "top"}
    assert len(step["top"]) == 5
    back = read_attention_file(path)
    assert back.generation == gpt2_data.generation
    np.testing.assert_array_equal(back.attentions, gpt2_data.attentions)


def test_json_round_trip_of_an_encoder_decoder(t5_data, tmp_path: Path) -> None:
    back = read_attention_file(write_extracted_json(t5_data, tmp_path / "t5.json"))
    assert back.generation == t5_data.generation
    assert back.part("decoder").generation == t5_data.generation == back.part("cross").generation


def test_a_generation_that_does_not_fit_is_a_format_error(gpt2_data, tmp_path: Path) -> None:
    path = write_extracted_json(gpt2_data, tmp_path / "generated.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["generation"]["prompt_tokens"] = 99
    path.write_text(json.dumps(document), encoding="utf-8")
    message = r"generation does not fit the attention: the axis has 10 tokens but the generation spans 104"
    with pytest.raises(FormatError, match=message):
        read_attention_file(path)
    document["generation"]["steps"][0]["probability"] = "high"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(FormatError, match="generation is not a valid generation object"):
        read_attention_file(path)


# -- figures ----------------------------------------------------------------------------------


def test_matplotlib_marks_generated_tokens(gpt2_data) -> None:
    figure = plot_heatmap(gpt2_data, 0, 0)
    ax = figure.axes[0]
    prompt = gpt2_data.generation.prompt_tokens
    colours = [to_hex(label.get_color()) for label in ax.get_yticklabels()]
    assert colours[prompt:] == [GENERATED_COLOR] * 5 and GENERATED_COLOR not in colours[:prompt]
    assert [to_hex(label.get_color()) for label in ax.get_xticklabels()] == colours
    separators = {(tuple(line.get_xdata()), tuple(line.get_ydata())) for line in ax.get_lines()
                  if to_hex(line.get_color()) == GENERATED_COLOR}
    edge = prompt - 0.5
    assert separators == {((0, 1), (edge, edge)), ((edge, edge), (0, 1))}  # axhline and axvline
    assert "generated tokens in orange" in ax.get_xlabel()


def test_cross_attention_marks_only_the_queries(t5_data) -> None:
    ax = plot_heatmap(t5_data.part("cross"), 0, 0).axes[0]
    assert [to_hex(label.get_color()) == GENERATED_COLOR for label in ax.get_yticklabels()] == [False] + [True] * 4
    assert not any(to_hex(label.get_color()) == GENERATED_COLOR for label in ax.get_xticklabels())
    encoder = plot_heatmap(t5_data, 0, 0).axes[0]  # the encoder reads the prompt only
    assert "generated" not in encoder.get_xlabel()


def test_plotly_marks_generated_tokens(gpt2_data) -> None:
    figure = plot_plotly(gpt2_data, 1, 2)
    prompt = gpt2_data.generation.prompt_tokens
    for axis in (figure.layout.yaxis, figure.layout.xaxis):
        coloured = [text.startswith(f'<span style="color:{GENERATED_COLOR}">') for text in axis.ticktext]
        assert coloured == [False] * prompt + [True] * 5
    edges = sorted({shape.y0 for shape in figure.layout.shapes if shape.yref == "y"}
                   | {shape.x0 for shape in figure.layout.shapes if shape.xref == "x"})
    assert edges == [prompt - 0.5]


def test_plain_extractions_are_not_marked(random_attention) -> None:
    figure = plot_plotly(random_attention(causal=True), 0, 0)
    assert not figure.layout.shapes and "generated" not in figure.layout.xaxis.title.text


# -- the command line -------------------------------------------------------------------------


def test_cli_generates_and_the_plot_marks_it(gpt2_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "generated.json"
    arguments = ["--model_dir", str(gpt2_dir), "--text", PROMPT, "--generate", "6", "--output_file", str(output),
                 "--temperature", "0.8", "--seed", "5"]
    assert extract_main(arguments) == 0
    printed = capsys.readouterr().out
    data = read_attention_file(output)
    assert data.generation.num_generated == 6 and data.generation.settings["seed"] == 5
    assert data.generation.settings["do_sample"] is True and data.generation.settings["temperature"] == 0.8
    assert f"generated 6 tokens, reached max_new_tokens: {data.generation.text!r}" in printed
    again = tmp_path / "again.json"
    assert extract_main([*arguments[:-5], str(again), "--temperature", "0.8", "--seed", "5"]) == 0
    assert read_attention_file(again).generation == data.generation  # seeded: the same sample
    picture = tmp_path / "generated.png"
    assert visualize_main(["--input_file", str(output), "--mode", "plot", "--output_file", str(picture)]) == 0
    assert picture.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--generate", "0"], "--generate must be at least 1"),
        (["--temperature", "0.5"], "--temperature applies only with --generate N"),
        (["--seed", "1"], "--seed applies only with --generate N"),
        (["--generate", "3", "--temperature", "0"], "--temperature must be greater than 0"),
        (["--generate", "3", "--max_length", "4"], "--max_length does not apply with --generate"),
        (["--generate", "100"], "max_new_tokens=100 is too large"),
    ],
)
def test_cli_bad_generation_flags_write_nothing(
    gpt2_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    output = tmp_path / "out.json"
    arguments = ["--model_dir", str(gpt2_dir), "--text", PROMPT, "--output_file", str(output), *extra]
    assert extract_main(arguments) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and not output.exists()
    assert not list(tmp_path.iterdir())


def test_cli_writes_safetensors_and_refuses_encoders(
    gpt2_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    binary = tmp_path / "out.safetensors"
    assert extract_main(["--model_dir", str(gpt2_dir), "--text", PROMPT, "--generate", "2",
                         "--output_file", str(binary)]) == 0
    data = read_attention_file(binary)
    assert data.generation is not None and data.generation.num_generated == 2
    assert data.attentions.shape[2] == data.generation.prompt_tokens + 2
    capsys.readouterr()
    bert = build_bert(tmp_path / "bert")
    output = tmp_path / "out.json"
    assert extract_main(["--model_dir", str(bert), "--text", PROMPT, "--generate", "2",
                         "--output_file", str(output)]) == 2
    assert "is an encoder and cannot generate text" in capsys.readouterr().err and not output.exists()
