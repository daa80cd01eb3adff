"""The Probe pane in the real main window (offscreen), on the real backend and a demo photo."""

from __future__ import annotations

import csv
import time

import numpy as np
from PySide6.QtCore import QEventLoop

from faceinspector.gui import convert

PARAMS = ("dx", "dy", "angle", "scale")


def open_probe(qtbot, win, models=("dlib-gender",)):
    """Raise the Probe dock, check ``models`` and wait for the first live result."""
    win.docks["probe"].raise_()
    probe = win.probe
    probe.set_models(models)
    qtbot.waitUntil(lambda: probe.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: probe.ref is not None and probe.live is not None
                    and probe.live.transform == probe.transform(), timeout=90_000)
    return probe


def wait_analysis(qtbot, probe, timeout=90_000):
    qtbot.waitUntil(lambda: not probe.busy and probe.heat is not None
                    and probe.canvas is not None and bool(probe._markers), timeout=timeout)
    qtbot.waitUntil(lambda: probe.canvas.full_draws > 0, timeout=30_000)


def process_events() -> None:
    """Not process_events(): in PySide6 6.12 that static call drops a reference to
    None each time (Python aborts after a few thousand calls)."""
    QEventLoop().processEvents()


def shown(view) -> np.ndarray:
    return convert.to_ndarray(view.rendered.toImage())


def test_slider_changes_crop_and_predictions(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=())
    probe = open_probe(qtbot, win)
    before_moved, before_orig = shown(probe.moved_view), shown(probe.original_view)
    np.testing.assert_array_equal(before_moved, before_orig)  # untransformed: the same crop
    text, probs = probe.live_label.text(), probe.live.probs["dlib-gender"].copy()
    assert "dlib-gender" in text and "female" in text

    dx = probe.controls["dx"]
    dx.slider.setValue(-12)
    assert dx.spin.value() == -12.0  # slider -> box
    qtbot.waitUntil(lambda: probe.live.transform[0] == -12.0, timeout=30_000)
    after = shown(probe.moved_view)
    assert after.shape == before_moved.shape
    assert np.abs(after.astype(int) - before_moved.astype(int)).mean() > 3  # content moved
    np.testing.assert_array_equal(shown(probe.original_view), before_orig)
    assert not np.allclose(probe.live.probs["dlib-gender"], probs)
    assert probe.live_label.text() != text
    assert "dx -12" in probe.live_label.text() and "shown ×" in probe.crop_caption.text()

    probe.controls["angle"].spin.setValue(-20.0)  # box -> slider
    assert probe.controls["angle"].slider.value() == -20
    qtbot.waitUntil(lambda: probe.live.transform == (-12.0, 0.0, -20.0, 1.0), timeout=30_000)
    probe.controls["scale"].slider.setValue(125)
    qtbot.waitUntil(lambda: probe.live.transform == (-12.0, 0.0, -20.0, 1.25), timeout=30_000)
    assert np.abs(shown(probe.moved_view).astype(int) - after.astype(int)).mean() > 3

    # the face goes away: the pane clears and stays quiet
    win.photos.select_face(-1)
    assert probe.ref is None and probe.live is None and not probe.sweeps
    assert probe.moved_view.rendered is None and "Select a face" in probe.moved_view.text


