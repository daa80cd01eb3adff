"""The Crops pane's "Where it looks" row: a saliency map of the "As seen by" model drawn over
the raw box crop and over the aligned crop (issue 19).

Method (off / Grad-CAM / Grad-CAM++ / EigenCAM / occlusion), class (the model's classes; by
default each crop's own top class) and the map's opacity. The maps are made on the compute lane
by :func:`crop_maps` (latest request wins): the two chips the pane shows, through
:func:`saliency.class_saliency`, or for occlusion :func:`saliency.occlusion_steps` on both
crops in turn, so the coarse 4×4 maps of both show first, then the 8×8 ones. Moving the
opacity slider only re-blends the maps on the GUI thread. The note says when a method fell back
(a model without reachable layers, an embedder asked for Grad-CAM) and that EigenCAM is
class-agnostic; the Predictions cards' "where it looks" button turns the row on for that model
(:attr:`AppContext.showSaliency`).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from ....backend import saliency
from ....backend.tasks import check
from ... import theme
from ...saliency_views import (colour_key, describe, install_preload, method_combo,
                               opacity_slider)
from ...workers import WorkerSlot

TOP = -1  # class combo: each crop's own top class


@dataclass(frozen=True, eq=False)
class CropMap:
    """One map of the pane's request: ``which`` crop ("raw" / "aligned"; ``both`` when the
    model's own chip is the raw box, so one map serves both views)."""

    which: str
    saliency: saliency.Saliency
    both: bool = False


def crop_maps(backend, photo, face, model_id: str, method: str, target=None, template=None,
              same: bool = False, cancel=None):
    """Task: the map on the aligned crop (``template``: None = the model's own) and on the raw
    box crop, as :class:`CropMap` results; ``same``: the two crops are one (one map).
    Occlusion runs coarse to fine on both crops in turn (4×4 of both, then 8×8)."""
    crops = [("aligned", template)] + ([] if same else [("raw", "raw")])
    if method != "occlusion":
        for which, tmpl in crops:
            check(cancel)
            yield CropMap(which, saliency.class_saliency(backend, photo, face, model_id, method,
                                                         target, template=tmpl), same)
        return
    steps = [(which, saliency.occlusion_steps(backend, photo, face, model_id, target,
                                              template=tmpl, cancel=cancel))
             for which, tmpl in crops]
    while steps:
        for entry in list(steps):
            which, task = entry
            for item in task:  # on to this crop's next map (Progress in between)
                if isinstance(item, saliency.Saliency):
                    yield CropMap(which, item, same)
                    break
            else:
                steps.remove(entry)


