"""Our batched torch port of dlib's ResNet embedder vs dlib's own ``compute_face_descriptor``.

Chips: LFW deep-funneled images named in ``pairs.txt`` (the first ``--pairs`` same-person and
``--pairs`` different-person pairs), each through dlib's HOG detector, dlib's 5-point predictor
and ``dlib.get_face_chip(img, shape, size=150, padding=0.25)`` — exactly the chip dlib embeds.
Both embed the same chips; the script prints

- cosine between our embedding and dlib's (mean / min),
- agreement of the same/different decision at distance 0.6 on the LFW pairs and on every pair
  of chips, and LFW-pair accuracy of each,
- embeddings/s of each, interleaved rounds (the CPU may be shared), and the ratio.

Needs the reference, installed only for this check (never a project dependency)::

    .venv/bin/pip install --no-deps face_recognition face_recognition_models

Run: ``.venv/bin/python benchmarks/compare_dlib_resnet.py [--pairs 30] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw"
THRESHOLD = 0.6


def dlib_models():
    """(HOG detector, 5-point predictor, ResNet) from PyPI ``face_recognition_models``.

    The files are located without importing that package (its ``__init__`` needs
    ``pkg_resources``, which current setuptools no longer ships).
    """
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise SystemExit(
            "face_recognition_models is not installed: "
            ".venv/bin/pip install --no-deps face_recognition face_recognition_models"
        )
    models = Path(spec.origin).parent / "models"
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat")),
        dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")),
    )


def lfw_path(name: str, num: int) -> Path:
    return LFW / "lfw-deepfunneled" / name / f"{name}_{num:04d}.jpg"


def dlib_chip(path: Path, detector, predictor, size: int = 150, padding: float = 0.25):
    """dlib's own aligned chip (uint8 RGB, size x size) of the largest face, or None."""
    import dlib
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB"))
    dets = detector(img, 1)
    if not dets:
        return None
    det = max(dets, key=lambda r: r.area())
    return dlib.get_face_chip(img, predictor(img, det), size=size, padding=padding)


def lfw_pairs(n: int) -> list[tuple[str, int, str, int]]:
    """The first n same-person and n different-person pairs of LFW fold 1."""
    lines = (LFW / "pairs.txt").read_text().split("\n")[1:]
    same, diff = [], []
    for line in lines:
        f = line.split()
        if len(f) == 3 and len(same) < n:
            same.append((f[0], int(f[1]), f[0], int(f[2])))
        elif len(f) == 4 and len(diff) < n:
            diff.append((f[0], int(f[1]), f[2], int(f[3])))
    return same + diff


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=30, help="same- and different-person pairs each")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    ap.add_argument("--batch", type=int, default=64, help="torch batch size")
    args = ap.parse_args()

    import torch

    from faceinspector.backend.models.dlib_resnet import DlibResNet

    detector, predictor, rec = dlib_models()
    pairs = lfw_pairs(args.pairs)
    keys = sorted({(a, i) for a, i, _, _ in pairs} | {(b, j) for _, _, b, j in pairs})
    chips, index = [], {}
    for key in keys:
        chip = dlib_chip(lfw_path(*key), detector, predictor)
        if chip is not None:
            index[key] = len(chips)
            chips.append(chip)
    chips = np.stack(chips)
    print(f"{len(chips)} chips from {len(keys)} LFW images (HOG found no face in the rest)")

    ref = np.array([rec.compute_face_descriptor(c) for c in chips], dtype=np.float32)
    model = DlibResNet()
    ours = model.embed(chips, batch_size=args.batch)
    cos = cosine(ours, ref)
    print(f"cosine ours vs dlib: mean {cos.mean():.5f}  min {cos.min():.5f}  "
          f"(L2 gap mean {np.linalg.norm(ours - ref, axis=1).mean():.4f})")

    def decide(e, i, j):
        return np.linalg.norm(e[i] - e[j], axis=-1) < THRESHOLD

    usable = [(index[(a, i)], index[(b, j)], a == b) for a, i, b, j in pairs
              if (a, i) in index and (b, j) in index]
    pi = np.array([u[0] for u in usable])
    pj = np.array([u[1] for u in usable])
    truth = np.array([u[2] for u in usable])
    d_ours, d_ref = decide(ours, pi, pj), decide(ref, pi, pj)
    print(f"LFW pairs ({len(usable)}): decisions agree {np.mean(d_ours == d_ref):.2%} "
          f"({int(np.sum(d_ours != d_ref))} differ); accuracy ours {np.mean(d_ours == truth):.2%}, "
          f"dlib {np.mean(d_ref == truth):.2%}")
    ai, aj = np.triu_indices(len(chips), 1)
    a_ours, a_ref = decide(ours, ai, aj), decide(ref, ai, aj)
    print(f"all {len(ai)} chip pairs: decisions agree {np.mean(a_ours == a_ref):.3%} "
          f"({int(np.sum(a_ours != a_ref))} differ)")
    flip = a_ours != a_ref
    if flip.any():
        d_flip = np.linalg.norm(ref[ai[flip]] - ref[aj[flip]], axis=-1)
        print(f"  dlib's distances where they differ: {np.round(np.sort(d_flip), 4).tolist()}")

    # Speed: interleave rounds so every contender sees the same background load (the CPU may
    # be shared); report best and median. Torch runs with its default threads and with one.
    n = len(chips)
    threads = torch.get_num_threads()
    model.embed(chips[: args.batch], batch_size=args.batch)  # warm-up
    rates: dict[str, list[float]] = {}

    def timed(name, fn):
        t = time.perf_counter()
        fn()
        rates.setdefault(name, []).append(n / (time.perf_counter() - t))

    ours = f"ours, torch {threads} thr"
    for _ in range(args.rounds):
        torch.set_num_threads(threads)
        timed(ours, lambda: model.embed(chips, batch_size=args.batch))
        if threads > 1:
            torch.set_num_threads(1)
            timed("ours, torch 1 thr", lambda: model.embed(chips, batch_size=args.batch))
        timed("dlib per chip", lambda: [rec.compute_face_descriptor(c) for c in chips])
        timed("dlib list overload", lambda: rec.compute_face_descriptor(list(chips)))
    torch.set_num_threads(threads)
    print(f"embeddings/s, {args.rounds} interleaved rounds of {n} chips, batch {args.batch}:")
    for name, r in rates.items():
        print(f"  {name:20s} best {max(r):7.1f}/s  median {statistics.median(r):7.1f}/s")
    base = rates["dlib per chip"]
    for name in [k for k in rates if k.startswith("ours")]:
        r = rates[name]
        print(f"speed ratio {name} / dlib per chip: best {max(r) / max(base):.1f}x, "
              f"median {statistics.median(r) / statistics.median(base):.1f}x")


if __name__ == "__main__":
    main()
