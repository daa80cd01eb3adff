"""Issue 18, from failure to diagnosis: every list of faces or pairs opens its item in Photos /
Crops / Predictions with a double-click and sends it to Triplets from its context menu
(Verification's hardest pairs, the Triplets matrix and face list, Gallery matches, Mismatch
examples)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from faceinspector.backend import evaluate
from faceinspector.backend.triplets import Pair
from faceinspector.gui.face_links import FaceLinks, faces_of, set_faces

from .conftest import wait_face_shown


def double_click(qtbot, view, row: int) -> None:
    """As a user does it: a press (Qt's item views check it) then the double-click."""
    view.scrollTo(view.model().index(row, 0))
    rect = view.visualRect(view.model().index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def actions(menu) -> dict:
    """Every action of a menu and its sub-menus, by text."""
    out = {}
    for act in menu.actions():
        if act.menu() is not None:
            out.update({f"{act.text()} / {k}": v for k, v in actions(act.menu()).items()})
        elif act.text():
            out[act.text()] = act
    return out


def test_face_links_on_any_list(qtbot):
    view = QListWidget()
    qtbot.addWidget(view)
    opened, sent = [], []
    links = FaceLinks(view, lambda p, f: opened.append((p, f)),
                      lambda p, f, s: sent.append((p, f, s)))
    item = QListWidgetItem("pair")
    set_faces(item, ("first image", "/x/a.jpg", 2), ("second image", "/x/b.jpg", -1))
    view.addItem(item)
    view.addItem(QListWidgetItem("no face"))
    view.show()
    index = view.model().index(0, 0)
    assert faces_of(index) == [("first image", "/x/a.jpg", 2), ("second image", "/x/b.jpg", 0)]
    double_click(qtbot, view, 0)
    assert opened == [("/x/a.jpg", 2)]
    acts = actions(links.build_menu(index))
    acts["Open second image (b.jpg, face 1) in Photos"].trigger()
    assert opened[-1] == ("/x/b.jpg", 0)
    acts["Send first image to Triplets / Negative (N)"].trigger()
    assert sent == [("/x/a.jpg", 2, "N")]
    acts["Send the pair to Triplets as A / P"].trigger()
    assert sent[1:] == [("/x/a.jpg", 2, "A"), ("/x/b.jpg", 0, "P")]
    assert links.build_menu(view.model().index(1, 0)) is None  # a row without a face


def test_verification_hardest_pairs_open_and_send(qtbot, make_window, demo_paths, tmp_path):
    root = tmp_path / "people"
    (root / "A").mkdir(parents=True)
    (root / "B").mkdir()
    for k, src in enumerate(demo_paths[:2]):
        shutil.copy(src, root / "A" / f"{k}.jpg")
        shutil.copy(src, root / "B" / f"{k}.jpg")
    win = make_window(models=())
    v = win.verification
    images = ("A/0.jpg", "A/1.jpg", "B/0.jpg", "B/1.jpg")
    emb = np.array([[0, 0], [0.1, 0], [1, 1], [1.1, 1]], np.float32)
    pairs = (Pair("A/0.jpg", "A/1.jpg", True, 0), Pair("A/0.jpg", "B/0.jpg", False, 0),
             Pair("B/0.jpg", "B/1.jpg", True, 0), Pair("A/1.jpg", "B/1.jpg", False, 0))
    rep = evaluate.pairs_report(emb, images, pairs, n_boot=50)
    result = evaluate.Verification(root, "folder", root, "dlib-resnet", "l2", images, pairs, emb,
                                   np.ones(4, bool), {}, rep, 1.0, {}, np.array([1, 0, 0, 2]),
                                   "dlib-chip", (150, 150))
    v._on_result(result)
    assert v.positives.count() == 2
    with qtbot.waitSignal(v.openFace, timeout=5_000) as blocker:
        double_click(qtbot, v.positives, 0)
    path, face = blocker.args
    first = result.pairs[rep.pair(v.hardest["pos"][0])].a
    assert Path(path) == root / first and face == result.face_of(first)
    # through the window: the photo opens in Photos (and so Crops / Predictions)
    qtbot.waitUntil(lambda: win.photos.current_item() is not None
                    and win.photos.current_item().path == root / first, timeout=90_000)
    qtbot.waitUntil(lambda: win.crops.ref is not None, timeout=30_000)
    # right-click: the pair goes to Triplets as A / N (opened first when not loaded)
    acts = actions(v.links[1].build_menu(v.negatives.model().index(0, 0)))
    acts["Send the pair to Triplets as A / N"].trigger()
    t = win.triplets
    qtbot.waitUntil(lambda: t.slots["A"] is not None and t.slots["N"] is not None,
                    timeout=90_000)
    neg = result.pairs[rep.pair(v.hardest["neg"][0])]
    assert str(t.slots["A"].path) == str(root / neg.a)
    assert str(t.slots["N"].path) == str(root / neg.b)
    assert win.docks["triplets"].isVisible()


def test_triplets_matrix_and_face_list(qtbot, make_window, demo_paths, tmp_path):
    paths = []
    for src in demo_paths[:2]:
        paths.append(tmp_path / src.name)
        shutil.copy(src, paths[-1])
    win = make_window(paths, models=())
    t = win.triplets
    win.docks["triplets"].raise_()
    qtbot.waitUntil(lambda: win.photos.model.rowCount() == 2 and not win.photos.busy,
                    timeout=90_000)
    n = sum(len(it.faces) for it in win.photos.model.items)
    qtbot.waitUntil(lambda: len(t.matrix_faces) == n, timeout=90_000)
    assert t.matrix_note == ""
    # double-click a face in the list: it opens in Photos
    last = n - 1
    with qtbot.waitSignal(t.openFace, timeout=5_000) as blocker:
        double_click(qtbot, t.faces_list, last)
    path, index, _ = t.matrix_faces[last].key
    assert blocker.args == [str(path), index]
    qtbot.waitUntil(lambda: win.photos.face_index == index
                    and win.photos.current_item().path == Path(path), timeout=30_000)
    # the list's menu sends a face to a slot
    acts = actions(t.face_links.build_menu(t.faces_list.model().index(0, 0)))
    acts["Send face to Triplets / Negative (N)"].trigger()
    qtbot.waitUntil(lambda: t.slots["N"] is not None, timeout=30_000)
    assert t.slots["N"].key == t.matrix_faces[0].key
    # a heat-map cell: double-click opens the row's face; its menu compares / sends / opens
    with qtbot.waitSignal(t.openFace, timeout=5_000) as blocker:
        qtbot.mouseDClick(t.heat, Qt.MouseButton.LeftButton,
                          pos=t.heat.cell_center(1, 0).toPoint())
    assert blocker.args[0] == str(t.matrix_faces[1].key[0])
    acts = actions(t.build_cell_menu(1, 2))
    acts["Put 2 into A and 3 into N"].trigger()
    assert t.slots["A"].key == t.matrix_faces[1].key
    assert t.slots["N"].key == t.matrix_faces[2].key
    # a slot: double-click opens its face
    with qtbot.waitSignal(t.openFace, timeout=5_000) as blocker:
        qtbot.mouseDClick(t.slot_views["A"], Qt.MouseButton.LeftButton)
    assert blocker.args == [str(t.slots["A"].path), t.slots["A"].index]


def test_the_matrix_says_when_it_leaves_faces_out(qtbot, make_window, one_photo, monkeypatch):
    from faceinspector.gui.panes.triplets import matrix

    monkeypatch.setattr(matrix, "MAX_MATRIX", 2)
    win = make_window([one_photo], models=())
    t = win.triplets
    win.docks["triplets"].raise_()
    qtbot.waitUntil(lambda: win.photos.model.rowCount() == 1 and not win.photos.busy,
                    timeout=90_000)
    n = len(win.photos.model.items[0].faces)
    assert n > 2
    qtbot.waitUntil(lambda: len(t.matrix_faces) == 2, timeout=90_000)
    assert t.matrix_note == f"showing the first 2 of {n} faces (the matrix's limit); " \
                            f"{n - 2} left out"
    assert "showing the first 2" in t.matrix_status.text()
    assert f"2 faces (of {n})" in t.heat.title


def test_gallery_matches_open_and_mismatch_examples_send(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=())
    wait_face_shown(qtbot, win)
    g = win.gallery
    win.docks["gallery"].raise_()
    g.enroll("Alice")
    n = len(win.photos.current_item().faces)
    qtbot.waitUntil(lambda: g.found.count() == n, timeout=60_000)
    row = n - 1
    with qtbot.waitSignal(g.openFace, timeout=5_000) as blocker:
        double_click(qtbot, g.found, row)
    assert blocker.args == [str(one_photo), row]
    qtbot.waitUntil(lambda: win.photos.face_index == row, timeout=30_000)

    strip = win.mismatch.strips["target"]
    strip.set_examples([(str(one_photo), 1, np.zeros((8, 8, 3), np.uint8), "x")])
    acts = actions(strip.links.build_menu(strip.model().index(0, 0)))
    acts["Send face to Triplets / Positive (P)"].trigger()
    qtbot.waitUntil(lambda: win.triplets.slots["P"] is not None, timeout=30_000)
    assert win.triplets.slots["P"].index == 1


@pytest.fixture(autouse=True)
def _fast_bootstrap(monkeypatch):
    """Verification reports with a few hundred resamples are plenty for these tests."""
    from faceinspector.backend import triplets

    monkeypatch.setattr(triplets, "N_BOOT", 100)
