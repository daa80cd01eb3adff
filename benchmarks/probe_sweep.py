"""A 21x21 shift sweep (441 crops) of one face for the dlib gender model: the probe's batched
engine (``backend.probe.shift_grid``: one ``grid_sample`` warp of all 441 crops from the photo
and one batched forward) against the naive way (per crop: ``cv2.warpAffine`` from the photo,
then a forward pass of that one crop), in one run, on the same face and the same matrices.

    .venv/bin/python benchmarks/probe_sweep.py [--model dlib-gender] [--device cpu] [--runs 5]

Prints the median of ``--runs`` timings for ours (after one warm-up) and of ``--naive-runs``
for the naive loop, their ratio, and how close the two answers are (they differ a little:
border handling and rounding at the edges of the area-averaged blocks).
Target: ours <= 1 s on the 2-core dev CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np
import torch

from faceinspector.backend import Backend, align, assets, probe

BORDERS = {"reflect": cv2.BORDER_REFLECT, "replicate": cv2.BORDER_REPLICATE,
           "zeros": cv2.BORDER_CONSTANT}


def naive_grid(backend, photo, face, model_id, offsets, border="reflect"):
    """Per crop: cv2.warpAffine + a forward pass of one chip. Probabilities (K, K, C).

    Like ours, the photo is first area-averaged by the integer factor the crop shrinks it by
    (once, ``cv2.resize`` INTER_AREA), so both see the same pixels; only the per-crop work
    differs."""
    spec = backend.model(model_id).spec
    w, h = spec.size
    base = np.vstack([align.crop_matrix(face, spec.template, spec.size, spec.padding),
                      [0, 0, 1]])
    s = 1.0 / np.sqrt(abs(np.linalg.det(base[:2, :2])))
    k = int(round(s)) if s > 2.0 else 1
    pixels = photo.pixels
    if k > 1:
        hh, ww = pixels.shape[:2]
        pixels = cv2.resize(pixels[: hh - hh % k, : ww - ww % k], (ww // k, hh // k),
                            interpolation=cv2.INTER_AREA)
        to_small = np.array([[1 / k, 0, -(k - 1) / (2 * k)], [0, 1 / k, -(k - 1) / (2 * k)],
                             [0, 0, 1]])
        base = base @ np.linalg.inv(to_small)
    out = []
    for dy in offsets:
        for dx in offsets:
            m = (align.transform_matrix(spec.size, dx, dy) @ base)[:2]
            chip = cv2.warpAffine(pixels, m, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=BORDERS[border])
            out.append(backend.run_model(model_id, chip).probs[0])
    k = len(offsets)
    return np.asarray(out).reshape(k, k, -1)


def timed(fn, runs):
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dlib-gender")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--photo", type=int, default=0, help="index of the demo photo")
    ap.add_argument("--face", type=int, default=0)
    ap.add_argument("--radius", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--naive-runs", type=int, default=3)
    args = ap.parse_args()

    backend = Backend(device=args.device)
    photo = backend.load_photo(assets.demo_photos()[args.photo])
    face = backend.detect(photo).faces[args.face]
    model = backend.model(args.model)
    offsets = np.arange(-args.radius, args.radius + 1, 1.0)
    n = len(offsets) ** 2
    print(f"{args.model} ({model.spec.template} {model.spec.size[0]}x{model.spec.size[1]}) on "
          f"{backend.device_name}, torch {torch.__version__}, {n} crops "
          f"({len(offsets)}x{len(offsets)} shifts of ±{args.radius} px); "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; "
          f"load average {os.getloadavg()[0]:.1f}")

    def ours():
        return probe.shift_grid(backend, photo, face, args.model, radius=args.radius)[1]

    ours()  # warm-up (kernel set-up, allocations)
    t_ours, grid = timed(ours, args.runs)
    naive_grid(backend, photo, face, args.model, offsets[:2])  # warm-up
    t_naive, ref = timed(lambda: naive_grid(backend, photo, face, args.model, offsets),
                         args.naive_runs)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    t_warp, crops = timed(lambda: probe.model_crops(backend, photo, face, args.model,
                                                    dx.ravel(), dy.ravel()), args.runs)
    t_fwd, _ = timed(lambda: backend.run_model(args.model, crops), args.runs)
    mo, mn = statistics.median(t_ours), statistics.median(t_naive)
    print(f"ours : {mo * 1000:8.1f} ms median of {args.runs} "
          f"(min {min(t_ours) * 1000:.1f}, max {max(t_ours) * 1000:.1f}) — one batched warp "
          f"+ forward, {mo / n * 1e6:.0f} µs/crop; of which warp "
          f"{statistics.median(t_warp) * 1000:.1f} ms, forward "
          f"{statistics.median(t_fwd) * 1000:.1f} ms")
    print(f"naive: {mn * 1000:8.1f} ms median of {args.naive_runs} "
          f"(min {min(t_naive) * 1000:.1f}, max {max(t_naive) * 1000:.1f}) — cv2.warpAffine "
          f"+ forward per crop, {mn / n * 1e6:.0f} µs/crop")
    print(f"ratio: naive / ours = {mn / mo:.1f}x   target ours <= 1000 ms: "
          f"{'met' if mo <= 1.0 else 'MISSED'}")
    same = (grid.argmax(-1) == ref.argmax(-1)).mean()
    print(f"agreement: top-1 equal on {same * 100:.1f} % of crops, max |Δp| "
          f"{np.abs(grid - ref).max():.3f}, mean |Δp| {np.abs(grid - ref).mean():.4f}")


if __name__ == "__main__":
    main()
