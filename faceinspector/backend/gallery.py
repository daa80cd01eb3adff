"""One-shot recognition: enroll one face per person, identify faces by nearest neighbour.

A gallery is saved as a plain JSON file (names, embeddings as lists of floats, the embedder's
model id and dimension) — no pickle. Loading a gallery made by another embedder is refused,
because distances between different embedding spaces mean nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .triplets import distance

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
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".gallery-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path, expect_model: str | None = None) -> "Gallery":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GalleryError(f"{path.name} is not a readable gallery file: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise GalleryError(f"{path.name} is not a FaceInspector gallery ({FORMAT}).")
        model = data.get("model_id")
        if expect_model and model != expect_model:
            raise GalleryError(f"{path.name} was made with the embedder '{model}', not "
                               f"'{expect_model}': its distances are not comparable. Switch the "
                               f"embedder to '{model}' or enroll the people again.")
        people = data.get("people", [])
        try:
            names = [str(p["name"]) for p in people]
            emb = np.array([p["embedding"] for p in people], np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise GalleryError(f"{path.name}: malformed person entry ({exc})") from exc
        if people and (emb.ndim != 2 or emb.shape[1] != data.get("dim")):
            raise GalleryError(f"{path.name}: embeddings do not all have {data.get('dim')} values")
        g = cls(model_id=model, metric=data.get("metric", "l2"),
                threshold=float(data.get("threshold", 0.6)), names=names,
                embeddings=emb if people else np.zeros((0, 0), np.float32))
        return g
