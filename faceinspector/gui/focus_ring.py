"""A visible focus ring: a 2 px outline around the widget that has the keyboard focus.

The Fusion style's own focus cue is a faint dotted line or nothing at all (lists, the photo
view, plots), so someone moving with Tab / Shift+Tab or the pane shortcuts (Alt+1 …) could not
see where they are. :class:`FocusRing` is one transparent overlay child of the main window that
paints a rounded rectangle around the focus widget. It follows ``QApplication.focusChanged``
(no application-wide event filter) and the focus widget's and its parents' moves and resizes
(an event filter on that chain only). A focus change made with a mouse button held down (a
click) hides it: the ring is a keyboard cue, like CSS ``:focus-visible``.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPen, QRegion
from PySide6.QtWidgets import QApplication, QWidget

from . import theme

WIDTH = 2


class FocusRing(QWidget):
    """Overlay of ``window`` that outlines its focus widget."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window_ = window
        self.target: QWidget | None = None
        self._watched: list[QObject] = []
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hide()
        QApplication.instance().focusChanged.connect(self._on_focus)

    def _on_focus(self, _old, new) -> None:
        for obj in self._watched:
            try:
                obj.removeEventFilter(self)
            except RuntimeError:  # deleted meanwhile
                pass
        self._watched = []
        inside = new is not None and new.window() is self.window_ and new is not self.window_
        by_mouse = QGuiApplication.mouseButtons() != Qt.MouseButton.NoButton
        self.target = new if inside and not by_mouse else None
        if self.target is None:
            self.hide()
            return
        w = self.target
        while w is not None and w is not self.window_:
            w.installEventFilter(self)
            self._watched.append(w)
            w = w.parentWidget()
        self.place()

    def eventFilter(self, obj, event) -> bool:
        if event.type() in (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show,
                            QEvent.Type.Hide):
            self.place()
        return False

    def place(self) -> None:
        """Sit on the target's outline (a band masked out of its rectangle, so repaints of
        the widgets under it do not involve the overlay); hidden when the target is not."""
        t = self.target
        try:
            visible = t is not None and t.isVisible()
        except RuntimeError:  # the widget was deleted
            visible = False
        if not visible:
            self.hide()
            return
        top_left = t.mapTo(self.window_, t.rect().topLeft())
        outer = QRect(top_left, t.size()).adjusted(-WIDTH, -WIDTH, WIDTH, WIDTH)
        outer = outer.intersected(self.window_.rect())
        self.setGeometry(outer)
        band = QRegion(self.rect()).subtracted(
            QRegion(self.rect().adjusted(WIDTH + 1, WIDTH + 1, -WIDTH - 1, -WIDTH - 1)))
        self.setMask(band)
        self.raise_()
        self.show()
        self.update()

    def ring_rect(self) -> QRect | None:
        """The outline, in this overlay's coordinates (None without a target)."""
        if self.target is None:
            return None
        return self.rect().adjusted(1, 1, -1, -1)

    def paintEvent(self, event) -> None:
        rect = self.ring_rect()
        if rect is None:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(theme.HIGHLIGHT), WIDTH))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(rect, 3, 3)
        p.end()


__all__ = ["FocusRing"]
