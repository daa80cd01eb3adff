"""Frames (uint8 ``(N, h, w, 3)``: a morph or a traversal) as one PNG strip or a looping GIF.

Files are written to a temporary name and moved into place. Importing this module does not
import torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import atomic_open


def strip_image(frames, gap: int = 2, background=(255, 255, 255)) -> np.ndarray:
    """Frames ``(N, h, w, 3)`` side by side with ``gap`` px between: uint8 ``(h, N*w + ..., 3)``."""
    f = np.asarray(frames, np.uint8)
    n, h, w, _ = f.shape
    out = np.empty((h, n * w + max(n - 1, 0) * gap, 3), np.uint8)
    out[:] = np.asarray(background, np.uint8)
    for i in range(n):
        out[:, i * (w + gap): i * (w + gap) + w] = f[i]
    return out


def save_strip_png(frames, path, scale: int = 1, gap: int = 2) -> Path:
    """Save frames as one PNG strip (optionally enlarged ``scale`` times, nearest-neighbour)."""
    from PIL import Image

    path = Path(path)
    img = Image.fromarray(strip_image(frames, gap))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    with atomic_open(path) as fh:
        img.save(fh, format="PNG")
    return path


def save_gif(frames, path, duration_ms: int = 100, bounce: bool = True, scale: int = 1) -> Path:
    """Save frames as a looping animated GIF; ``bounce`` plays forward then back."""
    from PIL import Image

    path = Path(path)
    f = list(np.asarray(frames, np.uint8))
    if bounce and len(f) > 2:
        f = f + f[-2:0:-1]
    imgs = [Image.fromarray(a) for a in f]
    if scale > 1:
        imgs = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in imgs]
    with atomic_open(path) as fh:
        imgs[0].save(fh, format="GIF", save_all=True, append_images=imgs[1:],
                     duration=duration_ms, loop=0)
    return path


def save_frames(frames, path, kind: str, scale: int = 1, duration_ms: int = 120) -> Path:
    """Write frames as a PNG strip (``kind="png"``) or a looping GIF (``"gif"``)."""
    if kind == "png":
        return save_strip_png(frames, path, scale=scale)
    if kind == "gif":
        return save_gif(frames, path, duration_ms=duration_ms, scale=scale)
    raise ValueError(f"unknown export kind {kind!r}")


__all__ = ["save_frames", "save_gif", "save_strip_png", "strip_image"]
