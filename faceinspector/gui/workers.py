"""THE worker pattern: every pane runs backend work through it (DESIGN.md rules 3-5).

Three pieces:

:class:`LaneWorker`
    A ``QObject`` moved to its own ``QThread`` (a *lane*). It runs jobs one at a time and reports
    through four signals, ``progress``, ``result``, ``error`` and ``finished``, each tagged with
    the job id. A job is a plain function or a task generator (:mod:`faceinspector.backend.tasks`:
    it yields :class:`Progress` and partial results and returns its result; each partial result
    and the return value arrive as ``result``). The job's :class:`CancelToken` is passed as
    ``cancel=`` when the function takes it and checked between yields, so cancelling stops it at
    the next step. Workers never touch widgets: they emit numpy arrays and frozen dataclasses
    only.
:class:`WorkerPool`
    A few long-lived lanes shared by all panes (``io`` for file reading, ``detect`` and
    ``compute`` for torch: on a 2-core CPU at most two torch jobs run at once). It owns the
    threads, routes the lane signals back to the GUI thread and shuts everything down cleanly.
:class:`WorkerSlot`
    One pane's request channel: *the latest request wins*. ``submit`` cancels the previous job,
    tags the new one with a fresh generation id and forwards only that generation's results;
    anything a superseded job still emits is dropped, never drawn (counted in
    :attr:`WorkerSlot.dropped`). Cancelled jobs still waiting in a lane are skipped without
    running, so a burst of requests coalesces to the newest one.
"""

from __future__ import annotations

import inspect
import os
import itertools
import logging
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from ..backend.tasks import Cancelled, CancelToken, Progress

log = logging.getLogger(__name__)

LANES = ("io", "detect", "compute")
#: Lane threads run this much "nicer" than the GUI thread (Linux: per-thread nice value,
#: inherited by the torch/OpenMP threads they start), so a busy CPU still serves the GUI first.
LANE_NICENESS = 10


def one_line(exc: BaseException) -> str:
    """A user-facing single line for an exception (no traceback)."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    if not text:
        return name
    ours = type(exc).__module__.startswith("faceinspector")  # messages written for users
    return text if ours or name == "RuntimeError" else f"{name}: {text}"


def lower_thread_priority(niceness: int = LANE_NICENESS) -> None:
    """Make the calling thread yield the CPU to the GUI thread (best effort, any OS)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), niceness))
    except (AttributeError, OSError):  # not Linux: Qt's thread priority instead
        QThread.currentThread().setPriority(QThread.Priority.LowPriority)


def _wants_cancel(fn: Callable) -> bool:
    try:
        return "cancel" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


_ids = itertools.count(1)


