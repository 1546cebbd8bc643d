"""Running a transformer on a text and keeping the attention weights it really used.

:func:`extract` is the one-call API; :class:`AttentionExtractor` keeps a loaded model
for many texts (the widget and batch jobs use it). Two extension points serve new
architectures, as the specification names them: :meth:`AttentionExtractor._load_model`
(how a model and tokenizer are obtained) and :meth:`AttentionExtractor._extract_attention`
(how one forward pass yields per-layer weights).

How the weights are obtained: the model runs once with eager attention (sdpa and flash
kernels never materialise the weights; the model's own attention implementation is
restored afterwards). A forward hook on each attention module copies the layer's
weights, ``(heads, query, key)``, to the CPU as float32 the moment the layer finishes,
so device memory holds one layer's weights at a time (see :mod:`attnviz_widget.capture`).
Plain PyTorch models built on ``nn.MultiheadAttention`` go through the same path with
per-head weights requested from each attention module.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .capture import (
    CaptureSite,
    LayerCapture,
    MultiheadAttentionCapture,
    eager_attention,
    find_capture_sites,
    to_numpy,
)
from .data import AttentionData, ModelInfo, Prediction, TokenSequence, describe_range
from .devices import resolve_device
from .errors import InputError, ModelLoadError, TruncationWarning
from .loading import check_model_source, config_has_labels, load_model, load_tokenizer
from .tokens import display_tokens

DEFAULT_MODEL_DIR = "./model_output"
#: Stack name in :class:`AttentionData` for each Hugging Face output field.
STACK_KINDS = {
    "attentions": "self",
    "encoder_attentions": "encoder",
    "decoder_attentions": "decoder",
    "cross_attentions": "cross",
}
_UNBOUNDED_LENGTH = 1_000_000
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert", "longformer")


@dataclass
class ForwardResult:
    """What one forward pass produced.

    Attributes:
        stacks: ``{stack field: (float32 (layers, heads, query, key), layer indices)}``,
            e.g. ``{"attentions": (array, (0, 1))}``.
        logits: float32 logits of batch item 0 (``(labels,)`` for classifiers), or None.
    """

    stacks: dict[str, tuple[np.ndarray, tuple[int, ...]]]
    logits: np.ndarray | None


@dataclass
class EncodedText:
    """A tokenized text, ready for the model.

    Attributes:
        inputs: model keyword arguments (tensors of shape ``(1, seq)``).
        tokens: the tokens of ``input_ids``; ``decoder_tokens`` likewise for encoder-decoders.
        special: bool ``(seq,)``, True for special tokens and padding.
        mask: bool ``(seq,)``, True for real tokens.
    """

    inputs: dict[str, torch.Tensor]
    tokens: list[str]
    special: np.ndarray
    mask: np.ndarray
    decoder_tokens: list[str] | None = None
    decoder_special: np.ndarray | None = None


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Dropout off during extraction; the caller's train/eval state comes back after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _is_huggingface(model: nn.Module) -> bool:
    return hasattr(model, "config") and hasattr(model.config, "model_type")


def _model_device(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def _normalise_layers(layers: int | Iterable[int] | None) -> list[int] | None:
    if layers is None:
        return None
    if isinstance(layers, (int, np.integer)):
        return [int(layers)]
    values = [int(layer) for layer in layers]
    if not values:
        raise InputError("layers is empty; leave it out to keep every layer")
    return values


class AttentionExtractor:
    """A loaded model that turns texts into :class:`AttentionData`.

    Args:
        model: a model directory (saved with ``save_pretrained``), a Hugging Face
            model already loaded, or a plain PyTorch module built on
            ``nn.MultiheadAttention`` (called as ``model(input_ids)``).
        tokenizer: a tokenizer or the directory of one; loaded from the model
            directory when omitted. Plain PyTorch models need one.
        device: ``"cuda"``, ``"mps"``, ``"cpu"`` or None for the best available (for
            a loaded model, None keeps it where it is).
        trust_remote_code: allow model code from the directory to run.
        dtype: load weights in this dtype (e.g. ``torch.float16`` on a GPU).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | nn.Module = DEFAULT_MODEL_DIR,
        *,
        tokenizer: Any = None,
        device: str | torch.device | None = None,
        trust_remote_code: bool = False,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.trust_remote_code = trust_remote_code
        self.dtype = dtype
        self.source = None if isinstance(model, nn.Module) else str(model)
        self.model, self.tokenizer = self._load_model(model, tokenizer)
        if device is None and isinstance(model, nn.Module):
            self.device = _model_device(self.model)
        else:
            self.device = resolve_device(device)
            self.model.to(self.device)
        self.is_huggingface = _is_huggingface(self.model)
        self._sites: list[CaptureSite] | None = None
        self._sites_probed = False
        self._attention_modules = (
            [] if self.is_huggingface else [m for m in self.model.modules() if isinstance(m, nn.MultiheadAttention)]
        )
        if not self.is_huggingface and not self._attention_modules:
            raise InputError(
                f"{type(self.model).__name__} is neither a Hugging Face model nor built on nn.MultiheadAttention; "
                "subclass AttentionExtractor and override _extract_attention for this architecture"
            )

    # -- extension point: loading ----------------------------------------------------

    def _load_model(self, model: str | os.PathLike[str] | nn.Module, tokenizer: Any) -> tuple[nn.Module, Any]:
        """The model (in eval mode) and its tokenizer."""
        if isinstance(model, nn.Module):
            if tokenizer is None:
                name = getattr(getattr(model, "config", None), "_name_or_path", "")
                if name and Path(name).is_dir():
                    tokenizer = load_tokenizer(name, trust_remote_code=self.trust_remote_code)
                else:
                    raise InputError(
                        f"a tokenizer is needed for an already-loaded {type(model).__name__}; pass tokenizer="
                    )
            elif isinstance(tokenizer, (str, os.PathLike)):
                tokenizer = load_tokenizer(str(tokenizer), trust_remote_code=self.trust_remote_code)
            return model, tokenizer
        source = str(model)
        check_model_source(source)
        if tokenizer is None:
            tokenizer = load_tokenizer(source, trust_remote_code=self.trust_remote_code)
        elif isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = load_tokenizer(str(tokenizer), trust_remote_code=self.trust_remote_code)
        loaded = load_model(source, trust_remote_code=self.trust_remote_code, dtype=self.dtype)
        return loaded, tokenizer

    # -- model facts -------------------------------------------------------------------

    @property
    def config(self) -> Any:
        return getattr(self.model, "config", None)

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(getattr(self.config, "is_encoder_decoder", False))

    @property
    def is_classifier(self) -> bool:
        return self.is_huggingface and (
            type(self.model).__name__.endswith("ForSequenceClassification") or config_has_labels(self.config)
        )

    @property
    def is_causal_lm(self) -> bool:
        if not self.is_huggingface or self.is_encoder_decoder:
            return False
        name = type(self.model).__name__
        return bool(getattr(self.config, "is_decoder", False)) or "CausalLM" in name or "LMHead" in name

    def max_positions(self) -> int | None:
        """The longest input the model accepts, in tokens, if it has a limit."""
        limits = []
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(self.config, name, None)
            if isinstance(value, int) and value > 0:
                if getattr(self.config, "model_type", "") in _OFFSET_POSITIONS:
                    # RoBERTa-like models number positions from padding_idx + 1.
                    value -= (getattr(self.config, "pad_token_id", 1) or 1) + 1
                limits.append(value)
        model_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max < _UNBOUNDED_LENGTH:
            limits.append(model_max)
        return min(limits) if limits else None

    def num_layers(self, stack: str = "attentions") -> int:
        """How many layers the stack has (``"attentions"`` for encoder-only/decoder-only)."""
        if not self.is_huggingface:
            return len(self._attention_modules)
        sites = self._ensure_sites()
        if sites is not None:
            return sum(1 for site in sites if site.stack == stack)
        config = self.config
        if stack in ("decoder_attentions", "cross_attentions"):
            for name in ("num_decoder_layers", "decoder_layers"):
                if isinstance(getattr(config, name, None), int):
                    return int(getattr(config, name))
        for name in ("num_hidden_layers", "n_layer", "num_layers", "encoder_layers"):
            if isinstance(getattr(config, name, None), int):
                return int(getattr(config, name))
        raise InputError("cannot tell how many layers this model has")

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
    ) -> AttentionData:
        """The attention weights the model used on ``text``.

        Args:
            text: the input text.
            layers: model layer indices to keep (default: all). Other layers are not stored.
            max_length: cut the input to this many tokens (never above what the model accepts).
            padding: ``"max_length"`` pads to ``max_length`` (padded keys get weight 0 and
                the mask marks them); False adds no padding.
            truncation: True cuts texts longer than the model accepts, with a
                :class:`TruncationWarning`; False refuses them with :class:`InputError`.
            target: for encoder-decoder models, the decoder's text (default: ``text``).

        Returns:
            :class:`AttentionData` with float32 ``(layers, heads, query, key)`` weights;
            for encoder-decoder models the encoder's, with ``parts["decoder"]`` and
            ``parts["cross"]``.
        """
        text = check_text(text)
        wanted = _normalise_layers(layers)
        encoded = self._encode(text, max_length=max_length, padding=padding, truncation=truncation, target=target)
        if wanted is not None:
            self._check_layers(wanted)
        with torch.inference_mode(), _eval_mode(self.model):
            result = self._extract_attention(encoded.inputs, wanted)
        return self._assemble(text, encoded, result, wanted)

    # -- extension point: one forward pass ---------------------------------------------

    def _extract_attention(self, inputs: Mapping[str, torch.Tensor], layers: Sequence[int] | None) -> ForwardResult:
        """One forward pass with per-layer capture; runs under ``torch.inference_mode()``.

        Args:
            inputs: model keyword arguments, tensors on ``self.device``.
            layers: layer indices to keep in every stack, or None for all.
        """
        wanted = None if layers is None else set(layers)
        if not self.is_huggingface:
            torch_capture = MultiheadAttentionCapture(self._attention_modules, wanted=wanted)
            with torch_capture.hooks():
                output = self.model(inputs["input_ids"])
            return ForwardResult(torch_capture.captured, _classifier_logits(output))

        with eager_attention(self.model):
            sites = self._ensure_sites()
            if sites is None:
                outputs = self.model(**inputs, output_attentions=True)
                stacks = {}
                for field in STACK_KINDS:
                    count = len(getattr(outputs, field, None) or ())
                    layers = [i for i in range(count) if wanted is None or i in wanted]
                    if layers:
                        weights = getattr(outputs, field)
                        stacks[field] = (np.stack([to_numpy(weights[i]) for i in layers]), tuple(layers))
            else:
                capture = LayerCapture(sites, wanted=wanted)
                with capture.hooks(self.model):
                    outputs = self.model(**inputs, output_attentions=True)
                stacks = capture.captured
        logits = getattr(outputs, "logits", None)
        return ForwardResult(stacks, None if logits is None else logits[0].detach().to("cpu", torch.float32).numpy())

    # -- internals ---------------------------------------------------------------------

    def _ensure_sites(self) -> list[CaptureSite] | None:
        """Where each layer's weights appear, learnt once per model from a 2-token probe."""
        if not self._sites_probed:
            probe = self._encode("a b", max_length=None, padding=False, truncation=True, target="a b").inputs
            with torch.inference_mode(), _eval_mode(self.model), eager_attention(self.model):
                self._sites = find_capture_sites(self.model, probe)
            self._sites_probed = True
        return self._sites

    def _check_layers(self, layers: Sequence[int]) -> None:
        stacks = ["encoder_attentions", "decoder_attentions"] if self.is_encoder_decoder else ["attentions"]
        for stack in stacks:
            count = self.num_layers(stack)
            for layer in layers:
                if not 0 <= layer < count:
                    raise InputError(
                        f"layer {layer} is out of range; this model has {count} layers ({describe_range(range(count))})"
                    )

    def _forward_keywords(self) -> set[str] | None:
        try:
            parameters = inspect.signature(self.model.forward).parameters
        except (TypeError, ValueError):
            return None
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return None
        return set(parameters)

    def _encode(
        self, text: str, *, max_length: int | None, padding: bool | str, truncation: bool, target: str | None
    ) -> EncodedText:
        tokenizer = self.tokenizer
        limit = self.max_positions()
        if max_length is not None:
            if max_length < 1:
                raise InputError(f"max_length must be at least 1, got {max_length}")
            limit = max_length if limit is None else min(limit, max_length)
        if padding not in (False, True, "longest", "max_length", "do_not_pad"):
            raise InputError(f"padding must be False, True or 'max_length', got {padding!r}")
        if padding == "max_length" and max_length is None:
            raise InputError("padding='max_length' needs max_length")
        if padding not in (False, "do_not_pad") and getattr(tokenizer, "pad_token", None) is None:
            raise InputError("this tokenizer has no pad token, so the text cannot be padded; use padding=False")

        def encode(truncate: bool) -> Any:
            return tokenizer(
                text,
                return_tensors="pt",
                truncation=truncate,
                max_length=limit,
                padding=padding,
                return_special_tokens_mask=True,
            )

        encoding = encode(truncate=False)  # one pass for the usual text that fits
        length = encoding["input_ids"].shape[1]
        if limit is not None and length > limit:
            if not truncation:
                raise InputError(
                    f"the text is {length} tokens long but at most {limit} are allowed; shorten it or allow truncation"
                )
            warnings.warn(
                f"the text is {length} tokens long but at most {limit} are allowed; "
                f"only the first {limit} tokens are analysed",
                TruncationWarning,
                stacklevel=3,
            )
            encoding = encode(truncate=True)
        input_ids = encoding["input_ids"]
        mask = encoding.get("attention_mask", torch.ones_like(input_ids))[0].numpy().astype(bool)
        special = self._special_mask(input_ids[0], encoding.get("special_tokens_mask")) | ~mask
        inputs = {name: value for name, value in encoding.items() if name != "special_tokens_mask"}

        decoder_tokens = decoder_special = None
        if self.is_encoder_decoder:
            decoder_ids = self._decoder_input_ids(target if target is not None else text, limit)
            inputs["decoder_input_ids"] = decoder_ids
            decoder_tokens = tokenizer.convert_ids_to_tokens(decoder_ids[0].tolist())
            decoder_special = self._special_mask(decoder_ids[0], None)

        keywords = self._forward_keywords() if self.is_huggingface else None
        if keywords is not None:
            inputs = {name: value for name, value in inputs.items() if name in keywords}
        inputs = {name: value.to(self.device) for name, value in inputs.items()}
        return EncodedText(
            inputs=inputs,
            tokens=tokenizer.convert_ids_to_tokens(input_ids[0].tolist()),
            special=special,
            mask=mask,
            decoder_tokens=decoder_tokens,
            decoder_special=decoder_special,
        )

    def _special_mask(self, ids: torch.Tensor, from_tokenizer: Any) -> np.ndarray:
        if from_tokenizer is not None:
            return from_tokenizer[0].numpy().astype(bool)
        special_ids = set(getattr(self.tokenizer, "all_special_ids", []) or [])
        return np.array([int(i) in special_ids for i in ids.tolist()], dtype=bool)

    def _decoder_input_ids(self, target: str, limit: int | None) -> torch.Tensor:
        """``[decoder_start_token] + tokens(target)``: what the decoder reads when producing ``target``."""
        config = self.config
        start = getattr(config, "decoder_start_token_id", None)
        if start is None:
            start = getattr(config, "bos_token_id", None)
        if start is None:
            start = getattr(config, "pad_token_id", 0) or 0
        target_ids = self.tokenizer(text_target=target, add_special_tokens=True)["input_ids"]
        ids = [int(start)] + list(target_ids)
        if limit is not None:
            ids = ids[:limit]
        return torch.tensor([ids], dtype=torch.long)

    def _display(self, tokens: Sequence[str], special: np.ndarray) -> list[str]:
        convert = getattr(self.tokenizer, "convert_tokens_to_string", None)
        decode = (lambda token: convert([token])) if convert is not None else None
        return display_tokens(tokens, special=special.tolist(), decode=decode)

    def _model_info(self, num_heads: int) -> ModelInfo:
        if not self.is_huggingface:
            return ModelInfo(
                model_type="pytorch",
                architecture="encoder",
                num_layers=len(self._attention_modules),
                num_heads=num_heads,
                name=type(self.model).__name__,
            )
        if self.is_encoder_decoder:
            architecture = "encoder-decoder"
            stack = "encoder_attentions"
        else:
            architecture = "decoder" if self.is_causal_lm else "encoder"
            stack = "attentions"
        return ModelInfo(
            model_type=str(self.config.model_type),
            architecture=architecture,
            num_layers=self.num_layers(stack),
            num_heads=num_heads,
            name=self.source or getattr(self.config, "_name_or_path", None) or type(self.model).__name__,
        )

    def _prediction(self, logits: np.ndarray | None) -> Prediction | None:
        if logits is None or logits.ndim != 1:
            return None
        if self.is_huggingface:
            if not self.is_classifier:
                return None
            id2label = getattr(self.config, "id2label", None) or {}
            labels = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(len(logits))]
        else:
            labels = [str(i) for i in range(len(logits))]
        return Prediction(
            logits=logits, probabilities=Prediction.from_logits(logits, labels).probabilities, labels=tuple(labels)
        )

    def _stack_array(
        self, result: ForwardResult, stack: str, description: str
    ) -> tuple[np.ndarray, tuple[int, ...]]:
        if stack not in result.stacks:
            raise InputError(
                f"the model returned no attention weights for {description}; subclass AttentionExtractor and "
                "override _extract_attention for this architecture"
            )
        return result.stacks[stack]

    def _assemble(
        self, text: str, encoded: EncodedText, result: ForwardResult, wanted: Sequence[int] | None
    ) -> AttentionData:
        encoder_tokens = TokenSequence(
            tuple(encoded.tokens),
            display=tuple(self._display(encoded.tokens, encoded.special)),
            mask=encoded.mask,
            special=encoded.special,
        )
        first_stack = next(iter(result.stacks.values()), None)
        num_heads = int(first_stack[0].shape[1]) if first_stack is not None else 0
        info = self._model_info(num_heads)
        prediction = self._prediction(result.logits)

        if not self.is_encoder_decoder:
            attentions, indices = self._stack_array(result, "attentions", "self-attention")
            causal = self.is_causal_lm or _looks_causal(attentions, encoded.mask)
            if causal and info.architecture == "encoder" and self.is_huggingface:
                info = ModelInfo(info.model_type, "decoder", info.num_layers, info.num_heads, info.name)
            return AttentionData(
                attentions=attentions,
                queries=encoder_tokens,
                text=text,
                layer_indices=indices,
                kind="self",
                causal=causal,
                model=info,
                prediction=prediction,
            )

        assert encoded.decoder_tokens is not None and encoded.decoder_special is not None
        decoder_tokens = TokenSequence(
            tuple(encoded.decoder_tokens),
            display=tuple(self._display(encoded.decoder_tokens, encoded.decoder_special)),
            special=encoded.decoder_special,
        )
        encoder_attn, encoder_layers = self._stack_array(result, "encoder_attentions", "the encoder")
        decoder_attn, decoder_layers = self._stack_array(result, "decoder_attentions", "the decoder")
        cross_attn, cross_layers = self._stack_array(result, "cross_attentions", "cross-attention")
        decoder = AttentionData(
            attentions=decoder_attn, queries=decoder_tokens, layer_indices=decoder_layers, kind="decoder",
            causal=True, text=text, model=info, prediction=prediction,
        )
        cross = AttentionData(
            attentions=cross_attn, queries=decoder_tokens, keys=encoder_tokens, layer_indices=cross_layers,
            kind="cross", text=text, model=info, prediction=prediction,
        )
        return AttentionData(
            attentions=encoder_attn, queries=encoder_tokens, layer_indices=encoder_layers, kind="encoder",
            parts={"decoder": decoder, "cross": cross}, text=text, model=info, prediction=prediction,
        )


