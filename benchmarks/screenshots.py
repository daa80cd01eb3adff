"""Screenshots of the desktop app with the demo photos, one PNG per pane state.

Opens the main window at 1400x900 (offscreen), waits for detection of the six demo photos,
steps through the faces until one where a model changes its answer between the raw and the
aligned crop, and saves under ``docs/screenshots/``:

* ``main.png`` - the whole window;
* ``photos.png``, ``crops.png``, ``predictions.png`` - each pane;
* ``predictions_all.png`` - every model's card (the list inside the scroll area), including
  models that cannot be loaded here, greyed out with the reason;
* ``crops_arcface.png``, ``predictions_arcface.png`` - the same face aligned to the ArcFace
  template instead of each model's own (dlib's networks change their minds);
* ``triplets.png`` - the Triplets pane: the selected face as anchor, its nearest other face
  as positive and its farthest as negative, and the distance matrix of every demo face;
* ``morph.png`` - the Morph pane: the selected face and the next one through the shipped VAE,
  their morph and a latent traversal;
* ``gallery.png`` - the Gallery pane: the first face enrolled, its photo identified;
* ``verification.png`` - the Verification pane on a 24-pair LFW subset (when LFW is there);
* ``photos_error.png`` - an unreadable file in the list, its message shown in place.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
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
        v.load(mini, lfw / "lfw-deepfunneled")
        if wait_for(lambda: v.result is not None and not v.busy, 300):
            pump(1.0)
            save(win.docks["verification"], "verification.png")
    win.docks["predictions"].raise_()

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


if __name__ == "__main__":
    main()
