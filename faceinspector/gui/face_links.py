"""From a result to the face behind it: every list of faces or pairs opens its item in the
Photos pane (and so in Crops, Predictions and Probe) with one double-click (or Enter), and its
context menu sends it to a Triplets slot.

A pane stores the faces of a row in the item's :data:`FACE_ROLE` data with :func:`set_faces`
(one ``(label, photo path, face index)`` for a face, two for a pair), installs
:class:`FaceLinks` on the view, and declares the two signals the main window wires
(:meth:`MainWindow.link_faces`)::

    openFace = Signal(str, int)            # photo path, face index (detection order)
    sendToTriplets = Signal(str, int, str)  # photo path, face index, "A" / "P" / "N"

Works on any item view (``QListWidget``, ``QListView`` with a model); the Mismatch pane's
example strips and the Evaluate pane use it too.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtWidgets import QAbstractItemView, QMenu

#: item data: a list of (label, photo path, face index) tuples
FACE_ROLE = Qt.ItemDataRole.UserRole + 41
SLOT_NAMES = {"A": "Anchor", "P": "Positive", "N": "Negative"}
HINT = "double-click: open in Photos / Crops / Predictions · right-click: send to Triplets"


def set_faces(item, *faces) -> None:
    """Attach ``(label, path, face index)`` tuples to a ``QListWidgetItem`` (or any object
    with ``setData``); a face index below 0 means "the photo's first face"."""
    item.setData(FACE_ROLE, [(str(label), str(path), max(0, int(face)))
                             for label, path, face in faces])


def faces_of(index: QModelIndex) -> list[tuple[str, str, int]]:
    data = index.data(FACE_ROLE) if index.isValid() else None
    return [tuple(f) for f in data] if data else []


class FaceLinks(QObject):
    """Double-click / Enter opens the row's (first) face; right-click offers every face of the
    row: open it, or send it to Anchor / Positive / Negative (a pair: both at once)."""

    def __init__(self, view: QAbstractItemView, open_face, send_face) -> None:
        super().__init__(view)
        self.view, self.open_face, self.send_face = view, open_face, send_face
        self.menu: QMenu | None = None  # the last context menu (tests read it)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._menu)
        view.activated.connect(self.open_index)  # double-click, or Enter on the current row

    def open_index(self, index: QModelIndex) -> None:
        faces = faces_of(index)
        if faces:
            _, path, face = faces[0]
            self.open_face(path, face)

    def build_menu(self, index: QModelIndex) -> QMenu | None:
        """The context menu of a row (None when it holds no face)."""
        faces = faces_of(index)
        if not faces:
            return None
        menu = QMenu(self.view)
        for label, path, face in faces:
            what = f"{label} ({Path(path).name}, face {face + 1})" if len(faces) > 1 \
                else f"{Path(path).name}, face {face + 1}"
            act = menu.addAction(f"Open {what} in Photos")
            act.triggered.connect(lambda _=False, p=path, f=face: self.open_face(p, f))
        menu.addSeparator()
        for label, path, face in faces:
            sub = menu.addMenu(f"Send {label if len(faces) > 1 else 'face'} to Triplets")
            for slot, name in SLOT_NAMES.items():
                act = sub.addAction(f"{name} ({slot})")
                act.triggered.connect(lambda _=False, p=path, f=face, s=slot:
                                      self.send_face(p, f, s))
        if len(faces) == 2:
            (_, pa, fa), (_, pb, fb) = faces
            for second in ("P", "N"):
                act = menu.addAction(f"Send the pair to Triplets as A / {second}")
                act.triggered.connect(lambda _=False, s=second: (self.send_face(pa, fa, "A"),
                                                                  self.send_face(pb, fb, s)))
        return menu

    def _menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        menu = self.build_menu(index)
        if menu is not None:
            self.menu = menu
            menu.popup(self.view.viewport().mapToGlobal(pos))


__all__ = ["FACE_ROLE", "HINT", "SLOT_NAMES", "FaceLinks", "faces_of", "set_faces"]
