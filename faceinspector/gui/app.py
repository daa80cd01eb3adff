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
first paint and quits; ``FACEINSPECTOR_QUIT_AFTER_FACE=1`` prints that line, then ``first-face
<unix time> torch=<imported?>`` when the photo view first paints a photo with its faces, and
quits (both used by ``benchmarks/gui_startup.py``).

On Linux, Qt's xcb platform plugin needs a few X11 libraries that a fresh system may lack
(Qt then aborts); :func:`missing_platform_libraries` checks for them first and the app prints
the one ``apt-get install`` line that adds them instead (issue 18).
"""

from __future__ import annotations

import os
import sys
import time


#: what Qt's xcb platform plugin loads that is not bundled with PySide6: (soname, Debian
#: package); libxcb-cursor is opened at run time, the others are linked
XCB_LIBRARIES = (
    ("libxcb-cursor.so.0", "libxcb-cursor0"), ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"), ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"), ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-shape.so.0", "libxcb-shape0"), ("libxcb-xfixes.so.0", "libxcb-xfixes0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"), ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxkbcommon.so.0", "libxkbcommon0"), ("libEGL.so.1", "libegl1"),
    ("libfontconfig.so.1", "libfontconfig1"), ("libdbus-1.so.3", "libdbus-1-3"),
)
APT_LINE = "sudo apt-get install " + " ".join(pkg for _, pkg in XCB_LIBRARIES)


def _uses_xcb(env) -> bool:
    platform = env.get("QT_QPA_PLATFORM", "").strip()
    if platform:
        return platform.startswith("xcb")
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def missing_platform_libraries(env=None, load=None) -> list[tuple[str, str]]:
    """The (soname, Debian package) of the xcb plugin's libraries that cannot be loaded here;
    empty when Qt will not use xcb (offscreen, Wayland, not Linux) or nothing is missing.
    ``load(soname)`` raises OSError for a missing library (default: ``ctypes.CDLL``)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux") or not _uses_xcb(env):
        return []
    if load is None:
        import ctypes

        load = ctypes.CDLL
    missing = []
    for soname, package in XCB_LIBRARIES:
        try:
            load(soname)
        except OSError:
            missing.append((soname, package))
    return missing


def platform_message(missing) -> str:
    names = ", ".join(soname for soname, _ in missing)
    return (f"faceinspector: the window cannot open: Qt's X11 (xcb) platform plugin needs "
            f"{names}, which this system lacks. Install them with\n\n    "
            f"sudo apt-get install {' '.join(pkg for _, pkg in missing)}\n\n(all the system "
            f"packages the window needs: {APT_LINE}). The command line (faceinspector --help) "
            "works without them.")


def _startup_probe(window, app, after_face: bool = False) -> None:
    def report(_t: float) -> None:
        print(f"first-paint {time.time():.6f} torch={'torch' in sys.modules}", flush=True)
        if not after_face:
            app.quit()

    from PySide6.QtCore import QEvent, QObject

    class FirstFace(QObject):
        """Stamps the first paint of the photo view that shows faces (the face drawn)."""

        done = False

        def eventFilter(self, obj, event) -> bool:
            if (event.type() == QEvent.Type.Paint and not self.done
                    and window.photos.view.faces):
                self.done = True
                print(f"first-face {time.time():.6f} torch={'torch' in sys.modules}",
                      flush=True)
                app.quit()
            return False

    window.firstPainted.connect(report)
    if after_face:
        window._first_face_probe = FirstFace(window)
        window.photos.view.viewport().installEventFilter(window._first_face_probe)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    missing = missing_platform_libraries()
    if missing:  # Qt would abort (SIGABRT) with a message about plugins
        print(platform_message(missing), file=sys.stderr)
        return 1
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
    if os.environ.get("FACEINSPECTOR_QUIT_AFTER_PAINT") or \
            os.environ.get("FACEINSPECTOR_QUIT_AFTER_FACE"):
        _startup_probe(window, app, bool(os.environ.get("FACEINSPECTOR_QUIT_AFTER_FACE")))
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
