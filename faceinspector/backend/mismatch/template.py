"""Learning a data set's alignment template from where its faces sit.

An aligned data set (CelebA's ``img_align_celeba``, a model's training crops) puts the eyes at
nearly the same pixels in every image. When most images of the reference share one size and the
five detected points vary by less than ``max_spread`` of the inter-ocular distance, their mean
positions *are* the template the data set was made with: saved as a template file, it crops any
photo the way the training data was cropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..align import Template, normalised_points
from ..types import LANDMARK_NAMES

#: at most this spread (std of the eye points, px) per inter-ocular distance (px)
MAX_SPREAD = 0.1
#: at least this share of the images must have the most common size
MIN_SHARE = 0.8
#: points further than this many robust standard deviations from the median are outliers
OUTLIER_Z = 5.0


@dataclass(frozen=True, eq=False)
class LearnedTemplate:
    """The outcome of :func:`learn_template`: a template, or the reason there is none.

    points, spread : float (5, 2) mean and standard deviation of each point, in pixels of an
        image of ``size`` (pixel centres at integer coordinates).
    """

    template: Template | None
    size: tuple[int, int] = (0, 0)
    points: np.ndarray | None = None
    spread: np.ndarray | None = None
    faces: int = 0  # faces the mean rests on (outliers left out)
    outliers: int = 0
    share: float = 0.0  # of the images with the most common size
    relative_spread: float = float("nan")  # eye spread / inter-ocular distance
    reason: str = ""

    def as_dict(self) -> dict | None:
        """The JSON summary (None when no template was learned)."""
        if self.template is None:
            return None
        return {"name": self.template.name, "size": list(self.size),
                "points": np.round(self.points, 2).tolist(),
                "spread": np.round(self.spread, 2).tolist(), "faces": self.faces,
                "outliers": self.outliers, "relative_spread": round(self.relative_spread, 4),
                "landmarks": list(LANDMARK_NAMES)}

    def file_extra(self) -> dict:
        """What a template file records besides the points (see ``align.save_template``)."""
        return {"spread_px": np.round(self.spread, 3).tolist(), "faces": self.faces,
                "outliers": self.outliers, "share_of_images": round(self.share, 4),
                "relative_spread": round(self.relative_spread, 4),
                "landmarks": list(LANDMARK_NAMES)}


def learn_template(table, name: str = "learned", max_spread: float = MAX_SPREAD,
                   min_share: float = MIN_SHARE) -> LearnedTemplate:
    """The template of a scanned collection (:class:`~.scan.Table`), if it has one."""
    if len(table) == 0:
        return LearnedTemplate(None, reason="no readable images")
    sizes = [tuple(s) for s in table.sizes.tolist()]
    values, counts = np.unique(np.array(sizes), axis=0, return_counts=True)
    k = int(np.argmax(counts))
    size = (int(values[k][0]), int(values[k][1]))
    share = counts[k] / len(sizes)
    if share < min_share:
        return LearnedTemplate(None, size, share=share, reason=(
            f"the images do not share one size (the most common, {size[0]}x{size[1]}, is "
            f"{share:.0%} of them; an aligned data set has one)"))
    same = np.all(table.sizes == np.array(size), 1) & table.found
    lm = table.landmarks[same].astype(np.float64)
    if len(lm) < 5:
        return LearnedTemplate(None, size, share=share,
                               reason=f"faces found in only {len(lm)} images of that size")
    med = np.median(lm, 0)
    dev = np.linalg.norm(lm - med, axis=2)  # (N, 5)
    mad = np.median(dev, 0) * 1.4826 + 1e-6
    keep = np.all(dev <= OUTLIER_Z * np.maximum(mad, 0.5), 1)
    pts = lm[keep]
    mean, std = pts.mean(0), pts.std(0)
    iod = float(np.linalg.norm(mean[1] - mean[0]))
    rel = float(np.sqrt((std[:2] ** 2).sum(1)).max() / iod) if iod > 0 else float("inf")
    if rel > max_spread:
        return LearnedTemplate(None, size, mean, std, len(pts), int((~keep).sum()), share, rel,
                               reason=(f"the faces do not sit at fixed places: the eyes move "
                                       f"by {rel:.0%} of the inter-ocular distance (an aligned "
                                       f"data set stays under {max_spread:.0%})"))
    w, h = size
    desc = (f"learned from {len(pts)} faces in {w}x{h} images: eyes at ({mean[0, 0]:.1f}, "
            f"{mean[0, 1]:.1f}) and ({mean[1, 0]:.1f}, {mean[1, 1]:.1f}) px, spread "
            f"{rel:.1%} of the inter-ocular distance")
    t = Template(name, size, normalised_points(mean, w, h), description=desc)
    return LearnedTemplate(t, size, mean, std, len(pts), int((~keep).sum()), share, rel)


__all__ = ["LearnedTemplate", "MAX_SPREAD", "MIN_SHARE", "learn_template"]
