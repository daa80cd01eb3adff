"""The user's own models in the app: added, remembered across restarts, removed.

* **Add** (:meth:`UserModels.add`): the sidecar beside the file is read on the io lane; when it
  is missing or invalid, the sidecar form (:mod:`.sidecar_form`) opens, prefilled with what the
  file had, and writes it (io lane); then the model loads on the compute lane. A classifier
  gets a card in Predictions (and Probe, Crops); an embedder is offered in Triplets,
  Verification and Gallery.
* **Remembered**: the model files are kept in QSettings (``models/user``) and loaded again
  when the backend is up (:meth:`UserModels.restore`); one that cannot be loaded any more
  becomes an unavailable card with the reason (and a Remove button).
* **Remove** (:meth:`UserModels.remove`): forgotten by the backend and by QSettings.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QMessageBox

from ....backend import sidecar
from ...workers import WorkerSlot
from .sidecar_form import SidecarDialog

KEY = "models/user"


def remembered() -> list[str]:
    """The model files remembered in QSettings, in the order they were added."""
    value = QSettings().value(KEY, []) or []
    return [str(v) for v in ([value] if isinstance(value, str) else value)]


def _store(paths) -> None:
    QSettings().setValue(KEY, list(dict.fromkeys(str(p) for p in paths)))


def read_sidecar_job(path: str):
    """io lane: ``(path, values or None, problem, raw values)`` of a model's sidecar."""
    values, problem = sidecar.find(path)
    return path, values, problem, {} if values else sidecar.raw(sidecar.sidecar_path(path))


def write_sidecar_job(path: str, cfg: dict) -> str:
    """io lane: write the sidecar of the model ``path``; returns the model's path."""
    sidecar.write(sidecar.sidecar_path(path), cfg)
    return path


def add_job(backend, path: str):
    """compute lane: load the model; ``(model id, path, every card)``."""
    mid = backend.load_user_model(path)
    return mid, path, backend.model_cards()


def remove_job(backend, model_id: str):
    """compute lane: forget the model; ``(its file or None, every card)``."""
    path = backend.user_model_file(model_id)
    return path, backend.remove_model(model_id)


class UserModels(QObject):
    """Adds, remembers and removes the user's models for the Predictions pane."""

    message = Signal(str)
    added = Signal(str)  # model id
    failed = Signal(str)  # a one-line reason (shown in a message box by the pane)

    def __init__(self, ctx, parent_widget) -> None:
        super().__init__(parent_widget)
        self.ctx, self.parent_widget = ctx, parent_widget
        self.dialog: SidecarDialog | None = None
        self._restored = False
        self.read_slot = WorkerSlot(ctx.pool, "io", "user-sidecar", self)
        self.read_slot.result.connect(self._on_sidecar)
        self.read_slot.error.connect(self.failed)
        self.write_slot = WorkerSlot(ctx.pool, "io", "user-sidecar-write", self)
        self.write_slot.result.connect(self._load)
        self.write_slot.error.connect(self._write_failed)
        self.load_slot = WorkerSlot(ctx.pool, "compute", "add-model", self)
        self.load_slot.result.connect(self._on_loaded)
        self.load_slot.error.connect(self.failed)
        self.restore_slot = WorkerSlot(ctx.pool, "compute", "restore-models", self)
        self.restore_slot.result.connect(ctx.set_cards)
        self.remove_slot = WorkerSlot(ctx.pool, "compute", "remove-model", self)
        self.remove_slot.result.connect(self._on_removed)
        self.remove_slot.error.connect(self.failed)
        ctx.backendChanged.connect(lambda _info: self.restore())

    @property
    def busy(self) -> bool:
        return any(s.busy for s in (self.read_slot, self.write_slot, self.load_slot,
                                    self.restore_slot, self.remove_slot))

    def restore(self) -> None:
        """Load the remembered models once the backend is up (again after a restart)."""
        paths = remembered()
        if paths and self.ctx.backend is not None:
            self.restore_slot.submit(self.ctx.backend.restore_user_models, paths)

    def add(self, path: str) -> None:
        """Add the model file ``path`` (asks for a sidecar when it has none)."""
        self.message.emit(f"Loading {Path(path).name}…")
        self.read_slot.submit(read_sidecar_job, str(path))

    def edit(self, path: str, start: dict | None = None, problem: str = "") -> SidecarDialog:
        """Open the sidecar form for ``path`` (non-modal; Save writes it and loads the
        model)."""
        dlg = SidecarDialog(path, self.ctx.templates, self.ctx.template_label, start, problem,
                            self.parent_widget)
        dlg.accepted.connect(lambda: self.write_slot.submit(write_sidecar_job, str(path),
                                                            dlg.values()))
        dlg.open()
        self.dialog = dlg
        return dlg

    def _on_sidecar(self, result) -> None:
        path, values, problem, raw = result
        if values is not None:
            self._load(path)
            return
        self.message.emit(f"{Path(path).name}: describe the model (its sidecar is "
                          f"{'invalid' if raw else 'missing'}).")
        self.edit(path, raw, problem)

    def _write_failed(self, message: str) -> None:
        if self.dialog is not None:  # show it where it can be fixed
            dlg = self.edit(self.dialog.model_path, self.dialog.values(), message)
            dlg.error.setText(message)
        else:
            self.failed.emit(message)

    def _load(self, path: str) -> None:
        if self.ctx.backend is None:
            self.failed.emit("The models are still loading; try again in a moment.")
            return
        self.load_slot.submit(add_job, self.ctx.backend, path)

    def _on_loaded(self, result) -> None:
        mid, path, cards = result
        _store(remembered() + [path])
        self.ctx.set_cards(cards)
        self.message.emit(f"Added {mid}; it will be loaded again at the next start.")
        self.added.emit(mid)

    def remove(self, model_id: str, confirm: bool = True) -> None:
        if confirm and QMessageBox.question(
                self.parent_widget, "Remove model",
                f"Remove {model_id} from FaceInspector? (The file is not deleted.)"
        ) != QMessageBox.StandardButton.Yes:
            return
        if self.ctx.backend is not None:
            self.remove_slot.submit(remove_job, self.ctx.backend, model_id)

    def _on_removed(self, result) -> None:
        path, cards = result
        if path:
            _store([p for p in remembered() if p != path])
        self.ctx.set_cards(cards)
        self.message.emit("Model removed." if path else "That model was not added by you.")


__all__ = ["KEY", "UserModels", "add_job", "read_sidecar_job", "remembered", "remove_job",
           "write_sidecar_job"]
