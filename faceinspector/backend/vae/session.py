"""What the Morph pane asks of a checkpoint: its summary, a face's chip and reconstruction, a
morph or a traversal strip -- each a plain function returning a frozen dataclass.

Callers hold checkpoint *paths*, never models: models are loaded here and cached per (file,
modification time, device), so a checkpoint that training rewrites is loaded afresh. Importing
this module does not import torch (the functions do, on the worker that calls them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..lru import LRU
from ..types import FaceRef
from .resampling import dims_by_activity

#: (checkpoint path, mtime_ns, device) -> loaded VAE (eval mode)
VAE_MODELS = LRU(3)


def load_vae(path, device: str = "cpu"):
    """The VAE in ``path`` on ``device``, loaded once per version of the file."""
    from .checkpoint import load_checkpoint

    p = Path(path)
    key = (str(p.resolve()), p.stat().st_mtime_ns, str(device))
    model = VAE_MODELS.get(key)
    if model is None:
        model = load_checkpoint(p, device)
        VAE_MODELS.put(key, model)
    return model


@dataclass(frozen=True, eq=False)
class VaeInfo:
    """What the Morph pane shows about a checkpoint, and how to traverse its latents."""

    path: Path
    architecture: str  # "vae" or "dbvae"
    latent_dim: int
    order: np.ndarray  # latent dimensions, most active first (dims_by_activity)
    mean: np.ndarray  # (D,) per-dimension mean of mu ...
    std: np.ndarray  # (D,) ... and spread: traversal ranges are mean ± k·std
    stats_from: str  # "training faces" or "prior samples"
    description: str  # one line: data, steps, loss
    command: str = ""
    device: str = ""
    grid: int = 0  # G: the latent is a G x G map, dimension d = channel d // G^2, cell d % G^2

    def dim_label(self, d: int) -> str:
        """``z17``, or on a latent grid ``z17 (channel 0, x 1, y 1)``: where the cell is."""
        if not self.grid:
            return f"z{d}"
        c, cell = divmod(int(d), self.grid * self.grid)
        return f"z{d} (channel {c}, x {cell % self.grid}, y {cell // self.grid})"


def _describe(meta: dict, latent_dim: int) -> str:
    """One line about a checkpoint: architecture, latent size, data, steps, last L1."""
    data = meta.get("data", {})
    prog = meta.get("progress", {})
    losses = meta.get("last_losses", {})
    parts = [meta.get("architecture", "vae").upper().replace("DBVAE", "DB-VAE"),
             f"latent {latent_dim}"]
    if data.get("count"):
        parts.append(f"{data['count']} faces ({data.get('source', '?')})")
    if prog.get("step"):
        parts.append(f"{prog.get('epoch', 0)} epochs, {prog['step']} steps")
    if "l1" in losses:
        parts.append(f"L1 {losses['l1']:.3f}")
    return " · ".join(parts)


def vae_info(path, device: str = "cpu") -> VaeInfo:
    """Load a checkpoint and rank its latent dimensions by activity.

    The ranking is :func:`~.resampling.dims_by_activity` over the training faces' mu when the
    checkpoint stores their per-dimension mean/std (``dims_by_activity`` of ``mean ± std``
    orders by ``std``), else over the mu of 256 faces decoded from prior samples and encoded
    again (dimensions the decoder ignores come back near 0: no activity).
    """
    from .latent import decode, encode

    model = load_vae(path, device)
    meta = model.meta or {}
    d = model.latent_dim
    mean, std = meta.get("latent_mean"), meta.get("latent_std")
    if mean is not None and std is not None and len(mean) == len(std) == d:
        mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        order = dims_by_activity(np.stack([mean - std, mean + std]))
        stats_from = "training faces"
    else:
        z = np.random.default_rng(0).standard_normal((256, d)).astype(np.float32)
        mu = encode(model, decode(model, z))[0]
        mean, std = mu.mean(0), mu.std(0)
        order = dims_by_activity(mu)
        stats_from = "prior samples"
    return VaeInfo(Path(path), meta.get("architecture", "vae"), d, np.asarray(order), mean,
                   np.maximum(std, 1e-6), stats_from, _describe(meta, d),
                   meta.get("command", ""), str(device), int(meta.get("grid", 0)))


@dataclass(frozen=True, eq=False)
class VaeFace:
    """One face for the Morph pane: its 64x64 VAE chip and the VAE's reconstruction.

    ``distance``: dlib's ResNet embedding distance between the chip and the reconstruction,
    both upscaled the same way (:func:`~.identity.identity_distance`); under ``tau`` the
    reconstruction is still the same person. None when it could not be computed
    (``distance_note`` says why)."""

    key: tuple
    label: str
    chip: np.ndarray  # uint8 (64, 64, 3)
    recon: np.ndarray  # uint8 (64, 64, 3)
    checkpoint: Path
    distance: float | None = None
    tau: float = 0.6
    distance_note: str = ""


def _identity_distance(chip: np.ndarray, recon: np.ndarray, device: str):
    """``(distance, note)``: the embedding distance, or None and why (no face-api pack)."""
    from ..assets import AssetError
    from .identity import identity_distance

    try:
        return float(identity_distance(chip, recon, device)[0]), ""
    except (AssetError, OSError, ValueError) as exc:
        return None, f"no identity distance: {' '.join(str(exc).split())}"


def vae_face(backend, path, device: str, face: FaceRef | None = None, *,
             chip: np.ndarray | None = None, label: str | None = None,
             key: tuple | None = None, distance: bool = True) -> VaeFace:
    """A face's VAE chip and its reconstruction by the checkpoint in ``path``.

    Parameters
    ----------
    backend : cuts the chip (``chip_for_face``); unused when ``chip`` is given.
    path, device : the checkpoint and where to run it.
    face : the face; its photo is read again when the reference carries no pixels.
    chip : the chip itself (uint8 ``(64, 64, 3)``), e.g. to reconstruct it with another model.
    label, key : how the caller names the face (default ``face.label`` and ``face.key``).
    distance : also the identity distance between the chip and its reconstruction.
    """
    from .latent import reconstruct

    if chip is None:
        if face is None:
            raise ValueError("vae_face needs a face or a chip")
        from ..images import load_photo
        from .data import chip_for_face

        photo = face.photo if face.photo is not None else load_photo(face.path)
        chip = chip_for_face(backend, photo, face.face)
    chip = np.ascontiguousarray(chip, np.uint8)
    label = label if label is not None else (face.label if face is not None else "")
    key = key if key is not None else (face.key if face is not None else ())
    recon = reconstruct(load_vae(path, device), chip)[0]
    dist, note = _identity_distance(chip, recon, device) if distance else (None, "")
    from .identity import TAU

    return VaeFace(key, label, chip, recon, Path(path), dist, TAU, note)


@dataclass(frozen=True, eq=False)
class VaeStrip:
    """Decoded frames: a morph A -> B or a traversal of one latent dimension."""

    kind: str  # "morph" or "traverse"
    frames: np.ndarray  # uint8 (N, 64, 64, 3)
    values: np.ndarray  # (N,): t in [0, 1] (morph) or the dimension's value (traverse)
    title: str
    checkpoint: Path
    seconds: float = 0.0
    dim: int = -1  # the traversed latent dimension


def vae_morph(path, device: str, chip_a: np.ndarray, chip_b: np.ndarray, steps: int,
              mode: str = "linear", title: str = "") -> VaeStrip:
    """Encode both chips, interpolate (linear or slerp), decode. The first and last frames
    are the two reconstructions."""
    from .latent import morph

    t0 = time.perf_counter()
    frames = morph(load_vae(path, device), chip_a, chip_b, int(steps), mode)
    ts = np.linspace(0.0, 1.0, len(frames)) if len(frames) > 1 else np.zeros(1)
    return VaeStrip("morph", frames, ts, title, Path(path), time.perf_counter() - t0)


def vae_traverse(path, device: str, chip: np.ndarray, dim: int, values,
                 title: str = "") -> VaeStrip:
    """The chip's mu with dimension ``dim`` set to each of ``values``, decoded."""
    from .latent import traverse

    t0 = time.perf_counter()
    values = np.asarray(values, np.float32)
    frames = traverse(load_vae(path, device), chip, int(dim), values)
    return VaeStrip("traverse", frames, values, title, Path(path), time.perf_counter() - t0,
                    int(dim))


__all__ = ["VAE_MODELS", "VaeFace", "VaeInfo", "VaeStrip", "load_vae", "vae_face", "vae_info",
           "vae_morph", "vae_traverse"]
