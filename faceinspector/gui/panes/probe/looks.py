"""The Probe pane's "Where it looks" part (issue 19): the reference model's saliency map and one
layer's feature maps, following the sliders.

For every slider value the pane shows, one job on the compute lane (after the live
prediction, latest request wins) makes the map of the crop moved by the sliders -- in the
model's own crop pixels, the reference px times the model's unit, as ``probe.probe_live`` moves
it -- and the chosen layer's feature maps of that crop. The map's class is the untransformed
crop's top class (so frames stay comparable when the moved crop's answer flips); the feature
maps keep the channels and per-channel ranges of the untransformed crop
(:func:`saliency.feature_maps` with the first call's ``channels`` / ``ranges``), and for a pure
shift :func:`saliency.equivariance` says how far they moved with the input. Results for a
slider value the pane has left, or for a face / model / template / border it no longer shows,
are dropped (counted in :attr:`ProbeLooks.stale_dropped`). Occlusion runs 4×4, then 8×8.

At most one map job is in flight. A move after a rest at least as long as the last map took
gets its map at once; moves faster than that (a drag) ask for one once the slider rests that
long (at most :data:`MAX_REST_S`): where maps are quick they follow a drag, where they are slow
(a big network, a busy machine) a fast drag leaves the compute lane to the live predictions --
every slider value -- and the value the slider rests on gets its map.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QWidget

from ....backend import saliency
from ....backend.tasks import check
from ... import theme
from ...saliency_views import colour_key, describe, method_combo, opacity_slider
from ...workers import WorkerSlot
from .features import EQUIVARIANCE_NOTE, FeatureGrid
from .parts import CropView

NO_MOVE = (0.0, 0.0, 0.0, 1.0)
MAX_REST_S = 0.15  # a map is asked for once the slider rested as long as the last took
OFF = "__off__"  # layer combo: no feature maps (None: the model's default layer)


@dataclass(frozen=True, eq=False)
class ProbeMaps:
    """The maps of one crop: the untransformed one (``base``) or the one moved by
    ``transform`` (the sliders, reference px). ``key``: what the request was for."""

    key: tuple
    transform: tuple
    base: bool
    saliency: saliency.Saliency | None
    features: saliency.FeatureMaps | None
    equivariance: saliency.Equivariance | None = None


def probe_maps(backend, photo, face, model_id: str, method: str | None, layer, transform,
               unit: float, template, border: str, key: tuple, base: ProbeMaps | None = None,
               cancel=None):
    """Task: the untransformed crop's maps first when ``base`` is None, then those of the crop
    moved by ``transform`` (dx, dy in reference px, times ``unit`` for this model; occlusion
    4×4 then 8×8). ``layer``: :data:`OFF`, None (the default layer) or a layer name."""
    kw = dict(template=template, border=border)
    want_features = layer != OFF
    if base is None:
        s0 = saliency.class_saliency(backend, photo, face, model_id, method, **kw) \
            if method else None
        check(cancel)
        f0 = None
        if want_features:
            try:
                f0 = saliency.feature_maps(backend, photo, face, model_id, layer, **kw)
            except ValueError:  # no reachable layers (ONNX, a scripted non-Sequential)
                f0 = None
        base = ProbeMaps(key, NO_MOVE, True, s0, f0)
        yield base
    t = tuple(float(v) for v in transform)
    if t == NO_MOVE:
        return
    check(cancel)
    moved = (t[0] * unit, t[1] * unit, t[2], t[3])
    feats = eq = None
    if base.features is not None:
        f0 = base.features
        feats = saliency.feature_maps(backend, photo, face, model_id, f0.layer, moved,
                                      channels=f0.channels, ranges=f0.ranges, **kw)
        if moved[2:] == NO_MOVE[2:] and _overlap(f0, moved):
            eq = saliency.equivariance(f0, feats)
    s0 = base.saliency
    target = s0.class_index if s0 is not None and s0.target == "class" else None
    if not method:
        yield ProbeMaps(key, t, False, None, feats, eq)
    elif method == "occlusion":
        for item in saliency.occlusion_steps(backend, photo, face, model_id, target,
                                             transform=moved, cancel=cancel, **kw):
            if isinstance(item, saliency.Saliency):
                yield ProbeMaps(key, t, False, item, feats, eq)
    else:
        check(cancel)
        yield ProbeMaps(key, t, False, saliency.class_saliency(
            backend, photo, face, model_id, method, target, transform=moved, **kw), feats, eq)


def _overlap(features, moved) -> bool:
    """Whether maps moved by ``moved`` (crop px) still overlap the first ones enough for
    :func:`saliency.equivariance` (it compares them away from the borders)."""
    fh, fw = features.raw.shape[1:]
    sx, sy = (abs(moved[k]) / max(float(features.stride[k]), 1e-6) for k in (0, 1))
    return 2 * (math.ceil(sx) + 1) < fw - 1 and 2 * (math.ceil(sy) + 1) < fh - 1


def _caption(title: str) -> QLabel:
    label = QLabel(title)
    label.setStyleSheet("font-weight: bold;")
    return label


class ProbeLooks(QWidget):
    """Method, opacity and layer pickers; the map over the untransformed and the transformed
    crop; the feature-map grid; what moved."""

    mapsShown = Signal(object)  # ProbeMaps of the transformed crop, after it is drawn

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.base: ProbeMaps | None = None
        self.shown: ProbeMaps | None = None
        self.stale_dropped = 0
        self._key: tuple | None = None
        self._wanted: tuple = NO_MOVE
        self._info_model: str | None = None
        self.method = method_combo(default="gradcam", tip=(
            "Where the reference model looks on the crops: a saliency map that follows the "
            "sliders (its class: the untransformed crop's top class)"))
        self.opacity = opacity_slider()
        self.layer = QComboBox()
        self.layer.setToolTip("Which layer's feature maps to show (its most active channels)")
        self.layer.addItem("off", OFF)
        self.layer.addItem("default layer", None)
        self.layer.setCurrentIndex(1)
        self.base_view, self.moved_view = CropView(), CropView()
        self.grid = FeatureGrid()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setMinimumWidth(120)
        self.note = QLabel(EQUIVARIANCE_NOTE)
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.MUTED};")
        top = QHBoxLayout()
        for w, stretch in ((QLabel("<b>Where it looks</b>"), 0), (self.method, 0),
                           (QLabel("opacity:"), 0), (self.opacity, 0),
                           (QLabel("  Feature maps:"), 0), (self.layer, 0)):
            top.addWidget(w, stretch)
        top.addStretch(1)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(2)
        for col, (title, view) in enumerate((("Map, untransformed", self.base_view),
                                             ("Map, transformed", self.moved_view),
                                             ("Feature maps, transformed", self.grid))):
            grid.addWidget(_caption(title), 0, col)
            grid.addWidget(view, 1, col, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.text, 1, 3)
        grid.addWidget(self.note, 2, 2, 1, 2)
        grid.setColumnStretch(3, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        box = QWidget()
        inner = QGridLayout(box)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(top, 0, 0)
        inner.addLayout(grid, 1, 0)
        layout.addWidget(box)
        self.slot = WorkerSlot(ctx.pool, "compute", "probe-saliency", self)
        self.slot.result.connect(self._on_result)
        self.slot.error.connect(self._on_error)
        self.slot.finished.connect(self._on_finished)
        # a drag faster than the maps leaves the compute lane to the live predictions: see
        # follow()
        self._pending, self._last_start, self._last_cost = False, 0.0, 0.0
        self._last_move = 0.0  # when follow() last asked for a moved crop
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._kick)
        self.info_slot = WorkerSlot(ctx.pool, "compute", "probe-saliency-info", self)
        self.info_slot.result.connect(self._on_info)
        self.info_slot.error.connect(lambda _m: None)
        self.method.currentIndexChanged.connect(self._changed)
        self.layer.currentIndexChanged.connect(self._changed)
        self.opacity.valueChanged.connect(lambda _v: self._redraw())
        self._pane = None
        self.clear("Select a face in the Photos pane.")

    # ---------------------------------------------------------------------------- state
    @property
    def method_id(self) -> str | None:
        return self.method.currentData()

    @property
    def layer_id(self):
        return self.layer.currentData()

    @property
    def busy(self) -> bool:
        return self.slot.busy

    def set_method(self, method: str | None) -> None:
        self.method.setCurrentIndex(max(0, self.method.findData(method)))

    def set_layer(self, layer) -> None:
        self.layer.setCurrentIndex(max(0, self.layer.findData(layer)))

    def _changed(self, *_args) -> None:
        self._key = None  # new base maps
        if self._pane is not None:
            self.follow(self._pane)

    # ----------------------------------------------------------------------------- work
    def clear(self, text: str) -> None:
        self._pending = False
        self._timer.stop()
        self.slot.cancel()
        self._key, self.base, self.shown = None, None, None
        for v in (self.base_view, self.moved_view):
            v.set_text(text)
        self.grid.set_text("")
        self.text.setText("")

    def follow(self, pane) -> None:
        """The Probe pane's state changed (a slider, or the face, models, template, border):
        maps for its reference model at its current transform."""
        self._pane = pane
        model, backend, ref = pane.ref_model, pane.ctx.backend, pane.ref
        if model is None or backend is None or ref is None:
            self.clear("Check a model to probe." if ref is not None else
                       "Select a face in the Photos pane.")
            return
        method, layer = self.method_id, self.layer_id
        if method is None and layer == OFF:
            self.clear("Choose a method to see where the model looks.")
            return
        if model != self._info_model:
            self._info_model = model
            self.info_slot.submit(saliency.info, backend, model)
        key = (ref.key, model, pane.template, pane.border, method, layer)
        self._wanted = tuple(float(v) for v in pane.transform())
        if key != self._key:  # a new face, model, template, border or method: at once
            self._key, self.base, self.shown = key, None, None
            self._pending = True
            self._timer.stop()
            self.slot.cancel()
            self._kick()
            return
        if self.base is not None and self._wanted == NO_MOVE:
            self._pending = False
            self._timer.stop()
            self.slot.cancel()
            self._show_moved(self.base)
            return
        self._pending = True
        # a move after a rest at least as long as a map takes (a step) gets its map at once;
        # moves faster than that (a drag) restart the timer: the map is asked for once the
        # slider rests that long (at most MAX_REST_S)
        now = time.perf_counter()
        stepped = now - self._last_move > self._last_cost
        self._last_move = now
        self._timer.start(0 if stepped else round(min(MAX_REST_S, self._last_cost) * 1000))

    def _kick(self) -> None:
        """Start the pending request once the slider has rested and no map job is in
        flight (a drag faster than the maps leaves the lane to the live predictions)."""
        if not self._pending or self.slot.busy or self._timer.isActive() or self._pane is None:
            return
        self._pending = False
        pane, model = self._pane, self._key[1]
        ref = pane.ref
        self._last_start = time.perf_counter()
        self.slot.submit(probe_maps, pane.ctx.backend, ref.photo, ref.face, model,
                         self._key[4], self._key[5], self._wanted,
                         pane.units().get(model, 1.0), self._key[2], self._key[3], self._key,
                         self.base)

    def _on_finished(self, cancelled: bool) -> None:
        if not cancelled:
            self._last_cost = time.perf_counter() - self._last_start
        self._kick()

    def _on_info(self, info: saliency.SaliencyInfo) -> None:
        current = self.layer_id
        self.layer.blockSignals(True)
        while self.layer.count() > 2:
            self.layer.removeItem(2)
        for name in info.layers:
            self.layer.addItem(name + (" (default)" if name == info.default_layer else ""),
                               name)
        self.layer.setCurrentIndex(max(0, self.layer.findData(current)))
        self.layer.setEnabled(bool(info.layers))
        if not info.layers:
            self.grid.set_text(f"no layers: {info.note}")
        self.layer.blockSignals(False)

    def _on_result(self, maps: ProbeMaps) -> None:
        if maps.key != self._key:
            self.stale_dropped += 1  # the face, model, template, border or method changed
            return
        if maps.base:
            self.base = maps
            self._draw(self.base_view, maps.saliency)
            if self._wanted == NO_MOVE:
                self._show_moved(maps)
            return
        if maps.transform != self._wanted:
            self.stale_dropped += 1  # the sliders moved on before this came back
            return
        self._show_moved(maps)

    def _on_error(self, message: str) -> None:
        self.text.setText(f"<span style='color:{theme.ERROR}'>{message}</span>")

    # ---------------------------------------------------------------------------- views
    def _draw(self, view, sal) -> None:
        if sal is None:
            view.set_text("no map (method off)")
            return
        view.set_crop(sal.overlay(self.opacity.value() / 100), None, None, sal.peak)

    def _redraw(self) -> None:
        if self.base is not None:
            self._draw(self.base_view, self.base.saliency)
        if self.shown is not None:
            self._draw(self.moved_view, self.shown.saliency)

    def _show_moved(self, maps: ProbeMaps) -> None:
        self.shown = maps
        self._draw(self.moved_view, maps.saliency)
        lines = []
        sal, feats = maps.saliency, maps.features
        if sal is not None:
            lines.append(describe(sal))
            if sal.note:
                lines.append(f"<span style='color:{theme.MUTED}'>{sal.note}</span>")
            lines.append(f"<span style='color:{theme.MUTED}'>{colour_key(sal.signed)}</span>")
        if feats is not None:
            self.grid.set_maps(feats.maps, feats.channels)
            c, fh, fw = feats.shape
            lines.append(f"<b>{feats.layer}</b>: {len(feats.channels)} of {c} channels, "
                         f"{fw}×{fh} px (stride {feats.stride[0]:g} crop px)")
            eq = maps.equivariance
            if eq is not None:
                sx, sy = eq.shift
                lines.append(f"moved ({sx:+.2f}, {sy:+.2f}) feature px: correlation with the "
                             f"untransformed maps shifted by that much <b>{eq.shifted:.2f}</b>, "
                             f"unshifted {eq.unshifted:.2f}")
        elif self.layer_id == OFF:
            self.grid.set_text("feature maps off")
        dx, dy, angle, scale = maps.transform
        lines.append(f"<span style='color:{theme.MUTED}'>at dx {dx:+g}, dy {dy:+g}, "
                     f"{angle:+g}°, ×{scale:.2f}</span>")
        self.text.setText("<br>".join(lines))
        self.mapsShown.emit(maps)


__all__ = ["NO_MOVE", "OFF", "ProbeLooks", "ProbeMaps", "probe_maps"]
