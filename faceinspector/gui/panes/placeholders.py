"""Docks for the panes that have their own issues (probe, triplets, morph): what they will do."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .. import theme

PLANNED = {
    "Probe": "Push the crop around — shift, rotate, scale — and watch every model's prediction "
             "move. Invariance metrics (consistency, P(top-1 change), eKLD) say how fragile a "
             "model is to the small misalignments a detector makes.",
    "Triplets": "Embedding distances between faces: anchor, positive and negative side by side, "
                "one-shot recognition against a gallery, and verification curves per model.",
    "Morph": "A VAE's latent space: morph one face into another, and see which faces a "
             "debiasing VAE (DB-VAE) finds rare in the training data.",
}


class PlaceholderPane(QWidget):
    """A dock body announcing a pane that is not built yet."""

    def __init__(self, name: str, parent=None) -> None:
        super().__init__(parent)
        self.name = name
        title = QLabel(f"<b>{name}</b> — coming soon")
        body = QLabel(PLANNED[name])
        body.setWordWrap(True)
        body.setStyleSheet(f"color: {theme.MUTED};")
        layout = QVBoxLayout(self)
        layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        layout.addWidget(title)
        layout.addWidget(body)
