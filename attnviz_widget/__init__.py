"""attnviz_widget: see what a transformer attends to.

The public API::

    data = attnviz_widget.extract("./model_output", "The movie was not bad")
    view = attnviz_widget.prepare(data, aggregates=("mean", "rollout"))
    attnviz_widget.AttentionWidget("./model_output").show("The movie was not bad")

Importing the package is cheap: torch, transformers and the widget machinery load on
first use of :func:`extract` or :class:`AttentionWidget`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .data import AttentionData, ModelInfo, Prediction, TokenSequence
from .errors import AttnvizError, FormatError, InputError, ModelLoadError, TruncationWarning
from .prepare import attention_rollout, prepare  # numpy only; bound here so the name stays the function

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from .comparison import AttentionComparison, compare
    from .comparison.view import ComparisonWidget
    from .extractor import AttentionExtractor, extract
    from .files import read_attention_file, write_attention, write_backend_json, write_extracted_json
    from .generation import generate
    from .html_export import save_html
    from .plot import plot_heatmap, plot_plotly, save_heatmap
    from .stats import HeadStats, head_stats, plot_head_stats
    from .stats.view import HeadAtlasWidget
    from .widget import AttentionWidget

_LAZY = {
    "extract": "extractor",
    "AttentionExtractor": "extractor",
    "read_attention_file": "files",
    "write_attention": "files",
    "write_extracted_json": "files",
    "write_backend_json": "files",
    "plot_heatmap": "plot",
    "save_heatmap": "plot",
    "plot_plotly": "plot",
    "AttentionWidget": "widget",
    "save_html": "html_export",
    "compare": "comparison",
    "AttentionComparison": "comparison",
    "ComparisonWidget": "comparison.view",
    "generate": "generation",
    "head_stats": "stats",
    "HeadStats": "stats",
    "plot_head_stats": "stats",
    "HeadAtlasWidget": "stats.view",
}

__all__ = [
    "AttentionComparison",
    "AttentionData",
    "AttentionExtractor",
    "AttentionWidget",
    "AttnvizError",
    "ComparisonWidget",
    "FormatError",
    "HeadAtlasWidget",
    "HeadStats",
    "InputError",
    "ModelInfo",
    "ModelLoadError",
    "Prediction",
    "TokenSequence",
    "TruncationWarning",
    "__version__",
    "attention_rollout",
    "compare",
    "extract",
    "generate",
    "head_stats",
    "plot_head_stats",
    "plot_heatmap",
    "plot_plotly",
    "prepare",
    "read_attention_file",
    "save_heatmap",
    "save_html",
    "write_attention",
    "write_backend_json",
    "write_extracted_json",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'attnviz_widget' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f".{module_name}", __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
