"""Exceptions raised by attnviz_widget.

Every error a user can cause (a bad path, bad text, an out-of-range index, a
malformed file) is an :class:`AttnvizError` whose message says what was wrong and
how to fix it, in one line. The command-line tools print that line and exit with
a non-zero status instead of a traceback.
"""

from __future__ import annotations


class AttnvizError(Exception):
    """Base class of every error attnviz_widget raises on bad input."""


class ModelLoadError(AttnvizError):
    """The model or tokenizer could not be loaded (missing dir, config or tokenizer)."""


class InputError(AttnvizError, ValueError):
    """An argument is invalid: empty text, layer/head out of range, unknown device."""


class FormatError(AttnvizError, ValueError):
    """A JSON attention file is malformed, truncated, of the wrong shape or the other format."""


class TruncationWarning(UserWarning):
    """The text was longer than the model accepts and was truncated."""
