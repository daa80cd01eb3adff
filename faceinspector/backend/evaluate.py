"""Embedding whole data sets and verifying on labelled pairs: photo -> MTCNN -> chip -> embedder.

Labelled pairs come from an LFW-format pairs file (:func:`eval_pairs`) or a folder with one
sub-folder per person (:func:`folder_pairs`, :func:`eval_folder`); both end in
:func:`pairs_report`, which the CLI (``faceinspector eval``) and the GUI's Verification pane share.

Long work is a generator (DESIGN.md rule 3): it yields ``("progress", done, total)`` tuples and
finally ``("result", value)``; :func:`run` drains one for callers that just want the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from . import triplets
from .images import IMAGE_SUFFIXES, ImageError, load_photo
from .types import Face


def central_face(faces, width: int, height: int) -> Face | None:
    """The face a portrait data set is about: large and near the centre."""
    if not faces:
        return None
    cx, cy = width / 2, height / 2

    def score(f: Face) -> float:
        fx, fy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
        off = np.hypot(fx - cx, fy - cy) / max(width, height)
        return f.width * f.height / (width * height) - 2.0 * off

    return max(faces, key=score)


def fallback_face(width: int, height: int, mean_landmarks: np.ndarray | None) -> Face:
    """When no face is found: the data set's mean landmarks (relative to the image size)."""
    if mean_landmarks is None:  # LFW deep-funneled geometry (MTCNN means on 250x250)
        mean_landmarks = np.array([[0.418, 0.452], [0.580, 0.452], [0.499, 0.540],
                                   [0.430, 0.610], [0.570, 0.610]])
    lm = (mean_landmarks * [width, height]).astype(np.float32)
    x1, y1 = lm.min(0) - [0.25 * width * 0.4, 0.25 * height * 0.5]
    x2, y2 = lm.max(0) + [0.25 * width * 0.4, 0.25 * height * 0.3]
    return Face((float(x1), float(y1), float(x2), float(y2)), 0.0, lm)


class MeanLandmarks:
    """The running mean of the landmarks (relative to the image size) of the faces found so
    far in a data set, for :func:`fallback_face` on the images where none is found."""

    def __init__(self):
        self._sum = np.zeros((5, 2))
        self.found = 0  # faces found (and averaged) so far

    def face_or_fallback(self, face: Face | None, width: int, height: int) -> Face:
        """``face`` when one was found (it joins the mean), otherwise :func:`fallback_face`
        at the mean so far (LFW's geometry before any face has been found)."""
        if face is not None:
            self._sum += face.landmarks / [width, height]
            self.found += 1
            return face
        return fallback_face(width, height, self._sum / self.found if self.found else None)


def embed_images(backend, paths, model_id: str = "dlib-resnet", batch: int = 32,
                 template: str | None = None) -> Iterator[tuple]:
    """Embed the central face of each image.

    Yields ``("progress", done, total)``; finally ``("result", (embeddings (N, D), detected (N,)
    bool, errors {index: message}))``. Images where no face is found use the data set's mean
    landmarks; unreadable images get NaN embeddings and an entry in ``errors``.
    """
    paths = list(paths)
    model = backend.model(model_id)
    out: list[np.ndarray | None] = [None] * len(paths)
    detected = np.zeros(len(paths), bool)
    errors: dict[int, str] = {}
    means = MeanLandmarks()
    pending_idx, pending_chips = [], []

    def flush():
        if not pending_chips:
            return
        emb = backend.run_model(model_id, np.stack(pending_chips)).embeddings
        for i, e in zip(pending_idx, emb):
            out[i] = e
        pending_idx.clear()
        pending_chips.clear()

    for i, p in enumerate(paths):
        try:
            photo = load_photo(p)
        except ImageError as exc:
            errors[i] = str(exc)
            continue
        det = backend.detect(photo)
        face = central_face(det.faces, photo.width, photo.height)
        detected[i] = face is not None
        face = means.face_or_fallback(face, photo.width, photo.height)
        crop = backend.model_crop(photo, face, model_id, template)
        pending_idx.append(i)
        pending_chips.append(crop.pixels)
        if len(pending_chips) >= batch:
            flush()
        yield ("progress", i + 1, len(paths))
    flush()
    dim = next((len(e) for e in out if e is not None), getattr(model, "dim", 128))
    emb = np.stack([e if e is not None else np.full(dim, np.nan, np.float32) for e in out]) \
        if out else np.zeros((0, dim), np.float32)
    yield ("result", (emb, detected, errors))


def pair_images(pairs) -> list[str]:
    """The relative paths of every image that ``pairs`` name, sorted, each once."""
    return sorted({p.a for p in pairs} | {p.b for p in pairs})


def pairs_file_root(pairs_file, root=None) -> Path:
    """Where the images of an LFW-format pairs file are: ``root``, or by default the
    ``lfw-deepfunneled`` folder beside the file."""
    return Path(root) if root else Path(pairs_file).parent / "lfw-deepfunneled"


