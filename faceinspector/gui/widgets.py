"""Small widgets and helpers shared by several panes.

* :func:`on_screen`: is a pane really showing (a tabified dock's hidden page still reports
  ``isVisible()``), so panes skip work nobody would see.
* Face drag and drop (:data:`MIME_FACE`, :func:`face_mime`, :func:`read_face_mime`): any face
  of a loaded photo can be dragged from the photo view, the Crops pane or the Triplets faces
  list onto a Triplets slot or the Gallery.
* :class:`HeatMap`: an n×n matrix painted with QPainter (a few ms at any size, so it can follow
  every photo as it arrives), hover tooltips, click a cell.
* :class:`CropCanvas`: a crop enlarged by an integer factor (every input pixel a visible
  square) with landmarks and template targets; a face drag source (Crops and Probe panes).
* :class:`LazyPlot`: a matplotlib canvas created once matplotlib has been imported on a worker.
* Embedder combo, thresholds, chip pixmaps and muted labels for Triplets, Verification and
  Gallery.

GUI thread only, like every widget.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QFont, QImage, QLinearGradient, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QApplication, QComboBox, QLabel, QSizePolicy, QToolTip,
                               QVBoxLayout, QWidget)

from . import convert, theme
from .workers import WorkerSlot

METRIC_NAMES = {"l2": "L2", "sq-l2": "squared L2", "cosine": "cosine"}
METRIC_RANGE = {"l2": 2.0, "sq-l2": 4.0, "cosine": 1.0}  # the τ slider's largest value
#: Same-person thresholds τ: dlib's own 0.6 (face_recognition; LFW's best is 0.62 here) and the
#: equivalents for its embeddings (d², and 1 − cos ≈ d²/2r² with their norm r ≈ 1.42 on LFW;
#: 80 LFW pairs put the best cosine τ at 0.10); FaceNet's usual 1.1 for unit-length 512-D.
THRESHOLDS = {"dlib-resnet": {"l2": 0.6, "sq-l2": 0.36, "cosine": 0.09},
              "facenet-512": {"l2": 1.1, "sq-l2": 1.21, "cosine": 0.6}}

MIME_FACE = "application/x-faceinspector-face"  # payload: "<photo path>\n<face index>"


def on_screen(widget: QWidget) -> bool:
    """Shown and not hidden behind another dock tab.

    ``isVisible()`` alone says True for the pages of tabified docks that are not raised, so
    the main window records each dock's ``visibilityChanged`` state in the pane's
    ``dock_shown`` attribute (panes outside a dock have none: then visibility decides).
    """
    return widget.isVisible() and getattr(widget, "dock_shown", True)


def face_mime(path, index: int) -> QMimeData:
    """Drag payload for face ``index`` of the photo at ``path``."""
    mime = QMimeData()
    mime.setData(MIME_FACE, f"{path}\n{int(index)}".encode())
    mime.setText(f"{Path(path).name} face {int(index) + 1}")
    return mime


def read_face_mime(mime: QMimeData) -> tuple[str, int] | None:
    """``(path, face index)`` from a face drag, or None for anything else."""
    if not mime.hasFormat(MIME_FACE):
        return None
    try:
        path, index = bytes(mime.data(MIME_FACE)).decode().rsplit("\n", 1)
        return path, int(index)
    except (UnicodeDecodeError, ValueError):
        return None


def default_threshold(model_id: str | None, metric: str) -> float:
    return THRESHOLDS.get(model_id or "", THRESHOLDS["facenet-512"]).get(metric, 0.6)


def chip_pixmap(pixels: np.ndarray, side: int):
    return convert.to_qpixmap(pixels).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation)


def muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setStyleSheet(f"color: {theme.MUTED};")
    label.setWordWrap(True)
    return label


def fill_embedders(combo: QComboBox, cards, current: str | None) -> None:
    """Embedding models in ``combo``; unavailable ones disabled with the reason as tooltip."""
    combo.blockSignals(True)
    combo.clear()
    for card in (c for c in cards if c.task == "embedding"):
        combo.addItem(card.id + ("" if card.available else " — unavailable"), card.id)
        i = combo.count() - 1
        combo.setItemData(i, card.title if card.available else card.reason,
                          Qt.ItemDataRole.ToolTipRole)
        combo.model().item(i).setEnabled(card.available)
    combo.setCurrentIndex(max(combo.findData(current or "dlib-resnet"), 0))
    combo.setMinimumContentsLength(11)
    combo.blockSignals(False)


# matplotlib's viridis at 9 stops (enough for a smooth ramp), reversed below so that close =
# bright, as in the earlier matplotlib heat map
_VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                     [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], np.float64)


def colormap(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reversed viridis RGB (uint8, ``values.shape + (3,)``) for values in [lo, hi]."""
    t = np.clip((np.asarray(values, np.float64) - lo) / max(hi - lo, 1e-12), 0, 1)
    pos = (1 - t) * (len(_VIRIDIS) - 1)
    i = np.minimum(pos.astype(int), len(_VIRIDIS) - 2)
    f = (pos - i)[..., None]
    return np.round(_VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f).astype(np.uint8)


