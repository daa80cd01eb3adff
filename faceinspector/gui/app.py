"""``faceinspector [PATH ...]``: create the QApplication and the main window, and run.

With no paths the bundled demo photos open; with paths, those photos and folders. Torch is not
imported before the window is shown: the backend comes up in a worker right after the first
paint. If the model packs are missing, the window says so in a message box naming
``faceinspector models fetch`` (no traceback).

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
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
