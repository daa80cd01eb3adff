"""Screenshot of the Probe pane: the main window at 1400x900 (offscreen), the demo photo
sample1.jpg, its first face selected, the Probe dock raised, the sliders moved off centre and
the sweeps, heat map and metrics computed.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/probe_screenshot.py \
        [--out docs/screenshots/probe.png] [--models dlib-gender faceapi-agegender]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _qtbench import private_app, pump, wait_for  # noqa: E402


ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "probe.png")
    ap.add_argument("--models", nargs="*", default=["dlib-gender", "faceapi-agegender"])
    ap.add_argument("--face", type=int, default=0)
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)

    app, tmp = private_app("fi-probe-shot-")
    app.setOrganizationName("FaceInspector-screenshots")
    from faceinspector.backend import assets
    from faceinspector.gui.main_window import MainWindow

    win = MainWindow(paths=[assets.demo_photos()[0]], restore_layout=False)
    win.resize(1400, 900)
    win.show()
    if not wait_for(lambda: win.ctx.info is not None, 300):
        raise SystemExit("the backend did not come up")
    probe = win.probe
    win.docks["probe"].raise_()
    probe.set_models(args.models)
    if not wait_for(lambda: probe.ref is not None, 300):
        raise SystemExit("no face was selected")
    win.photos.select_face(args.face)
    wait_for(lambda: probe.ref is not None and probe.ref.index == args.face, 60)
    probe.controls["dx"].setValue(5)
    probe.controls["angle"].setValue(-10)
    wait_for(lambda: probe.canvas is not None and probe.heat is not None
             and not probe.busy and probe.live is not None
             and probe.live.transform == probe.transform() and probe.canvas.settled, 300)
    pump(0.3)
    win.grab().save(str(args.out))
    print(f"saved {args.out} ({win.width()}x{win.height()}); probe pane "
          f"{probe.width()}x{probe.height()}, canvas {probe.canvas.width()}x"
          f"{probe.canvas.height()}")
    win.close()


if __name__ == "__main__":
    main()
