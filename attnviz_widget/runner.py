"""The widget's extraction runner: one persistent worker thread, the newest job wins.

:class:`ExtractionRunner` runs ``work(job)`` (the model) off the kernel's main thread, so the
widget is displayed and the browser sets up its views while the model runs. A job is whatever
the caller submits (a text, a generation plan): the runner never looks inside it.

* Each :meth:`~ExtractionRunner.submit` bumps a generation counter; a result or error of an
  older generation is dropped, and a job still queued behind a newer one never runs.
* Whatever ``work`` raises, any exception at all (``KeyboardInterrupt`` included), ends the
  pending state: ``on_error`` is called and the future carries the exception; the worker goes
  on serving later jobs.
* One worker thread per runner, started by the first submit and kept while the runner lives,
  so consecutive jobs run on a warm thread: torch's OpenMP team, its per-thread settings and
  the thread's allocator arena are set up once, not once per job. It is parked (no CPU) while
  idle and ends after :meth:`~ExtractionRunner.close`, or when the runner is garbage-collected
  (the thread holds the runner only weakly between jobs): no thread outlives its runner.
* torch's intra-op thread count is the submitting thread's: a ``torch.set_num_threads`` on the
  kernel's main thread applies to the next job (torch keeps that count per OS thread).
"""

from __future__ import annotations

import re
import sys
import threading
import time
import weakref
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import AttnvizError

J = TypeVar("J")
"""The job type: whatever ``work`` takes."""
R = TypeVar("R")
"""The result type: whatever ``work`` returns."""

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


def torch_threads() -> int | None:
    """torch's intra-op thread count on the calling thread, or None if torch is not imported."""
    torch = sys.modules.get("torch")
    return None if torch is None else int(torch.get_num_threads())


def match_torch_threads(count: int | None) -> None:
    """Give the calling thread ``count`` intra-op threads (None, or already so: nothing to do)."""
    torch = sys.modules.get("torch")
    if count is not None and torch is not None and torch.get_num_threads() != count:
        torch.set_num_threads(count)


@dataclass(frozen=True)
class Job(Generic[J, R]):
    """One submitted job: its generation, the job itself, the submitter's torch thread count
    and the future of its outcome."""

    generation: int
    job: J
    threads: int | None
    future: Future[R | None]


class Mailbox(Generic[J, R]):
    """The one queued job and the stop flag, shared by a runner and its worker thread.

    It never refers to the runner, so the thread keeps the runner alive only while it runs a job.
    """

    def __init__(self) -> None:
        self.ready = threading.Condition(threading.Lock())
        self.queued: Job[J, R] | None = None
        self.stopped = False

    def put(self, job: Job[J, R]) -> Job[J, R] | None:
        """Queue ``job``; returns the job it replaced (never started), if any."""
        with self.ready:
            replaced, self.queued = self.queued, job
            self.ready.notify()
        return replaced

    def take(self) -> Job[J, R] | None:
        """Remove and return the queued job, if any."""
        with self.ready:
            job, self.queued = self.queued, None
        return job

    def stop(self) -> None:
        """Tell the worker to end (after the job it runs, if any)."""
        with self.ready:
            self.stopped = True
            self.ready.notify()

    def next(self) -> Job[J, R] | None:
        """Block until a job is queued (returned) or the mailbox is stopped (None)."""
        with self.ready:
            while self.queued is None and not self.stopped:
                self.ready.wait()
            if self.stopped:
                return None
            job, self.queued = self.queued, None
        return job


def _serve(runner: weakref.ref[ExtractionRunner[J, R]], mailbox: Mailbox[J, R]) -> None:
    """The worker thread: run each job the mailbox hands out until it is stopped; between jobs
    the runner is held only weakly, so dropping it stops the thread (its finalizer stops the mailbox)."""
    while True:
        job = mailbox.next()
        if job is None:
            return
        owner = runner()
        if owner is None:
            job.future.cancel()
            return
        owner._serve_one(job)
        del owner, job  # nothing of the runner is kept while waiting for the next job


class ExtractionRunner(Generic[J, R]):
    """Runs ``work(job)`` on one persistent worker thread; only the newest job's outcome lands.

    Args:
        work: the extraction, called on the worker thread with each submitted job.
        on_result: called with the newest job's result, holding ``lock``.
        on_error: called with the exception of the newest job, holding ``lock``; any
            exception, ``KeyboardInterrupt`` included.
        lock: the lock that guards the caller's state; shared so that landing a result
            and every other state change of the caller exclude each other.
    """

    def __init__(
        self,
        work: Callable[[J], R],
        *,
        on_result: Callable[[R], None],
        on_error: Callable[[BaseException], None],
        lock: threading.RLock,
    ) -> None:
        self._work = work
        self._on_result = on_result
        self._on_error = on_error
        self._lock = lock
        self._generation = 0
        self._running = 0
        self._pending: Future[R | None] | None = None
        self._mailbox: Mailbox[J, R] = Mailbox()
        self._thread: threading.Thread | None = None
        self._closed = False
        weakref.finalize(self, self._mailbox.stop)  # collected: the worker ends too

    @property
    def pending(self) -> Future[R | None] | None:
        """The future of the newest job while it is queued or running, else None."""
        return self._pending

    @property
    def running(self) -> int:
        """The generation of the job being run; read it from inside ``work`` (its own thread)."""
        return self._running

    @property
    def thread(self) -> threading.Thread | None:
        """The worker thread, once the first job started it (it stays until :meth:`close`)."""
        return self._thread

    def is_current(self, generation: int) -> bool:
        """Whether ``generation`` is still the newest job (no newer submit, no cancel since)."""
        return generation == self._generation

    @property
    def busy(self) -> bool:
        """Whether a job is queued or running (its outcome still to come, landed or dropped)."""
        with self._lock:
            return self._pending is not None or self._running != 0

    def submit(self, job: J) -> Future[R | None]:
        """Queue ``job``, superseding any older one; the future gives its result or exception.

        A future of a superseded job is cancelled if it never started, else resolves to
        None when its (dropped) run ends.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("this widget is closed; create a new one")
            self._generation += 1
            future: Future[R | None] = Future()
            replaced = self._mailbox.put(Job(self._generation, job, torch_threads(), future))
            if replaced is not None:
                replaced.future.cancel()
            self._pending = future
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=_serve, args=(weakref.ref(self), self._mailbox), name=THREAD_NAME, daemon=True)
                self._thread.start()
        return future

    def cancel(self) -> None:
        """Drop the newest job: its result, when it comes, is not applied."""
        with self._lock:
            self._generation += 1
            replaced = self._mailbox.take()
            if replaced is not None:
                replaced.future.cancel()
            self._pending = None

    def wait(self, timeout: float | None = None) -> None:
        """Block until no job is pending (the newest has landed or failed).

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
        Later submits raise :class:`RuntimeError`.
        """
        with self._lock:
            self._closed = True
            self.cancel()
            self._mailbox.stop()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _serve_one(self, job: Job[J, R]) -> None:
        """Run one job on the worker thread, unless a newer one superseded it while it was queued."""
        if not self.is_current(job.generation) or not job.future.set_running_or_notify_cancel():
            job.future.cancel()
            return
        self._running = job.generation
        try:
            self._run(job.generation, job.job, job.threads, job.future)
        finally:
            self._running = 0

    def _run(self, generation: int, job: J, threads: int | None, future: Future[R | None]) -> None:
        try:
            match_torch_threads(threads)
            result = self._work(job)
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
