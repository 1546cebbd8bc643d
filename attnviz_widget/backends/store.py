"""Choosing how attention is kept: dense (one stored array) or lazy (computed when read).

The dense array of ``layers × heads × query × key`` float32 values grows with the square of
the length; :func:`choose_store` sizes it before anything runs and sends long inputs down the
lazy path, or refuses them in one line where only the dense path applies. Nothing past the
memory budget is attempted silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..errors import InputError
from ..lazy.attentions import DEFAULT_MEMORY_BUDGET, dense_nbytes, describe_bytes
from .base import CROSS, DECODER, ENCODER, SELF, Backend, EncodedText

Store = Literal["auto", "dense", "lazy"]
STORES: tuple[str, ...] = ("auto", "dense", "lazy")

__all__ = ["DEFAULT_MEMORY_BUDGET", "STORES", "Store", "choose_store", "dense_size"]


def dense_size(backend: Backend, encoded: EncodedText, layers: Sequence[int] | None) -> int:
    """Bytes of the dense float32 weights of every kept layer of every stack (0 when unknown)."""
    facts = backend.facts()
    if facts.heads is None:
        return 0
    inputs = len(encoded.tokens)
    outputs = len(encoded.decoder_tokens or ())
    shapes = {SELF: (inputs, inputs), ENCODER: (inputs, inputs), DECODER: (outputs, outputs), CROSS: (outputs, inputs)}
    total = 0
    for stack, count in facts.layers.items():
        kept = count if layers is None else len(set(layers))
        total += dense_nbytes(kept, facts.heads, *shapes[stack])
    return total


def choose_store(
    backend: Backend, encoded: EncodedText, layers: Sequence[int] | None, store: str, memory_budget: int | None
) -> Backend:
    """The backend that keeps the attention of ``encoded`` as ``store`` asks.

    ``"auto"``: ``backend`` itself while the dense weights fit in ``memory_budget``, the lazy
    backend beyond it. ``"dense"``: ``backend``, refused beyond the budget. ``"lazy"``: the lazy
    backend, refused for a model it cannot serve.
    """
    from .lazy import LazyBackend, lazy_problem  # torch and transformers' registry: only when extracting

    if store not in STORES:
        raise InputError(f"store must be one of {', '.join(STORES)}, got {store!r}")
    if isinstance(backend, LazyBackend):
        backend = backend.base
    budget = memory_budget if memory_budget is not None else None
    size = dense_size(backend, encoded, layers)
    fits = budget is None or size <= budget
    if store == "dense" or (store == "auto" and fits):
        if not fits:
            raise InputError(_over_budget(size, budget, len(encoded.tokens), lazy_problem(backend)))
        return backend
    problem = lazy_problem(backend)
    if problem is not None:
        if store == "lazy":
            raise InputError(f"store='lazy' is not possible: {problem}")
        raise InputError(_over_budget(size, budget, len(encoded.tokens), problem))
    lazy_budget = DEFAULT_MEMORY_BUDGET if budget is None else budget
    return LazyBackend(backend, memory_budget=lazy_budget)  # type: ignore[arg-type]


def _over_budget(size: int, budget: int | None, tokens: int, lazy_problem: str | None) -> str:
    way_out = (
        "use store='lazy' (weights computed when read)" if lazy_problem is None
        else f"the lazy path is not available ({lazy_problem})"
    )
    return (
        f"the attention of {tokens:,} tokens would take {describe_bytes(size)} as one array, over the memory "
        f"budget of {describe_bytes(budget or 0)}; keep fewer layers with layers=, shorten the text, raise "
        f"memory_budget=, or {way_out}"
    )
