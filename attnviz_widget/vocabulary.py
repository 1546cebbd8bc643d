"""The project's one vocabulary: names and constants that Python, the files and the views share.

Every module that needs an aggregate's name, a colour scale, the log scale's depth, the
rule for guessing special tokens or how whitespace is shown takes it from here, and the
widget sends :func:`frontend_vocabulary` to the JavaScript views in its ``meta`` trait, so
the browser never spells these a second time. Pure Python: no numpy, no torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Aggregate:
    """One way of summarising the heads of a layer.

    Attributes:
        name: the identifier (``"mean"``), as ``head=`` and ``--aggregate`` take it.
        label: a short column label for the overview grid (``"roll"``).
        title: a title template with ``{layer}`` (``"layer {layer}, mean over heads"``).
        description: what it is, in a few words (tooltips, docs).
    """

    name: str
    label: str
    title: str
    description: str


#: The aggregates, in the order the overview grid shows them after the heads.
AGGREGATE_TABLE: tuple[Aggregate, ...] = (
    Aggregate("mean", "mean", "layer {layer}, mean over heads", "mean over heads"),
    Aggregate("max", "max", "layer {layer}, max over heads", "max over heads"),
    Aggregate("rollout", "roll", "rollout through layer {layer}", "attention rollout (Abnar & Zuidema 2020)"),
)
AGGREGATES: tuple[str, ...] = tuple(aggregate.name for aggregate in AGGREGATE_TABLE)
_AGGREGATES_BY_NAME = {aggregate.name: aggregate for aggregate in AGGREGATE_TABLE}

#: Colour scales of every view, in the order the controls offer them.
COLOR_SCALES: tuple[str, ...] = ("linear", "sqrt", "log")
#: The log colour scale spans this many decades below the maximum; smaller values take the lowest colour.
LOG_DECADES = 3

#: Titles name the attention stack this way (the self-attention of a one-stack model needs no name).
STACK_TITLES = {"self": "", "encoder": "encoder ", "decoder": "decoder ", "cross": "cross-attention "}

#: Tokens treated as special when a tokenizer does not say (files, plain PyTorch models).
COMMON_SPECIAL_TOKENS = frozenset(
    {"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<s>", "</s>", "<pad>", "<unk>",
     "<mask>", "<|endoftext|>", "<bos>", "<eos>", "<|begin_of_text|>", "<|end_of_text|>"}
)
#: The same rule as a pattern, for tokens outside the table: ``[BOS]``, ``<|im_start|>``, ...
SPECIAL_TOKEN_PATTERN = (
    r"^(\[(CLS|SEP|PAD|MASK|UNK|BOS|EOS)\]|</?s>|<pad>|<unk>|<mask>|<bos>|<eos>|"
    r"<\|[a-z_]+\|>|<\|(begin|end|start)_of_[a-z_]+\|>)$"
)
_SPECIAL_TOKEN = re.compile(SPECIAL_TOKEN_PATTERN, re.IGNORECASE)

#: How whitespace is shown in every view, figure and page.
WHITESPACE_SYMBOLS = {"\n": "↵", "\r": "↵", "\t": "⇥", " ": "␣"}


def aggregate_info(name: str) -> Aggregate:
    """The :class:`Aggregate` called ``name``; ``KeyError`` for an unknown one (callers check first)."""
    return _AGGREGATES_BY_NAME[name]


def looks_special(token: str) -> bool:
    """Whether a token's text marks it as special (``[CLS]``, ``</s>``, ``<|endoftext|>`` ...).

    Used only where no tokenizer says which tokens are special: files written by other
    tools and plain PyTorch models.
    """
    stripped = token.strip()
    return stripped in COMMON_SPECIAL_TOKENS or bool(_SPECIAL_TOKEN.match(stripped))


def show_whitespace(text: str) -> str:
    """``text`` with newlines, tabs and carriage returns as visible symbols (``"a\\nb"`` -> ``"a↵b"``)."""
    return "".join(WHITESPACE_SYMBOLS[char] if char in "\n\r\t" else char for char in text)


def frontend_vocabulary() -> dict[str, Any]:
    """What the JavaScript views need of this vocabulary, as JSON for the ``meta`` trait."""
    return {
        "aggregates": [
            {"name": a.name, "label": a.label, "title": a.title, "description": a.description}
            for a in AGGREGATE_TABLE
        ],
        "color_scales": list(COLOR_SCALES),
        "log_decades": LOG_DECADES,
        "special_token_pattern": SPECIAL_TOKEN_PATTERN,
    }
