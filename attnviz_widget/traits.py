"""The widget's synced traits (``js/PROTOCOL.md``), each with its default, defined once.

:class:`DataTraits` are what Python sends (tokens, meta, thumbnails, status);
:class:`ViewState` is what the user chose to look at, written by the browser and by
Python (``layer``, ``head``, ``color_scale``, ...).
:class:`~attnviz_widget.widget.AttentionWidget` inherits both, and the offline HTML page
(:mod:`attnviz_widget.html_export`) starts from the same defaults. Importing this module
needs traitlets and numpy only, no Jupyter.
"""

from __future__ import annotations

from typing import Any

import traitlets
from traitlets import Bool, Bytes, Dict, Enum, HasTraits, Int, List, Unicode, Union

from .data import AttentionData
from .wire import OVERVIEW_AGGREGATES

HEAD_AGGREGATES = OVERVIEW_AGGREGATES


class DataTraits(HasTraits):
    """The data traits of ``js/PROTOCOL.md`` (Python -> JS), replaced together with each data set."""

    data_version = Int(0).tag(sync=True)
    """Type: int. Default: 0. Increments with every new data set; older replies are dropped."""
    tokens = List(Unicode()).tag(sync=True)
    """Type: list[str]. Default: []. Display form of the query tokens, padding removed."""
    key_tokens = List(Unicode()).tag(sync=True)
    """Type: list[str]. Default: []. Display form of the key tokens (differs only for cross-attention)."""
    special = List(Bool()).tag(sync=True)
    """Type: list[bool]. Default: []. True for special query tokens ([CLS], </s>, ...)."""
    key_special = List(Bool()).tag(sync=True)
    """Type: list[bool]. Default: []. True for special key tokens."""
    meta = Dict().tag(sync=True)
    """Type: dict. Default: {}. Shape and model facts: num_layers, num_heads, layer_indices, causal, ..."""
    prediction = traitlets.Any(None, allow_none=True).tag(sync=True)
    """Type: dict | None. Default: None. ``{labels, probabilities, label}`` for classifiers."""
    overview = Bytes(b"").tag(sync=True)
    """Type: bytes. Default: b"". uint8 thumbnails, shape ``overview_shape``."""
    overview_shape = List(Int()).tag(sync=True)
    """Type: list[int]. Default: []. ``[layers, heads + 3, tq, tk]``: heads, then mean, max, rollout."""
    overview_scale = Bytes(b"").tag(sync=True)
    """Type: bytes. Default: b"". float32 ``(layers, heads + 3)``: value = pixel / 255 * scale."""
    first_matrix = Bytes(b"").tag(sync=True)
    """Type: bytes. Default: b"". float16 ``(query, key)``: the head or aggregate focused when the
    data arrived, sent with the data so the first paint needs no request and no other head."""
    first_matrix_of = Dict().tag(sync=True)
    """Type: dict. Default: {}. ``{"layer": int, "head": int | "mean" | "max" | "rollout"}`` of ``first_matrix``."""
    status = Enum(["empty", "loading", "ready", "error"], "empty").tag(sync=True)
    """Type: str. Default: "empty". One of empty, loading, ready, error."""
    error = Unicode("").tag(sync=True)
    """Type: str. Default: "". The error message when status is "error"."""


class ViewState(HasTraits):
    """The user-state traits of ``js/PROTOCOL.md`` (synced both ways)."""

    text = Unicode("").tag(sync=True)
    """Type: str. Default: "". The text shown; setting it re-extracts (newest text always wins)."""
    layer = Int(0).tag(sync=True)
    """Type: int. Default: the first kept layer. The focused model layer."""
    head = Union([Int(), Enum(list(HEAD_AGGREGATES))], default_value=0).tag(sync=True)
    """Type: int | "mean" | "max" | "rollout". Default: 0. The focused head or aggregate."""
    selected_token = Int(None, allow_none=True).tag(sync=True)
    """Type: int | None. Default: None. Query token hovered or locked in the browser."""
    token_locked = Bool(False).tag(sync=True)
    """Type: bool. Default: False. Whether ``selected_token`` is locked (click; Escape unlocks)."""
    direction = Enum(["from", "to"], "from").tag(sync=True)
    """Type: "from" | "to". Default: "from". Token view: attention from the selected token, or to it."""
    color_scale = Enum(["linear", "sqrt", "log"], "sqrt").tag(sync=True)
    """Type: "linear" | "sqrt" | "log". Default: "sqrt". Colour mapping; sqrt and log survive attention sinks."""
    row_normalize = Bool(False).tag(sync=True)
    """Type: bool. Default: False. Scale each query row to its own maximum."""
    hide_special = Bool(False).tag(sync=True)
    """Type: bool. Default: False. Hide special tokens and renormalise the remaining rows."""
    section = Unicode("").tag(sync=True)
    """Type: str. Default: the first stack. For encoder-decoder models: "encoder", "decoder" or "cross"."""
    step = Int(None, allow_none=True).tag(sync=True)
    """Type: int | None. Default: None. For generated text (``meta.generation``): the generated token the
    step control shows. Step ``i`` is query ``prompt_tokens + i``, chosen by the row of query
    ``prompt_tokens + i - 1``, which setting it selects and locks. None without a generation."""

    #: The traits a caller may set when creating a widget (``text`` comes through ``show``).
    USER_TRAITS = (
        "layer", "head", "selected_token", "token_locked", "direction", "color_scale",
        "row_normalize", "hide_special", "section", "step",
    )
    #: The traits an exported page starts from (the rest depend on the stack or the browser).
    EXPORTED_TRAITS = ("layer", "head", "color_scale", "row_normalize", "hide_special", "direction", "step")


def view_defaults() -> dict[str, Any]:
    """Every user-state trait's default value, by name (``text`` and ``section`` included)."""
    return {name: trait.default() for name, trait in ViewState.class_traits(sync=True).items()}


def fit_selection(view: AttentionData, has_rollout: bool, layer: int, head: int | str) -> tuple[int, int | str]:
    """``(layer, head)`` kept where ``view`` has them, else the first layer, head 0 or the mean.

    ``view`` is one stack, attentions ``(layers, heads, query, key)``; ``has_rollout``
    says whether rollout is defined for it.
    """
    if layer not in view.layer_indices:
        layer = view.layer_indices[0]
    if isinstance(head, int) and not 0 <= head < view.num_heads:
        head = 0
    if head == "rollout" and not has_rollout:
        head = "mean"
    return layer, head


def check_layer(view: AttentionData | None, value: Any) -> int:
    """``value`` as a layer of ``view`` (any int while there is no data); else a TraitError."""
    layer = int(value)
    if view is not None and layer not in view.layer_indices:
        from .data import describe_range

        raise traitlets.TraitError(f"layer {layer} is not available; {describe_range(view.layer_indices)}")
    return layer


def check_head(view: AttentionData | None, has_rollout: bool, value: int | str) -> int | str:
    """``value`` as a head or aggregate of ``view``; ``"rollout"`` only where it is served."""
    if isinstance(value, int) and view is not None and not 0 <= value < view.num_heads:
        raise traitlets.TraitError(
            f"head {value} is out of range; valid heads are 0 to {view.num_heads - 1} or one of "
            f"{', '.join(HEAD_AGGREGATES)}"
        )
    if value == "rollout" and view is not None and not has_rollout:
        from .aggregates import rollout_problem

        raise traitlets.TraitError(rollout_problem(view) or "rollout is unavailable")
    return value
