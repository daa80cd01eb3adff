"""Class saliency and occlusion on one crop, the model's capabilities, and the ``explain`` task.

Internals shared by the package's other modules: the (moved) chip, the backend's lock and thread
policy, the occluded batch's scores, and :func:`_explain`, which every map goes through.
"""

from __future__ import annotations

import time

import numpy as np

from ..tasks import CancelToken, Progress, check
from ..types import Face
from . import heatmap
from .results import (METHODS, MODES, NO_MOVE, TITLES, Explained, Saliency, SaliencyInfo)


def preload() -> None:
    """Import torch and grad-cam now, e.g. on a worker at start-up: grad-cam loads torchvision,
    matplotlib's pyplot and scikit-learn for its own helpers (3-7 s on the 2-core machine, and
    the import holds the GIL for up to ~0.35 s at a time)."""
    import pytorch_grad_cam  # noqa: F401

    from . import cam  # noqa: F401


def info(backend, model_id: str) -> SaliencyInfo:
    """:class:`SaliencyInfo` of a model (loads it)."""
    from . import cam

    model = backend.model(model_id)
    net = cam.net_of(model)
    emb = model.task == "embedding"
    if not net.layers:
        methods, note = ("occlusion",), f"only occlusion: {net.reason}"
    elif emb:
        methods, note = METHODS, ("one face: eigencam and occlusion; Grad-CAM needs a second "
                                  "face (similarity saliency)")
    else:
        methods, note = METHODS, net.how
    return SaliencyInfo(model_id, model.task, tuple(model.labels), emb, tuple(net.layers),
                        net.default, methods, note)


# ------------------------------------------------------------------------------ internals


def _lock(backend):
    import contextlib

    return getattr(backend, "_lock", None) or contextlib.nullcontext()


def _torch_threads(backend) -> None:
    """The backend's thread policy for a torch pass on the CPU (what ``run_model`` does), and
    subnormal floats flushed on this thread (``engines.flush_denormals``)."""
    if getattr(backend, "device_str", "cpu") == "cpu":
        from .. import engines

        engines.flush_denormals()
        engines.apply_torch_threads(engines.threads_now())


def _pixels(photo):
    return photo.pixels if hasattr(photo, "pixels") else np.asarray(photo)


def _chip(backend, model, photo, face: Face, template, transform, border):
    """The (moved) chip as a (1, 3, h, w) float tensor (whole numbers), its uint8 pixels, its
    matrix, template name and transform."""
    from .. import align

    chip = align.resolve_chip(model.spec, template)
    t = tuple(float(v) for v in (transform or NO_MOVE))
    tr = align.transform_matrices(chip.size, *t)
    # rounded to the uint8 crop it returns: the model sees exactly the pixels shown (and a
    # prediction of the same crop gives the same numbers)
    x = chip.crops(_pixels(photo), face, tr, border=border, device=backend.device)
    x = x.round_().clamp_(0, 255)
    matrix = (tr[0] @ np.vstack([chip.matrix(face), [0.0, 0.0, 1.0]]))[:2]
    return x, align.to_uint8_hwc(x)[0], matrix, chip.name, t


def _class_index(model, target) -> int | None:
    if target is None or model.task == "embedding":
        return None
    labels = tuple(model.labels)
    if isinstance(target, str) and target in labels:
        return labels.index(target)
    try:
        index = int(target)
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < len(labels):
        raise ValueError(f"{model.id} has no class {target!r}; its classes are "
                         f"{', '.join(labels[:12])}{' ...' if len(labels) > 12 else ''} "
                         f"(or an index 0..{len(labels) - 1})")
    return index


def class_index(backend, model_id: str, target) -> int | None:
    """The class index ``target`` (a label, an index, or its digits) means for ``model_id``;
    None for None and for embedders. ``ValueError`` lists the model's classes."""
    return _class_index(backend.model(model_id), target)


