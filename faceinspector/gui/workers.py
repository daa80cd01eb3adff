"""THE worker pattern: every pane runs backend work through it (DESIGN.md rules 3-5).

Three pieces:

:class:`Lane`
    A plain daemon ``threading.Thread`` with a job queue (a *lane*). It runs jobs one at a time
    and reports through the pool's :class:`_Bridge`, a ``QObject`` of the GUI thread whose four
    signals -- ``progress``, ``result``, ``error``, ``finished``, each tagged with the job id --
    Qt queues to the GUI thread. A job is a plain function or a task generator
    (:mod:`faceinspector.backend.tasks`: it yields :class:`Progress` and partial results and
    returns its result; each partial result and the return value arrive as ``result``). The
    job's :class:`CancelToken` is passed as ``cancel=`` when the function takes it and checked
    between yields, so cancelling stops it at the next step. Workers never touch widgets: they
    emit numpy arrays and frozen dataclasses only.
:class:`WorkerPool`
    A few long-lived lanes shared by all panes (``io`` for file reading, ``detect`` and
    ``compute`` for torch: on a 2-core CPU at most two torch jobs run at once). It owns the
    lanes, routes their signals back to the GUI thread and shuts everything down.
:class:`WorkerSlot`
    One pane's request channel: *the latest request wins*. ``submit`` cancels the previous job,
    tags the new one with a fresh generation id and forwards only that generation's results;
    anything a superseded job still emits is dropped, never drawn (counted in
    :attr:`WorkerSlot.dropped`). Cancelled jobs still waiting in a lane are skipped without
    running, so a burst of requests coalesces to the newest one.

**Why lanes are not QThreads: closing is quick whatever a lane is doing.** A step can block
far longer than anyone will wait at exit -- a user model whose forward takes minutes, a gallery
read from a FIFO or a stalled network mount -- and such a step cannot be interrupted. Qt
aborts the process ("QThread: Destroyed while thread ... is still running", SIGABRT) when a
running ``QThread`` object is destroyed, so a lane that cannot stop must not be one. A
:class:`Lane` is a daemon Python thread that Qt knows nothing about: :meth:`WorkerPool.shutdown`
cancels every job, asks the lanes to stop, waits at most one shared budget
(:data:`SHUTDOWN_BUDGET_S`, ``$FACEINSPECTOR_SHUTDOWN_S``; the window is already hidden) and
then *abandons* a lane still stuck in its step: the lane emits nothing more (its bridge object
is owned by Python and outlives the pool, so a late ``emit`` has a receiver or is dropped),
and :func:`abandoned_lanes` lists it. ``gui/app.py`` then ends the process with ``os._exit``
after the event loop has returned and the settings are written, so neither Qt nor the
interpreter's shutdown ever waits for, or tears down under, a thread still inside torch or a
blocking read. File reads and writes of the panes (galleries, checkpoints) run on lanes, never
on the GUI thread.
"""

from __future__ import annotations

import inspect
import os
import itertools
import logging
import queue
import threading
import time
import weakref
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
#: How long closing waits for the lanes to finish their current step before abandoning them
#: (seconds; ``$FACEINSPECTOR_SHUTDOWN_S`` overrides). The window is hidden before the wait.
SHUTDOWN_BUDGET_S = 3.0


def shutdown_budget_s() -> float:
    """:data:`SHUTDOWN_BUDGET_S`, or ``$FACEINSPECTOR_SHUTDOWN_S`` when set to a number >= 0."""
    try:
        value = float(os.environ.get("FACEINSPECTOR_SHUTDOWN_S", ""))
    except ValueError:
        return SHUTDOWN_BUDGET_S
    return value if 0 <= value < float("inf") else SHUTDOWN_BUDGET_S


