"""HeadAtlasWidget: the head atlas of a :class:`HeadStats` run, linked to the attention of each head.

The frontend (``js/src/atlas-*.ts``, in the same bundle as :class:`AttentionWidget`) draws
the layer × head grid coloured by the chosen ``metric``, a table of every head with every
metric (a click on a column header sorts it), and a readout of every metric of the head
under the pointer. A click on a head sets ``selected``; Python then extracts the head's
best text on ``metric`` (:meth:`HeadStats.top_texts`) with the same model and shows it in
an :class:`AttentionWidget` focused on that layer and head, below the atlas
(:attr:`HeadAtlasWidget.output`). :meth:`HeadAtlasWidget.open_head` does the same from Python
and returns that widget.
"""

from __future__ import annotations

import math
from typing import Any

import anywidget
import ipywidgets  # type: ignore[import-untyped]
import traitlets
from traitlets import Bytes, Dict, Int, List, Unicode

from ..errors import InputError
from ..runner import describe_failure
from .atlas_wire import atlas_meta, atlas_values
from .metrics import PROBE_METRICS
from .result import HeadStats


def _bundle() -> Any:
    from ..widget import AttentionWidget

    return AttentionWidget._esm


class HeadAtlasWidget(anywidget.AnyWidget):
    """The head atlas: every head of a :class:`HeadStats` run, and a click-through to its best text.

    Args:
        stats: from :func:`attnviz_widget.head_stats`.
        model: the model the statistics came from (a folder, hub name or loaded model), used to
            extract a head's top texts; default ``stats.model`` (the folder or name the run
            recorded). Loaded on the first click.
        tokenizer, device: as :class:`~attnviz_widget.AttentionWidget` takes them.
        metric: the metric the grid shows first (default ``"prev"``, else the first one).

    Example::

        atlas = HeadAtlasWidget(stats, model_dir)
        atlas                      # grid, table, hover; click a head to see its best text
        atlas.open_head(3, 7)      # the same from Python: an AttentionWidget on layer 3, head 7
    """

    _esm = _bundle()
    view_kind = Unicode("atlas").tag(sync=True)
    """Type: str. Tells the shared frontend bundle to draw the head atlas."""
    atlas_meta = Dict().tag(sync=True)
    """Type: dict. Metric names, titles, scales, grid size, model and corpus (``stats/atlas_wire.py``)."""
    atlas_values = Bytes(b"").tag(sync=True)
    """Type: bytes. float32 ``(3, metrics, layers, heads)``: mean, std and count of every metric."""
    metric = Unicode("prev").tag(sync=True)
    """Type: str. The metric the grid is coloured by, and whose top texts a click opens."""
    selected = List(Int(), maxlen=2).tag(sync=True)
    """Type: list. ``[layer, head]`` of the opened head, or ``[]``; set by a click or from Python."""
    rank = Int(0, min=0).tag(sync=True)
    """Type: int. Which of the opened head's top texts is shown (0: its best); set by a click on the list."""
    top_texts = List(Dict()).tag(sync=True)
    """Type: list. The opened head's top texts on ``metric``, best first: ``{"text", "value"}`` each."""
    detail_status = Unicode("").tag(sync=True)
    """Type: str. One line on the opened head: which text it shows, or why it cannot be opened."""

    def __init__(
        self, stats: HeadStats, model: Any = None, *, tokenizer: Any = None, device: str | None = None,
        metric: str | None = None,
    ) -> None:
        if not isinstance(stats, HeadStats):
            raise InputError(f"HeadAtlasWidget needs HeadStats (from head_stats), got {type(stats).__name__}")
        self.stats = stats
        self._model = model if model is not None else (stats.model or None)
        self._tokenizer, self._device = tokenizer, device
        self._opening = False
        """True while :meth:`open_head` sets the atlas's own traits (their observer then does nothing)."""
        self.detail: Any = None
        """The :class:`AttentionWidget` of the opened head (None before the first)."""
        self.output = ipywidgets.Output()
        """Where the opened head's widget is shown, below the atlas."""
        chosen = metric if metric is not None else ("prev" if "prev" in stats.metrics else stats.metrics[0])
        if chosen not in stats.metrics:
            raise InputError(f"unknown metric {chosen!r}; choose one of {', '.join(stats.metrics)}")
        super().__init__(
            atlas_meta=atlas_meta(stats, can_open=self._model is not None), atlas_values=atlas_values(stats),
            metric=chosen,
        )
        self._layout = ipywidgets.VBox([self, self.output])

    @traitlets.validate("metric")
    def _valid_metric(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if value not in self.stats.metrics:
            raise traitlets.TraitError(f"unknown metric {value!r}; choose one of {', '.join(self.stats.metrics)}")
        return str(value)

    @traitlets.validate("selected")
    def _valid_selected(self, proposal: dict[str, Any]) -> list[int]:
        value = list(proposal["value"])
        if value and (len(value) != 2 or not self._has_head(*value)):
            raise traitlets.TraitError(f"selected must be [] or [layer, head] of this model, got {value}")
        return value

    def _has_head(self, layer: int, head: int) -> bool:
        return 0 <= layer < self.stats.layers and 0 <= head < self.stats.heads

    @traitlets.observe("selected", "metric", "rank")
    def _on_choice(self, change: dict[str, Any]) -> None:
        """A click (or Python) chose a head, a metric or a rank: show that text of the selected head."""
        if self._opening or not self.selected:
            return
        layer, head = self.selected
        try:
            self.open_head(layer, head, rank=self.rank if change["name"] == "rank" else 0)
        except Exception as error:  # shown in the atlas as one line, never a traceback in the kernel log
            self._opening = True
            try:
                self.top_texts = []
                self.detail_status = f"layer {layer}, head {head}: {describe_failure(error)}"
            finally:
                self._opening = False

    def open_head(self, layer: int, head: int, *, metric: str | None = None, rank: int = 0) -> Any:
        """Show head ``(layer, head)`` on its ``rank``-th best text for ``metric`` (default: the grid's).

        Extracts the text with the model (on the widget's worker thread: call ``.wait()`` on the
        result to block until it is in) and returns the :class:`AttentionWidget`, focused on
        that layer and head; the same widget is shown in :attr:`output` and reused by the next
        click. The atlas follows: ``selected``, ``metric``, ``rank`` and ``top_texts`` say what is
        open. Raises :class:`InputError` for a head the model lacks, a probe metric (scored on
        random tokens, so it has no texts), a rank beyond the kept texts, or no model.
        """
        metric = self.metric if metric is None else metric
        if not self._has_head(layer, head):
            raise InputError(f"no head ({layer}, {head}): the model has {self.stats.layers} layers × "
                             f"{self.stats.heads} heads")
        if metric in PROBE_METRICS:
            raise InputError(f"{metric} is scored on random probe tokens, not on corpus texts; choose a corpus "
                             "metric to open a head's top texts")
        best = self.stats.top_texts(metric, layer, head)
        if not 0 <= rank < len(best):
            kept = f"{len(best)} text(s) were kept" if best else "the run kept no texts (top_k=0)"
            raise InputError(f"no top text #{rank + 1} for {metric} at layer {layer}, head {head}: {kept}")
        if self._model is None:
            raise InputError("the atlas has no model to extract texts with; pass it: HeadAtlasWidget(stats, model)")
        text, value = best[rank]
        widget = self._detail_widget()
        with widget.hold_sync():
            widget.layer, widget.head = int(layer), int(head)
        widget.text = text  # extracted on the widget's worker thread
        self._opening = True
        try:
            with self.hold_sync():  # the atlas shows what is open: its cell, metric, list and rank
                self.selected, self.metric, self.rank = [int(layer), int(head)], metric, rank
                self.top_texts = [{"text": kept, "value": score if math.isfinite(score) else None}
                                  for kept, score in best]
                self.detail_status = (f"layer {layer}, head {head}: its top text #{rank + 1} of {len(best)} "
                                      f"for {metric} ({value:.3f})")
        finally:
            self._opening = False
        return widget

    def _detail_widget(self) -> Any:
        """The one AttentionWidget (model loaded once), shown in :attr:`output` when first made."""
        if self.detail is None:
            from ..widget import AttentionWidget

            options: dict[str, Any] = {}
            if self.stats.settings.get("max_length"):
                options["max_length"] = int(self.stats.settings["max_length"])
            self.detail = AttentionWidget(self._model, tokenizer=self._tokenizer, device=self._device, **options)
            bundle = self.detail._repr_mimebundle_()
            data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
            self.output.outputs = ({"output_type": "display_data", "data": data, "metadata": metadata},)
        return self.detail

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Displayed as the atlas with the opened head's widget below it (one ``VBox``)."""
        return self._layout._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        """Close the atlas, the opened head's widget and the area that shows it."""
        if getattr(self, "detail", None) is not None:
            self.detail.close()
        for part in ("output", "_layout"):
            if hasattr(self, part):
                getattr(self, part).close()
        super().close()