@dataclass(eq=False)
class Job:
    """One submitted call. Callbacks run on the GUI thread; ``cancel()`` is thread-safe."""

    fn: Callable | None
    args: tuple
    kwargs: dict
    lane: str
    on_result: Callable[[Any], None] | None = None
    on_progress: Callable[[Progress], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_finished: Callable[[bool], None] | None = None
    id: int = field(default_factory=lambda: next(_ids))
    token: CancelToken = field(default_factory=CancelToken)
    started: bool = False
    done: bool = False

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled


class LaneWorker(QObject):
    """The worker object of one lane: lives on the lane's QThread, runs queued jobs in order."""

    started = Signal(int)
    progress = Signal(int, object)
    result = Signal(int, object)
    error = Signal(int, str)
    finished = Signal(int, bool)  # job id, cancelled
    _run = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._run.connect(self.run_job)
        self._niced = False

    def enqueue(self, job: Job) -> None:
        """Called on the GUI thread; the job runs later on this worker's thread."""
        self._run.emit(job)

    @Slot(object)
    def run_job(self, job: Job) -> None:
        token = job.token
        if not self._niced:
            lower_thread_priority()
            self._niced = True
        try:
            if token.cancelled:  # superseded while waiting: skip without running
                return
            job.started = True
            self.started.emit(job.id)
            kwargs = dict(job.kwargs)
            if _wants_cancel(job.fn):
                kwargs["cancel"] = token
            out = job.fn(*job.args, **kwargs)
            if isinstance(out, Generator):  # the task protocol (backend/tasks.py)
                try:
                    while not token.cancelled:
                        try:
                            item = next(out)
                        except StopIteration as stop:  # the task's return value
                            if stop.value is not None and not token.cancelled:
                                self.result.emit(job.id, stop.value)
                            break
                        if token.cancelled:
                            break
                        if isinstance(item, Progress):
                            self.progress.emit(job.id, item)
                        else:  # a partial result
                            self.result.emit(job.id, item)
                finally:
                    out.close()
            elif not token.cancelled:
                self.result.emit(job.id, out)
        except Cancelled:
            pass
        except Exception as exc:  # noqa: BLE001 - reported as one line, logged in full
            if not token.cancelled:
                log.warning("job %s (%s) failed", job.id, getattr(job.fn, "__name__", job.fn),
                            exc_info=True)
                self.error.emit(job.id, one_line(exc))
        finally:
            job.fn, job.args, job.kwargs = None, (), {}  # free photos/arrays early
            self.finished.emit(job.id, token.cancelled)


class WorkerPool(QObject):
    """Long-lived lanes (QThread + :class:`LaneWorker`) shared by the whole window.

    ``submit`` is the low-level call; panes use a :class:`WorkerSlot` on top of it.
    """

    activeChanged = Signal(int)  # number of jobs queued or running

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threads: dict[str, QThread] = {}
        self._workers: dict[str, LaneWorker] = {}
        self._jobs: dict[int, Job] = {}
        self._closed = False
        self.dropped = 0  # signals of cancelled jobs that were dropped here
        app = QCoreApplication.instance()
        if app is not None:  # never leave a running QThread behind at exit
            app.aboutToQuit.connect(self.shutdown)

    # --------------------------------------------------------------------------- lanes
    def _lane(self, name: str) -> LaneWorker:
        if name not in LANES:
            raise ValueError(f"unknown lane {name!r}; known: {', '.join(LANES)}")
        worker = self._workers.get(name)
        if worker is None:
            thread = QThread()
            thread.setObjectName(f"faceinspector-{name}")
            worker = LaneWorker()
            worker.moveToThread(thread)
            worker.started.connect(self._on_started)
            worker.progress.connect(self._on_progress)
            worker.result.connect(self._on_result)
            worker.error.connect(self._on_error)
            worker.finished.connect(self._on_finished)
            thread.finished.connect(worker.deleteLater)
            thread.start()
            self._threads[name], self._workers[name] = thread, worker
        return worker

    # ---------------------------------------------------------------------------- jobs
    def submit(self, fn: Callable, *args, lane: str = "compute",
               on_result=None, on_progress=None, on_error=None, on_finished=None,
               **kwargs) -> Job:
        """Queue ``fn(*args, **kwargs)`` on ``lane`` (``cancel=`` is passed if fn takes it)."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        job = Job(fn, args, kwargs, lane, on_result, on_progress, on_error, on_finished)
        self._jobs[job.id] = job
        self._lane(lane).enqueue(job)
        self.activeChanged.emit(len(self._jobs))
        return job

    @property
    def active(self) -> int:
        """Jobs queued or running (cancelled ones count until their lane lets go of them)."""
        return len(self._jobs)

    @property
    def closed(self) -> bool:
        return self._closed

    def threads_running(self) -> list[str]:
        """Lanes whose thread is still running (empty after :meth:`shutdown`)."""
        return [name for name, t in self._threads.items() if t.isRunning()]

    def cancel_all(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel every job, stop the lanes and wait for their threads. True if all stopped.

        Jobs stop at their next step; a step is at most one detection or one model call.
        """
        self._closed = True
        self.cancel_all()
        for thread in self._threads.values():
            thread.quit()
        ok = True
        for name, thread in self._threads.items():
            if not thread.wait(timeout_ms):
                log.error("lane %s did not stop within %d ms", name, timeout_ms)
                ok = False
        self._jobs.clear()
        return ok

    def _dispatch(self, job_id: int, attr: str, *args) -> None:
        job = self._jobs.get(job_id)
        if job is None or job.cancelled:  # Orange-style: a cancelled job's signals go nowhere
            self.dropped += 1
            return
        callback = getattr(job, attr)
        if callback is not None:
            try:
                callback(*args)
            except RuntimeError as exc:  # the receiving widget was deleted meanwhile
                if "already deleted" not in str(exc):
                    raise
                job.cancel()

    @Slot(int)
    def _on_started(self, job_id: int) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.started = True

    @Slot(int, object)
    def _on_progress(self, job_id: int, value) -> None:
        self._dispatch(job_id, "on_progress", value)

    @Slot(int, object)
    def _on_result(self, job_id: int, value) -> None:
        self._dispatch(job_id, "on_result", value)

    @Slot(int, str)
    def _on_error(self, job_id: int, message: str) -> None:
        self._dispatch(job_id, "on_error", message)

    @Slot(int, bool)
    def _on_finished(self, job_id: int, cancelled: bool) -> None:
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        job.done = True
        if job.on_finished is not None:
            try:
                job.on_finished(cancelled)
            except RuntimeError as exc:
                if "already deleted" not in str(exc):
                    raise
        if not self._closed:
            self.activeChanged.emit(len(self._jobs))


class WorkerSlot(QObject):
    """A pane's request channel where the latest request wins.

    Signals are emitted on the GUI thread and only for the current generation: results of a
    superseded or cancelled job are dropped (and counted in :attr:`dropped`).
    """

    progress = Signal(object)  # Progress
    result = Signal(object)
    error = Signal(str)
    finished = Signal(bool)  # the current job ended; True if it was cancelled
    busyChanged = Signal(bool)

    def __init__(self, pool: WorkerPool, lane: str = "compute", name: str = "",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool, self.lane, self.name = pool, lane, name
        self._job: Job | None = None
        self.generation = 0
        self.dropped = 0
        self.last_progress: Progress | None = None

    @property
    def busy(self) -> bool:
        return self._job is not None

    def submit(self, fn: Callable, *args, **kwargs) -> int:
        """Cancel the running request and start this one; returns its generation id."""
        was_busy = self.busy
        if self._job is not None:
            self._job.cancel()
        if self.pool.closed:
            self._job = None
            return self.generation
        job = self.pool.submit(fn, *args, lane=self.lane, **kwargs)
        gen = job.id
        job.on_result = lambda v, g=gen: self._relay(g, self.result, v)
        job.on_progress = lambda p, g=gen: self._relay(g, self.progress, p)
        job.on_error = lambda m, g=gen: self._relay(g, self.error, m)
        job.on_finished = lambda c, g=gen: self._done(g, c)
        self._job, self.generation, self.last_progress = job, gen, None
        if not was_busy:
            self.busyChanged.emit(True)
        return gen

    def cancel(self) -> None:
        """Cancel the current request now; the slot is idle at once, the job stops soon."""
        job, self._job = self._job, None
        if job is not None:
            job.cancel()
            self.finished.emit(True)
            self.busyChanged.emit(False)

    def _relay(self, gen: int, signal, value) -> None:
        if gen != self.generation or self._job is None:
            self.dropped += 1
            return
        if signal is self.progress:
            self.last_progress = value
        signal.emit(value)

    def _done(self, gen: int, cancelled: bool) -> None:
        if gen != self.generation or self._job is None:
            return
        self._job = None
        self.finished.emit(cancelled)
        self.busyChanged.emit(False)


def app_thread_is_current() -> bool:
    """True on the GUI thread (used by assertions in tests)."""
    app = QCoreApplication.instance()
    return app is not None and QThread.currentThread() is app.thread()


__all__ = ["LANES", "LANE_NICENESS", "Cancelled", "CancelToken", "Job", "LaneWorker", "Progress",
           "WorkerPool", "WorkerSlot", "app_thread_is_current", "lower_thread_priority",
           "one_line"]