def test_exported_csv_matches_the_plotted_lines(qtbot, make_window, one_photo, tmp_path):
    win = make_window([one_photo], models=())
    # a second model with another chip (size and template): one curve per model and class
    card = win.ctx.card("celeba-cnn-naive")
    other = "celeba-cnn-naive" if card is not None and card.available else "faceapi-agegender"
    probe = open_probe(qtbot, win, models=("dlib-gender", other))
    wait_analysis(qtbot, probe)
    assert set(probe.metrics) == {"dlib-gender", other}
    for m in probe.metrics.values():
        assert 0 <= m.consistency <= 1 and 0 <= m.p_top1_change <= 1 and m.ekld >= 0
    assert "consistency" in probe.metrics_label.text()

    n = probe.export_csv(tmp_path / "probe.csv")
    rows = list(csv.DictReader(open(tmp_path / "probe.csv", encoding="utf-8")))
    assert n == len(rows) > 0
    table: dict = {}
    for r in rows:
        if r["section"] == "sweep":
            key = (r["parameter"], f"{r['model']}: {r['class']}")
            table.setdefault(key, []).append((float(r["value"]), float(r["probability"])))

    fig = probe.canvas.figure
    overlay = set(map(id, probe.canvas.overlay))
    plotted = {}
    for ax, name in zip(fig.axes[:4], PARAMS):
        for line in ax.get_lines():
            if id(line) in overlay:
                continue
            plotted[(name, line.get_label())] = np.column_stack(
                [np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)])
    assert set(plotted) == set(table)
    assert {k[1].split(":")[0] for k in plotted} == {"dlib-gender", other}
    for key, xy in plotted.items():  # the CSV rounds to 6 significant digits
        np.testing.assert_allclose(np.array(table[key]), xy, rtol=1e-5, atol=1e-6,
                                   err_msg=str(key))
    # every row says what it is: photo, face, template, border, slider state
    assert {r["photo"] for r in rows} == {one_photo.name}
    assert {r["face"] for r in rows} == {str(probe.ref.index + 1)}
    assert {r["template"] for r in rows} == {"each model's own"}
    assert {r["slider_dx"] for r in rows} == {"0"} and {r["slider_scale"] for r in rows} == {"1"}
    # the invariance metrics of both models, and a heat map of every model
    metric_rows = {(r["model"], r["parameter"]) for r in rows if r["section"] == "metrics"}
    assert {("dlib-gender", "consistency"), (other, "ekld")} <= metric_rows
    assert {r["model"] for r in rows if r["section"] == "heatmap"} == {"dlib-gender", other}

    # the heat map: the image shown == the grid in the CSV, flips included
    heat_rows = [r for r in rows if r["section"] == "heatmap" and r["model"] == "dlib-gender"]
    image = [im for ax in fig.axes for im in ax.get_images()][0]
    shown_grid = np.asarray(image.get_array(), float)
    k = shown_grid.shape[0]
    assert len(heat_rows) == k * k == 21 * 21
    grid = np.array([float(r["probability"]) for r in heat_rows]).reshape(k, k)
    np.testing.assert_allclose(grid, shown_grid, rtol=1e-5, atol=1e-6)
    flips = np.array([int(r["top1_flipped"]) for r in heat_rows]).reshape(k, k)
    np.testing.assert_array_equal(flips.astype(bool), probe.heat_flips)
    offsets = np.array([float(r["dx"]) for r in heat_rows[:k]])
    np.testing.assert_allclose(offsets, np.linspace(-16, 16, 21))

    png = probe.export_png(tmp_path / "probe.png")
    assert png and (tmp_path / "probe.png").stat().st_size > 20_000
    from faceinspector.gui.panes.probe.parts import caption

    line = caption(probe.export_context(), probe.model_ids)  # written under the figure
    assert line.startswith(f"{one_photo.name}, face {probe.ref.index + 1} · template each "
                           "model's own · border reflect · models dlib-gender, ")
    assert "sliders dx +0, dy +0, +0°, ×1.00" in line

    # markers follow the sliders without recomputing or fully redrawing anything
    qtbot.waitUntil(lambda: probe.canvas.settled, timeout=30_000)  # redrawn after the export
    qtbot.wait(50)
    sweeps, draws = dict(probe.sweeps), probe.canvas.full_draws
    probe.controls["dy"].slider.setValue(-4)
    qtbot.waitUntil(lambda: probe.live.transform[1] == -4.0, timeout=30_000)
    assert list(probe._markers["dy"].get_xdata()) == [-4.0, -4.0]
    assert list(probe._markers["heat"].get_ydata()) == [-4.0]
    assert probe.sweeps == sweeps and not probe.analysis_slot.busy
    assert probe.canvas.full_draws == draws


def test_stale_live_results_are_dropped(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=())
    probe = open_probe(qtbot, win)
    wait_analysis(qtbot, probe)
    drawn = []
    probe.liveShown.connect(lambda v: drawn.append((v.transform, probe.transform())))

    # 1. the lane is busy while the slider moves 15 times: the moves coalesce to the last one
    win.pool.submit(time.sleep, 0.6, lane="compute")
    dx = probe.controls["dx"]
    for v in range(1, 16):
        dx.slider.setValue(v)
        process_events()
    qtbot.waitUntil(lambda: not probe.live_slot.busy, timeout=30_000)
    qtbot.wait(100)
    assert len(drawn) == 1 and drawn[0][0][0] == 15.0

    # 2. fast moves while jobs run: never a result for a value the slider has left
    drawn.clear()
    dy = probe.controls["dy"]
    for i in range(40):
        dy.slider.setValue(i % 17 - 8)
        qtbot.wait(2)
    qtbot.waitUntil(lambda: not probe.live_slot.busy, timeout=30_000)
    qtbot.wait(100)
    assert drawn, "nothing was drawn"
    assert all(shown_value == current for shown_value, current in drawn)
    assert drawn[-1][0] == probe.transform() == (15.0, float(39 % 17 - 8), 0.0, 1.0)
    assert len(drawn) < 40
    assert probe.live.transform == probe.transform()


def test_no_face_selected(qtbot, make_window, tmp_path):
    win = make_window([], models=())
    win.docks["probe"].raise_()
    probe = win.probe
    qtbot.waitUntil(lambda: probe.isVisible(), timeout=10_000)
    process_events()
    assert probe.ref is None
    assert "Select a face" in probe.original_view.text and probe.moved_view.rendered is None
    for name, v in (("dx", 5), ("angle", 30), ("scale", 80)):
        probe.controls[name].slider.setValue(v)
    qtbot.wait(50)
    assert not probe.live_slot.busy and not probe.analysis_slot.busy and probe.live is None
    assert not probe.png_button.isEnabled() and not probe.csv_button.isEnabled()
    assert probe.export_png(tmp_path / "x.png") is None
    assert probe.export_csv(tmp_path / "x.csv") == 0
    probe.reset_transform()
    assert probe.transform() == (0.0, 0.0, 0.0, 1.0)
    probe.set_models([])  # nothing checked either: still quiet
    assert probe.ref_model is None and not probe.live_slot.busy
