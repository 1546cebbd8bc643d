"""Global alignment of two token lists, with gaps for inserted and deleted tokens.

Comparing "the movie was good" with "the movie was not good" must not shift every row
after "not" by one: the second text's "not" faces a gap, and "good" faces "good". This
module finds that pairing with a Needleman–Wunsch alignment (match +1, mismatch −1,
gap −1): inserted and deleted tokens become gaps, a changed word ("good" / "bad")
stays in its row as a substitution. Tokens are compared by their display form, so the
same word spelled ``Ġthe`` by one tokenizer and ``the`` by another still matches.

Common leading and trailing tokens are matched directly; only the middle that differs
runs the quadratic alignment, one numpy pass per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

MATCH, MISMATCH, GAP = 1, -1, -1
#: The largest differing middle (A tokens × B tokens) aligned; beyond it the texts are
#: too different for a token-by-token comparison to mean much, and the score table
#: would take hundreds of megabytes.
MAX_CELLS = 16_000_000
GAP_INDEX = -1


@dataclass(frozen=True, eq=False)
class Alignment:
    """Columns of an alignment of A's tokens with B's.

    Attributes:
        a: int ``(columns,)``: the index of A's token in each column (an index into the
            token axis of A's attention, padding included), or ``-1`` where A has a gap
            (the token exists only in B).
        b: int ``(columns,)``: the same for B.
        a_tokens: A's display token of each column (``""`` at a gap).
        b_tokens: B's display token of each column (``""`` at a gap).
    """

    a: np.ndarray
    b: np.ndarray
    a_tokens: tuple[str, ...]
    b_tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            values = np.asarray(getattr(self, name), dtype=np.intp).reshape(-1)
            values.setflags(write=False)
            object.__setattr__(self, name, values)
        if not len(self.a) == len(self.b) == len(self.a_tokens) == len(self.b_tokens):
            raise InputError("an alignment needs as many A and B entries as columns")
        if np.any((self.a < 0) & (self.b < 0)):
            raise InputError("an alignment column cannot be a gap on both sides")

    def __len__(self) -> int:
        return len(self.a)

    @property
    def matched(self) -> np.ndarray:
        """bool ``(columns,)``: True where both sides have a token (equal or substituted)."""
        return (self.a >= 0) & (self.b >= 0)

    @property
    def only_a(self) -> np.ndarray:
        """bool ``(columns,)``: tokens only in A (deleted in B; B has a gap)."""
        return self.b < 0

    @property
    def only_b(self) -> np.ndarray:
        """bool ``(columns,)``: tokens only in B (inserted; A has a gap)."""
        return self.a < 0

    @property
    def substituted(self) -> np.ndarray:
        """bool ``(columns,)``: both sides have a token, and the tokens differ."""
        return self.matched & np.array([x != y for x, y in zip(self.a_tokens, self.b_tokens)], dtype=bool)

    @property
    def is_identity(self) -> bool:
        """True when every column pairs equal tokens (no gaps, no substitutions)."""
        return bool(self.matched.all()) and self.a_tokens == self.b_tokens

    def labels(self) -> list[str]:
        """One axis label per column: ``"the"``, ``"good→bad"`` (A→B), ``"+not"`` (only
        in B), ``"−not"`` (only in A)."""
        labels = []
        for x, y, ia, ib in zip(self.a_tokens, self.b_tokens, self.a, self.b):
            if ia < 0:
                labels.append(f"+{y}")
            elif ib < 0:
                labels.append(f"−{x}")
            else:
                labels.append(x if x == y else f"{x}→{y}")
        return labels

    def describe(self) -> str:
        """The alignment in one line, e.g. ``"[CLS] the movie was [+not] good [SEP]"``."""
        return " ".join(
            label if x == y else f"[{label}]"
            for label, x, y in zip(self.labels(), self.a_tokens, self.b_tokens)
        )


def identity_alignment(a_index: np.ndarray, b_index: np.ndarray, tokens: Sequence[str]) -> Alignment:
    """Equal token lists: column ``i`` pairs ``a_index[i]`` with ``b_index[i]``."""
    return Alignment(np.asarray(a_index), np.asarray(b_index), tuple(tokens), tuple(tokens))


def align_tokens(
    a_tokens: Sequence[str],
    b_tokens: Sequence[str],
    *,
    a_index: Sequence[int] | np.ndarray | None = None,
    b_index: Sequence[int] | np.ndarray | None = None,
) -> Alignment:
    """The optimal global alignment of two token lists.

    Args:
        a_tokens, b_tokens: the tokens to align (display forms, padding left out).
        a_index, b_index: the position of each token in its attention's token axis
            (default ``0..n-1``); the alignment reports these positions.

    Returns:
        An :class:`Alignment` whose columns pair equal tokens where it can, substitute a
        token for another where both texts changed a word, and put a gap opposite each
        inserted or deleted token. Ties are broken the same way every time: equal
        leading and trailing tokens pair first, and within the rest the pairing nearest
        the end wins.

    Raises:
        InputError: an empty token list, or a differing middle over :data:`MAX_CELLS`.
    """
    a_list, b_list = [str(t) for t in a_tokens], [str(t) for t in b_tokens]
    if not a_list or not b_list:
        raise InputError(f"cannot align an empty token list (A has {len(a_list)} tokens, B {len(b_list)})")
    a_pos = np.arange(len(a_list)) if a_index is None else np.asarray(a_index, dtype=np.intp)
    b_pos = np.arange(len(b_list)) if b_index is None else np.asarray(b_index, dtype=np.intp)
    if len(a_pos) != len(a_list) or len(b_pos) != len(b_list):
        raise InputError("a_index and b_index need one position per token")
    prefix = 0
    while prefix < min(len(a_list), len(b_list)) and a_list[prefix] == b_list[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < min(len(a_list), len(b_list)) - prefix
           and a_list[len(a_list) - 1 - suffix] == b_list[len(b_list) - 1 - suffix]):
        suffix += 1
    middle_a = a_list[prefix: len(a_list) - suffix]
    middle_b = b_list[prefix: len(b_list) - suffix]
    pairs_middle = _needleman_wunsch(middle_a, middle_b)
    columns: list[tuple[int, int]] = [(i, i) for i in range(prefix)]
    columns += [(GAP_INDEX if i < 0 else i + prefix, GAP_INDEX if j < 0 else j + prefix) for i, j in pairs_middle]
    columns += [(len(a_list) - suffix + k, len(b_list) - suffix + k) for k in range(suffix)]
    ia = np.array([i for i, _ in columns], dtype=np.intp)
    ib = np.array([j for _, j in columns], dtype=np.intp)
    return Alignment(
        a=np.where(ia >= 0, a_pos[np.maximum(ia, 0)], GAP_INDEX),
        b=np.where(ib >= 0, b_pos[np.maximum(ib, 0)], GAP_INDEX),
        a_tokens=tuple(a_list[i] if i >= 0 else "" for i in ia),
        b_tokens=tuple(b_list[j] if j >= 0 else "" for j in ib),
    )


def _needleman_wunsch(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Columns ``(i, j)`` of an optimal alignment, ``-1`` for a gap (linear gap cost).

    Row ``i`` of the score table is ``H[i, j] = max(T[j], H[i, j-1] + GAP)`` with
    ``T = max(diagonal, up)``; with a linear gap cost that is a running maximum of
    ``T[k] - GAP * k``, so each row is a few vectorised numpy passes.
    """
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return [(i, GAP_INDEX) for i in range(n)] + [(GAP_INDEX, j) for j in range(m)]
    if n * m > MAX_CELLS:
        raise InputError(
            f"the texts differ in {n} and {m} tokens; too different to align token by token "
            f"(at most {MAX_CELLS:,} token pairs); compare shorter or more similar texts"
        )
    vocabulary = {token: k for k, token in enumerate(dict.fromkeys(a + b))}
    codes_a = np.array([vocabulary[t] for t in a], dtype=np.int64)
    codes_b = np.array([vocabulary[t] for t in b], dtype=np.int64)
    score = np.empty((n + 1, m + 1), dtype=np.int32)
    steps = np.arange(m + 1, dtype=np.int32) * GAP
    score[0] = steps
    for i in range(1, n + 1):
        substitution = np.where(codes_b == codes_a[i - 1], MATCH, MISMATCH)
        best = np.empty(m + 1, dtype=np.int32)
        best[0] = i * GAP
        best[1:] = np.maximum(score[i - 1, :-1] + substitution, score[i - 1, 1:] + GAP)
        score[i] = np.maximum.accumulate(best - steps) + steps
    columns: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and score[i, j] == score[i - 1, j - 1] + (MATCH if codes_a[i - 1] == codes_b[j - 1]
                                                                       else MISMATCH):
            i, j = i - 1, j - 1
            columns.append((i, j))
        elif i > 0 and score[i, j] == score[i - 1, j] + GAP:
            i -= 1
            columns.append((i, GAP_INDEX))
        else:
            j -= 1
            columns.append((GAP_INDEX, j))
    columns.reverse()
    return columns
