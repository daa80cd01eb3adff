"""The 64x64 VAE and DB-VAE networks and their losses (MIT 6.S191 debiasing lab).

* encoder: four stride-2 convolutions with 12-24-48-72 filters (5x5, 5x5, 3x3, 3x3, each
  followed by ReLU and batch norm), a 512-unit dense layer, then ``2 * latent`` outputs (mu and
  log-variance) and, for the DB-VAE, one more: the face logit ``z0``;
* decoder: the mirror image (dense to 4x4x72, four stride-2 transposed convolutions), with a
  sigmoid so pixels come out in [0, 1];
* loss per image: ``kl_weight * KL(q(z|x) || N(0, I)) + mean |x - x_hat|`` (L1); the DB-VAE adds
  binary cross-entropy on ``z0`` and applies the VAE term to faces only.

``blocks >= 1`` (issue 20) selects a wider residual design instead (:func:`_res_encoder`,
:func:`_res_decoder`): stride-2 4x4 convolutions with n, 2n, 4n, 4n filters, ``blocks``
residual blocks at each of 32, 16, 8 and 4 px, the 4x4x4n map straight to mu / log-variance;
the decoder mirrors it (transposed 4x4 convolutions, residual blocks, a 3x3 convolution to RGB
and a sigmoid). ``blocks = 0`` is the 6.S191 network above, so every older checkpoint loads.

``grid = G`` (8 or 16, residual design only) keeps the latent a G x G map of
``latent_dim / G^2`` channels (a 1x1 convolution to mu / log-variance, no dense layer): a
spatial code in which the face keeps its detail, flattened channel by channel so that every
latent operation (interpolation, the fitted prior, traversals) sees an ordinary vector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: the side of the square RGB chips the networks take and make
CHIP_SIZE = 64


class ResBlock(nn.Module):
    """``x + conv(relu(conv(relu(x))))`` (3x3, same width); with batch norm before each ReLU
    in the encoder (``norm=True``)."""

    def __init__(self, c: int, norm: bool):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += ([nn.BatchNorm2d(c)] if norm else []) + [nn.ReLU(),
                                                               nn.Conv2d(c, c, 3, 1, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _widths(n: int) -> list[int]:
    return [n, 2 * n, 4 * n, 4 * n]  # at 32, 16, 8, 4 px


#: the latent grids the residual design takes (``grid``; 0: a flat latent from a dense layer)
GRIDS = (0, 8, 16)


def _scales(grid: int) -> int:
    """How many stride-2 steps from 64 px down to the latent (4 px when flat)."""
    return {0: 4, 8: 3, 16: 2}[grid]


def _res_encoder(n: int, blocks: int, out: int, grid: int = 0) -> nn.Sequential:
    layers: list[nn.Module] = []
    c_in = 3
    for c in _widths(n)[:_scales(grid)]:
        layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.ReLU(), nn.BatchNorm2d(c)]
        layers += [ResBlock(c, True) for _ in range(blocks)]
        c_in = c
    if grid:  # out = 2 * latent_dim: mu's channels, then log-variance's, each G x G
        return nn.Sequential(*layers, nn.ReLU(), nn.Conv2d(c_in, out // (grid * grid), 1),
                             nn.Flatten())
    return nn.Sequential(*layers, nn.ReLU(), nn.Flatten(), nn.Linear(c_in * 16, out))


def _res_decoder(n: int, blocks: int, latent_dim: int, grid: int = 0) -> nn.Sequential:
    w = _widths(n)[:_scales(grid)][::-1]  # 4 (or G), ..., 32 px
    if grid:
        layers: list[nn.Module] = [nn.Unflatten(1, (latent_dim // (grid * grid), grid, grid)),
                                   nn.Conv2d(latent_dim // (grid * grid), w[0], 3, 1, 1),
                                   nn.ReLU()]
    else:
        layers = [nn.Linear(latent_dim, w[0] * 16), nn.ReLU(), nn.Unflatten(1, (w[0], 4, 4))]
    for i, c in enumerate(w):
        layers += [ResBlock(c, False) for _ in range(blocks)]
        c_out = w[i + 1] if i + 1 < len(w) else c
        layers += [nn.ConvTranspose2d(c, c_out, 4, 2, 1), nn.ReLU()]
    return nn.Sequential(*layers, nn.Conv2d(w[-1], 3, 3, 1, 1), nn.Sigmoid())


class VAE(nn.Module):
    """The 6.S191 64x64 VAE. ``forward`` takes float ``(N, 3, 64, 64)`` in [0, 1].

    Parameters
    ----------
    latent_dim : size of z (100).
    n_filters : base filter count; the encoder uses 1, 2, 4, 6 times it (12-24-48-72), the
        residual design 1, 2, 4, 4 times it.
    blocks : 0: the 6.S191 network; N >= 1: the residual design with N blocks per scale.
    grid : 0: a flat latent; 8 or 16: the residual design's spatial latent (a G x G map of
        ``latent_dim / G^2`` channels; plain VAE only).
    """

    arch = "vae"
    n_extra = 0  # extra encoder outputs before mu/logvar (the DB-VAE's face logit)

    def __init__(self, latent_dim: int = 100, n_filters: int = 12, blocks: int = 0,
                 grid: int = 0):
        super().__init__()
        self.latent_dim, self.n_filters, self.blocks = int(latent_dim), int(n_filters), int(blocks)
        self.grid = int(grid)
        n = self.n_filters
        self.meta: dict = {}
        if self.grid:
            if self.grid not in GRIDS or not self.blocks or self.n_extra \
                    or self.latent_dim % (self.grid * self.grid):
                raise ValueError(f"a {self.grid}x{self.grid} latent grid needs the residual "
                                 "design (blocks >= 1), a plain VAE and a latent size that is "
                                 f"a multiple of {self.grid * self.grid}; grids: 8, 16")
        if self.blocks:
            self.encoder = _res_encoder(n, self.blocks, 2 * self.latent_dim + self.n_extra,
                                        self.grid)
            self.decoder = _res_decoder(n, self.blocks, self.latent_dim, self.grid)
            return
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
        out = {"architecture": self.arch, "latent_dim": self.latent_dim,
               "n_filters": self.n_filters, "input_size": [CHIP_SIZE, CHIP_SIZE]}
        if self.blocks:  # older checkpoints have no such key: 0
            out["blocks"] = self.blocks
        if self.grid:
            out["grid"] = self.grid
        return out


class DBVAE(VAE):
    """Debiasing VAE: the encoder also outputs ``z0``, the face/not-face logit."""

    arch = "dbvae"
    n_extra = 1


def build_model(architecture: str = "vae", latent_dim: int = 100, n_filters: int = 12,
                blocks: int = 0, grid: int = 0) -> VAE:
    """A fresh ``"vae"`` or ``"dbvae"`` (weights from torch's current RNG); ``blocks >= 1``:
    the residual design; ``grid``: its spatial latent."""
    classes = {"vae": VAE, "dbvae": DBVAE}
    if architecture not in classes:
        raise ValueError(f"unknown architecture {architecture!r}; known: vae, dbvae")
    if blocks < 0:
        raise ValueError("blocks must be >= 0")
    return classes[architecture](latent_dim, n_filters, blocks, grid)


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


__all__ = ["CHIP_SIZE", "DBVAE", "GRIDS", "VAE", "build_model", "dbvae_loss", "kl_divergence",
           "reconstruction_l1", "vae_loss"]
