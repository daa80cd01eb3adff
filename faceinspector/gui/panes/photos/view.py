"""The large photo view: fit to view, wheel zoom, face boxes, landmarks and scores; click a face,
or drag it (onto a Triplets slot).

Scene coordinates are photo pixels, so the faces' boxes and landmarks are placed as they come
from the backend; the (possibly downscaled) display pixmap is scaled up to match.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QDrag, QFont, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QApplication, QGraphicsItem, QGraphicsPixmapItem,
                               QGraphicsRectItem, QGraphicsScene, QGraphicsView)

from ... import convert, theme
from ...widgets import face_mime


class _Label(QGraphicsItem):
    """A score label that keeps its screen size at any zoom."""

    def __init__(self, text: str, color: str, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.text, self.color = text, color
        self.font = QFont()
        self.font.setPointSizeF(9.5)
        self.font.setBold(True)
        self.setZValue(3)

    def boundingRect(self) -> QRectF:
        return QRectF(0, -20, 9 * len(self.text) + 8, 20)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setFont(self.font)
        rect = painter.fontMetrics().boundingRect(self.text).adjusted(-4, -2, 4, 2)
        rect.moveBottomLeft(QPointF(0, -1).toPoint())
        painter.fillRect(rect, QColor(0, 0, 0, 180))
        painter.setPen(QColor(self.color))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.text)


class _Dot(QGraphicsItem):
    """A landmark dot of constant screen size."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(2)

    def boundingRect(self) -> QRectF:
        return QRectF(-4, -4, 8, 8)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("#000000"), 1))
        painter.setBrush(QBrush(QColor(theme.LANDMARK)))
        painter.drawEllipse(QPointF(0, 0), 3.2, 3.2)


