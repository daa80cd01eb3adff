"""Embedding LFW faces end to end: read + decode, MTCNN, aligned chip, batched embedder.

Runs the pipeline the Verification pane and ``faceinspector eval`` use
(:func:`faceinspector.backend.embeddings.embed_images`: photo -> MTCNN -> central face -> the
embedder's chip -> batched embedder) on ``--count`` LFW deep-funneled images (default 1,000,
spread evenly over the sorted image list), times every stage and prints faces/s.

``--peer N`` also runs dlib's own pipeline as ``face_recognition`` does it (HOG detector,
5-point predictor, ``compute_face_descriptor`` one face at a time) on the first N of the same
images and prints the ratio. It needs ``face_recognition_models`` (never a project dependency)::

    .venv/bin/pip install --no-deps face_recognition face_recognition_models

The dev machine has 2 CPU cores, often shared: the numbers are noisy; run it twice. Seen there
(2026-11-25, other jobs loading the CPU, load average 4-6): ``--threads 1`` 19.3 faces/s (MTCNN
40 ms, embedder 9 ms, warp 1.5 ms, decode 1.1 ms per face); torch's default 2 threads 1.3-2.2
faces/s (MTCNN 400-700 ms per face): on a busy 2-core CPU two OpenMP threads per op thrash.
dlib as face_recognition runs it: 6.6-7.0 faces/s on 100 of the images at the same time.

    .venv/bin/python benchmarks/embed_speed.py [--count 1000] [--batch 32] [--peer 100]
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"


class TimedBackend:
    """The backend facade with the time spent in each stage added up."""

    def __init__(self, backend) -> None:
        self._b = backend
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def __getattr__(self, name):
        return getattr(self._b, name)

    def _timed(self, stage: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.seconds[stage] += time.perf_counter() - t0
        self.calls[stage] += 1
        return out

    def detect(self, photo):
        return self._timed("detect (MTCNN)", self._b.detect, photo)


    def run_model(self, model_id, chips):
        return self._timed("embed (batched)", self._b.run_model, model_id, chips)


def pick_images(count: int) -> list[Path]:
    files = sorted(LFW.glob("*/*.jpg"))
    if not files:
        raise SystemExit(f"no LFW images under {LFW} (../shared/data is optional)")
    step = max(1, len(files) // count)
    return files[::step][:count]


def ours(paths, model_id: str, batch: int) -> tuple[float, dict, int]:
    from faceinspector.backend import Backend, align, embeddings, images, photos, tasks
    from faceinspector.backend.images import load_photo

    backend = TimedBackend(Backend(device="cpu"))
    # one-off costs (weights, kernels) are paid before the clock starts
    warm = load_photo(paths[0])
    face = photos.central_face(backend._b.detect(warm).faces, warm.width, warm.height)
    backend._b.run_model(model_id, np.stack([backend._b.model_crop(warm, face, model_id).pixels]))
    crop = align.Chip.crop

    def timed_load(p):
        return backend._timed("read + decode", load_photo, p)

    def timed_crop(self, *args, **kwargs):
        return backend._timed("align (chip warp)", crop, self, *args, **kwargs)

    images.load_photo, align.Chip.crop = timed_load, timed_crop  # looked up at call time
    try:
        t0 = time.perf_counter()
        result = tasks.run(embeddings.embed_images(backend, paths, model_id, batch=batch))
        total = time.perf_counter() - t0
    finally:
        images.load_photo, align.Chip.crop = load_photo, crop
    assert len(result.embeddings) == len(paths) and not result.errors, result.errors
    return total, dict(backend.seconds), int(result.detected.sum())


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
    ap.add_argument("--model", default="dlib-resnet", help="embedder model id")
    ap.add_argument("--batch", type=int, default=32, help="chips per embedder call")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's)")
    ap.add_argument("--peer", type=int, default=0,
                    help="also time dlib/face_recognition's pipeline on the first N images")
    args = ap.parse_args()

    import os

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    paths = pick_images(args.count)
    print(f"{len(paths)} LFW images (250x250), {args.model}, batch {args.batch}, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads on "
          f"{os.cpu_count()} CPU cores; load average before: "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    total, stages, found = ours(paths, args.model, args.batch)
    print(f"\nend to end: {len(paths)} faces in {total:.1f} s = "
          f"{len(paths) / total:.1f} faces/s (MTCNN found a face in {found}; the rest use "
          "the data set's mean landmarks)")
    for stage, secs in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:20} {secs:7.1f} s  {secs / total:5.1%}  "
              f"{secs / len(paths) * 1000:6.1f} ms/face")
    rest = total - sum(stages.values())
    print(f"  {'other (python)':20} {rest:7.1f} s  {rest / total:5.1%}")
    if args.peer:
        sub = paths[: args.peer]
        secs = peer(sub)
        if secs is not None:
            rate = len(sub) / secs
            print(f"\npeer, dlib as face_recognition runs it (HOG + 5 points + ResNet, one face "
                  f"at a time) on {len(sub)} of the images: {rate:.1f} faces/s; ours is "
                  f"{len(paths) / total / rate:.2f}x that")
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
