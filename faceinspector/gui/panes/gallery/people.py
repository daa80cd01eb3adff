"""The Gallery pane's Enrolled list: one row per person (the name, and under it the number of
faces enrolled; elided, never clipped), and a
context menu (add the selected face, replace the person's faces after asking, open an enrolled
face in Photos, send it to Triplets, remove the person)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QMenu

from ...face_links import FACE_ROLE, SLOT_NAMES
from ...widgets import chip_pixmap

NAME_ROLE = Qt.ItemDataRole.UserRole + 3


class PeopleList(QListWidget):
    """Enrolled people, "name · n faces"; right-click for what can be done with one."""

    addTo = Signal(str)  # enroll the selected face under this person
    replaceWith = Signal(str)  # replace this person's faces with the selected face (asks)
    removePerson = Signal(str)
    openFace = Signal(str, int)
    sendToTriplets = Signal(str, int, str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setIconSize(QSize(40, 40))
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(120)
        self.setToolTip("Enrolled people and how many faces each (drop a face here to enroll "
                        "it under the typed name, else its photo's name; right-click a person "
                        "to add, replace, open or remove; double-click: open a face)")
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.activated.connect(self._open_first)
        self.menu: QMenu | None = None

    def fill(self, gallery, chips: dict) -> None:
        """One row per person of ``gallery``; ``chips``: name -> an enrolled chip (icon)."""
        self.clear()
        for name in gallery.names:
            n = gallery.count(name)
            chip = chips.get(name)
            icon = QIcon(chip_pixmap(chip, 40)) if chip is not None else QIcon()
            item = QListWidgetItem(icon, f"{name}\n{n} face{'s' if n != 1 else ''}")
            item.setData(NAME_ROLE, name)
            sources = [s for k in gallery.rows(name) if (s := gallery.sources[k])]
            item.setData(FACE_ROLE, [(name, p, f) for p, f in sources])
            item.setToolTip(f"{name}: {n} enrolled face{'s' if n != 1 else ''}"
                            + "".join(f"\n{Path(p).name}, face {f + 1}" for p, f in sources))
            self.addItem(item)

    def name_at(self, row: int) -> str | None:
        item = self.item(row)
        return None if item is None else item.data(NAME_ROLE)

    def current_name(self) -> str | None:
        return self.name_at(self.currentRow())

    def _open_first(self, index) -> None:
        faces = index.data(FACE_ROLE) or []
        if faces:
            _, path, face = faces[0]
            self.openFace.emit(path, face)

    def build_menu(self, row: int, can_add: bool) -> QMenu | None:
        name = self.name_at(row)
        if name is None:
            return None
        menu = QMenu(self)
        act = menu.addAction(f"Add the selected face to {name}")
        act.setEnabled(can_add)
        act.triggered.connect(lambda: self.addTo.emit(name))
        act = menu.addAction(f"Replace {name}'s faces with the selected face…")
        act.setEnabled(can_add)
        act.triggered.connect(lambda: self.replaceWith.emit(name))
        faces = self.item(row).data(FACE_ROLE) or []
        if faces:
            menu.addSeparator()
        for _, path, face in faces:
            label = f"{Path(path).name}, face {face + 1}"
            act = menu.addAction(f"Open {label} in Photos")
            act.triggered.connect(lambda _=False, p=path, f=face: self.openFace.emit(p, f))
            sub = menu.addMenu(f"Send {label} to Triplets")
            for slot, title in SLOT_NAMES.items():
                a = sub.addAction(f"{title} ({slot})")
                a.triggered.connect(lambda _=False, p=path, f=face, s=slot:
                                    self.sendToTriplets.emit(p, f, s))
        menu.addSeparator()
        act = menu.addAction(f"Remove {name}")
        act.triggered.connect(lambda: self.removePerson.emit(name))
        return menu

    def _menu(self, pos) -> None:
        row = self.indexAt(pos).row()
        menu = self.build_menu(row, getattr(self, "can_add", True))
        if menu is not None:
            self.menu = menu
            menu.popup(self.viewport().mapToGlobal(pos))


__all__ = ["NAME_ROLE", "PeopleList"]
