"""Where the model looks, in the real window (issue 19): the Crops pane's saliency row, the
Predictions cards' "where it looks" button, the Probe's map and feature maps following the
sliders, the Triplets similarity maps and the Verification pane's hardest-pair thumbnails --
offscreen, on the real backend and the demo photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from faceinspector.backend import evaluate
from faceinspector.backend.triplets import Pair
from faceinspector.gui import convert


def shown(view) -> np.ndarray:
    return convert.to_ndarray(view.rendered.toImage())[..., :3].astype(int)


def inside(point, quad) -> bool:
    """``point`` (x, y) inside the convex quadrilateral ``quad`` (4, 2)."""
    q = np.asarray(quad, float)
    p = np.asarray(point, float)
    edge, to_p = np.roll(q, -1, 0) - q, p - q
    cross = edge[:, 0] * to_p[:, 1] - edge[:, 1] * to_p[:, 0]
    return all(c >= 0 for c in cross) or all(c <= 0 for c in cross)


def crops_ready(qtbot, win):
    c = win.crops
    qtbot.waitUntil(lambda: c.pair is not None and c.ref is not None, timeout=90_000)
    return c


def test_crops_gradcam_overlay_opacity_occlusion_and_notes(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=())
    c = crops_ready(qtbot, win)
    c.set_model("dlib-gender")
    qtbot.waitUntil(lambda: c.pair.model_id == "dlib-gender" and not c.slot.busy,
                    timeout=60_000)
    assert c.looks.method_id is None and not c.looks.maps  # off by default
    plain = shown(c.aligned_view)

    c.looks.set_method("gradcam")
    qtbot.waitUntil(lambda: set(c.looks.maps) == {"raw", "aligned"}, timeout=90_000)
    for which in ("raw", "aligned"):
        sal = c.looks.maps[which]
        crop = getattr(c.pair, which)
        assert sal.method == "gradcam" and sal.model_id == "dlib-gender"
        assert sal.crop.shape == crop.pixels.shape  # the map belongs to the crop shown
        assert sal.template == ("raw" if which == "raw" else "dlib-chip")
        assert inside(sal.peak, sal.box), (which, sal.peak, sal.box)  # a peak on the face
        assert sal.mass_in_face_box > 0.5
        assert "Grad-CAM of" in c.looks.captions[which].text()
    assert c.aligned_view.peak == c.looks.maps["aligned"].peak
    half = shown(c.aligned_view)
    assert np.abs(half - plain).mean() > 5  # the overlay is drawn

    # opacity: re-blended on the GUI thread, no new map
    job = c.looks.slot.generation
    c.looks.opacity.setValue(0)
    zero = shown(c.aligned_view)
    assert np.abs(zero - plain).mean() < 2  # the crop itself (and the peak ring)
    c.looks.opacity.setValue(100)
    full = shown(c.aligned_view)
    assert np.abs(full - plain).mean() > np.abs(half - plain).mean()
    assert c.looks.slot.generation == job

    # EigenCAM: class-agnostic, said so; the class menu is off for it
    c.looks.set_method("eigencam")
    qtbot.waitUntil(lambda: "aligned" in c.looks.maps, timeout=60_000)
    assert "class-agnostic" in c.looks.note.text() and not c.looks.klass.isEnabled()

    # occlusion: the coarse 4x4 maps of both crops first, then the 8x8 ones
    grids = []
    c.looks.slot.result.connect(lambda m: grids.append((m.which, m.saliency.grid)))
    c.looks.set_method("occlusion")
    qtbot.waitUntil(lambda: len(grids) == 4, timeout=90_000)
    assert grids == [("aligned", (4, 4)), ("raw", (4, 4)), ("aligned", (8, 8)),
                     ("raw", (8, 8))]
    assert c.looks.maps["aligned"].signed and "occlusion 8×8" in \
        c.looks.captions["aligned"].text()
    assert "supports the target" in c.looks.note.text()

    # a class of the menu: the map of that class on both crops
    c.looks.set_method("gradcam")
    c.looks.klass.setCurrentIndex(c.looks.klass.findData(1))  # "male"
    qtbot.waitUntil(lambda: set(c.looks.maps) == {"raw", "aligned"}
                    and c.looks.maps["raw"].class_label == "male", timeout=60_000)
    assert c.looks.maps["aligned"].class_index == 1
    # grad-cam was imported on the io lane once the models were up
    qtbot.waitUntil(lambda: win.ctx._saliency_preloader.done, timeout=60_000)


def test_predictions_card_shows_where_it_looks_in_crops(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=())
    c = crops_ready(qtbot, win)
    card = win.predictions.cards["celeba-cnn-naive"]
    assert card.look_button.isVisibleTo(card)
    card.look_button.click()
    assert c.model_id == "celeba-cnn-naive" and c.looks.method_id == "gradcam"
    qtbot.waitUntil(lambda: "aligned" in c.looks.maps, timeout=90_000)
    sal = c.looks.maps["aligned"]
    assert sal.model_id == "celeba-cnn-naive" and sal.template == "celeba"
    assert sal.crop.shape == c.pair.aligned.pixels.shape == (78, 64, 3)
    assert win.predictions.cards["celeba-cnn-naive"].highlighted  # outlined: in Crops


def test_probe_map_and_feature_maps_follow_the_slider(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=())
    win.docks["probe"].raise_()
    probe = win.probe
    probe.set_models(["dlib-gender"])
    lk = probe.looks
    qtbot.waitUntil(lambda: lk.base is not None and lk.shown is not None, timeout=90_000)
    base = lk.base
    assert base.saliency.method == "gradcam" and base.saliency.transform == (0, 0, 0, 1)
    feats = base.features
    assert feats.layer == "conv4" and len(feats.channels) == 16
    assert np.all(np.diff(feats.means) <= 0)  # ordered by activation
    assert lk.grid.channels == [int(k) for k in feats.channels] and lk.grid.images
    assert "equivariant" in lk.note.text() and "approximately invariant" in lk.note.text()

    # every map drawn is for the slider value shown at that moment: stale ones are dropped
    wrong = []
    lk.mapsShown.connect(lambda m: wrong.append(m.transform) if m.transform !=
                         probe.transform() else None)
    dx = probe.controls["dx"].slider
    for v in (1, 2, 3, 4):
        dx.setValue(v)
        lk.follow(probe)  # a request per value, as a fast drag makes them
    qtbot.waitUntil(lambda: lk.shown.transform == (4.0, 0.0, 0.0, 1.0), timeout=60_000)
    qtbot.waitUntil(lambda: not lk.busy, timeout=60_000)
    assert not wrong
    moved = lk.shown
    unit = probe.units()["dlib-gender"]
    assert moved.saliency.transform == (4.0 * unit, 0.0, 0.0, 1.0)
    assert moved.saliency.class_index == base.saliency.class_index  # the base's top class
    assert not np.array_equal(moved.saliency.map, base.saliency.map)
    # the same channels on the same scale; the maps moved with the input (2 feature px)
    np.testing.assert_array_equal(moved.features.channels, feats.channels)
    np.testing.assert_array_equal(moved.features.ranges, feats.ranges)
    eq = moved.equivariance
    assert eq.shift == (2.0, 0.0) and eq.shifted > 0.8 > eq.unshifted
    assert "correlation" in lk.text.text()

    # a result for a value the slider has left is not drawn
    dx.setValue(-6)
    qtbot.waitUntil(lambda: lk.shown.transform[0] == -6.0, timeout=60_000)
    before = lk.stale_dropped
    lk._on_result(moved)
    assert lk.stale_dropped == before + 1 and lk.shown.transform[0] == -6.0

    # rotation: no equivariance figure (shifts only), still a map and feature maps
    probe.controls["angle"].setValue(-20)
    qtbot.waitUntil(lambda: lk.shown.transform == (-6.0, 0.0, -20.0, 1.0), timeout=60_000)
    assert lk.shown.equivariance is None and lk.shown.features is not None


def test_triplets_similarity_maps(qtbot, make_window, one_photo):
    win = make_window([one_photo], models=())
    t = win.triplets
    win.docks["triplets"].raise_()
    qtbot.waitUntil(lambda: win.photos.model.rowCount() == 1 and not win.photos.busy,
                    timeout=90_000)
    faces = t.faces
    assert len(faces) == 3
    for slot, ref in zip("APN", faces):
        t.put_face(slot, ref)
    lk = t.looks
    qtbot.waitUntil(lambda: set(lk.results) == {"P", "N"}, timeout=90_000)
    for other, mode in (("P", "similar"), ("N", "dissimilar")):
        pair = lk.results[other].pair
        assert pair.mode == mode and not pair.error and pair.model_id == t.model_id
        assert pair.a.target == ("similarity" if mode == "similar" else "dissimilarity")
        for face in ("A", other):
            assert not lk.views[(other, face)].pixmap().isNull()
    # the same pairs again: nothing is recomputed
    gen = lk.slot.generation
    t._request_slots()
    assert lk.slot.generation == gen
    lk.method.setCurrentIndex(lk.method.findData(None))
    assert not lk.results and lk.views[("P", "A")].pixmap().isNull()


def test_verification_hardest_pairs_get_thumbnails(qtbot, make_window, demo_paths, tmp_path):
    """A Verification result over two "people" of demo photos (embeddings made up): every
    pair of the hardest lists gets its similarity thumbnail as its icon."""
    root = tmp_path / "people"
    images = []
    for k, person in enumerate(("P1", "P2")):
        (root / person).mkdir(parents=True)
        for j in range(2):
            src = demo_paths[2 * k + j]
            shutil.copy(src, root / person / f"{j}.jpg")
            images.append(f"{person}/{j}.jpg")
    pairs = (Pair("P1/0.jpg", "P1/1.jpg", True, 0), Pair("P2/0.jpg", "P2/1.jpg", True, 0),
             Pair("P1/0.jpg", "P2/1.jpg", False, 0), Pair("P2/0.jpg", "P1/1.jpg", False, 0))
    emb = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    rep = evaluate.pairs_report(emb, tuple(images), pairs, "l2", 0.6, n_boot=50)
    info = {"people": 2, "images": 4, "images_total": 4, "few_people": 0, "few_images": 0,
            "min_images": 2}
    result = evaluate.Verification(Path(root), "folder", Path(root), "dlib-resnet", "l2",
                                   tuple(images), pairs, emb, np.ones(4, bool), {}, rep, 1.0,
                                   info, np.zeros(4, int), "dlib-chip", (150, 150), {}, {}, 0.6)
    win = make_window(models=())
    v = win.verification
    win.docks["verification"].raise_()
    v._on_result(result)
    assert v.positives.count() == 2 and v.negatives.count() == 2
    lk = v.looks
    qtbot.waitUntil(lambda: len(lk.cache) == 4 and not lk.slot.busy, timeout=120_000)
    for lst in (v.positives, v.negatives):
        for row in range(lst.count()):
            assert not lst.item(row).icon().isNull()
            assert "icon:" in lst.item(row).toolTip()
    modes = {key[4] for key in lk.rows["pos"]} | {key[4] for key in lk.rows["neg"]}
    assert modes == {"dissimilar", "similar"}
    v.negatives.setCurrentRow(0)
    assert not lk.views[0].pixmap().isNull() and "close" in lk.text.text()
    # a new distance: same pairs, their maps are not made again
    gen = lk.slot.generation
    v._on_result(result)
    assert lk.slot.generation == gen
