"""Morph pane in the real window, offscreen, on the real backend, the demo photos and the
shipped VAE checkpoint: morph two faces, scrub, traverse, export, and train a tiny model.

``FACEINSPECTOR_SCREENSHOTS=docs/screenshots`` also saves ``morph.png`` (the window at
1400×900, Morph dock raised, a strip shown) and ``morph_training.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QApplication

from faceinspector.gui.panes.morph.pane import DEFAULT_CHECKPOINT

pytestmark = pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(),
                                reason=f"no shipped VAE at {DEFAULT_CHECKPOINT}")


def screenshot(win, name: str, qtbot=None) -> None:
    """The window at 1400×900 to ``$FACEINSPECTOR_SCREENSHOTS/name`` (when set).

    Docks that need more height than Morph (they would stretch the window past 900 px) are
    closed for the picture, as a user would, and listed on stdout."""
    folder = os.environ.get("FACEINSPECTOR_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    closed = [n for n, d in win.docks.items()
              if n != "morph" and d.isVisible() and d.minimumSizeHint().height()
              > win.docks["morph"].minimumSizeHint().height() + 40]
    for n in closed:
        win.docks[n].close()
    win.docks["morph"].raise_()
    for _ in range(2):  # the smaller minimum applies once the layout has been redone
        QApplication.processEvents()
        win.layout().activate()
        win.resize(1400, 900)
        if qtbot is not None:
            qtbot.wait(150)
    win.grab().save(str(Path(folder) / name))
    print(f"{name}: {win.width()}x{win.height()}, closed for the picture: {closed}")
    for n in closed:
        win.docks[n].show()
    win.docks["morph"].raise_()


def frames_shown(strip) -> int:
    """Frames in a FrameStrip, checking each has a real pixmap."""
    assert all(not p.isNull() and p.width() == 64 for p in strip.pixmaps)
    return strip.count()


def test_morph_scrub_traverse_export(qtbot, make_window, one_photo, tmp_path):
    win = make_window([one_photo], models=())
    win.resize(1400, 900)
    m = win.morph
    win.docks["morph"].raise_()
    photos = win.photos
    qtbot.waitUntil(lambda: photos.model.rowCount() == 1 and not photos.busy, timeout=90_000)
    qtbot.waitUntil(lambda: m.ref is not None, timeout=20_000)  # the largest face first
    photos.select_face(0)
    qtbot.waitUntil(lambda: m.ref is not None and m.ref.index == 0, timeout=20_000)
    assert m.boxes["A"].button.isEnabled()

    # A = face 1, B = face 2 of sample1.jpg, with the buttons
    m.boxes["A"].button.click()
    photos.select_face(1)
    qtbot.waitUntil(lambda: m.ref is not None and m.ref.index == 1, timeout=10_000)
    m.boxes["B"].button.click()
    qtbot.waitUntil(lambda: m.strips["morph"] is not None, timeout=60_000)
    a, b = m.faces["A"], m.faces["B"]
    assert a.label.endswith("#1") and b.label.endswith("#2")
    assert a.chip.shape == b.chip.shape == (64, 64, 3) and a.chip.dtype == np.uint8
    for key in "AB":  # the chips and the reconstructions are on screen
        box = m.boxes[key]
        assert box.original.pixmap() is not None and not box.original.pixmap().isNull()
        assert box.recon.pixmap() is not None and not box.recon.pixmap().isNull()
    strip = m.strips["morph"]
    assert frames_shown(m.morph_strip) == m.steps.value() == 9 == len(strip.frames)
    # the strip's ends are the two reconstructions (decoded in another batch: the convolutions
    # may round a pixel one level apart); the middle is neither face
    for end, face in ((strip.frames[0], a.recon), (strip.frames[-1], b.recon)):
        assert np.abs(end.astype(int) - face.astype(int)).max() <= 1
    assert np.abs(strip.frames[4].astype(int) - a.recon).mean() > 2
    # the reconstruction looks like its face: closer to its own chip than to the other one
    err = lambda x, y: np.abs(x.astype(int) - y.astype(int)).mean()  # noqa: E731
    assert err(a.recon, a.chip) < err(a.recon, b.chip)

    # scrubbing moves the large view through the frames
    assert m.active == "morph" and m.slider.maximum() == 8
    shown = m.view.grab().toImage()
    m.slider.setValue(4)
    assert np.array_equal(m.view.frame, strip.frames[4]) and m.morph_strip.current == 4
    assert m.view.grab().toImage() != shown
    assert m.view_title.text().startswith("<b>frame 5/9</b> · t = 0.50")
    m.slider.setValue(8)
    assert np.array_equal(m.view.frame, strip.frames[-1])

    # spherical with 5 frames: a new strip replaces the old one (latest wins)
    m.mode.setCurrentIndex(m.mode.findData("slerp"))
    m.steps.setValue(5)
    qtbot.waitUntil(lambda: m.strips["morph"] is not strip
                    and len(m.strips["morph"].frames) == 5 and not m.busy, timeout=30_000)
    assert "slerp" in m.strips["morph"].title and frames_shown(m.morph_strip) == 5
    assert m.slider.maximum() == 4

    # traversal: dimensions ranked by activity, the most active first; A's code along it
    qtbot.waitUntil(lambda: m.strips["traverse"] is not None and m.info is not None,
                    timeout=30_000)
    info = m.info
    assert m.dim.count() == info.latent_dim == 2048 and info.grid == 16  # the shipped model
    assert m.dim.itemText(0).startswith(info.dim_label(int(info.order[0])) + " · #1 · σ ")
    assert info.dim_label(256 + 17) == "z273 (channel 1, x 1, y 1)"
    assert info.std[info.order[0]] >= info.std[info.order[-1]]
    assert m.dim.currentData() == int(info.order[0])
    trav = m.strips["traverse"]
    assert frames_shown(m.trav_strip) == m.trav_steps.value() == len(trav.frames)
    assert np.allclose(trav.values, m.traversal_values())
    # the most active dimension changes the face, near its cell of the 16x16 latent map
    diff = np.abs(trav.frames[0].astype(int) - trav.frames[-1].astype(int)).sum(2)
    assert diff.max() > 60
    cell = int(info.order[0]) % 256
    ys, xs = np.nonzero(diff > diff.max() / 2)
    assert abs(xs.mean() - (4 * (cell % 16) + 1.5)) < 8
    assert abs(ys.mean() - (4 * (cell // 16) + 1.5)) < 8
    m.dim.setCurrentIndex(3)
    m.trav_steps.setValue(7)
    qtbot.waitUntil(lambda: m.strips["traverse"] is not trav
                    and len(m.strips["traverse"].frames) == 7 and not m.busy, timeout=30_000)
    assert f"z{info.order[3]}" in m.strips["traverse"].title
    assert m.active == "traverse" and frames_shown(m.trav_strip) == 7

    # clicking a morph frame makes the morph strip the one under the slider again
    m.morph_strip.frameClicked.emit(2)
    assert m.active == "morph" and m.slider.value() == 2 and m.slider.maximum() == 4
    assert np.array_equal(m.view.frame, m.strips["morph"].frames[2])
    screenshot(win, "morph.png", qtbot)

    # export: a PNG strip and a looping GIF (forward then back) that Pillow reads back
    assert m.export(tmp_path / "morph.png") and m.export(tmp_path / "morph", "gif")
    qtbot.waitUntil(lambda: len(m.exported) == 2, timeout=30_000)
    with Image.open(tmp_path / "morph.png") as im:
        assert im.size == (2 * (5 * 64 + 4 * 2), 2 * 64)  # 5 frames, 2 px gaps, ×2
    with Image.open(tmp_path / "morph.gif") as im:
        assert im.n_frames == 5 + 3 and im.size == (128, 128)
        im.seek(2)
        assert np.abs(np.asarray(im.convert("RGB")).astype(int)[::2, ::2]
                      - m.strips["morph"].frames[2]).mean() < 8
    m.trav_strip.frameClicked.emit(0)
    m.export(tmp_path / "trav.gif")
    qtbot.waitUntil(lambda: len(m.exported) == 3, timeout=30_000)
    with Image.open(tmp_path / "trav.gif") as im:
        assert im.n_frames == 2 * 7 - 2


@pytest.fixture
def aligned_crops(tmp_path):
    """32 aligned 64×64 face crops: faces the shipped VAE decodes from random codes."""
    from faceinspector.backend import vae

    model = vae.default_checkpoint("cpu")
    z = np.random.default_rng(1).standard_normal((32, model.latent_dim)).astype(np.float32)
    folder = tmp_path / "crops"
    folder.mkdir()
    for i, px in enumerate(vae.decode(model, z)):
        Image.fromarray(px).save(folder / f"face{i:02d}.png")
    return folder


def test_training_tab_trains_stops_resumes_and_switches(qtbot, make_window, aligned_crops,
                                                       tmp_path, monkeypatch):
    from faceinspector.backend import vae

    monkeypatch.setattr(vae.data, "data_cache_dir", lambda: tmp_path / "chip-cache")
    win = make_window([])
    win.resize(1400, 900)
    win.docks["morph"].raise_()
    m = win.morph
    t = m.training
    m.tabs.setCurrentWidget(t)
    out = tmp_path / "run" / "tiny.safetensors"
    t.set_data("aligned", aligned_crops)
    assert not t.arch.model().item(1).isEnabled()  # DB-VAE needs non-face chips
    t.epochs.setValue(2)
    t.batch.setValue(8)
    t.device.setCurrentIndex(t.device.findData("cpu"))
    t.output.setText(str(out))
    assert not t.resume_button.isEnabled()

    # a short run to the end: 2 epochs of 4 steps; the pane switches to the new checkpoint
    assert t.start()
    assert t.busy and t.stop_button.isEnabled() and not t.start_button.isEnabled()
    qtbot.waitUntil(lambda: t.finished_run is not None and not t.busy, timeout=60_000)
    assert not t.finished_run.cancelled and t.finished_run.step == 8
    assert out.is_file() and t.history["step"] == list(range(1, 9))
    assert all(np.isfinite(t.history["loss"]))
    qtbot.waitUntil(lambda: t.points("loss") == 8, timeout=30_000)  # the curve, as drawn
    assert t.samples_original.count() == t.samples_recon.count() == 8
    assert "images/s" in t.status.full or "Done" in t.status.full
    assert Path(m.checkpoint) == out and m.model_combo.currentData() == str(out)
    qtbot.waitUntil(lambda: m.info is not None and m.info.path == out, timeout=30_000)
    assert m.info.stats_from == "training faces"  # a finished run stores the latent stats
    assert t.resume_button.isEnabled()

    # resume up to 400 epochs, watch the curve grow, then stop: it saves where it stopped
    t.epochs.setValue(400)
    seen = len(t.history["step"])
    assert t.resume()
    qtbot.waitUntil(lambda: t.last is not None and t.last.step >= 20, timeout=60_000)
    assert "images/s" in t.status.full and "CPU" in t.status.full
    assert t.history["step"][seen] == 9  # continues from step 8
    qtbot.waitUntil(lambda: t.points("loss") > seen, timeout=30_000)
    # training has a lane of its own: the panes' compute jobs still run meanwhile
    m.default_button.click()  # back to the shipped model
    assert Path(m.checkpoint) == DEFAULT_CHECKPOINT and m.model_combo.currentIndex() == 0
    qtbot.waitUntil(lambda: m.info is not None and m.info.path == DEFAULT_CHECKPOINT,
                    timeout=30_000)
    assert t.busy
    t.stop_button.click()
    qtbot.waitUntil(lambda: t.finished_run is not None and not t.busy, timeout=60_000)
    run = t.finished_run
    assert run.cancelled and 20 <= run.step < 400 * 4 and t.progress.format() == "stopped"
    assert run.samples is not None and run.samples[1].shape == (8, 64, 64, 3)
    assert vae.read_metadata(out)["progress"]["step"] == run.step
    assert t.start_button.isEnabled() and t.resume_button.isEnabled()
    assert Path(m.checkpoint) == DEFAULT_CHECKPOINT  # a stopped run does not switch models
    screenshot(win, "morph_training.png", qtbot)
