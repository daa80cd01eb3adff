"""Identify a whole folder against the gallery (the Gallery pane's "Folder" tab).

Every image under the folder is identified on the compute lane
(:func:`~faceinspector.backend.gallery.identify_folder`, progress and Cancel). When the
sub-folders are named after people (LFW's layout), the tab gives the rank-1 accuracy over the
images of enrolled people and the accuracy at τ over every labelled image (someone not enrolled
must come out "unknown"), each with a 95 % bootstrap interval. Each image is a row: ✓ / ✗,
its name, the answer and the distance; double-click opens it in Photos / Crops / Predictions,
right-click sends it to Triplets.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

from ....backend import gallery as gallery_tasks
from ... import theme
from ...face_links import HINT, FaceLinks, set_faces
from ...workers import WorkerSlot


def _pct(v, ci) -> str:
    if v is None:
        return "–"
    band = "" if ci is None or ci[0] != ci[0] else f" [{ci[0] * 100:.0f}–{ci[1] * 100:.0f}]"
    return f"<b>{v * 100:.1f} %</b>{band}"


def summary_html(r) -> str:
    """One paragraph about a :class:`~faceinspector.backend.gallery.FolderResult`."""
    head = (f"<b>{r.folder.name}</b>: {len(r.images)} images"
            + (f", {len(r.errors)} unreadable" if r.errors else "") + f" · {r.seconds:.0f} s")
    if not r.labelled:
        return head + ("<br>No sub-folders named after people, so no accuracy: every image "
                       "is listed with its answer.")
    lines = [head]
    if r.known:
        lines.append(f"rank-1 accuracy {_pct(r.rank1, r.rank1_ci)} over the {r.known} images "
                     "of enrolled people (nearest enrolled person, whatever τ)")
    else:
        lines.append("none of the sub-folders is an enrolled name: no rank-1 accuracy")
    lines.append(f"accuracy at τ {_pct(r.accuracy, r.accuracy_ci)} over {r.labelled} labelled "
                 "images (others must be “unknown”) · 95 % bootstrap intervals")
    return "<br>".join(lines)


class FolderPanel(QWidget):
    """Button, progress, summary and one row per image."""

    openFace = Signal(str, int)
    sendToTriplets = Signal(str, int, str)
    message = Signal(str)

    def __init__(self, ctx, gallery_of, parent=None) -> None:
        super().__init__(parent)
        self.ctx, self.gallery_of = ctx, gallery_of  # gallery_of(): the gallery in use
        self.result: gallery_tasks.FolderResult | None = None
        self.button = QPushButton("Identify folder…")
        self.button.setToolTip("Identify every image of a folder; with one sub-folder per "
                               "person (LFW's layout) also the rank-1 accuracy")
        self.button.clicked.connect(self.open_dialog)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.hide()
        self.summary = QLabel("Identify a whole folder: with one sub-folder per person, the "
                              "rank-1 accuracy of the gallery.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.list = QListWidget()
        self.list.setToolTip(HINT)
        self.links = FaceLinks(self.list, self.openFace.emit, self.sendToTriplets.emit)
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)
        self.worker = WorkerSlot(ctx.pool, "compute", "gallery-folder", self)
        self.worker.result.connect(self._on_result)
        self.worker.progress.connect(self._on_progress)
        self.worker.error.connect(self._on_error)
        self.worker.busyChanged.connect(self._on_busy)
        self.cancel_button.clicked.connect(self.worker.cancel)

    @property
    def busy(self) -> bool:
        return self.worker.busy

    def open_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder to identify (one sub-folder "
                                                  "per person for an accuracy)",
                                                  self.ctx.prefs.data_folder("lfw"))
        if folder:
            self.identify(folder)

    def identify(self, folder) -> None:
        g = self.gallery_of()
        if self.ctx.backend is None:
            self._on_error("The models are still loading; try again in a moment.")
            return
        if not g.names:
            self._on_error("Enroll someone first: the gallery is empty.")
            return
        snapshot = gallery_tasks.Gallery(g.model_id, g.metric, g.threshold, list(g.names),
                                         g.embeddings.copy(), list(g.owner), list(g.sources))
        self.summary.setText(f"Identifying the images of <b>{Path(folder).name}</b>…")
        self.worker.submit(gallery_tasks.identify_folder, self.ctx.backend, snapshot, folder)

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.button.setEnabled(not busy)
        if busy:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)

    def _on_progress(self, p) -> None:
        self.progress.setRange(0, max(p.total, p.done, 1))
        self.progress.setValue(p.done)
        self.progress.setFormat(f"{p.done}/{p.total} images")

    def _on_error(self, message: str) -> None:
        self.summary.setText(f"<span style='color:{theme.ERROR}'>{message}</span>")
        self.message.emit(f"Gallery: {message}")

    def _on_result(self, r) -> None:
        self.result = r
        self.summary.setText(summary_html(r))
        self.list.clear()
        for i, name in enumerate(r.images):
            m, ok = r.matches[i], r.correct(i)
            mark = "" if ok is None else ("✓ " if ok else "✗ ")
            if m is None:
                text = f"{name}: {r.errors.get(i, 'cannot be read')}"
            else:
                near = "" if m.name != "unknown" else f" (nearest {m.nearest})"
                text = f"{mark}{name} → {m.name}{near} {m.distance:.3f}"
            item = QListWidgetItem(text)
            if ok is False or m is None:
                item.setForeground(QColor(theme.ERROR))
            item.setToolTip(f"{r.folder / name}\n{HINT}")
            set_faces(item, (Path(name).name, r.folder / name, int(r.face_index[i])))
            self.list.addItem(item)
        self.message.emit(f"Gallery: identified {len(r.images)} images of {r.folder.name}")


__all__ = ["FolderPanel", "summary_html"]
