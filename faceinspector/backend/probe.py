"""Transform sweeps and invariance metrics: how a model's answer moves when the crop moves.

Every transformed crop is re-warped from the original photo (so a shifted crop shows real photo
content, not a black border, unless ``border="zeros"`` is asked for), all N crops of a sweep in
one ``grid_sample`` call and one batched forward pass.

Metrics (per model, for one face or aggregated over many):

consistency
    Zhang, "Making Convolutional Networks Shift-Invariant Again" (ICML 2019, antialiased-cnns):
    the probability that two random shifts of the input, each uniform in ``[-N, N]`` pixels per
    axis, get the same top-1 class.
p_top1_change, mean_abs_change
    Azulay & Weiss, "Why do deep convolutional networks generalize so poorly to small image
    transformations?" (JMLR 2019): over random base positions, the probability that a further
    1-pixel shift (in x or y) changes the top-1 class, and the mean absolute change of the
    probability of the class that was on top before the shift.
ekld
    Zhou et al., "Do Deep Networks Transfer Invariances Across Classes?" (ICLR 2022, GIT):
    expected KL divergence ``E_T[ KL( p(y|x) || p(y|T(x)) ) ]`` over sampled transforms ``T``
    (shifts, rotations, scales), reported per class (grouped by the class predicted on the
    untransformed input) and overall.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from . import align
from .tasks import CancelToken, Progress, check
from .types import Face


@dataclass(frozen=True)
class Transform:
    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0
    scale: float = 1.0


def model_crops(backend, photo, face: Face, model_id: str, dx, dy, angle=0.0, scale=1.0,
                template=None, border: str = "reflect") -> torch.Tensor:
    """(N, 3, h, w) crops of ``face`` as ``model_id`` sees it (:func:`align.resolve_chip`),
    under N transforms (broadcast)."""
    chip = align.resolve_chip(backend.model(model_id).spec, template)
    pixels = photo.pixels if hasattr(photo, "pixels") else photo
    tr = align.transform_matrices(chip.size, dx, dy, angle, scale)
    return chip.crops(pixels, face, tr, border=border, device=backend.device)


def sweep_probs(backend, photo, face: Face, model_id: str, dx, dy, angle=0.0, scale=1.0,
                template: str | None = None, border: str = "reflect",
                chunk: int = 512) -> np.ndarray:
    """Class probabilities (N, C) under N transforms, batched."""
    crops = model_crops(backend, photo, face, model_id, dx, dy, angle, scale, template, border)
    outs = [backend.run_model(model_id, crops[i:i + chunk]).probs
            for i in range(0, len(crops), chunk)]
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def shift_grid(backend, photo, face, model_id, radius: int = 10, step: float = 1.0,
               **kw) -> tuple[np.ndarray, np.ndarray]:
    """Top-class landscape: offsets (K,) and probabilities (K, K, C) for a dx × dy grid."""
    offs = np.arange(-radius, radius + 1e-9, step)
    dy, dx = np.meshgrid(offs, offs, indexing="ij")
    probs = sweep_probs(backend, photo, face, model_id, dx.ravel(), dy.ravel(), **kw)
    return offs, probs.reshape(len(offs), len(offs), -1)


def flips(grid_probs: np.ndarray) -> np.ndarray:
    """Boolean (K, K) mask of grid cells whose top-1 differs from the centre cell's."""
    top = grid_probs.argmax(-1)
    c = grid_probs.shape[0] // 2
    return top != top[c, c]


