"""The Triplets pane's face widgets: the list of loaded faces (drag source) and the Anchor /
Positive / Negative slots (drop targets). Faces travel as :func:`~..widgets.face_mime` payloads,
so the photo view and the Crops pane can be drag sources too."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QLabel, QListWidget,
                               QVBoxLayout)

from ....backend.embeddings import FaceEmbedding
from ...widgets import MIME_FACE, chip_pixmap, face_mime, muted, read_face_mime

SLOTS = {"A": "Anchor", "P": "Positive", "N": "Negative"}
CHIP = 96  # px of the aligned chip in a slot (the raw one is half)


class FaceList(QListWidget):
    """Every loaded face in the heat map's order (row i = matrix row i); drag one to a slot."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setIconSize(QSize(36, 36))
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setFixedWidth(172)
        self.setToolTip("Every face of the loaded photos, in the heat map's order: drag one "
                        "onto Anchor, Positive or Negative (right-click: send it to a slot; "
                        "double-click: open it in Photos)")
        self.keys: list[tuple] = []  # FaceEmbedding.key per row, set by the pane

    def mimeTypes(self) -> list[str]:
        return [MIME_FACE]

    def mimeData(self, items) -> QMimeData:
        row = self.row(items[0]) if items else -1
        if not 0 <= row < len(self.keys):
            return QMimeData()
        path, index, _box = self.keys[row]
        return face_mime(path, index)


class FaceSlot(QFrame):
    """One of Anchor / Positive / Negative: the aligned chip, the raw chip, the face's name."""

    dropped = Signal(str, str, int)  # slot key, photo path, face index
    opened = Signal(str)  # slot key: double-clicked, open its face in Photos

    def __init__(self, key: str, parent=None) -> None:
        super().__init__(parent)
        self.key = key
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(f"{SLOTS[key]}: drop a face here; double-click to open it in Photos")
        self.aligned, self.raw, self.name = QLabel(), QLabel(), muted()
        for label, side in ((self.aligned, CHIP), (self.raw, CHIP // 2)):
            label.setFixedSize(side, side)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)
            label.setStyleSheet("background: #202124; color: #cfcfcf;")
        self.aligned.setToolTip("The aligned crop the embedder sees")
        self.raw.setToolTip("The raw box crop, for comparison")
        raw_col = QVBoxLayout()
        raw_col.addStretch(1)
        raw_col.addWidget(QLabel("raw:"))
        raw_col.addWidget(self.raw)
        chips = QHBoxLayout()
        chips.addWidget(self.aligned)
        chips.addLayout(raw_col)
        chips.addStretch(1)
        title = QHBoxLayout()
        title.setSpacing(8)
        title.addWidget(QLabel(f"<b>{SLOTS[key]}</b>"))
        title.addWidget(self.name, 1)
        self.name.setWordWrap(False)
        self.name.setMinimumWidth(20)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        layout.setSpacing(2)
        layout.addLayout(title)
        layout.addLayout(chips)
        self.clear("drop a face here")

    def clear(self, text: str) -> None:
        self.aligned.clear()
        self.aligned.setText(text)
        self.raw.clear()
        self.name.setText("")

    def show_face(self, fe: FaceEmbedding) -> None:
        self.aligned.setPixmap(chip_pixmap(fe.aligned.pixels, CHIP))
        self.raw.setPixmap(chip_pixmap(fe.raw.pixels, CHIP // 2))
        self.name.setText(fe.label)
        self.name.setToolTip(f"{fe.label}, aligned with {fe.aligned.template}")

    def mouseDoubleClickEvent(self, event) -> None:
        self.opened.emit(self.key)

    def dragEnterEvent(self, event) -> None:
        if read_face_mime(event.mimeData()) is not None:
            event.acceptProposedAction()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event) -> None:
        face = read_face_mime(event.mimeData())
        if face is not None:
            self.dropped.emit(self.key, *face)
            event.acceptProposedAction()


__all__ = ["CHIP", "SLOTS", "FaceList", "FaceSlot"]
