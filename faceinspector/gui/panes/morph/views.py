"""The Morph tab's face pickers and large frame view.

* :class:`FaceBox`: face A or B — its VAE chip, the VAE's reconstruction of it, the identity
  distance between the two (green under τ: the model keeps who the face is; amber above: it
  cannot represent this face, and the morph's end is someone else) and the "Set … from
  selected face" button.
* :class:`FrameView`: one frame of the strip under the slider, enlarged by the biggest whole
  number that fits.
* :func:`chip_label`: the fixed-size dark label a chip is shown in (:data:`CHIP_SIDE` px).

Display only: they hold pixels (``VaeFace`` chips, frames), never a model. GUI thread only,
like every widget.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (QFrame, QGridLayout, QLabel, QPushButton, QSizePolicy,
                               QVBoxLayout, QWidget)

from ....backend.vae.session import VaeFace
from ... import convert, theme
from .widgets import BACKGROUND

CHIP_SIDE = 80  # A / B chips are shown this size
SAME_COLOUR = "#43a047"  # identity distance under tau (green)
OTHER_COLOUR = theme.DIFFERS  # ... above it (amber)


def distance_text(face: VaeFace) -> tuple[str, str, str]:
    """``(text, colour, tooltip)`` of the identity distance under a face's chips."""
    if face.distance is None:
        return "identity: n/a", theme.MUTED, face.distance_note or "not computed"
    d, tau = face.distance, face.tau
    same = d < tau
    text = f"identity d = {d:.2f} {'<' if same else '≥'} τ {tau:g}"
    tip = (f"dlib ResNet embedding distance between the chip and its reconstruction, both "
           f"upscaled the same way to 150×150: {d:.3f}. "
           + ("Under τ: the reconstruction is still this person." if same else
              "Over τ: the VAE cannot represent this face; the morph starts from someone "
              "else."))
    return text, SAME_COLOUR if same else OTHER_COLOUR, tip


class FrameView(QWidget):
    """One frame, large: the biggest whole-number enlargement that fits (pixels stay square)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.frame: np.ndarray | None = None
        self.pixmap = None
        self.setMinimumSize(128, 128)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def sizeHint(self) -> QSize:
        return QSize(200, 200)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return max(128, width)  # square

    def set_frame(self, frame: np.ndarray | None) -> None:
        self.frame = frame
        self.pixmap = None if frame is None else convert.to_qpixmap(frame)
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(BACKGROUND))
        if self.pixmap is None:
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no frame")
            return
        w, h = self.pixmap.width(), self.pixmap.height()
        k = max(1, min(self.width() // w, self.height() // h))
        r = QRect((self.width() - k * w) // 2, (self.height() - k * h) // 2, k * w, k * h)
        p.drawPixmap(r, self.pixmap)


def chip_label(text: str) -> QLabel:
    """A :data:`CHIP_SIDE`-square label on the dark background, for a chip or its note."""
    label = QLabel(text)
    label.setFixedSize(CHIP_SIDE, CHIP_SIDE)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet(f"background: {BACKGROUND}; color: #cfcfcf;")
    return label


class FaceBox(QFrame):
    """Face A or B: its VAE chip and the VAE's reconstruction, and the "Set" button."""

    def __init__(self, key: str, parent=None) -> None:
        super().__init__(parent)
        self.key = key
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(f"<b>{key}</b>")
        self.title.setMinimumWidth(40)
        self.original = chip_label(f"no face {key}")
        self.original.setToolTip("The face's 64×64 chip (vae-64 template), enlarged")
        self.recon = chip_label("")
        self.recon.setToolTip("The VAE's reconstruction: decode(encode(chip))")
        self.distance = QLabel("")
        self.distance.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.distance.setMinimumWidth(40)
        self.button = QPushButton(f"Set {key} from selected face")
        self.button.setToolTip(f"Use the face selected in the Photos pane as {key}")
        chips = QGridLayout()
        chips.setSpacing(3)
        chips.addWidget(self.original, 0, 0)
        chips.addWidget(self.recon, 0, 1)
        for col, text in enumerate(("photo", "VAE")):
            cap = QLabel(text)
            cap.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cap.setStyleSheet(f"color: {theme.MUTED};")
            chips.addWidget(cap, 1, col)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(5, 3, 5, 4)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addLayout(chips)
        layout.addWidget(self.distance)
        layout.addWidget(self.button)

    def show_face(self, face: VaeFace | None, busy: bool = False) -> None:
        """Show ``face``'s chip and reconstruction; None: a note ("computing…" when ``busy``)."""
        if face is None:
            self.original.clear()
            self.original.setText("computing…" if busy else f"no face {self.key}")
            self.recon.clear()
            self.title.setText(f"<b>{self.key}</b>")
            self.distance.setText("")
            self.distance.setToolTip("")
            self.distance.setStyleSheet("")
            return
        for label, px in ((self.original, face.chip), (self.recon, face.recon)):
            label.setPixmap(convert.to_qpixmap(px).scaled(
                CHIP_SIDE, CHIP_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))
        self.title.setText(f"<b>{self.key}</b> {face.label}")
        text, colour, tip = distance_text(face)
        self.distance.setText(text)
        self.distance.setStyleSheet(f"background: {colour}; color: #111; border-radius: 3px; "
                                    "padding: 1px 4px;")
        self.distance.setToolTip(tip)


__all__ = ["CHIP_SIDE", "OTHER_COLOUR", "SAME_COLOUR", "FaceBox", "FrameView", "chip_label",
           "distance_text"]
