"""Qt helpers shared by the GUI benchmarks and screenshot scripts (run as
``python benchmarks/<script>.py``, so this folder is on ``sys.path``)."""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def wait_for(cond, timeout: float = 300, check_ms: int = 2) -> bool:
    """Run a real event loop until ``cond()`` (checked every ``check_ms``) or ``timeout`` s.

    ``QEventLoop.exec`` idles in C with the GIL released, like the app's own loop. A busy
    ``processEvents`` poll would hold the GIL and slow the worker threads down (it made the
    probe's jobs ~3x slower); PySide6 6.12's static ``QApplication.processEvents`` also leaks a
    reference to None per call.
    """
    if cond():
        return True
    loop, timer = QEventLoop(), QTimer()
    deadline = time.perf_counter() + timeout

    def check() -> None:
        if cond() or time.perf_counter() > deadline:
            loop.quit()

    timer.setInterval(check_ms)
    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    return bool(cond())


def pump(seconds: float) -> None:
    """Run the event loop for ``seconds`` (let repaints and queued signals happen)."""
    end = time.perf_counter() + seconds
    wait_for(lambda: time.perf_counter() >= end, seconds + 1, 10)


def private_app(prefix: str) -> tuple[QApplication, tempfile.TemporaryDirectory]:
    """The QApplication, with QSettings in a fresh temporary folder (the user's window layout
    and recent folders are neither read nor changed). Keep the folder object alive."""
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp.name)
    return QApplication.instance() or QApplication(sys.argv[:1]), tmp


__all__ = ["private_app", "pump", "wait_for"]
