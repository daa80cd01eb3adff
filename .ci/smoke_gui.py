"""Smoke test of an installed FaceInspector's window (run by .ci/smoke with the fresh venv's
Python, outside the source tree): open the app offscreen on the bundled demo photos, wait until
every photo is detected and the models are loaded, print what it found, quit.

QSettings go to a temporary folder, so the user's layout and preferences are not touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

TIMEOUT_S = float(os.environ.get("SMOKE_GUI_TIMEOUT", "300"))


def main() -> int:
    settings_dir = tempfile.TemporaryDirectory(prefix="faceinspector-smoke-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir.name)
    app = QApplication([sys.argv[0]])
    from faceinspector.gui.main_window import MainWindow

    win = MainWindow(None)  # None: the bundled demo photos
    app.aboutToQuit.connect(win.shutdown)
    t0 = time.perf_counter()
    outcome = {"rc": 1}

    def check() -> None:
        items = win.photos.model.items
        ready = win.ctx.info is not None and len(items) >= 6 and not win.photos.busy
        if ready:
            faces = sum(len(i.faces) for i in items)
            errors = [i.error for i in items if i.error]
            cards = [c.id for c in win.ctx.cards]
            print(f"window: {len(items)} demo photos, {faces} faces, {len(errors)} unreadable; "
                  f"{len(cards)} models ({', '.join(cards)}); "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            outcome["rc"] = 0 if faces > 0 and not errors and "celeba-cnn-naive" in cards else 1
            app.quit()
        elif time.perf_counter() - t0 > TIMEOUT_S:
            print(f"window: not ready after {TIMEOUT_S:.0f} s ({len(items)} photos)", flush=True)
            app.quit()

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(200)
    win.show()
    app.exec()
    return outcome["rc"]


if __name__ == "__main__":
    sys.exit(main())
