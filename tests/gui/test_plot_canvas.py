"""PlotCanvas renders full draws on its render thread; the newest figure wins."""

from __future__ import annotations

import threading

import numpy as np
from matplotlib.artist import Artist


class ThreadProbe(Artist):
    """An artist that records which thread drew it."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def draw(self, renderer) -> None:
        self.threads.append(threading.current_thread().name)


def make_canvas(qtbot):
    from faceinspector.gui.plot_canvas import PlotCanvas

    canvas = PlotCanvas()
    canvas.resize(400, 300)
    qtbot.addWidget(canvas)
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas


def test_full_draws_run_on_the_render_thread(qtbot):
    canvas = make_canvas(qtbot)
    canvas.reset()
    ax = canvas.figure.add_subplot(111)
    ax.plot(np.arange(10), np.arange(10) ** 2)
    probe = ThreadProbe()
    canvas.figure.add_artist(probe)
    canvas.draw_idle()
    qtbot.waitUntil(lambda: canvas.settled and canvas.full_draws > 0, timeout=10_000)
    assert probe.threads and all(t.startswith("mpl-render") for t in probe.threads)
    assert threading.main_thread().name not in probe.threads
    # the buffer shown is the rendered figure: not blank white
    rgba = np.asarray(canvas.buffer_rgba())
    assert rgba.shape[:2] == (canvas.height(), canvas.width()) and rgba[..., :3].min() < 128


def test_the_latest_rebuild_wins_and_overlays_blit(qtbot):
    canvas = make_canvas(qtbot)
    done: list[str] = []

    def builder(tag: str):
        def build(fig):
            ax = fig.add_subplot(111)
            ax.set_title(tag)
            ax.plot([0, 1], [0, 1])
            marker = ax.axvline(0.5)
            return [marker], (tag, marker)
        return build

    for tag in ("first", "second", "third"):  # faster than they render: only the last shows
        canvas.rebuild(builder(tag), done.append)
    qtbot.waitUntil(lambda: canvas.settled and bool(done), timeout=20_000)
    qtbot.wait(200)
    assert [tag for tag, _m in done] == ["third"]
    assert canvas.figure.axes[0].get_title() == "third"
    marker = done[0][1]
    assert canvas.overlay == (marker,) and marker.get_animated()
    draws = canvas.full_draws
    marker.set_xdata([0.25, 0.25])
    canvas.update_overlay()  # a blit on the cached background, no full draw
    assert canvas.full_draws == draws


def test_reset_while_rendering_drops_the_old_figure(qtbot):
    canvas = make_canvas(qtbot)
    canvas.reset()
    canvas.figure.add_subplot(111).set_title("old")
    canvas.draw_idle()
    qtbot.waitUntil(lambda: canvas.rendering, timeout=5_000)
    canvas.show_message("new")  # a new figure while the old one is still rendering
    qtbot.waitUntil(lambda: canvas.settled, timeout=20_000)
    assert not canvas.figure.axes and canvas.figure.texts[0].get_text() == "new"
