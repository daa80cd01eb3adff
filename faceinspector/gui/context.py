"""What every pane receives in ``__init__``: the worker pool, the preferences and the backend.

The backend facade imports torch, so it is created on the compute lane after the window is
shown; until then :attr:`AppContext.backend` is None and panes show a "loading" state.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from .settings import Preferences
from .workers import WorkerPool


class AppContext(QObject):
    """Shared state: the pool all panes submit to, and the backend once it is up."""

    backendChanged = Signal(object)  # jobs.BackendInfo
    cardsChanged = Signal(tuple)  # ModelCard, ...

    def __init__(self, pool: WorkerPool, prefs: Preferences | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.prefs = prefs or Preferences()
        self.info = None
        self.cards: tuple = ()

    @property
    def backend(self):
        return None if self.info is None else self.info.backend

    @property
    def templates(self) -> tuple[str, ...]:
        if self.info is None:
            return ("raw", "dlib-chip", "arcface-112", "celeba")
        return self.info.templates

    def set_info(self, info) -> None:
        self.info = info
        self.backendChanged.emit(info)
        self.set_cards(info.cards)

    def set_cards(self, cards) -> None:
        self.cards = tuple(cards)
        self.cardsChanged.emit(self.cards)

    def card(self, model_id: str):
        return next((c for c in self.cards if c.id == model_id), None)
