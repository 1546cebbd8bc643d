"""Lazy long-context attention: record queries and keys, compute exact weights on demand.

``LazyCapture`` records each layer's queries and keys through transformers' attention-function
registry during an ordinary forward pass; ``LazyStack`` answers ``matrix``/``rows``/``columns``/
``tile``/``thumbnails`` from them exactly, in bounded chunks, without ever holding a
``query × key`` array per layer. Imports torch: ``attnviz_widget`` itself does not import this.
"""

from __future__ import annotations

from .compute import DEFAULT_BLOCK_BYTES
from .registry import LazyCapture, lazy_supported
from .stack import LazyStack

__all__ = ["DEFAULT_BLOCK_BYTES", "LazyCapture", "LazyStack", "lazy_supported"]
