"""VAE and DB-VAE on 64x64 face chips: models, losses, data, training, checkpoints, morphing.

The design follows the MIT 6.S191 debiasing lab (Amini et al., "Uncovering and Mitigating
Algorithmic Bias through Learned Latent Structure", AIES 2019):

* encoder: four stride-2 convolutions with 12-24-48-72 filters (5x5, 5x5, 3x3, 3x3, each
  followed by ReLU and batch norm), a 512-unit dense layer, then ``2 * latent`` outputs (mu and
  log-variance) and, for the DB-VAE, one more: the face logit ``z0``;
* decoder: the mirror image (dense to 4x4x72, four stride-2 transposed convolutions), with a
  sigmoid so pixels come out in [0, 1];
* loss per image: ``kl_weight * KL(q(z|x) || N(0, I)) + mean |x - x_hat|`` (L1); the DB-VAE adds
  binary cross-entropy on ``z0`` and applies the VAE term to faces only;
* DB-VAE resampling: per latent dimension a smoothed histogram of the training faces' mu;
  a face's weight is ``1 / density`` of its bin, combined over dimensions (the lab takes the
  max), so faces in sparse regions of latent space (rare poses, lighting, skin tones) are drawn
  more often.

Everything public takes and returns numpy arrays (uint8 ``(N, 64, 64, 3)`` chips, float32
latents) or plain dicts, so the GUI can call it from a worker thread:

* :func:`train` is a generator of progress dicts; it stops between steps when ``cancel`` (a
  ``threading.Event`` or anything with ``is_set()``) is set, saves a checkpoint and resumes from
  one.
* :func:`encode`, :func:`decode`, :func:`reconstruct`, :func:`interpolate`, :func:`morph`,
  :func:`traverse` for the Morph pane; :func:`save_strip_png` and :func:`save_gif` to export.
* :func:`load_checkpoint`, :func:`default_checkpoint` (the VAE shipped in ``resources/vae``).

Chips: a face is aligned to :data:`VAE_TEMPLATE` (64x64). For CelebA's aligned 89x109 images
that is a fixed square crop, the box ``x 9.5..79.5, y 28..98`` (edge coordinates) scaled by
64/70 -- exactly the template applied to the image with CelebA's mean MTCNN landmarks
(DESIGN.md), so chips cut from detected faces in any photo line up with the training data.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .align import TEMPLATES, Template, warp_crop
from .detect import pick_device

__all__ = [
    "CELEBA_BOX", "CHIP_SIZE", "DBVAE", "VAE", "VAE_TEMPLATE", "ChipData", "TrainConfig",
    "build_model", "data_cache_dir", "read_metadata",
    "celeba_chips", "celeba_dir", "chip_for_face", "dbvae_loss", "decode", "default_checkpoint",
    "default_checkpoint_path", "dims_by_activity", "encode", "face_probability", "interpolate",
    "kl_divergence", "latent_means", "load_checkpoint", "load_data", "iter_load_data", "morph",
    "reconstruct", "reconstruction_l1", "resampling_weights", "save_checkpoint", "save_gif",
    "save_strip_png", "strip_image", "train", "traverse", "vae_loss",
]

CHIP_SIZE = 64
FORMAT = "faceinspector-vae/1"
CELEBA_CREDIT = ("Trained on CelebA (Liu, Luo, Wang and Tang, 'Deep Learning Face Attributes in "
                 "the Wild', ICCV 2015; MMLAB, The Chinese University of Hong Kong). CelebA is "
                 "available for non-commercial research purposes only.")

#: CelebA's aligned 89x109 images -> chip: the square ``(x0, y0, side)`` in edge coordinates.
CELEBA_BOX = (9.5, 28.0, 70.0)
_CELEBA_W, _CELEBA_H = 89, 109


def _vae_template() -> Template:
    celeba = TEMPLATES["celeba"].points  # normalised to the 178x218 (= 2 x 89x109) image
    x0, y0, side = CELEBA_BOX
    pts = (celeba * np.array([_CELEBA_W, _CELEBA_H]) - np.array([x0, y0])) / side
    return Template("vae-64", (CHIP_SIZE, CHIP_SIZE), pts,
                    description="The VAE's 64x64 chip: CelebA's aligned face, eyes at 41 % of "
                                "the height, chin near the bottom edge.")


#: Where the VAE wants the five MTCNN points (pass it to ``Backend.crop`` / ``align.make_crop``).
VAE_TEMPLATE = _vae_template()


# =============================================================================== models


class VAE(nn.Module):
    """The 6.S191 64x64 VAE. ``forward`` takes float ``(N, 3, 64, 64)`` in [0, 1].

    Parameters
    ----------
    latent_dim : size of z (100).
    n_filters : base filter count; the encoder uses 1, 2, 4, 6 times it (12-24-48-72).
    """

    arch = "vae"
    n_extra = 0  # extra encoder outputs before mu/logvar (the DB-VAE's face logit)

    def __init__(self, latent_dim: int = 100, n_filters: int = 12):
        super().__init__()
        self.latent_dim, self.n_filters = int(latent_dim), int(n_filters)
        n = self.n_filters
        self.encoder = nn.Sequential(
            nn.Conv2d(3, n, 5, 2, 2), nn.ReLU(), nn.BatchNorm2d(n),
            nn.Conv2d(n, 2 * n, 5, 2, 2), nn.ReLU(), nn.BatchNorm2d(2 * n),
            nn.Conv2d(2 * n, 4 * n, 3, 2, 1), nn.ReLU(), nn.BatchNorm2d(4 * n),
            nn.Conv2d(4 * n, 6 * n, 3, 2, 1), nn.ReLU(), nn.BatchNorm2d(6 * n),
            nn.Flatten(), nn.Linear(6 * n * 16, 512), nn.ReLU(),
            nn.Linear(512, 2 * self.latent_dim + self.n_extra),
        )
        self.decoder = nn.Sequential(
            nn.Linear(self.latent_dim, 6 * n * 16), nn.ReLU(), nn.Unflatten(1, (6 * n, 4, 4)),
            nn.ConvTranspose2d(6 * n, 4 * n, 3, 2, 1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(4 * n, 2 * n, 3, 2, 1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(2 * n, n, 5, 2, 2, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(n, 3, 5, 2, 2, output_padding=1), nn.Sigmoid(),
        )
        self.meta: dict = {}

    def encode(self, x: torch.Tensor):
        """-> ``(mu, logvar, logit)``; ``logit`` is None for the plain VAE."""
        h = self.encoder(x)
        d = self.latent_dim
        logit = h[:, 0] if self.n_extra else None
        h = h[:, self.n_extra:]
        return h[:, :d], h[:, d:], logit

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Reparameterisation: ``z = mu + exp(logvar / 2) * eps``."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar, logit = self.encode(x)
        z = self.sample(mu, logvar) if self.training else mu
        out = {"recon": self.decode(z), "mu": mu, "logvar": logvar, "z": z}
        if logit is not None:
            out["logit"] = logit
        return out

    def config(self) -> dict:
        return {"architecture": self.arch, "latent_dim": self.latent_dim,
                "n_filters": self.n_filters, "input_size": [CHIP_SIZE, CHIP_SIZE]}


class DBVAE(VAE):
    """Debiasing VAE: the encoder also outputs ``z0``, the face/not-face logit."""

    arch = "dbvae"
    n_extra = 1


def build_model(architecture: str = "vae", latent_dim: int = 100, n_filters: int = 12) -> VAE:
    classes = {"vae": VAE, "dbvae": DBVAE}
    if architecture not in classes:
        raise ValueError(f"unknown architecture {architecture!r}; known: vae, dbvae")
    return classes[architecture](latent_dim, n_filters)


# =============================================================================== losses


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per sample: ``0.5 sum(e^lv + mu^2 - 1 - lv)``."""
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(1)


