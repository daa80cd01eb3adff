"""Issue 20: under each Morph face, the identity distance between its chip and the VAE's
reconstruction -- green under tau, amber above, "n/a" with the reason when it cannot be
computed -- computed on a worker, never on the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from faceinspector.backend.vae.session import VaeFace
from faceinspector.gui.panes.morph.pane import DEFAULT_CHECKPOINT
from faceinspector.gui.panes.morph.views import OTHER_COLOUR, SAME_COLOUR, FaceBox


def _face(distance, note: str = "") -> VaeFace:
    chip = np.full((64, 64, 3), 120, np.uint8)
    return VaeFace(("k",), "photo.jpg#1", chip, chip, Path("m.safetensors"), distance, 0.6, note)


def test_distance_label_colours(qtbot):
    box = FaceBox("A")
    qtbot.addWidget(box)
    box.show_face(_face(0.312))
    assert box.distance.text() == "identity d = 0.31 < τ 0.6"
    assert SAME_COLOUR in box.distance.styleSheet()
    assert "still this person" in box.distance.toolTip()
    box.show_face(_face(0.75))
    assert box.distance.text() == "identity d = 0.75 ≥ τ 0.6"
    assert OTHER_COLOUR in box.distance.styleSheet()
    assert "cannot represent this face" in box.distance.toolTip()
    box.show_face(_face(None, "no identity distance: the face-api pack is missing"))
    assert box.distance.text() == "identity: n/a"
    assert "face-api pack is missing" in box.distance.toolTip()
    box.show_face(None, busy=True)
    assert box.distance.text() == "" and box.distance.styleSheet() == ""


@pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no shipped VAE")
def test_pane_shows_each_ends_distance_computed_off_the_gui_thread(qtbot, make_window,
                                                                   one_photo, monkeypatch):
    from faceinspector.backend.vae import identity

    threads = []
    real = identity.identity_distance

    def spy(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(identity, "identity_distance", spy)
    win = make_window([one_photo], models=())
    m = win.morph
    win.docks["morph"].raise_()
    qtbot.waitUntil(lambda: m.ref is not None and not win.photos.busy, timeout=90_000)
    m.boxes["A"].button.click()
    win.photos.select_face(1)
    qtbot.waitUntil(lambda: m.ref is not None and m.ref.index == 1, timeout=10_000)
    m.boxes["B"].button.click()
    qtbot.waitUntil(lambda: m.faces["A"] is not None and m.faces["B"] is not None,
                    timeout=60_000)
    assert threads and not any(threads)  # every distance on a worker
    for key in "AB":
        face, label = m.faces[key], m.boxes[key].distance
        assert face.distance is not None and 0 < face.distance < 2
        assert label.text().startswith(f"identity d = {face.distance:.2f}")
        colour = SAME_COLOUR if face.distance < face.tau else OTHER_COLOUR
        assert colour in label.styleSheet()
