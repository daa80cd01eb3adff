"""The only bridge between numpy images and Qt images, plus painting of faces and points.

Copy semantics: :func:`to_qimage` returns a QImage that owns a copy of the pixels (the array
may be freed or changed afterwards); :func:`to_ndarray` returns a fresh C-contiguous array. Both
handle strided/non-contiguous arrays and QImage row padding. QImages may be built on any thread;
QPixmaps (``to_qpixmap``, the painting helpers) only on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPen, QPixmap

from . import theme

_FORMATS = {1: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888,
            4: QImage.Format.Format_RGBA8888}


def to_qimage(pixels: np.ndarray) -> QImage:
    """uint8 (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA -> a QImage owning a copy."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in _FORMATS:
        raise ValueError(f"expected (H, W[, 1|3|4]) pixels, got shape {np.shape(pixels)}")
    h, w, c = arr.shape
    if h == 0 or w == 0:
        return QImage()
    arr = np.ascontiguousarray(arr)  # stride-safe: rows exactly w * c bytes
    view = QImage(arr.data, w, h, w * c, _FORMATS[c])
    return view.copy()  # deep copy: never alias numpy memory


def pack_rgb32(pixels: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> (H, W, 4) uint8 laid out as ``QImage.Format_RGB32`` (B, G, R, 255
    in memory on little-endian machines, 0xffRRGGBB words). Pure numpy: made in a worker so the
    GUI thread's :func:`rgb32_to_qimage` and ``QPixmap.fromImage`` need no pixel conversion."""
    rgb = np.asarray(pixels, np.uint8)
    h, w = rgb.shape[:2]
    words = np.empty((h, w), np.uint32)
    words[:] = 0xFF000000
    words |= rgb[..., 0].astype(np.uint32) << 16
    words |= rgb[..., 1].astype(np.uint32) << 8
    words |= rgb[..., 2]
    return words.view(np.uint8).reshape(h, w, 4)


def rgb32_to_qimage(packed: np.ndarray) -> QImage:
    """A :func:`pack_rgb32` array -> a QImage (RGB32) owning a copy."""
    arr = np.ascontiguousarray(packed, np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 4:
        raise ValueError(f"expected a packed (H, W, 4) array, got shape {arr.shape}")
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, w * 4, QImage.Format.Format_RGB32).copy()


def to_ndarray(image: QImage) -> np.ndarray:
    """QImage of any format -> a new RGB uint8 (H, W, 3) array."""
    if image.isNull():
        return np.zeros((0, 0, 3), np.uint8)
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=h * bpl)
    return buf.reshape(h, bpl)[:, : w * 3].reshape(h, w, 3).copy()


def to_qpixmap(pixels: np.ndarray) -> QPixmap:
    """GUI thread only."""
    return QPixmap.fromImage(to_qimage(pixels))


def enlarge(pixels: np.ndarray, box: int) -> tuple[QPixmap, int]:
    """Scale a small crop up by the largest integer factor that fits ``box`` px, nearest
    neighbour, so every model input pixel stays a visible square. Returns (pixmap, factor)."""
    h, w = pixels.shape[:2]
    factor = max(1, int(box // max(h, w, 1)))
    img = to_qimage(pixels)
    big = img.scaled(w * factor, h * factor, Qt.AspectRatioMode.IgnoreAspectRatio,
                     Qt.TransformationMode.FastTransformation)
    return QPixmap.fromImage(big), factor


def _pen(color: str | QColor, width: float, cosmetic: bool = True) -> QPen:
    pen = QPen(QColor(color))
    pen.setWidthF(width)
    pen.setCosmetic(cosmetic)
    pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
    return pen


def draw_points(painter: QPainter, points: np.ndarray, scale: float, color: str,
                shape: str = "dot", radius: float = 3.5) -> None:
    """Points in source-pixel coordinates (pixel centres at integers) drawn at ``scale``."""
    pts = np.asarray(points, float).reshape(-1, 2)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    if shape == "cross":
        painter.setPen(_pen(color, 2.0))
        for x, y in (pts + 0.5) * scale:
            painter.drawLine(QPointF(x - radius, y - radius), QPointF(x + radius, y + radius))
            painter.drawLine(QPointF(x - radius, y + radius), QPointF(x + radius, y - radius))
    else:
        painter.setPen(_pen("#000000", 1.0))
        painter.setBrush(QBrush(QColor(color)))
        for x, y in (pts + 0.5) * scale:
            painter.drawEllipse(QPointF(x, y), radius, radius)
    painter.restore()


def draw_label(painter: QPainter, text: str, anchor: QPointF, color: str,
               point_size: float = 9.0, above: bool = True) -> None:
    """A small label with a dark background box, placed above (or below) ``anchor``."""
    painter.save()
    font = QFont(painter.font())
    font.setPointSizeF(point_size)
    font.setBold(True)
    painter.setFont(font)
    fm = painter.fontMetrics()
    w, h = fm.horizontalAdvance(text) + 6, fm.height() + 2
    y = anchor.y() - h if above else anchor.y()
    dev = painter.device()  # kept inside the image: a box past its edge clipped "nknown"
    ratio = max(dev.devicePixelRatioF(), 1.0) if dev else 1.0
    W, H = (dev.width() / ratio, dev.height() / ratio) if dev else (1e9, 1e9)
    x = min(max(0.0, anchor.x()), max(0.0, W - w))
    y = min(max(0.0, y), max(0.0, H - h))
    rect = QRectF(x, y, w, h)
    painter.fillRect(rect, QColor(0, 0, 0, 170))
    painter.setPen(QColor(color))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


def with_caption(image, lines, point_size: float = 8.0) -> QImage:
    """``image`` (QImage or QPixmap) with ``lines`` of text in a white strip under it, and
    the text also in the PNG's "Description" field: an export that says what it is."""
    img = image.toImage() if isinstance(image, QPixmap) else QImage(image)
    font = QFont()
    font.setPointSizeF(point_size)
    probe = QImage(1, 1, QImage.Format.Format_RGB32)
    painter = QPainter(probe)
    painter.setFont(font)
    fm = painter.fontMetrics()
    painter.end()
    width = max([img.width()] + [fm.horizontalAdvance(t) + 12 for t in lines])
    height = img.height() + len(lines) * (fm.height() + 2) + 8
    out = QImage(width, height, QImage.Format.Format_RGB32)
    out.fill(QColor("white"))
    painter = QPainter(out)
    painter.drawImage(0, 0, img)
    painter.setFont(font)
    painter.setPen(QColor("#333333"))
    y = img.height() + 4
    for t in lines:
        painter.drawText(QRectF(6, y, width - 12, fm.height() + 2),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, t)
        y += fm.height() + 2
    painter.end()
    out.setText("Description", " | ".join(lines))
    return out


def draw_faces(pixmap: QPixmap, faces: Sequence, scale: float = 1.0, selected: int = -1,
               scores: bool = True, landmarks: bool = True, width: float = 2.0) -> QPixmap:
    """A copy of ``pixmap`` with every face's box, 5 landmarks and score drawn.

    ``faces`` are :class:`~faceinspector.backend.types.Face` objects in source pixels; the
    pixmap shows the source at ``scale``.
    """
    out = QPixmap(pixmap)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    for i, face in enumerate(faces):
        color = theme.SELECTED if i == selected else theme.BOX
        x1, y1, x2, y2 = (float(v) * scale for v in face.box)
        painter.setPen(_pen(color, width + (1 if i == selected else 0)))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
        if landmarks:
            draw_points(painter, face.landmarks, scale, theme.LANDMARK, radius=max(1.5, width))
        if scores:
            draw_label(painter, f"{face.score:.2f}", QPointF(x1, y1), color)
    painter.end()
    return out


def draw_crop_points(pixmap: QPixmap, landmarks: np.ndarray, targets: np.ndarray,
                     factor: float) -> QPixmap:
    """A copy of an enlarged crop with the face's landmarks (dots) and the template's target
    points (crosses) drawn; coordinates are crop pixels, ``factor`` the enlargement."""
    out = QPixmap(pixmap)
    painter = QPainter(out)
    if len(targets):
        draw_points(painter, targets, factor, theme.TARGET, shape="cross", radius=6)
    draw_points(painter, landmarks, factor, theme.LANDMARK, radius=4)
    painter.end()
    return out


__all__ = ["draw_crop_points", "draw_faces", "draw_label", "draw_points", "enlarge",
           "with_caption",
           "pack_rgb32", "rgb32_to_qimage", "to_ndarray", "to_qimage", "to_qpixmap"]
