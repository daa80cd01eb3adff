"""The Mismatch pane, driven like a user: choose CelebA as the reference and LFW photos as the
target, a model and LFW's gender lists, run, read the ranking, click an attribute, open an
example face in the Photos pane, and find the learned template in the Crops pane's choices."""

from __future__ import annotations

import pytest

from ..conftest import shared_data


@pytest.fixture
def sets(tmp_path):
    celeba = shared_data("celeba", "img_align_89x109")
    lfw = shared_data("lfw")
    ref = tmp_path / "celeba.csv"
    ref.write_text("\n".join(str(celeba / f"{i:06d}.jpg") for i in range(1, 61)) + "\n")
    names = sorted((lfw / "male_names.txt").read_text().split())[:20] \
        + sorted((lfw / "female_names.txt").read_text().split())[:20]
    tgt = tmp_path / "lfw.csv"
    tgt.write_text("\n".join(str(lfw / "lfw-deepfunneled" / n.rsplit("_", 1)[0] / n)
                             for n in names) + "\n")
    return ref, tgt, lfw


def test_find_the_mismatch_in_the_pane(qtbot, make_window, sets, monkeypatch, tmp_path):
    monkeypatch.setenv("FACEINSPECTOR_FACESTORE", str(tmp_path / "faces.sqlite"))
    ref, tgt, lfw = sets
    win = make_window([], models=())
    pane = win.mismatch
    win.docks["mismatch"].raise_()
    assert not pane.run_button.isEnabled()  # nothing chosen yet
    pane.set_sources(ref, tgt, labels=lfw, model="celeba-cnn-naive")
    assert pane.run_button.isEnabled()
    pane.run()
    qtbot.waitUntil(lambda: pane.report is not None and not pane.busy, timeout=240_000)
    r = pane.report
    assert pane.table.rowCount() == len(r.comparison.shifts) > 10
    assert pane.table.item(0, 0).text() == r.comparison.shifts[0].name
    assert r.comparison.shifts[0].group == "geometry"
    assert "What differs most" in pane.summary.text()
    # the fix table: as given first, the learned template best or close to it, in bold
    assert pane.fix_table.item(0, 0).text() == "as given"
    assert r.best is not None and r.best.balanced_accuracy > r.baseline.balanced_accuracy
    # the learned template is offered in the Crops pane
    qtbot.waitUntil(lambda: pane.template_file != "", timeout=30_000)
    assert win.crops.template_combo.findData(pane.template_file) >= 0
    # an attribute's examples; double-click one: the Photos pane shows that face
    pane.table.selectRow(0)
    strip = pane.strips["target"]
    qtbot.waitUntil(lambda: strip.count() > 0, timeout=30_000)
    path, face = strip.item(0).data(0x0100)
    strip.openFace.emit(path, face)
    qtbot.waitUntil(lambda: win.crops.ref is not None and str(win.crops.ref.path) == path,
                    timeout=60_000)
    # export: report, CSV, JSON and template files
    out = tmp_path / "export"
    out.mkdir()
    pane.export(out)
    qtbot.waitUntil(lambda: (out / "report.html").exists() and (out / "summary.json").exists(),
                    timeout=60_000)
    assert (out / "attributes.csv").read_text().count("\n") == len(r.reference) + len(r.target) + 1


def test_cancel_a_scan(qtbot, make_window, sets, monkeypatch, tmp_path):
    monkeypatch.setenv("FACEINSPECTOR_FACESTORE", "off")
    ref, tgt, _ = sets
    win = make_window([], models=())
    pane = win.mismatch
    pane.set_sources(ref, tgt)
    pane.run()
    qtbot.waitUntil(lambda: pane.progress.value() > 0, timeout=60_000)
    pane.cancel()
    assert not pane.busy and pane.report is None and "Cancelled" in pane.summary.text()


def test_a_failed_scan_says_why_in_the_pane_and_the_status_bar(qtbot, make_window, sets,
                                                               monkeypatch, tmp_path):
    """A reference with no readable image: the task fails, the pane shows the reason in the
    error colour, the status bar names the pane, and Run is back."""
    monkeypatch.setenv("FACEINSPECTOR_FACESTORE", "off")
    _, tgt, _ = sets
    bad = tmp_path / "bad.csv"
    (tmp_path / "not_a_photo.jpg").write_bytes(b"not a jpeg")
    bad.write_text(str(tmp_path / "not_a_photo.jpg") + "\n")
    win = make_window([], models=())
    pane = win.mismatch
    said = []
    pane.message.connect(said.append)
    pane.set_sources(bad, tgt)
    pane.run()
    qtbot.waitUntil(lambda: not pane.busy and bool(said), timeout=120_000)
    assert pane.report is None
    assert said[-1].startswith("Mismatch: ") and len(said[-1]) > len("Mismatch: ")
    assert "color" in pane.summary.text() and said[-1][len("Mismatch: "):] in pane.summary.text()
    assert pane.run_button.isVisibleTo(pane) and not pane.cancel_button.isVisibleTo(pane)
