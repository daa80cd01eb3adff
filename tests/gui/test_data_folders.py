"""The data-set folders of File ▸ Preferences (issue 14): remembered in QSettings, checked off
the GUI thread with a line on what was found, and the defaults of the Morph pane's Training tab
and the Verification pane."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from faceinspector.backend import datasets
from faceinspector.gui import settings
from faceinspector.gui.main_window import PreferencesDialog
from faceinspector.gui.workers import WorkerPool

from ..backend.test_datasets import _celeba, _lfw
from ..conftest import shared_data


def test_preferences_remember_the_data_folders(qapp_named):
    prefs = settings.Preferences("cpu", 640, "/data/CelebA", "/data/LFW")
    prefs.save()
    again = settings.Preferences.load()
    assert again == prefs and again.data_folder("lfw") == "/data/LFW"
    assert settings.Preferences("cpu", 640) == settings.Preferences("cpu", 640, "", "")
    assert not prefs.restart_needed(settings.Preferences("cpu", 640))  # folders: no restart
    assert prefs.restart_needed(settings.Preferences("auto", 640))
    settings.Preferences().save()


def test_empty_folders_fall_back_to_the_environment(monkeypatch, no_data_env):
    p = settings.Preferences()
    assert p.data_folder("celeba") == "" and p.data_folder("lfw") == ""
    monkeypatch.setenv("FACEINSPECTOR_DATA", "/somewhere")
    monkeypatch.setenv("FACEINSPECTOR_LFW", "/lfw-here")
    assert p.data_folder("celeba") == "/somewhere" and p.data_folder("lfw") == "/lfw-here"
    assert settings.Preferences(celeba_dir="/mine").data_folder("celeba") == "/mine"


def test_dialog_checks_the_folders_on_a_worker(qtbot, qapp_named, tmp_path, monkeypatch,
                                               no_data_env):
    celeba = _celeba(tmp_path / "CelebA")
    lfw = _lfw(tmp_path / "LFW", "lfw-deepfunneled")
    on_gui_thread = []
    real = datasets.summary

    def spy(name, path=None):
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        return real(name, path)

    monkeypatch.setattr(datasets, "summary", spy)
    pool = WorkerPool()
    try:
        dlg = PreferencesDialog(settings.Preferences(celeba_dir=str(celeba)), pool=pool)
        qtbot.addWidget(dlg)
        dlg.show()
        qtbot.waitUntil(lambda: dlg.celeba.checked and dlg.lfw.checked, timeout=10_000)
        assert dlg.celeba.ok and "CelebA as distributed" in dlg.celeba.status.text()
        assert "list_eval_partition.txt ✓" in dlg.celeba.status.text()
        assert dlg.lfw.ok is None and "Not set" in dlg.lfw.status.text()
        assert "pairs.txt" in dlg.lfw.status.text()
        dlg.lfw.edit.setText(str(lfw))
        qtbot.waitUntil(lambda: dlg.lfw.ok is True, timeout=10_000)
        assert dlg.lfw.ok and "pairs.txt ✓, people.txt ✓" in dlg.lfw.status.text()
        dlg.celeba.edit.setText(str(tmp_path))  # holds CelebA/ and LFW/: not a CelebA layout
        qtbot.waitUntil(lambda: dlg.celeba.checked == 2, timeout=10_000)
        assert dlg.celeba.ok is False
        assert "img_align_celeba/" in dlg.celeba.status.toolTip()  # the layouts expected
        assert "found:" in dlg.celeba.status.text() and "LFW/" in dlg.celeba.status.text()
        value = dlg.value()
        assert (value.celeba_dir, value.lfw_dir) == (str(tmp_path), str(lfw))
        assert on_gui_thread and not any(on_gui_thread)  # every check ran on the io lane
    finally:
        assert pool.shutdown()


def test_screenshot_of_the_dialog(qtbot, qapp_named, tmp_path, no_data_env):
    """The dialog renders with both folders and their lines (grabbed offscreen to PNG)."""
    celeba = _celeba(tmp_path / "CelebA")
    pool = WorkerPool()
    try:
        dlg = PreferencesDialog(settings.Preferences(celeba_dir=str(celeba)), pool=pool)
        qtbot.addWidget(dlg)
        dlg.show()
        qtbot.waitUntil(lambda: dlg.celeba.checked and dlg.lfw.checked, timeout=10_000)
        png = tmp_path / "preferences.png"
        assert dlg.grab().save(str(png))
        assert png.stat().st_size > 5_000
    finally:
        assert pool.shutdown()


def test_new_folders_reach_the_panes_without_restarting_the_backend(qtbot, make_window,
                                                                    tmp_path, monkeypatch):
    win = make_window([], models=())
    t, v = win.morph.training, win.verification
    t.set_data("celeba")
    restarts, changed = [], []
    monkeypatch.setattr(win.backend_slot, "submit", lambda *a, **k: restarts.append(a))
    win.ctx.prefsChanged.connect(changed.append)
    prefs = settings.Preferences(win.ctx.prefs.device, win.ctx.prefs.detect_max_side,
                                 str(tmp_path / "CelebA"), str(tmp_path / "LFW"))
    win.apply_preferences(prefs)
    assert restarts == [] and changed == [prefs]  # the panes hear of it; no new backend
    assert t.source.text() == str(tmp_path / "CelebA") and t.config()["celeba"] == t.source.text()
    assert v.lfw_folder() == str(tmp_path / "LFW")
    settings.Preferences().save()


def test_training_tab_trains_on_full_size_celeba_from_preferences(qtbot, make_window, tmp_path,
                                                                  monkeypatch, no_data_env):
    """A CelebA run uses the folder of Preferences, in the distributed 178×218 layout; with
    none chosen, the tab says where to choose one."""
    from faceinspector.backend import vae

    monkeypatch.setattr(vae.data, "data_cache_dir", lambda: tmp_path / "chip-cache")
    win = make_window([], models=())
    t = win.morph.training
    t.set_data("celeba", "")
    assert not t.start(confirm=False)
    assert "Preferences" in t.status.full
    celeba = _celeba(tmp_path / "CelebA", n=16)
    win.apply_preferences(settings.Preferences(win.ctx.prefs.device,
                                               win.ctx.prefs.detect_max_side, str(celeba)))
    t.set_data("celeba")
    assert t.source.text() == str(celeba)
    t.epochs.setValue(1)
    t.batch.setValue(8)
    t.limit.setValue(16)
    t.device.setCurrentIndex(t.device.findData("cpu"))
    t.output.setText(str(tmp_path / "run" / "v.safetensors"))
    assert t.start(confirm=False)
    qtbot.waitUntil(lambda: t.finished_run is not None and not t.busy, timeout=60_000)
    assert not t.finished_run.cancelled and (tmp_path / "run" / "v.safetensors").is_file()
    settings.Preferences().save()


def test_verification_runs_lfw_from_preferences(qtbot, make_window, tmp_path):
    """The LFW button: the protocol on pairs.txt of the LFW folder of Preferences (here a
    2-fold, 8-pair slice of the development copy, images beside it as lfw-deepfunneled/)."""
    src = shared_data("lfw", "pairs.txt")
    lines = src.read_text().splitlines()
    lfw = tmp_path / "LFW"
    lfw.mkdir()
    (lfw / "lfw-deepfunneled").symlink_to(src.parent / "lfw-deepfunneled")
    pick = [lines[i] for i in (1, 2, 301, 302, 601, 602, 901, 902)]
    (lfw / "pairs.txt").write_text("2\t2\n" + "\n".join(pick) + "\n")
    win = make_window([], models=())
    v = win.verification
    win.apply_preferences(settings.Preferences(win.ctx.prefs.device,
                                               win.ctx.prefs.detect_max_side, "", str(lfw)))
    v.lfw_button.click()
    qtbot.waitUntil(lambda: v.result is not None and not v.busy, timeout=120_000)
    r = v.result
    assert r.kind == "pairs" and r.source == lfw / "pairs.txt"
    assert Path(r.root) == lfw / "lfw-deepfunneled" and r.report.n_pairs == 8
    assert np.isfinite(r.report.accuracy)
    settings.Preferences().save()


@pytest.mark.parametrize("folder", ["", "nowhere"])
def test_verification_lfw_without_a_usable_folder(qtbot, make_window, tmp_path, folder,
                                                  no_data_env):
    win = make_window([], models=())
    v = win.verification
    v.load_lfw(str(tmp_path / folder) if folder else None)
    if not folder:
        assert "Preferences" in v.summary.text()
        return
    errors = []
    v.worker.error.connect(errors.append)
    qtbot.waitUntil(lambda: bool(errors) and not v.busy, timeout=30_000)
    assert "LFW not found" in errors[0] and "lfw-deepfunneled/" in errors[0]


def test_closing_the_dialog_mid_check_drops_the_check(qtbot, qapp_named, tmp_path):
    pool = WorkerPool()
    try:
        dlg = PreferencesDialog(settings.Preferences(celeba_dir=str(tmp_path)), pool=pool)
        qtbot.addWidget(dlg)
        dlg.show()
        dlg.reject()  # while the first check may still be running
        assert not dlg.celeba.slot.busy and not dlg.lfw.slot.busy
        qtbot.wait(200)
    finally:
        assert pool.shutdown()
