"""One-shot recognition: enroll one face per person, identify faces by nearest neighbour.

A gallery is saved as a plain JSON file (names, embeddings as lists of floats, the embedder's
model id and dimension) — no pickle. Loading a gallery made by another embedder is refused,
because distances between different embedding spaces mean nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import atomic_write
from .triplets import METRICS, distance

FORMAT = "faceinspector-gallery/1"


class GalleryError(ValueError):
    """A gallery file cannot be used; the message says why."""


@dataclass(frozen=True)
class Match:
    name: str            # "unknown" when nothing is closer than the threshold
    distance: float      # to the nearest enrolled face
    nearest: str         # the nearest enrolled name, even when "unknown"


@dataclass
class Gallery:
    model_id: str
    metric: str = "l2"
    threshold: float = 0.6
    names: list[str] = field(default_factory=list)
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def enroll(self, name: str, embedding: np.ndarray) -> None:
        name = name.strip()
        if not name:
            raise GalleryError("a person needs a name")
        e = np.asarray(embedding, np.float32).reshape(1, -1)
        if not np.isfinite(e).all():
            raise GalleryError(f"the embedding of {name} holds NaN or infinite values")
        if self.embeddings.size and e.shape[1] != self.embeddings.shape[1]:
            raise GalleryError(f"embedding has {e.shape[1]} values; this gallery holds "
                               f"{self.embeddings.shape[1]}-D embeddings")
        if name in self.names:  # re-enrolling replaces the person's photo
            self.embeddings[self.names.index(name)] = e[0]
            return
        self.names.append(name)
        self.embeddings = e if not self.embeddings.size else np.concatenate([self.embeddings, e])

    def remove(self, name: str) -> None:
        i = self.names.index(name)
        self.names.pop(i)
        self.embeddings = np.delete(self.embeddings, i, axis=0)

    def identify(self, embeddings: np.ndarray) -> list[Match]:
        q = np.asarray(embeddings, np.float32)
        q = q.reshape(1, -1) if q.ndim == 1 else q
        if not self.names:
            return [Match("unknown", float("inf"), "") for _ in q]
        if q.shape[-1] != self.embeddings.shape[1]:
            raise GalleryError(f"the faces have {q.shape[-1]}-D embeddings, the gallery "
                               f"holds {self.embeddings.shape[1]}-D ones ({self.model_id})")
        d = distance(q[:, None, :], self.embeddings[None, :, :], self.metric)
        out = []
        for row in d:
            j = int(np.argmin(row))
            name = self.names[j] if row[j] < self.threshold else "unknown"
            out.append(Match(name, float(row[j]), self.names[j]))
        return out

    # ------------------------------------------------------------------------------ files

    def save(self, path: str | Path) -> None:
        data = {"format": FORMAT, "model_id": self.model_id, "metric": self.metric,
                "threshold": self.threshold, "dim": int(self.embeddings.shape[1]) if
                self.embeddings.size else 0,
                "people": [{"name": n, "embedding": [round(float(v), 7) for v in e]}
                           for n, e in zip(self.names, self.embeddings)]}
        atomic_write(path, json.dumps(data, indent=1), make_parents=False)

    @classmethod
    def load(cls, path: str | Path, expect_model: str | None = None,
             expect_dim: int | None = None) -> "Gallery":
        """Read a gallery file, checking every field before anything uses it.

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
        if not isinstance(data, dict) or data.get("format") != FORMAT:
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
        try:
            names = [p["name"] for p in people]
            emb = np.array([p["embedding"] for p in people], np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise GalleryError(f"{name}: malformed entry in field 'people' ({exc})") from exc
        bad = next((n for n in names if not isinstance(n, str) or not n.strip()), None)
        if bad is not None or len(set(names)) != len(names):
            what = f"{bad!r} is not a name" if bad is not None else "a name appears twice"
            raise GalleryError(f"{name}: field 'people': {what}")
        if people and (emb.ndim != 2 or emb.shape[1] != dim):
            raise GalleryError(f"{name}: field 'people': embeddings do not all have the {dim} "
                               "values that field 'dim' says")
        if people and not np.isfinite(emb).all():
            row = int(np.flatnonzero(~np.isfinite(emb).all(1))[0])
            raise GalleryError(f"{name}: field 'people': the embedding of {names[row]!r} holds "
                               "NaN or infinite values")
        want = expect_dim if expect_dim is not None else embedding_dim(expect_model or model)
        if people and want is not None and dim != want:
            raise GalleryError(f"{name}: field 'dim' is {dim}, but the embedder '{model}' "
                               f"makes {want}-D embeddings")
        return cls(model_id=model, metric=metric, threshold=float(threshold), names=names,
                   embeddings=emb if people else np.zeros((0, 0), np.float32))


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
