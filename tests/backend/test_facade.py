"""The facade end to end on real photos: load -> detect -> crops for every template."""

import numpy as np
import pytest

from faceinspector.backend import Backend, ImageError
from faceinspector.backend.align import get_template

from ..conftest import shared_data


def test_demo_photo_to_crops_for_every_template(backend, demo_photos, demo_detections):
    photo, det = demo_photos[0], demo_detections[0]
    face = det.faces[0]
    crops = backend.crops(photo, face)
    assert set(crops) >= {"raw", "dlib-chip", "arcface-112", "celeba"}
    for name, crop in crops.items():
        t = get_template(name)
        assert crop.pixels.dtype == np.uint8
        assert crop.pixels.shape == (t.size[1], t.size[0], 3)
        assert crop.pixels.std() > 10  # real photo content, not a flat border
        if name != "raw":
            # the aligned templates put the landmarks close to their targets (least squares)
            err = np.linalg.norm(crop.landmarks - crop.targets, axis=1).mean()
            assert err < 0.06 * t.size[0], (name, err)


def test_raw_crop_is_not_rotated_but_aligned_crop_is(backend, demo_photos, demo_detections):
    # find the most tilted face in the demo photos
    best = None
    for photo, det in zip(demo_photos, demo_detections):
        for f in det.faces:
            dx, dy = f.landmarks[1] - f.landmarks[0]
            tilt = abs(np.degrees(np.arctan2(dy, dx)))
            if best is None or tilt > best[0]:
                best = (tilt, photo, f)
    tilt, photo, face = best
    assert tilt > 3
    raw = backend.crop(photo, face, "raw")
    assert raw.matrix[0, 1] == pytest.approx(0) and raw.matrix[1, 0] == pytest.approx(0)
    chip = backend.crop(photo, face, "dlib-chip")
    eyes = chip.landmarks[:2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 2.0  # eyes level after alignment
    eyes_raw = raw.landmarks[:2]
    assert abs(eyes_raw[0, 1] - eyes_raw[1, 1]) > abs(eyes[0, 1] - eyes[1, 1])


def test_lfw_photo_through_the_facade():
    p = shared_data("lfw", "lfw-deepfunneled", "Aaron_Eckhart", "Aaron_Eckhart_0001.jpg")
    b = Backend(device="cpu")
    photo = b.load_photo(p)
    det = b.detect(photo)
    assert len(det.faces) >= 1
    main = max(det.faces, key=lambda f: f.width)
    assert 60 < (main.box[0] + main.box[2]) / 2 < 190  # LFW centres the face
    crop = b.crop(photo, main, "celeba", size=(89, 109))
    assert crop.pixels.shape == (109, 89, 3)


def test_bad_photo_is_a_clear_error(backend, tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match="x.jpg"):
        backend.load_photo(bad)
