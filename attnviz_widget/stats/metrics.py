"""Per-text, per-head attention metrics: pure torch reductions of one layer's weights.

Every function takes one layer's weights ``A`` of shape ``(batch, heads, query, key)``
(rows sum to 1 over the keys a query can see) and returns one value per text and head,
``(batch, heads)``. A text's value is a mean over its *counted* query rows: every real
(non-padding) query counts once, special-token queries only when asked. Padding keys
carry weight 0 already; padding rows are never counted. ``NaN`` marks a text on which
a metric is undefined (no counted row, e.g. no query with a previous token).

Definitions (``i`` a query, ``j`` a key, ``n_i`` the keys query ``i`` can see):

* ``self``, ``prev``, ``next``: ``A[i, i]``, ``A[i, i-1]``, ``A[i, i+1]``, each over the
  queries that have such a token (Clark et al. 2019, "What Does BERT Look At?", §3).
  A pure previous-token head scores exactly 1 on ``prev``.
* ``first`` (the sink mass ``α0``), ``cls_bos``, ``sep_eos``, ``punct``:
  ``Σ_j A[i, j]·[j ∈ class]`` for the first token, the [CLS]/BOS tokens, the
  [SEP]/EOS tokens and punctuation tokens (Clark et al. 2019, §3; the sink mass after
  Gu et al. 2024, "When Attention Sink Emerges in Language Models").
* ``sink_fraction``: 1 when the text's ``α0 > 0.3`` else 0, so its mean over texts is
  the fraction of texts whose first token is a sink (after Gu et al.'s threshold
  metric, with their ε = 0.3).
* ``entropy``: ``−Σ_j A[i, j] log A[i, j]`` in nats (Clark et al. 2019, §3.3);
  ``entropy_uniform``: ``log n_i``, the entropy of uniform attention over the keys the
  query can see, which the entropy of that row can never exceed.
* ``confidence``: ``max_j A[i, j]`` (Voita et al. 2019, "Analyzing Multi-Head
  Self-Attention", §4).
* ``distance``: ``Σ_j A[i, j]·|i − j|``, in tokens (Vig & Belinkov 2019, "Analyzing the
  Structure of Attention in a Transformer Language Model", §5).
* ``probe_prev``, ``probe_duplicate``, ``probe_induction``: on the model's own probe of
  repeated random tokens, ``Σ(A ⊙ P) / Σ A`` over the whole matrix against the
  detection pattern ``P`` (TransformerLens ``head_detector``, ``error_measure="mul"``,
  no BOS or current-token exclusion): ``P[i, i-1] = 1`` for the previous token;
  ``P[i, j] = 1`` when ``j < i`` holds the same token as ``i`` for duplicates; the
  duplicate pattern shifted one key to the right, ``P[i, j+1] = dup[i, j]``, for
  induction. Since every row sums to 1, ``Σ A`` is the number of rows, so a pure
  previous-token head scores ``(n − 1) / n`` (row 0 has no previous token).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Metrics measured on every corpus text, in table order.
CORPUS_METRICS = (
    "self",
    "prev",
    "next",
    "first",
    "cls_bos",
    "sep_eos",
    "punct",
    "entropy",
    "entropy_uniform",
    "confidence",
    "distance",
    "sink_fraction",
)
#: Metrics measured on the repeated-random-token probe only.
PROBE_METRICS = ("probe_prev", "probe_duplicate", "probe_induction")
METRICS = CORPUS_METRICS + PROBE_METRICS
#: Key classes matched by a matmul with the weights: (first, [CLS]/BOS, [SEP]/EOS, punctuation).
KEY_CLASSES = ("first", "cls_bos", "sep_eos", "punct")
SINK_THRESHOLD = 0.3


@dataclass
class BatchMasks:
    """What the metrics need to know about one padded batch, shared by every layer.

    Attributes:
        query: bool ``(batch, query)``, the rows that count.
        key: bool ``(batch, key)``, the real (non-padding) keys.
        classes: float ``(batch, key, 4)``, 1 where a key is in each of :data:`KEY_CLASSES`.
        causal: the model attends only to earlier keys.
    """

    query: torch.Tensor
    key: torch.Tensor
    classes: torch.Tensor
    causal: bool

    @classmethod
    def build(
        cls,
        attention_mask: torch.Tensor,
        special: torch.Tensor,
        classes: torch.Tensor,
        *,
        causal: bool,
        skip_special_queries: bool = False,
    ) -> BatchMasks:
        """From the tokenizer's ``(batch, seq)`` attention and special-token masks and ``(batch, seq, 4)`` classes."""
        key = attention_mask.bool()
        query = key & ~special.bool() if skip_special_queries else key
        return cls(query=query, key=key, classes=classes.to(torch.float32), causal=causal)


