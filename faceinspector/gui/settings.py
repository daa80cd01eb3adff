"""User preferences in one typed place, and the QSettings keys the window remembers.

Window geometry and dock state are stored with :data:`LAYOUT_VERSION`; bump it when the docks
change so an old layout is ignored instead of restored wrongly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from PySide6.QtCore import QSettings

ORGANIZATION = "FaceInspector"
APPLICATION = "FaceInspector"
LAYOUT_VERSION = 1
MAX_RECENT = 8

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Preferences:
    """What the Preferences dialog edits.

    device : "auto" (CUDA when available), "cpu" or "cuda".
    detect_max_side : longest side, in pixels, of the copy MTCNN's first stages run on.
    """

    device: str = "auto"
    detect_max_side: int = 1024

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
        return out

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
