"""Capturing each layer's attention weights as the layer finishes.

``output_attentions=True`` makes a Hugging Face model keep every layer's weights on the
device until the forward pass ends: for a large model on a long text that is the whole
memory budget. Instead, a forward hook on each attention module copies that layer's
weights to the CPU the moment the module returns and hands the model an empty
placeholder, so the device holds at most one layer's weights at a time.

Which module returns the weights differs between architectures and between
transformers 4.x and 5.x. :func:`find_capture_sites` learns it from the model itself:
a short probe forward with hooks on every module, matching the tensors the model
returns in ``outputs.attentions`` (and ``encoder_attentions``, ``decoder_attentions``,
``cross_attentions``) by identity to the module that produced them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

#: Output fields that hold attention weights, per stack.
STACK_FIELDS = ("attentions", "encoder_attentions", "decoder_attentions", "cross_attentions")


@dataclass(frozen=True)
class CaptureSite:
    """Where one layer's attention weights appear during the forward pass.

    Attributes:
        module_name: the module's qualified name in ``model.named_modules()``.
        index: position of the weights in the module's output tuple; None when the
            module's output is the weights tensor itself.
        stack: the output field that returns them (one of :data:`STACK_FIELDS`).
        layer: the layer index within that stack.
    """

    module_name: str
    index: int | None
    stack: str
    layer: int


def _attention_configs(model: nn.Module) -> list[Any]:
    configs: dict[int, Any] = {}
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            configs[id(config)] = config
            for name in ("encoder", "decoder", "text_config"):
                sub = getattr(config, name, None)
                if sub is not None and hasattr(sub, "_attn_implementation"):
                    configs[id(sub)] = sub
    return list(configs.values())


@contextmanager
def eager_attention(model: nn.Module) -> Iterator[None]:
    """Run ``model`` with eager attention inside the block, then restore its own.

    sdpa and flash attention do not return weights (transformers 5.x returns an empty
    tuple for them); eager attention computes the same softmax explicitly.
    """
    configs = _attention_configs(model)
    previous = [config._attn_implementation for config in configs]
    if all(value == "eager" for value in previous):
        yield
        return
    try:
        for config in configs:
            config._attn_implementation = "eager"
        yield
    finally:
        for config, value in zip(configs, previous, strict=True):
            config._attn_implementation = value


def _tensor_slots(output: Any) -> Iterator[tuple[int | None, torch.Tensor]]:
    if isinstance(output, torch.Tensor):
        yield None, output
    elif isinstance(output, (tuple, list)):
        for index, item in enumerate(output):
            if isinstance(item, torch.Tensor):
                yield index, item


def _returned_attentions(outputs: Any) -> dict[str, tuple[torch.Tensor, ...]]:
    found = {}
    for name in STACK_FIELDS:
        value = getattr(outputs, name, None) if not isinstance(outputs, Mapping) else outputs.get(name)
        if value:
            found[name] = tuple(value)
    return found


def find_capture_sites(model: nn.Module, inputs: Mapping[str, Any]) -> list[CaptureSite] | None:
    """Learn which module returns each layer's weights, with one probe forward.

    ``inputs`` should be short (a few tokens): the probe runs with
    ``output_attentions=True`` and keeps everything. Returns None when some layer's
    weights cannot be traced to a module called once per forward, in which case the
    caller reads ``outputs.attentions`` directly.
    """
    produced: dict[int, tuple[str, int | None, torch.Tensor, bool]] = {}
    calls: dict[str, int] = {}
    handles = []

    def make_hook(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            in_tuple = not isinstance(output, torch.Tensor)
            for index, tensor in _tensor_slots(output):
                if tensor.dim() != 4:
                    continue
                known = produced.get(id(tensor))
                # Keep the innermost module whose output is a tuple holding the tensor:
                # hooks fire innermost first; a plain-tensor producer (a dropout) is only
                # kept until an enclosing attention module returns the tensor in a tuple.
                if known is None or (in_tuple and not known[3]):
                    produced[id(tensor)] = (name, index, tensor, in_tuple)

        return hook

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(make_hook(name)))
    try:
        with torch.inference_mode():
            outputs = model(**inputs, output_attentions=True)
    finally:
        for handle in handles:
            handle.remove()

    sites = []
    returned = _returned_attentions(outputs)
    if not returned:
        return None
    for stack, tensors in returned.items():
        for layer, tensor in enumerate(tensors):
            origin = produced.get(id(tensor))
            if origin is None or calls.get(origin[0]) != 1:
                return None
            sites.append(CaptureSite(module_name=origin[0], index=origin[1], stack=stack, layer=layer))
    if len({(site.module_name, site.index) for site in sites}) != len(sites):
        return None
    return sites


def to_numpy(weights: torch.Tensor) -> np.ndarray:
    """Batch item 0 of ``(batch, heads, query, key)`` weights as float32 ``(heads, query, key)`` on the CPU."""
    return weights.detach()[0].to(device="cpu", dtype=torch.float32).numpy()


class HostStack:
    """The kept layers of one stack on the host, filled one layer at a time.

    The first layer that arrives sizes one float32 ``(layers, heads, query, key)``
    array; each layer is then copied (device to host and to float32 in one copy)
    straight into its slot, so no per-layer arrays are stacked afterwards.
    """

    def __init__(self, layers: Iterable[int]) -> None:
        self.layers = tuple(sorted(set(layers)))
        self._slots = {layer: slot for slot, layer in enumerate(self.layers)}
        self._array: np.ndarray | None = None
        self._filled: set[int] = set()

    def wants(self, layer: int) -> bool:
        return layer in self._slots

    def put(self, layer: int, weights: torch.Tensor) -> None:
        """Store batch item 0 of ``weights``, ``(batch, heads, query, key)``, as ``layer``."""
        if self._array is None:
            self._array = np.empty((len(self.layers), *weights.shape[1:]), dtype=np.float32)
        torch.from_numpy(self._array[self._slots[layer]]).copy_(weights.detach()[0])
        self._filled.add(layer)

    def filled(self, layer: int) -> np.ndarray:
        """float32 ``(heads, query, key)``: the host copy of ``layer`` (after :meth:`put`)."""
        assert self._array is not None and layer in self._filled
        return self._array[self._slots[layer]]

    def result(self) -> tuple[np.ndarray, tuple[int, ...]] | None:
        """float32 ``(layers, heads, query, key)`` and the layer indices it holds, or None if empty."""
        if self._array is None:
            return None
        if len(self._filled) == len(self.layers):
            return self._array, self.layers
        kept = tuple(layer for layer in self.layers if layer in self._filled)
        return self._array[[self._slots[layer] for layer in kept]], kept


def _collect(stacks: Mapping[str, HostStack]) -> dict[str, tuple[np.ndarray, tuple[int, ...]]]:
    results = {name: stack.result() for name, stack in stacks.items()}
    return {name: result for name, result in results.items() if result is not None}


class LayerCapture:
    """Forward hooks that copy the wanted layers' weights to the host as each layer finishes.

    Args:
        sites: where each layer's weights appear (see :func:`find_capture_sites`).
        wanted: layer indices to keep in every stack (None keeps every layer).
        on_layer: called as ``on_layer(stack, layer, weights)`` as soon as each kept layer's
            float32 ``(heads, query, key)`` host copy is in (for progressive display; read-only use).
    """

    def __init__(
        self, sites: list[CaptureSite], wanted: Iterable[int] | None = None,
        on_layer: Callable[[str, int, np.ndarray], None] | None = None,
    ) -> None:
        self.sites = sites
        self.on_layer = on_layer
        keep = None if wanted is None else set(wanted)
        self.stacks: dict[str, HostStack] = {}
        for stack in dict.fromkeys(site.stack for site in sites):
            layers = [site.layer for site in sites if site.stack == stack]
            self.stacks[stack] = HostStack(layer for layer in layers if keep is None or layer in keep)

    @property
    def captured(self) -> dict[str, tuple[np.ndarray, tuple[int, ...]]]:
        """``{stack: (float32 (layers, heads, query, key), layer indices)}`` after the forward."""
        return _collect(self.stacks)

    @contextmanager
    def hooks(self, model: nn.Module) -> Iterator[LayerCapture]:
        modules = dict(model.named_modules())
        # prepend: run before transformers' own output recorders, so that they only
        # ever see the placeholder and hold no reference to the device tensor.
        handles = [
            modules[site.module_name].register_forward_hook(self._hook_for(site), prepend=True)
            for site in self.sites
        ]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def _hook_for(self, site: CaptureSite) -> Any:
        stack = self.stacks[site.stack]

        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            weights = output if site.index is None else output[site.index]
            if stack.wants(site.layer):
                stack.put(site.layer, weights)
                if self.on_layer is not None:
                    self.on_layer(site.stack, site.layer, stack.filled(site.layer))
            if site.index is None or not isinstance(output, tuple):
                return None
            # Hand the model an empty placeholder so the device copy is freed now.
            placeholder = weights.new_empty((0,))
            return output[: site.index] + (placeholder,) + output[site.index + 1 :]

        return hook


class MultiheadAttentionCapture:
    """Per-head weights from every ``nn.MultiheadAttention`` of a plain PyTorch model.

    ``nn.TransformerEncoderLayer`` calls its attention with ``need_weights=False`` and,
    in eval mode, may skip the module entirely (its fused fast path). A pre-hook asks
    each attention module for per-head weights; registering hooks also turns the
    fast path off, so the module really runs.

    Args:
        modules: the attention modules in forward order, one per layer.
        wanted: layer indices to keep (None keeps every layer).
    """

    def __init__(self, modules: list[nn.MultiheadAttention], wanted: Iterable[int] | None = None) -> None:
        self.modules = modules
        keep = None if wanted is None else set(wanted)
        self.stack = HostStack(layer for layer in range(len(modules)) if keep is None or layer in keep)

    @property
    def captured(self) -> dict[str, tuple[np.ndarray, tuple[int, ...]]]:
        """``{"attentions": (float32 (layers, heads, query, key), layer indices)}``."""
        return _collect({"attentions": self.stack})

    @contextmanager
    def hooks(self) -> Iterator[MultiheadAttentionCapture]:
        handles = []
        for layer, module in enumerate(self.modules):
            handles.append(module.register_forward_pre_hook(self._ask_for_weights, with_kwargs=True))
            handles.append(module.register_forward_hook(self._keep(layer)))
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    @staticmethod
    def _ask_for_weights(module: nn.Module, args: Any, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        kwargs["need_weights"] = True
        kwargs["average_attn_weights"] = False
        return args, kwargs

    def _keep(self, layer: int) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if self.stack.wants(layer):
                weights = output[1]
                if weights.dim() == 3:  # unbatched input: (heads, query, key)
                    weights = weights.unsqueeze(0)
                self.stack.put(layer, weights)

        return hook
