"""The Hugging Face backend: any ``transformers`` model, loaded from a folder or given loaded.

The model runs once with eager attention (sdpa and flash kernels never materialise the
weights) and gets its own implementation back afterwards; forward hooks copy each layer's
weights to the host as the layer finishes (:mod:`attnviz_widget.capture`), so the device
holds one layer's weights at a time. Which module returns the weights is learnt from the
model itself by a two-token probe.
"""

from __future__ import annotations

import inspect
import os
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..capture import CaptureSite, LayerCapture, eager_attention, find_capture_sites, to_numpy
from ..devices import resolve_device
from ..errors import InputError
from ..loading import check_model_source, config_has_labels, load_model, load_tokenizer
from .base import CROSS, DECODER, ENCODER, SELF, Captured, EncodedText, LayerCallback, ModelFacts
from .tokenize import input_limit, model_limit, readable_tokens, special_flags, tokenize

_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert", "longformer")

#: Capture sites learnt per loaded model (a property of its architecture, not of the backend): a
#: second backend on the same model object (a new widget, each ``extract(model, text)``) skips
#: the probe forward (0.13 s on a GPT-2-small shape). None: learnt, and no sites could be traced.
_SITES_OF_MODEL: weakref.WeakKeyDictionary[nn.Module, list[CaptureSite] | None] = weakref.WeakKeyDictionary()


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Dropout off inside the block; the caller's train/eval state comes back after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def is_huggingface(model: Any) -> bool:
    """Whether ``model`` is a ``transformers`` model (it has a config with a ``model_type``)."""
    return hasattr(model, "config") and hasattr(model.config, "model_type")


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without any)."""
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def resolve_tokenizer(tokenizer: Any, model: nn.Module | None, trust_remote_code: bool) -> Any:
    """A tokenizer object from ``tokenizer`` (an object, a folder, or None: the model's own folder)."""
    if isinstance(tokenizer, (str, os.PathLike)):
        return load_tokenizer(str(tokenizer), trust_remote_code=trust_remote_code)
    if tokenizer is not None:
        return tokenizer
    name = getattr(getattr(model, "config", None), "_name_or_path", "") if model is not None else ""
    if name and Path(name).is_dir():
        return load_tokenizer(name, trust_remote_code=trust_remote_code)
    raise InputError(f"a tokenizer is needed for an already-loaded {type(model).__name__}; pass tokenizer=")


class HuggingFaceBackend:
    """A ``transformers`` model and its tokenizer.

    Args:
        model: a folder written by ``save_pretrained`` or a loaded model.
        tokenizer: a tokenizer or its folder; the model's folder when omitted.
        device: ``"cuda"``, ``"mps"``, ``"cpu"`` or None for the best available (a loaded
            model then stays where it is).
        trust_remote_code: allow model code from the folder to run.
        dtype: load weights in this dtype (e.g. ``torch.float16`` on a GPU).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | nn.Module,
        *,
        tokenizer: Any = None,
        device: str | torch.device | None = None,
        trust_remote_code: bool = False,
        dtype: torch.dtype | None = None,
    ) -> None:
        if isinstance(model, nn.Module):
            self.source: str | None = None
            self.tokenizer = resolve_tokenizer(tokenizer, model, trust_remote_code)
            self.model = model
        else:
            self.source = str(model)
            check_model_source(self.source)
            self.tokenizer = (
                load_tokenizer(self.source, trust_remote_code=trust_remote_code)
                if tokenizer is None
                else resolve_tokenizer(tokenizer, None, trust_remote_code)
            )
            self.model = load_model(self.source, trust_remote_code=trust_remote_code, dtype=dtype)
        if device is None and isinstance(model, nn.Module):
            self.device = model_device(self.model)
        else:
            self.device = resolve_device(device)
            self.model.to(self.device)
        self._sites: list[CaptureSite] | None = None
        self._sites_probed = False
        self._facts: ModelFacts | None = None

    # -- facts -------------------------------------------------------------------------

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(getattr(self.config, "is_encoder_decoder", False))

    @property
    def is_classifier(self) -> bool:
        return type(self.model).__name__.endswith("ForSequenceClassification") or config_has_labels(self.config)

    @property
    def is_causal_lm(self) -> bool:
        if self.is_encoder_decoder:
            return False
        name = type(self.model).__name__
        return bool(getattr(self.config, "is_decoder", False)) or "CausalLM" in name or "LMHead" in name

    def facts(self) -> ModelFacts:
        if self._facts is None:
            if self.is_encoder_decoder:
                architecture, stacks = "encoder-decoder", (ENCODER, DECODER, CROSS)
            else:
                architecture, stacks = ("decoder" if self.is_causal_lm else "encoder"), (SELF,)
            labels = None
            if self.is_classifier:
                id2label = getattr(self.config, "id2label", None) or {}
                count = int(getattr(self.config, "num_labels", len(id2label)) or len(id2label))
                labels = tuple(str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(count))
            self._facts = ModelFacts(
                model_type=str(self.config.model_type),
                architecture=architecture,
                layers={stack: self._count_layers(stack) for stack in stacks},
                name=self.source or getattr(self.config, "_name_or_path", None) or type(self.model).__name__,
                labels=labels,
                max_positions=model_limit(
                    self.config, self.tokenizer, getattr(self.config, "model_type", "") in _OFFSET_POSITIONS
                ),
                heads=self._count_heads(),
            )
        return self._facts

    def _count_heads(self) -> int | None:
        names = ("num_attention_heads", "n_head", "num_heads", "encoder_attention_heads", "decoder_attention_heads")
        counts = [getattr(self.config, name, None) for name in names]
        counts = [count for count in counts if isinstance(count, int) and count > 0]
        return max(counts) if counts else None

    def _count_layers(self, stack: str) -> int:
        sites = self._ensure_sites()
        if sites is not None:
            return sum(1 for site in sites if site.stack == stack)
        config = self.config
        if stack in (DECODER, CROSS):
            for name in ("num_decoder_layers", "decoder_layers"):
                if isinstance(getattr(config, name, None), int):
                    return int(getattr(config, name))
        for name in ("num_hidden_layers", "n_layer", "num_layers", "encoder_layers"):
            if isinstance(getattr(config, name, None), int):
                return int(getattr(config, name))
        raise InputError("cannot tell how many layers this model has")

    # -- encoding ----------------------------------------------------------------------

    def encode(
        self,
        text: str,
        *,
        max_length: int | None = None,
        padding: bool | str = False,
        truncation: bool = True,
        target: str | None = None,
    ) -> EncodedText:
        limit = input_limit(self.facts().max_positions, max_length)
        encoding = tokenize(
            self.tokenizer, text, limit=limit, max_length=max_length, padding=padding, truncation=truncation
        )
        input_ids = encoding["input_ids"]
        mask = encoding.get("attention_mask", torch.ones_like(input_ids))[0].numpy().astype(bool)
        special = special_flags(self.tokenizer, input_ids[0], encoding.get("special_tokens_mask")) | ~mask
        inputs = {name: value for name, value in encoding.items() if name != "special_tokens_mask"}
        tokens = self.tokenizer.convert_ids_to_tokens(input_ids[0].tolist())
        encoded = EncodedText(
            inputs=inputs, tokens=tokens, special=special, mask=mask,
            display=readable_tokens(self.tokenizer, tokens, special),
        )
        if self.is_encoder_decoder:
            decoder_ids = self._decoder_input_ids(target if target is not None else text, limit)
            inputs["decoder_input_ids"] = decoder_ids
            encoded.decoder_tokens = self.tokenizer.convert_ids_to_tokens(decoder_ids[0].tolist())
            encoded.decoder_special = special_flags(self.tokenizer, decoder_ids[0], None)
            encoded.decoder_display = readable_tokens(self.tokenizer, encoded.decoder_tokens, encoded.decoder_special)
        keywords = self._forward_keywords()
        if keywords is not None:
            inputs = {name: value for name, value in inputs.items() if name in keywords}
        encoded.inputs = {name: value.to(self.device) for name, value in inputs.items()}
        return encoded

    def no_cache(self) -> dict[str, bool]:
        """``{"use_cache": False}`` where the model's forward takes it: one pass over a text needs no
        key/value cache, which would hold a second copy of every layer's keys and values."""
        try:
            parameters = inspect.signature(self.model.forward).parameters
        except (TypeError, ValueError):
            return {}
        return {"use_cache": False} if "use_cache" in parameters else {}

    def _forward_keywords(self) -> set[str] | None:
        try:
            parameters = inspect.signature(self.model.forward).parameters
        except (TypeError, ValueError):
            return None
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return None
        return set(parameters)

    def _decoder_input_ids(self, target: str, limit: int | None) -> torch.Tensor:
        """``[decoder_start_token] + tokens(target)``: what the decoder reads when producing ``target``."""
        start = getattr(self.config, "decoder_start_token_id", None)
        if start is None:
            start = getattr(self.config, "bos_token_id", None)
        if start is None:
            start = getattr(self.config, "pad_token_id", 0) or 0
        target_ids = self.tokenizer(text_target=target, add_special_tokens=True)["input_ids"]
        ids = [int(start)] + list(target_ids)
        if limit is not None:
            ids = ids[:limit]
        return torch.tensor([ids], dtype=torch.long)

    # -- the forward pass --------------------------------------------------------------

    def forward(
        self, encoded: EncodedText, layers: Sequence[int] | None, on_layer: LayerCallback | None = None
    ) -> Captured:
        """One forward pass keeping ``layers`` (None: all); ``on_layer(stack, layer, weights)``, if
        given, gets each kept layer's float32 ``(heads, query, key)`` as soon as it is on the host
        (not with the rare models whose weights are only found in the outputs)."""
        wanted = None if layers is None else set(layers)
        with torch.inference_mode(), eval_mode(self.model), eager_attention(self.model):
            sites = self._ensure_sites()
            if sites is None:
                outputs = self.model(**encoded.inputs, **self.no_cache(), output_attentions=True)
                stacks = {}
                for name in (SELF, ENCODER, DECODER, CROSS):
                    count = len(getattr(outputs, name, None) or ())
                    kept = [i for i in range(count) if wanted is None or i in wanted]
                    if kept:
                        weights = getattr(outputs, name)
                        stacks[name] = (np.stack([to_numpy(weights[i]) for i in kept]), tuple(kept))
            else:
                capture = LayerCapture(sites, wanted=wanted, on_layer=on_layer)
                with capture.hooks(self.model):
                    outputs = self.model(**encoded.inputs, **self.no_cache(), output_attentions=True)
                stacks = capture.captured
            return Captured(stacks, self._classifier_logits(outputs))

    def _classifier_logits(self, outputs: Any) -> np.ndarray | None:
        """Batch item 0's ``(labels,)`` logits of a classifier; nothing is copied for other models."""
        logits = getattr(outputs, "logits", None)
        if not self.is_classifier or not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            return None
        return logits[0].detach().to("cpu", torch.float32).numpy()

    def _ensure_sites(self) -> list[CaptureSite] | None:
        """Where each layer's weights appear, learnt once per model object from a 2-token probe."""
        if not self._sites_probed:
            if self.model in _SITES_OF_MODEL:
                self._sites = _SITES_OF_MODEL[self.model]
            else:
                probe = self._probe_inputs()
                with torch.inference_mode(), eval_mode(self.model), eager_attention(self.model):
                    self._sites = find_capture_sites(self.model, probe)
                _SITES_OF_MODEL[self.model] = self._sites
            self._sites_probed = True
        return self._sites

    def _probe_inputs(self) -> dict[str, torch.Tensor]:
        encoding = self.tokenizer("a b", return_tensors="pt")
        inputs = {name: value for name, value in encoding.items() if name != "special_tokens_mask"}
        if self.is_encoder_decoder:
            inputs["decoder_input_ids"] = self._decoder_input_ids("a b", None)
        keywords = self._forward_keywords()
        if keywords is not None:
            inputs = {name: value for name, value in inputs.items() if name in keywords}
        return {**{name: value.to(self.device) for name, value in inputs.items()}, **self.no_cache()}
