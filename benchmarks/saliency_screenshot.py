"""Screenshots of where the models look (issue 19), in the real window at 1400x900 (offscreen)
with the demo photos, saved under ``docs/screenshots/``:

* ``crops_gradcam.png`` - the Crops pane, "As seen by" ``--model`` (celeba-cnn-naive): Grad-CAM
  of each crop's top class over the raw box crop and the aligned (celeba) crop, the peak ringed;
* ``crops_occlusion.png`` - the same face, occlusion 8x8 (red: the patch supports the class,
  blue: against it) for ``--occlusion-model`` (dlib-age, which ONNX Runtime runs here);
* ``probe_saliency.png`` - the Probe pane (dlib gender) with dx +4 px: the map over the
  untransformed and the transformed crop, ``conv4``'s 16 most active channels moved by 2
  feature px, the equivariance figures and the one-line note;
* ``triplets_saliency.png`` - the Triplets pane (undocked to 900x760): A-P and A-N similarity
  maps through dlib-resnet;
* ``verification_saliency.png`` - the Verification pane on a 24-pair LFW subset (when the
  development data are there): every hardest pair with its similarity thumbnail, the selected
  pair's maps larger.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/saliency_screenshot.py \
        [--out docs/screenshots] [--face 1]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _qtbench import private_app, pump, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("FACEINSPECTOR_TEST_DATA", "") or ROOT.parent / "shared" / "data") \
    / "lfw"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--photo", type=int, default=0, help="which demo photo")
    ap.add_argument("--face", type=int, default=1, help="which of its faces")
    ap.add_argument("--model", default="celeba-cnn-naive")
    ap.add_argument("--occlusion-model", default="dlib-age")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    app, tmp = private_app("fi-saliency-shots-")
    app.setOrganizationName("FaceInspector-screenshots")
    from faceinspector.gui.main_window import MainWindow

    win = MainWindow(paths=None, restore_layout=False)  # the six demo photos
    win.resize(1400, 900)
    win.show()
    if not wait_for(lambda: win.ctx.info is not None and len(win.ctx.cards) > 0, 600):
        raise SystemExit("the backend did not come up")
    photos, crops = win.photos, win.crops
    wait_for(lambda: photos.model.rowCount() >= 6 and not photos.busy, 600)
    photos.list.setCurrentIndex(photos.model.index(args.photo))
    wait_for(lambda: photos.face_index >= 0, 60)
    photos.select_face(args.face)
    wait_for(lambda: crops.ref is not None and crops.ref.index == args.face, 60)
    saved = []

    def save(widget, name: str) -> None:
        pump(0.3)
        path = args.out / name
        widget.grab().save(str(path))
        saved.append(path)

    def crops_maps(model: str, method: str, grid=None) -> None:
        crops.set_model(model)
        crops.looks.set_method(method)
        wait_for(lambda: crops.pair is not None and crops.pair.model_id == model
                 and not crops.slot.busy and "aligned" in crops.looks.maps
                 and "raw" in crops.looks.maps and not crops.looks.slot.busy
                 and crops.looks.maps["aligned"].grid == grid, 300)

    crops_maps(args.model, "gradcam")
    save(win.docks["crops"], "crops_gradcam.png")
    crops_maps(args.occlusion_model, "occlusion", (8, 8))
    save(win.docks["crops"], "crops_occlusion.png")
    crops.looks.set_method(None)
    crops.set_model(args.model)

    probe = win.probe
    win.docks["probe"].raise_()
    probe.set_models(["dlib-gender"])
    wait_for(lambda: probe.looks.base is not None and probe.heat is not None
             and not probe.busy, 600)
    probe.controls["dx"].setValue(4)
    wait_for(lambda: probe.looks.shown is not None
             and probe.looks.shown.transform == (4.0, 0.0, 0.0, 1.0)
             and probe.canvas is not None and probe.canvas.settled, 300)
    save(win.docks["probe"], "probe_saliency.png")

    t = win.triplets
    win.docks["triplets"].raise_()
    wait_for(lambda: len(t.matrix_faces) > 5, 300)
    ref = crops.ref
    key = (str(ref.path), ref.index)
    a = next(i for i, fe in enumerate(t.matrix_faces) if fe.key[:2] == key)
    d = t.matrix[a].copy()
    d[a] = float("inf")
    t.put_face("A", t._loaded(a))
    t.put_face("P", t._loaded(int(d.argmin())))  # A's nearest other face
    d[a] = -1
    t.put_face("N", t._loaded(int(d.argmax())))  # and its farthest
    dock = win.docks["triplets"]
    dock.setFloating(True)
    dock.resize(900, 760)
    if wait_for(lambda: len(t.looks.results) == 2 and not t.looks.slot.busy
                and "loss" in t.numbers.get("raw", {}), 300):
        save(dock, "triplets_saliency.png")
    dock.setFloating(False)

    if (LFW / "pairs.txt").is_file():  # the 24-pair subset of screenshots.py
        lines = (LFW / "pairs.txt").read_text().splitlines()
        mini = Path(tmp.name) / "pairs.txt"
        mini.write_text("2\t6\n" + "\n".join(lines[1:7] + lines[301:307] + lines[601:607]
                                            + lines[901:907]) + "\n")
        v = win.verification
        win.docks["verification"].raise_()
        v.load(mini, LFW / "lfw-deepfunneled")
        dock = win.docks["verification"]
        dock.setFloating(True)
        dock.resize(1100, 860)
        if wait_for(lambda: v.result is not None and not v.busy, 300):
            wait_for(lambda: len(v.looks.cache) >= v.positives.count() + v.negatives.count()
                     and not v.looks.slot.busy, 300)
            v.positives.setCurrentRow(0)
            wait_for(lambda: v.preview is not None, 60)
            pump(1.5)
            save(dock, "verification_saliency.png")
        dock.setFloating(False)
    win.close()
    for p in saved:
        print(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
    tmp.cleanup()


if __name__ == "__main__":
    main()
