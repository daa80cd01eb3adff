"""Triplets, Verification and Gallery panes in the real window, offscreen, on the real backend
and the demo photos (LFW for verification, skipped without the development data)."""

from __future__ import annotations

import csv
import shutil
import warnings

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from faceinspector.backend import triplets
from faceinspector.backend.gallery import Gallery
from faceinspector.gui.widgets import read_face_mime

from ..conftest import shared_data


def drop_face(slot_view, mime: QMimeData) -> None:
    """Drop a face drag's payload onto a slot, as Qt delivers it."""
    assert read_face_mime(mime) is not None
    with warnings.catch_warnings():  # PySide marks the only Qt 6 constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(slot_view, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(slot_view, QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                                                 Qt.MouseButton.LeftButton,
                                                 Qt.KeyboardModifier.NoModifier))


@pytest.fixture
def two_photos(demo_paths, tmp_path):
    out = []
    for src in demo_paths[:2]:
        out.append(tmp_path / src.name)
        shutil.copy(src, out[-1])
    return out


def loaded(qtbot, win, n: int) -> None:
    photos = win.photos
    qtbot.waitUntil(lambda: photos.model.rowCount() == n and not photos.busy, timeout=90_000)
    qtbot.waitUntil(lambda: photos.face_index >= 0, timeout=20_000)  # the default face


def test_fill_the_slots_and_read_the_numbers(qtbot, make_window, two_photos):
    win = make_window(two_photos, models=())
    t = win.triplets
    win.docks["triplets"].raise_()
    loaded(qtbot, win, 2)
    n_faces = sum(len(item.faces) for item in win.photos.model.items)
    # the distance matrix: one row per loaded face
    qtbot.waitUntil(lambda: len(t.matrix_faces) == n_faces, timeout=60_000)
    assert t.matrix.shape == (n_faces, n_faces) and np.allclose(np.diag(t.matrix), 0, atol=1e-5)
    assert t.faces_list.count() == n_faces
    assert t.heat.matrix.shape == (n_faces, n_faces)
    assert np.allclose(t.heat.matrix, t.matrix)

    # A: the face selected in the Photos pane (button); P: the same face dragged from the Crops
    # pane; N: a face of the other photo dragged from the faces list (re-read from disk)
    selected = win.photos.current_item().path, win.photos.face_index
    t.put_buttons["A"].click()
    row_same = next(i for i, fe in enumerate(t.matrix_faces)
                    if (fe.key[0], fe.key[1]) == (str(selected[0]), selected[1]))
    others = [i for i, fe in enumerate(t.matrix_faces) if fe.key[0] != str(selected[0])]
    row_other = max(others, key=lambda i: t.matrix[row_same, i])  # clearly someone else
    assert win.crops.drag_mime() is not None
    assert read_face_mime(win.crops.drag_mime()) == (str(selected[0]), selected[1])
    drop_face(t.slot_views["P"], win.crops.drag_mime())
    assert read_face_mime(win.photos.view.face_mime(0)) == (str(selected[0]), 0)  # any face
    drop_face(t.slot_views["N"], t.faces_list.mimeData([t.faces_list.item(row_other)]))
    assert t.slots["P"].key == t.matrix_faces[row_same].key
    qtbot.waitUntil(lambda: "loss" in t.numbers.get("raw", {}), timeout=30_000)
    for key in "APN":
        assert t.slot_views[key].aligned.pixmap() is not None
        assert not t.slot_views[key].aligned.pixmap().isNull()
    assert t.slot_views["N"].name.text().startswith(t.matrix_faces[row_other].label)

    def check(metric: str, alpha: float) -> None:
        for crop in ("aligned", "raw"):
            a, p, n = (t.embedding(k, crop) for k in "APN")
            nums = t.numbers[crop]
            assert nums["ap"] == pytest.approx(float(triplets.distance(a, p, metric)))
            assert nums["an"] == pytest.approx(float(triplets.distance(a, n, metric)))
            loss = float(triplets.triplet_loss(a, p, n, alpha, metric))
            assert nums["loss"] == pytest.approx(loss)
            assert t.cells[("ap", crop)].text() == f"{nums['ap']:.3f}"
            assert t.cells[("an", crop)].text() == f"{nums['an']:.3f}"
            assert t.cells[("loss", crop)].text().startswith(f"{loss:.3f} (")

    assert t.margin == pytest.approx(0.2) and t.metric_id == "l2"
    check("l2", 0.2)
    # A and P are the same face: distance ~0, so A/P passes τ; the stranger does not
    assert t.numbers["aligned"]["ap"] < 1e-3 and t.numbers["aligned"]["an"] > t.threshold
    assert "same ✓" in t.cells[("ap_ok", "aligned")].text()
    assert "different ✓" in t.cells[("an_ok", "aligned")].text()
    # alignment moves the distance: raw and aligned columns differ
    assert t.numbers["raw"]["an"] != pytest.approx(t.numbers["aligned"]["an"], abs=1e-4)

    t.set_margin(2.0 if t.numbers["aligned"]["an"] < 1.5 else 1.0)
    check("l2", t.margin)
    assert t.numbers["aligned"]["loss"] > 0
    t.metric_box.setCurrentIndex(t.metric_box.findData("cosine"))
    check("cosine", t.margin)
    qtbot.waitUntil(lambda: not t.order_worker.busy, timeout=10_000)  # reordered (io lane)
    t.set_threshold(0.0)  # nothing is "same" below τ = 0
    assert "different ✗" in t.cells[("ap_ok", "aligned")].text()

    # clicking a heat-map cell puts that pair into A / P
    qtbot.mouseClick(t.heat, Qt.MouseButton.LeftButton, pos=t.heat.cell_center(1, 2).toPoint())
    assert t.slots["A"].key == t.matrix_faces[1].key
    assert t.slots["P"].key == t.matrix_faces[2].key
    qtbot.waitUntil(lambda: t.numbers["aligned"].get("ap") is not None, timeout=10_000)
    assert t.numbers["aligned"]["ap"] == pytest.approx(t.matrix[1, 2], abs=1e-5)


