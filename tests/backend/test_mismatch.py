"""The mismatch finder on constructed cases with real photos (CelebA / LFW from the data folder):
no false alarm on two halves of one set, a photometric shift ranks its attribute first, an
off-centre crop ranks eye position first; the seed: CelebA's template is learned and re-aligning
LFW to it fixes the CelebA-trained CNN."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from faceinspector.backend import align, tasks
from faceinspector.backend.attributes import face_geometry, photometry, quality_from_table
from faceinspector.backend.facestore import FaceStore
from faceinspector.backend.mismatch import AS_GIVEN, find_mismatch, save_learned_template
from faceinspector.backend.types import Face

from ..conftest import shared_data

N = 100  # images per set: enough for the statistics, a few seconds of detection


def celeba(first: int, count: int):
    folder = shared_data("celeba", "img_align_89x109")
    return [folder / f"{i:06d}.jpg" for i in range(first, first + count)]


def write_set(folder, paths, edit=lambda a: a):
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        a = edit(np.asarray(Image.open(p).convert("RGB")))
        q = folder / (p.stem + ".png")
        Image.fromarray(a).save(q)
        out.append(q)
    return folder


def run(backend, ref, tgt, tmp_path, **kw):
    store = FaceStore(tmp_path / "faces.sqlite")
    return tasks.run(find_mismatch(backend, ref, tgt, store=store, n_boot=100, **kw))


def test_two_halves_of_one_set_raise_no_alarm(backend, tmp_path):
    ref = write_set(tmp_path / "a", celeba(1, N))
    tgt = write_set(tmp_path / "b", celeba(1 + N, N))
    rep = run(backend, ref, tgt, tmp_path)
    assert len(rep.reference) == len(rep.target) == N
    assert rep.comparison.alarms == (), [s.name for s in rep.comparison.alarms]
    assert rep.comparison.domain_auc["attributes"] < 0.75
    assert rep.comparison.domain_auc["embeddings"] < 0.75


def test_a_brightness_shift_ranks_brightness_first(backend, tmp_path):
    paths = celeba(1, N)
    ref = write_set(tmp_path / "a", paths)
    tgt = write_set(tmp_path / "b", paths,
                    lambda a: np.clip(a.astype(np.int16) + 60, 0, 255).astype(np.uint8))
    rep = run(backend, ref, tgt, tmp_path, embedder=None)
    top = rep.comparison.shifts[0]
    assert top.name in ("face_brightness", "image_brightness") and top.alarm
    assert top.tgt_mean > top.ref_mean + 40


def test_a_hue_shift_ranks_hue_first(backend, tmp_path):
    paths = celeba(1, N)

    def rotate_hue(a):
        hsv = cv2.cvtColor(a, cv2.COLOR_RGB2HSV_FULL)
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 60) % 256  # +85 degrees
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)

    rep = run(backend, write_set(tmp_path / "a", paths), write_set(tmp_path / "b", paths,
                                                                   rotate_hue),
              tmp_path, embedder=None)
    assert rep.comparison.shifts[0].name in ("face_hue", "image_hue")


def test_off_centre_crops_rank_eye_position_first(backend, tmp_path):
    lfw = shared_data("lfw", "lfw-deepfunneled")
    paths = sorted(lfw.glob("*/*.jpg"))[::50][:N]
    centred = write_set(tmp_path / "a", paths, lambda a: a[25:225, 25:225])
    shifted = write_set(tmp_path / "b", paths, lambda a: a[25:225, 50:250])  # 25 px left
    rep = run(backend, centred, shifted, tmp_path, embedder=None)
    top = rep.comparison.shifts[0]
    assert top.name == "eye_x" and top.alarm
    assert top.tgt_mean == pytest.approx(top.ref_mean - 25 / 200, abs=0.01)


def test_the_seed_celeba_template_and_the_fix(backend, tmp_path):
    """CelebA aligned vs LFW photos as given, the naive CelebA CNN, LFW's gender lists."""
    lfw = shared_data("lfw")
    names = sorted((lfw / "male_names.txt").read_text().split())[:60] \
        + sorted((lfw / "female_names.txt").read_text().split())[:60]
    tgt = tmp_path / "lfw.csv"
    tgt.write_text("path\n" + "\n".join(str(lfw / "lfw-deepfunneled" / n.rsplit("_", 1)[0] / n)
                                        for n in names) + "\n")
    ref = tmp_path / "celeba.csv"
    ref.write_text("\n".join(str(p) for p in celeba(1, 150)) + "\n")
    rep = run(backend, ref, tgt, tmp_path, model="celeba-cnn-naive", labels=lfw)
    top = rep.comparison.shifts[0]
    assert top.group == "geometry" and top.name in ("eye_y", "eye_x", "iod", "box_size")
    lt = rep.template
    assert lt.template is not None and lt.size == (89, 109)
    # MTCNN on CelebA's aligned images: eyes at (70.1, 112.3) and (109.2, 112.2) in 178x218
    half = (np.array([[70.1, 112.3], [109.2, 112.2]]) + 0.5) / 2 - 0.5
    np.testing.assert_allclose(lt.points[:2], half, atol=1.0)
    assert lt.spread[:2].max() < 1.5  # px at 89x109 (~2 px at full size)
    fixes = {f.template: f for f in rep.fixes}
    assert fixes[AS_GIVEN].n == 120
    assert fixes[lt.template.name].balanced_accuracy > fixes[AS_GIVEN].balanced_accuracy + 0.15
    assert rep.best.template in (lt.template.name, "celeba")
    lo, hi = fixes[AS_GIVEN].ci95["balanced_accuracy"]
    assert lo <= fixes[AS_GIVEN].balanced_accuracy <= hi

    # the learned template as a file works wherever a template name does
    path = save_learned_template(rep, tmp_path / "celeba-template.json")
    data = json.loads(path.read_text())
    assert data["size"] == [89, 109] and len(data["spread_px"]) == 5
    t = align.get_template(str(path))
    np.testing.assert_allclose(t.targets()[:2], lt.points[:2], atol=1e-3)
    summary = rep.summary()
    assert summary["attributes"][0]["name"] == top.name
    assert [a["score"] for a in summary["attributes"]] == sorted(
        (a["score"] for a in summary["attributes"]), reverse=True)
    assert {"attributes", "embeddings"} == set(summary["domain_auc"])
    assert summary["fixes"][0]["template"] == AS_GIVEN
    json.dumps(summary)  # serialisable


