"""Issue 18, start-up: the first face is drawn before torch loads, the models follow; a fresh
Linux without Qt's X11 libraries gets the apt-get line instead of Qt's abort."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from faceinspector.gui import app


def test_first_face_is_drawn_before_torch_is_imported(tmp_path, demo_paths):
    from faceinspector.backend import detect

    detect.onnx_files()  # `models fetch` makes them; the first run of the app otherwise
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path),
               FACEINSPECTOR_QUIT_AFTER_FACE="1")
    out = subprocess.run([sys.executable, "-m", "faceinspector", str(demo_paths[0])], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = {ln.split()[0]: ln.split() for ln in out.stdout.splitlines() if ln.strip()}
    assert lines["first-paint"][2] == "torch=False"
    assert lines["first-face"][2] == "torch=False", out.stdout
    assert float(lines["first-face"][1]) >= float(lines["first-paint"][1])


def test_models_load_after_the_first_face(qtbot, qapp_named, tmp_path, demo_paths):
    from faceinspector.gui.main_window import MainWindow

    win = MainWindow(paths=[demo_paths[0]], restore_layout=False)
    qtbot.addWidget(win)
    faces = []
    win.photos.faceSelected.connect(lambda ref: faces.append(ref))
    win.show()
    win.start_backend()
    qtbot.waitUntil(lambda: win.ctx.info is not None, timeout=60_000)
    assert win.ctx.info.models_pending  # the detector first, nothing else
    qtbot.waitUntil(lambda: any(f is not None for f in faces), timeout=60_000)
    ref = next(f for f in faces if f is not None)
    item = win.photos.model.items[0]
    assert ref.index == item.main_face  # the largest, most central face
    qtbot.waitUntil(lambda: len(win.ctx.cards) > 0, timeout=120_000)
    assert "of" in win.models_label.text() and "available" in win.models_label.text()
    assert win.predictions.cards  # the cards arrived after the face
    win.close()


def test_missing_x11_libraries_give_the_apt_line(monkeypatch, capsys):
    def load(soname):
        if "cursor" in soname or "icccm" in soname:
            raise OSError(f"{soname}: cannot open shared object file")

    env = {"DISPLAY": ":0"}
    missing = app.missing_platform_libraries(env, load)
    if not sys.platform.startswith("linux"):
        assert missing == []
        return
    assert [p for _, p in missing] == ["libxcb-cursor0", "libxcb-icccm4"]
    assert app.missing_platform_libraries({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"},
                                          load) == []
    assert app.missing_platform_libraries({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"},
                                          load) == []
    assert app.missing_platform_libraries({"QT_QPA_PLATFORM": "xcb"}, load) == missing
    monkeypatch.setattr(app, "missing_platform_libraries", lambda: missing)
    assert app.main([]) == 1
    err = capsys.readouterr().err
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in err
    assert app.APT_LINE in err and "Traceback" not in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin is Linux's")
def test_the_apt_line_covers_what_the_plugin_links():
    """Every library PySide6's xcb plugin links and the system may lack is in the list."""
    from pathlib import Path

    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.exists():
        pytest.skip("no xcb plugin in this PySide6")
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("ldd is not available")
    known = {s for s, _ in app.XCB_LIBRARIES}
    for line in out.stdout.splitlines():
        if "not found" in line:
            assert line.split()[0] in known, line
