"""Verification pane: a labelled set through the embedder, as the LFW protocol measures it.

Run the LFW protocol on the LFW folder chosen in File ▸ Preferences (any layout
``backend.datasets`` accepts: its ``pairs.txt``), load an LFW-format pairs file (images in
``lfw-deepfunneled/``, ``lfw/``, … beside it) or a folder with one sub-folder per person
(balanced pairs, 10 folds by person, as ``faceinspector eval folder``). The file dialogs open
in the LFW folder.
Every image is embedded on the compute lane (:func:`~faceinspector.backend.evaluate.verify`:
MTCNN -> central face -> the embedder's chip -> batched embedder) with progress and cancel. The
pane says which embedder saw which chip, and shows the distance histograms of same vs different
pairs, the ROC curve, the accuracy-maximising τ, TAR at FAR = 1e-3 (each with a 95 % bootstrap
interval; a FAR the negatives cannot resolve is marked), the figures at a fixed threshold (dlib's
0.6 as a preset), and optionally the raw box crops of the same faces as a second row. With one
fold it says that τ was chosen on the same pairs. The hardest positives and negatives: click one
to see both images and the chips the embedder saw, double-click to open it in Photos / Crops /
Predictions, right-click to send it to Triplets (:mod:`...face_links`); each pair's icon and the
selected pair's maps show which regions push it apart or pull it close (:mod:`.looks`). Export
as PNG (the plots, with a caption) and CSV (every pair, with the embedder, template and
thresholds).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog,
                               QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from ....backend import triplets
from ....backend import evaluate
from ... import theme
from ...task_progress import TaskProgress
from ...face_links import HINT, FaceLinks, set_faces
from ...workers import WorkerSlot
from ...widgets import METRIC_NAMES, LazyPlot, chip_pixmap, default_threshold, fill_embedders
from . import report
from .looks import HardestLooks

HARDEST = 10  # pairs in each "hardest" list
PAIR_SIDE = 62  # px of each image / chip of the clicked pair
FAR = report.FAR
DLIB_TAU = triplets.DLIB_THRESHOLD


class VerificationPane(QWidget):
    """Load a labelled set, embed it in a worker, show histograms, ROC and the hardest pairs."""

    message = Signal(str)
    openFace = Signal(str, int)  # photo path, face index: show it in Photos / Crops / ...
    sendToTriplets = Signal(str, int, str)  # photo path, face index, slot "A" / "P" / "N"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.result: evaluate.Verification | None = None
        self.source: tuple | None = None  # (path, root) of the last run
        self.preview: tuple | None = None  # pair_preview of the clicked pair
        self.hardest: dict[str, list[int]] = {"pos": [], "neg": []}  # pair indices

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
        self.embedder.setMinimumContentsLength(10)
        self.chip_label = QLabel()
        self.chip_label.setStyleSheet(f"color: {theme.MUTED};")
        self.metric_box = QComboBox()
        for m, name in METRIC_NAMES.items():
            self.metric_box.addItem(name, m)
        self.crops = QComboBox()
        self.crops.addItem("aligned", "")
        self.crops.addItem("raw vs aligned", "raw")
        self.crops.setToolTip("raw vs aligned: the same faces and pairs, also through the raw "
                              "box crop (a second accuracy row and ROC curve)")
        self.fixed_on = QCheckBox("fixed τ")
        self.fixed_on.setChecked(True)
        self.fixed_on.setToolTip("Also report accuracy, FAR and FRR at a threshold fixed in "
                                 "advance: honest even with one fold")
        self.fixed_tau = QDoubleSpinBox()
        self.fixed_tau.setRange(0.0, 4.0)
        self.fixed_tau.setDecimals(3)
        self.fixed_tau.setSingleStep(0.01)
        self.fixed_tau.setValue(DLIB_TAU)
        self.fixed_tau.setKeyboardTracking(False)
        self.dlib_button = QPushButton(f"dlib {DLIB_TAU:g}")
        self.dlib_button.setToolTip("dlib's own same-person threshold for its ResNet (L2)")
        self.dlib_button.clicked.connect(self.use_dlib_threshold)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = TaskProgress(head=lambda p: f"embedded {p.done}/{p.total} images",
                                     rate_format="{:.1f}")
        self.png_button = QPushButton("PNG…")
        self.csv_button = QPushButton("CSV…")
        self.png_button.setToolTip("Save the histograms and the ROC curve (with a caption)")
        self.csv_button.setToolTip("Save every pair: images, faces, same person, fold, "
                                   "distances, decisions, embedder and template")
        self.png_button.clicked.connect(self.export_png_dialog)
        self.csv_button.clicked.connect(self.export_csv_dialog)
        top = QHBoxLayout()
        top.addWidget(QLabel("Data:"))
        for w in (self.lfw_button, self.pairs_button, self.folder_button, self.rerun_button):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(QLabel("Export:"))
        top.addWidget(self.png_button)
        top.addWidget(self.csv_button)
        second = QHBoxLayout()
        for w, stretch in ((QLabel("Embedder:"), 0), (self.embedder, 1), (self.chip_label, 0),
                           (self.metric_box, 0)):
            second.addWidget(w, stretch)
        third = QHBoxLayout()
        for w, stretch in ((QLabel("Crops:"), 0), (self.crops, 0), (self.fixed_on, 0),
                           (self.fixed_tau, 0), (self.dlib_button, 0)):
            third.addWidget(w, stretch)
        third.addStretch(1)
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
        self.positives.setToolTip("Same person, yet far apart: the embedder's misses\n" + HINT)
        self.negatives.setToolTip("Different people, yet close: the embedder's false alarms\n"
                                  + HINT)
        self.links = [FaceLinks(lst, self.openFace.emit, self.sendToTriplets.emit)
                      for lst in (self.positives, self.negatives)]
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
        # similarity saliency of the hardest pairs: list icons, the selected pair larger
        self.looks = HardestLooks(ctx, {"pos": self.positives, "neg": self.negatives}, self)
        sl.addWidget(self.looks.row)
        sl.addWidget(self.looks.text)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(top)
        layout.addLayout(second)
        layout.addLayout(third)
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
        # new distance or fixed τ: bootstrap intervals and ROC again, off the GUI thread
        self.stats_worker = WorkerSlot(ctx.pool, "io", "verification-stats", self)
        self.stats_worker.result.connect(self._on_stats)
        self.stats_worker.error.connect(self._on_error)
        self.metric_box.currentIndexChanged.connect(self._on_metric)
        self.embedder.currentIndexChanged.connect(self._on_embedder)
        self.crops.currentIndexChanged.connect(self._on_crops)
        self.fixed_on.toggled.connect(self._on_fixed)
        self.fixed_tau.valueChanged.connect(self._on_fixed)
        ctx.cardsChanged.connect(self._on_cards)
        fill_embedders(self.embedder, ctx.cards, None)
        self._show_chip()
        self._update_exports()

    @property
    def model_id(self) -> str | None:
        return self.embedder.currentData()

    @property
    def busy(self) -> bool:
        return self.worker.busy or self.stats_worker.busy

    @property
    def threshold(self) -> float | None:
        """The fixed threshold τ the figures are also given at (None: off)."""
        return float(self.fixed_tau.value()) if self.fixed_on.isChecked() else None

    @property
    def also(self) -> tuple:
        return ("raw",) if self.crops.currentData() == "raw" else ()

    def use_dlib_threshold(self) -> None:
        """dlib's 0.6 (L2) as the fixed threshold."""
        self.metric_box.setCurrentIndex(self.metric_box.findData("l2"))
        self.fixed_on.setChecked(True)
        self.fixed_tau.setValue(DLIB_TAU)

    def _on_cards(self, cards) -> None:
        fill_embedders(self.embedder, cards, self.model_id)
        self._show_chip()

    def _show_chip(self) -> None:
        card = self.ctx.card(self.model_id) if self.model_id else None
        spec = getattr(card, "spec", None)
        text = "" if spec is None else f"{spec.template} {spec.size[0]}×{spec.size[1]}"
        self.chip_label.setText(text)
        self.chip_label.setToolTip(f"{self.model_id} sees its own chip: {text}" if text else "")

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
        self.progress.start()
        self.summary.setText(f"Embedding the images of LFW in <b>{folder}</b>…")
        self.worker.submit(evaluate.verify_lfw, backend, folder, self.model_id,
                           self.metric_box.currentData(), threshold=self.threshold, also=self.also)

    def load(self, source, root=None) -> None:
        """Embed and verify ``source`` (a pairs file or a folder of people) in a worker."""
        backend = self.ctx.backend
        if backend is None or not self.model_id:
            self.message.emit("The models are still loading; try again in a moment.")
            return
        self.source = (Path(source), root)
        self.progress.start()
        self.summary.setText(f"Embedding the images of <b>{Path(source).name}</b>…")
        self.worker.submit(evaluate.verify, backend, source, self.model_id,
                           self.metric_box.currentData(), root, threshold=self.threshold,
                           also=self.also)

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
        self.progress.set_busy(busy)
        self.cancel_button.setVisible(busy)
        self.rerun_button.setEnabled(not busy and self.source is not None)

    def _on_progress(self, p) -> None:
        self.progress.show_progress(p)

    def _on_error(self, message: str) -> None:
        self.summary.setText(f"<span style='color:{theme.ERROR}'>{message}</span>")
        self.message.emit(f"Verification: {message}")

    def _on_result(self, result: evaluate.Verification) -> None:
        self.result = result
        self._show()
        metric = self.metric_box.currentData()
        if (result.metric, result.threshold) != (metric, self.threshold):  # changed meanwhile
            self.stats_worker.submit(result.with_metric, metric, self.threshold)

    def _on_metric(self, _index: int) -> None:
        metric = self.metric_box.currentData()
        self.fixed_tau.blockSignals(True)  # a threshold in the new distance's units
        self.fixed_tau.setValue(default_threshold(self.model_id, metric))
        self.fixed_tau.blockSignals(False)
        if self.result is not None and self.result.metric != metric:
            self.summary.setText(self.summary.text() + "<br><i>Measuring again under "
                                 f"{METRIC_NAMES[metric]} distance…</i>")
            self.stats_worker.submit(self.result.with_metric, metric, self.threshold)

    def _on_fixed(self, *_args) -> None:
        self.fixed_tau.setEnabled(self.fixed_on.isChecked())
        if self.result is not None and self.result.threshold != self.threshold:
            self.stats_worker.submit(self.result.with_threshold, self.threshold)

    def _on_stats(self, result: evaluate.Verification) -> None:
        if result.metric == self.metric_box.currentData() and result.threshold == self.threshold:
            self.result = result
            self._show()

    def _on_embedder(self, _index: int) -> None:
        self._show_chip()
        self.fixed_tau.setValue(default_threshold(self.model_id, self.metric_box.currentData()))
        if self.result is not None and self.result.model_id != self.model_id:
            self.summary.setText(self.summary.text() + f"<br><i>Press “Run again” to measure "
                                 f"{self.model_id}.</i>")

    def _on_crops(self, _index: int) -> None:
        if self.result is not None and set(self.result.extra) != set(self.also):
            self.summary.setText(self.summary.text() + "<br><i>Press “Run again” to measure "
                                 f"{self.crops.currentText()}.</i>")

    # ---------------------------------------------------------------------------- views
    def _show(self) -> None:
        r = self.result
        rep = r.report
        self.summary.setText(report.summary_html(r))
        self.plot.request(self._draw)
        pos, neg = triplets.hardest_pairs(rep.dist, rep.same, HARDEST)
        self.hardest = {"pos": [int(i) for i in pos], "neg": [int(i) for i in neg]}
        for lst, idx in ((self.positives, pos), (self.negatives, neg)):
            lst.blockSignals(True)
            lst.clear()
            for i in idx:
                p = r.pairs[rep.pair(i)]
                item = QListWidgetItem(f"{rep.dist[i]:.3f}  {Path(p.a).stem} ↔ {Path(p.b).stem}")
                item.setToolTip(f"{p.a}\n{p.b}\nfold {p.fold + 1}\n{HINT}")
                set_faces(item, ("first image", r.root / p.a, r.face_of(p.a)),
                          ("second image", r.root / p.b, r.face_of(p.b)))
                lst.addItem(item)
            lst.blockSignals(False)
        self.looks.start(r, self.hardest)
        self._update_exports()

    def _draw(self, canvas) -> None:
        r = self.result
        canvas.reset()
        with canvas.styled():
            report.plot(canvas.figure, r)
            canvas.figure.set_layout_engine("tight", pad=0.5)  # applied by the (background) draw
        canvas.draw_idle()

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
        self.looks.show_pair(kind, row)

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
        """The histograms and the ROC curve with a caption (drawn afresh, so it works before
        the pane is ever shown)."""
        return report.export_png(self.result, path)

    def export_csv(self, path) -> int:
        return report.export_csv(self.result, path)

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
