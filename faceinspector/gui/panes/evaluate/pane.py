"""Evaluate pane: a classifier on a labelled set -- where it fails, and whether alignment helps
everywhere or only on average.

Drop the labelled photos (class sub-folders, a CSV ``path,label[,groups]``, an LFW folder with
its gender lists, or CelebA's ``list_attr_celeba.txt`` with an attribute) and, optionally, the
training set's labels (for per-class invariance against the class sizes); tick the models, the
crops (as given, the raw box, each model's own template, any other template) and what to slice
by (skin tone as ITA, another model's age / gender / expression); Run.
:func:`faceinspector.backend.classify.evaluate_classifier` runs on a lane of this pane's own,
with progress and Cancel. Then, for the model and crop chosen: the scores of every crop with
95 % intervals, per class, per slice (with the gap between the best and the worst slice),
per-class invariance, the most confident mistakes and what alignment fixes and breaks (double-
click a face to open it in Photos / Crops / Predictions), and for embedders verification by
group. "Export report…" writes the HTML report, the CSVs and the JSON summary.
"""

from __future__ import annotations


from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from ....backend import classify
from ...task_progress import RunCancel, TaskProgress
from ...workers import WorkerPool, WorkerSlot
from ..mismatch.views import Banner, DropZone, hbox
from .results import ResultsView
from .views import CheckList, NoHeightForWidth

ITA = "skin tone (ITA)"
CROPS = (("as given", "the whole image resized to the model's input (no detector)"),
         ("raw", "the MTCNN box, squared with a 20 % margin, never rotated"),
         ("own", "each model's own template (its training crop)"))


def write_exports(ev, folder) -> dict:
    """The report's files into ``folder`` (io lane)."""
    from ....reports.evaluate import write_report

    return {k: str(v) for k, v in write_report(ev, folder).items()}


