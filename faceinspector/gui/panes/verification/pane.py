"""Verification pane: a labelled set through the embedder, as the LFW protocol measures it.

Run the LFW protocol on the LFW folder chosen in File ▸ Preferences (any layout
``backend.datasets`` accepts: its ``pairs.txt``), load an LFW-format pairs file (images in
``lfw-deepfunneled/``, ``lfw/``, … beside it) or a folder with one sub-folder per person
(balanced pairs, 10 folds by person, as ``faceinspector eval folder``). The file dialogs open
in the LFW folder.
Every image is embedded on the compute lane (:func:`~faceinspector.backend.evaluate.verify`:
MTCNN -> central face -> the embedder's chip -> batched embedder) with progress and cancel. The
pane shows the distance histograms of same vs different pairs, the ROC curve, the
accuracy-maximising τ, TAR at FAR = 1e-3, and the hardest positives and negatives (click one to
see both images and the chips the embedder saw). Export as PNG (the plots) and CSV (every pair).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QProgressBar, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from ....backend import triplets
from ....backend import evaluate
from ....backend.files import atomic_open
from ... import theme
from ...workers import Progress, WorkerSlot
from ...widgets import METRIC_NAMES, LazyPlot, chip_pixmap, fill_embedders

HARDEST = 10  # pairs in each "hardest" list
PAIR_SIDE = 62  # px of each image / chip of the clicked pair
FAR = 1e-3


class VerificationPane(QWidget):
    """Load a labelled set, embed it in a worker, show histograms, ROC and the hardest pairs."""

    message = Signal(str)

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.result: evaluate.Verification | None = None
        self.source: tuple | None = None  # (path, root) of the last run
        self.preview: tuple | None = None  # pair_preview of the clicked pair
        self.hardest: dict[str, list[int]] = {"pos": [], "neg": []}  # pair indices
        self._t0 = 0.0

        self.lfw_button = QPushButton("LFW")
        self.lfw_button.setToolTip("The LFW protocol on pairs.txt of the LFW folder chosen in "
                                   "File ▸ Preferences")
        self.lfw_button.clicked.connect(lambda: self.load_lfw())
        self.pairs_button = QPushButton("Pairs file…")
        self.pairs_button.setToolTip("An LFW-format pairs file; the images are expected in "
                                     "lfw-deepfunneled/ or lfw/ beside it")
        self.pairs_button.clicked.connect(self.open_pairs_dialog)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("A folder with one sub-folder per person: every "
                                      "same-person pair and as many random different pairs")
        self.folder_button.clicked.connect(self.open_folder_dialog)
        self.rerun_button = QPushButton("Run again")
        self.rerun_button.setEnabled(False)
        self.rerun_button.clicked.connect(self.rerun)
        self.embedder = QComboBox()
        self.metric = QComboBox()
        for m, name in METRIC_NAMES.items():
            self.metric.addItem(name, m)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.png_button = QPushButton("PNG…")
        self.csv_button = QPushButton("CSV…")
        self.png_button.setToolTip("Save the histograms and the ROC curve")
        self.csv_button.setToolTip("Save every pair: images, same person, fold, distance")
        self.png_button.clicked.connect(self.export_png_dialog)
        self.csv_button.clicked.connect(self.export_csv_dialog)
        top = QHBoxLayout()
        for w in (self.lfw_button, self.pairs_button, self.folder_button, self.rerun_button):
            top.addWidget(w)
        top.addSpacing(6)
        top.addWidget(QLabel("Embedder:"))
        top.addWidget(self.embedder, 1)
        top.addWidget(self.metric)
        top.addStretch(0)
        top.addWidget(QLabel("Export:"))
        top.addWidget(self.png_button)
        top.addWidget(self.csv_button)
        run = QHBoxLayout()
        run.addWidget(self.progress, 1)
        run.addWidget(self.cancel_button)
        self.summary = QLabel("Load an LFW pairs file or a folder of people (one sub-folder "
                              "each) to measure verification on labelled faces.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.plot = LazyPlot(ctx, "Distance histograms (same vs different people) and the "
                                  "ROC curve appear here.", figsize=(6.0, 3.0))

        self.positives = QListWidget()
        self.negatives = QListWidget()
        for lst in (self.positives, self.negatives):
            lst.setMinimumHeight(48)
        self.positives.setToolTip("Same person, yet far apart: the embedder's misses")
        self.negatives.setToolTip("Different people, yet close: the embedder's false alarms")
        self.positives.currentRowChanged.connect(lambda r: self.show_pair("pos", r))
        self.negatives.currentRowChanged.connect(lambda r: self.show_pair("neg", r))
        self.pair_views = [QLabel() for _ in range(4)]  # image a, chip a, image b, chip b
        for v in self.pair_views:
            v.setFixedSize(PAIR_SIDE, PAIR_SIDE)
            v.setAlignment(Qt.AlignmentFlag.AlignCenter)
            v.setStyleSheet("background: #202124;")
        self.pair_text = QLabel("Click a pair to see it.")
        self.pair_text.setWordWrap(True)
        self.pair_text.setStyleSheet(f"color: {theme.MUTED};")
        views = QHBoxLayout()
        views.setSpacing(2)
        for v in self.pair_views:
            views.addWidget(v)
        views.addStretch(1)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(QLabel("<b>Hardest positives</b> (same, far)"))
        sl.addWidget(self.positives, 1)
        sl.addWidget(QLabel("<b>Hardest negatives</b> (different, close)"))
        sl.addWidget(self.negatives, 1)
        sl.addLayout(views)
        sl.addWidget(self.pair_text)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(top)
        layout.addLayout(run)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)

        self.worker = WorkerSlot(ctx.pool, "compute", "verification", self)
        self.worker.result.connect(self._on_result)
        self.worker.progress.connect(self._on_progress)
        self.worker.error.connect(self._on_error)
        self.worker.busyChanged.connect(self._on_busy)
        self.preview_worker = WorkerSlot(ctx.pool, "compute", "verification-pair", self)
        self.preview_worker.result.connect(self._on_preview)
        self.preview_worker.error.connect(lambda m: self.pair_text.setText(m))
        self.metric.currentIndexChanged.connect(self._on_metric)
        self.embedder.currentIndexChanged.connect(self._on_embedder)
        ctx.cardsChanged.connect(lambda cards: fill_embedders(self.embedder, cards,
                                                              self.model_id))
        fill_embedders(self.embedder, ctx.cards, None)
        self._update_exports()

    @property
    def model_id(self) -> str | None:
        return self.embedder.currentData()

    @property
    def busy(self) -> bool:
        return self.worker.busy

    # ------------------------------------------------------------------------------ run
    def lfw_folder(self) -> str:
        """The LFW folder of File ▸ Preferences (else the environment's; "" if none)."""
        return self.ctx.prefs.data_folder("lfw")

    def open_pairs_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "LFW-format pairs file", self.lfw_folder(),
                                              "Pairs files (*.txt);;All files (*)")
        if path:
            self.load(path)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder with one sub-folder per person",
                                                  self.lfw_folder())
        if folder:
            self.load(folder)

    def load_lfw(self, folder: str | None = None) -> None:
        """The LFW protocol on the ``pairs.txt`` of ``folder`` (default: :meth:`lfw_folder`);
        the layout is found on the worker (:func:`evaluate.verify_lfw`)."""
        folder = folder or self.lfw_folder()
        if not folder:
            self.summary.setText("Choose the LFW folder in File ▸ Preferences first (or set "
                                 "$FACEINSPECTOR_LFW), or load a pairs file or a folder.")
            return
        backend = self.ctx.backend
        if backend is None or not self.model_id:
            self.message.emit("The models are still loading; try again in a moment.")
            return
        self.source = ("lfw", folder)
        self._t0 = time.perf_counter()
        self.summary.setText(f"Embedding the images of LFW in <b>{folder}</b>…")
        self.worker.submit(evaluate.verify_lfw, backend, folder, self.model_id,
                           self.metric.currentData())

    def load(self, source, root=None) -> None:
        """Embed and verify ``source`` (a pairs file or a folder of people) in a worker."""
        backend = self.ctx.backend
        if backend is None or not self.model_id:
            self.message.emit("The models are still loading; try again in a moment.")
            return
        self.source = (Path(source), root)
        self._t0 = time.perf_counter()
        self.summary.setText(f"Embedding the images of <b>{Path(source).name}</b>…")
        self.worker.submit(evaluate.verify, backend, source, self.model_id,
                           self.metric.currentData(), root)

    def rerun(self) -> None:
        if self.source is not None and self.source[0] == "lfw":
            self.load_lfw(self.source[1])
        elif self.source is not None:
            self.load(*self.source)

    def cancel(self) -> None:
        if self.worker.busy:
            self.worker.cancel()
            self.summary.setText("Cancelled." + (" The last result is still shown."
                                                 if self.result is not None else ""))

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.rerun_button.setEnabled(not busy and self.source is not None)
        if busy:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("starting…")

    def _on_progress(self, p: Progress) -> None:
        self.progress.setRange(0, max(p.total, p.done, 1))
        self.progress.setValue(p.done)
        rate = p.done / max(time.perf_counter() - self._t0, 1e-6)
        left = (p.total - p.done) / rate if rate > 0 and p.total else 0
        self.progress.setFormat(f"embedded {p.done}/{p.total} images · {rate:.1f}/s"
                                + (f" · {left:.0f} s left" if p.done else ""))

    def _on_error(self, message: str) -> None:
        self.summary.setText(f"<span style='color:{theme.ERROR}'>{message}</span>")
        self.message.emit(f"Verification: {message}")

    def _on_result(self, result: evaluate.Verification) -> None:
        self.result = result
        self._show()

    def _on_metric(self, _index: int) -> None:
        metric = self.metric.currentData()
        if self.result is not None and self.result.metric != metric:
            self.result = self.result.with_metric(metric)  # numpy only: no model runs
            self._show()

    def _on_embedder(self, _index: int) -> None:
        if self.result is not None and self.result.model_id != self.model_id:
            self.summary.setText(self.summary.text() + f"<br><i>Press “Run again” to measure "
                                 f"{self.model_id}.</i>")

    # ---------------------------------------------------------------------------- views
    def _show(self) -> None:
        r = self.result
        rep = r.report
        n_same = int(rep.same.sum())
        tar = rep.tar_at_far.get(FAR, triplets.tar_at_far(rep.dist, rep.same, FAR))
        unreadable = f" ({len(r.errors)} unreadable)" if r.errors else ""
        left_out = evaluate.excluded_line(rep)
        left_out = f"<br><span style='color:{theme.ERROR}'>{left_out}.</span>" if left_out else ""
        what = ("pairs file" if r.kind == "pairs" else
                f"folder, {len({n.split('/')[0] for n in r.images})} people")
        self.summary.setText(
            f"<b>{r.source.name}</b> ({what}): {rep.n_pairs} pairs ({n_same} same, "
            f"{rep.n_pairs - n_same} different), {len(r.images)} images, faces found in "
            f"{int(r.detected.sum())}{unreadable}; {r.model_id}, {METRIC_NAMES[r.metric]} "
            "distance.<br>"
            f"<b>accuracy {rep.accuracy * 100:.2f} % ± {rep.accuracy_std * 100:.2f}</b> "
            f"(τ chosen on the other folds) · best τ <b>{rep.threshold:.3f}</b> · AUC "
            f"{rep.auc:.4f} · <b>TAR @ FAR=1e-3: {tar * 100:.2f} %</b> · {r.seconds:.0f} s"
            + left_out)
        self.plot.request(lambda canvas: self._draw(canvas, tar))
        pos, neg = triplets.hardest_pairs(rep.dist, rep.same, HARDEST)
        self.hardest = {"pos": [int(i) for i in pos], "neg": [int(i) for i in neg]}
        for lst, idx in ((self.positives, pos), (self.negatives, neg)):
            lst.blockSignals(True)
            lst.clear()
            for i in idx:
                p = r.pairs[rep.pair(i)]
                item = QListWidgetItem(f"{rep.dist[i]:.3f}  {Path(p.a).stem} ↔ {Path(p.b).stem}")
                item.setToolTip(f"{p.a}\n{p.b}\nfold {p.fold + 1}")
                lst.addItem(item)
            lst.blockSignals(False)
        self._update_exports()

    def _draw(self, canvas, tar: float) -> None:
        r, rep = self.result, self.result.report
        canvas.reset()
        with canvas.styled():
            self._plot(canvas.figure, r, rep, tar)
            canvas.figure.set_layout_engine("tight", pad=0.5)  # applied by the (background) draw
        canvas.draw_idle()

    @staticmethod
    def _plot(fig, r, rep, tar: float) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        bins = np.linspace(float(rep.dist.min()), float(rep.dist.max()), 50)
        ax1.hist(rep.dist[rep.same], bins=bins, alpha=0.6, color="#26a69a", label="same person")
        ax1.hist(rep.dist[~rep.same], bins=bins, alpha=0.6, color="#7e57c2",
                 label="different people")
        ax1.axvline(rep.threshold, color="k", ls="--", lw=1, label=f"τ = {rep.threshold:.3f}")
        ax1.set_xlabel(f"{METRIC_NAMES[r.metric]} distance")
        ax1.set_ylabel("pairs")
        ax1.legend(fontsize=7)
        ax1.set_title(f"accuracy {rep.accuracy * 100:.2f} %")
        fpr = np.maximum(rep.fpr, 1e-5)
        ax2.plot(fpr, rep.tpr, color="#1e88e5", lw=1.5)
        ax2.axvline(FAR, color="0.5", ls=":", lw=1)
        ax2.plot([FAR], [tar], "o", color=theme.ERROR, ms=4, label=f"TAR {tar * 100:.1f} % "
                                                                   "@ FAR 1e-3")
        ax2.set_xscale("log")
        ax2.set_xlim(1e-4 if len(rep.dist) > 1000 else 1e-3 / 2, 1)
        ax2.set_ylim(0, 1.01)
        ax2.set_xlabel("false accept rate (FAR)")
        ax2.set_ylabel("true accept rate (TAR)")
        ax2.set_title(f"ROC · AUC {rep.auc:.4f}")
        ax2.legend(fontsize=7, loc="lower right")
        ax2.grid(alpha=0.3)

    def show_pair(self, kind: str, row: int) -> None:
        """Show the images and chips of the ``row``-th hardest positive / negative pair."""
        if self.result is None or row < 0 or row >= len(self.hardest.get(kind, [])):
            return
        i = self.hardest[kind][row]
        p = self.result.pairs[self.result.report.pair(i)]
        self.pair_text.setText(f"{Path(p.a).stem} ↔ {Path(p.b).stem}: distance "
                               f"{self.result.report.dist[i]:.3f} "
                               f"({'same person' if p.same else 'different people'})")
        self.preview_worker.submit(evaluate.pair_preview, self.ctx.backend, self.result.root,
                                   p.a, p.b, self.result.model_id)

    def _on_preview(self, preview) -> None:
        self.preview = preview
        (img_a, chip_a), (img_b, chip_b) = preview
        for view, pixels in zip(self.pair_views, (img_a, chip_a, img_b, chip_b)):
            view.setPixmap(chip_pixmap(pixels, PAIR_SIDE))

    # --------------------------------------------------------------------------- export
    def _update_exports(self) -> None:
        for b in (self.png_button, self.csv_button):
            b.setEnabled(self.result is not None)

    def export_png(self, path) -> str:
        """The histograms and the ROC curve (drawn afresh, so it works before the pane is
        ever shown)."""
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from ...plot_canvas import RC

        r = self.result
        tar = r.report.tar_at_far.get(FAR, triplets.tar_at_far(r.report.dist, r.report.same, FAR))
        fig = Figure(figsize=(9, 3.6), dpi=100)
        with matplotlib.rc_context(RC):
            self._plot(fig, r, r.report, tar)
            fig.suptitle(f"{r.source.name}: {r.model_id}, {METRIC_NAMES[r.metric]} distance, "
                         f"{r.report.n_pairs} pairs")
            fig.tight_layout()
        with atomic_open(path) as fh:
            FigureCanvasAgg(fig).print_png(fh)
        return str(path)

    def export_csv(self, path) -> int:
        r = self.result
        rep = r.report
        with atomic_open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["image_a", "image_b", "same", "fold", "distance", "predicted_same",
                        "model", "metric", "threshold"])
            for i, d in enumerate(rep.dist):
                p = r.pairs[rep.pair(i)]
                w.writerow([p.a, p.b, int(p.same), p.fold + 1, f"{d:.6f}",
                            int(d < rep.threshold), r.model_id, r.metric, f"{rep.threshold:.6f}"])
        return len(rep.dist)

    def export_png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the plots", "verification.png",
                                              "PNG (*.png)")
        if path:
            try:
                self.export_png(path)
            except OSError as exc:  # never a traceback in a slot: say it was not saved
                self._on_error(f"not saved: {exc}")
                return
            self.message.emit(f"Saved {path}")

    def export_csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save every pair", "verification.csv",
                                              "CSV (*.csv)")
        if path:
            try:
                n = self.export_csv(path)
            except OSError as exc:
                self._on_error(f"not saved: {exc}")
                return
            self.message.emit(f"Saved {n} pairs to {path}")


__all__ = ["VerificationPane"]
