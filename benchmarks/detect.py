"""Detection speed and agreement: FaceInspector's MTCNN vs stock facenet-pytorch, one run.

    .venv/bin/python benchmarks/detect.py [--repeats 3] [--load both|quiet|busy] [--engine auto]

On the six demo photos (1920 px wide), interleaved so all see the same machine load, quiet and
with one core kept busy by a Python loop in another process:

* **now**: ``MTCNNDetector.detect_many`` on the six photos (batched, ONNX Runtime on CPU;
  ``--engine`` forces one), and the same detector one photo at a time;
* **today**: the detector before issue 16 (``benchmarks/_baseline_mtcnn.py``: torch, one photo
  at a time), with torch's default threads;
* **stock**: ``facenet_pytorch.MTCNN(keep_all=True)`` at full resolution.

Prints ms per photo, the ratios to stock, the faces each found and the worst box IoU /
landmark difference between ours and stock. Target (issue 16): now <= 0.3x stock, quiet.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from _load import add_load_arg, conditions, machine_line


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-side", type=int, default=1024)
    ap.add_argument("--engine", default="auto", choices=["auto", "torch", "onnx"])
    add_load_arg(ap)
    args = ap.parse_args()
    import torch
    from facenet_pytorch import MTCNN
    from PIL import Image

    from _baseline_mtcnn import MTCNNDetector as TodayDetector
    from faceinspector.backend import assets, engines
    from faceinspector.backend.detect import MTCNNDetector, match_faces

    threads = torch.get_num_threads()
    ours = MTCNNDetector("cpu", max_side=args.max_side, engine=args.engine)
    today = TodayDetector("cpu", max_side=args.max_side)
    stock = MTCNN(keep_all=True, device="cpu")
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in assets.demo_photos()]
    ours.detect_many(photos)  # warm-up all
    today.detect(photos[0])
    stock.detect(Image.fromarray(photos[0]))
    print(f"now: {ours.engine} ({engines.lanes_now()} lanes); today and stock: torch, "
          f"{threads} threads; max_side {args.max_side}; {len(photos)} photos, repeats "
          f"{args.repeats}; {machine_line()}")

    for cond in conditions(args.load):
        t = {"batched": [], "single": [], "today": [], "stock": []}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            dets = ours.detect_many(photos)
            t["batched"].append((time.perf_counter() - t0) / len(photos))
            t0 = time.perf_counter()
            for px in photos:
                ours.detect(px)
            t["single"].append((time.perf_counter() - t0) / len(photos))
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            for px in photos:
                today.detect(px)
            t["today"].append((time.perf_counter() - t0) / len(photos))
            t0 = time.perf_counter()
            ref = [stock.detect(Image.fromarray(px), landmarks=True) for px in photos]
            t["stock"].append((time.perf_counter() - t0) / len(photos))
        n_o = n_s = 0
        ious, lm = [], 0.0
        for det, (boxes, _, points) in zip(dets, ref):
            boxes = [] if boxes is None else list(boxes)
            m = match_faces([f.box for f in det.faces], boxes)
            ious += [x[2] for x in m]
            lm = max([lm] + [float(np.abs(det.faces[i].landmarks - points[j]).max())
                             for i, j, _ in m])
            n_o += len(det.faces)
            n_s += len(boxes)
        ms = {k: statistics.median(v) * 1000 for k, v in t.items()}
        print(f"[{cond}] ms per photo: now batched {ms['batched']:.0f}, now one at a time "
              f"{ms['single']:.0f}, today {ms['today']:.0f}, stock {ms['stock']:.0f} | "
              f"now/stock {ms['batched'] / ms['stock']:.2f} (one at a time "
              f"{ms['single'] / ms['stock']:.2f}; today {ms['today'] / ms['stock']:.2f}) | "
              f"faces {n_o} vs stock {n_s}, matched {len(ious)}, min IoU {min(ious):.4f}, "
              f"max landmark diff {lm:.3f} px | {machine_line()}")


if __name__ == "__main__":
    main()