def test_rerun_reuses_cached_detections(backend, tmp_path):
    ref = write_set(tmp_path / "a", celeba(1, 20))
    tgt = write_set(tmp_path / "b", celeba(21, 20))
    first = run(backend, ref, tgt, tmp_path, embedder=None)
    again = run(backend, ref, tgt, tmp_path, embedder=None)
    assert first.reference.cached == 0 and again.reference.cached == 20
    assert again.target.cached == 20
    np.testing.assert_array_equal(first.target.landmarks, again.target.landmarks)


def test_cancel_stops_the_scan(backend, tmp_path):
    ref = write_set(tmp_path / "a", celeba(1, 10))
    token = tasks.CancelToken()
    task = find_mismatch(backend, ref, ref, store=FaceStore(tmp_path / "f.sqlite"),
                         cancel=token)
    next(task)
    token.cancel()
    with pytest.raises(tasks.Cancelled):
        tasks.run(task)


def test_a_collection_without_faces_says_so(backend, tmp_path):
    """A reference (or target) with fewer than two photos with a face: a one-line reason that
    names the collection and a file, not a numpy error from the comparison."""
    good = write_set(tmp_path / "good", celeba(1, 4))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"the reference .* 0 photo\(s\) with a face.*broken"):
        run(backend, bad, good, tmp_path, embedder=None)
    with pytest.raises(ValueError, match=r"the target .* 0 photo\(s\) with a face"):
        run(backend, good, bad, tmp_path, embedder=None)


def test_attribute_definitions():
    face = Face((40.0, 40.0, 60.0, 64.0), 1.0,
                np.array([[45, 50], [55, 50], [50, 55], [46, 60], [54, 60]], np.float32))
    g = face_geometry(face, 100, 200)
    assert g["eye_x"] == pytest.approx(50.5 / 100) and g["eye_y"] == pytest.approx(50.5 / 200)
    assert g["iod"] == pytest.approx(0.1) and g["roll"] == pytest.approx(0.0)
    assert g["yaw"] == pytest.approx(0.0)
    tilted = Face(face.box, 1.0, np.array([[45, 52], [55, 48], [50, 55], [46, 60], [54, 60]],
                                          np.float32))
    assert face_geometry(tilted, 100, 200)["roll"] > 20  # eye line up to the right: CCW
    grey = np.full((40, 40, 3), 100, np.uint8)
    p = photometry(grey, "x")
    assert p["x_brightness"] == pytest.approx(100, abs=0.5) and p["x_grayscale"] == 1.0
    assert p["x_contrast"] == pytest.approx(0, abs=1e-3) and p["x_sharpness"] == 0
    # the IJG table scaled for quality 75 gives back 75
    from faceinspector.backend.attributes import _IJG_LUMA, _ZIGZAG

    q75 = np.clip(np.floor((_IJG_LUMA * 50 + 50) / 100), 1, 255)
    assert quality_from_table(q75[_ZIGZAG]) == 75
