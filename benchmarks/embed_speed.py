"""Embedding LFW faces end to end (read + decode, MTCNN, dlib chip, ResNet), today vs now.

Two paths over the same images, interleaved in slices so both see the same machine, quiet and
with one core kept busy by a Python loop in another process (``--load``):

* **today** (before issue 16): one photo at a time, read then detected with the torch MTCNN of
  ``benchmarks/_baseline_mtcnn.py`` (the old detector), the torch ResNet port in batches of 32,
  torch's default threads;
* **now**: :func:`faceinspector.backend.embeddings.embed_images` -- what ``faceinspector eval``
  and the Verification pane run: a reader thread decodes ahead, MTCNN runs on batches of
  photos (ONNX Runtime on CPU), the ResNet through ONNX Runtime, chunks on one-thread lanes,
  threads from the free cores (``--engine`` forces one engine).

Prints images/s of each, the ratio now/today, and a check that both embed the same faces
(cosine of the embeddings). The today path runs on ``--today-count`` of the images (it is
slow, very slow under load), spread over the same slices.

    .venv/bin/python benchmarks/embed_speed.py [--count 1000] [--slices 4] [--load both]

Targets (issue 16): now >= 100 images/s quiet, >= 50 under one busy core (2-core CPU).

``--peer N`` also runs dlib's own pipeline as ``face_recognition`` does it on N images (needs
``face_recognition_models``, never a project dependency).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np

from _load import add_load_arg, conditions, machine_line

ROOT = Path(__file__).resolve().parents[1]


def lfw_folder() -> Path:
    import os

    data = os.environ.get("FACEINSPECTOR_DATA", "").strip()
    base = Path(data) if data else ROOT.parent / "shared" / "data"
    return base / "lfw" / "lfw-deepfunneled"


def pick_images(count: int) -> list[Path]:
    files = sorted(lfw_folder().glob("*/*.jpg"))
    if not files:
        raise SystemExit(f"no LFW images under {lfw_folder()} (set FACEINSPECTOR_DATA)")
    step = max(1, len(files) // count)
    return files[::step][:count]


class Today:
    """The pipeline as it was: per photo read -> torch MTCNN -> central face -> chip; torch
    ResNet on batches of 32; torch's default threads."""

    def __init__(self, model_id: str):
        import torch

        from _baseline_mtcnn import MTCNNDetector
        from faceinspector.backend import Backend

        self.threads = torch.get_num_threads()
        self.backend = Backend(device="cpu", engine="torch")
        self.detector = MTCNNDetector("cpu")
        self.model_id = model_id
        self.chip = self.backend.chip(model_id)

    def run(self, paths) -> np.ndarray:
        import torch

        before = torch.get_num_threads()  # the app keeps torch at one thread between calls
        torch.set_num_threads(self.threads)
        try:
            return self._run(paths)
        finally:
            torch.set_num_threads(before)

    def _run(self, paths) -> np.ndarray:
        from faceinspector.backend import images
        from faceinspector.backend.photos import MeanLandmarks, central_face

        model = self.backend.model(self.model_id)
        means, chips, out = MeanLandmarks(), [], []
        for p in paths:
            photo = images.load_photo(p)
            face = central_face(self.detector.detect(photo.pixels).faces, photo.width,
                                photo.height)
            face = means.face_or_fallback(face, photo.width, photo.height)
            chips.append(self.chip.crop(photo.pixels, face).pixels)
            if len(chips) == 32:
                out.append(model.predict(np.stack(chips)).embeddings)
                chips = []
        if chips:
            out.append(model.predict(np.stack(chips)).embeddings)
        return np.concatenate(out)


class Now:
    def __init__(self, model_id: str, engine: str):
        from faceinspector.backend import Backend

        self.backend = Backend(device="cpu", engine=engine)
        self.model_id = model_id

    def run(self, paths) -> np.ndarray:
        from faceinspector.backend import embeddings, tasks

        return tasks.run(embeddings.embed_images(self.backend, paths, self.model_id)).embeddings


def peer(paths) -> float | None:
    """dlib as face_recognition runs it; seconds for ``paths`` (None if not installed)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        print("peer: face_recognition_models is not installed; skipped")
        return None
    import dlib
    from PIL import Image

    models = Path(spec.origin).parent / "models"
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    rec = dlib.face_recognition_model_v1(
        str(models / "dlib_face_recognition_resnet_model_v1.dat"))
    t0 = time.perf_counter()
    for p in paths:
        img = np.asarray(Image.open(p).convert("RGB"))
        dets = detector(img, 1)
        if dets:
            det = max(dets, key=lambda r: r.area())
            rec.compute_face_descriptor(img, predictor(img, det), 1, 0.25)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000, help="LFW images (default 1000)")
    ap.add_argument("--slices", type=int, default=4,
                    help="the images are timed in this many slices, today and now alternating")
    ap.add_argument("--model", default="dlib-resnet", help="embedder model id")
    ap.add_argument("--engine", default="auto", choices=["auto", "torch", "onnx"])
    ap.add_argument("--today-count", type=int, default=250,
                    help="images of the today path (spread over the slices; it is slow "
                    "under load); 0 skips it")
    ap.add_argument("--peer", type=int, default=0,
                    help="also time dlib/face_recognition's pipeline on the first N images")
    add_load_arg(ap)
    args = ap.parse_args()

    paths = pick_images(args.count)
    today = Today(args.model) if args.today_count else None
    now = Now(args.model, args.engine)
    warm = paths[:8]
    now.run(warm)
    if today is not None:
        today.run(warm)
    engines = now.backend.engines_in_use()
    print(f"{len(paths)} LFW images (250x250), {args.model}; now: engines {engines}; "
          f"{machine_line()}")
    size = -(-len(paths) // args.slices)
    slices = [paths[i:i + size] for i in range(0, len(paths), size)]
    per_slice = -(-min(args.today_count, len(paths)) // len(slices))
    rates = {}
    for cond in conditions(args.load):
        t_today = t_now = 0.0
        n_today = 0
        cos = []
        for part in slices:
            t0 = time.perf_counter()
            e_now = now.run(part)
            t_now += time.perf_counter() - t0
            if today is not None:
                sub = part[:per_slice]
                t0 = time.perf_counter()
                e_today = today.run(sub)
                t_today += time.perf_counter() - t0
                n_today += len(sub)
                ok = ~np.isnan(e_now[:len(sub), 0])
                a, b = e_now[:len(sub)][ok], e_today[ok]
                cos.append(float(((a * b).sum(1) / np.linalg.norm(a, axis=1)
                                  / np.linalg.norm(b, axis=1)).min()))
        r_now = len(paths) / t_now
        rates[cond] = r_now
        line = f"[{cond}] now {r_now:6.1f} images/s ({t_now:5.1f} s)"
        if today is not None:
            r_today = n_today / t_today
            line += (f" | today {r_today:6.1f} images/s ({n_today} in {t_today:5.1f} s) | "
                     f"now/today {r_now / r_today:.2f}x | min cosine now vs today "
                     f"{min(cos):.6f}")
        print(line + f" | {machine_line()}")
    if len(rates) == 2:
        print(f"targets: quiet {rates['quiet']:.1f} images/s (>= 100), one busy core "
              f"{rates['one busy core']:.1f} images/s (>= 50)")
    if args.peer:
        sub = paths[: args.peer]
        secs = peer(sub)
        if secs is not None:
            print(f"peer (dlib as face_recognition runs it) on {len(sub)} images: "
                  f"{len(sub) / secs:.1f} images/s")


if __name__ == "__main__":
    main()