def _looks_causal(attentions: np.ndarray, mask: np.ndarray) -> bool:
    """True when the first layer puts exactly 0 weight above the diagonal among real tokens.

    Softmax gives every unmasked key some weight, so a single nonzero entry above the
    diagonal proves the attention bidirectional; the check stops at the first head
    that shows one.
    """
    real = np.flatnonzero(mask)
    if len(real) < 2:
        return False
    upper = np.triu(np.ones((len(real), len(real)), dtype=bool), k=1)
    everything_real = len(real) == attentions.shape[-1] == attentions.shape[-2]
    for head in attentions[0]:
        block = head if everything_real else head[np.ix_(real, real)]
        if np.any(block[upper]):
            return False
    return True


def _classifier_logits(output: Any) -> np.ndarray | None:
    if isinstance(output, (tuple, list)):
        output = output[0]
    logits = getattr(output, "logits", output)
    if isinstance(logits, torch.Tensor) and logits.dim() == 2 and logits.shape[0] == 1:
        return logits[0].detach().to("cpu", torch.float32).numpy()
    return None


def check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError("the text is empty; give the text to analyse (for example --text 'The movie was great')")
    return text


def extract(
    model: str | os.PathLike[str] | nn.Module = DEFAULT_MODEL_DIR,
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
) -> AttentionData:
    """The attention weights ``model`` used on ``text``, every layer and head.

    Example::

        data = extract("./model_output", "The movie was not bad", device="cpu")
        data.attentions.shape   # (layers, heads, query, key)

    Args:
        model: a model directory, a loaded Hugging Face model, or a plain PyTorch
            module built on ``nn.MultiheadAttention``.
        text: the input text.
        tokenizer: needed with a loaded model unless its config names a local directory.
        device: ``"cuda"``, ``"mps"``, ``"cpu"``, or None for the best available.
        layers: model layer indices to keep (default: all).
        max_length, padding, truncation, target: see :meth:`AttentionExtractor.extract`.
        trust_remote_code: allow model code shipped in the directory to run.

    Raises:
        ModelLoadError: the model or tokenizer cannot be loaded.
        InputError: empty text, a layer out of range, an unavailable device, ...
    """
    check_text(text)
    extractor = AttentionExtractor(model, tokenizer=tokenizer, device=device, trust_remote_code=trust_remote_code)
    return extractor.extract(
        text, layers=layers, max_length=max_length, padding=padding, truncation=truncation, target=target
    )


__all__ = ["AttentionExtractor", "ForwardResult", "ModelLoadError", "extract"]
