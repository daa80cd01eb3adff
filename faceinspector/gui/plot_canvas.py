"""An embedded matplotlib figure: :class:`PlotCanvas`, a ``FigureCanvasQTAgg`` any pane can use.

Two costs shape it:

* Importing matplotlib takes ~1.5 s on the 2-core dev CPU, so this module is imported lazily:
  a pane first runs :func:`faceinspector.gui.widgets.preload_plotting` on a worker lane (the import
  and a first off-screen draw), then imports this module and creates the canvas.
* A full draw of a multi-panel figure takes a few hundred ms (mostly text layout), far too slow
  for the GUI thread. Full draws therefore run on one background render thread (nice +10): the
  figure is built on the GUI thread (cheap), rendered into a fresh Agg buffer off it, and the
  buffer is installed when it comes back (latest request wins; a result for a figure that has
  since been rebuilt or resized is dropped). :meth:`PlotCanvas.reset` starts a new ``Figure``
  rather than clearing the one a render may still be reading.
* Artists that follow a slider (marker lines, a crosshair) are *overlay* artists: animated,
  left out of full draws, and :meth:`PlotCanvas.update_overlay` redraws only them on top of
  the cached background and blits (a few ms, GUI thread). Saved figures include them.

The widget itself is GUI thread only, like every widget.
"""

from __future__ import annotations

import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import QSizePolicy

_RENDERER: ThreadPoolExecutor | None = None
_RC_LOCK = threading.RLock()  # matplotlib.rc_context changes global state
#: held while any figure is drawn or saved: matplotlib's text layout (mathtext's parser, the
#: text-metrics cache) is shared and not thread-safe, and an export on the GUI thread racing
#: the render thread failed with "Unknown symbol: \mathdefault"
MPL_LOCK = threading.RLock()


def _render_thread_init() -> None:
    from .workers import lower_thread_priority

    lower_thread_priority()


def render_pool() -> ThreadPoolExecutor:
    """The one thread that renders every canvas's full draws (created on first use)."""
    global _RENDERER
    if _RENDERER is None:
        _RENDERER = ThreadPoolExecutor(1, thread_name_prefix="mpl-render",
                                       initializer=_render_thread_init)
    return _RENDERER


def _on_gui_thread() -> bool:
    return threading.current_thread() is threading.main_thread()

#: small, readable fonts for figures in docks
RC = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
      "ytick.labelsize": 7, "legend.fontsize": 7, "axes.titlepad": 3}


def pixel_grid(fig: Figure, width: int, height: int, rows: int, cols: int, left=48, right=14,
               top=24, bottom=36, wgap=52, hgap=52):
    """A GridSpec with margins and gaps in *pixels* for a figure ``width`` × ``height`` pixels
    (room for tick labels and titles at any size; cheaper than constrained layout)."""
    w, h = max(width, 50), max(height, 50)
    aw = max((w - left - right - wgap * (cols - 1)) / cols, 10)
    ah = max((h - top - bottom - hgap * (rows - 1)) / rows, 10)
    return fig.add_gridspec(rows, cols, left=left / w, right=1 - right / w, top=1 - top / h,
                            bottom=bottom / h, wspace=wgap / aw, hspace=hgap / ah)


