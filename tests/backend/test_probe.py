"""Invariance metrics on constructed cases with known answers, and a real model on a real face."""

import numpy as np
import pytest
import torch

from faceinspector.backend import tasks
from faceinspector.backend import align, probe
from faceinspector.backend.models.base import ChipSpec, FaceModel
from faceinspector.backend.types import Face


class ConstantModel(FaceModel):
    """Ignores its input."""

    id, task, labels = "const", "classification", ("a", "b")
    spec = ChipSpec(template="raw", size=(32, 32))

    def forward(self, x):
        return torch.tensor([[0.3, 0.7]]).repeat(len(x), 1)


class OnePixelModel(FaceModel):
    """Class "on" iff the pixel at (row, col) of the crop is bright."""

    id, task, labels = "pixel", "classification", ("off", "on")
    spec = ChipSpec(template="raw", size=(32, 32), std=(1.0, 1.0, 1.0))

    def __init__(self, row, col):
        super().__init__("cpu")
        self.row, self.col = row, col

    def forward(self, x):
        v = x[:, 0, self.row, self.col]
        on = torch.sigmoid((v - 128) / 8)
        return torch.stack([1 - on, on], 1)


class StubBackend:
    device = torch.device("cpu")

    def __init__(self, model):
        self._m = model

    def model(self, _id):
        return self._m

    def run_model(self, _id, chips):
        return self._m.predict(chips)


@pytest.fixture
def dot_scene():
    """A black photo with one bright pixel, and a face box whose raw crop maps 1:1."""
    img = np.zeros((120, 120, 3), np.uint8)
    img[60, 60] = 255
    side = 32 / 1.2
    face = Face((60.5 - side / 2, 60.5 - side / 2, 60.5 + side / 2, 60.5 + side / 2), 1.0,
                np.zeros((5, 2), np.float32))
    crop = align.make_crop(img, face, "raw", size=32, border="zeros")
    r, c = np.unravel_index(crop.pixels[..., 0].argmax(), (32, 32))
    assert crop.pixels[r, c, 0] > 250  # the dot lands on one crop pixel exactly
    return img, face, int(r), int(c)


def test_constant_model_is_perfectly_invariant(dot_scene):
    img, face, _, _ = dot_scene
    m = probe.face_metrics(StubBackend(ConstantModel()), img, face, "const")
    assert m.consistency == 1.0 and m.p_top1_change == 0.0
    assert m.mean_abs_change == pytest.approx(0, abs=1e-6)
    assert m.ekld == pytest.approx(0, abs=1e-6)
    assert set(m.ekld_per_class) == {"b"}


def test_one_pixel_model_flips_exactly_where_the_dot_leaves_its_pixel(dot_scene):
    img, face, r, c = dot_scene
    b = StubBackend(OnePixelModel(r, c))
    offs, grid = probe.shift_grid(b, img, face, "pixel", radius=3, border="zeros")
    flipped = probe.flips(grid)
    expected = np.ones((7, 7), bool)
    expected[3, 3] = False
    assert (flipped == expected).all()
    # any 1-px shift away from the dot flips; random shifts almost never agree on "on"
    m = probe.face_metrics(b, img, face, "pixel", max_shift=0, pairs=8, one_px=16, transforms=8)
    assert m.p_top1_change == 1.0 and m.consistency == 1.0  # max_shift 0: both pairs unshifted
    m3 = probe.face_metrics(b, img, face, "pixel", max_shift=3, pairs=8, one_px=8,
                            transforms=32, border="zeros")
    assert m3.ekld > 1.0 and set(m3.ekld_per_class) == {"on"}


def test_sweep_moves_the_content_by_the_requested_pixels(dot_scene):
    img, face, r, c = dot_scene
    crops = probe.model_crops(StubBackend(ConstantModel()), img, face, "const",
                              dx=np.array([0, 2, 0]), dy=np.array([0, 0, -3]), border="zeros")
    peaks = [np.unravel_index(x[0].argmax().item(), (32, 32)) for x in crops]
    assert peaks == [(r, c), (r, c + 2), (r - 3, c)]


def test_real_gender_model_metrics_on_a_demo_face(backend, demo_photos, demo_detections):
    photo, face = demo_photos[0], demo_detections[0].faces[0]
    m = probe.face_metrics(backend, photo, face, "dlib-gender", pairs=16, one_px=16,
                           transforms=16)
    assert 0.0 <= m.p_top1_change <= 1.0 and 0.0 <= m.consistency <= 1.0
    assert m.ekld >= 0.0 and m.faces == 1
    # a shift-grid of 21x21 = 441 crops in one batch
    offs, grid = probe.shift_grid(backend, photo, face, "dlib-gender", radius=10)
    assert grid.shape == (21, 21, 2)
    np.testing.assert_allclose(grid.sum(-1), 1, atol=1e-5)
    centre = backend.predict(photo, face, "dlib-gender").probs
    np.testing.assert_allclose(grid[10, 10], centre, atol=1e-4)


def test_folder_metrics_generator(backend, demo_photos, demo_detections):
    items = [(demo_photos[0], f) for f in demo_detections[0].faces[:2]]
    seen = []
    result = tasks.run(probe.folder_metrics(backend, items, ["dlib-gender"], total=2, pairs=8,
                                            one_px=8, transforms=8), on_progress=seen.append)
    assert [(p.done, p.total) for p in seen] == [(1, 2), (2, 2)]
    res = result["dlib-gender"]
    assert res.faces == 2 and "consistency" in res.as_row()
