"""Morph pane: a VAE's latent space — morph one face into another, traverse one latent.

* **Faces**: "Set A / Set B from selected face" cut the face selected in the Photos pane to the
  VAE's 64×64 chip (``vae.chip_for_face``: the ``vae-64`` template the model was trained with)
  and show it enlarged next to the VAE's reconstruction, with the identity distance between
  the two (dlib's ResNet, computed on the compute lane; green under τ, amber above).
* **Morph**: encode A and B, interpolate their latents (linear, or spherical: ``slerp``) in N
  steps, decode; the strip shows every frame (its ends are the two reconstructions), a slider
  scrubs through it and the large view shows the current frame.
* **Traversal**: one latent dimension of A's (or B's) code set to ``mean ± k·std`` of the
  training faces; dimensions are listed most active first (``vae.dims_by_activity``).
* **Export** the strip under the slider (the one last computed or clicked) as a PNG strip or a
  looping GIF.
* **Training** tab (:mod:`.training`): train a VAE / DB-VAE in the app; when a run finishes
  the pane switches to its checkpoint. The model combo goes back to the shipped default, or
  offers the smaller issue-7 VAE shipped beside it.

The face boxes and the large frame view are in :mod:`.views`, the strips in
:mod:`.widgets`, the PNG / GIF export in :mod:`.export`.

All VAE work runs in jobs (:mod:`faceinspector.backend.vae.session`, compute lane, one
:class:`~faceinspector.gui.workers.WorkerSlot` per request kind, latest request wins); the pane
holds checkpoint paths, chips and frames, never a model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout,
                               QLabel, QPushButton, QSlider, QSpinBox, QTabWidget, QVBoxLayout,
                               QWidget)

from ....backend.types import FaceRef
from ....backend.vae import session
from ....backend.vae.checkpoint import default_checkpoint_path, small_checkpoint_path
from ... import theme
from ...widgets import on_screen
from ...workers import WorkerSlot
from .export import StripExporter
from .training import TrainingTab
from .views import FaceBox, FrameView
from .widgets import ElidedLabel, FrameStrip

#: the VAE shipped in resources/ (``vae.checkpoint`` does not import torch)
DEFAULT_CHECKPOINT = default_checkpoint_path()
#: the smaller issue-7 VAE shipped beside it, for comparison
SMALL_CHECKPOINT = small_checkpoint_path()
MODES = {"linear": "linear", "slerp": "spherical (slerp)"}


class MorphPane(QWidget):
    """Morph and traversal strips, the large frame and its slider, exports, Training tab."""

    message = Signal(str)

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.ref: FaceRef | None = None  # the face selected in the Photos pane
        self.checkpoint = DEFAULT_CHECKPOINT
        self.info: session.VaeInfo | None = None
        self.faces: dict[str, session.VaeFace | None] = {"A": None, "B": None}
        self.strips: dict[str, session.VaeStrip | None] = {"morph": None, "traverse": None}
        self.active = "morph"  # the strip under the slider
        self._want = "morph"  # the kind the user last asked for: it takes the slider

        self.model_combo = QComboBox()
        self.model_combo.addItem("shipped (CelebA)", str(DEFAULT_CHECKPOINT))
        self.model_combo.setToolTip(str(DEFAULT_CHECKPOINT))
        if SMALL_CHECKPOINT.is_file():
            self.model_combo.addItem("small (CelebA, issue 7)", str(SMALL_CHECKPOINT))
        self.model_combo.setMinimumWidth(120)
        open_button = QPushButton("Open…")
        open_button.setToolTip("Use another VAE checkpoint (.safetensors)")
        open_button.clicked.connect(self._open_checkpoint)
        self.default_button = QPushButton("Shipped default")
        self.default_button.setToolTip("Go back to the VAE shipped with FaceInspector")
        self.default_button.clicked.connect(self.use_default)
        self.model_label = ElidedLabel("")
        self.model_label.setStyleSheet(f"color: {theme.MUTED};")
        top = QHBoxLayout()
        top.addWidget(QLabel("VAE:"))
        top.addWidget(self.model_combo, 1)
        top.addWidget(open_button)
        top.addWidget(self.default_button)
        top.addWidget(self.model_label, 3)

        self.boxes = {k: FaceBox(k) for k in ("A", "B")}
        for k, box in self.boxes.items():
            box.button.clicked.connect(lambda _=False, k=k: self.set_from_selected(k))
            box.button.setEnabled(False)
        self.mode = QComboBox()
        for m, text in MODES.items():
            self.mode.addItem(text, m)
        self.mode.setToolTip("Straight line between the two codes, or along the great circle "
                             "(keeps the midpoints at a typical norm)")
        self.steps = QSpinBox()
        self.steps.setRange(2, 40)
        self.steps.setValue(9)
        self.steps.setToolTip("Frames in the morph, both ends included")
        self.steps.setKeyboardTracking(False)
        morph_row = QHBoxLayout()
        morph_row.addWidget(QLabel("Morph A → B:"))
        morph_row.addWidget(self.mode)
        morph_row.addWidget(QLabel("frames"))
        morph_row.addWidget(self.steps)
        morph_row.addStretch(1)

        self.view = FrameView()
        self.view_title = QLabel("")
        self.view_title.setMinimumWidth(40)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Scrub through the strip")
        self.png_button = QPushButton("Export PNG…")
        self.gif_button = QPushButton("Export GIF…")
        self.png_button.setToolTip("Save the strip under the slider as one PNG image")
        self.gif_button.setToolTip("Save the strip under the slider as a looping GIF "
                                   "(forward, then back)")
        self.png_button.clicked.connect(lambda: self._export_dialog("png"))
        self.gif_button.clicked.connect(lambda: self._export_dialog("gif"))
        viewer = QVBoxLayout()
        viewer.setSpacing(2)
        viewer.addWidget(self.view_title)
        viewer.addWidget(self.view)
        viewer.addWidget(self.slider)
        export_row = QHBoxLayout()
        export_row.addWidget(self.png_button)
        export_row.addWidget(self.gif_button)
        viewer.addLayout(export_row)
        viewer.addStretch(1)

        self.morph_strip = FrameStrip("Set A and B to see the morph.")
        self.trav_strip = FrameStrip("Set A (or B) to traverse a latent dimension.")
        self.trav_face = QComboBox()
        self.trav_face.addItems(["A", "B"])
        self.trav_face.setToolTip("Whose code to change")
        self.dim = QComboBox()
        self.dim.setToolTip("Latent dimensions, most active first (variance of the training "
                            "faces' codes)")
        self.dim.setMinimumWidth(110)
        self.span = QDoubleSpinBox()
        self.span.setRange(0.5, 10.0)
        self.span.setSingleStep(0.5)
        self.span.setValue(3.0)
        self.span.setPrefix("±")
        self.span.setSuffix(" σ")
        self.span.setToolTip("Range: the dimension's training mean ± this many standard "
                             "deviations")
        self.span.setKeyboardTracking(False)
        self.trav_steps = QSpinBox()
        self.trav_steps.setRange(2, 40)
        self.trav_steps.setValue(9)
        self.trav_steps.setKeyboardTracking(False)
        trav_row = QHBoxLayout()
        trav_row.addWidget(QLabel("Traverse:"))
        trav_row.addWidget(self.trav_face)
        trav_row.addWidget(self.dim, 1)
        trav_row.addWidget(self.span)
        trav_row.addWidget(QLabel("frames"))
        trav_row.addWidget(self.trav_steps)

        morph_tab = QWidget()
        grid = QGridLayout(morph_tab)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setSpacing(4)
        grid.addWidget(self.boxes["A"], 0, 0)
        grid.addWidget(self.boxes["B"], 0, 1)
        grid.addLayout(morph_row, 1, 0, 1, 2)
        grid.addWidget(self.morph_strip, 2, 0, 1, 2)
        grid.addLayout(trav_row, 3, 0, 1, 2)
        grid.addWidget(self.trav_strip, 4, 0, 1, 2)
        grid.addLayout(viewer, 0, 2, 5, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        grid.setRowStretch(2, 1)
        grid.setRowStretch(4, 1)

        self.training = TrainingTab(ctx)
        self.training.trained.connect(self._on_trained)
        self.training.message.connect(self.message)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(morph_tab, "Morph")
        self.tabs.addTab(self.training, "Training")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 2)
        layout.setSpacing(3)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)

        pool = ctx.pool
        self.info_worker = WorkerSlot(pool, "compute", "vae-info", self)
        self.info_worker.result.connect(self._on_info)
        self.face_workers = {k: WorkerSlot(pool, "compute", f"vae-face-{k}", self) for k in "AB"}
        for k, w in self.face_workers.items():
            w.result.connect(lambda face, k=k: self._on_face(k, face))
        self.strip_workers = {k: WorkerSlot(pool, "compute", f"vae-{k}", self)
                              for k in ("morph", "traverse")}
        for w in self.strip_workers.values():
            w.result.connect(self._on_strip)
        self.exporter = StripExporter(pool, self)
        self.exported = self.exporter.exported  # the files written, in order
        self.exporter.saved.connect(lambda path: self.message.emit(f"Saved {path}"))
        self.exporter.error.connect(self._on_error)
        for w in (self.info_worker, *self.face_workers.values(), *self.strip_workers.values()):
            w.error.connect(self._on_error)
        self._morph_timer = self._timer(self.request_morph)
        self._trav_timer = self._timer(self.request_traverse)
        self.mode.currentIndexChanged.connect(lambda *_: self._soon("morph"))
        self.steps.valueChanged.connect(lambda *_: self._soon("morph"))
        for sig in (self.trav_face.currentIndexChanged, self.dim.currentIndexChanged,
                    self.span.valueChanged, self.trav_steps.valueChanged):
            sig.connect(lambda *_: self._soon("traverse"))
        self.slider.valueChanged.connect(self._on_slider)
        self.morph_strip.frameClicked.connect(lambda i: self._pick("morph", i))
        self.trav_strip.frameClicked.connect(lambda i: self._pick("traverse", i))
        self.model_combo.currentIndexChanged.connect(self._on_model_combo)
        ctx.backendChanged.connect(self._on_backend)
        self._update_export()

    def _timer(self, slot) -> QTimer:
        t = QTimer(self)
        t.setSingleShot(True)
        t.setInterval(120)  # spin-box bursts coalesce to one request
        t.timeout.connect(slot)
        return t

    def _soon(self, kind: str) -> None:
        self._want = kind
        (self._morph_timer if kind == "morph" else self._trav_timer).start()

    # ---------------------------------------------------------------------------- state
    @property
    def device(self) -> str:
        backend = self.ctx.backend
        return "cpu" if backend is None else str(getattr(backend, "device", "cpu"))

    @property
    def busy(self) -> bool:
        return any(w.busy for w in (self.info_worker, *self.face_workers.values(),
                                    *self.strip_workers.values()))

    def strip(self, kind: str | None = None) -> FrameStrip:
        return self.morph_strip if (kind or self.active) == "morph" else self.trav_strip

    def set_face(self, ref: FaceRef | None) -> None:
        """The Photos pane's selected face (FaceRef or None)."""
        self.ref = ref
        for box in self.boxes.values():
            box.button.setEnabled(ref is not None)

    def set_from_selected(self, key: str) -> None:
        ref = self.ref
        if ref is None:
            self.message.emit("Select a face in the Photos pane first.")
            return
        if self.ctx.backend is None:
            self.message.emit("Morph: the backend is still starting.")
            return
        self.faces[key] = None
        self.boxes[key].show_face(None, busy=True)
        self.face_workers[key].submit(session.vae_face, self.ctx.backend, self.checkpoint,
                                      self.device, ref)
        self._ensure_info()

    def set_checkpoint(self, path, reload: bool = False) -> None:
        """Use another VAE: reload its info, then redo the reconstructions and strips
        (``reload``: even if it is the current one, e.g. a run just rewrote it)."""
        path = Path(path)
        i = self.model_combo.findData(str(path))
        if i < 0:
            self.model_combo.addItem(path.name, str(path))
            i = self.model_combo.count() - 1
            self.model_combo.setItemData(i, str(path), Qt.ItemDataRole.ToolTipRole)
        if i != self.model_combo.currentIndex():
            self.model_combo.setCurrentIndex(i)  # -> _on_model_combo
        elif reload or path != self.checkpoint:
            self._switch(path)

    def use_default(self) -> None:
        self.set_checkpoint(DEFAULT_CHECKPOINT)

    def _on_model_combo(self, _index: int) -> None:
        self._switch(Path(self.model_combo.currentData()))

    def _switch(self, path: Path) -> None:
        self.checkpoint = path
        self.info = None
        self.model_label.set_text("loading…")
        self._ensure_info(force=True)
        for key, face in self.faces.items():
            if face is not None:
                self.face_workers[key].submit(session.vae_face, None, path, self.device,
                                              chip=face.chip, label=face.label, key=face.key)

    def _on_backend(self, _info) -> None:
        if self.info is not None and self.info.device != self.device:
            self._switch(self.checkpoint)  # the device changed (Preferences)

    def _on_trained(self, path: str) -> None:
        self.set_checkpoint(path, reload=True)
        self.message.emit(f"Morph: now using the model just trained ({Path(path).name})")

    def _open_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a VAE checkpoint",
                                              str(Path(self.checkpoint).parent),
                                              "VAE checkpoints (*.safetensors)")
        if path:
            self.set_checkpoint(path)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.shown_again()

    def shown_again(self) -> None:
        """On screen (shown, or its dock tab raised): load the VAE if not yet loaded."""
        QTimer.singleShot(0, lambda: on_screen(self) and self._ensure_info())

    def shutdown(self) -> bool:
        """Stop a training run's lane (called by the main window when it closes)."""
        return self.training.shutdown()

    # ----------------------------------------------------------------------------- work
    def _ensure_info(self, force: bool = False) -> None:
        """Load the checkpoint's info if nobody has asked yet (``force``: ask again)."""
        if self.ctx.backend is not None and (force or (self.info is None
                                                       and not self.info_worker.busy)):
            self.info_worker.submit(session.vae_info, self.checkpoint, self.device)

    def request_morph(self) -> None:
        a, b = self.faces["A"], self.faces["B"]
        if a is None or b is None:
            return
        mode = self.mode.currentData()
        title = f"Morph {a.label} → {b.label} ({MODES[mode]})"
        self.strip_workers["morph"].submit(session.vae_morph, self.checkpoint, self.device,
                                           a.chip, b.chip, self.steps.value(), mode, title)

    def traversal_values(self) -> np.ndarray | None:
        """The values the traversal gives the chosen dimension (mean ± k·std)."""
        dim = self.dim.currentData()
        if self.info is None or dim is None:
            return None
        k = self.span.value()
        return (self.info.mean[dim]
                + np.linspace(-k, k, self.trav_steps.value()) * self.info.std[dim])

    def request_traverse(self) -> None:
        face = self.faces[self.trav_face.currentText()] or self.faces["A"] or self.faces["B"]
        values = self.traversal_values()
        if face is None or values is None:
            return
        dim = int(self.dim.currentData())
        title = f"Traversal of z{dim} on {face.label} (±{self.span.value():g} σ)"
        self.strip_workers["traverse"].submit(session.vae_traverse, self.checkpoint, self.device,
                                              face.chip, dim, values, title)

    def _on_info(self, info: session.VaeInfo) -> None:
        if Path(info.path) != Path(self.checkpoint):
            return
        self.info = info
        self.model_label.set_text(info.description, f"{info.description}\n{info.path}\n"
                                                    f"{info.command}")
        self.dim.blockSignals(True)
        old = self.dim.currentData()
        self.dim.clear()
        for rank, d in enumerate(info.order):
            self.dim.addItem(f"{info.dim_label(d)} · #{rank + 1} · σ {info.std[d]:.2f}", int(d))
        i = self.dim.findData(old) if old is not None else -1
        self.dim.setCurrentIndex(max(i, 0))
        self.dim.blockSignals(False)
        self.dim.setToolTip(f"Latent dimensions, most active first (spread of the codes of "
                            f"{info.stats_from})" + (
                                f"; the latent is a {info.grid}×{info.grid} map, so each "
                                "dimension changes the face near its cell" if info.grid else ""))
        self.request_traverse()

    def _on_face(self, key: str, face: session.VaeFace) -> None:
        if Path(face.checkpoint) != Path(self.checkpoint):  # the model changed meanwhile
            self.face_workers[key].submit(session.vae_face, None, self.checkpoint, self.device,
                                          chip=face.chip, label=face.label, key=face.key)
            return
        self.faces[key] = face
        self.boxes[key].show_face(face)
        both = self.faces["A"] is not None and self.faces["B"] is not None
        self._want = "morph" if both else "traverse"
        self.request_morph()
        self.request_traverse()

    def _on_strip(self, strip: session.VaeStrip) -> None:
        if Path(strip.checkpoint) != Path(self.checkpoint):
            return
        self.strips[strip.kind] = strip
        labels = [self._frame_label(strip, i) for i in range(len(strip.frames))]
        self.strip(strip.kind).set_frames(strip.frames, labels)
        if strip.kind == self.active:
            self._activate(strip.kind, min(self.slider.value(), len(strip.frames) - 1))
        elif strip.kind == self._want or self.strips[self.active] is None:
            self._activate(strip.kind, 0)

    def _on_error(self, message: str) -> None:
        self.model_label.set_text(message)
        self.message.emit(f"Morph: {message}")

    # ---------------------------------------------------------------------------- views
    def _activate(self, kind: str, index: int) -> None:
        self.active = kind
        strip = self.strips[kind]
        for k in ("morph", "traverse"):
            self.strip(k).set_active(k == kind)
        n = 0 if strip is None else len(strip.frames)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n - 1, 0))
        self.slider.setValue(max(index, 0))
        self.slider.blockSignals(False)
        self._on_slider(self.slider.value())
        self._update_export()

    def _pick(self, kind: str, index: int) -> None:
        if self.strips[kind] is not None:
            self._activate(kind, index)

    def _on_slider(self, index: int) -> None:
        strip = self.strips[self.active]
        self.strip().set_current(index)
        if strip is None or not 0 <= index < len(strip.frames):
            self.view.set_frame(None)
            self.view_title.setText("")
            return
        self.view.set_frame(strip.frames[index])
        v = strip.values[index]
        where = (f"t = {v:.2f}" if strip.kind == "morph" else
                 f"z{strip.dim} = {v:+.2f} ({self._frame_label(strip, index)})")
        self.view_title.setText(f"<b>frame {index + 1}/{len(strip.frames)}</b> · {where}")
        self.view_title.setToolTip(strip.title)

    def _frame_label(self, strip: session.VaeStrip, i: int) -> str:
        """t for a morph frame; for a traversal, the value in training standard deviations."""
        v = float(strip.values[i])
        if strip.kind == "morph":
            return f"{v:.2f}"
        info = self.info
        if info is None or not 0 <= strip.dim < info.latent_dim:
            return f"{v:+.1f}"
        k = (v - info.mean[strip.dim]) / info.std[strip.dim]
        return "mean" if abs(k) < 0.05 else f"{k:+.1f}σ"

    @property
    def current_frame(self) -> int:
        return self.slider.value()

    def _update_export(self) -> None:
        ok = self.strips[self.active] is not None
        self.png_button.setEnabled(ok)
        self.gif_button.setEnabled(ok)

    # --------------------------------------------------------------------------- export
    def _export_dialog(self, kind: str) -> None:
        self.exporter.ask(self, self.strips[self.active], kind)

    def export(self, path, kind: str | None = None, scale: int = 2) -> bool:
        """Save the active strip as ``kind`` ("png" or "gif"; default: from the suffix), each
        frame enlarged ``scale`` times (io lane; :attr:`exported` lists the files written)."""
        return self.exporter.export(self.strips[self.active], path, kind, scale)


__all__ = ["DEFAULT_CHECKPOINT", "SMALL_CHECKPOINT", "FaceBox", "FrameStrip", "FrameView",
           "MorphPane"]
