"""The main window's navigation (a mixin of :class:`~.main_window.MainWindow`): from a face in
any list to the panes that show it (:meth:`Navigation.show_face` is the window's;
:meth:`~Navigation.link_faces`, :meth:`~Navigation.send_to_triplets`), the keyboard shortcuts
that raise each pane (Alt+1 … Alt+0, View ▸ Go to pane), View ▸ Reset layout and Help ▸ Guide.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QWidget

from . import settings
from .guide import PANE_KEYS, GuideDialog


class Navigation:
    """Needs ``docks``, ``photos``, ``triplets``, ``show_face``, ``_action`` and
    ``_default_state`` (the dock state saved before any restore)."""

    guide: GuideDialog | None = None

    def _add_navigation(self, view_menu, help_menu) -> None:
        go = view_menu.addMenu("&Go to pane")
        self.pane_actions = {}
        for name, title, key, question in PANE_KEYS:
            if name in self.docks:
                act = self.pane_actions[name] = self._action(
                    title, lambda _=False, n=name: self.raise_pane(n), key, question)
                go.addAction(act)
                self.addAction(act)  # works with the menu closed, in any dock
        view_menu.addSeparator()
        self.act_reset = self._action("&Reset layout", self.reset_layout,
                                      tip="Every pane back where it was at the first start")
        view_menu.addAction(self.act_reset)
        self.act_guide = self._action("&Guide", self.guide_dialog, QKeySequence.HelpContents,
                                      "What each pane answers, with a worked example (F1)")
        help_menu.addAction(self.act_guide)

    def link_faces(self, pane) -> None:
        """Wire a pane's face lists (:mod:`.face_links`): its ``openFace(path, face)`` to
        :meth:`show_face`, its ``sendToTriplets(path, face, slot)`` (when it has one) to
        :meth:`send_to_triplets`."""
        pane.openFace.connect(self.show_face)
        if hasattr(pane, "sendToTriplets"):
            pane.sendToTriplets.connect(self.send_to_triplets)

    def send_to_triplets(self, path: str, face: int, slot: str) -> None:
        """Put face ``face`` of photo ``path`` into the Triplets pane's ``slot`` (opening the
        photo first when it is not loaded: the slot fills once it is)."""
        dock = self.docks["triplets"]
        dock.show()
        dock.raise_()
        if not self.triplets.put_path(slot, path, face):
            self.photos.open_paths([path])
            self.statusBar().showMessage(f"Opening {Path(path).name}: its face {face + 1} goes "
                                         f"into {slot} once it is loaded.", 8000)

    def raise_pane(self, name: str) -> None:
        """Show pane ``name`` (even when closed or tabbed behind another) and focus it."""
        dock = self.docks[name]
        dock.show()
        dock.raise_()
        pane = getattr(dock, "pane", dock.widget())
        target = pane.focusWidget() or pane
        if target.focusPolicy() == Qt.FocusPolicy.NoFocus:
            target = next((w for w in pane.findChildren(QWidget)
                           if w.focusPolicy() != Qt.FocusPolicy.NoFocus and w.isVisibleTo(pane)
                           and w.isEnabled()), pane)
        target.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def reset_layout(self) -> None:
        """Every dock back where it was at the first start (View ▸ Reset layout)."""
        for dock in self.docks.values():
            dock.setFloating(False)
        self.restoreState(self._default_state, settings.LAYOUT_VERSION)
        d = self.docks
        for name in ("photos", "predictions"):
            d[name].raise_()
        self.resizeDocks([d["photos"], d["crops"]], [750, 650], Qt.Orientation.Horizontal)
        self.resizeDocks([d["crops"], d["predictions"]], [345, 495], Qt.Orientation.Vertical)
        self.statusBar().showMessage("Layout reset.", 4000)

    def guide_dialog(self) -> None:
        """Help ▸ Guide (non-modal)."""
        if self.guide is None:
            self.guide = GuideDialog(self)
        self.guide.show()
        self.guide.raise_()


__all__ = ["Navigation"]
