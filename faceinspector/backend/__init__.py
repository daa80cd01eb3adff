"""FaceInspector's Qt-free backend: numpy + torch only.

The GUI and the CLI use the :class:`Backend` facade and the result types below; nothing here
imports Qt (``tests/backend/test_no_qt.py`` proves it).
"""

from .assets import AssetError
from .facade import Backend, demo_photo_paths
from .images import ImageError
from .types import LANDMARK_NAMES, Crop, Detection, Face, Photo

__all__ = [
    "AssetError", "Backend", "Crop", "Detection", "Face", "ImageError", "LANDMARK_NAMES", "Photo",
    "demo_photo_paths",
]
