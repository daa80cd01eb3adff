"""Similarity saliency for embedders: which regions make two faces close, or far apart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..tasks import CancelToken, Progress, check
from .maps import _chip, _cosine, _explain
from .results import PairSaliency, Saliency


def _face_of(backend, item):
    """(photo, face) of a FaceRef, a (photo, face) pair, or an image path (its central face)."""
    from .. import images
    from ..photos import central_face, detect_cached, fallback_face

    if hasattr(item, "face") and hasattr(item, "path"):
        photo = item.photo if item.photo is not None else images.load_photo(item.path)
        return photo, item.face
    if isinstance(item, (str, Path)):
        photo = images.load_photo(item)
        faces = detect_cached(backend, Path(item), photo)
        face = central_face(faces, photo.width, photo.height)
        return photo, face or fallback_face(photo.width, photo.height, None)
    photo, face = item
    return photo, face


def _embedding(backend, model_id, photo, face, template, border) -> np.ndarray:
    model = backend.model(model_id)
    if model.task != "embedding":
        raise ValueError(f"{model_id} is not an embedder; similarity saliency needs one")
    x = _chip(backend, model, photo, face, template, None, border)[0]
    return np.asarray(backend.run_model(model_id, x).embeddings[0], np.float32)


def similarity_saliency(backend, a, b, model_id: str, method: str = "gradcam",
                        mode: str = "similar", *, template=None, transform=None,
                        layer: str | None = None, grid=8, fill="mean",
                        border: str = "reflect") -> Saliency:
    """The map on A's chip for the cosine similarity of A's embedding to B's (``mode=
    "dissimilar"``: for its negative, which regions push them apart). ``a``, ``b``: a FaceRef,
    a ``(photo, face)`` pair or an image path (its central face). ``transform`` moves A only."""
    pa, fa = _face_of(backend, a)
    pb, fb = _face_of(backend, b)
    ref = _embedding(backend, model_id, pb, fb, template, border)
    return _explain(backend, pa, fa, model_id, method, reference=ref, mode=mode,
                    template=template, transform=transform, layer=layer, grid=grid, fill=fill,
                    border=border)


def pair_saliency(backend, a, b, model_id: str, method: str = "gradcam", mode: str = "similar",
                  *, template=None, layer: str | None = None, grid=8,
                  border: str = "reflect") -> PairSaliency:
    """:func:`similarity_saliency` both ways: A toward B and B toward A (hardest-pair
    thumbnails, Triplets' A-P and A-N)."""
    pa, fa = _face_of(backend, a)
    pb, fb = _face_of(backend, b)
    ea = _embedding(backend, model_id, pa, fa, template, border)
    eb = _embedding(backend, model_id, pb, fb, template, border)
    kw = dict(mode=mode, template=template, layer=layer, grid=grid, border=border)
    sa = _explain(backend, pa, fa, model_id, method, reference=eb, **kw)
    sb = _explain(backend, pb, fb, model_id, method, reference=ea, **kw)
    return PairSaliency(model_id, mode, sa, sb, float(_cosine(ea, eb)),
                        float(np.linalg.norm(ea - eb)))


def pair_saliency_task(backend, pairs, model_id: str, method: str = "gradcam", modes="similar",
                       template=None, cancel: CancelToken | None = None, **kw):
    """Task: :func:`pair_saliency` for each ``(a, b)`` of ``pairs`` (``modes``: one mode, or
    one per pair: "dissimilar" for same-person pairs that came out far apart, "similar" for
    different people who came out close). Yields :class:`Progress` and a
    :class:`PairSaliency` per pair (with ``key`` = the pair, ``error`` when it failed);
    returns them all."""
    pairs = list(pairs)
    modes = [modes] * len(pairs) if isinstance(modes, str) else list(modes)
    out = []
    yield Progress(0, len(pairs), "Explaining pairs", "saliency")
    for i, ((a, b), mode) in enumerate(zip(pairs, modes)):
        check(cancel)
        try:
            res = replace(pair_saliency(backend, a, b, model_id, method, mode,
                                        template=template, **kw), key=(a, b))
        except Exception as exc:  # noqa: BLE001 - shown next to that pair
            res = PairSaliency(model_id, mode, None, None, key=(a, b),
                               error=" ".join(str(exc).split()) or type(exc).__name__)
        out.append(res)
        yield res
        yield Progress(i + 1, len(pairs), "Explaining pairs", "saliency")
    return tuple(out)


__all__ = ["pair_saliency", "pair_saliency_task", "similarity_saliency"]
