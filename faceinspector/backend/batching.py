"""Photos in, faces out, at the machine's pace: decode ahead in a reader thread, detect in batches.

Every pass over a collection (the Photos pane and ``faceinspector detect``, ``eval``, the
probe on folders, the mismatch finder and the classifier evaluation through
:func:`faceinspector.backend.stream.iter_detected`) goes through :func:`detect_stream`:

* a **reader thread** walks the input (file reading and JPEG decoding, a cache look-up per
  file) a few photos ahead, so decoding overlaps the networks (:func:`prefetch`; bounded by a
  number of photos and of pixels, so memory stays a few photos whatever the collection);
* the photos that are ready go through MTCNN **together**
  (:meth:`~faceinspector.backend.facade.Backend.detect_many`: photos of one size share the
  P-Net calls, all share the R-/O-Net calls), at most ``max_batch`` at a time. A batch never
  waits for photos that are not decoded yet: the first photo of a folder is detected alone
  and shown at once (the Photos pane streams), later batches fill up as the reader gets ahead;
* a **detector thread** runs the batches while the caller works on the previous results
  (chips, embeddings, thumbnails), so the networks of both overlap;
* results come out **in input order**, one :class:`Found` per input, each with the faces a
  single-photo :meth:`~faceinspector.backend.facade.Backend.detect` gives.

Nothing here imports torch or Qt.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tasks import CancelToken, is_cancelled
from .types import Face, Photo

#: photos per detection batch (equal-size photos share every network call)
MAX_BATCH = 32
#: photos the reader may decode ahead, and their pixels at most (the first photo always passes)
PREFETCH_PHOTOS = 48
PREFETCH_PIXELS = 48_000_000

_DONE = object()
#: every reader thread still alive, stopped and joined at exit (a daemon thread left inside C
#: code -- a JPEG decode, an ONNX Runtime call -- when the interpreter finalises aborts it)
_LIVE: "weakref.WeakSet[prefetch]" = weakref.WeakSet()


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class prefetch:
    """Iterate ``items`` in a daemon reader thread, ``depth`` items (and ``budget`` of
    ``cost(item)``) ahead of the consumer; yields them in order. An exception of the reader is
    raised in the consumer. :meth:`close` (or ``cancel``) stops the reader at its next item;
    :meth:`ready` says whether the next item is already waiting."""

    def __init__(self, items: Iterable, *, depth: int = PREFETCH_PHOTOS,
                 budget: float = float("inf"), cost: Callable[[Any], float] | None = None,
                 cancel: CancelToken | None = None) -> None:
        self._items, self._depth, self._budget, self._cost = items, depth, budget, cost
        self._cancel = cancel
        self._q: queue.Queue = queue.Queue()
        self._room = threading.Condition()
        self._count, self._held = 0, 0.0
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._read, name="faceinspector-reader",
                                        daemon=True)
        _LIVE.add(self)
        self._thread.start()

    def _read(self) -> None:
        items = self._items
        try:
            for item in items:
                c = self._cost(item) if self._cost is not None else 0.0
                with self._room:
                    while (self._count and (self._count >= self._depth
                                            or self._held + c > self._budget)
                           and not self._stop.is_set()):
                        self._room.wait(0.1)
                    if self._stop.is_set():
                        return
                    self._count += 1
                    self._held += c
                self._q.put((item, c))
                if self._stop.is_set() or is_cancelled(self._cancel):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._q.put((_Failure(exc), 0.0))
        finally:
            self._q.put((_DONE, 0.0))
            close = getattr(items, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - best effort
                    pass

    def __iter__(self) -> "prefetch":
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        while True:
            try:
                item, c = self._q.get(timeout=0.1)
                break
            except queue.Empty:
                if is_cancelled(self._cancel):
                    self.close()
                    raise StopIteration from None
        if item is _DONE:
            self._done = True
            raise StopIteration
        with self._room:
            self._count -= 1
            self._held -= c
            self._room.notify()
        if isinstance(item, _Failure):
            self.close()
            raise item.exc
        return item

    def ready(self) -> bool:
        """True when the next item is decoded and waiting (or the input has ended)."""
        return self._q.qsize() > 0

    def close(self, wait: float = 0.0) -> None:
        """Stop the reader at its next item; wait up to ``wait`` seconds for it to end."""
        self._done = True
        self._stop.set()
        with self._room:
            self._room.notify_all()
        if wait > 0 and self._thread is not threading.current_thread():
            self._thread.join(wait)


@atexit.register
def _stop_readers(budget: float = 5.0) -> None:
    live = list(_LIVE)
    for p in live:
        p.close()
    deadline = time.monotonic() + budget
    for p in live:
        p._thread.join(max(0.0, deadline - time.monotonic()))


def ready_batches(items: Iterator, max_batch: int = MAX_BATCH,
                  ready: Callable[[], bool] | None = None,
                  first_alone: bool = True) -> Iterator[list]:
    """Group ``items`` into lists of at most ``max_batch``: the first item of a batch is
    waited for, the others are taken only while ``ready()`` says more are waiting. With
    ``first_alone`` the very first item is a batch of its own (it is shown at once)."""
    buffer: list = []
    for item in items:
        buffer.append(item)
        if (len(buffer) >= max_batch or ready is None or not ready() or first_alone):
            yield buffer
            buffer = []
            first_alone = False
    if buffer:
        yield buffer


@dataclass(frozen=True, eq=False)
class Found:
    """One input of :func:`detect_stream`: its photo and faces, or why it could not be read.

    ``faces`` is None only with ``error``; ``cached`` says the faces came from ``lookup``;
    ``extra`` is what ``prepare`` returned (thumbnails, a file key, ...); ``seconds`` the
    detection time of this photo (its share of the batch; 0 when cached).
    """

    path: Path
    photo: Photo | None = None
    faces: tuple[Face, ...] | None = None
    error: str = ""
    cached: bool = False
    extra: Any = None
    seconds: float = 0.0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def detect_stream(backend, pairs: Iterable, *,
                  lookup: Callable[[Path, Photo], tuple | None] | None = None,
                  save: Callable[[Path, Photo, tuple], None] | None = None,
                  prepare: Callable[[Path, Photo], Any] | None = None,
                  max_batch: int = MAX_BATCH, cancel: CancelToken | None = None,
                  prefetch_photos: int = PREFETCH_PHOTOS,
                  prefetch_pixels: int = PREFETCH_PIXELS) -> Iterator[Found]:
    """Detect faces in a stream of photos, in batches, decoding ahead; yields a :class:`Found`
    per input, in order.

    ``pairs``: ``(path, Photo | Exception)`` items, produced lazily (e.g.
    :func:`faceinspector.backend.images.iter_photos`): iterating it -- the reading and decoding
    -- happens in the reader thread. ``lookup(path, photo)`` (reader thread) returns cached
    faces or None; ``save(path, photo, faces)`` (detector thread) stores what was detected;
    ``prepare(path, photo)`` (reader thread) computes per-photo extras. Batches are detected in
    a detector thread while the caller works on the previous one's results. ``max_batch=1``
    detects one photo at a time (still decoding ahead). Closing the generator stops both
    threads (waiting at most for the batch being detected).
    """

    def produce() -> Iterator[Found]:
        for path, item in pairs:
            path = Path(path)
            if isinstance(item, BaseException):
                yield Found(path, error=_one_line(item))
                continue
            try:
                faces = lookup(path, item) if lookup is not None else None
                extra = prepare(path, item) if prepare is not None else None
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the rest
                yield Found(path, error=f"{path.name}: {_one_line(exc)}")
                continue
            yield Found(path, item, None if faces is None else tuple(faces), cached=faces
                        is not None, extra=extra)

    def pixels(found: Found) -> float:
        return 0.0 if found.photo is None else float(found.photo.width * found.photo.height)

    halt = threading.Event()

    def detected() -> Iterator[Found]:  # runs in the detector thread
        waiting = prefetch(produce(), depth=prefetch_photos, budget=prefetch_pixels,
                           cost=pixels, cancel=cancel)
        try:
            yield from _detect_batches(backend, waiting, save, max_batch, cancel, halt)
        finally:
            waiting.close(wait=2.0)

    # the caller works on a batch's results while the next batch is detected
    out = prefetch(detected(), depth=2 * max_batch, budget=prefetch_pixels // 2, cost=pixels,
                   cancel=cancel)
    try:
        yield from out
    finally:
        halt.set()
        out.close(wait=5.0)  # the batch being detected, at most


def _detect_batches(backend, waiting: prefetch, save, max_batch: int,
                    cancel: CancelToken | None, halt: threading.Event) -> Iterator[Found]:
    """The detector thread's loop: batches of the photos that are ready, detected together;
    a :class:`Found` per photo, in order."""
    for batch in ready_batches(waiting, max_batch, waiting.ready):
        todo = [f for f in batch if f.photo is not None and f.faces is None]
        dets = {}
        if todo:
            t0 = time.perf_counter()
            try:
                results = backend.detect_many([f.photo for f in todo])
            except Exception as exc:  # noqa: BLE001 - each photo gets the reason
                results = [exc] * len(todo)
            secs = (time.perf_counter() - t0) / len(todo)
            for f, det in zip(todo, results):
                dets[id(f)] = (det, secs)
        for f in batch:
            if id(f) not in dets:
                yield f
                continue
            det, secs = dets[id(f)]
            if isinstance(det, BaseException):
                yield Found(f.path, error=f"{f.path.name}: detection failed: "
                            f"{_one_line(det)}", extra=f.extra)
                continue
            faces = tuple(det.faces)
            if save is not None:
                try:
                    save(f.path, f.photo, faces)
                except Exception:  # noqa: BLE001 - a cache that cannot store is no error
                    pass
            yield Found(f.path, f.photo, faces, extra=f.extra, seconds=secs)
        if is_cancelled(cancel) or halt.is_set():
            return


__all__ = ["MAX_BATCH", "PREFETCH_PHOTOS", "PREFETCH_PIXELS", "Found", "detect_stream",
           "prefetch", "ready_batches"]
