"""``head_stats``: every head's metrics over a corpus, on this machine or on Ray."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .. import __version__
from ..errors import InputError
from .batches import BatchRunner, StatsConfig
from .corpus import open_corpus
from .engines import Reduction, import_ray, run_local, run_ray
from .metrics import METRICS
from .result import HeadStats
from .shards import ShardStore

ENGINES = ("local", "ray")


def head_stats(
    model: Any,
    texts: Iterable[str] | str | os.PathLike[str],
    *,
    tokenizer: Any = None,
    device: str | None = None,
    batch_size: int = 32,
    engine: str = "local",
    metrics: Sequence[str] | None = None,
    max_length: int | None = None,
    skip_special_queries: bool = False,
    top_k: int = 5,
    probe_count: int = 8,
    probe_length: int = 25,
    seed: int = 0,
    shard_dir: str | os.PathLike[str] | None = None,
    shard_size: int = 1000,
    progress: bool = True,
    ray_address: str | None = None,
    ray_actors: int | None = None,
) -> HeadStats:
    """Per-head statistics of attention over a corpus (definitions: :mod:`attnviz_widget.stats.metrics`).

    Args:
        model: a model folder, hub name or loaded Hugging Face model (encoder-only or decoder-only).
        texts: an iterable of strings, or a ``.txt`` (one text a line), ``.jsonl`` (a ``text``
            field a line) or ``.parquet`` (a ``text`` column) file; read as a stream.
        tokenizer: the model's tokenizer (default: the one saved with the model).
        device: ``"cuda"``, ``"cpu"``, ...; None picks the best one (local engine).
        batch_size: texts per forward pass.
        engine: ``"local"`` (this process) or ``"ray"`` (Ray Data actors, one model each).
        metrics: which metrics the result keeps (default: all of :data:`METRICS`).
        max_length: cut texts to this many tokens; longer texts are counted in ``summary["truncated"]``.
        skip_special_queries: leave special tokens' rows out of the corpus metrics.
        top_k: texts kept per metric and head for :meth:`HeadStats.top_texts`.
        probe_count, probe_length, seed: the repeated-random-token probe.
        shard_dir: save partial sums every ``shard_size`` texts here, and resume from them.
        progress: show a tqdm progress bar (texts/s and, when the size is known, ETA).
        ray_address: a running Ray cluster (``host:port`` or ``ray://host:10001``); default:
            the current Ray session, else a new local cluster.
        ray_actors: Ray actors (models) to run; default one per GPU, else one.

    Returns:
        :class:`HeadStats` with ``(metrics, layers, heads)`` means, standard deviations and counts.
    """
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; use 'local' or 'ray'")
    chosen = _check_metrics(metrics)
    config = StatsConfig(
        batch_size=batch_size, max_length=max_length, skip_special_queries=skip_special_queries, top_k=top_k,
        probe_count=probe_count, probe_length=probe_length, seed=seed, shard_size=shard_size,
    ).check()
    corpus = open_corpus(texts)
    if engine == "ray":
        import_ray()  # fail before loading anything
    name = _model_name(model)
    store = None
    if shard_dir is not None:
        fingerprint = {"model": name, "metrics": list(METRICS), "version": __version__, **config.as_dict()}
        fingerprint.pop("batch_size")  # batches do not change the sums
        store = ShardStore(shard_dir, fingerprint)
    reduction = Reduction(config, store)
    start = time.perf_counter()
    with _progress_bar(corpus.total, progress) as bar:
        if engine == "local":
            runner = BatchRunner(model, tokenizer=tokenizer, device=device, config=config)
            total = run_local(runner, corpus, reduction, bar.update)
        else:
            total = run_ray(
                model, tokenizer, config, corpus, reduction, bar.update, ray_address=ray_address, actors=ray_actors
            )
    seconds = time.perf_counter() - start
    summary = {
        "engine": engine,
        "seconds": round(seconds, 3),
        "texts_per_second": round(total.counters["texts"] / seconds, 2) if seconds > 0 else None,
        "resumed_shards": sorted(reduction.resumed),
    }
    stats = HeadStats.from_partial(
        total, model=name, corpus=corpus.description, summary=summary, settings=config.as_dict()
    )
    return stats.select(chosen) if chosen != METRICS else stats


def _check_metrics(metrics: Sequence[str] | None) -> tuple[str, ...]:
    if metrics is None:
        return METRICS
    if isinstance(metrics, str):
        metrics = [metrics]
    chosen = tuple(metrics)
    unknown = [name for name in chosen if name not in METRICS]
    if unknown or not chosen:
        named = ", ".join(map(repr, unknown)) or "(none)"
        raise InputError(f"unknown metric {named}; choose from {', '.join(METRICS)}")
    return chosen


def _model_name(model: Any) -> str:
    if isinstance(model, (str, os.PathLike)):
        return str(model)
    config = getattr(model, "config", None)
    return str(getattr(config, "_name_or_path", "") or type(model).__name__)


class _progress_bar:  # noqa: N801 - used as a context manager like a function
    """tqdm over texts, or a no-op when turned off."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, unit="text", desc="head stats", disable=not enabled, dynamic_ncols=True)

    def __enter__(self) -> Any:
        return self._bar

    def __exit__(self, *exc: Any) -> None:
        self._bar.close()
