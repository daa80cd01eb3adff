"""The progress bar of a pane's one long task (Mismatch, Evaluate, Verification).

:class:`TaskProgress` is hidden while the pane is idle, indeterminate from the moment a task
starts until its first counted step, then reads ``"stage: done/total · rate/s · N s left"``
(the rate over the task's whole run so far). :class:`RunCancel` is the Run / Cancel handling that
the Mismatch and Evaluate panes share (Verification has its own buttons).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from PySide6.QtWidgets import QProgressBar, QWidget

from ..backend.tasks import Progress
from . import theme


class TaskProgress(QProgressBar):
    """A progress bar that says how far a task is, how fast it goes and how long is left.

    Parameters
    ----------
    head : the text before the rate, from a :class:`Progress` (default ``"stage: done/total"``).
    rate_stages : the stages whose items are counted for the rate (None: every stage) — a
        stage that counts something else (report writing, resampling) shows no rate.
    rate_format : how the rate is written (``"{:.0f}"``: whole items per second).
    """

    def __init__(self, parent: QWidget | None = None, *,
                 head: Callable[[Progress], str] | None = None,
                 rate_stages: Collection[str] | None = None, rate_format: str = "{:.0f}"):
        super().__init__(parent)
        self.head = head or (lambda p: f"{p.stage}: {p.done}/{p.total}")
        self.rate_stages = rate_stages
        self.rate_format = rate_format
        self._t0 = time.perf_counter()
        self.setTextVisible(True)
        # wide enough for "stage: done/total · rate/s · N s left" on one line, in any row
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance(
            "predict: 10000/10000 · 100/s · 999 s left") + 24)
        self.hide()

    def start(self) -> None:
        """A task starts now (the clock its rate and time left are measured on)."""
        self._t0 = time.perf_counter()

    def set_busy(self, busy: bool) -> None:
        """Shown and indeterminate while a task runs, hidden when it ends."""
        self.setVisible(busy)
        if busy:
            self.setRange(0, 0)

    def show_progress(self, p: Progress) -> None:
        if p.total:
            self.setRange(0, max(p.total, p.done))
            self.setValue(p.done)
        secs = time.perf_counter() - self._t0
        counted = self.rate_stages is None or p.stage in self.rate_stages
        rate = p.done / secs if secs > 0 and counted else 0.0
        left = (p.total - p.done) / rate if rate > 0 and p.total else 0
        self.setFormat(self.head(p)
                       + (f" · {self.rate_format.format(rate)}/s" if rate else "")
                       + (f" · {left:.0f} s left" if p.done and left else ""))


class RunCancel:
    """Mixin for a pane with one long task: a Run button that becomes Cancel while the task
    runs, a :class:`TaskProgress`, a summary label for "Cancelled." and errors.

    The pane provides ``worker`` (a ``WorkerSlot``), ``run_button``, ``cancel_button``,
    ``progress``, ``summary``, the ``message`` signal, :meth:`_update_buttons` and
    :attr:`task_name` (how the status bar names the pane), and connects the worker's ``busy``,
    ``progress`` and ``error`` signals to :meth:`_on_busy`, :meth:`_on_progress` and
    :meth:`_on_error`."""

    task_name = ""

    def cancel(self) -> None:
        if self.worker.busy:
            self.worker.cancel()
            self.summary.setText("Cancelled.")

    def _on_busy(self, busy: bool) -> None:
        self.run_button.setVisible(not busy)
        self.cancel_button.setVisible(busy)
        self.progress.set_busy(busy)
        self._update_buttons()

    def _on_progress(self, p: Progress) -> None:
        self.progress.show_progress(p)

    def _on_error(self, message: str) -> None:
        self.summary.setText(f"<span style='color:{theme.ERROR}'>{message}</span>")
        self.message.emit(f"{self.task_name}: {message}")


__all__ = ["RunCancel", "TaskProgress"]