def _occlusion(backend, model_id, x, score_fn, grid, fill):
    """Δ score per patch (signed, patch-constant map at crop size), the score, the best patch's
    centre."""
    from . import cam

    gx, gy = grid
    out = backend.run_model(model_id, cam.occluded(x, (gx, gy), fill))
    scores = np.asarray(score_fn(out), np.float64)
    delta = (scores[0] - scores[1:]).astype(np.float32)
    h, w = x.shape[2:]
    heat = delta[heatmap.patch_index((w, h), (gx, gy))]
    centre = heatmap.patch_centres((w, h), (gx, gy))[int(np.argmax(delta))]
    return heat, float(scores[0]), (float(centre[0]), float(centre[1]))


def _cosine(a, b) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a @ b) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b), 1e-12)


def _grid(grid) -> tuple[int, int]:
    g = (int(grid), int(grid)) if np.isscalar(grid) else tuple(int(v) for v in grid)
    if len(g) != 2 or min(g) < 1 or max(g) > 64:
        raise ValueError(f"grid must be 1..64 patches per side, got {grid!r}")
    return g


def _explain(backend, photo, face, model_id, method, *, class_target=None, reference=None,
             mode="similar", template=None, transform=None, layer=None, grid=8, fill="mean",
             border="reflect") -> Saliency:
    from . import cam

    t0 = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use {', '.join(METHODS)}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    model = backend.model(model_id)
    emb = model.task == "embedding"
    if reference is not None and not emb:
        raise ValueError(f"{model_id} is not an embedder; similarity saliency needs one")
    net = cam.net_of(model)
    if layer is not None and net.layers and layer not in net.layers:
        raise ValueError(f"{model_id} has no layer {layer!r}; its layers: "
                         f"{', '.join(net.layers)}")
    index = _class_index(model, class_target)
    g = _grid(grid)
    x, crop, matrix, tname, t = _chip(backend, model, photo, face, template, transform, border)
    sign = -1.0 if mode == "dissimilar" else 1.0
    used, notes = method, []
    if method != "occlusion" and not net.layers:
        used = "occlusion"
        notes.append(f"{TITLES[method]} needs reachable torch layers, and {model_id} has none: "
                     f"{net.reason}; showing occlusion")
    elif method in cam.GRADIENT_METHODS and emb and reference is None:
        used = "occlusion"
        notes.append(f"{TITLES[method]} on an embedder needs a second face (similarity "
                     "saliency); showing occlusion: how much each patch changes the embedding")
    if net.how and used != "occlusion":
        notes.append(net.how)
    heat, where, target_name = None, None, "class"
    if emb:
        target_name = "embedding" if reference is None else \
            ("similarity" if sign > 0 else "dissimilarity")
    lname = ""
    if used != "occlusion":
        lname = layer or net.default
        target = cam.CosineTo(reference, sign) if reference is not None else \
            cam.ClassScore(index)
        try:
            with _lock(backend):
                _torch_threads(backend)
                heat, out = cam.run_cam(model, net, used, x, target, lname)
        except cam.CamUnavailable as exc:
            used, lname = "occlusion", ""
            notes.append(f"{TITLES[method]} is not available for {model_id} ({exc}); "
                         "showing occlusion")
        else:
            out = out.float().cpu().numpy()
            if reference is not None:
                score = float(_cosine(out, reference))
            elif emb:
                score = float("nan")
            else:
                if index is None:  # the top class (grad-cam's target found it, or EigenCAM)
                    index = target.index if target.index is not None else int(np.argmax(out))
                score = float(out[index])
            if used == "eigencam":
                notes.append("EigenCAM is class-agnostic: the first principal component of the "
                             "layer's activations, the same map for every target")
            scale, where = 1.0, heatmap.peak(heat)
    if used == "occlusion":
        if reference is not None:
            def score_fn(o):
                return sign * _cosine(o.embeddings, reference)
        elif emb:
            base: dict = {}

            def score_fn(o):
                base.setdefault("e", o.embeddings[0])
                return _cosine(o.embeddings, base["e"])
        else:
            def score_fn(o):
                nonlocal index
                if o.probs is None or not o.probs.size:
                    raise ValueError(f"{model_id} gives no class probabilities")
                index = int(np.argmax(o.probs[0])) if index is None else index
                return o.probs[:, index]
        heat, score, where = _occlusion(backend, model_id, x, score_fn, g, fill)
        scale = float(np.abs(heat).max())
        if reference is not None:
            score = sign * score
    labels = tuple(model.labels)
    if emb:
        label = {"embedding": "embedding", "similarity": "similar to the other face",
                 "dissimilarity": "different from the other face"}[target_name]
        cidx = -1
    else:
        cidx = int(index)
        label = labels[cidx] if cidx < len(labels) else str(cidx)
    if not np.any(heat > 0):
        notes.append("the map is empty: nothing in this crop raises the target")
    mask = heatmap.box_mask(matrix, face.box, heat.shape)
    return Saliency(
        model_id=model_id, method=used, requested=method, target=target_name, class_index=cidx,
        class_label=label, map=heat, signed=used == "occlusion", scale=float(scale), crop=crop,
        matrix=matrix, box=heatmap.box_in_crop(matrix, face.box), template=tname, transform=t,
        layer=lname, grid=g if used == "occlusion" else None, score=float(score), peak=where,
        mass_in_face_box=heatmap.mass_inside(heat, mask), seconds=time.perf_counter() - t0,
        note="; ".join(notes))


