"""Recording queries and keys through transformers' attention-function registry.

transformers (>= 4.48, and 5.x for nearly every model) looks each layer's attention function
up by ``config._attn_implementation`` in ``ALL_ATTENTION_FUNCTIONS`` and its mask builder in
``ALL_MASK_ATTENTION_FUNCTIONS``. :class:`LazyCapture` registers one of each under its own
name, switches the model to it for the ``with`` block and restores the model's own
implementation afterwards. The attention function records what the layer's attention sees
(:class:`~attnviz_widget.lazy.records.LayerRecord`) and then runs the fast kernel (sdpa, or the
model's eager function where sdpa cannot express it, e.g. Gemma2's softcapping) for the output,
so the forward pass is the model's own. The mask builder builds the kernel's usual mask and
records its compact form; without a registered mask builder a custom attention function gets a
mask in another form and weights recomputed from it silently differ from eager.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import torch
from torch import nn

from ..capture import _attention_configs
from ..errors import InputError
from . import masks
from .chunking import DEFAULT_CHUNK, check_chunk, chunked_feed_forward
from .compute import DEFAULT_BLOCK_BYTES
from .kernels import eager_kernel, flash_with_normalisers
from .records import LayerRecord
from .stack import LazyStack
from .storage import Slabs, detached

NAMES = {"sdpa": "attnviz_lazy_sdpa", "eager": "attnviz_lazy_eager"}
_ACTIVE: list[_Recorder] = []
_REGISTERED: set[str] = set()
_CROSS_NAMES = ("cross", "encoder_attn", "encdecattention")


def lazy_supported(model: Any) -> str | None:
    """None when ``model``'s attention goes through the registry; else why not, in one line."""
    try:
        import transformers
        from transformers.masking_utils import AttentionMaskInterface  # noqa: F401
        from transformers.modeling_utils import AttentionInterface  # noqa: F401
    except ImportError:
        version = sys.modules.get("transformers")
        found = getattr(version, "__version__", "not installed")
        return f"lazy capture needs transformers' attention registry (>= 4.48 with mask interface); found {found}"
    if not isinstance(model, transformers.PreTrainedModel):
        return f"lazy capture needs a Hugging Face transformers model, not {type(model).__name__}"
    for module in model.modules():
        source = sys.modules.get(type(module).__module__)
        if source is not None and hasattr(source, "ALL_ATTENTION_FUNCTIONS"):
            return None
    return f"{type(model).__name__}'s attention does not go through transformers' attention registry"


class _Recorder:
    """Per-forward state: masks by tensor identity, records by stack and layer."""

    def __init__(self, model: nn.Module, layers: Iterable[int] | None, kernel: str) -> None:
        self.kernel = kernel
        self.keep = None if layers is None else set(layers)
        self.names = {id(module): name for name, module in model.named_modules()}
        self.configs = {id(config) for config in _attention_configs(model)}
        config = getattr(model, "config", None)
        encoder = model.get_encoder() if getattr(config, "is_encoder_decoder", False) else None  # type: ignore[operator]
        self.encoder = set() if encoder is None else {id(module) for module in encoder.modules()}
        self.encoder_decoder = encoder is not None
        self.mask_specs: dict[int, tuple[torch.Tensor, masks.MaskSpec]] = {}
        self.biases: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self.calls: dict[str, int] = {}
        self.records: dict[str, dict[int, LayerRecord]] = {}
        self.on_layer: Callable[[str, int, LayerRecord], None] | None = None
        self.slabs = Slabs()
        self._where: dict[int, tuple[str, int]] = {}

    def finished(self, record: LayerRecord) -> None:
        """The layer's kernel has run: tell the ``on_layer`` callback, if any."""
        if self.on_layer is not None:
            self.on_layer(*self._where[id(record)], record)

    def owns(self, module: nn.Module) -> bool:
        return id(module) in self.names

    def note_mask(self, mask: torch.Tensor, spec: masks.MaskSpec | None) -> None:
        if spec is not None and _agrees(spec, mask):
            self.mask_specs[id(mask)] = (mask, spec)

    def _stack(self, module: nn.Module, query: torch.Tensor, key: torch.Tensor) -> str:
        if id(module) in self.encoder:
            return "encoder_attentions"
        name = self.names.get(id(module), "").lower()
        cross = bool(getattr(module, "is_cross_attention", False)) or any(part in name for part in _CROSS_NAMES)
        if cross:
            return "cross_attentions"
        return "decoder_attentions" if self.encoder_decoder else "attentions"

    def _mask(self, module: nn.Module, mask: torch.Tensor | None, q_len: int, kwargs: dict[str, Any]) -> masks.MaskSpec:
        if mask is None:
            causal = kwargs.get("is_causal")
            causal = getattr(module, "is_causal", True) if causal is None else causal
            return masks.MaskSpec(causal=bool(self.kernel == "sdpa" and q_len > 1 and causal))
        known = self.mask_specs.get(id(mask))
        if known is not None and known[0] is mask:
            return known[1]
        spec = masks.from_tensor(mask)
        self.mask_specs[id(mask)] = (mask, spec)
        return spec

    def _bias(self, bias: torch.Tensor | None) -> torch.Tensor | None:
        if bias is None:
            return None
        known = self.biases.get(id(bias))
        if known is None or known[0] is not bias:
            kept = None if not bool(torch.count_nonzero(bias)) else detached(bias.expand(1, *bias.shape[1:]))
            known = (bias, kept)
            self.biases[id(bias)] = known
        return known[1]

    def record(self, module: nn.Module, query: torch.Tensor, key: torch.Tensor, mask: Any,
               kwargs: dict[str, Any]) -> LayerRecord | None:
        """Record one call; returns the record, or None for a layer that is not kept."""
        stack = self._stack(module, query, key)
        layer = self.calls.get(stack, 0)
        self.calls[stack] = layer + 1
        if self.keep is not None and layer not in self.keep:
            return None
        scaling = kwargs.get("scaling")
        sinks = kwargs.get("s_aux")
        record = self.records.setdefault(stack, {})[layer] = LayerRecord(
            # sdpa does not write to the queries, and the forward drops them after the layer
            query=detached(query, self.slabs, share=self.kernel == "sdpa"),
            key=detached(key, self.slabs),
            scaling=float(query.shape[-1] ** -0.5 if scaling is None else scaling),
            mask=self._mask(module, mask, int(query.shape[2]), kwargs),
            bias=self._bias(kwargs.get("position_bias")),
            softcap=None if kwargs.get("softcap") is None else float(kwargs["softcap"]),
            sinks=None if sinks is None else sinks.detach().reshape(-1).clone(),
        )
        self._where[id(record)] = (stack, layer)
        return record


