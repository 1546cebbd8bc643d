"""Running a transformer on a text and keeping the attention weights it really used.

:func:`extract` is the one-call API; :class:`AttentionExtractor` keeps a loaded model for
many texts (the widget and batch jobs use it). The work itself is done by a backend
(:mod:`attnviz_widget.backends`): :class:`~attnviz_widget.backends.HuggingFaceBackend` for
``transformers`` models, :class:`~attnviz_widget.backends.TorchModuleBackend` for plain
PyTorch models built on ``nn.MultiheadAttention``, or any object that follows the
:class:`~attnviz_widget.backends.Backend` protocol, passed as ``model``.

The two methods the specification (``SPECIFICATION.md``) names as extension points remain:
:meth:`AttentionExtractor._load_model` chooses the backend and
:meth:`AttentionExtractor._extract_attention` runs its forward pass.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from .backends import Backend, Captured, EncodedText, HuggingFaceBackend, ModelFacts, TorchModuleBackend, assemble
from .backends.base import CROSS, DECODER, ENCODER, SELF, LayerCallback
from .backends.huggingface import is_huggingface
from .backends.store import DEFAULT_MEMORY_BUDGET, Store, choose_store
from .data import AttentionData, describe_range
from .errors import InputError, ModelLoadError
from .inputs import DEFAULT_MODEL_DIR, check_text, normalise_layers

ModelSource = str | os.PathLike[str] | nn.Module | Backend


def accepts_keyword(function: Any, name: str) -> bool:
    """Whether ``function`` takes a keyword argument ``name`` (by name or through ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def is_backend(value: Any) -> bool:
    """Whether ``value`` already is a backend (it has ``facts``, ``encode`` and ``forward``)."""
    return not isinstance(value, (str, os.PathLike, nn.Module)) and isinstance(value, Backend)


class AttentionExtractor:
    """A loaded model that turns texts into :class:`AttentionData`.

    Args:
        model: a model directory (saved with ``save_pretrained``), a Hugging Face model
            already loaded, a plain PyTorch module built on ``nn.MultiheadAttention``
            (called as ``model(input_ids)``), or a :class:`~attnviz_widget.backends.Backend`.
        tokenizer: a tokenizer or the directory of one; loaded from the model directory
            when omitted. Plain PyTorch models need one.
        device: ``"cuda"``, ``"mps"``, ``"cpu"`` or None for the best available (for a
            loaded model, None keeps it where it is).
        trust_remote_code: allow model code from the directory to run.
        dtype: load weights in this dtype (e.g. ``torch.float16`` on a GPU).
    """

    def __init__(
        self,
        model: ModelSource = DEFAULT_MODEL_DIR,
        *,
        tokenizer: Any = None,
        device: str | torch.device | None = None,
        trust_remote_code: bool = False,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.trust_remote_code = trust_remote_code
        self.dtype = dtype
        self.backend: Backend = self._load_model(model, tokenizer, device)

    # -- extension point: loading ----------------------------------------------------

    def _load_model(self, model: ModelSource, tokenizer: Any, device: str | torch.device | None) -> Backend:
        """The backend that serves ``model``."""
        if is_backend(model):
            return model  # type: ignore[return-value]
        if isinstance(model, nn.Module) and not is_huggingface(model):
            return TorchModuleBackend(model, tokenizer=tokenizer, device=device)
        if not isinstance(model, (str, os.PathLike, nn.Module)):
            raise InputError(
                f"model must be a folder, a loaded model or a backend, got {type(model).__name__}"
            )
        return HuggingFaceBackend(
            model, tokenizer=tokenizer, device=device, trust_remote_code=self.trust_remote_code, dtype=self.dtype
        )

    # -- what the backend holds ------------------------------------------------------

    @property
    def model(self) -> Any:
        return getattr(self.backend, "model", None)

    @property
    def tokenizer(self) -> Any:
        return getattr(self.backend, "tokenizer", None)

    @property
    def device(self) -> Any:
        return self.backend.device

    def facts(self) -> ModelFacts:
        """What the model is (architecture, layers per stack, label names, input limit)."""
        return self.backend.facts()

    def max_positions(self) -> int | None:
        """The longest input the model accepts, in tokens, if it has a limit."""
        return self.facts().max_positions

    def num_layers(self, stack: str = SELF) -> int:
        """How many layers the stack has (``"attentions"`` for encoder-only/decoder-only)."""
        layers = self.facts().layers
        if stack not in layers:
            raise InputError(f"this model has no {stack!r} stack; it has {', '.join(layers)}")
        return int(layers[stack])

    # -- public API --------------------------------------------------------------------

    def extract(
        self,
        text: str,
        *,
        layers: int | Iterable[int] | None = None,
        max_length: int | None = None,
        padding: bool | str = False,
        truncation: bool = True,
        target: str | None = None,
        store: Store = "auto",
        memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
        on_layer: LayerCallback | None = None,
    ) -> AttentionData:
        """The attention weights the model used on ``text``.

        Args:
            text: the input text.
            layers: model layer indices to keep (default: all). Other layers are not stored.
            max_length: cut the input to this many tokens (never above what the model accepts).
            padding: ``"max_length"`` pads to ``max_length`` (padded keys get weight 0 and
                the mask marks them); False adds no padding.
            truncation: True cuts texts longer than the model accepts, with a
                :class:`~attnviz_widget.errors.TruncationWarning`; False refuses them with
                :class:`~attnviz_widget.errors.InputError`.
            target: for encoder-decoder models, the decoder's text (default: ``text``).
            store: ``"dense"`` keeps every weight in one array; ``"lazy"`` records queries and
                keys and computes weights when read (long inputs; models whose attention goes
                through transformers' attention registry); ``"auto"`` is dense while the array
                fits in ``memory_budget`` and lazy beyond it.
            memory_budget: the largest dense array, in bytes (default 2 GiB; None: no limit).
                A dense extraction beyond it is refused with a one-line error, never attempted.
            on_layer: called as ``on_layer(stack, layer, weights_or_record)`` while the forward
                runs, once per kept layer as it finishes (progressive display; see
                :data:`~attnviz_widget.backends.base.LayerCallback`). Backends whose ``forward``
                takes no ``on_layer`` keyword never call it.

        Returns:
            :class:`AttentionData` with float32 ``(layers, heads, query, key)`` weights (lazy:
            ``data.is_lazy``, same reading API); for encoder-decoder models the encoder's, with
            ``parts["decoder"]`` and ``parts["cross"]``.
        """
        text = check_text(text)
        wanted = normalise_layers(layers)
        encoded = self.backend.encode(
            text, max_length=max_length, padding=padding, truncation=truncation, target=target
        )
        if wanted is not None:
            self.check_layers(wanted)
        backend = choose_store(self.backend, encoded, wanted, store, memory_budget)
        captured = self._extract_attention(encoded, wanted, backend, on_layer=on_layer)
        return assemble(text, encoded, captured, self.facts())

    # -- extension point: one forward pass ---------------------------------------------

    def _extract_attention(
        self, encoded: EncodedText, layers: Sequence[int] | None, backend: Backend | None = None,
        on_layer: LayerCallback | None = None,
    ) -> Captured:
        """One forward pass keeping ``layers`` (None: all) of every stack, by ``backend``
        (the extractor's own, or the lazy one that :func:`choose_store` picked); ``on_layer`` is
        passed on only to a backend whose ``forward`` accepts it."""
        chosen = backend or self.backend
        if on_layer is not None and accepts_keyword(chosen.forward, "on_layer"):
            return chosen.forward(encoded, layers, on_layer=on_layer)  # type: ignore[call-arg]
        return chosen.forward(encoded, layers)

    def check_layers(self, layers: Sequence[int]) -> None:
        """Raise a one-line InputError for a layer index this model does not have."""
        facts = self.facts()
        stacks = [ENCODER, DECODER] if facts.is_encoder_decoder else [SELF]
        for stack in stacks:
            count = int(facts.layers.get(stack, 0))
            for layer in layers:
                if not 0 <= layer < count:
                    raise InputError(
                        f"layer {layer} is out of range; this model has {count} layers ({describe_range(range(count))})"
                    )


def extract(
    model: ModelSource = DEFAULT_MODEL_DIR,
    text: str = "",
    *,
    tokenizer: Any = None,
    device: str | torch.device | None = None,
    layers: int | Iterable[int] | None = None,
    max_length: int | None = None,
    padding: bool | str = False,
    truncation: bool = True,
    target: str | None = None,
    trust_remote_code: bool = False,
    store: Store = "auto",
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
) -> AttentionData:
    """The attention weights ``model`` used on ``text``, every layer and head.

    Example::

        data = extract("./model_output", "The movie was not bad", device="cpu")
        data.attentions.shape   # (layers, heads, query, key)

    Args:
        model: a model directory, a loaded Hugging Face model, a plain PyTorch module built
            on ``nn.MultiheadAttention``, or a :class:`~attnviz_widget.backends.Backend`.
        text: the input text.
        tokenizer: needed with a loaded model unless its config names a local directory.
        device: ``"cuda"``, ``"mps"``, ``"cpu"``, or None for the best available.
        layers: model layer indices to keep (default: all).
        max_length, padding, truncation, target, store, memory_budget: see
            :meth:`AttentionExtractor.extract`.
        trust_remote_code: allow model code shipped in the directory to run.

    Raises:
        ModelLoadError: the model or tokenizer cannot be loaded.
        InputError: empty text, a layer out of range, an unavailable device, ...
    """
    check_text(text)
    extractor = AttentionExtractor(model, tokenizer=tokenizer, device=device, trust_remote_code=trust_remote_code)
    return extractor.extract(
        text, layers=layers, max_length=max_length, padding=padding, truncation=truncation, target=target,
        store=store, memory_budget=memory_budget,
    )


__all__ = ["CROSS", "AttentionExtractor", "ModelLoadError", "check_text", "extract"]
