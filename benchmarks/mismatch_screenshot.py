"""Screenshots of the Mismatch pane on the seed: CelebA's aligned images (reference) vs LFW
photos as given (target), the naive CelebA CNN and LFW's gender lists.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/mismatch_screenshot.py [--n 300]

Saves ``docs/screenshots/mismatch.png`` (the ranking and the eye positions over each set's mean
image) and ``mismatch_fix.png`` (the Fix tab and the examples of the top attribute).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _qtbench import private_app, pump, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEINSPECTOR_TEST_DATA", ROOT.parent / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--n", type=int, default=300, help="images per set")
    args = ap.parse_args()
    celeba, lfw = DATA / "celeba" / "img_align_89x109", DATA / "lfw"
    if not celeba.is_dir() or not (lfw / "male_names.txt").is_file():
        raise SystemExit(f"needs CelebA and LFW under {DATA}")
    app, tmp = private_app("fi-mismatch-shot-")
    folder = Path(tmp.name)
    ref = folder / "celeba.csv"
    ref.write_text("\n".join(str(celeba / f"{i:06d}.jpg") for i in range(1, args.n + 1)))
    names = sorted((lfw / "male_names.txt").read_text().split())[::7][:args.n // 2] \
        + sorted((lfw / "female_names.txt").read_text().split())[::3][:args.n // 2]
    tgt = folder / "lfw.csv"
    tgt.write_text("\n".join(str(lfw / "lfw-deepfunneled" / n.rsplit("_", 1)[0] / n)
                             for n in names))
    from faceinspector.gui.main_window import MainWindow

    win = MainWindow(paths=[], restore_layout=False)
    win.resize(1400, 900)
    win.show()
    if not wait_for(lambda: win.ctx.info is not None, 300):
        raise SystemExit("the backend did not come up")
    pane = win.mismatch
    win.docks["mismatch"].raise_()
    pane.set_sources(ref, tgt, labels=lfw, model="celeba-cnn-naive")
    pane.run()
    if not wait_for(lambda: pane.report is not None and not pane.busy, 1800):
        raise SystemExit("the scan did not finish")
    eye = next(i for i, s in enumerate(pane.report.comparison.shifts) if s.name == "eye_y")
    pane.table.selectRow(eye)
    wait_for(lambda: pane.plot.canvas is not None and pane.plot.canvas.settled, 60)
    pump(1.5)
    args.out.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(args.out / "mismatch.png"))
    pane.tabs.setCurrentIndex(2)
    pump(0.5)
    pane.tabs.setCurrentIndex(1)
    wait_for(lambda: pane.strips["target"].count() > 0, 60)
    pump(0.5)
    win.docks["mismatch"].grab().save(str(args.out / "mismatch_examples.png"))
    pane.tabs.setCurrentIndex(2)
    pump(0.5)
    win.docks["mismatch"].grab().save(str(args.out / "mismatch_fix.png"))
    print(f"saved mismatch.png, mismatch_examples.png, mismatch_fix.png in {args.out}")
    win.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
