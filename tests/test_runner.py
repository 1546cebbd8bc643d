"""The extraction runner: newest job wins, any failure ends the pending state, one persistent worker
thread per runner that ends with it (close or garbage collection)."""

from __future__ import annotations

import gc
import threading
import weakref
from concurrent.futures import CancelledError

import pytest

from attnviz_widget.errors import InputError
from attnviz_widget.runner import THREAD_NAME, ExtractionRunner, describe_failure, is_out_of_memory


def runner_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD_NAME]


def no_runner_threads(timeout: float = 10) -> bool:
    """Whether every runner thread ends within ``timeout`` seconds (they end asynchronously)."""
    for thread in runner_threads():
        thread.join(timeout)
    return not runner_threads()


class Recorder:
    """A runner around ``work`` that records what landed and what failed."""

    def __init__(self, work) -> None:
        self.landed: list[str] = []
        self.failed: list[BaseException] = []
        self.lock = threading.RLock()
        self.runner = ExtractionRunner(work, on_result=self.landed.append, on_error=self.failed.append, lock=self.lock)


def test_only_the_newest_text_lands_and_a_queued_one_never_runs() -> None:
    release = threading.Event()
    started = threading.Event()
    ran: list[str] = []

    def work(text: str) -> str:
        ran.append(text)
        if text == "first":
            started.set()
            assert release.wait(10)
        return text.upper()

    recorder = Recorder(work)
    first = recorder.runner.submit("first")
    assert started.wait(10)
    second = recorder.runner.submit("second")  # queued behind the running first
    third = recorder.runner.submit("third")  # supersedes the queued second
    release.set()
    recorder.runner.wait(10)
    assert recorder.landed == ["THIRD"] and ran == ["first", "third"]
    assert first.result(1) is None  # ran, but its result was dropped
    assert second.cancelled() and third.result(1) == "THIRD"
    assert recorder.runner.pending is None


@pytest.mark.parametrize(
    "error",
    [RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), IndexError("index out of range in self"),
     KeyboardInterrupt(), InputError("text is empty")],
    ids=lambda error: type(error).__name__,
)
def test_any_exception_ends_the_pending_state(error: BaseException) -> None:
    def work(text: str) -> str:
        raise error

    recorder = Recorder(work)
    future = recorder.runner.submit("a")
    recorder.runner.wait(10)
    assert recorder.failed == [error] and recorder.landed == []
    assert recorder.runner.pending is None
    assert future.exception(1) is error
    assert recorder.runner.submit("b").exception(10) is error  # the same worker serves the next job
    assert len(runner_threads()) == 1
    recorder.runner.close(timeout=10)
    assert not recorder.runner.busy and not runner_threads()


def test_one_worker_thread_serves_every_job_until_close() -> None:
    idents: list[int] = []

    def work(text: str) -> str:
        idents.append(threading.get_ident())
        return text

    recorder = Recorder(work)
    assert recorder.runner.thread is None and not runner_threads()  # started by the first submit
    for text in ("a", "b", "c"):
        recorder.runner.submit(text).result(10)
    thread = recorder.runner.thread
    assert recorder.landed == ["a", "b", "c"] and len(set(idents)) == 1
    assert thread is not None and thread.ident == idents[0] and thread.is_alive()  # kept, idle, for the next job
    assert runner_threads() == [thread] and not recorder.runner.busy
    recorder.runner.close(timeout=10)
    assert not thread.is_alive() and not runner_threads()
    with pytest.raises(RuntimeError, match="closed"):
        recorder.runner.submit("d")


def test_a_dropped_runner_ends_its_thread_and_is_not_kept_alive_by_it() -> None:
    recorders = [Recorder(lambda text: text) for _ in range(5)]
    for recorder in recorders:
        recorder.runner.submit("a").result(10)
    assert len(runner_threads()) == 5
    alive = weakref.ref(recorders[0].runner)
    del recorder, recorders
    gc.collect()
    assert alive() is None  # the idle thread holds its runner only weakly
    assert no_runner_threads()  # and ends with it: no thread leaks, however many widgets come and go


def test_jobs_of_any_type_reach_work_as_they_are() -> None:
    seen: list[object] = []
    plan = {"prompt": "a", "max_new_tokens": 3}
    recorder = Recorder(lambda job: seen.append(job) or len(seen))
    assert recorder.runner.submit(plan).result(10) == 1 and recorder.runner.submit(("x", 2)).result(10) == 2
    assert seen[0] is plan and seen[1] == ("x", 2) and recorder.landed == [1, 2]
    recorder.runner.close(timeout=10)


