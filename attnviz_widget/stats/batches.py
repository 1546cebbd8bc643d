"""The per-batch function: a padded forward whose hooks reduce each layer as it finishes.

:class:`BatchRunner` loads the model once (one per process, or one per Ray actor) and
turns a batch of corpus items into :class:`~attnviz_widget.stats.partial.Partial` sums,
one per shard the batch touches. A forward hook on each attention module reduces that
layer's ``(batch, heads, query, key)`` weights to ``(batch, heads, metrics)`` values on
the device and hands the model an empty placeholder, so memory holds one layer's
weights at a time, never all layers.

Items are numbered: corpus text ``i >= 0`` belongs to shard ``i // shard_size``; probe
``p`` (repeated random tokens) has index ``-(p + 1)`` and belongs to shard ``-1``.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..capture import CaptureSite, eager_attention, find_capture_sites
from ..errors import InputError
from ..tokens import strip_markers
from .metrics import CORPUS_METRICS, METRICS, PROBE_METRICS, BatchMasks, probe_patterns, probe_scores, text_metrics
from .partial import Partial

PROBE_SHARD = -1
_CORPUS_SLOTS = [METRICS.index(name) for name in CORPUS_METRICS]
_PROBE_SLOTS = [METRICS.index(name) for name in PROBE_METRICS]


@dataclass(frozen=True)
class StatsConfig:
    """Everything besides the model and corpus that decides the numbers.

    Attributes:
        batch_size: texts per forward pass.
        max_length: cut texts to this many tokens (never above what the model accepts).
        skip_special_queries: leave special tokens' query rows out of every corpus metric.
        top_k: texts kept per metric and head for :meth:`HeadStats.top_texts`.
        probe_count, probe_length, seed: the probe is ``probe_count`` sequences of
            ``probe_length`` random tokens repeated twice, from ``numpy`` seed ``seed + p``.
        shard_size: texts per shard of partial sums.
    """

    batch_size: int = 32
    max_length: int | None = None
    skip_special_queries: bool = False
    top_k: int = 5
    probe_count: int = 8
    probe_length: int = 25
    seed: int = 0
    shard_size: int = 1000

    def check(self) -> StatsConfig:
        for name in ("batch_size", "top_k", "probe_length", "shard_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "top_k" else 1):
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.probe_count, int) or self.probe_count < 0:
            raise InputError(f"probe_count must be 0 or more, got {self.probe_count!r}")
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 2):
            raise InputError(f"max_length must be at least 2 tokens, got {self.max_length!r}")
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def shard_of(index: int, shard_size: int) -> int:
    return PROBE_SHARD if index < 0 else index // shard_size


@dataclass
class _Encoded:
    inputs: dict[str, torch.Tensor]
    special: torch.Tensor
    lengths: np.ndarray


class BatchRunner:
    """One loaded model that measures batches of texts.

    Args:
        model: a model directory, hub name or loaded Hugging Face ``nn.Module``.
        tokenizer: its tokenizer (or a directory); by default the one saved with the model.
        device: ``"cuda"``, ``"cpu"``, ...; None picks the best one.
        config: see :class:`StatsConfig`.
        dtype: load weights in this dtype.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | nn.Module,
        *,
        tokenizer: Any = None,
        device: str | torch.device | None = None,
        config: StatsConfig | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        from ..backends.huggingface import HuggingFaceBackend, is_huggingface

        if isinstance(model, nn.Module) and not is_huggingface(model):
            raise InputError(f"head statistics need a Hugging Face model, not {type(model).__name__}")
        backend = HuggingFaceBackend(model, tokenizer=tokenizer, device=device, dtype=dtype)
        facts = backend.facts()
        if facts.is_encoder_decoder:
            raise InputError(
                f"head statistics support encoder-only and decoder-only models, not encoder-decoder {facts.model_type}"
            )
        self.config = (config or StatsConfig()).check()
        self.model, self.tokenizer, self.device = backend.model.eval(), backend.tokenizer, backend.device
        self.causal = facts.is_causal
        self.name = facts.name or type(self.model).__name__
        limit = facts.max_positions
        if self.config.max_length is not None:
            limit = self.config.max_length if limit is None else min(limit, self.config.max_length)
        self.limit = limit
        self.pad_id = int(getattr(self.tokenizer, "pad_token_id", None) or 0)
        self._class_ids = (
            _ids(self.tokenizer, "cls_token_id", "bos_token_id").to(self.device),
            _ids(self.tokenizer, "sep_token_id", "eos_token_id").to(self.device),
        )
        self._punctuation = _punctuation_table(self.tokenizer).to(self.device)
        self._vocabulary: np.ndarray | None = None
        probe = self._encode(["a b"])
        with torch.inference_mode(), eager_attention(self.model):
            self.sites: list[CaptureSite] | None = find_capture_sites(self.model, probe.inputs)
        self._token_types = "token_type_ids" in probe.inputs
        self.layers, self.heads = self._shape(probe)

    # -- public ------------------------------------------------------------------------

    def empty(self) -> Partial:
        return Partial.empty(len(METRICS), self.layers, self.heads, self.config.top_k)

    def __call__(self, index: Sequence[int], texts: Sequence[str]) -> dict[int, Partial]:
        """Measure corpus items ``index`` (negative: probes) with ``texts``; partial sums by shard."""
        partials: dict[int, Partial] = {}
        index = [int(i) for i in index]

        def partial(shard: int) -> Partial:
            if shard not in partials:
                partials[shard] = self.empty()
            return partials[shard]

        probes = [i for i in index if i < 0]
        real: list[tuple[int, str]] = []
        for i, text in zip(index, texts):
            if i < 0:
                continue
            if text.strip():
                real.append((i, text))
            else:
                counters = partial(shard_of(i, self.config.shard_size)).counters
                counters["items"] += 1
                counters["empty"] += 1
        size = self.config.batch_size
        for start in range(0, len(real), size):
            chunk = real[start : start + size]
            values, lengths, truncated = self.measure_texts([text for _, text in chunk])
            shards = np.array([shard_of(i, self.config.shard_size) for i, _ in chunk])
            for shard in np.unique(shards).tolist():
                rows = np.flatnonzero(shards == shard)
                target = partial(shard)
                target.add_values(
                    values[rows], np.array([chunk[r][0] for r in rows]), [chunk[r][1] for r in rows], _CORPUS_SLOTS
                )
                target.counters["items"] += len(rows)
                target.counters["texts"] += len(rows)
                target.counters["tokens"] += int(lengths[rows].sum())
                target.counters["truncated"] += int(truncated[rows].sum())
        for start in range(0, len(probes), size):
            numbers = probes[start : start + size]
            values = self.measure_probes([-(i + 1) for i in numbers])
            target = partial(PROBE_SHARD)
            target.add_values(values, np.array(numbers), None, _PROBE_SLOTS)
            target.counters["items"] += len(numbers)
            target.counters["probes"] += len(numbers)
        return partials

    def measure_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-text values ``(texts, len(CORPUS_METRICS), layers, heads)``, token counts and truncation flags."""
        encoded = self._encode(texts)
        truncated = self._truncated(texts, encoded.lengths)
        ids = encoded.inputs["input_ids"]
        mask = encoded.inputs["attention_mask"].bool()
        classes = torch.stack(
            [
                torch.zeros_like(mask).index_fill_(1, torch.tensor([0], device=ids.device), True),
                torch.isin(ids, self._class_ids[0]),
                torch.isin(ids, self._class_ids[1]),
                self._punctuation[ids.clamp(0, len(self._punctuation) - 1)] & ~encoded.special,
            ],
            dim=-1,
        ) & mask[..., None]
        masks = BatchMasks.build(
            mask, encoded.special, classes, causal=self.causal, skip_special_queries=self.config.skip_special_queries
        )
        seq = ids.shape[1]
        positions = torch.arange(seq, device=ids.device, dtype=torch.float32)
        distances = (positions[:, None] - positions[None, :]).abs()
        values = self._forward(encoded.inputs, lambda weights: text_metrics(weights, masks, distances))
        return values, encoded.lengths, truncated

    def measure_probes(self, numbers: Sequence[int]) -> np.ndarray:
        """Probe scores ``(probes, len(PROBE_METRICS), layers, heads)`` for probe numbers ``p >= 0``."""
        ids = torch.tensor([self.probe_ids(p) for p in numbers], device=self.device)
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        if self._token_types:
            inputs["token_type_ids"] = torch.zeros_like(ids)
        patterns = probe_patterns(ids)
        key = torch.ones_like(ids, dtype=torch.bool)
        return self._forward(inputs, lambda weights: probe_scores(weights, patterns, key))

    def probe_ids(self, number: int) -> list[int]:
        """Probe ``number``: the model's special tokens around ``probe_length`` random tokens, repeated."""
        rng = np.random.default_rng(self.config.seed + number)
        if self._vocabulary is None:
            special = set(getattr(self.tokenizer, "all_special_ids", []) or [])
            self._vocabulary = np.array([i for i in range(len(self.tokenizer)) if i not in special])
        tokens = rng.choice(self._vocabulary, size=self.config.probe_length).tolist()
        prefix, suffix = self._special_frame()
        return [*prefix, *tokens, *tokens, *suffix]

    # -- internals ---------------------------------------------------------------------

    def _special_frame(self) -> tuple[list[int], list[int]]:
        encoded = self.tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True)
        ids, special = encoded["input_ids"], encoded["special_tokens_mask"]
        content = [i for i, flag in enumerate(special) if not flag]
        if not content:
            return [], []
        return ids[: content[0]], ids[content[-1] + 1 :]

    def _encode(self, texts: Sequence[str]) -> _Encoded:
        encoded = self.tokenizer(
            list(texts),
            add_special_tokens=True,
            truncation=self.limit is not None,
            max_length=self.limit,
            return_special_tokens_mask=True,
        )
        lengths = np.array([len(ids) for ids in encoded["input_ids"]], dtype=np.int64)
        seq = max(int(lengths.max()), 1)
        fills = {"input_ids": self.pad_id, "attention_mask": 0, "token_type_ids": 0, "special_tokens_mask": 1}
        tensors = {}
        for name, fill in fills.items():
            if name in encoded:
                rows = [list(row) + [fill] * (seq - len(row)) for row in encoded[name]]
                tensors[name] = torch.tensor(rows, dtype=torch.long, device=self.device)
        special = tensors.pop("special_tokens_mask").bool()
        return _Encoded(inputs=tensors, special=special, lengths=lengths)

    def _truncated(self, texts: Sequence[str], lengths: np.ndarray) -> np.ndarray:
        flags = np.zeros(len(texts), dtype=bool)
        if self.limit is None:
            return flags
        for row in np.flatnonzero(lengths >= self.limit).tolist():
            full = self.tokenizer(texts[row], add_special_tokens=True, truncation=False)["input_ids"]
            flags[row] = len(full) > self.limit
        return flags

    def _forward(self, inputs: Mapping[str, torch.Tensor], reduce: Any) -> np.ndarray:
        """Run the model; ``reduce`` maps each layer's weights to ``(batch, heads, metrics)``.

        Returns float64 ``(batch, metrics, layers, heads)``.
        """
        per_layer: dict[int, torch.Tensor] = {}
        with torch.inference_mode(), eager_attention(self.model), self._hooks(per_layer, reduce):
            outputs = self.model(**inputs, output_attentions=True)
        if self.sites is None:  # weights could not be traced to modules: reduce what the model returned
            for layer, weights in enumerate(outputs.attentions):
                per_layer[layer] = reduce(weights)
        del outputs
        stacked = torch.stack([per_layer[layer] for layer in sorted(per_layer)], dim=1)  # (batch, layers, heads, m)
        return stacked.permute(0, 3, 1, 2).to("cpu", torch.float64).numpy()

    @contextmanager
    def _hooks(self, per_layer: dict[int, torch.Tensor], reduce: Any) -> Iterator[None]:
        if self.sites is None:
            yield
            return
        modules = dict(self.model.named_modules())
        handles = []
        for site in self.sites:
            if site.stack != "attentions":
                continue

            def hook(module: nn.Module, args: Any, output: Any, site: CaptureSite = site) -> Any:
                weights = output if site.index is None else output[site.index]
                per_layer[site.layer] = reduce(weights)
                if site.index is None or not isinstance(output, tuple):
                    return None
                return output[: site.index] + (weights.new_empty((0,)),) + output[site.index + 1 :]

            handles.append(modules[site.module_name].register_forward_hook(hook, prepend=True))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _shape(self, probe: _Encoded) -> tuple[int, int]:
        shapes: dict[int, torch.Tensor] = {}
        with torch.inference_mode(), eager_attention(self.model), self._hooks(shapes, lambda w: w[:, :, 0, :1]):
            outputs = self.model(**probe.inputs, output_attentions=True)
        if self.sites is None:
            shapes = {layer: weights for layer, weights in enumerate(outputs.attentions)}
        if not shapes:
            raise InputError(f"{type(self.model).__name__} returned no attention weights")
        return len(shapes), int(next(iter(shapes.values())).shape[1])


def _ids(tokenizer: Any, *names: str) -> torch.Tensor:
    values = {getattr(tokenizer, name, None) for name in names}
    return torch.tensor(sorted(int(v) for v in values if isinstance(v, int)), dtype=torch.long)


def _punctuation_table(tokenizer: Any) -> torch.Tensor:
    """bool ``(vocab,)``: the token is punctuation once its subword markers are removed (Unicode ``P*``)."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    flags = []
    for token in tokens:
        bare = strip_markers(token or "").removeprefix("##")
        flags.append(bool(bare) and all(unicodedata.category(char).startswith("P") for char in bare))
    return torch.tensor(flags, dtype=torch.bool)
