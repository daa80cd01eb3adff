"""Peak memory of detecting faces in one very large photo, above the process's baseline.

    .venv/bin/python benchmarks/detect_memory.py [--mpx 60] [--paths cli gui] [--keep DIR]

Makes a JPEG of ``--mpx`` megapixels (default 60, the largest ``images.MAX_PIXELS`` allows)
from a demo photo (so it has faces), then measures, each in a fresh subprocess:

* ``cli``: ``faceinspector detect PHOTO`` (``cli.main``, text output);
* ``gui``: the Photos pane's task, ``photos.load_and_detect`` (thumbnail and display copy
  included), keeping the item as the pane does until it is drawn.

Each subprocess imports torch, loads the detector and runs it once on a small photo, then
takes its baseline: the resident set size (``VmRSS``), with the kernel's peak (``VmHWM``)
reset to it through ``/proc/self/clear_refs``. The figure is ``VmHWM - baseline`` after the
run: the most memory the photo took at any moment (numpy, Pillow and torch allocations
alike). ``tracemalloc``'s peak (Python and numpy allocations only) is printed beside it.
Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import contextlib, io, json, sys, tracemalloc
    import numpy as np

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        return 0

    from faceinspector.backend import Backend, photos, tasks
    backend = Backend(device="cpu")
    backend.detect(np.zeros((200, 300, 3), np.uint8))  # weights loaded, torch warmed up
    mode, path = sys.argv[1], sys.argv[2]
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    base = status("VmRSS")
    base_hwm = status("VmHWM")
    tracemalloc.start()
    faces = 0
    if mode == "cli":
        from faceinspector import cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["detect", path, "--device", "cpu"])
        assert code == 0, out.getvalue()
        faces = int(out.getvalue().split(": ", 1)[1].split()[0])
    else:
        items = []
        tasks.run(photos.load_and_detect(backend, [path]), on_item=items.append)
        assert items and not items[0].error, items and items[0].error
        faces = len(items[0].faces)
    _, py_peak = tracemalloc.get_traced_memory()
    hwm = status("VmHWM")
    print(json.dumps({"mode": mode, "baseline": base, "peak": hwm - (base if reset else 0),
                      "hwm_reset": reset, "hwm_before": base_hwm, "hwm": hwm,
                      "tracemalloc_peak": py_peak, "faces": faces}))
""")


def make_photo(mpx: float, folder: Path) -> Path:
    from PIL import Image

    from faceinspector.backend import assets

    src = Image.open(assets.demo_photos()[0]).convert("RGB")
    scale = (mpx * 1e6 / (src.width * src.height)) ** 0.5
    w, h = int(src.width * scale), int(src.height * scale)
    while w * h > mpx * 1e6:
        w -= 1
    out = folder / f"big_{w}x{h}.jpg"
    if not out.exists():
        src.resize((w, h), Image.Resampling.BICUBIC).save(out, quality=90)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mpx", type=float, default=60.0, help="megapixels of the test photo")
    ap.add_argument("--paths", nargs="+", default=["cli", "gui"], choices=["cli", "gui"])
    ap.add_argument("--keep", help="folder for the test photo (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="faceinspector-mem-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        photo = make_photo(args.mpx, folder)
        print(f"photo {photo.name} ({photo.stat().st_size / 1e6:.1f} MB JPEG)")
        print(f"{'path':5} {'peak above baseline':>20} {'tracemalloc peak':>17} "
              f"{'baseline RSS':>13} {'faces':>6}")
        for mode in args.paths:
            proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(photo)],
                                  capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                print(f"{mode}: failed\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            note = "" if r["hwm_reset"] else "  (VmHWM could not be reset: peak since start)"
            print(f"{mode:5} {r['peak'] / 2**20:17.0f} MB {r['tracemalloc_peak'] / 2**20:14.0f} "
                  f"MB {r['baseline'] / 2**20:10.0f} MB {r['faces']:6d}{note}")


if __name__ == "__main__":
    main()
