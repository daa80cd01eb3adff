"""Per-image attributes for comparing two collections: where the face sits and how it looks.

One row of numbers per image (:func:`image_attributes`), from the photo, its detected faces and
the file's JPEG header. Two groups:

geometry (in the image frame, what a model that resizes the whole image sees)
    ``eye_x``, ``eye_y``: the eye centre (mean of the two eyes) as fractions of the image width
    and height; ``iod``: inter-ocular distance / image width; ``roll``: angle of the eye line
    (degrees, positive = counter-clockwise on screen); ``yaw``: the nose's sideways offset from
    the eye centre, in the face's own frame (roll removed), in units of the inter-ocular
    distance (0 = frontal; a proxy, not an angle); ``box_size``: the face box's side
    (sqrt of its area) / image width; ``box_x``, ``box_y``: the box centre / image size;
    ``faces``: faces detected; ``aspect``: image width / height; ``megapixels``.
photometry (of the face box, ``face_*``, and of the whole image, ``image_*``)
    ``brightness`` (mean luma, 0..255, Rec. 601), ``contrast`` (RMS contrast: std of luma),
    ``saturation`` (mean HSV saturation, 0..1), ``hue`` (saturation-weighted circular mean hue in
    degrees, expressed in [-150, 210) so that skin tones, near 10-40 degrees, are far from the
    wrap), ``colourfulness`` (Hasler & Süsstrunk, "Measuring colourfulness in natural images",
    SPIE 2003), ``sharpness`` (variance of the Laplacian of luma on the region resized to
    :data:`SHARP_SIDE` px, so it compares across resolutions), ``grayscale`` (1 when the three
    channels are equal to within 2 levels on average), and for the whole file ``jpeg_quality``
    (the IJG quality that reproduces the luminance quantisation table; NaN if not a JPEG).

Geometry of an image without a face is NaN (left out of that attribute's distribution); the
``faces`` count still says 0. Each attribute carries a *resolution*: differences smaller than
that are measurement noise, and a spread below it counts as that much (so an attribute that is
constant in one collection still gets a finite shift score).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .types import Face

#: side (px) the face region and the image are resized to before the Laplacian
SHARP_SIDE = 128


@dataclass(frozen=True)
class Attribute:
    """One measured property: its column name, group, resolution and a line for people."""

    name: str
    group: str  # "geometry" or "photometry"
    resolution: float
    description: str
    unit: str = ""


def _photometric(prefix: str, where: str) -> list[Attribute]:
    return [
        Attribute(f"{prefix}_brightness", "photometry", 1.0, f"mean luma of {where}", "0-255"),
        Attribute(f"{prefix}_contrast", "photometry", 1.0, f"RMS contrast (std of luma) of {where}",
                  "0-255"),
        Attribute(f"{prefix}_saturation", "photometry", 0.01, f"mean HSV saturation of {where}",
                  "0-1"),
        Attribute(f"{prefix}_hue", "photometry", 2.0,
                  f"saturation-weighted mean hue of {where}", "degrees"),
        Attribute(f"{prefix}_colourfulness", "photometry", 1.0,
                  f"Hasler-Süsstrunk colourfulness of {where}"),
        Attribute(f"{prefix}_sharpness", "photometry", 5.0,
                  f"variance of the Laplacian of {where} at {SHARP_SIDE} px"),
        Attribute(f"{prefix}_grayscale", "photometry", 0.05, f"{where} has no colour (0/1)"),
    ]


#: every attribute, in table order
ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("eye_x", "geometry", 0.005, "eye centre x / image width", "fraction"),
    Attribute("eye_y", "geometry", 0.005, "eye centre y / image height", "fraction"),
    Attribute("iod", "geometry", 0.005, "inter-ocular distance / image width", "fraction"),
    Attribute("roll", "geometry", 0.5, "angle of the eye line", "degrees"),
    Attribute("yaw", "geometry", 0.02, "nose offset from the eye centre / inter-ocular distance"),
    Attribute("box_size", "geometry", 0.005, "face box side / image width", "fraction"),
    Attribute("box_x", "geometry", 0.005, "face box centre x / image width", "fraction"),
    Attribute("box_y", "geometry", 0.005, "face box centre y / image height", "fraction"),
    Attribute("faces", "geometry", 0.1, "faces detected in the image", "count"),
    Attribute("aspect", "geometry", 0.01, "image width / height"),
    Attribute("megapixels", "geometry", 0.005, "image size", "Mpx"),
    *_photometric("face", "the face box"),
    *_photometric("image", "the whole image"),
    Attribute("jpeg_quality", "photometry", 2.0, "JPEG quality estimated from the file's "
              "quantisation table (NaN: not a JPEG)", "IJG 1-100"),
)
BY_NAME = {a.name: a for a in ATTRIBUTES}
NAMES = tuple(a.name for a in ATTRIBUTES)


# ------------------------------------------------------------------------------ geometry


def face_geometry(face: Face | None, width: int, height: int) -> dict[str, float]:
    """The geometry attributes of ``face`` in a ``width`` x ``height`` image (NaN: no face)."""
    nan = float("nan")
    if face is None:
        return dict.fromkeys(("eye_x", "eye_y", "iod", "roll", "yaw", "box_size", "box_x",
                              "box_y"), nan)
    lm = np.asarray(face.landmarks, np.float64)
    left, right, nose = lm[0], lm[1], lm[2]
    centre = (left + right) / 2
    d = right - left
    iod = float(np.hypot(*d))
    roll = -math.degrees(math.atan2(d[1], d[0]))  # y is down: counter-clockwise is positive
    # the nose offset in the face's frame: rotate by -angle of the eye line
    a = math.atan2(d[1], d[0])
    off = nose - centre
    along = off[0] * math.cos(a) + off[1] * math.sin(a)
    x1, y1, x2, y2 = (float(v) for v in face.box)
    side = math.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0))
    return {
        "eye_x": (centre[0] + 0.5) / width, "eye_y": (centre[1] + 0.5) / height,
        "iod": iod / width, "roll": roll, "yaw": along / iod if iod > 0 else nan,
        "box_size": side / width, "box_x": ((x1 + x2) / 2 + 0.5) / width,
        "box_y": ((y1 + y2) / 2 + 0.5) / height,
    }


# ---------------------------------------------------------------------------- photometry


def _luma(rgb: np.ndarray) -> np.ndarray:
    f = rgb.astype(np.float32)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def _resized(rgb: np.ndarray, side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    s = side / max(h, w)
    if abs(s - 1.0) < 1e-6:
        return rgb
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def photometry(rgb: np.ndarray, prefix: str) -> dict[str, float]:
    """The photometric attributes of an RGB uint8 region, named ``<prefix>_<attribute>``."""
    import cv2

    nan = float("nan")
    names = [a.name for a in _photometric(prefix, "")]
    if rgb.size == 0 or min(rgb.shape[:2]) < 2:
        return dict.fromkeys(names, nan)
    small = _resized(rgb, SHARP_SIDE)  # all statistics on at most SHARP_SIDE px per side
    y = _luma(small)
    hsv = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    sat = hsv[..., 1] / 255.0
    ang = hsv[..., 0] / 255.0 * 2 * np.pi  # COLOR_RGB2HSV_FULL: 0..255 spans 0..360 degrees
    wsum = float(sat.sum())
    if wsum > 1e-6:
        hue = math.degrees(math.atan2(float((sat * np.sin(ang)).sum()),
                                      float((sat * np.cos(ang)).sum())))
        hue = (hue + 150.0) % 360.0 - 150.0  # [-150, 210): skin tones far from the wrap
    else:
        hue = nan
    f = small.astype(np.float32)
    rg = f[..., 0] - f[..., 1]
    yb = 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]
    colourful = math.hypot(float(rg.std()), float(yb.std())) \
        + 0.3 * math.hypot(float(rg.mean()), float(yb.mean()))
    lap = cv2.Laplacian(y, cv2.CV_32F)
    gray = float(np.abs(f[..., 0] - f[..., 1]).mean() + np.abs(f[..., 1] - f[..., 2]).mean())
    return dict(zip(names, (float(y.mean()), float(y.std()), float(sat.mean()), hue,
                            colourful, float(lap.var()), float(gray < 4.0))))


def face_region(rgb: np.ndarray, face: Face | None) -> np.ndarray:
    """The face box's pixels (clipped to the image; empty when there is no face)."""
    if face is None:
        return rgb[:0, :0]
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = face.box
    a, b = int(max(0, math.floor(x1))), int(min(w, math.ceil(x2)))
    c, d = int(max(0, math.floor(y1))), int(min(h, math.ceil(y2)))
    return rgb[c:d, a:b]


