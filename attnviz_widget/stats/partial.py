"""Partial sums of per-text metric values: what batches, shards and engines exchange.

A :class:`Partial` holds, per metric, layer and head, the sum and the sum of squares of
the per-text values and how many texts had one, plus the ``k`` texts that scored
highest. Partials merge associatively (sums add, top lists merge with ties broken by
text index), so any split of the corpus into batches, shards or Ray tasks reduces to
the same numbers up to floating-point summation order (float64).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

COUNTERS = ("items", "texts", "probes", "empty", "truncated", "tokens")


@dataclass
class Partial:
    """Sums over some texts, for ``metrics`` × ``layers`` × ``heads``.

    Attributes:
        sums, squares, counts: float64 ``(metrics, layers, heads)``.
        top_values: float64 ``(metrics, layers, heads, k)``, best first, ``-inf`` where empty.
        top_index: int64 ``(metrics, layers, heads, k)``, the texts' corpus indices, -1 where empty.
        texts: corpus index -> text, for the indices in ``top_index``.
        counters: ``items`` seen (texts, probes and skipped empty texts), ``texts``
            measured, ``probes`` measured, ``empty`` texts skipped, ``truncated`` texts,
            ``tokens`` measured.
    """

    sums: np.ndarray
    squares: np.ndarray
    counts: np.ndarray
    top_values: np.ndarray
    top_index: np.ndarray
    texts: dict[int, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))

    @classmethod
    def empty(cls, metrics: int, layers: int, heads: int, k: int) -> Partial:
        shape = (metrics, layers, heads)
        return cls(
            sums=np.zeros(shape),
            squares=np.zeros(shape),
            counts=np.zeros(shape),
            top_values=np.full((*shape, k), -np.inf),
            top_index=np.full((*shape, k), -1, dtype=np.int64),
        )

    @property
    def k(self) -> int:
        return int(self.top_values.shape[-1])

    def add_values(
        self, values: np.ndarray, index: np.ndarray, texts: list[str] | None, metric_slots: list[int]
    ) -> None:
        """Add per-text values ``(texts, len(metric_slots), layers, heads)`` (NaN = undefined).

        ``index`` holds the texts' corpus indices; ``texts`` their strings (None for probes,
        which keep no top list).
        """
        values = np.asarray(values, dtype=np.float64)
        defined = ~np.isnan(values)
        clean = np.where(defined, values, 0.0)
        self.sums[metric_slots] += clean.sum(0)
        self.squares[metric_slots] += (clean * clean).sum(0)
        self.counts[metric_slots] += defined.sum(0)
        if texts is None or self.k == 0:
            return
        scored = np.where(defined, values, -np.inf)  # (texts, metrics, layers, heads)
        candidates_v = np.moveaxis(scored, 0, -1)
        candidates_i = np.broadcast_to(np.asarray(index, dtype=np.int64), candidates_v.shape)
        self._merge_top(metric_slots, candidates_v, candidates_i)
        self.texts.update(zip((int(i) for i in index), texts))
        self._prune_texts()

    def _merge_top(self, slots: list[int], values: np.ndarray, index: np.ndarray) -> None:
        pool_v = np.concatenate([self.top_values[slots], values], axis=-1)
        pool_i = np.concatenate([self.top_index[slots], index], axis=-1)
        pool_i = np.where(np.isneginf(pool_v), -1, pool_i)
        # best value first; among equal values the smaller corpus index (so merge order never matters)
        tie = np.where(pool_i < 0, np.iinfo(np.int64).max, pool_i)
        order = np.lexsort((tie, -pool_v), axis=-1)[..., : self.k]
        self.top_values[slots] = np.take_along_axis(pool_v, order, axis=-1)
        self.top_index[slots] = np.take_along_axis(pool_i, order, axis=-1)

    def _prune_texts(self) -> None:
        kept = set(np.unique(self.top_index).tolist())
        for index in [i for i in self.texts if i not in kept]:
            del self.texts[index]

    def merge(self, other: Partial) -> Partial:
        """Add ``other`` into this partial (in place) and return it."""
        self.sums += other.sums
        self.squares += other.squares
        self.counts += other.counts
        if self.k:
            slots = list(range(self.sums.shape[0]))
            self._merge_top(slots, other.top_values, other.top_index)
            self.texts.update(other.texts)
            self._prune_texts()
        for name in COUNTERS:
            self.counters[name] = self.counters.get(name, 0) + other.counters.get(name, 0)
        return self

    # -- bytes, for shards on disk and results coming back from Ray -------------------

    def to_bytes(self, extra: dict[str, Any] | None = None) -> bytes:
        """The partial as one ``.npz`` payload (no pickled objects)."""
        texts_index = np.array(sorted(self.texts), dtype=np.int64)
        texts = np.array([self.texts[i] for i in texts_index.tolist()], dtype=np.str_)
        meta = {"counters": self.counters, **(extra or {})}
        buffer = io.BytesIO()
        np.savez(
            buffer,
            sums=self.sums,
            squares=self.squares,
            counts=self.counts,
            top_values=self.top_values,
            top_index=self.top_index,
            texts_index=texts_index,
            texts=texts,
            meta=np.array(json.dumps(meta, sort_keys=True)),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> tuple[Partial, dict[str, Any]]:
        """The partial and the ``extra`` fields stored by :meth:`to_bytes`."""
        with np.load(io.BytesIO(payload), allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            partial = cls(
                sums=stored["sums"],
                squares=stored["squares"],
                counts=stored["counts"],
                top_values=stored["top_values"],
                top_index=stored["top_index"],
                texts=dict(zip(stored["texts_index"].tolist(), stored["texts"].tolist())),
                counters={name: int(meta["counters"].get(name, 0)) for name in COUNTERS},
            )
        return partial, {key: value for key, value in meta.items() if key != "counters"}

