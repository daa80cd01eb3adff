"""The Evaluate pane's small widgets: a check list (models, crops, slices) and table helpers.

GUI thread only, like every widget.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QListWidget, QListWidgetItem,
                               QTableWidget, QTableWidgetItem, QWidget)


class CheckList(QListWidget):
    """A short list of checkable items; :meth:`checked` gives the checked items' data."""

    changed = Signal()

    def __init__(self, tip: str = "", rows: int = 4, parent=None) -> None:
        super().__init__(parent)
        self.setToolTip(tip)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFixedHeight(rows * 19 + 6)
        self._wanted: set | None = None  # checks asked for before the items came
        self.itemChanged.connect(self._on_item)

    def _on_item(self, _item) -> None:
        self._wanted = None  # the user's own checks from now on
        self.changed.emit()

    def set_items(self, items) -> None:
        """``items``: (text, data, checked, tooltip); items already here keep their state."""
        keep = {self.item(i).data(Qt.ItemDataRole.UserRole): self.item(i).checkState()
                for i in range(self.count())}
        self.blockSignals(True)
        self.clear()
        for text, data, checked, tip in items:
            it = QListWidgetItem(text)
            it.setData(Qt.ItemDataRole.UserRole, data)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            state = keep.get(data, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            if self._wanted is not None:
                state = Qt.CheckState.Checked if data in self._wanted else Qt.CheckState.Unchecked
            it.setCheckState(state)
            if tip:
                it.setToolTip(tip)
            self.addItem(it)
        if self._wanted is not None and self._wanted <= {d for _, d, _, _ in items}:
            self._wanted = None
        self.blockSignals(False)
        self.changed.emit()

    def checked(self) -> list:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())
                if self.item(i).checkState() == Qt.CheckState.Checked]

    def set_checked(self, values) -> None:
        """Check exactly the items whose data is in ``values`` (also those that come later,
        until all of them have come or the user checks an item)."""
        values = set(values)
        present = {self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())}
        self._wanted = None if values <= present else values
        self.blockSignals(True)
        for i in range(self.count()):
            it = self.item(i)
            it.setCheckState(Qt.CheckState.Checked if it.data(Qt.ItemDataRole.UserRole) in values
                             else Qt.CheckState.Unchecked)
        self.blockSignals(False)
        self.changed.emit()


class NoHeightForWidth(QWidget):
    """A container that does not pass its word-wrapped labels' height-for-width up: inside the
    dock's scroll area a pane with height-for-width is given its preferred height instead of
    the dock's, and scrolls even where it would fit."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt's name
        return False


def pct(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"


def ci(c) -> str:
    if not c or c[0] is None or (isinstance(c[0], float) and math.isnan(c[0])):
        return ""
    return f"{100 * c[0]:.1f}–{100 * c[1]:.1f}"


def num(v, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}g}"


def make_table(headers) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(list(headers))
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.verticalHeader().hide()
    t.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    return t


def fill_table(table: QTableWidget, rows, bold_rows=(), tips=None) -> None:
    """Rows of text; numbers right-aligned; ``bold_rows`` in bold."""
    table.setRowCount(len(rows))
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            item = QTableWidgetItem(str(text))
            if j:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if i in bold_rows:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            if tips and tips[i]:
                item.setToolTip(tips[i])
            table.setItem(i, j, item)
    for j in range(1, table.columnCount()):
        table.resizeColumnToContents(j)


__all__ = ["CheckList", "NoHeightForWidth", "ci", "fill_table", "make_table", "num", "pct"]
