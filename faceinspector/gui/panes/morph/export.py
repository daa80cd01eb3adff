"""Export of a Morph pane strip: one PNG image of the frames side by side, or a looping GIF.

:class:`StripExporter` writes with :func:`~faceinspector.backend.vae.export.save_frames` on
the io lane, one :class:`~faceinspector.gui.workers.WorkerSlot` per format (a GIF export does
not cancel the PNG export before it); it asks for the file name itself when the pane's buttons
are used.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from ....backend.vae import export as vae_export
from ....backend.vae.session import VaeStrip
from ...workers import WorkerPool, WorkerSlot

FORMATS = {"png": "PNG image (*.png)", "gif": "Animated GIF (*.gif)"}


class StripExporter(QObject):
    """Saves a strip's frames as a PNG strip or a looping GIF (forward, then back), io lane.

    :attr:`exported` lists the files written, in the order they were finished; :attr:`saved`
    carries each one, :attr:`error` a failed export's message.
    """

    saved = Signal(object)  # the path just written
    error = Signal(str)

    def __init__(self, pool: WorkerPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.exported: list[Path] = []
        # one slot per format: a GIF export must not cancel the PNG export before it
        self.workers = {k: WorkerSlot(pool, "io", f"vae-export-{k}", self) for k in FORMATS}
        for w in self.workers.values():
            w.result.connect(self._on_saved)
            w.error.connect(self.error)

    def ask(self, parent: QWidget, strip: VaeStrip | None, kind: str) -> None:
        """Ask where to save ``strip`` as ``kind`` ("png" or "gif"), then export it there."""
        if strip is None:
            return
        name = "morph" if strip.kind == "morph" else "traversal"
        path, _ = QFileDialog.getSaveFileName(parent, f"Export the {name} strip",
                                              str(Path.home() / f"{name}.{kind}"),
                                              FORMATS[kind])
        if path:
            self.export(strip, path, kind)

    def export(self, strip: VaeStrip | None, path, kind: str | None = None,
               scale: int = 2) -> bool:
        """Save ``strip`` as ``kind`` ("png" or "gif"; default: from the suffix, which is added
        when missing), each frame enlarged ``scale`` times. False when there is no strip."""
        if strip is None:
            return False
        kind = kind or Path(path).suffix.lower().lstrip(".")
        if kind not in FORMATS:
            raise ValueError("export as png or gif")
        if Path(path).suffix.lower() != f".{kind}":
            path = f"{path}.{kind}"
        self.workers[kind].submit(vae_export.save_frames, strip.frames, path, kind, scale)
        return True

    def _on_saved(self, path) -> None:
        self.exported.append(Path(path))
        self.saved.emit(path)


__all__ = ["FORMATS", "StripExporter"]
