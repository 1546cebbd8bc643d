"""Extraction backends: how a model turns a text into captured attention layers.

:class:`Backend` is the extension point for new architectures: a class with ``device``,
``facts()``, ``encode()`` and ``forward()``. :func:`assemble` builds
:class:`~attnviz_widget.data.AttentionData` from what a backend returns.
"""

from .assemble import assemble
from .base import CROSS, DECODER, ENCODER, SELF, Backend, Captured, EncodedText, ModelFacts
from .huggingface import HuggingFaceBackend
from .torch_module import TorchModuleBackend

__all__ = [
    "CROSS",
    "DECODER",
    "ENCODER",
    "SELF",
    "Backend",
    "Captured",
    "EncodedText",
    "HuggingFaceBackend",
    "ModelFacts",
    "TorchModuleBackend",
    "assemble",
]
