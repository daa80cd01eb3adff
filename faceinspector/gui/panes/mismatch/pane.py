"""Mismatch pane: drop the training data and the photos a model fails on, and see what differs.

Two drop zones (a folder, or a CSV listing images), an optional model and labels for the target,
and Run. :func:`faceinspector.backend.mismatch.find_mismatch` runs on a lane of this pane's own
(a scan of thousands of images takes minutes and must not queue the other panes' work), with
progress and Cancel. Then:

* the ranked attributes (what differs most first; ⚠ = alarm), with the domain classifiers' AUC
  and the file-format differences;
* click an attribute: both sets' distributions (for the eye positions, each set's mean image with
  every face's eyes on it), and the most extreme images of each set -- double-click one to open
  it in the Photos, Crops and Predictions panes;
* the reference's learned alignment template (added to the Crops and Probe panes' template
  choices, and saved as a file with "Save template…");
* with a model: each way of cropping the target (as given, re-aligned to the learned template,
  to the model's own and to each built-in template) -- balanced accuracy and macro-F1 with 95 %
  intervals when labels were given, the fix that recovers most in bold;
* "Export report…" writes the HTML report, the CSV of every image and the JSON summary.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHeaderView, QLabel,
                               QPushButton, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from ....backend import mismatch as mm
from ....backend import photos
from ...task_progress import RunCancel, TaskProgress
from ...widgets import LazyPlot
from ...workers import WorkerPool, WorkerSlot
from .views import Banner, DropZone, ExampleStrip, hbox

EYES = ("eye_x", "eye_y")
EXAMPLES = 5  # lowest and highest images per set shown for an attribute


def example_thumbs(table_paths, rows_faces, side: int = 96) -> list:
    """(path, face, thumbnail, caption) of the given rows (io lane: reads the files)."""
    out = []
    for path, face, caption in rows_faces:
        try:
            thumb = photos.load_for_view(path, side)[1]
        except (ValueError, OSError):  # ImageError is a ValueError: shown without a picture
            thumb = None
        out.append((str(path), int(face), thumb, caption))
    return out


def keep_template(report) -> Path:
    """The learned template as a file in the temporary folder (io lane)."""
    folder = Path(tempfile.gettempdir()) / "faceinspector-templates"
    folder.mkdir(parents=True, exist_ok=True)
    return mm.save_learned_template(report, folder / f"{report.template.template.name}.json")


def write_exports(report, folder) -> dict:
    """The report's files into ``folder`` (io lane)."""
    from ....reports.mismatch import write_report

    return {k: str(v) for k, v in write_report(report, folder).items()}


