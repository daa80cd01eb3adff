"""Layer feature maps for one (moved) crop, and how far they moved between two probe positions.

A convolution is equivariant -- its maps move with the input, by the shift over the layer's
stride -- while pooling and striding make the output only approximately invariant: the Probe
pane shows the maps following its sliders, and :func:`equivariance` measures it.
"""

from __future__ import annotations

import time

import numpy as np

from ..types import Face
from . import heatmap
from .maps import _chip, _lock, _torch_threads
from .results import Equivariance, FeatureMaps


def feature_maps(backend, photo, face: Face, model_id: str, layer: str | None = None,
                 transform=None, template=None, top: int = 16, channels=None, ranges=None,
                 border: str = "reflect") -> FeatureMaps:
    """The ``top`` most active channels of ``layer`` (None: the model's default) for the crop
    moved by ``transform``: one forward pass that stops at the layer (a few ms), so a Probe
    slider can follow it. ``channels`` / ``ranges`` fix the channels and their normalisation
    (from the first call) so the frames of a slider move are comparable."""
    from . import cam

    t0 = time.perf_counter()
    model = backend.model(model_id)
    net = cam.net_of(model)
    if not net.layers:
        raise ValueError(f"{model_id} has no reachable layers: {net.reason}")
    name = layer or net.default
    if name not in net.layers:
        raise ValueError(f"{model_id} has no layer {name!r}; its layers: {', '.join(net.layers)}")
    x, crop, _m, tname, t = _chip(backend, model, photo, face, template, transform, border)
    with _lock(backend):
        _torch_threads(backend)
        act = cam.capture(model, net, x, name)
        stride = cam.layer_stride(model, net, name, act.shape)
    means = act.mean(axis=(1, 2))
    if channels is None:
        channels = np.argsort(-means, kind="stable")[:max(1, int(top))]
    channels = np.asarray(channels, int)
    raw = act[channels]
    if ranges is None:
        ranges = np.stack([raw.min(axis=(1, 2)), raw.max(axis=(1, 2))], 1)
    ranges = np.asarray(ranges, np.float32).reshape(len(channels), 2)
    span = np.maximum(ranges[:, 1] - ranges[:, 0], 1e-12)[:, None, None]
    maps = np.clip((raw - ranges[:, :1, None]) / span, 0, 1).astype(np.float32)
    return FeatureMaps(model_id, name, tuple(net.layers), tname, t, channels, maps,
                       raw.astype(np.float32), ranges, means[channels].astype(np.float32),
                       tuple(act.shape), stride, crop, time.perf_counter() - t0, net.how)


def equivariance(base: FeatureMaps, moved: FeatureMaps) -> Equivariance:
    """How ``moved``'s maps relate to ``base``'s (same model, layer and channels; transforms
    that differ by a shift only): a convolution moves its maps with the input by the shift over
    the layer's stride; pooling and striding make them only approximately follow."""
    if (base.model_id, base.layer) != (moved.model_id, moved.layer) or \
            not np.array_equal(base.channels, moved.channels):
        raise ValueError("equivariance needs two feature maps of one layer and channel set")
    if base.transform[2:] != moved.transform[2:]:
        raise ValueError("equivariance compares shifts only (same angle and scale)")
    sx = (moved.transform[0] - base.transform[0]) / base.stride[0]
    sy = (moved.transform[1] - base.transform[1]) / base.stride[1]
    fh, fw = base.raw.shape[1:]
    bx, by = int(np.ceil(abs(sx))) + 1, int(np.ceil(abs(sy))) + 1
    mask = np.zeros((fh, fw), bool)
    mask[by:fh - by, bx:fw - bx] = True
    shifted = heatmap.shift_maps(base.raw, sx, sy)
    return Equivariance((float(sx), float(sy)), heatmap.correlation(shifted, moved.raw, mask),
                        heatmap.correlation(base.raw, moved.raw, mask))


__all__ = ["equivariance", "feature_maps"]