def test_the_worker_uses_the_submitters_torch_thread_count() -> None:
    torch = pytest.importorskip("torch")
    counts: list[int] = []
    recorder = Recorder(lambda text: counts.append(torch.get_num_threads()) or text)
    before = torch.get_num_threads()
    try:
        recorder.runner.submit("a").result(10)
        torch.set_num_threads(1)
        recorder.runner.submit("b").result(10)  # the same, warm thread follows the change
        torch.set_num_threads(before)
        recorder.runner.submit("c").result(10)
    finally:
        torch.set_num_threads(before)
        recorder.runner.close(timeout=10)
    assert counts == [before, 1, before]


def test_work_may_close_its_own_runner() -> None:
    recorder: Recorder

    def work(text: str) -> str:
        recorder.runner.close(timeout=10)  # on the worker thread itself: no self-join, no deadlock
        return text

    recorder = Recorder(work)
    assert recorder.runner.submit("a").result(10) is None  # closing cancelled it: dropped
    assert no_runner_threads() and recorder.landed == []


def test_close_drops_queued_work_and_the_running_result() -> None:
    release = threading.Event()
    started = threading.Event()

    def work(text: str) -> str:
        started.set()
        assert release.wait(10)
        return text

    recorder = Recorder(work)
    running = recorder.runner.submit("running")
    assert started.wait(10)
    queued = recorder.runner.submit("queued")
    recorder.runner.close(timeout=0)
    assert queued.cancelled()
    release.set()
    assert running.result(10) is None
    recorder.runner.close(timeout=10)
    assert recorder.landed == [] and not runner_threads()
    with pytest.raises(CancelledError):
        queued.result(0)


def test_wait_times_out_and_cancel_drops_the_result() -> None:
    release = threading.Event()
    recorder = Recorder(lambda text: release.wait(10) and text)
    recorder.runner.submit("slow")
    with pytest.raises(TimeoutError, match="did not finish within 0.05 s"):
        recorder.runner.wait(0.05)
    recorder.runner.cancel()
    recorder.runner.wait(0)  # nothing pending any more
    release.set()
    recorder.runner.close(timeout=10)
    assert recorder.landed == [] and recorder.failed == []


def test_failures_are_one_line_keep_the_type_and_hint_at_memory() -> None:
    oom = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\n(GPU 0; 15.77 GiB total capacity)")
    line = describe_failure(oom)
    assert line.startswith("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0;")
    assert "\n" not in line and "layers=" in line and "shorter text" in line and "device='cpu'" in line
    assert is_out_of_memory(MemoryError()) and is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(IndexError("index out of range in self"))
    assert describe_failure(IndexError("index out of range in self")) == "IndexError: index out of range in self"
    assert describe_failure(InputError("text is empty")) == "text is empty"  # the project's own lines as they are
    assert describe_failure(KeyboardInterrupt()).startswith("KeyboardInterrupt (the extraction was interrupted")
    assert len(describe_failure(ValueError("x" * 5000))) < 450


def test_a_failing_error_handler_neither_hangs_nor_kills_the_worker() -> None:
    def broken_handler(error: BaseException) -> None:
        raise ValueError("the widget is gone")

    def work(text: str) -> str:
        if text == "bad":
            raise RuntimeError("model failed")
        return text

    landed: list[str] = []
    runner = ExtractionRunner(work, on_result=landed.append, on_error=broken_handler, lock=threading.RLock())
    failed = runner.submit("bad")
    runner.wait(10)
    assert isinstance(failed.exception(1), RuntimeError) and runner.pending is None
    assert runner.submit("good").result(10) == "good" and landed == ["good"]  # the worker still runs texts
    runner.close(timeout=10)
    assert not runner_threads()


def test_work_knows_its_generation_and_sees_when_a_newer_text_supersedes_it() -> None:
    release, started = threading.Event(), threading.Event()
    seen: list[tuple[str, int, bool, bool]] = []
    recorder: Recorder

    def work(text: str) -> str:
        generation = recorder.runner.running
        if text == "first":
            started.set()
            assert release.wait(10)
        runner = recorder.runner
        seen.append((text, generation, runner.is_current(generation), runner.is_current(generation + 1)))
        return text

    recorder = Recorder(work)
    recorder.runner.submit("first")
    assert started.wait(10)
    recorder.runner.submit("second")  # the first run is superseded while it runs
    release.set()
    recorder.runner.wait(10)
    assert seen == [("first", 1, False, True), ("second", 2, True, False)]
    assert recorder.landed == ["second"]