def reconstruction_l1(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Mean absolute pixel error per sample."""
    return (x - recon).abs().flatten(1).mean(1)


def vae_loss(x, recon, mu, logvar, kl_weight: float = 5e-4):
    """Per-sample ``(total, l1, kl)`` with ``total = kl_weight * kl + l1``."""
    l1 = reconstruction_l1(x, recon)
    kl = kl_divergence(mu, logvar)
    return kl_weight * kl + l1, l1, kl


def dbvae_loss(x, recon, mu, logvar, logit, is_face, kl_weight: float = 5e-4):
    """DB-VAE loss: ``mean(BCE(z0, y) + y * vae_loss)``.

    Returns a dict of scalars: ``loss`` (to minimise), ``cls`` (mean BCE), ``l1`` and ``kl``
    (means over the faces, 0 when the batch has none) and ``acc`` (face/not-face accuracy).
    """
    y = is_face.float()
    cls = F.binary_cross_entropy_with_logits(logit, y, reduction="none")
    total, l1, kl = vae_loss(x, recon, mu, logvar, kl_weight)
    n_faces = y.sum().clamp(min=1.0)
    return {"loss": (cls + y * total).mean(), "cls": cls.mean(),
            "l1": (y * l1).sum() / n_faces, "kl": (y * kl).sum() / n_faces,
            "acc": ((logit > 0).float() == y).float().mean()}


# ============================================================================ resampling


def resampling_weights(mu, bins: int = 10, smoothing: float = 1e-3,
                       combine: str = "max") -> np.ndarray:
    """DB-VAE sampling probabilities from the latent means of the training faces.

    Per latent dimension, a histogram of ``mu[:, d]`` (``bins`` bins, as a density) plus
    ``smoothing`` and renormalised; a face's score in that dimension is ``1 / density`` of its
    bin, normalised to sum to 1 over the faces. Scores are combined over dimensions by their
    ``"max"`` (the 6.S191 lab) or their ``"product"`` (the inverse of the joint density if the
    dimensions were independent; computed in log space).

    Parameters
    ----------
    mu : ``(N, D)`` latent means.

    Returns
    -------
    float64 ``(N,)`` probabilities summing to 1; rare faces get the large ones.
    """
    mu = np.asarray(mu, np.float64)
    if mu.ndim != 2 or len(mu) == 0:
        raise ValueError("mu must be a non-empty (N, D) array")
    n, d = mu.shape
    logp = np.empty((d, n))
    for j in range(d):
        density, edges = np.histogram(mu[:, j], bins=bins, density=True)
        density = density + smoothing
        density = density / density.sum()
        idx = np.clip(np.digitize(mu[:, j], edges[1:-1]), 0, bins - 1)
        p = 1.0 / density[idx]
        logp[j] = np.log(p / p.sum())
    if combine == "max":
        w = np.exp(logp.max(0))
    elif combine == "product":
        s = logp.sum(0)
        w = np.exp(s - s.max())
    else:
        raise ValueError("combine must be 'max' or 'product'")
    return w / w.sum()


def dims_by_activity(mu) -> np.ndarray:
    """Latent dimensions sorted by the variance of ``mu`` over a set of faces, most used first
    (a VAE leaves many dimensions near the prior; traversing those changes nothing)."""
    return np.argsort(-np.asarray(mu, np.float64).var(0), kind="stable")


# =========================================================================== numpy API


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
    """float32 ``(N, latent_dim)`` mu of each chip (what :func:`resampling_weights` takes)."""
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


def chip_for_face(backend, photo, face, border: str = "reflect") -> np.ndarray:
    """The 64x64 chip the VAE expects for a detected face (uint8 ``(64, 64, 3)``)."""
    return backend.crop(photo, face, VAE_TEMPLATE, size=(CHIP_SIZE, CHIP_SIZE),
                        border=border).pixels


# ============================================================================ exports


def strip_image(frames, gap: int = 2, background=(255, 255, 255)) -> np.ndarray:
    """Frames ``(N, h, w, 3)`` side by side with ``gap`` px between: uint8 ``(h, N*w + ..., 3)``."""
    f = np.asarray(frames, np.uint8)
    n, h, w, _ = f.shape
    out = np.empty((h, n * w + max(n - 1, 0) * gap, 3), np.uint8)
    out[:] = np.asarray(background, np.uint8)
    for i in range(n):
        out[:, i * (w + gap): i * (w + gap) + w] = f[i]
    return out


def _atomic_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def save_strip_png(frames, path, scale: int = 1, gap: int = 2) -> Path:
    """Save frames as one PNG strip (optionally enlarged ``scale`` times, nearest-neighbour)."""
    from PIL import Image

    path = Path(path)
    img = Image.fromarray(strip_image(frames, gap))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    tmp = _atomic_path(path)
    img.save(tmp, format="PNG")
    os.replace(tmp, path)
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
    tmp = _atomic_path(path)
    imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:],
                 duration=duration_ms, loop=0)
    os.replace(tmp, path)
    return path


# ========================================================================= checkpoints


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = _atomic_path(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_checkpoint(path, model: VAE, meta: dict | None = None,
                    optimizer: torch.optim.Optimizer | None = None, sidecar: bool = True,
                    state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write ``model`` (and the optimizer's state, for resuming) to a safetensors file.

    ``state``: more tensors to keep for resuming (RNG states, resampling weights), stored as
    ``state.<name>``.

    The JSON metadata (``model.config()`` merged with ``meta``) lives in the safetensors header
    under ``"faceinspector"``; ``sidecar=True`` also writes it to ``PATH.json`` for people.
    Both files are written to a temporary name and moved into place (``os.replace``), so a
    crash never leaves a half-written checkpoint.
    """
    from safetensors.torch import save as st_save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    full = {"format": FORMAT, **model.config(), **(meta or {})}
    for k, v in (state or {}).items():
        tensors[f"state.{k}"] = v.detach().cpu().contiguous()
    if optimizer is not None:
        sd = optimizer.state_dict()
        extra = {}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"optim.{pid}.{k}"] = v.detach().cpu().contiguous()
                else:
                    extra[f"{pid}.{k}"] = v
        full["optimizer"] = {"type": type(optimizer).__name__, "param_groups": sd["param_groups"],
                             "scalars": extra}
    text = json.dumps(full, indent=1, default=_json_default)
    _atomic_write_bytes(path, st_save(tensors, metadata={"faceinspector": text}))
    if sidecar:
        _atomic_write_bytes(path.with_suffix(path.suffix + ".json"), text.encode() + b"\n")
    return path


