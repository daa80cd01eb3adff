"""Cold start: the window is shown before torch is imported; missing packs give a message."""

from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtWidgets import QApplication, QMessageBox

def test_window_is_shown_without_importing_torch(tmp_path):
    """The real entry point, in a fresh process: first paint, then quit."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path),
               FACEINSPECTOR_QUIT_AFTER_PAINT="1")
    out = subprocess.run([sys.executable, "-m", "faceinspector", str(tmp_path / "none.jpg")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "torch=False" in out.stdout, out.stdout
    assert "Traceback" not in out.stderr


def test_missing_model_packs_say_how_to_fetch(qtbot, qapp_named, monkeypatch, tmp_path):
    from faceinspector.gui.main_window import MainWindow

    monkeypatch.setenv("FACEINSPECTOR_CACHE", str(tmp_path / "empty-cache"))
    win = MainWindow(paths=None, restore_layout=False)  # demo photos: also missing
    qtbot.addWidget(win)
    win.show()
    win.start_backend()
    qtbot.waitUntil(lambda: win.problem_box is not None, timeout=60_000)
    box = win.problem_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert "faceinspector models fetch" in box.text()
    assert "Traceback" not in box.detailedText()
    assert win.photos.model.rowCount() == 0
    greyed = [c for c in win.predictions.cards.values() if not c.isEnabled()]
    assert greyed and any("faceinspector models fetch" in c.toolTip() for c in greyed)
    box.close()
    QApplication.processEvents()
