"""A persistent cache of what detection and embedding found in image files (SQLite).

Data-set work reads thousands of files, and a second run over the same collection should not
pay for MTCNN again. Entries are keyed by the file's resolved path, size and modification time
(so an edited file is detected again) plus a *kind* (the detector's settings, or an embedder's
id and template), and hold plain float32 arrays -- never pickles. SQLite in WAL mode makes it
safe to share between the GUI's lanes and a CLI run; a damaged or unwritable store is set
aside and the run goes on without it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import numpy as np

from .types import Face

SCHEMA = 1


def file_key(path) -> tuple[str, int, int] | None:
    """(resolved path, size, mtime in ns) of a file, or None if it cannot be read."""
    try:
        p = Path(path).resolve()
        st = p.stat()
    except OSError:
        return None
    return str(p), int(st.st_size), int(st.st_mtime_ns)


def faces_to_array(faces) -> np.ndarray:
    """Faces -> float32 (n, 15): box (4), score (1), landmarks (10)."""
    out = np.zeros((len(faces), 15), np.float32)
    for i, f in enumerate(faces):
        out[i, :4] = f.box
        out[i, 4] = f.score
        out[i, 5:] = np.asarray(f.landmarks, np.float32).reshape(-1)
    return out


def array_to_faces(arr: np.ndarray) -> tuple[Face, ...]:
    arr = np.asarray(arr, np.float32).reshape(-1, 15)
    return tuple(Face(tuple(float(v) for v in row[:4]), float(row[4]),
                      row[5:].reshape(5, 2).copy()) for row in arr)


class FaceStore:
    """Detections and embeddings of files, on disk.

    Parameters
    ----------
    path : the SQLite file (created with its folder); None: the user cache
        (``<cache>/facestore.sqlite``).
    """

    def __init__(self, path=None):
        if path is None:
            from .assets import cache_dir

            path = cache_dir() / "facestore.sqlite"
        self.path = Path(path)
        self._local = threading.local()
        self.disabled = ""  # why the store is not used ("" when it is)
        self.hits = self.misses = 0

    def _db(self) -> sqlite3.Connection | None:
        if self.disabled:
            return None
        db = getattr(self._local, "db", None)
        if db is not None:
            return db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS entries (path TEXT, size INTEGER, "
                       "mtime INTEGER, kind TEXT, data BLOB, rows INTEGER, cols INTEGER, "
                       "PRIMARY KEY (path, size, mtime, kind))")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
            db.commit()
        except (sqlite3.Error, OSError) as exc:
            self.disabled = f"the face cache {self.path} cannot be used ({exc})"
            return None
        self._local.db = db
        return db

    def get(self, key, kind: str) -> np.ndarray | None:
        """The array stored for file ``key`` (see :func:`file_key`) and ``kind``, or None."""
        db = self._db() if key is not None else None
        if db is None:
            return None
        try:
            row = db.execute("SELECT data, rows, cols FROM entries WHERE path=? AND size=? AND "
                             "mtime=? AND kind=?", (*key, kind)).fetchone()
        except sqlite3.Error:
            return None
        if row is None:
            self.misses += 1
            return None
        data, rows, cols = row
        arr = np.frombuffer(data, np.float32)
        if arr.size != rows * cols:
            return None
        self.hits += 1
        return arr.reshape(rows, cols).copy()

    def put(self, key, kind: str, arr: np.ndarray) -> None:
        db = self._db() if key is not None else None
        if db is None:
            return
        a = np.ascontiguousarray(arr, np.float32)
        a = a.reshape(a.shape[0] if a.ndim else 1, -1) if a.size else a.reshape(0, 0)
        try:
            db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (*key, kind, a.tobytes(), int(a.shape[0]), int(a.shape[1])))
            db.commit()
        except sqlite3.Error as exc:
            self.disabled = f"the face cache {self.path} cannot be written ({exc})"

    def get_faces(self, key, kind: str) -> tuple[Face, ...] | None:
        arr = self.get(key, kind)
        return None if arr is None else array_to_faces(arr.reshape(-1, 15) if arr.size else
                                                       np.zeros((0, 15), np.float32))

    def put_faces(self, key, kind: str, faces) -> None:
        self.put(key, kind, faces_to_array(faces))

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def detector_kind(backend) -> str:
    """The cache kind of a backend's detector: its settings (results differ between them)."""
    det = backend.detector
    return (f"mtcnn:max_side={det.max_side}:min_face={det.min_face}:"
            f"thr={','.join(f'{t:g}' for t in det.thresholds)}:factor={det.factor:g}")


_STORES: dict[tuple[str, str], FaceStore] = {}
_LOCK = threading.Lock()


def default_store() -> FaceStore:
    """The process-wide store in the user cache (``$FACEINSPECTOR_FACESTORE`` overrides the
    file; ``off`` disables it)."""
    env = os.environ.get("FACEINSPECTOR_FACESTORE", "").strip()
    key = (env, os.environ.get("FACEINSPECTOR_CACHE", ""))
    with _LOCK:
        store = _STORES.get(key)
        if store is None:
            store = FaceStore(env if env and env != "off" else None)
            if env == "off":
                store.disabled = "the face cache is off ($FACEINSPECTOR_FACESTORE=off)"
            _STORES[key] = store
        return store


__all__ = ["FaceStore", "array_to_faces", "default_store", "detector_kind", "faces_to_array",
           "file_key"]
