"""The Evaluate pane, driven like a user: drop a labelled set, tick a model and crops, run, read
the scores and the slice gap, open a mistake in the Photos pane, export, and cancel."""

from __future__ import annotations

import numpy as np

from ..backend.test_classify import GroupModel, make_set
from ..conftest import shared_data


def test_a_group_gap_in_the_pane(qtbot, make_window, backend, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEINSPECTOR_FACESTORE", str(tmp_path / "faces.sqlite"))
    rng = np.random.default_rng(2)
    csv = make_set(tmp_path / "set", rng.choice(["no", "yes"], 160).tolist(),
                   ["A"] * 80 + ["B"] * 80)
    backend.add_model(GroupModel())
    win = make_window([], models=())
    pane = win.evaluate
    win.docks["evaluate"].raise_()
    assert not pane.run_button.isEnabled()  # nothing chosen yet
    pane.set_sources(csv, models=["test:group"], crops=["as given"], slices=[], invariance=0)
    qtbot.waitUntil(pane.run_button.isEnabled, timeout=60_000)  # the model list has come
    pane.run()
    qtbot.waitUntil(lambda: pane.evaluation is not None and not pane.busy, timeout=120_000)
    res = pane.results
    assert res.scores.rowCount() == 1 and res.scores.item(0, 0).text() == "as given"
    assert "test:group" in pane.summary.text() and "by group" in pane.summary.text()
    res.slice_combo.setCurrentIndex(res.slice_combo.findData("group"))
    assert res.slice_table.rowCount() == 2
    assert "excludes zero" in res.slice_note.text()
    qtbot.waitUntil(lambda: res.strips["confident"].count() > 0, timeout=30_000)


def test_lfw_in_the_pane_opens_a_mistake(qtbot, make_window, tmp_path, monkeypatch):
    lfw = shared_data("lfw", "male_names.txt").parent
    monkeypatch.setenv("FACEINSPECTOR_FACESTORE", str(tmp_path / "faces.sqlite"))
    win = make_window([], models=())
    pane = win.evaluate
    win.docks["evaluate"].raise_()
    pane.set_sources(lfw, models=["celeba-cnn-naive"], crops=["as given", "own"],
                     slices=["skin tone (ITA)"], limit=40, balanced=True, invariance=2)
    qtbot.waitUntil(pane.run_button.isEnabled, timeout=60_000)
    pane.run()
    qtbot.waitUntil(lambda: pane.evaluation is not None and not pane.busy, timeout=240_000)
    res = pane.results
    assert [res.scores.item(i, 0).text() for i in range(2)] == ["as given", "celeba"]
    assert res.crop == "celeba"
    assert res.classes.rowCount() == 2 and res.inv_table.rowCount() == 2
    assert res.slice_combo.findData("skin tone (ITA)") >= 0
    strip = res.strips["fixed"]
    qtbot.waitUntil(lambda: strip.count() > 0, timeout=60_000)
    path, face = strip.item(0).data(0x0100)
    strip.openFace.emit(path, face)
    qtbot.waitUntil(lambda: win.crops.ref is not None and str(win.crops.ref.path) == path,
                    timeout=60_000)
    out = tmp_path / "export"
    out.mkdir()
    pane.export(out)
    qtbot.waitUntil(lambda: (out / "summary.json").exists() and (out / "report.html").exists(),
                    timeout=120_000)


def test_wrong_labels_then_cancel(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEINSPECTOR_FACESTORE", "off")
    wrong = make_set(tmp_path / "wrong", ["no", "yes"] * 5, ["A"] * 10)
    csv = make_set(tmp_path / "set", ["female", "male"] * 300, ["A"] * 600)
    win = make_window([], models=())
    pane = win.evaluate
    pane.set_sources(wrong, models=["celeba-cnn-naive"], crops=["raw", "own"], slices=[],
                     invariance=0)
    qtbot.waitUntil(pane.run_button.isEnabled, timeout=60_000)
    pane.run()  # the model's classes are not the labels: said at once, before any image
    qtbot.waitUntil(lambda: "none of the labels" in pane.summary.text(), timeout=60_000)
    pane.set_sources(csv, models=["celeba-cnn-naive"], crops=["raw", "own"], slices=[],
                     invariance=0)
    pane.run()
    qtbot.waitUntil(lambda: pane.progress.value() > 0, timeout=60_000)
    pane.cancel()
    assert not pane.busy and pane.evaluation is None and "Cancelled" in pane.summary.text()