def _json_default(o):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_metadata(path) -> dict:
    """The JSON metadata of a checkpoint, without loading its tensors."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        header = fh.metadata() or {}
    if "faceinspector" not in header:
        raise ValueError(f"{path}: not a FaceInspector VAE checkpoint (no metadata)")
    return json.loads(header["faceinspector"])


def load_checkpoint(path, device="cpu", with_state: bool = False):
    """Load a checkpoint: the model (eval mode, on ``device``) with ``model.meta`` set.

    With ``with_state=True`` returns ``(model, {"optimizer": state_dict or None, "tensors":
    {name: tensor}})`` -- what :func:`train` needs to resume.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no VAE checkpoint at {path}")
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format {meta.get('format')!r}")
    tensors = load_file(str(path), device="cpu")
    model = build_model(meta["architecture"], meta["latent_dim"], meta["n_filters"])
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    model.meta = meta
    model.to(pick_device(device)).eval()
    if not with_state:
        return model
    opt = None
    if "optimizer" in meta:
        state: dict = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, pid, name = k.split(".", 2)
                state.setdefault(int(pid), {})[name] = v
        for k, v in meta["optimizer"].get("scalars", {}).items():
            pid, name = k.split(".", 1)
            state.setdefault(int(pid), {})[name] = v
        opt = {"state": state, "param_groups": meta["optimizer"]["param_groups"]}
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("state.")}
    return model, {"optimizer": opt, "tensors": extra}


