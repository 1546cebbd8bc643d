"""Corpus reading: iterables, .txt, .jsonl, .parquet, streamed, with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnviz_widget.errors import InputError
from attnviz_widget.stats.corpus import open_corpus

TEXTS = ["The first text.", "A second, longer text", "", "Ünïcode — and emoji 🎬"]


def one_line(error: pytest.ExceptionInfo[InputError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_iterables_and_generators() -> None:
    corpus = open_corpus(TEXTS)
    assert list(corpus) == TEXTS and corpus.total == 4 and corpus.description == "4 texts"
    streamed = open_corpus(text for text in TEXTS)
    assert streamed.total is None and list(streamed) == TEXTS


def test_txt_is_one_text_a_line(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(TEXTS), encoding="utf-8")  # no newline after the last line
    corpus = open_corpus(path)
    assert list(corpus) == TEXTS and corpus.total == 4 and corpus.description == str(path)


def test_jsonl_reads_the_text_field(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    assert list(open_corpus(str(path))) == TEXTS


def test_parquet_reads_the_text_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"text": TEXTS, "label": [0, 1, 0, 1]}), path, row_group_size=2)
    corpus = open_corpus(path)
    assert list(corpus) == TEXTS and corpus.total == 4
    pq.write_table(pa.table({"body": TEXTS}), path)
    with pytest.raises(InputError) as error:
        list(open_corpus(path))
    assert "has no 'text' column (columns: body)" in one_line(error)


def test_a_jsonl_line_without_text_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"text": "fine"}\n{"body": "no text"}\n', encoding="utf-8")
    with pytest.raises(InputError) as error:
        list(open_corpus(path))
    assert one_line(error) == "line 2 of corpus.jsonl has no 'text' field"
    path.write_text('{"text": "fine"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2 of corpus.jsonl is not valid JSON"):
        list(open_corpus(path))
    path.write_text('{"text": 3}\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 1 of corpus.jsonl: 'text' is int, not a string"):
        list(open_corpus(path))


def test_unknown_formats_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "corpus.csv"
    path.write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        open_corpus(path)
    assert "unknown format '.csv'" in one_line(error) and ".jsonl" in str(error.value)
    with pytest.raises(InputError, match="does not exist"):
        open_corpus(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="is a directory"):
        open_corpus(tmp_path)


def test_items_that_are_not_strings() -> None:
    with pytest.raises(InputError, match="item 1 of texts is int, not a string"):
        list(open_corpus(["fine", 3]))
    with pytest.raises(InputError, match="iterable of strings"):
        open_corpus(42)  # type: ignore[arg-type]


def test_a_non_utf8_txt_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="is not UTF-8"):
        list(open_corpus(path))
