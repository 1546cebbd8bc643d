"""The ``tile`` and ``row`` requests of the widget protocol (zooming into long inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz_widget.pooling import pool_by
from attnviz_widget.protocol import MAX_TILE_VALUES, Served, answer
from attnviz_widget.wire import rollout_or_none


@pytest.fixture
def served(random_attention) -> Served:
    view = random_attention(layers=2, heads=3, seq=37)
    return Served(view, version=5, rollout=rollout_or_none(view))


def ask(served: Served, **fields) -> tuple[dict, bytes | None]:
    return answer(served, {"type": "request", "id": "t1", "version": 5, **fields})


def half(payload: bytes | None, shape: list[int]) -> np.ndarray:
    assert payload is not None
    return np.frombuffer(payload, dtype="<f2").reshape(shape).astype(np.float32)


def test_a_tile_is_the_block_max_pooled_from_its_corner(served: Served) -> None:
    reply, payload = ask(served, what="tile", layer=1, head=2, q0=3, q1=30, k0=5, k1=37, pool=4)
    assert reply["type"] == "tile" and reply["id"] == "t1" and reply["version"] == 5
    assert reply["shape"] == [7, 8] and reply["dtype"] == "float16"
    assert (reply["layer"], reply["head"], reply["q0"], reply["k1"], reply["pool"]) == (1, 2, 3, 37, 4)
    expected = pool_by(np.ascontiguousarray(served.view.attentions[1, 2, 3:30, 5:37]), 4)
    np.testing.assert_allclose(half(payload, reply["shape"]), expected, rtol=1e-3, atol=1e-4)


def test_a_tile_of_an_aggregate(served: Served) -> None:
    reply, payload = ask(served, what="tile", layer=0, head="max", q0=0, q1=37, k0=0, k1=37, pool=1)
    np.testing.assert_allclose(half(payload, reply["shape"]), served.view.attentions[0].max(0), rtol=1e-3, atol=1e-4)
    reply, payload = ask(served, what="tile", layer=1, head="rollout", q0=0, q1=10, k0=0, k1=10, pool=2)
    assert reply["type"] == "tile" and reply["shape"] == [5, 5]


def test_a_row_is_one_query_at_full_resolution(served: Served) -> None:
    reply, payload = ask(served, what="row", layer=1, head=0, query=36)
    assert reply["type"] == "row" and reply["shape"] == [1, 37] and reply["query"] == 36
    np.testing.assert_allclose(half(payload, [1, 37])[0], served.view.attentions[1, 0, 36], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"what": "tile", "layer": 0, "head": 0, "q0": 0, "q1": 38, "k0": 0, "k1": 4, "pool": 1}, "outside the matrix"),
        ({"what": "tile", "layer": 0, "head": 0, "q0": 5, "q1": 5, "k0": 0, "k1": 4, "pool": 1}, "outside the matrix"),
        ({"what": "tile", "layer": 0, "head": 0, "q0": 0, "q1": 4, "k0": 0, "k1": 4, "pool": 0}, "pool"),
        (
            {"what": "tile", "layer": 0, "head": 0, "q0": 0, "q1": 4, "k0": 0, "k1": 4.5, "pool": 1},
            "'k1' must be an integer",
        ),
        ({"what": "tile", "layer": 7, "head": 0, "q0": 0, "q1": 4, "k0": 0, "k1": 4, "pool": 1}, "layer 7"),
        ({"what": "tile", "layer": 0, "head": 3, "q0": 0, "q1": 4, "k0": 0, "k1": 4, "pool": 1}, "head 3"),
        ({"what": "tile", "layer": 0, "head": "median", "q0": 0, "q1": 4, "k0": 0, "k1": 4, "pool": 1}, "median"),
        ({"what": "row", "layer": 0, "head": 0, "query": 37}, "query 37 is out of range"),
        ({"what": "row", "layer": 0, "head": 0, "query": -1}, "out of range"),
    ],
)
def test_out_of_range_requests_get_an_error_reply(served: Served, fields: dict, message: str) -> None:
    reply, payload = ask(served, **fields)
    assert reply["type"] == "error" and payload is None, reply
    assert message in reply["message"] and "\n" not in reply["message"]
    assert reply["id"] == "t1"


def test_a_tile_too_big_for_one_reply_is_refused(random_attention) -> None:
    side = int(MAX_TILE_VALUES**0.5) + 1
    served = Served(random_attention(layers=1, heads=1, seq=4), version=5, rollout=None)
    # the size check comes first, so no huge matrix is needed to trip it
    reply, _ = ask(served, what="tile", layer=0, head=0, q0=0, q1=side, k0=0, k1=side, pool=1)
    assert reply["type"] == "error" and "pool more" in reply["message"]


@pytest.mark.slow  # builds a tiny model and runs it twice
def test_lazy_data_is_tiled_and_serves_the_same_tiles_as_dense(tmp_path) -> None:
    from attnviz_widget.extractor import AttentionExtractor
    from attnviz_widget.wire import build_view
    from tests.tiny_models import BUILDERS

    extractor = AttentionExtractor(BUILDERS["bert"](tmp_path / "bert"), device="cpu")
    text = "the movie was not bad at all, and the actors were great"
    replies = {}
    for store in ("dense", "lazy"):
        payload = build_view(extractor.extract(text, store=store), "self")
        assert payload.traits["meta"]["tiled"] is (store == "lazy")
        served = Served(payload.view, version=1, rollout=payload.rollout)
        n = len(payload.view.queries)
        tile = answer(
            served,
            {
                "id": "t",
                "version": 1,
                "what": "tile",
                "layer": 1,
                "head": 1,
                "q0": 1,
                "q1": n,
                "k0": 0,
                "k1": n - 2,
                "pool": 3,
            },
        )
        row = answer(served, {"id": "r", "version": 1, "what": "row", "layer": 0, "head": "max", "query": 2})
        rows = answer(served, {"id": "s", "version": 1, "what": "rows", "query": n - 1})
        replies[store] = (tile, row, rows)
    for (dense_reply, dense_payload), (lazy_reply, lazy_payload) in zip(replies["dense"], replies["lazy"]):
        assert dense_reply == lazy_reply and dense_reply["type"] in ("tile", "row", "rows")
        shape = dense_reply["shape"]
        np.testing.assert_allclose(half(lazy_payload, shape), half(dense_payload, shape), atol=2e-3)


def test_rows_is_one_query_in_every_layer_and_head(served: Served) -> None:
    reply, payload = ask(served, what="rows", query=20)
    assert reply["type"] == "rows" and reply["query"] == 20 and reply["shape"] == [2, 3, 37]
    np.testing.assert_allclose(half(payload, reply["shape"]), served.view.attentions[:, :, 20], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(("query", "message"), [(37, "query 37 is out of range"), (-1, "out of range"),
                                                ("3", "'query' must be an integer")])
def test_rows_refuses_a_query_outside_the_matrix(served: Served, query, message: str) -> None:
    reply, payload = ask(served, what="rows", query=query)
    assert reply["type"] == "error" and message in reply["message"] and payload is None
