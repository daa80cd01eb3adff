"""Issue 18, window and keyboard: a minimum size within 1280x720, View ▸ Reset layout, a shortcut
that raises each pane, a visible focus ring, Help ▸ Guide, thumbnails whose face count is always
visible, a photo list that does not jump while photos arrive, the VAE save path."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem, QWidget

from faceinspector.backend.photos import PhotoItem
from faceinspector.backend.tasks import Progress
from faceinspector.gui.guide import PANE_KEYS, guide_html

#: QWidget / QPaintDevice virtuals: an instance attribute with one of these names makes
#: PySide 6.12 call it during painting (a QComboBox named "metric" crashed the Triplets pane)
VIRTUALS = ("metric", "devType", "paintEngine", "sizeHint", "minimumSizeHint", "event",
            "eventFilter", "heightForWidth", "initPainter", "redirected", "sharedPainter")


@pytest.fixture
def win(make_window):
    return make_window(models=())


def test_minimum_size_fits_1280x720(qtbot, win):
    hint = win.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720, hint
    win.resize(1280, 720)
    qtbot.waitUntil(lambda: win.size() == QSize(1280, 720), timeout=5_000)
    for dock in win.docks.values():  # every pane scrolls when squeezed, never grows the window
        assert dock.widget().widget() is dock.pane


def test_no_pane_attribute_shadows_a_qt_virtual(win):
    for name, dock in win.docks.items():
        for attr in VIRTUALS:
            assert attr not in vars(dock.pane), f"{name}.{attr} shadows QWidget.{attr}"


def test_shortcuts_raise_each_pane_and_the_focus_ring_shows(qtbot, win):
    for name, _title, key, _question in PANE_KEYS:
        if name not in win.docks:
            continue
        act = win.pane_actions[name]
        assert act.shortcut().toString() == key
        win.docks[name].close()
        act.trigger()
        dock = win.docks[name]
        qtbot.waitUntil(lambda d=dock: d.isVisible() and not d.visibleRegion().isEmpty(),
                        timeout=5_000)
        qtbot.waitUntil(lambda d=dock: win.focusWidget() is not None
                        and d.isAncestorOf(win.focusWidget()), timeout=5_000)
    ring = win.focus_ring
    qtbot.waitUntil(lambda: ring.isVisible() and ring.target is win.focusWidget(),
                    timeout=5_000)
    target = ring.target
    top_left = target.mapTo(win, target.rect().topLeft())
    assert ring.geometry().contains(top_left) and ring.width() >= target.width()
    # a click moves the focus: no ring (it is a keyboard cue)
    win.focus_ring._on_focus(None, None)
    assert not ring.isVisible()


def test_reset_layout(qtbot, win):
    win.docks["crops"].setFloating(True)
    win.docks["gallery"].close()
    win.act_reset.trigger()
    assert not win.docks["crops"].isFloating()
    qtbot.waitUntil(lambda: win.docks["predictions"].isVisible(), timeout=5_000)
    assert win.tabifiedDockWidgets(win.docks["predictions"])  # tabbed as at the first start
    assert win.dockWidgetArea(win.docks["photos"]) == Qt.DockWidgetArea.LeftDockWidgetArea


def test_help_guide(qtbot, win):
    text = guide_html()
    for _, title, _, _ in PANE_KEYS:
        assert title in text
    assert "64.2 %" in text and "91.6 %" in text  # the seed's story, with its figures
    win.act_guide.trigger()
    assert win.guide.isVisible() and "worked example" in win.guide.text.toPlainText().lower()
    win.guide.close()


def test_thumbnail_names_are_elided_and_the_face_count_stays(qtbot, win):
    from faceinspector.gui.panes.photos.delegate import ThumbnailDelegate

    model = win.photos.model
    name = "a_very_long_photo_name_from_the_web_that_never_ends_0001.jpg"
    item = PhotoItem(Path(name), faces=(), size=(100, 100))
    model.append(item, QIcon())
    index = model.index(model.rowCount() - 1)
    assert ThumbnailDelegate.lines(index) == (name, "0 faces")
    delegate = win.photos.list.itemDelegate()
    assert isinstance(delegate, ThumbnailDelegate)
    grid = win.photos.list.gridSize()
    image = QImage(grid, QImage.Format.Format_RGB32)
    image.fill(0xFFFFFFFF)
    painter = QPainter(image)
    option = QStyleOptionViewItem()
    option.initFrom(win.photos.list)
    option.rect = image.rect()
    delegate.paint(painter, option, index)
    painter.end()
    fm = option.fontMetrics
    elided = fm.elidedText(name, Qt.TextElideMode.ElideRight, grid.width() - 6)
    assert elided.endswith("…") and elided.startswith("a_very")
    # the lower third holds the two text lines: something was painted there
    lines = [image.pixel(x, y) for y in range(grid.height() - 30, grid.height())
             for x in range(grid.width())]
    assert any(p != 0xFFFFFFFF for p in lines)
    assert delegate.sizeHint(option, QModelIndex()) == grid


def test_the_photo_list_is_sized_once_when_a_load_starts(qtbot, win):
    photos = win.photos
    photos.resize(640, 600)
    sizes = photos.splitter.sizes()
    photos._batch_base = 0
    photos._on_load_progress(Progress(0, 40, "Detecting faces"))  # the first progress
    fitted = photos.splitter.sizes()
    assert fitted != sizes  # two rows reserved at once, for the 40 photos to come
    for k in range(12):  # photos arrive: the view below does not move
        photos.model.append(PhotoItem(Path(f"p{k}.jpg"), faces=(), size=(10, 10)), QIcon())
        assert photos.splitter.sizes() == fitted


def test_vae_training_saves_without_a_doubled_folder(qapp_named):
    from faceinspector.gui.panes.morph.training import default_output

    parts = default_output().parts
    assert parts[-2] == "vae" and parts[-3] == "FaceInspector"
    assert parts[-4] != "FaceInspector"


def test_focus_ring_ignores_widgets_of_other_windows(qtbot, win):
    other = QWidget()
    qtbot.addWidget(other)
    win.focus_ring._on_focus(None, other)
    assert win.focus_ring.target is None and not win.focus_ring.isVisible()
