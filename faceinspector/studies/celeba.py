"""CelebA for the studies: the standard split of the development subset, labels and chips.

Data: CelebA's aligned images in any layout :mod:`faceinspector.backend.datasets` accepts
(``img_align_celeba/`` as distributed, torchvision's ``celeba/`` root, or the 89×109
development copy ``img_align_89x109/``) and ``list_attr_celeba``, the ``Male`` attribute. The
studies use the first 10,000 images with a fixed split, 000001–008000 train, 008001–009000
val, 009001–010000 test, whatever the layout (all ten thousand are in the official training
partition, so the official val/test images stay untouched). A full-size 178×218 image is read
at 89×109 (:func:`datasets.read_celeba_image`, 2×2 box average), so its chips are the chips of
the development copy the shipped models were trained on.

How a CelebA image becomes a chip: the images are *already aligned*, so no detector runs.
:func:`celeba_face` builds a :class:`~faceinspector.backend.types.Face` whose five landmarks sit
where the ``celeba`` template says MTCNN finds them in CelebA's aligned images
(``align.get_template("celeba").targets(size=(89, 109))``), and the backend crops every chip from
that face exactly as it does for a detected face in a photo. For the CNNs' ``celeba`` chip this is
(up to resampling) the image itself at 64×78; for the embedding head it is the dlib chip (150 px,
padding 0.25) around those points. Training and evaluation therefore go through the same crop
code as the app.

:func:`load_celeba` and :func:`celeba_embeddings` are tasks (:mod:`~faceinspector.backend.tasks`):
they yield ``Progress`` (stages ``"load"`` and ``"embed"``), return their arrays and raise
``tasks.Cancelled`` when their cancel token is set.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..backend import align, datasets, tasks
from ..backend.models.demo import CNN_SPEC, HEAD_SPEC
from ..backend.types import Face

#: image numbers (inclusive) of the standard split of the 10,000-image subset
SPLITS = {"train": (1, 8000), "val": (8001, 9000), "test": (9001, 10000)}
#: the fixed subset of the test split whose accuracy each checkpoint also records (and the test
#: suite reproduces): its first 200 images, 009001–009200
TEST_SUBSET = 200
ATTRIBUTE = "Male"


def image_dir(root=None) -> Path:
    """The folder of CelebA's aligned images (raises ``datasets.DataError`` when missing).

    ``root``: a CelebA folder in any accepted layout, or a folder holding ``celeba/`` (default:
    where the environment says, :func:`datasets.celeba`)."""
    return datasets.celeba(root).images


def read_attribute(root=None, attribute: str = ATTRIBUTE) -> dict[str, int]:
    """{file name: 1 if the attribute is +1 else 0} from ``list_attr_celeba``."""
    return datasets.read_celeba_attribute(datasets.celeba(root), attribute)


def load_images(folder: Path, names: list[str]) -> np.ndarray:
    """uint8 (N, 109, 89, 3): aligned CelebA images at the development resolution."""
    try:
        return np.stack([datasets.read_celeba_image(folder / n) for n in names])
    except FileNotFoundError as exc:
        raise datasets.DataError(f"CelebA image missing: {exc.filename} (the studies use "
                                 f"000001.jpg–010000.jpg of {folder})") from None


def split_names(split: str, limit: int | None = None) -> list[str]:
    """File names of a split (in order), the first ``limit`` of them if given."""
    if split not in SPLITS:
        raise KeyError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    a, b = SPLITS[split]
    names = [f"{i:06d}.jpg" for i in range(a, b + 1)]
    return names[:limit] if limit else names


# ------------------------------------------------------------------------------------ chips


def celeba_face(width: int = 89, height: int = 109) -> Face:
    """The face in an aligned CelebA image of this size, without running a detector.

    Landmarks: where the ``celeba`` template puts MTCNN's five points at this size (measured by
    MTCNN on 399 of the first 400 images, DESIGN.md). Box: a square around them sized like an
    MTCNN box (used only by the ``raw`` template).
    """
    lm = align.get_template("celeba").targets((width, height)).astype(np.float32)
    iod = float(np.linalg.norm(lm[1] - lm[0]))
    cx = float(lm[:, 0].mean())
    cy = float(lm[:, 1].mean())
    half = 1.1 * iod
    return Face((cx - half, cy - 1.2 * half, cx + half, cy + 0.8 * half), 1.0, lm)


def chips_for(pixels: np.ndarray, spec, face: Face | None = None) -> np.ndarray:
    """The chip a model with ``spec`` sees of one aligned CelebA image, uint8 (h, w, 3)."""
    face = face or celeba_face(pixels.shape[1], pixels.shape[0])
    return align.make_crop(pixels, face, spec.template, size=spec.size,
                           padding=spec.padding).pixels


def batch_chips(images: np.ndarray, spec) -> np.ndarray:
    """Chips of many aligned CelebA images of one size, uint8 (N, h, w, 3), in one warp.

    The same crop matrix as :func:`chips_for` (so the same chip as the backend's crop of that
    face, up to float rounding: ±1 grey level here and there), computed in a single
    ``grid_sample`` over the batch instead of one call per image. Falls back to
    :func:`chips_for` per image when the chip shrinks the image by more than 1.5×, where the
    backend area-averages first.
    """
    n, hh, ww = images.shape[:3]
    w, h = spec.size
    m = align.crop_matrix(celeba_face(ww, hh), spec.template, (w, h), spec.padding)
    inv = align.invert_affine(m)
    if np.sqrt(abs(np.linalg.det(inv[:, :2]))) > 1.5:
        return np.stack([chips_for(img, spec) for img in images])
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                         indexing="ij")
    src = np.stack([xs, ys, np.ones_like(xs)], -1) @ inv.T  # crop pixel -> image pixel
    grid = (2 * src + 1) / np.array([ww, hh]) - 1  # pixel centres, align_corners=False
    grid_t = torch.as_tensor(grid, dtype=torch.float32)[None].expand(n, -1, -1, -1)
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    out = F.grid_sample(x, grid_t, mode="bilinear", padding_mode="reflection",
                        align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy().copy()


def iter_celeba(split: str, spec, limit: int | None = None, root=None, batch: int = 256,
                cancel: tasks.CancelToken | None = None
                ) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
    """Batches of (names, chips uint8 (n, h, w, 3), labels int64 (n,)) of a split; raises
    ``tasks.Cancelled`` before a batch when ``cancel`` is set."""
    d = image_dir(root)
    attr = read_attribute(root)
    names = split_names(split, limit)
    for i in range(0, len(names), batch):
        tasks.check(cancel)
        part = names[i:i + batch]
        images = load_images(d, part)
        yield part, batch_chips(images, spec), np.array([attr[n] for n in part], np.int64)


def load_celeba(split: str, spec=CNN_SPEC, limit: int | None = None, root=None,
                cancel: tasks.CancelToken | None = None) -> Generator[tasks.Progress, None, tuple]:
    """Task: all of a split as (chips uint8 (N, h, w, 3), labels int64 (N,), names).

    Yields ``Progress(done, total, "CelebA <split>", stage="load")`` per batch of images.
    """
    total = len(split_names(split, limit))
    chips, labels, names = [], [], []
    for part, c, y in iter_celeba(split, spec, limit, root, cancel=cancel):
        chips.append(c)
        labels.append(y)
        names += part
        yield tasks.Progress(len(names), total, f"CelebA {split}", "load", {"split": split})
    h, w = spec.size[1], spec.size[0]
    return (np.concatenate(chips) if chips else np.zeros((0, h, w, 3), np.uint8),
            np.concatenate(labels) if labels else np.zeros(0, np.int64), names)


# ------------------------------------------------------------------------------- embeddings


@dataclass(frozen=True, eq=False)
class Embeddings:
    """What :func:`celeba_embeddings` returns.

    Attributes
    ----------
    split : the CelebA split.
    embeddings : float32 (N, 128) dlib ResNet embeddings.
    labels : int64 (N,) labels (1 = male).
    cached : True when read from the cache file.
    path : the cache file.
    """

    split: str
    embeddings: np.ndarray
    labels: np.ndarray
    cached: bool
    path: Path


def embedding_cache_dir(cache: str | Path | None = None) -> Path:
    """Where embeddings are cached: ``cache``, else ``<model cache>/embeddings``."""
    if cache is not None:
        return Path(cache)
    from ..backend.assets import cache_dir

    return cache_dir() / "embeddings"


def _cache_file(folder: Path, split: str, names: list[str]) -> Path:
    key = hashlib.sha256(("|".join(names) + repr(HEAD_SPEC)).encode()).hexdigest()[:10]
    return folder / f"celeba-{split}-{names[0][:6]}-{names[-1][:6]}-dlib-resnet-{key}.npy"


def celeba_embeddings(split: str, *, limit: int | None = None, root=None, cache=None,
                      embedder=None, device: str | torch.device = "cpu", batch: int = 32,
                      cancel: tasks.CancelToken | None = None
                      ) -> Generator[tasks.Progress, None, Embeddings]:
    """Task: 128-D dlib ResNet embeddings of a CelebA split, cached as ``.npy``.

    Yields ``Progress(done, total, "CelebA <split>", stage="embed", info={"split",
    "images_per_s"})`` while embedding (or one note when the cache answers) and returns
    :class:`Embeddings`. The cache file name holds the split, the image range and a hash of the
    file names and chip spec; delete it to recompute.

    Raises
    ------
    tasks.Cancelled
        when ``cancel`` is set (nothing is cached then).
    """
    names = split_names(split, limit)
    attr = read_attribute(root)
    labels = np.array([attr[n] for n in names], np.int64)
    folder = embedding_cache_dir(cache)
    path = _cache_file(folder, split, names)
    if path.is_file():
        emb = np.load(path, allow_pickle=False)
        if emb.shape == (len(names), 128):
            yield tasks.note(f"CelebA {split}: {len(names)} embeddings from {path}")
            return Embeddings(split, emb, labels, True, path)
    if embedder is None:
        from ..backend.models.dlib_resnet import DlibResNet

        embedder = DlibResNet(device=device)
    d = image_dir(root)
    out, t0 = [], time.perf_counter()
    for i in range(0, len(names), batch):
        tasks.check(cancel)
        part = names[i:i + batch]
        chips = batch_chips(load_images(d, part), HEAD_SPEC)
        out.append(embedder.predict(chips).embeddings.astype(np.float32))
        done = i + len(part)
        yield tasks.Progress(done, len(names), f"CelebA {split}", "embed",
                             {"split": split, "images_per_s": done / (time.perf_counter() - t0)})
    emb = np.concatenate(out)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, emb, allow_pickle=False)
    tmp.replace(path)
    return Embeddings(split, emb, labels, False, path)


__all__ = ["ATTRIBUTE", "SPLITS", "TEST_SUBSET", "Embeddings", "batch_chips", "celeba_embeddings",
           "celeba_face", "chips_for", "embedding_cache_dir", "image_dir", "iter_celeba",
           "load_celeba", "load_images", "read_attribute", "split_names"]
