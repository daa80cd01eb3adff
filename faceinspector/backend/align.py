"""Alignment: photo -> crop matrices, the chip rule and the batched warp engine (the templates
themselves are data in :mod:`.templates`, re-exported here).

Importing this module does not import torch (the GUI imports it before torch is loaded);
the warp functions import it when first called.

Conventions
-----------
* Points are ``(x, y)`` pixels, x to the right, y down, pixel centres at integer coordinates,
  so an image ``W`` pixels wide spans ``[-0.5, W - 0.5]`` (OpenCV's convention, and
  ``grid_sample``'s with ``align_corners=False``).
* Template points are normalised to the template's *edges*: ``u = 0`` is the left edge of the
  unpadded template, ``u = 1`` its right edge. A normalised ``u`` lands on the pixel-centre
  coordinate ``((u + p) / (1 + 2 p)) * size - 0.5`` (``p`` = dlib's chip padding, 0 for most
  templates). Published pixel positions ``x`` in a ``W``-wide image are stored as
  ``(x + 0.5) / W`` so they come back exactly at their native size and scale correctly at
  others. (dlib writes its chip formula without the ``- 0.5``; our dlib chips therefore sit
  half a chip pixel up-left of dlib's own, well inside the landmark noise.)
* A matrix is a float64 ``(2, 3)`` affine map from photo pixels to crop pixels; a *transform*
  is a ``(3, 3)`` map from crop pixels to crop pixels applied after it (``T @ M``).
* Angles are degrees, positive = counter-clockwise as seen on screen (y down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from .templates import (TEMPLATE_FORMAT, TEMPLATES, Template, TemplateError, _wh,  # noqa: F401
                        get_template, is_template_file, load_template, normalised_points,
                        save_template, template_from_dict, template_to_dict)
from .types import Crop, Face

_MODES = {"reflect": "reflection", "replicate": "border", "zeros": "zeros"}


# --------------------------------------------------------------------------- geometry


def similarity_transform(src, dst) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991, no reflection) mapping ``src`` onto ``dst``.

    Parameters
    ----------
    src, dst : ``(N, 2)`` point arrays, N >= 2.

    Returns
    -------
    float64 ``(2, 3)`` matrix ``M`` with ``dst ~= src @ M[:, :2].T + M[:, 2]``.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    u, s, vt = np.linalg.svd(dc.T @ sc / len(src))
    d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ d @ vt
    var = (sc**2).sum() / len(src)
    scale = float(np.trace(np.diag(s) @ d) / var) if var > 0 else 1.0
    out = np.empty((2, 3))
    out[:, :2] = scale * rot
    out[:, 2] = mu_d - scale * rot @ mu_s
    return out


def _h(m) -> np.ndarray:
    """``(..., 2, 3)`` -> ``(..., 3, 3)`` homogeneous."""
    m = np.asarray(m, np.float64)
    out = np.zeros(m.shape[:-2] + (3, 3))
    out[..., :2, :] = m
    out[..., 2, 2] = 1.0
    return out


def invert_affine(matrix) -> np.ndarray:
    """Inverse of a ``(2, 3)`` (or batched ``(N, 2, 3)``) affine matrix."""
    return np.linalg.inv(_h(matrix))[..., :2, :]


def map_points(matrix, pts) -> np.ndarray:
    """Apply a ``(2, 3)`` affine ``matrix`` to ``(N, 2)`` points; float64 ``(N, 2)``."""
    m = np.asarray(matrix, np.float64)
    return np.asarray(pts, np.float64).reshape(-1, 2) @ m[:, :2].T + m[:, 2]


def crop_matrix(face: Face, template: str | Template, size=None, padding=None) -> np.ndarray:
    """Photo -> crop matrix, float64 ``(2, 3)``, for ``face`` seen through ``template``.

    ``raw``: scale + translation only; the square of side ``max(w, h) * (1 + margin)`` centred
    on the box maps edge-to-edge onto the crop (onto its shorter side if not square);
    ``padding`` here overrides the margin. Aligned templates: the similarity that best maps
    the five landmarks onto :meth:`Template.targets`.
    """
    t = get_template(template)
    w, h = _wh(t.size if size is None else size)
    if t.is_raw:
        x1, y1, x2, y2 = map(float, face.box)
        margin = t.margin if padding is None else float(padding)
        side = max(x2 - x1, y2 - y1, 1e-6) * (1.0 + margin)
        s = min(w, h) / side
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        return np.array([[s, 0.0, w / 2 - 0.5 - s * cx], [0.0, s, h / 2 - 0.5 - s * cy]])
    return similarity_transform(face.landmarks, t.targets((w, h), padding))


def transform_matrices(size, dx=0.0, dy=0.0, angle=0.0, scale=1.0) -> np.ndarray:
    """Batch of crop-space transforms about the crop centre, float64 ``(N, 3, 3)``.

    The content moves by ``(dx, dy)`` crop pixels, turns by ``angle`` degrees (positive =
    counter-clockwise on screen) and grows by ``scale`` (> 1: the face looks larger), all
    about the crop centre ``((w - 1) / 2, (h - 1) / 2)``. Arguments broadcast against each
    other; the result is flattened in C order, ``N = prod(broadcast shape)``.
    """
    w, h = _wh(size)
    dx, dy, angle, scale = np.broadcast_arrays(*(np.asarray(a, np.float64)
                                                 for a in (dx, dy, angle, scale)))
    dx, dy, a, s = (v.reshape(-1) for v in (dx, dy, np.deg2rad(angle), scale))
    c, sn = s * np.cos(a), s * np.sin(a)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    out = np.zeros((len(dx), 3, 3))
    # y points down, so a counter-clockwise turn on screen is [[cos, sin], [-sin, cos]].
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = c, sn, -sn, c
    out[:, 0, 2] = cx + dx - (c * cx + sn * cy)
    out[:, 1, 2] = cy + dy - (-sn * cx + c * cy)
    out[:, 2, 2] = 1.0
    return out


def transform_matrix(size, dx=0.0, dy=0.0, angle=0.0, scale=1.0) -> np.ndarray:
    """One crop-space transform, float64 ``(3, 3)``; see :func:`transform_matrices`."""
    return transform_matrices(size, dx, dy, angle, scale)[0]


# --------------------------------------------------------------------------- the engine


def _span(lo: float, hi: float, n: int, border: str) -> tuple[int, int]:
    """Integer pixel range [a, b) of a length-``n`` axis that reads in ``[lo, hi]`` touch."""
    if border == "reflect":  # reflected reads land inside; cover them (whole axis if periodic)
        if lo < 0:
            hi = max(hi, -1.0 - lo)
        if hi > n - 1:
            lo = min(lo, 2.0 * n - 1.0 - hi)
    a = int(min(max(math.floor(lo), 0), n - 1))
    b = int(min(max(math.ceil(hi), 0), n - 1)) + 1
    return a, max(b, a + 1)


def _snap(a: int, b: int, k: int, n: int) -> tuple[int, int]:
    """Grow [a, b) to whole ``k``-blocks of the photo's own lattice (clipped at ``n``), so the
    area-averaged pixels do not depend on which crops share the batch."""
    return a - a % k, min(b + (-b % k), n)


def warp_crops(pixels, matrices, size, *, border: str = "reflect", device=None,
               antialias: bool = True, out: str = "float") -> torch.Tensor:
    """Warp N crops out of one photo with a single bilinear ``grid_sample`` call.

    Parameters
    ----------
    pixels : ``(H, W, C)`` uint8 ndarray or tensor (C = 3 for RGB).
    matrices : ``(N, 2, 3)`` (or one ``(2, 3)``) photo -> crop affine matrices.
    size : crop ``(width, height)`` or an int.
    border : ``"reflect"`` (mirror about the photo's edge, like ``cv2.BORDER_REFLECT``),
        ``"replicate"`` or ``"zeros"``.
    device : torch device of the result (default: the tensor's device, else CPU).
    antialias : when the crops shrink the photo by ``s > 2`` (where dlib starts its image
        pyramid), area-average the read region by the integer factor ``k = round(s)`` first
        (``s``: the smallest of the batch), on
        ``k``-blocks of the photo's own pixel lattice, so a crop comes out the same whatever
        else is in the batch as long as ``k`` is.
    out : ``"float"`` (float32 in 0..255) or ``"uint8"`` (rounded).

    Returns
    -------
    ``(N, C, h, w)`` tensor on ``device``.

    Only the photo region the crops read (plus 2 px) is moved and converted to float.
    """
    import torch  # here, not at import: the GUI imports this module before torch loads
    import torch.nn.functional as F

    if border not in _MODES:
        raise ValueError(f"border must be one of {sorted(_MODES)}, got {border!r}")
    if out not in ("float", "uint8"):
        raise ValueError(f"out must be 'float' or 'uint8', got {out!r}")
    if isinstance(matrices, torch.Tensor):
        matrices = matrices.detach().cpu().numpy()
    m = np.asarray(matrices, np.float64).reshape(-1, 2, 3)
    w, h = _wh(size)
    if device is None:
        device = pixels.device if isinstance(pixels, torch.Tensor) else torch.device("cpu")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    H, W, c = (int(v) for v in pixels.shape)
    if len(m) == 0:
        return torch.zeros((0, c, h, w), device=device,
                           dtype=torch.uint8 if out == "uint8" else torch.float32)
    inv = _h(invert_affine(m))  # crop -> photo, (N, 3, 3)

    # (a) the photo region all crops read from
    corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [-0.5, h - 0.5, 1],
                        [w - 0.5, h - 0.5, 1]]).T
    src = inv[:, :2] @ corners  # (N, 2, 4)
    k = 1
    if antialias:
        s = float(np.sqrt(np.abs(np.linalg.det(inv[:, :2, :2]))).min())
        k = int(round(s)) if s > 2.0 else 1
    pad = 2.0 + k
    x0, x1 = _span(src[:, 0].min() - pad, src[:, 0].max() + pad, W, border)
    y0, y1 = _span(src[:, 1].min() - pad, src[:, 1].max() + pad, H, border)
    if k > 1:
        x0, x1 = _snap(x0, x1, k, W)
        y0, y1 = _snap(y0, y1, k, H)
    region = pixels[y0:y1, x0:x1]
    if not isinstance(region, torch.Tensor):
        region = torch.from_numpy(np.ascontiguousarray(region))
    region = region.to(device)
    img = torch.empty((1, c, *region.shape[:2]), dtype=torch.float32, device=device)
    img[0].copy_(region.permute(2, 0, 1))  # one pass: uint8 HWC -> float32 CHW

    # (b) area averaging over k x k blocks, and the photo -> region map that goes with it
    to_region = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1]])
    if k > 1:
        ph, pw = -img.shape[2] % k, -img.shape[3] % k
        if ph or pw:  # a partial block at the photo's right/bottom edge
            img = F.pad(img, (0, pw, 0, ph), mode="replicate")
        bh, bw = img.shape[2] // k, img.shape[3] // k
        img = img.view(1, c, bh, k, bw * k).sum(3).view(1, c, bh, bw, k).sum(4) / (k * k)
        to_region = np.array([[1 / k, 0, -(k - 1) / (2 * k)], [0, 1 / k, -(k - 1) / (2 * k)],
                              [0, 0, 1]]) @ to_region
    rh, rw = img.shape[2], img.shape[3]

    # (c) crop pixel -> normalised region coords for all N crops in one GEMM (what
    # F.affine_grid computes; its batched tiny matmuls are far slower on CPU). The photo is
    # expanded, not copied, to N; strided grid and input measured fastest on CPU.
    to_norm = np.array([[2 / rw, 0, 1 / rw - 1], [0, 2 / rh, 1 / rh - 1], [0, 0, 1]])
    n = len(m)
    theta = torch.as_tensor((to_norm @ to_region @ inv)[:, :2].reshape(2 * n, 3),
                            dtype=torch.float32, device=device)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                            torch.arange(w, dtype=torch.float32, device=device), indexing="ij")
    base = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones(h * w, device=device)])
    grid = (theta @ base).view(n, 2, h, w).permute(0, 2, 3, 1)  # (N, h, w, 2), strided
    res = F.grid_sample(img.expand(n, -1, -1, -1), grid, mode="bilinear",
                        padding_mode=_MODES[border], align_corners=False)  # (N, C, h, w)
    if out == "uint8":
        return res.round_().clamp_(0, 255).to(torch.uint8)
    return res


def to_uint8_hwc(crops: torch.Tensor) -> np.ndarray:
    """``(N, C, h, w)`` float 0..255 crops -> ``(N, h, w, C)`` uint8 array (rounded, clipped)."""
    import torch  # noqa: F401 - the tensor methods need it loaded

    return crops.round().clamp(0, 255).to("cpu").byte().permute(0, 2, 3, 1).numpy().copy()


def warp_crop(pixels, matrix, size, *, border: str = "reflect",
              antialias: bool = True) -> np.ndarray:
    """One crop as a uint8 ``(h, w, C)`` ndarray; see :func:`warp_crops`."""
    t = warp_crops(pixels, np.asarray(matrix).reshape(1, 2, 3), size, border=border,
                   device="cpu", antialias=antialias, out="uint8")
    return t[0].permute(1, 2, 0).numpy().copy()


@dataclass(frozen=True, eq=False)
class Chip:
    """What one model sees of a face: a template, an output size and a padding.

    Made by :func:`resolve_chip`, the one place that decides it; everything that crops for a
    model (predictions, probes, embeddings, evaluations, exports) goes through it.
    """

    template: Template
    size: tuple[int, int]
    padding: float | None = None

    @property
    def name(self) -> str:
        return self.template.name

    def matrix(self, face: Face) -> np.ndarray:
        """Photo -> chip matrix for ``face``, float64 ``(2, 3)``."""
        return crop_matrix(face, self.template, self.size, self.padding)

    def targets(self) -> np.ndarray:
        """Where the template wants the five points in this chip, float32 ``(5, 2)``."""
        return self.template.targets(self.size, self.padding).astype(np.float32)

    def crop(self, pixels, face: Face, *, border: str = "reflect",
             antialias: bool = True) -> Crop:
        """The chip as a :class:`~.types.Crop` (pixels, matrix, landmarks, targets)."""
        return make_crop(pixels, face, self.template, self.size, self.padding, border=border,
                         antialias=antialias)

    def crops(self, pixels, face: Face, transforms=None, *, border: str = "reflect",
              device=None, out: str = "float") -> torch.Tensor:
        """The chip under ``(N, 3, 3)`` chip-space transforms, ``(N, C, h, w)`` (see
        :func:`make_crops`)."""
        return make_crops(pixels, face, self.template, transforms, self.size, self.padding,
                          border=border, device=device, out=out)


def resolve_chip(spec=None, template: str | Template | None = None) -> Chip:
    """THE chip rule: the template, size and padding a model sees.

    Parameters
    ----------
    spec : the model's chip spec (anything with ``template``, ``size`` and ``padding``, e.g.
        :class:`~.models.base.ChipSpec`), or None for a bare template at its own size.
    template : None (or the spec's own template) for the model's own chip; any other template
        (a name, or a :class:`Template` such as one learned from a data set) forces that
        template *at the model's input size* and with that template's own padding -- the
        model's padding belongs to its own template only.
    """
    if spec is None:
        if template is None:
            raise ValueError("resolve_chip needs a chip spec or a template")
        t = get_template(template)
        return Chip(t, t.size, None)
    own = spec.template
    forced = template is not None and not (
        (isinstance(template, str) and template == own)
        or (isinstance(template, Template) and isinstance(own, Template) and template is own))
    if not forced:
        return Chip(get_template(own), _wh(spec.size), spec.padding)
    return Chip(get_template(template), _wh(spec.size), None)


def make_crop(pixels, face: Face, template: str | Template, size=None, padding=None, *,
              border: str = "reflect", antialias: bool = True) -> Crop:
    """The crop a model with this template sees, with landmarks and targets in crop pixels."""
    t = get_template(template)
    wh = _wh(t.size if size is None else size)
    m = crop_matrix(face, t, wh, padding)
    return Crop(
        pixels=warp_crop(pixels, m, wh, border=border, antialias=antialias),
        template=t.name,
        matrix=m,
        landmarks=map_points(m, face.landmarks).astype(np.float32),
        targets=t.targets(wh, padding).astype(np.float32),
    )


def make_crops(pixels, face: Face, template: str | Template, transforms=None, size=None,
               padding=None, *, border: str = "reflect", device=None, antialias: bool = True,
               out: str = "float") -> torch.Tensor:
    """The probe's engine: crops ``M_i = T_i @ crop_matrix`` for ``(N, 3, 3)`` transforms.

    ``transforms=None`` gives the single untransformed crop. Returns ``(N, C, h, w)``, see
    :func:`warp_crops`.
    """
    t = get_template(template)
    wh = _wh(t.size if size is None else size)
    base = _h(crop_matrix(face, t, wh, padding))
    tr = np.eye(3)[None] if transforms is None else np.asarray(transforms, float).reshape(-1, 3, 3)
    return warp_crops(pixels, (tr @ base)[:, :2], wh, border=border, device=device,
                      antialias=antialias, out=out)


__all__ = [
    "TEMPLATES", "TEMPLATE_FORMAT", "Chip", "Template", "TemplateError", "crop_matrix",
    "get_template", "invert_affine", "is_template_file", "load_template", "make_crop",
    "normalised_points",
    "save_template", "template_from_dict", "template_to_dict",
    "make_crops", "map_points", "resolve_chip", "similarity_transform", "to_uint8_hwc",
    "transform_matrices", "transform_matrix", "warp_crop", "warp_crops",
]
