"""The VAE's training data: 64x64 face chips from CelebA or from a folder, cached as ``.npz``.

Chips: a face is aligned to :data:`VAE_TEMPLATE` (64x64). For CelebA's aligned 89x109 images
that is a fixed square crop, the box ``x 9.5..79.5, y 28..98`` (edge coordinates) scaled by
64/70 -- exactly the template applied to the image with CelebA's mean MTCNN landmarks
(DESIGN.md), so chips cut from detected faces in any photo line up with the training data.

:func:`iter_load_data` is a task (:mod:`faceinspector.backend.tasks`): it yields
``Progress(stage="data")``, raises :class:`~faceinspector.backend.tasks.Cancelled` when its
cancel token is set and returns a :class:`ChipData`; :func:`load_data` runs it here.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import datasets, tasks
from ..files import atomic_open
from ..align import TEMPLATES, Template, warp_crop
from .model import CHIP_SIZE

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


@dataclass
class ChipData:
    """Training data: face chips, their names, and (optional) non-face chips for the DB-VAE."""

    chips: np.ndarray  # uint8 (N, 64, 64, 3)
    names: list[str] = field(default_factory=list)
    negatives: np.ndarray | None = None  # uint8 (M, 64, 64, 3)
    description: str = ""


def chip_for_face(backend, photo, face, border: str = "reflect") -> np.ndarray:
    """The 64x64 chip the VAE expects for a detected face (uint8 ``(64, 64, 3)``)."""
    return backend.crop(photo, face, VAE_TEMPLATE, size=(CHIP_SIZE, CHIP_SIZE),
                        border=border).pixels


# ============================================================================== caches


def data_cache_dir() -> Path:
    """Where prepared training chips are cached: a cache of their own, beside the model packs
    (never inside them): ``$FACEINSPECTOR_CHIP_CACHE`` if set, else ``faceinspector-chips``
    next to the model cache (``~/.cache/faceinspector-chips`` by default). Deleting it only
    costs the time to prepare the chips again."""
    env = os.environ.get("FACEINSPECTOR_CHIP_CACHE")
    if env:
        return Path(env).expanduser()
    from ..assets import cache_dir

    return cache_dir().parent / "faceinspector-chips"


def _cached_note(cfile: Path, wrote: bool) -> tasks.Progress:
    what = "cached the chips in" if wrote else "chips from the cache"
    return tasks.note(f"{what} {cfile} (training-chip cache; delete {cfile.parent} to free the "
                      "space)", cached=str(cfile))


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
    with atomic_open(path) as fh:
        np.savez(fh, **arrays)


# ============================================================================== CelebA


def _celeba_matrix(w: int, h: int) -> np.ndarray:
    """Photo -> chip matrix for an aligned CelebA image of size ``w x h`` (89x109 or 178x218)."""
    k = w / _CELEBA_W
    x0, y0, side = (v * k for v in CELEBA_BOX)
    s = CHIP_SIZE / side
    return np.array([[s, 0.0, s * (0.5 - x0) - 0.5], [0.0, s, s * (0.5 - y0) - 0.5]])


def _square_chip(img: np.ndarray, x: float, y: float, side: float) -> np.ndarray:
    s = CHIP_SIZE / side
    m = np.array([[s, 0.0, -s * x - 0.5 + 0.5 * s], [0.0, s, -s * y - 0.5 + 0.5 * s]])
    return warp_crop(img, m, CHIP_SIZE, border="replicate")


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


def iter_celeba(first: int = 1, last: int = 9000, root=None, cache: bool = True,
                negatives_per_image: int = 0, seed: int = 0,
                cancel: tasks.CancelToken | None = None) -> Generator:
    """Task: CelebA images ``first..last`` (1-based file numbers) as 64x64 VAE chips (cached).

    ``root``: the CelebA folder in any layout :func:`datasets.celeba` accepts (or its image
    folder; default: where the environment says). Images are read at 89x109
    (:func:`datasets.read_celeba_image`: a full-size 178x218 image is averaged down by 2), so
    every layout gives the same chips. Returns a :class:`ChipData`.
    """
    root = datasets.celeba(root, attributes=False).images
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
        yield tasks.Progress(len(names), len(names), f"cached {cfile}", "data",
                             {"cached": str(cfile)})
        yield _cached_note(cfile, wrote=False)
        return ChipData(hit["chips"], names, hit.get("negatives"), desc)
    chips = np.empty((len(names), CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    negs: list[np.ndarray] = []
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for i, n in enumerate(names):
        tasks.check(cancel)
        img = datasets.read_celeba_image(root / n)
        chips[i] = warp_crop(img, _celeba_matrix(img.shape[1], img.shape[0]), CHIP_SIZE,
                             border="replicate")
        if negatives_per_image:
            negs += _celeba_negatives(img, rng, negatives_per_image)
        if (i + 1) % 500 == 0 or i + 1 == len(names):
            yield tasks.Progress(i + 1, len(names), "CelebA images", "data",
                                 {"seconds": time.perf_counter() - t0})
    neg = np.stack(negs) if negs else None
    if cache:
        _save_cache(cfile, chips=chips, **({"negatives": neg} if neg is not None else {}))
        yield _cached_note(cfile, wrote=True)
    return ChipData(chips, names, neg, desc)


def celeba_chips(first: int = 1, last: int = 9000, root=None, cache: bool = True,
                 negatives_per_image: int = 0, seed: int = 0,
                 progress: Callable[[tasks.Progress], None] | None = None,
                 cancel: tasks.CancelToken | None = None) -> ChipData:
    """:func:`iter_celeba` run here; ``progress`` receives its :class:`tasks.Progress`."""
    return tasks.run(iter_celeba(first, last, root, cache, negatives_per_image, seed, cancel),
                     on_progress=progress)


# ============================================================================== folders


def _regular_files(paths) -> tuple[list[Path], list[os.stat_result], list[str]]:
    """``(files, their stats, reasons)``: the paths that are regular files (a symlink counts
    as its target), and one line for each one skipped -- a dangling link, a FIFO or device
    (opening one would wait forever), a symlink loop, a file that cannot be read."""
    keep, stats, skipped = [], [], []
    for p in paths:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            skipped.append(f"{p.name} (a link to a file that does not exist)")
            continue
        except OSError as exc:
            skipped.append(f"{p.name} ({(exc.strerror or str(exc)).lower()})")
            continue
        if not stat.S_ISREG(st.st_mode):
            skipped.append(f"{p.name} (not a regular file)")
            continue
        keep.append(p)
        stats.append(st)
    return keep, stats, skipped


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


def _centre_chip(px: np.ndarray) -> np.ndarray:
    """The centre square of an aligned crop, resized to 64x64 (bilinear)."""
    from PIL import Image

    h, w = px.shape[:2]
    s = min(h, w)
    sq = px[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return np.asarray(Image.fromarray(sq).resize((CHIP_SIZE, CHIP_SIZE), Image.BILINEAR))


def _iter_folder(folder, aligned, backend, cache, negatives_per_photo, seed, cancel, limit):
    from ..images import iter_image_paths, load_photo

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"not a folder: {folder}")
    paths, stats, skipped = _regular_files(sorted(iter_image_paths(folder)))
    if skipped:
        shown = "; ".join(skipped[:3]) + (f"; and {len(skipped) - 3} more"
                                           if len(skipped) > 3 else "")
        yield tasks.note(f"skipped {len(skipped)} file(s) in {folder}: {shown}",
                         skipped=len(skipped))
    if limit:
        paths, stats = paths[:limit], stats[:limit]
    if not paths:
        raise FileNotFoundError(f"no images in {folder}")
    if aligned is None:
        aligned = _looks_aligned(paths)
    listing = [(str(p.relative_to(folder)), st.st_size, int(st.st_mtime))
               for p, st in zip(paths, stats)]
    key = {"kind": "aligned" if aligned else "photos", "root": str(folder.resolve()),
           "files": hashlib.sha1(json.dumps(listing).encode()).hexdigest(),
           "neg": negatives_per_photo, "seed": seed, "template": VAE_TEMPLATE.points.tolist(),
           "v": 1}
    cfile = _cache_file(key)
    if cache and (hit := _load_cache(cfile)) is not None:
        yield tasks.Progress(len(paths), len(paths), f"cached {cfile}", "data",
                             {"cached": str(cfile)})
        yield _cached_note(cfile, wrote=False)
        return ChipData(hit["chips"], [str(s) for s in hit["names"]], hit.get("negatives"),
                        str(hit["description"]))
    chips, names, negs = [], [], []
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    if not aligned and backend is None:
        from ..facade import Backend

        backend = Backend()
    for i, p in enumerate(paths):
        tasks.check(cancel)
        try:
            photo = load_photo(p)
        except ValueError:
            continue
        rel = str(p.relative_to(folder))
        if aligned:
            chips.append(_centre_chip(photo.pixels))
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
            yield tasks.Progress(i + 1, len(paths), "aligned crops" if aligned else "photos",
                                 "data", {"faces": len(chips),
                                          "seconds": time.perf_counter() - t0})
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
        yield _cached_note(cfile, wrote=True)
    return ChipData(arr, names, neg, desc)


# =========================================================================== one entry


def iter_load_data(source: str, limit: int | None = None, *, aligned: bool | None = None,
                   negatives: int = 0, backend=None, cache: bool = True, seed: int = 0,
                   cancel: tasks.CancelToken | None = None, celeba=None) -> Generator:
    """Task: training chips from ``"celeba"`` (images 1..limit, default 9,000) or a folder.

    A folder of photos: faces are found by MTCNN (``backend``, default a new ``Backend()``) and
    aligned to :data:`VAE_TEMPLATE`; a folder of already aligned crops (``aligned=True``, or
    auto-detected when its images are small and about square): centre square resized to 64x64.
    ``limit`` caps the number of files. ``negatives`` non-face chips per photo for the DB-VAE:
    random background squares clear of the faces (for CelebA, squares of hair and background
    beside the aligned face). Results are cached as ``.npz`` under :func:`data_cache_dir`,
    keyed on the file list, sizes and times.

    Yields ``Progress(done, total, text, "data", info)`` (files read; ``info["cached"]`` names
    the cache file on a hit), raises :class:`tasks.Cancelled` when ``cancel`` is set and
    returns the :class:`ChipData` (``data = yield from iter_load_data(...)``). ``celeba``: the
    CelebA folder for ``source="celeba"`` (default: where the environment says).
    """
    if source == "celeba":
        return (yield from iter_celeba(1, limit or 9000, celeba, cache, negatives, seed, cancel))
    return (yield from _iter_folder(source, aligned, backend, cache, negatives, seed, cancel,
                                    limit))


def load_data(source: str, limit: int | None = None, *, aligned: bool | None = None,
              negatives: int = 0, backend=None, cache: bool = True, seed: int = 0,
              progress: Callable[[tasks.Progress], None] | None = None,
              cancel: tasks.CancelToken | None = None, celeba=None) -> ChipData:
    """:func:`iter_load_data` run here; ``progress`` receives its :class:`tasks.Progress`."""
    return tasks.run(iter_load_data(source, limit, aligned=aligned, negatives=negatives,
                                    backend=backend, cache=cache, seed=seed, cancel=cancel,
                                    celeba=celeba),
                     on_progress=progress)


__all__ = ["CELEBA_BOX", "VAE_TEMPLATE", "ChipData", "celeba_chips", "chip_for_face",
           "data_cache_dir", "iter_celeba", "iter_load_data", "load_data"]