class MismatchPane(RunCancel, QWidget):
    """Compare a reference collection with a target collection; see what differs."""

    message = Signal(str)
    task_name = "Mismatch"
    openFace = Signal(str, int)  # path, face index: show it in the Photos pane
    sendToTriplets = Signal(str, int, str)  # path, face index, slot "A" / "P" / "N"
    templateLearned = Signal(str, str, str)  # template file, name, description

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.report: mm.MismatchReport | None = None
        self.template_file = ""
        self._selected = ""
        self._want_model: str | None = None  # a model asked for before the cards arrived
        self.pool = WorkerPool(self)  # a lane of its own: scans take minutes
        self.worker = WorkerSlot(self.pool, "compute", "mismatch", self)
        self.worker.progress.connect(self._on_progress)
        self.worker.result.connect(self._on_result)
        self.worker.error.connect(self._on_error)
        self.worker.busyChanged.connect(self._on_busy)
        self.thumbs = {k: WorkerSlot(ctx.pool, "io", f"mismatch-{k}", self)
                       for k in ("reference", "target")}
        for k, slot in self.thumbs.items():
            slot.result.connect(lambda ex, k=k: self.strips[k].set_examples(ex))
        self.template_slot = WorkerSlot(ctx.pool, "io", "mismatch-template", self)
        self.template_slot.result.connect(self._on_template_saved)
        self.template_slot.error.connect(
            lambda m: self.message.emit(f"The learned template could not be kept: {m}"))
        self.export_slot = WorkerSlot(ctx.pool, "io", "mismatch-export", self)
        self.export_slot.result.connect(self._on_exported)
        self.export_slot.error.connect(lambda m: self.message.emit(f"Export failed: {m}"))

        self.ref_zone = DropZone("Reference (training data)", "Drop a folder of images or a "
                                 "CSV listing them, or click")
        self.tgt_zone = DropZone("Target (photos the model fails on)", "Drop a folder or a CSV, "
                                 "or click")
        self.label_zone = DropZone("Target labels (optional)", "A CSV path,label, an LFW folder "
                                   "with gender lists, or class sub-folders")
        for z in (self.ref_zone, self.tgt_zone):
            z.changed.connect(lambda _p: self._update_buttons())
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("A classifier to verify the fix with: its predictions on the "
                                    "target as given vs re-aligned to each template")
        self.limit = QSpinBox()
        self.limit.setRange(0, 1_000_000)
        self.limit.setSpecialValueText("all")
        self.limit.setSuffix(" images")
        self.limit.setToolTip("At most this many images of each collection (0: all)")
        self.run_button = QPushButton("Find the mismatch")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = TaskProgress()
        self.summary = Banner("Drop the training data (reference) and the photos your model "
                              "fails on (target), then press <b>Find the mismatch</b>.")

        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["attribute", "group", "score", "KS", ""])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_attribute)
        self.plot = LazyPlot(ctx, "Pick an attribute to see both distributions.",
                             figsize=(5.0, 3.0))
        self.strips = {k: ExampleStrip() for k in ("reference", "target")}
        for s in self.strips.values():
            s.openFace.connect(self.openFace)
            s.sendToTriplets.connect(self.sendToTriplets)
        self.example_title = QLabel()
        examples = QWidget()
        ex = QVBoxLayout(examples)
        ex.setContentsMargins(0, 0, 0, 0)
        ex.addWidget(self.example_title)
        for k in ("reference", "target"):
            ex.addWidget(QLabel(f"{k}: lowest … highest"))
            ex.addWidget(self.strips[k])
        ex.addStretch(1)
        self.fix_table = QTableWidget(0, 5)
        self.fix_table.setHorizontalHeaderLabels(["crop", "n", "balanced acc.", "95 % CI",
                                                  "macro-F1"])
        self.fix_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.fix_table.verticalHeader().hide()
        self.fix_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.fix_note = Banner()
        fixes = QWidget()
        fx = QVBoxLayout(fixes)
        fx.setContentsMargins(0, 0, 0, 0)
        fx.addWidget(self.fix_note)
        fx.addWidget(self.fix_table, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plot, "Distributions")
        self.tabs.addTab(examples, "Examples")
        self.tabs.addTab(fixes, "Fix")
        self.template_button = QPushButton("Save template…")
        self.template_button.setToolTip("Save the reference's learned alignment template as a "
                                        "file (--template FILE, a model's sidecar)")
        self.template_button.clicked.connect(self.save_template_dialog)
        self.export_button = QPushButton("Export report…")
        self.export_button.setToolTip("HTML report, CSV of every image's attributes, JSON "
                                      "summary and the template, into a folder")
        self.export_button.clicked.connect(self.export_dialog)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.table, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 2)
        split.setSizes([330, 520])
        self.table.setMinimumWidth(260)
        lay = QVBoxLayout(self)
        lay.addLayout(hbox(self.ref_zone, self.tgt_zone, self.label_zone))
        lay.addLayout(hbox(QLabel("Model:"), self.model_combo, QLabel("Limit:"), self.limit,
                           self.run_button, self.cancel_button, stretch_last=True))
        lay.addWidget(self.progress)  # a row of its own: readable in a narrow dock
        lay.addWidget(self.summary)
        lay.addWidget(split, 1)
        lay.addLayout(hbox(self.template_button, self.export_button, stretch_last=True))
        ctx.cardsChanged.connect(self._fill_models)
        self._fill_models(ctx.cards)
        self._update_buttons()

    # ------------------------------------------------------------------------- inputs
    def _fill_models(self, cards) -> None:
        current = self._want_model or self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItem("no model (attributes only)", None)
        for c in cards:
            if c.available and c.task == "classification":
                self.model_combo.addItem(c.id, c.id)
        i = self.model_combo.findData(current)
        self.model_combo.setCurrentIndex(max(0, i))
        if i >= 0:
            self._want_model = None  # asked for before the model list arrived: now chosen
        self.model_combo.blockSignals(False)

    def _update_buttons(self) -> None:
        busy = self.worker.busy
        self.run_button.setEnabled(bool(self.ref_zone.path and self.tgt_zone.path) and not busy)
        has = self.report is not None
        self.export_button.setEnabled(has and not busy)
        self.template_button.setEnabled(has and self.report.template.template is not None)

    @property
    def busy(self) -> bool:
        return self.worker.busy

    def set_sources(self, reference, target, labels=None, model: str | None = None,
                    limit: int = 0) -> None:
        """Fill the inputs (as dropping would) -- for tests and scripts."""
        self.ref_zone.set_path(str(reference))
        self.tgt_zone.set_path(str(target))
        self.label_zone.set_path(str(labels) if labels else "")
        if model is not None:
            self._want_model = model
            self._fill_models(self.ctx.cards)
        self.limit.setValue(int(limit))

    # ---------------------------------------------------------------------------- run
    def run(self) -> None:
        backend = self.ctx.backend
        if backend is None:
            self.message.emit("The models are still loading; try again in a moment.")
            return
        if not (self.ref_zone.path and self.tgt_zone.path):
            self.summary.setText("Choose a reference and a target first.")
            return
        self.progress.start()
        self.summary.setText("Scanning… detection results are cached, so a second run over "
                             "the same files is much faster.")
        self.worker.submit(mm.find_mismatch, backend, self.ref_zone.path, self.tgt_zone.path,
                           model=self._want_model or self.model_combo.currentData(),
                           labels=self.label_zone.path or None,
                           limit=self.limit.value() or None)


    # ------------------------------------------------------------------------ results
    def _on_result(self, report) -> None:
        self.report = report
        c = report.comparison
        self.table.setRowCount(len(c.shifts))
        for i, s in enumerate(c.shifts):
            cells = (s.name, s.group, f"{s.score:.2f}", f"{s.ks:.2f}", "⚠" if s.alarm else "")
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{s.description}\nreference {s.ref_mean:.4g} ± {s.ref_std:.3g}"
                                f", target {s.tgt_mean:.4g} ± {s.tgt_std:.3g}\nKS p = "
                                f"{s.p_value:.2g}" + ("\nALARM: real and large" if s.alarm
                                                       else ""))
                if s.alarm:
                    item.setForeground(Qt.GlobalColor.darkRed)
                if j >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        for j in range(1, 5):
            self.table.resizeColumnToContents(j)
        self.summary.setText(self._summary_text(report))
        self._show_fixes(report)
        self._offer_template(report)
        self._update_buttons()
        if c.shifts:
            self.table.selectRow(0)
        self.message.emit(f"Mismatch: {c.shifts[0].name if c.shifts else 'nothing'} differs "
                          "most")

    @staticmethod
    def _summary_text(r) -> str:
        c = r.comparison
        top = c.shifts[0] if c.shifts else None
        auc = c.domain_auc
        fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        lines = [f"Reference: {len(r.reference)} images (faces in {int(r.reference.found.sum())}"
                 f"); target: {len(r.target)} (faces in {int(r.target.found.sum())}) · "
                 f"{r.seconds:.0f} s. Domain AUC: attributes {fmt(auc['attributes'])}, "
                 f"embeddings {fmt(auc['embeddings'])} (0.5: indistinguishable)."]
        if top is not None:
            lines.append(f"<b>What differs most: {top.name}</b> — {top.description}: reference "
                         f"{top.ref_mean:.4g} ± {top.ref_std:.2g}, target {top.tgt_mean:.4g} ± "
                         f"{top.tgt_std:.2g} ({len(c.alarms)} alarms).")
        formats = [s for s in c.formats if s.score >= c.min_effect]
        if formats:
            lines.append("File format: " + "; ".join(
                f"{s.name} {s.ref_mean:.3g} vs {s.tgt_mean:.3g}" for s in formats)
                + " (models resize: see the geometry).")
        lt = r.template
        lines.append(f"Template: {lt.template.description}." if lt.template is not None
                     else f"No template learned: {lt.reason}.")
        best, base = r.best, r.baseline
        if best is not None and base is not None:
            lines.append(f"<b>Fix: {best.template}</b> takes {r.model_id} from "
                         f"{base.balanced_accuracy * 100:.1f} % (as given) to "
                         f"{best.balanced_accuracy * 100:.1f} % balanced accuracy.")
        return "<br>".join(lines)

    def _show_fixes(self, r) -> None:
        fixes = r.fixes
        self.fix_table.setRowCount(len(fixes))
        labelled = any(f.n for f in fixes)
        best = r.best.template if labelled and r.best else None
        for i, f in enumerate(fixes):
            lo, hi = f.ci95.get("balanced_accuracy", [np.nan, np.nan])
            pct = (lambda v: f"{v * 100:.1f} %" if v == v else "–")  # noqa: E731
            cells = (f.template, str(f.n), pct(f.balanced_accuracy),
                     f"{pct(lo)} – {pct(hi)}" if labelled else "",
                     pct(f.macro_f1))
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if f.template == best:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.fix_table.setItem(i, j, item)
        self.fix_table.resizeColumnsToContents()
        if not r.model_id:
            self.fix_note.setText("Choose a model to see whether re-aligning the target fixes "
                                  "it.")
        elif not labelled:
            self.fix_note.setText(f"{r.model_id}: no labelled target images (give labels to "
                                  "score each crop).")
        else:
            info = r.fix_info
            self.fix_note.setText(f"{r.model_id} on {info.get('labelled')} labelled target "
                                  "images: balanced accuracy with its 95 % bootstrap interval.")

    def _offer_template(self, r) -> None:
        """Save the learned template to a file (io lane) and offer it in the panes' template
        choices."""
        if r.template.template is not None:
            self.template_slot.submit(keep_template, r)

    def _on_template_saved(self, path) -> None:
        lt = self.report.template if self.report is not None else None
        if lt is None or lt.template is None:
            return
        self.template_file = str(path)
        self.templateLearned.emit(str(path), lt.template.name, lt.template.description)

    def _on_attribute(self) -> None:
        rows = self.table.selectionModel().selectedRows() if self.report else []
        if not rows:
            return
        s = self.report.comparison.shifts[rows[0].row()]
        self._selected = s.name
        r = self.report
        ref, tgt = mm.values(r, s.name)
        if s.name in EYES:
            data = [(t.mean_image, t.landmarks, t.sizes, t.name, int(t.found.sum()))
                    for t in (r.reference, r.target)]

            def build(fig):
                from ....figures import mismatch as figs

                for i, (img, lm, sz, name, n) in enumerate(data):
                    figs.draw_eyes(fig.add_subplot(1, 2, i + 1), img, lm, sz,
                                   f"{name} (n={n})", (figs.REF_COLOUR, figs.TGT_COLOUR)[i])
                fig.set_layout_engine("constrained")
                return [], None
        else:
            unit = mm.ATTRIBUTES[s.name].unit if s.name in mm.ATTRIBUTES else ""
            name = s.name

            def build(fig):
                from ....figures import mismatch as figs

                figs.draw_distributions(fig.add_subplot(), name, ref, tgt, unit)
                fig.set_layout_engine("constrained")
                return [], None
        self.plot.request(lambda canvas: canvas.rebuild(build))
        self.example_title.setText(f"The most extreme images by <b>{s.name}</b> — "
                                   "double-click one to open it")
        for t, v in ((r.reference, ref), (r.target, tgt)):
            lo, hi = mm.extremes(v, EXAMPLES)
            rows_faces = [(t.paths[i], int(t.face_index[i]), f"{v[i]:.3g}") for i in lo + hi]
            self.thumbs[t.name].submit(example_thumbs, t.paths, rows_faces)

    # ------------------------------------------------------------------------ exports
    def save_template_dialog(self) -> None:
        if self.report is None or self.report.template.template is None:
            return
        name = f"{self.report.template.template.name}.json"
        path, _ = QFileDialog.getSaveFileName(self, "Save the learned template", name,
                                              "Template (*.json)")
        if path:
            self.export_slot.submit(mm.save_learned_template, self.report, path)

    def export_dialog(self) -> None:
        if self.report is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export the mismatch report into")
        if folder:
            self.export(folder)

    def export(self, folder) -> None:
        self.message.emit("Writing the mismatch report…")
        self.export_slot.submit(write_exports, self.report, folder)

    def _on_exported(self, result) -> None:
        if isinstance(result, dict):
            self.message.emit(f"Wrote {result.get('html')} and {len(result) - 1} more files.")
        else:
            self.message.emit(f"Saved {result}.")

    def shutdown(self) -> bool:
        """Stop a scan's lane (the window is closing)."""
        self.worker.cancel()
        return self.pool.shutdown()


__all__ = ["MismatchPane"]
