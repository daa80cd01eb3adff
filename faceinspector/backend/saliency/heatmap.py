"""Heat maps on crops, in numpy (issue 19): colours, overlays, the peak, the mass inside the face
box, and how far feature maps moved.

No torch, no matplotlib: the GUI, the CLI and the saliency tasks share these. Coordinates are
crop pixels with pixel centres at integer coordinates (the backend's convention, see
:mod:`faceinspector.backend.align`).
"""

from __future__ import annotations

import numpy as np


def box_in_crop(matrix, box) -> np.ndarray:
    """The face box ``(x1, y1, x2, y2)`` (photo pixels) as a quadrilateral in crop pixels,
    float32 ``(4, 2)``: top-left, top-right, bottom-right, bottom-left (rotated for aligned
    templates)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    m = np.asarray(matrix, np.float64)[:2]
    pts = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
    return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


def box_mask(matrix, box, shape) -> np.ndarray:
    """Boolean ``(h, w)``: the crop pixels whose centres fall inside the face box (each pixel
    centre mapped back into the photo through the inverse of ``matrix``)."""
    h, w = int(shape[0]), int(shape[1])
    m = np.vstack([np.asarray(matrix, np.float64)[:2], [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(m)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    px = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    py = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    x1, y1, x2, y2 = (float(v) for v in box)
    return (px >= x1) & (px <= x2) & (py >= y1) & (py <= y2)


def mass_inside(heat: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of the map's positive mass inside ``mask`` (NaN when the map has none)."""
    pos = np.clip(np.asarray(heat, np.float64), 0.0, None)
    total = pos.sum()
    return float(pos[mask].sum() / total) if total > 0 else float("nan")


def peak(heat: np.ndarray) -> tuple[float, float]:
    """``(x, y)`` crop pixel of the map's maximum (the first one in row order on a tie)."""
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return float(x), float(y)


def patch_edges(size: int, n: int) -> np.ndarray:
    """Edges of ``n`` near-equal patches tiling ``size`` pixels, int ``(n + 1,)``."""
    return np.round(np.linspace(0, size, n + 1)).astype(int)


def patch_index(size, grid) -> np.ndarray:
    """Int ``(h, w)``: which patch of a ``grid = (gx, gy)`` tiling covers each pixel of a
    ``size = (w, h)`` crop (row-major patch order, ``iy * gx + ix``)."""
    w, h = int(size[0]), int(size[1])
    gx, gy = int(grid[0]), int(grid[1])
    col = np.searchsorted(patch_edges(w, gx), np.arange(w), side="right") - 1
    row = np.searchsorted(patch_edges(h, gy), np.arange(h), side="right") - 1
    return row[:, None] * gx + col[None, :]


def patch_centres(size, grid) -> np.ndarray:
    """``(gy * gx, 2)`` centres ``(x, y)`` of the patches of :func:`patch_index`, crop px."""
    ex, ey = patch_edges(int(size[0]), int(grid[0])), patch_edges(int(size[1]), int(grid[1]))
    cx, cy = (ex[:-1] + ex[1:] - 1) / 2.0, (ey[:-1] + ey[1:] - 1) / 2.0
    yy, xx = np.meshgrid(cy, cx, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], 1)


# ----------------------------------------------------------------------------- colours


def _jet(v: np.ndarray) -> np.ndarray:
    """The classic jet colour map (what grad-cam's ``show_cam_on_image`` uses), RGB in 0..1."""
    r = np.clip(1.5 - np.abs(4.0 * v - 3.0), 0, 1)
    g = np.clip(1.5 - np.abs(4.0 * v - 2.0), 0, 1)
    b = np.clip(1.5 - np.abs(4.0 * v - 1.0), 0, 1)
    return np.stack([r, g, b], -1)


def _diverging(v: np.ndarray) -> np.ndarray:
    """Blue (-1) - white (0) - red (+1), RGB in 0..1."""
    pos, neg = np.clip(v, 0, 1), np.clip(-v, 0, 1)
    return np.stack([1 - neg, 1 - pos - neg, 1 - pos], -1)


def colourise(heat: np.ndarray, signed: bool = False, scale: float | None = None) -> np.ndarray:
    """A map as RGB uint8 ``(h, w, 3)``: jet over [0, 1], or for a ``signed`` map blue-white-red
    over ``[-scale, scale]`` (default: its largest magnitude)."""
    v = np.asarray(heat, np.float32)
    if signed:
        s = float(scale) if scale else float(np.abs(v).max())
        rgb = _diverging(v / s if s > 0 else v * 0)
    else:
        rgb = _jet(np.clip(v, 0, 1))
    return (rgb * 255 + 0.5).astype(np.uint8)


def overlay(crop: np.ndarray, heat: np.ndarray, alpha: float = 0.5, signed: bool = False,
            scale: float | None = None) -> np.ndarray:
    """The map blended over the crop, RGB uint8 ``(h, w, 3)``.

    ``alpha`` is the opacity of the colours (0: the crop alone). An unsigned map in [0, 1] is
    blended everywhere; a ``signed`` map (occlusion's Δ) with opacity ``alpha * |v| / scale``, so
    patches that changed nothing show the crop. A map of another size is resized (bilinear)."""
    import cv2

    crop = np.asarray(crop)
    h, w = crop.shape[:2]
    heat = np.asarray(heat, np.float32)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    colours = colourise(heat, signed, scale).astype(np.float32)
    a = float(np.clip(alpha, 0.0, 1.0))
    if signed:
        s = float(scale) if scale else float(np.abs(heat).max())
        weight = a * np.clip(np.abs(heat) / s, 0, 1)[..., None] if s > 0 else np.zeros((h, w, 1))
    else:
        weight = np.full((h, w, 1), a, np.float32)
    out = crop.astype(np.float32) * (1 - weight) + colours * weight
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------- equivariance


def shift_maps(maps: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``(k, h, w)`` maps moved by ``(dx, dy)`` of their own pixels (bilinear, zeros outside)."""
    import cv2

    maps = np.asarray(maps, np.float32)
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    h, w = maps.shape[1:]
    return np.stack([cv2.warpAffine(c, m, (w, h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
                     for c in maps]) if len(maps) else maps


def correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Pearson correlation of two arrays over ``mask`` (NaN when either is constant)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if mask is not None:
        a, b = a[..., mask], b[..., mask]
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


__all__ = ["box_in_crop", "box_mask", "colourise", "correlation", "mass_inside", "overlay",
           "patch_centres", "patch_edges", "patch_index", "peak", "shift_maps"]
