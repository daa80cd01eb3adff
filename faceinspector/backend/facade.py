"""The one object the GUI and the CLI talk to.

It owns the torch device, the lazily loaded detector (and, later, the models) and a lock, so
worker threads can share it. Everything it returns is a numpy array or a frozen dataclass.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import torch

from . import align, images
from .detect import MTCNNDetector, pick_device
from .types import Crop, Detection, Face, Photo


class Backend:
    """Photo -> faces -> crops, on CPU or CUDA.

    Parameters
    ----------
    device : "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
        ``$FACEINSPECTOR_DEVICE`` overrides "auto".
    detect_max_side : see :class:`~faceinspector.backend.detect.MTCNNDetector`.
    """

    def __init__(self, device: str | None = "auto", detect_max_side: int = 1024):
        if device in (None, "auto"):
            device = os.environ.get("FACEINSPECTOR_DEVICE", "auto")
        self.device: torch.device = pick_device(device)
        self.detect_max_side = detect_max_side
        self._lock = threading.RLock()
        self._detector: MTCNNDetector | None = None

    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            return f"CUDA ({torch.cuda.get_device_name(self.device)})"
        return f"CPU ({torch.get_num_threads()} threads)"

    @property
    def detector(self) -> MTCNNDetector:
        with self._lock:
            if self._detector is None:
                self._detector = MTCNNDetector(self.device, max_side=self.detect_max_side)
            return self._detector

    # ------------------------------------------------------------------------------ photos

    @staticmethod
    def load_photo(src: str | os.PathLike | bytes) -> Photo:
        return images.load_photo(src)

    @staticmethod
    def iter_photos(paths, recursive: bool = True):
        return images.iter_photos(paths, recursive=recursive)

    def detect(self, photo: Photo | np.ndarray) -> Detection:
        pixels = photo.pixels if isinstance(photo, Photo) else photo
        return self.detector.detect(pixels)

    # ------------------------------------------------------------------------------- crops

    @staticmethod
    def templates() -> list[str]:
        return list(align.TEMPLATES)

    def crop(self, photo: Photo | np.ndarray, face: Face, template: str = "dlib-chip",
             size: tuple[int, int] | None = None, padding: float | None = None,
             border: str = "reflect") -> Crop:
        pixels = photo.pixels if isinstance(photo, Photo) else photo
        return align.make_crop(pixels, face, align.get_template(template), size=size,
                               padding=padding, border=border)

    def crops(self, photo: Photo | np.ndarray, face: Face, templates=None) -> dict[str, Crop]:
        """The same face under several templates (default: all of them)."""
        return {t: self.crop(photo, face, t) for t in (templates or self.templates())}


def demo_photo_paths() -> list[Path]:
    from . import assets

    return assets.demo_photos()
