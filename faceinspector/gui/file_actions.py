"""The main window's file actions (a mixin of :class:`~.main_window.MainWindow`): open photos and
folders (and the recent ones), load an alignment template file, export the crops and the
predictions, and say when a save failed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from . import settings


class FileActions:
    """Needs ``photos``, ``crops``, ``predictions``, ``ctx``, ``template_slot``,
    ``recent_menu``, ``statusBar`` and ``problem_box``."""

    def load_template_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load an alignment template", "",
                                              "Templates (*.json);;All files (*)")
        if path:
            self.load_template(path)

    def load_template(self, path: str) -> None:
        """Read a template file on the io lane; offer it in the panes' template choices."""
        from ..backend.mismatch import load_template

        self.template_slot.submit(lambda: (path, load_template(path)))

    def _on_template_loaded(self, result) -> None:
        path, t = result
        self.ctx.add_template_file(path, t.name, t.description)
        self.statusBar().showMessage(f"Template {t.name} added to the template choices.", 8000)

    def open_paths(self, paths) -> None:
        self.photos.open_paths(paths)

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open photos", self._last_dir(),
            "Images (*.jpg *.jpeg *.png *.bmp *.gif *.tif *.tiff *.webp *.heic);;All files (*)")
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of photos",
                                                  self._last_dir())
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str) -> None:
        settings.add_recent_folder(str(folder))
        self.open_paths([folder])

    def _last_dir(self) -> str:
        recent = settings.recent_folders()
        return recent[0] if recent else str(Path.home())

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = settings.recent_folders()
        for folder in recent:
            act = self.recent_menu.addAction(folder)
            act.triggered.connect(lambda _=False, f=folder: self.open_folder(f))
        if not recent:
            self.recent_menu.addAction("(no recent folders)").setEnabled(False)

    def export_crops(self) -> None:
        if self.crops.pair is None:
            self.statusBar().showMessage("Select a face first.", 5000)
            return
        folder = QFileDialog.getExistingDirectory(self, "Export crops to", self._last_dir())
        if folder:
            try:
                files = self.crops.export_png(folder)
            except OSError as exc:  # reported, never a traceback in a slot
                self._save_failed(f"Crops not saved: {exc}")
                return
            self.statusBar().showMessage(f"Saved {len(files)} PNG files to {folder}", 8000)

    def export_predictions(self) -> None:
        if not self.predictions.results:
            self.statusBar().showMessage("No predictions to export yet.", 5000)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export predictions",
                                              str(Path(self._last_dir()) / "predictions.csv"),
                                              "CSV (*.csv)")
        if path:
            try:
                n = self.predictions.export_csv(path)
            except OSError as exc:
                self._save_failed(f"Predictions not saved: {exc}")
                return
            self.statusBar().showMessage(f"Saved {n} rows to {path}", 8000)

    def _save_failed(self, text: str) -> None:
        self.statusBar().showMessage(text, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, "Not saved", text,
                          QMessageBox.StandardButton.Ok, self)
        box.open()
        self.problem_box = box


__all__ = ["FileActions"]
