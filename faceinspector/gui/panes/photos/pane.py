"""Photos pane: drop or open photos and folders, detect faces in a worker, pick a face.

Detection runs on the ``detect`` lane as a generator: each photo appears in the thumbnail list
as soon as it is done (with its face count), files are read lazily, and a bad file becomes an
entry with an error icon and its one-line message. The selected photo is shown large with every
face's box, landmarks and score; clicking a face (or N / P) emits :attr:`PhotosPane.faceSelected`.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QLabel, QListView, QSplitter, QStyle,
                               QVBoxLayout, QWidget)

from ....backend.photos import PhotoItem
from ....backend.types import FaceRef
from ... import convert, jobs, theme
from ...workers import Progress, WorkerSlot
from .delegate import ThumbnailDelegate
from .view import PhotoView

PHOTO_CACHE = 6  # full-resolution photos kept in memory for the large view and the crops


class PhotoListModel(QAbstractListModel):
    """Rows of :class:`~faceinspector.gui.PhotoItem` with a thumbnail icon each."""

    ItemRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.items: list[PhotoItem] = []
        self.icons: list[QIcon] = []
        self._paths: set[Path] = set()
        self._error_icon: QIcon | None = None

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        item = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            if item.error:
                return f"{item.path.name}\n⚠ cannot be read"
            n = len(item.faces)
            return f"{item.path.name}\n{n} face{'' if n == 1 else 's'}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self.icons[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            if item.error:
                return item.error
            note = f"\n{item.note}" if item.note else ""
            return (f"{item.path}\n{item.size[0]}×{item.size[1]} px, {len(item.faces)} faces"
                    + note)
        if role == Qt.ItemDataRole.ForegroundRole and item.error:
            return QColor(theme.ERROR)
        if role == self.ItemRole:
            return item
        return None

    def contains(self, path: Path) -> bool:
        return path in self._paths

    def append(self, item: PhotoItem, icon: QIcon) -> int:
        row = len(self.items)
        self.beginInsertRows(QModelIndex(), row, row)
        self.items.append(item)
        self.icons.append(icon)
        self._paths.add(item.path)
        self.endInsertRows()
        return row

    def remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        item = self.items.pop(row)
        self.icons.pop(row)
        self._paths.discard(item.path)
        self.endRemoveRows()


def thumb_icon(item: PhotoItem, side: int, error_icon: QIcon) -> QIcon:
    """The list icon: thumbnail with the face boxes, on a fixed-size canvas (GUI thread)."""
    canvas = QPixmap(side, side)
    canvas.fill(Qt.GlobalColor.transparent)
    painter = QPainter(canvas)
    if item.thumb is None:
        error_icon.paint(painter, side // 4, side // 4, side // 2, side // 2)
    else:
        pix = convert.to_qpixmap(item.thumb)
        scale = item.thumb.shape[1] / max(1, item.size[0])
        pix = convert.draw_faces(pix, item.faces, scale, scores=False, landmarks=False,
                                 width=1.5)
        painter.drawPixmap((side - pix.width()) // 2, (side - pix.height()) // 2, pix)
    painter.end()
    return QIcon(canvas)


class PhotosPane(QWidget):
    """Thumbnails (top) and the selected photo, large (bottom)."""

    faceSelected = Signal(object)  # FaceRef, or None when no face is selected
    loadProgress = Signal(object)  # Progress
    loadBusyChanged = Signal(bool)
    message = Signal(str)  # one line for the status bar

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAcceptDrops(True)
        self.model = PhotoListModel(self)
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(True)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setUniformItemSizes(True)
        self.list.setLayoutMode(QListView.LayoutMode.Batched)
        self.list.setBatchSize(50)
        side = theme.THUMB_SIDE
        self.list.setIconSize(QSize(side, side))
        self.list.setGridSize(QSize(side + 14, side + 42))
        self.list.setWordWrap(False)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        # name elided at its end on one line, the face count always on the next
        self.list.setItemDelegate(ThumbnailDelegate(self.list.gridSize(), side, self.list))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setMinimumHeight(side + 48)
        self.list.selectionModel().currentChanged.connect(self._on_current_changed)
        self.view = PhotoView()
        self.view.faceClicked.connect(self.select_face)
        self.summary = QLabel("No photos yet.")
        self.summary.setStyleSheet(f"color: {theme.MUTED}; padding: 2px 4px;")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.list)
        split.addWidget(self.view)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([side + 50, 600])
        split.setChildrenCollapsible(False)
        split.splitterMoved.connect(self._on_splitter_moved)
        self.splitter = split
        self._user_sized = False  # the user dragged the splitter: stop fitting the list
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(split, 1)
        layout.addWidget(self.summary)

        self._error_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self._photos: OrderedDict[Path, tuple] = OrderedDict()  # path -> (Photo, display)
        self._queued: list[Path] = []
        self.face_index = -1
        self._shown: tuple | None = None  # (path, Photo) in the large view
        self._want_last = False  # P stepped back onto this photo: select its last face
        self._want_face: tuple[Path, int] | None = None  # show_photo: select this face of it
        self.loaded = self.failed = self.face_total = 0
        self.load_slot = WorkerSlot(ctx.pool, "detect", "detect", self)
        self.load_slot.result.connect(self._on_loaded)
        self.load_slot.progress.connect(self.loadProgress)
        self.load_slot.progress.connect(self._on_load_progress)
        self._expected = 0  # rows the list will have when the running load is done
        self.load_slot.error.connect(self.message)
        self.load_slot.finished.connect(self._on_load_finished)
        self.load_slot.busyChanged.connect(self.loadBusyChanged)
        self.model.rowsInserted.connect(self._fit_list)
        self.model.rowsRemoved.connect(self._fit_list)
        self.view_slot = WorkerSlot(ctx.pool, "io", "view", self)
        self.view_slot.result.connect(self._on_view_loaded)
        self.view_slot.error.connect(lambda m: self.view.set_message(m, error=True))
        ctx.backendChanged.connect(lambda _info: self._start_next())

    # ------------------------------------------------------------------------- loading
    @property
    def busy(self) -> bool:
        return self.load_slot.busy or bool(self._queued)

    def open_paths(self, paths) -> None:
        """Add files and folders; they load after any batch already running."""
        self._queued.extend(Path(p) for p in paths)
        if not self.load_slot.busy:
            self._start_next()

    def _start_next(self) -> None:
        if not self._queued or self.ctx.backend is None or self.load_slot.busy:
            if self._queued and self.ctx.backend is None:
                self.summary.setText("Loading the models… your photos open in a moment.")
            return
        batch, self._queued = self._queued, []
        self._batch_base = self.model.rowCount()
        self.load_slot.submit(jobs.load_and_detect, self.ctx.backend, batch, theme.THUMB_SIDE)

    def cancel_load(self) -> None:
        self._queued.clear()
        if self.load_slot.busy:
            self.load_slot.cancel()
            self.message.emit("Loading cancelled.")

    def show_photo(self, path, face: int = 0) -> None:
        """Select photo ``path`` (opening it first when it is not in the list) and its face
        number ``face`` -- how a list elsewhere (mismatch examples, hardest pairs) opens the
        face behind a result."""
        path = Path(path)
        self._want_face = (path, max(0, int(face)))
        row = next((i for i, it in enumerate(self.model.items) if it.path == path), None)
        if row is None:
            self.open_paths([path])
            return
        if self.list.currentIndex().row() == row and self._shown and self._shown[0] == path:
            self._want_face = None
            self.select_face(min(max(0, int(face)), len(self.model.items[row].faces) - 1))
        else:
            self.list.setCurrentIndex(self.model.index(row))

    def _on_loaded(self, item: PhotoItem) -> None:
        if self.model.contains(item.path):
            return
        if item.photo is not None:
            self._remember(item.path, item.photo, item.display)
            item = item.light()  # the list keeps no full pixels
        row = self.model.append(item, thumb_icon(item, theme.THUMB_SIDE, self._error_icon))
        if item.note:
            self.message.emit(item.note)
        if item.error:
            self.failed += 1
        else:
            self.loaded += 1
            self.face_total += len(item.faces)
        self._update_summary()
        if not self.list.currentIndex().isValid() or (
                self._want_face is not None and self._want_face[0] == item.path):
            self.list.setCurrentIndex(self.model.index(row))

    def _on_load_finished(self, cancelled: bool) -> None:
        self._expected = 0  # the list holds what it will hold now
        if not cancelled:
            self._start_next()

    def _update_summary(self) -> None:
        text = f"{self.loaded} photos, {self.face_total} faces"
        if self.failed:
            text += f" — {self.failed} file{'s' if self.failed > 1 else ''} could not be read " \
                    "(hover the ⚠ entry for why)"
        if text != self.summary.text():
            self.summary.setText(text)

    def _remember(self, path: Path, photo, display) -> None:
        self._photos[path] = (photo, display)
        self._photos.move_to_end(path)
        while len(self._photos) > PHOTO_CACHE:
            self._photos.popitem(last=False)

    def _on_load_progress(self, p: Progress) -> None:
        """The load's total is known at its start: size the list for all of it at once, so
        the photo view does not jump down when the thumbnails fill a second row."""
        expected = getattr(self, "_batch_base", 0) + p.total
        if p.total and expected != self._expected:
            self._expected = expected
            self._fit_list()

    def _on_splitter_moved(self, *_args) -> None:
        self._user_sized = True

    def _fit_list(self, *_args) -> None:
        """Show the thumbnails in one row, or two when they do not fit in one."""
        if self._user_sized:
            return
        grid = self.list.gridSize()
        per_row = max(1, (self.list.viewport().width() - 4) // max(1, grid.width()))
        rows = 2 if max(self.model.rowCount(), self._expected) > per_row else 1
        want = rows * grid.height() + 2 * self.list.frameWidth() + 6
        sizes = self.splitter.sizes()
        if abs(sizes[0] - want) > 2 and sum(sizes) > want + 200:  # resizing the view is costly
            self.splitter.blockSignals(True)
            self.splitter.setSizes([want, sum(sizes) - want])
            self.splitter.blockSignals(False)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_list()

    # ----------------------------------------------------------------------- selection
    def current_item(self) -> PhotoItem | None:
        index = self.list.currentIndex()
        return self.model.items[index.row()] if index.isValid() else None

    def _on_current_changed(self, current: QModelIndex, _previous=None) -> None:
        self.face_index = -1
        self._shown = None
        if not current.isValid():
            self.view_slot.cancel()
            self.view.set_message("Drop photos or folders here, or use File ▸ Open.")
            self.faceSelected.emit(None)
            return
        item = self.model.items[current.row()]
        if item.error:
            self.view_slot.cancel()
            self.view.set_message(item.error, error=True)
            self.faceSelected.emit(None)
            return
        cached = self._photos.get(item.path)
        if cached is not None:
            self.view_slot.cancel()
            self._photos.move_to_end(item.path)
            self._show(item, *cached)
        else:
            self.view.set_message(f"Loading {item.path.name}…")
            self.faceSelected.emit(None)
            self.view_slot.submit(jobs.load_for_view, item.path)

    def _on_view_loaded(self, result) -> None:
        item = self.current_item()
        photo, display = result
        if item is None or Path(photo.source) != item.path:
            return
        self._remember(item.path, photo, display)
        self._show(item, photo, display)

    def _show(self, item: PhotoItem, photo, display) -> None:
        self._shown = (item.path, photo)
        self.view.set_photo(display, item.size, item.faces, path=item.path)
        last, self._want_last = self._want_last, False
        # the largest, most central face first (issue 18); stepping back: the last one
        index = (len(item.faces) - 1 if last else max(item.main_face, 0)) if item.faces else -1
        if self._want_face is not None and self._want_face[0] == item.path:
            index = min(self._want_face[1], len(item.faces) - 1)
            self._want_face = None
        # select in the next event-loop turn: the photo is painted first, and the GUI thread
        # gets a breath between drawing it and starting the crops and predictions
        QTimer.singleShot(0, lambda p=item.path: self._select_if_current(p, index))

    def _select_if_current(self, path: Path, index: int) -> None:
        if self._shown is not None and self._shown[0] == path and self.face_index < 0:
            self.select_face(index)

    def select_face(self, index: int) -> None:
        item = self.current_item()
        shown = self._shown
        if (item is None or shown is None or shown[0] != item.path
                or not 0 <= index < len(item.faces)):
            self.face_index = -1
            self.view.select(-1)
            self.faceSelected.emit(None)
            return
        self.face_index = index
        self.view.select(index)
        self.faceSelected.emit(FaceRef(item.path, index, item.faces[index], shown[1],
                                       len(item.faces)))

    def step_face(self, step: int) -> None:
        """Next (+1) / previous (-1) face, moving on to the next photo with faces."""
        item = self.current_item()
        if item is not None and 0 <= self.face_index + step < len(item.faces):
            self.select_face(self.face_index + step)
            return
        rows = len(self.model.items)
        row = self.list.currentIndex().row()
        for k in range(1, rows + 1):
            r = (row + step * k) % rows
            faces = self.model.items[r].faces
            if faces:
                self._want_last = step < 0
                if step > 0 and r != row:  # stepping on: the next photo's first face
                    self._want_face = (self.model.items[r].path, 0)
                if r == row:
                    self.select_face(len(faces) - 1 if step < 0 else 0)
                else:
                    self.list.setCurrentIndex(self.model.index(r))
                return

    def remove_current(self) -> None:
        index = self.list.currentIndex()
        if not index.isValid():
            return
        item = self.model.items[index.row()]
        self._photos.pop(item.path, None)
        if item.error:
            self.failed -= 1
        else:
            self.loaded -= 1
            self.face_total -= len(item.faces)
        self.model.remove(index.row())
        self._update_summary()
        if self.model.rowCount():
            self.list.setCurrentIndex(self.model.index(min(index.row(), self.model.rowCount() - 1)))
        else:
            self._on_current_changed(QModelIndex())

    # ---------------------------------------------------------------------- drag & drop
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)
            event.acceptProposedAction()

    def progress_text(self, p: Progress) -> str:
        total = f"/{p.total}" if p.total else ""
        return f"Detecting faces: {p.done}{total} photos"
