"""``faceinspector [PATH ...]``: create the QApplication and the main window, and run.

With no paths the bundled demo photos open; with paths, those photos and folders. Torch is not
imported before the window is shown: the backend comes up in a worker right after the first
paint. If the model packs are missing, the window says so in a message box naming
``faceinspector models fetch`` (no traceback).

Exit: closing the window hides it, cancels all work and waits a short budget for the worker
lanes; when a lane is stuck in a step that cannot be interrupted (a model forward of minutes, a
read from a FIFO or a stalled mount), :func:`run` ends the process with ``os._exit`` once the
event loop is done and the settings are written -- no wait, no "QThread destroyed" abort (see
:mod:`faceinspector.gui.workers`).

``FACEINSPECTOR_QUIT_AFTER_PAINT=1`` prints ``first-paint <unix time> torch=<imported?>`` at the
first paint and quits (used by ``benchmarks/gui_startup.py``).
"""

from __future__ import annotations

import os
import sys
import time


def _startup_probe(window, app) -> None:
    def report(_t: float) -> None:
        print(f"first-paint {time.time():.6f} torch={'torch' in sys.modules}", flush=True)
        app.quit()

    window.firstPainted.connect(report)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from PySide6.QtWidgets import QApplication

    from . import settings

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "faceinspector"])
    app.setOrganizationName(settings.ORGANIZATION)
    app.setApplicationName(settings.APPLICATION)
    app.setApplicationDisplayName("FaceInspector")
    from .main_window import MainWindow

    paths = [a for a in argv if not a.startswith("-")]
    window = MainWindow(paths or None)
    app.aboutToQuit.connect(window.shutdown)
    if os.environ.get("FACEINSPECTOR_QUIT_AFTER_PAINT"):
        _startup_probe(window, app)
    window.show()
    return run(app, window)


def run(app, window) -> int:
    """``app.exec()``, then a clean exit: the window's work is shut down, and if a worker
    lane is still stuck in its step the process ends here (``os._exit``) instead of waiting
    for it or tearing the interpreter down under it."""
    from PySide6.QtCore import QSettings

    from .workers import abandoned_lanes

    code = app.exec()
    window.shutdown()
    stuck = abandoned_lanes()
    if stuck:
        QSettings().sync()
        print(f"faceinspector: left {', '.join(stuck)} running at exit (a step that cannot "
              "be interrupted); exiting now", file=sys.stderr)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
