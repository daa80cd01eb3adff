"""Predictions pane: every model's answer on the raw box crop and on the aligned crop.

One card per model (see :mod:`.card`); cards of models that cannot be loaded are
greyed out with the reason. Checkboxes switch models on and off, "Add model…" loads the user's
own TorchScript/ONNX classifier or embedder (a form writes its sidecar when it has none; added
models are remembered and can be removed: :mod:`.user_models`). Predictions are recomputed on
the compute lane whenever the face or the template changes; the latest request wins and cards
fill in model by model. The summary says whether each model's own template is used or one is
forced on every model (and on how many it is not their own); the model the Crops pane shows
is outlined.
"""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMessageBox, QPushButton,
                               QScrollArea, QVBoxLayout, QWidget)

from ....backend import crops as crop_tasks
from ....backend.files import atomic_open
from ... import theme
from ...workers import WorkerSlot
from .card import PredictionCard, disagreement
from .user_models import UserModels

MODEL_FILTER = "Models (*.pt *.pth *.ts *.torchscript *.onnx);;All files (*)"


class PredictionsPane(QWidget):
    """Cards of all known models, raw vs aligned."""

    modelActivated = Signal(str)  # a card was clicked: show its crops
    message = Signal(str)
    busyChanged = Signal(bool)

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.ref = None
        self.template: str | None = None
        self.cards: dict[str, PredictionCard] = {}
        self.results: dict[str, crop_tasks.ModelResult] = {}
        self.disabled: set[str] = set(QSettings().value("models/disabled", []) or [])
        self._only: set[str] | None = None  # set_enabled_models: nothing else is on
        self.summary = QLabel("Select a face to see what every model says about it.")
        self.summary.setWordWrap(True)
        self.add_button = QPushButton("Add model…")
        self.add_button.setToolTip("Load your own TorchScript or ONNX face model, a classifier "
                                   "or an embedder (a form writes its JSON sidecar when it has "
                                   "none); remembered across restarts.")
        self.add_button.clicked.connect(self.add_model_dialog)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignTop)
        self.list = QWidget()
        self.list_layout = QVBoxLayout(self.list)
        self.list_layout.setContentsMargins(0, 0, 0, 0)
        self.list_layout.setSpacing(6)
        self.list_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.list)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll = scroll
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)

        self.slot = WorkerSlot(ctx.pool, "compute", "predictions", self)
        self.slot.result.connect(self._on_result)
        self.slot.error.connect(self.message)
        self.slot.busyChanged.connect(self.busyChanged)
        self.user_models = UserModels(ctx, self)
        self.user_models.failed.connect(self._add_failed)
        self.user_models.message.connect(self.message)
        self.highlighted: str | None = None  # the model the Crops pane shows
        ctx.cardsChanged.connect(self.set_cards)
        ctx.backendChanged.connect(lambda _info: self._request())

    # --------------------------------------------------------------------------- cards
    @property
    def enabled_models(self) -> list[str]:
        return [mid for mid, c in self.cards.items() if c.card.available and self.is_on(mid)]

    def is_on(self, model_id: str) -> bool:
        return model_id not in self.disabled and (self._only is None or model_id in self._only)

    def set_enabled_models(self, model_ids) -> None:
        """Switch on exactly these models (also ones added later), the rest off."""
        self._only, self.disabled = set(model_ids), set()
        for mid, card in self.cards.items():
            card.check.blockSignals(True)
            card.check.setChecked(card.card.available and self.is_on(mid))
            card.check.blockSignals(False)
            card.set_checked_view(self.is_on(mid))
        self._request()

    def set_cards(self, cards) -> None:
        for card in self.cards.values():
            card.setParent(None)
            card.deleteLater()
        self.cards = {}
        for card in cards:
            w = PredictionCard(card, checked=self.is_on(card.id))
            w.toggled.connect(self._on_toggled)
            w.activated.connect(self.modelActivated)
            w.removeRequested.connect(self.user_models.remove)
            w.lookRequested.connect(self.ctx.showSaliency)  # the Crops pane shows the maps
            w.set_forced(self.template)
            w.set_highlight(card.id == self.highlighted)
            self.list_layout.insertWidget(self.list_layout.count() - 1, w)
            self.cards[card.id] = w
        self._show_results()
        self._request()

    def _on_toggled(self, model_id: str, on: bool) -> None:
        if on:
            self.disabled.discard(model_id)
            if self._only is not None:
                self._only.add(model_id)
        else:
            self.disabled.add(model_id)
        QSettings().setValue("models/disabled", sorted(self.disabled))
        self.cards[model_id].set_checked_view(on)
        if on:
            self._request()

    # ---------------------------------------------------------------------------- work
    def set_face(self, ref) -> None:
        self.ref = ref
        self.results = {}
        self._show_results()
        self._request()

    def highlight(self, model_id: str | None) -> None:
        """Outline the card of ``model_id`` (the Crops pane shows its crops) and scroll to it."""
        self.highlighted = model_id
        for mid, card in self.cards.items():
            card.set_highlight(mid == model_id)
        if model_id in self.cards:
            self.scroll.ensureWidgetVisible(self.cards[model_id], 0, 8)

    def set_template(self, template: str | None) -> None:
        if template == self.template:
            return
        self.template = template
        for card in self.cards.values():
            card.set_forced(template)
        self.results = {}
        self._show_results()
        self._request()

    def _request(self) -> None:
        backend = self.ctx.backend
        if self.ref is None or backend is None:
            self.slot.cancel()
            return
        missing = [m for m in self.enabled_models if m not in self.results]
        if missing:
            self.slot.submit(crop_tasks.predict_models, backend, self.ref.photo, self.ref.face,
                             missing, self.template)

    def _on_result(self, result: crop_tasks.ModelResult) -> None:
        self.results[result.model_id] = result
        card = self.cards.get(result.model_id)
        if card is not None:
            card.set_result(result)
        self._update_summary()

    def _show_results(self) -> None:
        for mid, card in self.cards.items():
            if mid in self.results:
                card.set_result(self.results[mid])
            elif self.ref is None:
                card.set_waiting("no face selected")
            elif self.ctx.backend is None:
                card.set_waiting("loading the models…")
            else:
                card.set_waiting("predicting…")
            card.set_checked_view(self.is_on(mid))
        self._update_summary()

    def _update_summary(self) -> None:
        if self.ref is None:
            self.summary.setText("Select a face to see what every model says about it.")
            return
        n_diff = sum(1 for r in self.results.values() if disagreement(r))
        face = f"Face {self.ref.index + 1} of {self.ref.count} in {self.ref.path.name}"
        if self.template is None:
            text = f"<b>{face}</b> — each model aligned with its own template."
        else:
            others = [m for m, c in self.cards.items() if c.card.spec is not None
                      and str(c.card.spec.template) != str(self.template)]
            text = (f"<b>{face}</b> — <span style='color:{theme.DIFFERS}'><b>"
                    f"{self.ctx.template_label(self.template)} forced on every model</b></span>"
                    f" (not the own template of {len(others)} of them).")
        if n_diff:
            verb = "models change their answers" if n_diff > 1 else "model changes its answer"
            text += (f" <span style='color:{theme.DIFFERS}'><b>{n_diff} {verb}</b></span> "
                     "between the raw and the aligned crop.")
        elif self.results:
            text += " Raw and aligned crops agree."
        if text != self.summary.text():
            self.summary.setText(text)

    # ---------------------------------------------------------------------- add model
    def add_model_dialog(self) -> None:
        if self.ctx.backend is None:
            self.message.emit("The models are still loading; try again in a moment.")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Add a face model", "", MODEL_FILTER)
        if path:
            self.add_model(path)

    def add_model(self, path: str) -> None:
        """Add the user's model file ``path`` (a sidecar form opens when it has none)."""
        self.user_models.add(path)

    def _add_failed(self, message: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Add model", message, parent=self)
        box.open()

    # ------------------------------------------------------------------------- export
    def export_csv(self, path) -> int:
        """One row per model, crop and class; returns the number of rows written. Each row
        says what it is: the photo (name and path), the face, the model, the template the
        crop used and whether it was the model's own or forced on every model."""
        rows = 0
        mode = "own" if self.template is None else "forced"
        with atomic_open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["photo", "face", "model", "crop", "template", "label", "probability",
                        "value", "top_label", "disagreement", "template_mode",
                        "model_own_template", "photo_path"])
            for mid, r in self.results.items():
                if r.error or r.raw is None:
                    continue
                why = disagreement(r)
                card = self.cards.get(mid)
                spec = card.card.spec if card is not None else None
                own = "" if spec is None else str(spec.template)
                for crop, pred in (("raw", r.raw), ("aligned", r.aligned)):
                    used = pred.crop.template if pred.crop else ""
                    base = [self.ref.path.name, self.ref.index + 1, mid, crop, used]
                    tail = ["raw box" if crop == "raw" else mode, own, str(Path(self.ref.path))]
                    value = "" if pred.value is None else f"{pred.value:.2f}"
                    if pred.probs.size:
                        for label, prob in zip(pred.labels, pred.probs):
                            w.writerow(base + [label, f"{float(prob):.4f}", value,
                                               pred.top_label, why] + tail)
                            rows += 1
                    else:
                        w.writerow(base + ["", "", value, "", why] + tail)
                        rows += 1
        return rows
