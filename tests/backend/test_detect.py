"""MTCNN detection on the real demo photos."""

import numpy as np
import pytest

from faceinspector.backend.detect import MTCNNDetector, box_iou, match_faces, pick_device


def test_demo_photos_have_23_faces_with_landmarks_inside_boxes(demo_detections, demo_photos):
    counts = [len(d.faces) for d in demo_detections]
    assert counts == [3, 3, 3, 5, 5, 4]
    scores = np.array([f.score for d in demo_detections for f in d.faces])
    # O-Net keeps a face above 0.7; two side faces of sample2 score 0.78 and 0.81, the rest > 0.9
    assert np.all((scores > 0.7) & (scores <= 1.0))
    assert (scores > 0.9).sum() == 21
    for det, photo in zip(demo_detections, demo_photos):
        for f in det.faces:
            x1, y1, x2, y2 = f.box
            assert f.landmarks.shape == (5, 2) and f.landmarks.dtype == np.float32
            lx, ly = f.landmarks[:, 0], f.landmarks[:, 1]
            assert np.all((lx > x1 - 5) & (lx < x2 + 5) & (ly > y1 - 5) & (ly < y2 + 5))
            # eyes above the mouth, image-left eye left of the image-right eye
            assert f.landmarks[0, 0] < f.landmarks[1, 0]
            assert f.landmarks[:2, 1].max() < f.landmarks[3:, 1].min()
            assert x2 <= photo.width + 20 and y2 <= photo.height + 20


def test_skipping_large_pyramid_levels_matches_full_resolution(backend, demo_photos):
    """The fast path must find the same faces as a full-resolution run (IoU >= 0.9)."""
    full = MTCNNDetector("cpu", max_side=0)
    fast = backend.detector
    for photo in demo_photos[:2]:
        a = fast.detect(photo.pixels).faces
        b = full.detect(photo.pixels).faces
        m = match_faces([f.box for f in a], [f.box for f in b], min_iou=0.5)
        assert len(m) == len(a) == len(b)
        assert min(iou for _, _, iou in m) >= 0.9
        for i, j, _ in m:
            assert np.abs(a[i].landmarks - b[j].landmarks).max() < 3.0


def test_no_face_in_a_blank_or_noise_image(backend):
    assert backend.detect(np.full((300, 400, 3), 128, np.uint8)).faces == ()
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    assert backend.detect(noise).faces == ()


def test_tiny_and_odd_inputs(backend):
    assert backend.detect(np.zeros((5, 5, 3), np.uint8)).faces == ()
    with pytest.raises(ValueError, match="RGB uint8"):
        backend.detect(np.zeros((10, 10), np.uint8))


def test_helpers():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert abs(box_iou((0, 0, 10, 10), (5, 0, 15, 10)) - 1 / 3) < 1e-9
    assert pick_device("cpu").type == "cpu"
    import torch

    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device 'banana'"):
        pick_device("banana")
    with pytest.raises(ValueError, match="not supported"):
        pick_device("mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device("cuda")
