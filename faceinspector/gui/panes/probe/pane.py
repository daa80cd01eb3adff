"""Probe pane: push the crop a model sees around (shift, rotate, scale) and watch it answer.

* Sliders with numeric entry for dx, dy (pixels of the *reference* model's crop: the first
  selected model, whose crops are shown), rotation and scale. Every other selected model is
  moved by the same fraction of its own crop, so their curves share one axis.
* Live: each slider change re-warps the crop from the photo and runs the selected models on it
  (compute lane, latest value wins: moves are coalesced, results for values the sliders have
  already left are dropped, never drawn).
* Analysis, when the face, models, template or border change (never per slider tick): for each
  model the four one-parameter sweeps, a dx × dy heat map for the reference model, and the
  invariance metrics of :mod:`faceinspector.backend.probe`. It runs as a chain of small jobs
  on the compute lane, so live predictions slip in between them. The slider positions are
  overlay markers on the plots: moving a slider blits them, nothing is recomputed.
* Where it looks (:mod:`.looks`): the reference model's saliency map and one layer's feature
  maps for the crop the sliders make, with how far the maps moved (equivariance).
* The template choice is the one Crops and Predictions use (:attr:`AppContext.template`):
  changing it here changes it there, and back.
* Export PNG (the figure as shown, with a caption: photo, face, template, models, slider state)
  and CSV (the sweeps, every model's heat map, the invariance metrics; each row with the same
  context as columns, numbers rounded to 6 significant digits).

Work only happens while the pane is visible (a hidden dock costs nothing).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QScrollArea, QToolButton, QVBoxLayout, QWidget)

from ....backend import probe as probe_tasks
from ... import theme
from ...widgets import on_screen
from ...workers import WorkerSlot
from .analysis import AnalysisPart
from .looks import ProbeLooks
from .parts import (ANGLES, BORDERS, DEFAULT_MODELS, OWN, PARAMS, SCALES,
                    CropsAndPredictions, CropView, ParamControl, caption, is_classifier,
                    live_html, make_controls, metrics_html, plotted_classes, slider_grid,
                    write_csv)
from .plot import ProbePlot


class ProbePane(AnalysisPart, QWidget):
    """Sliders, the two crops, live predictions, sweep plots, heat map and metrics."""

    message = Signal(str)
    liveShown = Signal(object)  # probe_tasks.ProbeView, after it is drawn
    analysisDone = Signal()  # sweeps, heat map and metrics of the current state are all in

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.ref = None
        self.live: probe_tasks.ProbeView | None = None
        # the last result with the untransformed part
        self._base: probe_tasks.ProbeView | None = None
        self.sweeps: dict[str, probe_tasks.ProbeSweep] = {}
        self.heat: probe_tasks.ProbeHeat | None = None
        self.metrics: dict = {}
        self.errors: dict[str, str] = {}
        self.stale_dropped = 0  # live results for values the sliders had already left
        self._steps: list[tuple[str, str]] = []
        self._current_step: tuple = ("", "", None)
        self.heat_flips: np.ndarray | None = None
        self.heats: dict = {}  # model id -> ProbeHeat (the reference's is also self.heat)
        self._dirty = True
        self._checked: set[str] = set(DEFAULT_MODELS)
        self._build()
        self.live_slot = WorkerSlot(ctx.pool, "compute", "probe-live", self)
        self.live_slot.result.connect(self._on_live)
        self.live_slot.error.connect(self._on_live_error)
        self.analysis_slot = WorkerSlot(ctx.pool, "compute", "probe-analysis", self)
        self.analysis_slot.result.connect(self._on_analysis)
        self.analysis_slot.error.connect(self._on_analysis_error)
        self._live_timer = QTimer(self)  # coalesces the slider moves of one event-loop pass
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(0)
        self._live_timer.timeout.connect(self._apply_transform)
        ctx.cardsChanged.connect(self.set_cards)
        ctx.backendChanged.connect(lambda info: (self._fill_templates(ctx.templates),
                                                 self._request_all()))
        ctx.templatesChanged.connect(self._fill_templates)
        ctx.templateChanged.connect(self._on_shared_template)
        self.set_cards(ctx.cards)
        self._show_empty()

    # --------------------------------------------------------------------------- layout
    def _build(self) -> None:
        self.template_combo, self.border_combo = QComboBox(), QComboBox()
        self.template_combo.setToolTip("Which alignment the probed crops start from: the same "
                                       "choice as the Crops and Predictions panes (changing it "
                                       "here changes it there).")
        self.template_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.template_combo.setMinimumContentsLength(10)
        self._fill_templates(self.ctx.templates)
        for b in BORDERS:
            self.border_combo.addItem(b, b)
        self.border_combo.setToolTip("What a crop shows where it reaches past the photo's edge.")
        self.reset_button = QToolButton(text="Reset")
        self.reset_button.setToolTip("Back to the untransformed crop.")
        self.png_button, self.csv_button = QToolButton(text="PNG…"), QToolButton(text="CSV…")
        self.png_button.setToolTip("Save the plots as a PNG image.")
        self.csv_button.setToolTip("Save the plotted numbers (sweeps and heat map) as CSV.")
        top = QHBoxLayout()
        for w, stretch in ((QLabel("Template (as in Crops):"), 0), (self.template_combo, 1),
                           (QLabel("Border:"), 0), (self.border_combo, 0),
                           (QLabel(" Export:"), 0), (self.png_button, 0), (self.csv_button, 0)):
            top.addWidget(w, stretch)

        self.model_list = QListWidget()
        self.model_list.setToolTip("Models to probe; the first checked one is the reference: "
                                   "its crop is shown and the shift sliders are in its pixels.")
        self.model_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.model_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.controls = make_controls(self)
        sliders = slider_grid(self.controls, self.reset_button)
        self.units_label = sliders.units_label
        for ctl in self.controls.values():
            ctl.valueChanged.connect(self._on_param)

        crop_box = CropsAndPredictions()
        self.original_view, self.moved_view = crop_box.original_view, crop_box.moved_view
        self.crop_caption, self.live_label = crop_box.caption, crop_box.live_label
        self.looks = ProbeLooks(self.ctx)  # saliency + feature maps following the sliders

        row = QHBoxLayout()
        row.addWidget(self.model_list)
        row.addLayout(sliders, 1)

        self.plot = ProbePlot(self.ctx, lambda: dict(zip(PARAMS, self.transform())))
        self.plot.message.connect(self.message)
        self.metrics_label = QLabel()
        self.metrics_label.setTextFormat(Qt.TextFormat.RichText)
        self.metrics_label.setWordWrap(True)
        self.metrics_label.setToolTip(
            "consistency: P(two random shifts get the same top-1) (Zhang 2019); "
            "P(flip, 1 px) and mean |Δp|: top-1 changes and top-class probability change for "
            "1-px shifts (Azulay & Weiss 2019); eKLD: mean KL(p(x) ‖ p(T x)) over random "
            "shifts, rotations and scales, by predicted class (Zhou et al. 2022).")

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addLayout(row)
        layout.addWidget(crop_box)
        layout.addWidget(self.looks)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.metrics_label)
        scroll = QScrollArea()  # squeezed into a small dock: scroll, never grow the window
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.template_combo.currentIndexChanged.connect(self._on_template)
        self.border_combo.currentIndexChanged.connect(lambda _i: self._request_all())
        self.model_list.itemChanged.connect(self._on_model_toggled)
        self.reset_button.clicked.connect(self.reset_transform)
        self.png_button.clicked.connect(self.export_png_dialog)
        self.csv_button.clicked.connect(self.export_csv_dialog)

    def _fill_templates(self, templates) -> None:
        current = self.template_combo.currentData()
        self.template_combo.blockSignals(True)
        self.template_combo.clear()
        self.template_combo.addItem("each model's own", OWN)
        for t in templates:
            self.template_combo.addItem(f"{self.ctx.template_label(t)} (forced)", t)
        self.template_combo.setCurrentIndex(max(self.template_combo.findData(current or OWN), 0))
        self.template_combo.blockSignals(False)

    def _on_template(self, _index: int) -> None:
        self.ctx.set_template(self.template)
        self._request_all()

    def _on_shared_template(self, template) -> None:
        """The Crops pane (or anyone) changed the shared template choice."""
        i = self.template_combo.findData(OWN if template is None else template)
        if i >= 0 and i != self.template_combo.currentIndex():
            self.template_combo.setCurrentIndex(i)

    # ---------------------------------------------------------------------------- state
    @property
    def template(self) -> str | None:
        value = self.template_combo.currentData()
        return None if value in (None, OWN) else value

    @property
    def border(self) -> str:
        return self.border_combo.currentData() or "reflect"

    @property
    def model_ids(self) -> list[str]:
        """The checked, loadable models in list order (the first is the reference)."""
        out = []
        for i in range(self.model_list.count()):
            item = self.model_list.item(i)
            if item.checkState() == Qt.CheckState.Checked and item.flags() & \
                    Qt.ItemFlag.ItemIsEnabled:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    @property
    def ref_model(self) -> str | None:
        ids = self.model_ids
        return ids[0] if ids else None

    def _size(self, model_id: str) -> tuple[int, int]:
        card = self.ctx.card(model_id)
        return tuple(card.spec.size) if card is not None and card.spec else (1, 1)

    @property
    def radius(self) -> int:
        """dx/dy slider range (reference px): ±16 for chips up to 64 px, ±32 above."""
        ref = self.ref_model
        return 16 if ref is None or min(self._size(ref)) <= 64 else 32

    def units(self) -> dict[str, float]:
        ref = self.ref_model
        if ref is None:
            return {}
        w0 = self._size(ref)[0]
        return {m: self._size(m)[0] / w0 for m in self.model_ids}

    def transform(self) -> tuple[float, float, float, float]:
        return tuple(self.controls[k].value() for k in PARAMS)

    def sweep_values(self) -> dict[str, np.ndarray]:
        r = self.radius
        shifts = np.arange(-r, r + 0.5, 1.0 if r <= 16 else 2.0)
        return {"dx": shifts, "dy": shifts.copy(), "angle": ANGLES, "scale": SCALES}

    def set_cards(self, cards) -> None:
        self.model_list.blockSignals(True)
        self.model_list.clear()
        for card in cards:
            if not is_classifier(card):
                continue
            w, h = card.spec.size
            item = QListWidgetItem(card.id)
            item.setData(Qt.ItemDataRole.UserRole, card.id)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | (
                Qt.ItemFlag.ItemIsEnabled if card.available else Qt.ItemFlag.NoItemFlags))
            on = card.available and card.id in self._checked
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            item.setToolTip(f"{card.title}\n{card.spec.template}, {w}×{h} px" if card.available
                            else card.reason)
            self.model_list.addItem(item)
        self.model_list.blockSignals(False)
        n = self.model_list.count()
        self.model_list.setFixedHeight(self.model_list.sizeHintForRow(0) * min(max(n, 3), 6) + 6
                                       if n else 60)
        self.model_list.setFixedWidth(min(max(self.model_list.sizeHintForColumn(0), 120) + 24,
                                          200))
        self._models_changed()

    def set_models(self, model_ids) -> None:
        """Check exactly these models (tests, scripts)."""
        self._checked = set(model_ids)
        self.set_cards(self.ctx.cards)

    def _on_model_toggled(self, item: QListWidgetItem) -> None:
        mid = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self._checked.add(mid)
        else:
            self._checked.discard(mid)
        self._models_changed()

    def _models_changed(self) -> None:
        r = self.radius
        for k in ("dx", "dy"):
            self.controls[k].set_range(-r, r)
        ref = self.ref_model
        if ref is None:
            self.units_label.setText("Check a model to probe.")
        else:
            w, h = self._size(ref)
            others = " Other models move by the same fraction of their crop." \
                if len(self.model_ids) > 1 else ""
            self.units_label.setText(f"Shifts in pixels of {ref}'s {w}×{h} crop.{others}")
        self._request_all()

    def set_face(self, ref) -> None:
        self.ref = ref
        self._request_all()

    def reset_transform(self) -> None:
        for ctl in self.controls.values():
            ctl.setValue(ctl.default)

    # ----------------------------------------------------------------------------- live
    def _ready(self) -> bool:
        return self.ref is not None and self.ctx.backend is not None and bool(self.model_ids)

    def _on_param(self, _value: float) -> None:
        self._live_timer.start()

    def _apply_transform(self) -> None:
        self._request_live()
        self.plot.move_markers()

    def _request_live(self) -> None:
        if not on_screen(self):
            self._dirty = True
            return
        if not self._ready():
            self.live_slot.cancel()
            self.looks.follow(self)  # clears it
            return
        self.live_slot.submit(probe_tasks.probe_live, self.ctx.backend, self.ref.photo,
                              self.ref.face, tuple(self.model_ids), self.units(), self.transform(),
                              self.template, self.border, with_base=self._base is None)
        self.looks.follow(self)  # the map and feature maps of the same crop, after it

    def _on_live(self, view: probe_tasks.ProbeView) -> None:
        if view.transform != self.transform() or view.model_ids != tuple(self.model_ids):
            self.stale_dropped += 1  # the sliders moved on before this came back
            return
        if view.original is not None:  # the untransformed part: kept until the state changes
            self._base = view
            self.original_view.set_crop(view.original, view.landmarks, view.targets)
        elif self._base is not None and self._base.crop_model == view.crop_model:
            b = self._base
            view = replace(view, base=b.base, original=b.original, landmarks=b.landmarks)
        self.live = view
        if view.moved is not None:
            self.moved_view.set_crop(view.moved, view.moved_landmarks, view.targets)
            h, w = view.moved.shape[:2]
            self.crop_caption.setText(f"{view.crop_model} {w}×{h}, shown ×"
                                      f"{self.moved_view.factor}")
        else:
            for v in (self.original_view, self.moved_view):
                v.set_text("No model could make this crop.")
        self.live_label.setText(live_html(view))
        self.liveShown.emit(view)

    def _on_live_error(self, message: str) -> None:
        self.live_label.setText(f"<span style='color:{theme.ERROR}'>{message}</span>")

    # ------------------------------------------------------------------------- analysis
    def _request_all(self) -> None:
        self._base = None  # face, models, template or border changed
        if not on_screen(self):
            self._dirty = True
            return
        self._dirty = False
        self._request_live()
        self._request_analysis()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.shown_again()

    def shown_again(self) -> None:
        """Now on screen (shown, or its dock tab raised): catch up on deferred work."""
        if self._dirty:
            QTimer.singleShot(0, self._request_all)

    # ---------------------------------------------------------------------------- plots
    def _set_plot_note(self, text: str) -> None:
        self.plot.show_note(text)

    def _show_empty(self) -> None:
        text = ("Select a face in the Photos pane." if self.ref is None else
                "Loading the models…" if self.ctx.backend is None else
                "Check a model to probe.")
        self.live = None
        for v in (self.original_view, self.moved_view):
            v.set_text(text)
        self.crop_caption.setText("")
        self.live_label.setText(f"<span style='color:{theme.MUTED}'>{text}</span>")
        self.metrics_label.setText("")
        self._set_plot_note(text)
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = bool(self.sweeps) or self.heat is not None
        self.png_button.setEnabled(has and self.canvas is not None)
        self.csv_button.setEnabled(has)

    def _draw_figure(self) -> None:
        self._update_buttons()
        ids = [m for m in self.model_ids if m in self.sweeps]
        self.plot.show_figure(ids, {m: self.sweeps[m] for m in ids}, self.heat, self.errors)

    @property
    def canvas(self):
        """The plot's PlotCanvas (None until matplotlib is loaded)."""
        return self.plot.canvas

    @property
    def _markers(self) -> dict:
        return self.plot.markers

    def _show_metrics(self) -> None:
        if not self.metrics:
            if not self._steps and self.errors:
                self.metrics_label.setText("")
            return
        self.metrics_label.setText(metrics_html(self.metrics, self.model_ids, self.radius))

    # --------------------------------------------------------------------------- export
    def export_context(self) -> dict:
        """What an export shows: photo, face, template, border and the slider state."""
        dx, dy, angle, scale = self.transform()
        r = self.ref
        return {"photo": "" if r is None else r.path.name,
                "face": "" if r is None else r.index + 1,
                "template": "each model's own" if self.template is None
                else self.ctx.template_label(self.template),
                "border": self.border, "slider_dx": dx, "slider_dy": dy, "slider_angle": angle,
                "slider_scale": scale}

    def export_png(self, path) -> str | None:
        if not (self.sweeps or self.heat is not None) or self.canvas is None:
            return None
        return self.canvas.save_png(path, caption=caption(self.export_context(),
                                                          self.model_ids))

    def export_csv(self, path) -> int:
        """The numbers: one row per sweep point, model and plotted class, one per heat-map
        cell of every model, one per invariance metric, each with :meth:`export_context` as
        columns. Returns the number of data rows."""
        return write_csv(path, [m for m in self.model_ids if m in self.sweeps or m in self.heats],
                         self.sweeps, self.heats, self.metrics, self.export_context())

    def _stem(self) -> str:
        if self.ref is None:
            return "probe"
        return f"{self.ref.path.stem}_face{self.ref.index + 1}_probe"

    def export_png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the probe plots",
                                              f"{self._stem()}.png", "PNG (*.png)")
        if path and self.export_png(path):
            self.message.emit(f"Saved {path}")

    def export_csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the plotted numbers",
                                              f"{self._stem()}.csv", "CSV (*.csv)")
        if path:
            self.message.emit(f"Saved {self.export_csv(path)} rows to {path}")


__all__ = ["CropView", "ParamControl", "ProbePane", "plotted_classes"]  # re-exported
