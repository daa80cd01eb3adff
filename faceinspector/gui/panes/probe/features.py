"""The Probe pane's feature-map grid: one layer's most active channels for the (moved) crop, as
tiles in a grid ordered by mean activation (largest first), each channel's number in its corner.

The maps arrive normalised by the first (untransformed) crop's per-channel ranges
(:attr:`FeatureMaps.maps`), so the frames of a slider move are comparable: a map that moves
with the input is a convolution's equivariance; the pooling after it makes the answer only
approximately invariant.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from ... import convert
from ...widgets import colormap

COLUMNS = 4
TILE = 38  # px per tile
GAP = 3

#: the one line under the grid
EQUIVARIANCE_NOTE = ("A convolution is equivariant: its maps shift with the input; only the "
                     "pooling after them makes the output approximately invariant.")


def mosaic_tiles(maps: np.ndarray) -> list[np.ndarray]:
    """``(k, h, w)`` maps in [0, 1] as k RGB uint8 tiles (viridis: dark = 0, yellow = 1)."""
    return [np.ascontiguousarray(colormap(1.0 - np.asarray(m, np.float64), 0.0, 1.0))
            for m in maps]


class FeatureGrid(QWidget):
    """Tiles of feature maps (nearest-neighbour enlarged, so each feature pixel is a square)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.images: list = []
        self.channels: list[int] = []
        self.text = ""
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setFixedSize(self.sizeHint())
        self.setToolTip("The layer's most active channels for the transformed crop, largest "
                        "mean activation first (the channel's number in the corner); colours "
                        "keep the untransformed crop's scale per channel")

    def sizeHint(self) -> QSize:
        side = COLUMNS * TILE + (COLUMNS - 1) * GAP
        return QSize(side, side)

    def set_maps(self, maps: np.ndarray, channels) -> None:
        self.images = [convert.to_qimage(t) for t in mosaic_tiles(maps[:COLUMNS * COLUMNS])]
        self.channels = [int(c) for c in channels[:COLUMNS * COLUMNS]]
        self.text = ""
        self.update()

    def set_text(self, text: str) -> None:
        self.images, self.channels, self.text = [], [], text
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#202124"))
        if not self.images:
            p.setPen(QColor("#cfcfcf"))
            p.drawText(self.rect().adjusted(6, 6, -6, -6),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.text)
            p.end()
            return
        font = QFont(self.font())
        font.setPointSizeF(6.5)
        p.setFont(font)
        for k, (image, channel) in enumerate(zip(self.images, self.channels)):
            r, c = divmod(k, COLUMNS)
            rect = QRectF(c * (TILE + GAP), r * (TILE + GAP), TILE, TILE)
            p.drawImage(rect, image)  # nearest neighbour: each feature pixel a square
            p.setPen(QColor("#000000"))
            p.drawText(rect.adjusted(2, 1, 0, 0), Qt.AlignmentFlag.AlignLeft, str(channel))
            p.setPen(QColor("#ffffff"))
            p.drawText(rect.adjusted(1, 0, 0, 0), Qt.AlignmentFlag.AlignLeft, str(channel))
        p.end()


__all__ = ["COLUMNS", "EQUIVARIANCE_NOTE", "FeatureGrid", "mosaic_tiles"]
