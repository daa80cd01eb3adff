"""The one object the GUI and the CLI talk to.

It owns the device, the lazily loaded detector and models and a lock, so worker threads can
share it. Everything it returns is a numpy array or a frozen dataclass.

Creating a :class:`Backend` and detecting faces import neither torch nor torchvision when the
device is the CPU and MTCNN's ONNX exports are cached (the app shows the first faces while
torch loads); the models import torch when they are first loaded.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import align, engines, images
from .detect import MTCNNDetector, device_name, pick_device
from .types import Crop, Detection, Face, Photo, Prediction

if TYPE_CHECKING:
    import torch

    from . import models as zoo
    from .models.base import FaceModel, ModelOutput


def set_threads(threads: int | None = None) -> int:
    """Cap the intra-op CPU threads of every network at ``threads`` (None: ``$FACEINSPECTOR_
    THREADS`` if set, else no cap: :func:`~faceinspector.backend.engines.threads_now` decides
    from the cores that are free); returns the cap (0: none). Torch, when already imported,
    gets the cap at once.

    Why it matters: on a small CPU that also runs other work, one thread per core makes every
    op wait for its slowest thread (MTCNN measured 40 ms per face with 1 thread vs 400-700 ms
    with 2 on a loaded 2-core machine).
    """
    if threads is None:
        threads = engines.env_threads()
    engines.set_thread_cap(threads)
    if threads is not None and "torch" in sys.modules:
        engines.apply_torch_threads(max(1, int(threads)))
    return threads or 0


def gui_threads() -> int:
    """The thread cap for the desktop app: one core is left for the window (GUI thread), so
    ``cores - 1`` (of the cores this process may use), at least 1; ``$FACEINSPECTOR_THREADS``
    overrides."""
    return engines.env_threads() or max(1, len(engines.allowed_cpus()) - 1)


class Backend:
    """Photo -> faces -> crops, on CPU or CUDA.

    Parameters
    ----------
    device : "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
        ``$FACEINSPECTOR_DEVICE`` overrides "auto".
    threads : the most intra-op CPU threads any network gets (:func:`set_threads`); None:
        ``$FACEINSPECTOR_THREADS``, else as many as there are free cores, decided per batch
        (:func:`~faceinspector.backend.engines.threads_now`). The GUI passes
        :func:`gui_threads` (one core left for the window).
    detect_max_side : see :class:`~faceinspector.backend.detect.MTCNNDetector`.
    engine : "auto" (ONNX Runtime on CPU where it is faster, torch on CUDA), "torch" or "onnx"
        for every network (``$FACEINSPECTOR_ENGINE``; see :mod:`~faceinspector.backend.engines`).
    """

    def __init__(self, device: str | None = "auto", detect_max_side: int = 1024,
                 threads: int | None = None, engine: str | None = None):
        if device in (None, "auto"):
            device = os.environ.get("FACEINSPECTOR_DEVICE", "auto")
        self.threads = set_threads(threads)
        #: "cpu", "cuda", "cuda:1": decided without torch when plainly the CPU
        self.device_str: str = device_name(device)
        self.engine: str = engines.engine_setting(engine)
        self._device = None
        self.detect_max_side = detect_max_side
        self._lock = threading.RLock()
        self._detector: MTCNNDetector | None = None
        self._models: dict[str, FaceModel] = {}
        self._user_models: dict[str, FaceModel] = {}
        self._user_failed: dict[str, tuple[str, str]] = {}  # id -> (model file, reason)

    @property
    def device(self) -> torch.device:
        """The torch device (imports torch). On CPU, torch's own small ops (warps,
        normalisation) run on one thread: two threads per op made a chip warp 10x slower on a
        busy 2-core machine (0.75 vs 8.4 ms); torch networks get more for their forward
        (:meth:`run_model`)."""
        if self._device is None:
            self._device = pick_device(self.device_str)
            if self.device_str == "cpu":
                engines.apply_torch_threads(1)
        return self._device

    @property
    def device_name(self) -> str:
        if self.device_str.startswith("cuda"):
            import torch

            return f"CUDA ({torch.cuda.get_device_name(self.device)})"
        cap = self.threads or len(engines.allowed_cpus())
        return f"CPU (up to {cap} thread{'s' if cap > 1 else ''})"

    @property
    def detector(self) -> MTCNNDetector:
        with self._lock:
            if self._detector is None:
                self._detector = MTCNNDetector(self.device_str, max_side=self.detect_max_side,
                                               engine=self.engine)
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

    def detect_many(self, photos, threads: int | None = None) -> list[Detection]:
        """Several photos through the cascade together (photos of one size share the P-Net
        calls, all share the R-/O-Net calls): the same faces as :meth:`detect` of each.
        ``threads``: intra-op threads of the networks (default: from the free cores)."""
        return self.detector.detect_many([p.pixels if isinstance(p, Photo) else p
                                          for p in photos], threads=threads)

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
        from . import models as zoo

        out = zoo.cards()
        for m in self._user_models.values():
            out.append(zoo.ModelCard(m.id, m.title, m.task, tuple(m.labels), m.spec, True))
        for mid, (path, reason) in self._user_failed.items():
            out.append(zoo.ModelCard(mid, f"{Path(path).name} (your model)", "?", (), None,
                                     False, reason))
        return out

    def model(self, model_id: str) -> FaceModel:
        """The loaded model (loads it on first use; raises AssetError/KeyError/ValueError)."""
        with self._lock:
            if model_id in self._user_models:
                return self._user_models[model_id]
            if model_id not in self._models:
                from . import models as zoo

                self._models[model_id] = zoo.load(model_id, device=self.device,
                                                  engine=self.engine)
            return self._models[model_id]

    def add_model(self, model: FaceModel) -> str:
        """Register a model built elsewhere (a user's TorchScript/ONNX file, a demo model)."""
        with self._lock:
            model.to(self.device)
            self._user_models[model.id] = model
        return model.id

    def load_user_model(self, path, sidecar=None) -> str:
        """Load a TorchScript/ONNX classifier or embedder + JSON sidecar and register it;
        returns its id."""
        from .models.user import load_user_model

        mid = self.add_model(load_user_model(path, sidecar=sidecar, device=self.device))
        with self._lock:  # it loads now: no longer a failed one
            for key in [k for k, (p, _) in self._user_failed.items() if p == str(path)]:
                del self._user_failed[key]
        return mid

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
            if getattr(model, "engine", "torch") != "torch" or self.device_str != "cpu":
                return model.predict(chips)
            n = engines.threads_now() if len(chips) > 1 else 1
            engines.apply_torch_threads(n)
            try:
                return model.predict(chips)
            finally:
                if n != 1:
                    engines.apply_torch_threads(1)

    def engines_in_use(self) -> dict[str, str]:
        """{network: engine} of the detector and the models loaded so far."""
        out = {"mtcnn": self.detector.engine}
        with self._lock:
            for mid, m in {**self._models, **self._user_models}.items():
                out[mid] = getattr(m, "engine", "torch")
        return out

    def add_user_model(self, path, sidecar=None) -> list:
        """Load a user's TorchScript/ONNX file (+ JSON sidecar), register it and return every
        model card (the new one included)."""
        self.load_user_model(path, sidecar)
        return self.model_cards()

    def restore_user_models(self, paths) -> list:
        """Load the user's remembered model files (each with the sidecar beside it); one that
        cannot be loaded any more becomes an unavailable card with the reason (never an
        exception). Returns every model card."""
        for path in paths:
            try:
                self.load_user_model(path)
            except Exception as exc:  # noqa: BLE001 - shown on the card, one line
                reason = " ".join(str(exc).split()) or type(exc).__name__
                with self._lock:
                    self._user_failed[f"user:{Path(path).stem}"] = (str(path), reason)
        return self.model_cards()

    def user_model_file(self, model_id: str) -> str | None:
        """The file a user model was loaded from (None for a bundled model)."""
        with self._lock:
            if model_id in self._user_models:
                return self._user_models[model_id].source
            failed = self._user_failed.get(model_id)
        return failed[0] if failed else None

    def remove_model(self, model_id: str) -> list:
        """Forget a user model (loaded or failed); returns every model card."""
        with self._lock:
            self._user_models.pop(model_id, None)
            self._user_failed.pop(model_id, None)
        return self.model_cards()

    def template_descriptions(self) -> dict[str, str]:
        """{template name: one line} for every known template."""
        return {t: align.get_template(t).description for t in self.templates()}


def demo_photo_paths() -> list[Path]:
    from . import assets

    return assets.demo_photos()
