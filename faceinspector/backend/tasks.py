"""The one task protocol: how long backend work reports progress, streams results and stops.

Every long operation in FaceInspector -- loading and detecting a folder, embedding a data set,
a probe sweep, training a model, an experiment -- is written the same way, so the CLI, the GUI
and a notebook run it the same way (the superqt ``GeneratorWorker`` convention):

* it is a **generator function** that takes ``cancel: CancelToken | None = None``;
* it ``yield``\\ s :class:`Progress` values to report progress (``done`` of ``total``, a line of
  text, and for rich views a ``stage`` name and an ``info`` mapping such as a training step's
  losses);
* it may ``yield`` any other value as a **partial result** (one photo of a folder, one model's
  prediction) that a caller can show before the whole task is done;
* it ``return``\\ s its final result (``None`` when it only streams);
* it checks ``cancel`` between steps (:func:`check` or ``cancel.check()``) and stops by raising
  :class:`Cancelled` -- or, when stopping early is a normal outcome (a training run that saves
  a checkpoint when asked to stop), by returning a result that says so.

:func:`run` drains such a generator in the calling thread (the CLI and notebooks);
``faceinspector.gui.workers`` runs the same generators on worker threads. Nothing here imports
Qt or torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Mapping
from typing import Any, NamedTuple


class Cancelled(Exception):
    """A task stopped because its :class:`CancelToken` was set."""


class CancelToken:
    """The one cancel flag: set from any thread, checked by the task between steps."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the task to stop at its next step (thread-safe, idempotent)."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` when the token is set."""
        if self._event.is_set():
            raise Cancelled

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds, waking early when cancelled; True if cancelled."""
        return self._event.wait(timeout)


def check(cancel: CancelToken | None) -> None:
    """``cancel.check()`` that accepts ``None`` (no cancel token given)."""
    if cancel is not None and cancel.cancelled:
        raise Cancelled


def is_cancelled(cancel: CancelToken | None) -> bool:
    return cancel is not None and cancel.cancelled


class Progress(NamedTuple):
    """What a task yields to report progress.

    Attributes
    ----------
    done, total : units finished and expected (``total == 0``: unknown).
    text : one line for a status bar or a terminal.
    stage : a short machine-readable name of the phase ("detect", "embed", "train", ...), for
        callers that show phases differently; "" when the task has one phase.
    info : stage-specific values (a training step's losses, images/s, sample images), or None.
    """

    done: int
    total: int = 0
    text: str = ""
    stage: str = ""
    info: Mapping[str, Any] | None = None

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or None when the total is unknown."""
        if self.total <= 0:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)


#: the stage of a :func:`note`
NOTE = "note"


def note(text: str, **info: Any) -> Progress:
    """A :class:`Progress` carrying a message worth keeping (an epoch's result, a file written):
    the CLI prints it as a line, the GUI may show it in a log."""
    return Progress(0, 0, text, NOTE, info or None)


def run(task: Any, *, on_progress: Callable[[Progress], None] | None = None,
        on_item: Callable[[Any], None] | None = None,
        cancel: CancelToken | None = None) -> Any:
    """Drain ``task`` here and return its result.

    ``task`` is a generator following the protocol above (anything else is returned as it is,
    so plain functions and generators can be run alike). ``on_progress`` receives each
    :class:`Progress`, ``on_item`` each partial result. With ``cancel`` set, the generator is
    closed and :class:`Cancelled` raised at the next yield.
    """
    if not isinstance(task, Generator):
        return task
    try:
        while True:
            try:
                item = next(task)
            except StopIteration as stop:
                return stop.value
            if isinstance(item, Progress):
                if on_progress is not None:
                    on_progress(item)
            elif on_item is not None:
                on_item(item)
            check(cancel)
    finally:
        task.close()


def collect(task: Any, *, on_progress: Callable[[Progress], None] | None = None,
            cancel: CancelToken | None = None) -> tuple[list, Any]:
    """Like :func:`run`, also returning the partial results: ``(items, result)``."""
    items: list = []
    result = run(task, on_progress=on_progress, on_item=items.append, cancel=cancel)
    return items, result


def relay(task: Generator, *, stage: str | None = None, offset: int = 0,
          total: int | None = None) -> Generator:
    """``yield from`` a sub-task, rewriting its :class:`Progress` into the caller's terms.

    ``stage`` replaces the stage name (None keeps it), ``offset`` is added to ``done`` and
    ``total`` replaces the total (None keeps it). Partial results pass through; the sub-task's
    result is returned. Use as ``result = yield from relay(sub(...), stage="embed")``.
    """
    try:
        while True:
            try:
                item = next(task)
            except StopIteration as stop:
                return stop.value
            if isinstance(item, Progress):
                item = item._replace(done=item.done + offset,
                                     total=item.total if total is None else total,
                                     stage=item.stage if stage is None else stage)
            yield item
    finally:
        task.close()


__all__ = ["NOTE", "CancelToken", "Cancelled", "Progress", "check", "collect", "is_cancelled",
           "note", "relay", "run"]
