"""GUI fixtures: real widgets (offscreen), the real backend shared by all tests, and
QSettings redirected to a temporary folder."""

from __future__ import annotations

import os
import shutil
import time

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _isolated_settings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture
def qapp_named(qapp):
    from faceinspector.gui import settings

    qapp.setOrganizationName(settings.ORGANIZATION + "-tests")
    qapp.setApplicationName(settings.APPLICATION + "-tests")
    return qapp


@pytest.fixture
def ctx(qapp):
    """A bare app context (its own worker pool, no backend) for a pane tested alone."""
    from faceinspector.gui.context import AppContext
    from faceinspector.gui.workers import WorkerPool

    pool = WorkerPool()
    yield AppContext(pool)
    pool.shutdown()


@pytest.fixture
def make_window(qtbot, qapp_named, backend):
    """``make_window(paths)``: a shown MainWindow on the shared backend, backend ready."""
    from faceinspector.gui.main_window import MainWindow

    def make(paths=(), wait_ready: bool = True, models=None, **kwargs):
        """``models``: the model ids switched on (None: all; () keeps tests fast)."""
        kwargs.setdefault("backend", backend)
        win = MainWindow(paths=list(paths), restore_layout=False, **kwargs)
        if models is not None:
            win.predictions.set_enabled_models(models)
        qtbot.addWidget(win)
        win.show()
        win.start_backend()
        if wait_ready:
            qtbot.waitUntil(lambda: win.ctx.info is not None, timeout=60_000)
        return win

    return make


@pytest.fixture
def one_photo(demo_paths, tmp_path):
    """sample1.jpg copied into tmp_path (3 faces in the demo set)."""
    dst = tmp_path / "sample1.jpg"
    shutil.copy(demo_paths[0], dst)
    return dst


def wait_face_shown(qtbot, win, timeout=90_000):
    """Until the crops and every enabled model's predictions are on screen."""
    qtbot.waitUntil(lambda: win.crops.pair is not None, timeout=timeout)
    qtbot.waitUntil(
        lambda: set(win.predictions.enabled_models) <= set(win.predictions.results)
        and not win.predictions.slot.busy,
        timeout=timeout,
    )


def unique_copies(sources, folder, n):
    """``n`` photos with distinct bytes (so no detection is served from the cache)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        dst = folder / f"copy{i:03d}_{src.name}"
        dst.write_bytes(src.read_bytes() + f"copy {i} {time.time()}".encode())
        out.append(dst)
    return out
