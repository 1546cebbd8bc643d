"""AttentionWidget: linked, interactive heatmaps of every layer and head in Jupyter.

``AttentionWidget(model_dir).show(text)`` extracts attention on the kernel's device and
displays an overview of every layer × head, a focused heatmap, a token view and, for
classifiers, the prediction. Attention values travel as binary buffers (see
``js/PROTOCOL.md`` and :mod:`attnviz_widget.wire`): a small overview first, then the
full-resolution float16 layer the view focuses on, fetched on demand.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .data import AttentionData
from .display import OneViewPerCell
from .errors import AttnvizError, InputError
from .generation.steps import holds_generated_tokens
from .html_export import BUNDLE
from .progressive import ProgressiveOverview, kept_layers, landing_section
from .protocol import RolloutOnRequest, Served, answer
from .runner import OUT_OF_MEMORY_HINT, ExtractionRunner, add_note, describe_failure, is_out_of_memory
from .traits import DataTraits, ViewState, check_head, check_layer, fit_selection
from .widget_generation import GenerationView
from .wire import build_first_view, build_view, can_roll_out, float16_bytes

EXTRACT_OPTIONS = ("layers", "max_length", "truncation", "target", "trust_remote_code", "store", "memory_budget")


def _bundle() -> str | Path:
    if BUNDLE.is_file():
        return BUNDLE
    return (
        "export default { render({ el }) { el.textContent = "
        "'attnviz-widget: the JavaScript bundle is missing; "
        "reinstall the package (pip install builds it with npm).'; } };"
    )


class AttentionWidget(OneViewPerCell, anywidget.AnyWidget, DataTraits, ViewState, GenerationView):
    """Interactive attention heatmaps for one text, or for text the model generates (:meth:`generate`).

    Args:
        model: a model directory, a loaded Hugging Face model or a plain PyTorch
            module (as :func:`attnviz_widget.extract` takes), or None for a widget
            fed by :meth:`from_data` / :meth:`from_file`.
        tokenizer: as :func:`attnviz_widget.extract` takes.
        device: ``"cuda"``, ``"mps"``, ``"cpu"`` or None for the best available.
        **options: initial values of the user-state traits of
            :class:`~attnviz_widget.traits.ViewState` (``layer``, ``head``,
            ``color_scale``, ...) and extraction options (``layers``, ``max_length``,
            ``truncation``, ``target``, ``trust_remote_code``, ``store``, ``memory_budget``:
            see :meth:`AttentionExtractor.extract <attnviz_widget.extractor.AttentionExtractor.extract>`;
            long inputs are kept lazily and drawn from tiles). Unknown names raise
            :class:`TypeError`.

    Example::

        widget = AttentionWidget("./model_output").show("The movie was not bad")
        widget.layer, widget.head, widget.selected_token   # what the user picked

    A widget appears at most once per notebook cell: ``show()`` displays it, and the
    cell's result (the same widget, returned by ``show()``) adds no second view.
    """

    _esm = _bundle()
    # the synced traits and their docs: attnviz_widget.traits (DataTraits, ViewState)

    def __init__(
        self,
        model: Any = None,
        *,
        tokenizer: Any = None,
        device: str | None = None,
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(self.USER_TRAITS) - set(EXTRACT_OPTIONS))
        if unknown:
            valid = ", ".join(sorted(("tokenizer", "device", *self.USER_TRAITS, *EXTRACT_OPTIONS)))
            raise TypeError(f"AttentionWidget got unexpected keyword argument(s) {', '.join(unknown)}; valid: {valid}")
        trait_values = {name: options.pop(name) for name in list(options) if name in self.USER_TRAITS}
        self._extract_options = {name: options[name] for name in EXTRACT_OPTIONS if name in options}
        trust_remote_code = bool(self._extract_options.pop("trust_remote_code", False))
        self._lock = threading.RLock()
        """Guards every state change: new data, a section switch, an error, a new text."""
        self._data: AttentionData | None = None
        self._view: AttentionData | None = None
        self._view_section = ""
        self._served: Served | None = None
        self._failure: BaseException | None = None
        self._streaming: dict[str, Any] | None = None
        """``meta.generation`` of the generation streaming now, else None."""
        self.bytes_sent = 0
        """Bytes of attention values sent so far: ``first_matrix`` of each data set and every reply
        (the overview not counted)."""
        self._extractor = None
        self._runner: ExtractionRunner[Any, tuple[AttentionData, ProgressiveOverview | None]] | None = None
        if model is not None:
            from .extractor import AttentionExtractor

            self._extractor = AttentionExtractor(
                model, tokenizer=tokenizer, device=device, trust_remote_code=trust_remote_code
            )
            self._runner = ExtractionRunner(
                self._run_model, on_result=self._land, on_error=self._fail, lock=self._lock
            )
        super().__init__(**trait_values)
        self.on_msg(self._on_message)

    # -- construction from precomputed data --------------------------------------------

    @classmethod
    def from_data(cls, data: AttentionData, **options: Any) -> AttentionWidget:
        """A widget showing precomputed :class:`AttentionData` (no model needed)."""
        widget = cls(None, **options)
        widget.set_data(data)
        return widget

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **options: Any) -> AttentionWidget:
        """A widget showing an attention file: either JSON format, or safetensors (memory-mapped)."""
        from .files import read_attention_file

        return cls.from_data(read_attention_file(path), **options)

    @staticmethod
    def compare(a: Any, b: Any, **options: Any) -> Any:
        """Two runs side by side: a :class:`~attnviz_widget.comparison.view.ComparisonWidget` of
        :func:`attnviz_widget.compare` (``labels=``, ``layer_map=``, ... go to it; view options
        such as ``layer`` and ``metric`` to the widget)."""
        from .comparison import compare
        from .comparison.view import ComparisonWidget

        view = {name: options.pop(name) for name in list(options) if name in ComparisonWidget.OPTIONS}
        return ComparisonWidget(compare(a, b, **options), **view)

    @property
    def data(self) -> AttentionData | None:
        """The attention data shown (all sections, padding kept), or None."""
        return self._data

    # -- extraction ----------------------------------------------------------------------

    def show(self, text: str | None = None, *, timeout: float | None = None) -> AttentionWidget:
        """Extract ``text`` (if given), display the widget, and return it once the data is in.

        The widget is displayed as soon as the extraction starts, so the browser sets
        up its views while the model runs. Bad input (empty text) raises
        :class:`InputError` before anything is displayed. An error during extraction is
        shown in the widget (status ``"error"``) and raised with its own type; showing
        the same text again runs the model again.
        """
        if text is not None:
            if self._runner is None:
                raise InputError("this widget has no model; create it with AttentionWidget(model_dir) to show a text")
            from .inputs import check_text

            check_text(text)
        from IPython.display import display

        try:
            if text is not None:
                with self._lock:
                    if text != self.text:
                        self.text = text  # the observer submits it
                    elif self.status in ("empty", "error"):
                        self._submit(text)  # the same text again after an error: run the model again
            display(self)  # once per cell: see attnviz_widget.display
            if text is not None and self._runner is not None:
                self._runner.wait(timeout)
        except KeyboardInterrupt as interrupt:
            self._interrupted(interrupt)
            raise
        failure = self._failure
        if text is not None and self.status == "error" and failure is not None:
            raise failure
        return self

    def wait(self, timeout: float | None = None) -> None:
        """Block until the newest extraction has landed or failed.

        An interrupt (Ctrl-C, the notebook's stop button) while waiting drops the
        extraction: the widget shows an error and the next ``show`` runs the model again.
        """
        if self._runner is None:
            return
        try:
            self._runner.wait(timeout)
        except KeyboardInterrupt as interrupt:
            self._interrupted(interrupt)
            raise

    def _interrupted(self, interrupt: KeyboardInterrupt) -> None:
        """Drop the extraction in progress: its result is not shown, the next ``show`` reruns."""
        if self._runner is not None and self._runner.pending is not None:
            self._runner.cancel()
            with self._lock:
                self._fail(interrupt)

    @traitlets.observe("text")
    def _on_text(self, change: dict[str, Any]) -> None:
        if self._runner is not None:
            self._submit(change["new"])

    def _submit(self, job: Any) -> None:
        """Queue ``job`` (a text to extract, or a checked generation plan) on the runner."""
        assert self._runner is not None
        with self._lock:
            self._runner.submit(job)
            self._failure = None
            self.error = ""
            self.status = "loading"

    def _run_model(self, job: Any) -> tuple[AttentionData, ProgressiveOverview | None]:
        """Runs on the worker thread; each layer's thumbnails go to the browser as it finishes
        (a generation streams its tokens instead: :meth:`_run_generation`)."""
        assert self._extractor is not None and self._runner is not None
        if not isinstance(job, str):
            return self._run_generation(job)
        text = job
        runner, generation, facts = self._runner, self._runner.running, self._extractor.facts()
        section = landing_section(facts, self.section)
        progressive = ProgressiveOverview(
            lambda message, buffers: self.send(message, buffers), extraction=generation, section=section,
            layer_indices=kept_layers(facts, self._extract_options.get("layers"), section),
            is_current=lambda: runner.is_current(generation),
        )
        data = self._extractor.extract(text, on_layer=progressive, **self._extract_options)
        return data, progressive

    def _land(self, result: tuple[AttentionData, ProgressiveOverview | None]) -> None:
        """The newest text's data (called holding the lock)."""
        data, progressive = result
        self._failure = None
        self._set_data(data, progressive)

    def _fail(self, error: BaseException) -> None:
        """The newest text failed (called holding the lock): any exception ends the loading state."""
        if is_out_of_memory(error) and not isinstance(error, AttnvizError):
            add_note(error, f"attnviz-widget: {OUT_OF_MEMORY_HINT}")
        self._failure = error
        with self.hold_sync():
            self.error = describe_failure(error)
            self.status = "error"

    # -- data ----------------------------------------------------------------------------

    def set_data(self, data: AttentionData) -> None:
        """Show ``data``; the section and layer are kept when they still exist."""
        if not isinstance(data, AttentionData):
            raise InputError(f"set_data needs AttentionData, got {type(data).__name__}")
        self._set_data(data, None)

    def _set_data(
        self, data: AttentionData, progressive: ProgressiveOverview | None, streaming: dict[str, Any] | None = None,
        *, light: bool = False,
    ) -> None:
        """Show ``data``; ``streaming``: ``meta.generation`` of a generation still running; ``light``:
        send no overview and compute no rollout yet (a first paint that a full data set follows)."""
        with self._lock:
            self._data = data
            self._streaming = streaming
            section = self.section if self.section in data.sections else next(iter(data.sections))
            self._load_section(section, progressive, light=light)
            self.section = section  # the observer sees the section loaded and does nothing

    @traitlets.observe("section")
    def _on_section(self, change: dict[str, Any]) -> None:
        with self._lock:  # new data may be landing on the extraction thread
            if self._data is None or self.section == self._view_section:
                return
            if self.section in self._data.sections:
                self._load_section(self.section)
            else:  # chosen for data that were replaced meanwhile
                self.section = self._view_section

    @traitlets.validate("section")
    def _valid_section(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        data = self._data
        if data is not None and value not in data.sections:
            raise traitlets.TraitError(f"section {value!r} does not exist; choose from {', '.join(data.sections)}")
        return value

    def _load_section(
        self, section: str, progressive: ProgressiveOverview | None = None, *, light: bool = False
    ) -> None:
        """Send stack ``section`` of the data (called holding the lock); ``progressive``: the
        thumbnails pooled while the forward ran, reused for the overview; ``light``: no overview,
        rollout computed on request (:func:`~attnviz_widget.wire.build_first_view`)."""
        assert self._data is not None
        part = self._data.part(section)
        precomputed = None if progressive is None else progressive.collected(
            section, part.layer_indices, len(part.queries), len(part.keys))
        payload = build_first_view(self._data, section) if light else build_view(self._data, section, precomputed)
        streaming = self._streaming
        if streaming is not None and holds_generated_tokens(section, streaming["section"]):
            payload.traits["meta"]["generation"] = streaming
        view = payload.view
        has_rollout = payload.rollout is not None or (light and can_roll_out(view))
        layer, head = fit_selection(view, has_rollout, self.layer, self.head)
        # the one definition of the focused matrix; none when the frontend draws from tiles
        first_matrix = b"" if payload.traits["meta"]["tiled"] else float16_bytes(view.matrix(layer, head))
        self._view = view
        self._view_section = section
        version = self.data_version + 1
        self._served = RolloutOnRequest(view, version) if light else Served(view, version, payload.rollout)
        with self.hold_sync():
            for name, value in payload.traits.items():
                setattr(self, name, value)
            self.layer = layer
            self.head = head
            self.first_matrix = first_matrix
            self.first_matrix_of = {"layer": layer, "head": head} if first_matrix else {}
            self.bytes_sent += len(first_matrix)
            if self.selected_token is not None and self.selected_token >= len(view.queries):
                self.selected_token = None
                self.token_locked = False
            self._generation_landed(payload.traits["meta"], len(view.queries))
            if not self.text and view.text and self._extractor is None:
                self.text = view.text
            self.error = ""
            self.status = "ready"
            self.data_version = self._served.version

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> int:
        return check_layer(self._view, proposal["value"])

    @traitlets.validate("head")
    def _valid_head(self, proposal: dict[str, Any]) -> int | str:
        served = self._served
        return check_head(self._view, served is None or served.rollout_bytes is not None, proposal["value"])

    # -- on-demand data (custom messages) -------------------------------------------------

    def layer_bytes(self, layer: int) -> bytes:
        """Model layer ``layer`` of the current section as float16 ``(heads, query, key)``."""
        served = self._served
        if served is None:
            raise InputError("no data yet")
        return served.layer_bytes(layer)

    def _on_message(self, widget: Any, content: Any, buffers: Sequence[Any]) -> None:
        if not isinstance(content, dict) or content.get("type") != "request":
            return
        reply, payload = self.answer_request(content)
        self.send(reply, [payload] if payload is not None else None)
        if payload is not None:
            with self._lock:
                self.bytes_sent += len(payload)

    def answer_request(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
        """The reply to one request from the frontend (see :func:`attnviz_widget.protocol.answer`)."""
        return answer(self._served, request)

    # -- export ----------------------------------------------------------------------------

    def save_html(self, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
        """Write the data shown as one self-contained interactive HTML file (no kernel, no network).

        The page starts from this widget's current view: layer, head, colour scale,
        row normalisation, special tokens and token direction.
        """
        with self._lock:
            data = self._data
            if data is None:
                raise InputError("nothing to save yet; show a text or load data first")
            traits = {name: getattr(self, name) for name in self.EXPORTED_TRAITS}
            if self.section != next(iter(data.sections)):
                traits = {}  # the current layer/head may not exist in every stack
        from .html_export import save_html

        return save_html(data, path, title=title, **traits)

    def close(self) -> None:
        """Close the views and stop the extraction thread (after the model run in progress, if any)."""
        runner = getattr(self, "_runner", None)  # absent when __init__ raised early
        if runner is not None:
            runner.close()
        super().close()
