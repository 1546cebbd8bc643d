"""The backend protocol: how a model turns a text into captured attention layers.

A backend does three things for :class:`~attnviz_widget.extractor.AttentionExtractor`:

* ``facts()`` — what the model is (:class:`ModelFacts`);
* ``encode(text, ...)`` — tokenize a text for the model (:class:`EncodedText`);
* ``forward(encoded, layers)`` — run the model once and return the captured layers
  (:class:`Captured`), float32 ``(layers, heads, query, key)`` per attention stack.

:func:`~attnviz_widget.backends.assemble.assemble` then builds
:class:`~attnviz_widget.data.AttentionData` from the three. The built-in backends are
:class:`~attnviz_widget.backends.huggingface.HuggingFaceBackend` and
:class:`~attnviz_widget.backends.torch_module.TorchModuleBackend`; a new architecture
needs only a class with these three methods and a ``device`` (see the README).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: The stack names of :attr:`Captured.stacks`, as Hugging Face names its output fields.
SELF, ENCODER, DECODER, CROSS = "attentions", "encoder_attentions", "decoder_attentions", "cross_attentions"


#: ``on_layer(stack, layer, what)``: a kept layer has run. ``what`` is its float32 ``(heads, query,
#: key)`` weights (dense backends) or its :class:`~attnviz_widget.lazy.records.LayerRecord` (lazy);
#: :mod:`attnviz_widget.progressive` turns either into thumbnails. Optional: backends whose
#: ``forward`` takes an ``on_layer`` keyword call it; the protocol below does not require it.
LayerCallback = Callable[[str, int, Any], None]


@dataclass
class EncodedText:
    """A tokenized text, ready for the model.

    Attributes:
        inputs: model keyword arguments (tensors of shape ``(1, seq)`` on the backend's device).
        tokens: the tokens of the input, as the tokenizer spells them.
        special: bool ``(seq,)``, True for special tokens and padding.
        mask: bool ``(seq,)``, True for real tokens.
        display: the readable form of each token (defaults to ``tokens``).
        decoder_tokens, decoder_special, decoder_display: the same for an encoder-decoder's decoder.
    """

    inputs: dict[str, Any]
    tokens: list[str]
    special: np.ndarray
    mask: np.ndarray
    display: list[str] = field(default_factory=list)
    decoder_tokens: list[str] | None = None
    decoder_special: np.ndarray | None = None
    decoder_display: list[str] | None = None


@dataclass
class Captured:
    """What one forward pass produced.

    Attributes:
        stacks: ``{stack: (float32 (layers, heads, query, key), model layer indices)}``, stack
            being one of :data:`SELF`, :data:`ENCODER`, :data:`DECODER`, :data:`CROSS`; the
            array is a numpy array, or a :class:`~attnviz_widget.lazy.attentions.LazyAttentions`
            computed on demand (the lazy backend).
        logits: a classifier's float32 ``(labels,)`` logits for the text, else None (a language
            model's ``(seq, vocab)`` logits are never copied off the device).
    """

    stacks: dict[str, tuple[Any, tuple[int, ...]]]
    logits: np.ndarray | None = None


@dataclass(frozen=True)
class ModelFacts:
    """What a backend knows about its model.

    Attributes:
        model_type: the config's ``model_type`` (``"bert"``, ``"gpt2"``, ...) or ``"pytorch"``.
        architecture: ``"encoder"``, ``"decoder"`` or ``"encoder-decoder"``.
        layers: ``{stack: number of layers}`` for every stack the model has.
        name: where the model came from (a directory or a hub name), if known.
        labels: a classifier's label names, by index; None for other models.
        max_positions: the longest input the model accepts, in tokens, if it has a limit.
        heads: query heads per layer (the most of any stack), if known: sizes the dense array
            before it is built, to choose between the dense and the lazy path.
    """

    model_type: str
    architecture: str
    layers: Mapping[str, int]
    name: str | None = None
    labels: tuple[str, ...] | None = None
    max_positions: int | None = None
    heads: int | None = None

    @property
    def is_encoder_decoder(self) -> bool:
        return self.architecture == "encoder-decoder"

    @property
    def is_causal(self) -> bool:
        """True for decoder-only models (each token sees only the ones before it)."""
        return self.architecture == "decoder"


@runtime_checkable
class Backend(Protocol):
    """A model that :class:`~attnviz_widget.extractor.AttentionExtractor` can run.

    Attributes:
        device: the torch device the model runs on.
    """

    device: Any

    def facts(self) -> ModelFacts:
        """What the model is."""

    def encode(
        self,
        text: str,
        *,
        max_length: int | None = None,
        padding: bool | str = False,
        truncation: bool = True,
        target: str | None = None,
    ) -> EncodedText:
        """``text`` tokenized for the model (``target``: an encoder-decoder's decoder text)."""

    def forward(self, encoded: EncodedText, layers: Sequence[int] | None) -> Captured:
        """One forward pass, keeping the given model layers of every stack (None: all)."""
