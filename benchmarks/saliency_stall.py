"""Does computing saliency on a worker thread hold up the main thread? A 5 ms heartbeat on the
main thread (as the GUI thread would run it) while a worker thread first imports grad-cam
(``saliency.preload``) and then makes maps of every method for the dlib gender and age
networks, feature maps and a similarity pair.

    .venv/bin/python benchmarks/saliency_stall.py [--rounds 5]

Prints the heartbeat's longest gap minus 5 ms (the main thread could not run: the worker held
the GIL), p99 and median, for the import and for the maps separately. This is the backend's
part of "the GUI thread never waits on it"; the panes' part is measured with
``benchmarks/gui_stall.py`` once they show the maps. Target: max stall <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

PERIOD = 0.005


def heartbeat(stop: threading.Event) -> list[float]:
    ticks = [time.perf_counter()]
    while not stop.is_set():
        time.sleep(PERIOD)
        ticks.append(time.perf_counter())
    return ticks


def stats(ticks: list[float]) -> str:
    gaps = sorted(max(0.0, b - a - PERIOD) * 1000 for a, b in zip(ticks, ticks[1:]))
    if not gaps:
        return "no ticks"
    return (f"max {gaps[-1]:.1f} ms, p99 {gaps[int(0.99 * (len(gaps) - 1))]:.1f} ms, "
            f"median {gaps[len(gaps) // 2]:.2f} ms over {len(gaps)} beats")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    from faceinspector.backend import Backend, assets, facade, saliency
    from faceinspector.backend.images import load_photo

    backend = Backend(device="cpu", threads=facade.gui_threads())  # as the app makes it
    photo = load_photo(assets.demo_photos()[0])
    faces = backend.detect(photo).faces
    for m in ("dlib-gender", "dlib-age", "dlib-resnet"):
        backend.run_model(m, backend.model_crop(photo, faces[0], m).pixels)  # loaded, warm

    phases: dict[str, list[float]] = {}

    def run_phase(name, work) -> None:
        stop = threading.Event()
        done: list = []

        def worker():
            try:
                work()
            finally:
                stop.set()
                done.append(True)

        t = threading.Thread(target=worker, daemon=True)
        t.start()
        phases[name] = heartbeat(stop)
        t.join()

    def maps():
        for _ in range(args.rounds):
            for mid in ("dlib-gender", "dlib-age"):
                for method in saliency.METHODS:
                    saliency.class_saliency(backend, photo, faces[0], mid, method)
                saliency.feature_maps(backend, photo, faces[0], mid)
            if len(faces) > 1:
                saliency.pair_saliency(backend, (photo, faces[0]), (photo, faces[1]),
                                       "dlib-resnet")

    load0 = os.getloadavg()
    run_phase("import grad-cam (first map)", saliency.preload)
    run_phase(f"maps ({args.rounds} rounds)", maps)
    load1 = os.getloadavg()
    print(f"main-thread heartbeat while a worker computes saliency (load average "
          f"{load0[0]:.2f} -> {load1[0]:.2f}, {os.cpu_count()} cores)")
    for name, ticks in phases.items():
        print(f"  {name:28} {stats(ticks)}  ({ticks[-1] - ticks[0]:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
