"""Per-row Jensen–Shannon divergence and total-variation distance, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnviz_widget.comparison.scores import head_scores, mean_rows, row_scores


def _h(*probabilities: float) -> float:
    return -sum(p * math.log2(p) for p in probabilities if p > 0)


@pytest.mark.parametrize(
    ("p", "q", "js", "tv"),
    [
        # disjoint supports: both distances are at their maximum, 1
        ([1.0, 0.0], [0.0, 1.0], 1.0, 1.0),
        # half-overlapping: m = (1/4, 1/2, 1/4), H(m) = 1.5 bits, H(p) = H(q) = 1 bit
        ([0.5, 0.5, 0.0], [0.0, 0.5, 0.5], 0.5, 0.5),
        # mirrored: m uniform, H(m) = 1, H(p) = H(q) = H(3/4, 1/4)
        ([0.75, 0.25], [0.25, 0.75], 1.0 - _h(0.75, 0.25), 0.5),
        ([0.2, 0.3, 0.5], [0.2, 0.3, 0.5], 0.0, 0.0),
        # 0.7/0.1/0.2 against 0.1/0.6/0.3: TV = (0.6 + 0.5 + 0.1) / 2
        ([0.7, 0.1, 0.2], [0.1, 0.6, 0.3], _h(0.4, 0.35, 0.25) - (_h(0.7, 0.1, 0.2) + _h(0.1, 0.6, 0.3)) / 2, 0.6),
    ],
)
def test_constructed_rows_match_hand_computed_values(p: list[float], q: list[float], js: float, tv: float) -> None:
    scores = row_scores(np.array([p], dtype=np.float32), np.array([q], dtype=np.float32))
    assert scores["js"][0] == pytest.approx(js, abs=2e-7)
    assert scores["tv"][0] == pytest.approx(tv, abs=2e-7)


def test_rows_are_renormalised_over_the_keys_given() -> None:
    # the same shapes as the second case above, scaled: only the proportions count
    scores = row_scores(np.array([[2.0, 2.0, 0.0]], np.float32), np.array([[0.0, 0.1, 0.1]], np.float32))
    assert scores["js"][0] == pytest.approx(0.5, abs=2e-7)
    assert scores["tv"][0] == pytest.approx(0.5, abs=2e-7)


def test_a_row_without_mass_has_no_score_and_is_left_out_of_the_mean() -> None:
    a = np.array([[0.0, 0.0], [1.0, 0.0]], np.float32)
    b = np.array([[0.5, 0.5], [0.0, 1.0]], np.float32)
    scores = row_scores(a, b)
    assert math.isnan(scores["js"][0]) and math.isnan(scores["tv"][0])
    assert mean_rows(scores["tv"][None])[0] == pytest.approx(1.0)
    assert math.isnan(mean_rows(np.full((1, 3), np.nan))[0])


def _random_rows(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    values = np.random.default_rng(seed).random(shape, dtype=np.float32) ** 4
    return values / values.sum(axis=-1, keepdims=True)


def test_scores_are_bitwise_symmetric_and_exactly_zero_for_identical_rows() -> None:
    a, b = _random_rows(0, (3, 7, 9)), _random_rows(1, (3, 7, 9))
    forward, backward = row_scores(a, b), row_scores(b, a)
    for metric in ("js", "tv"):
        assert np.array_equal(forward[metric], backward[metric])
        assert (forward[metric] > 0).all() and (forward[metric] <= 1).all()
        assert np.array_equal(row_scores(a, a.copy())[metric], np.zeros((3, 7)))


def test_js_agrees_with_a_float64_reference() -> None:
    a, b = _random_rows(2, (4, 50)), _random_rows(3, (4, 50))
    p, q = a.astype(np.float64), b.astype(np.float64)
    p, q = p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)
    m = (p + q) / 2

    def kl(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.sum(np.where(x > 0, x * np.log2(np.where(x > 0, x, 1) / y), 0.0), axis=-1)

    reference = (kl(p, m) + kl(q, m)) / 2
    np.testing.assert_allclose(row_scores(a, b)["js"], reference, atol=1e-6)
    np.testing.assert_allclose(row_scores(a, b)["tv"], np.abs(p - q).sum(-1) / 2, atol=1e-6)


def test_head_scores_use_only_the_selected_rows_and_keys() -> None:
    a, b = _random_rows(4, (2, 3, 6, 6)), _random_rows(5, (2, 3, 6, 6))
    rows = (np.array([0, 2, 3]), np.array([1, 2, 5]))
    keys = (np.array([0, 1, 4]), np.array([0, 3, 4]))
    scores = head_scores(a, b, [(0, 1), (1, 0)], rows, keys)
    assert scores["js"].shape == (2, 3)
    expected = row_scores(a[1, 2][np.ix_(rows[0], keys[0])], b[0, 2][np.ix_(rows[1], keys[1])])["js"].mean()
    assert scores["js"][1, 2] == pytest.approx(expected, rel=1e-12)


def _gather_reference(a: np.ndarray, b: np.ndarray, pairs, rows, keys) -> dict[str, np.ndarray]:
    """Each head scored by fancy indexing and :func:`row_scores`, as plainly as it can be written."""
    heads = a.shape[1]
    out = {metric: np.empty((len(pairs), heads)) for metric in ("js", "tv")}
    for index, (x, y) in enumerate(pairs):
        for head in range(heads):
            per_row = row_scores(a[x, head][np.ix_(rows[0], keys[0])], b[y, head][np.ix_(rows[1], keys[1])])
            for metric in out:
                out[metric][index, head] = mean_rows(per_row[metric][None])[0]
    return out


@pytest.mark.parametrize("gaps", [0, 3, 80], ids=["whole", "few-runs", "many-runs"])
@pytest.mark.parametrize("workers", [1, 3])
def test_head_scores_equal_a_plain_gather_bitwise(gaps: int, workers: int, monkeypatch) -> None:
    """The run-by-run gather (slices; np.take past MAX_RUNS runs), the blocks of rows and the threads
    change no bit of any score: with blocks of 16 rows, 40 rows span three blocks."""
    import attnviz_widget.comparison.scores as scores_module

    monkeypatch.setattr(scores_module, "BLOCK_ROWS", 16)
    monkeypatch.setattr(scores_module, "MAX_RUNS", 20)
    n = 300
    a, b = _random_rows(6, (2, 3, n, n)), _random_rows(7, (2, 3, n + 5, n + 5))
    rng = np.random.default_rng(gaps)
    a_rows = np.sort(rng.choice(n, size=n - gaps, replace=False)) if gaps else np.arange(n)
    b_rows = np.sort(rng.choice(n + 5, size=n - gaps, replace=False))
    rows, keys = (a_rows[:40], b_rows[:40]), (a_rows, b_rows)
    pairs = [(0, 1), (1, 0)]
    got = head_scores(a, b, pairs, rows, keys, workers=workers)
    expected = _gather_reference(a, b, pairs, rows, keys)
    for metric in ("js", "tv"):
        assert np.array_equal(got[metric], expected[metric])
    c, everything = _random_rows(8, (2, 3, n, n)), (np.arange(n), np.arange(n))  # no gather at all
    whole = head_scores(a, c, pairs, everything, everything, workers=workers)
    assert np.array_equal(whole["js"], _gather_reference(a, c, pairs, everything, everything)["js"])
