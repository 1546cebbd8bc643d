"""Write the shared protocol fixtures: ``python tests/protocol_fixtures/generate.py``.

Each fixture is one data set as the offline page embeds it (``state``, the input of
``LocalModel`` in ``js/src/standalone.ts``) and request -> reply cases. Both servers of
the protocol must give exactly ``reply`` (plus a ``message`` matching
``message_pattern`` for errors, whose wording may differ) and a buffer of
``buffer.byte_length`` bytes with ``buffer.sha256``. The replies are what
:func:`attnviz_widget.protocol.answer` gives; ``tests/test_protocol.py`` and
``js/tests/protocol-fixtures.test.ts`` check both servers against the files.
Regenerate only when the protocol changes, and review the diff.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from attnviz_widget.data import AttentionData, TokenSequence
from attnviz_widget.html_export import standalone_state
from attnviz_widget.protocol import Served, answer

HERE = Path(__file__).resolve().parent

#: State fields both servers read; the rest of the page state (thumbnails, vocabulary) is not protocol.
STATE_FIELDS = ("data_version", "tokens", "key_tokens", "layers", "rollout")
META_FIELDS = ("num_heads", "layer_indices", "num_layers", "kind")


def rows(*values: float) -> list[float]:
    return list(values)


def self_attention() -> AttentionData:
    """3 tokens, layers 0 and 1, 2 heads; values exact in float16."""
    attentions = np.array(
        [
            [[rows(1, 0, 0), rows(0.5, 0.5, 0), rows(0.25, 0.25, 0.5)],
             [rows(0.5, 0.25, 0.25), rows(0, 1, 0), rows(0.125, 0.375, 0.5)]],
            [[rows(0.75, 0.25, 0), rows(0.25, 0.5, 0.25), rows(0, 0, 1)],
             [rows(1 / 3, 1 / 3, 1 / 3), rows(0.5, 0, 0.5), rows(0.625, 0.125, 0.25)]],
        ],
        dtype=np.float32,
    )
    return AttentionData(attentions, TokenSequence(("[CLS]", "good", "[SEP]")), text="good", layer_indices=(0, 1))


def cross_attention() -> AttentionData:
    """2 decoder queries × 4 encoder keys at model layers 1 and 3: rollout undefined."""
    attentions = np.full((2, 2, 2, 4), 0.25, dtype=np.float32)
    attentions[1, 0, 1] = [0.5, 0.25, 0.125, 0.125]
    return AttentionData(
        attentions, TokenSequence(("<s>", "ok")), keys=TokenSequence(("<s>", "the", "film", "</s>")),
        text="ok", kind="cross", layer_indices=(1, 3),
    )


def summary(payload: bytes | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    return {"byte_length": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}


def case(served: Served, name: str, request: dict[str, Any], message_pattern: str | None = None) -> dict[str, Any]:
    reply, payload = answer(served, {"type": "request", **request})
    expected: dict[str, Any] = {"name": name, "request": {"type": "request", **request}}
    if reply["type"] == "error":
        assert message_pattern is not None, name
        reply = {key: value for key, value in reply.items() if key != "message"}
        expected["message_pattern"] = message_pattern
    expected.update(reply=reply, buffer=summary(payload))
    return expected


def decode_float16(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f2").reshape(shape).astype(np.float32)


def served_from_state(state: dict[str, Any]) -> Served:
    """What the Python server holds for a fixture's ``state`` (the same float16 values as the page)."""
    meta = state["meta"]
    layers = meta["layer_indices"]
    queries = state["tokens"]
    keys = state["key_tokens"] or queries
    shape = (meta["num_heads"], len(queries), len(keys))
    view = AttentionData(
        np.stack([decode_float16(state["layers"][str(layer)], shape) for layer in layers]),
        TokenSequence(tuple(queries)), keys=TokenSequence(tuple(keys)), layer_indices=tuple(layers), kind=meta["kind"],
    )
    rollout = None if state["rollout"] is None else decode_float16(state["rollout"], (len(layers), *shape[1:]))
    return Served(view, state["data_version"], rollout)


def fixture(name: str, description: str, data: AttentionData, requests: list[tuple]) -> dict[str, Any]:
    state = standalone_state(data, data.kind)
    kept = {key: state[key] for key in STATE_FIELDS}
    kept["meta"] = {key: state["meta"][key] for key in META_FIELDS}
    served = served_from_state(kept)
    return {"name": name, "description": description, "state": kept,
            "cases": [case(served, *request) for request in requests]}


