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
from . import models as zoo
from .models.base import FaceModel, ModelOutput
from .types import Crop, Detection, Face, Photo, Prediction


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op CPU threads (None: ``$FACEINSPECTOR_THREADS`` if set, else leave
    torch's default); returns the number in use.

    Why it matters: on a small CPU that also runs other work, torch's one-thread-per-core
    default makes every op wait for its slowest thread (MTCNN measured 40 ms per face with 1
    thread vs 400-700 ms with 2 on a loaded 2-core machine).
    """
    if threads is None:
        env = os.environ.get("FACEINSPECTOR_THREADS", "").strip()
        threads = int(env) if env.isdigit() and int(env) > 0 else None
    if threads is not None and threads != torch.get_num_threads():
        torch.set_num_threads(max(1, int(threads)))
    return torch.get_num_threads()


def gui_threads() -> int:
    """Torch threads for the desktop app: one core is left for the window (GUI thread), so
    ``cores - 1``, at least 1; ``$FACEINSPECTOR_THREADS`` overrides."""
    env = os.environ.get("FACEINSPECTOR_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 2) - 1)


class Backend:
    """Photo -> faces -> crops, on CPU or CUDA.

    Parameters
    ----------
    device : "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
        ``$FACEINSPECTOR_DEVICE`` overrides "auto".
    threads : torch's CPU threads for everything this process runs (``torch.set_num_threads``);
        None: ``$FACEINSPECTOR_THREADS``, else torch's default (one per core). The GUI passes
        :func:`gui_threads` (one core left for the window).
    detect_max_side : see :class:`~faceinspector.backend.detect.MTCNNDetector`.
    """

    def __init__(self, device: str | None = "auto", detect_max_side: int = 1024,
                 threads: int | None = None):
        if device in (None, "auto"):
            device = os.environ.get("FACEINSPECTOR_DEVICE", "auto")
        set_threads(threads)
        self.device: torch.device = pick_device(device)
        self.detect_max_side = detect_max_side
        self._lock = threading.RLock()
        self._detector: MTCNNDetector | None = None
        self._models: dict[str, FaceModel] = {}
        self._user_models: dict[str, FaceModel] = {}

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

    # ------------------------------------------------------------------------------ models

    def model_cards(self) -> list[zoo.ModelCard]:
        """Every model the app knows (bundled and user-loaded), loadable or not, with reasons."""
        out = zoo.cards()
        for m in self._user_models.values():
            out.append(zoo.ModelCard(m.id, m.title, m.task, tuple(m.labels), m.spec, True))
        return out

    def model(self, model_id: str) -> FaceModel:
        """The loaded model (loads it on first use; raises AssetError/KeyError/ValueError)."""
        with self._lock:
            if model_id in self._user_models:
                return self._user_models[model_id]
            if model_id not in self._models:
                self._models[model_id] = zoo.load(model_id, device=self.device)
            return self._models[model_id]

    def add_model(self, model: FaceModel) -> str:
        """Register a model built elsewhere (a user's TorchScript/ONNX file, a demo model)."""
        with self._lock:
            model.to(self.device)
            self._user_models[model.id] = model
        return model.id

    def load_user_model(self, path, sidecar=None) -> str:
        """Load a TorchScript/ONNX classifier + JSON sidecar and register it; returns its id."""
        from .models.user import load_user_model

        return self.add_model(load_user_model(path, sidecar=sidecar, device=self.device))

    def model_crop(self, photo: Photo | np.ndarray, face: Face, model_id: str,
                   template=None, border: str = "reflect") -> Crop:
        """The crop ``model_id`` sees: its own chip, or ``template`` forced at the model's size
        (:func:`~faceinspector.backend.align.resolve_chip`)."""
        pixels = photo.pixels if isinstance(photo, Photo) else photo
        return align.resolve_chip(self.model(model_id).spec, template).crop(pixels, face,
                                                                            border=border)

    def chip(self, model_id: str, template=None) -> align.Chip:
        """The chip rule for ``model_id`` (its own template, or ``template`` forced)."""
        return align.resolve_chip(self.model(model_id).spec, template)

    def predict(self, photo: Photo | np.ndarray, face: Face, model_id: str,
                template: str | None = None) -> Prediction:
        """One model on one face, cropped with the model's template (or the one given)."""
        crop = self.model_crop(photo, face, model_id, template)
        out = self.run_model(model_id, crop.pixels)
        return Prediction.from_output(out, 0, crop)

    def run_model(self, model_id: str, chips) -> ModelOutput:
        model = self.model(model_id)
        with self._lock:
            return model.predict(chips)

    def add_user_model(self, path, sidecar=None) -> list:
        """Load a user's TorchScript/ONNX file (+ JSON sidecar), register it and return every
        model card (the new one included)."""
        self.load_user_model(path, sidecar)
        return self.model_cards()

    def template_descriptions(self) -> dict[str, str]:
        """{template name: one line} for every known template."""
        return {t: align.get_template(t).description for t in self.templates()}


def demo_photo_paths() -> list[Path]:
    from . import assets

    return assets.demo_photos()
