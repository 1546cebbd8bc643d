"""What the command-line tools say about an extraction, in one line each (the text itself is
checked by :func:`attnviz_widget.inputs.check_text`, for the API and the CLI alike).

Kept apart from :mod:`attnviz_widget.cli` (argument parsing and dispatch) so that the
messages can be tested and reused without the parsers; imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .data import AttentionData

__all__ = ["special_only_warning", "summary"]


def special_only_warning(data: AttentionData) -> str | None:
    """A warning when every real query token is a special token (``[CLS] [SEP]``), else None.

    Such a text (only zero-width or control characters, or only ``[SEP]``) shows how
    the special tokens attend to each other and nothing about the text. A token counts
    as special when flagged so or spelled like one (a tokenizer flags only the special
    tokens it added, not a ``[SEP]`` typed in the text).
    """
    from .vocabulary import looks_special

    queries = data.queries
    real = [i for i in range(len(queries)) if queries.mask[i]]
    if not all(queries.special[i] or looks_special(queries.tokens[i]) for i in real):
        return None
    tokens = " ".join(dict.fromkeys(queries.tokens[i] for i in real))
    return (
        f"the text tokenizes to nothing but special tokens ({tokens}); the attention shows how they attend "
        "to each other, not the text"
    )


def summary(data: AttentionData) -> str:
    """One line describing an :class:`AttentionData`: shape, model, prediction."""
    subset = data.model is not None and data.num_layers < data.model.num_layers
    if subset:
        layers = ("layer " if data.num_layers == 1 else "layers ") + ", ".join(map(str, data.layer_indices))
    else:
        layers = f"{data.num_layers} layer{'s' if data.num_layers > 1 else ''}"
    parts = [f"{layers} × {data.num_heads} heads × {int(data.queries.mask.sum())} tokens"]
    if data.model is not None:
        parts.append(f"{data.model.model_type} {data.model.architecture}")
    if data.parts:
        parts.append("with " + " and ".join(f"{name} attention" for name in data.parts))
    if data.prediction is not None:
        best = data.prediction.probabilities.max()
        parts.append(f"prediction: {data.prediction.label} ({best:.2f})")
    return "; ".join(parts)
