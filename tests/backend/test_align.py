"""Tests for faceinspector.backend.align: templates, matrices and the batched warp engine."""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from faceinspector.backend import align
from faceinspector.backend.align import (
    TEMPLATES,
    crop_matrix,
    get_template,
    invert_affine,
    make_crop,
    make_crops,
    map_points,
    similarity_transform,
    transform_matrices,
    transform_matrix,
    warp_crop,
    warp_crops,
)
from faceinspector.backend.types import Face

from ..conftest import DEV_DATA as DATA  # noqa: E402

LFW_PHOTO = DATA / "lfw" / "lfw-deepfunneled" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
ALIGNED = [name for name, t in TEMPLATES.items() if not t.is_raw]


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    """640x480 RGB: smooth noise plus a soft grid (gradients small enough for cv2's
    1/32-pixel fixed-point bilinear to agree with float bilinear to ~1 grey level)."""
    rng = np.random.default_rng(0)
    noise = rng.uniform(0, 255, (60, 80, 3)).astype(np.float32)
    img = cv2.resize(noise, (640, 480), interpolation=cv2.INTER_CUBIC) * 0.7
    grid = np.zeros((480, 640), np.float32)
    grid[::24] = 1
    grid[:, ::24] = 1
    img += 70 * cv2.GaussianBlur(grid, (0, 0), 1.5)[..., None] * 3
    return np.clip(img, 0, 255).astype(np.uint8)


def similarity(scale: float, angle_deg: float, centre, crop_centre) -> np.ndarray:
    """Photo -> crop similarity putting photo point ``centre`` at ``crop_centre``."""
    a = np.deg2rad(angle_deg)
    lin = scale * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    return np.hstack([lin, (np.asarray(crop_centre) - lin @ np.asarray(centre))[:, None]])


def random_similarities(rng, n, size, scale_range=(1.0, 2.5)):
    w, h = size
    return np.stack([
        similarity(rng.uniform(*scale_range), rng.uniform(-180, 180),
                   (rng.uniform(110, 530), rng.uniform(110, 370)), ((w - 1) / 2, (h - 1) / 2))
        for _ in range(n)
    ])


def cv2_warp(img, m, size, border):
    return cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=border)


def face_from_targets(template, size=None, padding=None, seed=1) -> tuple[Face, np.ndarray]:
    """A Face whose landmarks are an exact similarity image of the template's targets."""
    rng = np.random.default_rng(seed)
    t = get_template(template)
    targets = t.targets(size, padding)
    photo_to_crop = similarity(rng.uniform(0.3, 2.0), rng.uniform(-40, 40),
                               (rng.uniform(200, 400), rng.uniform(150, 300)), (50.0, 60.0))
    lm = map_points(invert_affine(photo_to_crop), targets)
    x1, y1 = lm.min(0) - 20
    x2, y2 = lm.max(0) + 20
    return Face((x1, y1, x2, y2), 0.99, lm.astype(np.float32)), targets


def as_hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).cpu().numpy()


# --------------------------------------------------------------------------- engine vs cv2


def test_warp_matches_cv2_interior(texture):
    size = (96, 80)
    m = random_similarities(np.random.default_rng(2), 12, size)
    got = warp_crops(texture, m, size).numpy()
    assert got.shape == (12, 3, 80, 96) and got.dtype == np.float32
    for i in range(len(m)):
        ref = cv2_warp(texture, m[i], size, cv2.BORDER_REFLECT).astype(np.float32)
        diff = np.abs(as_hwc(torch.from_numpy(got[i])) - ref)
        assert diff.mean() < 0.5 and diff.max() <= 2.0, (i, diff.mean(), diff.max())


def test_batched_equals_separate_calls(texture):
    size = (64, 64)
    m = random_similarities(np.random.default_rng(3), 6, size)
    batch = warp_crops(texture, m, size)
    for i in range(len(m)):
        one = warp_crops(texture, m[i], size)
        assert (batch[i : i + 1] - one).abs().max().item() < 0.05


@pytest.mark.parametrize(
    "border, cv2_border",
    [("replicate", cv2.BORDER_REPLICATE), ("reflect", cv2.BORDER_REFLECT),
     ("zeros", cv2.BORDER_CONSTANT)],
)
def test_borders_match_cv2(texture, border, cv2_border):
    size = (80, 80)
    # crops hanging over each corner and edge of the photo, some at 1.3x upsampling
    centres = [(5, 5), (630, 8), (3, 470), (636, 476), (320, -10), (650, 240)]
    m = np.stack([similarity(s, a, c, (39.5, 39.5))
                  for c, s, a in zip(centres, [1, 1.3, 1, 1.3, 1, 1], [0, 17, -30, 5, 90, 0])])
    got = warp_crops(texture, m, size, border=border).numpy()
    for i in range(len(m)):
        ref = cv2_warp(texture, m[i], size, cv2_border).astype(np.float32)
        diff = np.abs(as_hwc(torch.from_numpy(got[i])) - ref)
        assert diff.mean() < 0.5 and diff.max() <= 2.0, (border, i, diff.mean(), diff.max())


