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

from dataclasses import dataclass, field

import numpy as np
import torch

from . import align
from .types import Face


@dataclass(frozen=True)
class Transform:
    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0
    scale: float = 1.0


def model_crops(backend, photo, face: Face, model_id: str, dx, dy, angle=0.0, scale=1.0,
                template: str | None = None, border: str = "reflect") -> torch.Tensor:
    """(N, 3, h, w) crops of ``face`` as ``model_id`` sees it, under N transforms (broadcast)."""
    spec = backend.model(model_id).spec
    t = spec.template if template is None else template
    padding = spec.padding if t == spec.template else None
    pixels = photo.pixels if hasattr(photo, "pixels") else photo
    tr = align.transform_matrices(spec.size, dx, dy, angle, scale)
    return align.make_crops(pixels, face, t, tr, size=spec.size, padding=padding, border=border,
                            device=backend.device)


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


def face_metrics(backend, photo, face, model_id: str, **kw) -> Metrics:
    model = backend.model(model_id)
    return aggregate(model_id, model.labels, [sample_face(backend, photo, face, model_id, **kw)])


def folder_metrics(backend, items, model_ids, **kw):
    """Metrics over many faces. ``items`` yields (photo, face). A generator: yields
    ``("progress", done, None)`` per face and finally ``("result", {model_id: Metrics})``."""
    samples: dict[str, list[FaceSamples]] = {m: [] for m in model_ids}
    done = 0
    for photo, face in items:
        for m in model_ids:
            samples[m].append(sample_face(backend, photo, face, m, seed=done, **kw))
        done += 1
        yield ("progress", done, None)
    yield ("result", {m: aggregate(m, backend.model(m).labels, s) for m, s in samples.items()})


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
