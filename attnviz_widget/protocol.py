"""The Python server of the widget's custom-message protocol: one request in, one reply out.

Pure and Jupyter-free: :func:`answer` maps a request dict from the frontend to a reply
dict and at most one binary buffer, as ``js/PROTOCOL.md`` specifies. The other server
of the same protocol is ``LocalModel`` in ``js/src/standalone.ts`` (the offline HTML
page); ``tests/protocol_fixtures/`` holds request -> reply pairs that both must give.

A new request kind is one function registered with :func:`handles`::

    @handles("tile")
    def _tile(served: Served, request: Mapping[str, Any]) -> Reply:
        ...
        return {"type": "tile", ...}, payload
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .data import AttentionData
from .errors import AttnvizError, InputError
from .prepare import rollout_problem
from .wire import can_roll_out, float16_bytes

#: Full-resolution layers kept encoded per data set (the browser caches them too).
LAYER_CACHE_SIZE = 4

#: A reply without ``id`` and ``version`` (``answer`` adds them), and its buffer if any.
Reply = tuple[dict[str, Any], bytes | None]
Handler = Callable[["Served", Mapping[str, Any]], Reply]


class Served:
    """One attention stack of one data set, as the protocol serves it.

    Args:
        view: the stack with padding removed, attentions ``(layers, heads, query, key)``.
        version: the ``data_version`` this data set was sent with; older requests are refused.
        rollout: float32 ``(layers, query, key)`` rollout through each kept layer, or None
            where it is undefined.
    """

    def __init__(self, view: AttentionData, version: int, rollout: np.ndarray | None) -> None:
        self.view = view
        self.version = version
        self.rollout_bytes = None if rollout is None else float16_bytes(rollout)
        self._layers: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def layer_bytes(self, layer: int) -> bytes:
        """Model layer ``layer`` as float16 ``(heads, query, key)``; the last few are cached."""
        with self._lock:
            cached = self._layers.get(layer)
            if cached is not None:
                self._layers.move_to_end(layer)
                return cached
        position = self.view.position_of_layer(layer)
        problem = layer_problem(self.view)
        if problem is not None:
            raise InputError(problem)
        encoded = float16_bytes(self.view.attentions[position])
        with self._lock:
            self._layers[layer] = encoded
            while len(self._layers) > LAYER_CACHE_SIZE:
                self._layers.popitem(last=False)
        return encoded


class RolloutOnRequest(Served):
    """A :class:`Served` whose rollout is computed and encoded on its first request: for a first
    paint sent without it (:func:`attnviz_widget.wire.build_first_view`)."""

    def __init__(self, view: AttentionData, version: int) -> None:
        self._rollout_bytes: bytes | None = None
        super().__init__(view, version, None)

    @property  # type: ignore[override]
    def rollout_bytes(self) -> bytes | None:
        if self._rollout_bytes is None and can_roll_out(self.view):
            self._rollout_bytes = float16_bytes(self.view.rollout())
        return self._rollout_bytes

    @rollout_bytes.setter
    def rollout_bytes(self, value: bytes | None) -> None:
        self._rollout_bytes = value


def layer_problem(view: AttentionData) -> str | None:
    """Why a whole layer is not sent, or None: weights computed on demand past the memory budget
    (every head's ``T × T`` matrix at once); the frontend reads such data through tiles."""
    attentions = view.attentions
    if view.is_lazy and attentions.nbytes > attentions.memory_budget:
        return (
            f"whole layers of {len(view.queries):,} × {len(view.keys):,} weights computed on demand are not sent "
            "(over the memory budget); ask for tiles or rows"
        )
    return None


HANDLERS: dict[str, Handler] = {}
"""Request kind (the request's ``what``) -> the function that answers it."""


def handles(what: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the answer to requests with ``what == what``."""

    def register(handler: Handler) -> Handler:
        HANDLERS[what] = handler
        return handler

    return register


def answer(served: Served | None, request: Mapping[str, Any]) -> Reply:
    """The reply to one request from the frontend and its buffer (``None`` for errors).

    ``served`` is the data shown now (None before any data). Every reply carries the
    request's ``id`` and the current ``version``; a request for an older version, an
    unknown kind or bad fields gets ``{"type": "error", "message": ...}``.
    """
    if not isinstance(request, Mapping):
        message = "a request must be an object"
        return {"type": "error", "id": None, "version": _version(served), "message": message}, None
    base = {"id": request.get("id"), "version": _version(served)}
    try:
        if served is None:
            raise InputError("no data yet")
        if request.get("version") != served.version:
            raise InputError("the data changed since this request")
        what = request.get("what")
        handler = HANDLERS.get(what) if isinstance(what, str) else None
        if handler is None:
            raise InputError(f"unknown request {what!r}; known: {', '.join(sorted(HANDLERS))}")
        reply, payload = handler(served, request)
        return {**reply, **base}, payload
    except (AttnvizError, TypeError, ValueError) as error:
        return {"type": "error", **base, "message": str(error)}, None


def _version(served: Served | None) -> int:
    return 0 if served is None else served.version


def integer_field(request: Mapping[str, Any], name: str) -> int:
    """``request[name]`` as an int; a bool, float, string or missing value is refused."""
    value = request.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"request field {name!r} must be an integer, got {value!r}")
    return int(value)


@handles("layer")
def _layer(served: Served, request: Mapping[str, Any]) -> Reply:
    """``{what: "layer", layer}`` -> float16 ``(heads, query, key)`` of that model layer."""
    layer = integer_field(request, "layer")
    view = served.view
    payload = served.layer_bytes(layer)
    shape = [view.num_heads, len(view.queries), len(view.keys)]
    return {"type": "layer", "layer": layer, "dtype": "float16", "shape": shape}, payload


@handles("rollout")
def _rollout(served: Served, request: Mapping[str, Any]) -> Reply:
    """``{what: "rollout"}`` -> float16 ``(layers, query, key)`` rollout through each kept layer."""
    view = served.view
    if served.rollout_bytes is None:
        raise InputError(rollout_problem(view) or "rollout is unavailable")
    shape = [view.num_layers, len(view.queries), len(view.keys)]
    return {"type": "rollout", "dtype": "float16", "shape": shape}, served.rollout_bytes


#: The most values one tile or row reply may hold (8 MB of float16): the browser asks for
#: tiles of a few hundred cells a side, pooled to screen resolution.
MAX_TILE_VALUES = 2048 * 2048


def head_field(request: Mapping[str, Any]) -> int | str:
    """``request["head"]``: a head index or an aggregate name (checked by the data)."""
    value = request.get("head")
    if isinstance(value, str):
        return value
    return integer_field(request, "head")


@handles("tile")
def _tile(served: Served, request: Mapping[str, Any]) -> Reply:
    """``{what: "tile", layer, head, q0, q1, k0, k1, pool}`` -> float16 ``(ceil((q1-q0)/pool), ceil((k1-k0)/pool))``.

    The block ``[q0:q1, k0:k1]`` of the focused matrix (a head or an aggregate), max-pooled
    in ``pool`` × ``pool`` blocks from its top-left corner, from ``AttentionData.tile`` (dense
    or computed on demand). A block outside the matrix is an error reply naming the bounds.
    """
    layer, head = integer_field(request, "layer"), head_field(request)
    q0, q1, k0, k1, pool = (integer_field(request, name) for name in ("q0", "q1", "k0", "k1", "pool"))
    if pool >= 1 and -(-(q1 - q0) // pool) * -(-(k1 - k0) // pool) > MAX_TILE_VALUES:
        raise InputError(f"tile of {q1 - q0} x {k1 - k0} at pool {pool} exceeds {MAX_TILE_VALUES} values; pool more")
    values = served.view.tile(layer, head, q0, q1, k0, k1, pool)
    reply = {"type": "tile", "layer": layer, "head": head, "q0": q0, "q1": q1, "k0": k0, "k1": k1, "pool": pool}
    return {**reply, "dtype": "float16", "shape": [int(n) for n in values.shape]}, float16_bytes(values)


@handles("row")
def _row(served: Served, request: Mapping[str, Any]) -> Reply:
    """``{what: "row", layer, head, query}`` -> float16 ``(1, keys)``: one query's full row at full resolution."""
    layer, head, query = integer_field(request, "layer"), head_field(request), integer_field(request, "query")
    values = served.view.rows(layer, head, [query])
    reply = {"type": "row", "layer": layer, "head": head, "query": query}
    return {**reply, "dtype": "float16", "shape": [int(n) for n in values.shape]}, float16_bytes(values)


@handles("rows")
def _rows(served: Served, request: Mapping[str, Any]) -> Reply:
    """``{what: "rows", query}`` -> float16 ``(layers, heads, keys)``: one query's row in every kept layer
    (``meta.layer_indices`` order) and head, at full resolution (the step view of a generation)."""
    query = integer_field(request, "query")
    view = served.view
    if not 0 <= query < len(view.queries):
        raise InputError(f"query {query} is out of range; valid queries are 0 to {len(view.queries) - 1}")
    if view.is_lazy:  # one head's row at a time, computed exactly on demand
        values = np.empty((view.num_layers, view.num_heads, len(view.keys)), dtype=np.float32)
        for position, layer in enumerate(view.layer_indices):
            for head in range(view.num_heads):
                values[position, head] = view.rows(layer, head, [query])[0]
    else:
        values = view.attentions[:, :, query, :]
    reply = {"type": "rows", "query": query}
    return {**reply, "dtype": "float16", "shape": [int(n) for n in values.shape]}, float16_bytes(values)
