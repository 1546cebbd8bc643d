"""Progressive paint: each layer's overview thumbnails, sent while the forward pass still runs.

The extraction calls back once per kept layer as soon as that layer has run (``on_layer`` of
:meth:`AttentionExtractor.extract <attnviz_widget.extractor.AttentionExtractor.extract>`), with
the layer's float32 ``(heads, query, key)`` weights (dense path) or its
:class:`~attnviz_widget.lazy.records.LayerRecord` (lazy path). :class:`ProgressiveOverview` turns
each into thumbnails, sends them to the browser as one ``overview_layer`` custom message and keeps
them, so the final overview reuses them instead of pooling every layer again. The message
(``js/PROTOCOL.md``, "Progressive overview")::

    {"type": "overview_layer", "extraction": int, "section": str, "layer": int,
     "layer_indices": [int, ...], "num_heads": int, "num_queries": int, "num_keys": int,
     "shape": [heads + 3, tq, tk], "scale": [float, ...] (heads + 3), "missing": [str, ...]}

with one buffer: uint8 ``(heads + 3, tq, tk)`` in C order, the same encoding as one layer row of
the ``overview`` trait (value = ``pixel / 255 * scale``; columns: heads, then mean, max, rollout).
``missing`` names the aggregate columns this message does not carry (all zero): rollout always
(it needs every layer), the mean on the lazy path (it needs another pass over every weight).
Pure numpy apart from the lazy branch, which imports torch only when given a record, and the rollout's
matrix product, which runs on torch's threads where torch is already loaded (:func:`matmul`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .aggregates import matmul
from .pooling import THUMBNAIL_SIZE, max_pool
from .vocabulary import AGGREGATES

#: The widget's section name of each captured stack (``backends.base`` field names).
SECTION_OF_STACK = {
    "attentions": "self", "encoder_attentions": "encoder",
    "decoder_attentions": "decoder", "cross_attentions": "cross",
}

Send = Callable[[dict[str, Any], list[bytes]], None]


@dataclass(frozen=True)
class LayerThumbnails:
    """One layer's overview cells.

    Attributes:
        heads: float32 ``(heads, tq, tk)`` block max-pools of each head.
        mean: float32 ``(tq, tk)`` block max-pool of the mean over heads, or None where it was not
            computed (the lazy path).
        num_queries, num_keys: the layer's matrix size.
        rollout: float32 ``(query, key)`` rollout through this layer, where it was computed as the
            layers came (dense self-attention, every layer from 0 in order), else None.
    """

    heads: np.ndarray
    mean: np.ndarray | None
    num_queries: int
    num_keys: int
    rollout: np.ndarray | None = None


def layer_thumbnails(what: Any, size: int = THUMBNAIL_SIZE, mean: np.ndarray | None = None) -> LayerThumbnails:
    """Thumbnails of one layer from float32 ``(heads, query, key)`` weights or a lazy ``LayerRecord``
    (``mean``: the weights' float32 ``(query, key)`` mean over heads, if already computed)."""
    if isinstance(what, np.ndarray):
        if what.ndim != 3:
            raise ValueError(f"layer weights must be (heads, query, key), got shape {what.shape}")
        mean = what.mean(axis=0, dtype=np.float32) if mean is None else mean
        return LayerThumbnails(max_pool(what, size), max_pool(mean, size), int(what.shape[1]), int(what.shape[2]))
    from .lazy.stack import LazyStack  # torch: only on the lazy path

    stack = LazyStack({0: what})
    return LayerThumbnails(stack.layer_thumbnails(0, size), None, stack.num_queries, stack.num_keys)


def rollout_step(mean: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """Rollout through one more layer from its float32 ``(seq, seq)`` mean over heads: the
    arithmetic of :func:`attnviz_widget.aggregates.attention_rollout`, one layer at a time
    (the product by :func:`matmul`: equal to numpy's within float32 rounding)."""
    mixed = mean + np.eye(mean.shape[0], dtype=np.float32)
    mixed /= mixed.sum(axis=-1, keepdims=True)
    return mixed if previous is None else matmul(mixed, previous)


def quantise(pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 pixels and float32 scales of ``(..., tq, tk)`` thumbnails: value = pixel / 255 * scale."""
    scale = pooled.max(axis=(-2, -1)).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0)[..., None, None]
    pixels = np.rint(np.clip(pooled / safe, 0.0, 1.0) * 255).astype(np.uint8)
    return pixels, scale


def layer_columns(cells: LayerThumbnails) -> tuple[np.ndarray, list[str]]:
    """float32 ``(heads + 3, tq, tk)``: the heads, then the aggregates in overview order, and the
    names of the aggregate columns left zero (not known from this layer alone)."""
    zero = np.zeros(cells.heads.shape[1:], dtype=np.float32)
    rollout = None if cells.rollout is None else max_pool(cells.rollout, zero.shape[0])
    known = {"max": cells.heads.max(axis=0), "mean": cells.mean, "rollout": rollout}
    columns = [cells.heads] + [(known.get(name) if known.get(name) is not None else zero)[None] for name in AGGREGATES]
    missing = [name for name in AGGREGATES if known.get(name) is None]
    return np.concatenate(columns, axis=0), missing


class ProgressiveOverview:
    """The ``on_layer`` callback of one extraction: thumbnails kept per stack and sent per layer.

    Args:
        send: sends one message and its buffers to the browser (the widget's ``send``); None to
            only collect.
        extraction: the number the widget gave this extraction (newer ones are larger).
        section: the section the widget will show; only its layers are sent.
        layer_indices: the model layers kept, ascending (where the layer rows go).
        is_current: False once a newer text superseded this extraction: nothing more is sent.
        size: thumbnail cells a side.
    """

    def __init__(
        self, send: Send | None, *, extraction: int, section: str, layer_indices: Sequence[int],
        is_current: Callable[[], bool] = lambda: True, size: int = THUMBNAIL_SIZE,
    ) -> None:
        self._send = send
        self.extraction = extraction
        self.section = section
        self.layer_indices = [int(layer) for layer in layer_indices]
        self._is_current = is_current
        self.size = size
        self._cells: dict[str, dict[int, LayerThumbnails]] = {}
        self._lock = threading.Lock()
        self.sent: list[int] = []
        """Model layers sent so far, in order."""

    def __call__(self, stack: str, layer: int, what: Any) -> None:
        section = SECTION_OF_STACK.get(stack, stack)
        if section != self.section or not self._is_current():
            return  # other stacks are pooled when their section is shown
        cells = self._thumbnails(section, int(layer), what)
        with self._lock:
            self._cells.setdefault(section, {})[int(layer)] = cells
        if self._send is not None:
            message, buffer = self.message(int(layer), cells)
            self._send(message, [buffer])
            self.sent.append(int(layer))

    def _thumbnails(self, section: str, layer: int, what: Any) -> LayerThumbnails:
        """The layer's cells, and the rollout through it while the layers come in order from 0."""
        square = isinstance(what, np.ndarray) and what.ndim == 3 and what.shape[1] == what.shape[2]
        if not square or section == "cross":
            return layer_thumbnails(what, self.size)
        mean = what.mean(axis=0, dtype=np.float32)
        cells = layer_thumbnails(what, self.size, mean)
        with self._lock:
            before = self._cells.get(section, {})
            previous = before.get(layer - 1)
            in_order = layer == 0 and not before or previous is not None and previous.rollout is not None
        if not in_order:
            return cells
        rollout = rollout_step(mean, None if layer == 0 else previous.rollout)  # type: ignore[union-attr]
        return LayerThumbnails(cells.heads, cells.mean, cells.num_queries, cells.num_keys, rollout)

    def message(self, layer: int, cells: LayerThumbnails) -> tuple[dict[str, Any], bytes]:
        """The ``overview_layer`` message of one layer and its uint8 buffer."""
        columns, missing = layer_columns(cells)
        pixels, scale = quantise(columns)
        message = {
            "type": "overview_layer", "extraction": self.extraction, "section": self.section,
            "layer": layer, "layer_indices": self.layer_indices, "num_heads": int(cells.heads.shape[0]),
            "num_queries": cells.num_queries, "num_keys": cells.num_keys,
            "shape": [int(n) for n in pixels.shape], "scale": [float(s) for s in scale], "missing": missing,
        }
        return message, pixels.tobytes()

    def collected(self, section: str, layer_indices: Sequence[int], queries: int, keys: int) -> Precomputed | None:
        """The thumbnails of every layer of ``section``, in ``layer_indices`` order, if all were
        collected for a ``(queries, keys)`` matrix (else None: the overview pools them itself)."""
        with self._lock:
            cells = self._cells.get(section, {})
            found = [cells.get(int(layer)) for layer in layer_indices]
        if not found or any(c is None or (c.num_queries, c.num_keys) != (queries, keys) for c in found):
            return None
        heads = np.stack([c.heads for c in found])  # type: ignore[union-attr]
        means = None if any(c.mean is None for c in found) else np.stack([c.mean for c in found])  # type: ignore[union-attr]
        in_order = list(layer_indices) == list(range(len(found)))
        rollouts = [c.rollout for c in found]  # type: ignore[union-attr]
        rollout = np.stack(rollouts) if in_order and all(r is not None for r in rollouts) else None
        return Precomputed(heads=heads, means=means, size=self.size, rollout=rollout)


@dataclass(frozen=True)
class Precomputed:
    """Thumbnails computed while the forward ran, handed to :func:`attnviz_widget.wire.build_overview`.

    Attributes:
        heads: float32 ``(layers, heads, tq, tk)``.
        means: float32 ``(layers, tq, tk)`` pooled means over heads, or None.
        size: the thumbnail size they were pooled to.
        rollout: float32 ``(layers, query, key)`` rollout through each layer, or None.
    """

    heads: np.ndarray
    means: np.ndarray | None
    size: int
    rollout: np.ndarray | None = None


def landing_section(facts: Any, shown: str) -> str:
    """The section an extraction's data will be shown in: ``shown`` where the model has it (an
    encoder-decoder's stacks), else its first stack (``facts``: the backend's ``ModelFacts``)."""
    if facts.is_encoder_decoder:
        return shown if shown in ("encoder", "decoder", "cross") else "encoder"
    return "self"


def kept_layers(facts: Any, layers: Any, section: str) -> list[int]:
    """The model layers of ``section`` an extraction with ``layers=`` keeps, ascending."""
    from .inputs import normalise_layers

    wanted = normalise_layers(layers)
    if wanted is not None:
        return sorted(set(wanted))
    stack = {section: stack for stack, section in SECTION_OF_STACK.items()}.get(section, section)
    return list(range(int(facts.layers.get(stack, 0))))
