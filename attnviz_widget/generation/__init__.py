"""Attention over generated text: what each new token looked at, as the model wrote it.

:func:`generate` runs a language model's own ``generate`` on a prompt, then one forward pass
over the prompt and the generated tokens, and returns
:class:`~attnviz_widget.data.AttentionData` with a :class:`Generation` record attached
(``data.generation``). The records (:mod:`.steps`) are numpy-only and import nothing heavy;
:func:`generate` loads torch and transformers on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .steps import FINISH_REASONS, Alternative, Generation, StepScore, attach_generation, generated_marks

if TYPE_CHECKING:  # pragma: no cover
    from .run import generate

__all__ = [
    "FINISH_REASONS", "Alternative", "Generation", "StepScore", "attach_generation", "generate", "generated_marks",
]


def __getattr__(name: str) -> Any:
    if name == "generate":
        from .run import generate

        return generate
    raise AttributeError(f"module 'attnviz_widget.generation' has no attribute {name!r}")
