"""Fuzzing ``attnviz-extract`` with hostile texts (hypothesis), in-process.

RTL text and direction overrides, emoji ZWJ sequences, zero-width and control
characters, special tokens typed in the text, lone surrogates (what a shell passes for
bytes that are not UTF-8), and 100,000 characters. Every run exits 0 with a file that
reads back, a summary line and at most one-line warnings, or exits 2 with exactly one
error line and no file; never a traceback. A text that tokenizes to nothing but special
tokens gets the warning that says so, and only such a text.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tiny_models import build_bert

from attnviz_widget.cli import extract_main
from attnviz_widget.files import read_attention_file
from attnviz_widget.vocabulary import looks_special

PIECES = [
    "good movie", " the plot ", "שלום עולם", "مرحبا بالعالم", "\u202e", "\u200f", "\u202d",
    "👩\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "👍🏽", "\u200b", "\u200c", "\u200d", "\ufeff", "\u2060",
    "\x00", "\x07", "\x1b[31m", "\r\n", "\t", "\x7f", "\x85", "e\u0301", "\u0000\u0000",
    "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<s>", "</s>", "<script>alert(1)</script>", "&amp;",
    "\udcff", "\ud800",
]
texts = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(max_size=4),
              st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
    max_size=8,
).map("".join)

SPECIAL_WARNING = "the text tokenizes to nothing but special tokens"


@pytest.fixture(scope="module")
def workspace() -> Iterator[tuple[Path, Path]]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        yield build_bert(folder / "model"), folder


def run(argv: list[str]) -> tuple[int, list[str], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = extract_main(argv)
    return status, out.getvalue().splitlines(), err.getvalue().splitlines()


@pytest.mark.slow  # each example loads the tiny model: about 20 s in all
@settings(max_examples=int(os.environ.get("ATTNVIZ_FUZZ_EXAMPLES", "15")),
          suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, refuse_long=st.booleans())
@example(text="good " * 20_000, refuse_long=False)  # 100,000 characters: truncated with a warning
@example(text="good " * 20_000, refuse_long=True)  # ... or refused in one line
@example(text="\u200b" * 100_000, refuse_long=False)
@example(text="[SEP][CLS]" * 3, refuse_long=False)
@example(text="\x00\x01\x02", refuse_long=False)
@example(text="", refuse_long=False)
@example(text="bad \udcff bytes", refuse_long=False)
def test_hostile_texts_exit_0_or_2_in_one_line(workspace: tuple[Path, Path], text: str, refuse_long: bool) -> None:
    model, folder = workspace
    output = folder / "out.json"
    output.unlink(missing_ok=True)
    argv = ["--model_dir", str(model), "--text", text, "--output_file", str(output)]
    status, out, err = run([*argv, "--no_truncation"] if refuse_long else argv)

    assert not any("Traceback" in line for line in out + err)
    if status == 2:
        assert len(err) == 1 and err[0].startswith("attnviz-extract: error: "), err
        assert out == [] and not output.exists()
        return
    assert status == 0, (status, err)
    assert len(out) == 1 and out[0].startswith(f"wrote {output}: "), out
    assert all(line.startswith("attnviz-extract: warning: ") for line in err), err
    data = read_attention_file(output)
    assert data.text == text
    real = [token for token, keep in zip(data.tokens, data.queries.mask) if keep]
    only_special = all(special or looks_special(token)
                       for token, special, keep in zip(data.tokens, data.queries.special, data.queries.mask) if keep)
    assert only_special == any(SPECIAL_WARNING in line for line in err), (real, err)
    assert len(data.tokens) <= 64  # the tiny model's limit: long texts were truncated, not crashed


@pytest.mark.slow  # draws figures and pages: about 15 s in all
@settings(max_examples=int(os.environ.get("ATTNVIZ_FUZZ_EXAMPLES", "12")),
          suppress_health_check=[HealthCheck.too_slow])
@given(
    tokens=st.lists(st.one_of(st.sampled_from([p for p in PIECES if not "\ud800" <= p[:1] <= "\udfff"]),
                              st.text(max_size=4)), min_size=1, max_size=6),
    mode=st.sampled_from(["plot:.png", "plot:.svg", "plot:.html", "prepare:.json", "html:.html"]),
    layer=st.integers(-1, 2), head=st.integers(-1, 2), aggregate=st.sampled_from([None, "mean", "max", "rollout"]),
)
def test_visualize_hostile_tokens_and_indices(workspace: tuple[Path, Path], tokens: list[str], mode: str, layer: int,
                                              head: int, aggregate: str | None) -> None:
    import json

    import numpy as np

    from attnviz_widget.cli import visualize_main

    _, folder = workspace
    values = np.random.default_rng(len(tokens)).random((2, 2, len(tokens), len(tokens))) + 0.01
    source = folder / "hostile.json"
    source.write_text(json.dumps({"tokens": tokens, "text": "".join(tokens),
                                  "attention_matrices": (values / values.sum(-1, keepdims=True)).tolist()}))
    name, suffix = mode.split(":")
    output = folder / f"vis{suffix}"
    output.unlink(missing_ok=True)
    argv = ["--input_file", str(source), "--mode", name, "--layer", str(layer), "--head", str(head),
            "--output_file", str(output)] + (["--aggregate", aggregate] if aggregate else [])
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = visualize_main(argv)
    lines = err.getvalue().splitlines()
    assert status in (0, 2) and "Traceback" not in err.getvalue()
    if status == 2:
        assert len(lines) == 1 and lines[0].startswith("attnviz-visualize: error: ") and not output.exists(), lines
    else:
        assert lines == [] and output.stat().st_size > 0 and out.getvalue().startswith(f"wrote {output}")
