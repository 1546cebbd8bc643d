"""A LazyStack as flat named arrays plus string metadata (what a safetensors file holds), and back.

Names: ``layer{L}.query`` ``(heads, query, head_dim)``, ``layer{L}.key`` ``(kv_heads, key,
head_dim)``, ``layer{L}.row_max`` / ``layer{L}.row_sum`` float32 ``(heads, query)``, optionally
``layer{L}.sinks`` ``(heads,)``; shared parts once: ``mask{j}.key_padding`` bool ``(key,)``,
``mask{j}.dense`` bool / ``mask{j}.additive`` ``(query, key)``, ``bias{j}`` ``(heads or 1, query,
key)``. bfloat16 tensors travel as their int16 bit patterns (numpy has no bfloat16). Metadata:
:data:`FORMAT_KEY` (the format version) and JSON under ``attnviz.lazy.layers`` / ``.masks``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..errors import FormatError
from .masks import MaskSpec
from .records import LayerRecord

FORMAT_KEY = "attnviz.lazy.format"
FORMAT_VERSION = "1"
_LAYERS_KEY = "attnviz.lazy.layers"
_MASKS_KEY = "attnviz.lazy.masks"


def _host(tensor: torch.Tensor) -> tuple[np.ndarray, str]:
    dtype = str(tensor.dtype).removeprefix("torch.")
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy(), dtype
    return tensor.numpy(), dtype


def _device(array: np.ndarray, dtype: str, device: torch.device, name: str) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if dtype == "bfloat16":
        if tensor.dtype != torch.int16:
            raise FormatError(f"lazy stack tensor {name!r}: bfloat16 bits must be int16, got {tensor.dtype}")
        tensor = tensor.view(torch.bfloat16)
    elif str(tensor.dtype).removeprefix("torch.") != dtype:
        raise FormatError(f"lazy stack tensor {name!r} is {tensor.dtype}, metadata says {dtype}")
    return tensor.to(device)


def stack_tensors(records: Mapping[int, LayerRecord]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` of the records; normalisers are saved when computed."""
    tensors: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}

    def put(name: str, tensor: torch.Tensor) -> None:
        tensors[name], dtypes[name] = _host(tensor)

    mask_ids: dict[int, int] = {}
    bias_ids: dict[int, int] = {}
    mask_info: list[dict[str, Any]] = []
    layers: list[dict[str, Any]] = []
    for layer, record in records.items():
        if id(record.mask) not in mask_ids:
            mask_ids[id(record.mask)] = len(mask_info)
            mask_info.append({**record.mask.scalars(), "parts": sorted(record.mask.tensors())})
            for part, value in record.mask.tensors().items():
                put(f"mask{mask_ids[id(record.mask)]}.{part}", value)
        bias = None
        if record.bias is not None:
            if id(record.bias) not in bias_ids:
                bias_ids[id(record.bias)] = len(bias_ids)
                put(f"bias{bias_ids[id(record.bias)]}", record.bias)
            bias = bias_ids[id(record.bias)]
        put(f"layer{layer}.query", record.query)
        put(f"layer{layer}.key", record.key)
        for name in ("sinks", "row_max", "row_sum"):
            value = getattr(record, name)
            if value is not None:
                put(f"layer{layer}.{name}", value)
        layers.append({"layer": int(layer), "scaling": record.scaling, "softcap": record.softcap,
                       "mask": mask_ids[id(record.mask)], "bias": bias})
    metadata = {
        FORMAT_KEY: FORMAT_VERSION,
        _LAYERS_KEY: json.dumps(layers),
        _MASKS_KEY: json.dumps(mask_info),
        "attnviz.lazy.dtypes": json.dumps(dtypes),
    }
    return tensors, metadata


def _json(metadata: Mapping[str, str], key: str) -> Any:
    if key not in metadata:
        raise FormatError(f"lazy stack metadata lacks {key!r}")
    try:
        return json.loads(metadata[key])
    except (TypeError, ValueError) as error:
        raise FormatError(f"lazy stack metadata {key!r} is not valid JSON: {error}") from None


