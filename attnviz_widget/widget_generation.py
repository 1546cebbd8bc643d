"""The widget's generation mode: ``AttentionWidget(model).generate(prompt)`` and the ``step`` trait.

:class:`GenerationView` is mixed into :class:`~attnviz_widget.widget.AttentionWidget`. ``generate``
checks its arguments at once (bad input raises before anything is displayed), displays the
widget and lets the model write on the widget's worker thread. After each token the attention
rows cached generation has computed so far go to the browser as a new data set whose
``meta.generation`` says ``streaming: true`` (``js/PROTOCOL.md``): the token view gains the
token, every view its row. Updates are throttled so that sending never takes more than about a
third of the time (the first token always goes at once). When ``generate`` returns, the result
of :func:`attnviz_widget.generate` (one forward pass over the final sequence) replaces them.

The ``step`` trait (``traits.ViewState.step``) is the generated token the step control shows;
setting it selects and locks the row that chose that token. While tokens stream in, ``step``
follows the newest one unless the user moved it away.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import traitlets

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from .data import AttentionData
    from .generation.run import GenerationPlan, GenerationProgress

#: Shortest pause between two streamed data sets, in seconds.
MIN_STREAM_INTERVAL = 0.05
#: Sending may take at most this share of the time between two streamed data sets.
STREAM_SHARE = 1 / 3


class Superseded(Exception):
    """Raised inside the generate loop to stop a generation that a newer text or a cancel replaced."""


class StreamThrottle:
    """When to send the next streamed data set: the first at once, then no more than one per
    ``max(MIN_STREAM_INTERVAL, cost / STREAM_SHARE)`` seconds, ``cost`` being the last send's."""

    def __init__(self, clock: Any = time.perf_counter) -> None:
        self._clock = clock
        self._next = float("-inf")

    def due(self) -> bool:
        return self._clock() >= self._next

    def sent(self, started: float) -> None:
        """Record a send that began at ``started`` (a reading of the same clock)."""
        now = self._clock()
        self._next = now + max(MIN_STREAM_INTERVAL, (now - started) * (1 / STREAM_SHARE - 1))


class GenerationView(traitlets.HasTraits):
    """``generate()`` and the ``step`` trait of :class:`~attnviz_widget.widget.AttentionWidget`."""

    _generation_steps = 0
    """Generated tokens in the data shown (0: no generation)."""
    _prompt_tokens = 0
    """Tokens before the first generated one on the shown query axis."""
    _follow_step = True
    """Whether ``step`` moves to each newly streamed token (the user has not moved it away)."""

    def generate(
        self, prompt: str | None = None, *, max_new_tokens: int | None = None, wait: bool = True,
        timeout: float | None = None, **options: Any,
    ) -> Any:
        """Let the model write after ``prompt``, showing each token as it comes; return the widget.

        Example::

            widget = AttentionWidget("./gpt2").generate("The capital of France is", max_new_tokens=8)
            widget.step = 0                        # the first generated token, and the row that chose it
            widget.data.generation.text            # what the model wrote

        Args:
            prompt: the text to continue (``messages=``/``chat=True`` for chat templates, as
                :func:`attnviz_widget.generate` takes them).
            max_new_tokens: at most this many tokens (default: ``generate``'s).
            wait: return once the result is in (True), or at once (False): the kernel then stays
                free while the model writes, so the browser's requests (another head's layer, the
                step grid's rows) are answered during streaming; :meth:`wait` blocks later.
            timeout: seconds to wait for the result (None: as long as it takes).
            **options: as :func:`attnviz_widget.generate` takes them (``do_sample``, ``temperature``,
                ``top_p``, ``seed``, ``stop_strings``, ``chat``, ``messages``, ...). The widget's own
                ``layers``, ``store`` and ``memory_budget`` apply.

        Raises:
            InputError: as :func:`attnviz_widget.generate` (before anything is displayed); an
                error while generating is shown in the widget and raised here with its own type.
        """
        if self._runner is None:
            raise InputError("this widget has no model; create it with AttentionWidget(model_dir) to generate")
        from .generation.run import DEFAULT_MAX_NEW_TOKENS, plan_generation

        kept = {name: self._extract_options[name] for name in ("layers", "store", "memory_budget")
                if name in self._extract_options}
        count = DEFAULT_MAX_NEW_TOKENS if max_new_tokens is None else max_new_tokens
        plan = plan_generation(self._extractor, prompt, max_new_tokens=count, **{**kept, **options})
        from IPython.display import display

        try:
            self._submit(plan)
            display(self)  # once per cell: see attnviz_widget.display
            if not wait:
                return self
            self._runner.wait(timeout)
        except KeyboardInterrupt as interrupt:
            self._interrupted(interrupt)
            raise
        failure = self._failure
        if self.status == "error" and failure is not None:
            raise failure
        return self

    def _run_generation(self, plan: GenerationPlan) -> tuple[AttentionData, None]:
        """Runs on the worker thread: generate, streaming each token's data set while it is current."""
        from .generation.run import run_generation

        runner, job = self._runner, self._runner.running
        throttle = StreamThrottle()
        first = True
        with self._lock:
            self._follow_step = True

        def on_token(progress: GenerationProgress) -> None:
            nonlocal first
            if not runner.is_current(job):
                raise Superseded  # stops model.generate; the runner drops this job's outcome
            if not throttle.due():
                return
            started = time.perf_counter()
            data = progress.partial_data()
            if data is None:
                return
            with self._lock:
                if runner.is_current(job):
                    # the first token goes light (no overview, rollout on request): on screen sooner
                    self._set_data(data, None, progress.frontend_meta(), light=first)
                    first = False
            throttle.sent(started)

        return run_generation(plan, on_token=on_token), None

    # -- the step trait ---------------------------------------------------------------------

    def _generation_landed(self, meta: dict[str, Any], queries: int) -> None:
        """Update ``step`` for a data set just shown (called holding the lock, inside hold_sync)."""
        generation = meta.get("generation")
        previous_newest = self._generation_steps - 1
        if generation is None:
            self._generation_steps = self._prompt_tokens = 0
            self.step = None
            return
        self._generation_steps = len(generation["steps"])
        self._prompt_tokens = int(generation["prompt_tokens"])
        newest = self._generation_steps - 1
        if self.step is None or self._follow_step or self.step == previous_newest or self.step > newest:
            self._set_step(newest)  # follow the newest token (streaming, or a generation just shown)
        else:
            self._select_step_row(self.step)

    def _set_step(self, step: int) -> None:
        following = self._follow_step
        self.step = step
        self._follow_step = following  # moved by Python to follow, not by the user

    @traitlets.validate("step")
    def _valid_step(self, proposal: dict[str, Any]) -> int | None:
        value = proposal["value"]
        if value is None:
            return None
        if self._generation_steps == 0:
            raise traitlets.TraitError("step needs generated text; use widget.generate(prompt) first")
        step = int(value)
        if not 0 <= step < self._generation_steps:
            last = self._generation_steps - 1
            raise traitlets.TraitError(f"step {step} is out of range; valid steps are 0 to {last}")
        return step

    @traitlets.observe("step")
    def _on_step(self, change: dict[str, Any]) -> None:
        self._follow_step = change["new"] is None or change["new"] == self._generation_steps - 1
        if change["new"] is not None:
            self._select_step_row(change["new"])

    def _select_step_row(self, step: int) -> None:
        """Select and lock the row that chose generated token ``step``."""
        row = self._prompt_tokens + step - 1
        if row >= 0:
            self.selected_token = row
            self.token_locked = True
