"""attnviz-visualize --mode diff: two attention files in, A | B | B − A out, one-line errors."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import pytest
from conftest import make_attention

from attnviz_widget.cli import visualize_main
from attnviz_widget.files import write_extracted_json

GOOD = ["[CLS]", "the", "movie", "was", "good", "[SEP]", "[PAD]"]
NOT_GOOD = ["[CLS]", "the", "movie", "was", "not", "good", "[SEP]"]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    good = make_attention(2, 3, 7, padding=1, tokens=GOOD, seed=1)
    not_good = make_attention(2, 3, 7, tokens=NOT_GOOD, seed=2)
    return write_extracted_json(good, tmp_path / "good.json"), write_extracted_json(not_good, tmp_path / "not.json")


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("attnviz-visualize: error: ")
    return lines[0]


def test_diff_mode_writes_three_panels_and_says_what_it_compared(files, tmp_path: Path, capsys) -> None:
    output = tmp_path / "diff.png"
    status = visualize_main(["--mode", "diff", "--input_file", str(files[0]), "--compare_file", str(files[1]),
                             "--output_file", str(output), "--layer", "1", "--head", "2"])
    assert status == 0
    assert matplotlib.image.imread(output).shape[1] > 2 * matplotlib.image.imread(output).shape[0]
    message = capsys.readouterr().out.strip()
    assert message.startswith(f"wrote {output}: layer 1, head 2, B (not) − A (good); JS ")
    assert "of 6), TV" in message and "[+not]" in message


def test_diff_mode_writes_plotly_html(files, tmp_path: Path, capsys) -> None:
    output = tmp_path / "diff.html"
    assert visualize_main(["--mode", "diff", "--input_file", str(files[0]), "--compare_file", str(files[1]),
                           "--output_file", str(output)]) == 0
    page = output.read_text(encoding="utf-8")
    assert "coloraxis2" in page and "<script src=\"http" not in page  # plotly.js inlined: opens offline


def test_diff_mode_compares_an_aggregate(files, tmp_path: Path, capsys) -> None:
    output = tmp_path / "mean.svg"
    assert visualize_main(["--mode", "diff", "--input_file", str(files[0]), "--compare_file", str(files[1]),
                           "--output_file", str(output), "--layer", "1", "--aggregate", "mean"]) == 0
    assert output.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert capsys.readouterr().out.startswith(f"wrote {output}: layer 1, mean over heads, B (not) − A (good); JS ")


def _run(arguments: list[str]) -> int:
    return visualize_main(arguments)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mode", "diff"], "--mode diff needs --compare_file"),
        (["--compare_file", "{b}"], "--compare_file is used only with --mode diff"),
        (["--mode", "diff", "--compare_file", "{b}", "--layer", "4"], "--layer 4 is out of range; valid layers"),
        (["--mode", "diff", "--compare_file", "{b}", "--head", "3"], "--head 3 is out of range; valid heads"),
        (["--mode", "diff", "--compare_file", "{b}", "--output_file", "{dir}/x.gif"], "cannot plot to 'x.gif'"),
        (["--mode", "diff", "--compare_file", "{dir}/missing.json"], "missing.json"),
        (["--mode", "diff", "--compare_file", "{heads}"], "A (good) has 3 heads per layer and B (two_heads) has 2"),
    ],
)
def test_diff_mode_errors_are_one_line_and_write_nothing(files, tmp_path: Path, capsys, extra, message) -> None:
    heads = write_extracted_json(make_attention(2, 2, 7, seed=3), tmp_path / "two_heads.json")
    values = {"b": str(files[1]), "dir": str(tmp_path), "heads": str(heads)}
    arguments = ["--input_file", str(files[0]), *[part.format(**values) for part in extra]]
    if "--output_file" not in arguments:
        arguments += ["--output_file", str(tmp_path / "out.png")]
    before = set(tmp_path.iterdir())
    assert _run(arguments) == 2
    assert message in _error(capsys)
    assert set(tmp_path.iterdir()) == before
