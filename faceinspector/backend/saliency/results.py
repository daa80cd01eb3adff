"""The frozen results of :mod:`faceinspector.backend.saliency` (numpy arrays and plain values)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import heatmap

METHODS = ("gradcam", "gradcampp", "eigencam", "occlusion")
TITLES = {"gradcam": "Grad-CAM", "gradcampp": "Grad-CAM++", "eigencam": "EigenCAM",
          "occlusion": "occlusion"}
MODES = ("similar", "dissimilar")
NO_MOVE = (0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Saliency:
    """One map over one crop.

    Attributes
    ----------
    model_id, method : the method that made the map (``occlusion`` after a fallback);
        ``requested`` is the one asked for.
    target : "class", "embedding" (occlusion of an embedder alone: how much each patch changes
        the embedding), "similarity" or "dissimilarity" (to another face's embedding).
    class_index, class_label : the class (-1 and a description for embedders).
    map : float32 ``(h, w)`` at crop resolution. CAM methods: in [0, 1]. Occlusion (``signed``):
        Δ score per patch (probability, or cosine similarity), positive = the patch supports the
        target; ``scale`` is its largest magnitude (1.0 for CAM maps).
    crop : uint8 ``(h, w, 3)``, the (moved) chip the map belongs to; ``matrix`` photo -> crop.
    box : float32 ``(4, 2)``, the detection box in crop pixels (a rotated quadrilateral).
    peak : ``(x, y)`` crop px of the maximum (occlusion: the centre of the best patch).
    mass_in_face_box : fraction of the map's positive mass inside ``box`` (NaN: empty map).
    score : the target's value on the unoccluded crop (probability or cosine similarity).
    layer : the target layer ("" for occlusion); grid : occlusion's ``(gx, gy)`` patches.
    note : what the user should know (a fallback and why, a class-agnostic method).
    """

    model_id: str
    method: str
    requested: str
    target: str
    class_index: int
    class_label: str
    map: np.ndarray
    signed: bool
    scale: float
    crop: np.ndarray
    matrix: np.ndarray
    box: np.ndarray
    template: str
    transform: tuple
    layer: str
    grid: tuple | None
    score: float
    peak: tuple
    mass_in_face_box: float
    seconds: float
    note: str = ""

    def normalised(self) -> np.ndarray:
        """The map in [0, 1] (CAM) or [-1, 1] (occlusion, divided by :attr:`scale`)."""
        if not self.signed:
            return self.map
        return self.map / self.scale if self.scale > 0 else self.map * 0

    def overlay(self, alpha: float = 0.5, side: int | None = None) -> np.ndarray:
        """The map blended over :attr:`crop` (uint8 ``(h, w, 3)``; see :func:`heatmap.overlay`);
        with ``side``, at that height (a list's thumbnail: make it on the worker)."""
        crop, heat = self.crop, self.map
        if side:
            import cv2

            h, w = crop.shape[:2]
            size = (max(1, round(w * side / h)), int(side))
            shrink = cv2.INTER_AREA if side < h else cv2.INTER_LINEAR
            crop = cv2.resize(crop, size, interpolation=shrink)
            heat = cv2.resize(heat, size, interpolation=shrink)
        return heatmap.overlay(crop, heat, alpha, self.signed, self.scale)


@dataclass(frozen=True, eq=False)
class PairSaliency:
    """Both faces of a pair through an embedder: the map on A's chip toward B and on B's toward
    A, their cosine similarity and Euclidean distance; ``error`` when the pair could not be
    explained (then ``a`` and ``b`` are None)."""

    model_id: str
    mode: str
    a: Saliency | None
    b: Saliency | None
    cosine: float = float("nan")
    distance: float = float("nan")
    error: str = ""
    key: object = None  # the caller's pair as it was given (for lists)


@dataclass(frozen=True)
class SaliencyInfo:
    """What a model offers: its layers, the default target layer, which methods run as asked
    (the others fall back to occlusion) and why, whether it is an embedder."""

    model_id: str
    task: str
    labels: tuple
    embedder: bool
    layers: tuple
    default_layer: str
    methods: tuple
    note: str = ""


@dataclass(frozen=True, eq=False)
class FeatureMaps:
    """The ``top`` channels of one layer for one (moved) crop.

    ``raw`` float32 ``(k, fh, fw)`` as the layer gives them (after its ReLU when the network
    applies one); ``maps`` the same in [0, 1] per channel over ``ranges`` (``(k, 2)`` lo, hi;
    pass a first call's ``ranges`` and ``channels`` to later ones so frames stay comparable);
    ``channels`` their indices, ordered by ``means`` (largest first); ``shape`` the layer's
    ``(C, fh, fw)``; ``stride`` crop px per feature px ``(sx, sy)`` (the layer's own, measured:
    a crop moved by ``dx`` moves its maps by ``dx / sx``).
    """

    model_id: str
    layer: str
    layers: tuple
    template: str
    transform: tuple
    channels: np.ndarray
    maps: np.ndarray
    raw: np.ndarray
    ranges: np.ndarray
    means: np.ndarray
    shape: tuple
    stride: tuple
    crop: np.ndarray
    seconds: float
    note: str = ""


@dataclass(frozen=True)
class Equivariance:
    """How one layer's maps moved between two crops shifted by ``shift`` feature px: correlation
    with the first crop's maps shifted by that much (``shifted``: 1.0 = they moved with the
    input, equivariant) and not shifted (``unshifted``: 1.0 = they stayed, invariant)."""

    shift: tuple
    shifted: float
    unshifted: float


@dataclass(frozen=True, eq=False)
class Explained:
    """One face through one model for :func:`explain_faces`: the map or the error."""

    key: object
    face_index: int
    model_id: str
    saliency: Saliency | None
    error: str = ""


__all__ = ["METHODS", "MODES", "NO_MOVE", "TITLES", "Equivariance", "Explained", "FeatureMaps",
           "PairSaliency", "Saliency", "SaliencyInfo"]
