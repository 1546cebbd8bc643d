"""Token alignment: gaps for inserted and deleted tokens, substitutions in place, optimality."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz_widget.comparison import align
from attnviz_widget.comparison.align import GAP, MATCH, MISMATCH, Alignment, align_tokens
from attnviz_widget.errors import InputError

BASE = "[CLS] the movie was good [SEP]".split()
NEGATED = "[CLS] the movie was not good [SEP]".split()


def test_one_inserted_word_gets_exactly_one_gap_there() -> None:
    alignment = align_tokens(BASE, NEGATED)
    assert len(alignment) == len(NEGATED)
    gaps = np.flatnonzero(alignment.a < 0)
    assert gaps.tolist() == [NEGATED.index("not")]
    assert not (alignment.b < 0).any()
    # every other column pairs equal tokens, in order: no shifted rows
    paired = alignment.matched
    assert alignment.a[paired].tolist() == list(range(len(BASE)))
    assert alignment.b[paired].tolist() == [i for i, t in enumerate(NEGATED) if t != "not"]
    assert [alignment.a_tokens[i] for i in np.flatnonzero(paired)] == BASE
    assert alignment.describe() == "[CLS] the movie was [+not] good [SEP]"


def test_a_deleted_word_is_a_gap_on_the_other_side() -> None:
    alignment = align_tokens(NEGATED, BASE)
    assert np.flatnonzero(alignment.b < 0).tolist() == [NEGATED.index("not")]
    assert alignment.only_a.sum() == 1 and alignment.only_b.sum() == 0
    assert alignment.labels()[NEGATED.index("not")] == "−not"


def test_a_changed_word_stays_in_its_row() -> None:
    alignment = align_tokens("[CLS] the movie was good [SEP]".split(), "[CLS] the movie was bad [SEP]".split())
    assert alignment.matched.all()
    assert alignment.substituted.tolist() == [False, False, False, False, True, False]
    assert alignment.labels()[4] == "good→bad"
    assert not alignment.is_identity


def test_equal_lists_align_one_to_one() -> None:
    alignment = align_tokens(BASE, BASE)
    assert alignment.is_identity
    assert alignment.a.tolist() == alignment.b.tolist() == list(range(len(BASE)))


def test_positions_are_reported_in_the_attention_axis() -> None:
    # A's tokens sit at positions 0-5 of a padded axis, B's at 2-8 (left padding)
    alignment = align_tokens(BASE, NEGATED, a_index=np.arange(6), b_index=np.arange(2, 9))
    assert alignment.b.tolist() == list(range(2, 9))
    assert alignment.a.tolist() == [0, 1, 2, 3, -1, 4, 5]


def _best_score(a: list[str], b: list[str]) -> int:
    """The optimal alignment score by the textbook recurrence, in plain Python."""
    table = [[GAP * j for j in range(len(b) + 1)]]
    for i in range(1, len(a) + 1):
        row = [GAP * i]
        for j in range(1, len(b) + 1):
            diagonal = table[i - 1][j - 1] + (MATCH if a[i - 1] == b[j - 1] else MISMATCH)
            row.append(max(diagonal, table[i - 1][j] + GAP, row[j - 1] + GAP))
        table.append(row)
    return table[-1][-1]


def _score(alignment: Alignment) -> int:
    total = 0
    for x, y, i, j in zip(alignment.a_tokens, alignment.b_tokens, alignment.a, alignment.b):
        total += GAP if i < 0 or j < 0 else (MATCH if x == y else MISMATCH)
    return total


@pytest.mark.parametrize("seed", range(25))
def test_alignment_is_optimal_and_keeps_every_token_in_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = [str(t) for t in rng.integers(0, 5, rng.integers(1, 14))]
    b = [str(t) for t in rng.integers(0, 5, rng.integers(1, 14))]
    alignment = align_tokens(a, b)
    assert _score(alignment) == _best_score(a, b)
    assert alignment.a[alignment.a >= 0].tolist() == list(range(len(a)))
    assert alignment.b[alignment.b >= 0].tolist() == list(range(len(b)))
    assert not ((alignment.a < 0) & (alignment.b < 0)).any()


def test_empty_token_list_is_refused() -> None:
    with pytest.raises(InputError, match="empty token list"):
        align_tokens([], ["a"])


def test_texts_too_different_to_align_get_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(align, "MAX_CELLS", 10)
    with pytest.raises(InputError, match="too different to align"):
        align_tokens(list("abcdef"), list("uvwxyz"))
    # a shared prefix and suffix are paired without the quadratic table
    assert len(align_tokens(list("abcdefghij"), list("abcdeXfghij"))) == 11
