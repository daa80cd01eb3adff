"""Where the embedder looks on the Verification pane's hardest pairs (issue 19).

Every pair of the two "hardest" lists gets a thumbnail of its similarity maps (both faces, side
by side) as its icon, streamed by :func:`saliency.pair_saliency_task` on the compute lane as
they are made: for a hardest *positive* (same person, far apart) the map of what pushes the two
faces apart ("dissimilar"), for a hardest *negative* (different people, close) of what makes
them close ("similar"). The selected pair's maps are shown larger under the pair. The maps of
the pairs listed are kept (per embedder, method, pair and mode), so a new distance or threshold
recomputes nothing.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from ... import convert, theme
from ...saliency_views import PAIR_METHODS, colour_key, method_combo, pair_thumbs, side_by_side
from ...widgets import chip_pixmap
from ...workers import WorkerSlot

ICON = QSize(62, 30)  # both faces' maps side by side in a list row
SIDE = 62  # px of each map of the selected pair
MODES = {"pos": "dissimilar", "neg": "similar"}
WHAT = {"dissimilar": "what pushes these two (same person) apart",
        "similar": "what makes these two (different people) close"}


class HardestLooks(QObject):
    """The method menu, the list icons and the selected pair's two maps (:attr:`row`)."""

    iconSet = Signal(str, int)  # kind ("pos" / "neg"), row: that pair's thumbnail is in

    def __init__(self, ctx, lists: dict, parent=None) -> None:
        super().__init__(parent)
        self.ctx, self.lists = ctx, lists  # {"pos": QListWidget, "neg": QListWidget}
        self.cache: dict[tuple, object] = {}  # (model, method, a, b, mode) -> PairThumbs
        self.rows: dict[str, list[tuple]] = {"pos": [], "neg": []}  # cache key per row
        self._order: list[tuple] = []  # the running request: (kind, row, key) per pair
        self.selected: tuple[str, int] | None = None
        for lst in lists.values():
            lst.setIconSize(ICON)
        self.method = method_combo(PAIR_METHODS, "gradcam", (
            "Similarity saliency of each hardest pair: which regions push a same-person pair "
            "apart, or pull a different-person pair close (icons, and the selected pair "
            "larger)"))
        self.views = [QLabel(), QLabel()]
        for v in self.views:
            v.setFixedSize(SIDE, SIDE)
            v.setAlignment(Qt.AlignmentFlag.AlignCenter)
            v.setWordWrap(True)
            v.setStyleSheet("background: #202124; color: #cfcfcf; font-size: 7pt;")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setStyleSheet(f"color: {theme.MUTED};")
        self.row = QWidget()
        box = QHBoxLayout(self.row)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(QLabel("Where it looks:"))
        box.addWidget(self.method)
        for v in self.views:
            box.addWidget(v)
        box.addStretch(1)
        self.slot = WorkerSlot(ctx.pool, "compute", "verification-saliency", self)
        self.slot.result.connect(self._on_result)
        self.slot.error.connect(lambda m: self.text.setText(m))
        self.method.currentIndexChanged.connect(lambda _i: self.start(*self._last)
                                                if getattr(self, "_last", None) else None)

    @property
    def method_id(self) -> str | None:
        return self.method.currentData()

    def start(self, result, hardest: dict) -> None:
        """Thumbnails for the pairs of the two lists (filled by the pane in ``hardest``
        order); only those not made yet are computed."""
        self._last = (result, hardest)
        backend, method = self.ctx.backend, self.method_id
        todo, modes, self._order = [], [], []
        for kind in ("pos", "neg"):
            self.rows[kind] = []
            for row, i in enumerate(hardest.get(kind, [])):
                p = result.pairs[result.report.pair(i)]
                a, b = Path(result.root) / p.a, Path(result.root) / p.b
                key = (result.model_id, method, str(a), str(b), MODES[kind])
                self.rows[kind].append(key)
                if method is None:
                    self._set_icon(kind, row, None)
                elif key in self.cache:
                    self._set_icon(kind, row, self.cache[key])
                else:
                    self._set_icon(kind, row, None)
                    todo.append((a, b))
                    modes.append(MODES[kind])
                    self._order.append((kind, row, key))
        wanted = {key for keys in self.rows.values() for key in keys}
        self.cache = {k: v for k, v in self.cache.items() if k in wanted}  # this run's only
        if not todo or backend is None or method is None:
            self.slot.cancel()
            self._order = []
        else:
            self.slot.submit(pair_thumbs, backend, todo, result.model_id, method, modes, SIDE)
        if self.selected is not None:
            self.show_pair(*self.selected)

    def _set_icon(self, kind: str, row: int, thumbs) -> None:
        item = self.lists[kind].item(row)
        if item is None:
            return
        strip = None if thumbs is None else side_by_side(thumbs.a, thumbs.b)
        if strip is None:
            item.setIcon(QIcon())
            return
        pix = convert.to_qpixmap(strip).scaled(ICON, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation)
        item.setIcon(QIcon(pix))
        pair = thumbs.pair
        item.setToolTip(item.toolTip().split("\n— ")[0] + f"\n— icon: {WHAT[pair.mode]} "
                        f"({self.method.currentText()}; cos {pair.cosine:+.3f})")

    def _on_result(self, thumbs) -> None:
        kind, row, key = self._order[thumbs.index]
        if thumbs.pair.error:
            self.text.setText(f"{Path(key[2]).name} ↔ {Path(key[3]).name}: "
                              f"{thumbs.pair.error}")
            return
        self.cache[key] = thumbs
        self._set_icon(kind, row, thumbs)
        if self.selected == (kind, row):
            self.show_pair(kind, row)
        self.iconSet.emit(kind, row)

    def show_pair(self, kind: str, row: int) -> None:
        """The maps of the selected pair, larger (or what is missing)."""
        self.selected = (kind, row)
        keys = self.rows.get(kind, [])
        thumbs = self.cache.get(keys[row]) if 0 <= row < len(keys) else None
        if thumbs is None:
            for v in self.views:
                v.clear()
                v.setText("" if self.method_id is None else "map…")
            self.text.setText("")
            return
        pair = thumbs.pair
        for v, pixels in zip(self.views, (thumbs.a, thumbs.b)):
            v.setPixmap(chip_pixmap(pixels, SIDE))
        note = pair.a.note if pair.a is not None and pair.a.note else ""
        self.text.setText(f"{self.method.currentText()}: {WHAT[pair.mode]} (cos "
                          f"{pair.cosine:+.3f}); {colour_key(pair.a.signed)}"
                          + (f"; {note}" if note else ""))


__all__ = ["HardestLooks", "MODES"]
