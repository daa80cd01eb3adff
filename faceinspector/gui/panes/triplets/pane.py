"""Triplets pane: anchor, positive and negative side by side, their embedding distances, the
triplet loss, the verification threshold, and a distance matrix of every loaded face.

Faces go into the A / P / N slots by dragging them from the list of loaded faces, with the
"Selected face → A / P / N" buttons (the face selected in the Photos pane), by clicking a
cell of the distance matrix (that pair becomes A / P), from any right-click menu of a face list
elsewhere (Verification's hardest pairs, Gallery matches, Mismatch examples: :meth:`put_path`,
which waits for a photo that is still loading). Double-clicking a face (list, matrix cell, slot)
opens it in Photos / Crops / Predictions. Every face is embedded twice, from its aligned crop
and from its raw box crop, so the numbers show how alignment moves the distances. Embeddings
are computed on the compute lane (:func:`~faceinspector.backend.embeddings.embed_faces`, latest
request wins); the slots' distances and loss are numpy on the GUI thread; the matrix half is
:mod:`.matrix`; which regions make A and P close and A and N far (similarity saliency) is
:mod:`.looks`.

Faces can also be dragged from the photo view and the Crops pane (:mod:`..widgets` has the
drag payload, the heat map and the helpers shared with the Verification and Gallery panes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QSlider, QSplitter, QVBoxLayout,
                               QWidget)

from ....backend import triplets
from ....backend import embeddings
from ....backend.types import FaceRef
from ... import theme
from ...widgets import (METRIC_NAMES, METRIC_RANGE, default_threshold, fill_embedders, muted,
                        on_screen)
from ...workers import WorkerSlot
from .looks import PairLooks
from .matrix import MAX_MATRIX, MatrixPart
from .slots import SLOTS, FaceList, FaceSlot

DEFAULT_MARGIN = 0.2
ROWS = (("ap", "d(A, P)"), ("an", "d(A, N)"), ("loss", "triplet loss"), ("ap_ok", "A/P at τ"),
        ("an_ok", "A/N at τ"))  # the columns of the numbers grid


class TripletsPane(MatrixPart, QWidget):
    """Three slots, distances / loss / threshold, raw vs aligned, and the distance matrix."""

    message = Signal(str)
    openFace = Signal(str, int)  # photo path, face index: show it in Photos / Crops / ...

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.ref = None  # the face selected in the Photos pane (FaceRef)
        self._items: list = []  # the Photos pane's PhotoItems
        self._faces: list[FaceRef] | None = []
        self.slots: dict[str, FaceRef | None] = dict.fromkeys(SLOTS)
        self.cache: dict[tuple, embeddings.FaceEmbedding] = {}  # FaceRef.key -> this embedder's
        self.numbers: dict[str, dict[str, float]] = {}
        self.matrix_faces: list[embeddings.FaceEmbedding] = []  # in heat-map order
        self.matrix = np.zeros((0, 0))
        self._embedded: tuple = ()  # the matrix's faces, embedded, before ordering
        self._matrix_dirty = True
        self._pending: list[tuple[str, str, int]] = []  # put_path: (slot, path, face index)

        split = self.split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self._build_triplet())
        split.addWidget(self._build_matrix())
        split.setChildrenCollapsible(False)
        split.setStretchFactor(1, 1)
        self._user_split = False
        split.splitterMoved.connect(lambda *_: setattr(self, "_user_split", True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(split)

        self.slot_worker = WorkerSlot(ctx.pool, "compute", "triplet-slots", self)
        self.slot_worker.result.connect(self._on_embedded)
        self.slot_worker.error.connect(self._on_error)
        self.matrix_worker = WorkerSlot(ctx.pool, "compute", "triplet-matrix", self)
        self.matrix_worker.result.connect(self._on_matrix_embedded)
        self.matrix_worker.progress.connect(self._on_matrix_progress)
        self.matrix_worker.error.connect(self._on_error)
        self.order_worker = WorkerSlot(ctx.pool, "io", "triplet-order", self)
        self.order_worker.result.connect(self._on_ordered)
        self.order_worker.error.connect(self._on_error)
        self._matrix_timer = QTimer(self)
        self._matrix_timer.setSingleShot(True)
        self._matrix_timer.setInterval(600)  # photos arrive one by one: embed once they settle
        self._matrix_timer.timeout.connect(self.request_matrix)
        self.embedder.currentIndexChanged.connect(self._on_embedder)
        self.metric_box.currentIndexChanged.connect(self._on_metric)
        self.matrix_crop.currentIndexChanged.connect(lambda _i: self._draw_matrix())
        self.alpha.valueChanged.connect(self._update_numbers)
        self.tau.valueChanged.connect(self._update_numbers)
        self.tau.valueChanged.connect(lambda _v: self.heat.set_threshold(self.threshold))
        ctx.cardsChanged.connect(self._on_cards)
        ctx.backendChanged.connect(lambda _info: self._on_embedder())
        fill_embedders(self.embedder, ctx.cards, None)
        self._reset_tau()

    def _build_triplet(self) -> QWidget:
        self.embedder, self.metric_box = QComboBox(), QComboBox()  # not "metric": a QWidget virtual
        self.embedder.setToolTip("Which face embedder's distances to show")
        for m, name in METRIC_NAMES.items():
            self.metric_box.addItem(name, m)
        top = QHBoxLayout()
        for w in (QLabel("Embedder:"), self.embedder, QLabel("Distance:"), self.metric_box,
                  QLabel(" Selected face →")):
            top.addWidget(w, 1 if w is self.embedder else 0)
        self.put_buttons = {}
        for key in SLOTS:
            b = self.put_buttons[key] = QPushButton(key)
            b.setToolTip(f"Put the face selected in the Photos pane into {SLOTS[key]}")
            b.setFixedWidth(34)
            b.clicked.connect(lambda _=False, k=key: self.put_selected(k))
            top.addWidget(b)
        self.slot_views = {k: FaceSlot(k) for k in SLOTS}
        slots_row = QHBoxLayout()
        for view in self.slot_views.values():
            view.dropped.connect(self._on_dropped)
            view.opened.connect(self._open_slot)
            slots_row.addWidget(view, 1)

        grid = QGridLayout()  # one row per crop, so raw vs aligned reads down a column
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(2)
        self.cells: dict[tuple[str, str], QLabel] = {}
        for c, (key, text) in enumerate(ROWS, start=1):
            grid.addWidget(QLabel(f"<b>{text}</b>"), 0, c)
            for r, crop in enumerate(("aligned", "raw"), start=1):
                cell = self.cells[(key, crop)] = QLabel("–")
                cell.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                grid.addWidget(cell, r, c)
        grid.addWidget(QLabel("aligned crop"), 1, 0)
        grid.addWidget(QLabel("raw box crop"), 2, 0)
        grid.setColumnStretch(len(ROWS) + 1, 1)
        self.alpha = QSlider(Qt.Orientation.Horizontal)
        self.tau = QSlider(Qt.Orientation.Horizontal)
        self.alpha.setRange(0, 100)
        self.alpha.setValue(round(DEFAULT_MARGIN * 100))
        self.alpha.setToolTip("Margin α of the triplet loss max(d(A,P) − d(A,N) + α, 0)")
        self.tau.setRange(0, 1000)
        self.tau.setToolTip("Verification threshold τ: distance < τ means 'same person'")
        self.alpha_label, self.tau_label = QLabel(), QLabel()
        sliders = QHBoxLayout()
        for name, slider, label in (("margin α", self.alpha, self.alpha_label),
                                    ("threshold τ", self.tau, self.tau_label)):
            label.setMinimumWidth(40)
            for w in (QLabel(name), slider, label):
                sliders.addWidget(w, 1 if w is slider else 0)
        self.formula = muted()
        self.formula.setToolTip(
            "Easy triplets have zero loss; semi-hard ones put the negative inside the margin; "
            "hard ones put it closer than the positive. τ decides 'same person' (d < τ). "
            "Compare the rows to see what alignment does to the distances.")

        upper = QWidget()
        ul = QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 4, 0)
        ul.setSpacing(4)
        for part in (top, slots_row, grid, sliders):
            ul.addLayout(part)
        ul.addWidget(self.formula)
        self.looks = PairLooks(self.ctx)  # similarity saliency of A–P and A–N (issue 19)
        ul.addWidget(self.looks)
        self._upper = upper
        scroll = QScrollArea()  # a short dock scrolls the slots instead of squashing them
        scroll.setWidget(upper)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(90)
        return scroll

    # --------------------------------------------------------------------------- state
    @property
    def model_id(self) -> str | None:
        return self.embedder.currentData()

    @property
    def metric_id(self) -> str:
        return self.metric_box.currentData()

    @property
    def margin(self) -> float:
        return self.alpha.value() / 100

    @property
    def threshold(self) -> float:
        return self.tau.value() / 1000 * METRIC_RANGE[self.metric_id]

    def set_threshold(self, value: float) -> None:
        self.tau.setValue(round(value / METRIC_RANGE[self.metric_id] * 1000))

    def set_margin(self, value: float) -> None:
        self.alpha.setValue(round(value * 100))

    def _reset_tau(self) -> None:
        self.set_threshold(default_threshold(self.model_id, self.metric_id))
        self._update_numbers()

    def embedding(self, slot: str, crop: str = "aligned") -> np.ndarray | None:
        """The embedding shown for a slot (None while it is empty or being computed)."""
        ref = self.slots[slot]
        fe = self.cache.get(ref.key) if ref is not None else None
        return None if fe is None else fe.embedding(crop)

    @property
    def faces(self) -> list[FaceRef]:
        """Every face of the loaded photos."""
        if self._faces is None:
            self._faces = [FaceRef(item.path, i, f, None, len(item.faces)) for item in self._items
                           if not item.error for i, f in enumerate(item.faces)]
        return self._faces

    # ---------------------------------------------------------------------------- input
    def set_face(self, ref) -> None:
        self.ref = ref
        for b in self.put_buttons.values():
            b.setEnabled(ref is not None)

    def set_photos(self, items) -> None:
        """The Photos pane's list changed: re-embed every face soon (if shown), and fill the
        slots :meth:`put_path` was waiting to fill."""
        self._items, self._faces, self._matrix_dirty = items, None, True
        self._matrix_timer.start()
        waiting, self._pending = self._pending, []
        for slot, path, index in waiting:
            self.put_path(slot, path, index)

    def put_path(self, slot: str, path, index: int) -> bool:
        """Put face ``index`` of photo ``path`` into ``slot``. False when that photo is not
        loaded yet: the slot is filled as soon as it is (open it in the Photos pane)."""
        ref = self.find_face(str(path), int(index))
        if ref is None:
            self._pending = [w for w in self._pending if w[0] != slot]
            self._pending.append((slot, str(path), int(index)))
            self.slots[slot] = None
            self.slot_views[slot].clear(f"loading {Path(path).name}…")
            return False
        self.put_face(slot, ref)
        return True

    def _open_slot(self, slot: str) -> None:
        ref = self.slots.get(slot)
        if ref is not None:
            self.openFace.emit(str(ref.path), int(ref.index))

    def put_selected(self, slot: str) -> None:
        if self.ref is None:
            self.message.emit("Select a face in the Photos pane first.")
            return
        r = self.ref
        self.put_face(slot, r)

    def put_face(self, slot: str, ref: FaceRef) -> None:
        self.slots[slot] = ref
        self._request_slots()

    def find_face(self, path: str, index: int) -> FaceRef | None:
        """A loaded face by photo path and face index (what a face drag carries)."""
        return next((f for f in self.faces if str(f.path) == str(path) and f.index == index),
                    None)

    def _on_dropped(self, slot: str, path: str, index: int) -> None:
        ref = self.find_face(path, index)
        if ref is None:
            self.message.emit("Triplets: that face is not among the loaded photos any more.")
            return
        if self.ref is not None and str(self.ref.path) == str(path) and self.ref.index == index:
            ref = ref.with_photo(self.ref.photo)  # pixels at hand
        self.put_face(slot, ref)

    def _on_cards(self, cards) -> None:
        before = self.model_id
        fill_embedders(self.embedder, cards, before)
        if self.model_id != before:
            self._on_embedder()

    def _on_embedder(self, *_args) -> None:
        self.cache.clear()
        self._reset_tau()
        self._request_slots()
        self._matrix_dirty = True
        self.request_matrix()

    def _on_metric(self, _index: int) -> None:
        self._reset_tau()
        self._draw_matrix()

    # ----------------------------------------------------------------------------- work
    def _request_slots(self) -> None:
        missing = [r for r in self.slots.values() if r is not None and r.key not in self.cache]
        self._show_slots()
        if not missing:
            self._update_numbers()
        elif self.ctx.backend is not None and self.model_id:
            self.slot_worker.submit(embeddings.embed_faces, self.ctx.backend, missing,
                                    self.model_id)
        self.looks.request(self.ctx.backend, self.slots, self.model_id)  # after the numbers

    def _fit_split(self) -> None:
        """Slots and numbers at their whole height, the rest for the heat map, until the user
        drags the splitter."""
        h = self.split.height()
        if self._user_split or not on_screen(self) or h < 200:
            return
        top = min(self._upper.sizeHint().height() + 4, h - 130)
        if abs(self.split.sizes()[0] - top) > 2:
            self.split.setSizes([top, h - top])

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_split()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.shown_again()

    def shown_again(self) -> None:
        """Now on screen (shown, or its dock tab raised): catch up on deferred work."""
        QTimer.singleShot(0, self._fit_split)
        if self._matrix_dirty:
            QTimer.singleShot(0, self.request_matrix)

    def _remember(self, embs) -> None:
        self.cache.update({fe.key: fe for fe in embs
                           if fe is not None and fe.model_id == self.model_id})

    def _on_embedded(self, embs) -> None:
        self._remember(embs)
        self._show_slots()
        self._update_numbers()

    def _on_error(self, message: str) -> None:
        self.matrix_status.setText(message)
        self.message.emit(f"Triplets: {message}")

    # ---------------------------------------------------------------------------- views
    def _show_slots(self) -> None:
        for key, view in self.slot_views.items():
            ref = self.slots[key]
            fe = self.cache.get(ref.key) if ref is not None else None
            if fe is not None:
                view.show_face(fe)
            elif not any(w[0] == key for w in self._pending):
                view.clear("drop a face here" if ref is None else "embedding…")

    def _update_numbers(self, *_args) -> None:
        metric, alpha, tau = self.metric_id, self.margin, self.threshold
        self.alpha_label.setText(f"{alpha:.2f}")
        self.tau_label.setText(f"{tau:.3f}")
        self.numbers = {}
        for crop in ("aligned", "raw"):
            a, p, n = (self.embedding(k, crop) for k in SLOTS)
            nums: dict[str, float] = {}
            if a is not None and p is not None:
                nums["ap"] = float(triplets.distance(a, p, metric))
            if a is not None and n is not None:
                nums["an"] = float(triplets.distance(a, n, metric))
            if len(nums) == 2:
                nums["loss"] = float(triplets.triplet_loss(a, p, n, alpha, metric))
            self.numbers[crop] = nums
            self._show_column(crop, nums, alpha, tau)
        self.formula.setText(f"loss = max(d(A,P) − d(A,N) + α, 0), {METRIC_NAMES[metric]} "
                             "distance; 'same person' when d < τ")

    def _show_column(self, crop: str, nums: dict, alpha: float, tau: float) -> None:
        def put(key: str, text: str) -> None:
            self.cells[(key, crop)].setText(text)

        for key in ("ap", "an", "loss"):
            put(key, f"{nums[key]:.3f}" if key in nums else "–")
        ap, an = nums.get("ap"), nums.get("an")
        if ap is not None and an is not None:  # FaceNet's names for the three cases
            kind = "hard" if an < ap else "semi-hard" if an < ap + alpha else "easy"
            put("loss", f"{nums['loss']:.3f} ({kind})")
        for key, d, want_same in (("ap_ok", ap, True), ("an_ok", an, False)):
            if d is None:
                put(key, "–")
                continue
            ok = (d < tau) == want_same
            put(key, f"<span style='color:{theme.BOX if ok else theme.ERROR}'>"
                     f"{'same' if d < tau else 'different'} {'✓' if ok else '✗'}</span>")

__all__ = ["FaceList", "FaceSlot", "MAX_MATRIX", "TripletsPane"]
