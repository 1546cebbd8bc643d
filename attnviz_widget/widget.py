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
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets
from traitlets import Bool, Bytes, Dict, Enum, Int, List, Unicode, Union

from .data import AttentionData
from .errors import AttnvizError, InputError
from .html_export import BUNDLE
from .prepare import rollout_problem
from .protocol import Served, answer
from .wire import OVERVIEW_AGGREGATES, build_view, float16_bytes

HEAD_AGGREGATES = OVERVIEW_AGGREGATES
EXTRACT_OPTIONS = ("layers", "max_length", "truncation", "target", "trust_remote_code")


def _bundle() -> str | Path:
    if BUNDLE.is_file():
        return BUNDLE
    return (
        "export default { render({ el }) { el.textContent = "
        "'attnviz-widget: the JavaScript bundle is missing; "
        "reinstall the package (pip install builds it with npm).'; } };"
    )


class AttentionWidget(anywidget.AnyWidget):
    """Interactive attention heatmaps for one text.

    Args:
        model: a model directory, a loaded Hugging Face model or a plain PyTorch
            module (as :func:`attnviz_widget.extract` takes), or None for a widget
            fed by :meth:`from_data` / :meth:`from_file`.
        tokenizer: as :func:`attnviz_widget.extract` takes.
        device: ``"cuda"``, ``"mps"``, ``"cpu"`` or None for the best available.
        **options: initial values of the user-state traits below (``layer``,
            ``head``, ``color_scale``, ...) and extraction options (``layers``,
            ``max_length``, ``truncation``, ``target``, ``trust_remote_code``).
            Unknown names raise :class:`TypeError`.

    Example::

        widget = AttentionWidget("./model_output").show("The movie was not bad")
        widget.layer, widget.head, widget.selected_token   # what the user picked
    """

    _esm = _bundle()

    # -- data (Python -> JS) ---------------------------------------------------------
    data_version = Int(0).tag(sync=True)
    """Type: int. Default: 0. Increments with every new data set; older replies are dropped."""
    tokens = List(Unicode()).tag(sync=True)
    """Type: list[str]. Default: []. Display form of the query tokens, padding removed."""
    key_tokens = List(Unicode()).tag(sync=True)
    """Type: list[str]. Default: []. Display form of the key tokens (differs only for cross-attention)."""
    special = List(Bool()).tag(sync=True)
    """Type: list[bool]. Default: []. True for special query tokens ([CLS], </s>, ...)."""
    key_special = List(Bool()).tag(sync=True)
    """Type: list[bool]. Default: []. True for special key tokens."""
    meta = Dict().tag(sync=True)
    """Type: dict. Default: {}. Shape and model facts: num_layers, num_heads, layer_indices, causal, ..."""
    prediction = traitlets.Any(None, allow_none=True).tag(sync=True)
    """Type: dict | None. Default: None. ``{labels, probabilities, label}`` for classifiers."""
    overview = Bytes(b"").tag(sync=True)
    """Type: bytes. Default: b"". uint8 thumbnails, shape ``overview_shape``."""
    overview_shape = List(Int()).tag(sync=True)
    """Type: list[int]. Default: []. ``[layers, heads + 3, tq, tk]``: heads, then mean, max, rollout."""
    overview_scale = Bytes(b"").tag(sync=True)
    """Type: bytes. Default: b"". float32 ``(layers, heads + 3)``: value = pixel / 255 * scale."""
    first_matrix = Bytes(b"").tag(sync=True)
    """Type: bytes. Default: b"". float16 ``(query, key)``: the head or aggregate focused when the
    data arrived, sent with the data so the first paint needs no request and no other head."""
    first_matrix_of = Dict().tag(sync=True)
    """Type: dict. Default: {}. ``{"layer": int, "head": int | "mean" | "max" | "rollout"}`` of ``first_matrix``."""
    status = Enum(["empty", "loading", "ready", "error"], "empty").tag(sync=True)
    """Type: str. Default: "empty". One of empty, loading, ready, error."""
    error = Unicode("").tag(sync=True)
    """Type: str. Default: "". The error message when status is "error"."""

    # -- user state (both directions) --------------------------------------------------
    text = Unicode("").tag(sync=True)
    """Type: str. Default: "". The text shown; setting it re-extracts (newest text always wins)."""
    layer = Int(0).tag(sync=True)
    """Type: int. Default: the first kept layer. The focused model layer."""
    head = Union([Int(), Enum(list(HEAD_AGGREGATES))], default_value=0).tag(sync=True)
    """Type: int | "mean" | "max" | "rollout". Default: 0. The focused head or aggregate."""
    selected_token = Int(None, allow_none=True).tag(sync=True)
    """Type: int | None. Default: None. Query token hovered or locked in the browser."""
    token_locked = Bool(False).tag(sync=True)
    """Type: bool. Default: False. Whether ``selected_token`` is locked (click; Escape unlocks)."""
    direction = Enum(["from", "to"], "from").tag(sync=True)
    """Type: "from" | "to". Default: "from". Token view: attention from the selected token, or to it."""
    color_scale = Enum(["linear", "sqrt", "log"], "sqrt").tag(sync=True)
    """Type: "linear" | "sqrt" | "log". Default: "sqrt". Colour mapping; sqrt and log survive attention sinks."""
    row_normalize = Bool(False).tag(sync=True)
    """Type: bool. Default: False. Scale each query row to its own maximum."""
    hide_special = Bool(False).tag(sync=True)
    """Type: bool. Default: False. Hide special tokens and renormalise the remaining rows."""
    section = Unicode("").tag(sync=True)
    """Type: str. Default: the first stack. For encoder-decoder models: "encoder", "decoder" or "cross"."""

    USER_TRAITS = (
        "layer", "head", "selected_token", "token_locked", "direction", "color_scale",
        "row_normalize", "hide_special", "section",
    )

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
        self._generation = 0
        self._pending: Future[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._data: AttentionData | None = None
        self._view: AttentionData | None = None
        self._view_section = ""
        self._served: Served | None = None
        self.bytes_sent = 0
        """Bytes of attention values sent so far: ``first_layer`` of each data set and every reply
        (the overview not counted)."""
        self._extractor = None
        if model is not None:
            from .extractor import AttentionExtractor

            self._extractor = AttentionExtractor(
                model, tokenizer=tokenizer, device=device, trust_remote_code=trust_remote_code
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
        """A widget showing a JSON file in either of the specification's formats."""
        from .files import read_attention_file

        return cls.from_data(read_attention_file(path), **options)

    # -- extraction ----------------------------------------------------------------------

    @property
    def data(self) -> AttentionData | None:
        """The attention data shown (all sections, padding kept), or None."""
        return self._data

    def show(self, text: str | None = None, *, timeout: float | None = None) -> AttentionWidget:
        """Extract ``text`` (if given), display the widget, and return it once the data is in.

        The widget is displayed as soon as the extraction starts, so the browser sets
        up its views while the model runs. Bad input (empty text, a text the model
        refuses) raises :class:`InputError` before anything is displayed; an error
        during extraction is shown in the widget and raised.
        """
        if text is not None:
            if self._extractor is None:
                raise InputError("this widget has no model; create it with AttentionWidget(model_dir) to show a text")
            from .extractor import check_text

            check_text(text)
            if text != self.text or self.status != "ready":
                self.text = text
                if self._pending is None:  # same text as before after an error: run again
                    self._submit(text)
        from IPython.display import display

        display(self)
        if text is not None:
            self.wait(timeout)
            if self.status == "error":
                raise InputError(self.error)
        return self

    def wait(self, timeout: float | None = None) -> None:
        """Block until the newest extraction has landed."""
        while True:
            with self._lock:
                pending = self._pending
            if pending is None:
                return
            pending.result(timeout)
            with self._lock:
                if self._pending is pending:
                    self._pending = None
                    return

    @traitlets.observe("text")
    def _on_text(self, change: dict[str, Any]) -> None:
        if self._extractor is not None:
            self._submit(change["new"])

    def _submit(self, text: str) -> Future[None]:
        with self._lock:
            self._generation += 1
            generation = self._generation
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attnviz-extract")
            self.status = "loading"
            future = self._executor.submit(self._extract, generation, text)
            self._pending = future
        return future

    def _extract(self, generation: int, text: str) -> None:
        """Runs on the worker thread; applies the result only if no newer text was set."""
        if generation != self._generation:
            return  # superseded before it started
        assert self._extractor is not None
        try:
            data = self._extractor.extract(text, **self._extract_options)
        except AttnvizError as error:
            with self._lock:
                if generation == self._generation:
                    self.error = str(error)
                    self.status = "error"
            return
        with self._lock:
            if generation == self._generation:
                self.set_data(data)

    # -- data ----------------------------------------------------------------------------

    def set_data(self, data: AttentionData) -> None:
        """Show ``data``; the section and layer are kept when they still exist."""
        if not isinstance(data, AttentionData):
            raise InputError(f"set_data needs AttentionData, got {type(data).__name__}")
        with self._lock:
            self._data = data
            section = self.section if self.section in data.sections else next(iter(data.sections))
            self._load_section(section)
            self.section = section  # the observer sees the section loaded and does nothing

    @traitlets.observe("section")
    def _on_section(self, change: dict[str, Any]) -> None:
        if self._data is not None and change["new"] != self._view_section:
            self._load_section(change["new"])

    @traitlets.validate("section")
    def _valid_section(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if self._data is not None and value not in self._data.sections:
            choices = ", ".join(self._data.sections)
            raise traitlets.TraitError(f"section {value!r} does not exist; choose from {choices}")
        return value

    def _load_section(self, section: str) -> None:
        assert self._data is not None
        payload = build_view(self._data, section)
        view = payload.view
        self._view = view
        self._view_section = section
        self._served = Served(view, self.data_version + 1, payload.rollout)
        layer = self.layer if self.layer in view.layer_indices else view.layer_indices[0]
        head = self.head
        if isinstance(head, int) and not 0 <= head < view.num_heads:
            head = 0
        if head == "rollout" and payload.rollout is None:
            head = "mean"
        first_matrix = float16_bytes(self._focused_matrix(view, payload.rollout, layer, head))
        with self.hold_sync():
            for name, value in payload.traits.items():
                setattr(self, name, value)
            self.layer = layer
            self.head = head
            self.first_matrix = first_matrix
            self.first_matrix_of = {"layer": layer, "head": head}
            self.bytes_sent += len(first_matrix)
            if self.selected_token is not None and self.selected_token >= len(view.queries):
                self.selected_token = None
                self.token_locked = False
            if not self.text and view.text and self._extractor is None:
                self.text = view.text
            self.error = ""
            self.status = "ready"
            self.data_version = self.data_version + 1

    @staticmethod
    def _focused_matrix(
        view: AttentionData, rollout: np.ndarray | None, layer: int, head: int | str
    ) -> np.ndarray:
        """The ``(query, key)`` matrix the frontend shows first: one head, or an aggregate."""
        position = view.position_of_layer(layer)
        if isinstance(head, int):
            return view.attentions[position, head]
        if head == "rollout" and rollout is not None:
            return rollout[position]
        stack = view.attentions[position]
        return stack.max(axis=0) if head == "max" else stack.mean(axis=0)

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if self._view is not None and value not in self._view.layer_indices:
            from .data import describe_range

            raise traitlets.TraitError(f"layer {value} is not available; {describe_range(self._view.layer_indices)}")
        return value

    @traitlets.validate("head")
    def _valid_head(self, proposal: dict[str, Any]) -> int | str:
        value = proposal["value"]
        if isinstance(value, int) and self._view is not None and not 0 <= value < self._view.num_heads:
            raise traitlets.TraitError(
                f"head {value} is out of range; valid heads are 0 to {self._view.num_heads - 1} or one of "
                f"{', '.join(HEAD_AGGREGATES)}"
            )
        if value == "rollout" and self._served is not None and self._served.rollout_bytes is None:
            raise traitlets.TraitError(rollout_problem(self._view) or "rollout is unavailable")
        return value

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
            self.bytes_sent += len(payload)

    def answer_request(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
        """The reply to one request from the frontend (see :func:`attnviz_widget.protocol.answer`)."""
        return answer(self._served, request)

    def save_html(self, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
        """Write the data shown as one self-contained interactive HTML file (no kernel, no network).

        The page starts from this widget's current view: layer, head, colour scale,
        row normalisation, special tokens and token direction.
        """
        if self._data is None:
            raise InputError("nothing to save yet; show a text or load data first")
        from .html_export import save_html

        traits = {name: getattr(self, name) for name in ("layer", "head", "color_scale", "row_normalize",
                                                          "hide_special", "direction")}
        if self.section != next(iter(self._data.sections)):
            traits = {}  # the current layer/head may not exist in every stack
        return save_html(self._data, path, title=title, **traits)

    def close(self) -> None:
        executor = getattr(self, "_executor", None)  # absent when __init__ raised early
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        super().close()
