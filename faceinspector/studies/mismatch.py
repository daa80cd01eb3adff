"""The data-mismatch experiment (issue 8): CelebA-trained gender classifiers tested on LFW.

``faceinspector experiment mismatch`` runs :func:`mismatch`. Each model (the three demo models of
:mod:`faceinspector.backend.models.demo` and ``dlib-gender`` as an outside reference) is scored
under three conditions:

``celeba-test``
    CelebA's test split (009001–010000). The images are already aligned, so no detector runs:
    each model's chip is cropped around the landmarks the ``celeba`` template assigns to an
    aligned CelebA image (:func:`.celeba.celeba_face`): for the CNNs that is the image itself.
``lfw-naive``
    LFW (deep-funneled, 250×250), cropped the naive way: the largest centred box with the aspect
    ratio of the model's input (for the 64×78 CNN chip: 204×250, the full height; for the square
    chips of the other two: the whole image), resized to the input size, as someone would feed
    photos without aligning them. No detector.
``lfw-aligned``
    The same LFW images re-aligned through the backend: MTCNN (smallest face 40 px; LFW faces are
    ~100 px) finds the central face, and each model gets its own chip from the five landmarks
    (``celeba`` template for the CNNs, dlib chips for the others), as the app crops it.

Accuracy is reported plain, class-balanced (mean of the per-class recalls: LFW is 74 % male) and
as macro F1. Invariance metrics (consistency, P(top-1 change) for 1-px shifts, eKLD; see
:mod:`faceinspector.backend.probe`) come from the first ``probe_faces`` CelebA test faces.
Shifts are scaled to each model's chip so that they are the same fraction of the inter-ocular
distance for every model (``shift_iod``); the probe's fixed ±8 crop px would be a 4× larger move
for the 64-px CNN than for the 150-px dlib chip.

:func:`mismatch` is a task (:mod:`faceinspector.backend.tasks`): it yields ``tasks.Progress``
with the stages ``"celeba"``, ``"lfw"`` and ``"probe"``, returns a :class:`MismatchResult` and
raises ``tasks.Cancelled`` between images when its cancel token is set. The tables, CSV files
and HTML page are made by :mod:`.report_html`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backend import align, datasets, tasks
from ..backend import probe as pr
from ..backend.images import ImageError, load_photo
from ..backend.photos import MeanLandmarks, central_face
from ..backend.types import Face
from .celeba import celeba_face, image_dir, iter_celeba, load_images, split_names
from .metrics import class_metrics

MODELS = ("celeba-cnn-naive", "celeba-cnn-randomcrop", "celeba-embedding-head", "dlib-gender")
CONDITIONS = ("celeba-test", "lfw-naive", "lfw-aligned")
CONDITION_TITLES = {
    "celeba-test": "CelebA test (aligned by CelebA)",
    "lfw-naive": "LFW, naive centre crop",
    "lfw-aligned": "LFW, re-aligned (MTCNN → model's template)",
}
#: the model whose flips between naive and re-aligned LFW crops the report shows
FLIP_MODEL = "celeba-cnn-naive"


@dataclass(frozen=True)
class MismatchSettings:
    """What :func:`mismatch` evaluates.

    limit : LFW images, half of them men and half women (0 = all 6,913 with a gender label).
    celeba_limit : CelebA test images (0 = all 1,000).
    probe_faces : CelebA test faces for the invariance metrics.
    probe_samples : pairs / 1-px shifts / random transforms drawn per face (``sample_face``).
    shift_iod : largest random shift, as a fraction of the inter-ocular distance in the chip.
    naive_fraction : side of the naive centre box relative to the largest that fits.
    min_face : MTCNN's smallest face (px) on LFW.
    """

    limit: int = 1000
    celeba_limit: int = 0
    probe_faces: int = 100
    probe_samples: int = 8
    shift_iod: float = 0.5
    naive_fraction: float = 1.0
    min_face: int = 40
    seed: int = 0
    examples: int = 12
    models: tuple[str, ...] = MODELS


@dataclass(frozen=True, eq=False)
class MismatchResult:
    """Everything the table, CSV and HTML report are made of."""

    settings: MismatchSettings
    rows: list[dict]                 # one per model × condition: class_metrics + ids
    invariance: list[dict]           # one per model: probe.Metrics.as_row() + shift used
    examples: list[dict]             # FLIP_MODEL's flips: name, truth, chips, p(male)
    flips: dict                      # FLIP_MODEL's flip counts
    mean_chips: dict                 # condition -> float (h, w, 3) mean CNN chip
    p_male: dict                     # (model, condition) -> (truth (N,), p(male) (N,))
    info: dict = field(default_factory=dict)

    def row(self, model: str, condition: str) -> dict:
        return next(r for r in self.rows if r["model"] == model and r["condition"] == condition)


# ------------------------------------------------------------------------------------ LFW


def lfw_items(root=None, limit: int = 0, seed: int = 0) -> list[tuple[Path, int]]:
    """(image path, 1 = male / 0 = female) for LFW images with a gender label.

    ``limit`` > 0: a random subset (fixed by ``seed``) of ``limit // 2`` men and
    ``limit - limit // 2`` women (fewer if there are not enough), in file-name order.
    ``root``: an LFW folder in any layout :func:`datasets.lfw` accepts, with the gender lists.
    """
    data = datasets.lfw(root, gender=True)
    per_class = []
    for fname, label in zip(data.gender, (0, 1)):  # female, male
        names = sorted({n.strip() for n in fname.read_text().splitlines() if n.strip()})
        paths = [data.image(n) for n in names]
        per_class.append([(p, label) for p in paths if p.is_file()])
    if limit:
        rng = np.random.default_rng(seed)
        want = {0: limit - limit // 2, 1: limit // 2}
        per_class = [[items[i] for i in sorted(rng.permutation(len(items))[:want[c]])]
                     for c, items in enumerate(per_class)]
    return sorted(per_class[0] + per_class[1], key=lambda t: t[0].name)


def naive_matrix(width: int, height: int, size, fraction: float = 1.0) -> np.ndarray:
    """Photo -> chip matrix of the naive crop: the largest centred box with the chip's aspect
    ratio (times ``fraction``), scaled onto the chip. No rotation, no landmarks."""
    w, h = size
    bw = min(width, height * w / h) * fraction
    s = w / bw
    return np.array([[s, 0.0, (w - 1) / 2 - s * (width - 1) / 2],
                     [0.0, s, (h - 1) / 2 - s * (height - 1) / 2]])


def _spec_key(spec) -> tuple:
    return (spec.template, tuple(spec.size), spec.padding)


def chip_iod(spec) -> float:
    """Inter-ocular distance (chip px) where a model's template puts the eyes."""
    t = align.get_template(spec.template).targets(spec.size, spec.padding)
    return float(np.linalg.norm(t[1] - t[0]))