def one_line(exc: BaseException) -> str:
    """A user-facing single line for an exception (no traceback)."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    if not text:
        return name
    ours = type(exc).__module__.startswith("faceinspector")  # messages written for users
    return text if ours or name == "RuntimeError" else f"{name}: {text}"


def expected(exc: BaseException) -> bool:
    """An error a user can cause and is told about in one line (a missing sidecar, a file
    that cannot be read, a wrong gallery): FaceInspector's own error types, and ``OSError`` /
    ``ValueError``. Logged without a traceback (``$FACEINSPECTOR_DEBUG`` logs it anyway)."""
    if os.environ.get("FACEINSPECTOR_DEBUG"):
        return False
    ours = type(exc).__module__.startswith("faceinspector")
    return ours or isinstance(exc, (OSError, ValueError))


def lower_thread_priority(niceness: int = LANE_NICENESS) -> None:
    """Make the calling thread yield the CPU to the GUI thread (best effort, any OS)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), niceness))
    except (AttributeError, OSError):  # not Linux: Qt's thread priority instead
        try:
            QThread.currentThread().setPriority(QThread.Priority.LowPriority)
        except RuntimeError:  # a thread Qt cannot set: leave it
            pass


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


class _Bridge(QObject):
    """Carries a pool's lane signals to the GUI thread (it lives there; Qt queues every emit
    from a lane). Owned by Python, without a Qt parent, so it outlives the pool for as long as
    an abandoned lane may still hold it."""

    started = Signal(int)
    progress = Signal(int, object)
    result = Signal(int, object)
    error = Signal(int, str)
    finished = Signal(int, bool)  # job id, cancelled


#: lanes that did not stop within the shutdown budget (still running, emitting nothing)
_ABANDONED: list["Lane"] = []


def abandoned_lanes() -> list[str]:
    """Names of the lanes given up at shutdown whose thread is still running."""
    return [lane.thread.name for lane in _ABANDONED if lane.thread.is_alive()]


class Lane:
    """One lane: a daemon thread that runs the jobs queued to it, in order."""

    def __init__(self, name: str, bridge: _Bridge) -> None:
        self.name = name
        self.bridge = bridge
        self.closed = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name=f"faceinspector-{name}",
                                       daemon=True)
        self.thread.start()

    def enqueue(self, job: Job) -> None:
        """Called on the GUI thread; the job runs later on this lane's thread."""
        self._queue.put(job)

    def close(self) -> None:
        """Stop after the current job (every queued job is cancelled by the pool first)."""
        self.closed = True
        self._queue.put(None)

    def _emit(self, signal: str, *args) -> None:
        if self.closed:  # shut down: nobody listens any more
            return
        try:
            getattr(self.bridge, signal).emit(*args)
        except RuntimeError:  # the bridge is gone (the application is exiting)
            self.closed = True

    def _loop(self) -> None:
        lower_thread_priority()
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self.run_job(job)
            except BaseException:  # noqa: BLE001 - a lane never dies of a job
                log.exception("lane %s: job %s crashed", self.name, job.id)

    def run_job(self, job: Job) -> None:
        token = job.token
        try:
            if token.cancelled:  # superseded while waiting: skip without running
                return
            job.started = True
            self._emit("started", job.id)
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
                                self._emit("result", job.id, stop.value)
                            break
                        if token.cancelled:
                            break
                        if isinstance(item, Progress):
                            self._emit("progress", job.id, item)
                        else:  # a partial result
                            self._emit("result", job.id, item)
                finally:
                    out.close()
            elif not token.cancelled:
                self._emit("result", job.id, out)
        except Cancelled:
            pass
        except Exception as exc:  # noqa: BLE001 - reported as one line
            if not token.cancelled:
                name = getattr(job.fn, "__name__", job.fn)
                if expected(exc):  # the user is told in the window; no traceback on stderr
                    log.info("job %s (%s) failed: %s", job.id, name, one_line(exc))
                else:  # a bug: the whole traceback, for whoever reads the terminal
                    log.warning("job %s (%s) failed", job.id, name, exc_info=True)
                self._emit("error", job.id, one_line(exc))
        finally:
            job.fn, job.args, job.kwargs = None, (), {}  # free photos/arrays early
            self._emit("finished", job.id, token.cancelled)


#: every live pool, so closing the window can cancel all of them at once
_POOLS: "weakref.WeakSet[WorkerPool]" = weakref.WeakSet()


