"""Faces through an embedder: single faces (Triplets, Gallery) and whole data sets (Verification).

Two tasks, one pipeline (photo -> MTCNN -> the embedder's chip via
:func:`~faceinspector.backend.align.resolve_chip` -> batched embedder):

* :func:`embed_faces`: given faces (:class:`~faceinspector.backend.types.FaceRef`), their
  aligned and raw-box embeddings, cached per (face, embedder, template);
* :func:`embed_images`: the central face of each image of a data set (images where no face is
  found use the data set's mean landmarks; unreadable images get NaN rows and an error line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import images
from .align import resolve_chip
from .batching import detect_stream
from .lru import LRU
from .photos import MeanLandmarks, central_face
from .tasks import CancelToken, Progress, check
from .types import Crop, Face, FaceRef, Photo

#: (FaceRef.key, model id, template) -> FaceEmbedding: faces are embedded once per embedder
EMBEDDINGS = LRU(512)
EMBED_BATCH = 16  # faces per model call (two chips each: aligned and raw)
THUMB_CHIP = 36  # px of a face list's icons (resized in the task, not on the GUI thread)


@dataclass(frozen=True, eq=False)
class FaceEmbedding:
    """One face through one embedder: the aligned and the raw box crop and their embeddings."""

    key: tuple
    label: str
    model_id: str
    template: str | None
    aligned: Crop
    raw: Crop
    emb_aligned: np.ndarray
    emb_raw: np.ndarray
    thumb: np.ndarray | None = None  # the aligned chip at THUMB_CHIP px

    def embedding(self, crop: str = "aligned") -> np.ndarray:
        return self.emb_aligned if crop == "aligned" else self.emb_raw


def _thumb(pixels: np.ndarray, side: int = THUMB_CHIP) -> np.ndarray:
    import cv2

    return np.ascontiguousarray(cv2.resize(pixels, (side, side), interpolation=cv2.INTER_AREA))


def embed_faces(backend, refs, model_id: str, template=None,
                cancel: CancelToken | None = None):
    """Task: embed faces; yields :class:`Progress` per photo and returns a tuple with a
    :class:`FaceEmbedding` per ref (None where its photo cannot be read), in the refs' order.

    Each photo is read once (not at all when the ref carries its pixels); the aligned crop (the
    embedder's own template, or ``template``) and the raw box crop, both at the embedder's
    input size, go through the model in batches.
    """
    refs = list(refs)
    out: list[FaceEmbedding | None] = [None] * len(refs)
    todo: dict[Path, list] = {}
    for i, ref in enumerate(refs):
        hit = EMBEDDINGS.get((ref.key, model_id, template))
        if hit is not None:
            out[i] = hit
        else:
            todo.setdefault(Path(ref.path), []).append((i, ref))
    yield Progress(0, len(todo), "Embedding faces", "embed")
    spec = backend.model(model_id).spec
    aligned_chip, raw_chip = resolve_chip(spec, template), resolve_chip(spec, "raw")
    pending: list[tuple] = []

    def flush() -> None:
        if not pending:
            return
        chips = np.stack([c.pixels for _, _, a, r in pending for c in (a, r)])
        emb = np.asarray(backend.run_model(model_id, chips).embeddings, np.float32)
        for k, (i, ref, aligned, raw) in enumerate(pending):
            fe = FaceEmbedding(ref.key, ref.label, model_id, template, aligned, raw,
                               emb[2 * k], emb[2 * k + 1], _thumb(aligned.pixels))
            EMBEDDINGS.put((ref.key, model_id, template), fe)
            out[i] = fe
        pending.clear()

    for n, (path, items) in enumerate(todo.items()):
        check(cancel)
        photo = items[0][1].photo
        if photo is None:
            try:
                photo = images.load_photo(path)
            except images.ImageError:
                yield Progress(n + 1, len(todo), path.name, "embed")
                continue
        for i, ref in items:
            pending.append((i, ref, aligned_chip.crop(photo.pixels, ref.face),
                            raw_chip.crop(photo.pixels, ref.face)))
            if len(pending) >= EMBED_BATCH:
                flush()
        yield Progress(n + 1, len(todo), path.name, "embed")
    flush()
    return tuple(out)


@dataclass(frozen=True, eq=False)
class PhotoFaces:
    """Every face of one photo embedded, and a display copy of the photo (Gallery pane)."""

    path: Path
    display: np.ndarray  # RGB uint8, at most ``display_side`` per side
    scale: float  # display pixels per photo pixel
    faces: tuple[Face, ...]
    embeddings: tuple  # FaceEmbedding per face


def embed_photo(backend, path: Path, photo: Photo, faces, model_id: str,
                display_side: int = 900, cancel: CancelToken | None = None):
    """Task: embed all ``faces`` of ``photo`` and make a small copy to draw names on; returns
    a :class:`PhotoFaces`."""
    refs = [FaceRef(Path(path), i, f, photo, len(faces)) for i, f in enumerate(faces)]
    embs = (yield from embed_faces(backend, refs, model_id, cancel=cancel)) if refs else ()
    display, scale = images.downscale(photo.pixels, display_side)
    return PhotoFaces(Path(path), display, scale, tuple(faces), tuple(embs))


@dataclass(frozen=True, eq=False)
class ImageEmbeddings:
    """A data set's images through an embedder (:func:`embed_images`).

    embeddings : float32 ``(N, D)``, NaN rows for unreadable images.
    detected : bool ``(N,)``: a face was found (otherwise the mean landmarks were used).
    errors : {row: one-line reason} for the unreadable images.
    face_index : int ``(N,)``: which of the photo's detected faces (in detection order, as the
        Photos pane numbers them) was embedded; -1 where none was found.
    template : the template of the chip the embedder saw (its own, or the one forced).
    chip_size : (width, height) of that chip.
    extra : {template: float32 ``(N, D)``}: the same faces under the ``also`` templates.
    """

    embeddings: np.ndarray
    detected: np.ndarray
    errors: dict
    face_index: np.ndarray | None = None
    template: str = ""
    chip_size: tuple = ()
    extra: dict = field(default_factory=dict)


def _read(paths):
    """``(path, Photo | ImageError)`` for each path, read when asked (in the reader thread of
    :func:`~faceinspector.backend.batching.detect_stream`)."""
    for p in paths:
        try:
            yield Path(p), images.load_photo(p)
        except images.ImageError as exc:
            yield Path(p), exc


def _index_of(face, faces) -> int:
    return next((i for i, f in enumerate(faces) if f is face), -1)


def embed_images(backend, paths, model_id: str = "dlib-resnet", batch: int = 32,
                 template=None, also=(), cancel: CancelToken | None = None):
    """Task: embed the central face of each image; yields :class:`Progress` per image and
    returns :class:`ImageEmbeddings`.

    ``also``: more templates (e.g. ``("raw",)``) the same face is embedded under, from the same
    read and the same detection (``ImageEmbeddings.extra``), so two crops are compared on
    exactly the same faces."""
    paths = list(paths)
    model = backend.model(model_id)
    chips = [resolve_chip(model.spec, template)] + [resolve_chip(model.spec, t) for t in also]
    keys = [None] + list(also)
    out: list[list] = [[None] * len(paths) for _ in chips]
    detected = np.zeros(len(paths), bool)
    index = np.full(len(paths), -1, np.int64)
    errors: dict[int, str] = {}
    means = MeanLandmarks()
    pending_idx: list[int] = []
    pending_chips: list[np.ndarray] = []

    def flush():
        if not pending_chips:
            return
        emb = backend.run_model(model_id, np.stack(pending_chips)).embeddings
        k = len(chips)
        for n, i in enumerate(pending_idx):
            for c in range(k):
                out[c][i] = emb[n * k + c]
        pending_idx.clear()
        pending_chips.clear()

    yield Progress(0, len(paths), "Embedding images", "embed")
    # read ahead in a reader thread, detect in batches (the same faces as one at a time)
    stream = detect_stream(backend, _read(paths), cancel=cancel)
    for i, (p, found) in enumerate(zip(paths, stream)):
        check(cancel)
        if found.photo is None:
            errors[i] = found.error
            yield Progress(i + 1, len(paths), Path(p).name, "embed")
            continue
        photo, faces = found.photo, found.faces
        face = central_face(faces, photo.width, photo.height)
        detected[i] = face is not None
        if face is not None:
            index[i] = _index_of(face, faces)
        face = means.face_or_fallback(face, photo.width, photo.height)
        pending_idx.append(i)
        pending_chips += [c.crop(photo.pixels, face).pixels for c in chips]
        if len(pending_idx) >= batch:
            flush()
        yield Progress(i + 1, len(paths), Path(p).name, "embed")
    stream.close()
    flush()
    dim = next((len(e) for e in out[0] if e is not None), getattr(model, "dim", 128))

    def stack(rows):
        emb = np.stack([e if e is not None else np.full(dim, np.nan, np.float32)
                        for e in rows]) if rows else np.zeros((0, dim), np.float32)
        return emb.astype(np.float32, copy=False)

    return ImageEmbeddings(stack(out[0]), detected, errors, index, chips[0].name,
                           tuple(chips[0].size),
                           {keys[c]: stack(out[c]) for c in range(1, len(chips))})


__all__ = ["EMBEDDINGS", "EMBED_BATCH", "THUMB_CHIP", "FaceEmbedding", "ImageEmbeddings",
           "PhotoFaces", "embed_faces", "embed_images", "embed_photo"]
