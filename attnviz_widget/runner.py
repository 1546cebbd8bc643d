"""The widget's extraction runner: one worker thread, the newest text wins.

:class:`ExtractionRunner` runs ``work(text)`` (the model) off the kernel's main thread,
so the widget is displayed and the browser sets up its views while the model runs.
Each :meth:`~ExtractionRunner.submit` bumps a generation counter; a result or error of
an older generation is dropped, a text still queued behind a newer one never runs.
Whatever ``work`` raises, any exception at all, ends the pending state: ``on_error`` is
called and the future carries the exception. The worker thread exists only while there
is work, so an idle or closed runner leaves no thread behind.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future
from typing import Generic, TypeVar

from .errors import AttnvizError

T = TypeVar("T")

THREAD_NAME = "attnviz-extract"
#: Longest error message shown in the widget (a model's messages can run to pages).
MESSAGE_LIMIT = 400
OUT_OF_MEMORY_HINT = (
    "try fewer layers (layers=[...]), a shorter text (max_length=...), or the CPU (device='cpu')"
)
_OUT_OF_MEMORY = re.compile(r"out of memory|OutOfMemory|MemoryError", re.IGNORECASE)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says the device or host ran out of memory (CUDA, MPS, numpy)."""
    return isinstance(error, MemoryError) or bool(_OUT_OF_MEMORY.search(f"{type(error).__name__} {error}"))


def add_note(error: BaseException, note: str) -> None:
    """Attach ``note`` to ``error``'s traceback display (Python 3.11+; a no-op before)."""
    if hasattr(error, "add_note"):
        error.add_note(note)


def describe_failure(error: BaseException) -> str:
    """One line for the widget: the project's own message, else ``Type: message`` (+ a hint)."""
    text = " ".join(str(error).split())
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
    if isinstance(error, AttnvizError):
        return text
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    if isinstance(error, KeyboardInterrupt):
        line += " (the extraction was interrupted; show the text again to rerun it)"
    elif is_out_of_memory(error):
        line += f" — {OUT_OF_MEMORY_HINT}"
    return line


class ExtractionRunner(Generic[T]):
    """Runs ``work(text)`` on one worker thread; only the newest text's outcome lands.

    Args:
        work: the extraction, called on the worker thread.
        on_result: called with the newest text's result, holding ``lock``.
        on_error: called with the exception of the newest text, holding ``lock``; any
            exception, ``KeyboardInterrupt`` included.
        lock: the lock that guards the caller's state; shared so that landing a result
            and every other state change of the caller exclude each other.
    """

    def __init__(
        self,
        work: Callable[[str], T],
        *,
        on_result: Callable[[T], None],
        on_error: Callable[[BaseException], None],
        lock: threading.RLock,
    ) -> None:
        self._work = work
        self._on_result = on_result
        self._on_error = on_error
        self._lock = lock
        self._wake = threading.Condition(lock)
        self._generation = 0
        self._running = 0
        self._queued: tuple[int, str, Future[T | None]] | None = None
        self._pending: Future[T | None] | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def pending(self) -> Future[T | None] | None:
        """The future of the newest text while it is queued or running, else None."""
        return self._pending

    @property
    def running(self) -> int:
        """The generation of the text being run; read it from inside ``work`` (its own thread)."""
        return self._running

    def is_current(self, generation: int) -> bool:
        """Whether ``generation`` is still the newest text (no newer submit, no cancel since)."""
        return generation == self._generation

    @property
    def busy(self) -> bool:
        """Whether the worker thread is alive (running or about to run a text)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def submit(self, text: str) -> Future[T | None]:
        """Queue ``text``, superseding any older one; the future gives its result or exception.

        A future of a superseded text is cancelled if it never started, else resolves to
        None when its (dropped) run ends.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("this widget is closed; create a new one")
            self._generation += 1
            future: Future[T | None] = Future()
            if self._queued is not None:
                self._queued[2].cancel()
            self._queued = (self._generation, text, future)
            self._pending = future
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)
                self._thread.start()
            self._wake.notify()
        return future

    def cancel(self) -> None:
        """Drop the newest text: its result, when it comes, is not applied."""
        with self._lock:
            self._generation += 1
            if self._queued is not None:
                self._queued[2].cancel()
                self._queued = None
            self._pending = None

    def wait(self, timeout: float | None = None) -> None:
        """Block until no text is pending (the newest has landed or failed).

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = self._pending
            if pending is None:
                return
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not futures.wait([pending], remaining).done:
                raise TimeoutError(f"the extraction did not finish within {timeout} s")

    def close(self, timeout: float | None = 0.0) -> None:
        """Drop queued work and stop the worker once its current run (if any) returns.

        Waits up to ``timeout`` seconds (None: as long as it takes) for the thread to end.
        """
        with self._lock:
            self._closed = True
            self.cancel()
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        """The worker: run queued texts until there are none, then end."""
        while True:
            with self._lock:
                job = self._queued
                self._queued = None
                if job is None:
                    self._thread = None
                    return
            generation, text, future = job
            if future.set_running_or_notify_cancel():
                self._run(generation, text, future)

    def _run(self, generation: int, text: str, future: Future[T | None]) -> None:
        self._running = generation
        try:
            result = self._work(text)
            with self._lock:
                current = generation == self._generation
                if current:
                    self._on_result(result)
                    self._pending = None
        except BaseException as error:  # noqa: BLE001 - any failure must end the pending state
            with self._lock:
                if generation == self._generation:
                    self._pending = None
                    try:
                        self._on_error(error)
                    except Exception as unreported:  # noqa: BLE001 - the future still carries the error
                        add_note(error, f"(showing this error failed too: {describe_failure(unreported)})")
            future.set_exception(error)
            return
        future.set_result(result if current else None)
