"""The Training tab's view of a DB-VAE's resampling weights.

At the start of each epoch a DB-VAE computes, per latent dimension, a smoothed histogram of the
training faces' μ and samples each face with a probability ∝ 1 / density (rare faces more
often). :class:`WeightsView` shows what that does: a one-line summary (the largest and the
median weight as multiples of the uniform weight 1/N, and the effective sample size
(Σw)² / Σw² as a share of N) and a strip of the most up-weighted training faces, then the most
down-weighted for contrast, each with its weight as "×3.4" (times uniform). The numbers and the
few 64×64 chips come ready-made from the training lane
(:func:`~faceinspector.backend.vae.resampling.summarize_weights`); this thread only makes ≤ 18
pixmaps.

For a plain VAE the view is a short muted note: only a DB-VAE has resampling weights.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QVBoxLayout, QWidget

from ....backend.vae.resampling import Resampling
from ... import convert, theme
from .widgets import BACKGROUND, ElidedLabel

NOTE_VAE = ("Resampling weights exist only for a DB-VAE: a plain VAE samples every training "
            "face equally.")
NOTE_DBVAE = ("A DB-VAE's resampling weights appear here at the start of each epoch: the "
              "training faces it samples most and least often.")
ESS_TIP = ("Weights are shown as multiples of the uniform weight 1/N (×1: sampled as often as "
           "without resampling).\nEffective sample size = (Σw)² / Σw² (Kish): how many "
           "equally weighted faces the weighted sample is worth; 100% of N = uniform sampling.")
CAPTIONS = ("most up-weighted (rare: sampled more)", "most down-weighted")
LABEL_COLOR = "#cfcfcf"


def ratio_text(r: float) -> str:
    """A weight as a multiple of the uniform weight, short: ×12, ×3.4, ×0.42."""
    if r >= 9.95:
        return f"×{r:.0f}"
    if r >= 0.995:
        return f"×{r:.1f}"
    return f"×{r:.2f}"


def summary_text(r: Resampling) -> str:
    """The one-line summary of an epoch's weights."""
    return (f"DB-VAE resampling, epoch {r.epoch + 1}, {r.n:,} faces: max ×{r.max_ratio:.2f}, "
            f"median ×{r.median_ratio:.2f} of uniform · effective sample size "
            f"{r.ess_fraction:.1%} of N ({r.ess:,.0f})")


