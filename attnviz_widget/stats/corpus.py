"""Reading a corpus of texts, streamed: any iterable of strings, .txt, .jsonl or .parquet.

Texts are read one at a time (Parquet one record batch at a time), so memory does not
grow with the corpus. Every problem is an :class:`InputError` in one line that names
the file and the line or item.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError

FORMATS = (".txt", ".jsonl", ".parquet")
TEXT_FIELD = "text"
#: 179 short English sentences written for this package (varied punctuation), for examples and benchmarks.
SAMPLE_CORPUS = Path(__file__).with_name("sample_corpus.txt")
PANDAS_HINT = "pip install 'attnviz-widget[stats]'"


@dataclass
class Corpus:
    """A stream of texts and what to call it.

    Attributes:
        description: the corpus as the result's metadata records it (a path or ``"N texts"``).
        total: how many texts there are, when it is cheap to know (for the progress bar's ETA).
    """

    items: Any
    description: str
    total: int | None
    path: Path | None = None

    def __iter__(self) -> Iterator[str]:
        if self.path is None:
            return _from_iterable(self.items)
        suffix = self.path.suffix.lower()
        if suffix == ".txt":
            return _from_txt(self.path)
        if suffix == ".jsonl":
            return _from_jsonl(self.path)
        return _from_parquet(self.path)


def open_corpus(texts: Iterable[str] | str | os.PathLike[str]) -> Corpus:
    """A :class:`Corpus` for an iterable of strings or a path to a .txt, .jsonl or .parquet file.

    Raises:
        InputError: a missing file, an unknown format, or a single string given as texts.
    """
    if isinstance(texts, (str, os.PathLike)):
        path = Path(texts).expanduser()
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise InputError(
                f"corpus file {str(path)!r} {what}; pass a .txt, .jsonl or .parquet file or a list of texts"
            )
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise InputError(
                f"corpus file {path.name!r} has an unknown format {suffix or '(no extension)'!r}; "
                "use .txt (one text a line), .jsonl (a 'text' field a line) or .parquet (a 'text' column)"
            )
        return Corpus(items=None, description=str(path), total=_count(path), path=path)
    if isinstance(texts, (bytes, bytearray)):
        raise InputError("texts is bytes; pass a list of strings or a path to a corpus file")
    try:
        iter(texts)
    except TypeError:
        raise InputError(f"texts must be an iterable of strings or a file path, not {type(texts).__name__}") from None
    total = len(texts) if hasattr(texts, "__len__") else None  # type: ignore[arg-type]
    described = f"{total} texts" if total is not None else f"an iterable of texts ({type(texts).__name__})"
    return Corpus(items=texts, description=described, total=total)


def _count(path: Path) -> int | None:
    if path.suffix.lower() == ".parquet":
        pq = _parquet()
        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception as error:
            raise InputError(f"cannot read {path.name} as Parquet: {_first_line(error)}") from None
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")  # a last line without its newline counts too


def _from_iterable(items: Iterable[Any]) -> Iterator[str]:
    for number, item in enumerate(items):
        if not isinstance(item, str):
            raise InputError(f"item {number} of texts is {type(item).__name__}, not a string")
        yield item


def _from_txt(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="strict", newline=None) as handle:
        try:
            for line in handle:
                yield line.rstrip("\n")
        except UnicodeDecodeError as error:
            raise InputError(f"{path.name} is not UTF-8 text: {error.reason} at byte {error.start}") from None


def _from_jsonl(path: Path) -> Iterator[str]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                reason = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8"
                raise InputError(f"line {number} of {path.name} is not valid JSON: {reason}") from None
            if not isinstance(record, dict) or TEXT_FIELD not in record:
                raise InputError(f"line {number} of {path.name} has no {TEXT_FIELD!r} field")
            text = record[TEXT_FIELD]
            if not isinstance(text, str):
                raise InputError(
                    f"line {number} of {path.name}: {TEXT_FIELD!r} is {type(text).__name__}, not a string"
                )
            yield text


def _from_parquet(path: Path) -> Iterator[str]:
    pq = _parquet()
    try:
        source = pq.ParquetFile(path)
    except Exception as error:
        raise InputError(f"cannot read {path.name} as Parquet: {_first_line(error)}") from None
    names = source.schema_arrow.names
    if TEXT_FIELD not in names:
        raise InputError(f"{path.name} has no {TEXT_FIELD!r} column (columns: {', '.join(names) or 'none'})")
    row = 0
    for batch in source.iter_batches(columns=[TEXT_FIELD], batch_size=4096):
        for text in batch.column(0).to_pylist():
            if not isinstance(text, str):
                raise InputError(f"row {row} of {path.name}: {TEXT_FIELD!r} is {type(text).__name__}, not a string")
            row += 1
            yield text


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"reading and writing Parquet needs pyarrow: {PANDAS_HINT}") from None
    return pq


def _first_line(error: BaseException) -> str:
    return (str(error).strip() or type(error).__name__).splitlines()[0]