# --------------------------------------------------------------------------------- JPEG

#: the IJG (libjpeg) standard luminance quantisation table, quality 50, in natural order
_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float64)
_ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63])


def quality_from_table(table) -> float:
    """The IJG quality (1..100) whose scaled standard table is closest to ``table`` (the 64
    luminance entries in the zig-zag order JPEG files store them, as Pillow returns them)."""
    q = np.asarray(table, np.float64).reshape(-1)
    if q.size != 64:
        return float("nan")
    natural = np.empty(64)
    natural[_ZIGZAG] = q
    best, best_err = float("nan"), float("inf")
    for quality in range(1, 101):
        scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
        ref = np.clip(np.floor((_IJG_LUMA * scale + 50.0) / 100.0), 1, 255)
        err = float(np.abs(ref - natural).mean())
        if err < best_err:
            best, best_err = float(quality), err
    return best


def jpeg_quality(path) -> float:
    """The JPEG quality estimate of a file (reads the header only); NaN if not a JPEG."""
    from PIL import Image

    try:
        with Image.open(Path(path)) as img:
            if img.format != "JPEG":
                return float("nan")
            tables = getattr(img, "quantization", None) or {}
            return quality_from_table(tables[0]) if 0 in tables else float("nan")
    except Exception:  # noqa: BLE001 - an attribute, not a reason to fail the image
        return float("nan")


# ----------------------------------------------------------------------------- one image


def image_attributes(pixels: np.ndarray, faces, face: Face | None,
                     path=None) -> dict[str, float]:
    """Every attribute of one image: ``face`` is the face the image is about (None: none
    found), ``faces`` all faces detected, ``path`` the file (for the JPEG header)."""
    h, w = pixels.shape[:2]
    row = face_geometry(face, w, h)
    row.update(faces=float(len(faces)), aspect=w / h, megapixels=w * h / 1e6)
    row.update(photometry(face_region(pixels, face), "face"))
    row.update(photometry(pixels, "image"))
    row["jpeg_quality"] = jpeg_quality(path) if path is not None else float("nan")
    return {name: float(row[name]) for name in NAMES}


__all__ = ["ATTRIBUTES", "Attribute", "BY_NAME", "NAMES", "SHARP_SIDE", "face_geometry",
           "face_region", "image_attributes", "jpeg_quality", "photometry",
           "quality_from_table"]