def test_hidden_tab_defers_the_matrix_until_raised(qtbot, make_window, two_photos):
    """A pane behind another dock tab does no work (isVisible() is True there) until raised."""
    from faceinspector.gui.widgets import on_screen

    win = make_window(two_photos, models=())
    t = win.triplets
    loaded(qtbot, win, 2)
    qtbot.wait(1000)  # past the matrix's debounce
    assert t.isVisible() and not on_screen(t) and on_screen(win.predictions)
    assert t.matrix_faces == [] and not t.matrix_worker.busy
    win.docks["triplets"].raise_()
    qtbot.waitUntil(lambda: on_screen(t) and not on_screen(win.predictions), timeout=5_000)
    n_faces = sum(len(item.faces) for item in win.photos.model.items)
    qtbot.waitUntil(lambda: len(t.matrix_faces) == n_faces, timeout=60_000)
    assert t.heat.matrix.shape == (n_faces, n_faces)


def test_verification_on_a_tiny_pairs_file(qtbot, make_window, tmp_path):
    lfw = shared_data("lfw")
    root = lfw / "lfw-deepfunneled"
    people = [d for d in sorted(root.iterdir()) if len(list(d.glob("*.jpg"))) >= 3][:3]
    a, b, c = (d.name for d in people)
    # the image numbers each person has here (only images named in pairs.txt are stored)
    (a1, a2, a3), (b1, b2, b3), (c1, c2, c3) = (
        [int(f.stem.rsplit("_", 1)[1]) for f in sorted(d.glob("*.jpg"))[:3]] for d in people)
    # 12 pairs in the LFW format (2 folds of 3 same + 3 different) over only 9 images
    rows = [f"{a}\t{a1}\t{a2}", f"{b}\t{b1}\t{b2}", f"{c}\t{c1}\t{c2}",
            f"{a}\t{a1}\t{b}\t{b3}", f"{b}\t{b1}\t{c}\t{c3}", f"{c}\t{c1}\t{a}\t{a3}",
            f"{a}\t{a1}\t{a3}", f"{b}\t{b2}\t{b3}", f"{c}\t{c2}\t{c3}",
            f"{a}\t{a2}\t{b}\t{b2}", f"{b}\t{b3}\t{c}\t{c2}", f"{c}\t{c3}\t{a}\t{a2}"]
    tiny = tmp_path / "pairs.txt"
    tiny.write_text("2\t3\n" + "\n".join(rows) + "\n")
    win = make_window(models=())
    v = win.verification
    win.docks["verification"].raise_()
    v.load(tiny, root=root)
    assert v.busy and v.cancel_button.isVisibleTo(v)
    qtbot.waitUntil(lambda: v.result is not None, timeout=90_000)
    rep = v.result.report
    assert rep.n_pairs == 12 and int(rep.same.sum()) == 6 and len(v.result.images) == 9
    assert not v.result.errors and v.result.detected.all()
    assert rep.accuracy >= 0.8  # dlib-resnet gets ~99 % on LFW
    assert "accuracy" in v.summary.text() and "TAR @ FAR=1e-3" in v.summary.text()
    assert v.positives.count() == 6 and v.negatives.count() == 6
    qtbot.waitUntil(lambda: v.plot.canvas is not None, timeout=30_000)
    assert len(v.plot.canvas.figure.axes) == 2
    # the hardest negative: click it, both images and chips are shown
    v.negatives.setCurrentRow(0)
    qtbot.waitUntil(lambda: v.preview is not None, timeout=30_000)
    assert v.preview[0][1].shape == (150, 150, 3)
    assert not v.pair_views[1].pixmap().isNull()
    # another distance: no model runs (its intervals are computed on the io lane), same pairs
    v.metric_box.setCurrentIndex(v.metric_box.findData("cosine"))
    qtbot.waitUntil(lambda: v.result.metric == "cosine", timeout=30_000)
    assert v.result.report.n_pairs == 12
    # export
    assert v.export_csv(tmp_path / "pairs.csv") == 12
    rows = list(csv.DictReader(open(tmp_path / "pairs.csv", encoding="utf-8")))
    assert len(rows) == 12 and {r["same"] for r in rows} == {"0", "1"}
    v.export_png(tmp_path / "plots.png")
    assert (tmp_path / "plots.png").stat().st_size > 10_000
    # a new run can be cancelled: idle at once, the last result stays
    before = v.result
    v.rerun()
    assert v.busy
    v.cancel()
    assert not v.busy and v.result is before
    qtbot.waitUntil(lambda: win.pool.active == 0, timeout=60_000)
    assert v.result is before


