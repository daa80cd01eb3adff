"""Gallery pane: recognition. Enroll people from one or more faces each, name every face in a
photo, identify a whole folder.

The face selected in the Photos pane is enrolled under a name (its embedding from the chosen
embedder), or any loaded face dragged onto the Enrolled list (from the photo view, the Crops
pane or the Triplets face list; named after the typed name, else after its photo). Enrolling
a name again adds a face to that person (the list shows how many); replacing a person's faces
is in the list's right-click menu and asks first. Every face of the current photo is then
identified against the gallery: the person with the nearest enrolled face when closer than τ,
else "unknown". The names are drawn on a copy of the photo (kept inside it) and listed with
their distances; double-click a row to open the face, right-click to send it to Triplets. The
Folder tab identifies every image of a folder, with the rank-1 accuracy when its sub-folders
are named after people (:mod:`.folder`). A gallery is saved and loaded as a plain JSON file
(names, embeddings, model id; see :mod:`faceinspector.backend.gallery`; older one-face-per-person
files load too); a gallery made by another embedder is refused with a message, because its
distances mean nothing here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout,
                               QLabel, QLineEdit, QListWidget, QListWidgetItem, QMessageBox,
                               QPushButton, QSizePolicy, QSplitter, QTabWidget, QVBoxLayout,
                               QWidget)

from ....backend.gallery import Gallery, GalleryError
from ....backend import embeddings
from ....backend.types import FaceRef
from ... import convert, theme
from ...face_links import HINT, FaceLinks, set_faces
from ...workers import WorkerSlot
from ...widgets import default_threshold, fill_embedders, read_face_mime
from .folder import FolderPanel
from .people import PeopleList

FILTER = "FaceInspector gallery (*.json);;All files (*)"


def default_name(path: Path) -> str:
    """A person's name from a photo's file name: LFW's ``George_W_Bush_0001`` -> ``George W
    Bush``; otherwise the stem."""
    stem = path.stem
    head, _, tail = stem.rpartition("_")
    if head and tail.isdigit():
        stem = head
    return stem.replace("_", " ").strip() or path.name


class GalleryPane(QWidget):
    """Enroll / identify / save / load, with the photo's faces named."""

    message = Signal(str)
    openFace = Signal(str, int)  # photo path, face index: show it in Photos / Crops / ...
    sendToTriplets = Signal(str, int, str)  # photo path, face index, slot "A" / "P" / "N"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.ref = None
        self.items: list = []  # the Photos pane's PhotoItems
        self.gallery = Gallery(model_id="dlib-resnet")
        self.chips: dict[str, np.ndarray] = {}  # name -> enrolled chip (not saved)
        self.photo_faces: embeddings.PhotoFaces | None = None
        self.matches: list = []  # backend.gallery.Match per face of the current photo
        self.last_error = ""
        self.box: QMessageBox | None = None
        #: (name, replace, source) of the enrolment on its way
        self._pending: tuple = ("", False, None)
        #: asks "replace?" (tests swap in a function that answers)
        self.confirm = self._ask

        self.embedder = QComboBox()
        self.embedder.setToolTip("The embedder the gallery is made with (clear the gallery to "
                                 "switch)")
        self.tau = QDoubleSpinBox()
        self.tau.setRange(0.0, 4.0)
        self.tau.setSingleStep(0.01)
        self.tau.setDecimals(3)
        self.tau.setValue(0.6)
        self.tau.setToolTip("A face is the nearest enrolled person when closer than τ (L2), "
                            "else 'unknown'")
        self.name = QLineEdit()
        self.name.setPlaceholderText("name")
        self.enroll_button = QPushButton("Enroll selected face")
        self.enroll_button.clicked.connect(lambda: self.enroll(self.name.text()))
        self.name.returnPressed.connect(self.enroll_button.click)
        self.identify_button = QPushButton("Identify faces in this photo")
        self.identify_button.clicked.connect(self.identify)
        self.auto = QCheckBox("on every photo")
        self.auto.setChecked(True)
        self.save_button = QPushButton("Save…")
        self.load_button = QPushButton("Load…")
        self.clear_button = QPushButton("Clear")
        self.remove_button = QPushButton("Remove")
        self.save_button.clicked.connect(self.save_dialog)
        self.load_button.clicked.connect(self.load_dialog)
        self.clear_button.clicked.connect(self.clear)
        self.remove_button.clicked.connect(self.remove_selected)

        row1 = QHBoxLayout()
        row1.addWidget(QLabel("Embedder:"))
        row1.addWidget(self.embedder, 1)
        row1.addWidget(QLabel("τ:"))
        row1.addWidget(self.tau)
        for b in (self.save_button, self.load_button, self.clear_button):
            row1.addWidget(b)
        row2 = QHBoxLayout()
        row2.addWidget(self.name, 1)
        row2.addWidget(self.enroll_button)
        row2.addSpacing(10)
        row2.addWidget(self.identify_button)
        row2.addWidget(self.auto)

        self.people = PeopleList()
        self.people.viewport().installEventFilter(self)
        self.people.addTo.connect(lambda name: self.enroll(name))
        self.people.replaceWith.connect(self.replace)
        self.people.removePerson.connect(self.remove)
        self.people.openFace.connect(self.openFace)
        self.people.sendToTriplets.connect(self.sendToTriplets)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("<b>Enrolled</b>"))
        ll.addWidget(self.people, 1)
        ll.addWidget(self.remove_button)
        self.photo = QLabel("Select a photo with faces, enroll someone, and every face in the "
                            "photo gets a name.")
        self.photo.setWordWrap(True)
        self.photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.photo.setMinimumSize(200, 150)
        self.photo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.photo.setStyleSheet("background: #202124; color: #cfcfcf;")
        self.photo.installEventFilter(self)
        self.found = QListWidget()
        self.found.setMaximumHeight(110)
        self.found.setToolTip(HINT)
        self.found_links = FaceLinks(self.found, self.openFace.emit, self.sendToTriplets.emit)
        this = QWidget()
        tl = QVBoxLayout(this)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.photo, 1)
        tl.addWidget(self.found)
        self.folder = FolderPanel(ctx, lambda: self.gallery)
        self.folder.openFace.connect(self.openFace)
        self.folder.sendToTriplets.connect(self.sendToTriplets)
        self.folder.message.connect(self.message)
        right = self.tabs = QTabWidget()
        right.addTab(this, "This photo")
        right.addTab(self.folder, "Folder")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setChildrenCollapsible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color: {theme.MUTED};")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

        self.enroll_worker = WorkerSlot(ctx.pool, "compute", "gallery-enroll", self)
        self.enroll_worker.result.connect(self._on_enrolled)
        self.enroll_worker.error.connect(self._fail)
        self.identify_worker = WorkerSlot(ctx.pool, "compute", "gallery-identify", self)
        self.identify_worker.result.connect(self._on_identified)
        self.identify_worker.error.connect(self._fail)
        self.load_worker = WorkerSlot(ctx.pool, "io", "gallery-load", self)
        self.load_worker.result.connect(self._on_loaded)
        self.load_worker.error.connect(self._refuse)
        # saving touches the file system: never on the GUI thread (a stalled mount)
        self.save_worker = WorkerSlot(ctx.pool, "io", "gallery-save", self)
        self.save_worker.result.connect(self._on_saved)
        self.save_worker.error.connect(self._save_failed)
        self.tau.valueChanged.connect(self._on_tau)
        self.embedder.currentIndexChanged.connect(self._on_embedder)
        ctx.cardsChanged.connect(lambda cards: fill_embedders(self.embedder, cards,
                                                              self.gallery.model_id))
        fill_embedders(self.embedder, ctx.cards, None)
        self._refresh_people()

    @property
    def model_id(self) -> str | None:
        return self.embedder.currentData()

    # ---------------------------------------------------------------------------- input
    def set_photos(self, items) -> None:
        self.items = items  # the Photos pane's PhotoItems (read when identifying)

    def set_face(self, ref) -> None:
        new_photo = ref is None or self.ref is None or ref.path != self.ref.path
        self.ref = ref
        self.enroll_button.setEnabled(ref is not None)
        self.people.can_add = ref is not None
        if ref is not None and not self.name.text().strip():
            self.name.setPlaceholderText(f"name for {ref.path.stem} #{ref.index + 1}")
        if new_photo:
            self.photo_faces, self.matches = None, []
            self._draw()
            if ref is not None and self.auto.isChecked() and self.gallery.names:
                self.identify()

    def _on_embedder(self, _index: int) -> None:
        if self.model_id and self.model_id != self.gallery.model_id:
            self.gallery = Gallery(model_id=self.model_id, threshold=self.tau.value())
            self.tau.setValue(default_threshold(self.model_id, "l2"))
            self.photo_faces, self.matches = None, []
            self._refresh_people()

    def _on_tau(self, value: float) -> None:
        self.gallery.threshold = float(value)
        self._match()

    # ----------------------------------------------------------------------------- work
    def enroll(self, name: str, face: FaceRef | None = None, replace: bool = False) -> None:
        """Enroll ``face`` (default: the selected face) under ``name`` (embedded in a
        worker): a new person, or one more face of a person already enrolled (``replace``:
        instead of that person's faces)."""
        name = name.strip()
        if not name:
            self._fail("Type a name for the selected face first.")
            return
        if face is None and self.ref is not None:
            r = self.ref
            face = r
        if face is None or self.ctx.backend is None:
            self._fail("Select a face in the Photos pane first.")
            return
        self._pending = (name, replace, (str(face.path), int(face.index)))
        verb = "replacing the faces of" if replace else "enrolling"
        self.status.setText(f"{verb} {name}…")
        self.enroll_worker.submit(embeddings.embed_faces, self.ctx.backend, [face],
                                  self.gallery.model_id)

    def replace(self, name: str) -> bool:
        """Replace ``name``'s enrolled faces with the selected face, after asking."""
        n = self.gallery.count(name)
        if self.ref is None:
            self._fail("Select a face in the Photos pane first.")
            return False
        if n and not self.confirm(f"Replace the {n} enrolled face{'s' if n != 1 else ''} of "
                                  f"{name} with {self.ref.label}?"):
            return False
        self.enroll(name, replace=True)
        return True

    def _ask(self, text: str) -> bool:
        answer = QMessageBox.question(self, "Replace enrolled faces", text)
        return answer == QMessageBox.StandardButton.Yes

    def _on_enrolled(self, embs) -> None:
        fe = embs[0] if embs else None
        if fe is None or fe.model_id != self.gallery.model_id:
            return
        name, replace, source = self._pending
        try:
            n = self.gallery.enroll(name, fe.emb_aligned, replace=replace, source=source)
        except GalleryError as exc:
            self._fail(str(exc))
            return
        if replace or name not in self.chips:
            self.chips[name] = fe.aligned.pixels
        self.name.clear()
        more = f" ({n} faces)" if n > 1 else ""
        self.status.setText(f"Enrolled {name}{more} from {fe.label}.")
        self._refresh_people()
        if self.photo_faces is not None:
            self._match()
        else:
            self.identify()

    def identify(self) -> None:
        """Embed every face of the current photo and name them from the gallery."""
        r = self.ref
        if r is None or self.ctx.backend is None:
            return
        faces = next((it.faces for it in self.items if it.path == r.path), ()) or (r.face,)
        self.identify_worker.submit(embeddings.embed_photo, self.ctx.backend, r.path, r.photo,
                                    faces, self.gallery.model_id)

    def _on_identified(self, pf: embeddings.PhotoFaces) -> None:
        if self.ref is None or pf.path != self.ref.path:
            return
        self.photo_faces = pf
        self._match()

    def _match(self) -> None:
        pf = self.photo_faces
        self.matches = []
        if pf is not None and pf.embeddings:
            ok = [fe for fe in pf.embeddings if fe is not None]
            if ok and len(ok) == len(pf.embeddings):
                try:
                    self.matches = self.gallery.identify(np.stack([fe.emb_aligned
                                                                   for fe in ok]))
                except GalleryError as exc:  # never a traceback in a slot
                    self._fail(str(exc))
        self._draw()

    # ---------------------------------------------------------------------------- views
    def _refresh_people(self) -> None:
        self.people.fill(self.gallery, self.chips)
        self.people.can_add = self.ref is not None
        n = len(self.gallery.names)
        self.embedder.setEnabled(n == 0)
        for b in (self.save_button, self.clear_button, self.remove_button):
            b.setEnabled(n > 0)
        self.identify_button.setEnabled(n > 0)
        if not self.status.text():
            self.status.setText(f"{n} enrolled · {self.gallery.model_id}")

    def _draw(self) -> None:
        self.found.clear()
        pf = self.photo_faces
        if pf is None:
            if self.ref is None:
                self.photo.setText("Select a photo with faces in the Photos pane.")
            else:
                self.photo.setText("Enroll someone, then identify the faces of this photo."
                                   if not self.gallery.names else "Identifying…")
            return
        for i, m in enumerate(self.matches):
            known = m.name != "unknown"
            near = "" if known else f" (nearest {m.nearest}, {m.distance:.3f})"
            item = QListWidgetItem(f"face #{i + 1}: {m.name}"
                                   + (f" {m.distance:.3f}" if known else near))
            set_faces(item, (f"face #{i + 1}", pf.path, i))
            self.found.addItem(item)
        self._paint_photo()

    def _paint_photo(self) -> None:
        """The photo scaled to the view, then boxes and names drawn at screen size."""
        pf = self.photo_faces
        if pf is None or self.photo.width() < 20:
            return
        pix = convert.to_qpixmap(pf.display).scaled(
            self.photo.size(), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation)
        scale = pf.scale * pix.width() / max(1, pf.display.shape[1])
        pix = convert.draw_faces(pix, pf.faces, scale, scores=False, landmarks=False)
        painter = QPainter(pix)
        for face, m in zip(pf.faces, self.matches):
            x1, _, _, y2 = (float(v) * scale for v in face.box)
            convert.draw_label(painter, m.name, QPointF(x1, y2),
                               theme.BOX if m.name != "unknown" else theme.MUTED,
                               point_size=9, above=False)
        painter.end()
        self.photo.setPixmap(pix)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.photo and event.type() == QEvent.Type.Resize:
            self._paint_photo()
        elif obj is self.people.viewport() and event.type() in (
                QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            face = read_face_mime(event.mimeData())
            if face is None:
                return False
            event.acceptProposedAction()
            if event.type() == QEvent.Type.Drop:
                self.enroll_dropped(*face)
            return True
        return super().eventFilter(obj, event)

    def enroll_dropped(self, path: str, index: int) -> None:
        """Enroll face ``index`` of the loaded photo ``path`` (a face dropped on the list)."""
        item = next((it for it in self.items if str(it.path) == str(path)), None)
        if item is None or not 0 <= index < len(item.faces):
            self._fail("That face is not among the loaded photos any more.")
            return
        name = self.name.text().strip() or default_name(Path(path))
        photo = self.ref.photo if self.ref is not None and str(self.ref.path) == str(path) \
            else None
        self.enroll(name, FaceRef(Path(path), index, item.faces[index], photo,
                                  len(item.faces)))

    def _fail(self, message: str) -> None:
        self.last_error = message
        self.status.setText(f"<span style='color:{theme.ERROR}'>{message}</span>")
        self.message.emit(f"Gallery: {message}")

    # ---------------------------------------------------------------------------- files
    def remove_selected(self) -> None:
        name = self.people.current_name()
        if name is not None:
            self.remove(name)

    def remove(self, name: str) -> None:
        if name in self.gallery.names:
            self.gallery.remove(name)
            self.chips.pop(name, None)
            self._refresh_people()
            self._match()

    def clear(self) -> None:
        self.gallery = Gallery(model_id=self.model_id or self.gallery.model_id,
                               threshold=self.tau.value())
        self.chips.clear()
        self.status.setText("")
        self._refresh_people()
        self._match()

    def save(self, path) -> None:
        """Write a snapshot of the gallery to ``path`` in a worker (atomically: a failed save
        leaves the old file and no temporary file); the outcome is shown in the status line,
        a failure also in a message box."""
        g = self.gallery
        snapshot = Gallery(g.model_id, g.metric, g.threshold, list(g.names),
                           g.embeddings.copy(), list(g.owner), list(g.sources))
        self.status.setText(f"Saving {len(snapshot.names)} people to {Path(path).name}…")
        self.save_worker.submit(_save_gallery, snapshot, str(path))

    def _on_saved(self, saved) -> None:
        n, path = saved
        self.last_error = ""
        self.status.setText(f"Saved {n} people to {Path(path).name}.")
        self.message.emit(f"Gallery: saved {n} people to {path}")

    def _save_failed(self, message: str) -> None:
        self._fail(f"not saved: {message}")
        self.box = QMessageBox(QMessageBox.Icon.Warning, "Gallery not saved", message,
                               QMessageBox.StandardButton.Ok, self)
        self.box.open()

    def load(self, path) -> None:
        """Read a gallery file in a worker; one made by another embedder is refused."""
        self.load_worker.submit(Gallery.load, str(path), expect_model=self.model_id)

    def _on_loaded(self, gallery: Gallery) -> None:
        self.gallery = gallery
        self.chips = {}
        self.tau.blockSignals(True)
        self.tau.setValue(gallery.threshold)
        self.tau.blockSignals(False)
        self.last_error = ""
        self.status.setText(f"Loaded {len(gallery.names)} people ({gallery.model_id}).")
        self._refresh_people()
        if self.ref is not None:
            self.identify()

    def _refuse(self, message: str) -> None:
        self._fail(message)
        self.box = QMessageBox(QMessageBox.Icon.Warning, "Gallery not loaded", message,
                               QMessageBox.StandardButton.Ok, self)
        self.box.open()

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the gallery", "gallery.json", FILTER)
        if path:
            self.save(path)

    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a gallery", "", FILTER)
        if path:
            self.load(path)


def _save_gallery(gallery: Gallery, path: str) -> tuple[int, str]:
    """Worker job: save ``gallery`` to ``path``; returns (people, path)."""
    gallery.save(path)
    return len(gallery.names), path


__all__ = ["GalleryPane"]