def _agrees(spec: masks.MaskSpec, mask: torch.Tensor) -> bool:
    """Whether ``spec`` gives exactly the visibility of the kernel's mask (batch 0), row chunk by chunk."""
    plane = mask[0, 0] if mask.dim() == 4 else mask[0]
    rows, keys = plane.shape[-2], plane.shape[-1]
    if spec.key_padding is not None and len(spec.key_padding) != keys:
        return False
    k_idx = torch.arange(keys, device=plane.device)
    step = max(1, (16 * 2**20) // max(1, keys))
    for q0 in range(0, rows, step):
        q_idx = torch.arange(q0, min(rows, q0 + step), device=plane.device)
        block = plane[q0 : q0 + step].expand(len(q_idx), keys)
        seen = block if block.dtype == torch.bool else block == 0
        expected = spec.visible(q_idx, k_idx)
        if expected is None:
            if not bool(seen.all()):
                return False
        elif not torch.equal(seen, expected):
            return False
    return True


def _recorder_for(config: Any) -> _Recorder | None:
    for recorder in reversed(_ACTIVE):
        if config is None or id(config) in recorder.configs:
            return recorder
    return None


def _mask_builder(kernel: str) -> Callable[..., Any]:
    from transformers import masking_utils as mu

    build = mu.sdpa_mask if kernel == "sdpa" else mu.eager_mask

    def lazy_mask(batch_size: int, q_length: int, kv_length: int, q_offset: int = 0, kv_offset: int = 0,
                  mask_function: Callable[..., Any] = mu.causal_mask_function, attention_mask: Any = None,
                  **kwargs: Any) -> Any:
        result = build(batch_size=batch_size, q_length=q_length, kv_length=kv_length, q_offset=q_offset,
                       kv_offset=kv_offset, mask_function=mask_function, attention_mask=attention_mask, **kwargs)
        recorder = _recorder_for(kwargs.get("config"))
        if recorder is not None and isinstance(result, torch.Tensor):
            padding = attention_mask if isinstance(attention_mask, torch.Tensor) else None
            spec = masks.describe(mask_function, padding, q_length, kv_length, q_offset, kv_offset)
            recorder.note_mask(result, spec)
        return result

    return lazy_mask


def _attention(kernel: str) -> Callable[..., Any]:
    def lazy_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                       attention_mask: Any, **kwargs: Any) -> Any:
        recorder = next((active for active in reversed(_ACTIVE) if active.owns(module)), None)
        record = None if recorder is None else recorder.record(module, query, key, attention_mask, kwargs)
        result = None
        if recorder is not None and record is not None and kernel == "sdpa":
            result = flash_with_normalisers(module, query, key, value, attention_mask, record, kwargs,
                                            allocate=recorder.slabs.empty)
        if result is None and kernel == "eager":
            result = eager_kernel(module)(module, query, key, value, attention_mask, **kwargs)
        elif result is None:
            from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

            result = ALL_ATTENTION_FUNCTIONS["sdpa"](module, query, key, value, attention_mask, **kwargs)
        if recorder is not None and record is not None:
            recorder.finished(record)
        return result

    return lazy_attention


