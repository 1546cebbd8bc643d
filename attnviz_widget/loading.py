"""Loading a Hugging Face model and tokenizer from a directory, with actionable errors.

The model class follows the config: a sequence classifier first when the config has
labels, else the class the model was saved as (``architectures``), else the
sequence-to-sequence or causal language-model class its kind needs, else the bare
``AutoModel``. Remote code runs only when the caller asks for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig

from .errors import ModelLoadError

CONFIG_FILE = "config.json"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "tokenizer.model",
    "sentencepiece.bpe.model",
)
_DEFAULT_LABEL = re.compile(r"^LABEL_\d+$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def config_has_labels(config: PretrainedConfig) -> bool:
    """True when the config describes a sequence classifier (named labels or its class)."""
    architectures = getattr(config, "architectures", None) or []
    if any(name.endswith("ForSequenceClassification") for name in architectures):
        return True
    id2label = getattr(config, "id2label", None) or {}
    return bool(id2label) and not all(_DEFAULT_LABEL.match(str(label)) for label in id2label.values())


def model_class_for(config: PretrainedConfig) -> Any:
    """The transformers class to load a model with this config."""
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
        AutoModelForSequenceClassification,
    )

    if config_has_labels(config):
        try:
            AutoModelForSequenceClassification._model_mapping[type(config)]
            return AutoModelForSequenceClassification
        except KeyError:
            pass
    for name in getattr(config, "architectures", None) or []:
        model_class = getattr(transformers, name, None)
        if model_class is not None:
            return model_class
    if getattr(config, "is_encoder_decoder", False):
        return AutoModelForSeq2SeqLM
    if getattr(config, "is_decoder", False):
        return AutoModelForCausalLM
    return AutoModel


def _looks_like_hub_id(name: str) -> bool:
    return bool(_HUB_ID.match(name)) and not name.startswith(".") and os.sep not in name.replace("/", "", 1)


def check_model_dir(path: str | os.PathLike[str]) -> Path:
    """The model directory, or :class:`ModelLoadError` saying what is missing."""
    directory = Path(path).expanduser()
    if not directory.exists():
        raise ModelLoadError(
            f"model directory '{directory}' does not exist; pass --model_dir with a folder saved by "
            "model.save_pretrained() and tokenizer.save_pretrained()"
        )
    if not directory.is_dir():
        raise ModelLoadError(f"'{directory}' is a file, not a model directory; pass the folder that holds config.json")
    if not any(directory.iterdir()):
        raise ModelLoadError(
            f"model directory '{directory}' is empty; save a model into it with model.save_pretrained('{directory}')"
        )
    if not (directory / CONFIG_FILE).is_file():
        raise ModelLoadError(
            f"model directory '{directory}' has no {CONFIG_FILE}; it must be saved with model.save_pretrained()"
        )
    return directory


def check_model_source(source: str) -> None:
    """A local directory must hold a saved model; anything else must look like a hub name."""
    if Path(source).expanduser().is_dir() or not _looks_like_hub_id(source):
        check_model_dir(source)


def load_tokenizer(source: str, *, trust_remote_code: bool = False) -> Any:
    """The tokenizer saved with the model, or :class:`ModelLoadError`."""
    directory = Path(source)
    if directory.is_dir() and not any((directory / name).exists() for name in TOKENIZER_FILES):
        raise ModelLoadError(
            f"model directory '{directory}' has no tokenizer (no tokenizer.json or vocab file); "
            f"save one with tokenizer.save_pretrained('{directory}') or pass tokenizer="
        )
    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except Exception as error:  # transformers raises many kinds here
        raise ModelLoadError(f"could not load the tokenizer {_where(source)}: {_first_line(error)}") from error


def load_model(
    source: str,
    *,
    trust_remote_code: bool = False,
    attn_implementation: str | None = "eager",
    dtype: torch.dtype | None = None,
) -> Any:
    """A model from a directory (or hub name), in eval mode, on the CPU.

    Loaded with eager attention by default: extraction needs the weights that eager
    attention returns, and the same kernel then serves every forward.
    """
    check_model_source(source)
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except Exception as error:
        raise ModelLoadError(f"could not read the model config {_where(source)}: {_first_line(error)}") from error
    model_class = model_class_for(config)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    if dtype is not None:
        kwargs["dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"] = dtype
    try:
        with _no_progress_bars():
            model = model_class.from_pretrained(source, **kwargs)
    except Exception as error:
        raise ModelLoadError(
            f"could not load the model weights {_where(source)} as {getattr(model_class, '__name__', model_class)}: "
            f"{_first_line(error)}"
        ) from error
    return model.eval()


def _where(source: str) -> str:
    if Path(source).expanduser().is_dir():
        return f"from '{source}'"
    return f"'{source}' (not a local directory, so it was looked up on the Hugging Face Hub)"


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Loading a model prints no progress bar (notebooks and CLI output stay clean)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