def main() -> None:
    fixtures = [
        fixture("self_attention", "Self-attention, layers 0 and 1, rollout defined.", self_attention(), [
            ("first layer", {"id": "a", "version": 1, "what": "layer", "layer": 0}),
            ("second layer", {"id": "b", "version": 1, "what": "layer", "layer": 1}),
            ("rollout", {"id": "c", "version": 1, "what": "rollout"}),
            ("a layer not in the data", {"id": "d", "version": 1, "what": "layer", "layer": 7}, "layer 7"),
            ("a layer that is not an integer", {"id": "e", "version": 1, "what": "layer", "layer": 1.5}, "1\\.5"),
            ("a layer given as text", {"id": "f", "version": 1, "what": "layer", "layer": "0"}, "integer"),
            ("an older data version", {"id": "g", "version": 0, "what": "layer", "layer": 0}, "changed"),
            ("an unknown request", {"id": "h", "version": 1, "what": "teapot"}, "unknown request"),
            ("a tile of a head", {"id": "i", "version": 1, "what": "tile", "layer": 1, "head": 0,
                                  "q0": 0, "q1": 3, "k0": 1, "k1": 3, "pool": 1}),
            ("a pooled tile", {"id": "j", "version": 1, "what": "tile", "layer": 0, "head": 1,
                               "q0": 0, "q1": 3, "k0": 0, "k1": 3, "pool": 2}),
            ("a tile of the max over heads", {"id": "k", "version": 1, "what": "tile", "layer": 1, "head": "max",
                                              "q0": 1, "q1": 3, "k0": 0, "k1": 3, "pool": 2}),
            ("one query's row", {"id": "l", "version": 1, "what": "row", "layer": 1, "head": 1, "query": 2}),
            ("a tile outside the matrix", {"id": "m", "version": 1, "what": "tile", "layer": 0, "head": 0,
                                           "q0": 0, "q1": 4, "k0": 0, "k1": 3, "pool": 1}, "outside the matrix"),
            ("a tile pooled by zero", {"id": "n", "version": 1, "what": "tile", "layer": 0, "head": 0,
                                       "q0": 0, "q1": 3, "k0": 0, "k1": 3, "pool": 0}, "pool"),
            ("a tile of a head the model lacks", {"id": "o", "version": 1, "what": "tile", "layer": 0, "head": 2,
                                                  "q0": 0, "q1": 3, "k0": 0, "k1": 3, "pool": 1}, "head 2"),
            ("a row past the last query", {"id": "p", "version": 1, "what": "row", "layer": 0, "head": 0,
                                           "query": 3}, "query 3"),
            ("one query in every layer and head", {"id": "q", "version": 1, "what": "rows", "query": 2}),
            ("the first query in every layer and head", {"id": "r", "version": 1, "what": "rows", "query": 0}),
            ("rows past the last query", {"id": "s", "version": 1, "what": "rows", "query": 3}, "query 3"),
            ("rows of a negative query", {"id": "t", "version": 1, "what": "rows", "query": -1}, "query -1"),
            ("rows of a query that is not an integer", {"id": "u", "version": 1, "what": "rows", "query": 1.5},
             "1\\.5"),
            ("rows of a query given as text", {"id": "v", "version": 1, "what": "rows", "query": "1"}, "integer"),
            ("rows of an older data version", {"id": "w", "version": 0, "what": "rows", "query": 1}, "changed"),
        ]),
        fixture("cross_attention", "Cross-attention at model layers 1 and 3: rollout undefined.", cross_attention(), [
            ("a kept layer", {"id": "a", "version": 1, "what": "layer", "layer": 3}),
            ("a layer that was not kept", {"id": "b", "version": 1, "what": "layer", "layer": 0}, "layer 0"),
            ("rollout", {"id": "c", "version": 1, "what": "rollout"}, "rollout"),
            ("a pooled tile of cross-attention", {"id": "d", "version": 1, "what": "tile", "layer": 3, "head": 0,
                                                  "q0": 0, "q1": 2, "k0": 1, "k1": 4, "pool": 2}),
            ("a row of cross-attention", {"id": "e", "version": 1, "what": "row", "layer": 3, "head": 0, "query": 1}),
            ("a query of cross-attention in every kept layer and head", {"id": "f", "version": 1, "what": "rows",
                                                                          "query": 1}),
        ]),
    ]
    for item in fixtures:
        path = HERE / f"{item['name']}.json"
        path.write_text(json.dumps(item, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parents[1])}: {len(item['cases'])} cases")


if __name__ == "__main__":
    main()
