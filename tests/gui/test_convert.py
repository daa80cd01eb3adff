"""The ndarray <-> QImage bridge: copies, strides, formats."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from faceinspector.gui import convert


@pytest.mark.parametrize("shape", [(7, 5, 3), (6, 9), (4, 3, 4), (5, 5, 1)])
def test_roundtrip(qapp, shape, rng):
    arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
    if len(shape) == 3 and shape[2] == 4:
        arr[..., 3] = 255  # opaque, so RGB survives the trip unchanged
    img = convert.to_qimage(arr)
    assert (img.width(), img.height()) == (shape[1], shape[0])
    back = convert.to_ndarray(img)
    if len(shape) == 3 and shape[2] == 3:
        np.testing.assert_array_equal(back, arr)
    elif len(shape) == 2 or shape[2] == 1:
        np.testing.assert_array_equal(back, np.repeat(arr.reshape(shape[0], shape[1], 1), 3, 2))
    else:  # RGBA: the colour channels survive
        np.testing.assert_array_equal(back, arr[..., :3])


def test_strided_and_copy_semantics(qapp, rng):
    base = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    views = [base[::2, ::3], base[5:17, 7:50], base.transpose(1, 0, 2), base[:, :, ::-1]]
    for v in views:  # odd widths (3 * w not a multiple of 4) and negative strides
        np.testing.assert_array_equal(convert.to_ndarray(convert.to_qimage(v)), v)
    arr = base.copy()
    img = convert.to_qimage(arr)
    arr[:] = 0  # the QImage owns its pixels
    assert convert.to_ndarray(img)[0, 0].tolist() == base[0, 0].tolist()
    del arr
    assert img.pixelColor(1, 1).red() == int(base[1, 1, 0])


def test_enlarge_keeps_pixels_square(qapp, rng):
    crop = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    pix, factor = convert.enlarge(crop, 256)
    assert factor == 8 and (pix.width(), pix.height()) == (256, 256)
    big = convert.to_ndarray(pix.toImage())
    np.testing.assert_array_equal(big[::8, ::8], crop)  # nearest neighbour, no smoothing


def test_bad_input(qapp):
    with pytest.raises(ValueError):
        convert.to_qimage(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError):
        convert.to_qimage(np.zeros((4, 4, 3), np.float32))
    assert convert.to_qimage(np.zeros((0, 4, 3), np.uint8)).isNull()
    assert convert.to_ndarray(QImage()).shape == (0, 0, 3)
