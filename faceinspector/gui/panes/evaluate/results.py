"""The Evaluate pane's results: scores per crop, per class, per slice, per-class invariance,
mistakes and verification by group, for the model and crop chosen at the top.

Every figure is built and rendered off the GUI thread (:class:`~faceinspector.gui.widgets.
LazyPlot`, ``canvas.rebuild``); thumbnails are read on the io lane.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QLabel, QScrollArea, QSplitter, QTableWidget,
                               QTabWidget, QVBoxLayout, QWidget)

from ...widgets import LazyPlot
from ...workers import WorkerSlot
from ..mismatch.pane import example_thumbs
from ..mismatch.views import Banner, ExampleStrip, hbox
from .views import ci, fill_table, make_table, num, pct


def _plot(canvas, draw) -> None:
    """``draw(fig)`` on the render thread (it must use only the data it closes over)."""
    def build(fig):
        draw(fig)
        fig.set_layout_engine("constrained")
        return [], None

    canvas.rebuild(build)


def _row(*widgets) -> QWidget:
    w = QWidget()
    lay = hbox(*widgets)
    lay.setStretch(len(widgets) - 1, 1)
    w.setLayout(lay)
    return w


def _column(title: str, *widgets) -> QWidget:
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    if title:
        lay.addWidget(QLabel(title))
    for x in widgets:
        lay.addWidget(x, 1 if isinstance(x, QTableWidget) else 0)
    return w


class ResultsView(QWidget):
    """Shows one :class:`~faceinspector.backend.classify.Evaluation`."""

    openFace = Signal(str, int)

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.ev = None
        self.summary: dict = {}
        self.model_combo = QComboBox()
        self.crop_combo = QComboBox()
        for combo in (self.model_combo, self.crop_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.currentIndexChanged.connect(self._on_model)
        self.crop_combo.currentIndexChanged.connect(lambda _i: self.show_selection())
        # scores
        self.scores = make_table(["crop", "n", "accuracy %", "95 % CI", "balanced acc. %",
                                  "95 % CI", "macro-F1 %", "95 % CI", "ECE"])
        self.scores_plot = LazyPlot(ctx, "The scores of each crop.", figsize=(5.0, 2.6))
        # per class
        self.classes = make_table(["class", "support", "training images", "precision %",
                                   "95 % CI", "recall %", "95 % CI", "F1 %", "95 % CI"])
        self.class_plot = LazyPlot(ctx, "Confusion matrix and reliability diagram.",
                                   figsize=(5.0, 2.6))
        # slices
        self.slice_combo = QComboBox()
        self.slice_combo.currentIndexChanged.connect(lambda _i: self.show_slices())
        self.slice_note = Banner()
        self.slice_table = make_table(["slice", "n", "balanced acc. %", "95 % CI",
                                       "accuracy %", "macro-F1 %"])
        self.slice_plot = LazyPlot(ctx, "Each slice's scores (Fairness Indicators style).",
                                   figsize=(5.0, 2.8))
        # invariance
        self.inv_table = make_table(["class", "faces", "training images", "eKLD", "95 % CI",
                                     "consistency", "P(flip, 1 px)"])
        self.inv_plot = LazyPlot(ctx, "Per-class eKLD against the class's training images.",
                                 figsize=(5.0, 2.6))
        self.inv_note = Banner()
        # mistakes
        self.strips = {k: ExampleStrip() for k in ("confident", "fixed", "broken")}
        self.strip_titles = {k: QLabel() for k in self.strips}
        self.thumb_slots = {k: WorkerSlot(ctx.pool, "io", f"evaluate-{k}", self)
                            for k in self.strips}
        for k, s in self.strips.items():
            s.openFace.connect(self.openFace)
            self.thumb_slots[k].result.connect(s.set_examples)
        # verification (embedders)
        self.ver_combo = QComboBox()
        self.ver_combo.currentIndexChanged.connect(lambda _i: self.show_verification())
        self.ver_note = Banner()
        self.ver_table = make_table(["group", "images", "same", "different", "TAR@1e-3 %",
                                     "95 % CI", "own τ", "bal. acc. %", "at global τ %",
                                     "cost", "FAR at global 1e-3 τ", "FAR floor"])
        self.ver_plot = LazyPlot(ctx, "TAR per group.", figsize=(5.0, 2.6))

        self.tabs = QTabWidget()
        self.tabs.addTab(self._split(self.scores, self.scores_plot), "Scores")
        self.tabs.addTab(self._split(self.classes, self.class_plot), "Per class")
        self.tabs.addTab(self._split(_column("", _row(self.slice_combo, self.slice_note),
                                             self.slice_table), self.slice_plot), "Slices")
        self.tabs.addTab(self._split(_column("", self.inv_note, self.inv_table), self.inv_plot),
                         "Invariance")
        mistakes = QWidget()
        mv = QVBoxLayout(mistakes)
        mv.setContentsMargins(0, 0, 0, 0)
        for k in self.strips:
            mv.addWidget(self.strip_titles[k])
            mv.addWidget(self.strips[k])
        mv.addStretch(1)
        scroll = QScrollArea()  # three strips of faces: scroll in a short dock
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(mistakes)
        self.tabs.addTab(scroll, "Mistakes")
        self.tabs.addTab(self._split(_column("", _row(self.ver_combo, self.ver_note),
                                             self.ver_table), self.ver_plot), "Verification")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(hbox(QLabel("Model:"), self.model_combo, QLabel("Crop:"), self.crop_combo,
                           stretch_last=True))
        lay.addWidget(self.tabs, 1)

    @staticmethod
    def _split(top: QWidget, plot: QWidget) -> QSplitter:
        """The table above (the full width for its columns), the figure below."""
        s = QSplitter(Qt.Orientation.Vertical)
        s.addWidget(top)
        s.addWidget(plot)
        s.setStretchFactor(1, 1)
        s.setSizes([160, 340])
        return s

    # ------------------------------------------------------------------------- data
    def set_evaluation(self, ev) -> None:
        self.ev = ev
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for m in ev.model_ids:
            self.model_combo.addItem(m, m)
        self.model_combo.blockSignals(False)
        self.slice_combo.blockSignals(True)
        self.slice_combo.clear()
        for name, col in ev.columns.items():
            self.slice_combo.addItem(name, name)
            self.slice_combo.setItemData(self.slice_combo.count() - 1, col.description,
                                         Qt.ItemDataRole.ToolTipRole)
        self.slice_combo.blockSignals(False)
        self._on_model()

    @property
    def model_id(self) -> str | None:
        return self.model_combo.currentData()

    @property
    def crop(self) -> str | None:
        return self.crop_combo.currentData()

    def _on_model(self) -> None:
        if self.ev is None or self.model_id is None:
            return
        self.summary = self.ev.model_summary(self.model_id)
        plan = self.ev.models[self.model_id].plan
        self.crop_combo.blockSignals(True)
        self.crop_combo.clear()
        for o in plan.options:
            self.crop_combo.addItem(o + (" (own)" if o == plan.own else ""), o)
        self.crop_combo.setCurrentIndex(max(0, self.crop_combo.findData(plan.own)))
        self.crop_combo.blockSignals(False)
        self.ver_combo.blockSignals(True)
        self.ver_combo.clear()
        if plan.embedder:
            first = next(iter(self.summary["by_template"].values()), {})
            for col in first.get("slices", {}):
                self.ver_combo.addItem(col, col)
        self.ver_combo.blockSignals(False)
        embedder = plan.embedder
        for i, shown in ((0, not embedder), (1, not embedder), (2, not embedder),
                         (3, not embedder), (4, not embedder), (5, embedder)):
            self.tabs.setTabEnabled(i, shown)
        self.tabs.setCurrentIndex(5 if embedder else min(self.tabs.currentIndex(), 4))
        self.show_selection()

    def show_selection(self) -> None:
        if self.ev is None or self.crop is None:
            return
        if self.ev.models[self.model_id].plan.embedder:
            self.show_verification()
            return
        self.show_scores()
        self.show_classes()
        self.show_slices()
        self.show_invariance()
        self.show_mistakes()

    # ---------------------------------------------------------------------- the tabs
    def show_scores(self) -> None:
        bt = self.summary["by_template"]
        rows = [[o, r["n"], pct(r["accuracy"]), ci(r["ci95"].get("accuracy")),
                 pct(r["balanced_accuracy"]), ci(r["ci95"].get("balanced_accuracy")),
                 pct(r["macro_f1"]), ci(r["ci95"].get("macro_f1")), num(r.get("ece"))]
                for o, r in bt.items()]
        best = max(range(len(rows)), key=lambda i: list(bt.values())[i]["balanced_accuracy"]
                   or 0.0) if rows else -1
        fill_table(self.scores, rows, bold_rows=(best,))
        self.scores_plot.request(lambda c: _plot(c, lambda fig: _draw("headline", fig, bt)))

    def show_classes(self) -> None:
        r = self.summary["by_template"][self.crop]
        counts = self.ev.train_counts or {}
        rows = [[c, v["support"], counts.get(c, "–"), pct(v["precision"]),
                 ci(v["ci95"].get("precision")), pct(v["recall"]), ci(v["ci95"].get("recall")),
                 pct(v["f1"]), ci(v["ci95"].get("f1"))] for c, v in r["per_class"].items()]
        fill_table(self.classes, rows)
        bt, crop = self.summary["by_template"], self.crop
        self.class_plot.request(lambda c: _plot(c, lambda fig: _draw("class", fig, bt, crop)))

    def show_slices(self) -> None:
        if self.ev is None or self.crop is None or self.slice_combo.currentData() is None:
            return
        if self.ev.models[self.model_id].plan.embedder:
            return
        col = self.slice_combo.currentData()
        r = self.summary["by_template"][self.crop]
        sl = r["slices"].get(col, {})
        rows = [[v, x["n"], pct(x["balanced_accuracy"]), ci(x["ci95"].get("balanced_accuracy")),
                 pct(x["accuracy"]), pct(x["macro_f1"])] for v, x in sl.items()]
        fill_table(self.slice_table, rows)
        g = (r.get("gaps", {}).get(col) or {}).get("balanced_accuracy")
        self.slice_note.setText(
            f"{self.ev.columns[col].description}.<br>" + (
                f"Gap: <b>{pct(g['gap'])} points</b> between {g['best']} and {g['worst']} "
                f"(95 % CI {ci(g['ci95'])})" + (" — <b>excludes zero</b>" if g["excludes_zero"]
                                               else "") if g else
                "Fewer than two slices with enough images for a gap."))
        bt, order = self.summary["by_template"], self.ev.columns[col].order
        self.slice_plot.request(lambda c: _plot(c, lambda fig: _draw("slices", fig, bt, col,
                                                                    order)))

    def show_invariance(self) -> None:
        inv = self.summary.get("invariance")
        classes = (inv or {}).get("classes") or {}
        rows = [[c, v["faces"], v["train_count"] if v["train_count"] is not None else "–",
                 num(v["ekld"]), f"{num(v['ekld_ci95'][0])}–{num(v['ekld_ci95'][1])}",
                 num(v["consistency"]), num(v["p_top1_change"])] for c, v in classes.items()]
        fill_table(self.inv_table, rows)
        self.inv_note.setText(
            f"eKLD and consistency on {inv['faces']} faces of the model's own crop, shifted up "
            f"to {inv['max_shift_px']} px, rotated ±15°, scaled 0.9–1.1× (Zhou et al., ICLR "
            "2022: invariance learned on large classes does not transfer to small ones)."
            if classes else "Per-class invariance was not measured (switch it on before "
                            "running).")
        m = self.model_id
        self.inv_plot.request(lambda c: _plot(c, lambda fig: _draw("inv", fig, inv, m)))

    def show_mistakes(self) -> None:
        mk = self.summary["mistakes"]
        conf = mk.get("confident", {}).get(self.crop, {"count": 0, "examples": []})
        self.strip_titles["confident"].setText(
            f"<b>Most confident mistakes</b> with the {self.crop} crop ({conf['count']} wrong) "
            "— double-click one to open it in Photos / Crops / Predictions")
        self._thumbs("confident", [(e, f"{e['truth']}→{e['prediction']} "
                                       f"{100 * e['confidence']:.0f}%")
                                   for e in conf["examples"]])
        al = mk.get("alignment")
        for k in ("fixed", "broken"):
            if al:
                self.strip_titles[k].setText(
                    f"<b>{al[k]['count']} images {al['after']} {k}</b> (vs {al['before']}, of "
                    f"{al['labelled']})")
                self._thumbs(k, [(e, f"{e['truth']}: {e['before']}→{e['after']}")
                                 for e in al[k]["examples"]])
            else:
                self.strip_titles[k].setText(f"Alignment {k}: choose two crops to compare.")
                self.strips[k].set_examples([])

    def _thumbs(self, key: str, items) -> None:
        rows = [(e["path"], e["face"], caption) for e, caption in items]
        self.thumb_slots[key].submit(example_thumbs, [r[0] for r in rows], rows)

    def show_verification(self) -> None:
        col = self.ver_combo.currentData()
        r = self.summary["by_template"].get(self.crop, {})
        v = r.get("verification") or {}
        res = r.get("slices", {}).get(col) or {"groups": {}, "global": None}
        glob = res.get("global")
        self.ver_note.setText(
            f"All images: {v.get('pos', 0)} same-person and {v.get('neg', 0)} different-person "
            f"pairs, TAR @ FAR = 1e-3 {pct(v.get('tar@far=0.001'))} %."
            + (f"<br>One global threshold τ = {glob['threshold']:.3f} (best on all groups' "
               f"pairs pooled); for FAR = 1e-3: {glob['threshold_far_1e-3']:.3f}. "
               "<b>cost</b>: a group's balanced accuracy at its own best τ minus at the global "
               "one." if glob else ""))
        rows = [[g, x["images"], x["pos"], x["neg"], pct(x.get("tar@far=0.001")),
                 ci(x.get("tar@far=0.001_ci95")), num(x.get("threshold")),
                 pct(x.get("balanced_accuracy")),
                 pct((x.get("at_global") or {}).get("balanced_accuracy")), pct(x.get("cost")),
                 num((x.get("at_global_far_1e-3") or {}).get("far"), 2),
                 num(x.get("far_floor"), 2)]
                for g, x in res["groups"].items()]
        fill_table(self.ver_table, rows)
        groups = res["groups"]
        self.ver_plot.request(lambda c: _plot(c, lambda fig: _draw("ver", fig, groups)))


def _draw(kind: str, fig, *args) -> None:
    """The figures (render thread)."""
    from ....figures import evaluate as figs

    if kind == "headline":
        figs.draw_headline(fig.add_subplot(), *args)
    elif kind == "class":
        bt, crop = args
        figs.draw_confusion(fig.add_subplot(1, 2, 1), bt[crop].get("confusion", {}), crop)
        figs.draw_reliability(fig.add_subplot(1, 2, 2), bt)
    elif kind == "slices":
        bt, col, order = args
        figs.draw_slices(fig.add_subplot(), bt, col, order=order)
    elif kind == "inv":
        figs.draw_invariance(fig.add_subplot(), *args)
    elif kind == "ver":
        figs.draw_verification(fig.add_subplot(), *args)


__all__ = ["ResultsView"]
