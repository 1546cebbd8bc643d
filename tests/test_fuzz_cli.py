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
