"""Recognition against a gallery: enroll one or more faces per person, identify faces by their
nearest enrolled face, and measure it on a folder whose sub-folders are the people.

A gallery is saved as a plain JSON file (names, embeddings as lists of floats, the embedder's
model id and dimension) — no pickle. Format 2 keeps several embeddings per person (and where
each came from); format-1 files (one ``embedding`` per person) still load. Loading a gallery
made by another embedder is refused, because distances between different embedding spaces
mean nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import atomic_write
from .tasks import CancelToken, Progress
from .triplets import METRICS, distance

FORMAT = "faceinspector-gallery/2"
FORMAT_V1 = "faceinspector-gallery/1"  # one embedding per person: still read
FORMATS = (FORMAT_V1, FORMAT)


class GalleryError(ValueError):
    """A gallery file cannot be used; the message says why."""


@dataclass(frozen=True)
class Match:
    name: str            # "unknown" when nothing is closer than the threshold
    distance: float      # to the nearest enrolled face
    nearest: str         # the nearest enrolled name, even when "unknown"


def same_name(a: str, b: str) -> bool:
    """Names compare without case and with ``_`` as a space (LFW's ``George_W_Bush``)."""
    return a.replace("_", " ").strip().lower() == b.replace("_", " ").strip().lower()


@dataclass
class Gallery:
    """People and their enrolled faces.

    ``names``: one entry per person, in enrolment order; ``embeddings``: one row per enrolled
    face (several per person), ``owner[i]`` the index in ``names`` of row ``i``, ``sources[i]``
    where that face came from (``(photo path, face index)`` or None).
    """

    model_id: str
    metric: str = "l2"
    threshold: float = 0.6
    names: list[str] = field(default_factory=list)
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    owner: list[int] = field(default_factory=list)
    sources: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.owner and len(self.names) == len(self.embeddings):  # one face each
            self.owner = list(range(len(self.names)))
        self.sources = list(self.sources) + [None] * (len(self.owner) - len(self.sources))

    def count(self, name: str) -> int:
        """How many faces are enrolled for ``name`` (0 if none)."""
        if name not in self.names:
            return 0
        i = self.names.index(name)
        return sum(1 for o in self.owner if o == i)

    def rows(self, name: str) -> list[int]:
        i = self.names.index(name)
        return [k for k, o in enumerate(self.owner) if o == i]

    def enroll(self, name: str, embedding: np.ndarray, replace: bool = False,
               source=None) -> int:
        """Add a face to ``name`` (a new person when the name is new); ``replace``: the
        person's earlier faces are dropped first. Returns the person's number of faces."""
        name = name.strip()
        if not name:
            raise GalleryError("a person needs a name")
        e = np.asarray(embedding, np.float32).reshape(1, -1)
        if not np.isfinite(e).all():
            raise GalleryError(f"the embedding of {name} holds NaN or infinite values")
        if self.embeddings.size and e.shape[1] != self.embeddings.shape[1]:
            raise GalleryError(f"embedding has {e.shape[1]} values; this gallery holds "
                               f"{self.embeddings.shape[1]}-D embeddings")
        if replace and name in self.names:
            self._drop(self.rows(name))
        if name not in self.names:
            self.names.append(name)
        self.owner.append(self.names.index(name))
        self.sources.append(None if source is None else (str(source[0]), int(source[1])))
        self.embeddings = e if not self.embeddings.size else np.concatenate([self.embeddings, e])
        return self.count(name)

    def _drop(self, rows) -> None:
        keep = [k for k in range(len(self.owner)) if k not in set(rows)]
        self.embeddings = self.embeddings[keep] if keep else np.zeros((0, 0), np.float32)
        self.owner = [self.owner[k] for k in keep]
        self.sources = [self.sources[k] for k in keep]

    def remove(self, name: str) -> None:
        i = self.names.index(name)
        self._drop(self.rows(name))
        self.names.pop(i)
        self.owner = [o - 1 if o > i else o for o in self.owner]

    def person_distances(self, embeddings: np.ndarray) -> np.ndarray:
        """``(N, people)``: each query's distance to each person's nearest enrolled face."""
        q = np.asarray(embeddings, np.float32)
        q = q.reshape(1, -1) if q.ndim == 1 else q
        if q.shape[-1] != self.embeddings.shape[1]:
            raise GalleryError(f"the faces have {q.shape[-1]}-D embeddings, the gallery "
                               f"holds {self.embeddings.shape[1]}-D ones ({self.model_id})")
        d = distance(q[:, None, :], self.embeddings[None, :, :], self.metric)
        out = np.full((len(q), len(self.names)), np.inf)
        owner = np.asarray(self.owner)
        for i in range(len(self.names)):
            out[:, i] = d[:, owner == i].min(axis=1)
        return out

    def identify(self, embeddings: np.ndarray) -> list[Match]:
        q = np.asarray(embeddings, np.float32)
        q = q.reshape(1, -1) if q.ndim == 1 else q
        if not self.names:
            return [Match("unknown", float("inf"), "") for _ in q]
        out = []
        for row in self.person_distances(q):
            j = int(np.argmin(row))
            name = self.names[j] if row[j] < self.threshold else "unknown"
            out.append(Match(name, float(row[j]), self.names[j]))
        return out

    # ------------------------------------------------------------------------------ files

    def save(self, path: str | Path) -> None:
        people = []
        for i, name in enumerate(self.names):
            rows = [k for k, o in enumerate(self.owner) if o == i]
            entry = {"name": name,
                     "embeddings": [[round(float(v), 7) for v in self.embeddings[k]]
                                    for k in rows]}
            if any(self.sources[k] for k in rows):
                entry["sources"] = [None if self.sources[k] is None else
                                    {"path": self.sources[k][0], "face": self.sources[k][1]}
                                    for k in rows]
            people.append(entry)
        data = {"format": FORMAT, "model_id": self.model_id, "metric": self.metric,
                "threshold": self.threshold, "dim": int(self.embeddings.shape[1]) if
                self.embeddings.size else 0, "people": people}
        atomic_write(path, json.dumps(data, indent=1), make_parents=False)

    @classmethod
    def load(cls, path: str | Path, expect_model: str | None = None,
             expect_dim: int | None = None) -> "Gallery":
        """Read a gallery file (format 1 or 2), checking every field before anything uses it.

        ``expect_model``: the embedder in use (a gallery of another embedder is refused);
        ``expect_dim``: its embedding size (default: the size the model declares, see
        :func:`embedding_dim`). Raises :class:`GalleryError` with one line naming the file and
        the field: unknown format, no model id, unknown metric, a threshold that is not a
        finite number >= 0, a dimension that does not match, non-finite values.
        """
        path = Path(path)
        name = path.name
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise GalleryError(f"{name} is not a readable gallery file: {why}") from exc
        if not isinstance(data, dict) or data.get("format") not in FORMATS:
            raise GalleryError(f"{name} is not a FaceInspector gallery ({FORMAT}).")
        model = data.get("model_id")
        if not isinstance(model, str) or not model.strip():
            raise GalleryError(f"{name}: field 'model_id' must name the embedder the gallery "
                               f"was made with, got {model!r}")
        if expect_model and model != expect_model:
            raise GalleryError(f"{name} was made with the embedder '{model}', not "
                               f"'{expect_model}': its distances are not comparable. Switch the "
                               f"embedder to '{model}' or enroll the people again.")
        metric = data.get("metric", "l2")
        if metric not in METRICS:
            raise GalleryError(f"{name}: field 'metric' must be one of {', '.join(METRICS)}, "
                               f"got {metric!r}")
        threshold = data.get("threshold", 0.6)
        if (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                or not math.isfinite(threshold) or threshold < 0):
            raise GalleryError(f"{name}: field 'threshold' must be a finite number >= 0, got "
                               f"{threshold!r}")
        dim = data.get("dim")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            raise GalleryError(f"{name}: field 'dim' must be a whole number, got {dim!r}")
        people = data.get("people", [])
        if not isinstance(people, list):
            raise GalleryError(f"{name}: field 'people' must be a list")
        names, rows, owner, sources = _people(people, name)
        emb = np.array(rows, np.float32) if rows else np.zeros((0, 0), np.float32)
        bad = next((n for n in names if not isinstance(n, str) or not n.strip()), None)
        if bad is not None or len(set(names)) != len(names):
            what = f"{bad!r} is not a name" if bad is not None else "a name appears twice"
            raise GalleryError(f"{name}: field 'people': {what}")
        if rows and (emb.ndim != 2 or emb.shape[1] != dim):
            raise GalleryError(f"{name}: field 'people': embeddings do not all have the {dim} "
                               "values that field 'dim' says")
        if rows and not np.isfinite(emb).all():
            row = int(np.flatnonzero(~np.isfinite(emb).all(1))[0])
            raise GalleryError(f"{name}: field 'people': the embedding of "
                               f"{names[owner[row]]!r} holds NaN or infinite values")
        want = expect_dim if expect_dim is not None else embedding_dim(expect_model or model)
        if rows and want is not None and dim != want:
            raise GalleryError(f"{name}: field 'dim' is {dim}, but the embedder '{model}' "
                               f"makes {want}-D embeddings")
        return cls(model_id=model, metric=metric, threshold=float(threshold), names=names,
                   embeddings=emb, owner=owner, sources=sources)


def _people(people: list, name: str):
    """names, embedding rows, owner per row, source per row, from a file's ``people``."""
    names, rows, owner, sources = [], [], [], []
    try:
        for i, p in enumerate(people):
            names.append(p["name"])
            embs = p["embeddings"] if "embeddings" in p else [p["embedding"]]
            if not isinstance(embs, list) or not embs:
                raise ValueError(f"{p['name']!r} has no embedding")
            srcs = p.get("sources")
            srcs = [None] * len(embs) if srcs is None else srcs
            if not isinstance(srcs, list) or len(srcs) != len(embs):
                raise ValueError(f"{p['name']!r}: 'sources' must list one per embedding")
            for e, src in zip(embs, srcs):
                if not isinstance(e, list):
                    raise ValueError("an embedding must be a list of numbers")
                rows.append(e)
                owner.append(i)
                sources.append(None if src is None else (str(src["path"]), int(src["face"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise GalleryError(f"{name}: malformed entry in field 'people' ({exc})") from exc
    return names, rows, owner, sources


# ------------------------------------------------------------------ identify a whole folder


@dataclass(frozen=True, eq=False)
class FolderResult:
    """A folder of photos identified against a gallery (:func:`identify_folder`).

    ``images`` are paths relative to ``folder``; ``truth[i]`` is the enrolled name that image
    ``i``'s sub-folder names (None when the sub-folder is nobody enrolled, or the image sits at
    the top level); ``matches[i]`` is None for an unreadable image. ``rank1`` is the share of
    images of enrolled people whose nearest enrolled person is theirs (whatever τ),
    ``accuracy`` the share of all labelled images (sub-folder = a person) named right at τ
    (someone not enrolled must come out "unknown"), each with a 95 % bootstrap interval.
    """

    folder: Path
    images: tuple
    truth: tuple
    matches: tuple
    face_index: np.ndarray
    errors: dict
    labelled: int  # images in a sub-folder (a person, enrolled or not)
    known: int  # images of enrolled people
    rank1: float | None
    rank1_ci: tuple
    accuracy: float | None
    accuracy_ci: tuple
    seconds: float = 0.0

    def correct(self, i: int) -> bool | None:
        """Whether image ``i`` was named right at τ (None: no label, or unreadable)."""
        m = self.matches[i]
        if m is None or Path(self.images[i]).parent == Path("."):
            return None
        want = self.truth[i] or "unknown"
        return m.name == want if want == "unknown" else same_name(m.name, want)


def folder_images(folder) -> list[str]:
    """Every image under ``folder`` (recursively), as sorted relative paths."""
    from .images import IMAGE_SUFFIXES

    root = Path(folder)
    if not root.is_dir():
        raise GalleryError(f"{root} is not a folder")
    return sorted(str(f.relative_to(root)) for f in root.rglob("*")
                  if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
                  and not any(part.startswith(".") for part in f.relative_to(root).parts))


def identify_folder(backend, gallery: Gallery, folder, cancel: CancelToken | None = None):
    """Task: identify the central face of every image under ``folder`` against ``gallery``
    (the gallery's embedder, its own chip); when the sub-folders are named after people
    (LFW's layout), also rank-1 accuracy and the accuracy at τ. Yields :class:`Progress` per
    image and returns a :class:`FolderResult`."""
    import time

    from .embeddings import embed_images
    from .metrics import bootstrap
    from .tasks import relay

    t0 = time.perf_counter()
    if not gallery.names:
        raise GalleryError("enroll someone first: the gallery is empty")
    root = Path(folder)
    names = folder_images(root)
    if not names:
        raise GalleryError(f"{root.name}: no images found in it or its sub-folders")
    emb = yield from relay(embed_images(backend, [root / n for n in names], gallery.model_id,
                                        cancel=cancel), stage="identify")
    ok = np.isfinite(emb.embeddings).all(1)
    found = iter(gallery.identify(emb.embeddings[ok]) if ok.any() else [])
    matches = tuple(next(found) if good else None for good in ok)
    truth = []
    for n in names:
        sub = Path(n).parent.name
        truth.append(next((g for g in gallery.names if sub and same_name(g, sub)), None))
    labelled = np.array([Path(n).parent != Path(".") for n in names]) & ok
    known = np.array([t is not None for t in truth]) & ok
    hit = np.array([m is not None and t is not None and same_name(m.nearest, t)
                    for m, t in zip(matches, truth)])
    right = np.array([m is not None and (same_name(m.name, t) if t else m.name == "unknown")
                      for m, t in zip(matches, truth)])

    def share(values, mask):
        if not mask.any():
            return None, (float("nan"), float("nan"))
        v = values[mask].astype(float)
        ci = bootstrap(lambda x: {"m": float(x.mean())}, v).get("m", [float("nan")] * 2)
        return float(v.mean()), tuple(ci)

    rank1, rank1_ci = share(hit, known)
    accuracy, accuracy_ci = share(right, labelled)
    yield Progress(len(names), len(names), "Identified", "identify")
    return FolderResult(root, tuple(names), tuple(truth), matches, emb.face_index, emb.errors,
                        int(labelled.sum()), int(known.sum()), rank1, rank1_ci, accuracy,
                        accuracy_ci, time.perf_counter() - t0)


def embedding_dim(model_id: str | None) -> int | None:
    """The embedding size a bundled embedder declares (``dim``), None when unknown (a user
    model, or no id). Imports the model's class (torch), not its weights."""
    if not model_id:
        return None
    try:
        from .models import model_class

        return getattr(model_class(model_id), "dim", None)
    except (KeyError, ImportError, AttributeError):
        return None


__all__ = ["FORMAT", "FORMATS", "FORMAT_V1", "FolderResult", "Gallery", "GalleryError", "Match",
           "embedding_dim", "folder_images", "identify_folder", "same_name"]
