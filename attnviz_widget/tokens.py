"""Readable display forms of tokenizer tokens.

Tokenizers mark word boundaries and bytes in ways that are noise on a heatmap axis:
byte-level BPE writes a leading space as ``Ġ`` and a newline as ``Ċ``, SentencePiece
writes ``▁``, and emoji become runs of byte symbols. The display form decodes each
token the way the tokenizer would, so ``Ġhello`` shows as ``hello`` and whitespace
tokens as visible symbols. WordPiece continuations (``##ing``) keep their marker,
which readers of BERT know. Special tokens are shown as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .vocabulary import WHITESPACE_SYMBOLS

WORD_START_MARKERS = ("Ġ", "▁")


def readable_whitespace(text: str) -> str:
    """Whitespace-only text as visible symbols (``"\\n"`` -> ``"↵"``)."""
    return "".join(WHITESPACE_SYMBOLS.get(char, "␣") for char in text) or "␣"


def strip_markers(token: str) -> str:
    """A token without its word-start marker (``Ġ``/``▁``), or the token itself."""
    for marker in WORD_START_MARKERS:
        if token.startswith(marker) and len(token) > len(marker):
            return token[len(marker):]
    if token in WORD_START_MARKERS:
        return "␣"
    return token.replace("Ċ", "↵").replace("ĉ", "⇥")


def display_tokens(
    tokens: Sequence[str],
    *,
    special: Sequence[bool] | None = None,
    decode: Callable[[str], str] | None = None,
) -> list[str]:
    """The display form of each token.

    Args:
        tokens: tokens as the tokenizer spells them.
        special: True where a token is special (kept verbatim).
        decode: turns one token into text as the tokenizer would
            (``tokenizer.convert_tokens_to_string([token])``); markers are stripped
            by hand when it is missing or fails.
    """
    flags = list(special) if special is not None else [False] * len(tokens)
    shown = []
    for token, is_special in zip(tokens, flags, strict=True):
        if is_special:
            shown.append(token)
            continue
        text = None
        if decode is not None:
            try:
                text = decode(token)
            except Exception:  # a tokenizer that cannot decode one token alone
                text = None
        if text is None:
            shown.append(strip_markers(token))
        elif text.strip():
            shown.append(text.strip())
        else:
            shown.append(readable_whitespace(text))
    return shown
