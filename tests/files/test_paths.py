"""Atomic writes: unwritable paths, permissions, and failures that leave no partial file."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from attnviz_widget.errors import InputError
from attnviz_widget.files import atomic_output, write_backend_json, write_extracted_json
from attnviz_widget.prepare import prepare


@pytest.mark.parametrize("writer", ["extracted", "backend"])
def test_unwritable_paths_raise_one_line_errors(tmp_path, random_attention, writer) -> None:
    data = random_attention(1, 1, 3)

    def write(path: Path) -> Path:
        return write_extracted_json(data, path) if writer == "extracted" else write_backend_json(prepare(data), path)

    with pytest.raises(InputError, match=r"cannot write .*out\.json: directory .*missing does not exist; create it"):
        write(tmp_path / "missing" / "out.json")
    with pytest.raises(InputError, match="it is a directory; give a file name inside it"):
        write(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match=r"directory .*file is not a directory"):
        write(tmp_path / "file" / "out.json")


def test_permission_denied_is_an_input_error(tmp_path, random_attention, monkeypatch) -> None:
    def denied(*args: Any, **kwargs: Any) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(InputError, match="cannot write .*: permission denied; choose a directory you can write to"):
        write_extracted_json(random_attention(1, 1, 3), tmp_path / "out.json")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_directory(tmp_path, random_attention) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(InputError, match="permission denied"):
            write_extracted_json(random_attention(1, 1, 3), locked / "out.json")
    finally:
        locked.chmod(0o700)


class FailingFile:
    """A file object that writes half of what it is given, then fails (a full disk)."""

    def __init__(self, handle: Any, error: BaseException) -> None:
        self._handle, self._error = handle, error

    def write(self, payload: bytes) -> int:
        self._handle.write(payload[: len(payload) // 2])
        self._handle.flush()
        raise self._error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, random_attention, monkeypatch, error) -> None:
    target = tmp_path / "attention.json"
    old = write_extracted_json(random_attention(1, 1, 3, seed=1), target).read_bytes()
    real_fdopen = os.fdopen
    seen: list[int] = []

    def fdopen(descriptor: int, *args: Any, **kwargs: Any) -> FailingFile:
        seen.append(descriptor)
        return FailingFile(real_fdopen(descriptor, *args, **kwargs), error)

    monkeypatch.setattr(os, "fdopen", fdopen)
    expected = InputError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected, match="No space left on device" if expected is InputError else None):
        write_extracted_json(random_attention(2, 2, 6, seed=2), target)

    assert seen, "the write went through os.fdopen"
    assert [path.name for path in tmp_path.iterdir()] == ["attention.json"]  # no temporary file
    assert target.read_bytes() == old


def test_a_failure_before_the_rename_leaves_nothing(tmp_path, random_attention, monkeypatch) -> None:
    def fail(descriptor: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(InputError, match=r"cannot write .*new\.json: Input/output error"):
        write_backend_json(prepare(random_attention(1, 1, 3)), tmp_path / "new.json")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_creates_files_with_normal_permissions(tmp_path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_output(tmp_path / "out.bin") as handle:
        handle.write(b"data")
        assert list(tmp_path.iterdir()) != [tmp_path / "out.bin"]  # not there until the end
    assert (tmp_path / "out.bin").read_bytes() == b"data"
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [path.name for path in tmp_path.iterdir()] == ["out.bin"]
