"""The real main window, offscreen, on the real backend and the demo photos."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from faceinspector.gui import settings
from faceinspector.gui.panes.photos.pane import PhotoListModel

from .conftest import unique_copies, wait_face_shown


def drop(widget, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    with warnings.catch_warnings():  # PySide marks the only Qt 6 constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_drop_files_with_a_corrupt_one(qtbot, make_window, demo_paths, tmp_path):
    shutil.copy(demo_paths[0], tmp_path / "sample1.jpg")
    shutil.copy(demo_paths[1], tmp_path / "sample2.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 40)
    win = make_window(models=())
    drop(win.photos, [tmp_path / "sample1.jpg", tmp_path / "broken.jpg",
                      tmp_path / "sample2.jpg"])
    model = win.photos.model
    qtbot.waitUntil(lambda: model.rowCount() == 3 and not win.photos.busy, timeout=90_000)
    names = [i.path.name for i in model.items]
    assert names == ["sample1.jpg", "broken.jpg", "sample2.jpg"]
    for row in (0, 2):
        item = model.items[row]
        n = len(item.faces)
        assert n >= 2 and not item.error
        assert model.data(model.index(row)).endswith(f"{n} faces")
        assert not model.data(model.index(row), Qt.ItemDataRole.DecorationRole).isNull()
    bad = model.items[1]
    assert "broken.jpg" in bad.error and bad.faces == ()
    assert model.data(model.index(1), Qt.ItemDataRole.ToolTipRole) == bad.error
    assert "cannot be read" in model.data(model.index(1))
    assert "1 file could not be read" in win.photos.summary.text()
    assert win.problem_box is None  # no dialog per file
    # selecting the bad entry shows its message in the view, non-modally
    win.photos.list.setCurrentIndex(model.index(1))
    assert win.photos.view.message == bad.error
    assert win.crops.pair is None


def test_select_face_shows_crops_and_predictions(qtbot, make_window, one_photo):
    win = make_window([one_photo])
    wait_face_shown(qtbot, win)
    crops, preds = win.crops, win.predictions
    card = win.ctx.card(crops.model_id)
    w, h = card.spec.size
    for view, crop in ((crops.raw_view, crops.pair.raw), (crops.aligned_view, crops.pair.aligned)):
        assert crop.pixels.shape == (h, w, 3)  # the resolution the model sees
        assert view.factor >= 2
        assert (view.rendered.width(), view.rendered.height()) == (w * view.factor,
                                                                 h * view.factor)
    assert f"{w}×{h}" in crops.aligned_title.text()
    available = [c.id for c in win.ctx.cards if c.available]
    assert available, "no model is available at all"
    for mid, widget in preds.cards.items():
        if mid in available:
            r = widget.result
            assert r is not None and not r.error, (mid, r and r.error)
            assert r.raw.crop.template == "raw"
            assert widget.view.isVisible()
        else:  # greyed out, the reason as tooltip
            assert not widget.isEnabled() and widget.toolTip() == widget.card.reason
    # clicking the second face in the large view selects it everywhere
    first = crops.pair
    view = win.photos.view
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.face_view_pos(1).toPoint())
    assert win.photos.face_index == 1 and view.selected == 1
    qtbot.waitUntil(lambda: crops.pair is not first and crops.pair is not None, timeout=30_000)
    assert crops.ref.index == 1 and preds.ref.index == 1


def test_switch_template_changes_the_aligned_crop(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=["dlib-gender"])
    wait_face_shown(qtbot, win)
    crops = win.crops
    crops.set_model("dlib-resnet")
    qtbot.waitUntil(lambda: crops.pair is not None and crops.pair.model_id == "dlib-resnet",
                    timeout=30_000)
    before = crops.pair
    assert before.template == "dlib-chip" and before.aligned.pixels.shape == (150, 150, 3)
    crops.template_combo.setCurrentIndex(crops.template_combo.findData("arcface-112"))
    qtbot.waitUntil(lambda: crops.pair.template == "arcface-112", timeout=30_000)
    after = crops.pair
    assert after.aligned.pixels.shape == before.aligned.pixels.shape
    diff = np.abs(after.aligned.pixels.astype(int) - before.aligned.pixels.astype(int)).mean()
    assert diff > 5  # visibly different pixels
    assert "arcface-112" in crops.aligned_title.text()
    # the predictions follow the template
    assert win.predictions.template == "arcface-112"
    wait_face_shown(qtbot, win)
    r = next(iter(win.predictions.results.values()))
    assert r.template == "arcface-112" and "arcface-112" in win.predictions.summary.text()


def test_stale_crops_are_never_drawn(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=())
    wait_face_shown(qtbot, win)
    crops = win.crops
    drawn = []
    crops.slot.result.connect(drawn.append)
    photos = win.photos
    photos.select_face(0)  # job A
    photos.select_face(2)  # job B, at once: A must not be drawn
    qtbot.waitUntil(lambda: not crops.slot.busy, timeout=30_000)
    qtbot.wait(200)
    assert len(drawn) == 1
    face = photos.current_item().faces[2]
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    m = drawn[0].raw.matrix
    h, w = drawn[0].raw.pixels.shape[:2]
    centre = m[:, :2] @ [cx, cy] + m[:, 2]
    np.testing.assert_allclose(centre, [w / 2 - 0.5, h / 2 - 0.5], atol=1e-6)  # face B's crop
    assert crops.pair is drawn[0]


def test_cancel_a_long_load(qtbot, make_window, demo_paths, tmp_path):
    folder = tmp_path / "many"
    unique_copies(demo_paths, folder, 60)
    win = make_window(models=())
    win.open_folder(str(folder))
    photos = win.photos
    qtbot.waitUntil(lambda: photos.model.rowCount() >= 1, timeout=90_000)
    assert win.progress.isVisible() and win.cancel_button.isVisible()
    win.cancel_button.click()
    assert not photos.busy  # idle at once
    assert not win.progress.isVisible() and not win.cancel_button.isVisible()
    qtbot.waitUntil(lambda: win.pool.active == 0, timeout=60_000)  # the worker let go
    n = photos.model.rowCount()
    assert n < 10
    qtbot.wait(300)
    assert photos.model.rowCount() == n  # nothing trickles in after cancel
    assert str(folder) in settings.recent_folders()


def test_close_while_working(qtbot, make_window, demo_paths, tmp_path):
    folder = tmp_path / "busy"
    unique_copies(demo_paths, folder, 12)
    win = make_window(models=())
    win.open_paths([folder])
    qtbot.waitUntil(lambda: win.photos.load_slot.busy, timeout=10_000)
    win.close()
    assert win.pool.closed and win.pool.threads_running() == []
    assert win.pool.active == 0


def test_next_previous_and_remove(qtbot, make_window, demo_paths, tmp_path):
    paths = []
    for p in demo_paths[:2]:
        paths.append(tmp_path / p.name)
        shutil.copy(p, paths[-1])
    win = make_window(paths, models=())
    photos = win.photos
    qtbot.waitUntil(lambda: photos.model.rowCount() == 2 and not photos.busy, timeout=90_000)
    # the first face selected is the largest, most central one (issue 18), not face 0
    first = photos.model.items[0]
    qtbot.waitUntil(lambda: photos.face_index == first.main_face, timeout=10_000)
    largest = max(range(len(first.faces)), key=lambda i: first.faces[i].width)
    assert first.main_face == largest != 0  # sample1: the man in the middle
    photos.select_face(0)
    n0 = len(photos.model.items[0].faces)
    for i in range(1, n0):
        win.act_next.trigger()
        assert photos.face_index == i
    win.act_next.trigger()  # on to the next photo
    qtbot.waitUntil(lambda: photos.list.currentIndex().row() == 1 and photos.face_index == 0,
                    timeout=10_000)
    win.act_prev.trigger()  # back to the last face of the first photo
    qtbot.waitUntil(lambda: photos.list.currentIndex().row() == 0
                    and photos.face_index == n0 - 1, timeout=10_000)
    win.act_remove.trigger()
    assert photos.model.rowCount() == 1 and photos.model.items[0].path == paths[1]


def test_unavailable_model_is_greyed_with_reason(qtbot, make_window):
    from faceinspector.backend.models import ModelCard

    win = make_window(models=())
    fake = ModelCard("not-yet", "A model being ported", "classification", ("a", "b"), None,
                     False, "not built: No module named 'not_yet'")
    win.ctx.set_cards(win.ctx.cards + (fake,))
    card = win.predictions.cards["not-yet"]
    assert not card.isEnabled() and not card.check.isChecked()
    assert card.toolTip() == fake.reason and "not built" in card.title.toolTip()
    assert "not-yet" not in win.predictions.enabled_models
    win.predictions.set_enabled_models(["not-yet", "dlib-gender"])
    assert win.predictions.enabled_models == ["dlib-gender"]  # unavailable stays off
    assert win.crops.model_combo.findData("not-yet") == -1  # no spec: no crop size to show
    assert "of" in win.models_label.text()


def test_add_user_model(qtbot, make_window, one_photo, tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2))
    path = tmp_path / "tiny.pt"
    torch.jit.script(net.eval()).save(str(path))
    path.with_suffix(".json").write_text('{"name": "tiny", "labels": ["yes", "no"], '
                                         '"input_size": 48, "template": "arcface-112"}')
    win = make_window([one_photo], models=["user:tiny"])
    wait_face_shown(qtbot, win)
    win.predictions.add_model(str(path))
    qtbot.waitUntil(lambda: "user:tiny" in win.predictions.cards, timeout=30_000)
    qtbot.waitUntil(lambda: "user:tiny" in win.predictions.results, timeout=30_000)
    r = win.predictions.results["user:tiny"]
    assert not r.error and r.raw.labels == ("yes", "no")
    assert r.aligned.crop.pixels.shape == (48, 48, 3)
    # remembered for the next start; removed again (the backend is shared by later tests)
    from PySide6.QtCore import QSettings

    assert str(path) in (QSettings().value("models/user") or [])
    win.predictions.user_models.remove("user:tiny", confirm=False)
    qtbot.waitUntil(lambda: "user:tiny" not in win.predictions.cards, timeout=30_000)


def test_list_model_roles(qapp):
    from pathlib import Path

    from faceinspector.backend.photos import PhotoItem

    model = PhotoListModel()
    from PySide6.QtGui import QIcon

    model.append(PhotoItem(Path("x.jpg"), error="x.jpg is empty (0 bytes)"), QIcon())
    assert model.data(model.index(0), Qt.ItemDataRole.ToolTipRole) == "x.jpg is empty (0 bytes)"
    assert model.contains(Path("x.jpg"))
    model.remove(0)
    assert model.rowCount() == 0 and not model.contains(Path("x.jpg"))


def test_exports(qtbot, make_window, one_photo, tmp_path):
    import csv

    win = make_window([one_photo], models=["dlib-gender", "faceapi-agegender"])
    wait_face_shown(qtbot, win)
    files = win.crops.export_png(tmp_path)
    assert len(files) == 4 and all((tmp_path / f).exists() for f in files)
    n = win.predictions.export_csv(tmp_path / "p.csv")
    rows = list(csv.DictReader(open(tmp_path / "p.csv", encoding="utf-8")))
    assert n == len(rows) > 0
    assert {r["crop"] for r in rows} == {"raw", "aligned"}
    assert {r["model"] for r in rows} == set(win.predictions.results)


def test_layout_prefs_recent_and_about(qtbot, qapp_named):
    from faceinspector.gui.main_window import MainWindow

    win = MainWindow(paths=[], restore_layout=False)
    qtbot.addWidget(win)
    win.show()
    win.docks["crops"].setFloating(True)
    win.close()  # saves the layout with its version key
    again = MainWindow(paths=[], restore_layout=True)
    qtbot.addWidget(again)
    again.show()
    assert again.docks["crops"].isFloating()
    again.docks["crops"].setFloating(False)

    prefs = settings.Preferences("cpu", 640)
    prefs.save()
    assert settings.Preferences.load() == prefs
    settings.add_recent_folder("/tmp/a")
    settings.add_recent_folder("/tmp/b")
    settings.add_recent_folder("/tmp/a")
    assert settings.recent_folders()[:2] == ["/tmp/a", "/tmp/b"]
    text = again.about_text()
    assert "CC0-1.0" in text and "MIT" in text and "facenet-pytorch" in text
    again.close()
    settings.Preferences().save()
