"""HeadStats: per-head means, standard deviations and counts of every metric, and their best texts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..files.paths import atomic_output
from .corpus import PANDAS_HINT
from .metrics import METRICS, PROBE_METRICS
from .partial import Partial

PARQUET_KEY = b"attnviz_head_stats"


@dataclass
class HeadStats:
    """Statistics of every attention head over a corpus.

    Attributes:
        mean, std: float64 ``(metrics, layers, heads)``; ``std`` is the population standard
            deviation over texts; NaN where no text had a value.
        count: float64 ``(metrics, layers, heads)``, texts (or probes) that had a value.
        metrics: metric names, in the order of the first axis.
        model: the model's name or folder; ``corpus``: the corpus's description.
        summary: ``texts``, ``probes``, ``empty`` texts skipped, ``truncated`` texts,
            ``tokens``, plus the engine, seconds and resumed shards.
        settings: the run's :class:`~attnviz_widget.stats.batches.StatsConfig` as a dict.
    """

    mean: np.ndarray
    std: np.ndarray
    count: np.ndarray
    metrics: tuple[str, ...]
    model: str
    corpus: str
    summary: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    top_values: np.ndarray | None = None
    top_index: np.ndarray | None = None
    texts: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_partial(cls, partial: Partial, *, model: str, corpus: str, **fields: Any) -> HeadStats:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = partial.sums / partial.counts
            variance = np.maximum(partial.squares / partial.counts - mean * mean, 0.0)
        summary = {**partial.counters, **fields.pop("summary", {})}
        return cls(
            mean=mean, std=np.sqrt(variance), count=partial.counts.copy(), metrics=METRICS, model=model,
            corpus=corpus, summary=summary, top_values=partial.top_values, top_index=partial.top_index,
            texts=dict(partial.texts), **fields,
        )

    def select(self, metrics: tuple[str, ...]) -> HeadStats:
        """The same statistics for ``metrics`` only."""
        slots = [self._slot(name) for name in metrics]
        return HeadStats(
            mean=self.mean[slots], std=self.std[slots], count=self.count[slots], metrics=tuple(metrics),
            model=self.model, corpus=self.corpus, summary=self.summary, settings=self.settings,
            top_values=None if self.top_values is None else self.top_values[slots],
            top_index=None if self.top_index is None else self.top_index[slots], texts=self.texts,
        )

    @property
    def layers(self) -> int:
        return int(self.mean.shape[1])

    @property
    def heads(self) -> int:
        return int(self.mean.shape[2])

    def _slot(self, metric: str) -> int:
        if metric not in self.metrics:
            raise InputError(f"unknown metric {metric!r}; choose one of {', '.join(self.metrics)}")
        return self.metrics.index(metric)

    def values(self, metric: str) -> np.ndarray:
        """The mean of ``metric`` as ``(layers, heads)``."""
        return self.mean[self._slot(metric)]

    def top_texts(self, metric: str, layer: int, head: int, k: int | None = None) -> list[tuple[str, float]]:
        """The texts on which head ``(layer, head)`` scored highest on ``metric``, best first, with the value."""
        slot = self._slot(metric)
        if metric in PROBE_METRICS:
            raise InputError(f"{metric} is scored on random probe tokens, not on corpus texts; it has no top texts")
        if not (0 <= layer < self.layers and 0 <= head < self.heads):
            raise InputError(f"no head ({layer}, {head}): the model has {self.layers} layers × {self.heads} heads")
        if self.top_index is None or self.top_values is None:
            return []
        kept = self.top_index.shape[-1]
        if k is not None and not 0 <= k <= kept:
            raise InputError(f"k must be between 0 and {kept} (the run kept top_k={kept}), got {k}")
        pairs = []
        for index, value in zip(self.top_index[slot, layer, head], self.top_values[slot, layer, head]):
            if index >= 0:
                pairs.append((self.texts[int(index)], float(value)))
        return pairs[: kept if k is None else k]

    def atlas(self, model: Any = None, **options: Any) -> Any:
        """The head atlas widget (:class:`~attnviz_widget.stats.view.HeadAtlasWidget`): grid, table, hover,
        and a click opens a head's top text with ``model`` (default: the model the run recorded)."""
        from .view import HeadAtlasWidget

        return HeadAtlasWidget(self, model, **options)

    def to_pandas(self) -> Any:
        """One row per (layer, head): ``<metric>_mean``, ``<metric>_std`` and ``<metric>_count`` columns."""
        try:
            import pandas as pd
        except ImportError:
            raise InputError(f"HeadStats.to_pandas needs pandas: {PANDAS_HINT}") from None
        layer, head = np.meshgrid(np.arange(self.layers), np.arange(self.heads), indexing="ij")
        columns: dict[str, Any] = {"layer": layer.ravel(), "head": head.ravel()}
        for slot, name in enumerate(self.metrics):
            columns[f"{name}_mean"] = self.mean[slot].ravel()
            columns[f"{name}_std"] = self.std[slot].ravel()
            columns[f"{name}_count"] = self.count[slot].ravel().astype(np.int64)
        return pd.DataFrame(columns)

    def metadata(self) -> dict[str, Any]:
        return {
            "format": "attnviz/head-stats-1", "model": self.model, "corpus": self.corpus,
            "metrics": list(self.metrics), "summary": self.summary, "settings": self.settings,
        }

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_pandas` to ``path`` atomically, with :meth:`metadata` in the file's metadata."""
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError(f"HeadStats.to_parquet needs pyarrow: {PANDAS_HINT}") from None
        table = pa.Table.from_pandas(self.to_pandas(), preserve_index=False)
        schema_metadata = dict(table.schema.metadata or {})
        schema_metadata[PARQUET_KEY] = json.dumps(self.metadata(), default=str).encode()
        table = table.replace_schema_metadata(schema_metadata)
        target = Path(path).expanduser()
        with atomic_output(target) as handle:
            pq.write_table(table, handle)
        return target

    def __repr__(self) -> str:
        texts = self.summary.get("texts", 0)
        return (
            f"HeadStats({self.model!r}: {self.layers} layers × {self.heads} heads, {len(self.metrics)} metrics, "
            f"{texts} texts, {self.summary.get('truncated', 0)} truncated)"
        )


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model, corpus, summary and settings stored by :meth:`HeadStats.to_parquet`."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    if PARQUET_KEY not in metadata:
        raise InputError(f"{path} was not written by HeadStats.to_parquet")
    return dict(json.loads(metadata[PARQUET_KEY]))