def records_from(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str],
                 device: torch.device) -> dict[int, LayerRecord]:
    """The records saved by :func:`stack_tensors`, on ``device``; FormatError names what is wrong."""
    version = metadata.get(FORMAT_KEY)
    if version != FORMAT_VERSION:
        raise FormatError(f"not a lazy attention stack of format {FORMAT_VERSION} ({FORMAT_KEY} = {version!r})")
    dtypes = _json(metadata, "attnviz.lazy.dtypes")

    def get(name: str, optional: bool = False) -> torch.Tensor | None:
        if name not in tensors:
            if optional:
                return None
            raise FormatError(f"lazy stack lacks tensor {name!r}")
        return _device(np.asarray(tensors[name]), dtypes.get(name, ""), device, name)

    try:
        specs, padding_lengths = [], []
        for index, info in enumerate(_json(metadata, _MASKS_KEY)):
            parts: dict[str, Any] = {part: get(f"mask{index}.{part}") for part in info.pop("parts")}
            padding = parts.get("key_padding")
            padding_lengths.append(None if padding is None else tuple(padding.shape))
            specs.append(MaskSpec(**info, **parts))
        records: dict[int, LayerRecord] = {}
        for info in _json(metadata, _LAYERS_KEY):
            layer = int(info["layer"])
            query, key = get(f"layer{layer}.query"), get(f"layer{layer}.key")
            assert query is not None and key is not None
            record = LayerRecord(
                query=query, key=key, scaling=float(info["scaling"]), mask=specs[int(info["mask"])],
                bias=None if info["bias"] is None else get(f"bias{int(info['bias'])}"),
                softcap=None if info["softcap"] is None else float(info["softcap"]),
                sinks=get(f"layer{layer}.sinks", optional=True),
                row_max=get(f"layer{layer}.row_max", optional=True),
                row_sum=get(f"layer{layer}.row_sum", optional=True),
            )
            padding_shape = padding_lengths[int(info["mask"])]
            if padding_shape is not None and padding_shape != (key.shape[1],):
                raise FormatError(f"layer {layer}: key padding has shape {padding_shape}, expected ({key.shape[1]},)")
            _check(layer, record)
            records[layer] = record
    except (KeyError, IndexError, TypeError, ValueError) as error:
        if isinstance(error, FormatError):
            raise
        raise FormatError(f"lazy stack metadata is malformed: {type(error).__name__}: {error}") from None
    if not records:
        raise FormatError("lazy stack holds no layers")
    return records


def _check(layer: int, record: LayerRecord) -> None:
    q, k = record.query, record.key
    if q.dim() != 3 or k.dim() != 3 or q.shape[-1] != k.shape[-1] or q.shape[0] % k.shape[0]:
        raise FormatError(f"layer {layer}: query {tuple(q.shape)} and key {tuple(k.shape)} do not fit together")
    rows = (q.shape[0], q.shape[1])
    for name in ("row_max", "row_sum"):
        value = getattr(record, name)
        if value is not None and tuple(value.shape) != rows:
            raise FormatError(f"layer {layer}: {name} has shape {tuple(value.shape)}, expected {rows}")
    padding = record.mask.key_padding
    if padding is not None and tuple(padding.shape) != (k.shape[1],):
        raise FormatError(f"layer {layer}: key padding has shape {tuple(padding.shape)}, expected ({k.shape[1]},)")
    planes = (("dense mask", record.mask.dense), ("additive mask", record.mask.additive), ("bias", record.bias))
    for name, value in planes:
        if value is not None and tuple(value.shape[-2:]) != (q.shape[1], k.shape[1]):
            expected = f"(..., {q.shape[1]}, {k.shape[1]})"
            raise FormatError(f"layer {layer}: {name} has shape {tuple(value.shape)}, expected {expected}")
    if record.sinks is not None and tuple(record.sinks.shape) != (q.shape[0],):
        raise FormatError(f"layer {layer}: sinks have shape {tuple(record.sinks.shape)}, expected ({q.shape[0]},)")
