"""How a widget reaches the notebook: at most one live view per cell.

``show()`` displays the widget and returns it, so that ``AttentionWidget(m).show(text)``
reads naturally; as a cell's last expression the same widget then reaches IPython's
display hook a second time. :class:`OneViewPerCell` gives a widget an
``_ipython_display_`` that remembers the cell (IPython's execution count) it was
displayed in and shows nothing the second time within that cell. Outside IPython every
display goes through unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


def execution_count() -> int | None:
    """The IPython cell being executed (its execution count), or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with anywidget
        return None
    shell = get_ipython()
    return None if shell is None else int(shell.execution_count)


class OneViewPerCell:
    """Mixin for an ipywidget: displayed at most once per cell, however it gets there."""

    _displayed_in: int | None = None

    if TYPE_CHECKING:  # provided by the widget class this is mixed into

        def _repr_mimebundle_(self, **kwargs: Any) -> Any: ...

    def _ipython_display_(self) -> None:
        """IPython's display (``display(w)`` and a cell's result) calls this instead of the repr."""
        cell = execution_count()
        if cell is not None and cell == self._displayed_in:
            return
        self._displayed_in = cell
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        if bundle is None:
            return
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        display(data, metadata=metadata, raw=True)
