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
    prefsChanged = Signal(object)  # settings.Preferences, after the Preferences dialog
    templatesChanged = Signal(tuple)  # the template keys (built-in names, template files)
    #: the one template choice Crops, Predictions and Probe share: None = each model's own
    #: template, else a template key forced on every model
    templateChanged = Signal(object)
    #: a pane asks the Crops pane to show where this model looks (a saliency map on its crops)
    showSaliency = Signal(str)

    def __init__(self, pool: WorkerPool, prefs: Preferences | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.prefs = prefs or Preferences()
        self.info = None
        self.cards: tuple = ()
        #: template files in use: path -> (name, description); their key is the path
        self.template_files: dict[str, tuple[str, str]] = {}
        self.template: str | None = None  # see templateChanged

    def set_template(self, template: str | None) -> None:
        """Force ``template`` on every model (None: each model's own); every pane follows."""
        if template != self.template:
            self.template = template
            self.templateChanged.emit(template)

    def owners_of(self, template: str | None) -> list[str]:
        """The models (with a chip) whose own template is ``template``."""
        return [c.id for c in self.cards if c.spec is not None
                and str(c.spec.template) == str(template)]

    def forced_note(self, template: str | None = None) -> str:
        """One line about a forced template ("" for each model's own), e.g. "arcface-112 is
        forced on every model: it is the own template of none of the 9 models"."""
        template = self.template if template is None else template
        if template is None:
            return ""
        with_spec = [c for c in self.cards if c.spec is not None]
        owners = self.owners_of(template)
        whose = ("none" if not owners else ", ".join(owners) if len(owners) <= 3
                 else f"{len(owners)}")
        return (f"{self.template_label(template)} is forced on every model: it is the own "
                f"template of {whose} of the {len(with_spec)} models, so the others see a crop "
                "they were not trained on")

    @property
    def backend(self):
        return None if self.info is None else self.info.backend

    @property
    def templates(self) -> tuple[str, ...]:
        """Template keys for the panes' template choices: the built-in names, then the paths
        of the template files added (learned by the Mismatch pane or loaded by the user)."""
        base = ("raw", "dlib-chip", "arcface-112", "celeba") if self.info is None \
            else self.info.templates
        return tuple(base) + tuple(self.template_files)

    def template_label(self, key: str) -> str:
        """What a template choice shows: the name, and for a file the file's name too."""
        if key in self.template_files:
            from pathlib import Path

            return f"{self.template_files[key][0]} ({Path(key).name})"
        return key

    def template_description(self, key: str) -> str:
        if key in self.template_files:
            return self.template_files[key][1]
        return self.info.descriptions.get(key, "") if self.info is not None else ""

    def add_template_file(self, path: str, name: str, description: str = "") -> None:
        """Offer a template file in every pane's template choice (its key is ``path``)."""
        self.template_files[str(path)] = (name, description)
        self.templatesChanged.emit(self.templates)

    def set_info(self, info) -> None:
        self.info = info
        self.backendChanged.emit(info)
        self.set_cards(info.cards)

    def set_cards(self, cards) -> None:
        self.cards = tuple(cards)
        self.cardsChanged.emit(self.cards)

    def card(self, model_id: str):
        return next((c for c in self.cards if c.id == model_id), None)