class _Detections:
    """MTCNN landmarks of LFW images, cached as ``.npz`` (arrays only) so re-runs skip MTCNN."""

    def __init__(self, backend, paths: list[Path], min_face: int, cache: Path | None):
        self.backend, self.min_face = backend, min_face
        key = hashlib.sha256(("|".join(p.name for p in paths) + f"|{min_face}").encode())
        self.path = cache / f"lfw-mtcnn-{len(paths)}-{key.hexdigest()[:10]}.npz" if cache else None
        self.boxes = np.full((len(paths), 4), np.nan, np.float32)
        self.landmarks = np.full((len(paths), 5, 2), np.nan, np.float32)
        self.loaded = False
        if self.path is not None and self.path.is_file():
            with np.load(self.path, allow_pickle=False) as z:
                if z["boxes"].shape == self.boxes.shape:
                    self.boxes, self.landmarks, self.loaded = z["boxes"], z["landmarks"], True
        self._detector = None

    def face(self, i: int, photo) -> Face | None:
        if not self.loaded:
            if self._detector is None:
                from ..backend.detect import MTCNNDetector

                self._detector = MTCNNDetector(self.backend.device, min_face=self.min_face)
            f = central_face(self._detector.detect(photo.pixels).faces, photo.width,
                             photo.height)
            if f is not None:
                self.boxes[i] = f.box
                self.landmarks[i] = f.landmarks
        if np.isnan(self.boxes[i, 0]):
            return None
        return Face(tuple(float(v) for v in self.boxes[i]), 1.0, self.landmarks[i])

    def save(self) -> None:
        if self.path is not None and not self.loaded:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.path, boxes=self.boxes, landmarks=self.landmarks)


