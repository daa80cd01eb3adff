"""Verification on labelled data: one pipeline for the CLI (``faceinspector eval``) and the GUI.

Labelled pairs come from an LFW-format pairs file, an LFW folder (its ``pairs.txt``; the
layouts are :mod:`~faceinspector.backend.datasets`'), or a folder with one sub-folder per
person (:func:`folder_pairs`; LFW's ``people.txt`` can fix its folds). :func:`verify` embeds
every image once
(:func:`~faceinspector.backend.embeddings.embed_images`: photo -> MTCNN -> central face -> the
embedder's chip) and scores the pairs with :func:`pairs_report` (LFW protocol: each fold's
threshold is chosen on the other folds). It is a task (:mod:`~faceinspector.backend.tasks`):
progress per image, then a :class:`Verification`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import datasets, triplets
from . import images as _images
from .embeddings import embed_images
from .images import IMAGE_SUFFIXES
from .photos import MeanLandmarks, central_face, fallback_face
from .tasks import CancelToken, Progress, relay


def pair_images(pairs) -> list[str]:
    """The relative paths of every image that ``pairs`` name, sorted, each once."""
    return sorted({p.a for p in pairs} | {p.b for p in pairs})


def pairs_file_root(pairs_file, root=None) -> Path:
    """Where the images of an LFW-format pairs file are: ``root``, or by default the image
    folder beside the file (``lfw-deepfunneled/``, ``lfw/``, …:
    :func:`datasets.lfw_images_for_pairs`; raises ``datasets.DataError`` when there is none)."""
    return Path(root) if root else datasets.lfw_images_for_pairs(pairs_file)


def lfw_folder_pairs(folder) -> Path | None:
    """The ``pairs.txt`` of an LFW folder given as a folder (one holding ``pairs.txt``, or a
    data folder holding ``lfw/`` that does), else None."""
    folder = Path(folder)
    for d in (folder, folder / "lfw"):
        if (d / datasets.LFW_PAIRS).is_file():
            return d / datasets.LFW_PAIRS
    return None


def pairs_report(emb, images, pairs, metric: str = "l2", threshold: float | None = None,
                 n_boot: int | None = None):
    """The verification report (:class:`~faceinspector.backend.triplets.VerificationReport`)
    of ``pairs`` from ``emb``, the embeddings of ``images`` (row ``i`` is ``images[i]``).

    Distances under ``metric``. A pair with an unreadable image (NaN embedding) has no
    distance: it is left out of every figure and counted in the report's ``excluded``
    (``report.index`` maps the scored pairs back to ``pairs``). Raises ``ValueError`` when no
    pair, or only one kind of pair (same / different person), is left. Thresholds are chosen
    per fold on the other folds (LFW protocol; one fold: on itself, which the report says).
    ``threshold``: also the figures at this fixed τ. No model runs (numpy and scikit-learn,
    ~0.5 s for the bootstrap intervals of 6,000 pairs), so a new ``metric`` needs no model run.
    """
    index = {name: i for i, name in enumerate(images)}
    a = emb[[index[p.a] for p in pairs]]
    b = emb[[index[p.b] for p in pairs]]
    dist = triplets.distance(a, b, metric)
    same = np.array([p.same for p in pairs], bool)
    folds = np.array([p.fold for p in pairs])
    ok = np.isfinite(dist)
    excluded = int((~ok).sum())
    if not ok.any():
        raise ValueError(f"none of the {len(pairs)} pairs can be scored: every pair has an "
                         "image that could not be read")
    if same[ok].all() or not same[ok].any():
        kind = "different-person" if same[ok].all() else "same-person"
        raise ValueError(f"no {kind} pairs are left to score ({excluded} of {len(pairs)} pairs "
                         "left out: an image could not be read)")
    keep = np.flatnonzero(ok)
    return triplets.verify(dist[keep], same[keep], folds[keep], index=keep, excluded=excluded,
                           threshold=threshold, n_boot=n_boot)


def excluded_line(report) -> str:
    """The line saying how many pairs were left out of the figures and why ("" if none)."""
    n = getattr(report, "excluded", 0)
    if not n:
        return ""
    return (f"{n} pair{'s' if n != 1 else ''} left out (an image could not be read); "
            f"{report.n_pairs} scored")


def left_out_line(info: dict) -> str:
    """What a folder of people left out and why, e.g. "500 of 785 images used: 285 images of
    240 people with fewer than 2 images left out" ("" when every image was used)."""
    total = info.get("images_total")
    used = info.get("images")
    if not total or used is None or used >= total:
        return ""
    parts = []
    if info.get("few_people"):
        k = info.get("min_images", 2)
        why = "a same-person pair needs two" if k <= 2 else f"--min-images {k}"
        parts.append(f"{info['few_images']} image{'s' if info['few_images'] != 1 else ''} of "
                     f"{info['few_people']} {'people' if info['few_people'] != 1 else 'person'} "
                     f"with fewer than {k} images ({why})")
    rest = total - used - info.get("few_images", 0)
    if rest > 0:
        why = []
        if info.get("max_people"):
            why.append(f"--max-people {info['max_people']}")
        if info.get("people_file"):
            why.append("people not in people.txt's folds")
        if info.get("sampled"):
            why.append(f"pairs sampled down to {info.get('max_pairs', 0):,}")
        parts.append(f"{rest} more in no pair" + (f" ({' / '.join(why)})" if why else ""))
    return f"{used} of {total} images used: " + "; ".join(parts) + " left out"