class CropSaliency(QObject):
    """The controls (:attr:`row`, :attr:`note`, a caption per crop) and the drawing of both
    crops, with or without their maps. The pane calls :meth:`request` with every crop request
    and :meth:`draw` with every crop pair."""

    def __init__(self, ctx, views: dict, parent=None) -> None:
        super().__init__(parent)
        self.ctx, self.views = ctx, views  # {"raw": CropCanvas, "aligned": CropCanvas}
        self.pair = None
        self.maps: dict[str, saliency.Saliency] = {}
        self.info: saliency.SaliencyInfo | None = None
        self._args: tuple | None = None  # the pane's last request (backend, ref, model, ...)
        self.method = method_combo(default=None, tip=(
            "Where the “As seen by” model looks on both crops: a saliency map over each"))
        self.klass = QComboBox()
        self.klass.setToolTip("The class whose evidence the map shows (default: each crop's "
                              "own top class, so the two maps may be of different classes)")
        self.klass.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.klass.setMinimumContentsLength(8)
        self.opacity = opacity_slider()
        self.row = QWidget()
        box = QHBoxLayout(self.row)
        box.setContentsMargins(0, 0, 0, 0)
        for w, stretch in ((QLabel("Where it looks:"), 0), (self.method, 0),
                           (QLabel("class:"), 0), (self.klass, 1), (QLabel("opacity:"), 0),
                           (self.opacity, 0)):
            box.addWidget(w, stretch)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.MUTED};")
        self.note.hide()
        self.captions = {k: QLabel() for k in ("raw", "aligned")}
        for cap in self.captions.values():
            cap.setStyleSheet(f"color: {theme.MUTED};")
            cap.setMinimumWidth(60)
            cap.setWordWrap(True)
        self.slot = WorkerSlot(ctx.pool, "compute", "crops-saliency", self)
        self.slot.result.connect(self._on_map)
        self.slot.error.connect(self._on_error)
        self.info_slot = WorkerSlot(ctx.pool, "compute", "crops-saliency-info", self)
        self.info_slot.result.connect(self._on_info)
        self.info_slot.error.connect(lambda m: None)  # the map request says what is wrong
        self.method.currentIndexChanged.connect(self._on_method)
        self.klass.currentIndexChanged.connect(lambda _i: self._resubmit())
        self.opacity.valueChanged.connect(lambda _v: self.draw(self.pair))
        ctx.showSaliency.connect(self._show_for)
        install_preload(ctx)
        self._fill_classes(None)

    # --------------------------------------------------------------------------- state
    @property
    def method_id(self) -> str | None:
        return self.method.currentData()

    @property
    def target(self):
        value = self.klass.currentData()
        return None if value is None or value == TOP else int(value)

    @property
    def alpha(self) -> float:
        return self.opacity.value() / 100

    def set_method(self, method: str | None) -> None:
        self.method.setCurrentIndex(max(0, self.method.findData(method)))

    def _show_for(self, model_id: str) -> None:
        """A Predictions card asked: show where ``model_id`` looks (Grad-CAM unless a method
        is already on)."""
        pane = self.parent()
        if self.method_id is None:
            self.method.blockSignals(True)
            self.set_method("gradcam")
            self.method.blockSignals(False)
            self._on_method(self.method.currentIndex(), submit=False)
        if pane.model_id != model_id:
            pane.set_model(model_id)  # requests the crops, and so the maps
        else:
            self._resubmit()

    def _fill_classes(self, model_id: str | None, labels=None, embedder: bool = False) -> None:
        current = self.klass.currentData()
        self.klass.blockSignals(True)
        self.klass.clear()
        if model_id is None:
            self.klass.addItem("—", None)
        elif embedder:
            self.klass.addItem("embedding (no classes)", None)
        else:
            self.klass.addItem("top class (each crop's)", TOP)
            for i, label in enumerate(labels or ()):
                self.klass.addItem(str(label), i)
        i = self.klass.findData(current)
        self.klass.setCurrentIndex(i if i >= 0 and current is not None else 0)
        self.klass.setEnabled(self.klass.count() > 1 and self.method_id not in (None,
                                                                                "eigencam"))
        self.klass.blockSignals(False)

    # ----------------------------------------------------------------------------- work
    def request(self, backend, ref, model_id, template, spec) -> None:
        """The pane made a crop request: new maps for the same face, model and template."""
        changed = self._args is None or self._args[2] != model_id
        self._args = (backend, ref, model_id, template, spec)
        if changed:
            self.info = None
            card = self.ctx.card(model_id) if model_id else None
            self._fill_classes(model_id, card.labels if card else (),
                               card is not None and card.task == "embedding")
            if backend is not None and model_id:
                self.info_slot.submit(saliency.info, backend, model_id)
        self._resubmit()

    def _resubmit(self) -> None:
        self.maps = {}
        args, method = self._args, self.method_id
        if args is None or method is None:
            self.slot.cancel()
            self._show_note("")
            self.draw(self.pair)
            return
        backend, ref, model_id, template, spec = args
        if ref is None or backend is None:
            self.slot.cancel()
            return
        if model_id is None or spec is None:
            self.slot.cancel()
            self._show_note("Choose a model under “As seen by” to see where it looks.")
            self.draw(self.pair)
            return
        same = str(spec.template) == "raw" and template in (None, "raw")
        self._show_note(f"Computing {self.method.currentText()} for {model_id}…")
        self.slot.submit(crop_maps, backend, ref.photo, ref.face, model_id, method, self.target,
                         template, same)

    def _on_method(self, _index: int, submit: bool = True) -> None:
        self.klass.setEnabled(self.klass.count() > 1 and self.method_id not in (None,
                                                                                "eigencam"))
        self.opacity.setEnabled(self.method_id is not None)
        if submit:
            self._resubmit()

    def _on_info(self, info: saliency.SaliencyInfo) -> None:
        if self._args is None or info.model_id != self._args[2]:
            return
        self.info = info
        if not info.embedder and info.labels and self.klass.count() - 1 != len(info.labels):
            self._fill_classes(info.model_id, info.labels)  # e.g. dlib-age's 81 bins

    def _on_map(self, result: CropMap) -> None:
        sal = result.saliency
        self.maps[result.which] = sal
        if result.both:
            self.maps["raw"] = sal
        notes = [sal.note] if sal.note else []
        notes.append(colour_key(sal.signed))
        self._show_note(" · ".join(notes))
        self.draw(self.pair)

    def _on_error(self, message: str) -> None:
        self.maps = {}
        self._show_note(f"<span style='color:{theme.ERROR}'>No map: {message}</span>")
        self.draw(self.pair)

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        if self.note.parentWidget() is not None:  # never a window of its own
            self.note.setVisible(bool(text))

    # ------------------------------------------------------------------------- drawing
    def draw(self, pair) -> None:
        """Both crops of ``pair`` (a CropPair), each with its map when there is one."""
        self.pair = pair
        if pair is None:
            for cap in self.captions.values():
                cap.setText("")
            return
        targets = pair.aligned.targets
        for which, crop in (("raw", pair.raw), ("aligned", pair.aligned)):
            view, sal = self.views[which], self.maps.get(which)
            ok = sal is not None and self.method_id is not None and \
                sal.crop.shape == crop.pixels.shape
            if ok:
                view.set_crop(sal.overlay(self.alpha), crop.landmarks, targets, sal.peak)
                self.captions[which].setText(describe(sal))
                self.captions[which].setToolTip(sal.note or describe(sal))
            else:
                view.set_crop(crop.pixels, crop.landmarks, targets)
                self.captions[which].setText("")


__all__ = ["CropMap", "CropSaliency", "crop_maps"]
