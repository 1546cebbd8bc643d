"""Streaming a generation: each token as the model writes it, with the attention that chose it.

:class:`StreamCapture` wraps one call of the model's own ``generate``. With eager attention and
forward hooks on the modules that return each layer's weights (the sites the dense capture
learns, :func:`attnviz_widget.capture.find_capture_sites`), every forward of the cached
generation loop hands over its new query rows: the prompt's whole matrix on the first step,
then one row per layer and head per step. They are copied into preallocated float32
``(layers, heads, query, key)`` arrays and the model keeps an empty placeholder, as in the
dense capture. A forward hook on the model keeps each step's raw logits and a streamer learns
each chosen token. (The scores a token was sampled from, after temperature and top-k/top-p,
are only known once generate returns: its warpers run after any caller's logits processor.)
After each token, ``on_token`` gets a :class:`StreamStep`; :meth:`StreamCapture.partial` then
gives the attention known so far as ``{stack: (float32 array, layer indices)}``.

These rows are the weights of cached generation itself. The widget shows them while the
model writes; the finished result still comes from one forward pass over the final sequence
(:func:`attnviz_widget.generation.generate`), which the tests show equal within 1e-5.

Only the standard cache layout is followed: a model whose cache drops keys (a sliding-window
cache) gives rows shorter than their position; then :attr:`StreamCapture.problem` says so and
no more rows are kept (tokens and scores still stream).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..backends.base import CROSS, DECODER, ENCODER, SELF
from ..capture import CaptureSite, eager_attention

__all__ = ["StreamCapture", "StreamStep", "stack_capacities"]


@dataclass(frozen=True)
class StreamStep:
    """One generated token as it was chosen.

    Attributes:
        index: the step (0 for the first generated token).
        token_id: the chosen token.
        logits: float32 ``(1, vocab)`` raw logits of that step, on the CPU.
    """

    index: int
    token_id: int
    logits: torch.Tensor


def stack_capacities(is_encoder_decoder: bool, prompt_tokens: int, max_new_tokens: int) -> dict[str, tuple[int, int]]:
    """``{stack: (queries, keys)}``: the largest matrix each stack's rows can fill during generation."""
    if not is_encoder_decoder:
        total = prompt_tokens + max_new_tokens
        return {SELF: (total, total)}
    decoder = 1 + max_new_tokens  # the start token, then the generated ones
    return {ENCODER: (prompt_tokens, prompt_tokens), DECODER: (decoder, decoder), CROSS: (decoder, prompt_tokens)}


class _StackRows:
    """One stack's kept layers, filled row by row: float32 ``(layers, heads, queries, keys)``."""

    def __init__(self, layers: Iterable[int], queries: int, keys: int, self_attention: bool) -> None:
        self.layers = tuple(sorted(set(layers)))
        self.slot = {layer: slot for slot, layer in enumerate(self.layers)}
        self.queries, self.keys = queries, keys
        self.self_attention = self_attention
        self.array: np.ndarray | None = None
        self.filled = dict.fromkeys(self.layers, 0)

    def put(self, layer: int, weights: torch.Tensor) -> str | None:
        """Append the rows of ``weights``, ``(batch, heads, new queries, keys so far)``; a problem or None."""
        _, heads, new, keys = weights.shape
        start = self.filled[layer]
        expected = start + new if self.self_attention else self.keys
        if keys != expected or start + new > self.queries:
            return (
                f"the cache gave {keys} keys for query rows {start}–{start + new - 1} where {expected} were expected "
                "(a cache that drops keys, such as a sliding window); the rows are shown once generation ends"
            )
        if self.array is None:
            self.array = np.zeros((len(self.layers), heads, self.queries, self.keys), dtype=np.float32)
        target = torch.from_numpy(self.array[self.slot[layer], :, start : start + new, :keys])
        target.copy_(weights.detach()[0])
        self.filled[layer] = start + new
        return None

    def rows_known(self) -> int:
        """Query rows filled in every kept layer."""
        return min(self.filled.values()) if self.filled else 0


