"""An embedded matplotlib figure: :class:`PlotCanvas`, a ``FigureCanvasQTAgg`` any pane can use.

Two costs shape it:

* Importing matplotlib takes ~1.5 s on the 2-core dev CPU, so this module is imported lazily:
  a pane first runs :func:`faceinspector.gui.jobs.preload_plotting` on a worker lane (the import
  and a first off-screen draw), then imports this module and creates the canvas.
* A full draw of a multi-panel figure takes a few hundred ms, far too slow for a slider. Artists
  that follow a slider (marker lines, a crosshair) are made *overlay* artists: they are
  animated, left out of full draws, and :meth:`PlotCanvas.update_overlay` redraws only them on
  top of the cached background and blits (a few ms). Saved figures include them.

GUI thread only, like every widget.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import matplotlib
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import QSizePolicy

#: small, readable fonts for figures in docks
RC = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
      "ytick.labelsize": 7, "legend.fontsize": 7, "axes.titlepad": 3}


class PlotCanvas(FigureCanvasQTAgg):
    """A matplotlib figure as a Qt widget, with blitted overlay artists.

    Build the figure inside ``with canvas.styled():`` (fonts sized for a dock), call
    :meth:`add_overlay` for artists that move often, then ``draw_idle()``; afterwards move the
    overlay artists (``set_xdata`` …) and call :meth:`update_overlay`.
    """

    resized = Signal()  # after the widget changed size (a full redraw follows)

    def __init__(self, parent=None, figsize=(7.0, 4.0), dpi: int = 100, rc: dict | None = None):
        super().__init__(Figure(figsize=figsize, dpi=dpi, facecolor="white"))
        if parent is not None:
            self.setParent(parent)
        self.rc = dict(RC if rc is None else rc)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 160)
        self._overlay: list = []
        self._background = None
        self.full_draws = 0  # number of full renders (tests and benchmarks read it)
        self.mpl_connect("draw_event", self._on_draw)

    def sizeHint(self) -> QSize:
        return QSize(640, 360)

    def minimumSizeHint(self) -> QSize:
        return QSize(240, 160)

    def styled(self) -> AbstractContextManager:
        """Context manager: matplotlib rc settings for artists created inside it."""
        return matplotlib.rc_context(self.rc)

    # ------------------------------------------------------------------------- content
    def reset(self) -> None:
        """Remove everything (artists, overlay, cached background)."""
        self.figure.clear()
        self._overlay = []
        self._background = None

    def show_message(self, text: str) -> None:
        """An empty figure with one centred line of text."""
        self.reset()
        with self.styled():
            self.figure.text(0.5, 0.5, text, ha="center", va="center", color="0.45",
                             wrap=True, fontsize=9)
        self.draw_idle()

    def add_overlay(self, artist):
        """Make ``artist`` an overlay artist (animated: drawn by :meth:`update_overlay`)."""
        artist.set_animated(True)
        self._overlay.append(artist)
        return artist

    @property
    def overlay(self) -> tuple:
        return tuple(self._overlay)

    # ------------------------------------------------------------------------ drawing
    def _on_draw(self, event) -> None:
        if (event is not None and event.canvas is not self) or self.is_saving():
            return  # a savefig render (other dpi or canvas): not what the screen shows
        self.full_draws += 1
        self._background = self.copy_from_bbox(self.figure.bbox)
        self._draw_overlay()

    def _draw_overlay(self) -> None:
        for artist in self._overlay:
            if artist.figure is self.figure:
                self.figure.draw_artist(artist)

    def update_overlay(self) -> None:
        """Redraw the overlay artists on the cached background and blit (no full draw)."""
        if self._background is None:
            self.draw_idle()  # not drawn yet: the next full draw shows them
            return
        self.restore_region(self._background)
        self._draw_overlay()
        self.blit(self.figure.bbox)

    def resizeEvent(self, event) -> None:
        self._background = None  # the next full draw (resize triggers one) caches it again
        super().resizeEvent(event)
        self.resized.emit()

    def grid(self, rows: int, cols: int, left=48, right=14, top=24, bottom=36, wgap=52,
             hgap=52):
        """A GridSpec with margins and gaps in *pixels* at the current size (room for tick
        labels and titles whatever the widget's size; cheaper than constrained layout)."""
        w, h = max(self.width(), 50), max(self.height(), 50)
        aw = max((w - left - right - wgap * (cols - 1)) / cols, 10)
        ah = max((h - top - bottom - hgap * (rows - 1)) / rows, 10)
        return self.figure.add_gridspec(rows, cols, left=left / w, right=1 - right / w,
                                        top=1 - top / h, bottom=bottom / h, wspace=wgap / aw,
                                        hspace=hgap / ah)

    def save_png(self, path, dpi: int = 150) -> str:
        """The figure as a PNG (overlay artists included)."""
        self.figure.savefig(str(path), dpi=dpi, facecolor="white")
        self._background = None  # savefig re-rendered the figure at its own dpi
        self.draw_idle()
        return str(path)

    @property
    def settled(self) -> bool:
        """Drawn on screen with the background cached (overlay updates are blits now)."""
        return self._background is not None


__all__ = ["RC", "PlotCanvas"]
