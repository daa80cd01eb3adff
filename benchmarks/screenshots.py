"""Screenshots of the desktop app with the demo photos, one PNG per pane state.

Opens the main window at 1400x900 (offscreen), waits for detection of the six demo photos,
steps through the faces until one where a model changes its answer between the raw and the
aligned crop, and saves under ``docs/screenshots/``:

* ``main.png`` - the whole window;
* ``main_1280x720.png`` - the whole window at 1280x720 (its minimum fits; panes that need more
  room scroll);
* ``photos.png``, ``crops.png``, ``predictions.png`` - each pane (the card of the model the
  Crops pane shows is outlined; the age histogram has an age axis; a model whose own chip is
  the raw box has one column);
* ``predictions_all.png`` - every model's card (the list inside the scroll area), including
  models that cannot be loaded here, greyed out with the reason;
* ``crops_arcface.png``, ``predictions_arcface.png`` - the same face with the ArcFace template
  forced on every model instead of each model's own (the warning says whose template it is not;
  dlib's networks change their minds);
* ``triplets.png`` - the Triplets pane: the selected face as anchor, its nearest other face
  as positive and its farthest as negative, and the distance matrix of every demo face;
* ``morph.png`` - the Morph pane: the selected face and the next one through the shipped VAE,
  their morph and a latent traversal;
* ``gallery.png`` - the Gallery pane: the first face enrolled, its photo identified;
* ``gallery_folder.png`` - the Gallery pane's Folder tab: two LFW people enrolled (one with two
  faces), a folder of their other photos and a stranger's identified, rank-1 accuracy (LFW);
* ``verification.png`` - the Verification pane on a 24-pair LFW subset, raw vs aligned, with a
  fixed threshold (when LFW is there);
* ``sidecar_form.png`` - the form that writes a user model's sidecar;
* ``guide.png`` - Help ▸ Guide;
* ``photos_error.png`` - an unreadable file in the list, its message shown in place.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _qtbench import private_app, pump, wait_for  # noqa: E402


ROOT = Path(__file__).resolve().parents[1]


def settle(win) -> None:
    """Let every pane finish its work and repaint."""
    wait_for(lambda: not win.crops.slot.busy and not win.predictions.slot.busy
             and (win.predictions.ref is None
                  or set(win.predictions.enabled_models) <= set(win.predictions.results)))
    pump(0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--max-faces", type=int, default=23)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    app, tmp = private_app("fi-shots-")
    app.setOrganizationName("FaceInspector-screenshots")
    from faceinspector.gui.main_window import MainWindow

    win = MainWindow(paths=None, restore_layout=False)  # the demo photos
    win.resize(1400, 900)
    win.show()
    if not wait_for(lambda: win.ctx.info is not None, 300):
        raise SystemExit("the backend did not come up")
    photos = win.photos
    if not wait_for(lambda: photos.model.rowCount() >= 6 and not photos.busy, 600):
        raise SystemExit("the demo photos did not load")
    photos.list.setCurrentIndex(photos.model.index(0))
    settle(win)

    # step through the faces until some model changes its answer (own templates)
    for _ in range(args.max_faces):
        if any(c.differs for c in win.predictions.cards.values()):
            break
        photos.step_face(1)
        settle(win)
    ref = win.crops.ref
    print(f"face {ref.index + 1} of {ref.count} in {ref.path.name}; differing: "
          + ", ".join(m for m, c in win.predictions.cards.items() if c.differs))
    saved = []

    def save(widget, name: str) -> None:
        pump(0.05)
        path = args.out / name
        widget.grab().save(str(path))
        saved.append(path)

    save(win, "main.png")
    win.resize(1280, 720)
    pump(0.5)
    save(win, "main_1280x720.png")
    win.resize(1400, 900)
    pump(0.5)
    save(win.docks["photos"], "photos.png")
    save(win.docks["crops"], "crops.png")
    save(win.docks["predictions"], "predictions.png")
    save(win.predictions.list, "predictions_all.png")  # every card, unscrolled

    win.crops.set_template("arcface-112")
    settle(win)
    save(win.docks["crops"], "crops_arcface.png")
    save(win.docks["predictions"], "predictions_arcface.png")
    win.crops.set_template(None)

    t = win.triplets
    win.docks["triplets"].raise_()
    if wait_for(lambda: len(t.matrix_faces) > 2, 300):
        t.put_selected("A")
        key = (str(ref.path), ref.index)
        a = next(i for i, fe in enumerate(t.matrix_faces) if fe.key[:2] == key)
        d = t.matrix[a].copy()
        d[a] = float("inf")
        t.click_cell(a, int(d.argmin()))  # A and its nearest other face
        d[a] = -1
        t.put_face("N", t._loaded(int(d.argmax())))
        wait_for(lambda: "loss" in t.numbers.get("raw", {}), 120)
        settle(win)
        save(win.docks["triplets"], "triplets.png")
    win.docks["predictions"].raise_()

    m = win.morph
    win.docks["morph"].raise_()
    m.set_from_selected("A")
    photos.step_face(1)
    settle(win)
    m.set_from_selected("B")
    if wait_for(lambda: all(m.faces.values()) and m.strips["morph"] is not None
                and not m.busy, 300):
        m.request_traverse()
        wait_for(lambda: m.strips["traverse"] is not None and not m.busy, 120)
        pump(0.3)
        save(win.docks["morph"], "morph.png")

    g = win.gallery
    win.docks["gallery"].raise_()
    photos.list.setCurrentIndex(photos.model.index(0))
    settle(win)
    g.enroll("the first face")
    wait_for(lambda: len(g.gallery.names) == 1, 120)
    g.identify()
    wait_for(lambda: g.photo_faces is not None, 120)
    pump(0.3)
    save(win.docks["gallery"], "gallery.png")

    lfw = ROOT.parent / "shared" / "data" / "lfw"
    if (lfw / "pairs.txt").is_file():  # a 2-fold mini pairs file (24 pairs) from LFW
        lines = (lfw / "pairs.txt").read_text().splitlines()
        mini = Path(tmp.name) / "pairs.txt"
        mini.write_text("2\t6\n" + "\n".join(lines[1:7] + lines[301:307] + lines[601:607]
                                            + lines[901:907]) + "\n")
        v = win.verification
        win.docks["verification"].raise_()
        v.crops.setCurrentIndex(v.crops.findData("raw"))  # raw vs aligned, fixed τ 0.6
        v.load(mini, lfw / "lfw-deepfunneled")
        dock = win.docks["verification"]
        dock.setFloating(True)  # room for the summary and both plots
        dock.resize(1100, 760)
        if wait_for(lambda: v.result is not None and not v.busy, 300):
            pump(1.5)
            save(dock, "verification.png")
        dock.setFloating(False)
        gallery_folder(win, lfw / "lfw-deepfunneled", Path(tmp.name), save)
    win.docks["predictions"].raise_()
    user_model_form(win, Path(tmp.name), save)
    win.act_guide.trigger()
    pump(0.3)
    save(win.guide, "guide.png")
    win.guide.close()

    broken = Path(tmp.name) / "holiday-042.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 50)
    win.open_paths([broken])
    wait_for(lambda: photos.model.rowCount() >= 7 and not photos.busy)
    photos.list.setCurrentIndex(photos.model.index(photos.model.rowCount() - 1))
    settle(win)
    save(win.docks["photos"], "photos_error.png")

    win.close()
    for p in saved:
        print(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
    tmp.cleanup()


def gallery_folder(win, people_root: Path, tmp: Path, save) -> None:
    """Two LFW people enrolled (the first with two faces), a folder of their other photos and
    a stranger's identified."""
    people = [d for d in sorted(people_root.iterdir()) if len(list(d.glob("*.jpg"))) >= 4][:3]
    folder = tmp / "identify"
    for d in people:
        (folder / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.jpg"))[2:4]:
            shutil.copy(f, folder / d.name / f.name)
    enroll = [f for d in people[:2] for f in sorted(d.glob("*.jpg"))[:2 if d == people[0] else 1]]
    g, photos = win.gallery, win.photos
    win.docks["gallery"].raise_()
    g.clear()
    rows = photos.model.rowCount()
    win.open_paths(enroll)
    wait_for(lambda: photos.model.rowCount() == rows + len(enroll) and not photos.busy, 300)
    for k, f in enumerate(enroll):
        photos.list.setCurrentIndex(photos.model.index(rows + k))
        wait_for(lambda f=f: photos.face_index >= 0 and photos.current_item().path == f, 60)
        before = len(g.gallery.owner)
        g.enroll(f.parent.name.replace("_", " "))
        wait_for(lambda b=before: len(g.gallery.owner) == b + 1, 120)
    g.tabs.setCurrentWidget(g.folder)
    g.folder.identify(folder)
    if wait_for(lambda: g.folder.result is not None and not g.folder.busy, 300):
        pump(0.3)
        save(win.docks["gallery"], "gallery_folder.png")
    g.tabs.setCurrentIndex(0)


def user_model_form(win, tmp: Path, save) -> None:
    """The sidecar form, as it opens for a model file without a sidecar."""
    from faceinspector.gui.panes.predictions.sidecar_form import SidecarDialog

    dlg = SidecarDialog(tmp / "my-glasses-cnn.onnx", win.ctx.templates, win.ctx.template_label,
                        {"labels": ["no glasses", "glasses"], "input_size": [64, 64],
                         "template": "celeba"},
                        "my-glasses-cnn.onnx needs a JSON sidecar my-glasses-cnn.json next to "
                        "it (labels, input_size, template, mean/std); none was found.", win)
    dlg.show()
    pump(0.3)
    save(dlg, "sidecar_form.png")
    dlg.close()


if __name__ == "__main__":
    main()
