"""Output paths: a cheap check before slow work, and atomic writes.

Every file the package writes (JSON, safetensors, PNG, HTML) goes through
:func:`atomic_output`, so a failed or interrupted write never leaves a partial file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError

__all__ = ["atomic_output", "check_output_path", "write_bytes"]


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`Path`, or :class:`InputError` when a file cannot be written there.

    Cheap enough to call before slow work, so a bad output path fails first.
    """
    target = Path(path).expanduser()
    directory = target.parent
    if target.is_dir():
        raise InputError(f"cannot write {target}: it is a directory; give a file name inside it")
    if not directory.is_dir():
        reason = "is not a directory" if directory.exists() else "does not exist; create it first"
        raise InputError(f"cannot write {target}: directory {directory} {reason}")
    if not os.access(directory, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"cannot write {target}: permission denied")
    return target


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary file that appears at ``path`` only once everything was written.

    Writes go to a hidden temporary file in the same directory; when the ``with``
    block ends normally the file is flushed, fsynced and renamed over ``path``
    (``os.replace``, atomic on POSIX and Windows). If the block raises, the temporary
    file is removed and ``path`` is left as it was. The new file gets the usual
    permissions (``0o666`` less the umask).

    Raises:
        InputError: ``path`` is a directory, its directory does not exist, or the
            file cannot be created or written (permissions, disk full); one line.
    """
    target = check_output_path(path)
    directory = target.parent
    temporary = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(temporary, flags, 0o666)
    except OSError as error:
        raise InputError(f"cannot write {target}: {_reason(error)}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        with suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise InputError(f"cannot write {target}: {_reason(error)}") from None
        raise
    _fsync_directory(directory)


def write_bytes(path: str | os.PathLike[str], payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically; returns ``path`` as a :class:`Path`."""
    with atomic_output(path) as handle:
        handle.write(payload)
    return Path(path)


def _reason(error: OSError) -> str:
    if isinstance(error, PermissionError):
        return "permission denied; choose a directory you can write to"
    return error.strerror or str(error)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows opening directories."""
    with suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