class EvaluatePane(RunCancel, QWidget):
    """Evaluate classifiers (and embedders) on a labelled set."""

    message = Signal(str)
    task_name = "Evaluate"
    openFace = Signal(str, int)  # path, face index: show it in the Photos pane

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.evaluation = None
        self.pool = WorkerPool(self)  # a lane of its own: a data set takes minutes
        self.worker = WorkerSlot(self.pool, "compute", "evaluate", self)
        self.worker.progress.connect(self._on_progress)
        self.worker.result.connect(self._on_result)
        self.worker.error.connect(self._on_error)
        self.worker.busyChanged.connect(self._on_busy)
        self.export_slot = WorkerSlot(ctx.pool, "io", "evaluate-export", self)
        self.export_slot.result.connect(lambda r: self.message.emit(
            f"Wrote {r.get('html')} and {len(r) - 1} more files."))
        self.export_slot.error.connect(lambda m: self.message.emit(f"Export failed: {m}"))

        self.data_zone = DropZone("Labelled photos", "Class sub-folders, a CSV path,label[,"
                                  "groups], an LFW folder, or list_attr_celeba.txt")
        self.train_zone = DropZone("Training labels (optional)", "The training set's labels "
                                   "(any layout) or a CSV class,count: class sizes")
        self.data_zone.changed.connect(lambda _p: self._update_buttons())
        self.attribute = QLineEdit()
        self.attribute.setPlaceholderText("CelebA attribute (Male)")
        self.attribute.setToolTip("With CelebA's attribute list: the attribute to evaluate")
        self.models = CheckList("The models to evaluate (classifiers; an embedder is "
                                "evaluated as verification by group)")
        self.crops = CheckList("The crops compared, side by side")
        self.slices = CheckList("Slice by these measured attributes (the labels' group "
                                "columns are always used)")
        self.models.changed.connect(self._update_buttons)
        self.crops.changed.connect(self._update_buttons)
        self.limit = QSpinBox()
        self.limit.setRange(0, 1_000_000)
        self.limit.setSpecialValueText("all")
        self.limit.setSuffix(" images")
        self.limit.setToolTip("At most this many images (a seeded sample; 0: all)")
        self.balanced = QCheckBox("balanced")
        self.balanced.setToolTip("With a limit: the same number of images of every class")
        self.invariance = QSpinBox()
        self.invariance.setRange(0, 500)
        self.invariance.setValue(20)
        self.invariance.setSuffix(" faces/class")
        self.invariance.setToolTip("Faces per class for per-class invariance (0: off)")
        self.run_button = QPushButton("Evaluate")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = TaskProgress(rate_stages={"predict"})
        self.export_button = QPushButton("Export report…")
        self.export_button.setToolTip("HTML report, CSVs and the JSON summary, into a folder")
        self.export_button.clicked.connect(self.export_dialog)
        self.summary = Banner("Drop labelled photos, tick the models and crops, then press "
                              "<b>Evaluate</b>.")
        self.results = ResultsView(ctx)
        self.results.openFace.connect(self.openFace)

        self.attribute.setMinimumWidth(self.attribute.fontMetrics().horizontalAdvance(
            "CelebA attribute (Male)") + 16)
        self.attribute.setMaximumWidth(190)
        body = NoHeightForWidth()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(body)
        lay = QVBoxLayout(body)
        lay.addLayout(hbox(self.data_zone, self.train_zone))
        lay.addLayout(hbox(self._titled("Models", self.models), self._titled("Crops", self.crops),
                           self._titled("Slice by", self.slices)))
        lay.addLayout(hbox(self.attribute, QLabel("Limit:"), self.limit, self.balanced,
                           QLabel("Invariance:"), self.invariance, stretch_last=True))
        lay.addLayout(hbox(self.run_button, self.cancel_button, self.progress,
                           self.export_button, stretch_last=True))
        lay.addWidget(self.summary)
        lay.addWidget(self.results, 1)
        ctx.cardsChanged.connect(self._fill_models)
        ctx.templatesChanged.connect(lambda _t: self._fill_crops())
        self._fill_models(ctx.cards)
        self._fill_crops()
        self._update_buttons()

    @staticmethod
    def _titled(title: str, widget: QWidget) -> QWidget:
        w = QWidget()
        v = QVBoxLayout(w)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(1)
        v.addWidget(QLabel(f"<b>{title}</b>"))
        v.addWidget(widget)
        return w

    # ------------------------------------------------------------------------- inputs
    def _fill_models(self, cards) -> None:
        cards = [c for c in cards if c.available]
        self.models.set_items([(c.id, c.id, False, c.title) for c in cards
                               if c.task in ("classification", "age+gender", "embedding")])
        attrs = [(f"{c.id} ({'age' if c.task == 'age' else 'answer'})", c.id, False, c.title)
                 for c in cards if c.id in classify.ATTRIBUTE_MODELS]
        self.slices.set_items([(ITA, ITA, True, "The Individual Typology Angle of the face's "
                                "skin pixels: a colour measurement, not race"), *attrs])

    def _fill_crops(self) -> None:
        items = [(name, name, name in ("raw", "own"), tip) for name, tip in CROPS]
        for key in self.ctx.templates:
            if key != "raw":
                items.append((self.ctx.template_label(key), key, False,
                              self.ctx.template_description(key)))
        self.crops.set_items(items)

    def _update_buttons(self) -> None:
        busy = self.worker.busy
        self.run_button.setEnabled(bool(self.data_zone.path and self.models.checked()
                                        and self.crops.checked()) and not busy)
        self.export_button.setEnabled(self.evaluation is not None and not busy)

    @property
    def busy(self) -> bool:
        return self.worker.busy

    def set_sources(self, data, models=(), crops=None, slices=None, train=None,
                    limit: int = 0, balanced: bool = False, invariance: int | None = None,
                    attribute: str = "") -> None:
        """Fill the inputs (as a user would) -- for tests and scripts."""
        self.data_zone.set_path(str(data))
        self.train_zone.set_path(str(train) if train else "")
        self.models.set_checked(models)
        if crops is not None:
            self.crops.set_checked(crops)
        if slices is not None:
            self.slices.set_checked(slices)
        self.limit.setValue(int(limit))
        self.balanced.setChecked(balanced)
        if invariance is not None:
            self.invariance.setValue(int(invariance))
        self.attribute.setText(attribute)

    # ---------------------------------------------------------------------------- run
    def run(self) -> None:
        backend = self.ctx.backend
        if backend is None:
            self.message.emit("The models are still loading; try again in a moment.")
            return
        if not (self.data_zone.path and self.models.checked() and self.crops.checked()):
            self.summary.setText("Choose the labelled photos, a model and a crop first.")
            return
        chosen = self.slices.checked()
        self.progress.start()
        self.summary.setText("Predicting… detections are cached, so a second run over the "
                             "same files is much faster.")
        self.worker.submit(classify.evaluate_classifier, backend, self.data_zone.path,
                           self.models.checked(), options=self.crops.checked(),
                           attribute=self.attribute.text().strip() or None,
                           limit=self.limit.value() or None,
                           balanced=self.balanced.isChecked(),
                           attribute_models=[s for s in chosen if s != ITA],
                           skin=ITA in chosen, invariance=self.invariance.value(),
                           train_counts=self.train_zone.path or None)


    def _on_result(self, ev) -> None:
        if not isinstance(ev, classify.Evaluation):
            return
        self.evaluation = ev
        self.summary.setText(self._summary_text(ev))
        self.results.set_evaluation(ev)
        self._update_buttons()
        self.message.emit(f"Evaluated {', '.join(ev.model_ids)} on {len(ev.pred)} images.")

    @staticmethod
    def _summary_text(ev) -> str:
        p = ev.pred
        lines = [f"{len(p)} images ({len(p.errors)} unreadable, a face found in "
                 f"{int(p.found.sum())}; {p.cached} from the face cache) · {ev.seconds:.0f} s."]
        for m, me in ev.models.items():
            if me.plan.embedder:
                lines.append(f"{m}: verification by group (see Verification).")
                continue
            bt = me.by_template
            best = max(bt, key=lambda o: bt[o]["balanced_accuracy"])
            parts = ", ".join(f"{o} {100 * r['balanced_accuracy']:.1f} %" for o, r in bt.items())
            worst = ""
            gaps = [(c, g["balanced_accuracy"]) for c, g in bt[best].get("gaps", {}).items()
                    if g.get("balanced_accuracy")]
            if gaps:
                c, g = max(gaps, key=lambda t: t[1]["gap"])
                worst = (f"; largest gap with {best}: {100 * g['gap']:.1f} points by {c} "
                         f"({g['worst']})")
            lines.append(f"<b>{m}</b> ({me.n} labelled): balanced accuracy {parts}{worst}.")
        return "<br>".join(lines)

    # ------------------------------------------------------------------------ exports
    def export_dialog(self) -> None:
        if self.evaluation is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export the evaluation report into")
        if folder:
            self.export(folder)

    def export(self, folder) -> None:
        self.message.emit("Writing the evaluation report…")
        self.export_slot.submit(write_exports, self.evaluation, folder)

    def shutdown(self) -> bool:
        """Stop an evaluation's lane (the window is closing)."""
        self.worker.cancel()
        return self.pool.shutdown()


__all__ = ["EvaluatePane"]