# ---------------------------------------------------------------------------- public API


def class_saliency(backend, photo, face: Face, model_id: str, method: str = "gradcam",
                   target=None, *, template=None, transform=None, layer: str | None = None,
                   grid=8, fill="mean", border: str = "reflect") -> Saliency:
    """Where ``model_id`` looks on this face for class ``target`` (an index or a label; None:
    its top class).

    ``method``: :data:`METHODS`; ``template``: None for the model's own chip, or a template
    forced at its size (``"raw"``: the box crop); ``transform``: ``(dx, dy, angle, scale)`` in
    the model's crop px (the Probe pane's sliders); ``layer``: a name from :func:`info` (None:
    the model's default); occlusion's ``grid`` (patches per side, or ``(gx, gy)``) and ``fill``
    ("mean" colour or a grey level). An embedder gets EigenCAM, or occlusion of its embedding.
    Plain function, ~5-60 ms (one chip); run it on a worker."""
    return _explain(backend, photo, face, model_id, method, class_target=target,
                    template=template, transform=transform, layer=layer, grid=grid, fill=fill,
                    border=border)


def occlusion(backend, photo, face: Face, model_id: str, target=None, *, grid=8, fill="mean",
              template=None, transform=None, border: str = "reflect") -> Saliency:
    """:func:`class_saliency` with ``method="occlusion"``: works for any model, ONNX included."""
    return class_saliency(backend, photo, face, model_id, "occlusion", target, grid=grid,
                          fill=fill, template=template, transform=transform, border=border)


def occlusion_steps(backend, photo, face: Face, model_id: str, target=None, grids=(4, 8),
                    cancel: CancelToken | None = None, **kw):
    """Task: occlusion maps from coarse to fine (one batch each), each yielded as soon as it is
    ready, so a view shows the 4x4 map while the 8x8 one runs (a 64 px chip of the dlib age
    network costs 3.5-7 ms per patch on this 2-core CPU). Returns the finest."""
    res = None
    for i, g in enumerate(grids):
        check(cancel)
        res = occlusion(backend, photo, face, model_id, target, grid=g, **kw)
        yield res
        yield Progress(i + 1, len(grids), f"occlusion {res.grid[0]}x{res.grid[1]}", "saliency")
    return res


def explain_faces(backend, items, model_ids, method: str = "gradcam", target=None,
                  template=None, grid=8, total: int = 0, cancel: CancelToken | None = None,
                  **kw):
    """Task: :func:`class_saliency` for every ``(key, face_index, photo, face)`` of ``items``
    and every model. Yields an :class:`Explained` per face and model and :class:`Progress`
    per face; returns the list."""
    out = []
    for done, (key, index, photo, face) in enumerate(items, 1):
        for mid in model_ids:
            check(cancel)
            try:
                res = Explained(key, index, mid, class_saliency(
                    backend, photo, face, mid, method, target, template=template, grid=grid,
                    **kw))
            except Exception as exc:  # noqa: BLE001 - reported for that face and model
                res = Explained(key, index, mid, None, " ".join(str(exc).split()))
            out.append(res)
            yield res
        yield Progress(done, total, "Explaining faces", "saliency")
    return out


__all__ = ["class_index", "class_saliency", "explain_faces", "info", "occlusion",
           "occlusion_steps", "preload"]
