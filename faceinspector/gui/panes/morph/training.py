"""The Morph pane's Training tab: train a VAE or DB-VAE in the app and watch it learn.

Choose the data (CelebA's aligned images, a folder of photos — faces found by MTCNN and aligned
to the VAE's template — or a folder of already aligned crops), VAE or DB-VAE, epochs, batch
size, device and where the checkpoint goes; Start / Stop / Resume. The run is
:func:`~faceinspector.backend.vae.updates.train_updates` (a task around ``vae.train``) on a
lane of its own, so a run of many minutes never blocks the shared compute lane the other panes
use. Stop asks the run to end after the current step: the backend saves a checkpoint, which
Resume continues (``epochs`` is the total). Loss curves (matplotlib, imported on the io lane
first) and sample reconstructions update live; when a run finishes, :attr:`TrainingTab.trained`
carries the checkpoint so the pane can switch to it. A DB-VAE run also shows its resampling
weights at the start of each epoch (:class:`~.weights.WeightsView`): the training faces
it up-weights most and least, and how far the weights are from uniform.

The small widgets both tabs use (:class:`FrameStrip`, :class:`ElidedLabel`) live in
:mod:`.widgets` and are re-exported here; the loss plot is a shared :class:`LazyPlot`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QStandardPaths, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QProgressBar, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from ....backend import datasets
from ....backend.tasks import CancelToken
from ....backend.vae.updates import TrainUpdate, train_updates
from ... import theme
from ...workers import WorkerPool, WorkerSlot
from .weights import WeightsView
from ...widgets import LazyPlot
from .widgets import BACKGROUND, ElidedLabel, FrameStrip

DATA_KINDS = {"celeba": "CelebA (aligned images)", "photos": "Folder of photos",
              "aligned": "Folder of aligned crops"}
CURVES = (("loss", "loss", "#1e88e5"), ("l1", "L1 reconstruction", "#43a047"),
          ("kl", "KL divergence", "#e53935"), ("cls", "face BCE (DB-VAE)", "#8e24aa"))
REDRAW_MS = 300  # the loss plot is redrawn at most this often


def celeba_folder(prefs=None) -> str:
    """The CelebA folder a run uses: the one chosen in Preferences, else the environment's
    (``$FACEINSPECTOR_CELEBA`` / ``$FACEINSPECTOR_DATA``), else "". Reads no file: the run
    finds the layout in it (and says what it expected) on its own lane."""
    if prefs is not None:
        return prefs.data_folder("celeba")
    return str(datasets.configured("celeba") or "")


def default_output() -> Path:
    """Where a training run saves by default: ``<data>/FaceInspector/vae/vae-<time>`` (e.g.
    ``~/.local/share/FaceInspector/vae/``). Qt's AppDataLocation already ends in
    organisation/application -- both "FaceInspector" -- which doubled the folder."""
    from ...settings import APPLICATION

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    folder = Path(base or Path.home() / ".local" / "share") / APPLICATION / "vae"
    return folder / time.strftime("vae-%Y%m%d-%H%M%S.safetensors")


class TrainingTab(QWidget):
    """Data, settings, Start / Stop / Resume, live loss curves, samples, images/s, device."""

    trained = Signal(str)  # checkpoint of a run that finished
    message = Signal(str)
    busyChanged = Signal(bool)

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._celeba = celeba_folder(ctx.prefs)  # the CelebA folder a "celeba" run uses
        ctx.prefsChanged.connect(self._on_prefs)
        self.history: dict[str, list] = {"step": [], **{k: [] for k, _, _ in CURVES}}
        self.last: TrainUpdate | None = None
        self.finished_run: TrainUpdate | None = None  # the last "done" update
        self.checkpoint = ""  # the last checkpoint the current/last run wrote
        self._stop: CancelToken | None = None  # the Stop button: ends the run with a checkpoint
        self._lines: dict = {}
        self._legend: tuple | None = None
        # a lane of its own: a run takes minutes and must not queue the panes' compute jobs
        self.pool = WorkerPool(self)
        self.worker = WorkerSlot(self.pool, "compute", "vae-train", self)
        self.worker.result.connect(self._on_update)
        self.worker.error.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.worker.busyChanged.connect(self._on_busy)

        self.kind = QComboBox()
        for k, text in DATA_KINDS.items():
            self.kind.addItem(text, k)
        self.kind.setToolTip("CelebA: the aligned images of the CelebA folder chosen in File ▸ "
                             "Preferences (cut to the VAE's 64×64 chip). "
                             "Photos: MTCNN finds the faces and aligns them. Aligned crops: "
                             "the centre square of each image, resized to 64×64.")
        self.source = QLineEdit()
        self.source.setPlaceholderText("a folder of images")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse_source)
        self.arch = QComboBox()
        self.arch.addItem("VAE", "vae")
        self.arch.addItem("DB-VAE", "dbvae")
        self.arch.setToolTip("DB-VAE: adds a face/not-face logit and resamples rare faces; it "
                             "needs non-face chips (from CelebA or a photo folder's "
                             "backgrounds)")
        self.epochs = self._spin(1, 1000, 10, "Total epochs (Resume continues up to this)")
        self.batch = self._spin(2, 1024, 64, "Images per step")
        self.limit = self._spin(0, 200_000, 9000, "At most this many images (0: all)")
        self.limit.setSpecialValueText("all")
        self.device = QComboBox()
        for d, text in (("auto", "auto"), ("cpu", "CPU"), ("cuda", "CUDA")):
            self.device.addItem(text, d)
        self.device.setCurrentIndex(max(0, self.device.findData(ctx.prefs.device)))
        self.output = QLineEdit(str(default_output()))
        self.output.setToolTip("The checkpoint (safetensors + .json); saved every epoch, on "
                               "Stop and at the end")
        self.output.textChanged.connect(self._update_buttons)
        pick_out = QPushButton("…")
        pick_out.setFixedWidth(28)
        pick_out.clicked.connect(self._browse_output)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train a new model from scratch")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current step and save a checkpoint")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the checkpoint in 'Save to' up to the epochs "
                                      "set here")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.progress.setFixedWidth(150)
        self.status = ElidedLabel("Not training.")
        self.status.setStyleSheet(f"color: {theme.MUTED};")

        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(3)
        grid.addWidget(QLabel("Data:"), 0, 0)
        data_row = QHBoxLayout()
        data_row.addWidget(self.kind)
        data_row.addWidget(self.source, 1)
        data_row.addWidget(self.browse)
        grid.addLayout(data_row, 0, 1)
        grid.addWidget(QLabel("Model:"), 1, 0)
        settings_row = QHBoxLayout()
        for text, w in (("", self.arch), ("epochs", self.epochs), ("batch", self.batch),
                        ("max images", self.limit), ("device", self.device)):
            if text:
                settings_row.addSpacing(8)
                settings_row.addWidget(QLabel(text))
            settings_row.addWidget(w)
        settings_row.addStretch(1)
        grid.addLayout(settings_row, 1, 1)
        grid.addWidget(QLabel("Save to:"), 2, 0)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output, 1)
        out_row.addWidget(pick_out)
        for b in (self.start_button, self.stop_button, self.resume_button):
            out_row.addWidget(b)
        grid.addLayout(out_row, 2, 1)
        grid.setColumnStretch(1, 1)
        run_row = QHBoxLayout()
        run_row.addWidget(self.progress)
        run_row.addWidget(self.status, 1)

        self.plot = LazyPlot(ctx, "Loss curves appear here while a model trains.",
                             figsize=(5.0, 2.4), canvas_min=(200, 110))
        self.plot.ready.connect(self._setup_plot)
        self.samples_original = FrameStrip("originals")
        self.samples_recon = FrameStrip("reconstructions")
        for s, tip in ((self.samples_original, "Training faces"),
                       (self.samples_recon, "The model's reconstructions of them, now")):
            s.setToolTip(tip)
            s.setMinimumHeight(40)
            s.setMaximumHeight(56)
        samples = QGridLayout()
        samples.setVerticalSpacing(1)
        samples.addWidget(QLabel("faces"), 0, 0)
        samples.addWidget(self.samples_original, 0, 1)
        samples.addWidget(QLabel("recon."), 1, 0)
        samples.addWidget(self.samples_recon, 1, 1)
        samples.setColumnStretch(1, 1)
        self.weights_view = WeightsView()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(grid)
        layout.addLayout(run_row)
        layout.addWidget(self.plot, 1)
        layout.addLayout(samples)
        layout.addWidget(self.weights_view)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw)
        self.kind.currentIndexChanged.connect(self._on_kind)
        self.arch.currentIndexChanged.connect(self._on_arch)
        self._on_kind()
        self._on_arch()
        self._update_buttons()

    @staticmethod
    def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setValue(value)
        s.setToolTip(tip)
        s.setKeyboardTracking(False)
        return s

    # --------------------------------------------------------------------------- state
    @property
    def busy(self) -> bool:
        return self.worker.busy

    def set_data(self, kind: str, folder: str | os.PathLike | None = None) -> None:
        """Choose the data; for ``"celeba"``, ``folder`` is the CelebA folder for this tab
        (default: the one in Preferences)."""
        if kind == "celeba" and folder is not None:
            self._celeba = str(folder)
        self.kind.setCurrentIndex(self.kind.findData(kind))
        self._on_kind()
        if folder is not None:
            self.source.setText(str(folder))

    def _on_prefs(self, prefs) -> None:
        """The Preferences changed: a CelebA run uses the folder chosen there."""
        self._celeba = celeba_folder(prefs)
        if self.kind.currentData() == "celeba" and not self.busy:
            self.source.setText(self._celeba)

    def config(self) -> dict:
        """The :class:`vae.TrainConfig` fields for the current settings."""
        kind = self.kind.currentData()
        return {"data": "celeba" if kind == "celeba" else self.source.text().strip(),
                "celeba": (self.source.text().strip() or None) if kind == "celeba" else None,
                "limit": self.limit.value() or None, "epochs": self.epochs.value(),
                "batch_size": self.batch.value(), "dbvae": self.arch.currentData() == "dbvae",
                "aligned": {"celeba": None, "photos": False, "aligned": True}[kind],
                "device": self.device.currentData(), "out": self.output.text().strip(),
                "sample_every": 50, "n_samples": 8, "command": self._describe(kind)}

    def _describe(self, kind: str) -> str:
        src = "celeba" if kind == "celeba" else self.source.text().strip()
        return (f"FaceInspector Morph pane: {self.arch.currentText()} on {src} ({kind}), "
                f"{self.epochs.value()} epochs, batch {self.batch.value()}")

    def _on_kind(self, *_args) -> None:
        kind = self.kind.currentData()
        celeba = kind == "celeba"
        if celeba:
            self.source.setText(self._celeba)
        elif self.source.text() == self._celeba:
            self.source.clear()
        self.source.setPlaceholderText("choose the CelebA folder in File ▸ Preferences"
                                       if celeba else "a folder of images")
        self.source.setReadOnly(celeba)
        self.browse.setEnabled(not celeba)
        item = self.arch.model().item(1)
        item.setEnabled(kind != "aligned")  # aligned crops give no non-face chips
        if kind == "aligned" and self.arch.currentData() == "dbvae":
            self.arch.setCurrentIndex(0)

    def _on_arch(self, *_args) -> None:
        if self.weights_view.resampling is None:  # else: the last DB-VAE run's weights stay
            self.weights_view.clear(self.arch.currentData() == "dbvae")

    def _update_buttons(self, *_args) -> None:
        busy = self.busy
        out = Path(self.output.text().strip()) if self.output.text().strip() else None
        for w in (self.start_button, self.kind, self.source, self.arch, self.epochs,
                  self.batch, self.limit, self.device, self.output):
            w.setEnabled(not busy)
        self.browse.setEnabled(not busy and self.kind.currentData() != "celeba")
        self.stop_button.setEnabled(busy)
        self.resume_button.setEnabled(not busy and out is not None and out.is_file())

    def _browse_source(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Training images", self.source.text())
        if folder:
            self.source.setText(folder)

    def _browse_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the checkpoint as",
                                              self.output.text(), "safetensors (*.safetensors)")
        if path:
            self.output.setText(path if path.endswith(".safetensors")
                                else path + ".safetensors")

    # --------------------------------------------------------------------------- runs
    def start(self, confirm: bool = True) -> bool:
        """Train from scratch (asks before overwriting an existing checkpoint)."""
        out = Path(self.output.text().strip())
        if confirm and out.is_file():
            answer = QMessageBox.question(self, "Overwrite checkpoint?",
                                          f"{out} exists. Train a new model over it?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return self._run(resume=None)

    def resume(self) -> bool:
        """Continue the checkpoint in 'Save to' up to the epochs set here."""
        out = Path(self.output.text().strip())
        if not out.is_file():
            self.message.emit(f"Training: nothing to resume at {out}")
            return False
        return self._run(resume=str(out))

    def _run(self, resume: str | None) -> bool:
        cfg = self.config()
        if cfg["data"] == "celeba" and not cfg["celeba"]:
            self._say("Choose the CelebA folder first (File ▸ Preferences, or set "
                      "$FACEINSPECTOR_CELEBA).")
            return False
        if cfg["data"] != "celeba" and not Path(cfg["data"]).is_dir():
            self._say(f"Choose a folder of images first ({cfg['data'] or 'none chosen'}).")
            return False
        if not cfg["out"]:
            self._say("Choose where to save the checkpoint.")
            return False
        # the checkpoint's folder is checked (and created) by the run itself, in the worker:
        # no file-system calls on the GUI thread; a failure arrives as the run's error
        if resume is None:
            for v in self.history.values():
                v.clear()
            self.samples_original.set_frames(None)
            self.samples_recon.set_frames(None)
        if resume is None or not cfg["dbvae"]:  # a resumed DB-VAE keeps its last weights
            self.weights_view.clear(cfg["dbvae"])
        self._stop = CancelToken()
        self.finished_run, self.last = None, None
        self.checkpoint = ""
        backend = self.ctx.backend if cfg["aligned"] is False else None
        self.worker.submit(train_updates, cfg, resume=resume, stop=self._stop,
                           backend=backend, samples=self.samples_original.frames)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("loading data…")
        self._say("Resuming…" if resume else "Starting…")
        self.plot.ensure()
        return True

    def stop(self) -> None:
        """Ask the run to stop after the current step (it saves a checkpoint first)."""
        if self._stop is not None and self.busy:
            self._stop.cancel()
            self._say("Stopping after this step…")

    def shutdown(self) -> bool:
        """Stop the training lane (the window is closing): a run is aborted without saving."""
        return self.pool.shutdown()

    # -------------------------------------------------------------------------- updates
    def _say(self, text: str) -> None:
        self.status.set_text(text)

    def _on_busy(self, busy: bool) -> None:
        self._update_buttons()
        self.busyChanged.emit(busy)

    def _on_error(self, message: str) -> None:
        self._say(f"Training failed: {message}")
        self.progress.setFormat("failed")
        self.message.emit(f"Training: {message}")

    def _on_finished(self, _cancelled: bool) -> None:
        self._update_buttons()

    def _on_update(self, u: TrainUpdate) -> None:
        if u.phase == "data":
            self.progress.setRange(0, max(u.total, 1))
            self.progress.setValue(u.done)
            self.progress.setFormat(f"data {u.done}/{u.total}")
            self._say(f"Preparing chips: {u.done} of {u.total} images")
        elif u.phase == "train":
            self._on_train(u)
        elif u.phase == "weights" and u.resampling is not None:
            self.weights_view.set_resampling(u.resampling)
        elif u.phase == "checkpoint":
            self.checkpoint = u.checkpoint
            self._update_buttons()
        elif u.phase == "done":
            self._on_done(u)

    def _on_train(self, u: TrainUpdate) -> None:
        self.last = u
        self.history["step"].extend(int(s) for s in u.steps)
        n = len(u.steps)
        for key, _, _ in CURVES:
            vals = u.losses.get(key)
            self.history[key].extend(vals.tolist() if vals is not None else [np.nan] * n)
        total = max(u.epochs * u.batches, 1)
        self.progress.setRange(0, total)
        self.progress.setValue(min(u.epoch * u.batches + u.batch, total))
        self.progress.setFormat(f"epoch {u.epoch + 1}/{u.epochs}")
        loss = u.losses.get("loss")
        text = f"step {u.step}"
        if loss is not None and len(loss):
            text += f" · loss {loss[-1]:.4f}"
        self._say(f"{text} · {u.images_per_s:,.0f} images/s · {u.device}")
        if u.samples is not None:
            self.samples_original.set_frames(u.samples[0])
            self.samples_recon.set_frames(u.samples[1])
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def _on_done(self, u: TrainUpdate) -> None:
        self.finished_run = u
        if u.samples is not None:  # the sample faces through the final model
            self.samples_original.set_frames(u.samples[0])
            self.samples_recon.set_frames(u.samples[1])
        self.checkpoint = u.checkpoint or self.checkpoint
        self._redraw()
        rate = f"{u.images_per_s:,.0f} images/s on average"
        if u.cancelled:
            self.progress.setFormat("stopped")
            saved = f" Saved {Path(self.checkpoint).name}: Resume continues it." \
                if self.checkpoint else ""
            self._say(f"Stopped at step {u.step} ({u.seconds:.0f} s, {rate}).{saved}")
        else:
            self.progress.setValue(self.progress.maximum())
            self.progress.setFormat("done")
            self._say(f"Done: {u.epoch} epochs, {u.step} steps in {u.seconds:.0f} s ({rate}). "
                      "The Morph tab now uses this model.")
            if self.checkpoint:
                self.trained.emit(self.checkpoint)
        self._update_buttons()

    # ----------------------------------------------------------------------------- plot
    def _setup_plot(self, canvas) -> None:
        canvas.reset()
        with canvas.styled():
            fig = canvas.figure
            ax_rec, ax_kl = fig.subplots(1, 2)
            ax_rec.set_title("loss and L1 reconstruction")
            ax_kl.set_title("KL divergence (per image)")
            for ax in (ax_rec, ax_kl):
                ax.set_xlabel("step")
                ax.grid(True, alpha=0.3)
            self._lines = {}
            for key, label, color in CURVES:
                ax = ax_kl if key == "kl" else ax_rec
                (self._lines[key],) = ax.plot([], [], color=color, lw=1.1, label=label)
            fig.set_layout_engine("constrained")  # re-fits the labels at every size
        self._legend = None
        self._redraw()

    def _redraw(self) -> None:
        canvas = self.plot.canvas
        if canvas is None or not self._lines:
            return
        if canvas.rendering:  # the render thread is reading these lines: update after it
            if not getattr(self, "_redraw_after", False):
                self._redraw_after = True
                canvas.drawn.connect(self._redraw_deferred)
            return
        steps = np.asarray(self.history["step"], float)
        for key, line in self._lines.items():
            y = np.asarray(self.history[key], float)
            line.set_data(steps, y)
            line.set_visible(bool(np.isfinite(y).any()))
        shown = tuple(k for k, line in self._lines.items() if line.get_visible() and k != "kl")
        if shown and shown != self._legend:  # only the curves this run has
            self._legend = shown
            with canvas.styled():
                ax = self._lines["loss"].axes
                ax.legend([self._lines[k] for k in shown],
                          [self._lines[k].get_label() for k in shown], loc="upper right")
        for ax in canvas.figure.axes:
            ax.relim(visible_only=True)
            ax.autoscale_view()
        canvas.draw_idle()

    def _redraw_deferred(self) -> None:
        canvas = self.plot.canvas
        canvas.drawn.disconnect(self._redraw_deferred)
        self._redraw_after = False
        self._redraw()

    def points(self, key: str = "loss") -> int:
        """Points on a loss curve as drawn (tests)."""
        line = self._lines.get(key)
        return 0 if line is None else len(line.get_xdata())


__all__ = ["BACKGROUND", "DATA_KINDS", "ElidedLabel", "FrameStrip", "TrainingTab",
           "WeightsView", "celeba_folder", "default_output"]