class HeatMap(QWidget):
    """A symmetric distance matrix as a heat map with a colour bar; hover shows the pair and
    its distance, a click emits :attr:`cellClicked` (row, column)."""

    cellClicked = Signal(int, int)
    cellDoubleClicked = Signal(int, int)
    cellMenuRequested = Signal(int, int, object)  # row, column, global QPoint

    MARGIN_L, MARGIN_T, MARGIN_B, BAR_W, BAR_GAP, BAR_LABELS = 30, 20, 26, 12, 12, 46

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(220, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.matrix = np.zeros((0, 0))
        self.names: list[str] = []
        self.title, self.unit, self.text = "", "", ""
        self.threshold: float | None = None
        self.lo = self.hi = 0.0
        self._image: QImage | None = None
        self._hover: tuple[int, int] | None = None

    def sizeHint(self) -> QSize:
        return QSize(480, 320)

    def set_text(self, text: str) -> None:
        """No matrix: one centred line instead."""
        self.matrix, self.names, self._image, self.text = np.zeros((0, 0)), [], None, text
        self.update()

    def set_matrix(self, matrix: np.ndarray, names: list[str], title: str, unit: str,
                   threshold: float | None = None) -> None:
        m = np.asarray(matrix, np.float64)
        self.matrix, self.names, self.title, self.unit, self.text = m, list(names), title, unit, ""
        off = m[~np.eye(len(m), dtype=bool)] if len(m) > 1 else m.ravel()
        self.lo, self.hi = (0.0, float(off.max())) if off.size else (0.0, 1.0)
        rgb = np.ascontiguousarray(colormap(m, self.lo, self.hi))
        self._image = convert.to_qimage(rgb) if len(m) else None
        self.threshold = threshold
        self._hover = None
        self.update()

    def set_threshold(self, threshold: float | None) -> None:
        self.threshold = threshold
        self.update()

    # --------------------------------------------------------------------------- geometry
    def matrix_rect(self) -> QRectF:
        """Where the cells are drawn (widget pixels)."""
        w = self.width() - self.MARGIN_L - self.BAR_GAP - self.BAR_W - self.BAR_LABELS
        h = self.height() - self.MARGIN_T - self.MARGIN_B
        return QRectF(self.MARGIN_L, self.MARGIN_T, max(w, 10), max(h, 10))

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        n, r = len(self.matrix), self.matrix_rect()
        if not n or not r.contains(pos):
            return None
        col = int((pos.x() - r.left()) / r.width() * n)
        row = int((pos.y() - r.top()) / r.height() * n)
        return min(row, n - 1), min(col, n - 1)

    def cell_center(self, row: int, col: int) -> QPointF:
        n, r = len(self.matrix), self.matrix_rect()
        return QPointF(r.left() + (col + 0.5) * r.width() / n,
                       r.top() + (row + 0.5) * r.height() / n)

    # ----------------------------------------------------------------------------- events
    def mouseMoveEvent(self, event) -> None:
        cell = self.cell_at(event.position())
        if cell != self._hover:
            self._hover = cell
            self.update()
        if cell is None:
            QToolTip.hideText()
            return
        i, j = cell
        d = self.matrix[i, j]
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"{i + 1} · {self.names[i]}\n{j + 1} · {self.names[j]}\n"
                          f"{self.unit} distance {d:.3f}\nclick: put this pair into A / P · "
                          "double-click: open the row's face · right-click: more", self)

    def leaveEvent(self, event) -> None:
        self._hover = None
        self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event) -> None:
        cell = self.cell_at(event.position())
        if event.button() == Qt.MouseButton.LeftButton and cell is not None:
            self.cellClicked.emit(*cell)

    def mouseDoubleClickEvent(self, event) -> None:
        cell = self.cell_at(event.position())
        if event.button() == Qt.MouseButton.LeftButton and cell is not None:
            self.cellDoubleClicked.emit(*cell)

    def contextMenuEvent(self, event) -> None:
        cell = self.cell_at(QPointF(event.pos()))
        if cell is not None:
            self.cellMenuRequested.emit(*cell, event.globalPos())

    # ---------------------------------------------------------------------------- painting
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window())
        if self._image is None:
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.rect().adjusted(8, 8, -8, -8),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.text)
            p.end()
            return
        n, r = len(self.matrix), self.matrix_rect()
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() - 1.5, 6.5))
        p.setFont(font)
        fm = p.fontMetrics()
        text_pen = QPen(self.palette().windowText().color())
        p.setPen(text_pen)
        p.drawText(QRectF(r.left(), 0, r.width(), self.MARGIN_T), Qt.AlignmentFlag.AlignCenter,
                   fm.elidedText(self.title, Qt.TextElideMode.ElideRight, int(r.width())))
        p.drawImage(r, self._image)  # nearest-neighbour: one block per cell
        step = max(1, int(np.ceil(n / max(2, r.height() // (fm.height() + 2)))))
        for k in range(0, n, step):  # face numbers, as in the faces list
            c = self.cell_center(k, k)
            p.drawText(QRectF(0, c.y() - 8, self.MARGIN_L - 4, 16),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, str(k + 1))
        xstep = max(step, int(np.ceil(n / max(2, r.width() // (fm.horizontalAdvance("000") + 4)))))
        for k in range(0, n, xstep):
            c = self.cell_center(k, k)
            p.drawText(QRectF(c.x() - 15, r.bottom() + 1, 30, 14), Qt.AlignmentFlag.AlignCenter,
                       str(k + 1))
        p.drawText(QRectF(r.left(), r.bottom() + 12, r.width(), 14),
                   Qt.AlignmentFlag.AlignCenter, "face (numbered as in the list)")
        if self._hover is not None:
            i, j = self._hover
            cw, ch = r.width() / n, r.height() / n
            p.setPen(QPen(QColor("white"), 1.5))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(r.left() + j * cw, r.top() + i * ch, cw, ch))
        self._paint_bar(p, r, fm, text_pen)
        p.end()

    def _paint_bar(self, p: QPainter, r: QRectF, fm, text_pen: QPen) -> None:
        bar = QRectF(r.right() + self.BAR_GAP, r.top(), self.BAR_W, r.height())
        grad = QLinearGradient(bar.topLeft(), bar.bottomLeft())
        for t in np.linspace(0, 1, 9):  # top = largest distance
            rgb = colormap(np.array([self.hi - t * (self.hi - self.lo)]), self.lo, self.hi)[0]
            grad.setColorAt(float(t), QColor(*map(int, rgb)))
        p.fillRect(bar, grad)
        p.setPen(text_pen)

        def y_of(v: float) -> float:
            return bar.bottom() - (v - self.lo) / max(self.hi - self.lo, 1e-12) * bar.height()

        for v in np.linspace(self.lo, self.hi, 5):
            y = y_of(v)
            p.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + 3, y))
            p.drawText(QRect(int(bar.right() + 5), int(y - 7), self.BAR_LABELS, 14),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{v:.2f}")
        if self.threshold is not None and self.lo <= self.threshold <= self.hi:
            y = y_of(self.threshold)
            p.setPen(QPen(QColor(theme.SELECTED), 2))
            p.drawLine(QPointF(bar.left() - 3, y), QPointF(bar.right() + 3, y))
            p.drawText(QRect(int(bar.left() - 30), int(y - 14), 28, 12),
                       Qt.AlignmentFlag.AlignRight, "τ")


class CropCanvas(QWidget):
    """One crop, enlarged by the largest integer factor that fits, with its points drawn."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.drag_source = None  # () -> QMimeData | None: dragging the crop drags its face
        self._press = None
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.pixels: np.ndarray | None = None
        self.landmarks = np.zeros((0, 2), np.float32)
        self.targets = np.zeros((0, 2), np.float32)
        self.rendered: QPixmap | None = None
        self.factor = 0
        self.text = ""
        self.peak = None  # a saliency map's peak (x, y), crop px: drawn as a ring

    def sizeHint(self) -> QSize:
        # modest: a pane in a scroll area (the main window's docks) is laid out at its
        # height-for-width, which adds up the preferred heights; the canvas grows to fill
        return QSize(200, 160)

    def set_crop(self, pixels: np.ndarray, landmarks=None, targets=None, peak=None) -> None:
        """Show ``pixels`` (crop px) with landmarks (dots), template targets (crosses) and
        optionally a saliency map's ``peak`` ``(x, y)`` (a white ring)."""
        self.pixels, self.text, self.peak = pixels, "", peak
        self.landmarks = np.asarray(() if landmarks is None else landmarks,
                                    np.float32).reshape(-1, 2)
        self.targets = np.asarray(() if targets is None else targets, np.float32).reshape(-1, 2)
        self._render()

    def set_text(self, text: str) -> None:
        self.pixels, self.rendered, self.factor, self.text = None, None, 0, text
        self.update()

    def _render(self) -> None:
        if self.pixels is None:
            return
        h, w = self.pixels.shape[:2]
        self.factor = max(1, min(self.width() // max(w, 1), self.height() // max(h, 1)))
        pix, self.factor = convert.enlarge(self.pixels, max(w, h) * self.factor)
        self.rendered = convert.draw_crop_points(pix, self.landmarks, self.targets, self.factor)
        if self.peak is not None:
            painter = QPainter(self.rendered)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            x, y = (np.asarray(self.peak, float) + 0.5) * self.factor
            r = max(4.0, 0.8 * self.factor)
            for colour, width in (("#000000", 3.5), ("#ffffff", 1.8)):
                painter.setPen(QPen(QColor(colour), width))
                painter.drawEllipse(QPointF(x, y), r, r)
            painter.end()
        self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._render()

    def mousePressEvent(self, event) -> None:
        self._press = event.position() if event.button() == Qt.MouseButton.LeftButton else None

    def mouseMoveEvent(self, event) -> None:
        if self._press is None or self.drag_source is None or self.rendered is None:
            return
        if (event.position() - self._press).manhattanLength() < QApplication.startDragDistance():
            return
        self._press = None
        mime = self.drag_source()
        if mime is not None:
            drag = QDrag(self)
            drag.setMimeData(mime)
            drag.setPixmap(self.rendered.scaled(72, 72, Qt.AspectRatioMode.KeepAspectRatio))
            drag.exec(Qt.DropAction.CopyAction)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#202124"))
        if self.rendered is not None:
            x = (self.width() - self.rendered.width()) // 2
            y = (self.height() - self.rendered.height()) // 2
            painter.drawPixmap(x, y, self.rendered)
        elif self.text:
            painter.setPen(QColor("#cfcfcf"))
            painter.drawText(self.rect().adjusted(8, 8, -8, -8),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.text)
        painter.end()


def preload_plotting() -> bool:
    """Import matplotlib and its Qt canvas module and draw once off-screen (io lane), so the
    GUI thread does not stall ~1.5 s on the first plot. Creates no widget."""
    from matplotlib.backends import backend_qtagg  # noqa: F401 - imports only
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], label="warm-up")
    ax.set_title("warm-up")
    ax.legend()
    FigureCanvasAgg(fig).draw()
    return True


class LazyPlot(QWidget):
    """A :class:`~faceinspector.gui.plot_canvas.PlotCanvas` made once matplotlib has been
    imported on the io lane (:func:`preload_plotting`); a note until then.

    Either ask for a drawing with :meth:`request` (drawn as soon as the canvas exists, latest
    request wins) or call :meth:`ensure` and set the canvas up when :attr:`ready` fires.
    """

    ready = Signal(object)  # the canvas, once

    def __init__(self, ctx, note: str, figsize=(5.0, 3.5), canvas_min: tuple | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        self.figsize, self.canvas_min = figsize, canvas_min
        self.canvas, self._pending = None, None
        self.note = muted(note)
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        self.note.setMinimumSize(160, 90)
        self.box = QVBoxLayout(self)
        self.box.setContentsMargins(0, 0, 0, 0)
        self.box.addWidget(self.note)
        self.slot = WorkerSlot(ctx.pool, "io", "plot-preload", self)
        self.slot.result.connect(self._make)
        self.slot.error.connect(self.note.setText)

    def ensure(self) -> None:
        """Start making the canvas (no-op once it exists or while it is being made)."""
        if self.canvas is None and not self.slot.busy:
            self.slot.submit(preload_plotting)

    def request(self, draw) -> None:
        """Call ``draw(canvas)`` now, or as soon as the canvas exists (latest wins)."""
        if self.canvas is not None:
            draw(self.canvas)
            return
        self._pending = draw
        self.note.setText("Loading matplotlib…")
        self.ensure()

    def _make(self, _ok) -> None:
        if self.canvas is None:
            from .plot_canvas import PlotCanvas

            self.canvas = PlotCanvas(self, figsize=self.figsize)
            if self.canvas_min:
                self.canvas.setMinimumSize(*self.canvas_min)
            self.box.replaceWidget(self.note, self.canvas)
            self.note.hide()
            self.ready.emit(self.canvas)
        draw, self._pending = self._pending, None
        if draw is not None:
            draw(self.canvas)


__all__ = ["METRIC_NAMES", "METRIC_RANGE", "MIME_FACE", "THRESHOLDS", "CropCanvas", "HeatMap",
           "LazyPlot",
           "chip_pixmap", "colormap", "default_threshold", "face_mime", "fill_embedders",
           "muted", "on_screen", "preload_plotting", "read_face_mime"]