class WeightStrip(QWidget):
    """Two groups of chips side by side, a caption over each and a label under each chip;
    hovering a chip tells its name, weight and rank."""

    GAP = 5  # between chips
    GROUP_GAP = 22  # between the groups (a thin line in the middle)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.groups: list[list] = [[], []]  # per group: [(pixmap or None, label, tooltip)]
        self._rects: list[tuple[QRect, str]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._hint_h = 0
        self.setMaximumHeight(self._height_for(64))

    def _text_h(self) -> int:
        return self.fontMetrics().height()

    def set_groups(self, groups) -> None:
        self.groups = [list(g) for g in groups]
        self.updateGeometry()
        self.update()

    def labels(self) -> list[list[str]]:
        return [[label for _, label, _ in g] for g in self.groups]

    def _count(self) -> tuple[int, int]:
        """(chips, groups) to lay out; 12 + 6 before any weights arrive."""
        groups = [len(g) for g in self.groups if g] or [12, 6]
        return sum(groups), len(groups)

    def _side_for(self, width: int) -> int:
        """The chip side the width allows (at most 64, their size)."""
        n, k = self._count()
        spacing = self.GAP * (n - k) + self.GROUP_GAP * (k - 1)
        return int(min(64, (width - 12 - spacing) / n))

    def _height_for(self, side: int) -> int:
        return self._text_h() * 2 + max(side, 28) + 12

    def sizeHint(self) -> QSize:
        """As tall as the chips need at this width: a narrow dock gives its height to the loss
        plot rather than to empty strip."""
        n, k = self._count()
        width = self.width() if self.width() > 100 else 60 * n + self.GROUP_GAP * k
        return QSize(60 * n + self.GROUP_GAP * k, self._height_for(self._side_for(width)))

    def minimumSizeHint(self) -> QSize:
        return QSize(200, self._height_for(28) - self._text_h())  # squeezed: no captions

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        h = self.sizeHint().height()
        if h != self._hint_h:
            self._hint_h = h
            self.updateGeometry()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(BACKGROUND))
        self._rects = []
        groups = [g for g in self.groups if g]
        n = sum(len(g) for g in groups)
        if not n:
            return
        th, gap = self._text_h(), self.GAP
        spacing = gap * (n - len(groups)) + self.GROUP_GAP * (len(groups) - 1)
        cap_h = th + 2 if self.height() >= self._height_for(28) else 0  # captions fit?
        side = max(12, min(self._side_for(self.width()), self.height() - 10 - th - cap_h))
        width = n * side + spacing
        x = max(6, (self.width() - width) // 2)
        y = max(3, (self.height() - side - th - cap_h - 4) // 2) + cap_h
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, side != 64)
        fm = p.fontMetrics()
        label_font = p.font()  # narrow chips: smaller labels rather than touching ones
        shrink = (side + gap - 2) / max(fm.horizontalAdvance("×0.00"), 1)
        if shrink < 1:
            if label_font.pointSizeF() > 0:
                label_font.setPointSizeF(max(6.0, label_font.pointSizeF() * shrink))
            else:
                label_font.setPixelSize(max(8, int(label_font.pixelSize() * shrink)))
        for gi, group in enumerate(self.groups):
            if not group:
                continue
            g_width = len(group) * side + gap * (len(group) - 1)
            if cap_h:
                p.setPen(QColor(theme.MUTED))
                caption = fm.elidedText(CAPTIONS[gi], Qt.TextElideMode.ElideRight, g_width)
                p.drawText(QRect(x, y - cap_h, g_width, th),
                           Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, caption)
            for pix, label, tip in group:
                r = QRect(x, y, side, side)
                self._rects.append((r, tip))
                if pix is None:
                    p.fillRect(r, QColor("#3a3b3e"))
                else:
                    p.drawPixmap(r, pix)
                p.setPen(QColor(LABEL_COLOR))
                p.setFont(label_font)
                p.drawText(QRect(r.x() - gap // 2, r.bottom() + 2, side + gap, th),
                           Qt.AlignmentFlag.AlignCenter, label)
                p.setFont(self.font())
                x += side + gap
            x += self.GROUP_GAP - gap
            if gi == 0 and len(groups) > 1:  # the divider between the groups
                pen = QPen(QColor(theme.MUTED))
                pen.setWidth(1)
                p.setPen(pen)
                lx = x - self.GROUP_GAP // 2
                p.drawLine(lx, y - (cap_h or 2), lx, y + side + th)

    def event(self, e) -> bool:
        if e.type() == QEvent.Type.ToolTip:
            pos = e.pos()
            for r, tip in self._rects:
                if r.contains(pos):
                    QToolTip.showText(e.globalPos(), tip, self, r)
                    return True
            QToolTip.hideText()
            e.ignore()
            return True
        return super().event(e)


class WeightsView(QWidget):
    """The resampling weights of the latest DB-VAE epoch, or a note (plain VAE, not yet)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.resampling: Resampling | None = None
        # one line each, cut with "…" in a narrow dock (full text as tooltip): a wrapping label
        # would make the section a height-for-width item that the layout cannot squeeze
        self.summary = ElidedLabel("")
        self.note = ElidedLabel(NOTE_DBVAE)
        self.note.setStyleSheet(f"color: {theme.MUTED};")
        self.strip = WeightStrip()
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 2, 0, 0)
        box.setSpacing(2)
        box.addWidget(self.summary)
        box.addWidget(self.strip)
        box.addWidget(self.note)
        self.clear(dbvae=True)

    def clear(self, dbvae: bool) -> None:
        """No weights (yet): the note for a DB-VAE run to come, or for a plain VAE."""
        self.resampling = None
        self.strip.set_groups([[], []])
        self.note.set_text(NOTE_DBVAE if dbvae else NOTE_VAE)
        self.summary.hide()
        self.strip.hide()
        self.note.show()

    def set_resampling(self, r: Resampling) -> None:
        """Show an epoch's weights (≤ 18 pixmaps: fine on the GUI thread)."""
        self.resampling = r
        groups = []
        for idx, ratio, faces, names, rank0 in (
                (r.top, r.top_ratio, r.top_faces, r.top_names, 1),
                (r.bottom, r.bottom_ratio, r.bottom_faces, r.bottom_names,
                 r.n - len(r.bottom) + 1)):
            group = []
            for k, (i, q) in enumerate(zip(idx, ratio)):
                pix = None if faces is None else convert.to_qpixmap(faces[k])
                name = names[k] if k < len(names) else f"training face {int(i) + 1}"
                group.append((pix, ratio_text(q), f"{name}\n{q:.3f} × the uniform weight, "
                              f"rank {rank0 + k:,} of {r.n:,} by weight"))
            groups.append(group)
        self.strip.set_groups(groups)
        text = summary_text(r)
        self.summary.set_text(text, f"{text}\n\n{ESS_TIP}")
        self.note.hide()
        self.summary.show()
        self.strip.show()

    def labels(self) -> list[list[str]]:
        """The ratio labels shown, per group (tests)."""
        return self.strip.labels()


__all__ = ["WeightStrip", "WeightsView", "ratio_text", "summary_text"]
