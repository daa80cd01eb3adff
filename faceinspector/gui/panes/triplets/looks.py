"""The Triplets pane's "Where the embedder looks" row (issue 19): similarity saliency of the
pairs A–P and A–N through the chosen embedder.

For A–P the map on each face is for the cosine similarity of its embedding to the other's
(which regions make them *close*); for A–N for its negative (which regions make them *far*).
Both pairs run through :func:`saliency.pair_saliency_task` on the compute lane (latest request
wins), each map streamed as a thumbnail made on the worker (:func:`..saliency_views.pair_thumbs`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QWidget

from ... import theme
from ...saliency_views import PAIR_METHODS, colour_key, method_combo, pair_thumbs
from ...widgets import chip_pixmap, muted
from ...workers import WorkerSlot

SIDE = 72  # px of each map
PAIRS = (("P", "similar", "A ↔ P: what makes them close"),
         ("N", "dissimilar", "A ↔ N: what makes them far apart"))


class PairLooks(QWidget):
    """Method menu and, for A–P and A–N, the map on each face of the pair."""

    shown = Signal(object)  # PairThumbs, after it is drawn

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.results: dict[str, object] = {}  # "P" / "N" -> PairThumbs
        self._request: tuple | None = None
        self._order: list[str] = []
        self.method = method_combo(PAIR_METHODS, "gradcam", (
            "Similarity saliency: which regions of each face make the embedder put the pair "
            "close together (A–P) or far apart (A–N)"))
        self.status = muted()
        self.status.setWordWrap(True)
        self.views: dict[tuple[str, str], QLabel] = {}
        self.titles: dict[str, QLabel] = {}
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(16)
        for other, _mode, title in PAIRS:
            group = QGridLayout()
            group.setHorizontalSpacing(3)
            group.setVerticalSpacing(1)
            label = self.titles[other] = QLabel(f"<b>{title}</b>")
            group.addWidget(label, 0, 0, 1, 2)
            for j, face in enumerate(("A", other)):
                view = self.views[(other, face)] = QLabel()
                view.setFixedSize(SIDE, SIDE)
                view.setAlignment(Qt.AlignmentFlag.AlignCenter)
                view.setWordWrap(True)
                view.setStyleSheet("background: #202124; color: #cfcfcf; font-size: 8pt;")
                group.addWidget(view, 1, j, Qt.AlignmentFlag.AlignLeft)
                group.addWidget(muted(f"on {face}, toward {other if face == 'A' else 'A'}"),
                                2, j)
            group.setColumnStretch(2, 1)
            row.addLayout(group)
        row.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(QLabel("Where the embedder looks:"))
        top.addWidget(self.method)
        top.addWidget(self.status, 1)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setVerticalSpacing(2)
        layout.addLayout(top, 0, 0)
        layout.addLayout(row, 1, 0)
        self.slot = WorkerSlot(ctx.pool, "compute", "triplet-saliency", self)
        self.slot.result.connect(self._on_result)
        self.slot.error.connect(lambda m: self.status.setText(
            f"<span style='color:{theme.ERROR}'>{m}</span>"))
        self.method.currentIndexChanged.connect(lambda _i: self.request(*self._request)
                                                if self._request else None)
        self._clear_views()

    @property
    def method_id(self) -> str | None:
        return self.method.currentData()

    def _clear_views(self, text: str = "") -> None:
        for view in self.views.values():
            view.clear()
            view.setText(text)

    def request(self, backend, slots: dict, model_id: str | None) -> None:
        """Maps for A–P and A–N of ``slots`` (FaceRefs or None) through ``model_id``."""
        self._request = (backend, dict(slots), model_id)
        a = slots.get("A")
        pairs, modes, order = [], [], []
        for other, mode, _title in PAIRS:
            b = slots.get(other)
            if a is not None and b is not None:
                pairs.append((a, b))
                modes.append(mode)
                order.append(other)
        key = (self.method_id, model_id, tuple((r[0].key, r[1].key) for r in pairs))
        if getattr(self, "_key", None) == key and (self.results or self.slot.busy):
            return  # these maps are shown already
        self._key, self.results, self._order = key, {}, order
        if self.method_id is None or backend is None or not model_id or not pairs:
            self.slot.cancel()
            self._clear_views()
            self.status.setText("" if self.method_id is None else
                                "Fill A and P or N to see which regions make them close or far.")
            return
        for other, *_ in PAIRS:
            for face in ("A", other):
                self.views[(other, face)].setText("…" if other in order else "")
        self.status.setText(f"{self.method.currentText()} through {model_id}…")
        self.slot.submit(pair_thumbs, backend, pairs, model_id, self.method_id, modes, SIDE)

    def _on_result(self, thumbs) -> None:
        other = self._order[thumbs.index]
        self.results[other] = thumbs
        pair = thumbs.pair
        if pair.error:
            for face in ("A", other):
                self.views[(other, face)].setText(pair.error[:80])
            return
        for face, pixels, sal in (("A", thumbs.a, pair.a), (other, thumbs.b, pair.b)):
            view = self.views[(other, face)]
            view.setPixmap(chip_pixmap(pixels, SIDE))
            view.setToolTip(f"{face}: {sal.class_label} · cos {pair.cosine:+.3f}, "
                            f"distance {pair.distance:.3f}" + (f"\n{sal.note}" if sal.note
                                                                else ""))
        what = "close" if pair.mode == "similar" else "far apart"
        self.titles[other].setToolTip(f"cosine similarity {pair.cosine:+.3f}, Euclidean "
                                      f"distance {pair.distance:.3f}: red = regions that make "
                                      f"them {what}")
        note = pair.a.note if pair.a is not None else ""
        self.status.setText(colour_key(pair.a.signed if pair.a is not None else False)
                            + (f" · {note}" if note else ""))
        self.shown.emit(thumbs)


__all__ = ["PAIRS", "PairLooks"]