# ---------------------------------------------------------------- labelled folders (eval folder)

PAIR_MODES = ("balanced", "all")


def folder_counts(root) -> dict[str, int]:
    """{person: number of images} for every sub-folder of ``root`` (none left out)."""
    return {sub.name: sum(1 for f in sub.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES
                          and not f.name.startswith("."))
            for sub in sorted(d for d in Path(root).iterdir()
                              if d.is_dir() and not d.name.startswith("."))}


def folder_people(root, min_images: int = 2, max_people: int | None = None) -> dict:
    """{person: [relative image paths]} for the sub-folders of ``root`` with at least
    ``min_images`` images (sorted by name; the first ``max_people`` of them).

    Raises ``ValueError`` when ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder (expected one sub-folder per person)")
    people = {}
    for sub in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        files = sorted(f.name for f in sub.iterdir()
                       if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
        if len(files) >= max(min_images, 1):
            people[sub.name] = [f"{sub.name}/{f}" for f in files]
        if max_people and len(people) >= max_people:
            break
    return people


def folder_pairs(root, min_images: int = 2, max_people: int | None = None,
                 mode: str = "balanced", max_pairs: int = 50_000, folds: int = 10,
                 seed: int = 0, people: list[dict] | None = None):
    """Verification pairs from a folder with one sub-folder per person.

    People are shuffled (``seed``) and dealt into ``folds`` folds; both images of a pair come
    from the same fold, so a fold's threshold is always chosen on other people (LFW-style).
    ``mode="balanced"``: every same-person pair plus as many different-person pairs drawn
    uniformly at random; ``mode="all"``: every pair of images within a fold (``folds=1``: every
    pair). More than ``max_pairs`` pairs are sampled down uniformly. ``people``: folds of names
    (LFW's ``people.txt``, :func:`datasets.read_people`) instead of the random split; people
    in none of them are left out.

    Returns ``(images, pairs)``: the relative image paths used (sorted) and
    :class:`~faceinspector.backend.triplets.Pair` objects.
    """
    if mode not in PAIR_MODES:
        raise ValueError(f"unknown pair mode {mode!r}; choose one of {', '.join(PAIR_MODES)}")
    found = folder_people(root, min_images, max_people)
    names = sorted(found)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    if people is not None:
        fold_members = [[n for n in sorted(fold) if n in found] for fold in people]
    else:
        k = max(1, min(folds, len(names) // 2 or 1))
        fold_members = [[names[i] for i in order[f::k]] for f in range(k)]
    pairs: list = []
    for f, members in enumerate(fold_members):
        files = [img for m in members for img in found[m]]
        owner = np.array([k for k, m in enumerate(members) for _ in found[m]])
        if len(files) < 2:
            continue
        ia, ib = np.triu_indices(len(files), 1)
        same = owner[ia] == owner[ib]
        if mode == "balanced":
            pos = np.flatnonzero(same)
            neg = np.flatnonzero(~same)
            keep = np.concatenate([pos, rng.choice(neg, min(len(pos), len(neg)), replace=False)])
        else:
            keep = np.arange(len(ia))
        pairs += [triplets.Pair(files[ia[k]], files[ib[k]], bool(same[k]), f)
                  for k in np.sort(keep)]
    if len(pairs) > max_pairs:
        pick = np.sort(rng.choice(len(pairs), max_pairs, replace=False))
        pairs = [pairs[k] for k in pick]
    return pair_images(pairs), pairs


def check_folder_pairs(pairs, where, min_images: int = 2) -> int:
    """Raise ``ValueError`` (naming ``where``) unless ``pairs`` from :func:`folder_pairs` hold
    both same-person and different-person pairs; return the number of same-person pairs."""
    n_same = sum(p.same for p in pairs)
    if not n_same or n_same == len(pairs):
        raise ValueError(f"{where}: no usable pairs; it needs at least two sub-folders (people) "
                         f"with {max(min_images, 2)} or more images each")
    return n_same


def check_pairs_root(pairs_file, root=None) -> Path:
    """The image folder of a pairs file (:func:`pairs_file_root`); ``ValueError`` if missing."""
    try:
        root = pairs_file_root(pairs_file, root)
    except datasets.DataError as exc:
        raise ValueError(str(exc)) from None
    if not root.is_dir():
        raise ValueError(f"the images of {Path(pairs_file).name} are expected in {root}, which "
                         "is not a folder (give the image folder with --root)")
    return root


@dataclass(frozen=True, eq=False)
class Verification:
    """A labelled set embedded and verified.

    ``images`` are paths relative to ``root``; ``embeddings`` has a row per image (NaN for an
    unreadable one), ``detected`` says where MTCNN found a face; ``info`` holds the counts a
    report prints (people, same and different pairs, pair mode).
    """

    source: Path  # the pairs file or the folder
    kind: str  # "pairs" or "folder"
    root: Path  # where the images are
    model_id: str
    metric: str
    images: tuple[str, ...]
    pairs: tuple  # triplets.Pair
    embeddings: np.ndarray
    detected: np.ndarray
    errors: dict
    report: object  # triplets.VerificationReport
    seconds: float
    info: dict = dataclasses.field(default_factory=dict)
    face_index: np.ndarray | None = None  # the face embedded per image (-1: none found)
    template: str = ""  # the template of the embedder's chip
    chip_size: tuple = ()  # its (width, height)
    extra: dict = dataclasses.field(default_factory=dict)  # {"raw": embeddings}: same faces
    extra_reports: dict = dataclasses.field(default_factory=dict)  # {"raw": report}
    threshold: float | None = None  # the fixed threshold the reports also measure

    @property
    def folds(self) -> int:
        return len({p.fold for p in self.pairs})

    def chip_line(self) -> str:
        """Which embedder saw which chip, e.g. "dlib-resnet on dlib-chip 150×150 chips"."""
        size = f" {self.chip_size[0]}×{self.chip_size[1]}" if self.chip_size else ""
        return f"{self.model_id} on {self.template or '?'}{size} chips"

    def face_of(self, image: str) -> int:
        """The face (detection order) embedded for ``image``, 0 when none was found."""
        if self.face_index is None or image not in self.images:
            return 0
        return max(0, int(self.face_index[self.images.index(image)]))

    def with_metric(self, metric: str, threshold: float | None = None) -> "Verification":
        """The same embeddings under another distance (no model runs), with the figures at
        the fixed ``threshold`` (a distance in the new metric) when given."""
        return dataclasses.replace(
            self, metric=metric, threshold=threshold,
            report=pairs_report(self.embeddings, self.images, self.pairs, metric, threshold),
            extra_reports={k: pairs_report(e, self.images, self.pairs, metric, threshold)
                           for k, e in self.extra.items()})

    def with_threshold(self, threshold: float | None) -> "Verification":
        """The figures at another fixed threshold (cheap: no ROC, no model)."""
        return dataclasses.replace(
            self, threshold=threshold, report=self.report.with_threshold(threshold),
            extra_reports={k: r.with_threshold(threshold)
                           for k, r in self.extra_reports.items()})


def labelled_pairs(source, root=None, min_images: int = 2, max_people: int | None = None,
                   mode: str = "balanced", max_pairs: int = 50_000, folds: int | None = None,
                   seed: int = 0, people=None) -> tuple[str, Path, list[str], list, dict]:
    """``(kind, root, images, pairs, info)`` of a pairs file, an LFW folder or a folder of
    people.

    An LFW folder (:func:`lfw_folder_pairs`): its ``pairs.txt``. A pairs file: its pairs (only
    the first ``folds`` folds when given), images under ``root`` (default the image folder
    beside it). A folder of people: :func:`folder_pairs` with ``folds`` (default 10) folds by
    person, or the folds of ``people`` (LFW's ``people.txt``). Raises ``ValueError`` with what
    is wrong.
    """
    source = Path(source)
    if source.is_dir() and people is None and lfw_folder_pairs(source) is not None:
        source = lfw_folder_pairs(source)
    if source.is_dir():
        if people is not None and not isinstance(people, list):
            try:
                people = datasets.read_people(people)
            except (OSError, datasets.DataError) as exc:
                raise ValueError(str(exc)) from None
        names, pairs = folder_pairs(source, min_images, max_people, mode, max_pairs,
                                    folds or 10, seed, people)
        n_same = check_folder_pairs(pairs, source.name, min_images)
        counts = folder_counts(source)
        few = [n for n in counts.values() if 0 < n < max(min_images, 1)]
        info = {"mode": mode, "people": len({n.split("/")[0] for n in names}),
                "same": n_same, "different": len(pairs) - n_same,
                "people_total": sum(1 for n in counts.values() if n),
                "images_total": sum(counts.values()), "few_people": len(few),
                "few_images": sum(few), "min_images": min_images, "max_people": max_people,
                "max_pairs": max_pairs, "people_file": people is not None,
                "sampled": len(pairs) >= max_pairs}
        return "folder", source, names, pairs, info
    if not source.is_file():
        raise ValueError(f"{source} is neither a pairs file, an LFW folder (with "
                         f"{datasets.LFW_PAIRS}) nor a folder of people")
    pairs = triplets.read_pairs(source)
    if folds:
        pairs = [p for p in pairs if p.fold < folds]
    n_same = sum(p.same for p in pairs)
    info = {"same": n_same, "different": len(pairs) - n_same}
    return "pairs", check_pairs_root(source, root), pair_images(pairs), pairs, info


def verify(backend, source, model_id: str = "dlib-resnet", metric: str = "l2", root=None,
           min_images: int = 2, max_people: int | None = None, mode: str = "balanced",
           max_pairs: int = 50_000, folds: int | None = None, seed: int = 0,
           people=None, threshold: float | None = None, also=(),
           cancel: CancelToken | None = None):
    """Task: embed a labelled set (:func:`labelled_pairs`) and verify its pairs.

    Same pipeline for every caller: MTCNN -> central face -> the embedder's chip -> batched
    embedder -> distances -> LFW protocol. ``threshold``: also report accuracy, FAR and FRR at
    this fixed τ. ``also``: more crops of the same faces to verify side by side (``("raw",)``:
    the raw box crop next to the aligned one; ``Verification.extra_reports``). Yields
    :class:`Progress` per image and returns a :class:`Verification`.
    """
    t0 = time.perf_counter()
    kind, root, names, pairs, info = labelled_pairs(source, root, min_images, max_people, mode,
                                                    max_pairs, folds, seed, people)
    emb = yield from relay(embed_images(backend, [root / n for n in names], model_id,
                                        also=tuple(also), cancel=cancel), stage="embed")
    try:
        report = pairs_report(emb.embeddings, names, pairs, metric, threshold)
        extra = {k: pairs_report(e, names, pairs, metric, threshold)
                 for k, e in emb.extra.items()}
    except ValueError as exc:
        first = next(iter(emb.errors.values()), "")
        raise ValueError(f"{Path(source).name}: {exc}"
                         + (f"; {len(emb.errors)} unreadable, e.g. {first}" if first else "")
                         ) from None
    info = {"images": len(names), "detected": int(emb.detected.sum()),
            "unreadable": len(emb.errors), **info}
    yield Progress(len(names), len(names), "Verified", "verify")
    return Verification(Path(source), kind, root, model_id, metric, tuple(names), tuple(pairs),
                        emb.embeddings, emb.detected, emb.errors, report,
                        time.perf_counter() - t0, info, emb.face_index, emb.template,
                        emb.chip_size, dict(emb.extra), extra, threshold)


def verify_lfw(backend, folder=None, model_id: str = "dlib-resnet", metric: str = "l2",
               folds: int | None = None, threshold: float | None = None, also=(),
               cancel: CancelToken | None = None):
    """Task: :func:`verify` on the ``pairs.txt`` of an LFW folder, in any layout
    :func:`datasets.lfw` accepts (None: the environment's); the folder is resolved here, on the
    worker, and a missing or malformed layout raises ``datasets.DataError``."""
    data = datasets.lfw(folder, pairs=True)
    return (yield from verify(backend, data.pairs, model_id, metric, data.images, folds=folds,
                              threshold=threshold, also=also, cancel=cancel))


def pair_preview(backend, root: Path, a: str, b: str, model_id: str, side: int = 220):
    """The two images of a pair (at most ``side`` px) and the chips the embedder saw, found
    the way :func:`verify` found them."""
    out = []
    for name in (a, b):
        photo = _images.load_photo(Path(root) / name)
        face = central_face(backend.detect(photo).faces, photo.width, photo.height)
        face = face or fallback_face(photo.width, photo.height, None)
        chip = backend.model_crop(photo, face, model_id).pixels
        out.append((_images.downscale(photo.pixels, side)[0], chip))
    return tuple(out)


__all__ = ["PAIR_MODES", "MeanLandmarks", "Verification", "central_face", "check_folder_pairs",
           "check_pairs_root", "excluded_line", "fallback_face", "folder_counts",
           "folder_pairs", "folder_people", "labelled_pairs", "left_out_line", "pair_images",
           "pair_preview", "pairs_file_root", "pairs_report", "verify", "verify_lfw"]
