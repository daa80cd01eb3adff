"""A 21x21 shift sweep (441 crops) of one face for the dlib gender model, quiet and under load.

Compares, interleaved in one run, on the same face and the same crops:

* **today** (before issue 16): the batched warp (``backend.probe.shift_grid``: one
  ``grid_sample`` of all 441 crops) and the torch port's forward in 32-crop chunks, with
  torch's default threads (one per core);
* **now**: the same warp and the engine ``Backend`` picks (``--engine``, default auto: ONNX
  Runtime on CPU, chunks on one-thread lanes, no spin-waiting, threads from the free cores);

each quiet and with one core kept busy by a Python loop in another process (``--load``).
Prints the median sweep time (warp + forward) and forward time of each, the ratios now/today,
and now under load / now quiet. With ``--naive`` also the per-crop ``cv2.warpAffine`` +
forward loop of the README's older row.

    .venv/bin/python benchmarks/probe_sweep.py [--runs 7] [--load both|quiet|busy] [--naive]

Targets (issue 16): now <= 160 ms quiet on the 2-core CPU (fp32 limit ~135 ms), <= 2x that
under one busy core.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from _load import add_load_arg, conditions, machine_line

BORDERS = {"reflect": cv2.BORDER_REFLECT, "replicate": cv2.BORDER_REPLICATE,
           "zeros": cv2.BORDER_CONSTANT}


def naive_grid(backend, photo, face, model_id, offsets, border="reflect"):
    """Per crop: cv2.warpAffine + a forward pass of one chip (probabilities (K, K, C)); the
    photo is first area-averaged by the factor the crop shrinks it by, as ours does."""
    from faceinspector.backend import align

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


def med(xs) -> float:
    return statistics.median(xs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dlib-gender")
    ap.add_argument("--engine", default="auto", choices=["auto", "torch", "onnx"])
    ap.add_argument("--photo", type=int, default=0, help="index of the demo photo")
    ap.add_argument("--face", type=int, default=0)
    ap.add_argument("--radius", type=int, default=10)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--naive", action="store_true", help="also the per-crop cv2 loop")
    add_load_arg(ap)
    args = ap.parse_args()

    import torch

    from faceinspector.backend import Backend, assets, engines, probe

    default_threads = torch.get_num_threads()
    today = Backend(device="cpu", engine="torch")
    now = Backend(device="cpu", engine=args.engine)
    photo = now.load_photo(assets.demo_photos()[args.photo])
    face = now.detect(photo).faces[args.face]
    offsets = np.arange(-args.radius, args.radius + 1, 1.0)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    n = len(offsets) ** 2
    today.model(args.model)
    m_now = now.model(args.model)
    print(f"{args.model} {n} crops ({len(offsets)}x{len(offsets)} shifts of ±{args.radius} px);"
          f" today: torch port, {default_threads} torch threads; now: {m_now.engine} "
          f"({engines.lanes_now()} lanes); {machine_line()}")

    def sweep_today():
        torch.set_num_threads(default_threads)
        t0 = time.perf_counter()
        crops = probe.model_crops(today, photo, face, args.model, dx.ravel(), dy.ravel())
        t1 = time.perf_counter()
        probs = today.run_model(args.model, crops).probs
        return probs, t1 - t0, time.perf_counter() - t1

    def sweep_now():
        engines.apply_torch_threads(engines.threads_now())
        t0 = time.perf_counter()
        crops = probe.model_crops(now, photo, face, args.model, dx.ravel(), dy.ravel())
        t1 = time.perf_counter()
        probs = now.run_model(args.model, crops).probs
        return probs, t1 - t0, time.perf_counter() - t1

    sweep_today()  # warm-up (kernels, sessions, allocations)
    sweep_now()
    results = {}
    for cond in conditions(args.load):
        sweep_now()
        rows = {"today": [], "now": []}
        agree = []
        for _ in range(args.runs):
            pa, wa, fa = sweep_today()
            pb, wb, fb = sweep_now()
            rows["today"].append((wa + fa, fa))
            rows["now"].append((wb + fb, fb))
            agree.append(float(np.abs(pa - pb).max()))
        t_today = med([r[0] for r in rows["today"]])
        t_now = med([r[0] for r in rows["now"]])
        f_today = med([r[1] for r in rows["today"]])
        f_now = med([r[1] for r in rows["now"]])
        results[cond] = t_now
        print(f"[{cond}] today: sweep {t_today:7.1f} ms (forward {f_today:6.1f}) | now: sweep "
              f"{t_now:7.1f} ms (forward {f_now:6.1f}, min "
              f"{min(r[1] for r in rows['now']) * 1000:.1f}) | now/today {t_now / t_today:.2f}"
              f" | max |Δp| {max(agree):.1e} | {machine_line()}")
    if len(results) == 2:
        q, b = results["quiet"], results["one busy core"]
        print(f"now under one busy core / now quiet: {b / q:.2f}x (target <= 2); "
              f"quiet {q:.1f} ms (target <= 160 ms)")
    if args.naive:
        naive_grid(now, photo, face, args.model, offsets[:2])
        t0 = time.perf_counter()
        naive_grid(now, photo, face, args.model, offsets)
        print(f"naive per-crop loop (quiet or not, one run): "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
