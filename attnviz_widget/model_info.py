"""Facts about the model an extraction came from, and a classifier's prediction. numpy only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PureWindowsPath
from typing import Any

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class ModelInfo:
    """Facts about the model an extraction came from.

    Attributes:
        model_type: the config's ``model_type`` (``"bert"``, ``"gpt2"``, ...) or ``"pytorch"``.
        architecture: ``"encoder"``, ``"decoder"`` or ``"encoder-decoder"``.
        num_layers: layers of the model (of each stack for encoder-decoder models).
        num_heads: query heads per layer.
        name: where the model came from (a directory or a hub name), if known.
    """

    model_type: str
    architecture: str
    num_layers: int
    num_heads: int
    name: str | None = None

    @property
    def short_name(self) -> str | None:
        """The name for titles and shared files, from the string alone (no file-system reads).

        A path (absolute, ``~``, ``./``, a drive, a backslash or two slashes) by its last
        part: ``/home/me/models/my-model`` -> ``my-model``; a hub id as it is
        (``bert-base-uncased``, ``org/model``); None when nothing is left (``"."``).
        """
        name = self.name
        if not name:
            return name
        if not (name.startswith(("/", "\\", "~", ".")) or "\\" in name or name.count("/") > 1 or name[1:2] == ":"):
            return name
        last = PureWindowsPath(name).name  # splits at "/" and "\\" alike
        return None if last in ("", ".", "..") else last

    def to_dict(self, *, full_name: bool = False) -> dict[str, Any]:
        """JSON-ready facts; the model named by :attr:`short_name`, so that files, pages and the
        widget never carry a local path, unless ``full_name`` asks for :attr:`name` as given."""
        return {
            "model_type": self.model_type,
            "architecture": self.architecture,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "name": self.name if full_name else self.short_name,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelInfo:
        return cls(
            model_type=str(values["model_type"]),
            architecture=str(values["architecture"]),
            num_layers=int(values["num_layers"]),
            num_heads=int(values["num_heads"]),
            name=None if values.get("name") is None else str(values["name"]),
        )


@dataclass(frozen=True, eq=False)
class Prediction:
    """A sequence classifier's output for the text.

    Attributes:
        logits: float32 ``(labels,)``, as the model returned them.
        probabilities: float32 ``(labels,)``, the softmax of the logits.
        labels: the label names from the model's config (``id2label``).
    """

    logits: np.ndarray
    probabilities: np.ndarray
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        logits = np.asarray(self.logits, dtype=np.float32).reshape(-1)
        probabilities = np.asarray(self.probabilities, dtype=np.float32).reshape(-1)
        labels = tuple(str(label) for label in self.labels)
        if not len(logits) == len(probabilities) == len(labels):
            raise InputError(
                f"prediction has {len(logits)} logits, {len(probabilities)} probabilities "
                f"and {len(labels)} labels; they must match"
            )
        object.__setattr__(self, "logits", logits)
        object.__setattr__(self, "probabilities", probabilities)
        object.__setattr__(self, "labels", labels)

    @classmethod
    def from_logits(cls, logits: Sequence[float] | np.ndarray, labels: Sequence[str]) -> Prediction:
        values = np.asarray(logits, dtype=np.float64).reshape(-1)
        exp = np.exp(values - values.max())
        return cls(logits=values, probabilities=exp / exp.sum(), labels=tuple(labels))

    @property
    def label(self) -> str:
        """The most probable label."""
        return self.labels[int(np.argmax(self.probabilities))]

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "logits": self.logits.tolist(),
            "probabilities": self.probabilities.tolist(),
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Prediction:
        return cls(
            logits=np.asarray(values["logits"], dtype=np.float32),
            probabilities=np.asarray(values["probabilities"], dtype=np.float32),
            labels=tuple(values["labels"]),
        )
