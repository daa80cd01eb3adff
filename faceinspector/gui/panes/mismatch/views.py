"""The Mismatch pane's own widgets: a drop zone for a collection and a strip of example faces.

GUI thread only, like every widget; they hold paths and small thumbnails, never photos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QMenu, QVBoxLayout)

from ... import theme
from ...face_links import FaceLinks, set_faces
from ...widgets import chip_pixmap

LIST_FILTER = "Image lists (*.csv *.txt *.tsv);;All files (*)"


class DropZone(QFrame):
    """Drop a folder or a CSV of image paths here, or click to choose one."""

    changed = Signal(str)  # the chosen path ("" when cleared)

    def __init__(self, title: str, hint: str, files: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.title, self.hint, self.files = title, hint, files
        self.path = ""
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setMinimumHeight(52)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addWidget(self.label)
        self._style(False)
        self._update()

    def _style(self, hover: bool) -> None:
        colour = theme.SELECTED if hover else "#9e9e9e"
        self.setStyleSheet(f"DropZone {{ border: 2px dashed {colour}; border-radius: 6px; }}")

    def _update(self) -> None:
        if self.path:
            p = Path(self.path)
            self.label.setText(f"<b>{self.title}</b>: {p.name or p}<br>"
                               f"<span style='color:{theme.MUTED}'>{p.parent}</span>")
            self.setToolTip(self.path)
        else:
            self.label.setText(f"<b>{self.title}</b><br><span style='color:{theme.MUTED}'>"
                               f"{self.hint}</span>")
            self.setToolTip(self.hint)

    def set_path(self, path: str) -> None:
        self.path = str(path) if path else ""
        self._update()
        self.changed.emit(self.path)

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self._style(True)
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        self._style(False)

    def dropEvent(self, event) -> None:
        self._style(False)
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.set_path(urls[0].toLocalFile())
            event.acceptProposedAction()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.choose()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.choose()
        else:
            super().keyPressEvent(event)

    def choose(self) -> None:
        """A menu: a folder or a file (list or labels), or clear."""
        menu = QMenu(self)
        folder = menu.addAction("Choose a folder…")
        file = menu.addAction("Choose a file…") if self.files else None
        clear = menu.addAction("Clear") if self.path else None
        act = menu.exec(self.mapToGlobal(self.rect().bottomLeft()))
        if act is None:
            return
        if act is clear:
            self.set_path("")
        elif act is folder:
            path = QFileDialog.getExistingDirectory(self, self.title, self.path or "")
            if path:
                self.set_path(path)
        elif act is file:
            path, _ = QFileDialog.getOpenFileName(self, self.title, self.path or "", LIST_FILTER)
            if path:
                self.set_path(path)


class ExampleStrip(QListWidget):
    """A row of face thumbnails (path, face index) -- double-click opens one in the Photos,
    Crops and Predictions panes, right-click sends it to Triplets (:mod:`...face_links`)."""

    openFace = Signal(str, int)
    sendToTriplets = Signal(str, int, str)

    def __init__(self, side: int = 64, parent=None) -> None:
        super().__init__(parent)
        self.side = side
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(side, side))
        self.setFixedHeight(side + 44)
        self.setMovement(QListWidget.Movement.Static)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.links = FaceLinks(self, self.openFace.emit, self.sendToTriplets.emit)

    def set_examples(self, examples) -> None:
        """``examples``: (path, face index, thumbnail uint8 (h, w, 3), caption) tuples."""
        self.clear()
        for path, face, thumb, caption in examples:
            item = QListWidgetItem(caption)
            if thumb is not None:
                item.setIcon(chip_pixmap(np.ascontiguousarray(thumb), self.side))
            item.setToolTip(f"{path}\nface {face + 1 if face >= 0 else '–'} · double-click to "
                            "open it in the Photos pane · right-click: send it to Triplets")
            item.setData(Qt.ItemDataRole.UserRole, (str(path), int(face)))
            set_faces(item, (Path(path).name, path, face))
            self.addItem(item)


class Banner(QLabel):
    """A one-paragraph rich-text summary."""

    def __init__(self, text: str = "", parent=None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)


def hbox(*widgets, stretch_last: bool = False) -> QHBoxLayout:
    lay = QHBoxLayout()
    lay.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        lay.addWidget(w)
    if stretch_last:
        lay.addStretch(1)
    return lay


__all__ = ["Banner", "DropZone", "ExampleStrip", "hbox"]
