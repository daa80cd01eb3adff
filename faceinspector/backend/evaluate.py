"""Embedding whole data sets and verifying on labelled pairs: photo -> MTCNN -> chip -> embedder.

Long work is a generator (DESIGN.md rule 3): it yields ``("progress", done, total)`` tuples and
finally ``("result", value)``; :func:`run` drains one for callers that just want the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from . import triplets
from .images import ImageError, load_photo
from .types import Face


def central_face(faces, width: int, height: int) -> Face | None:
    """The face a portrait data set is about: large and near the centre."""
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


def embed_images(backend, paths, model_id: str = "dlib-resnet", batch: int = 32,
                 template: str | None = None) -> Iterator[tuple]:
    """Embed the central face of each image.

    Yields ``("progress", done, total)``; finally ``("result", (embeddings (N, D), detected (N,)
    bool, errors {index: message}))``. Images where no face is found use the data set's mean
    landmarks; unreadable images get NaN embeddings and an entry in ``errors``.
    """
    paths = list(paths)
    model = backend.model(model_id)
    out: list[np.ndarray | None] = [None] * len(paths)
    detected = np.zeros(len(paths), bool)
    errors: dict[int, str] = {}
    lm_sum, lm_n = np.zeros((5, 2)), 0
    pending_idx, pending_chips = [], []

    def flush():
        if not pending_chips:
            return
        emb = backend.run_model(model_id, np.stack(pending_chips)).embeddings
        for i, e in zip(pending_idx, emb):
            out[i] = e
        pending_idx.clear()
        pending_chips.clear()

    for i, p in enumerate(paths):
        try:
            photo = load_photo(p)
        except ImageError as exc:
            errors[i] = str(exc)
            continue
        det = backend.detect(photo)
        face = central_face(det.faces, photo.width, photo.height)
        if face is not None:
            detected[i] = True
            lm_sum += face.landmarks / [photo.width, photo.height]
            lm_n += 1
        else:
            face = fallback_face(photo.width, photo.height, lm_sum / lm_n if lm_n else None)
        crop = backend.model_crop(photo, face, model_id, template)
        pending_idx.append(i)
        pending_chips.append(crop.pixels)
        if len(pending_chips) >= batch:
            flush()
        yield ("progress", i + 1, len(paths))
    flush()
    dim = next((len(e) for e in out if e is not None), getattr(model, "dim", 128))
    emb = np.stack([e if e is not None else np.full(dim, np.nan, np.float32) for e in out]) \
        if out else np.zeros((0, dim), np.float32)
    yield ("result", (emb, detected, errors))


def eval_pairs(backend, pairs_file, root=None, model_id: str = "dlib-resnet",
               metric: str = "l2", folds: int | None = None) -> Iterator[tuple]:
    """LFW-protocol verification from a pairs file; images under ``root`` (default: the
    ``lfw-deepfunneled`` folder beside the pairs file). Yields progress, then
    ``("result", (VerificationReport, pairs, info))``."""
    pairs_file = Path(pairs_file)
    pairs = triplets.read_pairs(pairs_file)
    if folds:
        pairs = [p for p in pairs if p.fold < folds]
    root = Path(root) if root else pairs_file.parent / "lfw-deepfunneled"
    images = sorted({p.a for p in pairs} | {p.b for p in pairs})
    index = {name: i for i, name in enumerate(images)}
    result = None
    for msg in embed_images(backend, [root / n for n in images], model_id):
        if msg[0] == "progress":
            yield msg
        else:
            result = msg[1]
    emb, detected, errors = result
    a = emb[[index[p.a] for p in pairs]]
    b = emb[[index[p.b] for p in pairs]]
    dist = triplets.distance(a, b, metric)
    ok = ~np.isnan(dist)
    dist = np.where(ok, dist, np.nanmax(dist) if ok.any() else 1.0)
    same = np.array([p.same for p in pairs])
    report = triplets.verify(dist, same, np.array([p.fold for p in pairs]))
    info = {"images": len(images), "detected": int(detected.sum()), "errors": errors,
            "model": model_id, "metric": metric}
    yield ("result", (report, pairs, info))


def run(gen: Iterator[tuple], progress=None):
    """Drain a backend generator; call ``progress(done, total)`` on progress; return the result."""
    for msg in gen:
        if msg[0] == "progress":
            if progress:
                progress(msg[1], msg[2])
        elif msg[0] == "result":
            return msg[1]
    raise RuntimeError("the generator ended without a result")
