"""Every metric on constructed attention arrays equals its hand-computed value, with padding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attnviz_widget.stats.metrics import (
    CORPUS_METRICS,
    BatchMasks,
    probe_patterns,
    probe_scores,
    text_metrics,
)

REAL, PADDED = 5, 7  # 5 real tokens, 2 padding


def masks(*, causal: bool = False, special=(0, REAL - 1), classes=None, skip_special: bool = False) -> BatchMasks:
    attention = torch.zeros(1, PADDED, dtype=torch.long)
    attention[0, :REAL] = 1
    flags = torch.zeros(1, PADDED, dtype=torch.bool)
    flags[0, list(special)] = True
    flags[0, REAL:] = True
    if classes is None:
        classes = torch.zeros(1, PADDED, 4)
        classes[0, 0, 0] = 1  # first
        classes[0, 0, 1] = 1  # [CLS]
        classes[0, REAL - 1, 2] = 1  # [SEP]
        classes[0, 2, 3] = 1  # a comma
    return BatchMasks.build(attention, flags, classes, causal=causal, skip_special_queries=skip_special)


def one_head(rows: np.ndarray) -> torch.Tensor:
    """``(REAL, REAL)`` rows padded to ``(1, 1, PADDED, PADDED)``; padding rows get junk that must not count."""
    full = np.zeros((PADDED, PADDED), dtype=np.float32)
    full[:REAL, :REAL] = rows
    full[REAL:, :REAL] = 1.0 / REAL  # a padded query row (BERT computes one): never counted
    return torch.from_numpy(full)[None, None]


def values(weights: torch.Tensor, m: BatchMasks) -> dict[str, float]:
    out = text_metrics(weights, m)
    assert out.shape == (1, 1, len(CORPUS_METRICS))
    return dict(zip(CORPUS_METRICS, out[0, 0].tolist()))


def previous_token_rows() -> np.ndarray:
    rows = np.zeros((REAL, REAL), dtype=np.float32)
    rows[0, 0] = 1.0  # the first token has no previous token: it attends to itself
    for i in range(1, REAL):
        rows[i, i - 1] = 1.0
    return rows


def test_a_pure_previous_token_head_scores_one_on_prev() -> None:
    got = values(one_head(previous_token_rows()), masks())
    assert got["prev"] == 1.0
    assert got["next"] == 0.0
    assert got["self"] == pytest.approx(1 / REAL)  # only row 0
    assert got["first"] == pytest.approx(2 / REAL)  # rows 0 and 1 look at token 0
    assert got["cls_bos"] == pytest.approx(2 / REAL)
    assert got["sep_eos"] == 0.0
    assert got["punct"] == pytest.approx(1 / REAL)  # row 3 looks at the comma
    assert got["entropy"] == 0.0
    assert got["confidence"] == 1.0
    assert got["distance"] == pytest.approx((REAL - 1) / REAL)
    assert got["entropy_uniform"] == pytest.approx(math.log(REAL))
    assert got["sink_fraction"] == 1.0  # alpha_0 = 0.4 > 0.3


def test_uniform_attention_scores_exactly_the_baseline() -> None:
    rows = np.full((REAL, REAL), 1.0 / REAL, dtype=np.float32)
    got = values(one_head(rows), masks())
    assert got["entropy"] == pytest.approx(math.log(REAL), abs=1e-6)
    assert got["entropy"] == pytest.approx(got["entropy_uniform"], abs=1e-6)
    for name in ("self", "prev", "next", "first", "cls_bos", "sep_eos", "punct", "confidence"):
        assert got[name] == pytest.approx(1 / REAL, abs=1e-7), name
    expected_distance = np.mean([sum(abs(i - j) for j in range(REAL)) / REAL for i in range(REAL)])
    assert got["distance"] == pytest.approx(expected_distance, abs=1e-6)
    assert got["sink_fraction"] == 0.0  # alpha_0 = 0.2


def test_causal_uniform_attention_has_the_causal_baseline() -> None:
    rows = np.tril(np.ones((REAL, REAL), dtype=np.float32))
    rows /= rows.sum(-1, keepdims=True)
    got = values(one_head(rows), masks(causal=True))
    baseline = np.mean([math.log(i + 1) for i in range(REAL)])
    assert got["entropy_uniform"] == pytest.approx(baseline, abs=1e-6)
    assert got["entropy"] == pytest.approx(baseline, abs=1e-6)
    assert math.isnan(got["next"])  # a causal query never sees the next token
    assert got["first"] == pytest.approx(np.mean([1 / (i + 1) for i in range(REAL)]), abs=1e-6)


def test_padding_keys_and_rows_do_not_count() -> None:
    rows = previous_token_rows()
    weights = one_head(rows)
    weights[0, 0, REAL:, :] = 0.5  # junk in padded query rows
    assert values(weights, masks()) == values(one_head(rows), masks())


def test_special_query_rows_can_be_left_out() -> None:
    got = values(one_head(previous_token_rows()), masks(skip_special=True))
    # rows 1, 2, 3 count ([CLS] row 0 and [SEP] row 4 do not): each puts 1 on its previous token
    assert got["prev"] == 1.0
    assert got["first"] == pytest.approx(1 / 3)
    assert got["self"] == 0.0
    assert got["punct"] == pytest.approx(1 / 3)


def test_values_per_text_and_head_in_a_batch() -> None:
    """Two texts × two heads: each cell is the value of its own text and head."""
    prev = one_head(previous_token_rows())[0, 0]
    uniform = one_head(np.full((REAL, REAL), 1.0 / REAL, dtype=np.float32))[0, 0]
    weights = torch.stack([torch.stack([prev, uniform]), torch.stack([uniform, prev])])
    m = masks()
    batch = BatchMasks(
        query=m.query.repeat(2, 1), key=m.key.repeat(2, 1), classes=m.classes.repeat(2, 1, 1), causal=False
    )
    out = text_metrics(weights, batch)
    prev_slot = CORPUS_METRICS.index("prev")
    np.testing.assert_allclose(out[..., prev_slot].numpy(), [[1.0, 0.2], [0.2, 1.0]], atol=1e-7)


# -- the probe: TransformerLens's head_detector definitions ---------------------------------


def transformer_lens_patterns(tokens: np.ndarray) -> dict[str, np.ndarray]:
    """The detection patterns as TransformerLens's ``head_detector`` builds them, written out in numpy."""
    n = len(tokens)
    previous = np.zeros((n, n))
    previous[1:, :-1] = np.eye(n - 1)
    equal = (tokens[None, :] == tokens[:, None]).astype(float)
    np.fill_diagonal(equal, 0)
    duplicate = np.tril(equal)
    shifted = np.roll(duplicate, 1, axis=1)
    induction = np.tril(np.concatenate([np.zeros((n, 1)), shifted[:, 1:]], axis=1))
    return {"previous": np.tril(previous), "duplicate": duplicate, "induction": induction}


