"""Streaming a data set through models: one photo in memory at a time, faces from the face store,
chips predicted in batches.

Shared by every pass over a collection that predicts (the mismatch scan,
:mod:`~faceinspector.backend.mismatch.scan`, and the classifier evaluation,
:mod:`~faceinspector.backend.classify`):

* :func:`iter_detected` is THE per-image loop: it reads each file once and finds its faces in the
  persistent face store (:mod:`~faceinspector.backend.facestore`) or, on a miss, with the
  backend's detector (and stores them). Callers never detect on their own, so this one function
  can move to a batched detection path without touching them.
* :func:`option_pixels` cuts a model's input for one *option*: the image as given
  (:data:`AS_GIVEN`: the whole image resized to the model's input, no alignment) or the face
  through a :class:`~faceinspector.backend.align.Chip` (any template, the chip rule).
* :class:`Batcher` collects chips per key and runs the model on each full batch, so memory is a
  few numbers per image whatever the collection's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import align, images
from .facestore import FaceStore, default_store, detector_kind, file_key
from .types import Face, Photo

#: the option name of the image fed to a model as it is (resized, no alignment)
AS_GIVEN = "as given"
#: chips per model call
BATCH = 64


def whole_image_matrix(width: int, height: int, size, fraction: float = 1.0) -> np.ndarray:
    """Photo -> chip matrix of the image as given: the largest centred box with the chip's
    aspect ratio (times ``fraction``), scaled onto the chip -- what feeding a photo to a model
    without aligning it does. No rotation, no landmarks."""
    w, h = size
    bw = min(width, height * w / h) * fraction
    s = w / bw
    return np.array([[s, 0.0, (w - 1) / 2 - s * (width - 1) / 2],
                     [0.0, s, (h - 1) / 2 - s * (height - 1) / 2]])


def option_pixels(photo: Photo, face: Face, chip: align.Chip | None, size) -> np.ndarray:
    """A model's input (uint8 HWC) for one option: ``chip=None`` is the image as given at
    ``size`` (the model's input size), else ``face`` cut through ``chip``."""
    if chip is None:
        m = whole_image_matrix(photo.width, photo.height, size)
        return align.warp_crop(photo.pixels, m, size)
    return chip.crop(photo.pixels, face).pixels


@dataclass(frozen=True, eq=False)
class Detected:
    """One file of a pass: its photo and faces, or the one-line reason it could not be read."""

    path: Path
    photo: Photo | None = None
    faces: tuple[Face, ...] = ()
    error: str = ""
    cached: bool = False  # the faces came from the face store


def faces_of(backend, path: Path, photo: Photo, store: FaceStore, kind: str
             ) -> tuple[tuple[Face, ...], bool]:
    """(faces, from the store) of one loaded photo: the face store, else the detector."""
    key = file_key(path)
    faces = store.get_faces(key, kind)
    if faces is not None:
        return faces, True
    faces = tuple(backend.detect(photo).faces)
    store.put_faces(key, kind, faces)
    return faces, False


def iter_detected(backend, paths, store: FaceStore | None = None) -> Iterator[Detected]:
    """Each of ``paths`` read and its faces found (face store first), in order; a file that
    cannot be read is a :class:`Detected` with its ``error``. The caller checks its cancel
    token between items.

    Files are read and looked up in the store by a reader thread a few photos ahead, and the
    misses go through MTCNN in batches (:func:`faceinspector.backend.batching.detect_stream`):
    the same faces as one photo at a time."""
    from .batching import detect_stream

    store = default_store() if store is None else store
    kind = detector_kind(backend)

    def read(paths):
        for path in paths:
            path = Path(path)
            try:
                yield path, images.load_photo(path)
            except images.ImageError as exc:
                yield path, exc

    def lookup(path: Path, photo: Photo):
        return store.get_faces(file_key(path), kind)

    def save(path: Path, photo: Photo, faces) -> None:
        store.put_faces(file_key(path), kind, faces)

    found = detect_stream(backend, read(paths), lookup=lookup, save=save)
    try:
        for f in found:
            if f.photo is None:
                yield Detected(f.path, error=f.error)
            else:
                yield Detected(f.path, f.photo, f.faces, cached=f.cached)
    finally:
        found.close()


def _default_extract(out) -> np.ndarray:
    return out.embeddings if out.embeddings is not None else out.probs


class Batcher:
    """Collects chips per key and runs a model on each full batch.

    ``out[key]`` is a float32 ``(n, D)`` array with a row per item (NaN rows for items never
    added): ``extract(ModelOutput)`` picks what is kept (default: the embeddings of an
    embedder, else the probabilities).
    """

    def __init__(self, backend, model_id: str, n: int,
                 extract: Callable[[object], np.ndarray] | None = None, batch: int = BATCH):
        self.backend, self.model_id, self.n, self.batch = backend, model_id, n, batch
        self.extract = extract or _default_extract
        self.pending: dict[str, list] = {}
        self.out: dict[str, np.ndarray | None] = {}

    def add(self, key: str, row: int, chip: np.ndarray) -> None:
        self.pending.setdefault(key, []).append((row, chip))
        if len(self.pending[key]) >= self.batch:
            self.flush(key)

    def flush(self, key: str | None = None) -> None:
        for k in ([key] if key else list(self.pending)):
            items = self.pending.pop(k, [])
            if not items:
                continue
            res = self.backend.run_model(self.model_id, np.stack([c for _, c in items]))
            arr = np.asarray(self.extract(res), np.float32)
            arr = arr.reshape(len(items), -1)
            if self.out.get(k) is None:
                self.out[k] = np.full((self.n, arr.shape[1]), np.nan, np.float32)
            self.out[k][[r for r, _ in items]] = arr


__all__ = ["AS_GIVEN", "BATCH", "Batcher", "Detected", "faces_of", "iter_detected",
           "option_pixels", "whole_image_matrix"]
