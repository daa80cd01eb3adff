"""File ▸ Preferences: the device, the detection size and the data-set folders."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QSpinBox

from . import settings
from .data_folders import DataFolderRow
from .workers import WorkerPool


class PreferencesDialog(QDialog):
    """Device, detection size and the data-set folders (checked on ``pool``'s io lane)."""

    def __init__(self, prefs: settings.Preferences, parent=None,
                 pool: WorkerPool | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.device = QComboBox()
        for d in settings.DEVICES:
            self.device.addItem({"auto": "auto (CUDA when available)", "cpu": "CPU",
                                 "cuda": "CUDA"}[d], d)
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        self.max_side = QSpinBox()
        self.max_side.setRange(160, 8192)
        self.max_side.setSingleStep(64)
        self.max_side.setSuffix(" px")
        self.max_side.setValue(prefs.detect_max_side)
        self.max_side.setToolTip("Photos are shrunk to this long side for MTCNN's first stages "
                                 "(smaller is faster, larger finds smaller faces).")
        form = QFormLayout(self)
        form.addRow("Device:", self.device)
        form.addRow("Detection max side:", self.max_side)
        self.celeba = DataFolderRow("celeba", prefs.celeba_dir, pool)
        self.lfw = DataFolderRow("lfw", prefs.lfw_dir, pool)
        form.addRow("CelebA folder:", self.celeba)
        form.addRow("LFW folder:", self.lfw)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def value(self) -> settings.Preferences:
        return settings.Preferences(self.device.currentData(), self.max_side.value(),
                                    self.celeba.folder(), self.lfw.folder())

    def done(self, result: int) -> None:
        for row in (self.celeba, self.lfw):
            row.stop()
        super().done(result)


__all__ = ["PreferencesDialog"]
