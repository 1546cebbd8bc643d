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
Pure numpy apart from the lazy branch, which imports torch only when given a record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
    """

    heads: np.ndarray
    mean: np.ndarray | None
    num_queries: int
    num_keys: int


def layer_thumbnails(what: Any, size: int = THUMBNAIL_SIZE) -> LayerThumbnails:
    """Thumbnails of one layer from float32 ``(heads, query, key)`` weights or a lazy ``LayerRecord``."""
    if isinstance(what, np.ndarray):
        if what.ndim != 3:
            raise ValueError(f"layer weights must be (heads, query, key), got shape {what.shape}")
        mean = max_pool(what.mean(axis=0, dtype=np.float32), size)
        return LayerThumbnails(max_pool(what, size), mean, int(what.shape[1]), int(what.shape[2]))
    from .lazy.stack import LazyStack  # torch: only on the lazy path

    stack = LazyStack({0: what})
    return LayerThumbnails(stack.layer_thumbnails(0, size), None, stack.num_queries, stack.num_keys)


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
    known = {"max": cells.heads.max(axis=0), "mean": cells.mean}
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
        cells = layer_thumbnails(what, self.size)
        with self._lock:
            self._cells.setdefault(section, {})[int(layer)] = cells
        if self._send is not None:
            message, buffer = self.message(int(layer), cells)
            self._send(message, [buffer])
            self.sent.append(int(layer))

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
        return Precomputed(heads=heads, means=means, size=self.size)


@dataclass(frozen=True)
class Precomputed:
    """Thumbnails computed while the forward ran, handed to :func:`attnviz_widget.wire.build_overview`.

    Attributes:
        heads: float32 ``(layers, heads, tq, tk)``.
        means: float32 ``(layers, tq, tk)`` pooled means over heads, or None.
        size: the thumbnail size they were pooled to.
    """

    heads: np.ndarray
    means: np.ndarray | None
    size: int


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