def default_checkpoint_path() -> Path:
    """The VAE shipped with the app (trained on CelebA 1-9,000; see its ``.json``)."""
    from .._paths import RESOURCES

    return RESOURCES / "vae" / "vae_celeba64.safetensors"


def default_checkpoint(device="cpu") -> VAE:
    """Load the shipped VAE (:func:`default_checkpoint_path`)."""
    return load_checkpoint(default_checkpoint_path(), device)


# ================================================================================ data


@dataclass
class ChipData:
    """Training data: face chips, their names, and (optional) non-face chips for the DB-VAE."""

    chips: np.ndarray  # uint8 (N, 64, 64, 3)
    names: list[str] = field(default_factory=list)
    negatives: np.ndarray | None = None  # uint8 (M, 64, 64, 3)
    description: str = ""


def celeba_dir() -> Path:
    """``$FACEINSPECTOR_CELEBA`` or ``../shared/data/celeba/img_align_89x109``."""
    env = os.environ.get("FACEINSPECTOR_CELEBA")
    if env:
        return Path(env).expanduser()
    from .._paths import SHARED_DATA

    return SHARED_DATA / "celeba" / "img_align_89x109"


def _celeba_matrix(w: int, h: int) -> np.ndarray:
    """Photo -> chip matrix for an aligned CelebA image of size ``w x h`` (89x109 or 178x218)."""
    k = w / _CELEBA_W
    x0, y0, side = (v * k for v in CELEBA_BOX)
    s = CHIP_SIZE / side
    return np.array([[s, 0.0, s * (0.5 - x0) - 0.5], [0.0, s, s * (0.5 - y0) - 0.5]])


def data_cache_dir() -> Path:
    """Where prepared chips are cached: ``<user cache dir>/vae``."""
    from .assets import cache_dir

    return cache_dir() / "vae"


def _cache_file(key: dict) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return data_cache_dir() / f"chips-{key.get('kind', 'data')}-{digest}.npz"