def pairs_report(emb, images, pairs, metric: str = "l2"):
    """The verification report (:class:`~faceinspector.backend.triplets.VerificationReport`)
    of ``pairs`` from ``emb``, the embeddings of ``images`` (row ``i`` is ``images[i]``).

    Distances under ``metric``; a pair with an unreadable image (NaN embedding) counts as the
    largest distance seen. Thresholds are chosen per fold on the other folds (LFW protocol).
    Cheap (numpy only), so a new ``metric`` needs no model run.
    """
    index = {name: i for i, name in enumerate(images)}
    a = emb[[index[p.a] for p in pairs]]
    b = emb[[index[p.b] for p in pairs]]
    dist = triplets.distance(a, b, metric)
    ok = ~np.isnan(dist)
    dist = np.where(ok, dist, np.nanmax(dist) if ok.any() else 1.0)
    same = np.array([p.same for p in pairs])
    return triplets.verify(dist, same, np.array([p.fold for p in pairs]))


def _forward_progress(gen: Iterator[tuple]):
    """Re-yield the progress of a backend generator and return its result (``yield from``)."""
    for msg in gen:
        if msg[0] == "progress":
            yield msg
        elif msg[0] == "result":
            return msg[1]
    raise RuntimeError("the generator ended without a result")


def verify_images(backend, root, images, pairs, model_id: str = "dlib-resnet",
                  metric: str = "l2") -> Iterator[tuple]:
    """Embed ``images`` (paths relative to ``root``) and verify ``pairs`` of them.

    Yields ``("progress", done, total)`` per image (:func:`embed_images`); finally
    ``("result", (VerificationReport, embeddings, detected, errors))`` -- the report from
    :func:`pairs_report`, the rest from :func:`embed_images`.
    """
    root = Path(root)
    emb, detected, errors = yield from _forward_progress(
        embed_images(backend, [root / n for n in images], model_id))
    yield ("result", (pairs_report(emb, images, pairs, metric), emb, detected, errors))


def _evaluate(backend, root, images, pairs, model_id: str, metric: str,
              **info) -> Iterator[tuple]:
    """:func:`verify_images`, finishing with ``("result", (report, pairs, info))`` (what
    :func:`eval_pairs` and :func:`eval_folder` yield); ``info`` adds to the run's summary."""
    report, _, detected, errors = yield from _forward_progress(
        verify_images(backend, root, images, pairs, model_id, metric))
    info = {"images": len(images), "detected": int(detected.sum()), "errors": errors,
            "model": model_id, "metric": metric, **info}
    yield ("result", (report, pairs, info))


def eval_pairs(backend, pairs_file, root=None, model_id: str = "dlib-resnet",
               metric: str = "l2", folds: int | None = None) -> Iterator[tuple]:
    """LFW-protocol verification from a pairs file; images under ``root`` (default: the
    ``lfw-deepfunneled`` folder beside the pairs file). Yields progress, then
    ``("result", (VerificationReport, pairs, info))``."""
    pairs = triplets.read_pairs(Path(pairs_file))
    if folds:
        pairs = [p for p in pairs if p.fold < folds]
    yield from _evaluate(backend, pairs_file_root(pairs_file, root), pair_images(pairs), pairs,
                         model_id, metric)


# ---------------------------------------------------------------- labelled folders (eval folder)

PAIR_MODES = ("balanced", "all")


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
                 seed: int = 0):
    """Verification pairs from a folder with one sub-folder per person.

    People are shuffled (``seed``) and dealt into ``folds`` folds; both images of a pair come
    from the same fold, so a fold's threshold is always chosen on other people (LFW-style).
    ``mode="balanced"``: every same-person pair plus as many different-person pairs drawn
    uniformly at random; ``mode="all"``: every pair of images within a fold (``folds=1``: every
    pair). More than ``max_pairs`` pairs are sampled down uniformly.

    Returns ``(images, pairs)``: the relative image paths used (sorted) and
    :class:`~faceinspector.backend.triplets.Pair` objects.
    """
    if mode not in PAIR_MODES:
        raise ValueError(f"unknown pair mode {mode!r}; choose one of {', '.join(PAIR_MODES)}")
    people = folder_people(root, min_images, max_people)
    names = sorted(people)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    folds = max(1, min(folds, len(names) // 2 or 1))
    pairs: list = []
    for f in range(folds):
        members = [names[i] for i in order[f::folds]]
        files = [img for m in members for img in people[m]]
        owner = np.array([k for k, m in enumerate(members) for _ in people[m]])
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


def eval_folder(backend, root, model_id: str = "dlib-resnet", metric: str = "l2",
                min_images: int = 2, max_people: int | None = None, mode: str = "balanced",
                max_pairs: int = 50_000, folds: int = 10, seed: int = 0) -> Iterator[tuple]:
    """Like :func:`eval_pairs`, on a folder with one sub-folder per person (pairs from
    :func:`folder_pairs`). Yields progress, then ``("result", (VerificationReport, pairs,
    info))``; ``info`` also has the pair ``mode`` and the counts of ``people``, ``same`` and
    ``different`` pairs. Raises ``ValueError`` when the folder makes no usable pairs."""
    root = Path(root)
    images, pairs = folder_pairs(root, min_images, max_people, mode, max_pairs, folds, seed)
    n_same = check_folder_pairs(pairs, root, min_images)
    yield from _evaluate(backend, root, images, pairs, model_id, metric, mode=mode,
                         people=len({n.split("/")[0] for n in images}), same=n_same,
                         different=len(pairs) - n_same)


def run(gen: Iterator[tuple], progress=None):
    """Drain a backend generator; call ``progress(done, total)`` on progress; return the result."""
    for msg in gen:
        if msg[0] == "progress":
            if progress:
                progress(msg[1], msg[2])
        elif msg[0] == "result":
            return msg[1]
    raise RuntimeError("the generator ended without a result")
