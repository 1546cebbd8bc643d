"""Running the per-batch function over a corpus: a local loop, or Ray Data on a cluster.

Both engines read the corpus through :class:`Reduction`, which numbers the items, skips
shards already on disk, and merges every partial that comes back, shard by shard. The
numbers therefore do not depend on the engine, the batch size or the order batches
finish in (up to float64 summation order and float32 forward-pass rounding).

Only the local engine is imported by default; Ray is imported when ``engine="ray"`` asks.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ..errors import InputError
from .batches import PROBE_SHARD, BatchRunner, StatsConfig, shard_of
from .partial import Partial
from .shards import ShardStore, TextHash

RAY_HINT = "pip install 'attnviz-widget[ray]'"
#: Texts read ahead and sorted by length before batching, in batches (less padding).
WINDOW_BATCHES = 32
#: Starting a local Ray node is tried this often: its raylet gives the agent processes a fixed
#: ~15 s to start, which a saturated machine misses by fractions of a second now and then.
LOCAL_START_TRIES = 2
#: Batches per Ray Data block (the unit of work an actor is handed).
RAY_BLOCK_BATCHES = 4


class Reduction:
    """The driver's side of a run: which items to measure, and the merged result.

    Args:
        config: the run's settings (``shard_size``, ``probe_count``).
        store: where finished shards are saved and loaded from, or None.
    """

    def __init__(self, config: StatsConfig, store: ShardStore | None) -> None:
        self.config = config
        self.store = store
        self.total: Partial | None = None
        self.done = store.done() if store is not None else set()
        self.resumed: list[int] = []
        self._open: dict[int, Partial] = {}
        self._sizes: dict[int, int] = {}
        self._hashes: dict[int, TextHash] = {}
        self._closed: set[int] = set()

    def items(self, corpus: Iterable[str]) -> Iterator[tuple[int, str]]:
        """``(index, text)`` of every item still to measure, probes last; closes shards as it passes them."""
        shard = -1
        count = 0
        for index, text in enumerate(corpus):
            count += 1
            current = shard_of(index, self.config.shard_size)
            if current != shard:
                if shard >= 0:
                    self._close(shard)
                shard = current
                self._hashes[shard] = TextHash()
                self._sizes[shard] = 0
            self._hashes[shard].add(index, text)
            self._sizes[shard] += 1
            if shard not in self.done:
                yield index, text
        if count == 0:
            raise InputError("the corpus is empty: give at least one text")
        self._close(shard)
        self._hashes[PROBE_SHARD] = TextHash()
        self._sizes[PROBE_SHARD] = self.config.probe_count
        if PROBE_SHARD not in self.done:
            for number in range(self.config.probe_count):
                yield -(number + 1), ""
        self._close(PROBE_SHARD)

    def add(self, shard: int, partial: Partial) -> None:
        """Merge a batch's partial sums for ``shard``."""
        if shard in self._open:
            self._open[shard].merge(partial)
        else:
            self._open[shard] = partial
        self._maybe_finish(shard)

    def finish(self) -> Partial:
        """The merged sums of every shard; raises if some items never came back."""
        missing = sorted(shard for shard in self._sizes if shard not in self._closed or shard in self._open)
        if missing:
            raise RuntimeError(f"shards {missing} did not receive all their items")
        if self.total is None or self.total.counters["texts"] == 0:
            raise InputError("the corpus has no non-empty text to measure")
        return self.total

    def _merge(self, partial: Partial) -> None:
        self.total = partial if self.total is None else self.total.merge(partial)

    def _close(self, shard: int) -> None:
        self._closed.add(shard)
        if shard in self.done:
            assert self.store is not None
            partial, text_hash = self.store.load(shard)
            if shard >= 0 and text_hash != self._hashes[shard].hexdigest():
                raise InputError(
                    f"the corpus changed since shard {shard} was saved in {self.store.directory}; "
                    "use a new shard folder"
                )
            self._merge(partial)
            self.resumed.append(shard)
        else:
            self._maybe_finish(shard)

    def _maybe_finish(self, shard: int) -> None:
        partial = self._open.get(shard)
        if shard not in self._closed or shard in self.done:
            return
        received = 0 if partial is None else partial.counters["items"]
        if received != self._sizes[shard]:
            return
        if partial is None:  # nothing to measure (probe_count = 0)
            return
        if self.store is not None:
            self.store.save(shard, partial, self._hashes[shard].hexdigest())
        self._merge(partial)
        self._open.pop(shard, None)