# ----------------------------------------------------------------------------- the runner


class _Scores:
    """Chips waiting for a model call, and P(male) per (model, condition). The caller flushes
    (every 64 images), so memory stays bounded and each flush reports which images it scored."""

    def __init__(self, backend, models):
        self.backend, self.models = backend, models
        self.male = {m: list(backend.model(m).labels).index("male") for m in models}
        self.pending: dict[tuple, list] = {}
        self.p: dict[tuple, list] = {(m, c): [] for m in models for c in CONDITIONS}

    def add(self, model: str, condition: str, chip: np.ndarray, tag=None) -> None:
        self.pending.setdefault((model, condition), []).append((chip, tag))

    def flush(self, key=None) -> list[tuple]:
        keys = [key] if key is not None else list(self.pending)
        done = []
        for k in keys:
            items = self.pending.pop(k, [])
            if not items:
                continue
            probs = self.backend.run_model(k[0], np.stack([c for c, _ in items])).probs
            pm = probs[:, self.male[k[0]]].astype(np.float64)
            self.p[k] += list(pm)
            done.append((k, [t for _, t in items], pm))
        return done


def mismatch(backend, settings: MismatchSettings = MismatchSettings(), root=None,
             cache: str | Path | None = None, cancel: tasks.CancelToken | None = None, *,
             celeba=None, lfw=None) -> Generator[tasks.Progress, None, MismatchResult]:
    """Task: run the experiment (see the module docstring); returns a :class:`MismatchResult`.

    Parameters
    ----------
    backend : the :class:`~faceinspector.backend.Backend` whose models are scored.
    settings : what to evaluate.
    root : a folder holding ``celeba/`` and ``lfw/``; ``celeba`` / ``lfw``: each data set's own
        folder (any layout :mod:`~faceinspector.backend.datasets` accepts), else ``root``, else
        where the environment says. A missing data set raises ``datasets.DataError``.
    cache : folder for the LFW detection cache (default ``<model cache>/experiment``; ``False``
        for none).
    cancel : stops the run between images (``tasks.Cancelled``).
    """
    s = settings
    celeba_root = celeba if celeba is not None else root
    lfw_root = lfw if lfw is not None else root
    datasets.celeba(celeba_root)  # both data sets are checked before any model runs
    datasets.lfw(lfw_root, gender=True)
    t_all = time.perf_counter()
    models = list(s.models)
    specs = {m: backend.model(m).spec for m in models}
    if cache is None:
        from ..backend.assets import cache_dir

        cache = cache_dir() / "experiment"
    cache = Path(cache) if cache else None
    cnn_spec = specs.get(FLIP_MODEL) or next(iter(specs.values()))
    info: dict = {"device": backend.device_name}
    mean_sum = {c: np.zeros((cnn_spec.size[1], cnn_spec.size[0], 3)) for c in CONDITIONS}
    mean_n = dict.fromkeys(CONDITIONS, 0)
    scores = _Scores(backend, models)
    truth: dict[str, list] = {c: [] for c in CONDITIONS}

    # --- CelebA test split
    t0 = time.perf_counter()
    n_celeba = len(split_names("test", s.celeba_limit or None))
    by_spec: dict[tuple, list[str]] = {}
    for m in models:
        by_spec.setdefault(_spec_key(specs[m]), []).append(m)
    done = 0
    for key, ms in by_spec.items():
        for names, chips, y in iter_celeba("test", specs[ms[0]], s.celeba_limit or None,
                                           celeba_root, batch=64, cancel=cancel):
            if _spec_key(cnn_spec) == key:
                truth["celeba-test"] += list(y)
                mean_sum["celeba-test"] += chips.sum(0)
                mean_n["celeba-test"] += len(chips)
            for m in ms:
                for c in chips:
                    scores.add(m, "celeba-test", c)
            scores.flush()
            done += len(names)
            yield tasks.Progress(done, n_celeba * len(by_spec), "CelebA test", "celeba")
    if not truth["celeba-test"]:  # no model uses the CNN chip: labels from any spec
        truth["celeba-test"] = [y for _, _, ys in iter_celeba(
            "test", specs[models[0]], s.celeba_limit or None, celeba_root) for y in ys]
    info["celeba_seconds"] = time.perf_counter() - t0
    info["celeba_images"] = n_celeba

    # --- LFW: naive and re-aligned
    t0 = time.perf_counter()
    items = lfw_items(lfw_root, s.limit, s.seed)
    dets = _Detections(backend, [p for p, _ in items], s.min_face, cache)
    means, unreadable = MeanLandmarks(), []
    flip_store: dict[int, dict] = {}
    flip_p: dict[str, dict[int, float]] = {"lfw-naive": {}, "lfw-aligned": {}}
    for i, (path, label) in enumerate(items):
        tasks.check(cancel)
        try:
            photo = load_photo(path)
        except ImageError as exc:
            unreadable.append(f"{path.name}: {exc}")
            continue
        face = means.face_or_fallback(dets.face(i, photo), photo.width, photo.height)
        truth["lfw-naive"].append(label)
        truth["lfw-aligned"].append(label)
        chip_cache: dict[tuple, dict] = {}
        for m in models:
            sp = specs[m]
            key = _spec_key(sp)
            if key not in chip_cache:
                chip_cache[key] = {
                    "lfw-naive": align.warp_crop(photo.pixels, naive_matrix(
                        photo.width, photo.height, sp.size, s.naive_fraction), sp.size),
                    "lfw-aligned": align.make_crop(photo.pixels, face, sp.template, size=sp.size,
                                                   padding=sp.padding).pixels,
                }
            for cond in ("lfw-naive", "lfw-aligned"):
                scores.add(m, cond, chip_cache[key][cond], tag=i)
        ck = chip_cache.get(_spec_key(cnn_spec))
        if ck is not None:
            for cond in ("lfw-naive", "lfw-aligned"):
                mean_sum[cond] += ck[cond]
                mean_n[cond] += 1
            if FLIP_MODEL in models:
                flip_store[i] = {"name": path.name, "truth": label, **ck}
        if (i + 1) % 64 == 0 or i + 1 == len(items):
            for (m, cond), tags, pm in scores.flush():
                if m == FLIP_MODEL:
                    flip_p[cond].update(zip(tags, pm))
            flip_store = _keep_flips(flip_store, flip_p, keep=max(4 * s.examples, 48))
        yield tasks.Progress(i + 1, len(items), "LFW naive and re-aligned", "lfw")
    for (m, cond), tags, pm in scores.flush():  # left over when the last images were unreadable
        if m == FLIP_MODEL:
            flip_p[cond].update(zip(tags, pm))
    dets.save()
    info.update(lfw_images=len(truth["lfw-naive"]), lfw_detected=means.found,
                lfw_unreadable=unreadable, lfw_seconds=time.perf_counter() - t0,
                lfw_detections_cached=dets.loaded,
                lfw_men=int(np.sum(truth["lfw-naive"])),
                lfw_women=int(len(truth["lfw-naive"]) - np.sum(truth["lfw-naive"])))

    # --- accuracy tables
    rows, p_male = [], {}
    for m in models:
        for cond in CONDITIONS:
            y = np.asarray(truth[cond], np.int64)
            p = np.asarray(scores.p[(m, cond)], np.float64)
            p_male[(m, cond)] = (y, p)
            met = class_metrics(y, (p >= 0.5).astype(np.int64))
            rows.append({"model": m, "condition": cond, "n": met["n"],
                         "accuracy": met["accuracy"],
                         "balanced_accuracy": met["balanced_accuracy"],
                         "macro_f1": met["macro_f1"],
                         "recall_female": met["recall_0"], "recall_male": met["recall_1"],
                         "f1_female": met["f1_0"], "f1_male": met["f1_1"]})

    # --- flips of the naive CNN
    flips, examples = {}, []
    if FLIP_MODEL in models:
        pn = np.asarray(scores.p[(FLIP_MODEL, "lfw-naive")])
        pa = np.asarray(scores.p[(FLIP_MODEL, "lfw-aligned")])
        y = np.asarray(truth["lfw-naive"])
        flip = (pn >= 0.5) != (pa >= 0.5)
        flips = {"model": FLIP_MODEL, "images": int(len(y)), "flips": int(flip.sum()),
                 "fixed_by_alignment": int((flip & ((pa >= 0.5) == y)).sum()),
                 "broken_by_alignment": int((flip & ((pn >= 0.5) == y)).sum())}
        examples = _pick_examples(flip_store, flip_p, s.examples)

    # --- invariance on CelebA test faces
    t0 = time.perf_counter()
    invariance = []
    names = split_names("test", s.probe_faces)
    photos = list(load_images(image_dir(celeba_root), names))
    k = s.probe_samples
    for j, m in enumerate(models):
        shift = max(1, int(round(s.shift_iod * chip_iod(specs[m]))))
        samples = []
        for i, px in enumerate(photos):
            tasks.check(cancel)
            samples.append(pr.sample_face(backend, px, celeba_face(px.shape[1], px.shape[0]),
                                          m, max_shift=shift, pairs=k, one_px=k, transforms=k,
                                          seed=i))
            yield tasks.Progress(j * len(photos) + i + 1, len(models) * len(photos),
                                 f"invariance of {m}", "probe")
        met = pr.aggregate(m, backend.model(m).labels, samples)
        invariance.append({**met.as_row(), "max_shift_px": shift,
                           "chip_iod_px": round(chip_iod(specs[m]), 1)})
    info["probe_seconds"] = time.perf_counter() - t0
    info["seconds"] = time.perf_counter() - t_all
    mean_chips = {c: mean_sum[c] / mean_n[c] for c in CONDITIONS if mean_n[c]}
    return MismatchResult(settings=s, rows=rows, invariance=invariance, examples=examples,
                          flips=flips, mean_chips=mean_chips, p_male=p_male, info=info)


