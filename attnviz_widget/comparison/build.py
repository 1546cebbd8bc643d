"""compare(a, b): check that two runs can be compared, align them, pair their layers.

Everything a caller can get wrong ends in one :class:`~attnviz_widget.errors.InputError`
line that names the sides: A is the first argument, B the second, each with its label.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..data import AttentionData, TokenSequence, describe_range
from ..errors import InputError
from .align import Alignment, align_tokens, identity_alignment
from .result import AttentionComparison, side_name

TOKEN_MODES = ("auto", "same", "align")
#: Options of :meth:`AttentionExtractor.extract`; the others go to its constructor.
EXTRACT_KEYS = frozenset({"layers", "max_length", "padding", "truncation", "target"})
LayerMap = Mapping[int, int] | Iterable[tuple[int, int]]


def compare(
    a: Any,
    b: Any,
    *,
    labels: tuple[str, str] = ("A", "B"),
    layer_map: LayerMap | None = None,
    tokens: str = "auto",
    section: str | None = None,
    extract_options: Mapping[str, Any] | None = None,
) -> AttentionComparison:
    """Compare the attention of two runs: B − A per layer and head, and change scores.

    Example::

        base = attnviz_widget.extract(pretrained_dir, "the movie was good")
        tuned = attnviz_widget.extract(finetuned_dir, "the movie was good")
        comparison = attnviz_widget.compare(base, tuned, labels=("pretrained", "fine-tuned"))
        comparison.ranked_heads("js", top=5)
        attnviz_widget.save_heatmap(comparison, "diff.png", layer=5, head=3)

    Args:
        a, b: :class:`AttentionData`, or ``(model, text)`` pairs to extract (model as
            :func:`attnviz_widget.extract` takes it).
        labels: names of A and B in titles, colour bars and error messages.
        layer_map: pairs A's model layers with B's (``{a_layer: b_layer}`` or pairs), for
            runs with different layer counts such as a distilled model and its teacher.
            Without it both sides must hold the same layers.
        tokens: ``"same"`` compares position by position and requires equal tokens
            (one text, one tokenizer); ``"align"`` aligns the two token lists, with gaps
            for inserted and deleted tokens; ``"auto"`` (default) picks ``"same"`` when the
            tokens are equal, else ``"align"``. Padding is left out either way.
        section: the stack to compare on both sides (``"encoder"``, ``"decoder"``,
            ``"cross"``); default: each side's own (first) stack.
        extract_options: keyword arguments of :func:`attnviz_widget.extract` for
            ``(model, text)`` pairs (``device``, ``max_length``, ...).

    Raises:
        InputError: incomparable inputs: a cross-attention section against a
            self-attention one, different head counts, different layers without a
            ``layer_map``, different tokens with ``tokens="same"``; each message names
            sides A and B.
    """
    labels = _labels(labels)
    names = side_name("A", labels[0]), side_name("B", labels[1])
    if tokens not in TOKEN_MODES:
        raise InputError(f"tokens must be one of {', '.join(TOKEN_MODES)}, got {tokens!r}")
    a_data, b_data = _resolve_pair(a, b, names, dict(extract_options or {}))
    a_data, b_data = _section(a_data, names[0], section), _section(b_data, names[1], section)
    _check_kinds(a_data, b_data, names)
    if a_data.num_heads != b_data.num_heads:
        raise InputError(
            f"{names[0]} has {a_data.num_heads} heads per layer and {names[1]} has {b_data.num_heads}; "
            "heads are compared one to one, so both sides need the same head count"
        )
    pairs = _layer_pairs(a_data, b_data, names, layer_map)
    same = _same_tokens(a_data.queries, b_data.queries) and _same_tokens(a_data.keys, b_data.keys)
    if tokens == "same" and not same:
        raise InputError(_token_mismatch(a_data, b_data, names))
    mode = "same" if (tokens == "same" or (tokens == "auto" and same)) else "align"
    queries = _alignment(a_data.queries, b_data.queries, mode)
    keys = queries if a_data.is_self_attention else _alignment(a_data.keys, b_data.keys, mode)
    return AttentionComparison(a_data, b_data, labels, pairs, queries, keys, mode)


def _labels(labels: Any) -> tuple[str, str]:
    if isinstance(labels, str) or not isinstance(labels, (tuple, list)) or len(labels) != 2:
        raise InputError(f"labels must be two names, one for A and one for B, got {labels!r}")
    values = tuple(str(label).strip() for label in labels)
    if not all(values):
        raise InputError("labels must not be empty")
    return values[0], values[1]


def _resolve_pair(
    a: Any, b: Any, names: tuple[str, str], options: dict[str, Any]
) -> tuple[AttentionData, AttentionData]:
    """Each side as AttentionData, extracting ``(model, text)`` pairs (one model loaded once)."""
    sources: list[AttentionData | tuple[Any, ...]] = []
    for value, name in ((a, names[0]), (b, names[1])):
        if isinstance(value, AttentionData):
            sources.append(value)
        elif isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[1], str):
            sources.append(tuple(value))
        else:
            raise InputError(
                f"{name} must be AttentionData or a (model, text) pair, got {type(value).__name__}"
            )
    extractors: dict[Any, Any] = {}
    results: list[AttentionData] = []
    for source, name in zip(sources, names):
        if isinstance(source, AttentionData):
            results.append(source)
            continue
        model, text = source
        from ..extractor import AttentionExtractor

        try:
            key = os.fspath(model) if isinstance(model, (str, os.PathLike)) else id(model)
            load = {k: v for k, v in options.items() if k not in EXTRACT_KEYS}
            if key not in extractors:
                extractors[key] = AttentionExtractor(model, **load)
            results.append(extractors[key].extract(text, **{k: v for k, v in options.items() if k in EXTRACT_KEYS}))
        except InputError as error:
            raise InputError(f"{name}: {error}") from None
    return results[0], results[1]


def _section(data: AttentionData, name: str, section: str | None) -> AttentionData:
    if section is None:
        return data
    try:
        return data.part(section)
    except InputError as error:
        raise InputError(f"{name}: {error}") from None


_KIND_NAMES = {"self": "self-attention", "encoder": "encoder self-attention",
               "decoder": "decoder self-attention", "cross": "cross-attention"}


def _describe_kind(data: AttentionData) -> str:
    return _KIND_NAMES[data.kind] if data.is_self_attention else "cross-attention"


def _check_kinds(a: AttentionData, b: AttentionData, names: tuple[str, str]) -> None:
    if a.is_self_attention != b.is_self_attention:
        raise InputError(
            f"cannot compare {names[0]}'s {_describe_kind(a)} with {names[1]}'s {_describe_kind(b)}: "
            "compare the same kind of section on both sides (e.g. section='cross')"
        )


def _layer_pairs(
    a: AttentionData, b: AttentionData, names: tuple[str, str], layer_map: LayerMap | None
) -> tuple[tuple[int, int], ...]:
    if layer_map is None:
        if a.layer_indices != b.layer_indices:
            raise InputError(
                f"{names[0]} has {_layers(a)} and {names[1]} has {_layers(b)}; pass layer_map="
                "{a_layer: b_layer, ...} to say which layers to compare"
            )
        return tuple((layer, layer) for layer in a.layer_indices)
    try:
        items = list(layer_map.items() if isinstance(layer_map, Mapping) else layer_map)
        pairs = tuple((int(x), int(y)) for x, y in items)
    except (TypeError, ValueError):
        raise InputError(
            "layer_map must map A's layers to B's: {a_layer: b_layer} or [(a_layer, b_layer), ...]"
        ) from None
    if not pairs:
        raise InputError("layer_map is empty; map at least one of A's layers to one of B's")
    for (a_layer, b_layer) in pairs:
        for layer, data, name in ((a_layer, a, names[0]), (b_layer, b, names[1])):
            if layer not in data.layer_indices:
                raise InputError(f"layer_map names layer {layer} of {name}, which has {_layers(data)}")
    a_layers = [x for x, _ in pairs]
    if len(set(a_layers)) != len(a_layers):
        raise InputError(f"layer_map pairs one of {names[0]}'s layers twice; each A layer may appear once")
    return pairs


def _layers(data: AttentionData) -> str:
    return describe_range(data.layer_indices).replace("valid layers are", "layers")


def _real(sequence: TokenSequence) -> np.ndarray:
    return np.flatnonzero(sequence.mask)


def _same_tokens(a: TokenSequence, b: TokenSequence) -> bool:
    return [a.tokens[i] for i in _real(a)] == [b.tokens[i] for i in _real(b)]


def _token_mismatch(a: AttentionData, b: AttentionData, names: tuple[str, str]) -> str:
    for axis, x, y in (("query", a.queries, b.queries), ("key", a.keys, b.keys)):
        tx, ty = [x.tokens[i] for i in _real(x)], [y.tokens[i] for i in _real(y)]
        if tx == ty:
            continue
        where = next((i for i, (s, t) in enumerate(zip(tx, ty)) if s != t), min(len(tx), len(ty)))
        first = (f"{names[0]} has {tx[where]!r}" if where < len(tx) else f"{names[0]} ends") + " and " + (
            f"{names[1]} has {ty[where]!r}" if where < len(ty) else f"{names[1]} ends")
        axis_name = "" if a.is_self_attention else f"{axis} "
        return (
            f"tokens='same' needs the same tokens on both sides, but {names[0]} has {len(tx)} {axis_name}tokens and "
            f"{names[1]} {len(ty)}, first differing at position {where} ({first}); different tokenizers or texts "
            "— use tokens='align'"
        )
    return "tokens='same' needs the same tokens on both sides"


def _alignment(a: TokenSequence, b: TokenSequence, mode: str) -> Alignment:
    a_index, b_index = _real(a), _real(b)
    if mode == "same":
        return identity_alignment(a_index, b_index, [a.display[i] for i in a_index])
    return align_tokens([a.display[i] for i in a_index], [b.display[i] for i in b_index],
                        a_index=a_index, b_index=b_index)
