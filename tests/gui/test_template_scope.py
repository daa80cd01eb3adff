"""Issue 18 in Crops / Predictions / Probe: the template choice says its scope (each model's own,
or one forced on every model, shared by the three panes) and warns whose template it is not;
"As seen by" outlines that model's card; the age histogram has an axis, a raw-chip model one
column; exports say what they are."""

from __future__ import annotations

import csv

from PySide6.QtGui import QImage

from faceinspector.gui.convert import draw_label, with_caption

from .conftest import wait_face_shown


def test_forced_template_is_shared_and_warned_about(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=["dlib-gender", "faceapi-agegender"])
    wait_face_shown(qtbot, win)
    crops, pr, probe = win.crops, win.predictions, win.probe
    assert win.ctx.template is None and not crops.warning.isVisible()
    assert "each model aligned with its own template" in pr.summary.text()
    crops.set_template("arcface-112")
    assert win.ctx.template == "arcface-112" and probe.template == "arcface-112"
    assert "forced on every model" in crops.template_combo.currentText()
    assert crops.warning.isVisible()
    assert "arcface-112 is forced on every model: it is the own template of none" \
        in crops.warning.text()
    wait_face_shown(qtbot, win)
    assert "arcface-112 forced on every model" in pr.summary.text()
    card = pr.cards["dlib-gender"]
    assert card.forced.isVisibleTo(card)
    assert card.forced_note == "forced arcface-112 (own: dlib-chip)"
    assert card.forced.text().startswith("forced arcface") and not card.title.isVisibleTo(card)
    assert "forced; dlib-gender's own is dlib-chip" in crops.description.text() \
        or crops.model_id != "dlib-gender"
    # the Probe's choice is the same one: changing it there changes Crops and Predictions
    probe.template_combo.setCurrentIndex(probe.template_combo.findData("__own__"))
    assert win.ctx.template is None and crops.template is None and pr.template is None
    assert not card.forced.isVisibleTo(card) and not crops.warning.isVisible()
    # a template that is some models' own: the warning names them
    crops.set_template("raw")
    owners = win.ctx.owners_of("raw")
    assert {"faceapi-agegender", "faceapi-expression"} <= set(owners)
    named = ", ".join(owners) if len(owners) <= 3 else str(len(owners))
    assert f"own template of {named} of the" in crops.warning.text()


def test_as_seen_by_outlines_the_card(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=["dlib-gender", "dlib-age"])
    wait_face_shown(qtbot, win)
    pr = win.predictions
    assert pr.highlighted == win.crops.model_id
    win.crops.set_model("dlib-age")
    assert pr.highlighted == "dlib-age"
    assert pr.cards["dlib-age"].highlighted and pr.cards["dlib-age"].shown.isVisibleTo(
        pr.cards["dlib-age"])
    assert not pr.cards["dlib-gender"].highlighted


def test_age_histogram_axis_and_one_column_for_a_raw_chip(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=["dlib-age", "faceapi-agegender"])
    wait_face_shown(qtbot, win)
    age, raw = win.predictions.cards["dlib-age"].view, \
        win.predictions.cards["faceapi-agegender"].view
    assert age._kind() == "histogram" and not age.single
    assert age.height() >= age.HEAD + age.HIST + age.AXIS  # room for the age axis
    assert raw.single  # its own chip is the raw box: raw == aligned, one column
    image = age.grab().toImage()
    assert not image.isNull()
    win.crops.set_template("dlib-chip")  # forced: the raw-chip model now has two crops
    wait_face_shown(qtbot, win)
    assert not win.predictions.cards["faceapi-agegender"].view.single


def test_exports_say_what_they_are(qtbot, make_window, one_photo, tmp_path):
    win = make_window([one_photo], models=["dlib-gender", "dlib-age"])
    wait_face_shown(qtbot, win)
    files = win.crops.export_png(tmp_path)
    native = QImage(next(f for f in files if f.endswith("_aligned.png")))
    desc = native.text("Description")
    ref = win.crops.ref
    assert f"{one_photo.name}, face {ref.index + 1} of {ref.count}" in desc
    assert "the model's own template" in desc and win.crops.model_id in desc
    shown = QImage(next(f for f in files if f.endswith("_aligned_shown.png")))
    assert shown.height() > win.crops.aligned_view.rendered.height()  # the caption strip
    win.predictions.export_csv(tmp_path / "p.csv")
    rows = list(csv.DictReader(open(tmp_path / "p.csv", encoding="utf-8")))
    assert {r["template_mode"] for r in rows} == {"raw box", "own"}
    assert {r["model_own_template"] for r in rows} == {"dlib-chip"}
    assert {r["photo_path"] for r in rows} == {str(one_photo)}
    ages = [r["value"] for r in rows if r["value"]]
    assert ages and all(len(v.split(".")[1]) <= 2 for v in ages)  # no 14.400000000000002


def test_captions_and_labels_stay_inside_the_image(qapp):
    image = QImage(120, 40, QImage.Format.Format_RGB32)
    image.fill(0xFF000000)
    out = with_caption(image, ["photo.jpg, face 2", "template celeba"])
    assert out.height() > 40 and out.text("Description") == "photo.jpg, face 2 | template celeba"
    from PySide6.QtGui import QPainter, QPixmap

    pix = QPixmap(100, 40)
    pix.fill()
    p = QPainter(pix)
    draw_label(p, "unknown", __import__("PySide6.QtCore").QtCore.QPointF(-30, 35), "#ff0000")
    p.end()
    img = pix.toImage()
    # the label box starts at x = 0 (it was at -30: "nknown") and stays above the bottom edge
    column = [img.pixelColor(1, y).value() for y in range(40)]
    assert min(column) < 128 and column[0] > 200
