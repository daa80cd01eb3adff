"""Scanning a collection: one pass over its images, one row of attributes per image.

Each image is read once (one photo in memory at a time), its faces come from the persistent
face store when the file was seen before (:mod:`~faceinspector.backend.facestore`), the central
face's geometry and the photometry of face and image are measured
(:mod:`~faceinspector.backend.attributes`), the face's dlib chip is embedded in batches, and --
when a model is given -- the model's input is cut in every way being compared (the image as
given, and the face aligned to each template) and predicted in batches. Memory stays bounded
by the number of images times a few hundred numbers, whatever the collection's size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import align, images
from ..attributes import NAMES, image_attributes
from ..facestore import FaceStore, default_store, detector_kind, file_key
from ..photos import MeanLandmarks, central_face
from ..tasks import CancelToken, Progress, check

#: the option name of the image fed to a model as it is (resized, no alignment)
AS_GIVEN = "as given"
BATCH = 64
#: side of the mean image (every image squeezed to this square, so positions are fractions)
MEAN_SIDE = 128


def whole_image_matrix(width: int, height: int, size, fraction: float = 1.0) -> np.ndarray:
    """Photo -> chip matrix of the image as given: the largest centred box with the chip's
    aspect ratio (times ``fraction``), scaled onto the chip -- what feeding a photo to a model
    without aligning it does. No rotation, no landmarks."""
    w, h = size
    bw = min(width, height * w / h) * fraction
    s = w / bw
    return np.array([[s, 0.0, (w - 1) / 2 - s * (width - 1) / 2],
                     [0.0, s, (h - 1) / 2 - s * (height - 1) / 2]])


@dataclass(frozen=True)
class FixSpec:
    """What to predict for every image of a scan: ``model_id`` under each option
    (``AS_GIVEN`` or a template: a name, a template file, or a learned Template)."""

    model_id: str
    options: tuple = ()

    def option_names(self) -> list[str]:
        """Each option's name: ``AS_GIVEN``, a template's name or the file it came from."""
        return [o if isinstance(o, str) else o.name for o in self.options]


@dataclass(eq=False)
class Table:
    """A scanned collection: one row per readable image.

    values : attribute name -> float64 (N,) (NaN where not measurable, e.g. no face).
    landmarks : float32 (N, 5, 2) of the central face in image pixels (NaN: no face).
    sizes : int (N, 2) image (width, height).
    face_index : int (N,) the central face's index among the image's detections (-1: none).
    embeddings : float32 (N, D) of the central face's dlib chip (NaN rows: no face found), or
        None when no embedder was available.
    probs : option name -> float32 (N, C) model probabilities (only with a FixSpec).
    errors : (path, one-line reason) of the images that could not be read.
    """

    name: str
    source: str
    paths: list[Path] = field(default_factory=list)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 5, 2), np.float32))
    sizes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    face_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    embeddings: np.ndarray | None = None
    probs: dict[str, np.ndarray] = field(default_factory=dict)
    labels: tuple[str, ...] = ()  # the model's class names (with probs)
    errors: list[tuple[str, str]] = field(default_factory=list)
    mean_image: np.ndarray | None = None  # float32 (MEAN_SIDE, MEAN_SIDE, 3), 0..255
    embedder: str = ""
    note: str = ""  # why something is missing (no embedder, cache off, ...)
    seconds: float = 0.0
    cached: int = 0  # images whose faces came from the face store

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def found(self) -> np.ndarray:
        """bool (N,): a face was found."""
        return ~np.isnan(self.landmarks[:, 0, 0]) if len(self) else np.zeros(0, bool)


def _squeezed(pixels: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(pixels, (MEAN_SIDE, MEAN_SIDE), interpolation=cv2.INTER_AREA)


class _Batcher:
    """Collects chips per key and runs a model on each full batch."""

    def __init__(self, backend, model_id: str, n: int):
        self.backend, self.model_id = backend, model_id
        self.pending: dict[str, list] = {}
        self.out: dict[str, np.ndarray | None] = {}
        self.n = n

    def add(self, key: str, row: int, chip: np.ndarray) -> None:
        self.pending.setdefault(key, []).append((row, chip))
        if len(self.pending[key]) >= BATCH:
            self.flush(key)

    def flush(self, key: str | None = None) -> None:
        for k in ([key] if key else list(self.pending)):
            items = self.pending.pop(k, [])
            if not items:
                continue
            res = self.backend.run_model(self.model_id, np.stack([c for _, c in items]))
            arr = res.embeddings if res.embeddings is not None else res.probs
            if self.out.get(k) is None:
                self.out[k] = np.full((self.n, arr.shape[1]), np.nan, np.float32)
            self.out[k][[r for r, _ in items]] = arr


def scan(backend, paths, *, name: str = "collection", source: str = "",
         embedder: str | None = "dlib-resnet", fix: FixSpec | None = None,
         store: FaceStore | None = None, cancel: CancelToken | None = None):
    """Task: scan ``paths``; yields :class:`Progress` per image (stage ``name``) and returns a
    :class:`Table`. Unreadable images are listed in ``Table.errors``, not rows."""
    t0 = time.perf_counter()
    paths = [Path(p) for p in paths]
    store = default_store() if store is None else store
    kind = detector_kind(backend)
    table = Table(name, source)
    rows: list[dict] = []
    lms: list[np.ndarray] = []
    which: list[int] = []
    sizes: list[tuple[int, int]] = []
    n = len(paths)
    notes = []
    emb_chip = None
    if embedder:
        try:
            emb_chip = align.resolve_chip(backend.model(embedder).spec)
        except Exception as exc:  # noqa: BLE001 - the attributes go on without embeddings
            notes.append(f"no embeddings ({embedder}: {' '.join(str(exc).split())})")
    embed = _Batcher(backend, embedder, n) if emb_chip is not None else None
    model = spec = None
    chips = {}
    if fix is not None:
        model = backend.model(fix.model_id)
        spec = model.spec
        for opt, name_ in zip(fix.options, fix.option_names()):
            chips[name_] = None if opt == AS_GIVEN else align.resolve_chip(spec, opt)
    predict = _Batcher(backend, fix.model_id, n) if fix is not None else None
    means = MeanLandmarks()
    mean_sum = np.zeros((MEAN_SIDE, MEAN_SIDE, 3), np.float64)
    yield Progress(0, n, f"Scanning {name}", name)
    for i, path in enumerate(paths):
        check(cancel)
        try:
            photo = images.load_photo(path)
        except images.ImageError as exc:
            table.errors.append((str(path), " ".join(str(exc).split())))
            yield Progress(i + 1, n, path.name, name)
            continue
        key = file_key(path)
        faces = store.get_faces(key, kind)
        if faces is None:
            faces = tuple(backend.detect(photo).faces)
            store.put_faces(key, kind, faces)
        else:
            table.cached += 1
        face = central_face(faces, photo.width, photo.height)
        row = len(rows)
        rows.append(image_attributes(photo.pixels, faces, face, path))
        lms.append(np.full((5, 2), np.nan, np.float32) if face is None
                   else np.asarray(face.landmarks, np.float32))
        sizes.append((photo.width, photo.height))
        which.append(next((k for k, f in enumerate(faces) if f is face), -1))
        table.paths.append(path)
        mean_sum += _squeezed(photo.pixels)
        if embed is not None and face is not None:
            embed.add("emb", row, emb_chip.crop(photo.pixels, face).pixels)
        if predict is not None:
            use = means.face_or_fallback(face, photo.width, photo.height)
            for opt, chip in chips.items():
                if chip is None:
                    m = whole_image_matrix(photo.width, photo.height, spec.size)
                    pix = align.warp_crop(photo.pixels, m, spec.size)
                else:
                    pix = chip.crop(photo.pixels, use).pixels
                predict.add(opt, row, pix)
        yield Progress(i + 1, n, path.name, name)
    m = len(rows)
    table.values = {k: np.array([r[k] for r in rows], np.float64) for k in NAMES}
    table.landmarks = np.array(lms, np.float32).reshape(m, 5, 2)
    table.mean_image = (mean_sum / max(m, 1)).astype(np.float32)
    table.sizes = np.array(sizes, np.int64).reshape(m, 2)
    table.face_index = np.array(which, np.int64)
    if embed is not None:
        embed.flush()
        e = embed.out.get("emb")
        table.embeddings = (e[:m] if e is not None
                            else np.full((m, 128), np.nan, np.float32))
        table.embedder = embedder
    if predict is not None:
        predict.flush()
        table.probs = {k: v[:m] for k, v in predict.out.items() if v is not None}
        table.labels = tuple(model.labels)
    if store.disabled:
        notes.append(store.disabled)
    table.note = "; ".join(notes)
    table.seconds = time.perf_counter() - t0
    return table


__all__ = ["AS_GIVEN", "MEAN_SIDE", "FixSpec", "Table", "scan", "whole_image_matrix"]
