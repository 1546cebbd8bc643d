"""ComparisonWidget: two runs side by side in Jupyter, their difference and the change scores.

The frontend shows each side with the single-run widget's own views (overview, focused
heatmap, token view) and adds the B − A heatmap and the score grid (``js/src/compare-*.ts``).
Each side's data travel as the single-run widget sends a run (the traits of
:class:`~attnviz_widget.traits.DataTraits`, prefixed ``a_`` or ``b_``); requests carry a
``side`` and are answered by that side's :class:`~attnviz_widget.protocol.Served`. The
user's choices (layer in A's numbering, head, colour scale, lock, ...) are shared, so focus,
hover and lock are linked; the selected token is kept per side, each the other's alignment
partner (``selected_token`` -1 where a token has none).

The first view (scores, alignment, each side's tokens and focused matrix) is sent by the
constructor; both overviews follow from a background thread a moment later, each side's
``data_version`` going from 1 to 2 (:mod:`attnviz_widget.comparison.sides`).
:meth:`ComparisonWidget.wait` blocks until they are sent.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import anywidget
import traitlets
from traitlets import Bool, Bytes, Dict, Enum, Int, List, Unicode

from ..data import AttentionData
from ..errors import AttnvizError, InputError
from ..protocol import RolloutOnRequest, Served, answer
from ..traits import ViewState
from ..wire import ViewPayload, build_first_view, float16_bytes
from .result import AttentionComparison
from .scores import METRICS
from .sides import SIDES, full_payloads, side_data
from .wire import comparison_traits

#: Data traits each side has, as the single-run widget names them (``a_tokens``, ``b_tokens``, ...).
SIDE_TRAITS = ("data_version", "tokens", "key_tokens", "special", "key_special", "meta", "prediction", "overview",
               "overview_shape", "overview_scale", "first_matrix", "first_matrix_of", "selected_token")


def _side_traits(side: str) -> dict[str, traitlets.TraitType]:
    traits: dict[str, traitlets.TraitType] = {
        "data_version": Int(0), "tokens": List(Unicode()), "key_tokens": List(Unicode()), "special": List(Bool()),
        "key_special": List(Bool()), "meta": Dict(), "prediction": traitlets.Any(None, allow_none=True),
        "overview": Bytes(b""), "overview_shape": List(Int()), "overview_scale": Bytes(b""),
        "first_matrix": Bytes(b""), "first_matrix_of": Dict(), "selected_token": Int(None, allow_none=True),
    }
    return {f"{side}_{name}": trait.tag(sync=True) for name, trait in traits.items()}


def _bundle() -> Any:
    from ..widget import AttentionWidget

    return AttentionWidget._esm


class _ComparisonBase(anywidget.AnyWidget, ViewState):
    """The single-run widget's user state (:class:`~attnviz_widget.traits.ViewState`, shared by both
    sides; ``layer`` in A's numbering, B shows its paired layer) and the comparison's own traits."""

    _esm = _bundle()
    view_kind = Unicode("comparison").tag(sync=True)
    """Type: str. Default: "comparison". Tells the shared frontend bundle to draw a comparison."""
    status = Enum(["empty", "loading", "ready", "error"], "ready").tag(sync=True)
    error = Unicode("").tag(sync=True)
    metric = Enum(list(METRICS), "js").tag(sync=True)
    """Type: str. Default: "js". The score the grid shows: "js" or "tv"."""
    compare_meta = Dict().tag(sync=True)
    align_queries = Bytes(b"").tag(sync=True)
    align_keys = Bytes(b"").tag(sync=True)
    scores = Bytes(b"").tag(sync=True)

    #: The view options a caller may set when creating the widget.
    OPTIONS = ("layer", "head", "metric", "color_scale", "row_normalize", "hide_special", "direction")

    def __init__(self, comparison: AttentionComparison, **options: Any) -> None:
        if not isinstance(comparison, AttentionComparison):
            raise InputError(f"ComparisonWidget needs an AttentionComparison, got {type(comparison).__name__}")
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise TypeError(f"ComparisonWidget got unexpected options: {', '.join(unknown)}")
        super().__init__()
        self.comparison = comparison
        self._served: dict[str, Served] = {}
        self._complete: Future[Any] = Future()
        self.on_msg(self._on_message)
        layer = options.pop("layer", comparison.layer_indices[0])
        head = options.pop("head", 0)
        comparison.matrices(layer, head)  # one-line InputError for a layer or head it does not have
        comparison.prepare_scores()
        sides = [side_data(comparison, side) for side in SIDES]
        focus = (int(layer), dict(comparison.layer_pairs)[int(layer)])
        with self.hold_sync():
            for name, value in comparison_traits(comparison).items():
                setattr(self, name, value)
            for name, value in options.items():
                setattr(self, name, value)
            self.layer, self.head = int(layer), head
            for side, data, side_layer in zip(SIDES, sides, focus):
                payload = build_first_view(data, data.kind)
                setattr(self, f"{side}_first_matrix", float16_bytes(payload.view.matrix(side_layer, head)))
                setattr(self, f"{side}_first_matrix_of", {"layer": side_layer, "head": head})
                served = RolloutOnRequest(payload.view, getattr(self, f"{side}_data_version") + 1)
                self._load_side(side, payload, served)
        threading.Thread(target=self._complete_sides, args=(sides,), name="attnviz-compare-overviews",
                         daemon=True).start()

    def _load_side(self, side: str, payload: ViewPayload, served: Served) -> None:
        """Send one side's payload as data set ``served.version`` and answer its requests with ``served``."""
        self._served[side] = served
        for name, value in payload.traits.items():
            setattr(self, f"{side}_{name}", value)
        setattr(self, f"{side}_data_version", served.version)

    def _complete_sides(self, sides: list[AttentionData]) -> None:
        """Both sides' full payloads (overviews, rollout), sent as each side's next data set."""
        try:
            payloads = full_payloads(sides)
            with self.hold_sync():
                for side, payload in zip(SIDES, payloads):
                    version = getattr(self, f"{side}_data_version") + 1
                    self._load_side(side, payload, Served(payload.view, version, payload.rollout))
        except Exception as error:  # shown in the view and raised by wait()
            self.error = str(error) if isinstance(error, AttnvizError) else f"{type(error).__name__}: {error}"
            self.status = "error"
            self._complete.set_exception(error)
            return
        self._complete.set_result(self)

    def wait(self, timeout: float | None = None) -> Any:
        """Block until both overviews are sent (a moment after the first view) and return the widget.

        Raises:
            TimeoutError: not done within ``timeout`` seconds.
            Exception: what building them raised (the view shows it too).
        """
        try:
            return self._complete.result(timeout)
        except FutureTimeout:  # the builtin TimeoutError from Python 3.11 on
            raise TimeoutError(f"the comparison's overviews were not ready within {timeout} s") from None

    def answer_request(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
        """The reply to one request of side ``request["side"]`` (``"a"`` or ``"b"``), tagged with that side."""
        side = request.get("side")
        served = self._served.get(side) if isinstance(side, str) else None
        if served is None:
            return {"type": "error", "id": request.get("id"), "version": -1, "side": side,
                    "message": f"unknown side {side!r}; requests of a comparison name side 'a' or 'b'"}, None
        reply, payload = answer(served, request)
        return {**reply, "side": side}, payload

    def _on_message(self, widget: Any, content: Any, buffers: Sequence[Any]) -> None:
        if not isinstance(content, dict) or content.get("type") != "request":
            return
        reply, payload = self.answer_request(content)
        self.send(reply, [payload] if payload is not None else None)


ComparisonWidget = type(
    "ComparisonWidget",
    (_ComparisonBase,),
    {
        **_side_traits("a"),
        **_side_traits("b"),
        "__module__": __name__,
        "__doc__": """Two runs side by side: both overviews and heatmaps with linked focus, hover and lock,
    B − A on a diverging colour map, and the layer × head change-score grid (click a head to focus it).

    Args:
        comparison: from :func:`attnviz_widget.compare`.
        **options: initial ``layer`` (A's numbering), ``head``, ``metric`` (``"js"``/``"tv"``),
            ``color_scale``, ``row_normalize``, ``hide_special``, ``direction``.

    The constructor returns with the first view's data (scores, each side's tokens and focused
    matrix); both overviews follow from a background thread a moment later (:meth:`wait`).

    Example::

        ComparisonWidget(attnviz_widget.compare(base, tuned, labels=("base", "tuned")))
    """,
    },
)
