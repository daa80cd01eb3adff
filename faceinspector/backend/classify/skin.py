"""Skin tone as a measured colour property: the Individual Typology Angle (ITA) of the face's skin.

ITA = arctan((L* - 50) / b*) x 180 / pi on the CIELAB values of skin pixels (Chardon, Cretois
& Hourseau, "Skin colour typology and suntanning pathways", Int. J. Cosmetic Science 13, 1991),
as used to estimate skin tone from photographs by Kinyanjui et al. ("Estimating skin tone and
effects on classification performance in dermatology datasets", NeurIPS 2019 workshop) and
Groh et al. ("Evaluating deep neural networks trained on clinical images in dermatology with
the Fitzpatrick 17k dataset", CVPR 2021 workshops).

How the skin pixels are chosen, robustly: the face is warped to the ArcFace 112 x 112 template
(eyes, nose and mouth at fixed places, :data:`REGIONS` in that frame), and three patches that
are skin on almost every face are read -- both cheeks (below the eyes, beside the nose, above
the mouth corners) and the middle of the forehead (above the brows) -- leaving out the eyes,
brows, nostrils and mouth. Within them, a simple YCrCb skin mask (Cr 133-173, Cb 77-127;
Chai & Ngan 1999) drops hair, glasses frames and background; when it keeps fewer than
:data:`MIN_SKIN` of the patch pixels (strong colour casts), the whole patches are used. ITA is
computed from the median L* and the median b* of the kept pixels (sRGB, D65; OpenCV's
conversion).

What it is, and what it is not: a colour measurement of the pixels, which depends on the
lighting, the white balance and the camera as much as on the person. It is reported in the
standard ITA categories (:data:`CATEGORIES`) so that a model's errors can be sliced by it; it
says nothing about anyone's race or ethnicity and must not be read that way.
"""

from __future__ import annotations

import math

import numpy as np

from .. import align
from ..types import Face

#: (x1, y1, x2, y2) skin patches in the ArcFace 112 x 112 frame (eyes at y ~52, nose tip
#: (56, 72), mouth corners at (41, 92) and (71, 92)): left cheek, right cheek, forehead
REGIONS = ((26, 64, 44, 82), (68, 64, 86, 82), (42, 14, 70, 30))
#: side of the chip the patches are read from
SIDE = 112
#: the least share of patch pixels the skin mask must keep, else the whole patches are used
MIN_SKIN = 0.25
#: the standard ITA categories (degrees), from the lightest: (name, lower bound)
CATEGORIES = (("very light", 55.0), ("light", 41.0), ("intermediate", 28.0), ("tan", 10.0),
              ("brown", -30.0), ("dark", -math.inf))
#: the order the categories are listed in (slices, plots)
ORDER = tuple(name for name, _ in CATEGORIES)


def category(ita: float) -> str:
    """The ITA category of an angle in degrees ("" for NaN): very light > 55, light 41-55,
    intermediate 28-41, tan 10-28, brown -30-10, dark < -30."""
    if ita is None or not np.isfinite(ita):
        return ""
    for name, low in CATEGORIES:
        if ita > low:
            return name
    return CATEGORIES[-1][0]


def ita_of_pixels(rgb: np.ndarray) -> float:
    """ITA (degrees) of an (N, 3) or (h, w, 3) uint8 RGB set of skin pixels (NaN if empty):
    from the median L* and median b*."""
    import cv2

    px = np.asarray(rgb, np.uint8).reshape(-1, 1, 3)
    if not len(px):
        return float("nan")
    lab = cv2.cvtColor(px.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    lum, b = float(np.median(lab[:, 0])), float(np.median(lab[:, 2]))
    if b == 0:
        return math.copysign(90.0, lum - 50.0)
    return math.degrees(math.atan((lum - 50.0) / b))


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """bool mask of the pixels inside the YCrCb skin box (Chai & Ngan 1999)."""
    import cv2

    ycc = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1], ycc[..., 2]
    return (cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127)


def skin_pixels(pixels: np.ndarray, face: Face) -> tuple[np.ndarray, float]:
    """The face's skin pixels ((N, 3) uint8) and the share of the patches the mask kept."""
    chip = align.resolve_chip(None, "arcface-112").crop(pixels, face).pixels
    patches = np.concatenate([chip[y1:y2, x1:x2].reshape(-1, 3) for x1, y1, x2, y2 in REGIONS])
    keep = skin_mask(patches.reshape(-1, 1, 3)).reshape(-1)
    share = float(keep.mean()) if len(keep) else 0.0
    return (patches[keep] if share >= MIN_SKIN else patches), share


def face_ita(pixels: np.ndarray, face: Face | None) -> float:
    """ITA (degrees) of a face's skin in an RGB photo; NaN without a face."""
    if face is None:
        return float("nan")
    px, _ = skin_pixels(pixels, face)
    return ita_of_pixels(px)


__all__ = ["CATEGORIES", "MIN_SKIN", "ORDER", "REGIONS", "category", "face_ita",
           "ita_of_pixels", "skin_mask", "skin_pixels"]
