"""Head statistics over a corpus: which heads attend where, over thousands of texts.

:func:`head_stats` runs a model over a corpus (locally or on Ray) and returns
:class:`HeadStats`; :func:`plot_head_stats` draws the layer × head atlas of one metric.
Importing this package imports neither torch, Ray nor pandas; they load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .api import head_stats
    from .plot import plot_head_stats
    from .result import HeadStats

_LAZY = {"head_stats": "api", "HeadStats": "result", "plot_head_stats": "plot"}
__all__ = ["HeadStats", "head_stats", "plot_head_stats"]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'attnviz_widget.stats' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value
