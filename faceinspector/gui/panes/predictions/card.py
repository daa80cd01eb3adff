"""One model's card in the Predictions pane: raw vs aligned, painted side by side.

Classifiers get a probability bar per class in two columns (raw box crop | aligned crop); age
models get the expected age and, for binned outputs, a small histogram with an age axis and the
expected age marked; embedders get the distance between the two embeddings. A model whose own
chip is the raw box (and no template is forced) gets one column: both crops are the same. The
card turns amber and says why when the two crops disagree (top class differs, age apart by 5+
years, embeddings past dlib's 0.6 threshold); it is outlined in blue while the Crops pane shows
its crops ("As seen by"); its header says when a forced template is not the model's own; a
model you added has a Remove button; "where it looks" shows the model's saliency maps over both
crops in the Crops pane.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import (QCheckBox, QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

from ... import theme

MAX_BARS = 16  # more classes than this (age bins) are drawn as a histogram
AGE_GAP = 5.0  # years between raw and aligned that count as a disagreement
SAME_PERSON = 0.6  # dlib's Euclidean threshold for 128-D face embeddings


def disagreement(result) -> str:
    """Why raw and aligned disagree, in a few words, or "" when they agree."""
    if result is None or result.raw is None or result.aligned is None:
        return ""
    raw, al = result.raw, result.aligned
    if raw.probs.size and raw.probs.size <= MAX_BARS and raw.top != al.top:
        return f"top class differs: {raw.top_label} → {al.top_label}"
    if raw.value is not None and al.value is not None and abs(raw.value - al.value) >= AGE_GAP:
        return f"age differs by {abs(raw.value - al.value):.0f} years"
    if raw.embedding is not None and al.embedding is not None:
        d = float(np.linalg.norm(raw.embedding - al.embedding))
        if d >= SAME_PERSON:
            return f"not the same person to this model (d = {d:.2f})"
    return ""


class CompareView(QWidget):
    """Paints one model's raw and aligned predictions in two columns."""

    ROW = 17
    HEAD = 16
    HIST = 32
    AXIS = 13  # the age axis under a histogram

    def __init__(self, card=None, parent=None) -> None:
        super().__init__(parent)
        self.card = card  # ModelCard: reserves the height before any result arrives
        self.result = None
        self.text = "…"
        self.font_ = QFont(self.font())
        self.font_.setPointSizeF(max(8.0, self.font_.pointSizeF() - 0.5))
        self._height = self._expected_height()

    def set_result(self, result) -> None:
        self._set(result, "")

    def set_text(self, text: str) -> None:
        self._set(None, text)

    def _set(self, result, text: str) -> None:
        self.result, self.text = result, text
        if result is not None and result.raw is not None:
            h = self._result_height()
            if h != self._height:  # relayout only when the height really changes
                self._height = h
                self.updateGeometry()
        self.update()

    # ---------------------------------------------------------------------------- size
    def _kind(self) -> str:
        r = self.result
        if r is None or r.raw is None:
            return "text"
        if r.raw.embedding is not None and not r.raw.probs.size:
            return "embedding"
        if r.raw.probs.size > MAX_BARS:
            return "histogram"
        return "bars"

    def _expected_height(self) -> int:
        """The height a result of this model will take, from its card alone, so a card keeps
        its size while it waits (no relayout of the pane when results arrive)."""
        c = self.card
        if c is None:
            return self.ROW + 4
        if c.task == "embedding":
            return self.HEAD + self.ROW + 4
        if c.task == "age" or len(c.labels) > MAX_BARS:
            return self.HEAD + self.HIST + self.AXIS + 4 + self.ROW
        rows = len(c.labels) + (1 if "age" in c.task else 0)
        return self.HEAD + self.ROW * max(rows, 1) + 4

    def _result_height(self) -> int:
        kind, r = self._kind(), self.result
        if kind == "embedding":
            return self.HEAD + self.ROW + 4
        if kind == "histogram":
            return self.HEAD + self.HIST + self.AXIS + 4 + self.ROW
        rows = r.raw.probs.size + (1 if r.raw.value is not None else 0)
        return self.HEAD + self.ROW * rows + 4

    @property
    def single(self) -> bool:
        """One column: the model's aligned crop is the raw box crop (its own chip is raw)."""
        r = self.result
        return r is not None and r.template == "raw"

    def sizeHint(self) -> QSize:
        return QSize(360, self._height)

    def minimumSizeHint(self) -> QSize:
        return QSize(240, self.sizeHint().height())

    # --------------------------------------------------------------------------- paint
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setFont(self.font_)
        fg = self.palette().color(QPalette.ColorRole.WindowText)
        kind = self._kind()
        if kind == "text":
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.rect().adjusted(4, 0, -4, 0),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.text)
            p.end()
            return
        r = self.result
        fm = QFontMetrics(self.font_)
        labels = list(r.raw.labels) if kind == "bars" else []
        if r.raw.value is not None and kind == "bars":
            labels.append("age")
        label_w = min(110, max([fm.horizontalAdvance(t) for t in labels] + [30]) + 10)
        if kind == "histogram":
            label_w = 0
        if self.single:  # raw == aligned: one column says it once
            col_w = float(self.width() - label_w - 4)
            cols = [(label_w, r.raw, "raw box crop = its own chip (nothing to align)")]
        else:
            col_w = (self.width() - label_w - 12) / 2
            head = f"aligned ({r.template or '?'})"
            cols = [(label_w, r.raw, "raw box crop"), (label_w + col_w + 12, r.aligned, head)]
        p.setPen(QColor(theme.MUTED))
        for x, _, head in cols:
            p.drawText(QRectF(x, 0, col_w, self.HEAD), Qt.AlignmentFlag.AlignVCenter, head)
        y = float(self.HEAD)
        if kind == "bars":
            self._paint_bars(p, fm, cols, col_w, label_w, y, fg)
        elif kind == "histogram":
            self._paint_histograms(p, cols, col_w, y, fg)
        elif self.single:
            p.setPen(fg)
            p.drawText(QRectF(0, y, self.width(), self.ROW), Qt.AlignmentFlag.AlignVCenter,
                       f"{r.raw.embedding.size}-D embedding of the raw box crop (its own chip)")
        else:
            d = float(np.linalg.norm(r.raw.embedding - r.aligned.embedding))
            cos = float(np.dot(r.raw.embedding, r.aligned.embedding)
                        / (np.linalg.norm(r.raw.embedding) * np.linalg.norm(r.aligned.embedding)
                           + 1e-12))
            p.setPen(fg)
            p.drawText(QRectF(0, y, self.width(), self.ROW), Qt.AlignmentFlag.AlignVCenter,
                       f"{r.raw.embedding.size}-D embedding · distance raw ↔ aligned "
                       f"{d:.3f} (same person below {SAME_PERSON}) · cosine {cos:.3f}")
        p.end()

    def _paint_bars(self, p, fm, cols, col_w, label_w, y, fg) -> None:
        r = self.result
        num_w = fm.horizontalAdvance("0.00") + 6
        bar_w = max(20.0, col_w - num_w)
        for i, label in enumerate(r.raw.labels):
            top_any = i in {pred.top for _, pred, _ in cols}
            font = QFont(self.font_)
            font.setBold(top_any)
            p.setFont(font)
            p.setPen(fg)
            p.drawText(QRectF(0, y, label_w - 6, self.ROW),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, label)
            for (x, pred, _), color in zip(cols, (theme.BAR_RAW, theme.BAR_ALIGNED)):
                v = float(pred.probs[i])
                track = QRectF(x, y + 4, bar_w, self.ROW - 8)
                p.fillRect(track, QColor(128, 128, 128, 45))
                p.fillRect(QRectF(track.x(), track.y(), bar_w * min(max(v, 0.0), 1.0),
                                  track.height()), QColor(color))
                font.setBold(i == pred.top)
                p.setFont(font)
                p.setPen(fg)
                p.drawText(QRectF(x + bar_w + 4, y, num_w, self.ROW),
                           Qt.AlignmentFlag.AlignVCenter, f"{v:.2f}")
            y += self.ROW
        if r.raw.value is not None:
            self._paint_ages(p, cols, col_w, y, fg, label_w)

    def _paint_ages(self, p, cols, col_w, y, fg, label_w=0) -> None:
        font = QFont(self.font_)
        font.setBold(True)
        p.setFont(font)
        p.setPen(fg)
        if label_w:
            p.drawText(QRectF(0, y, label_w - 6, self.ROW),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, "age")
        for x, pred, _ in cols:
            text = f"expected age {pred.value:.1f}" if pred.value is not None else "—"
            p.drawText(QRectF(x, y, col_w, self.ROW), Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_histograms(self, p, cols, col_w, y, fg) -> None:
        """Per column: the age bins as bars over an age axis, the expected age as a line."""
        h = float(self.HIST)
        small = QFont(self.font_)
        small.setPointSizeF(max(6.5, self.font_.pointSizeF() - 1.5))
        for (x, pred, _), color in zip(cols, (theme.BAR_RAW, theme.BAR_ALIGNED)):
            probs = np.asarray(pred.probs, float)
            n = probs.size
            p.fillRect(QRectF(x, y, col_w, h), QColor(128, 128, 128, 35))
            top = max(float(probs.max()), 1e-6)
            w = col_w / n
            for i, v in enumerate(probs):
                bh = (h - 2) * v / top
                p.fillRect(QRectF(x + i * w, y + h - bh, max(w - 0.5, 0.8), bh), QColor(color))
            try:
                ages = np.array([float(t) for t in pred.labels])
            except ValueError:
                ages = None
            if ages is not None and len(ages) > 1:
                lo, hi = float(ages[0]), float(ages[-1])
                p.setFont(small)
                p.setPen(QColor(theme.MUTED))
                for a in np.arange(np.ceil(lo / 20) * 20, hi + 0.5, 20):
                    tx = x + (a - lo + 0.5) / (hi - lo + 1) * col_w
                    p.drawLine(QPointF(tx, y + h), QPointF(tx, y + h + 3))
                    left = min(max(tx - 14, x), x + col_w - 28)  # inside the column
                    p.drawText(QRectF(left, y + h + 2, 28, self.AXIS - 2),
                               Qt.AlignmentFlag.AlignCenter, f"{a:g}")
                if pred.value is not None:
                    frac = (pred.value - lo + 0.5) / (hi - lo + 1)
                    p.setPen(QPen(QColor(theme.SELECTED), 1.5))
                    p.drawLine(QPointF(x + frac * col_w, y), QPointF(x + frac * col_w, y + h))
            p.setFont(self.font_)
        yy = y + h + self.AXIS + 2
        for x, pred, _ in cols:  # the legend: the marker is the expected age
            p.setPen(QPen(QColor(theme.SELECTED), 1.5))
            p.drawLine(QPointF(x + 1, yy + 3), QPointF(x + 1, yy + self.ROW - 3))
            p.setPen(fg)
            font = QFont(self.font_)
            font.setBold(True)
            p.setFont(font)
            text = f"expected age {pred.value:.1f}" if pred.value is not None else "—"
            p.drawText(QRectF(x + 7, yy, col_w - 7, self.ROW), Qt.AlignmentFlag.AlignVCenter,
                       text + "  (age, years)")
            p.setFont(self.font_)


class PredictionCard(QFrame):
    """Header (on/off checkbox, title, disagreement badge) and a :class:`CompareView`."""

    toggled = Signal(str, bool)
    activated = Signal(str)
    removeRequested = Signal(str)  # a model the user added: forget it
    lookRequested = Signal(str)  # "where it looks": show its saliency maps in Crops

    def __init__(self, card, checked: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.card = card
        self.model_id = card.id
        self.result = None
        self.setObjectName("predictionCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.check = QCheckBox(card.id)
        self.check.setStyleSheet("font-weight: bold;")
        self.check.setChecked(checked and card.available)
        self.check.setEnabled(card.available)
        self.check.toggled.connect(lambda on: self.toggled.emit(self.model_id, on))
        self.title = QLabel(card.title if card.available else f"unavailable: {card.reason}")
        self.title.setStyleSheet(f"color: {theme.MUTED};")
        self.title.setMinimumWidth(40)
        # elided in resizeEvent; its text never changes the layout
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setToolTip(card.title if card.available else card.reason)
        self.badge = QLabel()
        self.badge.setStyleSheet(f"color: black; background: {theme.DIFFERS}; "
                                 "border-radius: 3px; padding: 1px 6px; font-weight: bold;")
        self.badge.setToolTip("The raw box crop and the aligned crop give different answers.")
        self.badge.hide()
        self.forced = QLabel()  # "forced arcface-112 (own: dlib-chip)": the title's place
        self.forced.setStyleSheet(f"color: {theme.DIFFERS};")
        self.forced.setMinimumWidth(40)
        self.forced.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.forced.hide()
        self.shown = QLabel("◉ in Crops")
        self.shown.setStyleSheet(f"color: {theme.HIGHLIGHT}; font-weight: bold;")
        self.shown.setToolTip("The Crops pane shows the crops this model sees (“As seen by”).")
        self.shown.hide()
        self.highlighted = False
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.check)
        head.addWidget(self.title, 1)
        head.addWidget(self.forced, 1)
        head.addWidget(self.shown)
        head.addWidget(self.badge)
        self.look_button = QToolButton(text="where it looks")
        self.look_button.setToolTip("Show in the Crops pane where this model looks: its crops "
                                    "with a saliency map (Grad-CAM unless another method is "
                                    "chosen there) over the raw and the aligned crop")
        self.look_button.clicked.connect(lambda: self.lookRequested.emit(self.model_id))
        head.addWidget(self.look_button)
        if not (card.available and card.spec is not None):
            self.look_button.hide()  # (never setVisible(True) before it has a parent: a window)
        self.remove_button = None
        if card.id.startswith("user:"):
            self.remove_button = QToolButton(text="Remove")
            self.remove_button.setToolTip("Forget this model (the file is not deleted)")
            self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self.model_id))
            head.addWidget(self.remove_button)
        self.view = CompareView(card)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 6)
        layout.setSpacing(2)
        layout.addLayout(head)
        layout.addWidget(self.view)
        if not card.available:
            self.setToolTip(card.reason)
            if self.remove_button is None:
                self.setEnabled(False)
            else:  # a model of yours that no longer loads: it can still be removed
                self.check.setEnabled(False)
                self.title.setEnabled(False)
            self.view.hide()
        self._elide()
        self._style("")

    @property
    def differs(self) -> str:
        """Why raw and aligned disagree ("" when they agree)."""
        return self.badge.text()

    def set_forced(self, template: str | None) -> None:
        """Say so when ``template`` is forced on this model and is not its own."""
        own = self.card.spec.template if self.card.spec is not None else None
        note = "" if template is None or own is None or str(template) == str(own) else \
            f"forced {template} (own: {own})"
        self.forced_note = note
        self.forced.setToolTip(f"{note}: the aligned crop uses a template this model was not "
                               "trained with; its answers may change because of that."
                               if note else "")
        self.forced.setVisible(bool(note))
        self.title.setVisible(not note)  # the note takes the title's place (no wider card)
        self._elide()

    def set_highlight(self, on: bool) -> None:
        """Outline the card: the Crops pane shows this model's crops."""
        if on != self.highlighted:
            self.highlighted = on
            self.shown.setVisible(on)
            self._styled = None
            self._style(self.badge.text())

    def _style(self, why: str) -> None:
        state = (bool(why), self.highlighted)
        if getattr(self, "_styled", None) == state:
            return  # setStyleSheet re-polishes the card: only when the state flips
        self._styled = state
        color = theme.HIGHLIGHT if self.highlighted else theme.DIFFERS if why else "palette(mid)"
        width = 2 if why or self.highlighted else 1
        self.setStyleSheet(f"#predictionCard {{ border: {width}px solid {color}; "
                           "border-radius: 4px; }")

    def _elide(self) -> None:
        text = self.title.toolTip()
        fm = self.title.fontMetrics()
        self.title.setText(fm.elidedText(text, Qt.TextElideMode.ElideRight,
                                         max(40, self.title.width())))
        note = getattr(self, "forced_note", "")
        if note:
            self.forced.setText(fm.elidedText(note, Qt.TextElideMode.ElideRight,
                                              max(40, self.forced.width())))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def set_waiting(self, text: str = "…") -> None:
        self.result = None
        self.view.set_text(text)
        self._set_badge("")

    def _set_badge(self, why: str) -> None:
        if why != self.badge.text():
            self.badge.setText(why)
        if bool(why) != self.badge.isVisibleTo(self):
            self.badge.setVisible(bool(why))
        self._style(why)

    def set_result(self, result) -> None:
        self.result = result
        if result.error:
            self.view.set_text(f"failed: {result.error}")
            why = ""
        else:
            self.view.set_result(result)
            why = disagreement(result)
        self._set_badge(why)

    def set_checked_view(self, on: bool) -> None:
        self.view.setVisible(on and self.card.available)

    def mousePressEvent(self, event) -> None:
        if self.card.available:
            self.activated.emit(self.model_id)
        super().mousePressEvent(event)