def _row_mean(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean of ``(batch, heads, query)`` values over the ``(batch, query)`` rows; NaN where none count."""
    rows = rows[:, None, :]
    total = torch.where(rows, values, torch.zeros((), dtype=values.dtype, device=values.device)).sum(-1)
    count = rows.sum(-1).to(values.dtype)
    return total / count  # 0 / 0 -> NaN: undefined for that text


def _shift_rows(mask: torch.Tensor, offset: int) -> torch.Tensor:
    """``(batch, seq)`` mask with ``out[:, i] = mask[:, i + offset]`` (False off the ends)."""
    out = torch.zeros_like(mask)
    if offset < 0:
        out[:, -offset:] = mask[:, :offset]
    elif offset > 0:
        out[:, :-offset] = mask[:, offset:]
    else:
        out = mask.clone()
    return out


def _diagonal(weights: torch.Tensor, offset: int) -> torch.Tensor:
    """``out[..., i] = A[..., i, i + offset]`` as ``(batch, heads, query)``, 0 where that key does not exist."""
    diagonal = torch.diagonal(weights, offset=offset, dim1=-2, dim2=-1)
    pad = weights.shape[-2] - diagonal.shape[-1]
    if pad == 0:
        return diagonal
    zeros = diagonal.new_zeros((*diagonal.shape[:-1], pad))
    return torch.cat([zeros, diagonal] if offset < 0 else [diagonal, zeros], dim=-1)


def visible_keys(masks: BatchMasks) -> torch.Tensor:
    """``(batch, query)`` float count of keys each query can see (real keys, and earlier ones if causal)."""
    key = masks.key.to(torch.float32)
    if masks.causal:
        return torch.cumsum(key, dim=-1)
    return key.sum(-1, keepdim=True).expand_as(key)


def text_metrics(weights: torch.Tensor, masks: BatchMasks, distances: torch.Tensor | None = None) -> torch.Tensor:
    """Every corpus metric of one layer, ``(batch, heads, len(CORPUS_METRICS))`` float32.

    Args:
        weights: ``(batch, heads, query, key)`` attention of one layer, query = key = seq.
        masks: the batch's masks (see :class:`BatchMasks`).
        distances: optional cached ``(seq, seq)`` float32 ``|i − j|``.
    """
    weights = weights.to(torch.float32)
    seq = weights.shape[-1]
    if distances is None:
        positions = torch.arange(seq, device=weights.device, dtype=torch.float32)
        distances = (positions[:, None] - positions[None, :]).abs()
    rows = masks.query
    has_prev = rows & _shift_rows(masks.key, -1)
    has_next = rows & _shift_rows(masks.key, +1)
    if masks.causal:
        has_next = torch.zeros_like(has_next)  # a causal query never sees the next token
    by_class = torch.matmul(weights, masks.classes[:, None, :, :])  # (batch, heads, query, 4)
    first = _row_mean(by_class[..., 0], rows)
    uniform = _row_mean(torch.log(visible_keys(masks))[:, None, :], rows).expand_as(first)
    values = (
        _row_mean(_diagonal(weights, 0), rows),
        _row_mean(_diagonal(weights, -1), has_prev),
        _row_mean(_diagonal(weights, +1), has_next),
        first,
        _row_mean(by_class[..., 1], rows),
        _row_mean(by_class[..., 2], rows),
        _row_mean(by_class[..., 3], rows),
        _row_mean(torch.special.entr(weights).sum(-1), rows),
        uniform,
        _row_mean(weights.amax(-1), rows),
        _row_mean((weights * distances).sum(-1), rows),
        torch.where(torch.isnan(first), first, (first > SINK_THRESHOLD).to(first.dtype)),
    )
    return torch.stack(values, dim=-1)


def probe_patterns(ids: torch.Tensor) -> torch.Tensor:
    """TransformerLens's detection patterns for token ids ``(batch, seq)``: ``(batch, 3, seq, seq)`` float32.

    Pattern 0 is the previous token, 1 duplicate tokens, 2 induction (see the module docstring).
    """
    batch, seq = ids.shape
    lower = torch.tril(torch.ones(seq, seq, dtype=torch.bool, device=ids.device), diagonal=-1)
    previous = torch.zeros(seq, seq, dtype=torch.bool, device=ids.device)
    if seq > 1:
        previous[1:, :-1] = torch.eye(seq - 1, dtype=torch.bool, device=ids.device)
    duplicate = (ids[:, :, None] == ids[:, None, :]) & lower
    induction = torch.zeros_like(duplicate)
    induction[:, :, 1:] = duplicate[:, :, :-1]
    induction &= torch.tril(torch.ones(seq, seq, dtype=torch.bool, device=ids.device))
    patterns = torch.stack([previous.expand(batch, seq, seq), duplicate, induction], dim=1)
    return patterns.to(torch.float32)


def probe_scores(weights: torch.Tensor, patterns: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """``Σ(A ⊙ P) / Σ A`` per text, head and pattern: ``(batch, heads, 3)`` float32.

    Args:
        weights: ``(batch, heads, seq, seq)`` attention on the probe.
        patterns: ``(batch, 3, seq, seq)`` from :func:`probe_patterns`.
        key: bool ``(batch, seq)``, the real tokens (padding rows and keys are left out).
    """
    weights = weights.to(torch.float32)
    real = (key[:, :, None] & key[:, None, :]).to(torch.float32)[:, None]  # (batch, 1, seq, seq)
    weights = weights * real
    matched = torch.einsum("bhqk,bpqk->bhp", weights, patterns)
    return matched / weights.sum(dim=(-2, -1))[..., None]
