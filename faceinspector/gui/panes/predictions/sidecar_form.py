"""The form that writes a user model's JSON sidecar (instead of writing JSON by hand).

What the model does (classifier with its labels, or embedder), its input size, the alignment
template it was trained with (any template of the Crops pane's choices, template files
included), an optional padding, the input normalisation (presets, or mean / std by hand) and,
for a classifier, whether it returns logits or probabilities. :meth:`SidecarDialog.values` is
the dict :func:`faceinspector.backend.sidecar.write` validates and writes (on the io lane).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox,
                               QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QSpinBox, QWidget)

from ....backend import sidecar
from ... import theme

CUSTOM = "custom mean / std"


def _triple(values) -> str:
    return ", ".join(f"{float(v):g}" for v in values)


class SidecarDialog(QDialog):
    """Fill in what a model needs; OK gives :meth:`values` (written by the caller)."""

    def __init__(self, model_path, templates, label_of=str, start: dict | None = None,
                 problem: str = "", parent=None) -> None:
        super().__init__(parent)
        start = dict(start or {})
        self.model_path = Path(model_path)
        self.setWindowTitle(f"Describe {self.model_path.name}")
        self.name = QLineEdit(str(start.get("name") or self.model_path.stem))
        self.task = QComboBox()
        self.task.addItem("classifier: one score per label", "classification")
        self.task.addItem("embedder: one vector per face", "embedding")
        self.task.setCurrentIndex(max(0, self.task.findData(start.get("task",
                                                                      "classification"))))
        labels = start.get("labels") or []
        self.labels = QLineEdit(", ".join(map(str, labels)) if isinstance(labels, list) else "")
        self.labels.setPlaceholderText("female, male")
        size = start.get("input_size", [64, 64])
        size = [size, size] if isinstance(size, int) else size
        self.width_box, self.height_box = QSpinBox(), QSpinBox()
        for box, v in zip((self.width_box, self.height_box),
                          size if isinstance(size, list) and len(size) == 2 else [64, 64]):
            box.setRange(8, 1024)
            box.setSuffix(" px")
            box.setValue(int(v) if isinstance(v, int) else 64)
        self.template = QComboBox()
        for t in templates:
            self.template.addItem(label_of(t), t)
        want = start.get("template", "dlib-chip")
        self.template.setCurrentIndex(max(0, self.template.findData(want)))
        self.pad_on = QCheckBox("override")
        self.padding = QDoubleSpinBox()
        self.padding.setRange(0.0, sidecar.MAX_PADDING)
        self.padding.setSingleStep(0.05)
        pad = start.get("padding")
        self.pad_on.setChecked(isinstance(pad, (int, float)))
        self.padding.setValue(float(pad) if isinstance(pad, (int, float)) else 0.25)
        self.norm = QComboBox()
        for name in sidecar.NORMALISATIONS:
            self.norm.addItem(name, name)
        self.norm.addItem(CUSTOM, CUSTOM)
        self.mean = QLineEdit(_triple(start.get("mean", [0, 0, 0])) if isinstance(
            start.get("mean"), list) else "0, 0, 0")
        self.std = QLineEdit(_triple(start.get("std", [1, 1, 1])) if isinstance(
            start.get("std"), list) else "1, 1, 1")
        self.pixel_range = QComboBox()
        self.pixel_range.addItem("RGB / 255 (0..1)", 1)
        self.pixel_range.addItem("raw pixels (0..255)", 255)
        self.pixel_range.setCurrentIndex(max(0, self.pixel_range.findData(
            start.get("pixel_range", 1))))
        self._pick_preset(start)
        self.output = QComboBox()
        self.output.addItem("logits (softmax is applied)", "logits")
        self.output.addItem("probabilities", "probs")
        self.output.setCurrentIndex(max(0, self.output.findData(start.get("output", "logits"))))
        self.error = QLabel(problem)
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.ERROR};")

        form = QFormLayout(self)
        form.addRow(QLabel(f"FaceInspector writes <b>{sidecar.sidecar_path(self.model_path).name}"
                           "</b> beside the model: it says how to crop and normalise a face "
                           "for it."))
        form.addRow("Name:", self.name)
        form.addRow("The model is a:", self.task)
        form.addRow("Labels (comma-separated):", self.labels)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_box)
        size_row.addStretch(1)
        form.addRow("Input size (width × height):", size_row)
        form.addRow("Alignment template it was trained on:", self.template)
        pad_row = QHBoxLayout()
        pad_row.addWidget(self.pad_on)
        pad_row.addWidget(self.padding)
        pad_row.addStretch(1)
        form.addRow("Template padding:", pad_row)
        form.addRow("Input normalisation:", self.norm)
        self.custom = QWidget()
        cl = QFormLayout(self.custom)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addRow("pixels as:", self.pixel_range)
        cl.addRow("mean (R, G, B):", self.mean)
        cl.addRow("std (R, G, B):", self.std)
        form.addRow("", self.custom)
        form.addRow("Classifier output:", self.output)
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.task.currentIndexChanged.connect(self._update)
        self.norm.currentIndexChanged.connect(self._update)
        self.pad_on.toggled.connect(self._update)
        self._update()

    def _pick_preset(self, start: dict) -> None:
        mean = start.get("mean", [0.0, 0.0, 0.0])
        std = start.get("std", [1.0, 1.0, 1.0])
        rng = start.get("pixel_range", 1)
        for name, (m, s, r) in sidecar.NORMALISATIONS.items():
            if (m, s, r) == (mean, std, rng) or ([float(v) for v in m], [float(v) for v in s],
                                                 r) == (mean, std, rng):
                self.norm.setCurrentIndex(self.norm.findData(name))
                return
        self.norm.setCurrentIndex(self.norm.findData(CUSTOM))

    def _update(self, *_args) -> None:
        classifier = self.task.currentData() == "classification"
        self.labels.setEnabled(classifier)
        self.output.setEnabled(classifier)
        self.padding.setEnabled(self.pad_on.isChecked())
        self.custom.setVisible(self.norm.currentData() == CUSTOM)
        self.adjustSize()

    @staticmethod
    def _numbers(text: str) -> list:
        try:
            return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
        except ValueError:
            return []

    def values(self) -> dict:
        """The sidecar fields as entered."""
        preset = self.norm.currentData()
        if preset in sidecar.NORMALISATIONS:
            mean, std, rng = sidecar.NORMALISATIONS[preset]
        else:
            mean, std = self._numbers(self.mean.text()), self._numbers(self.std.text())
            rng = self.pixel_range.currentData()
        out = {"name": self.name.text().strip(), "task": self.task.currentData(),
               "input_size": [self.width_box.value(), self.height_box.value()],
               "template": self.template.currentData(),
               "padding": self.padding.value() if self.pad_on.isChecked() else None,
               "mean": list(mean), "std": list(std), "pixel_range": rng}
        if out["task"] == "classification":
            out["labels"] = [t.strip() for t in self.labels.text().split(",") if t.strip()]
            out["output"] = self.output.currentData()
        return out

    def check(self) -> str:
        """"" when :meth:`values` is a valid sidecar, else the one-line reason."""
        values = self.values()
        if str(values["template"]).lower().endswith(".json"):  # a file: checked when written
            values["template"] = "dlib-chip"  # (on the io lane), never read here
        try:
            sidecar.validate(values, sidecar.sidecar_path(self.model_path).name,
                             self.model_path.parent, self.model_path.name)
        except sidecar.SidecarError as exc:
            return str(exc)
        return ""

    def accept(self) -> None:
        problem = self.check()
        if problem:
            self.error.setText(problem)
            return
        super().accept()


__all__ = ["CUSTOM", "SidecarDialog"]
