"""Milliseconds per saliency map (issue 19) for the dlib gender and age networks on one demo
face: Grad-CAM, Grad-CAM++, EigenCAM (one chip, torch forward + backward), occlusion on an 8x8
grid (65 chips in one batch through ``Backend.run_model``, i.e. ONNX Runtime where the engine
table says so) and 4x4 (the first, coarse step of ``saliency.occlusion_steps``), plus one
feature-map grid (a forward pass that stops at the layer) and, for scale, a similarity pair
through the dlib ResNet.

    .venv/bin/python benchmarks/saliency_speed.py [--repeats 11] [--threads app 2]

Thread settings: ``app`` is what the desktop app uses (the cap ``facade.gui_threads()``:
cores - 1, one core left for the window, fewer when other processes keep cores busy); a number
fixes that many threads (``$FACEINSPECTOR_THREADS``, which the engines' policy obeys).
The repeats are interleaved (repeat -> setting -> model -> method) so every configuration
sees the same load from other processes; the load average is printed before and after, with
the cores' worth of CPU other processes used during the run. Targets: one map <= 100 ms,
occlusion 8x8 <= 200 ms. On a shared machine, re-run quietly for the README with nothing else
running: ``.venv/bin/python benchmarks/saliency_speed.py --repeats 21``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

TARGETS = {"gradcam": 100.0, "gradcampp": 100.0, "eigencam": 100.0, "occlusion 8x8": 200.0}


def _busy_since(start):
    """Cores' worth of CPU time other processes used since ``start`` (from /proc/stat)."""
    from faceinspector.backend.engines import _proc_busy, allowed_cpus

    now = _proc_busy(allowed_cpus())
    if start is None or now is None:
        return float("nan")
    hz = os.sysconf("SC_CLK_TCK")
    dt = time.monotonic() - start[0]
    return ((now[0] - start[1]) - (now[1] - start[2])) / hz / dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--threads", nargs="+", default=["app", "2"],
                    help="thread caps to compare: 'app' (cores - 1) and/or numbers")
    ap.add_argument("--photo", type=int, default=0, help="demo photo index")
    args = ap.parse_args()

    from faceinspector.backend import Backend, assets, engines, facade, saliency
    from faceinspector.backend.images import load_photo

    caps = [facade.gui_threads() if t == "app" else int(t) for t in args.threads]
    names = [f"{t} ({c})" if t == "app" else str(c) for t, c in zip(args.threads, caps)]
    load0 = os.getloadavg()
    start = (time.monotonic(), *(engines._proc_busy(engines.allowed_cpus()) or (0.0, 0.0)))
    backend = Backend(device="cpu")
    photo = load_photo(assets.demo_photos()[args.photo])
    faces = backend.detect(photo).faces
    face = faces[0]
    t0 = time.perf_counter()
    saliency.preload()
    first = time.perf_counter() - t0

    def use(setting, cap) -> None:
        if setting == "app":
            os.environ.pop("FACEINSPECTOR_THREADS", None)
        else:
            os.environ["FACEINSPECTOR_THREADS"] = str(cap)
        facade.set_threads(cap)

    def jobs(mid):
        return {
            "gradcam": lambda: saliency.class_saliency(backend, photo, face, mid, "gradcam"),
            "gradcampp": lambda: saliency.class_saliency(backend, photo, face, mid, "gradcampp"),
            "eigencam": lambda: saliency.class_saliency(backend, photo, face, mid, "eigencam"),
            "occlusion 8x8": lambda: saliency.occlusion(backend, photo, face, mid, grid=8),
            "occlusion 4x4": lambda: saliency.occlusion(backend, photo, face, mid, grid=4),
            "feature maps": lambda: saliency.feature_maps(backend, photo, face, mid),
        }

    work = {m: jobs(m) for m in ("dlib-gender", "dlib-age")}
    other = faces[1] if len(faces) > 1 else face
    work["dlib-resnet"] = {"similarity pair": lambda: saliency.pair_saliency(
        backend, (photo, face), (photo, other), "dlib-resnet")}
    for fns in work.values():  # warm-up: models loaded, sessions made, first calls paid
        for fn in fns.values():
            for setting, cap in zip(args.threads, caps):
                use(setting, cap)
                fn()
    times = {(n, m, k): [] for n in names for m, fns in work.items() for k in fns}
    for _ in range(args.repeats):
        for name, setting, cap in zip(names, args.threads, caps):
            use(setting, cap)
            for mid, fns in work.items():
                for key, fn in fns.items():
                    t = time.perf_counter()
                    fn()
                    times[(name, mid, key)].append((time.perf_counter() - t) * 1000)
    load1 = os.getloadavg()
    print(f"saliency speed, one demo face, median of {args.repeats} interleaved runs (ms)")
    print(f"CPU: {os.cpu_count()} cores; load average before {load0[0]:.2f} {load0[1]:.2f} "
          f"{load0[2]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; other "
          f"processes used {_busy_since(start):.2f} cores on average during the run")
    print(f"engines: {backend.engines_in_use()} (maps: torch; occlusion: the engine listed)")
    print(f"first map in a process: +{first * 1000:.0f} ms to import grad-cam "
          "(saliency.preload() on a worker)")
    print(f"{'threads':9} {'model':12} {'what':16} {'median':>8} {'min':>8} {'max':>8} "
          f"{'target':>7} {'ratio':>6}")
    for (name, mid, key), ts in times.items():
        target = TARGETS.get(key)
        ratio = f"{statistics.median(ts) / target:6.2f}" if target else ""
        print(f"{name:9} {mid:12} {key:16} {statistics.median(ts):8.1f} {min(ts):8.1f} "
              f"{max(ts):8.1f} {target or '':>7} {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
