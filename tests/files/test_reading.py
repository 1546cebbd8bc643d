"""Opening files: format detection, the wrong format, unparseable and unreadable files."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest
from files_support import GOOD, plain_extracted, write_json

from attnviz_widget.errors import FormatError
from attnviz_widget.files import (
    EXTRACTED_FORMAT,
    detect_format,
    read_attention_file,
    read_backend_json,
    read_extracted_json,
    write_backend_json,
    write_extracted_json,
)
from attnviz_widget.prepare import prepare


def test_utf8_byte_order_mark_is_accepted(tmp_path, random_attention) -> None:
    data = random_attention(1, 1, 4)
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(plain_extracted(data)).encode())
    np.testing.assert_array_equal(read_attention_file(path).attentions, data.attentions)


def test_detect_format() -> None:
    assert detect_format({"tokens": [], "attention_matrices": []}) == "extracted"
    assert detect_format({"tokens": [], "layers": []}) == "backend"
    assert detect_format({"format": EXTRACTED_FORMAT}) == "extracted"
    with pytest.raises(FormatError, match="expected 'attention_matrices' .* or 'layers'.*keys found: tokens, foo"):
        detect_format({"tokens": [], "foo": 1})
    with pytest.raises(FormatError, match="top level is a list"):
        detect_format([1, 2])


def test_reading_the_wrong_format_says_which_it_is(tmp_path, random_attention) -> None:
    data = random_attention(1, 2, 4)
    extracted = write_extracted_json(data, tmp_path / "e.json")
    backend = write_backend_json(prepare(data), tmp_path / "b.json")
    with pytest.raises(FormatError, match=r"b\.json: this is the backend \(prepared\) format; .*read_backend_json"):
        read_extracted_json(backend)
    with pytest.raises(FormatError, match=r"e\.json: this is the extracted format; a backend \(prepared\) file was"):
        read_backend_json(extracted)


BAD_CONTENT = {
    "empty": (b"", "the file is empty"),
    "only whitespace": (b"  \n\t", "the file is empty"),
    "truncated": (b'{"tokens": ["a"], "text": "", "attention_matrices": [[[[0.5, 0.',
                  r"truncated JSON: unexpected end of data at line 1, column \d+ \(character \d+\); the file ends"),
    "malformed": (b'{"tokens": ["a"],\n "text": "" "attention_matrices": []}',
                  r"malformed JSON at line 2, column 13 \(character 30\): unexpected character"),
    "NaN": (json.dumps({"tokens": ["a"], "text": "", "attention_matrices": [[[[float("nan")]]]]}).encode(),
            r"invalid JSON: NaN at line 1, column \d+ .* is not a JSON value \(Python's json module writes it"),
    "Infinity": (b'{"attention_matrices": [[[[Infinity]]]]}', "invalid JSON: Infinity at"),
    "-Infinity": (b'{"attention_matrices": [[[[-Infinity]]]]}', "invalid JSON: Infinity at"),
    "not UTF-8": (b'{"tokens": ["\xff"]}', "not UTF-8 text: invalid byte at offset 13; JSON files must be UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_CONTENT))
def test_unparseable_files_raise_one_line_format_errors(tmp_path, case) -> None:
    content, message = BAD_CONTENT[case]
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message) as raised:
        read_attention_file(path)
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


def test_missing_path_and_directory(tmp_path) -> None:
    with pytest.raises(FormatError, match=r"missing\.json: file not found; check the path"):
        read_attention_file(tmp_path / "missing.json")
    with pytest.raises(FormatError, match="is a directory, not a JSON file"):
        read_attention_file(tmp_path)


def test_unreadable_file(tmp_path, monkeypatch) -> None:
    path = write_json(tmp_path / "locked.json", GOOD)

    def denied(self: Path) -> bytes:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(FormatError, match="locked.json: permission denied"):
        read_attention_file(path)
