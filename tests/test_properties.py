"""Properties of ``prepare``, rollout and the wire encodings on random attention (hypothesis).

Each example is a random self-attention stack ``(layers, heads, seq, seq)`` with a random
padding mask (padding anywhere: left, right or scattered), causal or not. As a model's softmax
gives them, rows of kept queries sum to 1 over the kept keys and padded keys get 0; rows of
padded queries hold garbage (a model computes them too, and nothing may read them). Then:

* ``prepare`` keeps exactly the kept tokens, each kept value unchanged, rows summing to 1;
  its mean, max and rollout too; changing the padded rows changes nothing it returns;
* rollout rows sum to 1, are non-negative, and layer 0 is the row-normalised mean + identity;
* float16 layers decode to the float32 values within half-precision rounding;
* each overview thumbnail decodes to the block max of its matrix, computed directly.

Runs derandomized under ``CI=true`` (the ``ci`` profile in ``conftest.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attnviz_widget.aggregates import attention_rollout
from attnviz_widget.data import AttentionData
from attnviz_widget.prepare import prepare
from attnviz_widget.wire import build_overview, build_view, float16_bytes

#: float32 sums of up to ~64 values in [0, 1].
ROW_SUM_TOLERANCE = 2e-5
#: Half precision: 11 significant bits, so round-to-nearest errs by at most 2**-11 relative for
#: normal numbers and by half the smallest subnormal (2**-25) below 2**-14.
HALF_RELATIVE, HALF_ABSOLUTE = 2.0**-11, 2.0**-25


@dataclass(frozen=True)
class Case:
    """One random stack: the data, which tokens are kept, and the kept block as the truth."""

    data: AttentionData
    keep: np.ndarray  # bool (seq,)
    kept: np.ndarray  # float32 (layers, heads, kept, kept)
    seed: int


def build_case(layers: int, heads: int, keep: np.ndarray, causal: bool, seed: int, garbage_seed: int) -> Case:
    rng = np.random.default_rng(seed)
    seq = len(keep)
    values = rng.random((layers, heads, seq, seq)) ** 3 + 1e-6  # skewed, like real attention
    allowed = np.broadcast_to(keep[None, :], (seq, seq)).copy()
    if causal:
        allowed &= np.tril(np.ones((seq, seq), dtype=bool))
    allowed[~keep] = True  # padded queries: see below
    values = np.where(allowed, values, 0.0)
    attentions = (values / values.sum(axis=-1, keepdims=True)).astype(np.float32)
    # rows of padded queries: anything at all, here garbage up to 10 spread over every key
    garbage = np.random.default_rng(garbage_seed).random((layers, heads, int((~keep).sum()), seq)) * 10
    attentions[:, :, ~keep, :] = garbage.astype(np.float32)
    tokens = [f"t{i}" if kept else "[PAD]" for i, kept in enumerate(keep)]
    data = AttentionData.from_arrays(tokens, attentions, mask=keep, causal=causal, text="random")
    kept = attentions[:, :, keep][:, :, :, keep]
    return Case(data=data, keep=keep, kept=kept, seed=seed)


@st.composite
def cases(draw: st.DrawFn, max_seq: int = 24, garbage_seed: int | None = None) -> Case:
    layers = draw(st.integers(1, 4))
    heads = draw(st.integers(1, 4))
    seq = draw(st.integers(1, max_seq))
    keep = np.array(draw(st.lists(st.booleans(), min_size=seq, max_size=seq)), dtype=bool)
    keep[draw(st.integers(0, seq - 1))] = True  # at least one real token
    causal = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    garbage = draw(st.integers(0, 2**32 - 1)) if garbage_seed is None else garbage_seed
    return build_case(layers, heads, keep, causal, seed, garbage)


def assert_rows_sum_to_one(matrices: np.ndarray) -> None:
    sums = np.asarray(matrices, dtype=np.float64).sum(axis=-1)
    np.testing.assert_allclose(sums, 1.0, rtol=0, atol=ROW_SUM_TOLERANCE)


# -- prepare -----------------------------------------------------------------------------


@settings(max_examples=80)
@given(case=cases())
def test_prepare_keeps_only_kept_tokens_and_rows_still_sum_to_one(case: Case) -> None:
    result = prepare(case.data, aggregates=("mean", "max", "rollout"))
    kept_count = int(case.keep.sum())
    assert result["tokens"] == [t for t, kept in zip(case.data.tokens, case.keep) if kept]
    assert "[PAD]" not in result["tokens"]
    assert [entry["layer_idx"] for entry in result["layers"]] == list(range(case.kept.shape[0]))
    for position, entry in enumerate(result["layers"]):
        assert [head["head_idx"] for head in entry["heads"]] == list(range(case.kept.shape[1]))
        stack = np.stack([head["attention"] for head in entry["heads"]])
        assert stack.shape == (case.kept.shape[1], kept_count, kept_count)
        np.testing.assert_array_equal(stack, case.kept[position])  # every kept value, unchanged
        assert_rows_sum_to_one(stack)
        aggregates = entry["aggregates"]
        assert_rows_sum_to_one(aggregates["mean"])
        assert_rows_sum_to_one(aggregates["rollout"])
        np.testing.assert_allclose(aggregates["mean"], stack.mean(axis=0), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(aggregates["max"], stack.max(axis=0))
        if case.data.causal:  # no query attends to a later key, in any output
            for matrix in (*stack, aggregates["mean"], aggregates["max"], aggregates["rollout"]):
                assert not np.triu(matrix, 1).any()


@settings(max_examples=60)
@given(case=cases(garbage_seed=1), other_garbage=st.integers(2, 2**32 - 1))
def test_padding_never_leaks_into_what_prepare_returns(case: Case, other_garbage: int) -> None:
    """The same stack with different garbage in the padded rows prepares to the same result."""
    layers, heads = case.kept.shape[:2]
    twin = build_case(layers, heads, case.keep, case.data.causal, case.seed, other_garbage)
    first = prepare(case.data, aggregates=("mean", "max", "rollout"))
    second = prepare(twin.data, aggregates=("mean", "max", "rollout"))
    for a, b in zip(first["layers"], second["layers"]):
        for head_a, head_b in zip(a["heads"], b["heads"]):
            np.testing.assert_array_equal(head_a["attention"], head_b["attention"])
        for name in ("mean", "max", "rollout"):
            np.testing.assert_array_equal(a["aggregates"][name], b["aggregates"][name])
    # the widget's payload: the same overview bytes and scales
    view_a, view_b = build_view(case.data, "self"), build_view(twin.data, "self")
    assert view_a.traits["tokens"] == view_b.traits["tokens"] and "[PAD]" not in view_a.traits["tokens"]
    for name in ("overview", "overview_scale", "overview_shape"):
        assert view_a.traits[name] == view_b.traits[name]


# -- rollout -----------------------------------------------------------------------------


@settings(max_examples=80)
@given(case=cases(max_seq=32))
def test_rollout_rows_sum_to_one_and_start_from_the_residual_mix(case: Case) -> None:
    rollout = attention_rollout(case.kept)
    layers, _, seq, _ = case.kept.shape
    assert rollout.shape == (layers, seq, seq) and rollout.dtype == np.float32
    assert (rollout >= 0).all()
    assert_rows_sum_to_one(rollout)
    first = case.kept[0].astype(np.float64).mean(axis=0) + np.eye(seq)
    np.testing.assert_allclose(rollout[0], first / first.sum(axis=-1, keepdims=True), rtol=0, atol=1e-6)
    if layers > 1:  # one more layer is one more matrix product
        mixed = case.kept[1].astype(np.float64).mean(axis=0) + np.eye(seq)
        mixed /= mixed.sum(axis=-1, keepdims=True)
        np.testing.assert_allclose(rollout[1], mixed @ rollout[0], rtol=0, atol=1e-5)


# -- wire encodings ----------------------------------------------------------------------


@settings(max_examples=80)
@given(case=cases(), scale=st.sampled_from([1.0, 1e-3, 1e-6]))
def test_float16_layers_round_trip_within_half_precision(case: Case, scale: float) -> None:
    values = case.kept[-1] * np.float32(scale)  # (heads, query, key), tiny values too (subnormals)
    payload = float16_bytes(values)
    assert len(payload) == 2 * values.size
    decoded = np.frombuffer(payload, dtype="<f2").reshape(values.shape).astype(np.float64)
    error = np.abs(decoded - values)
    bound = np.maximum(HALF_RELATIVE * np.abs(values.astype(np.float64)), HALF_ABSOLUTE)
    assert (error <= bound).all(), float((error / bound).max())


def block_starts(length: int, cells: int) -> list[int]:
    """Where each of ``min(length, cells)`` nearly equal blocks starts (``js/PROTOCOL.md``)."""
    count = min(length, cells)
    return [(index * length) // count for index in range(count)]


def direct_block_max(matrix: np.ndarray, cells: int) -> np.ndarray:
    """The thumbnail of one ``(query, key)`` matrix, one block at a time."""
    rows, cols = block_starts(matrix.shape[0], cells), block_starts(matrix.shape[1], cells)
    row_ends, col_ends = [*rows[1:], matrix.shape[0]], [*cols[1:], matrix.shape[1]]
    thumb = np.empty((len(rows), len(cols)), dtype=np.float64)
    for i, (r0, r1) in enumerate(zip(rows, row_ends)):
        for j, (c0, c1) in enumerate(zip(cols, col_ends)):
            thumb[i, j] = matrix[r0:r1, c0:c1].max()
    return thumb


@settings(max_examples=60)
@given(case=cases(max_seq=40), cells=st.integers(1, 12))
def test_thumbnails_equal_a_direct_block_max(case: Case, cells: int) -> None:
    view = case.data.without_padding()
    rollout = attention_rollout(view.attentions)
    overview = build_overview(view, rollout, size=cells)
    layers, heads = view.attentions.shape[:2]
    assert overview.pixels.shape[:2] == (layers, heads + 3)
    columns = [*(view.attentions[:, h] for h in range(heads)),
               view.attentions.mean(axis=1), view.attentions.max(axis=1), rollout]  # fmt: skip
    for layer in range(layers):
        for column, matrices in enumerate(columns):
            expected = direct_block_max(matrices[layer], cells)
            scale = float(overview.scale[layer, column])
            np.testing.assert_allclose(scale, matrices[layer].max(), rtol=1e-6)  # blocks cover the matrix
            decoded = overview.pixels[layer, column].astype(np.float64) / 255 * scale
            assert decoded.shape == expected.shape
            # uint8 levels: within half a level (plus float32 slack) of the true block max
            np.testing.assert_allclose(decoded, expected, rtol=0, atol=scale / 510 + 1e-6)
