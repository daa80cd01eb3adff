"""Where the model looks, shared by the panes that show saliency (issue 19): the method menu,
the opacity slider, one-line descriptions of a map, the start-up preload of grad-cam, and the
task that streams similarity thumbnails of pairs (Triplets, Verification).

Every map is computed on a worker lane through :mod:`faceinspector.backend.saliency` (plain
numpy results); the GUI thread only blends a returned map over its crop
(:meth:`Saliency.overlay`, well under a millisecond for a model's chip) and paints it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QComboBox, QSlider

from ..backend import saliency
from ..backend.tasks import Progress
from .workers import WorkerSlot

#: (menu text, method); None = no map
METHODS = (("off", None), ("Grad-CAM", "gradcam"), ("Grad-CAM++", "gradcampp"),
           ("EigenCAM", "eigencam"), ("occlusion", "occlusion"))
#: similarity maps: EigenCAM is class- and target-agnostic, so it cannot say "close" or "far"
PAIR_METHODS = tuple(m for m in METHODS if m[1] != "eigencam")
METHOD_TIPS = {
    None: "No saliency map",
    "gradcam": "Grad-CAM: the target layer's activations weighted by the class score's "
               "gradient (red = where the evidence for the class is)",
    "gradcampp": "Grad-CAM++: like Grad-CAM with higher-order weights; on these networks it "
                 "largely shows where the layer is active (see the README's sanity checks)",
    "eigencam": "EigenCAM: the first principal component of the layer's activations; "
                "gradient-free and class-agnostic (the same map for every class)",
    "occlusion": "Occlusion: each patch of a grid filled with the crop's mean colour, Δ of the "
                 "class probability (red = the patch supports the class, blue = against it); "
                 "4×4 first, then 8×8; works for any model, ONNX included",
}
DEFAULT_OPACITY = 50  # percent
PRELOAD_WAIT_S = 15.0  # the preload waits at most this long for an idle worker pool


def method_combo(choices=METHODS, default: str | None = "gradcam", tip: str = "") -> QComboBox:
    """A menu of saliency methods (item data: the method, None for "off")."""
    combo = QComboBox()
    for text, method in choices:
        combo.addItem(text, method)
        combo.setItemData(combo.count() - 1, METHOD_TIPS[method], Qt.ItemDataRole.ToolTipRole)
    combo.setCurrentIndex(max(0, combo.findData(default)))
    combo.setToolTip(tip or "Which saliency method draws the map over the crop")
    return combo


def opacity_slider(value: int = DEFAULT_OPACITY) -> QSlider:
    """0..100 % opacity of a map over its crop."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.setValue(value)
    slider.setMaximumWidth(110)
    slider.setToolTip("Opacity of the map over the crop (0: the crop alone)")
    return slider


def colour_key(signed: bool) -> str:
    """What the colours of a map mean, in a few words."""
    if signed:
        return "red: the patch supports the target, blue: it works against it"
    return "blue → red: low → high"


def describe(sal: saliency.Saliency) -> str:
    """One line about a map: method, class (and its score), peak and the share inside the face
    box, e.g. ``Grad-CAM of female (p 0.98) · peak (18, 20) · 91 % in the face box``."""
    what = saliency.TITLES.get(sal.method, sal.method)
    if sal.grid:
        what += f" {sal.grid[0]}×{sal.grid[1]}"
    if sal.target == "class":
        what += f" of {sal.class_label}"
        if np.isfinite(sal.score):
            what += f" (p {sal.score:.2f})"
    elif sal.target in ("similarity", "dissimilarity"):
        what += f", {sal.class_label} (cos {sal.score:+.2f})"
    else:
        what += " of the embedding"
    x, y = sal.peak
    inside = "" if not np.isfinite(sal.mass_in_face_box) else \
        f" · {sal.mass_in_face_box * 100:.0f} % in the face box"
    return f"{what} · peak ({x:.0f}, {y:.0f}){inside}"


