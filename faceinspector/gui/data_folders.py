"""The data-set folders of the Preferences dialog: CelebA and LFW, remembered in QSettings.

Each row is a folder field with Browse… and a line saying what is there: the layout found (as
distributed, torchvision's, the 89×109 copy; LFW's image folder and lists) or why nothing
usable was found. The check (:func:`datasets.summary`) stats files, so it runs on the ``io``
lane, a short while after the last keystroke; the GUI thread reads no folder.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QVBoxLayout, QWidget)

from ..backend import datasets
from . import theme
from .workers import WorkerPool, WorkerSlot

TITLES = {"celeba": "CelebA", "lfw": "LFW"}
ENV = {"celeba": datasets.ENV_CELEBA, "lfw": datasets.ENV_LFW}
HINTS = {
    "celeba": "img_align_celeba/ with list_attr_celeba.txt and list_eval_partition.txt (as "
              "distributed), torchvision's root holding celeba/, or the 89×109 copy",
    "lfw": "a folder holding lfw/ or lfw-deepfunneled/ with pairs.txt and people.txt (as "
           "distributed), or the image folder itself",
}
CHECK_DELAY_MS = 300
MAX_STATUS = 240  # characters of a "not found" message shown; the tooltip has all of it


def check_folder(name: str, folder: str | None) -> tuple[bool, str]:
    """(found, one line): :func:`datasets.summary` of ``folder``, or why nothing usable is
    there. Runs on the io lane; a data set that is not there is an answer, not an error."""
    try:
        return True, datasets.summary(name, folder)
    except (datasets.DataError, OSError) as exc:
        return False, str(exc)


def short_line(text: str) -> str:
    """A "not found" message for the dialog: its first line and what was found (the layouts
    expected go to the tooltip)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return ""
    head = lines[0].removesuffix("; expected one of these layouts:")
    found = next((ln for ln in lines[1:] if ln.startswith("found:")), "")
    out = f"{head}; {found}" if found else head
    return out if len(out) <= MAX_STATUS else out[:MAX_STATUS - 1] + "…"


class DataFolderRow(QWidget):
    """One data set's folder: a field, Browse… and what was found there.

    ``pool``: where the folder is checked (None: not checked, e.g. a dialog made without a
    window). :attr:`status` holds the last check's line; :attr:`checked` counts the checks that
    came back.
    """

    def __init__(self, name: str, folder: str = "", pool: WorkerPool | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.checked = 0
        self.ok: bool | None = None
        self.edit = QLineEdit(folder)
        env = datasets.configured(name)
        self.edit.setPlaceholderText(f"from the environment: {env}" if env else
                                     f"not set (or set ${ENV[name]})")
        self.edit.setToolTip(f"The {TITLES[name]} folder: {HINTS[name]}. Empty: the "
                             f"environment's (${ENV[name]}, else ${datasets.ENV_DATA}).")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setMinimumWidth(420)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.edit, 1)
        top.addWidget(self.browse)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(top)
        box.addWidget(self.status)
        self.slot = WorkerSlot(pool, "io", f"prefs-{name}", self) if pool is not None else None
        if self.slot is not None:
            self.slot.result.connect(lambda found: self._show(*found))
            self.slot.error.connect(lambda text: self._show(False, text))
            self._timer = QTimer(self)
            self._timer.setSingleShot(True)
            self._timer.setInterval(CHECK_DELAY_MS)
            self._timer.timeout.connect(self.check)
            self.edit.textChanged.connect(lambda _t: self._timer.start())
            self.check()

    def folder(self) -> str:
        return self.edit.text().strip()

    def stop(self) -> None:
        """No more checks (the dialog is closing); a check still running is dropped."""
        if self.slot is not None:
            self._timer.stop()
            self.slot.cancel()

    def check(self) -> None:
        """Look at the folder (or the environment's, when empty) on the io lane."""
        if self.slot is None:
            return
        if not self.folder() and datasets.configured(self.name) is None:
            self.slot.cancel()
            self._show(None, f"Not set. Choose the {TITLES[self.name]} folder: "
                             f"{HINTS[self.name]}.")
            return
        self.status.setText("checking…")
        self.status.setStyleSheet(f"color: {theme.MUTED};")
        self.slot.submit(check_folder, self.name, self.folder() or None)

    def _show(self, ok: bool | None, text: str) -> None:
        """``ok``: found (True), not usable (False) or not set (None)."""
        self.ok = ok
        self.checked += 1
        mark = {True: "✓ ", False: "✗ ", None: ""}[ok]
        self.status.setText(mark + (text if ok is not False else short_line(text)))
        self.status.setToolTip(text)
        self.status.setStyleSheet(f"color: {theme.ERROR if ok is False else theme.MUTED};")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"The {TITLES[self.name]} folder",
                                                  self.folder())
        if folder:
            self.edit.setText(folder)


__all__ = ["DataFolderRow", "HINTS", "TITLES", "check_folder", "short_line"]
