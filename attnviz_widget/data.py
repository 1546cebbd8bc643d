"""The data model: what one extraction produced, independent of any framework.

:class:`AttentionData` holds the attention weights of every kept layer and head as a
float32 array of shape ``(layers, heads, query, key)`` together with the tokens of both
axes, the padding mask, which model layers were kept, facts about the model and, for
classifiers, the prediction. Every other module consumes or produces it; this module
imports numpy and the other numpy-only modules of ours (the token axes in
:mod:`~attnviz_widget.token_sequence`, model facts and predictions in
:mod:`~attnviz_widget.model_info`, aggregates, pooling, the vocabulary).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from .aggregates import attention_rollout, check_rollout_layers, head_max, head_mean
from .errors import InputError
from .model_info import ModelInfo, Prediction
from .pooling import THUMBNAIL_SIZE, max_pool, pool_by
from .token_sequence import TokenSequence
from .vocabulary import AGGREGATES

AttentionKind = Literal["self", "encoder", "decoder", "cross"]
ATTENTION_KINDS: tuple[str, ...] = ("self", "encoder", "decoder", "cross")

__all__ = ["ATTENTION_KINDS", "AttentionData", "ModelInfo", "Prediction", "TokenSequence", "describe_range"]


@dataclass(frozen=True, eq=False)
class AttentionData:
    """Attention weights of one attention stack for one text.

    Attributes:
        attentions: float32 ``(layers, heads, query, key)``; row ``[l, h, q]`` is how
            query token ``q`` distributes its attention over the keys in head ``h`` of
            kept layer ``l``. Padded keys carry 0. Long inputs hold a
            :class:`~attnviz_widget.lazy.attentions.LazyAttentions` instead (``is_lazy``):
            the same shape, computed on demand by the reading API (:meth:`matrix`,
            :meth:`rows`, :meth:`columns`, :meth:`tile`, :meth:`thumbnails`).
        queries: the tokens along the query axis.
        keys: the tokens along the key axis; the same object as ``queries`` except for
            cross-attention, where queries are decoder tokens and keys encoder tokens.
        text: the input text.
        layer_indices: the model layer each entry of the first axis came from.
        kind: ``"self"`` (encoder-only or decoder-only models), ``"encoder"``,
            ``"decoder"`` or ``"cross"`` (the stacks of an encoder-decoder model).
        causal: True when queries cannot attend to later keys (decoders).
        model: facts about the model, if known.
        prediction: a classifier's prediction, if the model is one.
        parts: for an encoder-decoder model, the other stacks by kind
            (``{"decoder": ..., "cross": ...}``); this object is the encoder.
        generation: for text the model generated (:func:`attnviz_widget.generate`), the
            :class:`~attnviz_widget.generation.Generation` record (which query tokens are
            prompt and which generated, each step's probability, entropy and top-5
            alternatives), shared by every part; None for an extraction. Kept by
            :meth:`select_layers` and :meth:`without_padding`.
    """

    attentions: np.ndarray
    queries: TokenSequence
    keys: TokenSequence = field(default=None)  # type: ignore[assignment]
    text: str = ""
    layer_indices: tuple[int, ...] = ()
    kind: str = "self"
    causal: bool = False
    model: ModelInfo | None = None
    prediction: Prediction | None = None
    parts: Mapping[str, AttentionData] = field(default_factory=dict)
    generation: Any = None
    _rollout: list[np.ndarray] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        lazy = _is_lazy(self.attentions)
        attentions = self.attentions if lazy else np.asarray(self.attentions, dtype=np.float32)
        if attentions.ndim != 4:
            raise InputError(
                f"attentions must have shape (layers, heads, query, key), got {attentions.ndim} dimensions"
            )
        if attentions.shape[0] == 0 or attentions.shape[1] == 0:
            raise InputError(f"attentions has no layers or no heads: shape {attentions.shape}")
        keys = self.queries if self.keys is None else self.keys
        if attentions.shape[2] != len(self.queries) or attentions.shape[3] != len(keys):
            raise InputError(
                f"attentions of shape {attentions.shape} do not match {len(self.queries)} query "
                f"and {len(keys)} key tokens"
            )
        layer_indices = tuple(int(i) for i in self.layer_indices) or tuple(range(attentions.shape[0]))
        if len(layer_indices) != attentions.shape[0]:
            raise InputError(
                f"layer_indices names {len(layer_indices)} layers but attentions holds {attentions.shape[0]}"
            )
        if self.kind not in ATTENTION_KINDS:
            raise InputError(f"kind must be one of {', '.join(ATTENTION_KINDS)}, got {self.kind!r}")
        if not lazy:
            attentions = attentions.view()  # read-only through this object, the caller's array untouched
            attentions.setflags(write=False)
        object.__setattr__(self, "attentions", attentions)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "layer_indices", layer_indices)
        object.__setattr__(self, "parts", dict(self.parts))

    # -- construction -------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        tokens: Sequence[str],
        attentions: np.ndarray | Sequence[Any],
        *,
        text: str = "",
        mask: Iterable[bool] | np.ndarray | None = None,
        **fields: Any,
    ) -> AttentionData:
        """Self-attention data from a token list and a ``(layers, heads, seq, seq)`` array."""
        queries = TokenSequence(tuple(tokens), mask=None if mask is None else np.asarray(list(mask)))  # type: ignore[arg-type]
        return cls(attentions=np.asarray(attentions, dtype=np.float32), queries=queries, text=text, **fields)

    # -- shape --------------------------------------------------------------------

    @property
    def tokens(self) -> tuple[str, ...]:
        """The query tokens (all tokens, for self-attention)."""
        return self.queries.tokens

    @property
    def num_layers(self) -> int:
        return int(self.attentions.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.attentions.shape[1])

    @property
    def is_lazy(self) -> bool:
        """True when the weights are computed on demand (long inputs) rather than stored."""
        return _is_lazy(self.attentions)

    @property
    def is_self_attention(self) -> bool:
        return self.keys is self.queries

    @property
    def sections(self) -> dict[str, AttentionData]:
        """Every stack by kind: ``{"self": data}``, or encoder, decoder and cross."""
        return {self.kind: self, **self.parts}

    def part(self, kind: str) -> AttentionData:
        """The stack named ``kind`` (``"encoder"``, ``"decoder"``, ``"cross"``, ``"self"``)."""
        sections = self.sections
        if kind not in sections:
            raise InputError(f"no {kind!r} attention here; available: {', '.join(sections)}")
        return sections[kind]

    def position_of_layer(self, layer: int) -> int:
        """Where model layer ``layer`` sits along the first axis of ``attentions``."""
        try:
            return self.layer_indices.index(int(layer))
        except ValueError:
            raise InputError(f"layer {layer} is not available; {describe_range(self.layer_indices)}") from None

    def head(self, layer: int, head: int) -> np.ndarray:
        """Attention of one head of model layer ``layer``: float32 ``(query, key)``."""
        position = self.position_of_layer(layer)
        return self.attentions[position, self._head_index(head)]

    def _head_index(self, head: int) -> int:
        if isinstance(head, (bool, str)) or not 0 <= int(head) < self.num_heads:
            raise InputError(f"head {head!r} is out of range; valid heads are 0 to {self.num_heads - 1}")
        return int(head)

    # -- reading: the same API on dense and lazily computed data ---------------------

    def matrix(self, layer: int, head: int | str) -> np.ndarray:
        """The focused matrix of model layer ``layer``: float32 ``(query, key)``.

        ``head`` is a head index or an aggregate of :data:`~attnviz_widget.vocabulary.AGGREGATES`:
        ``"mean"`` or ``"max"`` over the layer's heads, or ``"rollout"`` through this layer
        (which needs every layer from the first; see
        :func:`~attnviz_widget.aggregates.rollout_problem`). The one definition of what a
        view focused on (layer, head) shows, for plots, files and the widget alike.
        """
        position = self.position_of_layer(layer)
        if isinstance(head, str):
            if head not in AGGREGATES:
                raise InputError(f"unknown aggregate {head!r}; choose from {', '.join(AGGREGATES)}")
            if head == "rollout":
                return self.rollout()[position]
            if self.is_lazy:  # one head at a time: two matrices in memory, never the layer
                return self._lazy_read(layer, head, lambda attentions, p, h: attentions.matrix(p, h))
            if head == "mean":
                return head_mean(self.attentions[position : position + 1])[0]
            return head_max(self.attentions[position : position + 1])[0]
        return self.attentions[position, self._head_index(head)]

    def rollout(self) -> np.ndarray:
        """Attention rollout through each kept layer, float32 ``(layers, query, key)``, computed once."""
        if not self._rollout:
            check_rollout_layers(self)
            self._rollout.append(attention_rollout(self.attentions))
        return self._rollout[0]

    def rows(self, layer: int, head: int | str, queries: Sequence[int] | slice) -> np.ndarray:
        """The rows of ``queries`` (indices or a slice): float32 ``(len(queries), key)``."""
        selection = _indices(queries, len(self.queries), "query")
        if self._reads_lazily(head):
            return self._lazy_read(layer, head, lambda attentions, p, h: attentions.rows(p, h, selection))
        return self.matrix(layer, head)[selection]

    def columns(self, layer: int, head: int | str, keys: Sequence[int] | slice) -> np.ndarray:
        """The columns of ``keys`` (indices or a slice): float32 ``(query, len(keys))``."""
        selection = _indices(keys, len(self.keys), "key")
        if self._reads_lazily(head):
            return self._lazy_read(layer, head, lambda attentions, p, h: attentions.columns(p, h, selection))
        return self.matrix(layer, head)[:, selection]

    def tile(
        self, layer: int, head: int | str, q0: int, q1: int, k0: int, k1: int, pool: int = 1
    ) -> np.ndarray:
        """The block ``[q0:q1, k0:k1]``, max-pooled in ``pool`` × ``pool`` blocks.

        float32 ``(ceil((q1 - q0) / pool), ceil((k1 - k0) / pool))``.
        """
        check_tile(q0, q1, k0, k1, pool, len(self.queries), len(self.keys))
        if isinstance(head, str) or not self.is_lazy:  # aggregates pool the reduced block
            if self._reads_lazily(head):
                block = self._lazy_read(layer, head, lambda attentions, p, h: attentions.tile(p, h, q0, q1, k0, k1))
            else:
                block = np.ascontiguousarray(self.matrix(layer, head)[q0:q1, k0:k1])
            return pool_by(block, pool)
        return self.attentions.tile(self.position_of_layer(layer), self._head_index(head), q0, q1, k0, k1, pool)

    def _reads_lazily(self, head: int | str) -> bool:
        """Whether a read of ``head`` goes to the lazy stack (a head, mean or max of lazy data)."""
        return self.is_lazy and head != "rollout"

    def _lazy_read(self, layer: int, head: int | str, read: Callable[[Any, int, int], np.ndarray]) -> np.ndarray:
        """``read(attentions, position, head)`` for one head, or reduced over the heads one at a
        time for ``"mean"``/``"max"`` (memory: two blocks of the read's size, never a layer)."""
        position = self.position_of_layer(layer)
        if not isinstance(head, str):
            return read(self.attentions, position, self._head_index(head))
        if head not in AGGREGATES:
            raise InputError(f"unknown aggregate {head!r}; choose from {', '.join(AGGREGATES)}")
        return _over_heads(head, (read(self.attentions, position, h) for h in range(self.num_heads)))

    def thumbnails(self, size: int = THUMBNAIL_SIZE) -> np.ndarray:
        """Every kept layer × head, block max-pooled: float32 ``(layers, heads, s, s)``,
        ``s = min(size, length)`` on each axis (blocks from :func:`~attnviz_widget.pooling.block_edges`)."""
        if self.is_lazy:
            return self.attentions.thumbnails(size)
        return max_pool(self.attentions, size)

    # -- transformations ------------------------------------------------------------

    def without_padding(self) -> AttentionData:
        """The same data with padded query and key tokens removed (by the masks)."""
        query_keep, key_keep = self.queries.mask, self.keys.mask
        parts = {name: part.without_padding() for name, part in self.parts.items()}
        if query_keep.all() and key_keep.all() and all(parts[name] is part for name, part in self.parts.items()):
            return self
        attentions = self.attentions[:, :, query_keep][:, :, :, key_keep]
        queries = self.queries.select(query_keep)
        keys = queries if self.is_self_attention else self.keys.select(key_keep)
        return replace(self, attentions=attentions, queries=queries, keys=keys, parts=parts)

    def select_layers(self, layers: Sequence[int]) -> AttentionData:
        """Only the given model layers, in the given order (in every part too)."""
        positions = [self.position_of_layer(layer) for layer in layers]
        return replace(
            self,
            attentions=self.attentions[positions],
            layer_indices=tuple(self.layer_indices[p] for p in positions),
            parts={name: part.select_layers(layers) for name, part in self.parts.items()},
        )


def _is_lazy(attentions: Any) -> bool:
    """Whether ``attentions`` is computed on demand (it has the lazy reading API) rather than an array."""
    if isinstance(attentions, np.ndarray):
        return False
    return hasattr(attentions, "thumbnails") and hasattr(attentions, "select")


def _over_heads(name: str, matrices: Iterable[np.ndarray]) -> np.ndarray:
    """The mean or max of ``(query, key)`` matrices, accumulated one at a time."""
    total: np.ndarray | None = None
    count = 0
    for matrix in matrices:
        count += 1
        if total is None:
            total = np.array(matrix, dtype=np.float32)
        elif name == "mean":
            total += matrix
        else:
            np.maximum(total, matrix, out=total)
    assert total is not None
    return total / np.float32(count) if name == "mean" else total


def _indices(selection: Sequence[int] | slice, length: int, axis: str) -> np.ndarray | slice:
    """``selection`` checked against ``range(length)``: a slice as it is, indices as an array."""
    if isinstance(selection, slice):
        return selection
    indices = np.asarray(selection, dtype=np.intp).reshape(-1)
    bad = indices[(indices < 0) | (indices >= length)]
    if bad.size:
        raise InputError(f"{axis} {int(bad[0])} is out of range; valid {axis} indices are 0 to {length - 1}")
    return indices


def check_tile(q0: int, q1: int, k0: int, k1: int, pool: int, queries: int, keys: int) -> None:
    """Raise a one-line :class:`InputError` unless ``[q0:q1, k0:k1]`` is a non-empty block inside
    ``(queries, keys)`` and ``pool`` is a positive integer."""
    if not (0 <= q0 < q1 <= queries and 0 <= k0 < k1 <= keys):
        raise InputError(
            f"tile [{q0}:{q1}, {k0}:{k1}] is outside the matrix; queries run 0 to {queries}, keys 0 to {keys}"
        )
    if isinstance(pool, bool) or int(pool) != pool or pool < 1:
        raise InputError(f"pool must be a positive integer, got {pool!r}")


def describe_range(indices: Sequence[int]) -> str:
    """``"valid layers are 0 to 11"`` for a contiguous range, else the list."""
    values = list(indices)
    if values and values == list(range(values[0], values[0] + len(values))):
        return f"valid layers are {values[0]} to {values[-1]}"
    return "valid layers are " + ", ".join(str(v) for v in values)
