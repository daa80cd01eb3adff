"""The main window: dockable panes, menus, toolbar, status bar; wires the panes together.

No torch here: the backend is created on the compute lane after the window is first painted
(:meth:`MainWindow.start_backend`), and every later backend call goes through a worker.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QDockWidget, QFrame, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QScrollArea, QStyle, QToolButton,
                               QWidget)

from . import jobs, settings
from .context import AppContext
from .file_actions import FileActions
from .focus_ring import FocusRing
from .navigation import Navigation
from .preferences import PreferencesDialog
from .panes.crops import CropsPane
from .panes.evaluate import EvaluatePane
from .panes.gallery import GalleryPane
from .panes.mismatch import MismatchPane
from .panes.morph import MorphPane
from .panes.photos import PhotosPane
from .panes.predictions import PredictionsPane
from .panes.probe import ProbePane
from .panes.triplets import TripletsPane
from .panes.verification import VerificationPane
from .workers import Progress, WorkerPool, WorkerSlot, close_all_pools

DEFAULT_SIZE = QSize(1400, 900)
FETCH = "faceinspector models fetch"


class MainWindow(FileActions, Navigation, QMainWindow):
    """Photos | Crops / Predictions (+ Probe, Triplets, Verification, Gallery, Morph) as docks.

    Parameters
    ----------
    paths : photos/folders to open; None opens the bundled demo photos.
    backend : an existing backend facade (tests share one); None creates one in a worker.
    """

    firstPainted = Signal(float)  # time.perf_counter() of the first paint
    backendReady = Signal(object)

    def __init__(self, paths=None, backend=None, prefs: settings.Preferences | None = None,
                 restore_layout: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("FaceInspector")
        self.first_paint_at: float | None = None
        self._initial_paths = None if paths is None else [Path(p) for p in paths]
        self._given_backend = backend
        self.pool = WorkerPool(self)
        self.ctx = AppContext(self.pool, prefs or settings.Preferences.load(), self)
        self.backend_slot = WorkerSlot(self.pool, "compute", "backend", self)
        self.backend_slot.result.connect(self._on_backend)
        self.backend_slot.error.connect(self._on_backend_error)
        # start-up, second step: torch and the models, after the first face (issue 18)
        self.models_slot = WorkerSlot(self.pool, "compute", "models", self)
        self.models_slot.progress.connect(self._on_models_progress)
        self.models_slot.result.connect(self.ctx.set_cards)
        self.models_slot.error.connect(lambda m: self.models_label.setText("Models: failed"))
        self._models_warmed: object = None  # the backend whose models are loading / loaded
        self.template_slot = WorkerSlot(self.pool, "io", "template", self)
        self.template_slot.result.connect(self._on_template_loaded)
        self.template_slot.error.connect(
            lambda m: QMessageBox.warning(self, "Load alignment template", m))
        self.problem_box: QMessageBox | None = None
        self._shutdown_done = False
        #: seconds closing waits for the lanes (None: workers.shutdown_budget_s())
        self.shutdown_budget_s: float | None = None

        self.photos = PhotosPane(self.ctx)
        self.crops = CropsPane(self.ctx)
        self.predictions = PredictionsPane(self.ctx)
        self.probe = ProbePane(self.ctx)
        self.triplets = TripletsPane(self.ctx)
        self.verification = VerificationPane(self.ctx)
        self.gallery = GalleryPane(self.ctx)
        self.morph = MorphPane(self.ctx)
        self.mismatch = MismatchPane(self.ctx)
        self.evaluate = EvaluatePane(self.ctx)
        self._build_docks()
        self._build_actions()
        self._build_status()
        self._wire()
        self.resize(DEFAULT_SIZE)
        self._default_state = self.saveState(settings.LAYOUT_VERSION)  # View ▸ Reset layout
        self.focus_ring = FocusRing(self)
        if restore_layout:
            self._restore_layout()

    # -------------------------------------------------------------------------- layout
    def _dock(self, title: str, widget: QWidget, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")
        # a pane squeezed below its minimum scrolls instead of growing the window: the
        # window's minimum stays within 1280x720 whatever the panes need (issue 18)
        scroll = QScrollArea()
        scroll.setObjectName(f"scroll-{name}")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setWidget(widget)
        dock.setWidget(scroll)
        dock.pane = widget
        dock.visibilityChanged.connect(lambda shown, w=widget: self._dock_shown(w, shown))
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        return dock

    @staticmethod
    def _dock_shown(pane: QWidget, shown: bool) -> None:
        """A dock was shown or hidden, or its tab raised or lowered: panes that defer work
        while hidden (see :func:`~faceinspector.gui.widgets.on_screen`) catch up."""
        pane.dock_shown = shown
        if shown and hasattr(pane, "shown_again"):
            QTimer.singleShot(0, pane.shown_again)

    def _build_docks(self) -> None:
        self.setDockNestingEnabled(True)
        self.setCentralWidget(None)
        self.docks = {
            "photos": self._dock("Photos", self.photos, "photos"),
            "crops": self._dock("Crops", self.crops, "crops"),
            "predictions": self._dock("Predictions", self.predictions, "predictions"),
            "probe": self._dock("Probe", self.probe, "probe"),
            "triplets": self._dock("Triplets", self.triplets, "triplets"),
            "verification": self._dock("Verification", self.verification, "verification"),
            "gallery": self._dock("Gallery", self.gallery, "gallery"),
            "morph": self._dock("Morph", self.morph, "morph"),
            "mismatch": self._dock("Mismatch", self.mismatch, "mismatch"),
            "evaluate": self._dock("Evaluate", self.evaluate, "evaluate"),
        }
        d = self.docks
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d["photos"])
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, d["crops"])
        self.splitDockWidget(d["crops"], d["predictions"], Qt.Orientation.Vertical)
        for name in ("triplets", "verification", "gallery", "morph"):
            self.tabifyDockWidget(d["predictions"], d[name])
        d["predictions"].raise_()
        # the probe's plots need room: a tab beside Photos (faces can still be stepped with
        # N / P), so Crops and Predictions stay in view while probing
        self.tabifyDockWidget(d["photos"], d["probe"])
        self.tabifyDockWidget(d["probe"], d["mismatch"])  # a data-set view: room, like Probe
        self.tabifyDockWidget(d["mismatch"], d["evaluate"])  # a data-set view too
        d["photos"].raise_()
        self.resizeDocks([d["photos"], d["crops"]], [750, 650], Qt.Orientation.Horizontal)
        self.resizeDocks([d["crops"], d["predictions"]], [345, 495], Qt.Orientation.Vertical)

    def _action(self, text: str, slot, shortcut=None, tip: str = "", icon=None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            act.setShortcuts([QKeySequence(k) for k in keys])
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(tip)
        if icon is not None:
            act.setIcon(self.style().standardIcon(icon))
        act.triggered.connect(slot)
        return act

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.act_open = self._action("&Open photos…", self.open_files_dialog, QKeySequence.Open,
                                     "Open photo files (Ctrl+O)", sp.SP_DialogOpenButton)
        self.act_open_folder = self._action("Open &folder…", self.open_folder_dialog,
                                            "Ctrl+Shift+O", "Open a folder of photos "
                                            "(Ctrl+Shift+O)", sp.SP_DirOpenIcon)
        self.act_remove = self._action("&Remove photo", self.photos.remove_current,
                                       QKeySequence.Delete, "Remove the selected photo (Del)",
                                       sp.SP_TrashIcon)
        self.act_next = self._action("&Next face", lambda: self.photos.step_face(1),
                                     ["N", "PgDown"], "Next face (N / PgDn)", sp.SP_ArrowForward)
        self.act_prev = self._action("&Previous face", lambda: self.photos.step_face(-1),
                                     ["P", "PgUp"], "Previous face (P / PgUp)", sp.SP_ArrowBack)
        self.act_export_crops = self._action("Export crops as &PNG…", self.export_crops,
                                             "Ctrl+E", "Save the current raw and aligned crops")
        self.act_export_preds = self._action("Export predictions as &CSV…",
                                             self.export_predictions, "Ctrl+Shift+E",
                                             "Save the current predictions as CSV")
        self.act_template = self._action("Load alignment &template…", self.load_template_dialog,
                                         tip="Add a template file (e.g. one the Mismatch pane "
                                             "learned) to the Crops and Probe template choices")
        self.act_prefs = self._action("Pre&ferences…", self.preferences_dialog,
                                      QKeySequence.Preferences)
        self.act_quit = self._action("&Quit", self.close, QKeySequence.Quit)
        self.act_cancel = self._action("&Cancel loading", self.photos.cancel_load, "Esc",
                                       "Stop loading photos (Esc)", sp.SP_BrowserStop)
        self.act_about = self._action("&About FaceInspector", self.about_dialog)
        self.act_fit = self._action("&Fit photo to view", self.photos.view.fit, "Ctrl+0")

        menu = self.menuBar().addMenu("&File")
        for act in (self.act_open, self.act_open_folder):
            menu.addAction(act)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        menu.addSeparator()
        menu.addAction(self.act_export_crops)
        menu.addAction(self.act_export_preds)
        menu.addAction(self.act_template)
        menu.addSeparator()
        menu.addAction(self.act_prefs)
        menu.addSeparator()
        menu.addAction(self.act_quit)
        menu = self.menuBar().addMenu("&Edit")
        menu.addAction(self.act_remove)
        menu.addAction(self.act_cancel)
        menu = self.menuBar().addMenu("&View")
        for act in (self.act_next, self.act_prev, self.act_fit):
            menu.addAction(act)
        menu.addSeparator()
        panes = menu.addMenu("&Panes")
        for dock in self.docks.values():
            panes.addAction(dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        self._add_navigation(menu, help_menu)  # Go to pane, Reset layout, Guide
        help_menu.addAction(self.act_about)

        bar = self.addToolBar("Main")
        bar.setObjectName("toolbar-main")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.setIconSize(QSize(18, 18))
        for act in (self.act_open, self.act_open_folder, self.act_remove, None, self.act_prev,
                    self.act_next):
            bar.addSeparator() if act is None else bar.addAction(act)
        self.act_open.setIconText("Open")
        self.act_open_folder.setIconText("Folder")
        self.act_remove.setIconText("Remove")
        self.act_prev.setIconText("Prev face")
        self.act_next.setIconText("Next face")

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.device_label = QLabel("Device: starting…")
        self.models_label = QLabel("Models: loading…")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(180)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QToolButton()
        self.cancel_button.setDefaultAction(self.act_cancel)
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.cancel_button.setText("Cancel")
        self.cancel_button.hide()
        self.busy_label = QLabel()
        for w in (self.busy_label, self.progress, self.cancel_button, self.models_label,
                  self.device_label):
            bar.addPermanentWidget(w)

    def _wire(self) -> None:
        p, c, pr = self.photos, self.crops, self.predictions
        p.faceSelected.connect(c.set_face)
        p.faceSelected.connect(pr.set_face)
        p.faceSelected.connect(self.probe.set_face)
        self.probe.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        c.templateChanged.connect(pr.set_template)
        pr.modelActivated.connect(c.set_model)
        c.modelChanged.connect(pr.highlight)  # "As seen by": outline that model's card
        self.ctx.cardsChanged.connect(lambda _cards: pr.highlight(c.model_id))
        p.loadProgress.connect(self._on_progress)
        p.loadBusyChanged.connect(self._on_load_busy)
        for pane in (p, pr):
            pane.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        pr.busyChanged.connect(lambda b: self.busy_label.setText("predicting…" if b else ""))
        self.ctx.cardsChanged.connect(self._on_cards)
        p.faceSelected.connect(self.morph.set_face)
        for pane in (self.verification, self.gallery, self.triplets, self.mismatch,
                     self.evaluate):
            self.link_faces(pane)
        self.mismatch.templateLearned.connect(self.ctx.add_template_file)
        self.mismatch.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.evaluate.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.morph.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self._wire_embeddings()

    def _wire_embeddings(self) -> None:
        """Triplets and Gallery follow the selected face and every loaded photo's faces."""
        p = self.photos
        for pane in (self.triplets, self.gallery):
            p.faceSelected.connect(pane.set_face)
            for signal in (p.model.rowsInserted, p.model.rowsRemoved):
                signal.connect(lambda *_, pane=pane: pane.set_photos(p.model.items))
        for pane in (self.triplets, self.verification, self.gallery):
            pane.message.connect(lambda m: self.statusBar().showMessage(m, 8000))

    # ------------------------------------------------------------------------ startup
    def event(self, event) -> bool:
        if event.type() == QEvent.Type.Paint and self.first_paint_at is None:
            self.first_paint_at = time.perf_counter()
            self.firstPainted.emit(self.first_paint_at)
            QTimer.singleShot(0, self.start_backend)
        return super().event(event)

    def start_backend(self) -> None:
        """Create (or describe) the backend on the compute lane; called after the first paint."""
        if self.ctx.info is not None or self.backend_slot.busy or self.pool.closed:
            return
        want_demo = self._initial_paths is None
        self.statusBar().showMessage("Starting: loading the face detector…")
        if self._given_backend is not None:
            self.backend_slot.submit(jobs.describe_backend, self._given_backend, want_demo,
                                     warm=False)
        else:
            prefs = self.ctx.prefs
            self.backend_slot.submit(jobs.make_backend, prefs.device, prefs.detect_max_side,
                                     want_demo)

    def _on_backend(self, info: jobs.BackendInfo) -> None:
        first = self.ctx.info is None
        self.ctx.set_info(info)
        self.device_label.setText(f"Device: {info.device_name}")
        if info.problems:
            self._show_problems(info.problems)
        paths = None
        if first:
            paths = self._initial_paths if self._initial_paths is not None else info.demo_paths
            if paths:
                self.photos.open_paths(paths)
        if info.models_pending:
            self.models_label.setText("Models: after the first face…")
            if paths:  # the detector first: the models load once the first face is shown
                self.photos.faceSelected.connect(
                    lambda ref: ref is not None and self._warm_models())
                self.photos.load_slot.finished.connect(self._warm_models)
            else:
                self._warm_models()
        self.backendReady.emit(info)

    def _warm_models(self, *_args) -> None:
        """Start-up, second step: import torch, list and warm the models (compute lane)."""
        info = self.ctx.info
        if (info is None or not info.models_pending or self._models_warmed is info.backend
                or self.pool.closed):
            return
        self._models_warmed = info.backend
        self.models_label.setText("Models: loading…")
        self.models_slot.submit(jobs.warm_models, info.backend)

    def _on_models_progress(self, p: Progress) -> None:
        count = f" ({p.done}/{p.total})" if p.total else ""
        self.models_label.setText(f"Models: {p.text.rstrip('…')}{count}…"
                                  if p.done < p.total or not p.total else "Models: ready")

    def _on_backend_error(self, message: str) -> None:
        self.device_label.setText("Device: unavailable")
        self._show_problems([message])

    def _show_problems(self, problems) -> None:
        text = ("FaceInspector could not find some of its model packs, so detection or some "
                f"models will not work.\n\nRun\n\n    {FETCH}\n\nonce (it downloads and "
                "verifies the packs), then start FaceInspector again.")
        if not any(FETCH in p for p in problems):
            text = "FaceInspector could not start its backend."
        box = QMessageBox(QMessageBox.Icon.Warning, "FaceInspector: models missing", text,
                          QMessageBox.StandardButton.Ok, self)
        box.setDetailedText("\n\n".join(problems))
        box.setInformativeText(problems[0][:300])
        box.open()
        self.problem_box = box

    def _on_cards(self, cards) -> None:
        ok = [c for c in cards if c.available]
        self.models_label.setText(f"Models: {len(ok)} of {len(cards)} available")
        missing = [f"{c.id}: {c.reason}" for c in cards if not c.available]
        self.models_label.setToolTip("\n".join(missing) or "All models can be loaded.")

    def _on_progress(self, p: Progress) -> None:
        # never the indeterminate (busy) mode: its animation repaints constantly and slowly
        self.progress.setRange(0, max(p.total, p.done, 1))
        self.progress.setValue(p.done)
        self.progress.setFormat(f"{p.done}/{p.total} photos" if p.total else f"{p.done} photos")
        self.statusBar().showMessage(self.photos.progress_text(p), 3000)

    def _on_load_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("starting…")
        else:
            self.statusBar().clearMessage()

    # ------------------------------------------------------------------- navigation
    def show_face(self, path: str, face: int = 0) -> None:
        """Show face ``face`` of photo ``path`` in the Photos, Crops and Predictions panes
        (opening the photo first if needed): one click from a result to the face behind it."""
        self.photos.show_photo(path, face)
        self.docks["photos"].raise_()
        self.docks["crops"].raise_()
        self.docks["predictions"].raise_()

    # ------------------------------------------------------------------------ dialogs
    def preferences_dialog(self) -> None:
        dlg = PreferencesDialog(self.ctx.prefs, self, self.pool)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.apply_preferences(dlg.value())
        dlg.deleteLater()

    def apply_preferences(self, prefs: settings.Preferences) -> None:
        restart = prefs.restart_needed(self.ctx.prefs)  # not for the data folders
        self.ctx.prefs = prefs
        prefs.save()
        self.ctx.prefsChanged.emit(prefs)
        if restart and not self.pool.closed:
            self.device_label.setText("Device: restarting…")
            self._given_backend = None
            self.backend_slot.submit(jobs.make_backend, prefs.device, prefs.detect_max_side,
                                     self.ctx.info is None and self._initial_paths is None)

    def about_text(self) -> str:
        from ..backend import assets

        rows = []
        for pack in assets.manifest()["packs"].values():
            rows.append(f"<li><b>{pack['title']}</b><br>licence: {pack['license']} — "
                        f"{pack.get('credit', '')}</li>")
        return ("<h3>FaceInspector</h3><p>Shows why a face model gets a photo wrong: the crop "
                "it sees (raw box vs aligned), its predictions side by side, and how they move."
                "</p><p>Model packs and their licences:</p><ul>" + "".join(rows) + "</ul>")

    def about_dialog(self) -> None:
        QMessageBox.about(self, "About FaceInspector", self.about_text())

    # ------------------------------------------------------------------- persistence
    def _restore_layout(self) -> None:
        s = QSettings()
        if int(s.value("layout/version", 0) or 0) != settings.LAYOUT_VERSION:
            return
        geometry, state = s.value("layout/geometry"), s.value("layout/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state, settings.LAYOUT_VERSION)

    def save_layout(self) -> None:
        s = QSettings()
        s.setValue("layout/version", settings.LAYOUT_VERSION)
        s.setValue("layout/geometry", self.saveGeometry())
        s.setValue("layout/state", self.saveState(settings.LAYOUT_VERSION))

    def shutdown(self) -> bool:
        """Cancel all work and stop the worker threads (idempotent): every pool's jobs are
        cancelled at once, then the lanes get one shared budget
        (:func:`~faceinspector.gui.workers.shutdown_budget_s`) to finish their step; a lane
        stuck in a step that cannot be interrupted is abandoned, never waited for longer (see
        :mod:`faceinspector.gui.workers`). False when one was."""
        if self._shutdown_done:
            return True
        self._shutdown_done = True
        close_all_pools(self, self.shutdown_budget_s)
        trained = self.morph.shutdown()  # the Morph pane's training lane
        trained = self.mismatch.shutdown() and trained  # the Mismatch pane's scan lane
        trained = self.evaluate.shutdown() and trained  # the Evaluate pane's lane
        return self.pool.shutdown() and trained

    def closeEvent(self, event) -> None:
        self.save_layout()
        self.hide()
        self.shutdown()
        super().closeEvent(event)