class PlotCanvas(FigureCanvasQTAgg):
    """A matplotlib figure as a Qt widget, with blitted overlay artists.

    Build the figure inside ``with canvas.styled():`` (fonts sized for a dock), call
    :meth:`add_overlay` for artists that move often, then ``draw_idle()``; afterwards move the
    overlay artists (``set_xdata`` …) and call :meth:`update_overlay`.
    """

    resized = Signal()  # after the widget changed size (a full redraw follows)
    _rendered = Signal(object)  # from the render thread: (generation, figure, renderer, key)
    drawn = Signal()  # a background render came back (shown, or dropped as outdated)

    def __init__(self, parent=None, figsize=(7.0, 4.0), dpi: int = 100, rc: dict | None = None):
        super().__init__(Figure(figsize=figsize, dpi=dpi, facecolor="white"))
        if parent is not None:
            self.setParent(parent)
        self.rc = dict(RC if rc is None else rc)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 160)
        self._overlay: list = []
        self._background = None
        self.full_draws = 0  # number of full renders shown (tests and benchmarks read it)
        self.background_render = True  # False: full draws on the calling (GUI) thread
        self._generation = 0  # of the figure shown; results of older ones are dropped
        self._pending = 0  # renders / builds submitted to the render thread, not yet back
        self._again = False  # and another draw was asked for meanwhile
        self._figure_lock = threading.Lock()  # held while the render thread draws a figure
        self._rendered.connect(self._on_rendered)
        self.mpl_connect("draw_event", self._on_draw)

    def sizeHint(self) -> QSize:
        return QSize(640, 360)

    def minimumSizeHint(self) -> QSize:
        return QSize(240, 160)

    @contextmanager
    def styled(self) -> Iterator[None]:
        """Context manager: matplotlib rc settings for artists created inside it. rcParams are
        global, so the GUI thread and the render thread take turns (one lock)."""
        with _RC_LOCK, matplotlib.rc_context(self.rc):
            yield

    # ------------------------------------------------------------------------- content
    def reset(self) -> None:
        """Start an empty figure (the old one may still be rendering on the render thread);
        overlay and cached background are dropped."""
        old = self.figure
        fig = Figure(figsize=old.get_size_inches(), dpi=old.dpi, facecolor="white")
        fig._original_dpi = getattr(old, "_original_dpi", old.dpi)  # device pixel ratio
        fig.set_canvas(self)
        self.figure = fig
        self._generation += 1  # a build or render still on its way is outdated now
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
    def draw_idle(self, *args, **kwargs) -> None:
        if _on_gui_thread():  # artists going stale during a background render: ignored
            super().draw_idle(*args, **kwargs)

    def draw(self) -> None:
        """A full draw: rendered on the render thread, shown when it comes back."""
        if not self.background_render or not _on_gui_thread():
            with MPL_LOCK, self._figure_lock:
                super().draw()
            return
        if self._pending:
            self._again = True  # drawn once the running render is back (latest wins)
            return
        w, h = self.get_width_height(physical=True)
        if w < 2 or h < 2:
            return
        self._generation += 1
        self._pending += 1
        render_pool().submit(self._render, self._generation, self.figure, None,
                             (w, h, self.figure.dpi))

    def rebuild(self, build, done=None) -> None:
        """Build a new figure *and* render it on the render thread (creating a few axes costs
        ~100 ms of Python, too much for the GUI thread).

        ``build(fig)`` gets an empty ``Figure`` of the canvas's size, inside :meth:`styled`,
        and returns ``(overlay_artists, payload)``; it must use only data it was given (it
        runs on another thread). When the render is back and still the latest, the figure
        replaces the shown one, the artists become its overlay and ``done(payload)`` is called
        on the GUI thread. An older build or render still running is dropped.
        """
        old = self.figure
        w, h = self.get_width_height(physical=True)
        self._generation += 1
        self._pending += 1
        self._again = False
        render_pool().submit(self._render, self._generation, None, (build, done, old.dpi,
                             getattr(old, "_original_dpi", old.dpi)), (w, h, old.dpi))

    def _render(self, generation: int, fig: Figure | None, build, key: tuple) -> None:
        """Render thread: (build and) draw a figure into a new Agg buffer of size ``key``."""
        renderer = error = None
        overlay, payload, done = [], None, None
        try:
            if build is not None:
                build_fn, done, dpi, original_dpi = build
                fig = Figure(figsize=(key[0] / dpi, key[1] / dpi), dpi=dpi, facecolor="white")
                fig._original_dpi = original_dpi
                fig.set_canvas(self)
                with self.styled():
                    overlay, payload = build_fn(fig)
                for artist in overlay:
                    artist.set_animated(True)
            renderer = RendererAgg(*key)
            with MPL_LOCK, self._figure_lock:
                fig.draw(renderer)
        except Exception:  # noqa: BLE001 - reported on the GUI thread
            error = traceback.format_exc(limit=4)
        try:
            self._rendered.emit((generation, fig, renderer, key, error, build is not None,
                                 list(overlay), payload, done))
        except RuntimeError:  # the widget was deleted meanwhile
            pass

    def _on_rendered(self, result) -> None:
        generation, fig, renderer, key, error, built, overlay, payload, done = result
        self._pending -= 1
        again, self._again = self._again, False
        current = generation == self._generation
        if error is not None:
            print(f"FaceInspector: a plot could not be drawn:\n{error}")
        elif current:
            now = self.get_width_height(physical=True)
            if built:  # the new figure replaces the shown one, whatever its size now
                fig.set_size_inches(now[0] / fig.dpi, now[1] / fig.dpi, forward=False)
                self.figure, self._overlay = fig, overlay
            if key == (*now, self.figure.dpi):
                self.renderer, self._lastKey = renderer, key
                self.full_draws += 1
                self._background = self.copy_from_bbox(self.figure.bbox)
                self._draw_overlay()
                self.update()
            else:
                again = True  # resized while rendering
            if built and done is not None:
                done(payload)
        if (again or not current) and not self._pending:
            self.draw()  # the figure now current has not been rendered yet
        self.drawn.emit()

    @property
    def rendering(self) -> bool:
        """A full draw is running on the render thread."""
        return self._pending > 0

    def _on_draw(self, event) -> None:
        if not _on_gui_thread():
            return  # the render thread's own draw: installed by _on_rendered
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
        if self._pending:
            return  # the render on its way draws them where they are by then
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

    def grid(self, rows: int, cols: int, **margins):
        """:func:`pixel_grid` on this figure at the widget's current size."""
        return pixel_grid(self.figure, self.width(), self.height(), rows, cols, **margins)

    def save_png(self, path, dpi: int = 150, caption: str = "") -> str:
        """The figure as a PNG (overlay artists included), with ``caption`` (what it shows)
        as a line under it. Runs on the calling thread (an explicit export; waits for a
        render of the same figure that is still running)."""
        with MPL_LOCK, self._figure_lock:
            if not caption:
                self.figure.savefig(str(path), dpi=dpi, facecolor="white")
            else:
                text = self.figure.text(0.01, -0.01, caption, fontsize=7, ha="left", va="top",
                                        color="0.25")
                try:
                    self.figure.savefig(str(path), dpi=dpi, facecolor="white",
                                        bbox_inches="tight", bbox_extra_artists=[text])
                finally:
                    text.remove()
        self._background = None  # savefig re-rendered the figure at its own dpi
        self.draw_idle()
        return str(path)

    @property
    def settled(self) -> bool:
        """Drawn on screen with the background cached (overlay updates are blits now)."""
        return self._background is not None and not self._pending


__all__ = ["MPL_LOCK", "RC", "PlotCanvas", "pixel_grid", "render_pool"]
