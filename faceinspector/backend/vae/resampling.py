"""Statistics of latent codes, numpy only: DB-VAE resampling weights, active dimensions.

* :func:`resampling_weights`: per latent dimension a smoothed histogram of the training faces'
  mu; a face's weight is ``1 / density`` of its bin, combined over dimensions (the 6.S191 lab
  takes the max), so faces in sparse regions of latent space (rare poses, lighting, skin
  tones) are drawn more often.
* :func:`summarize_weights`: the few most up- and down-weighted faces of an epoch and the
  summary numbers, as the Morph pane's Training tab shows them (:class:`Resampling`).
* :func:`dims_by_activity`: latent dimensions, most used first.

Importing this module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


@dataclass(frozen=True, eq=False)
class Resampling:
    """A DB-VAE epoch's resampling weights as the Training tab shows them.

    Ratios are weights as a multiple of the uniform weight ``1/N``. ``top``: the faces with the
    largest weights, largest first; ``bottom``: those with the smallest, in the same
    (descending) order, so the last one has the smallest weight of all. Only these few faces
    are kept, as their 64x64 chips."""

    epoch: int
    n: int  # training faces
    top: np.ndarray  # int64 (kt,) indices into the training faces
    top_ratio: np.ndarray  # float64 (kt,)
    top_faces: np.ndarray | None  # uint8 (kt, 64, 64, 3); None when no chips were given
    bottom: np.ndarray
    bottom_ratio: np.ndarray
    bottom_faces: np.ndarray | None
    top_names: tuple[str, ...] = ()
    bottom_names: tuple[str, ...] = ()
    max_ratio: float = 1.0
    median_ratio: float = 1.0
    ess: float = 0.0  # effective sample size (sum w)^2 / sum w^2

    @property
    def ess_fraction(self) -> float:
        """The effective sample size as a fraction of N (1: uniform weights)."""
        return self.ess / self.n if self.n else 0.0


def summarize_weights(weights, chips=None, names=(), epoch: int = 0, top: int = 12,
                      bottom: int = 6) -> Resampling:
    """The few most up- and down-weighted faces of a DB-VAE epoch, with their chips (copies),
    and the summary numbers (max and median ratio to uniform, effective sample size).

    With fewer than ``top + bottom`` faces, at most a third of them are shown as
    down-weighted and the rest as up-weighted (no face appears twice). Ties keep the data
    order."""
    w = np.asarray(weights, np.float64).reshape(-1)
    n = len(w)
    total = float(w.sum())
    if n == 0 or not np.isfinite(total) or total <= 0:
        raise ValueError("weights must be a non-empty array of non-negative numbers, not all 0")
    ratio = w * (n / total)
    kb = min(bottom, n // 3) if n < top + bottom else bottom
    kt = min(top, n - kb)
    order = np.argsort(-ratio, kind="stable")
    hi, lo = order[:kt], order[n - kb:]

    def pick(idx):
        faces = None if chips is None else np.ascontiguousarray(np.asarray(chips)[idx],
                                                                np.uint8)
        return (idx.astype(np.int64), ratio[idx], faces,
                tuple(str(names[i]) for i in idx) if len(names) == n else ())

    t, b = pick(hi), pick(lo)
    return Resampling(int(epoch), n, t[0], t[1], t[2], b[0], b[1], b[2], t[3], b[3],
                      max_ratio=float(ratio.max()), median_ratio=float(np.median(ratio)),
                      ess=total * total / float(np.dot(w, w)))


__all__ = ["Resampling", "dims_by_activity", "resampling_weights", "summarize_weights"]
