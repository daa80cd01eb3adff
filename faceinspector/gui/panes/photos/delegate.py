"""How a thumbnail is drawn in the photo list: the icon, the file name on one line elided at its
end ("a_rather_long_file_na…"), and the face count on a line of its own, always visible (the
default delegate wrapped long names and pushed the count out of the cell)."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from ... import theme

ICON_TOP = 3  # px above the icon


class ThumbnailDelegate(QStyledItemDelegate):
    """Icon, name (elided right), face count (or "cannot be read")."""

    def __init__(self, grid: QSize, icon_side: int, parent=None) -> None:
        super().__init__(parent)
        self.grid, self.icon_side = grid, icon_side

    def sizeHint(self, option, index) -> QSize:
        return self.grid

    @staticmethod
    def lines(index) -> tuple[str, str]:
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        name, _, count = text.partition("\n")
        return name, count

    def paint(self, painter, option, index) -> None:
        painter.save()
        style = option.widget.style() if option.widget is not None else None
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        rect = option.rect
        if selected:
            painter.fillRect(rect.adjusted(1, 1, -1, -1), option.palette.highlight())
        icon = index.data(Qt.ItemDataRole.DecorationRole)
        side = self.icon_side
        if isinstance(icon, QIcon) and not icon.isNull():
            icon.paint(painter, QRect(rect.x() + (rect.width() - side) // 2, rect.y() + ICON_TOP,
                                      side, side))
        name, count = self.lines(index)
        fm = option.fontMetrics
        width = rect.width() - 6
        y = rect.y() + ICON_TOP + side + 2
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        color = option.palette.color(role)
        error = index.data(Qt.ItemDataRole.ForegroundRole)
        if error is not None and not selected:
            color = QColor(error.color() if hasattr(error, "color") else error)
        painter.setPen(color)
        painter.drawText(QRect(rect.x() + 3, y, width, fm.height()),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                         fm.elidedText(name, Qt.TextElideMode.ElideRight, width))
        font = QFont(option.font)
        font.setBold(True)
        painter.setFont(font)
        if not selected and error is None:
            painter.setPen(QColor(theme.MUTED) if count.startswith("0 ") else color)
        painter.drawText(QRect(rect.x() + 3, y + fm.height(), width, fm.height() + 2),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                         painter.fontMetrics().elidedText(count, Qt.TextElideMode.ElideRight,
                                                          width))
        if option.state & QStyle.StateFlag.State_HasFocus and style is not None:
            painter.setPen(option.palette.color(QPalette.ColorRole.Highlight))
            painter.drawRect(rect.adjusted(1, 1, -2, -2))
        painter.restore()


__all__ = ["ThumbnailDelegate"]