def register() -> None:
    """Register the recording attention functions and mask builders (once per process)."""
    from transformers.masking_utils import AttentionMaskInterface
    from transformers.modeling_utils import AttentionInterface

    for kernel, name in NAMES.items():
        if name not in _REGISTERED:
            AttentionInterface.register(name, _attention(kernel))
            AttentionMaskInterface.register(name, _mask_builder(kernel))
            _REGISTERED.add(name)


def _kernel_for(model: nn.Module, configs: list[Any]) -> str:
    if getattr(type(model), "_supports_sdpa", True) is False:
        return "eager"
    if any(getattr(config, "attn_logit_softcapping", None) is not None for config in configs):
        return "eager"
    return "sdpa"


class LazyCapture:
    """Record every layer's queries and keys during the forward passes inside the ``with`` block.

    Args:
        model: a transformers model whose attention goes through the registry (:func:`lazy_supported`).
        layers: model layer indices to keep in every stack, or None for all.
        block_bytes: working-memory bound of each later computation step.
        on_layer: called as ``on_layer(stack, layer, record)`` as soon as each kept layer has run
            (for progressive display: ``LazyStack({layer: record}).layer_thumbnails(layer)``).
        feed_forward_chunk: positions per chunk of the model's position-wise feed-forwards inside
            the block (:mod:`~attnviz_widget.lazy.chunking`; None or 0: unchunked). This lowers the
            extraction's peak memory below the model's own forward transient, which leaves room for
            the recorded queries and keys; the outputs equal a plain forward's within float32 rounding.

    After the block, :attr:`stacks` holds one :class:`LazyStack` per attention stack of batch item 0.
    """

    def __init__(self, model: nn.Module, layers: Iterable[int] | None = None, *,
                 block_bytes: int = DEFAULT_BLOCK_BYTES,
                 on_layer: Callable[[str, int, LayerRecord], None] | None = None,
                 feed_forward_chunk: int | None = DEFAULT_CHUNK) -> None:
        reason = lazy_supported(model)
        if reason is not None:
            raise InputError(reason)
        self.feed_forward_chunk = check_chunk(feed_forward_chunk)
        self._chunking: ExitStack | None = None
        #: ``[n]``: feed-forward calls that ran chunked in the block (for tests and diagnostics).
        self.chunked_calls: list[int] = [0]
        self.model = model
        self.layers = None if layers is None else [int(layer) for layer in layers]
        self.block_bytes = int(block_bytes)
        self.on_layer = on_layer
        self._recorder: _Recorder | None = None
        self._previous: list[tuple[Any, Any]] = []

    def __enter__(self) -> LazyCapture:
        register()
        configs = _attention_configs(self.model)
        kernel = _kernel_for(self.model, configs)
        self._recorder = _Recorder(self.model, self.layers, kernel)
        self._recorder.on_layer = self.on_layer
        self._previous = [(config, config._attn_implementation) for config in configs]
        for config in configs:
            config._attn_implementation = NAMES[kernel]
        _ACTIVE.append(self._recorder)
        self._chunking = ExitStack()
        try:
            chunking = chunked_feed_forward(self.model, self.feed_forward_chunk)
            self.chunked_calls = self._chunking.enter_context(chunking)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._chunking is not None:
            self._chunking.close()
            self._chunking = None
        for config, value in self._previous:
            config._attn_implementation = value
        if self._recorder is not None and self._recorder in _ACTIVE:
            _ACTIVE.remove(self._recorder)
            self._recorder.mask_specs.clear()  # drop the kernel's mask tensors
            self._recorder.biases.clear()

    @property
    def stacks(self) -> dict[str, LazyStack]:
        """``{stack name: LazyStack}``, names as in :data:`attnviz_widget.capture.STACK_FIELDS`."""
        if self._recorder is None or not self._recorder.calls:
            raise InputError("lazy capture recorded nothing: run the model's forward inside the `with` block")
        return {name: LazyStack(records, block_bytes=self.block_bytes)
                for name, records in self._recorder.records.items() if records}
