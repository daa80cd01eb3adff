"""Small widgets of the Morph pane, shared by its Morph and Training tabs.

* :class:`ElidedLabel`: one line of text cut with "…" to the width it gets.
* :class:`FrameStrip`: a row of 64×64 frames, scaled to fit, the current one framed.
* :class:`LazyCanvas`: a matplotlib canvas made once matplotlib has been imported on the io lane.

GUI thread only, like every widget.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from ... import convert, theme

BACKGROUND = "#202124"  # behind chips and frames


class ElidedLabel(QLabel):
    """One line of plain text, cut with "…" to the width it gets (full text as tooltip)."""

    def __init__(self, text: str = "", parent=None) -> None:
        super().__init__(parent)
        self.full = ""
        self.setMinimumWidth(40)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.set_text(text)

    def set_text(self, text: str, tooltip: str | None = None) -> None:
        self.full = text
        self.setToolTip(text if tooltip is None else tooltip)
        self._elide()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self.full, Qt.TextElideMode.ElideRight,
                                                   max(self.width(), 40)))


class FrameStrip(QWidget):
    """Frames side by side, scaled to fit; the current one framed. Click picks a frame."""

    frameClicked = Signal(int)

    def __init__(self, empty_text: str = "", parent=None) -> None:
        super().__init__(parent)
        self.empty_text = empty_text
        self.frames: np.ndarray | None = None
        self.pixmaps: list = []
        self.labels: list[str] = []
        self.current = -1
        self.active = False
        self._rects: list[QRect] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 48)

    def count(self) -> int:
        return len(self.pixmaps)

    def set_frames(self, frames, labels=()) -> None:
        self.frames = None if frames is None else np.asarray(frames, np.uint8)
        self.pixmaps = [] if frames is None else [convert.to_qpixmap(f) for f in self.frames]
        self.labels = list(labels)
        self.current = min(self.current, len(self.pixmaps) - 1)
        self.update()

    def set_current(self, index: int) -> None:
        self.current = index
        self.update()

    def set_active(self, active: bool) -> None:
        self.active = active
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(max(120, 70 * max(self.count(), 6)), 86)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(BACKGROUND))
        self._rects = []
        if not self.pixmaps:
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        n, gap = len(self.pixmaps), 4
        fm = p.fontMetrics()
        text_h = fm.height() if self.labels else 0
        side = int(min(self.height() - 8 - text_h, (self.width() - 8 - gap * (n - 1)) / n))
        side = max(side, 8)
        if self.labels and side < fm.horizontalAdvance("−0.00") - 2:
            text_h = 0  # no room for labels: larger frames instead
            side = int(min(self.height() - 8, (self.width() - 8 - gap * (n - 1)) / n))
        x0 = (self.width() - (n * side + (n - 1) * gap)) // 2
        y0 = max(4, (self.height() - side - text_h) // 2)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, side % 64 != 0)
        for i, pix in enumerate(self.pixmaps):
            r = QRect(x0 + i * (side + gap), y0, side, side)
            self._rects.append(r)
            p.drawPixmap(r, pix)
            if text_h and i < len(self.labels):
                p.setPen(QColor("#cfcfcf"))
                p.drawText(QRect(r.x() - gap // 2, r.bottom() + 1, side + gap, text_h),
                           Qt.AlignmentFlag.AlignCenter, self.labels[i])
        if 0 <= self.current < n:
            pen = QPen(QColor(theme.SELECTED if self.active else theme.MUTED))
            pen.setWidth(3 if self.active else 2)
            p.setPen(pen)
            p.drawRect(self._rects[self.current].adjusted(-2, -2, 1, 1))

    def mousePressEvent(self, event) -> None:
        pos = event.position().toPoint()
        for i, r in enumerate(self._rects):
            if r.adjusted(-2, -2, 2, 2).contains(pos):
                self.frameClicked.emit(i)
                return


__all__ = ["BACKGROUND", "ElidedLabel", "FrameStrip"]
