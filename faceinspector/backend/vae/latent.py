"""A trained VAE on numpy arrays: encode and decode chips, morph, traverse one dimension.

Chips are uint8 ``(N, 64, 64, 3)`` (or one ``(64, 64, 3)``), latents float32
``(N, latent_dim)``; the model runs in eval mode under ``torch.inference_mode`` on its own
device. The numpy-only statistics of latents (:func:`~.resampling.resampling_weights`,
:func:`~.resampling.dims_by_activity`) are in :mod:`.resampling`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .model import CHIP_SIZE, VAE, DBVAE


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _to_input(chips, device) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` or ``(H, W, 3)`` -> float ``(N, 3, 64, 64)`` in [0, 1]."""
    a = np.asarray(chips)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"chips must be (N, H, W, 3) RGB, got shape {a.shape}")
    t = torch.from_numpy(np.ascontiguousarray(a)).to(device).permute(0, 3, 1, 2).float()
    if a.dtype == np.uint8:
        t = t / 255.0
    if t.shape[-2:] != (CHIP_SIZE, CHIP_SIZE):
        t = F.interpolate(t, size=(CHIP_SIZE, CHIP_SIZE), mode="bilinear", antialias=True,
                          align_corners=False)
    return t


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _batched(model, fn, n: int, batch_size: int):
    model.eval()
    with torch.inference_mode():
        return [fn(slice(i, i + batch_size)) for i in range(0, n, batch_size)]


def encode(model: VAE, chips, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Chips (uint8 ``(N, 64, 64, 3)``, or one ``(64, 64, 3)``) -> float32 ``(mu, logvar)``,
    each ``(N, latent_dim)``. Other chip sizes are resized to 64x64."""
    a = np.asarray(chips)
    a = a[None] if a.ndim == 3 else a
    dev = _model_device(model)

    def run(s):
        mu, lv, _ = model.encode(_to_input(a[s], dev))
        return mu.float().cpu().numpy(), lv.float().cpu().numpy()

    parts = _batched(model, run, len(a), batch_size)
    if not parts:
        d = model.latent_dim
        return np.zeros((0, d), np.float32), np.zeros((0, d), np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def decode(model: VAE, z, batch_size: int = 256) -> np.ndarray:
    """Latents ``(N, latent_dim)`` (or one ``(latent_dim,)``) -> uint8 ``(N, 64, 64, 3)``."""
    z = np.asarray(z, np.float32)
    z = z[None] if z.ndim == 1 else z
    dev = _model_device(model)
    parts = _batched(model, lambda s: _to_uint8(model.decode(torch.from_numpy(z[s]).to(dev))),
                     len(z), batch_size)
    return np.concatenate(parts) if parts else np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)


def reconstruct(model: VAE, chips, batch_size: int = 256) -> np.ndarray:
    """``decode(encode(chips).mu)``: uint8 ``(N, 64, 64, 3)``."""
    return decode(model, encode(model, chips, batch_size)[0], batch_size)


def face_probability(model: DBVAE, chips, batch_size: int = 256) -> np.ndarray:
    """DB-VAE only: ``sigmoid(z0)`` per chip, float32 ``(N,)``."""
    if not model.n_extra:
        raise ValueError("face_probability needs a DB-VAE")
    a = np.asarray(chips)
    a = a[None] if a.ndim == 3 else a
    dev = _model_device(model)
    parts = _batched(model, lambda s: torch.sigmoid(model.encode(_to_input(a[s], dev))[2])
                     .float().cpu().numpy(), len(a), batch_size)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def latent_means(model: VAE, chips, batch_size: int = 256) -> np.ndarray:
    """float32 ``(N, latent_dim)`` mu of each chip (what ``resampling_weights`` takes)."""
    return encode(model, chips, batch_size)[0]


def interpolate(z0, z1, steps: int, mode: str = "linear") -> np.ndarray:
    """``steps`` latents from ``z0`` to ``z1`` (both ends included), float32 ``(steps, D)``.

    ``mode="linear"``: straight line. ``mode="slerp"``: spherical, along the great circle with
    the norm interpolated linearly (keeps midpoints at a typical norm for a Gaussian prior,
    instead of shrinking towards the origin); falls back to linear for (anti)parallel ends.
    """
    z0 = np.asarray(z0, np.float64).reshape(-1)
    z1 = np.asarray(z1, np.float64).reshape(-1)
    if z0.shape != z1.shape:
        raise ValueError("z0 and z1 must have the same size")
    if steps < 1:
        raise ValueError("steps must be >= 1")
    t = np.linspace(0.0, 1.0, steps)[:, None] if steps > 1 else np.zeros((1, 1))
    if mode == "linear":
        return ((1 - t) * z0 + t * z1).astype(np.float32)
    if mode != "slerp":
        raise ValueError("mode must be 'linear' or 'slerp'")
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 < 1e-8 or n1 < 1e-8:
        return ((1 - t) * z0 + t * z1).astype(np.float32)
    u0, u1 = z0 / n0, z1 / n1
    omega = math.acos(float(np.clip(u0 @ u1, -1.0, 1.0)))
    if omega < 1e-4 or math.pi - omega < 1e-4:
        return ((1 - t) * z0 + t * z1).astype(np.float32)
    dirs = (np.sin((1 - t) * omega) * u0 + np.sin(t * omega) * u1) / math.sin(omega)
    return (dirs * ((1 - t) * n0 + t * n1)).astype(np.float32)


def morph(model: VAE, chip_a, chip_b, steps: int = 8, mode: str = "linear") -> np.ndarray:
    """Encode two chips, interpolate their mu, decode: uint8 ``(steps, 64, 64, 3)``.

    The first and last frames are the two reconstructions (not the originals)."""
    mu, _ = encode(model, np.stack([np.asarray(chip_a), np.asarray(chip_b)]))
    return decode(model, interpolate(mu[0], mu[1], steps, mode))


def traverse(model: VAE, chip, dim: int, values) -> np.ndarray:
    """Set latent dimension ``dim`` of the chip's mu to each of ``values``; decode.

    Returns uint8 ``(len(values), 64, 64, 3)``. The checkpoint's ``meta["latent_std"]`` (when
    present) gives each dimension's spread over the training data, e.g. ``values =
    np.linspace(-3, 3, 9) * std[dim] + mean[dim]``."""
    mu, _ = encode(model, chip)
    values = np.asarray(values, np.float32).reshape(-1)
    if not 0 <= dim < mu.shape[1]:
        raise IndexError(f"dim {dim} out of range 0..{mu.shape[1] - 1}")
    z = np.repeat(mu[:1], len(values), 0)
    z[:, dim] = values
    return decode(model, z)


__all__ = ["decode", "encode", "face_probability", "interpolate", "latent_means", "morph",
           "reconstruct", "traverse"]
