"""Tests for faceinspector.backend.images: safe loading, every bad input, modes, folder walking."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import io
import os
import struct
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceinspector.backend import images
from faceinspector.backend.images import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    ImageError,
    downscale,
    iter_image_paths,
    iter_photos,
    load_photo,
    to_rgb_uint8,
)
from faceinspector.backend.types import Photo

from ..conftest import DEV_DATA as SHARED_DATA  # noqa: E402

LFW_PHOTO = SHARED_DATA / "lfw" / "lfw-deepfunneled" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _noise(w: int = 64, h: int = 48) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny real PNG whose IHDR (with a fixed CRC) claims ``width`` x ``height``."""
    data = bytearray(_encode(Image.new("L", (1, 1)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _check_photo(photo: Photo, shape: tuple[int, int, int]) -> None:
    assert isinstance(photo, Photo)
    assert photo.pixels.shape == shape
    assert photo.pixels.dtype == np.uint8
    assert photo.pixels.flags.c_contiguous


# --------------------------------------------------------------------------- bad inputs


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"^empty\.jpg is empty"):
        load_photo(path)


def test_zero_bytes_input():
    with pytest.raises(ImageError, match=r"^<bytes> is empty"):
        load_photo(b"")


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n" * 10)
    with pytest.raises(ImageError, match=r"^notes\.jpg is not an image Pillow can read"):
        load_photo(path)


def test_truncated_jpeg(tmp_path):
    data = _encode(_noise(), "JPEG", quality=90)
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"^half\.jpg is truncated or corrupt"):
        load_photo(path)


def test_jpeg_cut_inside_header(tmp_path):
    path = tmp_path / "stub.jpg"
    path.write_bytes(_encode(_noise(), "JPEG")[:20])
    with pytest.raises(ImageError, match=r"^stub\.jpg is truncated or corrupt"):
        load_photo(path)


def test_corrupt_bytes_in_the_middle(tmp_path):
    # libjpeg silently decodes garbage inside JPEG scans, so use a PNG: its zlib stream breaks.
    data = bytearray(_encode(_noise(), "PNG"))
    third = len(data) // 3
    data[third : 2 * third] = b"\x00" * third
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"^corrupt\.png is truncated or corrupt"):
        load_photo(path)


def test_missing_path(tmp_path):
    with pytest.raises(ImageError, match=r"^missing\.jpg cannot be read: no such file"):
        load_photo(tmp_path / "missing.jpg")


def test_directory_path(tmp_path):
    folder = tmp_path / "album.jpg"
    folder.mkdir()
    with pytest.raises(ImageError, match=r"^album\.jpg cannot be read: it is a folder"):
        load_photo(folder)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root (or non-POSIX) can read a chmod 000 file")
def test_unreadable_file_chmod(tmp_path):
    path = tmp_path / "locked.png"
    path.write_bytes(_encode(_noise(), "PNG"))
    path.chmod(0)
    try:
        with pytest.raises(ImageError, match=r"^locked\.png cannot be read: permission denied"):
            load_photo(path)
    finally:
        path.chmod(0o644)


def test_unreadable_file_permission_error(tmp_path, monkeypatch):
    # Runs even as root: simulate the PermissionError that open() gives on a chmod 000 file.
    path = tmp_path / "locked.png"
    path.write_bytes(_encode(_noise(), "PNG"))

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(images, "open", deny, raising=False)
    with pytest.raises(ImageError, match=r"^locked\.png cannot be read: permission denied"):
        load_photo(path)


def test_bomb_above_pil_hard_limit(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(25_000, 25_000))  # 625 Mpx: PIL raises at open
    with pytest.raises(ImageError, match=r"^bomb\.png is too large \(625 Mpx; limit 60 Mpx\)"):
        load_photo(path)


def test_bomb_in_pil_warning_range(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(10_000, 10_000))  # 100 Mpx: only a PIL warning by default
    filters_before = list(warnings.filters)
    limit_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match=r"^bomb\.png is too large \(100 Mpx; limit 60 Mpx\)"):
        load_photo(path)
    assert warnings.filters == filters_before
    assert Image.MAX_IMAGE_PIXELS == limit_before


def test_bomb_below_pil_limit_checked_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(_png_claiming(10_000, 7_000))  # 70 Mpx: PIL itself would accept it
    start = time.perf_counter()
    expected = r"^big\.png is too large \(10000×7000 = 70 Mpx; limit 60 Mpx\)"
    with pytest.raises(ImageError, match=expected):
        load_photo(path)
    assert time.perf_counter() - start < 1.0  # refused from the header, nothing decoded