def test_gallery_enroll_identify_save_load_and_refusal(qtbot, make_window, one_photo,
                                                       tmp_path):
    win = make_window([one_photo], models=())
    g = win.gallery
    win.docks["gallery"].raise_()
    loaded(qtbot, win, 1)
    n_faces = len(win.photos.current_item().faces)
    g.name.setText("Alice")
    g.enroll_button.click()
    qtbot.waitUntil(lambda: g.gallery.names == ["Alice"], timeout=30_000)
    qtbot.waitUntil(lambda: len(g.matches) == n_faces, timeout=30_000)
    k = win.photos.face_index  # the selected (default) face was enrolled
    assert g.matches[k].name == "Alice" and g.matches[k].distance < 1e-3
    assert g.found.count() == n_faces
    assert g.found.item(k).text().startswith(f"face #{k + 1}: Alice")
    assert g.photo.pixmap() is not None and not g.photo.pixmap().isNull()
    assert not g.embedder.isEnabled()  # a gallery is bound to its embedder

    path = tmp_path / "people.json"
    g.save(path)
    g.clear()
    assert g.gallery.names == []
    g.load(path)
    qtbot.waitUntil(lambda: g.gallery.names == ["Alice"], timeout=10_000)
    qtbot.waitUntil(lambda: len(g.matches) == n_faces and g.matches[k].name == "Alice",
                    timeout=30_000)
    assert g.gallery.model_id == "dlib-resnet"

    other = Gallery(model_id="facenet-512")
    other.enroll("Bob", np.ones(512))
    other.save(tmp_path / "facenet.json")
    g.load(tmp_path / "facenet.json")
    qtbot.waitUntil(lambda: "made with the embedder 'facenet-512'" in g.last_error,
                    timeout=10_000)
    assert g.box is not None and g.box.isVisible() and "facenet-512" in g.box.text()
    assert "made with the embedder" in g.status.text()
    assert g.gallery.names == ["Alice"]  # the gallery in use is kept
    g.box.close()

    # a face dragged from the photo view onto the Enrolled list: named after its photo
    drop_face(g.people.viewport(), win.photos.view.face_mime(1))
    qtbot.waitUntil(lambda: g.gallery.names == ["Alice", "sample1"], timeout=30_000)


def test_default_gallery_name_from_the_file_name():
    from pathlib import Path

    from faceinspector.gui.panes.gallery.pane import default_name

    assert default_name(Path("/x/George_W_Bush_0001.jpg")) == "George W Bush"
    assert default_name(Path("holiday.jpg")) == "holiday"
    assert default_name(Path("img_2024.png")) == "img"
