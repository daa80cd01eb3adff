"""Issue 15 #1: closing is quick and clean whatever a lane is doing -- a model forward longer
than the shutdown budget, a gallery read that never returns (a FIFO) -- and never aborts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


class SlowNet(torch.nn.Module):
    """A user model whose forward blocks for ``seconds`` (cannot be interrupted)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def forward(self, x):
        time.sleep(self.seconds)
        return x.mean(dim=(2, 3))


def test_close_during_a_forward_longer_than_the_budget(qtbot, make_window):
    win = make_window(models=())
    started = threading.Event()

    def forward():
        started.set()
        with torch.inference_mode():
            return SlowNet(4.0)(torch.zeros(1, 3, 8, 8))

    win.pool.submit(forward, lane="compute")
    assert started.wait(10)
    win.shutdown_budget_s = 1.0
    t0 = time.perf_counter()
    win.close()
    took = time.perf_counter() - t0
    assert not win.isVisible()
    assert took < 2.5, f"closing waited {took:.1f} s for a step that cannot stop"
    from faceinspector.gui.workers import abandoned_lanes

    assert win.pool.closed and abandoned_lanes() == ["faceinspector-compute"]
    qtbot.waitUntil(lambda: not abandoned_lanes(), timeout=15_000)  # it ends on its own


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_app_exits_cleanly_with_a_gallery_read_that_never_returns(tmp_path):
    fifo = tmp_path / "gallery.json"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes: never
    script = textwrap.dedent("""
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from faceinspector.gui import app as gui_app, settings
        from faceinspector.gui.main_window import MainWindow

        app = QApplication([sys.argv[0]])
        app.setOrganizationName(settings.ORGANIZATION + "-tests")
        app.setApplicationName(settings.APPLICATION + "-tests")
        win = MainWindow([], restore_layout=False)
        app.aboutToQuit.connect(win.shutdown)
        win.show()
        QTimer.singleShot(200, lambda: win.gallery.load(sys.argv[1]))
        QTimer.singleShot(1500, win.close)
        sys.exit(gui_app.run(app, win))
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FACEINSPECTOR_SHUTDOWN_S": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", script, str(fifo)], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the app did not exit: it waits for a read that never returns")
    took = time.perf_counter() - t0
    assert "QThread: Destroyed while thread" not in proc.stderr
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    left = next(ln for ln in proc.stderr.splitlines() if "running at exit" in ln)
    assert "faceinspector-io" in left  # the FIFO read: abandoned, not waited for
    assert took < 40