class StreamCapture:
    """Per-step attention rows, logits, scores and tokens of one ``model.generate`` call.

    Args:
        model: the Hugging Face language model (run with eager attention inside :meth:`running`).
        sites: where each layer's weights appear (``HuggingFaceBackend._ensure_sites``), or None:
            then tokens and scores stream without rows.
        wanted: model layers to keep in every stack (None: all).
        capacities: ``{stack: (queries, keys)}`` from :func:`stack_capacities`.
        on_token: called on the generating thread after each chosen token.
    """

    def __init__(
        self, model: nn.Module, sites: list[CaptureSite] | None, wanted: Iterable[int] | None,
        capacities: dict[str, tuple[int, int]], on_token: Callable[[StreamStep], None],
    ) -> None:
        self.model = model
        self.sites = sites or []
        self.on_token = on_token
        keep = None if wanted is None else set(wanted)
        self.stacks: dict[str, _StackRows] = {}
        for stack, (queries, keys) in capacities.items():
            layers = [s.layer for s in self.sites if s.stack == stack and (keep is None or s.layer in keep)]
            if layers:
                self.stacks[stack] = _StackRows(layers, queries, keys, self_attention=stack != CROSS)
        self.problem: str | None = None if sites else "this model's weights cannot be followed step by step"
        """Why rows stopped being kept (None: every step's rows are here)."""
        self.prefix: list[int] = []
        """The ids generate started from: the prompt, or an encoder-decoder's decoder start token."""
        self.tokens: list[int] = []
        """The generated ids so far."""
        self._logits: torch.Tensor | None = None
        self._prompt_seen = False

    # -- the pieces generate calls -------------------------------------------------------

    @contextmanager
    def running(self, generate_kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Hooks installed for the block; yields the extra ``generate`` arguments to pass."""
        modules = dict(self.model.named_modules())
        with ExitStack() as stack:
            if self.stacks:
                stack.enter_context(eager_attention(self.model))
                for site in self.sites:
                    handle = modules[site.module_name].register_forward_hook(self._hook_for(site), prepend=True)
                    stack.callback(handle.remove)
            handle = self.model.register_forward_hook(self._keep_logits)
            stack.callback(handle.remove)
            yield self._generate_arguments(generate_kwargs)

    def _generate_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        extra: dict[str, Any] = {"streamer": _Streamer(self, kwargs.get("streamer"))}
        if self.stacks:
            extra["output_attentions"] = True
        return extra

    def _hook_for(self, site: CaptureSite) -> Any:
        rows = self.stacks.get(site.stack)

        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            weights = output if site.index is None else output[site.index]
            if rows is not None and site.layer in rows.slot and self.problem is None:
                if isinstance(weights, torch.Tensor) and weights.dim() == 4:
                    self.problem = rows.put(site.layer, weights)
            if site.index is None or not isinstance(output, tuple):
                return None
            return output[: site.index] + (weights.new_empty((0,)),) + output[site.index + 1 :]

        return hook

    def _keep_logits(self, module: nn.Module, args: Any, output: Any) -> None:
        logits = getattr(output, "logits", None)
        if isinstance(logits, torch.Tensor) and logits.dim() == 3:
            self._logits = logits[:1, -1, :].detach().to("cpu", torch.float32)

    def _token(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate's first put is the prompt (or the decoder's start token)
            self._prompt_seen = True
            self.prefix = [int(i) for i in value.reshape(-1).tolist()]
            return
        for token_id in value.reshape(-1).tolist():
            if self._logits is None:
                continue  # no step ran before this token (cannot happen with generate's own loop)
            self.tokens.append(int(token_id))
            self.on_token(StreamStep(len(self.tokens) - 1, int(token_id), self._logits))

    # -- what is known so far ------------------------------------------------------------

    def partial(self, rows: int, prompt_tokens: int) -> dict[str, tuple[np.ndarray, tuple[int, ...]]] | None:
        """The square ``rows`` × ``rows`` self-attention (and cross rows) known so far, or None when
        rows are not followed (see :attr:`problem`) or not yet there.

        Decoder-only: ``{"attentions": ((layers, heads, rows, rows), layers)}``. Encoder-decoder:
        the encoder's whole ``(P, P)``, the decoder's ``(rows, rows)`` and cross ``(rows, P)``
        (``prompt_tokens``: the encoder's length). Views into the capture's arrays: rows below
        ``rows`` are final and never written again.
        """
        if self.problem is not None or not self.stacks:
            return None
        found = {}
        for stack, kept in self.stacks.items():
            if kept.array is None:
                return None
            needed = prompt_tokens if stack == ENCODER else rows
            if kept.rows_known() < needed:
                return None
            keys = prompt_tokens if stack in (ENCODER, CROSS) else rows
            found[stack] = (kept.array[:, :, :needed, :keys], kept.layers)
        return found


class _Streamer:
    """generate's streamer interface: learns each new token (and passes it on to the caller's streamer)."""

    def __init__(self, capture: StreamCapture, inner: Any) -> None:
        self.capture = capture
        self.inner = inner

    def put(self, value: torch.Tensor) -> None:
        self.capture._token(value)
        if self.inner is not None:
            self.inner.put(value)

    def end(self) -> None:
        if self.inner is not None:
            self.inner.end()