def side_by_side(a: np.ndarray | None, b: np.ndarray | None, gap: int = 2) -> np.ndarray | None:
    """Two RGB thumbnails of one height next to each other (dark gap); None if neither."""
    parts = [p for p in (a, b) if p is not None]
    if not parts:
        return None
    h = max(p.shape[0] for p in parts)
    out = []
    for k, p in enumerate(parts):
        if p.shape[0] != h:
            pad = np.full((h - p.shape[0], p.shape[1], 3), 32, np.uint8)
            p = np.concatenate([p, pad], 0)
        out.append(p)
        if k < len(parts) - 1:
            out.append(np.full((h, gap, 3), 32, np.uint8))
    return np.ascontiguousarray(np.concatenate(out, 1))


# ------------------------------------------------------------------------------ preload


class _Preloader(QObject):
    """Imports grad-cam (``saliency.preload``) once on the io lane after the models are listed
    (torch is loaded by then), so the first map a pane asks for costs no import.

    The import takes seconds and, in a few of its C calls (torch's distributed and dynamo
    modules, sympy, matplotlib's projections), holds the GIL for up to ~0.2 s at a time on any
    thread: it waits until the worker pool is idle (the first photos detected, predictions
    drawn; at most :data:`PRELOAD_WAIT_S`), so that one-off hitch falls where nothing moves.
    """

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.ctx, self.done, self.seconds = ctx, False, None
        self.started_at = self.done_at = None  # time.perf_counter() on the GUI thread
        self._asked = None  # when the models were first listed
        self.slot = WorkerSlot(ctx.pool, "io", "saliency-preload", self)
        self.slot.result.connect(self._on_done)
        self.timer = QTimer(self)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self._when_idle)
        ctx.cardsChanged.connect(self.start)
        self.start()

    def start(self, *_args) -> None:
        if self.done or self.slot.busy or self.ctx.backend is None or self.ctx.pool.closed:
            return
        if not any(c.available for c in self.ctx.cards):  # torch not loaded yet (issue 18)
            return
        if self._asked is None:
            self._asked = time.perf_counter()
        self.timer.start()
        self._when_idle()

    def _when_idle(self) -> None:
        if self.done or self.slot.busy or self.ctx.pool.closed:
            self.timer.stop()
            return
        if self.ctx.pool.active and time.perf_counter() - self._asked < PRELOAD_WAIT_S:
            return
        self.timer.stop()
        self.started_at = time.perf_counter()
        self.slot.submit(_timed_preload)

    def _on_done(self, seconds: float) -> None:
        self.done, self.seconds, self.done_at = True, seconds, time.perf_counter()


def _timed_preload() -> float:
    t0 = time.perf_counter()
    saliency.preload()
    return time.perf_counter() - t0


def install_preload(ctx) -> _Preloader:
    """The context's one preloader (made on first use)."""
    pre = getattr(ctx, "_saliency_preloader", None)
    if pre is None:
        pre = ctx._saliency_preloader = _Preloader(ctx)
    return pre


# ------------------------------------------------------------------------- pair thumbnails


@dataclass(frozen=True, eq=False)
class PairThumbs:
    """One pair's similarity maps (:class:`saliency.PairSaliency`) with both overlays made on
    the worker at ``side`` px high; ``index``: the pair's position in the request."""

    index: int
    pair: saliency.PairSaliency
    a: np.ndarray | None
    b: np.ndarray | None


def pair_thumbs(backend, pairs, model_id: str, method: str, modes, side: int = 96,
                alpha: float = 0.5, cancel=None):
    """Task: :func:`saliency.pair_saliency_task` over ``pairs``, each result with its two
    overlays as thumbnails (:class:`PairThumbs`), streamed as they are made."""
    task = saliency.pair_saliency_task(backend, pairs, model_id, method, modes, cancel=cancel)
    index = 0
    for item in task:
        if isinstance(item, Progress):
            yield item
            continue
        a = item.a.overlay(alpha, side) if item.a is not None else None
        b = item.b.overlay(alpha, side) if item.b is not None else None
        yield PairThumbs(index, item, a, b)
        index += 1


__all__ = ["DEFAULT_OPACITY", "METHODS", "METHOD_TIPS", "PAIR_METHODS", "PairThumbs",
           "colour_key", "describe", "install_preload", "method_combo", "opacity_slider",
           "pair_thumbs", "side_by_side"]
