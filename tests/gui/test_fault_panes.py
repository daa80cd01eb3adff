"""Issue 15 in the panes: a bad gallery file is refused with a message (#3), failed saves are
reported (#7), Training Start checks its destination in the worker (#7), the Verification
pane says how many pairs it left out (#2). No traceback may reach a slot (pytest-qt fails the
test when one does)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from faceinspector.backend.gallery import FORMAT, Gallery


@pytest.fixture
def gallery_pane(qtbot, ctx):
    from faceinspector.gui.panes.gallery import GalleryPane

    pane = GalleryPane(ctx)
    qtbot.addWidget(pane)
    pane.gallery = Gallery(model_id="dlib-resnet")
    pane.gallery.enroll("ann", np.full(128, 0.1))
    return pane


def test_a_4d_gallery_is_refused_and_the_old_one_stays(qtbot, gallery_pane, tmp_path):
    bad = tmp_path / "four.json"
    bad.write_text(json.dumps({"format": FORMAT, "model_id": "dlib-resnet", "metric": "l2",
                               "threshold": 0.6, "dim": 4,
                               "people": [{"name": "bob", "embedding": [1, 2, 3, 4]}]}))
    gallery_pane.load(bad)
    qtbot.waitUntil(lambda: gallery_pane.box is not None, timeout=20_000)
    assert "four.json: field 'dim' is 4" in gallery_pane.last_error
    assert gallery_pane.gallery.names == ["ann"]  # not replaced


def test_identify_against_another_dimension_is_a_message(qtbot, gallery_pane):
    fe = SimpleNamespace(emb_aligned=np.ones(512, np.float32))
    gallery_pane.photo_faces = SimpleNamespace(embeddings=[fe], faces=(), scale=1.0,
                                               display=np.zeros((8, 8, 3), np.uint8),
                                               path=Path("x.jpg"))
    gallery_pane._match()  # raised "operands could not be broadcast" in the slot before
    assert gallery_pane.matches == []
    assert "512-D embeddings, the gallery holds 128-D" in gallery_pane.last_error


def test_a_failed_gallery_save_is_reported(qtbot, gallery_pane, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    gallery_pane.save(blocker / "people.json")  # a folder that is a file
    qtbot.waitUntil(lambda: gallery_pane.box is not None, timeout=20_000)
    assert "not saved" in gallery_pane.last_error and "people.json" in gallery_pane.last_error
    gallery_pane.box = None
    good = tmp_path / "people.json"
    gallery_pane.save(good)
    qtbot.waitUntil(lambda: good.is_file(), timeout=20_000)
    qtbot.waitUntil(lambda: "Saved 1 people" in gallery_pane.status.text(), timeout=20_000)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_training_start_into_an_unwritable_folder_says_so(qtbot, ctx, tmp_path):
    from faceinspector.gui.panes.morph.training import TrainingTab

    tab = TrainingTab(ctx)
    qtbot.addWidget(tab)
    crops = tmp_path / "crops"
    crops.mkdir()
    tab.set_data("aligned", crops)
    tab.output.setText("/sys/faceinspector-test/vae.safetensors")
    messages = []
    tab.message.connect(messages.append)
    assert tab.start(confirm=False)  # raised PermissionError on the GUI thread before
    qtbot.waitUntil(lambda: not tab.busy, timeout=30_000)
    assert any("cannot write the checkpoint /sys/faceinspector-test/vae.safetensors" in m
               for m in messages), messages


def test_verification_pane_says_how_many_pairs_were_left_out(qtbot, ctx):
    from faceinspector.backend import evaluate
    from faceinspector.backend.triplets import Pair
    from faceinspector.gui.panes.verification import VerificationPane

    pane = VerificationPane(ctx)
    qtbot.addWidget(pane)
    images = ("A/1.jpg", "A/2.jpg", "B/1.jpg", "B/2.jpg", "C/1.jpg")
    emb = np.array([[0, 0], [0.1, 0], [1, 1], [1.1, 1], [np.nan, np.nan]], np.float32)
    pairs = (Pair("A/1.jpg", "A/2.jpg", True, 0), Pair("A/1.jpg", "C/1.jpg", False, 0),
             Pair("B/1.jpg", "B/2.jpg", True, 1), Pair("A/2.jpg", "B/1.jpg", False, 1))
    rep = evaluate.pairs_report(emb, images, pairs)
    result = evaluate.Verification(Path("pairs.txt"), "pairs", Path("."), "dlib-resnet", "l2",
                                   images, pairs, emb, np.ones(5, bool), {4: "C/1.jpg: gone"},
                                   rep, 1.0, {})
    pane._on_result(result)
    assert "1 pair left out (an image could not be read); 3 scored" in pane.summary.text()
    assert "3 pairs" in pane.summary.text()
    # the hardest pairs list only scored pairs: A/1-C/1 has an unreadable image
    assert pane.positives.count() == 2 and pane.negatives.count() == 1
    assert pane.negatives.item(0).toolTip().startswith("A/2.jpg\nB/1.jpg")
