"""AttentionComparison: two attention stacks, aligned token by token, and where they differ.

Made by :func:`attnviz_widget.compare`. Every matrix it returns lives on the aligned
grid: one row per alignment column of the query tokens and one column per alignment
column of the key tokens (the same alignment for self-attention). A token present on
one side only is a gap on the other: NaN in that side's matrix and in the difference,
never a shifted row. Layers are named by A's model layer indices; B's layer paired
with each is in :attr:`AttentionComparison.layer_pairs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..data import AttentionData, describe_range
from ..errors import InputError
from ..vocabulary import AGGREGATES
from .align import Alignment
from .scores import METRICS, head_scores, mean_rows, row_scores


class HeadScore(NamedTuple):
    """One head's change: A's model ``layer``, ``head`` and the score ``value``."""

    layer: int
    head: int
    value: float


def side_name(letter: str, label: str) -> str:
    """``"A"`` for the default label, else ``"A (pretrained)"``."""
    return letter if label == letter else f"{letter} ({label})"


@dataclass(frozen=True, eq=False)
class AttentionComparison:
    """How the attention of B differs from A's.

    Attributes:
        a, b: the compared attention stacks, float32 ``(layers, heads, query, key)``
            each, as given (padding included; the alignments leave it out).
        labels: names of A and B in titles, colour bars and messages.
        layer_pairs: ``(A layer, B layer)`` model layer indices, one per compared layer.
        queries: the alignment of the query tokens.
        keys: the alignment of the key tokens (``queries`` itself for self-attention).
        mode: ``"same"`` (equal tokens, compared position by position) or ``"align"``.
    """

    a: AttentionData
    b: AttentionData
    labels: tuple[str, str]
    layer_pairs: tuple[tuple[int, int], ...]
    queries: Alignment
    keys: Alignment
    mode: str
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- shape -------------------------------------------------------------------------

    @property
    def layer_indices(self) -> tuple[int, ...]:
        """A's model layers, in the order of the first axis of :meth:`head_scores`."""
        return tuple(a for a, _ in self.layer_pairs)

    @property
    def num_layers(self) -> int:
        return len(self.layer_pairs)

    @property
    def num_heads(self) -> int:
        return self.a.num_heads

    @property
    def is_self_attention(self) -> bool:
        return self.keys is self.queries

    @property
    def names(self) -> tuple[str, str]:
        """``("A", "B")``, or with the labels: ``("A (pretrained)", "B (fine-tuned)")``."""
        return side_name("A", self.labels[0]), side_name("B", self.labels[1])

    def _positions(self, layer: int) -> tuple[int, int]:
        """Where A's model layer ``layer`` and its B partner sit along the first axes."""
        a_layer, b_layer = self._layers(layer)
        return self.a.position_of_layer(a_layer), self.b.position_of_layer(b_layer)

    def _layers(self, layer: int) -> tuple[int, int]:
        """A's model layer ``layer`` and the B layer paired with it."""
        for a_layer, b_layer in self.layer_pairs:
            if a_layer == int(layer):
                return a_layer, b_layer
        raise InputError(f"layer {layer} is not compared; {describe_range(self.layer_indices)} (A's numbering)")

    def _check_head(self, head: int | str) -> int | str:
        if isinstance(head, str) and head in AGGREGATES:
            return head
        if isinstance(head, bool) or not isinstance(head, (int, np.integer)) or not 0 <= head < self.num_heads:
            raise InputError(
                f"head {head!r} is out of range; valid heads are 0 to {self.num_heads - 1} or one of "
                f"{', '.join(AGGREGATES)}"
            )
        return int(head)

    def _pair(self, layer: int, head: int | str) -> tuple[np.ndarray, np.ndarray]:
        """A's and B's ``(query, key)`` matrix of one head or aggregate, on their own axes (padding included)."""
        head = self._check_head(head)
        a_layer, b_layer = self._layers(layer)
        matrices = []
        for data, chosen, name in ((self.a, a_layer, self.names[0]), (self.b, b_layer, self.names[1])):
            try:
                matrices.append(data.matrix(chosen, head))
            except InputError as error:  # e.g. rollout of a layer subset: say which side
                raise InputError(f"{name}: {error}") from None
        return matrices[0], matrices[1]

    # -- matrices on the aligned grid ----------------------------------------------------

    def matrices(self, layer: int, head: int | str) -> tuple[np.ndarray, np.ndarray]:
        """A's and B's attention of one head on the aligned grid.

        Args:
            layer: A's model layer (B's partner from :attr:`layer_pairs`).
            head: a head index, or ``"mean"``, ``"max"`` (over the layer's heads) or
                ``"rollout"`` (through the layer), as :meth:`AttentionData.matrix` takes.

        Returns:
            Two float32 ``(Q, K)`` arrays, ``Q = len(queries)``, ``K = len(keys)``, NaN in
            the rows and columns of tokens the side does not have; read-only views of
            the data when both sides have the same tokens and no padding.
        """
        a_matrix, b_matrix = self._pair(layer, head)
        if self._plain():
            return a_matrix, b_matrix
        return (
            _on_grid(a_matrix, self.queries.a, self.keys.a),
            _on_grid(b_matrix, self.queries.b, self.keys.b),
        )

    def difference(self, layer: int, head: int | str) -> np.ndarray:
        """B − A of one head (or aggregate, as :meth:`matrices`): float32 ``(Q, K)`` on the
        aligned grid, NaN where either side has a gap."""
        a_matrix, b_matrix = self.matrices(layer, head)
        return np.subtract(b_matrix, a_matrix, dtype=np.float32)

    def _plain(self) -> bool:
        """Same tokens, no padding: the grid is the arrays' own."""
        plain = self._cache.get("plain")
        if plain is None:
            full = [np.arange(len(self.a.queries)), np.arange(len(self.a.keys))]
            plain = bool(
                np.array_equal(self.queries.a, full[0]) and np.array_equal(self.queries.b, full[0])
                and np.array_equal(self.keys.a, full[1]) and np.array_equal(self.keys.b, full[1])
                and len(self.b.queries) == len(full[0]) and len(self.b.keys) == len(full[1])
            )
            self._cache["plain"] = plain
        return plain

    # -- scores --------------------------------------------------------------------------

    def prepare_scores(self, workers: int | None = None) -> None:
        """Score every head now (as :meth:`head_scores` would on first use), on ``workers``
        threads (default: up to 4 CPUs); the numbers do not depend on the thread count."""
        self._scores(workers)

    def _scores(self, workers: int | None = None) -> dict[str, np.ndarray]:
        cached = self._cache.get("scores")
        if cached is None:
            query_pairs, key_pairs = self.queries.matched, self.keys.matched
            cached = head_scores(
                self.a.attentions,
                self.b.attentions,
                [(self.a.position_of_layer(a), self.b.position_of_layer(b)) for a, b in self.layer_pairs],
                (self.queries.a[query_pairs], self.queries.b[query_pairs]),
                (self.keys.a[key_pairs], self.keys.b[key_pairs]),
                workers=workers,
            )
            for values in cached.values():
                values.setflags(write=False)
            self._cache["scores"] = cached
        return cached

    @staticmethod
    def _check_metric(metric: str) -> str:
        if metric not in METRICS:
            raise InputError(f"unknown score {metric!r}; choose from {', '.join(METRICS)}")
        return metric

    def head_scores(self, metric: str = "js") -> np.ndarray:
        """How much each head changed: float64 ``(layers, heads)``, read-only.

        ``"js"``: the mean over aligned query rows of the Jensen–Shannon divergence (bits,
        0 to 1) between A's and B's row, both renormalised over the keys the two sides
        share; ``"tv"``: the same mean of the total-variation distance. Padding and gap
        tokens never enter. Symmetric in A and B; exactly 0 for identical attention.
        """
        return self._scores()[self._check_metric(metric)]

    def ranked_heads(self, metric: str = "js", top: int | None = None) -> list[HeadScore]:
        """Heads by decreasing score (ties by layer, then head; NaN last), the first ``top`` of them."""
        values = self.head_scores(metric)
        entries = [
            HeadScore(layer, head, float(values[position, head]))
            for position, layer in enumerate(self.layer_indices)
            for head in range(self.num_heads)
        ]
        entries.sort(key=lambda entry: (np.isnan(entry.value), -np.nan_to_num(entry.value), entry.layer, entry.head))
        return entries if top is None else entries[: max(0, int(top))]

    def row_scores(self, layer: int, head: int | str, metric: str = "js") -> np.ndarray:
        """The score of each aligned query row of one head (or aggregate): float64 ``(Q,)``, NaN at gaps."""
        self._check_metric(metric)
        a_matrix, b_matrix = self._pair(layer, head)
        rows, keys = self.queries.matched, self.keys.matched
        a_rows = a_matrix[np.ix_(self.queries.a[rows], self.keys.a[keys])]
        b_rows = b_matrix[np.ix_(self.queries.b[rows], self.keys.b[keys])]
        result = np.full(len(self.queries), np.nan)
        if a_rows.size:
            result[rows] = row_scores(a_rows, b_rows)[metric]
        return result

    def head_score(self, layer: int, head: int | str, metric: str = "js") -> float:
        """One head's score, as in :meth:`head_scores`, without scoring every head; an
        aggregate (``"mean"``, ``"max"``, ``"rollout"``) is scored the same way, row by row."""
        cached = self._cache.get("scores")
        head = self._check_head(head)
        if cached is not None and isinstance(head, int):
            self._layers(layer)
            return float(cached[self._check_metric(metric)][self.layer_indices.index(int(layer)), head])
        return float(mean_rows(self.row_scores(layer, head, metric)[None])[0])

    def summary(self) -> str:
        """One line: what was compared, how, and the most changed head."""
        name_a, name_b = self.names
        how = "same tokens" if self.mode == "same" else (
            f"aligned tokens: {int(self.queries.only_a.sum())} only in A, {int(self.queries.only_b.sum())} only "
            f"in B, {int(self.queries.substituted.sum())} changed"
        )
        top = self.ranked_heads("js", top=1)[0]
        return (
            f"{name_b} − {name_a}: {self.num_layers} layers × {self.num_heads} heads, {how}; most changed head: "
            f"layer {top.layer}, head {top.head} (JS {top.value:.3g} bits)"
        )


def _on_grid(matrix: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``matrix[rows][:, columns]`` with NaN where ``rows`` or ``columns`` is -1 (a gap)."""
    grid = np.full((len(rows), len(columns)), np.nan, dtype=np.float32)
    have_rows, have_columns = np.flatnonzero(rows >= 0), np.flatnonzero(columns >= 0)
    grid[np.ix_(have_rows, have_columns)] = matrix[np.ix_(rows[have_rows], columns[have_columns])]
    return grid