class WorkerPool(QObject):
    """Long-lived lanes (daemon threads, see :class:`Lane`) shared by the whole window.

    ``submit`` is the low-level call; panes use a :class:`WorkerSlot` on top of it.
    """

    activeChanged = Signal(int)  # number of jobs queued or running

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lanes: dict[str, Lane] = {}
        self._jobs: dict[int, Job] = {}
        self._closed = False
        self._deadline: float | None = None  # set by close_all_pools: the shared budget
        self.dropped = 0  # signals of cancelled jobs that were dropped here
        self._bridge = _Bridge()
        self._bridge.started.connect(self._on_started)
        self._bridge.progress.connect(self._on_progress)
        self._bridge.result.connect(self._on_result)
        self._bridge.error.connect(self._on_error)
        self._bridge.finished.connect(self._on_finished)
        _POOLS.add(self)
        app = QCoreApplication.instance()
        if app is not None:  # never leave work running behind at exit
            app.aboutToQuit.connect(self.shutdown)

    # --------------------------------------------------------------------------- lanes
    def _lane(self, name: str) -> Lane:
        if name not in LANES:
            raise ValueError(f"unknown lane {name!r}; known: {', '.join(LANES)}")
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = Lane(name, self._bridge)
        return lane

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
        """Lanes whose thread is still running (empty after a :meth:`shutdown` that returned
        True; an abandoned lane is listed until its step ends)."""
        return [name for name, lane in self._lanes.items() if lane.thread.is_alive()]

    def cancel_all(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel()

    def close(self) -> None:
        """Cancel every job and ask the lanes to stop, without waiting (idempotent)."""
        if not self._closed:
            self._closed = True
            self.cancel_all()
            for lane in self._lanes.values():
                lane.close()
        self._jobs.clear()

    def shutdown(self, timeout_ms: int | None = None) -> bool:
        """Cancel every job, stop the lanes and wait for them at most ``timeout_ms`` (default
        :func:`shutdown_budget_s`, or what is left of the deadline :func:`close_all_pools`
        set) in all. True if every lane stopped; a lane still inside a step that cannot be
        interrupted is abandoned (:func:`abandoned_lanes`), never waited for longer, never
        killed.
        """
        self.close()
        if timeout_ms is not None:
            deadline = time.monotonic() + max(timeout_ms, 0) / 1000
        elif self._deadline is not None:
            deadline = self._deadline
        else:
            deadline = time.monotonic() + shutdown_budget_s()
        budget = max(0.0, deadline - time.monotonic())
        stuck = []
        for lane in self._lanes.values():
            lane.thread.join(max(0.0, deadline - time.monotonic()))
            if lane.thread.is_alive():
                stuck.append(lane)
        for lane in stuck:
            if lane not in _ABANDONED:
                _ABANDONED.append(lane)
                log.warning("lane %s did not stop within %.1f s; abandoned (it emits nothing "
                            "more)", lane.name, budget)
        return not stuck

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
                if not _gone(exc):
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
                if not _gone(exc):
                    raise
        if not self._closed:
            self.activeChanged.emit(len(self._jobs))


def _gone(exc: RuntimeError) -> bool:
    """True when ``exc`` is Qt saying that the receiver or the signal's source was deleted
    (a pane closed while its job was finishing): the job's output then goes nowhere."""
    text = str(exc)
    return "already deleted" in text or "has been deleted" in text


def close_all_pools(owner: QObject | None = None, budget_s: float | None = None) -> None:
    """Cancel the jobs of every pool (``owner``: only the pools it owns, directly or through
    its children) at once, without waiting, and give them one shared deadline ``budget_s``
    from now (default :func:`shutdown_budget_s`): closing the window, each pane's
    ``pool.shutdown()`` then waits only for what is left of it."""
    deadline = time.monotonic() + (shutdown_budget_s() if budget_s is None else budget_s)
    for pool in list(_POOLS):
        try:
            node = pool
            while owner is not None and node is not None and node is not owner:
                node = node.parent()
            if owner is None or node is owner:
                pool.close()
                pool._deadline = deadline
        except RuntimeError:  # its Qt object is already gone
            pass


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


__all__ = ["LANES", "LANE_NICENESS", "SHUTDOWN_BUDGET_S", "Cancelled", "CancelToken", "Job",
           "Lane", "Progress", "WorkerPool", "WorkerSlot", "abandoned_lanes",
           "app_thread_is_current", "close_all_pools", "expected", "lower_thread_priority",
           "one_line",
           "shutdown_budget_s"]
