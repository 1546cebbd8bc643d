"""Resumable shards of partial sums on disk.

A run with ``shard_dir`` saves each finished shard (``shard_size`` consecutive corpus
texts, or the probe) as one ``.npz`` file, written to a temporary name and renamed, so
a file is either complete or absent. A rerun with the same settings loads finished
shards instead of measuring them again; the texts of each skipped shard are still
read and hashed, so a changed corpus is refused instead of silently mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files.paths import atomic_output
from .partial import Partial

MANIFEST = "manifest.json"
SHARD_FORMAT = "attnviz/head-stats-shards-1"


class TextHash:
    """A running SHA-256 of a shard's texts (to recognise the same corpus on resume)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, index: int, text: str) -> None:
        self._hash.update(f"{index}\0{text}\0".encode("utf-8", "surrogatepass"))

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class ShardStore:
    """The shard files of one run in ``directory``.

    Args:
        directory: created if missing.
        fingerprint: the settings that decide the numbers (model, metrics, configuration);
            a folder written with other settings is refused.
    """

    def __init__(self, directory: str | os.PathLike[str], fingerprint: dict[str, Any]) -> None:
        self.directory = Path(directory).expanduser()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(f"cannot create shard folder {self.directory}: {error.strerror or error}") from None
        manifest = self.directory / MANIFEST
        expected = {"format": SHARD_FORMAT, "fingerprint": fingerprint}
        if manifest.is_file():
            try:
                found = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise InputError(f"{manifest} is unreadable; delete the shard folder to start over") from None
            if found != json.loads(json.dumps(expected)):
                previous = found.get("fingerprint", {}) if isinstance(found, dict) else {}
                differ = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
                raise InputError(
                    f"shard folder {self.directory} holds a run with other settings ({', '.join(differ) or 'format'}); "
                    "use another folder or delete it"
                )
        else:
            with atomic_output(manifest) as handle:
                handle.write(json.dumps(expected, indent=1, sort_keys=True).encode())

    def path(self, shard: int) -> Path:
        return self.directory / ("probe.npz" if shard < 0 else f"shard-{shard:06d}.npz")

    def done(self) -> set[int]:
        """The shards already saved."""
        found = set()
        for path in self.directory.glob("*.npz"):
            if path.name == "probe.npz":
                found.add(-1)
            elif path.name.startswith("shard-") and path.stem[6:].isdigit():
                found.add(int(path.stem[6:]))
        return found

    def save(self, shard: int, partial: Partial, text_hash: str) -> None:
        with atomic_output(self.path(shard)) as handle:
            handle.write(partial.to_bytes({"shard": shard, "text_hash": text_hash}))

    def load(self, shard: int) -> tuple[Partial, str]:
        """The shard's partial sums and the hash of its texts."""
        try:
            partial, extra = Partial.from_bytes(self.path(shard).read_bytes())
        except (OSError, ValueError, KeyError) as error:
            raise InputError(f"shard file {self.path(shard)} is unreadable ({error}); delete it to redo it") from None
        return partial, str(extra.get("text_hash", ""))