def test_max_pixels_kwarg():
    data = _encode(Image.new("RGB", (20, 20)), "PNG")
    with pytest.raises(ImageError, match=r"^<bytes> is too large \(20×20 = 400 px; limit 100 px"):
        load_photo(data, max_pixels=100)
    assert load_photo(data, max_pixels=400).pixels.shape == (20, 20, 3)
    assert MAX_PIXELS == 60_000_000


@pytest.mark.skipif(importlib.util.find_spec("pillow_heif") is not None,
                    reason="pillow-heif is installed, so HEIC is supported")
def test_heic_without_pillow_heif(tmp_path):
    fake = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    path = tmp_path / "phone.HEIC"
    path.write_bytes(fake)
    with pytest.raises(ImageError, match=r"^phone\.HEIC .*needs the optional package pillow-heif"):
        load_photo(path)
    with pytest.raises(ImageError, match=r"pip install pillow-heif"):
        load_photo(fake)


def test_jpeg_named_heic_still_loads(tmp_path):
    path = tmp_path / "export.heic"
    path.write_bytes(_encode(_noise(), "JPEG"))
    _check_photo(load_photo(path), (48, 64, 3))


def test_messages_are_one_line(tmp_path):
    data = _encode(_noise(), "PNG")
    for bad in (b"x", data[:40], data[: len(data) // 2]):
        with pytest.raises(ImageError) as info:
            load_photo(bad)
        assert "\n" not in str(info.value)
        assert str(info.value).startswith("<bytes> ")


# --------------------------------------------------------------------------- good inputs


def test_exif_orientation_6_rotates(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)  # stored landscape: 40 wide, 20 high
    arr[:8, :8] = (255, 0, 0)  # red marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, "JPEG", quality=95, exif=exif.tobytes())
    photo = load_photo(path)
    _check_photo(photo, (40, 20, 3))  # displayed portrait
    assert photo.original_size == (40, 20)
    px = photo.pixels.astype(int)
    assert px[2, 17, 0] > 200 and px[2, 17, 1] < 60  # marker is now top-right
    assert px[2, 2].max() < 60 and px[37, 2].max() < 60


def test_bytes_input():
    photo = load_photo(_encode(_noise(), "PNG"))
    _check_photo(photo, (48, 64, 3))
    assert photo.source == "<bytes>"
    assert np.array_equal(photo.pixels, np.asarray(_noise()))


def test_path_source_and_pathlike(tmp_path):
    path = tmp_path / "a.png"
    _noise().save(path)
    photo = load_photo(path)
    assert photo.source == str(path)
    assert load_photo(str(path)).original_size == (64, 48)


def test_mode_L(tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(np.full((5, 6), 77, np.uint8), "L").save(path)
    photo = load_photo(path)
    _check_photo(photo, (5, 6, 3))
    assert (photo.pixels == 77).all()


def test_mode_LA_composited_on_white():
    arr = np.zeros((4, 4, 2), np.uint8)
    arr[..., 0] = 0
    arr[0, 0, 1] = 255  # opaque black
    photo = load_photo(_encode(Image.fromarray(arr, "LA"), "PNG"))
    _check_photo(photo, (4, 4, 3))
    assert tuple(photo.pixels[0, 0]) == (0, 0, 0)
    assert tuple(photo.pixels[3, 3]) == (255, 255, 255)


def test_mode_P():
    img = Image.new("P", (4, 3), 1)
    img.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    photo = load_photo(_encode(img, "PNG"))
    _check_photo(photo, (3, 4, 3))
    assert (photo.pixels == (10, 200, 30)).all()


def test_mode_P_with_transparency():
    img = Image.new("P", (4, 3), 1)
    img.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    img.putpixel((0, 0), 0)
    photo = load_photo(_encode(img, "PNG", transparency=0))
    assert tuple(photo.pixels[0, 0]) == (255, 255, 255)  # transparent index -> white
    assert tuple(photo.pixels[2, 3]) == (10, 200, 30)


def test_mode_RGBA_composited_on_white():
    arr = np.zeros((3, 3, 4), np.uint8)
    arr[0, 0] = (0, 0, 0, 0)  # fully transparent black
    arr[1, 1] = (255, 0, 0, 255)
    arr[2, 2] = (0, 0, 255, 128)
    photo = load_photo(_encode(Image.fromarray(arr, "RGBA"), "PNG"))
    _check_photo(photo, (3, 3, 3))
    assert tuple(photo.pixels[0, 0]) == (255, 255, 255)
    assert tuple(photo.pixels[1, 1]) == (255, 0, 0)
    r, g, b = (int(v) for v in photo.pixels[2, 2])
    assert b == 255 and 120 <= r <= 135 and 120 <= g <= 135


def test_mode_CMYK():
    img = Image.new("CMYK", (4, 2), (0, 0, 0, 0))
    img.putpixel((1, 0), (0, 255, 255, 0))
    photo = load_photo(_encode(img, "TIFF"))
    _check_photo(photo, (2, 4, 3))
    assert tuple(photo.pixels[1, 3]) == (255, 255, 255)
    assert tuple(photo.pixels[0, 1]) == (255, 0, 0)


def test_mode_I16_png_scaled_not_clipped():
    arr = np.array([[65535, 256, 255, 0]], np.uint16)
    data = _encode(Image.fromarray(arr), "PNG")
    assert Image.open(io.BytesIO(data)).mode in ("I;16", "I")
    photo = load_photo(data)
    _check_photo(photo, (1, 4, 3))
    assert photo.pixels[0, :, 0].tolist() == [255, 1, 0, 0]
    assert (photo.pixels[..., 0] == photo.pixels[..., 2]).all()


def test_rgb_16bit_png():
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    arr = np.array([[[65535, 0, 256], [4096, 32768, 0]]], ">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in arr)  # filter byte 0 per row
    ihdr = struct.pack(">IIBBBBB", 2, 1, 16, 2, 0, 0, 0)  # 2x1, 16-bit, truecolour
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
           + chunk(b"IEND", b""))
    photo = load_photo(png)
    _check_photo(photo, (1, 2, 3))
    assert photo.pixels.tolist() == [[[255, 0, 1], [16, 128, 0]]]


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_to_rgb_uint8_sixteen_bit_modes(mode):
    values = np.array([[65535, 256, 4096]], np.uint16)
    dtype = {"I;16": "<u2", "I;16B": ">u2", "I": "<i4"}[mode]
    img = Image.frombytes(mode, (3, 1), values.astype(dtype).tobytes())
    out = to_rgb_uint8(img)
    assert out.shape == (1, 3, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert out[0, :, 1].tolist() == [255, 1, 16]


def test_to_rgb_uint8_mode_F():
    img = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F")
    assert to_rgb_uint8(img)[0, :, 0].tolist() == [0, 128, 255]
    wide = Image.fromarray(np.array([[-1.0, 0.0, 1000.0, np.nan]], np.float32), "F")
    assert to_rgb_uint8(wide).shape == (1, 4, 3)


def test_mode_1(tmp_path):
    img = Image.new("1", (8, 2), 0)
    img.putpixel((0, 0), 1)
    path = tmp_path / "bits.png"
    img.save(path)
    photo = load_photo(path)
    _check_photo(photo, (2, 8, 3))
    assert tuple(photo.pixels[0, 0]) == (255, 255, 255)
    assert tuple(photo.pixels[1, 7]) == (0, 0, 0)


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (6, 6), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    photo = load_photo(data)
    _check_photo(photo, (6, 6, 3))
    assert tuple(photo.pixels[3, 3]) == (255, 0, 0)


def test_real_lfw_photo():
    if not LFW_PHOTO.is_file():
        pytest.skip(f"real LFW photo not available at {LFW_PHOTO}")
    photo = load_photo(LFW_PHOTO)
    _check_photo(photo, (250, 250, 3))
    assert photo.original_size == (250, 250)
    assert 20 < photo.pixels.mean() < 235


# --------------------------------------------------------------------------- folders


def test_image_suffixes():
    assert isinstance(IMAGE_SUFFIXES, frozenset)
    assert {".jpg", ".jpeg", ".png", ".heic", ".webp", ".tiff"} <= IMAGE_SUFFIXES
    assert all(s == s.lower() and s.startswith(".") for s in IMAGE_SUFFIXES)


@pytest.fixture
def many_files_dir(tmp_path):
    """A folder for thousands of files: on tmpfs when there is one (creating them is faster)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm) as folder:
            yield Path(folder)
    else:
        yield tmp_path


def test_iter_image_paths_is_lazy(many_files_dir, monkeypatch):
    tmp_path = many_files_dir
    for i in range(3000):
        (tmp_path / f"img_{i:04d}.jpg").touch()
    for i in range(20):
        sub = tmp_path / f"zz_sub_{i:02d}"
        sub.mkdir()
        (sub / "x.png").touch()
    calls = []
    real_scandir = os.scandir

    def counting_scandir(path="."):
        calls.append(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    gen = iter_image_paths(tmp_path)
    assert inspect.isgenerator(gen)
    assert calls == []  # nothing listed before the first next()
    start = time.perf_counter()
    first = next(gen)
    assert time.perf_counter() - start < 0.5
    assert first == tmp_path / "img_0000.jpg"
    assert len(calls) == 1  # sub-folders not listed yet
    assert sum(1 for _ in gen) == 2999 + 20


def test_iter_image_paths_filters_hidden_and_recurses(tmp_path):
    (tmp_path / "b.JPG").touch()
    (tmp_path / "a.png").touch()
    (tmp_path / "notes.txt").touch()
    (tmp_path / ".hidden.jpg").touch()
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "c.jpg").touch()
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "d.webp").touch()
    (tmp_path / "sub" / "deeper" / "e.heic").touch()
    found = [p.relative_to(tmp_path).as_posix() for p in iter_image_paths(tmp_path)]
    assert found == ["a.png", "b.JPG", "sub/d.webp", "sub/deeper/e.heic"]
    flat = [p.name for p in iter_image_paths(tmp_path, recursive=False)]
    assert flat == ["a.png", "b.JPG"]


def test_iter_image_paths_missing_folder(tmp_path):
    with pytest.raises(ImageError, match=r"^nowhere cannot be read"):
        next(iter_image_paths(tmp_path / "nowhere"))


def test_iter_photos_bad_file_does_not_stop_the_rest(tmp_path):
    _noise().save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_text("not an image")
    (tmp_path / "c.jpg").write_bytes(b"")
    _noise(10, 5).save(tmp_path / "d.png")
    gen = iter_photos([tmp_path, tmp_path / "gone.png"])
    assert inspect.isgenerator(gen)
    results = list(gen)
    names = [p.name for p, _ in results]
    assert names == ["a.png", "b.jpg", "c.jpg", "d.png", "gone.png"]
    kinds = [type(r) for _, r in results]
    assert kinds == [Photo, ImageError, ImageError, Photo, ImageError]
    assert "not an image" in str(results[1][1])
    assert "is empty" in str(results[2][1])
    assert "no such file" in str(results[4][1])
    assert results[3][1].pixels.shape == (5, 10, 3)


def test_iter_photos_single_path_and_max_pixels(tmp_path):
    _noise().save(tmp_path / "a.png")
    [(path, result)] = list(iter_photos(tmp_path / "a.png", max_pixels=100))
    assert path.name == "a.png" and isinstance(result, ImageError)
    assert "too large" in str(result)


# --------------------------------------------------------------------------- downscale


def test_downscale_shrinks_longer_side():
    arr = np.full((100, 200, 3), 90, np.uint8)
    out, scale = downscale(arr, 50)
    assert out.shape == (25, 50, 3) and out.dtype == np.uint8
    assert scale == pytest.approx(0.25)
    assert np.abs(out.astype(int) - 90).max() <= 1
    tall, scale = downscale(np.zeros((300, 7, 3), np.uint8), 100)
    assert tall.shape[0] == 100 and tall.shape[1] >= 1 and scale == pytest.approx(1 / 3)


def test_downscale_small_is_untouched():
    arr = np.zeros((30, 40, 3), np.uint8)
    out, scale = downscale(arr, 40)
    assert out is arr and scale == 1.0


def test_downscale_rejects_bad_args():
    with pytest.raises(ValueError):
        downscale(np.zeros((4, 4, 3), np.uint8), 0)
    with pytest.raises(ValueError):
        downscale(np.zeros((4, 4, 3), np.float32), 2)


# --------------------------------------------------------------------------- contract


def test_module_imports_only_numpy_pillow_and_stdlib():
    tree = ast.parse(Path(images.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    allowed = {"numpy", "PIL", "pillow_heif", "__future__"} | set(sys.stdlib_module_names)
    assert roots <= allowed, roots - allowed