class PhotoView(QGraphicsView):
    """Shows one photo and its faces. Emits :attr:`faceClicked` with the face index."""

    faceClicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor("#202124"))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setMinimumSize(240, 180)
        self.faces: tuple = ()
        self.selected = -1
        self.message = ""
        self._pixmap_item: QGraphicsPixmapItem | None = None
        self._face_items: list[QGraphicsRectItem] = []
        self._zoomed = False
        self._press: QPointF | None = None
        self._press_face = -1  # the face under the mouse press: dragging it starts a face drag
        self.path = None
        self.setToolTip("Click a face to select it; drag it onto a Triplets slot (Ctrl+drag "
                        "when zoomed in). Wheel: zoom, double-click: fit.")
        self.set_message("Drop photos or folders here, or use File ▸ Open.")

    # ------------------------------------------------------------------------- content
    def set_message(self, text: str, error: bool = False) -> None:
        """Replace the photo with a centred message (empty list, unreadable file, loading)."""
        self.scene().clear()
        self._pixmap_item, self._face_items, self.faces, self.selected = None, [], (), -1
        self.message = text
        item = self.scene().addText("")
        font = QFont()
        font.setPointSizeF(12)
        item.setFont(font)
        body = html.escape(text)
        if error:
            body = (f"<p style='color:{theme.ERROR}; font-size:15pt; font-weight:bold'>"
                    "⚠ This file could not be read</p>"
                    f"<p style='color:#e8e8e8'>{body}</p><p style='color:{theme.MUTED}'>"
                    "The other photos are not affected. Press Del to remove it from the list."
                    "</p>")
        else:
            body = f"<p style='color:#cfcfcf'>{body}</p>"
        item.setHtml(body)
        item.setTextWidth(440)
        self.scene().setSceneRect(item.boundingRect().adjusted(-20, -20, 20, 20))
        self.resetTransform()
        self._zoomed = False

    def set_photo(self, display: np.ndarray, photo_size: tuple[int, int], faces,
                  selected: int = -1, path=None) -> None:
        """``display``: :func:`~faceinspector.gui.convert.pack_rgb32` pixels (maybe downscaled)
        of a photo ``photo_size`` (w, h) pixels large; ``path`` names it in face drags."""
        self.path = path
        self.scene().clear()
        self.message = ""
        pix = QPixmap.fromImage(convert.rgb32_to_qimage(display))
        self._pixmap_item = self.scene().addPixmap(pix)
        self._pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        # repaints blit a cached, already scaled copy instead of rescaling the whole photo
        self._pixmap_item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._pixmap_item.setScale(photo_size[0] / max(1, display.shape[1]))
        self._pixmap_item.setZValue(0)
        self.scene().setSceneRect(QRectF(0, 0, photo_size[0], photo_size[1]))
        self.faces = tuple(faces)
        self._face_items = []
        for i, face in enumerate(self.faces):
            x1, y1, x2, y2 = map(float, face.box)
            rect = QGraphicsRectItem(QRectF(x1, y1, x2 - x1, y2 - y1))
            rect.setZValue(1)
            self.scene().addItem(rect)
            for x, y in np.asarray(face.landmarks, float):
                _Dot(rect).setPos(x, y)
            label = _Label(f"#{i + 1}  {face.score:.2f}", theme.BOX, rect)
            label.setPos(x1, y1)
            self._face_items.append(rect)
        self.select(selected)
        self._zoomed = False
        self.fit()

    def select(self, index: int) -> None:
        self.selected = index
        for i, item in enumerate(self._face_items):
            chosen = i == index
            pen = QPen(QColor(theme.SELECTED if chosen else theme.BOX), 3.0 if chosen else 2.0)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(1.5 if chosen else 1)
            for child in item.childItems():
                if isinstance(child, _Label):
                    child.color = theme.SELECTED if chosen else theme.BOX
                    child.update()

    def face_at(self, scene_pos: QPointF) -> int:
        """Index of the smallest face box containing the point (with a small margin), or -1."""
        best, best_area = -1, float("inf")
        for i, face in enumerate(self.faces):
            x1, y1, x2, y2 = map(float, face.box)
            m = 0.05 * max(x2 - x1, y2 - y1)
            if x1 - m <= scene_pos.x() <= x2 + m and y1 - m <= scene_pos.y() <= y2 + m:
                area = (x2 - x1) * (y2 - y1)
                if area < best_area:
                    best, best_area = i, area
        return best

    def face_view_pos(self, index: int) -> QPointF:
        """Where face ``index``'s centre is in viewport coordinates (for tests)."""
        x1, y1, x2, y2 = map(float, self.faces[index].box)
        return QPointF(self.mapFromScene(QPointF((x1 + x2) / 2, (y1 + y2) / 2)))

    # ---------------------------------------------------------------------------- view
    def fit(self) -> None:
        if self._pixmap_item is not None:
            self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        else:
            self.resetTransform()
            self.centerOn(self.sceneRect().center())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self._zoomed:
            self.fit()

    def wheelEvent(self, event) -> None:
        if self._pixmap_item is None:
            return
        factor = 1.25 ** (event.angleDelta().y() / 120)
        self.scale(factor, factor)
        self._zoomed = True

    def mouseDoubleClickEvent(self, event) -> None:
        self._zoomed = False
        self.fit()

    def face_mime(self, index: int):
        """The drag payload for face ``index`` of this photo (None without a photo path)."""
        if self.path is None or not 0 <= index < len(self.faces):
            return None
        return face_mime(self.path, index)

    def mousePressEvent(self, event) -> None:
        self._press = event.position()
        self._press_face = -1
        if event.button() == Qt.MouseButton.LeftButton and self._pixmap_item is not None:
            self._press_face = self.face_at(self.mapToScene(event.position().toPoint()))
            ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
            if self._press_face >= 0 and (not self._zoomed or ctrl):
                return  # on a face: a click or a face drag, not a pan (Ctrl: also zoomed in)
            self._press_face = -1
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._press_face >= 0 and self._press is not None:
            if (event.position() - self._press).manhattanLength() \
                    >= QApplication.startDragDistance():
                index, self._press_face, self._press = self._press_face, -1, None
                mime = self.face_mime(index)
                if mime is not None:
                    drag = QDrag(self)
                    drag.setMimeData(mime)
                    drag.exec(Qt.DropAction.CopyAction)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._press_face < 0:
            super().mouseReleaseEvent(event)
        self._press_face = -1
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return
        moved = (event.position() - self._press).manhattanLength()
        self._press = None
        if moved <= 4:  # a click, not a pan
            index = self.face_at(self.mapToScene(event.position().toPoint()))
            if index >= 0:
                self.faceClicked.emit(index)
