"""Per-class invariance: does the model's shift / rotation / scale invariance hold for every class?

Zhou et al., "Do Deep Networks Transfer Invariances Across Classes?" (ICLR 2022): invariance
learned on the large classes of an imbalanced training set does not transfer to the small ones,
so the expected KL divergence ``E_T[KL(p(y|x) || p(y|T x))]`` (eKLD) is larger for classes with
few training images. Here, for a sample of each true class's faces, the model's own crop is
re-warped under random transforms (:func:`~faceinspector.backend.probe.sample_face`: shifts up
to ``shift_iod`` of the inter-ocular distance in the chip, rotations up to 15 degrees, scales
0.9-1.1, as in ``experiment mismatch``), and per class are reported the eKLD, the consistency
(Zhang, ICML 2019: two random shifts agree on the top-1 class) and P(top-1 change) for a 1-px
shift, each with a bootstrap 95 % interval over the faces, beside the class's number of
training images when known (``train_counts``) and their Spearman rank correlation.
"""

from __future__ import annotations

import numpy as np

from .. import align
from .. import probe as pr
from ..facestore import FaceStore
from ..stream import iter_detected
from ..tasks import CancelToken, Progress, check

#: faces per class probed by default
PER_CLASS = 30


def chip_shift(spec, shift_iod: float = 0.5) -> int:
    """The largest random shift (chip px): ``shift_iod`` times the inter-ocular distance where
    the model's template puts the eyes (8 px for a template without points)."""
    chip = align.resolve_chip(spec)
    t = chip.targets()
    if len(t) < 2:
        return 8
    return max(1, int(round(shift_iod * float(np.linalg.norm(t[1] - t[0])))))


def pick_rows(y, found, per_class: int, seed: int = 0) -> list[int]:
    """Up to ``per_class`` rows of each true class among those with a face (seeded), sorted."""
    rng = np.random.default_rng(seed)
    out = []
    for c in sorted(set(int(v) for v in y[y >= 0])):
        rows = np.flatnonzero((y == c) & found)
        out += rows[np.sort(rng.permutation(len(rows))[:per_class])].tolist()
    return sorted(out)


def _mean_ci(values, n_boot: int = 1000, seed: int = 0) -> tuple[float, list[float]]:
    v = np.asarray(values, np.float64)
    if not len(v):
        return float("nan"), [float("nan")] * 2
    rng = np.random.default_rng(seed)
    boots = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(1)
    return float(v.mean()), [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]


def _spearman(a, b) -> float | None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return None
    from scipy.stats import spearmanr

    r = spearmanr(a[ok], b[ok]).statistic
    return None if not np.isfinite(r) else float(r)


def class_invariance(backend, pred, model_id: str, y, per_class: int = PER_CLASS,
                     samples: int = 8, shift_iod: float = 0.5, train_counts=None,
                     store: FaceStore | None = None, seed: int = 0,
                     cancel: CancelToken | None = None):
    """Task: per-class invariance of ``model_id`` on the faces of ``pred`` (a
    :class:`~.predict.Predictions`) whose true class index is ``y``. Yields :class:`Progress`
    (stage ``invariance``) and returns ``{"classes": {class: {...}}, "max_shift_px",
    "samples", "faces", "spearman_ekld_train"}``."""
    model = backend.model(model_id)
    labels = tuple(model.labels)
    rows = pick_rows(np.asarray(y), pred.found, per_class, seed)
    shift = chip_shift(model.spec, shift_iod)
    per: dict[int, list] = {}
    yield Progress(0, len(rows), f"invariance of {model_id}", "invariance")
    paths = [pred.paths[r] for r in rows]
    for k, (r, item) in enumerate(zip(rows, iter_detected(backend, paths, store))):
        check(cancel)
        fi = int(pred.face_index[r])
        if not item.error and 0 <= fi < len(item.faces):
            s = pr.sample_face(backend, item.photo, item.faces[fi], model_id, max_shift=shift,
                               pairs=samples, one_px=samples, transforms=samples, seed=r)
            per.setdefault(int(y[r]), []).append(s)
        yield Progress(k + 1, len(rows), f"invariance of {model_id}", "invariance")
    counts = {str(k): int(v) for k, v in (train_counts or {}).items()}
    classes = {}
    for c, ss in sorted(per.items()):
        ekld, ekld_ci = _mean_ci([s.kls.mean() for s in ss], seed=c)
        cons, cons_ci = _mean_ci([s.agree.mean() for s in ss], seed=c)
        flip, flip_ci = _mean_ci([s.changed.mean() for s in ss], seed=c)
        name = labels[c]
        classes[name] = {"faces": len(ss), "ekld": ekld, "ekld_ci95": ekld_ci,
                         "consistency": cons, "consistency_ci95": cons_ci,
                         "p_top1_change": flip, "p_top1_change_ci95": flip_ci,
                         "train_count": _count(counts, name)}
    names = list(classes)
    rho = _spearman([classes[n]["train_count"] if classes[n]["train_count"] is not None
                     else np.nan for n in names], [classes[n]["ekld"] for n in names])
    return {"classes": classes, "max_shift_px": shift, "samples": samples,
            "faces": sum(v["faces"] for v in classes.values()), "spearman_ekld_train": rho}


def _count(counts: dict, name: str) -> int | None:
    if name in counts:
        return counts[name]
    low = {k.lower(): v for k, v in counts.items()}
    from ..mismatch.fixes import ALIASES

    for k, v in ALIASES.items():
        if v == name.lower() and k in low:
            return low[k]
    return low.get(name.lower())


__all__ = ["PER_CLASS", "chip_shift", "class_invariance", "pick_rows"]