def _keep_flips(store: dict, flip_p: dict, keep: int) -> dict:
    """Drop stored chips of images whose naive-CNN answers are known and do not flip; keep at
    most ``keep`` flips (the largest changes of P(male))."""
    pn, pa = flip_p["lfw-naive"], flip_p["lfw-aligned"]
    out, flipped = {}, []
    for i, rec in store.items():
        if i in pn and i in pa:
            if (pn[i] >= 0.5) != (pa[i] >= 0.5):
                flipped.append((abs(pn[i] - pa[i]), i))
        else:
            out[i] = rec
    for _, i in sorted(flipped, reverse=True)[:keep]:
        out[i] = store[i]
    return out


def _pick_examples(store: dict, flip_p: dict, n: int) -> list[dict]:
    """Up to ``n`` flips, the largest changes first, with those that alignment fixed first."""
    pn, pa = flip_p["lfw-naive"], flip_p["lfw-aligned"]
    cands = []
    for i, rec in store.items():
        if i in pn and i in pa and (pn[i] >= 0.5) != (pa[i] >= 0.5):
            fixed = (pa[i] >= 0.5) == bool(rec["truth"])
            cands.append((not fixed, -abs(pn[i] - pa[i]), i))
    out = []
    for fixed_last, _, i in sorted(cands)[:n]:
        rec = store[i]
        out.append({"name": rec["name"], "truth": "male" if rec["truth"] else "female",
                    "naive_chip": rec["lfw-naive"], "aligned_chip": rec["lfw-aligned"],
                    "p_male_naive": float(pn[i]), "p_male_aligned": float(pa[i]),
                    "fixed_by_alignment": not fixed_last})
    return out


__all__ = ["CONDITIONS", "CONDITION_TITLES", "FLIP_MODEL", "MODELS", "MismatchResult",
           "MismatchSettings", "chip_iod", "lfw_items", "mismatch", "naive_matrix"]
