"""Detection speed and agreement: FaceInspector's MTCNN vs stock facenet-pytorch, one run.

    .venv/bin/python benchmarks/detect.py [--repeats 3] [--threads 2] [--max-side 1024]

For each demo photo: ms per photo for ``faceinspector.backend.detect.MTCNNDetector`` (pyramid
levels above ``--max-side`` skipped, everything else at full resolution) and for stock
``facenet_pytorch.MTCNN(keep_all=True)`` at full resolution, interleaved so both see the same
machine load; then the ratio, the faces found by each, and the worst box IoU / landmark error
between the two.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from PIL import Image

from faceinspector.backend import assets
from faceinspector.backend.detect import MTCNNDetector, match_faces


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-side", type=int, default=1024)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from facenet_pytorch import MTCNN

    ours = MTCNNDetector(args.device, max_side=args.max_side)
    stock = MTCNN(keep_all=True, device=args.device)
    photos = [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in assets.demo_photos()]
    ours.detect(photos[0][1])  # warm-up both
    stock.detect(Image.fromarray(photos[0][1]))

    print(f"device {args.device}, torch threads {torch.get_num_threads()}, "
          f"max_side {args.max_side}, repeats {args.repeats}")
    print(f"{'photo':12} {'size':>10} {'ours ms':>8} {'stock ms':>9} {'ratio':>6} "
          f"{'faces':>6} {'stock':>6} {'min IoU':>8} {'max lm px':>9}")
    tot_o, tot_s, n_o, n_s, ious = [], [], 0, 0, []
    for name, img in photos:
        to, ts = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            det = ours.detect(img)
            to.append(time.perf_counter() - t)
            t = time.perf_counter()
            boxes, _, points = stock.detect(Image.fromarray(img), landmarks=True)
            ts.append(time.perf_counter() - t)
        boxes = [] if boxes is None else list(boxes)
        m = match_faces([f.box for f in det.faces], boxes)
        min_iou = min((x[2] for x in m), default=float("nan"))
        lm = max((float(np.abs(det.faces[i].landmarks - points[j]).max()) for i, j, _ in m),
                 default=float("nan"))
        ious += [x[2] for x in m]
        o, s = statistics.median(to), statistics.median(ts)
        tot_o.append(o)
        tot_s.append(s)
        n_o += len(det.faces)
        n_s += len(boxes)
        print(f"{name:12} {img.shape[1]}x{img.shape[0]:<5} {o * 1000:8.0f} {s * 1000:9.0f} "
              f"{o / s:6.2f} {len(det.faces):6d} {len(boxes):6d} {min_iou:8.3f} {lm:9.2f}")
    mo, ms = statistics.mean(tot_o), statistics.mean(tot_s)
    print(f"{'mean':12} {'':10} {mo * 1000:8.0f} {ms * 1000:9.0f} {mo / ms:6.2f} {n_o:6d} "
          f"{n_s:6d} {min(ious):8.3f}")
    print(f"ratio ours/stock = {mo / ms:.2f} (target <= 0.5); faces {n_o} vs {n_s}; "
          f"matched {len(ious)}, min IoU {min(ious):.3f}")


if __name__ == "__main__":
    main()
