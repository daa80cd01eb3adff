"""Screenshots of the Evaluate pane on LFW with its gender lists: the naive CelebA CNN under the
image as given, the raw box and its own (celeba) template, sliced by skin tone (ITA) and by
dlib-age's age bucket, per-class invariance against CelebA's class sizes.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/evaluate_screenshot.py [--n 600]

Saves ``docs/screenshots/evaluate.png`` (the window: the Slices tab by skin tone),
``evaluate_scores.png`` (the Scores tab), ``evaluate_class.png`` (per class: confusion matrix
and reliability diagram), ``evaluate_invariance.png`` and ``evaluate_mistakes.png`` (the most
confident mistakes and what alignment fixes and breaks).
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
    ap.add_argument("--n", type=int, default=600, help="LFW images (half women, half men)")
    args = ap.parse_args()
    lfw, attrs = DATA / "lfw", DATA / "celeba" / "list_attr_celeba.txt"
    if not (lfw / "male_names.txt").is_file():
        raise SystemExit(f"needs LFW with its gender lists under {DATA}")
    app, tmp = private_app("fi-evaluate-shot-")
    from PySide6.QtCore import Qt

    from faceinspector.gui.main_window import MainWindow

    win = MainWindow(paths=[], restore_layout=False)
    win.resize(1400, 900)
    win.show()
    if not wait_for(lambda: win.ctx.info is not None, 300):
        raise SystemExit("the backend did not come up")
    pane = win.evaluate
    win.docks["evaluate"].raise_()
    win.resizeDocks([win.docks["evaluate"]], [900], Qt.Orientation.Horizontal)
    pane.set_sources(lfw, models=["celeba-cnn-naive"], crops=["as given", "raw", "own"],
                     slices=["skin tone (ITA)", "dlib-age"], limit=args.n, balanced=True,
                     invariance=20, train=attrs if attrs.is_file() else None)
    if not wait_for(lambda: pane.run_button.isEnabled(), 300):
        raise SystemExit("the models did not come up")
    pane.run()
    if not wait_for(lambda: pane.evaluation is not None and not pane.busy, 1800):
        raise SystemExit("the evaluation did not finish")
    res = pane.results
    args.out.mkdir(parents=True, exist_ok=True)

    def shot(tab: int, name: str, whole: bool = False) -> None:
        res.tabs.setCurrentIndex(tab)
        plots = (res.scores_plot, res.class_plot, res.slice_plot, res.inv_plot, None)[tab]
        if plots is not None:
            wait_for(lambda: plots.canvas is not None and plots.canvas.settled, 60)
        if tab == 4:
            wait_for(lambda: all(s.count() for s in res.strips.values()), 60)
        pump(1.0)
        (win if whole else win.docks["evaluate"]).grab().save(str(args.out / name))

    res.slice_combo.setCurrentIndex(res.slice_combo.findData("skin tone (ITA)"))
    shot(2, "evaluate.png", whole=True)
    shot(0, "evaluate_scores.png")
    shot(1, "evaluate_class.png")
    shot(3, "evaluate_invariance.png")
    shot(4, "evaluate_mistakes.png")
    print(f"saved evaluate*.png in {args.out}")
    win.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