def test_tensor_input_uint8_output_and_region_cut(texture):
    size = (48, 48)
    m = random_similarities(np.random.default_rng(4), 3, size)
    a = warp_crops(texture, m, size, out="uint8")
    b = warp_crops(torch.from_numpy(texture), torch.from_numpy(m), size, out="uint8")
    assert a.dtype == torch.uint8 and torch.equal(a, b)
    # the same crops from the texture placed inside a much larger photo
    big = np.zeros((1500, 2000, 3), np.uint8)
    big[700:1180, 900:1540] = texture
    shift = np.array([[0, 0, -900.0], [0, 0, -700.0]])
    c = warp_crops(big, m + m[:, :, :2] @ shift, size, out="uint8")
    assert torch.equal(a, c)
    single = warp_crop(texture, m[0], size)
    assert single.shape == (48, 48, 3) and single.dtype == np.uint8
    assert np.abs(single.astype(int) - as_hwc(a[0])).max() <= 1  # float rounding only


def test_antialias_checkerboard():
    yy, xx = np.mgrid[:480, :640]
    board = np.repeat((((xx + yy) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)
    m = np.array([[1 / 8, 0, -10.0], [0, 1 / 8, -10.0]])  # 8x shrink, samples on pixel centres
    smooth = warp_crops(board, m, (48, 40), antialias=True)
    aliased = warp_crops(board, m, (48, 40), antialias=False)
    assert abs(smooth.mean().item() - 127.5) < 1 and smooth.std().item() < 1
    assert abs(aliased.mean().item() - 127.5) > 100  # every sample lands on the same colour
    # with a rotation, too
    mr = similarity(1 / 7.3, 23.0, (320, 240), (23.5, 19.5))
    smooth = warp_crops(board, mr, (48, 40), antialias=True)
    aliased = warp_crops(board, mr, (48, 40), antialias=False)
    assert abs(smooth.mean().item() - 127.5) < 3 and smooth.std().item() < 6
    assert aliased.std().item() > 5 * smooth.std().item()


def test_integer_downscale_matches_cv2_inter_area(texture):
    k = 4  # photo x -> crop (x + 0.5) / k - 0.5: a plain k-times resize
    m = np.array([[1 / k, 0, 0.5 / k - 0.5], [0, 1 / k, 0.5 / k - 0.5]])
    ours = warp_crop(texture, m, (640 // k, 480 // k))
    ref = cv2.resize(texture, (640 // k, 480 // k), interpolation=cv2.INTER_AREA)
    assert np.abs(ours.astype(int) - ref).max() <= 1


def test_antialias_leaves_upsampling_alone(texture):
    m = random_similarities(np.random.default_rng(5), 4, (40, 40))
    assert torch.equal(warp_crops(texture, m, 40, antialias=True),
                       warp_crops(texture, m, 40, antialias=False))


def test_empty_batch(texture):
    assert warp_crops(texture, np.zeros((0, 2, 3)), (20, 10)).shape == (0, 3, 10, 20)


def test_bad_arguments(texture):
    with pytest.raises(ValueError, match="border"):
        warp_crops(texture, np.eye(2, 3), 8, border="wrap")
    with pytest.raises(ValueError, match="out"):
        warp_crops(texture, np.eye(2, 3), 8, out="half")


# --------------------------------------------------------------------------- geometry


def test_similarity_transform_recovers_known():
    rng = np.random.default_rng(6)
    src = rng.uniform(0, 300, (5, 2))
    m = similarity(0.37, -123.0, (10, 20), (100, 50))
    est = similarity_transform(src, map_points(m, src))
    np.testing.assert_allclose(est, m, atol=1e-9)
    np.testing.assert_allclose(invert_affine(est) @ np.r_[map_points(m, src[:1])[0], 1],
                               src[0], atol=1e-9)


def test_similarity_transform_refuses_reflection():
    src = np.random.default_rng(9).uniform(0, 100, (5, 2))
    est = similarity_transform(src, src * [-1, 1])  # a mirror image: the fit stays a rotation
    (a, b), (c, d) = est[:, :2]
    assert a == pytest.approx(d) and b == pytest.approx(-c)


@pytest.mark.parametrize("name", ALIGNED)
@pytest.mark.parametrize("size, padding", [(None, None), ((64, 64), 0.2), ((89, 109), None)])
def test_crop_matrix_hits_targets(name, size, padding):
    face, targets = face_from_targets(name, size, padding)
    m = crop_matrix(face, name, size, padding)
    assert np.abs(map_points(m, face.landmarks) - targets).max() < 1e-4


def test_raw_crop_matrix_is_square_box_crop():
    face = Face((100.0, 120.0, 180.0, 220.0), 0.9, np.zeros((5, 2), np.float32))
    m = crop_matrix(face, "raw")
    assert m[0, 1] == 0 and m[1, 0] == 0 and m[0, 0] == pytest.approx(m[1, 1])
    side = 100 * 1.2  # max(w, h) * (1 + margin)
    np.testing.assert_allclose(map_points(m, [(140, 170)]), [[79.5, 79.5]])  # box centre
    np.testing.assert_allclose(map_points(m, [(140 - side / 2, 170 - side / 2),
                                              (140 + side / 2, 170 + side / 2)]),
                               [[-0.5, -0.5], [159.5, 159.5]])  # square edges -> crop edges
    m2 = crop_matrix(face, "raw", size=64, padding=0.0)  # padding overrides the margin
    np.testing.assert_allclose(map_points(m2, [(90, 120)]), [[-0.5, -0.5]])


# --------------------------------------------------------------------------- transforms


def blob_photo(x, y, shape=(200, 200)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    g = 255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2))
    return np.repeat(g.astype(np.uint8)[..., None], 3, axis=2)


def centroid(crop: torch.Tensor) -> np.ndarray:
    img = crop[0].numpy().astype(np.float64)
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    return np.array([(img * xx).sum(), (img * yy).sum()]) / img.sum()


def test_transform_identity_and_shapes():
    np.testing.assert_array_equal(transform_matrix(64), np.eye(3))
    t = transform_matrices((64, 48), dx=np.arange(3)[:, None], dy=np.arange(4)[None, :])
    assert t.shape == (12, 3, 3)
    np.testing.assert_allclose(t[5, :2, 2], [1, 1])  # C order: (i=1, j=1)


def test_transform_moves_rotates_scales_content():
    size = (64, 64)
    base = np.array([[1.0, 0, -68], [0, 1.0, -68]])  # photo (100, 100) -> crop (32, 32)
    centre = np.array([31.5, 31.5])
    photo = blob_photo(100, 100)
    crops = warp_crops(photo, (transform_matrices(size, dx=[0, 5], dy=[0, -3]) @ align._h(base))
                       [:, :2], size)
    np.testing.assert_allclose(centroid(crops[0]), [32, 32], atol=0.02)
    np.testing.assert_allclose(centroid(crops[1]), [37, 29], atol=0.02)

    photo = blob_photo(110, 100)  # 10.5 px right of the crop centre
    off = np.array([10.5, 0.5])
    for angle in (90, 30):
        m = (transform_matrix(size, angle=angle) @ align._h(base))[:2]
        got = centroid(warp_crops(photo, m, size)[0]) - centre
        a = np.deg2rad(angle)  # counter-clockwise on screen with y down
        want = [np.cos(a) * off[0] + np.sin(a) * off[1], -np.sin(a) * off[0] + np.cos(a) * off[1]]
        np.testing.assert_allclose(got, want, atol=0.05)
    got = centroid(warp_crops(photo, transform_matrix(size, angle=90)[:2] @ align._h(base),
                              size)[0])
    assert got[1] < centre[1] - 9  # a point right of centre ends up above it

    m = (transform_matrix(size, scale=1.5) @ align._h(base))[:2]
    np.testing.assert_allclose(centroid(warp_crops(photo, m, size)[0]) - centre, 1.5 * off,
                               atol=0.05)


# --------------------------------------------------------------------------- crops, templates


@pytest.mark.parametrize("name", ALIGNED)
def test_make_crop_landmarks_on_targets(texture, name):
    face, targets = face_from_targets(name, seed=7)
    crop = make_crop(texture, face, name)
    w, h = get_template(name).size
    assert crop.pixels.shape == (h, w, 3) and crop.pixels.dtype == np.uint8
    assert crop.template == name and crop.matrix.shape == (2, 3)
    assert crop.landmarks.dtype == np.float32 and crop.targets.shape == (5, 2)
    np.testing.assert_allclose(crop.landmarks, crop.targets, atol=1e-3)
    np.testing.assert_allclose(crop.targets, targets, atol=1e-4)
    stack = make_crops(texture, face, name, out="uint8")
    assert np.array_equal(as_hwc(stack[0]), crop.pixels)


def test_make_crop_raw(texture):
    face = Face((200.0, 150.0, 300.0, 280.0), 0.9, np.zeros((5, 2), np.float32))
    crop = make_crop(texture, face, "raw", size=200)  # upsampling: no antialiasing
    assert crop.pixels.shape == (200, 200, 3) and crop.targets.shape == (0, 2)
    ref = cv2_warp(texture, crop.matrix, (200, 200), cv2.BORDER_REFLECT)
    assert np.abs(crop.pixels.astype(float) - ref).mean() < 0.5


def test_template_targets():
    dlib = get_template("dlib-chip")
    assert dlib.size == (150, 150) and dlib.padding == 0.25
    u = np.array([[0.2355, 0.2167], [0.7759, 0.2172], [0.5046, 0.5365],
                  [0.2646, 0.8087], [0.7418, 0.8099]])
    np.testing.assert_allclose(dlib.targets(), (u + 0.25) / 1.5 * 150 - 0.5)
    np.testing.assert_allclose(dlib.targets(32, 0.2), (u + 0.2) / 1.4 * 32 - 0.5)
    np.testing.assert_allclose(dlib.with_(size=64, padding=0.2).targets(), dlib.targets(64, 0.2))

    arc = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
           [41.5493, 92.3655], [70.7299, 92.2041]]
    np.testing.assert_allclose(get_template("arcface-112").targets(), arc, atol=1e-9)

    celeba = get_template("celeba")
    full = celeba.targets()
    np.testing.assert_allclose(full[:2], [[70.1, 112.3], [109.2, 112.2]], atol=1e-9)
    np.testing.assert_allclose(celeba.targets((89, 109)), (full + 0.5) / 2 - 0.5, atol=1e-9)
    assert get_template("raw").targets().shape == (0, 2)
    assert get_template(dlib) is dlib


def test_unknown_template_lists_names():
    with pytest.raises(KeyError, match="dlib-chip") as err:
        get_template("nope")
    assert "nope" in str(err.value) and "arcface-112" in str(err.value)


def test_module_imports_no_cv2_or_qt():
    tree = ast.parse(Path(align.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom)}
    assert not names & {"cv2", "PySide6", "PyQt5", "PyQt6"}


# --------------------------------------------------------------------------- real photo, CUDA


@pytest.mark.skipif(not LFW_PHOTO.exists(), reason="LFW sample photo not available")
def test_real_photo_crops():
    photo = cv2.cvtColor(cv2.imread(str(LFW_PHOTO)), cv2.COLOR_BGR2RGB)  # 250x250, face centred
    lm = np.array([[104, 114], [146, 114], [125, 138], [108, 163], [142, 163]], np.float32)
    face = Face((80.0, 80.0, 170.0, 190.0), 0.99, lm)
    for name in TEMPLATES:
        crop = make_crop(photo, face, name)
        ref = cv2_warp(photo, crop.matrix, get_template(name).size, cv2.BORDER_REFLECT)
        diff = np.abs(crop.pixels.astype(np.float32) - ref)
        assert diff.mean() < 0.6 and diff.max() <= 3, (name, diff.mean(), diff.max())
    # a probe sweep: 3x3 shifts of a 32 px dlib chip (downsampling, so antialias kicks in)
    t = transform_matrices(32, dx=np.array([-1, 0, 1])[:, None], dy=np.array([-1, 0, 1]))
    crops = make_crops(photo, face, "dlib-chip", t, size=32, padding=0.2)
    assert crops.shape == (9, 3, 32, 32) and torch.isfinite(crops).all()
    assert (crops[4] - make_crops(photo, face, "dlib-chip", None, 32, 0.2)[0]).abs().max() < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(texture):
    size = (64, 48)
    rng = np.random.default_rng(8)
    m = np.concatenate([random_similarities(rng, 5, size),
                        random_similarities(rng, 5, size, scale_range=(0.1, 0.5))])
    for border in ("reflect", "replicate", "zeros"):
        cpu = warp_crops(texture, m[:5], size, border=border)
        gpu = warp_crops(texture, m[:5], size, border=border, device="cuda")
        assert gpu.device.type == "cuda"
        assert (gpu.cpu() - cpu).abs().max().item() < 0.02
        cpu = warp_crops(texture, m[5:], size, border=border)
        gpu = warp_crops(torch.from_numpy(texture).cuda(), m[5:], size, border=border)
        assert (gpu.cpu() - cpu).abs().max().item() < 0.05
