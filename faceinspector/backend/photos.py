"""Photos at collection scale: counting, loading with detection (cached), thumbnails.

:func:`load_and_detect` is the task behind the Photos pane and every command that walks a
folder: files are read lazily (a few photos ahead, in a reader thread), their faces come from
the detection cache when the same bytes were seen before, the others go through MTCNN in
batches (:mod:`~faceinspector.backend.batching`), and a bad file becomes an item with its
one-line error while the rest go on.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import images
from .lru import LRU
from .tasks import CancelToken, Progress, is_cancelled
from .types import Face, FaceRef, Photo

#: the large view shows at most this many pixels per side
DISPLAY_MAX_SIDE = 2048

#: (sha1 of the file, detector settings) -> faces: the same photo dropped twice is not re-run
DETECTIONS = LRU(1024)


@dataclass(frozen=True, eq=False)
class PhotoItem:
    """One photo of a collection: its faces and thumbnail, or the one-line reason it failed.

    ``photo`` and ``display`` hold full and display-size pixels for the caller that shows the
    photo at once; lists should drop them (:meth:`light`).
    """

    path: Path
    faces: tuple[Face, ...] = ()
    thumb: np.ndarray | None = None  # small RGB uint8
    size: tuple[int, int] = (0, 0)  # (width, height) after EXIF rotation
    error: str = ""
    photo: Photo | None = None  # full pixels
    display: np.ndarray | None = None  # at most DISPLAY_MAX_SIDE per side (RGB, or packed)
    seconds: float = 0.0
    note: str = ""  # e.g. "only the first of 3 pages is used" (Photo.note)

    @property
    def main_face(self) -> int:
        """The face to select first: the largest and most central one (:func:`central_face`);
        -1 without faces."""
        face = central_face(self.faces, *self.size) if self.size[0] else None
        return next((i for i, f in enumerate(self.faces) if f is face), -1)

    @property
    def display_scale(self) -> float:
        if self.display is None or not self.size[0]:
            return 1.0
        return self.display.shape[1] / self.size[0]

    def ref(self, index: int) -> FaceRef:
        """The :class:`FaceRef` of face ``index`` (with the pixels when this item holds them)."""
        return FaceRef(self.path, index, self.faces[index], self.photo, len(self.faces))

    def light(self) -> "PhotoItem":
        """This item without its full and display pixels (what a list keeps)."""
        from dataclasses import replace

        return replace(self, photo=None, display=None)


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
                if n > limit or (n % 500 == 0 and is_cancelled(cancel)):
                    return 0
        except images.ImageError:  # an unreadable folder becomes one error entry
            n += 1
    return n


def thumbnail(pixels: np.ndarray, side: int) -> np.ndarray:
    """A copy of ``pixels`` at most ``side`` px per side (bilinear, aspect kept)."""
    img = Image.fromarray(np.ascontiguousarray(pixels))
    img.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(img, dtype=np.uint8).copy()


def detection_key(path: Path, backend) -> tuple | None:
    """The detection cache key of a file: its content hash and the detector's settings."""
    try:
        digest = hashlib.sha1(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
    device = getattr(backend, "device_str", None) or str(getattr(backend, "device", ""))
    return digest, getattr(backend, "detect_max_side", 0), device


def detect_cached(backend, path: Path, photo: Photo, use_cache: bool = True) -> tuple[Face, ...]:
    """The faces of ``photo`` (read from ``path``), from the cache when the bytes were seen."""
    key = detection_key(path, backend) if use_cache else None
    faces = DETECTIONS.get(key) if key else None
    if faces is None:
        faces = tuple(backend.detect(photo).faces)
        if key:
            DETECTIONS.put(key, faces)
    return faces


def detect_item(backend, path: Path, photo: Photo, thumb_side: int,
                use_cache: bool = True, display_side: int = DISPLAY_MAX_SIDE) -> PhotoItem:
    """Detection (cached by file content), thumbnail and display copy of one loaded photo."""
    t0 = time.perf_counter()
    faces = detect_cached(backend, path, photo, use_cache)
    display = images.downscale(photo.pixels, display_side)[0] if display_side else None
    return PhotoItem(Path(path), faces, thumbnail(photo.pixels, thumb_side),
                     (photo.width, photo.height), photo=photo, display=display,
                     seconds=time.perf_counter() - t0, note=photo.note)


def load_and_detect(backend, paths, thumb_side: int = 112, use_cache: bool = True,
                    display_side: int = DISPLAY_MAX_SIDE, cancel: CancelToken | None = None,
                    max_batch: int | None = None):
    """Task: yields a :class:`PhotoItem` per file as it is done (a partial result) and
    :class:`Progress`; returns the number of files visited.

    Files are read lazily by a reader thread a few photos ahead (with their thumbnails and
    display copies); photos not in the detection cache go through MTCNN in batches of the
    ones that are ready (the first photo alone, so it shows at once; ``max_batch``, default
    :data:`~faceinspector.backend.batching.MAX_BATCH`). A bad file becomes an item with its
    one-line error and the rest go on. ``display_side=0`` makes no display copy.
    """
    from .batching import MAX_BATCH, detect_stream

    paths = [Path(p) for p in paths]
    total = count_images(paths, cancel=cancel)
    yield Progress(0, total, "Detecting faces", "detect")
    keys: dict[Path, tuple] = {}

    def lookup(path: Path, photo: Photo):
        key = detection_key(path, backend) if use_cache else None
        if key is None:
            return None
        keys[path] = key
        return DETECTIONS.get(key)

    def save(path: Path, photo: Photo, faces) -> None:
        key = keys.pop(path, None)
        if key is not None:
            DETECTIONS.put(key, faces)

    def prepare(path: Path, photo: Photo):
        display = images.downscale(photo.pixels, display_side)[0] if display_side else None
        return thumbnail(photo.pixels, thumb_side), display

    done = 0
    stream = detect_stream(backend, backend.iter_photos(paths), lookup=lookup, save=save,
                           prepare=prepare, max_batch=max_batch or MAX_BATCH, cancel=cancel)
    try:
        for found in stream:
            if is_cancelled(cancel):
                return done
            if found.photo is None:
                yield PhotoItem(found.path, error=found.error)
            else:
                keys.pop(found.path, None)
                photo, (thumb, display) = found.photo, found.extra
                yield PhotoItem(found.path, found.faces, thumb, (photo.width, photo.height),
                                photo=photo, display=display, seconds=found.seconds,
                                note=photo.note)
            done += 1
            yield Progress(done, max(total, done), found.path.name, "detect")
    finally:
        stream.close()
    return done


def load_for_view(path: Path, display_side: int = DISPLAY_MAX_SIDE) -> tuple[Photo, np.ndarray]:
    """Re-read a photo for the large view: the photo and its display copy (no torch)."""
    photo = images.load_photo(path)
    return photo, images.downscale(photo.pixels, display_side)[0]


# ------------------------------------------------------------------ which face a data set means


def central_face(faces, width: int, height: int) -> Face | None:
    """The face a portrait data set is about: large and near the centre (None if no faces)."""
    if not faces:
        return None
    cx, cy = width / 2, height / 2

    def score(f: Face) -> float:
        fx, fy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
        off = np.hypot(fx - cx, fy - cy) / max(width, height)
        return f.width * f.height / (width * height) - 2.0 * off

    return max(faces, key=score)


def fallback_face(width: int, height: int, mean_landmarks: np.ndarray | None) -> Face:
    """When no face is found: the data set's mean landmarks (relative to the image size)."""
    if mean_landmarks is None:  # LFW deep-funneled geometry (MTCNN means on 250x250)
        mean_landmarks = np.array([[0.418, 0.452], [0.580, 0.452], [0.499, 0.540],
                                   [0.430, 0.610], [0.570, 0.610]])
    lm = (mean_landmarks * [width, height]).astype(np.float32)
    x1, y1 = lm.min(0) - [0.25 * width * 0.4, 0.25 * height * 0.5]
    x2, y2 = lm.max(0) + [0.25 * width * 0.4, 0.25 * height * 0.3]
    return Face((float(x1), float(y1), float(x2), float(y2)), 0.0, lm)


class MeanLandmarks:
    """The running mean of the landmarks (relative to the image size) of the faces found so
    far in a data set, for :func:`fallback_face` on the images where none is found."""

    def __init__(self):
        self._sum = np.zeros((5, 2))
        self.found = 0  # faces found (and averaged) so far

    def face_or_fallback(self, face: Face | None, width: int, height: int) -> Face:
        """``face`` when one was found (it joins the mean), otherwise :func:`fallback_face`
        at the mean so far (LFW's geometry before any face has been found)."""
        if face is not None:
            self._sum += face.landmarks / [width, height]
            self.found += 1
            return face
        return fallback_face(width, height, self._sum / self.found if self.found else None)


__all__ = ["DETECTIONS", "DISPLAY_MAX_SIDE", "MeanLandmarks", "PhotoItem", "central_face",
           "count_images", "detect_cached", "fallback_face",
           "detect_item", "detection_key", "load_and_detect", "load_for_view", "thumbnail"]
