"""Does the GUI thread stall while photos load? A 5 ms heartbeat on the GUI thread.

Opens the real main window (offscreen), lets it create its backend in a worker, then opens a
folder of N photos (the six demo photos copied with distinct bytes, so every one is really
decoded and detected) and records a 5 ms ``QTimer`` heartbeat until all are in the list. The
first photo is selected automatically, so crops and all models' predictions run meanwhile too.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_stall.py [--photos 50]

Prints the longest gap between heartbeats minus 5 ms (max stall), p99 and median, and the total
load time; the one-off stall while the workers import torch and grad-cam at start-up is
printed separately.
Target: max stall <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _qtbench import private_app, wait_for  # noqa: E402

from PySide6.QtCore import Qt, QTimer  # noqa: E402

PERIOD = 0.005


class Heartbeat:
    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(int(PERIOD * 1000))
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self) -> None:
        self.ticks = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        gaps = sorted(max(0.0, b - a - PERIOD) for a, b in zip(self.ticks, self.ticks[1:]))
        if not gaps:
            return {"max": 0.0, "p99": 0.0, "median": 0.0, "n": 0}
        return {"max": gaps[-1] * 1000, "p99": gaps[int(0.99 * (len(gaps) - 1))] * 1000,
                "median": gaps[len(gaps) // 2] * 1000, "n": len(gaps)}


class StallTracer:
    """A Python thread that samples the GUI thread's stack whenever the heartbeat is late.

    Shows *which* GUI-thread code runs during a stall (``--trace``). A stall inside C++ code
    that holds the GIL shows the Python frame that called it.
    """

    def __init__(self, beat: Heartbeat, late: float = 0.03) -> None:
        self.beat, self.late = beat, late
        self.main = threading.main_thread().ident
        self.samples: Counter = Counter()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            ticks = self.beat.ticks
            if not ticks or time.perf_counter() - ticks[-1] < self.late:
                continue
            frame = sys._current_frames().get(self.main)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)[-8:]
            key = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                              for f in reversed(stack))
            self.samples[key] += 1

    def report(self, top: int = 8) -> None:
        print(f"GUI-thread stacks sampled while the heartbeat was > {self.late * 1000:.0f} ms "
              f"late (10 ms samples):")
        for key, n in self.samples.most_common(top):
            print(f"  {n * 10:5d} ms  {key}")


def plot_draws(win) -> str:
    """``pane: n`` for every embedded matplotlib canvas that drew (full renders)."""
    from PySide6.QtWidgets import QWidget

    out = []
    for w in win.findChildren(QWidget):
        n = getattr(w, "full_draws", None)
        if isinstance(n, int) and n:
            owner = w.parent()
            while owner is not None and not type(owner).__name__.endswith("Pane"):
                owner = owner.parent()
            out.append(f"{type(owner).__name__ if owner else '?'}: {n}")
    return ", ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--show", default="",
                    help="raise this pane's dock tab first (e.g. probe, triplets): measure with "
                         "that pane on screen")
    ap.add_argument("--trace", action="store_true",
                    help="sample the GUI thread's stack during stalls and print the top ones")
    args = ap.parse_args()

    app, tmp = private_app("fi-stall-")  # noqa: F841 - app kept alive
    from faceinspector.backend import assets
    from faceinspector.gui.main_window import MainWindow

    folder = Path(tmp.name) / "photos"
    folder.mkdir()
    demo = assets.demo_photos()
    for i in range(args.photos):
        src = demo[i % len(demo)]
        (folder / f"{i:03d}_{src.name}").write_bytes(src.read_bytes() + f"#{i}".encode())

    load_before = os.getloadavg()[0]
    beat = Heartbeat()
    win = MainWindow(paths=[], restore_layout=False)
    win.resize(1400, 900)
    if args.show:
        win.docks[args.show].raise_()
    beat.start()
    t0 = time.perf_counter()
    win.show()
    # start-up: the detector first, then (no photo to show here) torch and the models are
    # imported and warmed (issue 18); the one-off stall of that import is measured apart
    if not wait_for(lambda: win.ctx.info is not None and len(win.ctx.cards) > 0,
                    args.timeout):
        raise SystemExit("the backend did not come up")
    wait_for(lambda: not win.models_slot.busy, args.timeout)
    pre = getattr(win.ctx, "_saliency_preloader", None)  # grad-cam's import (issue 19) too
    if pre is not None:
        wait_for(lambda: pre.done, args.timeout)
    startup = beat.stop()
    t_ready = time.perf_counter() - t0

    photos = win.photos
    beat.start()
    t1 = time.perf_counter()
    tracer = StallTracer(beat) if args.trace else None
    if tracer:
        tracer.start()
    win.open_paths([folder])
    ok = wait_for(lambda: photos.model.rowCount() >= args.photos and not photos.busy,
                  args.timeout)
    t_load = time.perf_counter() - t1
    wait_for(lambda: not win.predictions.slot.busy, 120)
    load = beat.stop()
    if tracer:
        tracer.stop()
    faces = sum(len(i.faces) for i in photos.model.items)
    drawn = plot_draws(win)
    win.close()
    print(f"backend and models ready after {t_ready:.2f} s; heartbeat while the workers "
          f"import torch and grad-cam: max stall {startup['max']:.0f} ms, p99 "
          f"{startup['p99']:.0f} ms (one-off)")
    print(f"{photos.model.rowCount()} photos, {faces} faces loaded and detected in {t_load:.1f} s "
          f"({t_load / max(1, args.photos):.2f} s/photo){'' if ok else ' (TIMED OUT)'}")
    print(f"GUI heartbeat during the load ({load['n']} beats): max stall {load['max']:.1f} ms, "
          f"p99 {load['p99']:.1f} ms, median {load['median']:.2f} ms (target: max <= 50 ms)")
    print(f"machine load average (1 min) before/after: {load_before:.1f} / "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other processes inflate stalls)")
    if drawn:
        print("full matplotlib renders shown during the load (built and rendered on the "
              "render thread): " + drawn)
    if tracer:
        tracer.report()
    tmp.cleanup()


if __name__ == "__main__":
    main()