def _load_cache(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _save_cache(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _celeba_negatives(img: np.ndarray, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Random squares of an aligned CelebA image that avoid the face (hair, background)."""
    h, w = img.shape[:2]
    k = w / _CELEBA_W
    face = np.array([22, 40, 67, 102]) * k  # x1 y1 x2 y2: brows to chin, cheek to cheek
    out = []
    for _ in range(20 * n):
        if len(out) == n:
            break
        side = rng.uniform(16, 34) * k
        x, y = rng.uniform(0, w - side), rng.uniform(0, h - side)
        ix = max(0.0, min(x + side, face[2]) - max(x, face[0]))
        iy = max(0.0, min(y + side, face[3]) - max(y, face[1]))
        if ix * iy <= 0.1 * side * side:
            out.append(_square_chip(img, x, y, side))
    return out


def _square_chip(img: np.ndarray, x: float, y: float, side: float) -> np.ndarray:
    s = CHIP_SIZE / side
    m = np.array([[s, 0.0, -s * x - 0.5 + 0.5 * s], [0.0, s, -s * y - 0.5 + 0.5 * s]])
    return warp_crop(img, m, CHIP_SIZE, border="replicate")


def celeba_chips(first: int = 1, last: int = 9000, root=None, cache: bool = True,
                 negatives_per_image: int = 0, seed: int = 0, progress=None,
                 cancel=None) -> ChipData:
    """CelebA images ``first..last`` (1-based file numbers) as 64x64 VAE chips (cached)."""
    it = _iter_celeba(first, last, root, cache, negatives_per_image, seed, cancel)
    return _drain(it, progress)


def _drain(it, progress):
    try:
        while True:
            p = next(it)
            if progress is not None:
                progress(p)
    except StopIteration as stop:
        return stop.value


def _iter_celeba(first, last, root, cache, negatives_per_image, seed, cancel):
    from PIL import Image

    root = Path(root) if root else celeba_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"CelebA images not found at {root} (set FACEINSPECTOR_CELEBA "
                                "or pass a folder)")
    names = [f"{i:06d}.jpg" for i in range(first, last + 1)]
    names = [n for n in names if (root / n).is_file()]
    if not names:
        raise FileNotFoundError(f"no CelebA images {first:06d}..{last:06d} in {root}")
    key = {"kind": "celeba", "root": str(root.resolve()), "first": first, "last": last,
           "n": len(names), "box": CELEBA_BOX, "neg": negatives_per_image, "seed": seed,
           "v": 1}
    desc = (f"CelebA aligned images {names[0][:-4]}-{names[-1][:-4]} ({len(names)}) from "
            f"{root}, square box x {CELEBA_BOX[0]}..{CELEBA_BOX[0] + CELEBA_BOX[2]}, "
            f"y {CELEBA_BOX[1]}..{CELEBA_BOX[1] + CELEBA_BOX[2]} of 89x109 -> 64x64 (bilinear)")
    cfile = _cache_file(key)
    if cache and (hit := _load_cache(cfile)) is not None and len(hit["chips"]) == len(names):
        yield {"phase": "data", "done": len(names), "total": len(names), "cached": str(cfile)}
        return ChipData(hit["chips"], names, hit.get("negatives"), desc)
    chips = np.empty((len(names), CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    negs: list[np.ndarray] = []
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for i, n in enumerate(names):
        if cancel is not None and cancel.is_set():
            raise _Cancelled()
        with Image.open(root / n) as im:
            img = np.asarray(im.convert("RGB"))
        chips[i] = warp_crop(img, _celeba_matrix(img.shape[1], img.shape[0]), CHIP_SIZE,
                             border="replicate")
        if negatives_per_image:
            negs += _celeba_negatives(img, rng, negatives_per_image)
        if (i + 1) % 500 == 0 or i + 1 == len(names):
            yield {"phase": "data", "done": i + 1, "total": len(names),
                   "seconds": time.perf_counter() - t0}
    neg = np.stack(negs) if negs else None
    if cache:
        _save_cache(cfile, chips=chips, **({"negatives": neg} if neg is not None else {}))
    return ChipData(chips, names, neg, desc)


class _Cancelled(Exception):
    pass


def _looks_aligned(paths: list[Path]) -> bool:
    from PIL import Image

    for p in paths[:8]:
        try:
            with Image.open(p) as im:
                w, h = im.size
        except OSError:
            continue
        if max(w, h) > 160 or not 0.75 <= w / h <= 1.34:
            return False
    return True


def _iter_folder(folder, aligned, backend, cache, negatives_per_photo, seed, cancel, limit):
    from PIL import Image

    from .images import iter_image_paths, load_photo

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"not a folder: {folder}")
    paths = sorted(iter_image_paths(folder))
    if limit:
        paths = paths[:limit]
    if not paths:
        raise FileNotFoundError(f"no images in {folder}")
    if aligned is None:
        aligned = _looks_aligned(paths)
    listing = [(str(p.relative_to(folder)), p.stat().st_size, int(p.stat().st_mtime))
               for p in paths]
    key = {"kind": "aligned" if aligned else "photos", "root": str(folder.resolve()),
           "files": hashlib.sha1(json.dumps(listing).encode()).hexdigest(),
           "neg": negatives_per_photo, "seed": seed, "template": VAE_TEMPLATE.points.tolist(),
           "v": 1}
    cfile = _cache_file(key)
    if cache and (hit := _load_cache(cfile)) is not None:
        yield {"phase": "data", "done": len(paths), "total": len(paths), "cached": str(cfile)}
        return ChipData(hit["chips"], [str(s) for s in hit["names"]], hit.get("negatives"),
                        str(hit["description"]))
    chips, names, negs = [], [], []
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    if not aligned and backend is None:
        from .facade import Backend

        backend = Backend()
    for i, p in enumerate(paths):
        if cancel is not None and cancel.is_set():
            raise _Cancelled()
        try:
            photo = load_photo(p)
        except ValueError:
            continue
        rel = str(p.relative_to(folder))
        if aligned:
            px = photo.pixels
            h, w = px.shape[:2]
            s = min(h, w)
            sq = px[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
            chips.append(np.asarray(Image.fromarray(sq).resize((CHIP_SIZE, CHIP_SIZE),
                                                               Image.BILINEAR)))
            names.append(rel)
        else:
            faces = [f for f in backend.detect(photo).faces if f.score >= 0.9]
            for j, f in enumerate(faces):
                chips.append(chip_for_face(backend, photo, f))
                names.append(f"{rel}#face{j}")
            if negatives_per_photo:
                negs += _background_crops(photo.pixels, [f.box for f in faces], rng,
                                          negatives_per_photo)
        if (i + 1) % 20 == 0 or i + 1 == len(paths):
            yield {"phase": "data", "done": i + 1, "total": len(paths), "faces": len(chips),
                   "seconds": time.perf_counter() - t0}
    if not chips:
        raise ValueError(f"no faces found in {folder}")
    desc = (f"{len(chips)} chips from {len(paths)} "
            + (f"aligned crops in {folder} (centre square, resized to 64x64)" if aligned else
               f"photos in {folder} (MTCNN, score >= 0.9, aligned to the vae-64 template)"))
    arr = np.stack(chips)
    neg = np.stack(negs) if negs else None
    if cache:
        extra = {"negatives": neg} if neg is not None else {}
        _save_cache(cfile, chips=arr, names=np.array(names), description=np.array(desc),
                    **extra)
    return ChipData(arr, names, neg, desc)


def _background_crops(px: np.ndarray, boxes, rng, n: int) -> list[np.ndarray]:
    """Random squares of a photo that stay clear of every face box (grown by 30 %)."""
    h, w = px.shape[:2]
    grown = []
    for x1, y1, x2, y2 in boxes:
        mx, my = 0.3 * (x2 - x1), 0.3 * (y2 - y1)
        grown.append((x1 - mx, y1 - my, x2 + mx, y2 + my))
    out = []
    lo, hi = 0.1 * min(h, w), 0.5 * min(h, w)
    for _ in range(30 * n):
        if len(out) == n or hi < 8:
            break
        side = rng.uniform(lo, hi)
        x, y = rng.uniform(0, w - side), rng.uniform(0, h - side)
        if all(x + side <= b[0] or x >= b[2] or y + side <= b[1] or y >= b[3] for b in grown):
            out.append(_square_chip(px, x, y, side))
    return out


def iter_load_data(source: str, limit: int | None = None, *, aligned: bool | None = None,
                   negatives: int = 0, backend=None, cache: bool = True, seed: int = 0,
                   cancel=None) -> Iterator[dict]:
    """Generator form of :func:`load_data`: yields ``{"phase": "data", "done", "total"}`` dicts
    and *returns* the :class:`ChipData` (``data = yield from iter_load_data(...)``)."""
    if source == "celeba":
        return (yield from _iter_celeba(1, limit or 9000, None, cache, negatives, seed, cancel))
    return (yield from _iter_folder(source, aligned, backend, cache, negatives, seed, cancel,
                                    limit))


def load_data(source: str, limit: int | None = None, *, aligned: bool | None = None,
              negatives: int = 0, backend=None, cache: bool = True, seed: int = 0,
              progress: Callable[[dict], None] | None = None, cancel=None) -> ChipData:
    """Training chips from ``"celeba"`` (images 1..limit, default 9,000) or a folder.

    A folder of photos: faces are found by MTCNN (``backend``, default a new ``Backend()``) and
    aligned to :data:`VAE_TEMPLATE`; a folder of already aligned crops (``aligned=True``, or
    auto-detected when its images are small and about square): centre square resized to 64x64.
    ``limit`` caps the number of files. ``negatives`` non-face chips per photo for the DB-VAE:
    random background squares clear of the faces (for CelebA, squares of hair and background
    beside the aligned face). Results are cached as ``.npz`` under the user cache dir
    (``faceinspector/vae``), keyed on the file list, sizes and times.
    """
    return _drain(iter_load_data(source, limit, aligned=aligned, negatives=negatives,
                                 backend=backend, cache=cache, seed=seed, cancel=cancel),
                  progress)


# ============================================================================ training


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored in the checkpoint's metadata).

    ``epochs`` is the total: resuming a checkpoint that has done 10 of them with ``epochs=15``
    runs 5 more. ``threads``: ``torch.set_num_threads`` for the run (None: leave as is).
    ``checkpoint_every``: also save every N steps (0: at the end of each epoch only).
    ``lr_schedule``: ``"constant"`` or ``"cosine"`` (from ``lr`` down to ``lr / 20`` at the last
    step of ``epochs``; a function of the position, so resuming follows the same curve).
    """

    data: str = "celeba"
    limit: int | None = 9000
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    dbvae: bool = False
    latent_dim: int = 100
    n_filters: int = 12
    kl_weight: float = 5e-4
    flip: bool = True
    aligned: bool | None = None
    negatives: int = 2
    resample_bins: int = 10
    resample_smoothing: float = 1e-3
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    out: str | None = None
    sample_every: int = 100
    n_samples: int = 8
    checkpoint_every: int = 0
    command: str = ""


def _set_lr(opt, lr):
    for g in opt.param_groups:
        g["lr"] = lr


def _lr_at(cfg: TrainConfig, done: float) -> float:
    """Learning rate after ``done`` (0..1) of the run."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule != "cosine":
        raise ValueError("lr_schedule must be 'constant' or 'cosine'")
    lo = cfg.lr / 20
    return lo + 0.5 * (cfg.lr - lo) * (1 + math.cos(math.pi * min(max(done, 0.0), 1.0)))


def train(config: TrainConfig, *, data: ChipData | None = None, resume=None, cancel=None,
          backend=None) -> Iterator[dict]:
    """Train a VAE or DB-VAE; a generator of progress dicts.

    Parameters
    ----------
    config : :class:`TrainConfig`.
    data : chips to train on (default: :func:`iter_load_data` on ``config.data``).
    resume : a checkpoint path to continue from (model, optimizer, epoch and batch position;
        the architecture must match).
    cancel : ``threading.Event`` (anything with ``is_set()``): checked between steps; when set,
        the run saves a checkpoint (if ``config.out``) and ends with ``phase == "done"`` and
        ``cancelled == True``.

    Yields
    ------
    dict with ``phase``:

    * ``"data"``: ``done``, ``total`` (loading and caching chips);
    * ``"weights"`` (DB-VAE, each epoch): ``weights`` float64 ``(N,)`` sampling probabilities
      of the training faces (:func:`resampling_weights`), their ``names`` and ``chips`` (the
      training chips themselves, uint8 ``(N, 64, 64, 3)``, not a copy: read, don't modify), so
      a caller can show which faces the weights favour;
    * ``"train"`` (each step): ``step``, ``epoch`` (0-based), ``epochs``, ``batch``,
      ``batches``, ``loss``, ``l1``, ``kl`` (and ``cls``, ``acc`` for the DB-VAE),
      ``images_per_s`` (over the last ~2 s), ``elapsed_s``, ``device``; every
      ``sample_every`` steps also ``samples = {"original", "reconstruction"}`` (uint8
      ``(k, 64, 64, 3)``);
    * ``"checkpoint"``: ``path``, ``step``;
    * ``"done"``: ``model`` (eval mode), ``checkpoint`` (path or None), ``cancelled``,
      ``step``, ``epoch``, ``seconds``, ``images_per_s`` (mean over the run).
    """
    cfg = config
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    device = pick_device(cfg.device)
    arch = "dbvae" if cfg.dbvae else "vae"
    try:
        if data is None:
            data = yield from iter_load_data(cfg.data, cfg.limit, aligned=cfg.aligned,
                                             negatives=cfg.negatives if cfg.dbvae else 0,
                                             backend=backend, seed=cfg.seed, cancel=cancel)
    except _Cancelled:
        yield {"phase": "done", "cancelled": True, "model": None, "checkpoint": None,
               "step": 0, "epoch": 0, "seconds": 0.0, "images_per_s": 0.0}
        return
    chips = torch.from_numpy(np.ascontiguousarray(data.chips)).permute(0, 3, 1, 2).contiguous()
    n = len(chips)
    negs = None
    if cfg.dbvae:
        if data.negatives is None or not len(data.negatives):
            raise ValueError("the DB-VAE needs non-face chips (negatives) in the data")
        negs = torch.from_numpy(np.ascontiguousarray(data.negatives)).permute(0, 3, 1, 2)
        negs = negs.contiguous().to(device)
    chips = chips.to(device)

    torch.manual_seed(cfg.seed)
    model = build_model(arch, cfg.latent_dim, cfg.n_filters).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    epoch, batch0, step, history, seconds_before, images_before = 0, 0, 0, [], 0.0, 0
    resumed_state: dict[str, torch.Tensor] = {}
    if resume:
        old, saved = load_checkpoint(resume, device, with_state=True)
        if old.config() != model.config():
            raise ValueError(f"cannot resume {resume}: it is {old.config()}, this run is "
                             f"{model.config()}")
        model.load_state_dict(old.state_dict())
        if saved["optimizer"] is not None:
            opt.load_state_dict(saved["optimizer"])
        _set_lr(opt, cfg.lr)
        resumed_state = saved["tensors"]
        prog = old.meta.get("progress", {})
        epoch, batch0, step = prog.get("epoch", 0), prog.get("batch", 0), prog.get("step", 0)
        seconds_before = prog.get("seconds", 0.0)
        images_before = prog.get("images", 0)
        history = list(old.meta.get("history", []))
        del old
    history.append({"command": cfg.command, "from_step": step,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    half = cfg.batch_size // 2 if cfg.dbvae else cfg.batch_size
    batches = max(1, n // half)
    sample_idx = torch.linspace(0, n - 1, min(cfg.n_samples, n)).long()
    dev_name = (f"CUDA ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
                else f"CPU ({torch.get_num_threads()} threads)")
    t_start = time.perf_counter()
    images = 0
    win_t, win_n, rate = t_start, 0, 0.0
    last: dict = {}
    weights = None
    cancelled = False

    def save(path, final=False):
        meta = {
            "data": {"source": cfg.data, "description": data.description, "count": n,
                     "negatives": 0 if negs is None else len(negs)},
            "credit": CELEBA_CREDIT if cfg.data == "celeba" else "",
            "template": {"name": VAE_TEMPLATE.name, "size": list(VAE_TEMPLATE.size),
                         "points": VAE_TEMPLATE.points.tolist()},
            "loss": {"kl_weight": cfg.kl_weight, "reconstruction": "L1 (mean over pixels)",
                     **({"classification": "BCE on z0"} if cfg.dbvae else {})},
            "train_config": {k: v for k, v in asdict(cfg).items() if k != "command"},
            "command": history[0]["command"] if len(history) == 1 else cfg.command,
            "history": history[:-1] + [{**history[-1], "to_step": step}],
            "progress": {"epoch": epoch, "batch": batch, "step": step,
                         "seconds": seconds_before + time.perf_counter() - t_start,
                         "images": images_before + images},
            "last_losses": {k: last[k] for k in ("loss", "l1", "kl", "cls", "acc") if k in last},
            "device": dev_name,
            "torch": torch.__version__,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        prog = meta["progress"]
        prog["images_per_s"] = round(prog["images"] / prog["seconds"], 1) if prog["seconds"] else 0
        if final:
            mu = encode(model, data.chips[:: max(1, n // 2000)])[0]
            meta["latent_mean"] = mu.mean(0).round(5).tolist()
            meta["latent_std"] = mu.std(0).round(5).tolist()
            model.train()
        state = {"rng_cpu": torch.get_rng_state()}
        if device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(device)
        if weights is not None:
            state["resample_weights"] = torch.from_numpy(weights)
        save_checkpoint(path, model, meta, opt, state=state)
        model.meta = meta
        return {"phase": "checkpoint", "path": str(path), "step": step}

    batch = batch0
    if "rng_cpu" in resumed_state:  # the same noise and flips as an uninterrupted run
        torch.set_rng_state(resumed_state["rng_cpu"])
    if "rng_cuda" in resumed_state and device.type == "cuda":
        torch.cuda.set_rng_state(resumed_state["rng_cuda"], device)
    model.train()
    while epoch < cfg.epochs and not cancelled:
        rng = np.random.default_rng([cfg.seed, epoch])
        if cfg.dbvae:
            w_saved = resumed_state.pop("resample_weights", None)
            if batch > 0 and w_saved is not None and len(w_saved) == n:
                weights = w_saved.double().numpy()  # mid-epoch resume: this epoch's weights
            else:
                mu = latent_means(model, data.chips)
                weights = resampling_weights(mu, cfg.resample_bins, cfg.resample_smoothing)
                model.train()
            yield {"phase": "weights", "epoch": epoch, "weights": weights, "names": data.names,
                   "chips": data.chips}
            order = rng.choice(n, size=batches * half, p=weights)
            neg_order = rng.integers(0, len(negs), size=batches * half)
        else:
            order = rng.permutation(n)
        while batch < batches:
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            idx = torch.from_numpy(order[batch * half:(batch + 1) * half]).to(device)
            x = chips[idx]
            if cfg.dbvae:
                nidx = torch.from_numpy(neg_order[batch * half:(batch + 1) * half]).to(device)
                x = torch.cat([x, negs[nidx]])
                y = torch.cat([torch.ones(half, device=device), torch.zeros(half, device=device)])
            x = x.float().div_(255.0)
            lr = _lr_at(cfg, (epoch * batches + batch) / (cfg.epochs * batches))
            _set_lr(opt, lr)
            if cfg.flip:
                flip = torch.rand(len(x), device=device) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
            out = model(x)
            if cfg.dbvae:
                terms = dbvae_loss(x, out["recon"], out["mu"], out["logvar"], out["logit"], y,
                                   cfg.kl_weight)
                loss = terms["loss"]
            else:
                total, l1, kl = vae_loss(x, out["recon"], out["mu"], out["logvar"], cfg.kl_weight)
                loss = total.mean()
                terms = {"loss": loss, "l1": l1.mean(), "kl": kl.mean()}
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            batch += 1
            images += len(x)
            win_n += len(x)
            now = time.perf_counter()
            if now - win_t >= 2.0 or rate == 0.0:
                rate = win_n / max(now - win_t, 1e-9)
                win_t, win_n = now, 0
            last = {k: float(v.detach()) for k, v in terms.items()}
            msg = {"phase": "train", "step": step, "epoch": epoch, "epochs": cfg.epochs,
                   "batch": batch, "batches": batches, **last, "lr": lr, "images_per_s": rate,
                   "elapsed_s": now - t_start, "device": dev_name}
            if cfg.sample_every and (step % cfg.sample_every == 0 or step == 1):
                orig = data.chips[sample_idx.numpy()]
                msg["samples"] = {"original": orig, "reconstruction": reconstruct(model, orig)}
                model.train()
                win_t = time.perf_counter() - (now - win_t)  # do not count sampling time
            yield msg
            if cfg.out and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                yield save(cfg.out)
        if batch >= batches:
            epoch += 1
            batch = 0
            if cfg.out and epoch < cfg.epochs:
                yield save(cfg.out)
    model.eval()
    path = None
    if cfg.out:
        yield save(cfg.out, final=not cancelled)
        path = str(cfg.out)
    secs = time.perf_counter() - t_start
    if not cfg.out:
        model.meta = {**model.config(), "progress": {"epoch": epoch, "batch": batch,
                                                     "step": step}}
    yield {"phase": "done", "model": model.eval(), "checkpoint": path, "cancelled": cancelled,
           "step": step, "epoch": epoch, "seconds": secs,
           "images_per_s": images / secs if secs else 0.0, "weights": weights}
