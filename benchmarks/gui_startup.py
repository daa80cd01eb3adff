"""Cold start of the desktop app: process launch -> first paint, and -> first face drawn.

Runs the installed ``faceinspector`` entry point (no arguments: the six demo photos) in fresh
subprocesses with ``FACEINSPECTOR_QUIT_AFTER_FACE=1``: the app prints the wall-clock time of
the window's first paint and of the first face drawn (the first paint of the Photos pane's view
showing a photo with its face boxes), whether torch had been imported by then, and quits.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_startup.py [--runs 5]

Targets: first paint <= 2 s, first face drawn <= 4 s on the 2-core CPU dev machine (issue 18;
before it: 12.3 s, torch and every model loaded before the first photo).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(settings_dir: str) -> dict:
    env = dict(os.environ, FACEINSPECTOR_QUIT_AFTER_FACE="1", XDG_CONFIG_HOME=settings_dir)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    exe = Path(sys.executable).with_name("faceinspector")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "faceinspector"]
    t0 = time.time()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    found = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in ("first-paint", "first-face"):
            found[parts[0]] = (float(parts[1]) - t0, parts[2] == "torch=True")
    if "first-face" not in found:
        raise SystemExit(f"no first-face line; exit {out.returncode}\n{out.stdout}\n"
                         f"{out.stderr[-2000:]}")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    la = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as settings_dir:
        first = one_run(settings_dir)  # the OS file cache may be cold for this one
        runs = [one_run(settings_dir) for _ in range(args.runs)]
    paint = [r["first-paint"][0] for r in runs]
    face = [r["first-face"][0] for r in runs]
    print(f"load average before: {la}")
    print(f"cold start to first paint over {args.runs} runs: median "
          f"{statistics.median(paint):.2f} s, min {min(paint):.2f} s, max {max(paint):.2f} s "
          "(target <= 2 s)")
    print(f"cold start to first face drawn: median {statistics.median(face):.2f} s, min "
          f"{min(face):.2f} s, max {max(face):.2f} s (target <= 4 s)")
    print(f"first launch (file cache possibly cold): paint {first['first-paint'][0]:.2f} s, "
          f"face {first['first-face'][0]:.2f} s")
    print(f"torch imported before the first paint: "
          f"{any(r['first-paint'][1] for r in runs + [first])}; before the first face: "
          f"{any(r['first-face'][1] for r in runs + [first])}")
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
