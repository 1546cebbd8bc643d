"""The protocol server (attnviz_widget.protocol): replies, refusals, the handler table."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from protocol_fixtures.generate import served_from_state

from attnviz_widget.protocol import HANDLERS, Served, answer, handles
from attnviz_widget.wire import rollout_or_none


@pytest.fixture
def served(random_attention) -> Served:
    view = random_attention(layers=2, heads=3, seq=5).without_padding()
    return Served(view, 4, rollout_or_none(view))


def ask(served: Served | None, **fields):
    return answer(served, {"type": "request", "id": "q", "version": 4, **fields})


def test_layer_reply_is_float16_heads_query_key(served: Served) -> None:
    reply, payload = ask(served, what="layer", layer=1)
    assert reply == {"type": "layer", "id": "q", "version": 4, "layer": 1, "dtype": "float16", "shape": [3, 5, 5]}
    decoded = np.frombuffer(payload, dtype="<f2").reshape(3, 5, 5)
    np.testing.assert_allclose(decoded, served.view.attentions[1], atol=1e-3)
    assert served.layer_bytes(1) is payload  # cached, not encoded again


def test_rollout_reply(served: Served) -> None:
    reply, payload = ask(served, what="rollout")
    assert reply["type"] == "rollout" and reply["shape"] == [2, 5, 5] and len(payload) == 2 * 2 * 25


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"what": "layer", "layer": 5}, "valid layers are 0 to 1"),
        ({"what": "layer", "layer": 1.5}, "must be an integer"),
        ({"what": "layer", "layer": True}, "must be an integer"),
        ({"what": "layer"}, "must be an integer"),
        ({"what": "teapot"}, "unknown request 'teapot'; known: layer, rollout"),
        ({"what": "layer", "layer": 0, "version": 3}, "the data changed"),
    ],
)
def test_bad_requests_get_one_line_error_replies(served: Served, fields: dict, message: str) -> None:
    reply, payload = ask(served, **fields)
    assert reply["type"] == "error" and message in reply["message"] and payload is None
    assert reply["id"] == "q" and reply["version"] == 4 and "\n" not in reply["message"]


def test_no_data_and_non_object_requests(served: Served) -> None:
    reply, _ = ask(None, what="layer", layer=0)
    assert reply == {"type": "error", "id": "q", "version": 0, "message": "no data yet"}
    reply, _ = answer(served, ["not", "a", "dict"])  # type: ignore[arg-type]
    assert reply["type"] == "error" and reply["version"] == 4


def test_rollout_refused_where_undefined(random_attention) -> None:
    view = random_attention(layers=2, heads=3, seq=5).select_layers([1]).without_padding()
    reply, payload = answer(Served(view, 1, None), {"id": "r", "version": 1, "what": "rollout"})
    assert reply["type"] == "error" and "rollout needs" in reply["message"] and payload is None


def test_a_new_request_kind_is_one_registered_function(served: Served) -> None:
    @handles("echo-shape")
    def _echo(served: Served, request):
        return {"type": "echo-shape", "shape": list(served.view.attentions.shape)}, None

    try:
        reply, payload = ask(served, what="echo-shape")
        assert reply == {"type": "echo-shape", "id": "q", "version": 4, "shape": [2, 3, 5, 5]} and payload is None
    finally:
        del HANDLERS["echo-shape"]


# -- the shared fixtures: the same requests and replies as LocalModel (js/tests/protocol-fixtures.test.ts) --

FIXTURES = sorted((Path(__file__).parent / "protocol_fixtures").glob("*.json"))


def fixture_cases() -> list:
    cases = []
    for path in FIXTURES:
        fixture = json.loads(path.read_text(encoding="utf-8"))
        cases += [pytest.param(fixture["state"], case, id=f"{path.stem}: {case['name']}") for case in fixture["cases"]]
    return cases


def test_the_fixtures_cover_every_request_kind_and_an_error() -> None:
    assert len(FIXTURES) >= 2
    kinds = {case.values[1]["reply"]["type"] for case in fixture_cases()}
    assert set(HANDLERS) | {"error"} <= kinds, "add a fixture for each request kind (generate.py)"


@pytest.mark.parametrize(("state", "case"), fixture_cases())
def test_python_answers_the_shared_fixtures(state: dict, case: dict) -> None:
    reply, payload = answer(served_from_state(state), case["request"])
    if "message_pattern" in case:
        assert re.search(case["message_pattern"], reply.pop("message"))
    assert reply == case["reply"]
    if case["buffer"] is None:
        assert payload is None
    else:
        assert len(payload) == case["buffer"]["byte_length"]
        assert hashlib.sha256(payload).hexdigest() == case["buffer"]["sha256"]