def test_probe_patterns_are_transformer_lens_patterns() -> None:
    tokens = np.array([101, 7, 8, 9, 7, 8, 9, 102])
    ours = probe_patterns(torch.from_numpy(tokens)[None])[0].numpy()
    theirs = transformer_lens_patterns(tokens)
    for slot, name in enumerate(("previous", "duplicate", "induction")):
        np.testing.assert_array_equal(ours[slot], theirs[name], err_msg=name)


def test_probe_scores_are_sum_of_a_times_p_over_sum_of_a() -> None:
    tokens = np.array([101, 7, 8, 9, 7, 8, 9, 102])
    n = len(tokens)
    rng = np.random.default_rng(0)
    random = rng.random((n, n)).astype(np.float32)
    random /= random.sum(-1, keepdims=True)
    induction = np.eye(n, dtype=np.float32)  # rows without an induction target attend to themselves
    for i, j in zip(*np.nonzero(transformer_lens_patterns(tokens)["induction"])):
        induction[i] = 0
        induction[i, j] = 1
    weights = torch.from_numpy(np.stack([random, induction]))[None]  # (1, 2 heads, n, n)
    patterns = probe_patterns(torch.from_numpy(tokens)[None])
    scores = probe_scores(weights, patterns, torch.ones(1, n, dtype=torch.bool))[0].numpy()
    theirs = transformer_lens_patterns(tokens)
    for slot, name in enumerate(("previous", "duplicate", "induction")):
        expected = (random * theirs[name]).sum() / random.sum()
        assert scores[0, slot] == pytest.approx(expected, abs=1e-6), name
    assert scores[1, 2] == pytest.approx(3 / n)  # three rows (4, 5, 6) have an induction target


def test_a_pure_previous_token_head_scores_n_minus_one_over_n_on_the_probe() -> None:
    n = 9
    rows = np.zeros((n, n), dtype=np.float32)
    rows[0, 0] = 1
    rows[np.arange(1, n), np.arange(n - 1)] = 1
    tokens = torch.arange(n)[None]
    key = torch.ones(1, n, dtype=torch.bool)
    scores = probe_scores(torch.from_numpy(rows)[None, None], probe_patterns(tokens), key)
    assert scores[0, 0, 0].item() == pytest.approx((n - 1) / n)
    assert scores[0, 0, 1].item() == 0.0  # no token repeats


def test_probe_padding_is_left_out() -> None:
    n = 6
    uniform = np.tril(np.ones((n, n), dtype=np.float32))
    uniform /= uniform.sum(-1, keepdims=True)
    padded = np.zeros((n + 2, n + 2), dtype=np.float32)
    padded[:n, :n] = uniform
    padded[n:, :] = 0.125  # junk rows
    tokens = torch.tensor([[1, 2, 3, 1, 2, 3, 0, 0]])
    key = torch.tensor([[True] * n + [False, False]])
    got = probe_scores(torch.from_numpy(padded)[None, None], probe_patterns(tokens), key)
    want = probe_scores(torch.from_numpy(uniform)[None, None], probe_patterns(tokens[:, :n]), key[:, :n])
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-7)
