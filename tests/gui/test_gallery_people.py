"""Issue 18 in the Gallery pane: several faces per person (enrolling again adds, with a count;
replacing asks first), an old one-face-per-person file still loads, and a whole folder is
identified with its rank-1 accuracy."""

from __future__ import annotations

import json
import shutil

from faceinspector.backend.gallery import FORMAT_V1

from ..conftest import shared_data
from .conftest import wait_face_shown
from .test_face_links import actions


def test_enroll_again_adds_and_replace_asks(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=())
    wait_face_shown(qtbot, win)
    g = win.gallery
    win.docks["gallery"].raise_()
    g.enroll("Alice")
    qtbot.waitUntil(lambda: g.gallery.count("Alice") == 1, timeout=30_000)
    n = len(win.photos.current_item().faces)
    win.photos.select_face((win.photos.face_index + 1) % n)  # another face of the photo
    g.enroll("Alice")
    qtbot.waitUntil(lambda: g.gallery.count("Alice") == 2, timeout=30_000)
    assert g.people.item(0).text() == "Alice\n2 faces"
    assert "Enrolled Alice (2 faces)" in g.status.text()
    # replacing asks first: "no" keeps both faces, "yes" replaces them
    asked = []
    g.confirm = lambda text: asked.append(text) or False
    assert not g.replace("Alice")
    assert "Replace the 2 enrolled faces of Alice" in asked[0] and g.gallery.count("Alice") == 2
    g.confirm = lambda text: True
    assert g.replace("Alice")
    qtbot.waitUntil(lambda: g.gallery.count("Alice") == 1, timeout=30_000)
    assert g.people.item(0).text() == "Alice\n1 face"
    # the list's menu: open the enrolled face, send it to Triplets, remove the person
    menu = g.people.build_menu(0, can_add=True)
    acts = actions(menu)
    assert any(k.startswith("Open sample1.jpg, face") for k in acts)
    with qtbot.waitSignal(g.openFace, timeout=5_000):
        next(a for k, a in acts.items() if k.startswith("Open sample1.jpg")).trigger()
    acts["Remove Alice"].trigger()
    assert g.gallery.names == []


def test_an_old_gallery_file_loads(qtbot, make_window, tmp_path):
    win = make_window(models=())
    g = win.gallery
    old = {"format": FORMAT_V1, "model_id": "dlib-resnet", "metric": "l2", "threshold": 0.6,
           "dim": 128, "people": [{"name": "ann", "embedding": [0.1] * 128},
                                  {"name": "bob", "embedding": [0.2] * 128}]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    g.load(tmp_path / "old.json")
    qtbot.waitUntil(lambda: g.gallery.names == ["ann", "bob"], timeout=20_000)
    assert g.people.item(1).text() == "bob\n1 face"
    g.save(tmp_path / "new.json")
    qtbot.waitUntil(lambda: (tmp_path / "new.json").exists(), timeout=20_000)
    assert json.loads((tmp_path / "new.json").read_text())["format"].endswith("/2")


def test_identify_a_folder_with_rank1(qtbot, make_window, tmp_path):
    src = shared_data("lfw", "lfw-deepfunneled")
    people = [d for d in sorted(src.iterdir()) if len(list(d.glob("*.jpg"))) >= 3][:2]
    folder = tmp_path / "probe"
    for d in people:
        (folder / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.jpg"))[1:3]:
            shutil.copy(f, folder / d.name / f.name)
    firsts = [sorted(d.glob("*.jpg"))[0] for d in people]
    win = make_window(firsts, models=())
    g = win.gallery
    win.docks["gallery"].raise_()
    photos = win.photos
    qtbot.waitUntil(lambda: photos.model.rowCount() == 2 and not photos.busy, timeout=90_000)
    for row, d in enumerate(people):
        photos.list.setCurrentIndex(photos.model.index(row))
        qtbot.waitUntil(lambda r=row: photos.face_index >= 0
                        and photos.current_item().path == firsts[r], timeout=30_000)
        g.enroll(d.name.replace("_", " "))
        qtbot.waitUntil(lambda n=row + 1: len(g.gallery.names) == n, timeout=30_000)
    g.tabs.setCurrentWidget(g.folder)
    g.folder.identify(folder)
    qtbot.waitUntil(lambda: g.folder.result is not None and not g.folder.busy,
                    timeout=120_000)
    r = g.folder.result
    assert r.known == 4 and r.rank1 == 1.0
    text = g.folder.summary.text()
    assert "rank-1 accuracy <b>100.0 %</b>" in text and "over the 4 images" in text
    assert g.folder.list.count() == 4 and g.folder.list.item(0).text().startswith("✓ ")
    with qtbot.waitSignal(g.openFace, timeout=5_000) as blocker:
        g.folder.links.open_index(g.folder.list.model().index(0, 0))
    assert blocker.args[0] == str(folder / r.images[0])