def _windows(items: Iterator[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    window: list[tuple[int, str]] = []
    for item in items:
        window.append(item)
        if len(window) >= size:
            yield window
            window = []
    if window:
        yield window


def run_local(
    runner: BatchRunner, corpus: Iterable[str], reduction: Reduction, progress: Callable[[int], None]
) -> Partial:
    """Measure the corpus in this process, ``WINDOW_BATCHES`` batches of texts read ahead at a time."""
    size = runner.config.batch_size
    for window in _windows(reduction.items(corpus), size * WINDOW_BATCHES):
        window.sort(key=lambda item: len(item[1]))
        for start in range(0, len(window), size):
            batch = window[start : start + size]
            for shard, partial in runner([i for i, _ in batch], [t for _, t in batch]).items():
                reduction.add(shard, partial)
            progress(sum(1 for i, _ in batch if i >= 0))
    return reduction.finish()


# -- Ray ---------------------------------------------------------------------------------


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InputError(f"engine='ray' needs Ray Data, which is not installed: {RAY_HINT}") from None
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in one line, within ``timeout``, when a ``host:port`` Ray address does not answer."""
    if address in ("auto", "local"):
        return
    bare = address.split("://", 1)[-1].rstrip("/")
    host, _, port = bare.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"ray_address {address!r} is not host:port (e.g. 10.0.0.5:6379 or ray://head:10001)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise InputError(
            f"cannot reach the Ray cluster at {address}: {error.strerror or error}; "
            "start it with 'ray start --head' or leave ray_address out to run a local cluster"
        ) from None


def connect_ray(ray: Any, address: str | None, num_cpus: int | None = None) -> None:
    """Use the running Ray session, connect to ``address``, or start a local cluster."""
    if ray.is_initialized():
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        _check_reachable(address)
        try:
            ray.init(address=address, **options)
        except Exception as error:  # ConnectionError, RuntimeError, ...: all mean "not reachable here"
            first = (str(error).strip() or type(error).__name__).splitlines()[0]
            raise InputError(f"cannot connect to the Ray cluster at {address}: {first}") from None
    else:
        for attempt in range(LOCAL_START_TRIES):
            try:
                ray.init(num_cpus=num_cpus, **options)
                return
            except Exception as error:  # Ray raises a bare Exception when its node does not come up
                ray.shutdown()
                first = (str(error).strip() or type(error).__name__).splitlines()[0]
                if attempt == LOCAL_START_TRIES - 1 or "timed out during startup" not in first:
                    raise InputError(f"could not start a local Ray cluster: {first}") from None


class RayMeasure:
    """A Ray Data actor: one :class:`BatchRunner` (one model) per actor."""

    def __init__(self, model: Any, tokenizer: Any, config: dict[str, Any], device: str, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.runner = BatchRunner(model, tokenizer=tokenizer, device=device, config=StatsConfig(**config))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        index = batch["index"].tolist()
        partials = self.runner(index, [str(t) for t in batch["text"].tolist()])
        shards = sorted(partials)
        return {
            "shard": np.array(shards, dtype=np.int64),
            "texts": np.array([partials[s].counters["texts"] for s in shards], dtype=np.int64),
            "payload": np.array([partials[s].to_bytes() for s in shards], dtype=object),
        }


def run_ray(
    model: Any,
    tokenizer: Any,
    config: StatsConfig,
    corpus: Iterable[str],
    reduction: Reduction,
    progress: Callable[[int], None],
    *,
    ray_address: str | None = None,
    actors: int | None = None,
    cpus_per_actor: int | None = None,
) -> Partial:
    """Measure the corpus with Ray Data ``map_batches`` over an actor pool, one model per actor.

    The driver holds the texts still to measure (sorted by length, for less padding) and
    one partial per unfinished shard; each actor returns one ``.npz`` payload of partial
    sums per shard its batch touched.
    """
    ray = import_ray()
    connect_ray(ray, ray_address)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    if gpus:
        actors = actors or gpus
        placement: dict[str, Any] = {"num_gpus": 1, "num_cpus": cpus_per_actor or 1}
        device, threads = "cuda", cpus_per_actor or 1
    else:
        actors = actors or 1
        per_actor = cpus_per_actor or max(1, cpus // actors)
        placement = {"num_cpus": per_actor}
        device, threads = "cpu", per_actor
    items = list(reduction.items(corpus))
    if items:
        items.sort(key=lambda item: len(item[1]))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        blocks = max(1, -(-len(items) // (config.batch_size * RAY_BLOCK_BATCHES)))
        dataset = ray.data.from_items([{"index": i, "text": t} for i, t in items], override_num_blocks=blocks)
        measured = dataset.map_batches(
            RayMeasure,
            fn_constructor_kwargs={
                "model": model, "tokenizer": tokenizer, "config": config.as_dict(), "device": device,
                "threads": threads,
            },
            batch_size=config.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),  # one model per actor (concurrency= is deprecated)
            **placement,
        )
        for batch in measured.iter_batches(batch_size=None, batch_format="numpy"):
            for shard, texts, payload in zip(batch["shard"], batch["texts"], batch["payload"]):
                partial, _ = Partial.from_bytes(payload)
                reduction.add(int(shard), partial)
                progress(int(texts))
    return reduction.finish()