def kl(p: np.ndarray, q: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    p = np.clip(p, eps, 1)
    q = np.clip(q, eps, 1)
    return (p * (np.log(p) - np.log(q))).sum(-1)


@dataclass(frozen=True, eq=False)
class Metrics:
    """Invariance metrics of one model (over one or more faces)."""

    model_id: str
    labels: tuple[str, ...]
    faces: int
    consistency: float
    p_top1_change: float
    mean_abs_change: float
    ekld: float
    ekld_per_class: dict = field(default_factory=dict)  # label -> (eKLD, number of faces)

    def as_row(self) -> dict:
        row = {"model": self.model_id, "faces": self.faces, "consistency": self.consistency,
               "p_top1_change_1px": self.p_top1_change, "mean_abs_change_1px": self.mean_abs_change,
               "ekld": self.ekld}
        for label, (v, n) in self.ekld_per_class.items():
            row[f"ekld[{label}]"] = v
        return row


@dataclass(frozen=True, eq=False)
class FaceSamples:
    """Raw per-face samples; :func:`aggregate` turns a list of them into :class:`Metrics`."""

    agree: np.ndarray        # (pairs,) bool: two random shifts agree on top-1
    changed: np.ndarray      # (n,) bool: a 1-px shift changed top-1
    abs_change: np.ndarray   # (n,) |Δ p(top class)| for a 1-px shift
    kls: np.ndarray          # (m,) KL(p(x) || p(T x))
    base_class: int          # top-1 on the untransformed crop


def sample_face(backend, photo, face, model_id: str, *, max_shift: int = 8, pairs: int = 32,
                one_px: int = 32, transforms: int = 32, max_angle: float = 15.0,
                scale_range: tuple[float, float] = (0.9, 1.1), seed: int = 0,
                template: str | None = None, border: str = "reflect") -> FaceSamples:
    """Draw all the metric samples for one face in ONE batched sweep."""
    rng = np.random.default_rng(seed)
    n = max_shift
    a = rng.integers(-n, n + 1, size=(pairs, 2))
    b = rng.integers(-n, n + 1, size=(pairs, 2))
    base = rng.integers(-n, n + 1, size=(one_px, 2))
    step = np.where(rng.random(one_px)[:, None] < 0.5, [[1, 0]], [[0, 1]])
    step = step * rng.choice([-1, 1], size=(one_px, 1))
    moved = base + step
    t_dx = rng.uniform(-n, n, transforms)
    t_dy = rng.uniform(-n, n, transforms)
    t_ang = rng.uniform(-max_angle, max_angle, transforms)
    t_sc = rng.uniform(*scale_range, transforms)
    dx = np.concatenate([[0], a[:, 0], b[:, 0], base[:, 0], moved[:, 0], t_dx])
    dy = np.concatenate([[0], a[:, 1], b[:, 1], base[:, 1], moved[:, 1], t_dy])
    ang = np.concatenate([np.zeros(1 + 2 * pairs + 2 * one_px), t_ang])
    sc = np.concatenate([np.ones(1 + 2 * pairs + 2 * one_px), t_sc])
    p = sweep_probs(backend, photo, face, model_id, dx, dy, ang, sc, template, border)
    p0 = p[0]
    pa, pb = p[1:1 + pairs], p[1 + pairs:1 + 2 * pairs]
    o = 1 + 2 * pairs
    pbase, pmoved = p[o:o + one_px], p[o + one_px:o + 2 * one_px]
    pt = p[o + 2 * one_px:]
    top_base = pbase.argmax(1)
    rows = np.arange(one_px)
    return FaceSamples(
        agree=pa.argmax(1) == pb.argmax(1),
        changed=top_base != pmoved.argmax(1),
        abs_change=np.abs(pbase[rows, top_base] - pmoved[rows, top_base]),
        kls=kl(p0[None], pt),
        base_class=int(p0.argmax()),
    )


def aggregate(model_id: str, labels, samples: list[FaceSamples]) -> Metrics:
    labels = tuple(labels)
    if not samples:
        return Metrics(model_id, labels, 0, float("nan"), float("nan"), float("nan"), float("nan"))
    per_class: dict[str, tuple[float, int]] = {}
    for c in sorted({s.base_class for s in samples}):
        group = [s.kls.mean() for s in samples if s.base_class == c]
        name = labels[c] if c < len(labels) else str(c)
        per_class[name] = (float(np.mean(group)), len(group))
    return Metrics(
        model_id=model_id, labels=labels, faces=len(samples),
        consistency=float(np.concatenate([s.agree for s in samples]).mean()),
        p_top1_change=float(np.concatenate([s.changed for s in samples]).mean()),
        mean_abs_change=float(np.concatenate([s.abs_change for s in samples]).mean()),
        ekld=float(np.mean([s.kls.mean() for s in samples])),
        ekld_per_class=per_class,
    )


def face_metrics(backend, photo, face, model_id: str, max_shift: int = 8, **kw) -> Metrics:
    """Invariance metrics of one model on one face (random shifts up to ``max_shift`` px)."""
    model = backend.model(model_id)
    return aggregate(model_id, model.labels, [sample_face(
        backend, photo, face, model_id, max_shift=int(max_shift), **kw)])


def sample_faces(backend, items, model_ids, total: int = 0,
                 cancel: CancelToken | None = None, **kw):
    """Task: :func:`sample_face` for every (photo, face) of ``items`` and every model (face
    ``k`` is seeded with ``k``); yields :class:`Progress` per face and returns
    ``{model_id: [FaceSamples per face]}``."""
    samples: dict[str, list[FaceSamples]] = {m: [] for m in model_ids}
    for done, (photo, face) in enumerate(items, 1):
        check(cancel)
        for m in model_ids:
            samples[m].append(sample_face(backend, photo, face, m, seed=done - 1, **kw))
        yield Progress(done, total, "Probing faces", "probe")
    return samples


def folder_metrics(backend, items, model_ids, total: int = 0,
                   cancel: CancelToken | None = None, **kw):
    """Task: invariance metrics over many faces. ``items`` yields (photo, face); yields
    :class:`Progress` per face and returns ``{model_id: Metrics}``."""
    samples = yield from sample_faces(backend, items, model_ids, total, cancel, **kw)
    return {m: aggregate(m, backend.model(m).labels, s) for m, s in samples.items()}


#: default sweep ranges: name -> values (the probe pane's sliders span the same ranges)
SWEEP_VALUES = {
    "dx": np.arange(-16, 17, 1.0),
    "dy": np.arange(-16, 17, 1.0),
    "angle": np.arange(-45, 46, 3.0),
    "scale": np.round(np.arange(0.7, 1.401, 0.025), 3),
}


def one_d_sweeps(backend, photo, face, model_id: str, base: Transform = Transform(),
                 template: str | None = None, border: str = "reflect",
                 values: dict | None = None) -> dict:
    """Each parameter swept on its own around ``base``: {name: (values, probs (K, C))},
    all four sweeps in one batch."""
    values = values or SWEEP_VALUES
    cols = {k: [] for k in ("dx", "dy", "angle", "scale")}
    spans = {}
    for name, vals in values.items():
        start = len(cols["dx"])
        for v in vals:
            t = {"dx": base.dx, "dy": base.dy, "angle": base.angle, "scale": base.scale}
            t[name] = v
            for k in cols:
                cols[k].append(t[k])
        spans[name] = (start, len(cols["dx"]))
    p = sweep_probs(backend, photo, face, model_id, np.array(cols["dx"]), np.array(cols["dy"]),
                    np.array(cols["angle"]), np.array(cols["scale"]), template, border)
    return {name: (np.asarray(values[name]), p[a:b]) for name, (a, b) in spans.items()}


# --------------------------------------------------------------------------- the live probe
#
# The Probe pane's sliders are in pixels of a *reference* model's crop (the first model it
# shows); every other model is moved by the same fraction of its own crop: ``unit`` is that
# model's crop width over the reference's (1.0 for the reference itself).


@dataclass(frozen=True, eq=False)
class ProbeView:
    """Live probe result: the selected models' probabilities on the untransformed crop and on
    the transformed one, and the first model's two crops (what the pane shows)."""

    transform: tuple[float, float, float, float]  # dx, dy (reference px), angle, scale
    model_ids: tuple[str, ...]
    labels: dict  # model id -> class names
    base: dict  # model id -> (C,) probabilities, untransformed (empty: not asked for)
    probs: dict  # model id -> (C,) probabilities, transformed
    errors: dict  # model id -> one line
    crop_model: str = ""
    original: np.ndarray | None = None  # uint8 (h, w, 3)
    moved: np.ndarray | None = None
    landmarks: np.ndarray | None = None  # (5, 2) in the untransformed crop
    moved_landmarks: np.ndarray | None = None
    targets: np.ndarray | None = None  # where the template wants the landmarks
    seconds: float = 0.0


@dataclass(frozen=True, eq=False)
class ProbeSweep:
    """One model's four one-parameter sweeps around the untransformed crop."""

    model_id: str
    labels: tuple[str, ...]
    sweeps: dict  # name -> (values in reference units (K,), probabilities (K, C))
    seconds: float = 0.0


@dataclass(frozen=True, eq=False)
class ProbeHeat:
    """Rows ``rows[0]:rows[1]`` (dy) of a dx × dy grid of one model's probabilities (offsets in
    reference px); the pane puts the pieces together."""

    model_id: str
    labels: tuple[str, ...]
    offsets: np.ndarray  # (K,)
    grid: np.ndarray  # (rows, K, C), [dy, dx]
    rows: tuple[int, int] = (0, 0)
    seconds: float = 0.0


def probe_live(backend, photo, face: Face, model_ids, units: dict, transform,
               template=None, border: str = "reflect", with_base: bool = True,
               cancel: CancelToken | None = None) -> ProbeView:
    """Every model on the transformed crop, and with ``with_base`` on the untransformed one
    too (one batch per model; the pane asks for the untransformed part once per face, model,
    template and border). ``transform`` is (dx, dy, angle, scale), dx/dy in reference px."""
    t0 = time.perf_counter()
    dx, dy, angle, scale = (float(v) for v in transform)
    labels, base, probs, errors, shown = {}, {}, {}, {}, {}
    k = 1 if with_base else 0  # index of the transformed crop in the batch
    for mid in model_ids:
        check(cancel)
        u = float(units.get(mid, 1.0))
        try:
            crops = model_crops(backend, photo, face, mid, [0.0, dx * u][-1 - k:],
                                [0.0, dy * u][-1 - k:], [0.0, angle][-1 - k:],
                                [1.0, scale][-1 - k:], template, border)
            out = backend.run_model(mid, crops)
            if out.probs is None or not out.probs.size:
                raise ValueError(f"{mid} gives no class probabilities")
            labels[mid], probs[mid] = tuple(out.labels), out.probs[k]
            if with_base:
                base[mid] = out.probs[0]
        except Exception as exc:  # noqa: BLE001 - shown next to that model
            errors[mid] = " ".join(str(exc).split()) or type(exc).__name__
            continue
        if not shown:
            chip = align.resolve_chip(backend.model(mid).spec, template)
            m = np.vstack([chip.matrix(face), [0.0, 0.0, 1.0]])
            moved = align.transform_matrix(chip.size, dx * u, dy * u, angle, scale) @ m
            pix = align.to_uint8_hwc(crops)
            shown = dict(crop_model=mid, moved=pix[k],
                         moved_landmarks=align.map_points(moved[:2], face.landmarks)
                         .astype(np.float32), targets=chip.targets())
            if with_base:
                shown.update(original=pix[0], landmarks=align.map_points(
                    m[:2], face.landmarks).astype(np.float32))
    return ProbeView((dx, dy, angle, scale), tuple(model_ids), labels, base, probs, errors,
                     seconds=time.perf_counter() - t0, **shown)


def probe_sweep(backend, photo, face: Face, model_id: str, unit: float, values: dict,
                template=None, border: str = "reflect") -> ProbeSweep:
    """dx, dy, angle and scale swept one at a time (one batch); ``values`` in reference units."""
    t0 = time.perf_counter()
    scaled = {k: (np.asarray(v, float) * unit if k in ("dx", "dy") else np.asarray(v, float))
              for k, v in values.items()}
    out = one_d_sweeps(backend, photo, face, model_id, template=template, border=border,
                       values=scaled)
    sweeps = {k: (np.asarray(values[k], float), probs) for k, (_v, probs) in out.items()}
    return ProbeSweep(model_id, tuple(backend.model(model_id).labels), sweeps,
                      time.perf_counter() - t0)


def probe_heat(backend, photo, face: Face, model_id: str, unit: float, radius: float,
               n: int = 21, rows: tuple[int, int] | None = None, template=None,
               border: str = "reflect") -> ProbeHeat:
    """An ``n`` × ``n`` shift grid over ±``radius`` reference px (only the dy rows ``rows``,
    so a big model's grid can be computed in pieces), one batched warp + forward."""
    t0 = time.perf_counter()
    a, b = (0, n) if rows is None else rows
    offs = np.linspace(-radius, radius, n)  # what shift_grid does, exactly n steps
    dy, dx = np.meshgrid(offs[a:b] * unit, offs * unit, indexing="ij")
    probs = sweep_probs(backend, photo, face, model_id, dx.ravel(), dy.ravel(),
                        template=template, border=border)
    return ProbeHeat(model_id, tuple(backend.model(model_id).labels), offs,
                     probs.reshape(b - a, n, -1), (a, b), time.perf_counter() - t0)
