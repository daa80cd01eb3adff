"""The backend work the panes run in workers: plain functions and generators, no widgets.

Everything here runs on a lane thread (:mod:`faceinspector.gui.workers`) and returns numpy
arrays and frozen dataclasses only (no QImage/QPixmap: the GUI thread converts). Importing this
module is cheap (no torch); the functions that need torch receive the backend object, which the
worker created.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..backend import images
from ..backend.types import Crop, Face, Photo, Prediction
from .convert import pack_rgb32
from .workers import CancelToken, Progress

DISPLAY_MAX_SIDE = 2048  # the large view shows at most this many pixels per side


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True, eq=False)
class BackendInfo:
    """What the app learns when the backend comes up (on the compute lane)."""

    backend: object
    device_name: str
    templates: tuple[str, ...]
    descriptions: dict[str, str]
    cards: tuple  # ModelCard
    problems: tuple[str, ...] = ()  # missing model packs etc., one line each
    seconds: float = 0.0
    demo_paths: tuple[Path, ...] = ()


@dataclass(frozen=True, eq=False)
class PhotoItem:
    """One photo of the list: its faces and thumbnail, or the one-line reason it failed."""

    path: Path
    faces: tuple[Face, ...] = ()
    thumb: np.ndarray | None = None  # small RGB uint8
    size: tuple[int, int] = (0, 0)  # (width, height) after EXIF rotation
    error: str = ""
    photo: Photo | None = None  # full pixels; the GUI keeps only a few of these
    display: np.ndarray | None = None  # large-view pixels (<= DISPLAY_MAX_SIDE), pack_rgb32
    seconds: float = 0.0

    @property
    def display_scale(self) -> float:
        if self.display is None or not self.size[0]:
            return 1.0
        return self.display.shape[1] / self.size[0]


@dataclass(frozen=True, eq=False)
class CropPair:
    """The raw box crop and the aligned crop of one face, at the size the model sees."""

    raw: Crop
    aligned: Crop
    template: str
    model_id: str | None = None


@dataclass(frozen=True, eq=False)
class ModelResult:
    """One model on one face: prediction on the raw crop and on the aligned crop."""

    model_id: str
    raw: Prediction | None = None
    aligned: Prediction | None = None
    error: str = ""
    template: str = ""


@dataclass
class _LRU:
    size: int
    data: OrderedDict = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


#: (sha1 of the file, detector settings) -> faces: the same photo dropped twice is not re-run.
DETECTIONS = _LRU(1024)


# --------------------------------------------------------------------------------- jobs


def make_backend(device: str = "auto", detect_max_side: int = 1024,
                 check_demo: bool = False) -> BackendInfo:
    """Import torch and build the facade (compute lane), then :func:`describe_backend`."""
    t0 = time.perf_counter()
    from ..backend.facade import Backend

    backend = Backend(device=device, detect_max_side=detect_max_side)
    return describe_backend(backend, check_demo, t0)


def describe_backend(backend, check_demo: bool = False, t0: float | None = None,
                     warm: bool = True) -> BackendInfo:
    """Load the detector's and the models' weights, list templates and models, find the demo
    photos.

    Loading everything here, while the app starts, keeps one-off costs out of later work:
    importing a C extension (onnx, onnxruntime) or unpickling weights holds the GIL for
    hundreds of milliseconds, which would freeze the GUI thread in the middle of a photo load.
    """
    t0 = time.perf_counter() if t0 is None else t0
    from ..backend import align, assets

    problems = []
    try:
        backend.detector  # noqa: B018 - loads MTCNN's weights now, not on the first photo
    except assets.AssetError as exc:
        problems.append(str(exc))
    demo: tuple[Path, ...] = ()
    if check_demo:
        try:
            demo = tuple(assets.demo_photos())
        except assets.AssetError as exc:
            problems.append(str(exc))
    templates = tuple(backend.templates())
    descriptions = {t: align.get_template(t).description for t in templates}
    cards = tuple(backend.model_cards())
    if warm and not problems:
        _warm_up(backend, cards, templates)
    return BackendInfo(backend, backend.device_name, templates, descriptions,
                       cards, tuple(dict.fromkeys(problems)),
                       time.perf_counter() - t0, demo)


def _warm_up(backend, cards, templates) -> None:
    """One detection, one crop per template and one prediction per model on a synthetic face,
    so first-call costs (imports, weight loading, kernel set-up) are paid at start-up."""
    img = np.full((192, 192, 3), 128, np.uint8)
    face = Face((48.0, 40.0, 144.0, 160.0), 1.0,
                np.array([[75, 85], [117, 85], [96, 110], [79, 132], [113, 132]], np.float32))
    photo = Photo(img, "<warm-up>", (192, 192))
    try:
        backend.detect(photo)
        for t in templates:
            backend.crop(photo, face, t)
    except Exception:  # noqa: BLE001 - real calls will report it
        pass
    for card in cards:
        if card.available:
            try:
                backend.predict(photo, face, card.id)
            except Exception:  # noqa: BLE001 - its card will show the error on use
                pass


def count_images(paths, limit: int = 20_000, cancel: CancelToken | None = None) -> int:
    """Photos that :func:`load_and_detect` will visit, listing folders only (no decoding);
    0 ("unknown") beyond ``limit`` or when cancelled."""
    n = 0
    for item in paths:
        p = Path(item)
        if not p.is_dir():
            n += 1
            continue
        try:
            for _ in images.iter_image_paths(p):
                n += 1
                if n > limit or (cancel is not None and n % 500 == 0 and cancel.cancelled):
                    return 0
        except images.ImageError:  # an unreadable folder becomes one error entry
            n += 1
    return n


def thumbnail(pixels: np.ndarray, side: int) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(pixels))
    img.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(img, dtype=np.uint8).copy()


def _file_key(path: Path, backend) -> tuple | None:
    try:
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError:
        return None
    return digest, getattr(backend, "detect_max_side", 0), str(getattr(backend, "device", ""))


def detect_item(backend, path: Path, photo: Photo, thumb_side: int,
                use_cache: bool = True) -> PhotoItem:
    """Detection (cached by file content), thumbnail and display copy of one loaded photo."""
    t0 = time.perf_counter()
    key = _file_key(path, backend) if use_cache else None
    faces = DETECTIONS.get(key) if key else None
    if faces is None:
        faces = tuple(backend.detect(photo).faces)
        if key:
            DETECTIONS.put(key, faces)
    display = pack_rgb32(images.downscale(photo.pixels, DISPLAY_MAX_SIDE)[0])
    return PhotoItem(path, faces, thumbnail(photo.pixels, thumb_side),
                     (photo.width, photo.height), photo=photo, display=display,
                     seconds=time.perf_counter() - t0)


def load_and_detect(backend, paths, thumb_side: int = 112, use_cache: bool = True,
                    cancel: CancelToken | None = None):
    """Generator (detect lane): yields a :class:`PhotoItem` per file as it is done, and
    :class:`Progress`. Files are read lazily, one photo in memory at a time; a bad file
    becomes an item with its one-line error and the rest go on."""
    paths = [Path(p) for p in paths]
    total = count_images(paths, cancel=cancel)
    yield Progress(0, total, "Detecting faces")
    done = 0
    for path, item in backend.iter_photos(paths):
        if cancel is not None and cancel.cancelled:
            return
        if isinstance(item, Exception):
            yield PhotoItem(path, error=" ".join(str(item).split()))
        else:
            try:
                yield detect_item(backend, path, item, thumb_side, use_cache)
            except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the folder
                yield PhotoItem(path, error=f"{path.name}: detection failed: {exc}")
        done += 1
        yield Progress(done, max(total, done), path.name)


def load_for_view(path: Path) -> tuple[Photo, np.ndarray]:
    """Re-read a photo for the large view (io lane, no torch)."""
    photo = images.load_photo(path)
    return photo, pack_rgb32(images.downscale(photo.pixels, DISPLAY_MAX_SIDE)[0])


def _spec_crop(backend, photo, face, spec, template: str | None) -> Crop:
    """The crop a model with ``spec`` sees, under its own template or ``template``
    (mirrors :meth:`Backend.model_crop` without loading the model's weights)."""
    if template is None or template == spec.template:
        return backend.crop(photo, face, spec.template, size=spec.size, padding=spec.padding)
    return backend.crop(photo, face, template, size=spec.size)


def crop_pair(backend, photo: Photo, face: Face, template: str | None,
              spec=None, model_id: str | None = None) -> CropPair:
    """Raw box crop and aligned crop (compute lane).

    ``template=None`` means the model's own template; ``spec`` (a ChipSpec) gives the size the
    model sees, else the template's own size is used.
    """
    if spec is not None:
        aligned = _spec_crop(backend, photo, face, spec, template)
        raw = _spec_crop(backend, photo, face, spec, "raw")
    else:
        aligned = backend.crop(photo, face, template or "dlib-chip")
        h, w = aligned.pixels.shape[:2]
        raw = backend.crop(photo, face, "raw", size=(w, h))
    return CropPair(raw, aligned, aligned.template, model_id)


def predict_models(backend, photo: Photo, face: Face, model_ids, template: str | None = None,
                   cancel: CancelToken | None = None):
    """Generator (compute lane): one :class:`ModelResult` per model, raw vs aligned."""
    ids = list(model_ids)
    yield Progress(0, len(ids), "Predicting")
    for i, mid in enumerate(ids):
        if cancel is not None and cancel.cancelled:
            return
        try:
            raw = backend.predict(photo, face, mid, template="raw")
            aligned = backend.predict(photo, face, mid, template=template)
            yield ModelResult(mid, raw, aligned, template=aligned.crop.template)
        except Exception as exc:  # noqa: BLE001 - shown on that model's card
            yield ModelResult(mid, error=" ".join(str(exc).split()) or type(exc).__name__)
        yield Progress(i + 1, len(ids), mid)


def user_models_available() -> bool:
    """Whether the colleague's ``backend/models/user.py`` exists (checked without importing)."""
    from .. import backend

    return (Path(backend.__file__).parent / "models" / "user.py").exists()


def add_user_model(backend, path: str) -> tuple:
    """Load a TorchScript/ONNX file (+ JSON sidecar) and register it; returns the new cards."""
    try:
        from ..backend.models.user import load_user_model
    except ImportError as exc:
        raise RuntimeError(f"Adding your own model is not available in this build ({exc}).")
    backend.add_model(load_user_model(path))
    return tuple(backend.model_cards())

