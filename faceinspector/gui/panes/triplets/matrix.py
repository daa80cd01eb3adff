"""The Triplets pane's lower half: the distance matrix of every loaded face and the face list.

Every face of the loaded photos (up to :data:`MAX_MATRIX`, and the pane says when there are
more) is embedded on the compute lane; the distances and the similarity ordering are computed
on the io lane (numpy: ~40 ms for 1,000 faces, which the GUI thread never waits for), then
painted with QPainter (:class:`~...widgets.HeatMap`).

From a cell or a face: click a cell to compare that pair in A / P; double-click a cell or a
face to open it in Photos / Crops / Predictions; right-click for the rest (send to A / P / N,
open either face of a cell). Written as a mixin of :class:`.pane.TripletsPane` (its state is
the pane's: ``matrix_faces``, ``matrix``, ``heat``, ``faces_list``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListWidgetItem, QMenu,
                               QPushButton, QVBoxLayout, QWidget)

from ....backend import embeddings, triplets
from ....backend.types import FaceRef
from ... import convert
from ...face_links import HINT, SLOT_NAMES, FaceLinks, set_faces
from ...widgets import METRIC_NAMES, HeatMap, chip_pixmap, muted, on_screen
from .slots import FaceList

#: faces in the heat map; more are left out, and the pane says so
MAX_MATRIX = 1000


def order_faces(embs, crop: str, metric: str):
    """Worker job: the distance matrix of ``embs`` (their ``crop`` embeddings) under
    ``metric``, ordered so close faces sit together: ``(embs in order, matrix, crop,
    metric)``."""
    if not embs:
        return (), np.zeros((0, 0)), crop, metric
    emb = np.stack([fe.embedding(crop) for fe in embs])
    dist = triplets.distance_matrix(emb, metric)
    order = triplets.order_by_similarity(dist)
    return tuple(embs[i] for i in order), dist[np.ix_(order, order)], crop, metric


class MatrixPart:
    """Builds and drives the matrix half of the Triplets pane (a mixin)."""

    def _build_matrix(self) -> QWidget:
        self.faces_list = FaceList()
        self.face_links = FaceLinks(self.faces_list, self.openFace.emit, self._put_path_now)
        self.matrix_crop = QComboBox()
        self.matrix_crop.addItem("aligned crops", "aligned")
        self.matrix_crop.addItem("raw box crops", "raw")
        refresh = QPushButton("Refresh")
        refresh.setToolTip("Embed every face of the loaded photos again")
        refresh.clicked.connect(lambda: self.request_matrix(force=True))
        self.matrix_status = muted("Load photos to see every face's distances.")
        self.matrix_status.setWordWrap(False)
        self.matrix_status.setMinimumWidth(60)
        bar = QHBoxLayout()
        for w in (QLabel("<b>Distance matrix</b> of"), self.matrix_crop, self.matrix_status,
                  refresh):
            bar.addWidget(w, 1 if w is self.matrix_status else 0)
        self.heat = HeatMap()
        self.heat.set_text("The heat map appears here; click a cell to put that pair into "
                           "A / P.")
        self.heat.cellClicked.connect(self.click_cell)
        self.heat.cellDoubleClicked.connect(lambda row, _col: self.open_row(row))
        self.heat.cellMenuRequested.connect(self._cell_menu)
        self.cell_menu: QMenu | None = None
        body = QHBoxLayout()
        body.addWidget(self.heat, 1)
        body.addWidget(self.faces_list)
        lower = QWidget()
        ll = QVBoxLayout(lower)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(bar)
        ll.addLayout(body, 1)
        return lower

    def _loaded(self, row: int) -> FaceRef | None:
        if not 0 <= row < len(self.matrix_faces):
            return None
        key = self.matrix_faces[row].key
        return next((f for f in self.faces if f.key == key), None)

    def click_cell(self, row: int, col: int) -> None:
        """A heat-map cell (in display order): that pair goes into Anchor and Positive."""
        a, p = self._loaded(row), self._loaded(col)
        if a is not None and p is not None:
            self.slots["A"], self.slots["P"] = a, p
            self._request_slots()

    def open_row(self, row: int) -> None:
        """Open the face of matrix row ``row`` in Photos / Crops / Predictions."""
        if 0 <= row < len(self.matrix_faces):
            path, index, _box = self.matrix_faces[row].key
            self.openFace.emit(str(path), int(index))

    def _put_path_now(self, path: str, index: int, slot: str) -> None:
        self.put_path(slot, path, index)

    def build_cell_menu(self, row: int, col: int) -> QMenu:
        """The context menu of cell (row, col): compare, send either face, open either."""
        menu = QMenu(self.heat)
        a, b = self.matrix_faces[row], self.matrix_faces[col]
        act = menu.addAction(f"Compare {row + 1} and {col + 1} as A / P")
        act.triggered.connect(lambda: self.click_cell(row, col))
        act = menu.addAction(f"Put {row + 1} into A and {col + 1} into N")
        act.triggered.connect(lambda: self._put_rows({"A": row, "N": col}))
        menu.addSeparator()
        for k, fe in ((row, a), (col, b)) if row != col else ((row, a),):
            sub = menu.addMenu(f"Send {k + 1} · {fe.label} to Triplets")
            for slot, name in SLOT_NAMES.items():
                act = sub.addAction(f"{name} ({slot})")
                act.triggered.connect(lambda _=False, s=slot, r=k: self._put_rows({s: r}))
            act = menu.addAction(f"Open {k + 1} · {fe.label} in Photos")
            act.triggered.connect(lambda _=False, r=k: self.open_row(r))
        return menu

    def _cell_menu(self, row: int, col: int, global_pos) -> None:
        if row < len(self.matrix_faces) and col < len(self.matrix_faces):
            self.cell_menu = self.build_cell_menu(row, col)
            self.cell_menu.popup(global_pos)

    def _put_rows(self, rows: dict) -> None:
        for slot, row in rows.items():
            ref = self._loaded(row)
            if ref is not None:
                self.slots[slot] = ref
        self._request_slots()

    # ----------------------------------------------------------------------------- work
    def request_matrix(self, force: bool = False) -> None:
        """Embed every loaded face (when the pane is on screen, or ``force``)."""
        if not (force or (self._matrix_dirty and on_screen(self))):
            return
        if not self.faces:
            self.matrix_faces, self._embedded = [], ()
            self._draw_matrix()
            return
        if self.ctx.backend is None or not self.model_id:
            return
        self._matrix_dirty = False
        faces = self.faces[:MAX_MATRIX]
        self.matrix_status.setText(f"embedding {len(faces)} faces…")
        self.matrix_worker.submit(embeddings.embed_faces, self.ctx.backend, faces, self.model_id)

    @property
    def matrix_note(self) -> str:
        """What the matrix leaves out ("" when it shows every loaded face)."""
        n = len(self.faces)
        if n <= MAX_MATRIX:
            return ""
        return (f"showing the first {MAX_MATRIX} of {n} faces (the matrix's limit); "
                f"{n - MAX_MATRIX} left out")

    def _on_matrix_progress(self, p) -> None:
        if p.total:
            self.matrix_status.setText(f"embedding faces: {p.done}/{p.total} photos")

    def _on_matrix_embedded(self, embs) -> None:
        self._remember(embs)
        self._embedded = tuple(fe for fe in embs if fe is not None)
        self._request_slots()
        self._draw_matrix()

    def _draw_matrix(self) -> None:
        """Order the embedded faces for the chosen crop and distance (io lane)."""
        embs = getattr(self, "_embedded", ())
        if not embs:
            self.matrix_faces, self.matrix = [], np.zeros((0, 0))
            self.heat.set_text("Load photos to see every face's distances.")
            self._fill_face_list()
            return
        self.matrix_status.setText(f"ordering {len(embs)} faces…")
        self.order_worker.submit(order_faces, embs, self.matrix_crop.currentData(),
                                 self.metric_id)

    def _on_ordered(self, result) -> None:
        embs, matrix, crop, metric = result
        if (crop, metric) != (self.matrix_crop.currentData(), self.metric_id):
            return  # the choice changed meanwhile: a newer ordering is on its way
        self.matrix_faces, self.matrix = list(embs), matrix
        note = self.matrix_note
        self.matrix_status.setText(f"{len(embs)} faces; click a cell to compare a pair"
                                   + (f" · {note}" if note else ""))
        self.matrix_status.setToolTip(note)
        self._paint_matrix()
        self._fill_face_list()

    def _fill_face_list(self) -> None:
        self.faces_list.clear()
        self.faces_list.keys = [fe.key for fe in self.matrix_faces]
        for i, fe in enumerate(self.matrix_faces):
            icon = (convert.to_qpixmap(fe.thumb) if fe.thumb is not None
                    else chip_pixmap(fe.aligned.pixels, 36))
            item = QListWidgetItem(QIcon(icon), f"{i + 1} · {fe.label}")
            item.setToolTip(f"{fe.label}: drag onto a slot\n{HINT}")
            path, index, _box = fe.key
            set_faces(item, (fe.label, path, index))
            self.faces_list.addItem(item)

    def _paint_matrix(self) -> None:
        n = len(self.matrix_faces)
        more = f" (of {len(self.faces)})" if len(self.faces) > n else ""
        self.heat.set_matrix(self.matrix, [fe.label for fe in self.matrix_faces],
                             f"{n} faces{more}, close ones together · {self.model_id} · "
                             f"{self.matrix_crop.currentData()} crops",
                             METRIC_NAMES[self.metric_id], self.threshold)


__all__ = ["MAX_MATRIX", "MatrixPart", "order_faces"]
