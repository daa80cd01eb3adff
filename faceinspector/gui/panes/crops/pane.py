"""Crops pane: the selected face as a model sees it, raw box crop vs aligned crop.

Both crops have the size the chosen model takes (or the template's own size) and are enlarged
by an integer factor with nearest-neighbour scaling, so every input pixel is a visible square.
The face's detected landmarks (cyan dots) and the template's target points (magenta crosses)
are drawn on both, which shows at a glance how far a plain box crop is from what an aligned
model expects. Crops are computed on the compute lane (latest request wins).

The template choice is explicit about its scope: "each model's own template" (every model
aligned as it was trained), or one template *forced on every model* -- shared with the
Predictions and Probe panes (:attr:`AppContext.template`), with a warning naming the models for
which it is not their own template. "As seen by" picks the model whose crops are shown; its
card in the Predictions pane is outlined. "Where it looks" draws that model's saliency map over
both crops (method, class, opacity; :mod:`.saliency`).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import (QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel,
                               QVBoxLayout, QWidget)

from ....backend import crops as crop_tasks
from ... import convert, theme
from ...widgets import CropCanvas, face_mime
from ...workers import WorkerSlot
from .saliency import CropSaliency

OWN = "__own__"  # template combo: "each model's own template"


def _mean_miss(points: np.ndarray, targets: np.ndarray) -> float | None:
    if len(targets) != len(points) or not len(targets):
        return None
    return float(np.linalg.norm(np.asarray(points) - np.asarray(targets), axis=1).mean())


def _legend_swatch(color: str, cross: bool) -> QLabel:
    pix = QPixmap(14, 14)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    pts = np.array([[6.5, 6.5]])  # drawn at (x + 0.5): the pixmap's centre
    convert.draw_points(painter, pts, 1.0, color, "cross" if cross else "dot",
                        radius=5 if cross else 4)
    painter.end()
    label = QLabel()
    label.setPixmap(pix)
    return label


class CropsPane(QWidget):
    """Template + model pickers and the two crops side by side."""

    templateChanged = Signal(object)  # a template name, or None for each model's own
    modelChanged = Signal(object)  # model id or None

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.ref = None
        self.pair: crop_tasks.CropPair | None = None
        self.template_combo = QComboBox()
        self.template_combo.setToolTip(
            "Which alignment every aligned crop uses: each model's own template, or one "
            "template forced on every model (shared with the Predictions and Probe panes).")
        self.template_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.template_combo.setMinimumContentsLength(12)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Crops are made at the size this model takes as input.")
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(12)
        self._fill_templates(ctx.templates)
        self.model_combo.addItem("template's own size", None)

        self.raw_title, self.aligned_title = QLabel("Raw box crop"), QLabel("Aligned crop")
        self.raw_view, self.aligned_view = CropCanvas(), CropCanvas()
        for view in (self.raw_view, self.aligned_view):
            view.setMinimumSize(96, 96)  # the default layout at 1280x720 without scrolling
            view.drag_source = self.drag_mime
            view.setToolTip("Drag the crop onto a Triplets slot to compare this face")
        self.raw_caption, self.aligned_caption = QLabel(), QLabel()
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        for col, (title, view, cap) in enumerate(
                ((self.raw_title, self.raw_view, self.raw_caption),
                 (self.aligned_title, self.aligned_view, self.aligned_caption))):
            title.setStyleSheet("font-weight: bold;")
            cap.setStyleSheet(f"color: {theme.MUTED};")
            cap.setMinimumWidth(60)  # long captions are clipped, never widen the pane
            grid.addWidget(title, 0, col)
            grid.addWidget(view, 1, col)
            grid.addWidget(cap, 2, col)
            grid.setColumnStretch(col, 1)
        grid.setRowStretch(1, 1)
        # "Where it looks": a saliency map over both crops (issue 19)
        self.looks = CropSaliency(ctx, {"raw": self.raw_view, "aligned": self.aligned_view},
                                  self)
        for col, which in enumerate(("raw", "aligned")):
            grid.addWidget(self.looks.captions[which], 3, col)

        pickers = QHBoxLayout()
        pickers.addWidget(QLabel("Aligned with:"))
        pickers.addWidget(self.template_combo, 1)
        pickers.addSpacing(8)
        pickers.addWidget(QLabel("As seen by:"))
        pickers.addWidget(self.model_combo, 1)

        legend = QHBoxLayout()
        legend.setSpacing(4)
        legend.addWidget(_legend_swatch(theme.LANDMARK, False))
        legend.addWidget(QLabel("detected landmarks"))
        legend.addSpacing(12)
        legend.addWidget(_legend_swatch(theme.TARGET, True))
        legend.addWidget(QLabel("where the template wants them"))
        legend.addStretch(1)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet(f"color: {theme.MUTED};")
        self.warning = QLabel()  # a forced template that is not the models' own
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {theme.DIFFERS};")
        self.warning.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(pickers)
        layout.addWidget(self.warning)
        layout.addWidget(self.looks.row)
        layout.addWidget(self.looks.note)
        layout.addLayout(grid, 1)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)
        layout.addLayout(legend)
        layout.addWidget(self.description)

        self.slot = WorkerSlot(ctx.pool, "compute", "crops", self)
        self.slot.result.connect(self._on_crops)
        self.slot.error.connect(self._on_error)
        self.template_combo.currentIndexChanged.connect(self._on_template)
        self.model_combo.currentIndexChanged.connect(self._on_model)
        ctx.cardsChanged.connect(self.set_cards)
        ctx.backendChanged.connect(lambda info: (self._fill_templates(ctx.templates),
                                                 self._request()))
        ctx.templatesChanged.connect(self._fill_templates)
        ctx.templateChanged.connect(self.set_template)
        self._clear("Select a face in the Photos pane.")

    # --------------------------------------------------------------------------- state
    @property
    def template(self) -> str | None:
        value = self.template_combo.currentData()
        return None if value == OWN else value

    @property
    def model_id(self) -> str | None:
        return self.model_combo.currentData()

    def _fill_templates(self, templates) -> None:
        current = self.template_combo.currentData()
        self.template_combo.blockSignals(True)
        self.template_combo.clear()
        self.template_combo.addItem("each model's own template", OWN)
        for t in templates:
            self.template_combo.addItem(f"{self.ctx.template_label(t)}, forced on every model",
                                        t)
        i = self.template_combo.findData(current if current is not None else OWN)
        self.template_combo.setCurrentIndex(max(i, 0))
        self.template_combo.blockSignals(False)

    def set_cards(self, cards) -> None:
        self._show_warning()
        current = self.model_id
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for card in cards:
            if card.spec is None:
                continue
            w, h = card.spec.size
            label = f"{card.id} ({card.spec.template} {w}×{h})"
            self.model_combo.addItem(label + ("" if card.available else " — unavailable"),
                                     card.id)
            self.model_combo.setItemData(self.model_combo.count() - 1,
                                         card.title if card.available else card.reason,
                                         Qt.ItemDataRole.ToolTipRole)
        self.model_combo.addItem("template's own size", None)
        i = self.model_combo.findData(current)
        self.model_combo.setCurrentIndex(i if current is not None and i >= 0 else 0)
        self.model_combo.blockSignals(False)
        self._request()

    def set_model(self, model_id: str | None) -> None:
        i = self.model_combo.findData(model_id)
        if i >= 0:
            self.model_combo.setCurrentIndex(i)

    def set_template(self, template: str | None) -> None:
        i = self.template_combo.findData(OWN if template is None else template)
        if i >= 0:
            self.template_combo.setCurrentIndex(i)

    def drag_mime(self):
        """The selected face as a drag payload (None when no face is selected)."""
        return None if self.ref is None else face_mime(self.ref.path, self.ref.index)

    def set_face(self, ref) -> None:
        self.ref = ref
        self._request()

    def _on_template(self, _index: int) -> None:
        self.ctx.set_template(self.template)
        self.templateChanged.emit(self.template)
        self._show_warning()
        self._request()

    def _show_warning(self) -> None:
        note = self.ctx.forced_note(self.template) if self.template is not None else ""
        self.warning.setText(f"⚠ {note}." if note else "")
        self.warning.setVisible(bool(note))

    def _on_model(self, _index: int) -> None:
        self.modelChanged.emit(self.model_id)
        self._request()

    # ----------------------------------------------------------------------------- work
    def _request(self) -> None:
        backend = self.ctx.backend
        if self.ref is None:
            self.slot.cancel()
            self.looks.request(backend, None, self.model_id, self.template, None)
            self._clear("Select a face in the Photos pane.")
            return
        if backend is None:
            self._clear("Loading the models…")
            return
        card = self.ctx.card(self.model_id) if self.model_id else None
        spec = card.spec if card is not None else None
        template = self.template
        if spec is None and template is None:
            template = "dlib-chip"
        key = template or spec.template
        desc = self.ctx.template_description(key)
        label = self.ctx.template_label(key)
        forced = self.template is not None and spec is not None and \
            str(self.template) != str(spec.template)
        own = f" (forced; {self.model_id}'s own is {spec.template})" if forced else ""
        self.description.setText(f"<b>{label}</b>{own}: {desc}" if desc else "")
        self.slot.submit(crop_tasks.crop_pair, backend, self.ref.photo, self.ref.face, template,
                         spec, self.model_id)
        self.looks.request(backend, self.ref, self.model_id, self.template, spec)

    def _clear(self, text: str) -> None:
        self.pair = None
        self.looks.draw(None)
        for view in (self.raw_view, self.aligned_view):
            view.set_text(text)
        self.raw_caption.setText("")
        self.aligned_caption.setText("")

    def _on_error(self, message: str) -> None:
        self._clear(f"Could not make the crops: {message}")

    def _on_crops(self, pair: crop_tasks.CropPair) -> None:
        self.pair = pair
        raw, aligned = pair.raw, pair.aligned
        h, w = aligned.pixels.shape[:2]
        self.looks.draw(pair)  # both crops, with their saliency maps when they are on
        who = f"as {pair.model_id} sees it" if pair.model_id else "at the template's size"
        self.raw_title.setText(f"Raw box crop — {w}×{h} px")
        self.aligned_title.setText(f"Aligned: {aligned.template} — {w}×{h} px")
        self.raw_title.setToolTip(who)
        self.aligned_title.setToolTip(who)
        for cap, crop, view in ((self.raw_caption, raw, self.raw_view),
                                (self.aligned_caption, aligned, self.aligned_view)):
            miss = _mean_miss(crop.landmarks, aligned.targets)
            text = f"shown ×{view.factor}"
            if miss is not None:
                text += f" · landmarks {miss:.1f} px off target (mean)"
            cap.setText(text)
            cap.setToolTip("Mean distance, in model input pixels, between the detected "
                           "landmarks and where the template wants them.")

    def export_lines(self, which: str) -> list[str]:
        """What an exported crop is: photo, face, crop, template (own or forced), model."""
        pair, ref = self.pair, self.ref
        crop = pair.raw if which == "raw" else pair.aligned
        h, w = crop.pixels.shape[:2]
        card = self.ctx.card(pair.model_id) if pair.model_id else None
        own = str(card.spec.template) if card is not None and card.spec is not None else ""
        if which == "raw":
            how = "raw box crop (20 % margin, never rotated)"
        elif self.template is None:
            how = f"aligned with {crop.template}, the model's own template"
        else:
            how = (f"aligned with {crop.template}, forced on every model"
                   + (f" (the model's own: {own})" if own and own != str(crop.template) else ""))
        seen = f"as {pair.model_id} sees it" if pair.model_id else "at the template's own size"
        return [f"{ref.path.name}, face {ref.index + 1} of {ref.count}",
                f"{how}; {w}×{h} px, {seen}"]

    def export_png(self, folder) -> list[str]:
        """Save both crops at their native size (what the model sees; what it is in the
        PNG's Description field) and as shown, with a caption saying what it is."""
        from pathlib import Path

        if self.pair is None:
            return []
        folder = Path(folder)
        stem = f"{self.ref.path.stem}_face{self.ref.index + 1}_{self.pair.template}"
        out = []
        for name, crop, view in (("raw", self.pair.raw, self.raw_view),
                                 ("aligned", self.pair.aligned, self.aligned_view)):
            lines = self.export_lines(name)
            native = folder / f"{stem}_{name}.png"
            image = convert.to_qimage(crop.pixels)
            image.setText("Description", " | ".join(lines))
            image.save(str(native))
            shown = folder / f"{stem}_{name}_shown.png"
            if view.rendered is not None:
                convert.with_caption(view.rendered, lines).save(str(shown))
            out += [str(native), str(shown)]
        return out


__all__ = ["CropsPane"]
