"""The Probe pane's figure widget: the four sweeps, the heat map and the legend, built and
rendered on the render thread (:meth:`~faceinspector.gui.plot_canvas.PlotCanvas.rebuild`), with the
sliders' values as overlay markers that move by blitting.

matplotlib is imported on the io lane first (:func:`~faceinspector.gui.widgets.preload_plotting`);
until then a note stands in for the canvas.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ... import theme
from ...widgets import preload_plotting
from ...workers import WorkerSlot
from .parts import PARAMS, build_figure


class ProbePlot(QWidget):
    """Shows :meth:`show_note` text or :meth:`show_figure` data; markers follow ``current()``.

    ``current`` returns the sliders' values as ``{"dx": …, "dy": …, "angle": …, "scale": …}``.
    """

    message = Signal(str)

    def __init__(self, ctx, current: Callable[[], dict], parent=None) -> None:
        super().__init__(parent)
        self.current = current
        self.canvas = None  # plot.PlotCanvas, created once matplotlib is loaded
        self.markers: dict = {}
        self.tall = False  # the panels are arranged 3 x 2 (else 2 x 3)
        self._data: dict | None = None  # the last figure asked for (redrawn on re-layout)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.note = QLabel()
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setStyleSheet(f"color: {theme.MUTED};")
        self.layout_.addWidget(self.note)
        self.setMinimumHeight(260)
        self.slot = WorkerSlot(ctx.pool, "io", "probe-plotting", self)
        self.slot.result.connect(self._make_canvas)
        self.slot.error.connect(self.message)

    def preload(self) -> None:
        """Import matplotlib on the io lane now, if not done yet."""
        if self.canvas is None and not self.slot.busy:
            self.slot.submit(preload_plotting)

    def show_note(self, text: str) -> None:
        """One line of text instead of the figure."""
        self._data, self.markers = None, {}
        if self.canvas is not None:
            self.canvas.show_message(text)
        else:
            self.note.setText(text)

    def show_figure(self, ids: list, sweeps: dict, heat, errors: dict) -> None:
        """Sweeps of models ``ids`` (``sweeps[id]``: backend.probe.ProbeSweep), the heat map
        (or None) and per-model errors."""
        self._data = dict(ids=list(ids), sweeps=dict(sweeps), heat=heat, errors=dict(errors))
        if self.canvas is None:
            self.preload()
            self.note.setText("Loading matplotlib…")
            return
        d, current = self._data, self.current()
        w, h = self.canvas.width(), self.canvas.height()
        self.tall = tall = w < 1.25 * h

        def build(fig):  # on the render thread: only the values captured here
            return build_figure(fig, w, h, tall, d["ids"], d["sweeps"], d["heat"],
                                d["errors"], current)

        self.canvas.rebuild(build, self._on_figure)

    def move_markers(self) -> None:
        """Put the markers at ``current()`` (a blit, no full draw)."""
        if self.canvas is None or not self.markers:
            return
        current = self.current()
        for name in PARAMS:
            if name in self.markers:
                self.markers[name].set_xdata([current[name], current[name]])
        if "heat" in self.markers:
            self.markers["heat"].set_data([current["dx"]], [current["dy"]])
        self.canvas.update_overlay()

    def save_png(self, path) -> str | None:
        return None if self.canvas is None else self.canvas.save_png(path)

    def _on_figure(self, markers: dict) -> None:
        self.markers = markers
        self.move_markers()  # the sliders may have moved while it was drawn

    def _make_canvas(self, _loaded=True) -> None:
        from ...plot_canvas import PlotCanvas

        if self.canvas is not None:
            return
        self.canvas = PlotCanvas(self)
        self.canvas.resized.connect(self._on_resized)
        self.note.hide()
        self.layout_.addWidget(self.canvas)
        if self._data is not None:
            self.show_figure(**self._data)
        else:
            self.canvas.show_message(self.note.text())

    def _on_resized(self) -> None:
        """Re-arrange the panels when the canvas turns from wide to tall or back."""
        c = self.canvas
        if self.markers and self._data and (c.width() < 1.25 * c.height()) != self.tall:
            QTimer.singleShot(0, lambda: self._data and self.show_figure(**self._data))


__all__ = ["ProbePlot"]
