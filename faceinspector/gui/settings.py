"""User preferences in one typed place, and the QSettings keys the window remembers.

Window geometry and dock state are stored with :data:`LAYOUT_VERSION`; bump it when the docks
change so an old layout is ignored instead of restored wrongly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from PySide6.QtCore import QSettings

ORGANIZATION = "FaceInspector"
APPLICATION = "FaceInspector"
LAYOUT_VERSION = 3  # 3: the Evaluate dock
MAX_RECENT = 8

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Preferences:
    """What the Preferences dialog edits.

    device : "auto" (CUDA when available), "cpu" or "cuda".
    detect_max_side : longest side, in pixels, of the copy MTCNN's first stages run on.
    celeba_dir, lfw_dir : the data-set folders (any layout ``backend.datasets`` accepts); ""
        means "where the environment says" (``$FACEINSPECTOR_CELEBA`` / ``$FACEINSPECTOR_LFW``
        / ``$FACEINSPECTOR_DATA``), see :meth:`data_folder`.
    """

    device: str = "auto"
    detect_max_side: int = 1024
    celeba_dir: str = ""
    lfw_dir: str = ""

    @classmethod
    def load(cls, settings: QSettings | None = None) -> Preferences:
        s = settings or QSettings()
        out = cls()
        for f in fields(cls):
            value = s.value(f"prefs/{f.name}", getattr(out, f.name))
            try:
                setattr(out, f.name, type(getattr(out, f.name))(value))
            except (TypeError, ValueError):
                pass
        if out.device not in DEVICES:
            out.device = "auto"
        out.detect_max_side = min(max(out.detect_max_side, 160), 8192)
        out.celeba_dir, out.lfw_dir = out.celeba_dir.strip(), out.lfw_dir.strip()
        return out

    def data_folder(self, name: str) -> str:
        """The folder of ``"celeba"`` or ``"lfw"``: the one chosen here, else the one the
        environment names, else "". Reads no file (safe on the GUI thread)."""
        from ..backend import datasets

        chosen = {"celeba": self.celeba_dir, "lfw": self.lfw_dir}[name]
        return chosen or str(datasets.configured(name) or "")

    def restart_needed(self, other: Preferences) -> bool:
        """True when going from ``other`` to these preferences needs a new backend."""
        return (self.device, self.detect_max_side) != (other.device, other.detect_max_side)

    def save(self, settings: QSettings | None = None) -> None:
        s = settings or QSettings()
        for key, value in asdict(self).items():
            s.setValue(f"prefs/{key}", value)


def recent_folders(settings: QSettings | None = None) -> list[str]:
    s = settings or QSettings()
    value = s.value("recent/folders", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or [])][:MAX_RECENT]


def add_recent_folder(path: str, settings: QSettings | None = None) -> list[str]:
    s = settings or QSettings()
    items = [path] + [p for p in recent_folders(s) if p != path]
    s.setValue("recent/folders", items[:MAX_RECENT])
    return items[:MAX_RECENT]
