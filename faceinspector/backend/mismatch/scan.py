"""Scanning a collection: one pass over its images, one row of attributes per image.

Each image is read once (one photo in memory at a time), its faces come from the persistent
face store when the file was seen before (:mod:`~faceinspector.backend.facestore`; the loop and
the batching are shared, :mod:`~faceinspector.backend.stream`), the central
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

from .. import align
from ..attributes import NAMES, image_attributes
from ..facestore import FaceStore, default_store
from ..photos import MeanLandmarks, central_face
from ..stream import AS_GIVEN, BATCH, Batcher, iter_detected, option_pixels, whole_image_matrix
from ..tasks import CancelToken, Progress, check

#: side of the mean image (every image squeezed to this square, so positions are fractions)
MEAN_SIDE = 128


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


def scan(backend, paths, *, name: str = "collection", source: str = "",
         embedder: str | None = "dlib-resnet", fix: FixSpec | None = None,
         store: FaceStore | None = None, cancel: CancelToken | None = None):
    """Task: scan ``paths``; yields :class:`Progress` per image (stage ``name``) and returns a
    :class:`Table`. Unreadable images are listed in ``Table.errors``, not rows."""
    t0 = time.perf_counter()
    paths = [Path(p) for p in paths]
    store = default_store() if store is None else store
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
    embed = Batcher(backend, embedder, n) if emb_chip is not None else None
    model = spec = None
    chips = {}
    if fix is not None:
        model = backend.model(fix.model_id)
        spec = model.spec
        for opt, name_ in zip(fix.options, fix.option_names()):
            chips[name_] = None if opt == AS_GIVEN else align.resolve_chip(spec, opt)
    predict = Batcher(backend, fix.model_id, n) if fix is not None else None
    means = MeanLandmarks()
    mean_sum = np.zeros((MEAN_SIDE, MEAN_SIDE, 3), np.float64)
    yield Progress(0, n, f"Scanning {name}", name)
    for i, item in enumerate(iter_detected(backend, paths, store)):
        check(cancel)
        path, photo, faces = item.path, item.photo, item.faces
        if item.error:
            table.errors.append((str(path), item.error))
            yield Progress(i + 1, n, path.name, name)
            continue
        table.cached += int(item.cached)
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
                predict.add(opt, row, option_pixels(photo, use, chip, spec.size))
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


__all__ = ["AS_GIVEN", "BATCH", "MEAN_SIDE", "FixSpec", "Table", "scan", "whole_image_matrix"]
