"""FaceInspector's Qt-free backend: numpy + torch only.

The GUI and the CLI use the :class:`Backend` facade and the result types below; nothing here
imports Qt (``tests/backend/test_no_qt.py`` proves it). Names are resolved lazily (PEP 562), so
``from faceinspector.backend.types import Face`` does not import torch: the app shows its window
first and loads torch in a worker thread.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AssetError": "assets",
    "Backend": "facade",
    "demo_photo_paths": "facade",
    "ImageError": "images",
    "Crop": "types",
    "Detection": "types",
    "Face": "types",
    "LANDMARK_NAMES": "types",
    "Photo": "types",
    "Prediction": "types",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
